/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  One delivery worker for every database where the extension exists.
 *
 * A launcher, started by the postmaster once recovery has finished (so
 * never on a standby), connects to no database.  It reads pg_database, and
 * starts one dynamic worker (worker.c) per database, the database's OID as
 * the worker's argument.  A database in which the extension turns out to be
 * missing costs one short-lived worker: it looks in pg_extension, reports
 * "done" and exits.  The launcher then leaves that database alone until
 * asked again.  webhook.max_workers bounds how many workers run at once.
 *
 * Everything else talks to the launcher through a small mailbox in shared
 * memory, protected by a spinlock and followed by setting its latch:
 *
 *	start	a database that wants a worker: sent at the commit of CREATE or
 *			ALTER EXTENSION webhook (found by a ProcessUtility hook, so
 *			every version's script counts), and by a commit that captured
 *			events in a database where no worker runs (webhook.c);
 *	done	a worker that stops on purpose (no extension, asked to stop, or
 *			a second worker for a database already served), which is not to
 *			be restarted.  A worker that stops otherwise (an error) is
 *			started again after WH_RESTART_DELAY_MS;
 *	hold	a database whose worker must stop and stay off for a while.  A
 *			backend about to run DROP DATABASE (or anything else that needs
 *			the database to itself: RENAME, SET TABLESPACE, use as a
 *			template) holds it, wakes its worker and waits for it to exit,
 *			since before PostgreSQL 19 nothing else stops a background
 *			worker connected to a database being dropped.  DROP EXTENSION
 *			holds its database briefly at commit, so the worker exits
 *			without first failing on the missing tables.
 *
 * The same hook makes DROP EXTENSION webhook drop the subscription triggers
 * first (they are not members of the extension, but they need its capture
 * function), in the same transaction, and wakes the worker after COMMIT
 * PREPARED (a prepared transaction's commit fires no transaction callback
 * in the session that captured its events).
 *
 * The hook runs in the caller's session and acts for the caller, so it
 * never does what the caller could not: a worker is made to leave only for
 * a command that passes the permission checks PostgreSQL itself makes
 * (wh_may_run), and the hook's own statements run with search_path pinned
 * to pg_catalog, pg_temp, whatever the session or its database set.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "webhook.h"

/* Mailbox capacity; a full start box turns into a scan of every database */
#define WH_MAILBOX				64
/* A worker that stopped on an error is started again after this long */
#define WH_RESTART_DELAY_MS		1000L
/* A worker start refused for want of a slot is tried again after this long */
#define WH_RETRY_DELAY_MS		10000L
/*
 * A database kept waiting by webhook.max_workers is reported after this
 * long: workers that find no extension make room again within milliseconds
 */
#define WH_LIMIT_REPORT_DELAY_MS	5000L
/* Longest a backend waits for a worker to leave a database */
#define WH_LEAVE_TIMEOUT_MS		10000L
/* How long DROP DATABASE keeps its database held after it ran */
#define WH_DROP_HOLD_MS			30000L
/* How long DROP EXTENSION holds its database at commit */
#define WH_UNINSTALL_HOLD_MS	5000L

typedef struct WhHold
{
	Oid			dboid;
	TimestampTz until;
} WhHold;

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

/* The launcher's own view of one database */
typedef enum WhDbState
{
	WH_DB_IDLE,					/* no worker, none wanted */
	WH_DB_WANTED,				/* to be started at retry_at */
	WH_DB_RUNNING				/* handle is valid */
} WhDbState;

typedef struct WhDb
{
	Oid			dboid;			/* hash key */
	char		name[NAMEDATALEN];
	WhDbState	state;
	BackgroundWorkerHandle *handle;
	TimestampTz retry_at;
	TimestampTz waiting_since;	/* for a free webhook.max_workers place */
	bool		done;			/* its worker reported a deliberate stop */
	bool		again;			/* asked for while its worker was stopping */
	bool		complained;		/* a start failure was logged */
	bool		seen;			/* found by the latest scan */
	bool		excluded;		/* not the one named by webhook.database */
} WhDb;

static WhLauncherShared *wh_launcher = NULL;

/* Backend side: what to tell the launcher when this transaction commits */
typedef enum WhCommitAction
{
	WH_AT_COMMIT_NOTHING,
	WH_AT_COMMIT_START,
	WH_AT_COMMIT_STOP
} WhCommitAction;

static WhCommitAction wh_at_commit = WH_AT_COMMIT_NOTHING;
static bool wh_xact_cb_registered = false;
static ProcessUtility_hook_type prev_process_utility = NULL;

static HTAB *wh_dbs = NULL;		/* launcher: Oid -> WhDb */

PGDLLEXPORT void wh_launcher_main(Datum main_arg);

/*
 * Shared memory.
 */
Size
wh_launcher_shmem_size(void)
{
	return MAXALIGN(sizeof(WhLauncherShared));
}

void
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
static bool
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
static void
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
 * Register the launcher.  It starts once recovery has finished, so a
 * standby sends nothing and a promoted standby starts sending by itself.
 */
static void
wh_register_launcher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 1;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "webhook");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "wh_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "webhook launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "webhook launcher");
	RegisterBackgroundWorker(&worker);
}

