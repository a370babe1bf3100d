/*-------------------------------------------------------------------------
 *
 * spi.c
 *	  The delivery worker's transactions and statements.
 *
 * Every step of the worker that reads or writes the tables (claim, record,
 * retention, and the policies they consult: breaker, rate limits,
 * ordering, deferrals) runs in a short transaction opened and closed here,
 * the way worker_spi does it, with statements prepared once and kept for
 * the worker's life.  A step that fails is reported and its transaction
 * aborted by wh_guarded(), as autovacuum does for a table that fails, and
 * the loop carries on.  Nothing here knows what the statements do.
 *
 * IDENTIFICATION
 *	  src/delivery/spi.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "delivery/spi.h"

/*
 * Begin and end the worker's short transactions, the way worker_spi does.
 */
static MemoryContext wh_xact_caller_cxt;

void
wh_xact_begin(const char *activity)
{
	wh_xact_caller_cxt = CurrentMemoryContext;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
wh_xact_end(void)
{
	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	/* back to the loop's context, not TopMemoryContext */
	MemoryContextSwitchTo(wh_xact_caller_cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
}

/*
 * Prepare a statement of the worker's and keep it for the worker's life.
 */
SPIPlanPtr
wh_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * Execute one of the worker's prepared statements; an unexpected result is
 * an error naming what was being done.
 */
void
wh_run(SPIPlanPtr plan, Datum *args, bool read_only, long count,
	   int expected, const char *what)
{
	int			rc = SPI_execute_plan(plan, args, NULL, read_only, count);

	if (rc != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
}

/* An int8[] or int4[] array of n elements */
Datum
wh_int8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

Datum
wh_int4_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT4OID, 4, true,
										   TYPALIGN_INT));
}

/*
 * Report an error caught in the loop, abort whatever transaction was open
 * and carry on, as autovacuum does for a table that fails.
 */
static void
wh_recover_from_error(MemoryContext cxt)
{
	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	EmitErrorReport();
	AbortOutOfAnyTransaction();
	FlushErrorState();
	pgstat_report_activity(STATE_IDLE, NULL);
	RESUME_INTERRUPTS();
}

/*
 * Run one step of the worker, fn(w), reporting and surviving any error it
 * raises; returns false when it failed.
 */
bool
wh_guarded(void (*fn) (struct WhWorker *w), struct WhWorker *w)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn(w);
	}
	PG_CATCH();
	{
		wh_recover_from_error(cxt);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Order of two int64 ids, for qsort and bsearch.
 */
int
wh_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}
