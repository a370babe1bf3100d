/*-------------------------------------------------------------------------
 *
 * order.c
 *	  Ordering per endpoint or per row key: the worker's side.
 *
 * An endpoint's ordering is 'none' (events go concurrently, retries after
 * newer events), 'endpoint' (strict first-in first-out: one event in
 * flight, the next waits until it is delivered or dead) or 'key' (the same
 * per row key: events for one row arrive in commit order, different rows
 * in parallel).  The capture stores each event's key in
 * webhook.event.ordering_key ('' for 'endpoint', the row's primary key as
 * JSON for 'key'); other events have none.
 *
 * The rule the worker keeps: an event with a key is sent only when it is
 * the oldest pending event of its key (its "head") and that head is not
 * already in flight.  The claim checks the candidates of ordered endpoints
 * against event_order_idx, which holds only keyed pending events; events
 * that are not heads are held back (defer.c) until their head's next
 * attempt, so they neither go early nor take the endpoint's share of the
 * claim.  When a
 * head is delivered or dead, the record transaction makes the next event
 * of its key due at once.  A failed head so holds back only its own key.
 *
 * Events that carry no key (captured before the ordering was set, or a
 * send_test) are not ordered.
 *
 * An endpoint ordered as a whole that takes batches gets a run: with its
 * head, the claim takes the events that follow it, in id order, up to its
 * batch_max_events, so that they go as one batch (send.c sends an
 * endpoint's next batch only once the previous one is answered, and puts
 * back what is queued behind a batch that failed).  A run is cut at the
 * first event the claim could not lock.  An endpoint ordered by key needs
 * nothing more: a claim takes only heads, so a batch holds at most one
 * event per key.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/memutils.h"

#include "delivery/defer.h"
#include "delivery/order.h"
#include "delivery/pending.h"
#include "delivery/spi.h"

/* Fallback wait of an event whose head is due or in flight */
#define WH_ORDER_HOLD_MS		1000L

static int32 *wh_ordered = NULL;	/* ids of ordered endpoints */
static int32 *wh_ordered_run = NULL;	/* their run length, 0 for none */
static int	wh_nordered = 0;

/* this claim's runs: their members after the head, and those cut */
static Datum *wh_run_ids = NULL;
static int	wh_nrun_ids = 0;
static int	wh_run_ids_size = 0;
static Datum *wh_run_starts = NULL; /* index of each run's first member */
static int	wh_nruns = 0;
static int	wh_run_starts_size = 0;
static Datum *wh_cut_ids = NULL;
static int	wh_ncut = 0;
static int	wh_cut_size = 0;
static bool wh_run_sorted = true;
static Datum *wh_run_sorted_ids = NULL;

/* this claim's candidates */
static Datum *wh_cand = NULL;
static int	wh_ncand = 0;
static int	wh_cand_size = 0;

/* events finished in this record, then their keys */
static Datum *wh_done = NULL;
static int	wh_ndone = 0;
static int	wh_done_size = 0;
static Datum wh_done_endpoints = (Datum) 0; /* int4[], or 0 for none */
static Datum wh_done_keys = (Datum) 0;	/* text[] */

static SPIPlanPtr wh_ordered_plan = NULL;
static SPIPlanPtr wh_heads_plan = NULL;
static SPIPlanPtr wh_next_plan = NULL;
static SPIPlanPtr wh_run_plan = NULL;



static int
wh_cmp_datum_int64(const void *a, const void *b)
{
	int64		x = DatumGetInt64(*(const Datum *) a);
	int64		y = DatumGetInt64(*(const Datum *) b);

	return (x > y) - (x < y);
}

/* Append to a growable Datum array in TopMemoryContext */
static void
wh_order_push(Datum **arr, int *n, int *size, Datum d)
{
	if (*n >= *size)
	{
		*size = Max(64, *size * 2);
		*arr = *arr ? repalloc(*arr, sizeof(Datum) * *size) :
			MemoryContextAlloc(TopMemoryContext, sizeof(Datum) * *size);
	}
	(*arr)[(*n)++] = d;
}

/*
 * Read which endpoints keep order, in the claim transaction, at every
 * claim.  The claim must see the ordering of every event it sees: an event
 * that has a key was captured after its endpoint's ordering was set, so a
 * list read with the claim's own snapshot names that endpoint.  A list kept
 * from an earlier claim may not, and would let the first events of an
 * endpoint ordered a moment ago go all at once.
 */