/*
 * Start the worker of one database; false when no slot was free.
 */
static bool
wh_start_worker(WhDb *db)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
#ifdef BGWORKER_INTERRUPTIBLE
	/* PostgreSQL 19: DROP DATABASE and friends may terminate it too */
	worker.bgw_flags |= BGWORKER_INTERRUPTIBLE;
#endif
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "webhook");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "wh_worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "webhook worker for database %s",
			 db->name);
	snprintf(worker.bgw_type, BGW_MAXLEN, "webhook worker");
	strlcpy(worker.bgw_extra, db->name, BGW_EXTRALEN);
	worker.bgw_main_arg = ObjectIdGetDatum(db->dboid);
	worker.bgw_notify_pid = MyProcPid;

	return RegisterDynamicBackgroundWorker(&worker, &db->handle);
}

/*
 * Read pg_database: learn new databases (wanted when want_new, as at
 * start-up), forget vanished ones.  Templates and databases that allow no
 * connections are left out: a worker connected to template1 would make
 * every CREATE DATABASE fail.
 */
static void
wh_scan_databases(bool want_new)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	HASH_SEQ_STATUS hs;
	WhDb	   *db;

	hash_seq_init(&hs, wh_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
		db->seen = false;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	pgstat_report_activity(STATE_RUNNING, "reading pg_database");

	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tup);
		bool		found;

		if (form->datistemplate || !form->datallowconn)
			continue;
#ifdef DATCONNLIMIT_INVALID_DB
		if (form->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
#endif

		db = hash_search(wh_dbs, &form->oid, HASH_ENTER, &found);
		if (!found)
		{
			memset(db, 0, sizeof(WhDb));
			db->dboid = form->oid;
			db->state = want_new ? WH_DB_WANTED : WH_DB_IDLE;
		}
		strlcpy(db->name, NameStr(form->datname), NAMEDATALEN);
		db->seen = true;
		/* kept, so that its requests are recognized and ignored */
		db->excluded = (wh_database && wh_database[0] != '\0' &&
						strcmp(db->name, wh_database) != 0);
		if (db->excluded && db->state == WH_DB_WANTED)
			db->state = WH_DB_IDLE;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);

	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	hash_seq_init(&hs, wh_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		if (!db->seen && db->state != WH_DB_RUNNING)
			hash_search(wh_dbs, &db->dboid, HASH_REMOVE, NULL);
	}
}

/*
 * Take the mailbox's contents into the launcher's view; returns true when
 * pg_database must be read (an unknown database asked, or all of them).
 */
