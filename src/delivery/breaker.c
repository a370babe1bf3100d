/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  Endpoint health: a circuit breaker per endpoint.
 *
 * An endpoint is "down" when its receiver looks dead rather than unlucky:
 * its last WH_BREAKER_PROBE_AFTER attempts failed in a row, and so did at
 * least nine in ten of the attempts the worker remembers (the last
 * WH_BREAKER_WINDOW).  A receiver that loses a share of its requests at
 * random, and answers the rest, meets the first condition now and then but
 * practically never the second, so it keeps its full concurrency; each
 * failed event is retried on its own schedule.  One that answers nothing
 * meets both after three attempts, or, after a good run, after 29.
 *
 * While an endpoint is down, the worker does not send it its backlog: it
 * sends one request at a time, a probe, at the pace of the endpoint's
 * retry schedule (the first probe one step after it went down, the next
 * one step later, and so on, staying on the last step).  Every other event
 * of the endpoint waits in the table as it is: the claim does not read a
 * down endpoint's events beyond its one probe, and writes nothing to hold
 * them back.  When a probe (or any attempt) succeeds, the endpoint is
 * healthy again and its due events go at once; events waiting for the
 * retry of a failure of their own keep their time.
 *
 * The breaker trips, disabling the endpoint with a reason and a timestamp,
 * when failure_threshold attempts in a row have failed, or when every
 * attempt has failed for failure_window.  A WARNING is logged once, the
 * events stay pending (parked until webhook.enable_endpoint()), and the
 * endpoint table's trigger announces the change with NOTIFY.  A receiver
 * can also ask for its endpoint to be disabled ("webhook-delivery:
 * disable"), which goes through the same path.
 *
 * State: the table webhook.endpoint_health holds, per endpoint that ever
 * failed, the consecutive failures, when they began, the last error and,
 * while it is down (and only then), the probe schedule: next_probe_at is
 * set exactly while the endpoint is down.  It survives restarts and feeds
 * the views.  The window of recent outcomes is the worker's alone.  The
 * worker keeps a copy in memory, read again from the table by the claims
 * (by every claim while it holds an endpoint back, else at most every
 * 100 ms, so that webhook.enable_endpoint(), a changed URL and
 * webhook.retry() act on the next claim) and updated as outcomes arrive,
 * then written back in the next record transaction; outcomes not yet
 * written win over the table.  Whether a probe is in flight is known only
 * to the worker.
 *
 * Healthy endpoints cost nothing: no row is written for a success unless
 * the endpoint was failing, or is in a failing period that an operational
 * event reported (failing_reported_at, set and cleared by the table's
 * triggers): its first success ends that period, even after
 * webhook.enable_endpoint() reset the counters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bitutils.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "delivery/breaker.h"
#include "delivery/spi.h"
#include "observe/stats.h"

/*
 * An endpoint is probed once this many attempts in a row have failed (one
 * failure is more often the event's than the endpoint's) and at least
 * nine in ten of its last WH_BREAKER_WINDOW attempts have: a receiver that
 * fails 30% of requests at random does that about once in 10^12 attempts,
 * one that fails half of them once in a million.
 */
#define WH_BREAKER_PROBE_AFTER	3
#define WH_BREAKER_WINDOW		32
/* The table is read again at most this often */
#define WH_BREAKER_REFRESH_MS	100

/*
 * Hold times remembered per endpoint (see WhHealth.holds).  Only those
 * still ahead matter, and there are seldom more than two: the next probe's
 * time and the one step a probe in flight makes the others wait.
 */
#define WH_BREAKER_NHOLDS		8

typedef struct WhHealth
{
	int32		id;				/* hash key: endpoint id */
	int			failures;		/* consecutive failed attempts */
	bool		down;			/* probed one request at a time */
	uint32		window;			/* recent attempts, latest in bit 0; 1: failed */
	int			nwindow;		/* how many, up to WH_BREAKER_WINDOW */
	int			probe_step;		/* failed probes so far */
	TimestampTz failing_since;	/* 0 when healthy */
	TimestampTz next_probe_at;
	int64		next_step_ms;	/* the schedule step after the next probe */
	bool		disabled;		/* not enabled in the table, or just tripped */
	bool		probing;		/* a probe is in flight */
	bool		picked;			/* a probe was claimed by this claim */
	bool		reported;		/* endpoint.failing sent, no success since */

	/*
	 * Holding an event back overwrites its next attempt, so the table no
	 * longer tells an event held back from one waiting for its own retry.
	 * The breaker holds events only until a few distinct times, remembered
	 * here, so that a recovery can tell them apart (wh_breaker_apply).
	 * hold_until is the time events wait for while a probe is due or in
	 * flight, the same for all of them until it passes.
	 */
	TimestampTz hold_until;
	TimestampTz holds[WH_BREAKER_NHOLDS];
	int			nholds;
	/* changes to write at the next apply */
	bool		changed;
	bool		recovered;
	TimestampTz last_failure_at;
	TimestampTz last_success_at;
	char	   *last_error;
	char	   *disable_reason;
} WhHealth;

static MemoryContext wh_breaker_cxt = NULL;
static HTAB *wh_health = NULL;
static int	wh_nfailing = 0;	/* entries with failures > 0 or disabled */
static bool wh_holding = false; /* an enabled endpoint is being probed */
static TimestampTz wh_refreshed_at = 0;

static SPIPlanPtr wh_refresh_plan = NULL;
static SPIPlanPtr wh_health_plan = NULL;
static SPIPlanPtr wh_trip_plan = NULL;
static SPIPlanPtr wh_disable_plan = NULL;
static SPIPlanPtr wh_release_plan = NULL;

static void wh_breaker_publish(int32 endpoint_id);

static void
wh_breaker_init(void)
{
	HASHCTL		ctl;

	if (wh_health != NULL)
		return;
	wh_breaker_cxt = AllocSetContextCreate(TopMemoryContext,
										   "webhook breaker",
										   ALLOCSET_SMALL_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(WhHealth);
	ctl.hcxt = wh_breaker_cxt;
	wh_health = hash_create("webhook endpoint health", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

static WhHealth *
wh_health_get(int32 id, bool create)
{
	bool		found;
	WhHealth   *h;

	wh_breaker_init();
	h = hash_search(wh_health, &id, create ? HASH_ENTER : HASH_FIND, &found);
	if (create && !found)
	{
		memset(h, 0, sizeof(WhHealth));
		h->id = id;
	}
	return h;
}

/*
 * Remember one attempt's outcome in the endpoint's window.
 */
static void
wh_health_push(WhHealth *h, bool failed)
{
	h->window = (h->window << 1) | (failed ? 1 : 0);
	if (h->nwindow < WH_BREAKER_WINDOW)
		h->nwindow++;
}

/*
 * Does the endpoint look down (see the file header)?  Only failures since
 * the last success and the window say so; the time the failures took does
 * not, so that a dead receiver is found as fast at one event a minute as
 * at a thousand a second.
 */
static bool
wh_health_looks_down(const WhHealth *h)
{
	uint32		mask = h->nwindow >= 32 ? PG_UINT32_MAX :
		(((uint32) 1 << h->nwindow) - 1);
	int			failed = pg_popcount32(h->window & mask);

	StaticAssertStmt(WH_BREAKER_WINDOW <= 32,
					 "the window of outcomes is one uint32");

	return h->failures >= WH_BREAKER_PROBE_AFTER &&
		failed * 10 >= h->nwindow * 9;
}

/*
 * Remember that events of this endpoint were held back until "until".
 * Times already past are forgotten (their events are due anyway); when
 * full, the earliest is dropped.
 */
static void
wh_health_add_hold(WhHealth *h, TimestampTz until, TimestampTz now)
{
	int			i;
	int			n = 0;
	int			earliest = -1;

	for (i = 0; i < h->nholds; i++)
		if (h->holds[i] == until)
			return;
	for (i = 0; i < h->nholds; i++)
		if (h->holds[i] > now)
			h->holds[n++] = h->holds[i];
	h->nholds = n;
	if (h->nholds >= WH_BREAKER_NHOLDS)
	{
		for (i = 0; i < h->nholds; i++)
			if (earliest < 0 || h->holds[i] < h->holds[earliest])
				earliest = i;
		h->holds[earliest] = h->holds[--h->nholds];
	}
	h->holds[h->nholds++] = until;
}

/*
 * Read the failing and disabled endpoints from the table (at most every
 * WH_BREAKER_REFRESH_MS).  Runs in the claim transaction, before any event
 * is admitted.  What only the worker
 * knows (a probe in flight) is kept; the rest follows the table, so that
 * webhook.enable_endpoint() resets the breaker.
 */
void
wh_breaker_refresh(void)
{
	HASH_SEQ_STATUS seq;
	WhHealth   *h;
	uint64		i;
	int			rc;
	TimestampTz now;

	wh_breaker_init();

	/* a new claim may pick a probe again */
	hash_seq_init(&seq, wh_health);
	while ((h = hash_seq_search(&seq)) != NULL)
		h->picked = false;

	/*
	 * Claims come every few milliseconds and the table changes seldom, but
	 * while the breaker holds an endpoint back every claim reads it: a new
	 * URL or a manual retry resets or advances the breaker there, and a
	 * claim that went by memory would hold the released events back again.
	 */
	now = GetCurrentTimestamp();
	if (!wh_holding &&
		now - wh_refreshed_at < WH_BREAKER_REFRESH_MS * 1000 &&
		now >= wh_refreshed_at)
		return;
	wh_refreshed_at = now;

	if (wh_refresh_plan == NULL)
		wh_refresh_plan = wh_prepare(
			"SELECT e.id, NOT e.enabled, "
			"       coalesce(h.consecutive_failures, 0), "
			"       coalesce(h.probe_step, 0), h.failing_since, "
			"       h.next_probe_at, h.failing_reported_at IS NOT NULL "
			"FROM webhook.endpoint e "
			"LEFT JOIN webhook.endpoint_health h "
			"  ON h.endpoint_id OPERATOR(pg_catalog.=) e.id "
			"WHERE NOT e.enabled "
			"   OR h.consecutive_failures OPERATOR(pg_catalog.>) 0 "
			"   OR h.failing_reported_at IS NOT NULL", 0, NULL);
	rc = SPI_execute_plan(wh_refresh_plan, NULL, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading endpoint health failed: %s",
			 SPI_result_code_string(rc));

	/*
	 * Outcomes noted but not yet written (changed) are newer than the
	 * table: those entries keep what memory knows.
	 */
	hash_seq_init(&seq, wh_health);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (h->changed)
			continue;
		h->failures = 0;
		h->down = false;
		h->probe_step = 0;
		h->failing_since = 0;
		h->next_probe_at = 0;
		h->disabled = false;
		h->reported = false;
	}
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;

		h = wh_health_get(DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull)),
						  true);
		if (h->changed)
			continue;
		h->disabled = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
		h->failures = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		h->probe_step = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		h->failing_since = DatumGetTimestampTz(SPI_getbinval(tup, desc, 5,
															 &isnull));
		if (isnull)
			h->failing_since = 0;
		h->next_probe_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6,
															 &isnull));
		if (isnull)
			h->next_probe_at = 0;
		/* a next probe is written only while the endpoint is down */
		h->down = !isnull && h->failures >= WH_BREAKER_PROBE_AFTER;
		h->reported = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	}

	wh_nfailing = 0;
	wh_holding = false;
	hash_seq_init(&seq, wh_health);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		if (h->failures > 0 || h->disabled)
			wh_nfailing++;
		if (h->down && !h->disabled)
			wh_holding = true;
	}
}

