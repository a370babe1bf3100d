/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The delivery worker: claim due events, send them, record what happened.
 *
 * One worker serves one database, the one the launcher (launcher.c) passes
 * as its argument; it exits when the extension is not there.  Its loop:
 *
 *	1. Claim: in a short transaction, read which endpoints may send now and
 *	   how many events each may take (its in-flight room, its breaker, its
 *	   rate limit); read only that many of each one's earliest due events
 *	   (never ones the worker already holds), lock them with FOR UPDATE
 *	   SKIP LOCKED, copy them into memory, fetch the endpoints they name,
 *	   and commit.  An endpoint held back (disabled, paused, failing,
 *	   limited, busy) is not read at all: holding it back writes nothing,
 *	   and a claim costs the same whatever its backlog.
 *	2. Send: outside any transaction, sign each event and hand it to the
 *	   curl multi engine (http.c), up to webhook.max_in_flight requests at
 *	   once and an endpoint's own limit per endpoint.  The worker sleeps on
 *	   one WaitEventSet holding its latch, postmaster death and curl's
 *	   sockets, so a commit, a finished request or a signal all wake it.
 *	3. Record: in another short transaction, insert one attempt row per
 *	   finished request and move each event to delivered, dead, or pending
 *	   with its next attempt time.  An event that a user's session keeps
 *	   locked does not hold up the others: its outcome stays in memory,
 *	   the event still held, until a later record can lock it.
 *	4. Clean up: now and then, delete finished events (and their attempts)
 *	   older than webhook.retention, a small batch at a time.
 *
 * No transaction or row lock is ever held across network I/O.  Events the
 * worker holds in memory stay "pending" in the table; if the worker dies,
 * they are simply claimed and sent again (at-least-once delivery, with the
 * same webhook-id, so receivers can drop duplicates).  For the same reason
 * the worker's own commits need not wait for the WAL flush: a lost claim or
 * record only means a repeated attempt, never a lost event, so it runs with
 * synchronous_commit off.
 *
 * Rights: the worker connects as the bootstrap superuser and runs only its
 * own statements, on the extension's tables and pg_catalog.  Nothing
 * another role controls may change what they run: the search_path is
 * pinned to pg_catalog, pg_temp from the moment the worker connects (over
 * any ALTER DATABASE or ALTER ROLE setting), and every function, operator,
 * aggregate and type in them is schema-qualified.  The only other code that
 * can run in the worker is the extension's own triggers on its tables, which
 * pin their search_path too; no other role may add a trigger there.
 * Connecting as the extension's owner instead would buy nothing: the
 * extension needs a superuser to install (superuser = true in its control
 * file), so its owner is one too, the owner is only known once connected to
 * the database (pg_extension is not a shared catalog), and an owner made
 * NOLOGIN, or one that reached its connection limit, would stop delivery.
 *
 * Errors: a problem with one endpoint or one event (a secret that does not
 * decode, a URL that is no longer valid, a request curl refuses) is caught
 * and recorded on the events concerned, which are retried on their schedule
 * like any failure.  An error in a claim or record transaction is reported,
 * the transaction aborted, and the loop carries on after a pause.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "access/detoast.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "activity.h"
#include "bodyenc.h"
#include "breaker.h"
#include "defer.h"
#include "http.h"
#include "order.h"
#include "pending.h"
#include "ratelimit.h"
#include "retry.h"
#include "sign.h"
#include "transport.h"
#include "webhook.h"

/* Upper bound on a Retry-After the worker honours */
#define WH_MAX_RETRY_AFTER_MS	(3600 * 1000L)
/* How often finished events are looked for: at most every minute */
#define WH_RETENTION_INTERVAL_MS	\
	Max(1000L, Min(60 * 1000L, (long) wh_retention * 100))
#define WH_RETENTION_BATCH		1000
/* Outcomes are recorded in batches of up to this many ... */
#define WH_RECORD_BATCH			256
/* ... or once the oldest has waited this long */
#define WH_RECORD_DELAY_MS		10
/* Outcomes whose event a user's session locks are tried this often */
#define WH_RECORD_RETRY_MS		100
/* Claims come at most this often, unless the last one was full */
#define WH_CLAIM_INTERVAL_MS	2
/* Pause after an error in a claim or record transaction */
#define WH_ERROR_PAUSE_MS		1000L
/* what sending adds to a stored body: its type and timestamp */
#define WH_BODY_SLACK			1024

/* An endpoint as the worker needs it, kept across batches */
typedef struct WhEndpoint
{
	int32		id;				/* hash key */
	TransactionId xmin;			/* row version this entry was built from */
	bool		valid;			/* false until built */
	bool		enabled;
	MemoryContext cxt;			/* holds everything below */
	char	   *error;			/* why it cannot be used, or NULL */
	char	   *url;
	unsigned char key[WH_SECRET_MAX_BYTES];
	int			keylen;
	unsigned char prevkey[WH_SECRET_MAX_BYTES];
	int			prevkeylen;
	TimestampTz prev_expires;
	char	  **headers;		/* "Name: value" */
	int			nheaders;
	long		timeout_ms;
	int64	   *schedule_ms;
	int			nschedule;
	int			max_in_flight;
	WhTransport transport;		/* TLS and proxy options */
	int			in_flight;		/* requests now in flight */
	int			held;			/* events held (queued or in flight) */
} WhEndpoint;

/* A claimed event, held until its attempt is recorded */
typedef struct WhEvent
{
	dlist_node	node;			/* in wh_queue or wh_inflight */
	int64		id;
	int32		endpoint_id;
	int16		attempts;
	int16		retry_from;
	char		msg_id[40];
	char	   *body;
	size_t		body_len;
	char	   *body_error;		/* why the body cannot be sent, or NULL */
	bool		counted;		/* counted in its endpoint's "held" */
} WhEvent;

/* The outcome of one attempt, waiting to be recorded */
typedef struct WhOutcomeRec
{
	WhEvent    *ev;
	TimestampTz started_at;
	int64		duration_us;
	int			status;			/* 0 when no response */
	char	   *error;
	char	   *response;
	char	   *retry_after;
	WhDeliveryDirective delivery;	/* the receiver's webhook-delivery */
	bool		noted;			/* the breaker has seen it */
	bool		decided;		/* state and next_at are set */
	const char *state;			/* "pending", "delivered" or "dead" */
	TimestampTz next_at;		/* if pending: its next attempt */
	bool		kept;			/* its event was locked: record it later */
} WhOutcomeRec;

static MemoryContext wh_worker_cxt;		/* lives as long as the worker */
static MemoryContext wh_loop_cxt;		/* reset every iteration */
static HTAB *wh_endpoints;
static dlist_head wh_queue = DLIST_STATIC_INIT(wh_queue);
static dlist_head wh_inflight = DLIST_STATIC_INIT(wh_inflight);
static dlist_head wh_claimed = DLIST_STATIC_INIT(wh_claimed);	/* by a claim
																 * not yet
																 * committed */