static bool
wh_read_mailbox(bool *scan_all)
{
	Oid			start[WH_MAILBOX];
	Oid			done[WH_MAILBOX];
	int			nstart;
	int			ndone;
	bool		need_scan = false;
	int			i;

	SpinLockAcquire(&wh_launcher->mutex);
	nstart = wh_launcher->nstart;
	ndone = wh_launcher->ndone;
	memcpy(start, wh_launcher->start, sizeof(Oid) * nstart);
	memcpy(done, wh_launcher->done, sizeof(Oid) * ndone);
	wh_launcher->nstart = 0;
	wh_launcher->ndone = 0;
	*scan_all = wh_launcher->scan_all;
	wh_launcher->scan_all = false;
	SpinLockRelease(&wh_launcher->mutex);

	for (i = 0; i < ndone; i++)
	{
		WhDb	   *db = hash_search(wh_dbs, &done[i], HASH_FIND, NULL);

		if (db)
			db->done = true;
	}

	for (i = 0; i < nstart; i++)
	{
		WhDb	   *db = hash_search(wh_dbs, &start[i], HASH_FIND, NULL);

		if (db == NULL)
		{
			/* learn its name first; it is wanted once known */
			bool		found;

			db = hash_search(wh_dbs, &start[i], HASH_ENTER, &found);
			memset(db, 0, sizeof(WhDb));
			db->dboid = start[i];
			db->state = WH_DB_WANTED;
			need_scan = true;
		}
		else if (db->state != WH_DB_RUNNING && !db->excluded)
		{
			db->state = WH_DB_WANTED;
			db->retry_at = 0;
			/* read its name again: it may have been renamed */
			need_scan = true;
		}
		else if (db->state == WH_DB_RUNNING)
			db->again = true;	/* in case it is on its way out */
	}
	return need_scan || *scan_all;
}

/*
 * One pass over the launcher's view: notice stopped workers, start wanted
 * ones within webhook.max_workers.  Returns when to look again.
 */
static TimestampTz
wh_launcher_step(bool *rescan)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = now + 60 * 1000 * 1000L;
	HASH_SEQ_STATUS hs;
	WhDb	   *db;
	int			nrunning = 0;
	bool		freed = false;

	/* workers that stopped */
	hash_seq_init(&hs, wh_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		pid_t		pid;
		bool		held;

		if (db->state != WH_DB_RUNNING)
			continue;
		if (GetBackgroundWorkerPid(db->handle, &pid) != BGWH_STOPPED)
		{
			nrunning++;
			continue;
		}
		pfree(db->handle);
		db->handle = NULL;
		freed = true;
		SpinLockAcquire(&wh_launcher->mutex);
		held = wh_held_locked(db->dboid, now);
		SpinLockRelease(&wh_launcher->mutex);
		if (db->again && !held)
		{
			/* the extension came back while it was stopping */
			db->state = WH_DB_WANTED;
			db->retry_at = 0;
		}
		else if (db->done || held)
			db->state = WH_DB_IDLE;
		else
		{
			/* it failed; its database may be gone, so look again */
			db->state = WH_DB_WANTED;
			db->retry_at = now + WH_RESTART_DELAY_MS * 1000;
			*rescan = true;
		}
		db->done = false;
		db->again = false;
	}

	/* workers to start */
	hash_seq_init(&hs, wh_dbs);
	while ((db = hash_seq_search(&hs)) != NULL)
	{
		TimestampTz hold_until = 0;
		int			i;

		if (db->state != WH_DB_WANTED || db->name[0] == '\0')
			continue;
		SpinLockAcquire(&wh_launcher->mutex);
		for (i = 0; i < WH_MAILBOX; i++)
			if (wh_launcher->hold[i].dboid == db->dboid &&
				wh_launcher->hold[i].until > now)
				hold_until = wh_launcher->hold[i].until;
		SpinLockRelease(&wh_launcher->mutex);
		if (hold_until > 0)
		{
			next = Min(next, hold_until);
			continue;
		}
		/* a slot just freed is tried at once */
		if (db->retry_at > now && !freed)
		{
			next = Min(next, db->retry_at);
			continue;
		}
		if (nrunning >= wh_max_workers)
		{
			if (db->waiting_since == 0)
				db->waiting_since = now;
			if (!db->complained &&
				now < db->waiting_since + WH_LIMIT_REPORT_DELAY_MS * 1000)
			{
				next = Min(next, db->waiting_since +
						   WH_LIMIT_REPORT_DELAY_MS * 1000);
				continue;
			}
			if (!db->complained)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("could not start a webhook worker for database \"%s\"",
								db->name),
						 errdetail("All %d webhook workers allowed by \"webhook.max_workers\" are running.",
								   wh_max_workers),
						 errhint("Increase \"webhook.max_workers\", and \"max_worker_processes\" with it.")));
			db->complained = true;
			continue;			/* tried again when a worker stops */
		}
		if (!wh_start_worker(db))
		{
			if (!db->complained)
				ereport(WARNING,
						(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
						 errmsg("could not start a webhook worker for database \"%s\"",
								db->name),
						 errdetail("No background worker slot is free."),
						 errhint("You may need to increase \"max_worker_processes\".")));
			db->complained = true;
			db->handle = NULL;
			db->retry_at = now + WH_RETRY_DELAY_MS * 1000;
			next = Min(next, db->retry_at);
			continue;
		}
		db->state = WH_DB_RUNNING;
		db->waiting_since = 0;
		db->complained = false;
		db->done = false;
		nrunning++;
	}
	return next;
}

