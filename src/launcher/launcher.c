/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  One delivery worker for every database where the extension exists.
 *
 * A launcher, started by the postmaster once recovery has finished (so
 * never on a standby), connects to no database.  It reads pg_database, and
 * starts one dynamic worker (delivery/worker.c) per database, the
 * database's OID as the worker's argument.  A database in which the extension turns out to be
 * missing costs one short-lived worker: it looks in pg_extension, reports
 * "done" and exits.  The launcher then leaves that database alone until
 * asked again.  webhook.max_workers bounds how many workers run at once.
 *
 * Everything else talks to the launcher through a small mailbox in shared
 * memory, protected by a spinlock and followed by setting its latch:
 *
 *	start	a database that wants a worker: sent at the commit of CREATE or
 *			ALTER EXTENSION webhook (found by the ProcessUtility hook
 *			in utility.c, so every version's script counts), and by a commit that captured
 *			events in a database where no worker runs (registry.c);
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
 * The mailbox lives in shared memory set up by registry.c, which also
 * holds the functions that post to it; this file only reads it.
 *
 * IDENTIFICATION
 *	  src/launcher/launcher.c
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


#include "guc.h"
#include "launcher/launcher.h"
#include "launcher/registry.h"

/* A worker that stopped on an error is started again after this long */
#define WH_RESTART_DELAY_MS		1000L
/* A worker start refused for want of a slot is tried again after this long */
#define WH_RETRY_DELAY_MS		10000L
/*
 * A database kept waiting by webhook.max_workers is reported after this
 * long: workers that find no extension make room again within milliseconds
 */
#define WH_LIMIT_REPORT_DELAY_MS	5000L

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

static HTAB *wh_dbs = NULL;		/* launcher: Oid -> WhDb */

PGDLLEXPORT void wh_launcher_main(Datum main_arg);

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
 * Called from _PG_init: register the launcher.
 */
void
wh_launcher_init(void)
{
	wh_register_launcher();
}
