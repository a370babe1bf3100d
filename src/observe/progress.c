/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  Progress of long operations: a replay started in a session, the
 *	  worker's drain of a backlog, an update that migrates events.
 *
 * Shared memory holds WH_PROGRESS_SLOTS slots.  An operation claims a free
 * one when it begins (a process holds at most one: beginning again reuses
 * it), writes how far it is after each step (a batch, never each row), and
 * frees it when it ends.  webhook.progress (webhook._progress(), below)
 * reads the slots.  When every slot is taken the operation runs all the
 * same, without a row.
 *
 * Who sees what: members of pg_read_all_stats (so pg_monitor) and of
 * webhook_admin see every operation; anyone else only those begun by a
 * role whose privileges they have, as pg_stat_activity shows a session's
 * details.  So a tenant's role sees its own tenant_replay() and nothing of
 * another tenant's (not even that one runs).
 *
 * A slot never outlives its operation:
 *	- one begun for a transaction (a function called in a session) is freed
 *	  when that transaction commits or aborts, or when the subtransaction it
 *	  began in aborts, so an error or a cancel leaves no row behind;
 *	- every slot is freed when its process exits (before_shmem_exit), and a
 *	  reader skips a slot whose process is gone (no PGPROC has its pid), in
 *	  case an exit could not run its callbacks.
 *
 * Locking: each slot has its own spinlock, held only to copy the slot in or
 * out; the owner is the only writer of a taken slot.  Nothing here calls
 * any other part of the extension.
 *
 * IDENTIFICATION
 *	  src/observe/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "catalog/pg_authid.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "observe/progress.h"

#if PG_VERSION_NUM < 160000
#define InitMaterializedSRF(fcinfo, flags) SetSingleFuncCall(fcinfo, flags)
#endif

/* A NOTICE is due once another tenth is done, or after this long */
#define WH_PROGRESS_NOTICE_MS	5000

typedef struct WhProgressSlot
{
	slock_t		mutex;
	int			pid;			/* 0 when free */
	Oid			dboid;
	Oid			roleid;			/* the role that began the operation */
	char		operation[NAMEDATALEN];
	char		phase[NAMEDATALEN];
	int64		done;
	int64		total;			/* -1 while unknown */
	TimestampTz started_at;
	TimestampTz updated_at;
} WhProgressSlot;

static WhProgressSlot *wh_progress_slots = NULL;

/* This process's slot, and what its operation last reported */
static int	wh_my_progress = -1;
static bool wh_progress_for_xact = false;
static SubTransactionId wh_progress_subid = InvalidSubTransactionId;
static bool wh_progress_callbacks = false;
static int64 wh_noticed_done = 0;
static TimestampTz wh_noticed_at = 0;

Size
wh_progress_shmem_size(void)
{
	return MAXALIGN(sizeof(WhProgressSlot) * WH_PROGRESS_SLOTS);
}

/* Called under AddinShmemInitLock, from registry.c's startup hook */
void
wh_progress_shmem_init(void)
{
	bool		found;
	int			i;

	wh_progress_slots = ShmemInitStruct("webhook progress",
										wh_progress_shmem_size(), &found);
	if (!found)
	{
		memset(wh_progress_slots, 0, wh_progress_shmem_size());
		for (i = 0; i < WH_PROGRESS_SLOTS; i++)
			SpinLockInit(&wh_progress_slots[i].mutex);
	}
}

/*
 * Free this process's slot, if it holds one.
 */
void
wh_progress_end(void)
{
	if (wh_my_progress >= 0)
	{
		WhProgressSlot *slot = &wh_progress_slots[wh_my_progress];

		SpinLockAcquire(&slot->mutex);
		if (slot->pid == MyProcPid)
			slot->pid = 0;
		SpinLockRelease(&slot->mutex);
	}
	wh_my_progress = -1;
	wh_progress_for_xact = false;
	wh_progress_subid = InvalidSubTransactionId;
}