static int	wh_nheld = 0;		/* queued + in flight + awaiting record */
static int	wh_nqueued = 0;
static int	wh_ninflight = 0;
static MemoryContext wh_outcome_cxt;	/* reset when outcomes are recorded */
static List *wh_outcomes = NIL;	/* of WhOutcomeRec *, in wh_outcome_cxt */
static TimestampTz wh_oldest_outcome = 0;
static int	wh_nkept = 0;		/* outcomes kept: their event was locked */
static TimestampTz wh_kept_retry_at = 0;
static TimestampTz wh_last_claim_at = 0;
static bool wh_claim_skipped_busy = false;	/* last claim left out an
											 * endpoint at its limit */
static int	wh_claim_held_back = 0;	/* ordered events held back */

static SPIPlanPtr wh_window_plan;
static SPIPlanPtr wh_claim_plan;
static SPIPlanPtr wh_endpoint_plan;
static SPIPlanPtr wh_record_plan;
static SPIPlanPtr wh_gone_plan;
static SPIPlanPtr wh_next_due_plan;
static SPIPlanPtr wh_retention_plan;

static TimestampTz wh_next_claim_at = 0;	/* 0: claim as soon as woken */
static TimestampTz wh_next_retention_at = 0;
static bool wh_has_extension = false;
static bool wh_old_extension = false;	/* installed, but an older version */
static bool wh_old_extension_logged = false;

/*
 * Begin and end the worker's short transactions, the way worker_spi does.
 */
static MemoryContext wh_xact_caller_cxt;

static void
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

static void
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
 * Shared by the worker's modules (breaker.c, order.c, ratelimit.c,
 * defer.c).
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
static void
wh_run(SPIPlanPtr plan, Datum *args, bool read_only, long count,
	   int expected, const char *what)
{
	int			rc = SPI_execute_plan(plan, args, NULL, read_only, count);

	if (rc != expected)
		elog(ERROR, "%s failed: %s", what, SPI_result_code_string(rc));
}

/* An int8[] or int4[] array of n elements */
static Datum
wh_int8_array(Datum *elems, int n)
{
	return PointerGetDatum(construct_array(elems, n, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

static Datum
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
 * Run fn, reporting and surviving any error it raises; returns false when
 * it failed.
 */
static bool
wh_guarded(void (*fn) (void))
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		fn();
	}
	PG_CATCH();
	{
		wh_recover_from_error(cxt);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

static WhEndpoint *
wh_endpoint_get(int32 id)
{
	return (WhEndpoint *) hash_search(wh_endpoints, &id, HASH_FIND, NULL);
}

/*
 * Fill an endpoint entry from its row's values.  Runs outside any
 * transaction; anything wrong with the row is caught and kept as the
 * endpoint's error, so its events fail (and are retried) on their own
 * while every other endpoint carries on.
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
} WhEndpointRow;

static void
wh_endpoint_build(WhEndpoint *ep, WhEndpointRow *row)
{
	MemoryContext old;
	const char *why = NULL;
	MemoryContext errcxt = CurrentMemoryContext;

	if (ep->cxt)
		MemoryContextReset(ep->cxt);
	else
		ep->cxt = AllocSetContextCreate(wh_worker_cxt, "webhook endpoint",
										ALLOCSET_SMALL_SIZES);
	ep->xmin = row->xmin;
	ep->enabled = row->enabled;
	ep->error = NULL;
	ep->valid = true;
	ep->nheaders = 0;
	memset(&ep->transport, 0, sizeof(ep->transport));
	ep->nschedule = 0;
	ep->keylen = 0;
	ep->prevkeylen = 0;

	ep->timeout_ms = row->timeout_ms;
	ep->max_in_flight = row->max_in_flight > 0 ? row->max_in_flight :
		wh_max_in_flight_per_endpoint;

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

		ep->keylen = wh_secret_decode(row->secret, ep->key, &why);
		if (ep->keylen < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid endpoint secret"),
					 errdetail("The secret is invalid because %s.", why)));
		if (row->prev_secret)
		{
			ep->prevkeylen = wh_secret_decode(row->prev_secret, ep->prevkey,
											  &why);
			ep->prev_expires = row->prev_expires;
			if (ep->prevkeylen < 0)
				ep->prevkeylen = 0;
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
 * Claim due events into memory, and fetch the endpoints they name when the
 * worker has no current copy.  Runs in its own transaction.
 */
static List *wh_claimed_rows;	/* of WhEndpointRow *, built by wh_claim */
static uint64 wh_claimed_n;		/* events the last claim took */

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
wh_held_sorted(int *n)
{
	int64	   *held = palloc(sizeof(int64) * (wh_nheld + 1));
	dlist_iter	it;
	ListCell   *lc;

	*n = 0;
	dlist_foreach(it, &wh_queue)
		held[(*n)++] = dlist_container(WhEvent, node, it.cur)->id;
	dlist_foreach(it, &wh_inflight)
		held[(*n)++] = dlist_container(WhEvent, node, it.cur)->id;
	foreach(lc, wh_outcomes)
		held[(*n)++] = ((WhOutcomeRec *) lfirst(lc))->ev->id;
	qsort(held, *n, sizeof(int64), wh_cmp_int64);
	return held;
}

static TimestampTz wh_next_due;

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
 * Step 0 of a claim: read the endpoints that may send now and what each
 * may take.  Disabled and paused endpoints are not enabled, so not read;
 * a failing endpoint may take its one probe when due; a rate-limited one
 * what its queue has room for; any endpoint up to twice its in-flight
 * limit, counting what the worker holds.  The others are simply not read
 * by this claim: holding an endpoint back writes nothing.  Sets *wake to
 * the next probe time of a failing endpoint that may take nothing now.
 */
static WhClaimQuota *
wh_claim_quotas(int *nquotas, TimestampTz now, TimestampTz *wake)
{
	static SPIPlanPtr enabled_plan = NULL;
	WhClaimQuota *q;
	uint64		i;
	int			n = 0;

	if (enabled_plan == NULL)
		enabled_plan = wh_prepare(
			"SELECT e.id, coalesce(e.max_in_flight, 0) "
			"FROM webhook.endpoint e WHERE e.enabled ORDER BY e.id",
			0, NULL);
	wh_run(enabled_plan, NULL, true, 0, SPI_OK_SELECT,
		   "reading enabled endpoints");
	q = palloc(sizeof(WhClaimQuota) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int32		id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		int			mif = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		WhEndpoint *ep = wh_endpoint_get(id);
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

		/* no endpoint takes more than twice its limit */
		take = 2 * mif - held;
		limit = wh_breaker_quota(id, now, wake);
		if (limit != WH_BREAKER_ANY)
			take = Min(take, limit);
		limit = wh_rate_quota(id, held);
		if (limit != WH_RATE_ANY)
			take = Min(take, limit);
		if (take <= 0)
		{
			/* room, or the breaker's leave, may come with an outcome */
			wh_claim_skipped_busy = true;
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
static void
wh_claim(void)
{
	int			room;
	WhEndpoint *ep;
	Datum		args[2];
	uint64		i;
	int			nheld;
	List	   *epids = NIL;
	ListCell   *lc;
	WhClaimQuota *quotas;
	int			nquotas;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz wake = DT_NOEND;

	room = wh_batch_size;
	wh_claim_skipped_busy = false;
	wh_xact_begin("claiming events");
	wh_defer_begin();
	wh_breaker_refresh();
	wh_rate_refresh();
	wh_order_refresh();
	quotas = wh_claim_quotas(&nquotas, now, &wake);

	/*
	 * Step 1: read, per endpoint that may send, its earliest due events, up
	 * to what it may take plus those of them the worker already holds
	 * (which are still pending, and skipped here).  A claim so reads a few
	 * rows per endpoint, whatever the backlogs, and never an event it may
	 * not take.  Across endpoints the earliest due go first.
	 */
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
	{
		Datum	   *qid = palloc(sizeof(Datum) * (nquotas + 1));
		Datum	   *qn = palloc(sizeof(Datum) * (nquotas + 1));

		for (i = 0; i < nquotas; i++)
		{
			qid[i] = Int32GetDatum(quotas[i].id);
			qn[i] = Int32GetDatum(quotas[i].take + quotas[i].held);
		}
		args[0] = wh_int4_array(qid, nquotas);
		args[1] = wh_int4_array(qn, nquotas);
	}
	wh_run(wh_window_plan, args, true, 0, SPI_OK_SELECT, "claiming events");
	{
		int64	   *held = wh_held_sorted(&nheld);
		Datum	   *pick = palloc(sizeof(Datum) * (room + 1));
		int		   *seen = palloc0(sizeof(int) * (nquotas + 1));
		int		   *taken = palloc0(sizeof(int) * (nquotas + 1));
		int			npick = 0;
		uint64		nwindow = SPI_processed;
		SPITupleTable *window = SPI_tuptable;

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
				wh_claim_skipped_busy = true;
			if (bsearch(&id, held, nheld, sizeof(int64), wh_cmp_int64))
				continue;
			if (npick >= room || taken[k] >= quotas[k].take)
			{
				wh_claim_skipped_busy = true;
				continue;
			}
			/* an ordered endpoint's events wait for wh_order_heads() */
			if (wh_order_hold(epid, id))
				continue;
			taken[k]++;
			pick[npick++] = Int64GetDatum(id);
		}
		npick += wh_order_heads(pick + npick, room - npick,
								GetCurrentTimestamp());
		wh_claim_held_back = wh_defer_flush();
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
			"  AND " WH_STILL_PENDING("ev") " "
			"ORDER BY ev.next_attempt_at, ev.id "
			"FOR UPDATE OF ev SKIP LOCKED", 1, types);
	}
	wh_run(wh_claim_plan, args, false, 0, SPI_OK_SELECT, "claiming events");

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
		MemoryContext old = MemoryContextSwitchTo(wh_worker_cxt);

		ev = palloc0(sizeof(WhEvent));
		ev->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
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

		dlist_push_tail(&wh_claimed, &ev->node);
		epids = list_append_unique_int(epids, ev->endpoint_id);
	}
	wh_claimed_n = SPI_processed;

	/* Fetch the endpoints of this batch whose row changed, or is new */
	wh_claimed_rows = NIL;
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
				"       e.tls_insecure, e.proxy "
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
			ep = wh_endpoint_get(id);
			if (ep && ep->valid && ep->xmin == xmin)
				continue;

			/* copy the row out of SPI; it is built after commit */
			old = MemoryContextSwitchTo(wh_loop_cxt);
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
			wh_claimed_rows = lappend(wh_claimed_rows, row);
			MemoryContextSwitchTo(old);
		}
	}

	/*
	 * With room to spare, every due event of the endpoints that may send is
	 * now held: find when the next of theirs falls due (parked events, at
	 * infinity, never do), or the next probe of a failing endpoint,
	 * whichever comes first.  Endpoints that may take nothing now for want
	 * of room are claimed again once an outcome is recorded.
	 */
	wh_next_due = 0;
	if (wh_claimed_n < room)
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
			wh_next_due = wake;
	}

	wh_xact_end();

	/* committed: the claimed events are the worker's now */
	while (!dlist_is_empty(&wh_claimed))
	{
		dlist_node *node = dlist_pop_head_node(&wh_claimed);

		dlist_push_tail(&wh_queue, node);
		wh_nheld++;
		wh_nqueued++;
	}
}