/*
 * How many events of this endpoint may the claim take now?  WH_BREAKER_ANY
 * for a healthy endpoint; for a failing one, one probe once its time has
 * come and none is in flight, else none.  The claim reads only as many of
 * the endpoint's events as this allows, so a failing endpoint's backlog is
 * neither read nor rewritten while it waits.  When none may go and the
 * next probe's time is known, *wake is set to it (else left alone), so
 * the worker wakes for the probe.  Disabled endpoints are left out of
 * claims before this is asked.
 */
int
wh_breaker_quota(int32 endpoint_id, TimestampTz now, TimestampTz *wake)
{
	WhHealth   *h;

	if (wh_nfailing == 0)
		return WH_BREAKER_ANY;
	h = wh_health_get(endpoint_id, false);
	if (h == NULL || h->disabled || !h->down)
		return WH_BREAKER_ANY;
	if (!h->probing && !h->picked && h->next_probe_at <= now)
	{
		h->picked = true;
		return 1;
	}
	/* a probe in flight wakes the worker when its outcome arrives */
	if (!h->probing && h->next_probe_at > now && h->next_probe_at < *wake)
		*wake = h->next_probe_at;
	return 0;
}

/*
 * May a request to this endpoint start now?  A failing endpoint gets one
 * probe in flight, once its time has come; a tripped one nothing.  Events
 * refused here are released by the worker, still pending, and held back by
 * a later claim.  *probe says whether the request allowed is the probe:
 * if it does not start after all, the worker must say so
 * (wh_breaker_probe_not_sent()).
 */
