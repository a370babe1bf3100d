/*-------------------------------------------------------------------------
 *
 * claim.c
 *	  Claiming due events: the first step of the worker's loop.
 *
 * In one short transaction, a claim looks at a window of the earliest due
 * pending events, picks those the worker does not hold already, of
 * endpoints that are neither disabled nor at their concurrency limit, and
 * that the breaker, the rate limits and the ordering rules admit; locks and
 * reads them with FOR UPDATE SKIP LOCKED, copies them into memory and
 * fetches the endpoints they name.  Once it commits the events are the
 * worker's (queued); if it fails they are forgotten, still pending in the
 * table.  Events of disabled endpoints that a claim comes across are
 * parked until the endpoint is enabled again.
 *
 * IDENTIFICATION
 *	  src/delivery/claim.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/uuid.h"

#include "capture/payload.h"
#include "delivery/bodyenc.h"
#include "delivery/breaker.h"
#include "delivery/claim.h"
#include "delivery/defer.h"
#include "delivery/endpoints.h"
#include "delivery/order.h"
#include "delivery/ratelimit.h"
#include "delivery/spi.h"
#include "guc.h"

/* what sending adds to a stored body: its type and timestamp */
#define WH_BODY_SLACK			1024

static SPIPlanPtr wh_window_plan;
static SPIPlanPtr wh_claim_plan;
static SPIPlanPtr wh_next_due_plan;

/*
 * The ids of every event the worker holds: queued, in flight, or waiting
 * for its outcome to be recorded.  Claims must not take them again.
 */
static int
wh_cmp_int64(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/* The held ids, sorted, for bsearch */
static int64 *
wh_held_sorted(WhWorker *w, int *n)
{
	int64	   *held = palloc(sizeof(int64) * (w->nheld + 1));
	dlist_iter	it;
	ListCell   *lc;

	*n = 0;
	dlist_foreach(it, &w->queue)
		held[(*n)++] = dlist_container(WhEvent, node, it.cur)->id;
	dlist_foreach(it, &w->inflight)
		held[(*n)++] = dlist_container(WhEvent, node, it.cur)->id;
	foreach(lc, w->outcomes)
		held[(*n)++] = ((WhOutcomeRec *) lfirst(lc))->ev->id;
	qsort(held, *n, sizeof(int64), wh_cmp_int64);
	return held;
}

/*
 * Read the set of disabled endpoints; their events are left out of claims.
 */
static void
wh_refresh_disabled(WhWorker *w)
{
	static SPIPlanPtr disabled_plan = NULL;
	Datum	   *ids;
	bool	   *nulls;
	int			n;
	bool		isnull;
	Datum		arr;

	if (disabled_plan == NULL)
		disabled_plan = wh_prepare(
			"SELECT coalesce(pg_catalog.array_agg(id ORDER BY id), '{}') "
			"FROM webhook.endpoint WHERE NOT enabled", 0, NULL);
	wh_run(disabled_plan, NULL, true, 1, SPI_OK_SELECT, "fetching disabled endpoints");
	if (SPI_processed != 1)
		elog(ERROR, "fetching disabled endpoints returned no row");
	arr = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
						&isnull);
	deconstruct_array(DatumGetArrayTypeP(arr), INT4OID, 4, true,
					  TYPALIGN_INT, &ids, &nulls, &n);
	if (w->disabled)
		pfree(w->disabled);
	w->disabled = MemoryContextAlloc(w->worker_cxt, sizeof(Datum) * (n + 1));
	memcpy(w->disabled, ids, sizeof(Datum) * n);
	w->ndisabled = n;
}

/*
 * Park events of disabled endpoints that a claim came across: their next
 * attempt moves to infinity, out of every later claim's way, until
 * webhook.enable_endpoint() makes them due again.  The endpoint row is
 * locked and checked again, so an endpoint enabled meanwhile keeps its
 * events due.
 */
static void
wh_park(Datum *ids, int n)
{
	static SPIPlanPtr park_plan = NULL;
	Datum		args[1];

	if (n == 0)
		return;
	if (park_plan == NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};

		park_plan = wh_prepare(
			"UPDATE webhook.event ev SET next_attempt_at = 'infinity' "
			"FROM (SELECT e.id FROM webhook.endpoint e "
			"      WHERE NOT e.enabled FOR SHARE) d "
			"WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
			"  AND ev.state OPERATOR(pg_catalog.=) 'pending' "
			"  AND ev.endpoint_id OPERATOR(pg_catalog.=) d.id", 1, types);
	}
	args[0] = wh_int8_array(ids, n);
	wh_run(park_plan, args, false, 0, SPI_OK_UPDATE, "parking events");
}

/*
 * Claim due events into memory, and fetch the endpoints they name when the
 * worker has no current copy.  Runs in its own transaction.
 */
