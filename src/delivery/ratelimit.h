/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  Per-endpoint rate limits (events per second), as token buckets.
 *
 * The worker calls wh_rate_refresh() in each claim (with wh_route_stamp()'s
 * quiet and stamp, read before the claim's snapshot), wh_rate_quota() for
 * each endpoint the claim would read, wh_rate_dispatch_begin() and then
 * wh_rate_take() before starting each request, and wh_rate_next_wake() to
 * know when to wake for the next token.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_RATELIMIT_H
#define WEBHOOK_RATELIMIT_H

#include "utils/timestamp.h"

extern void wh_rate_refresh(bool quiet, uint64 stamp);
/* wh_rate_quota()'s "no limit" */
#define WH_RATE_ANY		(-1)

extern int	wh_rate_quota(int32 endpoint_id, int held);
extern void wh_rate_dispatch_begin(void);
extern bool wh_rate_take(int32 endpoint_id, TimestampTz now);
extern TimestampTz wh_rate_next_wake(void);

#endif							/* WEBHOOK_RATELIMIT_H */