bool
wh_breaker_may_send(int32 endpoint_id, TimestampTz now, bool *probe)
{
	WhHealth   *h;

	*probe = false;
	if (wh_nfailing == 0)
		return true;
	h = wh_health_get(endpoint_id, false);
	if (h == NULL)
		return true;
	if (!h->down && !h->disabled)
		return true;
	if (!h->disabled && !h->probing && h->next_probe_at <= now)
	{
		h->probing = true;
		*probe = true;
		wh_breaker_publish(endpoint_id);
		return true;
	}

	/*
	 * Refused: the event goes back to the table, due.  Claim again soon,
	 * with the table read afresh (it may say the endpoint was enabled
	 * since), so it is taken or held back without waiting for a wake-up.
	 */
	wh_refreshed_at = 0;
	SetLatch(MyLatch);
	return false;
}

/*
 * The state of an endpoint's breaker, for the statistics: closed while it
 * is healthy, open while it is down, half-open while its probe is out.
 */
int
wh_breaker_state(int32 endpoint_id)
{
	WhHealth   *h;

	if (wh_nfailing == 0 || wh_health == NULL)
		return WH_STATS_BREAKER_CLOSED;
	h = wh_health_get(endpoint_id, false);
	if (h == NULL || !h->down)
		return WH_STATS_BREAKER_CLOSED;
	return h->probing ? WH_STATS_BREAKER_HALF_OPEN : WH_STATS_BREAKER_OPEN;
}

