/*-------------------------------------------------------------------------
 *
 * webhook.c
 *	  Module entry point: settings, shared memory, and waking the worker.
 *
 * The library must be in shared_preload_libraries: _PG_init registers the
 * launcher (launcher.c), which starts one delivery worker per database, and
 * reserves a small shared-memory area.  That area holds one slot per running
 * worker (webhook.max_workers of them), naming its database and its latch,
 * and the launcher's mailbox.
 *
 * Locking: the slots are protected by a spinlock.  A worker fills its slot
 * when it starts and clears it at exit; a backend that committed events
 * reads the slot of its own database and sets that latch.  Setting a latch
 * whose owner just exited is harmless (latches live in PGPROC, which stays),
 * so the lock is only held to read or write the slot, never across SetLatch.
 *
 * Backends never wake the worker from inside a transaction: capture.c calls
 * wh_wake_at_commit(), which arranges for a transaction callback to set the
 * latch once, after the commit is visible.  Many events in one transaction,
 * or many transactions in quick succession, cost the worker one wake-up.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "webhook.h"

PG_MODULE_MAGIC;

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

/* Settings */
int			wh_max_payload_size = 1024 * 1024;
char	   *wh_database = NULL;
int			wh_max_workers = 8;
int			wh_max_in_flight = 64;
int			wh_max_in_flight_per_endpoint = 32;
int			wh_batch_size = 500;
int			wh_retention = 7 * 24 * 3600;
int			wh_max_response_size = 1024;
int			wh_idle_timeout = 10000;

static WebhookSharedState *wh_state = NULL;
static int	wh_my_slot = -1;
static bool wh_wake_pending = false;
static bool wh_callback_registered = false;

static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif

void		_PG_init(void);

static void wh_define_gucs(void);

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
	return add_size(wh_state_size(), wh_launcher_shmem_size());
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
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Module load.  Refuses to load other than from shared_preload_libraries,
 * where the worker and shared memory can be set up, and does nothing at all
 * during a binary upgrade, so that pg_upgrade can load the library freely.
 */
void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;

	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webhook must be loaded via \"shared_preload_libraries\""),
				 errhint("Add \"webhook\" to \"shared_preload_libraries\" with ALTER SYSTEM SET shared_preload_libraries = 'webhook' (keeping any libraries already listed), then restart the server.")));

	wh_define_gucs();

#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = wh_shmem_request;
#else
	RequestAddinShmemSpace(wh_shmem_size());
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = wh_shmem_startup;

	wh_outbox_init();
	wh_launcher_init();
}

static void
wh_define_gucs(void)
{
	DefineCustomIntVariable("webhook.max_payload_size",
							"Largest event body; a larger row is sent as its key only.",
							NULL,
							&wh_max_payload_size,
							1024 * 1024, 1024, MaxAllocSize / 2,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomStringVariable("webhook.database",
							   "Only this database's events are delivered; empty means every database.",
							   NULL,
							   &wh_database,
							   "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_workers",
							"Most delivery workers (one per database) running at once.",
							NULL,
							&wh_max_workers,
							8, 1, 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_in_flight",
							"Most requests the worker has in flight at once.",
							NULL,
							&wh_max_in_flight,
							64, 1, 512,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_in_flight_per_endpoint",
							"Most requests in flight to one endpoint, unless the endpoint sets its own.",
							NULL,
							&wh_max_in_flight_per_endpoint,
							32, 1, 512,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.batch_size",
							"Most events the worker claims in one transaction.",
							NULL,
							&wh_batch_size,
							500, 1, 10000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.retention",
							"How long delivered and dead events and their attempts are kept.",
							NULL,
							&wh_retention,
							7 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_response_size",
							"Bytes of each response body kept in the attempt history.",
							NULL,
							&wh_max_response_size,
							1024, 0, 65536,
							PGC_SIGHUP, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.idle_timeout",
							"Longest the worker sleeps without being woken.",
							NULL,
							&wh_idle_timeout,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	wh_egress_define_gucs();

	MarkGUCPrefixReserved("webhook");
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

static void
wh_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wh_wake_pending)
			{
				wh_wake_pending = false;
				wh_wake_worker(MyDatabaseId);
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wh_wake_pending = false;
			break;
		default:
			break;
	}
}

/*
 * Called whenever this transaction writes something the worker should see:
 * wake it once the transaction commits.
 */
void
wh_wake_at_commit(void)
{
	if (!wh_callback_registered)
	{
		RegisterXactCallback(wh_xact_callback, NULL);
		wh_callback_registered = true;
	}
	wh_wake_pending = true;
}

PG_FUNCTION_INFO_V1(webhook_wake);

/*
 * SQL: webhook._wake(), for functions that make events due again.
 */
Datum
webhook_wake(PG_FUNCTION_ARGS)
{
	wh_wake_at_commit();
	PG_RETURN_VOID();
}
