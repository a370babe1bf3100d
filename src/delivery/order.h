/*-------------------------------------------------------------------------
 *
 * order.h
 *	  Ordering per endpoint or per row key: the worker's side.
 *
 * In the claim: wh_order_refresh(), then wh_order_hold() for each event the
 * claim would take (events of ordered endpoints are held for a check),
 * then wh_order_heads(), which returns those that may go now and holds
 * back the rest; after the locking read, wh_order_cut_runs(), then
 * wh_order_cut() for each event read, and wh_order_runs_done().  In the
 * record transaction: wh_order_finished() for each event delivered or
 * dead and wh_order_keys() before the outcomes are written, then
 * wh_order_apply() after.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ORDER_H
#define WEBHOOK_ORDER_H

#include "utils/timestamp.h"

extern void wh_order_refresh(void);
extern bool wh_order_hold(int32 endpoint_id, int64 event_id);
extern int	wh_order_heads(Datum *pick, int room, TimestampTz now,
						   const int64 *held, int nheld);
extern void wh_order_cut_runs(const int64 *claimed, int nclaimed);
extern bool wh_order_cut(int64 event_id);
extern void wh_order_runs_done(void);
extern void wh_order_finished(int64 event_id);
extern void wh_order_keys(void);
extern void wh_order_apply(void);

#endif							/* WEBHOOK_ORDER_H */