void
wh_claim(WhWorker *w)
{
	int			room;
	Datum	   *busy;
	int			nbusy = 0;
	HASH_SEQ_STATUS seq;
	WhEndpoint *ep;
	Datum		args[1];
	uint64		i;
	int			nheld;
	List	   *epids = NIL;

	room = wh_batch_size;
	busy = palloc(sizeof(Datum) * (hash_get_num_entries(w->endpoints) + 1));
	hash_seq_init(&seq, w->endpoints);
	while ((ep = hash_seq_search(&seq)) != NULL)
		if (ep->valid && ep->error == NULL &&
			ep->held >= ep->max_in_flight * 2 * Max(ep->batch_max_events, 1))
			busy[nbusy++] = Int32GetDatum(ep->id);

	w->claim_skipped_busy = (nbusy > 0);
	wh_xact_begin("claiming events");
	wh_refresh_disabled(w);
	wh_defer_begin();
	wh_breaker_refresh();
	wh_rate_refresh();
	wh_order_refresh();

	/*
	 * Step 1: look at a window of the earliest due events, no larger than
	 * what the worker holds plus twice what it may take, and pick those it
	 * does not hold, of endpoints neither disabled nor at their limit.  A
	 * claim so costs the same whatever the backlog.
	 */
	if (wh_window_plan == NULL)
	{
		Oid			types[1] = {INT4OID};

		wh_window_plan = wh_prepare(
			"SELECT id, endpoint_id FROM webhook.event "
			"WHERE state OPERATOR(pg_catalog.=) 'pending' "
			"  AND next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now() "
			"ORDER BY next_attempt_at, id LIMIT $1", 1, types);
	}
	args[0] = Int32GetDatum(w->nheld + 2 * room);
	wh_run(wh_window_plan, args, true, 0, SPI_OK_SELECT, "claiming events");
	{
		int64	   *held = wh_held_sorted(w, &nheld);
		Datum	   *pick = palloc(sizeof(Datum) * (room + 1));
		Datum	   *park = palloc(sizeof(Datum) * (SPI_processed + 1));
		int32	   *pick_ep = palloc(sizeof(int32) * (room + 1));
		int			npick = 0;
		int			npark = 0;
		uint64		nwindow = SPI_processed;
		SPITupleTable *window = SPI_tuptable;

		for (i = 0; i < nwindow && npick < room; i++)
		{
			bool		isnull;
			int64		id;
			int32		epid;
			int			j;
			int			already = 0;
			int			cap;
			bool		skip = false;

			id = DatumGetInt64(SPI_getbinval(window->vals[i],
											 window->tupdesc, 1, &isnull));
			epid = DatumGetInt32(SPI_getbinval(window->vals[i],
											   window->tupdesc, 2, &isnull));
			if (bsearch(&id, held, nheld, sizeof(int64), wh_cmp_int64))
				continue;
			for (j = 0; j < w->ndisabled && !skip; j++)
				skip = DatumGetInt32(w->disabled[j]) == epid;
			if (skip)
			{
				park[npark++] = Int64GetDatum(id);
				continue;
			}
			for (j = 0; j < nbusy && !skip; j++)
				skip = DatumGetInt32(busy[j]) == epid;
			if (skip)
			{
				w->claim_skipped_busy = true;
				continue;
			}

			/*
			 * No endpoint takes more than twice its limit in one claim (in
			 * events: its requests times its batch size).
			 */
			ep = wh_endpoint_get(w, epid);
			cap = ep && ep->valid ?
				2 * ep->max_in_flight * Max(ep->batch_max_events, 1) - ep->held :
				2 * wh_max_in_flight_per_endpoint;
			for (j = 0; j < npick; j++)
				already += (pick_ep[j] == epid);
			if (already >= cap)
			{
				w->claim_skipped_busy = true;
				continue;
			}
			/* a failing endpoint gets one probe, a limited one its rate */
			if (!wh_breaker_admit(epid, id, GetCurrentTimestamp()) ||
				!wh_rate_admit(epid, id, ep && ep->valid ? ep->held : 0,
							   GetCurrentTimestamp()))
				continue;
			/* an ordered endpoint's events wait for wh_order_heads() */
			if (wh_order_hold(epid, id))
				continue;
			pick_ep[npick] = epid;
			pick[npick++] = Int64GetDatum(id);
		}
		wh_park(park, npark);
		npick += wh_order_heads(pick + npick, room - npick,
								GetCurrentTimestamp(), held, nheld);
		w->claim_held_back = wh_defer_flush();
		args[0] = wh_int8_array(pick, npick);
	}

	/* Step 2: lock and read them, skipping any a user's session holds */
	if (wh_claim_plan == NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};

		wh_claim_plan = wh_prepare(
			"SELECT ev.id, ev.endpoint_id, ev.msg_id, ev.attempts, "
			"       ev.retry_from, ev.payload, ev.created_at "
			"FROM webhook.event ev "
			"WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
			"  AND ev.state OPERATOR(pg_catalog.=) 'pending' "
			"ORDER BY ev.next_attempt_at, ev.id "
			"FOR UPDATE OF ev SKIP LOCKED", 1, types);
	}
	wh_run(wh_claim_plan, args, false, 0, SPI_OK_SELECT, "claiming events");

	/*
	 * A run of an ordered endpoint's events is taken only up to the first
	 * one this claim could not lock: those behind it wait for it.
	 */
	{
		int64	   *got = palloc(sizeof(int64) * (SPI_processed + 1));

		for (i = 0; i < SPI_processed; i++)
		{
			bool		isnull;

			got[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1,
												 &isnull));
		}
		qsort(got, SPI_processed, sizeof(int64), wh_cmp_int64);
		wh_order_cut_runs(got, SPI_processed);
	}

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		WhEvent    *ev;
		pg_uuid_t  *uuid;
		text	   *body;
		Datum		payload;
		int			j;
		MemoryContext old = MemoryContextSwitchTo(w->worker_cxt);

		ev = palloc0(sizeof(WhEvent));
		ev->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		if (wh_order_cut(ev->id))
		{
			pfree(ev);
			MemoryContextSwitchTo(old);
			continue;
		}
		ev->endpoint_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		uuid = DatumGetUUIDP(SPI_getbinval(tup, desc, 3, &isnull));
		strcpy(ev->msg_id, "msg_");
		for (j = 0; j < UUID_LEN; j++)
			snprintf(ev->msg_id + 4 + 2 * j, 3, "%02x", uuid->data[j]);
		ev->attempts = DatumGetInt16(SPI_getbinval(tup, desc, 4, &isnull));
		ev->retry_from = DatumGetInt16(SPI_getbinval(tup, desc, 5, &isnull));
		/*
		 * A stored body over "webhook.max_payload_size" (and the few bytes
		 * the type and timestamp add) is refused before it is read: the
		 * capture never writes one, but an event inserted by hand might.
		 */
		payload = SPI_getbinval(tup, desc, 6, &isnull);
		if (toast_raw_datum_size(payload) - VARHDRSZ >
			(Size) wh_max_payload_size + WH_BODY_SLACK)
		{
			ev->body = pstrdup("");
			ev->body_len = 0;
			ev->body_error = psprintf("event body of %zu bytes exceeds \"webhook.max_payload_size\" (%d bytes)",
									  (size_t) (toast_raw_datum_size(payload) - VARHDRSZ),
									  wh_max_payload_size);
		}
		else
		{
			body = DatumGetTextPP(payload);
			ev->body = wh_event_body(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body),
									 DatumGetTimestampTz(SPI_getbinval(tup, desc, 7,
																	   &isnull)),
									 &ev->body_len);
			wh_body_to_utf8(&ev->body, &ev->body_len, &ev->body_error);
		}
		MemoryContextSwitchTo(old);

		dlist_push_tail(&w->claimed, &ev->node);
		epids = list_append_unique_int(epids, ev->endpoint_id);
	}
	w->claimed_n = SPI_processed;
	wh_order_runs_done();

	/* Fetch the endpoints of this batch whose row changed, or is new */
	wh_endpoints_fetch(w, epids);

	/*
	 * With room to spare, every due event is now held: find when the next
	 * one falls due (parked events, at infinity, never do).
	 */
	w->next_due = 0;
	if (w->claimed_n < room)
	{
		bool		isnull;

		if (wh_next_due_plan == NULL)
			wh_next_due_plan = wh_prepare(
				"SELECT ev.next_attempt_at FROM webhook.event ev "
				"WHERE ev.state OPERATOR(pg_catalog.=) 'pending' "
				"  AND ev.next_attempt_at OPERATOR(pg_catalog.>) "
				"      pg_catalog.now() "
				"  AND ev.next_attempt_at OPERATOR(pg_catalog.<) 'infinity' "
				"ORDER BY ev.next_attempt_at LIMIT 1", 0, NULL);
		wh_run(wh_next_due_plan, NULL, true, 1, SPI_OK_SELECT, "looking for due events");
		if (SPI_processed > 0)
		{
			w->next_due = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
															SPI_tuptable->tupdesc,
															1, &isnull));
			if (isnull)
				w->next_due = 0;
		}
	}

	wh_xact_end();

	/* committed: the claimed events are the worker's now */
	while (!dlist_is_empty(&w->claimed))
	{
		dlist_node *node = dlist_pop_head_node(&w->claimed);

		dlist_push_tail(&w->queue, node);
		w->nheld++;
		w->nqueued++;
	}
}

/*
 * A claim failed: forget what it took (still pending in the table).
 */
void
wh_claim_abandon(WhWorker *w)
{
	while (!dlist_is_empty(&w->claimed))
	{
		WhEvent    *ev = dlist_container(WhEvent, node,
										 dlist_pop_head_node(&w->claimed));

		pfree(ev->body);
		if (ev->body_error)
			pfree(ev->body_error);
		pfree(ev);
	}
	w->claimed_rows = NIL;
}
