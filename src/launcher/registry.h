/*-------------------------------------------------------------------------
 *
 * registry.h
 *	  Shared memory (registry.c): the workers' slots and the launcher's
 *	  mailbox.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_REGISTRY_H
#define WEBHOOK_REGISTRY_H

#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

/* Mailbox capacity; a full start box turns into a scan of every database */
#define WH_MAILBOX				64

typedef struct WhHold
{
	Oid			dboid;
	TimestampTz until;
} WhHold;

/* The launcher's mailbox; launcher.c reads it, under its mutex */
typedef struct WhLauncherShared
{
	slock_t		mutex;
	Latch	   *latch;			/* the launcher's, NULL when not running */
	bool		scan_all;		/* start a worker in every database */
	int			nstart;
	Oid			start[WH_MAILBOX];
	int			ndone;
	Oid			done[WH_MAILBOX];
	WhHold		hold[WH_MAILBOX];	/* free when until is 0 */
} WhLauncherShared;

/* NULL until shared memory is set up */
extern WhLauncherShared *wh_launcher;

extern void wh_registry_init(void);

/* The delivery workers' slots */
extern bool wh_worker_attach(void);
extern int	wh_worker_pid(Oid dboid);
extern bool wh_signal_worker(Oid dboid);
extern void wh_wake_worker(Oid dboid);

/* The launcher's mailbox */
extern bool wh_held_locked(Oid dboid, TimestampTz now);
extern void wh_set_hold(Oid dboid, TimestampTz until);
extern void wh_launcher_request(Oid dboid);
extern void wh_launcher_request_throttled(Oid dboid);
extern bool wh_launcher_stop_requested(void);
extern void wh_launcher_worker_done(const char *why);	/* does not return */

#endif							/* WEBHOOK_REGISTRY_H */