bool
wh_progress_active(void)
{
	return wh_my_progress >= 0;
}

static void
wh_progress_exit(int code, Datum arg)
{
	wh_progress_end();
}

/* An operation begun for a transaction ends with it */
static void
wh_progress_xact_callback(XactEvent event, void *arg)
{
	if (!wh_progress_for_xact)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wh_progress_end();
			break;
		default:
			break;
	}
}

/*
 * ... or with the subtransaction it began in, when that aborts (an
 * exception block around the call); when that commits, the operation
 * carries on in its parent.
 */
static void
wh_progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	if (!wh_progress_for_xact || mySubid != wh_progress_subid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		wh_progress_end();
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		wh_progress_subid = parentSubid;
}

static void
wh_progress_copy_text(char *dst, const char *src)
{
	strlcpy(dst, src ? src : "", NAMEDATALEN);
}

/*
 * Begin reporting an operation: claim a slot (or reuse this process's).
 * Without a free slot the operation goes unreported.
 */
void
wh_progress_begin(const char *operation, const char *phase, int64 total,
				  bool for_transaction)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	if (wh_progress_slots == NULL)
		return;
	if (!wh_progress_callbacks)
	{
		before_shmem_exit(wh_progress_exit, (Datum) 0);
		RegisterXactCallback(wh_progress_xact_callback, NULL);
		RegisterSubXactCallback(wh_progress_subxact_callback, NULL);
		wh_progress_callbacks = true;
	}

	for (i = 0; wh_my_progress < 0 && i < WH_PROGRESS_SLOTS; i++)
	{
		WhProgressSlot *slot = &wh_progress_slots[i];

		SpinLockAcquire(&slot->mutex);
		if (slot->pid == 0)
		{
			slot->pid = MyProcPid;
			wh_my_progress = i;
		}
		SpinLockRelease(&slot->mutex);
	}
	if (wh_my_progress < 0)
		return;

	{
		WhProgressSlot *slot = &wh_progress_slots[wh_my_progress];

		SpinLockAcquire(&slot->mutex);
		slot->dboid = MyDatabaseId;
		slot->roleid = GetUserId();
		wh_progress_copy_text(slot->operation, operation);
		wh_progress_copy_text(slot->phase, phase);
		slot->done = 0;
		slot->total = total;
		slot->started_at = now;
		slot->updated_at = now;
		SpinLockRelease(&slot->mutex);
	}
	wh_progress_for_xact = for_transaction;
	wh_progress_subid = for_transaction ? GetCurrentSubTransactionId() :
		InvalidSubTransactionId;
	wh_noticed_done = 0;
	wh_noticed_at = now;
}

/*
 * Report how far the operation is (total and phase too, when not -1 and
 * NULL).  Returns whether the operation should tell its caller, with a
 * NOTICE: once another tenth of the total is done, or WH_PROGRESS_NOTICE_MS
 * after the last, but never at the end, which the operation reports in its
 * own words.
 */
bool
wh_progress_update(int64 done, int64 total, const char *phase)
{
	WhProgressSlot *slot;
	TimestampTz now;
	bool		due;

	if (wh_my_progress < 0)
		return false;
	slot = &wh_progress_slots[wh_my_progress];
	now = GetCurrentTimestamp();

	SpinLockAcquire(&slot->mutex);
	slot->done = done;
	if (total >= 0)
		slot->total = total;
	else
		total = slot->total;
	if (phase)
		wh_progress_copy_text(slot->phase, phase);
	slot->updated_at = now;
	SpinLockRelease(&slot->mutex);

	if (done <= wh_noticed_done || (total >= 0 && done >= total))
		return false;
	due = (total > 0 && done * 10 / total > wh_noticed_done * 10 / total) ||
		TimestampDifferenceExceeds(wh_noticed_at, now, WH_PROGRESS_NOTICE_MS);
	if (due)
	{
		wh_noticed_done = done;
		wh_noticed_at = now;
	}
	return due;
}