/* The launcher is gone: nobody is to set its latch any more */
static void
wh_launcher_detach(int code, Datum arg)
{
	SpinLockAcquire(&wh_launcher->mutex);
	if (wh_launcher->latch == MyLatch)
		wh_launcher->latch = NULL;
	SpinLockRelease(&wh_launcher->mutex);
}

/*
 * Entry point of the launcher.
 */
void
wh_launcher_main(Datum main_arg)
{
	HASHCTL		ctl;
	bool		rescan = true;
	bool		want_all = true;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: only the shared catalogs, pg_database among them */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("webhook launcher");

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(WhDb);
	ctl.hcxt = TopMemoryContext;
	wh_dbs = hash_create("webhook databases", 64, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	SpinLockAcquire(&wh_launcher->mutex);
	wh_launcher->latch = MyLatch;
	SpinLockRelease(&wh_launcher->mutex);
	before_shmem_exit(wh_launcher_detach, (Datum) 0);

	ereport(LOG, (errmsg("webhook launcher started")));

	for (;;)
	{
		TimestampTz next;
		TimestampTz now;
		bool		scan_all;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (wh_read_mailbox(&scan_all))
			rescan = true;
		if (scan_all)
			want_all = true;
		if (rescan)
		{
			wh_scan_databases(want_all);
			if (want_all)
			{
				HASH_SEQ_STATUS hs;
				WhDb	   *db;

				hash_seq_init(&hs, wh_dbs);
				while ((db = hash_seq_search(&hs)) != NULL)
					if (db->state == WH_DB_IDLE && !db->excluded)
						db->state = WH_DB_WANTED;
			}
			rescan = false;
			want_all = false;
		}

		next = wh_launcher_step(&rescan);
		if (rescan)
			continue;

		now = GetCurrentTimestamp();
		timeout = next <= now ? 0 : (long) ((next - now + 999) / 1000);
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * Backend side: at commit, tell the launcher what this transaction did to
 * the extension.
 */
static void
wh_launcher_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wh_at_commit == WH_AT_COMMIT_START)
			{
				wh_set_hold(MyDatabaseId, 0);
				wh_launcher_request(MyDatabaseId);
				/* a worker waiting for ALTER EXTENSION UPDATE looks again */
				wh_wake_worker(MyDatabaseId);
			}
			else if (wh_at_commit == WH_AT_COMMIT_STOP)
			{
				wh_set_hold(MyDatabaseId, GetCurrentTimestamp() +
							WH_UNINSTALL_HOLD_MS * 1000);
				wh_signal_worker(MyDatabaseId);
			}
			wh_at_commit = WH_AT_COMMIT_NOTHING;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wh_at_commit = WH_AT_COMMIT_NOTHING;
			break;
		default:
			break;
	}
}

