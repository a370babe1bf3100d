/*-------------------------------------------------------------------------
 *
 * record.c
 *	  Recording what happened: attempts, events' new states, endpoint
 *	  health.
 *
 * A finished request becomes an outcome, kept in memory until it is
 * recorded; the breaker hears of it at once (wh_note_health).  Outcomes are
 * written in batches, since each record transaction has a fixed cost: one
 * narrow row each in the attempt history's current segment, and each
 * event removed from the outbox when delivered (or, while
 * webhook.payload_retention keeps delivered events, moved to delivered),
 * moved to dead, or left pending with its next attempt time; endpoints
 * that answered 410 Gone are disabled.  An event that a user's session keeps locked does not hold up
 * the others: the outcomes are written in a subtransaction, and if one of
 * their rows cannot be locked, those that can are written and the others
 * kept in memory, their events still held, for a later record.  The
 * events recorded are then released, whether or not the record
 * transaction succeeded: an event not recorded is still pending in the
 * table, and is claimed and sent again.
 *
 * IDENTIFICATION
 *	  src/delivery/record.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "catalog/pg_type.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "common/retry.h"
#include "delivery/breaker.h"
#include "delivery/drain.h"
#include "delivery/endpoints.h"
#include "delivery/order.h"
#include "delivery/pending.h"
#include "delivery/record.h"
#include "delivery/retention.h"
#include "delivery/spi.h"
#include "delivery/stats_feed.h"
#include "guc.h"

/* Upper bound on a Retry-After the worker honours */
#define WH_MAX_RETRY_AFTER_MS	(3600 * 1000L)
/* Outcomes are recorded in batches of up to this many ... */
#define WH_RECORD_BATCH			256
/* ... or once the oldest has waited this long */
#define WH_RECORD_DELAY_MS		10
/* Outcomes whose event a user's session locks are tried this often */
#define WH_RECORD_RETRY_MS		100

static SPIPlanPtr wh_record_plan[WH_HISTORY_SEGMENTS];
static SPIPlanPtr wh_gone_plan;

/*
 * Record an attempt's outcome for later.
 */
WhOutcomeRec *
wh_add_outcome(WhWorker *w, WhEvent *ev, TimestampTz started_at,
			   int64 duration_us, int status, const char *error,
			   const char *response, const char *retry_after)
{
	MemoryContext old = MemoryContextSwitchTo(w->outcome_cxt);
	WhOutcomeRec *o = palloc0(sizeof(WhOutcomeRec));

	if (list_length(w->outcomes) == w->nkept)
		w->oldest_outcome = GetCurrentTimestamp();

	o->ev = ev;
	o->started_at = started_at;
	o->duration_us = duration_us;
	o->status = status;
	o->error = error ? pstrdup(error) : NULL;
	o->response = response ? pstrdup(response) : NULL;
	o->retry_after = retry_after ? pstrdup(retry_after) : NULL;
	w->outcomes = lappend(w->outcomes, o);
	MemoryContextSwitchTo(old);
	return o;
}

/*
 * Forget an event the worker held.
 */
void
wh_release(WhWorker *w, WhEvent *ev)
{
	WhEndpoint *ep = wh_endpoint_get(w, ev->endpoint_id);

	if (ep && ev->counted)
		ep->held--;
	w->nheld--;
	pfree(ev->body);
	if (ev->body_error)
		pfree(ev->body_error);
	if (ev->tracestate)
		pfree(ev->tracestate);
	pfree(ev);
}

/*
 * Tell the breaker (breaker.c) what an outcome says about its endpoint,
 * and pass on a receiver's request to disable it.
 */
void
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
 * Decide what one outcome makes of its event: delivered, dead, or pending
 * with the time of its next attempt.  Decided once, when the outcome is
 * first recorded; an outcome kept for a later record (its event was
 * locked) keeps its decision, so the breaker, the endpoint's state and the
 * wake-up time learn of it only once.  Endpoints that answered 410 Gone
 * are added to gone.
 */
static void
wh_outcome_decide(WhWorker *w, WhOutcomeRec *o, TimestampTz now, Datum *gone,
				  int *ngone)
{
	WhEvent    *ev = o->ev;
	WhEndpoint *ep = wh_endpoint_get(w, ev->endpoint_id);
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
		/* a batch's members that retry, retry together */
		if (delay >= 0 && o->batch_delay)
		{
			if (*o->batch_delay < 0)
				*o->batch_delay = delay;
			else
				delay = *o->batch_delay;
		}
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
		o->next_at < w->next_claim_at)
		w->next_claim_at = o->next_at;
}

