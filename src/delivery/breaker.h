/*-------------------------------------------------------------------------
 *
 * breaker.h
 *	  Endpoint health: the circuit breaker the delivery worker consults.
 *
 * The worker calls these at fixed points of its loop:
 *
 *	claim		wh_breaker_refresh() once, in the claim transaction; then
 *				wh_breaker_quota() for each endpoint it would read, which
 *				caps how many of its events the claim takes.
 *	dispatch	wh_breaker_may_send() before starting a request, and
 *				wh_breaker_probe_not_sent() if the probe it allowed did not
 *				start after all.
 *	record		wh_breaker_note() for each outcome, and wh_breaker_apply()
 *				in the record transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_BREAKER_H
#define WEBHOOK_BREAKER_H

#include "utils/timestamp.h"

/* What an attempt says about its endpoint's health */
typedef enum WhHealthNote
{
	WH_HEALTH_SUCCESS,			/* 2xx */
	WH_HEALTH_FAILURE,			/* retryable failure, or no response */
	WH_HEALTH_NEUTRAL			/* the receiver decided (410, abort) */
} WhHealthNote;

extern void wh_breaker_refresh(void);
/* wh_breaker_quota()'s "no limit" */
#define WH_BREAKER_ANY	(-1)

extern int	wh_breaker_quota(int32 endpoint_id, TimestampTz now,
							 TimestampTz *wake);
extern bool wh_breaker_may_send(int32 endpoint_id, TimestampTz now,
								bool *probe);
extern void wh_breaker_probe_not_sent(int32 endpoint_id);
extern void wh_breaker_note(int32 endpoint_id, WhHealthNote note,
							TimestampTz started_at, const char *error,
							const int64 *schedule_ms, int nschedule);
extern void wh_breaker_retry_after(int32 endpoint_id, TimestampTz at);
extern void wh_breaker_disable(int32 endpoint_id, const char *reason);
extern void wh_breaker_apply(void);
extern int	wh_breaker_state(int32 endpoint_id);

#endif							/* WEBHOOK_BREAKER_H */
