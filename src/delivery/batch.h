/*-------------------------------------------------------------------------
 *
 * batch.h
 *	  Several events of one endpoint in one request (batch.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_BATCH_H
#define WEBHOOK_BATCH_H

#include "delivery/endpoints.h"
#include "delivery/worker_state.h"

extern WhBatch *wh_batch_gather(WhWorker *w, WhEndpoint *ep);
extern void wh_batch_free(WhBatch *b);

#endif							/* WEBHOOK_BATCH_H */
