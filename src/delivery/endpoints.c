/*-------------------------------------------------------------------------
 *
 * endpoints.c
 *	  The worker's endpoint cache: what it needs of each endpoint, kept
 *	  across batches.
 *
 * A claim names the endpoints of the events it took; those the worker has
 * no current copy of (new, or whose row's xmin changed) are fetched in the
 * claim's transaction (wh_endpoints_fetch) and built after it commits
 * (wh_build_claimed_endpoints): the secret decoded (a v1a key parsed for
 * OpenSSL once, freed when the entry is rebuilt), the URL and headers
 * checked, the transport options copied.  An entry also counts the
 * endpoint's events held and in flight, against its concurrency limit.
 *
 * IDENTIFICATION
 *	  src/delivery/endpoints.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "delivery/endpoint_check.h"
#include "delivery/endpoints.h"
#include "delivery/spi.h"
#include "guc.h"

static SPIPlanPtr wh_endpoint_plan;

/*
 * An endpoint's row, copied out of SPI in the claim's transaction.
 */
typedef struct WhEndpointRow
{
	int32		id;
	TransactionId xmin;
	bool		enabled;
	char	   *url;
	char	   *secret;
	char	   *prev_secret;
	TimestampTz prev_expires;
	Datum		headers;		/* text[] of "Name: value" */
	int64		timeout_ms;
	Datum		schedule;		/* int8[] of milliseconds */
	int			max_in_flight;
	WhTransport transport;
	int			batch_max_events;	/* 0: no batching */
	int			batch_max_bytes;
	char		ordering;		/* 'n'one, 'e'ndpoint or 'k'ey */
} WhEndpointRow;

/*
 * Fill an endpoint entry from its row's values.  Runs outside any
 * transaction; anything wrong with the row is caught and kept as the
 * endpoint's error, so its events fail (and are retried) on their own
 * while every other endpoint carries on.
 */
static void
wh_endpoint_build(WhWorker *w, WhEndpoint *ep, WhEndpointRow *row)
{
	MemoryContext old;
	const char *why = NULL;
	MemoryContext errcxt = CurrentMemoryContext;

	if (ep->cxt)
		MemoryContextReset(ep->cxt);
	else
		ep->cxt = AllocSetContextCreate(w->worker_cxt, "webhook endpoint",
										ALLOCSET_SMALL_SIZES);
	ep->xmin = row->xmin;
	ep->enabled = row->enabled;
	ep->error = NULL;
	ep->valid = true;
	ep->nheaders = 0;
	memset(&ep->transport, 0, sizeof(ep->transport));
	ep->nschedule = 0;
	wh_signkey_clear(&ep->key);
	wh_signkey_clear(&ep->prevkey);

	ep->timeout_ms = row->timeout_ms;
	ep->max_in_flight = row->max_in_flight > 0 ? row->max_in_flight :
		wh_max_in_flight_per_endpoint;
	ep->batch_max_events = row->batch_max_events;
	ep->batch_max_bytes = row->batch_max_bytes;
	ep->ordering = row->ordering;

	/*
	 * create_endpoint() and alter_endpoint() refuse a max_in_flight above
	 * "webhook.max_in_flight", but the setting may have been lowered since:
	 * the endpoint is then capped, and the log says so each time the worker
	 * loads it.
	 */
	if (row->max_in_flight > wh_max_in_flight)
		ereport(WARNING,
				(errmsg("webhook endpoint %d allows %d requests in flight, more than \"webhook.max_in_flight\" (%d)",
						row->id, row->max_in_flight, wh_max_in_flight),
				 errdetail("At most %d of its requests are in flight at once.",
						   wh_max_in_flight),
				 errhint("Lower the endpoint's max_in_flight with webhook.alter_endpoint(), or raise \"webhook.max_in_flight\".")));

	old = MemoryContextSwitchTo(ep->cxt);
	PG_TRY();
	{
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		/* the schedule first: events of a broken endpoint still retry */
		deconstruct_array(DatumGetArrayTypeP(row->schedule), INT8OID, 8,
						  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &elems, &nulls, &n);
		ep->schedule_ms = palloc(sizeof(int64) * Max(n, 1));
		for (i = 0; i < n; i++)
			ep->schedule_ms[i] = DatumGetInt64(elems[i]);
		ep->nschedule = n;

		wh_check_url(row->url);
		ep->url = pstrdup(row->url);
		wh_transport_copy(&ep->transport, &row->transport, ep->id);

		if (!wh_signkey_load(&ep->key, row->secret, &why))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid endpoint secret"),
					 why ? errdetail("The secret is invalid because %s.", why) : 0));
		if (row->prev_secret)
		{
			/* a malformed previous secret leaves scheme NONE: unused */
			(void) wh_signkey_load(&ep->prevkey, row->prev_secret, &why);
			ep->prev_expires = row->prev_expires;
		}

		deconstruct_array(DatumGetArrayTypeP(row->headers), TEXTOID, -1,
						  false, TYPALIGN_INT, &elems, &nulls, &n);
		ep->headers = palloc(sizeof(char *) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			char	   *h;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("endpoint header value must not be null")));
			h = TextDatumGetCString(elems[i]);
			if (strpbrk(h, "\r\n"))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("endpoint header contains a line break")));
			ep->headers[ep->nheaders++] = h;
		}

	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(errcxt);
		edata = CopyErrorData();
		FlushErrorState();
		MemoryContextSwitchTo(ep->cxt);
		ep->error = edata->detail ?
			psprintf("%s: %s", edata->message, edata->detail) :
			pstrdup(edata->message);
		/* build it again at the next claim, in case the error passes */
		ep->xmin = InvalidTransactionId;
		FreeErrorData(edata);
		ereport(LOG,
				(errmsg("webhook endpoint %d cannot be used: %s",
						ep->id, ep->error)));
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
}