/*
 * Write the attempt rows and the events' new states for these outcomes,
 * in one statement.  A delivered event's row is deleted rather than
 * rewritten (unless webhook.payload_retention keeps it), so a delivery
 * writes no copy of the payload; the history row carries what the views
 * still show of it.  A success keeps no response body.
 */
static void
wh_record_rows(WhWorker *w, List *outcomes)
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
	Datum		args[10];
	ListCell   *lc;
	int			i = 0;
	int			seg;

	/* the next event of each finished one's key goes next */
	foreach(lc, outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (strcmp(o->state, "pending") != 0)
			wh_order_finished(o->ev->id);
	}
	wh_order_keys();
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
		/* a success keeps no response body: history stays narrow */
		response_null[i] = (o->response == NULL ||
							strcmp(o->state, "delivered") == 0);
		response[i] = response_null[i] ? (Datum) 0 :
			CStringGetTextDatum(o->response);
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

	args[9] = BoolGetDatum(wh_payload_retention > 0);

	seg = wh_history_segment(w);
	if (wh_record_plan[seg] == NULL)
	{
		Oid			types[10] = {INT8ARRAYOID, INT2ARRAYOID,
			TIMESTAMPTZARRAYOID, INT8ARRAYOID, INT2ARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID, BOOLOID};
		char	   *sql = psprintf(
								   "WITH r AS ("
								   "  SELECT * FROM ROWS FROM (pg_catalog.unnest($1), "
								   "      pg_catalog.unnest($2), pg_catalog.unnest($3), "
								   "      pg_catalog.unnest($4), pg_catalog.unnest($5), "
								   "      pg_catalog.unnest($6), pg_catalog.unnest($7), "
								   "      pg_catalog.unnest($8), pg_catalog.unnest($9)) "
								   "    AS r(id, attempt, started_at, duration_us, status, error, "
								   "         response, state, next_at)), "
								   "u AS ("
								   "  UPDATE webhook.event ev SET "
								   "    attempts = r.attempt, "
								   "    state = r.state::webhook.event_state, "
								   "    next_attempt_at = coalesce(r.next_at, ev.next_attempt_at), "
								   "    finished_at = CASE "
								   "      WHEN r.state OPERATOR(pg_catalog.<>) 'pending' "
								   "      THEN pg_catalog.clock_timestamp() END "
								   "  FROM r WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
								   "    AND ev.id OPERATOR(pg_catalog.=) r.id "
								   "    AND " WH_STILL_PENDING("ev") " "
								   "    AND (r.state OPERATOR(pg_catalog.<>) 'delivered' OR $10) "
								   "  RETURNING ev.id), "
								   "d AS ("
								   "  DELETE FROM webhook.event ev USING r "
								   "  WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1) "
								   "    AND ev.id OPERATOR(pg_catalog.=) r.id "
								   "    AND " WH_STILL_PENDING("ev") " "
								   "    AND r.state OPERATOR(pg_catalog.=) 'delivered' AND NOT $10 "
								   "  RETURNING ev.id), "
								   "m AS (SELECT u.id FROM u UNION ALL SELECT d.id FROM d) "
								   "INSERT INTO webhook.attempt_%d "
								   "  (event_id, created_at, started_at, msg_id, endpoint_id, "
								   "   duration_us, attempt, status, final, error, response) "
								   "SELECT r.id, ev.created_at, r.started_at, ev.msg_id, "
								   "       ev.endpoint_id, "
								   "       LEAST(r.duration_us, 2147483647)::pg_catalog.int4, "
								   "       r.attempt, r.status, "
								   "       r.state OPERATOR(pg_catalog.<>) 'pending' "
								   "         AND m.id IS NOT NULL, "
								   "       r.error, r.response "
								   "FROM r JOIN webhook.event ev "
								   "  ON ev.id OPERATOR(pg_catalog.=) r.id "
								   "LEFT JOIN m ON m.id OPERATOR(pg_catalog.=) r.id "
								   "WHERE ev.id OPERATOR(pg_catalog.=) ANY ($1)",
								   seg);

		wh_record_plan[seg] = wh_prepare(sql, 10, types);
		pfree(sql);
	}

	/*
	 * The outcomes are joined to their events by id three times, and the
	 * events are found by the id list through the primary key.  Nested
	 * loops, the worker's only join elsewhere, would scan the outcomes once
	 * per event; for this statement alone, hash joins take their place.
	 * Its plan is made once, under these settings.
	 */
	SetConfigOption("enable_hashjoin", "on", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_nestloop", "off", PGC_USERSET, PGC_S_OVERRIDE);
	PG_TRY();
	{
		wh_run(wh_record_plan[seg], args, false, 0, SPI_OK_INSERT,
			   "recording attempts");
	}
	PG_FINALLY();
	{
		SetConfigOption("enable_nestloop", "on", PGC_USERSET, PGC_S_OVERRIDE);
		SetConfigOption("enable_hashjoin", "off", PGC_USERSET, PGC_S_OVERRIDE);
	}
	PG_END_TRY();
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
wh_record_try(WhWorker *w, List *outcomes)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		wh_record_rows(w, outcomes);
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
wh_record(WhWorker *w)
{
	int			n = list_length(w->outcomes);
	Datum	   *gone;
	int			ngone = 0;
	List	   *written;
	ListCell   *lc;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	gone = palloc(sizeof(Datum) * n);
	foreach(lc, w->outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (!o->decided)
			wh_outcome_decide(w, o, now, gone, &ngone);
		o->kept = false;
	}

	wh_xact_begin("recording attempts");
	written = w->outcomes;
	if (w->nkept > 0 || !wh_record_try(w, w->outcomes))
	{
		written = wh_record_lockable(w->outcomes);
		wh_record_rows(w, written);
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
	o->batch_delay = NULL;		/* decided already; it lived with the old */
	return o;
}

/*
 * Record the collected outcomes and release their events.  If recording
 * fails the events are released all the same: still pending in the table,
 * they will be claimed and sent again.  Outcomes whose event another
 * session had locked are kept, their events still held, and written by a
 * later record.
 */
void
wh_flush_outcomes(WhWorker *w)
{
	ListCell   *lc;
	List	   *kept = NIL;

	if (w->outcomes == NIL)
		return;
	if (!wh_guarded(wh_record, w))
	{
		w->next_claim_at = GetCurrentTimestamp() + WH_ERROR_PAUSE_MS * 1000;
		foreach(lc, w->outcomes)
			((WhOutcomeRec *) lfirst(lc))->kept = false;
	}
	else
	{
		wh_drain_note_recorded(w->outcomes);
		wh_stats_feed_outcomes(w);
	}
	foreach(lc, w->outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (o->kept)
			kept = lappend(kept, o);
		else
			wh_release(w, o->ev);
	}

	w->nkept = list_length(kept);
	if (w->nkept == 0)
	{
		w->outcomes = NIL;
		MemoryContextReset(w->outcome_cxt);
	}
	else
	{
		/* carry the kept outcomes over into a fresh context */
		MemoryContext old_cxt = w->outcome_cxt;
		MemoryContext cxt;

		w->outcome_cxt = AllocSetContextCreate(w->worker_cxt,
											   "webhook outcomes",
											   ALLOCSET_DEFAULT_SIZES);
		cxt = MemoryContextSwitchTo(w->outcome_cxt);
		w->outcomes = NIL;
		foreach(lc, kept)
			w->outcomes = lappend(w->outcomes,
								  wh_outcome_copy(lfirst(lc)));
		MemoryContextSwitchTo(cxt);
		MemoryContextDelete(old_cxt);
		w->kept_retry_at = GetCurrentTimestamp() +
			WH_RECORD_RETRY_MS * 1000;
	}

	/* an endpoint held back at the last claim may have room again */
	if (w->claim_skipped_busy)
		w->next_claim_at = Min(w->next_claim_at,
							   w->last_claim_at + WH_CLAIM_INTERVAL_MS * 1000);
}

/*
 * When to record: outcomes are written in batches, since each record
 * transaction has a fixed cost.  A batch is written once it is large, once
 * its oldest outcome has waited WH_RECORD_DELAY_MS, or as soon as the
 * worker has nothing else to do.  Outcomes kept because their event was
 * locked are tried again with the next batch, or every WH_RECORD_RETRY_MS.
 */
TimestampTz
wh_record_due(WhWorker *w)
{
	int			n = list_length(w->outcomes);

	if (n == 0)
		return DT_NOEND;
	if (n == w->nkept)
		return w->kept_retry_at;
	if (n >= WH_RECORD_BATCH ||
		(w->ninflight == 0 && w->nqueued == 0))
		return 0;
	return w->oldest_outcome + WH_RECORD_DELAY_MS * 1000;
}