void
wh_order_refresh(void)
{
	uint64		i;
	int			rc;

	wh_ncand = 0;
	wh_order_runs_done();		/* a failed claim's, if any */
	if (wh_ordered_plan == NULL)
		wh_ordered_plan = wh_prepare(
			"SELECT id, CASE WHEN ordering OPERATOR(pg_catalog.=) 'endpoint' "
			"  THEN coalesce(batch_max_events, 0) ELSE 0 END "
			"FROM webhook.endpoint "
			"WHERE ordering OPERATOR(pg_catalog.<>) 'none'",
			0, NULL);
	rc = SPI_execute_plan(wh_ordered_plan, NULL, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading orderings failed: %s",
			 SPI_result_code_string(rc));
	if (wh_ordered)
		pfree(wh_ordered);
	if (wh_ordered_run)
		pfree(wh_ordered_run);
	wh_ordered = MemoryContextAlloc(TopMemoryContext,
									sizeof(int32) * (SPI_processed + 1));
	wh_ordered_run = MemoryContextAlloc(TopMemoryContext,
										sizeof(int32) * (SPI_processed + 1));
	wh_nordered = SPI_processed;
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		wh_ordered[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc,
													1, &isnull));
		wh_ordered_run[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														SPI_tuptable->tupdesc,
														2, &isnull));
	}
}

/* The run length of an ordered endpoint: 0 when it takes no runs */
static int
wh_order_run_length(int32 endpoint_id)
{
	int			i;

	for (i = 0; i < wh_nordered; i++)
		if (wh_ordered[i] == endpoint_id)
			return wh_ordered_run[i];
	return 0;
}

/* Is this event a member of one of this claim's runs? */
static bool
wh_order_in_run(int64 id)
{
	Datum		key = Int64GetDatum(id);

	if (wh_nrun_ids == 0)
		return false;
	if (!wh_run_sorted)
	{
		if (wh_run_sorted_ids)
			pfree(wh_run_sorted_ids);
		wh_run_sorted_ids = MemoryContextAlloc(TopMemoryContext,
											   sizeof(Datum) * wh_nrun_ids);
		memcpy(wh_run_sorted_ids, wh_run_ids, sizeof(Datum) * wh_nrun_ids);
		qsort(wh_run_sorted_ids, wh_nrun_ids, sizeof(Datum),
			  wh_cmp_datum_int64);
		wh_run_sorted = true;
	}
	return bsearch(&key, wh_run_sorted_ids, wh_nrun_ids, sizeof(Datum),
				   wh_cmp_datum_int64) != NULL;
}

/*
 * Add the events that follow a head to pick, up to its endpoint's run
 * length and room, stopping at one the worker holds.  Returns how many.
 */
static int
wh_order_run(int64 head, int run, Datum *pick, int room,
			 const int64 *held, int nheld)
{
	Datum		args[2];
	int			n = 0;
	uint64		i;
	int			rc;

	if (run <= 1 || room <= 0)
		return 0;
	if (wh_run_plan == NULL)
	{
		Oid			types[2] = {INT8OID, INT4OID};

		wh_run_plan = wh_prepare(
			"SELECT o.id FROM webhook.event h "
			"JOIN webhook.event o "
			"  ON o.endpoint_id OPERATOR(pg_catalog.=) h.endpoint_id "
			" AND o.ordering_key OPERATOR(pg_catalog.=) h.ordering_key "
			"WHERE h.id OPERATOR(pg_catalog.=) $1 "
			"  AND o.state OPERATOR(pg_catalog.=) 'pending' "
			"  AND o.ordering_key IS NOT NULL "
			"  AND o.id OPERATOR(pg_catalog.>) h.id "
			"ORDER BY o.id LIMIT $2", 2, types);
	}
	args[0] = Int64GetDatum(head);
	args[1] = Int32GetDatum(Min(run - 1, room));
	rc = SPI_execute_plan(wh_run_plan, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "looking for ordered events failed: %s",
			 SPI_result_code_string(rc));
	wh_order_push(&wh_run_starts, &wh_nruns, &wh_run_starts_size,
				  Int32GetDatum(wh_nrun_ids));
	wh_order_push(&wh_run_ids, &wh_nrun_ids, &wh_run_ids_size,
				  Int64GetDatum(head));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc,
													 1, &isnull));

		if (bsearch(&id, held, nheld, sizeof(int64), wh_cmp_int64))
			break;
		pick[n++] = Int64GetDatum(id);
		wh_order_push(&wh_run_ids, &wh_nrun_ids, &wh_run_ids_size,
					  Int64GetDatum(id));
	}
	wh_run_sorted = false;
	return n;
}