/*
 * Create the worker's endpoint cache, for its whole life.
 */
void
wh_endpoints_create(WhWorker *w)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(WhEndpoint);
	ctl.hcxt = w->worker_cxt;
	w->endpoints = hash_create("webhook endpoints", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/*
 * The cached entry of an endpoint, or NULL when the worker has none.
 */
WhEndpoint *
wh_endpoint_get(WhWorker *w, int32 id)
{
	return (WhEndpoint *) hash_search(w->endpoints, &id, HASH_FIND, NULL);
}

/*
 * Fetch the rows of the endpoints that claimed events name, where the
 * worker has no current copy (a new endpoint, or a row that changed).
 * Runs in the claim's transaction: the rows are copied out of SPI here and
 * built after commit, by wh_build_claimed_endpoints().
 */
void
wh_endpoints_fetch(WhWorker *w, List *epids)
{
	Datum		args[1];
	uint64		i;
	WhEndpoint *ep;
	ListCell   *lc;

	w->claimed_rows = NIL;
	if (epids != NIL)
	{
		Datum	   *ids = palloc(sizeof(Datum) * list_length(epids));
		int			n = 0;

		foreach(lc, epids)
			ids[n++] = Int32GetDatum(lfirst_int(lc));
		if (wh_endpoint_plan == NULL)
		{
			Oid			types[1] = {INT4ARRAYOID};

			wh_endpoint_plan = wh_prepare(
				"SELECT e.id, e.xmin, e.enabled, e.url, e.secret, "
				"       e.previous_secret, e.previous_secret_expires_at, "
				"       ARRAY(SELECT h.key OPERATOR(pg_catalog.||) ': ' "
				"                    OPERATOR(pg_catalog.||) h.value "
				"             FROM pg_catalog.jsonb_each_text(e.headers) h), "
				"       (extract(epoch FROM e.timeout) "
				"        OPERATOR(pg_catalog.*) 1000)::bigint, "
				"       ARRAY(SELECT (extract(epoch FROM s) "
				"                     OPERATOR(pg_catalog.*) 1000)::bigint "
				"             FROM pg_catalog.unnest(e.retry_schedule) s), "
				"       coalesce(e.max_in_flight, 0), "
				"       e.ca_bundle, e.client_cert, e.client_key, "
				"       e.tls_insecure, e.proxy, "
				"       coalesce(e.batch_max_events, 0), e.batch_max_bytes, "
				"       e.ordering "
				"FROM webhook.endpoint e "
				"WHERE e.id OPERATOR(pg_catalog.=) ANY ($1)", 1, types);
		}
		args[0] = wh_int4_array(ids, n);
		wh_run(wh_endpoint_plan, args, true, 0, SPI_OK_SELECT, "fetching endpoints");
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;
			int32		id;
			TransactionId xmin;
			WhEndpointRow *row;
			MemoryContext old;

			id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
			xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 2, &isnull));
			ep = wh_endpoint_get(w, id);
			if (ep && ep->valid && ep->xmin == xmin)
				continue;

			/* copy the row out of SPI; it is built after commit */
			old = MemoryContextSwitchTo(w->loop_cxt);
			row = palloc0(sizeof(WhEndpointRow));
			row->id = id;
			row->xmin = xmin;
			row->enabled = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
			row->url = SPI_getvalue(tup, desc, 4);
			row->secret = SPI_getvalue(tup, desc, 5);
			row->prev_secret = SPI_getvalue(tup, desc, 6);
			row->prev_expires = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
			if (isnull)
				row->prev_expires = 0;
			row->headers = datumCopy(SPI_getbinval(tup, desc, 8, &isnull),
									 false, -1);
			row->timeout_ms = DatumGetInt64(SPI_getbinval(tup, desc, 9, &isnull));
			row->schedule = datumCopy(SPI_getbinval(tup, desc, 10, &isnull),
									  false, -1);
			row->max_in_flight = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
			wh_transport_fetch(&row->transport, tup, desc, 12);
			row->batch_max_events = DatumGetInt32(SPI_getbinval(tup, desc, 17,
																&isnull));
			row->batch_max_bytes = DatumGetInt32(SPI_getbinval(tup, desc, 18,
															   &isnull));
			{
				char	   *ord = SPI_getvalue(tup, desc, 19);

				row->ordering = ord ? ord[0] : 'n';
			}
			w->claimed_rows = lappend(w->claimed_rows, row);
			MemoryContextSwitchTo(old);
		}
	}
}

/*
 * Build the endpoints fetched by the last claim, outside the transaction.
 */
void
wh_build_claimed_endpoints(WhWorker *w)
{
	ListCell   *lc;
	dlist_iter	it;

	foreach(lc, w->claimed_rows)
	{
		WhEndpointRow *row = lfirst(lc);
		bool		found;
		WhEndpoint *ep;

		ep = hash_search(w->endpoints, &row->id, HASH_ENTER, &found);
		if (!found)
		{
			memset(ep, 0, sizeof(WhEndpoint));
			ep->id = row->id;
		}
		wh_endpoint_build(w, ep, row);
	}
	w->claimed_rows = NIL;

	/* count newly claimed events against their endpoints */
	dlist_foreach(it, &w->queue)
	{
		WhEvent    *ev = dlist_container(WhEvent, node, it.cur);
		WhEndpoint *ep;

		if (ev->counted)
			continue;
		ep = wh_endpoint_get(w, ev->endpoint_id);
		if (ep)
		{
			ep->held++;
			ev->counted = true;
		}
	}
}
