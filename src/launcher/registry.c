/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Shared memory: which worker serves which database, and the launcher's
 *	  mailbox.
 *
 * _PG_init reserves one area, in two parts.  The first holds one slot per
 * running delivery worker (webhook.max_workers of them), naming its
 * database and its latch.  The second is the launcher's mailbox (see
 * launcher.c): the databases that want a worker, the workers that stopped
 * on purpose, and the databases held so that their worker leaves.
 *
 * Locking: each part has its own spinlock, held only to read or write it,
 * never across SetLatch.  A worker fills its slot when it starts and
 * clears it at exit; a backend that committed events reads the slot of its
 * own database and sets that latch.  Setting a latch whose owner just
 * exited is harmless (latches live in PGPROC, which stays).
 *
 * What backends call at commit (wh_wake_worker, wh_signal_worker,
 * wh_launcher_request, wh_set_hold) only takes a spinlock and sets a
 * latch, so it is safe in a transaction callback.  Nothing here calls any
 * other part of the extension: the launcher, the utility hook, the wake-up
 * at commit and the worker all build on it.
 *
 * IDENTIFICATION
 *	  src/launcher/registry.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "capture/route.h"
#include "launcher/registry.h"
#include "observe/stats.h"

typedef struct WebhookWorkerSlot
{
	Oid			dboid;			/* InvalidOid when free */
	int			pid;
	Latch	   *latch;
} WebhookWorkerSlot;

typedef struct WebhookSharedState
{
	slock_t		mutex;
	WebhookWorkerSlot slots[FLEXIBLE_ARRAY_MEMBER];	/* wh_max_workers */
} WebhookSharedState;

WhLauncherShared *wh_launcher = NULL;

static WebhookSharedState *wh_state = NULL;
static int	wh_my_slot = -1;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

static Size wh_launcher_shmem_size(void);
static void wh_launcher_shmem_init(void);

/*
 * Shared memory size and set-up.
 */
static Size
wh_state_size(void)
{
	return MAXALIGN(offsetof(WebhookSharedState, slots) +
					sizeof(WebhookWorkerSlot) * wh_max_workers);
}

static Size
wh_shmem_size(void)
{
	return add_size(add_size(add_size(wh_state_size(),
									  wh_launcher_shmem_size()),
							 wh_route_shmem_size()),
					wh_stats_shmem_size());
}

#if PG_VERSION_NUM >= 150000
static void
wh_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(wh_shmem_size());
}
#endif

static void
wh_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	wh_state = ShmemInitStruct("webhook", wh_state_size(), &found);
	if (!found)
	{
		memset(wh_state, 0, wh_state_size());
		SpinLockInit(&wh_state->mutex);
	}
	wh_launcher_shmem_init();
	wh_route_shmem_init();
	wh_stats_shmem_init();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Worker side: publish this process's latch for its database.
 */
static void
wh_worker_detach(int code, Datum arg)
{
	SpinLockAcquire(&wh_state->mutex);
	if (wh_my_slot >= 0 && wh_state->slots[wh_my_slot].pid == MyProcPid)
	{
		wh_state->slots[wh_my_slot].dboid = InvalidOid;
		wh_state->slots[wh_my_slot].pid = 0;
		wh_state->slots[wh_my_slot].latch = NULL;
	}
	SpinLockRelease(&wh_state->mutex);
	wh_my_slot = -1;
}

bool
wh_worker_attach(void)
{
	int			i;
	bool		taken = false;

	SpinLockAcquire(&wh_state->mutex);
	for (i = 0; i < wh_max_workers; i++)
		if (wh_state->slots[i].dboid == MyDatabaseId)
			taken = true;
	for (i = 0; i < wh_max_workers && !taken; i++)
	{
		WebhookWorkerSlot *slot = &wh_state->slots[i];

		if (slot->dboid == InvalidOid)
		{
			slot->dboid = MyDatabaseId;
			slot->pid = MyProcPid;
			slot->latch = &MyProc->procLatch;
			wh_my_slot = i;
			break;
		}
	}
	SpinLockRelease(&wh_state->mutex);

	/* another worker serves this database already */
	if (taken)
		return false;
	if (wh_my_slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many webhook workers"),
				 errdetail("At most %d webhook workers can run at once.",
						   wh_max_workers)));
	before_shmem_exit(wh_worker_detach, (Datum) 0);
	return true;
}

/*
 * The pid of the worker serving a database, or 0.
 */
int
wh_worker_pid(Oid dboid)
{
	int			pid = 0;
	int			i;

	if (wh_state == NULL)
		return 0;
	SpinLockAcquire(&wh_state->mutex);
	for (i = 0; i < wh_max_workers; i++)
		if (wh_state->slots[i].dboid == dboid)
			pid = wh_state->slots[i].pid;
	SpinLockRelease(&wh_state->mutex);
	return pid;
}

/*
 * Set the latch of the worker serving a database; false if none runs.
 */
