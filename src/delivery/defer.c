/*-------------------------------------------------------------------------
 *
 * defer.c
 *	  Holding ordered events back: moving their next attempt later.
 *
 * The claim reads each endpoint's earliest due events.  Of an ordered
 * endpoint (order.c), events that are not the head of their key may not go
 * yet; left due, they would take the endpoint's share of every claim and
 * keep the heads of other keys waiting.  So the claim moves them out of the
 * way: their next attempt becomes their head's, which is not an attempt and
 * changes nothing else.  Endpoints held back as a whole (disabled, paused,
 * failing, rate-limited, at their in-flight limit) need none of this: the
 * claim does not read their events at all.
 *
 * wh_defer_begin() starts a claim's list (in the claim's memory context),
 * wh_defer_add() adds to it, and wh_defer_flush() writes it in the claim
 * transaction, under SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"

#include "delivery/defer.h"
#include "delivery/pending.h"
#include "delivery/spi.h"

static Datum *wh_defer_ids = NULL;
static Datum *wh_defer_until = NULL;
static int	wh_ndefer = 0;
static int	wh_defer_size = 0;
static SPIPlanPtr wh_defer_plan = NULL;

void
wh_defer_begin(void)
{
	wh_ndefer = 0;
	wh_defer_size = 64;
	wh_defer_ids = palloc(sizeof(Datum) * wh_defer_size);
	wh_defer_until = palloc(sizeof(Datum) * wh_defer_size);
}

void
wh_defer_add(int64 event_id, TimestampTz until)
{
	if (wh_ndefer >= wh_defer_size)
	{
		wh_defer_size *= 2;
		wh_defer_ids = repalloc(wh_defer_ids, sizeof(Datum) * wh_defer_size);
		wh_defer_until = repalloc(wh_defer_until,
								  sizeof(Datum) * wh_defer_size);
	}
	wh_defer_ids[wh_ndefer] = Int64GetDatum(event_id);
	wh_defer_until[wh_ndefer] = TimestampTzGetDatum(until);
	wh_ndefer++;
}

/*
 * Write the claim's deferrals.  Returns how many, so the worker can look
 * again at once for other endpoints' events behind them.
 */
int
wh_defer_flush(void)
{
	Datum		args[2];
	int			rc;
	int			n = wh_ndefer;

	wh_ndefer = 0;
	if (n == 0)
		return 0;
	if (wh_defer_plan == NULL)
	{
		Oid			types[2] = {INT8ARRAYOID, TIMESTAMPTZARRAYOID};

		wh_defer_plan = wh_prepare(
			"UPDATE webhook.event ev SET next_attempt_at = d.until "
			"FROM ROWS FROM (pg_catalog.unnest($1), "
			"                pg_catalog.unnest($2)) AS d(id, until) "
			"WHERE ev.id OPERATOR(pg_catalog.=) d.id "
			"  AND " WH_STILL_PENDING("ev"), 2, types);
	}
	args[0] = PointerGetDatum(construct_array(wh_defer_ids, n, INT8OID, 8,
											  FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(wh_defer_until, n,
											  TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	rc = SPI_execute_plan(wh_defer_plan, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "holding back events failed: %s",
			 SPI_result_code_string(rc));
	return n;
}
