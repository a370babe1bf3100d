/*-------------------------------------------------------------------------
 *
 * claim.h
 *	  Claiming due events (claim.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_CLAIM_H
#define WEBHOOK_CLAIM_H

#include "delivery/worker_state.h"

extern void wh_claim(WhWorker *w);
extern void wh_claim_abandon(WhWorker *w);

#endif							/* WEBHOOK_CLAIM_H */