/*
 * A claim failed: forget what it took (still pending in the table).
 */
static void
wh_claim_abandon(void)
{
	while (!dlist_is_empty(&wh_claimed))
	{
		WhEvent    *ev = dlist_container(WhEvent, node,
										 dlist_pop_head_node(&wh_claimed));

		pfree(ev->body);
		if (ev->body_error)
			pfree(ev->body_error);
		pfree(ev);
	}
	wh_claimed_rows = NIL;
}

/*
 * Record an attempt's outcome for later.
 */
static WhOutcomeRec *
wh_add_outcome(WhEvent *ev, TimestampTz started_at, int64 duration_us,
			   int status, const char *error, const char *response,
			   const char *retry_after)
{
	MemoryContext old = MemoryContextSwitchTo(wh_outcome_cxt);
	WhOutcomeRec *o = palloc0(sizeof(WhOutcomeRec));

	if (list_length(wh_outcomes) == wh_nkept)
		wh_oldest_outcome = GetCurrentTimestamp();

	o->ev = ev;
	o->started_at = started_at;
	o->duration_us = duration_us;
	o->status = status;
	o->error = error ? pstrdup(error) : NULL;
	o->response = response ? pstrdup(response) : NULL;
	o->retry_after = retry_after ? pstrdup(retry_after) : NULL;
	wh_outcomes = lappend(wh_outcomes, o);
	MemoryContextSwitchTo(old);
	return o;
}

/*
 * Forget an event the worker held.
 */
static void
wh_release(WhEvent *ev)
{
	WhEndpoint *ep = wh_endpoint_get(ev->endpoint_id);

	if (ep && ev->counted)
		ep->held--;
	wh_nheld--;
	pfree(ev->body);
	if (ev->body_error)
		pfree(ev->body_error);
	pfree(ev);
}

/*
 * Sign and start one request.  Errors (from curl, say) are caught and
 * recorded as this event's failed attempt.
 */
