/*-------------------------------------------------------------------------
 *
 * drain.h
 *	  The worker's report of a drain (drain.c), in webhook.progress.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_DRAIN_H
#define WEBHOOK_DRAIN_H

#include "nodes/pg_list.h"

struct WhWorker;

/* After each committed claim, and after each successful record */
extern void wh_drain_note_claim(struct WhWorker *w);
extern void wh_drain_note_recorded(List *outcomes);

#endif							/* WEBHOOK_DRAIN_H */