static void
wh_notify_at_commit(WhCommitAction action)
{
	if (!wh_xact_cb_registered)
	{
		RegisterXactCallback(wh_launcher_xact_callback, NULL);
		wh_xact_cb_registered = true;
	}
	wh_at_commit = action;
}

/*
 * Hold a database and wait (a bounded time) for its worker to leave, so a
 * command that needs the database to itself does not fail with "being
 * accessed by other users".
 */
static void
wh_clear_database(Oid dboid, long hold_ms)
{
	TimestampTz start = GetCurrentTimestamp();

	wh_set_hold(dboid, start + hold_ms * 1000);
	while (wh_worker_pid(dboid) != 0)
	{
		wh_signal_worker(dboid);
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   WH_LEAVE_TIMEOUT_MS))
			break;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Pin search_path for the hook's own statements, as SET search_path on a
 * function does; returns the level to hand to wh_unpin_search_path().  The
 * caller's search_path, or one its database's owner set, must not choose
 * the functions and operators those statements run (the caller may be a
 * superuser running DROP EXTENSION in a database another role owns).  An
 * error unwinds the setting with the transaction.
 */
static int
wh_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

static void
wh_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * DROP EXTENSION webhook: drop every trigger that calls webhook.capture()
 * first.  They are the user's subscriptions, not members of the extension,
 * but are useless without it; dropping them here, in the same transaction,
 * lets DROP EXTENSION succeed without CASCADE and leave nothing behind.
 */
static char *
wh_drop_capture_triggers(void)
{
	int			rc;
	uint64		i;
	List	   *cmds = NIL;
	ListCell   *lc;
	char	   *schema = NULL;

	int			nestlevel;

	if (!OidIsValid(get_extension_oid("webhook", true)))
		return NULL;

	nestlevel = wh_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	rc = SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e "
					 "JOIN pg_catalog.pg_namespace n "
					 "  ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					 "WHERE e.extname OPERATOR(pg_catalog.=) 'webhook'",
					 true, 0);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		schema = MemoryContextStrdup(CurTransactionContext,
									 SPI_getvalue(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1));
	rc = SPI_execute(
		"SELECT pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, "
		"                         t.tgrelid::pg_catalog.regclass) "
		"FROM pg_catalog.pg_trigger t "
		"JOIN pg_catalog.pg_depend d "
		"  ON d.classid OPERATOR(pg_catalog.=) "
		"     'pg_catalog.pg_proc'::pg_catalog.regclass "
		" AND d.objid OPERATOR(pg_catalog.=) t.tgfoid "
		" AND d.deptype OPERATOR(pg_catalog.=) 'e' "
		"JOIN pg_catalog.pg_extension e "
		"  ON d.refclassid OPERATOR(pg_catalog.=) "
		"     'pg_catalog.pg_extension'::pg_catalog.regclass "
		" AND e.oid OPERATOR(pg_catalog.=) d.refobjid "
		"JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid "
		"WHERE e.extname OPERATOR(pg_catalog.=) 'webhook' "
		"  AND p.proname OPERATOR(pg_catalog.=) 'capture' "
		"ORDER BY t.oid", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
		cmds = lappend(cmds, SPI_getvalue(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 1));
	foreach(lc, cmds)
	{
		rc = SPI_execute((char *) lfirst(lc), false, 0);
		if (rc != SPI_OK_UTILITY)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	}
	PopActiveSnapshot();
	SPI_finish();
	wh_unpin_search_path(nestlevel);
	return schema;
}

/*
 * After DROP EXTENSION webhook: drop its schema too when nothing is left
 * in it.  CREATE EXTENSION creates the schema named in the control file
 * without making it a member, so DROP EXTENSION alone would leave it.
 */