static void
wh_send(WhEvent *ev, WhEndpoint *ep)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();

	PG_TRY();
	{
		char		sig[WH_SIGNATURE_LEN + 1];
		char		sig2[WH_SIGNATURE_LEN + 1];
		const char **headers;
		WhHttpRequest req;
		int64		ts = (int64) time(NULL);
		int			n = 0;
		int			i;

		if (ev->body_error)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("%s", ev->body_error)));
		if (!wh_sign(ep->key, ep->keylen, ev->msg_id, ts, ev->body,
					 ev->body_len, sig))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not sign event")));

		headers = palloc(sizeof(char *) * (ep->nheaders + 6));
		headers[n++] = "Content-Type: application/json";
		headers[n++] = "User-Agent: webhook/" WEBHOOK_VERSION;
		headers[n++] = psprintf("webhook-id: %s", ev->msg_id);
		headers[n++] = psprintf("webhook-timestamp: " INT64_FORMAT, ts);
		if (ep->prevkeylen > 0 && ep->prev_expires > now &&
			wh_sign(ep->prevkey, ep->prevkeylen, ev->msg_id, ts, ev->body,
					ev->body_len, sig2))
			headers[n++] = psprintf("webhook-signature: %s %s", sig, sig2);
		else
			headers[n++] = psprintf("webhook-signature: %s", sig);
		for (i = 0; i < ep->nheaders; i++)
			headers[n++] = ep->headers[i];

		memset(&req, 0, sizeof(req));
		req.arg = ev;
		req.url = ep->url;
		req.body = ev->body;
		req.body_len = ev->body_len;
		req.headers = headers;
		req.nheaders = n;
		req.timeout_ms = ep->timeout_ms > 0 ? ep->timeout_ms : 15000;
		wh_transport_apply(&req, &ep->transport);
		wh_http_start(&req);

		dlist_push_tail(&wh_inflight, &ev->node);
		wh_ninflight++;
		ep->in_flight++;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		wh_add_outcome(ev, now, 0, 0, edata->message, NULL, NULL);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * Start as many queued events as the limits allow.  Events of an endpoint
 * that cannot be used fail at once; events of one that is at its limit
 * wait without holding up the others.
 */
static void
wh_dispatch(void)
{
	dlist_mutable_iter it;

	wh_rate_dispatch_begin();
	dlist_foreach_modify(it, &wh_queue)
	{
		WhEvent    *ev = dlist_container(WhEvent, node, it.cur);
		WhEndpoint *ep;
		bool		probe = false;

		if (wh_ninflight >= wh_max_in_flight)
			break;
		ep = wh_endpoint_get(ev->endpoint_id);
		if (ep == NULL || !ep->valid)
		{
			dlist_delete(&ev->node);
			wh_nqueued--;
			wh_add_outcome(ev, GetCurrentTimestamp(), 0, 0,
						   "endpoint does not exist", NULL, NULL);
			continue;
		}
		if (!ep->enabled ||
			!wh_breaker_may_send(ev->endpoint_id, GetCurrentTimestamp(),
								 &probe))
		{
			/* disabled or failing since the claim: leave it pending */
			dlist_delete(&ev->node);
			wh_nqueued--;
			wh_release(ev);
			continue;
		}
		if (ep->error)
		{
			dlist_delete(&ev->node);
			wh_nqueued--;
			wh_add_outcome(ev, GetCurrentTimestamp(), 0, 0, ep->error,
						   NULL, NULL);
			continue;
		}
		if (ep->in_flight >= ep->max_in_flight ||
			!wh_rate_take(ev->endpoint_id, GetCurrentTimestamp()))
		{
			/* it waits in the queue: a probe allowed here is not one yet */
			if (probe)
				wh_breaker_probe_not_sent(ev->endpoint_id);
			continue;
		}
		dlist_delete(&ev->node);
		wh_nqueued--;
		wh_send(ev, ep);
	}
}

/*
 * Tell the breaker (breaker.c) what an outcome says about its endpoint,
 * and pass on a receiver's request to disable it.
 */
static void
wh_note_health(WhEvent *ev, WhEndpoint *ep, WhOutcomeRec *o,
			   WhOutcome outcome)
{
	WhHealthNote note = WH_HEALTH_FAILURE;

	o->noted = true;
	if (o->delivery == WH_DELIVERY_DISABLE)
	{
		wh_breaker_disable(ev->endpoint_id,
						   "the receiver asked for it (webhook-delivery: disable)");
		if (ep && ep->enabled)
		{
			ep->enabled = false;
			ep->xmin = InvalidTransactionId;
		}
	}
	if (outcome == WH_OUTCOME_DELIVERED)
		note = WH_HEALTH_SUCCESS;
	else if (outcome == WH_OUTCOME_GONE ||
			 o->delivery != WH_DELIVERY_NONE)
		note = WH_HEALTH_NEUTRAL;
	wh_breaker_note(ev->endpoint_id, note, o->started_at,
					o->error || note != WH_HEALTH_FAILURE ? o->error :
					psprintf("HTTP status %d", o->status),
					ep ? ep->schedule_ms : NULL, ep ? ep->nschedule : 0);
}

/*
 * Collect finished requests from curl.
 */
static void
wh_collect(void)
{
	WhHttpResult res;

	while (wh_http_next_result(&res))
	{
		WhEvent    *ev = (WhEvent *) res.arg;
		WhEndpoint *ep = wh_endpoint_get(ev->endpoint_id);
		WhOutcomeRec *o;

		dlist_delete(&ev->node);
		wh_ninflight--;
		if (ep)
			ep->in_flight--;
		o = wh_add_outcome(ev, res.started_at, res.duration_us,
						   (int) res.status, res.error, res.response,
						   res.retry_after);
		/* the breaker learns of a failure before the next dispatch */
		o->delivery = res.delivery;
		wh_note_health(ev, ep, o, wh_classify(o->status));
	}
}

/*
 * Decide what one outcome makes of its event: delivered, dead, or pending
 * with the time of its next attempt.  Decided once, when the outcome is
 * first recorded; an outcome kept for a later record (its event was
 * locked) keeps its decision, so the breaker, the endpoint's state and the
 * wake-up time learn of it only once.  Endpoints that answered 410 Gone
 * are added to gone.
 */
static void
wh_outcome_decide(WhOutcomeRec *o, TimestampTz now, Datum *gone, int *ngone)
{
	WhEvent    *ev = o->ev;
	WhEndpoint *ep = wh_endpoint_get(ev->endpoint_id);
	WhOutcome	outcome = wh_classify(o->status);
	const char *st = "pending";
	int64		delay = 0;

	/* keep only a prefix that is valid text in this database */
	if (o->response)
	{
		int			len = strlen(o->response);

		len = pg_encoding_verifymbstr(GetDatabaseEncoding(),
									  o->response, len);
		o->response[len] = '\0';
	}

	if (outcome == WH_OUTCOME_DELIVERED)
		st = "delivered";
	else if (outcome == WH_OUTCOME_GONE)
	{
		/* the endpoint is disabled; the event waits for it */
		if (ep && ep->enabled)
		{
			/*
			 * Stop sending to it now; and fetch its row again at the next
			 * claim, so memory follows the table even if this record
			 * transaction fails.
			 */
			ep->enabled = false;
			ep->xmin = InvalidTransactionId;
			gone[(*ngone)++] = Int32GetDatum(ev->endpoint_id);
		}
	}
	else if (o->delivery == WH_DELIVERY_DISABLE)
	{
		/* pending: the endpoint is disabled below, the event waits */
	}
	else if (o->delivery == WH_DELIVERY_ABORT)
		st = "dead";			/* the receiver wants no more tries */
	else if (ep == NULL || !ep->valid)
	{
		st = "dead";			/* its endpoint row is gone */
	}
	else
	{
		delay = wh_retry_delay_ms(ep->schedule_ms, ep->nschedule,
								  ev->attempts + 1 - ev->retry_from, 0.2);
		if (delay < 0)
			st = "dead";
		else if (o->retry_after && (o->status == 429 || o->status == 503))
		{
			int64		ra = wh_parse_retry_after(o->retry_after,
												  (int64) time(NULL));

			if (ra >= 0)
			{
				delay = Min(ra, WH_MAX_RETRY_AFTER_MS);
				wh_breaker_retry_after(ev->endpoint_id, now + delay * 1000);
			}
		}
	}
	if (!o->noted)
		wh_note_health(ev, ep, o, outcome);
	o->state = st;
	o->next_at = now + delay * 1000;
	o->decided = true;
	/* wake up in time for the retry */
	if (strcmp(st, "pending") == 0 && outcome == WH_OUTCOME_RETRY &&
		o->next_at < wh_next_claim_at)
		wh_next_claim_at = o->next_at;
}