/*
 * Publish an endpoint's breaker state in the statistics as soon as it
 * changes (a probe goes out, an outcome comes back): the worker's
 * once-a-second publication of every state runs when the worker wakes,
 * which for a failing endpoint is when a probe goes out, so alone it
 * would show half-open for most of an outage.
 */
static void
wh_breaker_publish(int32 endpoint_id)
{
	if (wh_track_stats)
		wh_stats_set_breaker(endpoint_id, wh_breaker_state(endpoint_id));
}

/*
 * The probe wh_breaker_may_send() allowed was not sent (the endpoint was at
 * its in-flight or rate limit): no outcome will clear "probing", so clear
 * it here.  Left set, it would refuse every later probe, and the endpoint's
 * events would be held back for good.
 */
void
wh_breaker_probe_not_sent(int32 endpoint_id)
{
	WhHealth   *h = wh_health_get(endpoint_id, false);

	if (h)
	{
		h->probing = false;
		wh_breaker_publish(endpoint_id);
	}
}

/*
 * Take one recorded outcome into account.  schedule_ms is the endpoint's
 * retry schedule, which paces the probes.  Every success and failure goes
 * into the endpoint's window, healthy or not (memory only: a success of a
 * healthy endpoint writes nothing); a failure may put the endpoint down.
 */
