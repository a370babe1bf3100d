/*-------------------------------------------------------------------------
 *
 * stats_feed.h
 *	  What the delivery worker tells the statistics (stats_feed.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_STATS_FEED_H
#define WEBHOOK_STATS_FEED_H

#include "delivery/http.h"
#include "delivery/worker_state.h"

/* an attempt's result: how it failed when no response came */
extern void wh_stats_feed_result(WhOutcomeRec *o, const WhHttpResult *res);
/* a request finished: its body went out unless it never connected */
extern void wh_stats_feed_sent(int32 endpoint_id, const WhHttpResult *res,
							   size_t bytes);
/* the outcomes not kept were recorded */
extern void wh_stats_feed_outcomes(WhWorker *w);
/* a claim committed: the oldest events held */
extern void wh_stats_feed_claimed(WhWorker *w);
/* once per loop: the gauges the worker keeps */
extern void wh_stats_feed_tick(WhWorker *w);

#endif							/* WEBHOOK_STATS_FEED_H */