/*
 * Write the attempt rows and the events' new states for these outcomes,
 * in one statement.
 */
static void
wh_record_rows(List *outcomes)
{
	int			n = list_length(outcomes);
	Datum	   *ids,
			   *attempt,
			   *started,
			   *dur,
			   *status,
			   *error,
			   *response,
			   *state,
			   *next_at;
	bool	   *status_null,
			   *error_null,
			   *response_null,
			   *next_null;
	int			dims[1];
	int			lbs[1] = {1};
	Datum		args[9];
	ListCell   *lc;
	int			i = 0;

	if (n == 0)
		return;
	ids = palloc(sizeof(Datum) * n);
	attempt = palloc(sizeof(Datum) * n);
	started = palloc(sizeof(Datum) * n);
	dur = palloc(sizeof(Datum) * n);
	status = palloc(sizeof(Datum) * n);
	error = palloc(sizeof(Datum) * n);
	response = palloc(sizeof(Datum) * n);
	state = palloc(sizeof(Datum) * n);
	next_at = palloc(sizeof(Datum) * n);
	status_null = palloc0(sizeof(bool) * n);
	error_null = palloc0(sizeof(bool) * n);
	response_null = palloc0(sizeof(bool) * n);
	next_null = palloc0(sizeof(bool) * n);

	foreach(lc, outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		ids[i] = Int64GetDatum(o->ev->id);
		attempt[i] = Int16GetDatum(o->ev->attempts + 1);
		started[i] = TimestampTzGetDatum(o->started_at);
		dur[i] = Int64GetDatum(o->duration_us);
		status[i] = Int16GetDatum((int16) o->status);
		status_null[i] = (o->status == 0);
		error[i] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
		error_null[i] = (o->error == NULL);
		response[i] = o->response ? CStringGetTextDatum(o->response) : (Datum) 0;
		response_null[i] = (o->response == NULL);
		state[i] = CStringGetTextDatum(o->state);
		next_at[i] = TimestampTzGetDatum(o->next_at);
		next_null[i] = strcmp(o->state, "pending") != 0;
		i++;
	}

	dims[0] = n;
	args[0] = wh_int8_array(ids, n);
	args[1] = PointerGetDatum(construct_array(attempt, n, INT2OID, 2, true,
											  TYPALIGN_SHORT));
	args[2] = PointerGetDatum(construct_array(started, n, TIMESTAMPTZOID, 8,
											  FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[3] = wh_int8_array(dur, n);
	args[4] = PointerGetDatum(construct_md_array(status, status_null, 1, dims,
												 lbs, INT2OID, 2, true,
												 TYPALIGN_SHORT));
	args[5] = PointerGetDatum(construct_md_array(error, error_null, 1, dims,
												 lbs, TEXTOID, -1, false,
												 TYPALIGN_INT));
	args[6] = PointerGetDatum(construct_md_array(response, response_null, 1,
												 dims, lbs, TEXTOID, -1, false,
												 TYPALIGN_INT));
	args[7] = PointerGetDatum(construct_array(state, n, TEXTOID, -1, false,
											  TYPALIGN_INT));
	args[8] = PointerGetDatum(construct_md_array(next_at, next_null, 1, dims,
												 lbs, TIMESTAMPTZOID, 8,
												 FLOAT8PASSBYVAL,
												 TYPALIGN_DOUBLE));

	if (wh_record_plan == NULL)
	{
		Oid			types[9] = {INT8ARRAYOID, INT2ARRAYOID,
			TIMESTAMPTZARRAYOID, INT8ARRAYOID, INT2ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};

		wh_record_plan = wh_prepare(
			"WITH r AS ("
			"  SELECT * FROM ROWS FROM (pg_catalog.unnest($1), "
			"      pg_catalog.unnest($2), pg_catalog.unnest($3), "
			"      pg_catalog.unnest($4), pg_catalog.unnest($5), "
			"      pg_catalog.unnest($6), pg_catalog.unnest($7), "
			"      pg_catalog.unnest($8), pg_catalog.unnest($9)) "
			"    AS r(id, attempt, started_at, duration_us, status, error, "
			"         response, state, next_at)), "
			"a AS ("
			"  INSERT INTO webhook.attempt "
			"    (event_id, attempt, started_at, duration, status, error, response) "
			"  SELECT r.id, r.attempt, r.started_at, "
			"         r.duration_us OPERATOR(pg_catalog.*) "
			"           interval '1 microsecond', r.status, "
			"         r.error, r.response "
			"  FROM r JOIN webhook.event ev "
			"    ON ev.id OPERATOR(pg_catalog.=) r.id "
			"  ON CONFLICT DO NOTHING) "
			"UPDATE webhook.event ev SET "
			"  attempts = r.attempt, "
			"  state = r.state::webhook.event_state, "
			"  next_attempt_at = coalesce(r.next_at, ev.next_attempt_at), "
			"  finished_at = CASE "
			"    WHEN r.state OPERATOR(pg_catalog.<>) 'pending' "
			"    THEN pg_catalog.clock_timestamp() END "
			"FROM r WHERE ev.id OPERATOR(pg_catalog.=) r.id "
			"  AND " WH_STILL_PENDING("ev"),
			9, types);
	}
	wh_run(wh_record_plan, args, false, 0, SPI_OK_UPDATE, "recording attempts");
}

/*
 * Write these outcomes in a subtransaction of the record transaction.
 * Returns false, with nothing written, when a row was locked by another
 * session for longer than lock_timeout (or a deadlock broke the wait);
 * any other error goes up.  A subtransaction costs the common case almost
 * nothing (no WAL of its own, one more XID in the commit record), whereas
 * without it one user's lock would abort the whole record.
 */
static bool
wh_record_try(List *outcomes)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		wh_record_rows(outcomes);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode != ERRCODE_LOCK_NOT_AVAILABLE &&
			edata->sqlerrcode != ERRCODE_T_R_DEADLOCK_DETECTED)
			PG_RE_THROW();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ereport(LOG,
				(errcode(edata->sqlerrcode),
				 errmsg("could not lock an event to record its attempt"),
				 errdetail("Another session holds a lock on the event. Its attempt is recorded once the lock is released; the other attempts are recorded now.")));
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * Lock, without waiting, the events of these outcomes and return the
 * outcomes that can be written now.  Those whose event another session
 * holds are marked kept, for a later record; those whose event is gone
 * are neither.
 */
static List *
wh_record_lockable(List *outcomes)
{
	static SPIPlanPtr lock_plan = NULL;
	static SPIPlanPtr exists_plan = NULL;
	int			n = list_length(outcomes);
	Datum	   *ids = palloc(sizeof(Datum) * n);
	int64	   *locked;
	int64	   *exists;
	int			nlocked;
	int			nexists;
	Datum		args[1];
	List	   *ready = NIL;
	ListCell   *lc;
	int			i = 0;
	uint64		j;

	foreach(lc, outcomes)
		ids[i++] = Int64GetDatum(((WhOutcomeRec *) lfirst(lc))->ev->id);
	args[0] = wh_int8_array(ids, n);

	if (lock_plan == NULL)
	{
		Oid			types[1] = {INT8ARRAYOID};

		lock_plan = wh_prepare(
			"SELECT ev.id FROM webhook.event ev "
			"WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
			"FOR NO KEY UPDATE OF ev SKIP LOCKED", 1, types);
		exists_plan = wh_prepare(
			"SELECT ev.id FROM webhook.event ev "
			"WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1)", 1, types);
	}
	wh_run(lock_plan, args, false, 0, SPI_OK_SELECT, "locking events");
	nlocked = (int) SPI_processed;
	locked = palloc(sizeof(int64) * (nlocked + 1));
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;

		locked[j] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
												SPI_tuptable->tupdesc, 1,
												&isnull));
	}
	qsort(locked, nlocked, sizeof(int64), wh_cmp_int64);

	wh_run(exists_plan, args, true, 0, SPI_OK_SELECT, "locking events");
	nexists = (int) SPI_processed;
	exists = palloc(sizeof(int64) * (nexists + 1));
	for (j = 0; j < SPI_processed; j++)
	{
		bool		isnull;

		exists[j] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[j],
												SPI_tuptable->tupdesc, 1,
												&isnull));
	}
	qsort(exists, nexists, sizeof(int64), wh_cmp_int64);

	foreach(lc, outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (bsearch(&o->ev->id, locked, nlocked, sizeof(int64), wh_cmp_int64))
			ready = lappend(ready, o);
		else if (bsearch(&o->ev->id, exists, nexists, sizeof(int64),
						 wh_cmp_int64))
			o->kept = true;
	}
	return ready;
}