/*
 * After the claim's locking read: cut each run at its first member the
 * claim did not get (claimed, sorted, is what it got).
 */
void
wh_order_cut_runs(const int64 *claimed, int nclaimed)
{
	int			r;

	wh_ncut = 0;
	for (r = 0; r < wh_nruns; r++)
	{
		int			start = DatumGetInt32(wh_run_starts[r]);
		int			end = r + 1 < wh_nruns ?
			DatumGetInt32(wh_run_starts[r + 1]) : wh_nrun_ids;
		bool		cut = false;
		int			i;

		for (i = start; i < end; i++)
		{
			int64		id = DatumGetInt64(wh_run_ids[i]);

			if (cut)
				wh_order_push(&wh_cut_ids, &wh_ncut, &wh_cut_size,
							  wh_run_ids[i]);
			else if (!bsearch(&id, claimed, nclaimed, sizeof(int64),
							  wh_cmp_int64))
				cut = true;
		}
	}
	if (wh_ncut > 1)
		qsort(wh_cut_ids, wh_ncut, sizeof(Datum), wh_cmp_datum_int64);
}

/* Was this claimed event cut from its run?  Then the claim drops it. */
bool
wh_order_cut(int64 event_id)
{
	Datum		key = Int64GetDatum(event_id);

	return wh_ncut > 0 &&
		bsearch(&key, wh_cut_ids, wh_ncut, sizeof(Datum),
				wh_cmp_datum_int64) != NULL;
}

/* The claim is over: forget its runs */
void
wh_order_runs_done(void)
{
	wh_nruns = 0;
	wh_nrun_ids = 0;
	wh_ncut = 0;
	wh_run_sorted = true;
	if (wh_run_sorted_ids)
		pfree(wh_run_sorted_ids);
	wh_run_sorted_ids = NULL;
}

/*
 * Is this event's endpoint ordered?  Then the claim leaves it to
 * wh_order_heads(), which decides after looking at all candidates.
 */
bool
wh_order_hold(int32 endpoint_id, int64 event_id)
{
	int			i;

	for (i = 0; i < wh_nordered; i++)
	{
		if (wh_ordered[i] == endpoint_id)
		{
			wh_order_push(&wh_cand, &wh_ncand, &wh_cand_size,
						  Int64GetDatum(event_id));
			return true;
		}
	}
	return false;
}

/*
 * Of the held candidates, put the heads of their keys into pick (up to
 * room), with the runs that follow them for endpoints that take them, and
 * hold the others back until their head's next attempt.  held (sorted)
 * are the events the worker holds.  Returns how many were picked.
 */