bool
wh_signal_worker(Oid dboid)
{
	Latch	   *latch = NULL;
	int			i;

	if (wh_state == NULL)
		return false;

	SpinLockAcquire(&wh_state->mutex);
	for (i = 0; i < wh_max_workers; i++)
	{
		if (wh_state->slots[i].dboid == dboid)
		{
			latch = wh_state->slots[i].latch;
			break;
		}
	}
	SpinLockRelease(&wh_state->mutex);

	if (latch)
		SetLatch(latch);
	return latch != NULL;
}

/*
 * Wake the worker serving a database; if none runs, ask the launcher for
 * one (the worker may have stopped, or not be known to the launcher yet).
 */
void
wh_wake_worker(Oid dboid)
{
	if (!wh_signal_worker(dboid))
		wh_launcher_request_throttled(dboid);
}

/*
 * Shared memory.
 */
static Size
wh_launcher_shmem_size(void)
{
	return MAXALIGN(sizeof(WhLauncherShared));
}

static void
wh_launcher_shmem_init(void)
{
	bool		found;

	wh_launcher = ShmemInitStruct("webhook launcher",
								  wh_launcher_shmem_size(), &found);
	if (!found)
	{
		memset(wh_launcher, 0, sizeof(WhLauncherShared));
		SpinLockInit(&wh_launcher->mutex);
	}
}

/*
 * Is a database held?  Caller holds the mutex.
 */
bool
wh_held_locked(Oid dboid, TimestampTz now)
{
	int			i;

	for (i = 0; i < WH_MAILBOX; i++)
		if (wh_launcher->hold[i].dboid == dboid &&
			wh_launcher->hold[i].until > now)
			return true;
	return false;
}

/*
 * Hold a database until a given time (0 releases it).  A new hold takes a
 * free or expired entry, else the one that expires first: holds are short.
 */
void
wh_set_hold(Oid dboid, TimestampTz until)
{
	int			pick = -1;
	int			i;

	SpinLockAcquire(&wh_launcher->mutex);
	for (i = 0; i < WH_MAILBOX; i++)
		if (wh_launcher->hold[i].dboid == dboid)
			pick = i;
	if (pick < 0 && until > 0)
	{
		pick = 0;
		for (i = 1; i < WH_MAILBOX; i++)
			if (wh_launcher->hold[i].until < wh_launcher->hold[pick].until)
				pick = i;
	}
	if (pick >= 0)
	{
		wh_launcher->hold[pick].dboid = until > 0 ? dboid : InvalidOid;
		wh_launcher->hold[pick].until = until;
	}
	SpinLockRelease(&wh_launcher->mutex);
}

/*
 * Ask the launcher for a worker in a database.  Cheap and safe to call
 * from a commit callback; a worker already running makes it a no-op.
 */
void
wh_launcher_request(Oid dboid)
{
	Latch	   *latch;
	int			i;

	if (wh_launcher == NULL)
		return;
	SpinLockAcquire(&wh_launcher->mutex);
	for (i = 0; i < wh_launcher->nstart; i++)
		if (wh_launcher->start[i] == dboid)
			break;
	if (i == wh_launcher->nstart)
	{
		if (wh_launcher->nstart < WH_MAILBOX)
			wh_launcher->start[wh_launcher->nstart++] = dboid;
		else
			wh_launcher->scan_all = true;
	}
	latch = wh_launcher->latch;
	SpinLockRelease(&wh_launcher->mutex);
	if (latch)
		SetLatch(latch);
}

/*
 * The same, from a commit that captured events where no worker runs: at
 * most once a second per backend, as a database webhook.database leaves
 * out never gets a worker.
 */
void
wh_launcher_request_throttled(Oid dboid)
{
	static TimestampTz last = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (now - last < 1000 * 1000L && now >= last)
		return;
	last = now;
	wh_launcher_request(dboid);
}

/*
 * Worker side: has this database been held (by DROP DATABASE, DROP
 * EXTENSION, ...) so that the worker should leave?
 */
bool
wh_launcher_stop_requested(void)
{
	bool		held;

	if (wh_launcher == NULL)
		return false;
	SpinLockAcquire(&wh_launcher->mutex);
	held = wh_held_locked(MyDatabaseId, GetCurrentTimestamp());
	SpinLockRelease(&wh_launcher->mutex);
	return held;
}

/*
 * Worker side: stop on purpose, telling the launcher not to start this
 * database's worker again until asked.
 */
void
wh_launcher_worker_done(const char *why)
{
	Latch	   *latch = NULL;

	SpinLockAcquire(&wh_launcher->mutex);
	if (wh_launcher->ndone < WH_MAILBOX)
		wh_launcher->done[wh_launcher->ndone++] = MyDatabaseId;
	latch = wh_launcher->latch;
	SpinLockRelease(&wh_launcher->mutex);
	if (latch)
		SetLatch(latch);

	ereport(DEBUG1,
			(errmsg("webhook worker for database \"%s\" is stopping: %s",
					MyBgworkerEntry->bgw_extra, why)));
	proc_exit(0);
}

/*
 * Called from _PG_init: reserve the area and set it up at startup.
 */
void
wh_registry_init(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wh_shmem_request;
#else
	RequestAddinShmemSpace(wh_shmem_size());
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wh_shmem_startup;
}