static void
wh_breaker_note_one(int32 endpoint_id, WhHealthNote note,
					TimestampTz started_at, const char *error,
					const int64 *schedule_ms, int nschedule)
{
	WhHealth   *h;
	MemoryContext old;

	if (note == WH_HEALTH_NEUTRAL)
	{
		h = wh_health_get(endpoint_id, false);
		if (h)
			h->probing = false;
		return;
	}
	if (note == WH_HEALTH_SUCCESS)
	{
		h = wh_health_get(endpoint_id, true);
		wh_health_push(h, false);

		/*
		 * A success is written when it ends a failure, or a failing period
		 * an operational event reported, which an operator's reset of the
		 * breaker (webhook.enable_endpoint()) does not end.
		 */
		if (h->failures == 0 && !h->changed && !h->reported)
		{
			h->probing = false;
			return;
		}
		h->reported = false;
		/* only an endpoint that was down can have held events back */
		if (h->down)
			h->recovered = true;

		/*
		 * Events may have been held back until the next probe's time by
		 * an earlier run of the worker (before a restart), which this one
		 * does not remember: that time is in the table, and so in
		 * next_probe_at.
		 */
		if (h->next_probe_at > 0)
			wh_health_add_hold(h, h->next_probe_at, GetCurrentTimestamp());
		h->failures = 0;
		h->down = false;
		h->probe_step = 0;
		h->failing_since = 0;
		h->next_probe_at = 0;
		h->probing = false;
		h->last_success_at = started_at;
		h->changed = true;
		return;
	}

	h = wh_health_get(endpoint_id, true);
	if (h->failures == 0 && !h->disabled)
		wh_nfailing++;
	h->failures++;
	wh_health_push(h, true);
	if (h->failing_since == 0)
		h->failing_since = started_at;
	h->last_failure_at = started_at;
	h->probing = false;
	h->recovered = false;
	h->changed = true;

	/*
	 * Going down sets the first probe one step ahead; after that, a probe
	 * moves the next one a step along the schedule, and the requests that
	 * were already in flight when the endpoint went down do not.
	 */
	if (!h->down && wh_health_looks_down(h))
	{
		h->down = true;
		h->probe_step = 0;
		h->next_probe_at = 0;
	}
	if (h->down && !h->disabled)
		wh_holding = true;
	if (h->down && started_at >= h->next_probe_at)
	{
		int64		step = 0;

		h->probe_step++;
		if (nschedule > 0)
		{
			step = schedule_ms[Min(h->probe_step, nschedule) - 1];
			h->next_step_ms = schedule_ms[Min(h->probe_step + 1,
											  nschedule) - 1];
		}
		h->next_probe_at = GetCurrentTimestamp() + step * 1000;
	}

	old = MemoryContextSwitchTo(wh_breaker_cxt);
	if (h->last_error)
		pfree(h->last_error);
	h->last_error = pstrdup(error ? error : "no error text");
	MemoryContextSwitchTo(old);
}

/*
 * wh_breaker_note_one(), and the statistics told if the state changed.
 */
void
wh_breaker_note(int32 endpoint_id, WhHealthNote note, TimestampTz started_at,
				const char *error, const int64 *schedule_ms, int nschedule)
{
	int			before = wh_breaker_state(endpoint_id);

	wh_breaker_note_one(endpoint_id, note, started_at, error, schedule_ms,
						nschedule);
	if (wh_breaker_state(endpoint_id) != before)
		wh_breaker_publish(endpoint_id);
}

/*
 * The receiver said when to come back (Retry-After on a 429 or 503): if
 * the endpoint is down, the next probe goes then, rather than at the
 * schedule's pace.
 */
void
wh_breaker_retry_after(int32 endpoint_id, TimestampTz at)
{
	WhHealth   *h = wh_health_get(endpoint_id, false);

	if (h && h->down)
	{
		h->next_probe_at = at;
		h->changed = true;
	}
}

/*
 * The receiver asked for its endpoint to be disabled.
 */
void
wh_breaker_disable(int32 endpoint_id, const char *reason)
{
	WhHealth   *h = wh_health_get(endpoint_id, true);

	if (!h->disabled && h->failures == 0)
		wh_nfailing++;
	h->disabled = true;
	h->changed = true;
	if (h->disable_reason == NULL)
		h->disable_reason = MemoryContextStrdup(wh_breaker_cxt, reason);
}

/* A growable set of parallel arrays for the apply statements */
typedef struct WhHealthRows
{
	int			n;
	Datum	   *id;
	Datum	   *failures;
	Datum	   *since;
	bool	   *since_null;
	Datum	   *last_fail;
	bool	   *last_fail_null;
	Datum	   *error;
	bool	   *error_null;
	Datum	   *last_ok;
	bool	   *last_ok_null;
	Datum	   *step;
	Datum	   *next_probe;
	bool	   *next_probe_null;
} WhHealthRows;

