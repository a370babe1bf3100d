/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Removing old history and finished events (retention.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_RETENTION_H
#define WEBHOOK_RETENTION_H

#include "delivery/worker_state.h"

/* How often finished events are looked for: at most every minute */
#define WH_RETENTION_INTERVAL_MS	\
	Max(1000L, Min(60 * 1000L, (long) wh_retention * 100))

/* The attempt history's segments: webhook.attempt_0 and on */
#define WH_HISTORY_SEGMENTS		8

extern int	wh_history_segment(WhWorker *w);
extern void wh_retention_step(WhWorker *w);

#endif							/* WEBHOOK_RETENTION_H */
