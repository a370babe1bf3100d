/*-------------------------------------------------------------------------
 *
 * retention.h
 *	  Removing old finished events (retention.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_RETENTION_H
#define WEBHOOK_RETENTION_H

#include "delivery/worker_state.h"

/* How often finished events are looked for: at most every minute */
#define WH_RETENTION_INTERVAL_MS	\
	Max(1000L, Min(60 * 1000L, (long) wh_retention * 100))

extern void wh_retention_step(WhWorker *w);

#endif							/* WEBHOOK_RETENTION_H */
