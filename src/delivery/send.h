/*-------------------------------------------------------------------------
 *
 * send.h
 *	  Sending queued events and collecting responses (send.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_SEND_H
#define WEBHOOK_SEND_H

#include "delivery/worker_state.h"

extern void wh_dispatch(WhWorker *w);
extern void wh_collect(WhWorker *w);

#endif							/* WEBHOOK_SEND_H */
