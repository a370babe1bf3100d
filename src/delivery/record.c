/*-------------------------------------------------------------------------
 *
 * record.c
 *	  Recording what happened: attempts, events' new states, endpoint
 *	  health.
 *
 * A finished request becomes an outcome, kept in memory until it is
 * recorded; the breaker hears of it at once (wh_note_health).  Outcomes are
 * written in batches, since each record transaction has a fixed cost: one
 * attempt row each, and each event moved to delivered, dead, or pending
 * with its next attempt time; endpoints that answered 410 Gone are
 * disabled.  The events are then released, whether or not the record
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
#include "utils/memutils.h"

#include "common/retry.h"
#include "delivery/breaker.h"
#include "delivery/endpoints.h"
#include "delivery/order.h"
#include "delivery/pending.h"
#include "delivery/record.h"
#include "delivery/spi.h"

/* Upper bound on a Retry-After the worker honours */
#define WH_MAX_RETRY_AFTER_MS	(3600 * 1000L)
/* Outcomes are recorded in batches of up to this many ... */
#define WH_RECORD_BATCH			256
/* ... or once the oldest has waited this long */
#define WH_RECORD_DELAY_MS		10

static SPIPlanPtr wh_record_plan;
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

	if (w->outcomes == NIL)
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
 * Write every collected outcome in one transaction: the attempt rows, the
 * events' new states, and endpoints that answered 410 Gone.
 */
static void
wh_record(WhWorker *w)
{
	int			n = list_length(w->outcomes);
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
	Datum	   *gone;
	int			ngone = 0;
	int			dims[1];
	int			lbs[1] = {1};
	Datum		args[9];
	ListCell   *lc;
	int			i = 0;
	TimestampTz now = GetCurrentTimestamp();

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
	gone = palloc(sizeof(Datum) * n);

	foreach(lc, w->outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);
		WhEvent    *ev = o->ev;
		WhEndpoint *ep = wh_endpoint_get(w, ev->endpoint_id);
		WhOutcome	outcome = wh_classify(o->status);
		const char *st = "pending";
		int64		delay = 0;

		ids[i] = Int64GetDatum(ev->id);
		attempt[i] = Int16GetDatum(ev->attempts + 1);
		started[i] = TimestampTzGetDatum(o->started_at);
		dur[i] = Int64GetDatum(o->duration_us);
		status[i] = Int16GetDatum((int16) o->status);
		status_null[i] = (o->status == 0);
		error[i] = o->error ? CStringGetTextDatum(o->error) : (Datum) 0;
		error_null[i] = (o->error == NULL);
		/* keep only a prefix that is valid text in this database */
		if (o->response)
		{
			int			len = strlen(o->response);

			len = pg_encoding_verifymbstr(GetDatabaseEncoding(),
										  o->response, len);
			o->response[len] = '\0';
		}
		response[i] = o->response ? CStringGetTextDatum(o->response) : (Datum) 0;
		response_null[i] = (o->response == NULL);

		if (outcome == WH_OUTCOME_DELIVERED)
			st = "delivered";
		else if (outcome == WH_OUTCOME_GONE)
		{
			/* the endpoint is disabled; the event waits for it */
			if (ep && ep->enabled)
			{
				/*
				 * Stop sending to it now; and fetch its row again at the
				 * next claim, so memory follows the table even if this
				 * record transaction fails.
				 */
				ep->enabled = false;
				ep->xmin = InvalidTransactionId;
				gone[ngone++] = Int32GetDatum(ev->endpoint_id);
			}
		}
		else if (o->delivery == WH_DELIVERY_DISABLE)
		{
			/* pending: the endpoint is disabled below, the event waits */
		}
		else if (o->delivery == WH_DELIVERY_ABORT)
			st = "dead";		/* the receiver wants no more tries */
		else if (ep == NULL || !ep->valid)
		{
			st = "dead";		/* its endpoint row is gone */
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
					wh_breaker_retry_after(ev->endpoint_id,
										   now + delay * 1000);
				}
			}
		}
		if (!o->noted)
			wh_note_health(ev, ep, o, outcome);
		if (strcmp(st, "pending") != 0)
			wh_order_finished(ev->id);
		state[i] = CStringGetTextDatum(st);
		next_at[i] = TimestampTzGetDatum(now + delay * 1000);
		next_null[i] = strcmp(st, "pending") != 0;
		/* wake up in time for the retry */
		if (!next_null[i] && outcome == WH_OUTCOME_RETRY &&
			now + delay * 1000 < w->next_claim_at)
			w->next_claim_at = now + delay * 1000;
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

	wh_xact_begin("recording attempts");
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

/*
 * Record the collected outcomes and release their events.  If recording
 * fails the events are released all the same: still pending in the table,
 * they will be claimed and sent again.
 */
void
wh_flush_outcomes(WhWorker *w)
{
	ListCell   *lc;

	if (w->outcomes == NIL)
		return;
	if (!wh_guarded(wh_record, w))
		w->next_claim_at = GetCurrentTimestamp() + WH_ERROR_PAUSE_MS * 1000;
	foreach(lc, w->outcomes)
		wh_release(w, ((WhOutcomeRec *) lfirst(lc))->ev);
	w->outcomes = NIL;
	MemoryContextReset(w->outcome_cxt);

	/* an endpoint held back at the last claim may have room again */
	if (w->claim_skipped_busy)
		w->next_claim_at = Min(w->next_claim_at,
							   w->last_claim_at + WH_CLAIM_INTERVAL_MS * 1000);
}

/*
 * When to record: outcomes are written in batches, since each record
 * transaction has a fixed cost.  A batch is written once it is large, once
 * its oldest outcome has waited WH_RECORD_DELAY_MS, or as soon as the
 * worker has nothing else to do.
 */
TimestampTz
wh_record_due(WhWorker *w)
{
	if (w->outcomes == NIL)
		return DT_NOEND;
	if (list_length(w->outcomes) >= WH_RECORD_BATCH ||
		(w->ninflight == 0 && w->nqueued == 0))
		return 0;
	return w->oldest_outcome + WH_RECORD_DELAY_MS * 1000;
}
