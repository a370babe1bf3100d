/*-------------------------------------------------------------------------
 *
 * claim.c
 *	  Claiming due events: the first step of the worker's loop.
 *
 * In one short transaction, a claim reads which endpoints may send now
 * and how many events each may take (its in-flight room, its breaker, its
 * rate limit), reads only that many of each one's earliest due events,
 * picks those the worker does not hold already (an ordered endpoint's by
 * their heads, order.c), locks and reads them with FOR UPDATE SKIP LOCKED,
 * copies them into memory and fetches the endpoints they name.  An
 * endpoint held back (disabled, paused, failing, limited, busy) is not read
 * at all: holding it back writes nothing.  With thousands of endpoints that
 * may send (an application's customers), a claim reads their windows in
 * turn instead, from where the last one stopped, only until it has a
 * batch.  Once the claim commits its
 * events are the worker's (queued); if it fails they are forgotten, still
 * pending in the table.
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
#include "capture/route.h"
#include "delivery/bodyenc.h"
#include "delivery/breaker.h"
#include "delivery/claim.h"
#include "delivery/defer.h"
#include "delivery/endpoints.h"
#include "delivery/order.h"
#include "delivery/pending.h"
#include "delivery/ratelimit.h"
#include "delivery/spi.h"
#include "guc.h"

/* what sending adds to a stored body: its type and timestamp */
#define WH_BODY_SLACK			1024

/*
 * A claim reads every endpoint's window and takes the earliest due events
 * across them, while at most this many endpoints may send.  Beyond it (an
 * application's customers, thousands of endpoints) it reads their windows
 * this many endpoints at a time, from where the last claim stopped, until
 * it has a batch: the windows of all of them would be most of the backlog,
 * read to take one batch.
 */
#define WH_CLAIM_WIDE			256

static SPIPlanPtr wh_window_plan;
static SPIPlanPtr wh_wide_plan;
static SPIPlanPtr wh_claim_plan;
static SPIPlanPtr wh_next_due_plan;

/* the endpoint a wide claim starts from: the one after the last it read */
static int32 wh_claim_next_id = 0;

/*
 * The ids of every event the worker holds: queued, in flight, or waiting
 * for its outcome to be recorded, sorted for bsearch.  Claims must not take
 * them again.
 */
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
 * An endpoint the claim may read, and how many of its due events it may
 * take: what its in-flight room, its breaker and its rate limit allow.
 */
typedef struct WhClaimQuota
{
	int32		id;
	int			take;			/* at most this many new events */
	int			held;			/* events of it the worker holds now */
} WhClaimQuota;

/*
 * The enabled endpoints, with what bounds each one's claim, kept from one
 * claim to the next while no endpoint changed (wh_route_stamp(), read
 * before the claim's snapshot).  With thousands of endpoints, reading
 * them all for every claim would be most of what a claim costs.  A change
 * that fires no trigger (a restore with triggers disabled, a replication
 * apply worker) is seen within WH_ENABLED_REFRESH_MS all the same.
 */
#define WH_ENABLED_REFRESH_MS	1000

typedef struct WhEnabledEndpoint
{
	int32		id;
	int			max_in_flight;	/* 0: the setting's */
	int			batch_max_events;	/* 0: not batching */
} WhEnabledEndpoint;

static WhEnabledEndpoint *wh_enabled = NULL;
static int	wh_nenabled = 0;
static bool wh_enabled_valid = false;
static uint64 wh_enabled_stamp = 0;
static TimestampTz wh_enabled_at = 0;

/*
 * Read the enabled endpoints again unless the list kept is exact: quiet
 * and stamp are wh_route_stamp()'s, read before this transaction's
 * snapshot.
 */