/*
 * Write every collected outcome in one transaction: the attempt rows, the
 * events' new states, and endpoints that answered 410 Gone.
 *
 * A row that another session has locked must not cost the other outcomes
 * their record (they would be sent again).  So the outcomes are written in
 * a subtransaction; if it cannot get a lock within lock_timeout, it is
 * rolled back and the events that can be locked at once are written, the
 * others kept in memory (still held, so never claimed and sent again) for
 * the next record.  While outcomes are kept, records take the second path
 * straight away, so a lock held long costs one wait, not one per record.
 */
static void
wh_record(void)
{
	int			n = list_length(wh_outcomes);
	Datum	   *gone;
	int			ngone = 0;
	List	   *written;
	ListCell   *lc;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	gone = palloc(sizeof(Datum) * n);
	foreach(lc, wh_outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (!o->decided)
			wh_outcome_decide(o, now, gone, &ngone);
		o->kept = false;
	}

	wh_xact_begin("recording attempts");
	written = wh_outcomes;
	if (wh_nkept > 0 || !wh_record_try(wh_outcomes))
	{
		written = wh_record_lockable(wh_outcomes);
		wh_record_rows(written);
	}
	foreach(lc, written)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (strcmp(o->state, "pending") != 0)
			wh_order_finished(o->ev->id);
	}

	if (ngone > 0)
	{
		Datum		garg[1];

		if (wh_gone_plan == NULL)
		{
			Oid			types[1] = {INT4ARRAYOID};

			wh_gone_plan = wh_prepare(
				"UPDATE webhook.endpoint SET enabled = false, "
				"  disabled_reason = 'the receiver answered 410 Gone', "
				"  disabled_at = pg_catalog.now() "
				"WHERE id OPERATOR(pg_catalog.=) ANY ($1) AND enabled",
				1, types);
		}
		garg[0] = wh_int4_array(gone, ngone);
		wh_run(wh_gone_plan, garg, false, 0, SPI_OK_UPDATE, "disabling endpoints");
		for (i = 0; i < ngone; i++)
			ereport(LOG,
					(errmsg("webhook endpoint %d disabled: the receiver answered 410 Gone",
							DatumGetInt32(gone[i]))));
	}
	wh_order_apply();
	wh_breaker_apply();
	wh_xact_end();
}

/* A copy of a kept outcome, in the current memory context */
static WhOutcomeRec *
wh_outcome_copy(const WhOutcomeRec *src)
{
	WhOutcomeRec *o = palloc(sizeof(WhOutcomeRec));

	memcpy(o, src, sizeof(WhOutcomeRec));
	o->error = src->error ? pstrdup(src->error) : NULL;
	o->response = src->response ? pstrdup(src->response) : NULL;
	o->retry_after = src->retry_after ? pstrdup(src->retry_after) : NULL;
	return o;
}

/*
 * Record the collected outcomes and release their events.  If recording
 * fails the events are released all the same: still pending in the table,
 * they will be claimed and sent again.  Outcomes whose event another
 * session had locked are kept, their events still held, and written by a
 * later record.
 */
static void
wh_flush_outcomes(void)
{
	ListCell   *lc;
	List	   *kept = NIL;

	if (wh_outcomes == NIL)
		return;
	if (!wh_guarded(wh_record))
	{
		wh_next_claim_at = GetCurrentTimestamp() + WH_ERROR_PAUSE_MS * 1000;
		foreach(lc, wh_outcomes)
			((WhOutcomeRec *) lfirst(lc))->kept = false;
	}
	foreach(lc, wh_outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (o->kept)
			kept = lappend(kept, o);
		else
			wh_release(o->ev);
	}

	wh_nkept = list_length(kept);
	if (wh_nkept == 0)
	{
		wh_outcomes = NIL;
		MemoryContextReset(wh_outcome_cxt);
	}
	else
	{
		/* carry the kept outcomes over into a fresh context */
		MemoryContext old_cxt = wh_outcome_cxt;
		MemoryContext cxt;

		wh_outcome_cxt = AllocSetContextCreate(wh_worker_cxt,
											   "webhook outcomes",
											   ALLOCSET_DEFAULT_SIZES);
		cxt = MemoryContextSwitchTo(wh_outcome_cxt);
		wh_outcomes = NIL;
		foreach(lc, kept)
			wh_outcomes = lappend(wh_outcomes,
								  wh_outcome_copy(lfirst(lc)));
		MemoryContextSwitchTo(cxt);
		MemoryContextDelete(old_cxt);
		wh_kept_retry_at = GetCurrentTimestamp() +
			WH_RECORD_RETRY_MS * 1000;
	}

	/* an endpoint held back at the last claim may have room again */
	if (wh_claim_skipped_busy)
		wh_next_claim_at = Min(wh_next_claim_at,
							   wh_last_claim_at + WH_CLAIM_INTERVAL_MS * 1000);
}