int
wh_order_heads(Datum *pick, int room, TimestampTz now,
			   const int64 *held, int nheld)
{
	Datum		args[1];
	int			npick = 0;
	uint64		i;
	int			rc;
	SPITupleTable *heads;
	uint64		nheads;

	if (wh_ncand == 0)
		return 0;
	if (wh_heads_plan == NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};

		wh_heads_plan = wh_prepare(
			"SELECT ev.id, h.id IS NULL, h.next_attempt_at, ev.endpoint_id "
			"FROM pg_catalog.unnest($1) AS c(id) "
			"JOIN webhook.event ev ON ev.id OPERATOR(pg_catalog.=) c.id "
			"LEFT JOIN LATERAL ("
			"  SELECT o.id, o.next_attempt_at FROM webhook.event o "
			"  WHERE o.state OPERATOR(pg_catalog.=) 'pending' "
			"    AND o.ordering_key IS NOT NULL "
			"    AND o.endpoint_id OPERATOR(pg_catalog.=) ev.endpoint_id "
			"    AND o.ordering_key OPERATOR(pg_catalog.=) ev.ordering_key "
			"    AND o.id OPERATOR(pg_catalog.<) ev.id "
			"  ORDER BY o.id LIMIT 1) h ON true "
			"WHERE " WH_STILL_PENDING("ev") " "
			"ORDER BY ev.id", 1, types);
	}
	args[0] = PointerGetDatum(construct_array(wh_cand, wh_ncand, INT8OID, 8,
											  FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	wh_ncand = 0;
	rc = SPI_execute_plan(wh_heads_plan, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "looking for ordered events failed: %s",
			 SPI_result_code_string(rc));
	/* kept apart: a run's query (wh_order_run) replaces SPI_tuptable */
	heads = SPI_tuptable;
	nheads = SPI_processed;
	for (i = 0; i < nheads; i++)
	{
		HeapTuple	tup = heads->vals[i];
		TupleDesc	desc = heads->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		bool		head = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		TimestampTz until;

		if (head && npick < room)
		{
			int32		epid = DatumGetInt32(SPI_getbinval(tup, desc, 4,
														   &isnull));

			pick[npick++] = Int64GetDatum(id);
			npick += wh_order_run(id, wh_order_run_length(epid),
								  pick + npick, room - npick, held, nheld);
			continue;
		}
		if (wh_order_in_run(id))
			continue;			/* taken with its head */
		if (head)
			continue;			/* no room: the next claim takes it */
		/* behind its head: wait for it (it sorts first at equal times) */
		until = DatumGetTimestampTz(SPI_getbinval(tup, desc, 3, &isnull));
		if (until <= now || until == DT_NOEND)
			until = now + WH_ORDER_HOLD_MS * 1000;
		wh_defer_add(id, until);
	}
	return npick;
}

/*
 * An event was delivered or is dead: the next one of its key may go.
 */
void
wh_order_finished(int64 event_id)
{
	if (wh_nordered > 0)
		wh_order_push(&wh_done, &wh_ndone, &wh_done_size,
					  Int64GetDatum(event_id));
}

/*
 * Look up the keys of the events finished in this record, before their
 * rows are written (a delivered event's row is removed).  Runs in the
 * record transaction; a second call (the record's subtransaction was
 * rolled back) starts over.
 */
void
wh_order_keys(void)
{
	static SPIPlanPtr keys_plan = NULL;
	Datum		args[1];
	int			rc;
	MemoryContext old;
	Datum	   *eps;
	Datum	   *keys;
	uint64		i;

	wh_done_endpoints = (Datum) 0;
	wh_done_keys = (Datum) 0;
	if (wh_ndone == 0)
		return;
	if (keys_plan == NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};

		keys_plan = wh_prepare(
			"SELECT DISTINCT ev.endpoint_id, ev.ordering_key "
			"FROM webhook.event ev "
			"WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
			"  AND ev.ordering_key IS NOT NULL", 1, types);
	}
	args[0] = PointerGetDatum(construct_array(wh_done, wh_ndone, INT8OID, 8,
											  FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	wh_ndone = 0;
	rc = SPI_execute_plan(keys_plan, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "looking for ordered events failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return;

	old = MemoryContextSwitchTo(TopTransactionContext);
	eps = palloc(sizeof(Datum) * SPI_processed);
	keys = palloc(sizeof(Datum) * SPI_processed);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		eps[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
							   1, &isnull);
		keys[i] = PointerGetDatum(PG_DETOAST_DATUM_COPY(
			SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2,
						  &isnull)));
	}
	wh_done_endpoints = PointerGetDatum(construct_array(eps, SPI_processed,
														INT4OID, 4, true,
														TYPALIGN_INT));
	wh_done_keys = PointerGetDatum(construct_array(keys, SPI_processed,
												   TEXTOID, -1, false,
												   TYPALIGN_INT));
	MemoryContextSwitchTo(old);
}

/*
 * Make the next event of each finished event's key due now.  Runs in the
 * record transaction, after the outcomes are written.
 */
void
wh_order_apply(void)
{
	Datum		args[2];
	int			rc;

	if (wh_done_endpoints == (Datum) 0)
		return;
	if (wh_next_plan == NULL)
	{
		Oid			types[2] = {INT4ARRAYOID, TEXTARRAYOID};

		wh_next_plan = wh_prepare(
			"UPDATE webhook.event n "
			"SET next_attempt_at = pg_catalog.clock_timestamp() "
			"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
			"  AS k(endpoint_id, ordering_key) "
			"WHERE n.id OPERATOR(pg_catalog.=) "
			"      (SELECT pg_catalog.min(o.id) FROM webhook.event o "
			"       WHERE o.state OPERATOR(pg_catalog.=) 'pending' "
			"         AND o.ordering_key IS NOT NULL "
			"         AND o.endpoint_id OPERATOR(pg_catalog.=) k.endpoint_id "
			"         AND o.ordering_key OPERATOR(pg_catalog.=) "
			"             k.ordering_key) "
			"  AND n.next_attempt_at OPERATOR(pg_catalog.>) "
			"      pg_catalog.clock_timestamp() "
			"  AND n.next_attempt_at OPERATOR(pg_catalog.<) 'infinity'",
			2, types);
	}
	args[0] = wh_done_endpoints;
	args[1] = wh_done_keys;
	wh_done_endpoints = (Datum) 0;
	wh_done_keys = (Datum) 0;
	rc = SPI_execute_plan(wh_next_plan, args, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "releasing ordered events failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed > 0)
		SetLatch(MyLatch);
}