static void
wh_claim_enabled(bool quiet, uint64 stamp, TimestampTz now)
{
	static SPIPlanPtr enabled_plan = NULL;
	uint64		i;

	if (wh_enabled_valid && quiet && stamp == wh_enabled_stamp &&
		now >= wh_enabled_at &&
		now - wh_enabled_at < WH_ENABLED_REFRESH_MS * 1000)
		return;
	if (enabled_plan == NULL)
		enabled_plan = wh_prepare(
			"SELECT e.id, coalesce(e.max_in_flight, 0), "
			"       coalesce(e.batch_max_events, 0) "
			"FROM webhook.endpoint e WHERE e.enabled ORDER BY e.id",
			0, NULL);
	wh_run(enabled_plan, NULL, true, 0, SPI_OK_SELECT,
		   "reading enabled endpoints");
	wh_enabled_valid = false;
	if (wh_enabled)
		pfree(wh_enabled);
	wh_enabled = MemoryContextAlloc(TopMemoryContext,
									sizeof(WhEnabledEndpoint) *
									(SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		wh_enabled[i].id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		wh_enabled[i].max_in_flight =
			DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		wh_enabled[i].batch_max_events =
			DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
	}
	wh_nenabled = (int) SPI_processed;
	wh_enabled_valid = quiet;
	wh_enabled_stamp = stamp;
	wh_enabled_at = now;
}

/*
 * Step 0 of a claim: read the endpoints that may send now and what each
 * may take.  Disabled and paused endpoints are not enabled, so not read;
 * a failing endpoint may take its one probe when due; a rate-limited one
 * what its queue has room for; any endpoint up to twice its in-flight
 * limit, counting what the worker holds.  The others are simply not read
 * by this claim: holding an endpoint back writes nothing.  Sets *wake to
 * the next probe time of a failing endpoint that may take nothing now.
 */
static WhClaimQuota *
wh_claim_quotas(WhWorker *w, int *nquotas, TimestampTz now,
				TimestampTz *wake, bool quiet, uint64 stamp)
{
	WhClaimQuota *q;
	int			i;
	int			n = 0;

	wh_claim_enabled(quiet, stamp, now);
	q = palloc(sizeof(WhClaimQuota) * (wh_nenabled + 1));
	for (i = 0; i < wh_nenabled; i++)
	{
		int32		id = wh_enabled[i].id;
		int			mif = wh_enabled[i].max_in_flight;
		int			per = wh_enabled[i].batch_max_events;
		WhEndpoint *ep = wh_endpoint_get(w, id);
		int			held = 0;
		int			take;
		int			limit;

		if (ep && ep->valid)
		{
			held = ep->held;
			mif = ep->max_in_flight;
		}
		else if (mif <= 0)
			mif = wh_max_in_flight_per_endpoint;

		/*
		 * No endpoint takes more than twice its limit: in events, its
		 * requests times the events a request carries.
		 */
		take = 2 * mif * Max(per, 1) - held;
		limit = wh_breaker_quota(id, now, wake);
		if (limit != WH_BREAKER_ANY)
			take = Min(take, limit);
		limit = wh_rate_quota(id, held);
		if (limit != WH_RATE_ANY)
			take = Min(take, limit);
		if (take <= 0)
		{
			/* room, or the breaker's leave, may come with an outcome */
			w->claim_skipped_busy = true;
			continue;
		}
		q[n].id = id;
		q[n].take = take;
		q[n].held = held;
		n++;
	}
	*nquotas = n;
	return q;
}

/*
 * Claim what the endpoints that may send now may take, in one transaction:
 * read each one's earliest due events (step 1), pick those the worker does
 * not hold (ordered endpoints' by their heads, order.c), lock and copy them
 * (step 2), fetch the endpoints whose row changed, and find when to claim
 * next.  Reads a few rows per endpoint; writes only the holding back of
 * ordered events behind their head.
 */
void
wh_claim(WhWorker *w)
{
	int			room;
	Datum		args[3];
	uint64		i;
	bool		wide;
	int			limit = 0;
	int			nheld;
	List	   *epids = NIL;
	WhClaimQuota *quotas;
	int			nquotas;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = DT_NOEND;
	bool		quiet;
	uint64		stamp;

	room = wh_batch_size;
	w->claim_skipped_busy = false;
	/* before the claim's snapshot: see wh_claim_enabled() */
	quiet = wh_route_stamp(&stamp);
	wh_xact_begin("claiming events");
	wh_defer_begin();
	wh_breaker_refresh();
	wh_rate_refresh(quiet, stamp);
	wh_order_refresh();
	quotas = wh_claim_quotas(w, &nquotas, now, &wake, quiet, stamp);

	/*
	 * Step 1: read, per endpoint that may send, its earliest due events, up
	 * to what it may take plus those of them the worker already holds
	 * (which are still pending, and skipped here).  A claim so reads a few
	 * rows per endpoint, whatever the backlogs, and never an event it may
	 * not take.  Across endpoints the earliest due go first; or, past
	 * WH_CLAIM_WIDE endpoints, the endpoints take turns: their windows are
	 * read in turn from where the last claim stopped, and no further than a
	 * batch (and the held events it skips) needs.
	 */
	wide = nquotas > WH_CLAIM_WIDE;
	if (wh_window_plan == NULL)
	{
		Oid			types[2] = {INT4ARRAYOID, INT4ARRAYOID};

		wh_window_plan = wh_prepare(
			"SELECT ev.id, ev.endpoint_id "
			"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
			"  AS c(endpoint_id, n) "
			"CROSS JOIN LATERAL ("
			"  SELECT e.id, e.endpoint_id, e.next_attempt_at "
			"  FROM webhook.event e "
			"  WHERE e.endpoint_id OPERATOR(pg_catalog.=) c.endpoint_id "
			"    AND e.state OPERATOR(pg_catalog.=) 'pending' "
			"    AND e.next_attempt_at OPERATOR(pg_catalog.<=) "
			"        pg_catalog.now() "
			"  ORDER BY e.next_attempt_at, e.id LIMIT c.n) ev "
			"ORDER BY ev.next_attempt_at, ev.id", 2, types);
	}
	if (wh_wide_plan == NULL)
	{
		Oid			types[3] = {INT4ARRAYOID, INT4ARRAYOID, INT4OID};

		/* no ORDER BY: the windows come in the arrays' order, until $3 */
		wh_wide_plan = wh_prepare(
			"SELECT ev.id, ev.endpoint_id "
			"FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) "
			"  AS c(endpoint_id, n) "
			"CROSS JOIN LATERAL ("
			"  SELECT e.id, e.endpoint_id "
			"  FROM webhook.event e "
			"  WHERE e.endpoint_id OPERATOR(pg_catalog.=) c.endpoint_id "
			"    AND e.state OPERATOR(pg_catalog.=) 'pending' "
			"    AND e.next_attempt_at OPERATOR(pg_catalog.<=) "
			"        pg_catalog.now() "
			"  ORDER BY e.next_attempt_at, e.id LIMIT c.n) ev "
			"LIMIT $3", 3, types);
	}
	{
		Datum	   *qid = palloc(sizeof(Datum) * (nquotas + 1));
		Datum	   *qn = palloc(sizeof(Datum) * (nquotas + 1));
		int			start = 0;
		int			from = 0;
		int64	   *held = wh_held_sorted(w, &nheld);
		Datum	   *pick = palloc(sizeof(Datum) * (room + 1));
		int		   *seen = palloc0(sizeof(int) * (nquotas + 1));
		int		   *taken = palloc0(sizeof(int) * (nquotas + 1));
		int			npick = 0;

		/* a wide claim starts at the first endpoint not read last time */
		if (wide)
			while (start < nquotas && quotas[start].id < wh_claim_next_id)
				start++;
		for (i = 0; i < nquotas; i++)
		{
			int			k = (start + i) % nquotas;

			qid[i] = Int32GetDatum(quotas[k].id);
			qn[i] = Int32GetDatum(quotas[k].take + quotas[k].held);
		}

		/*
		 * One read of every window; or, for a wide claim, one slice of
		 * WH_CLAIM_WIDE endpoints after another until the batch is full.
		 */
		do
		{
			int			nslice = wide ? Min(WH_CLAIM_WIDE, nquotas - from) :
				nquotas;
			uint64		nwindow;
			SPITupleTable *window;

			args[0] = wh_int4_array(qid + from, nslice);
			args[1] = wh_int4_array(qn + from, nslice);
			limit = room - npick + w->nheld;
			args[2] = Int32GetDatum(limit);
			wh_run(wide ? wh_wide_plan : wh_window_plan, args, true, 0,
				   SPI_OK_SELECT, "claiming events");
			nwindow = SPI_processed;
			window = SPI_tuptable;
			from += nslice;

			for (i = 0; i < nwindow; i++)
			{
				bool		isnull;
				int64		id;
				int32		epid;
				int			lo = 0;
				int			hi = nquotas - 1;
				int			k = -1;

				id = DatumGetInt64(SPI_getbinval(window->vals[i],
												 window->tupdesc, 1, &isnull));
				epid = DatumGetInt32(SPI_getbinval(window->vals[i],
												   window->tupdesc, 2, &isnull));
				/* quotas are sorted by endpoint id */
				while (lo <= hi)
				{
					int			mid = (lo + hi) / 2;

					if (quotas[mid].id == epid)
					{
						k = mid;
						break;
					}
					if (quotas[mid].id < epid)
						lo = mid + 1;
					else
						hi = mid - 1;
				}
				if (k < 0)
					continue;
				/* an endpoint that filled its share may have more waiting */
				if (++seen[k] >= quotas[k].take + quotas[k].held)
					w->claim_skipped_busy = true;
				if (bsearch(&id, held, nheld, sizeof(int64), wh_cmp_int64))
					continue;
				if (npick >= room || taken[k] >= quotas[k].take)
				{
					w->claim_skipped_busy = true;
					continue;
				}
				/* an ordered endpoint's events wait for wh_order_heads() */
				if (wh_order_hold(epid, id))
					continue;
				taken[k]++;
				pick[npick++] = Int64GetDatum(id);
			}

			/*
			 * A wide claim that stopped at its limit left endpoints unread:
			 * the next one starts after the last it read, and comes soon.
			 */
			if (wide && (nwindow >= (uint64) limit || npick >= room))
			{
				bool		isnull;

				if (nwindow > 0)
					wh_claim_next_id =
						DatumGetInt32(SPI_getbinval(window->vals[nwindow - 1],
													window->tupdesc, 2,
													&isnull)) + 1;
				w->claim_skipped_busy = true;
				break;
			}
		} while (wide && from < nquotas);

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
			"       ev.retry_from, "
			"       coalesce(ev.payload, (SELECT m.payload FROM webhook.message m "
			"                WHERE m.id OPERATOR(pg_catalog.=) ev.message_id)), "
			"       ev.created_at, ev.traceparent, ev.tracestate "
			"FROM webhook.event ev "
			"WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
			"  AND " WH_STILL_PENDING("ev") " "
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
		/* a value written by hand that is no traceparent is not sent */
		{
			Datum		tpd = SPI_getbinval(tup, desc, 8, &isnull);

			if (!isnull)
			{
				char	   *tp = TextDatumGetCString(tpd);

				ev->traced = wh_traceparent_parse(tp, &ev->trace);
				pfree(tp);
			}
		}
		/* and its tracestate, sent with it if it is one */
		if (ev->traced)
		{
			Datum		tsd = SPI_getbinval(tup, desc, 9, &isnull);

			if (!isnull)
			{
				char	   *ts = TextDatumGetCString(tsd);

				if (ts[0] != '\0' && wh_tracestate_problem(ts) == NULL)
					ev->tracestate = ts;
				else
					pfree(ts);
			}
		}
		ev->created_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7,
														   &isnull));
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
	 * With room to spare, every due event of the endpoints that may send is
	 * now held: find when the next of theirs falls due (parked events, at
	 * infinity, never do), or the next probe of a failing endpoint,
	 * whichever comes first.  Endpoints that may take nothing now for want
	 * of room are claimed again once an outcome is recorded.
	 */
	w->next_due = 0;
	if (w->claimed_n < room)
	{
		bool		isnull;
		Datum		d;
		Datum	   *qid = palloc(sizeof(Datum) * (nquotas + 1));

		for (i = 0; i < nquotas; i++)
			qid[i] = Int32GetDatum(quotas[i].id);
		if (wh_next_due_plan == NULL)
		{
			Oid			types[1] = {INT4ARRAYOID};

			wh_next_due_plan = wh_prepare(
				"SELECT pg_catalog.min(d.next_attempt_at) "
				"FROM pg_catalog.unnest($1) AS c(endpoint_id) "
				"CROSS JOIN LATERAL ("
				"  SELECT e.next_attempt_at FROM webhook.event e "
				"  WHERE e.endpoint_id OPERATOR(pg_catalog.=) c.endpoint_id "
				"    AND e.state OPERATOR(pg_catalog.=) 'pending' "
				"    AND e.next_attempt_at OPERATOR(pg_catalog.>) "
				"        pg_catalog.now() "
				"    AND e.next_attempt_at OPERATOR(pg_catalog.<) "
				"        'infinity'::pg_catalog.timestamptz "
				"  ORDER BY e.next_attempt_at LIMIT 1) d", 1, types);
		}
		args[0] = wh_int4_array(qid, nquotas);
		wh_run(wh_next_due_plan, args, true, 1, SPI_OK_SELECT,
			   "looking for due events");
		if (SPI_processed > 0)
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							  1, &isnull);
			if (!isnull && DatumGetTimestampTz(d) < wake)
				wake = DatumGetTimestampTz(d);
		}
		if (wake != DT_NOEND)
			w->next_due = wake;
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
		if (ev->tracestate)
			pfree(ev->tracestate);
		pfree(ev);
	}
	w->claimed_rows = NIL;
}
