/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The delivery worker's entry point (worker.c), which the launcher
 *	  names when it starts one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_WORKER_H
#define WEBHOOK_WORKER_H

#include "fmgr.h"

extern PGDLLEXPORT void wh_worker_main(Datum main_arg);

#endif							/* WEBHOOK_WORKER_H */