static void
wh_drop_empty_schema(const char *schema)
{
	int			rc;
	Datum		arg[1];
	Oid			argtypes[1] = {TEXTOID};
	int			nestlevel = wh_pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	arg[0] = CStringGetTextDatum(schema);
	rc = SPI_execute_with_args(
		"SELECT pg_catalog.format('DROP SCHEMA %I', n.nspname) "
		"FROM pg_catalog.pg_namespace n "
		"WHERE n.nspname OPERATOR(pg_catalog.=) $1 "
		"AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d "
		"  WHERE d.refclassid OPERATOR(pg_catalog.=) "
		"        'pg_catalog.pg_namespace'::pg_catalog.regclass "
		"    AND d.refobjid OPERATOR(pg_catalog.=) n.oid)",
		1, argtypes, arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		rc = SPI_execute(SPI_getvalue(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1), false, 0);
		if (rc != SPI_OK_UTILITY)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	}
	PopActiveSnapshot();
	SPI_finish();
	wh_unpin_search_path(nestlevel);
}

/* Does the current role own a database (as DROP DATABASE requires)? */
static bool
wh_owns_database(Oid dboid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(DatabaseRelationId, dboid, GetUserId());
#else
	return pg_database_ownercheck(dboid, GetUserId());
#endif
}

/* May the current role create databases (CREATEDB, or superuser)? */
static bool
wh_may_create_databases(void)
{
	HeapTuple	tup;
	bool		result = false;

	if (superuser())
		return true;
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_authid) GETSTRUCT(tup))->rolcreatedb;
		ReleaseSysCache(tup);
	}
	return result;
}

/* May the current role create objects in a tablespace? */
static bool
wh_may_use_tablespace(Oid spcoid)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(TableSpaceRelationId, spcoid, GetUserId(),
						   ACL_CREATE) == ACLCHECK_OK;
#else
	return pg_tablespace_aclcheck(spcoid, GetUserId(),
								  ACL_CREATE) == ACLCHECK_OK;
#endif
}

/* A database's default tablespace and whether it is a template */
static bool
wh_database_info(Oid dboid, Oid *spcoid, bool *istemplate)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));

	if (!HeapTupleIsValid(tup))
		return false;
	*spcoid = ((Form_pg_database) GETSTRUCT(tup))->dattablespace;
	*istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
	return true;
}

/*
 * Will PostgreSQL let the current role run this command, which needs the
 * database dboid to itself?  The hook makes that database's worker leave
 * before the command runs (the command refuses to start while another
 * session is connected, so acting after it succeeded is not possible).  So
 * the hook repeats the checks the command makes before it looks for other
 * sessions: ownership, CREATEDB, the tablespace's CREATE privilege, and the
 * conditions that make it fail outright.  A command bound to fail leaves
 * the worker alone.
 */
static bool
wh_may_run(Node *parsetree, Oid dboid)
{
	Oid			spcoid;
	bool		istemplate;

	if (!wh_database_info(dboid, &spcoid, &istemplate))
		return false;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return wh_owns_database(dboid) && dboid != MyDatabaseId &&
				!istemplate;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				return wh_owns_database(dboid) && wh_may_create_databases() &&
					dboid != MyDatabaseId &&
					!OidIsValid(get_database_oid(stmt->newname, true));
			}
		case T_AlterDatabaseStmt:
			{
				AlterDatabaseStmt *stmt = (AlterDatabaseStmt *) parsetree;
				DefElem    *def = linitial(stmt->options);
				Oid			target;

				if (list_length(stmt->options) != 1 || def->arg == NULL ||
					!wh_owns_database(dboid) || dboid == MyDatabaseId)
					return false;
				target = get_tablespace_oid(defGetString(def), true);
				return OidIsValid(target) && wh_may_use_tablespace(target) &&
					target != spcoid && target != GLOBALTABLESPACE_OID;
			}
		case T_CreatedbStmt:
			{
				CreatedbStmt *stmt = (CreatedbStmt *) parsetree;
				ListCell   *lc;

				if (!wh_may_create_databases())
					return false;
				if (!istemplate && !wh_owns_database(dboid))
					return false;
				/* OWNER: the creator must be able to become that role */
				foreach(lc, stmt->options)
				{
					DefElem    *def = lfirst(lc);
					Oid			owner;

					if (strcmp(def->defname, "owner") != 0 || def->arg == NULL)
						continue;
					owner = get_role_oid(defGetString(def), true);
					if (!OidIsValid(owner) ||
						!is_member_of_role(GetUserId(), owner))
						return false;
				}
				return true;
			}
		default:
			return false;
	}
}

