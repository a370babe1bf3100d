/*-------------------------------------------------------------------------
 *
 * record.h
 *	  Outcomes of attempts, and their recording (record.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_RECORD_H
#define WEBHOOK_RECORD_H

#include "common/retry.h"
#include "delivery/endpoints.h"
#include "delivery/worker_state.h"

extern WhOutcomeRec *wh_add_outcome(WhWorker *w, WhEvent *ev,
									TimestampTz started_at, int64 duration_us,
									int status, const char *error,
									const char *response,
									const char *retry_after);
extern void wh_note_health(WhEvent *ev, WhEndpoint *ep, WhOutcomeRec *o,
						   WhOutcome outcome);
extern void wh_release(WhWorker *w, WhEvent *ev);
extern void wh_flush_outcomes(WhWorker *w);
extern TimestampTz wh_record_due(WhWorker *w);

#endif							/* WEBHOOK_RECORD_H */