static Datum
wh_array(Datum *vals, bool *nulls, int n, Oid type)
{
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = n;
	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(vals, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}

/*
 * Write what changed since the last record: the health rows, the endpoints
 * the breaker trips (logging each once), the endpoints receivers asked to
 * disable, and the backlog of endpoints that recovered.  Runs in the record
 * transaction, under SPI.
 */
void
wh_breaker_apply(void)
{
	HASH_SEQ_STATUS seq;
	WhHealth   *h;
	WhHealthRows r;
	Datum	   *recovered;
	int			nrecovered = 0;
	Datum	   *hold_ids;
	Datum	   *hold_times;
	int			nhold = 0;
	Datum	   *disable_ids;
	Datum	   *disable_reasons;
	int			ndisable = 0;
	long		nentries;
	uint64		i;
	int			rc;

	if (wh_health == NULL)
		return;
	nentries = hash_get_num_entries(wh_health);
	memset(&r, 0, sizeof(r));
	r.id = palloc(sizeof(Datum) * (nentries + 1));
	r.failures = palloc(sizeof(Datum) * (nentries + 1));
	r.since = palloc(sizeof(Datum) * (nentries + 1));
	r.since_null = palloc(sizeof(bool) * (nentries + 1));
	r.last_fail = palloc(sizeof(Datum) * (nentries + 1));
	r.last_fail_null = palloc(sizeof(bool) * (nentries + 1));
	r.error = palloc(sizeof(Datum) * (nentries + 1));
	r.error_null = palloc(sizeof(bool) * (nentries + 1));
	r.last_ok = palloc(sizeof(Datum) * (nentries + 1));
	r.last_ok_null = palloc(sizeof(bool) * (nentries + 1));
	r.step = palloc(sizeof(Datum) * (nentries + 1));
	r.next_probe = palloc(sizeof(Datum) * (nentries + 1));
	r.next_probe_null = palloc(sizeof(bool) * (nentries + 1));
	recovered = palloc(sizeof(Datum) * (nentries + 1));
	hold_ids = palloc(sizeof(Datum) * (nentries * WH_BREAKER_NHOLDS + 1));
	hold_times = palloc(sizeof(Datum) * (nentries * WH_BREAKER_NHOLDS + 1));
	disable_ids = palloc(sizeof(Datum) * (nentries + 1));
	disable_reasons = palloc(sizeof(Datum) * (nentries + 1));

	hash_seq_init(&seq, wh_health);
	while ((h = hash_seq_search(&seq)) != NULL)
	{
		int			k = r.n;

		if (h->disable_reason)
		{
			disable_ids[ndisable] = Int32GetDatum(h->id);
			disable_reasons[ndisable++] =
				CStringGetTextDatum(h->disable_reason);
			pfree(h->disable_reason);
			h->disable_reason = NULL;
		}
		if (!h->changed)
			continue;
		r.id[k] = Int32GetDatum(h->id);
		r.failures[k] = Int32GetDatum(h->failures);
		r.since[k] = TimestampTzGetDatum(h->failing_since);
		r.since_null[k] = (h->failing_since == 0);
		r.last_fail[k] = TimestampTzGetDatum(h->last_failure_at);
		r.last_fail_null[k] = (h->last_failure_at == 0);
		r.error[k] = h->last_error ? CStringGetTextDatum(h->last_error) : 0;
		r.error_null[k] = (h->last_error == NULL);
		r.last_ok[k] = TimestampTzGetDatum(h->last_success_at);
		r.last_ok_null[k] = (h->last_success_at == 0);
		r.step[k] = Int32GetDatum(h->probe_step);
		r.next_probe[k] = TimestampTzGetDatum(h->next_probe_at);
		r.next_probe_null[k] = (h->next_probe_at == 0);
		r.n++;
		if (h->recovered)
		{
			int			j;

			recovered[nrecovered++] = Int32GetDatum(h->id);
			for (j = 0; j < h->nholds; j++)
			{
				hold_ids[nhold] = Int32GetDatum(h->id);
				hold_times[nhold++] = TimestampTzGetDatum(h->holds[j]);
			}
			h->nholds = 0;
			h->hold_until = 0;
		}

		/* these are written now; keep only the counters */
		h->changed = false;
		h->recovered = false;
		h->last_failure_at = 0;
		h->last_success_at = 0;
		if (h->last_error)
			pfree(h->last_error);
		h->last_error = NULL;
	}

	if (r.n > 0)
	{
		Datum		args[8];

		if (wh_health_plan == NULL)
		{
			Oid			types[8] = {INT4ARRAYOID, INT4ARRAYOID,
				TIMESTAMPTZARRAYOID, TIMESTAMPTZARRAYOID, TEXTARRAYOID,
			TIMESTAMPTZARRAYOID, INT4ARRAYOID, TIMESTAMPTZARRAYOID};

			wh_health_plan = wh_prepare(
				"INSERT INTO webhook.endpoint_health AS h "
				"  (endpoint_id, consecutive_failures, failing_since, "
				"   last_failure_at, last_error, last_success_at, "
				"   probe_step, next_probe_at) "
				"SELECT r.* FROM ROWS FROM (pg_catalog.unnest($1), "
				"    pg_catalog.unnest($2), pg_catalog.unnest($3), "
				"    pg_catalog.unnest($4), pg_catalog.unnest($5), "
				"    pg_catalog.unnest($6), pg_catalog.unnest($7), "
				"    pg_catalog.unnest($8)) "
				"  AS r(id, failures, since, last_fail, error, last_ok, "
				"       step, next_probe) "
				"JOIN webhook.endpoint e ON e.id OPERATOR(pg_catalog.=) r.id "
				"ON CONFLICT (endpoint_id) DO UPDATE SET "
				"  consecutive_failures = excluded.consecutive_failures, "
				"  failing_since = excluded.failing_since, "
				"  last_failure_at = coalesce(excluded.last_failure_at, "
				"                             h.last_failure_at), "
				"  last_error = coalesce(excluded.last_error, h.last_error), "
				"  last_success_at = coalesce(excluded.last_success_at, "
				"                             h.last_success_at), "
				"  probe_step = excluded.probe_step, "
				"  next_probe_at = excluded.next_probe_at", 8, types);
		}
		args[0] = wh_array(r.id, NULL, r.n, INT4OID);
		args[1] = wh_array(r.failures, NULL, r.n, INT4OID);
		args[2] = wh_array(r.since, r.since_null, r.n, TIMESTAMPTZOID);
		args[3] = wh_array(r.last_fail, r.last_fail_null, r.n, TIMESTAMPTZOID);
		args[4] = wh_array(r.error, r.error_null, r.n, TEXTOID);
		args[5] = wh_array(r.last_ok, r.last_ok_null, r.n, TIMESTAMPTZOID);
		args[6] = wh_array(r.step, NULL, r.n, INT4OID);
		args[7] = wh_array(r.next_probe, r.next_probe_null, r.n,
						   TIMESTAMPTZOID);
		rc = SPI_execute_plan(wh_health_plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "recording endpoint health failed: %s",
				 SPI_result_code_string(rc));

		/* trip the breakers that are past their threshold or window */
		if (wh_trip_plan == NULL)
		{
			Oid			types[1] = {INT4ARRAYOID};

			wh_trip_plan = wh_prepare(
				"UPDATE webhook.endpoint e SET enabled = false, "
				"  disabled_at = pg_catalog.now(), "
				"  disabled_reason = CASE "
				"    WHEN h.consecutive_failures "
				"         OPERATOR(pg_catalog.>=) e.failure_threshold "
				"    THEN pg_catalog.format('%s consecutive attempts failed', "
				"                           h.consecutive_failures) "
				"    ELSE pg_catalog.format('every attempt failed for %s', "
				"                           e.failure_window) END "
				"FROM webhook.endpoint_health h "
				"WHERE h.endpoint_id OPERATOR(pg_catalog.=) e.id "
				"  AND e.id OPERATOR(pg_catalog.=) ANY ($1) "
				"  AND e.enabled "
				"  AND h.consecutive_failures OPERATOR(pg_catalog.>) 0 "
				"  AND (h.consecutive_failures "
				"         OPERATOR(pg_catalog.>=) e.failure_threshold "
				"       OR (h.last_failure_at OPERATOR(pg_catalog.-) "
				"           h.failing_since) "
				"          OPERATOR(pg_catalog.>=) e.failure_window) "
				"RETURNING e.id, e.name, e.disabled_reason, "
				"          h.last_error", 1, types);
		}
		rc = SPI_execute_plan(wh_trip_plan, args, NULL, false, 0);
		if (rc != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "disabling failing endpoints failed: %s",
				 SPI_result_code_string(rc));
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			bool		isnull;

			h = wh_health_get(DatumGetInt32(SPI_getbinval(tup, desc, 1,
														  &isnull)), true);
			h->disabled = true;
			ereport(WARNING,
					(errmsg("webhook endpoint \"%s\" disabled: %s",
							SPI_getvalue(tup, desc, 2),
							SPI_getvalue(tup, desc, 3)),
					 errdetail("The last error was: %s. Its pending events are kept.",
							   SPI_getvalue(tup, desc, 4)),
					 errhint("Re-enable it with webhook.enable_endpoint() once the receiver works.")));
		}
	}

	if (ndisable > 0)
	{
		Datum		args[2];

		if (wh_disable_plan == NULL)
		{
			Oid			types[2] = {INT4ARRAYOID, TEXTARRAYOID};

			wh_disable_plan = wh_prepare(
				"UPDATE webhook.endpoint e SET enabled = false, "
				"  disabled_at = pg_catalog.now(), disabled_reason = d.reason "
				"FROM ROWS FROM (pg_catalog.unnest($1), "
				"                pg_catalog.unnest($2)) AS d(id, reason) "
				"WHERE e.id OPERATOR(pg_catalog.=) d.id AND e.enabled "
				"RETURNING e.name, e.disabled_reason", 2, types);
		}
		args[0] = wh_array(disable_ids, NULL, ndisable, INT4OID);
		args[1] = wh_array(disable_reasons, NULL, ndisable, TEXTOID);
		rc = SPI_execute_plan(wh_disable_plan, args, NULL, false, 0);
		if (rc != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "disabling endpoints failed: %s",
				 SPI_result_code_string(rc));
		for (i = 0; i < SPI_processed; i++)
			ereport(WARNING,
					(errmsg("webhook endpoint \"%s\" disabled: %s",
							SPI_getvalue(SPI_tuptable->vals[i],
										 SPI_tuptable->tupdesc, 1),
							SPI_getvalue(SPI_tuptable->vals[i],
										 SPI_tuptable->tupdesc, 2)),
					 errdetail("Its pending events are kept."),
					 errhint("Re-enable it with webhook.enable_endpoint().")));
	}

	/*
	 * A recovered endpoint's held-back events are due now; those waiting
	 * for a retry after a failure of their own keep their time.  An event
	 * that has failed (attempts > retry_from) may have been held back too,
	 * once its retry fell due while the endpoint was failing: holding it
	 * back replaced its retry time by one of the breaker's hold times, so
	 * those times (not the attempt counts) tell that it was held back.
	 * Without this, such events waited out the whole hold (30 s after a
	 * restart) although the endpoint works again.  An event another
	 * session has locked is skipped, not waited for: waiting could make
	 * the record transaction, and with it every outcome, fail on one
	 * user's lock.  It is due at its hold time, as if held back once more.
	 */
	if (nrecovered > 0)
	{
		Datum		args[3];

		if (wh_release_plan == NULL)
		{
			Oid			types[3] = {INT4ARRAYOID, INT4ARRAYOID,
			TIMESTAMPTZARRAYOID};

			wh_release_plan = wh_prepare(
				"UPDATE webhook.event ev "
				"SET next_attempt_at = pg_catalog.clock_timestamp() "
				"FROM (SELECT h.id FROM webhook.event h "
				"      WHERE h.state OPERATOR(pg_catalog.=) 'pending' "
				"        AND h.endpoint_id OPERATOR(pg_catalog.=) ANY ($1) "
				"        AND h.next_attempt_at OPERATOR(pg_catalog.>) "
				"            pg_catalog.now() "
				"        AND h.next_attempt_at OPERATOR(pg_catalog.<) "
				"            'infinity' "
				"        AND (h.attempts OPERATOR(pg_catalog.=) h.retry_from "
				"             OR (h.endpoint_id, h.next_attempt_at) "
				"                OPERATOR(pg_catalog.=) ANY "
				"                (SELECT * FROM ROWS FROM "
				"                   (pg_catalog.unnest($2), "
				"                    pg_catalog.unnest($3)))) "
				"      FOR NO KEY UPDATE OF h SKIP LOCKED) r "
				"WHERE ev.id OPERATOR(pg_catalog.=) r.id",
				3, types);
		}
		args[0] = wh_array(recovered, NULL, nrecovered, INT4OID);
		args[1] = wh_array(hold_ids, NULL, nhold, INT4OID);
		args[2] = wh_array(hold_times, NULL, nhold, TIMESTAMPTZOID);
		rc = SPI_execute_plan(wh_release_plan, args, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "releasing held-back events failed: %s",
				 SPI_result_code_string(rc));
		/* claim them soon */
		SetLatch(MyLatch);
	}
}