/*
 * When to record: outcomes are written in batches, since each record
 * transaction has a fixed cost.  A batch is written once it is large, once
 * its oldest outcome has waited WH_RECORD_DELAY_MS, or as soon as the
 * worker has nothing else to do.  Outcomes kept because their event was
 * locked are tried again with the next batch, or every WH_RECORD_RETRY_MS.
 */
static TimestampTz
wh_record_due(void)
{
	int			n = list_length(wh_outcomes);

	if (n == 0)
		return DT_NOEND;
	if (n == wh_nkept)
		return wh_kept_retry_at;
	if (n >= WH_RECORD_BATCH ||
		(wh_ninflight == 0 && wh_nqueued == 0))
		return 0;
	return wh_oldest_outcome + WH_RECORD_DELAY_MS * 1000;
}

/*
 * Build the endpoints fetched by the last claim, outside the transaction.
 */
static void
wh_build_claimed_endpoints(void)
{
	ListCell   *lc;
	dlist_iter	it;

	foreach(lc, wh_claimed_rows)
	{
		WhEndpointRow *row = lfirst(lc);
		bool		found;
		WhEndpoint *ep;

		ep = hash_search(wh_endpoints, &row->id, HASH_ENTER, &found);
		if (!found)
		{
			memset(ep, 0, sizeof(WhEndpoint));
			ep->id = row->id;
		}
		wh_endpoint_build(ep, row);
	}
	wh_claimed_rows = NIL;

	/* count newly claimed events against their endpoints */
	dlist_foreach(it, &wh_queue)
	{
		WhEvent    *ev = dlist_container(WhEvent, node, it.cur);
		WhEndpoint *ep;

		if (ev->counted)
			continue;
		ep = wh_endpoint_get(ev->endpoint_id);
		if (ep)
		{
			ep->held++;
			ev->counted = true;
		}
	}
}

/*
 * Delete one batch of finished events older than webhook.retention, with
 * their attempts.  Sets wh_retention_more when a full batch went.
 */
static bool wh_retention_more;

static void
wh_retention_step(void)
{
	Datum		args[2];

	wh_xact_begin("removing old events");
	if (wh_retention_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT4OID};

		wh_retention_plan = wh_prepare(
			"WITH d AS ("
			"  DELETE FROM webhook.event e USING ("
			"    SELECT id FROM webhook.event "
			"    WHERE state OPERATOR(pg_catalog.<>) 'pending' "
			"      AND finished_at OPERATOR(pg_catalog.<) "
			"          (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"           ($1 OPERATOR(pg_catalog.*) interval '1 second')) "
			"    LIMIT $2) f "
			"  WHERE e.id OPERATOR(pg_catalog.=) f.id "
			"    AND " WH_NO_LONGER_PENDING("e") " "
			"    AND e.finished_at OPERATOR(pg_catalog.<) "
			"        (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"         ($1 OPERATOR(pg_catalog.*) interval '1 second')) "
			"  RETURNING e.id), "
			"a AS ("
			"  DELETE FROM webhook.attempt a USING d "
			"  WHERE a.event_id OPERATOR(pg_catalog.=) d.id) "
			"SELECT pg_catalog.count(*) FROM d", 2, types);
	}
	args[0] = Int32GetDatum(wh_retention);
	args[1] = Int32GetDatum(WH_RETENTION_BATCH);
	wh_run(wh_retention_plan, args, false, 0, SPI_OK_SELECT, "removing old events");
	wh_retention_more = false;
	if (SPI_processed > 0)
	{
		bool		isnull;
		int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc,
													1, &isnull));

		wh_retention_more = (n >= WH_RETENTION_BATCH);
	}
	wh_xact_end();
}

/*
 * Is the extension installed in this database?
 */
static void
wh_check_extension(void)
{
	int			rc;

	wh_xact_begin("checking for the webhook extension");
	rc = SPI_execute("SELECT extversion FROM pg_catalog.pg_extension "
					 "WHERE extname OPERATOR(pg_catalog.=) 'webhook'",
					 true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	wh_has_extension = (SPI_processed > 0);
	wh_old_extension = false;
	if (wh_has_extension)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1);

		/*
		 * The library's queries need this version's tables: after a new
		 * library is installed, wait (sending nothing, losing nothing) for
		 * ALTER EXTENSION webhook UPDATE, which wakes the worker.
		 */
		if (version == NULL || strcmp(version, WEBHOOK_VERSION) != 0)
		{
			if (!wh_old_extension_logged)
				ereport(WARNING,
						(errmsg("webhook worker for database \"%s\" is waiting for ALTER EXTENSION webhook UPDATE",
								MyBgworkerEntry->bgw_extra),
						 errdetail("The extension's objects are version %s; the library is version %s.",
								   version ? version : "(unknown)",
								   WEBHOOK_VERSION),
						 errhint("Run ALTER EXTENSION webhook UPDATE in that database.  Events stay pending until then.")));
			wh_old_extension_logged = true;
			wh_old_extension = true;
			wh_has_extension = false;
		}
	}
	wh_xact_end();
}

static void
wh_worker_exit(int code, Datum arg)
{
	wh_http_shutdown();
}

/*
 * Entry point of the delivery worker.
 */