/* Does a DROP statement name the webhook extension? */
static bool
wh_drops_webhook(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "webhook") == 0)
			return true;
	return false;
}

/* The database named by a DefElem option of a statement, if any */
static Oid
wh_option_database(List *options, const char *option)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, option) == 0 && def->arg != NULL)
			return get_database_oid(defGetString(def), true);
	}
	return InvalidOid;
}

/*
 * ProcessUtility hook: clear databases before commands that need them to
 * themselves, follow the extension's creation and removal.
 */
static void
wh_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	volatile Oid cleared = InvalidOid;
	volatile bool dropping = false;
	char	   *volatile schema = NULL;
	volatile bool commit_prepared = false;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			cleared = get_database_oid(((DropdbStmt *) parsetree)->dbname,
									   true);
			dropping = true;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				cleared = get_database_oid(((RenameStmt *) parsetree)->subname,
										   true);
			break;
		case T_AlterDatabaseStmt:
			{
				AlterDatabaseStmt *stmt = (AlterDatabaseStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, stmt->options)
					if (strcmp(((DefElem *) lfirst(lc))->defname,
							   "tablespace") == 0)
						cleared = get_database_oid(stmt->dbname, true);
			}
			break;
		case T_CreatedbStmt:
			cleared = wh_option_database(((CreatedbStmt *) parsetree)->options,
										 "template");
			break;
		case T_CreateExtensionStmt:
			if (strcmp(((CreateExtensionStmt *) parsetree)->extname,
					   "webhook") == 0)
				wh_notify_at_commit(WH_AT_COMMIT_START);
			break;
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) parsetree)->extname,
					   "webhook") == 0)
				wh_notify_at_commit(WH_AT_COMMIT_START);
			break;
		case T_DropStmt:
			if (wh_drops_webhook((DropStmt *) parsetree))
			{
				schema = wh_drop_capture_triggers();
				wh_notify_at_commit(WH_AT_COMMIT_STOP);
			}
			break;
		case T_TransactionStmt:
			commit_prepared = ((TransactionStmt *) parsetree)->kind ==
				TRANS_STMT_COMMIT_PREPARED;
			break;
		default:
			break;
	}

	/* only for a command the role may run: nobody else stops a worker */
	if (OidIsValid(cleared) && !wh_may_run(parsetree, cleared))
		cleared = InvalidOid;
	if (OidIsValid(cleared) && wh_launcher != NULL)
		wh_clear_database(cleared, dropping ? WH_DROP_HOLD_MS :
						  WH_LEAVE_TIMEOUT_MS * 2);

	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree,
									context, params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		/* the database is still there: let its worker come back */
		if (OidIsValid(cleared) && wh_launcher != NULL)
		{
			wh_set_hold(cleared, 0);
			wh_launcher_request(cleared);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (schema)
		wh_drop_empty_schema(schema);

	/*
	 * The prepared transaction's events are committed now, but the commit
	 * callback that wakes the worker ran for nobody: PREPARE TRANSACTION
	 * ended that session's transaction without a commit.  Wake it when this
	 * one commits.  Waking costs the worker one claim when the transaction
	 * captured nothing.
	 */
	if (commit_prepared)
		wh_wake_at_commit();

	/*
	 * A dropped database stays held until it is surely gone; any other
	 * command is done with it now (RENAME and the like hold locks that make
	 * a new worker wait for their commit).
	 */
	if (OidIsValid(cleared) && wh_launcher != NULL && !dropping)
	{
		wh_set_hold(cleared, 0);
		wh_launcher_request(cleared);
	}
}

/*
 * Called from _PG_init: register the launcher and install the hook.
 */
void
wh_launcher_init(void)
{
	wh_register_launcher();
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = wh_process_utility;
}