/*
 * SQL: webhook._progress_begin(operation, phase, total), for functions that
 * run in the caller's transaction (replays, update scripts).
 */
PG_FUNCTION_INFO_V1(wh_sql_progress_begin);
Datum
wh_sql_progress_begin(PG_FUNCTION_ARGS)
{
	char	   *operation;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"operation\" must not be null")));
	operation = text_to_cstring(PG_GETARG_TEXT_PP(0));
	wh_progress_begin(operation,
					  PG_ARGISNULL(1) ? NULL :
					  text_to_cstring(PG_GETARG_TEXT_PP(1)),
					  PG_ARGISNULL(2) ? -1 : Max(PG_GETARG_INT64(2), 0),
					  true);
	PG_RETURN_VOID();
}

/*
 * SQL: webhook._progress_advance(done, total, phase): true when a NOTICE
 * is due (see wh_progress_update).
 */
PG_FUNCTION_INFO_V1(wh_sql_progress_advance);
Datum
wh_sql_progress_advance(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("argument \"done\" must not be null")));
	PG_RETURN_BOOL(wh_progress_update(PG_GETARG_INT64(0),
									  PG_ARGISNULL(1) ? -1 :
									  Max(PG_GETARG_INT64(1), 0),
									  PG_ARGISNULL(2) ? NULL :
									  text_to_cstring(PG_GETARG_TEXT_PP(2))));
}

/* SQL: webhook._progress_end() */
PG_FUNCTION_INFO_V1(wh_sql_progress_end);
Datum
wh_sql_progress_end(PG_FUNCTION_ARGS)
{
	wh_progress_end();
	PG_RETURN_VOID();
}

/*
 * May the current user see every operation?  Members of pg_read_all_stats
 * and of webhook_admin may.
 */
static bool
wh_progress_sees_all(void)
{
	Oid			admin;

	if (has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS))
		return true;
	admin = get_role_oid("webhook_admin", true);
	return OidIsValid(admin) && has_privs_of_role(GetUserId(), admin);
}

/*
 * SQL: webhook._progress(), the rows of webhook.progress: the running
 * operations in the cluster that the current user may see (see the file
 * header), of every database as pg_stat_progress_* show.
 */
PG_FUNCTION_INFO_V1(wh_sql_progress);
Datum
wh_sql_progress(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;
	bool		all;

	InitMaterializedSRF(fcinfo, 0);
	if (wh_progress_slots == NULL)
		return (Datum) 0;
	all = wh_progress_sees_all();

	for (i = 0; i < WH_PROGRESS_SLOTS; i++)
	{
		WhProgressSlot copy;
		Datum		values[8];
		bool		nulls[8] = {0};

		SpinLockAcquire(&wh_progress_slots[i].mutex);
		memcpy(&copy, &wh_progress_slots[i], sizeof(copy));
		SpinLockRelease(&wh_progress_slots[i].mutex);

		/* free, or left by a process that is gone */
		if (copy.pid == 0 || BackendPidGetProc(copy.pid) == NULL)
			continue;
		if (!all && !has_privs_of_role(GetUserId(), copy.roleid))
			continue;

		values[0] = Int32GetDatum(copy.pid);
		values[1] = ObjectIdGetDatum(copy.dboid);
		values[2] = CStringGetTextDatum(copy.operation);
		values[3] = CStringGetTextDatum(copy.phase);
		nulls[3] = (copy.phase[0] == '\0');
		values[4] = Int64GetDatum(copy.done);
		values[5] = Int64GetDatum(copy.total);
		nulls[5] = (copy.total < 0);
		values[6] = TimestampTzGetDatum(copy.started_at);
		values[7] = TimestampTzGetDatum(copy.updated_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}
	return (Datum) 0;
}