void
wh_worker_main(Datum main_arg)
{
	WaitEventSet *wes;
	int			latch_pos;
	TimestampTz last_ext_check = 0;
	bool		woken = true;
	bool		announced = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg),
											  InvalidOid, 0);

	/*
	 * Name resolution is the worker's, not the database's: nothing a
	 * database owner or any other role sets (ALTER DATABASE or ALTER ROLE
	 * ... SET search_path, objects in public) may change which function or
	 * operator its statements call.  An override outranks every per-database
	 * and per-role setting and survives configuration reloads; it is set
	 * before the first transaction, so even the first plan is built with
	 * it.  pg_temp goes last so that it can never come first implicitly (the
	 * worker has no temporary schema, and functions and operators are never
	 * looked up there).  The statements are schema-qualified as well, so
	 * that neither alone is load-bearing.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET,
					PGC_S_OVERRIDE);

	/*
	 * Likewise the transaction settings a database owner could set for its
	 * database: the worker's claims and records assume read-write, read
	 * committed transactions that are never cut short.
	 */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET,
					PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * And the role: a database owner may ALTER DATABASE ... SET role (or
	 * session_authorization), which the connection has just applied.  The
	 * worker is the bootstrap superuser, whatever the database says; the
	 * names are looked up in the catalogs, hence the transaction.
	 */
	StartTransactionCommand();
	SetConfigOption("session_authorization",
					GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false),
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	CommitTransactionCommand();

	if (!wh_worker_attach())
		wh_launcher_worker_done("another worker serves this database");

	/* A lost commit here only means an attempt repeated, never lost */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "webhook worker", PGC_USERSET,
					PGC_S_OVERRIDE);

	/*
	 * The outbox's statistics swing between "everything pending" and
	 * "nothing pending" within seconds, and the claim's filters make any
	 * row estimate a guess; a plan that scans the whole table and sorts it
	 * would be chosen whenever the estimate is small, and likewise a hash
	 * of every pending event to record a few hundred results.  Every query
	 * the worker runs is an index range scan or a small set of index
	 * lookups, so steer the planner to exactly that.  A bitmap scan would
	 * AND a whole partial index into a look-up by id; statements that name
	 * events by id re-check their state in a form no partial index serves
	 * (pending.h), so their only index is the primary key.
	 */
	SetConfigOption("enable_seqscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_bitmapscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_hashjoin", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_mergejoin", "off", PGC_USERSET, PGC_S_OVERRIDE);

	/*
	 * With those settings every statement's best plan is the same whatever
	 * its arrays hold (index lookups, nested loops), so plan each once: a
	 * custom plan per execution cost a tenth of the worker's CPU.
	 */
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_USERSET,
					PGC_S_OVERRIDE);
	/*
	 * Never wait long for a row a user's session has locked: the worker
	 * serves every endpoint, so a claim or clean-up that cannot get its
	 * lock gives up and is tried again, and a record writes the outcomes
	 * of the events it can lock and keeps the others for later.
	 */
	SetConfigOption("lock_timeout", "1s", PGC_USERSET, PGC_S_OVERRIDE);
	/* and its small, frequent queries gain nothing from JIT compilation */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);
	pgstat_report_appname("webhook worker");
	wh_activity_worker_start();

	wh_worker_cxt = AllocSetContextCreate(TopMemoryContext, "webhook worker",
										  ALLOCSET_DEFAULT_SIZES);
	wh_loop_cxt = AllocSetContextCreate(wh_worker_cxt, "webhook loop",
										ALLOCSET_DEFAULT_SIZES);
	wh_outcome_cxt = AllocSetContextCreate(wh_worker_cxt, "webhook outcomes",
										   ALLOCSET_DEFAULT_SIZES);
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(WhEndpoint);
		ctl.hcxt = wh_worker_cxt;
		wh_endpoints = hash_create("webhook endpoints", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}

	/* per-endpoint limits are the worker's; curl only bounds the total */
	wh_http_init(wh_max_in_flight, wh_max_in_flight, wh_max_response_size);
	before_shmem_exit(wh_worker_exit, (Datum) 0);

	/* from PostgreSQL 17 on, the set lives in TopMemoryContext, owned by none */
#if PG_VERSION_NUM >= 170000
	wes = CreateWaitEventSet(NULL, 3);
#else
	wes = CreateWaitEventSet(TopMemoryContext, 3);
#endif
	latch_pos = AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET,
								  MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, wh_http_fd(), NULL, NULL);
	(void) latch_pos;

	for (;;)
	{
		WaitEvent	events[3];
		TimestampTz now;
		long		timeout;
		int			nev;
		int			i;

		MemoryContextSwitchTo(wh_loop_cxt);

		CHECK_FOR_INTERRUPTS();
		if (wh_launcher_stop_requested())
			wh_launcher_worker_done("asked to leave the database");
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			wh_next_retention_at = 0;
			wh_next_claim_at = 0;
			wh_http_init(wh_max_in_flight, wh_max_in_flight,
						 wh_max_response_size);
		}

		now = GetCurrentTimestamp();
		if (!wh_has_extension)
		{
			/* look again when woken (by a commit) or after a while */
			if (woken ||
				now - last_ext_check >= (int64) wh_idle_timeout * 1000)
			{
				last_ext_check = now;
				if (!wh_guarded(wh_check_extension))
					wh_has_extension = false;
				else if (!wh_has_extension && !wh_old_extension)
					wh_launcher_worker_done("the extension is not installed");
				else if (!announced)
				{
					announced = true;
					ereport(LOG,
							(errmsg("webhook worker started for database \"%s\"",
									MyBgworkerEntry->bgw_extra)));
				}
			}
		}

		if (wh_has_extension)
		{
			/* send what is queued, then claim more if there is room */
			wh_dispatch();
			if (wh_next_claim_at <= now && wh_nqueued < wh_max_in_flight)
			{
				wh_last_claim_at = now;
				if (wh_guarded(wh_claim))
				{
					wh_build_claimed_endpoints();
					wh_dispatch();
					if (wh_claimed_n >= (uint64) wh_batch_size ||
						wh_claim_held_back > 0)
						wh_next_claim_at = 0;	/* probably more */
					else if (wh_next_due)
						wh_next_claim_at = Max(wh_next_due,
											   now + WH_CLAIM_INTERVAL_MS * 1000);
					else
						wh_next_claim_at = now + (int64) wh_idle_timeout * 1000;
				}
				else
				{
					/* the extension may have been dropped */
					wh_claim_abandon();
					wh_has_extension = false;
					last_ext_check = now;
					wh_next_claim_at = now + WH_ERROR_PAUSE_MS * 1000;
				}
			}

			if (wh_record_due() <= now)
				wh_flush_outcomes();

			if (wh_next_retention_at <= now)
			{
				if (wh_guarded(wh_retention_step) && wh_retention_more)
					wh_next_retention_at = 0;
				else
					wh_next_retention_at = now + WH_RETENTION_INTERVAL_MS * 1000;
			}
		}

		/* sleep until woken, a socket is ready, or something is due */
		now = GetCurrentTimestamp();
		{
			TimestampTz until = now + (int64) wh_idle_timeout * 1000;
			long		curl_ms = wh_http_timeout_ms();

			if (wh_has_extension)
			{
				if (wh_nqueued < wh_max_in_flight && wh_next_claim_at < until)
					until = wh_next_claim_at;
				if (wh_next_retention_at < until)
					until = wh_next_retention_at;
				if (wh_record_due() < until)
					until = wh_record_due();
				/* a rate-limited endpoint's next token */
				if (wh_rate_next_wake() < until)
					until = wh_rate_next_wake();
			}
			timeout = until <= now ? 0 : (long) ((until - now + 999) / 1000);
			if (curl_ms >= 0 && curl_ms < timeout)
				timeout = curl_ms;
		}

		woken = false;
		nev = WaitEventSetWait(wes, timeout, events, lengthof(events),
							   wh_activity_waiting(wh_ninflight, wh_nqueued));
		for (i = 0; i < nev; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				woken = true;
			}
		}

		/*
		 * A commit woke us: claim soon, but not more often than every
		 * WH_CLAIM_INTERVAL_MS, so a stream of small commits is claimed in
		 * batches instead of one transaction each.
		 */
		if (woken)
			wh_next_claim_at = Min(wh_next_claim_at,
								   wh_last_claim_at + WH_CLAIM_INTERVAL_MS * 1000);

		wh_http_perform();
		wh_collect();

		MemoryContextReset(wh_loop_cxt);
	}
}
