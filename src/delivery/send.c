/*-------------------------------------------------------------------------
 *
 * send.c
 *	  Sending: signing queued events and starting their requests, and
 *	  collecting the responses.
 *
 * Outside any transaction, wh_dispatch() signs each queued event and hands
 * it to the curl multi engine (http.c), up to webhook.max_in_flight
 * requests at once and an endpoint's own limit per endpoint, as the breaker
 * and the rate limits allow; an event that cannot be sent (its endpoint
 * unusable, its body refused) becomes a failed outcome at once.
 * wh_collect() takes the finished requests back from curl and turns each
 * into an outcome for record.c.  An endpoint that takes batches gets its
 * queued events as batches (batch.c), one request each, whose answer
 * becomes every member's outcome.
 *
 * An event captured with a trace context (webhook.traceparent) is sent
 * with a "traceparent" header: the same trace id and flags, and a span id
 * drawn for each attempt, so that every attempt is a child span of the
 * capturing transaction's; its tracestate, if it has one, goes along
 * unchanged.  Neither header is signed: Standard Webhooks signs the id,
 * the timestamp and the body only.
 *
 * IDENTIFICATION
 *	  src/delivery/send.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "delivery/batch.h"
#include "delivery/breaker.h"
#include "delivery/endpoints.h"
#include "delivery/http.h"
#include "delivery/ratelimit.h"
#include "delivery/record.h"
#include "delivery/send.h"
#include "delivery/stats_feed.h"
#include "guc.h"

/*
 * Sign and start one request: an event's, or a batch's under its first
 * member (ev->batch).  Errors (from curl, say) are caught and recorded as
 * the failed attempt of the event, or of every member of the batch.
 */
static void
wh_send(WhWorker *w, WhEvent *ev, WhEndpoint *ep)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now = GetCurrentTimestamp();
	WhBatch    *batch = ev->batch;
	const char *msg_id = batch ? batch->id : ev->msg_id;
	const char *body = batch ? batch->body : ev->body;
	size_t		body_len = batch ? batch->body_len : ev->body_len;
	const WhTraceContext *trace = batch ? (batch->traced ? &batch->trace : NULL) :
		(ev->traced ? &ev->trace : NULL);
	const char *tracestate = trace == NULL ? NULL :
		batch ? batch->tracestate : ev->tracestate;

	PG_TRY();
	{
		char		sig[WH_SIGNATURE_MAX_LEN + 1];
		char		sig2[WH_SIGNATURE_MAX_LEN + 1];
		const char **headers;
		WhHttpRequest req;
		int64		ts = (int64) time(NULL);
		int			n = 0;
		int			i;

		if (ev->body_error)
			ereport(ERROR,
					(errcode(ERRCODE_CHARACTER_NOT_IN_REPERTOIRE),
					 errmsg("%s", ev->body_error)));
		if (!wh_sign_key(&ep->key, msg_id, ts, body, body_len, sig))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not sign event")));

		headers = palloc(sizeof(char *) * (ep->nheaders + 8));
		headers[n++] = "Content-Type: application/json";
		headers[n++] = "User-Agent: webhook/" WEBHOOK_VERSION;
		headers[n++] = psprintf("webhook-id: %s", msg_id);
		headers[n++] = psprintf("webhook-timestamp: " INT64_FORMAT, ts);
		if (ep->prevkey.scheme != WH_SCHEME_NONE && ep->prev_expires > now &&
			wh_sign_key(&ep->prevkey, msg_id, ts, body, body_len, sig2))
			headers[n++] = psprintf("webhook-signature: %s %s", sig, sig2);
		else
			headers[n++] = psprintf("webhook-signature: %s", sig);
		if (trace)
		{
			uint8		span[8];
			char		tp[WH_TRACEPARENT_LEN + 1];

			do
			{
				if (!pg_strong_random(span, sizeof(span)))
					ereport(ERROR,
							(errcode(ERRCODE_INTERNAL_ERROR),
							 errmsg("could not generate a random span id")));
			} while (!wh_traceparent_child(trace, span, tp));
			headers[n++] = psprintf("traceparent: %s", tp);
			if (tracestate)
				headers[n++] = psprintf("tracestate: %s", tracestate);
		}
		for (i = 0; i < ep->nheaders; i++)
		{
			/* the event's trace replaces an endpoint's fixed one */
			if (trace &&
				(pg_strncasecmp(ep->headers[i], "traceparent:", 12) == 0 ||
				 pg_strncasecmp(ep->headers[i], "tracestate:", 11) == 0))
				continue;
			headers[n++] = ep->headers[i];
		}

		memset(&req, 0, sizeof(req));
		req.arg = ev;
		req.url = ep->url;
		req.body = body;
		req.body_len = body_len;
		req.headers = headers;
		req.nheaders = n;
		req.timeout_ms = ep->timeout_ms > 0 ? ep->timeout_ms : 15000;
		wh_transport_apply(&req, &ep->transport);
		wh_http_start(&req);

		if (batch)
		{
			for (i = 0; i < batch->nmembers; i++)
				dlist_push_tail(&w->inflight, &batch->members[i]->node);
		}
		else
			dlist_push_tail(&w->inflight, &ev->node);
		w->ninflight++;
		ep->in_flight++;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		if (batch)
		{
			int			i;

			for (i = 0; i < batch->nmembers; i++)
				wh_add_outcome(w, batch->members[i], now, 0, 0,
							   edata->message, NULL, NULL);
			wh_batch_free(batch);
		}
		else
			wh_add_outcome(w, ev, now, 0, 0, edata->message, NULL, NULL);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * Start as many queued events as the limits allow.  Events of an endpoint
 * that cannot be used fail at once; events of one that is at its limit
 * wait without holding up the others.  An endpoint that takes batches
 * gets the next batch of its queued events; one ordered as a whole
 * ('endpoint') gets it only once its previous request is answered.
 */
void
wh_dispatch(WhWorker *w)
{
	dlist_mutable_iter it;

	wh_rate_dispatch_begin();
restart:
	dlist_foreach_modify(it, &w->queue)
	{
		WhEvent    *ev = dlist_container(WhEvent, node, it.cur);
		WhEndpoint *ep;
		bool		probe = false;

		if (w->ninflight >= wh_max_in_flight)
			break;
		ep = wh_endpoint_get(w, ev->endpoint_id);
		if (ep == NULL || !ep->valid)
		{
			dlist_delete(&ev->node);
			w->nqueued--;
			wh_add_outcome(w, ev, GetCurrentTimestamp(), 0, 0,
						   "endpoint does not exist", NULL, NULL);
			continue;
		}
		if (!ep->enabled ||
			!wh_breaker_may_send(ev->endpoint_id, GetCurrentTimestamp(),
								 &probe))
		{
			/* disabled or failing since the claim: leave it pending */
			dlist_delete(&ev->node);
			w->nqueued--;
			wh_release(w, ev);
			continue;
		}
		if (ep->error)
		{
			dlist_delete(&ev->node);
			w->nqueued--;
			wh_add_outcome(w, ev, GetCurrentTimestamp(), 0, 0, ep->error,
						   NULL, NULL);
			continue;
		}
		if (ep->in_flight >= ep->max_in_flight ||
			(ep->batch_max_events > 0 && ep->ordering == 'e' &&
			 ep->in_flight > 0) ||
			!wh_rate_take(ev->endpoint_id, GetCurrentTimestamp()))
		{
			/* it waits in the queue: a probe allowed here is not one yet */
			if (probe)
				wh_breaker_probe_not_sent(ev->endpoint_id);
			continue;
		}
		if (ep->batch_max_events > 0 && ev->body_error == NULL)
		{
			/* the batch takes other queued events: scan the queue again */
			WhBatch    *batch = wh_batch_gather(w, ep);

			wh_send(w, batch->members[0], ep);
			goto restart;
		}
		dlist_delete(&ev->node);
		w->nqueued--;
		wh_send(w, ev, ep);
	}
}

/*
 * Collect finished requests from curl.
 */
void
wh_collect(WhWorker *w)
{
	WhHttpResult res;

	while (wh_http_next_result(&res))
	{
		WhEvent    *ev = (WhEvent *) res.arg;
		WhEndpoint *ep = wh_endpoint_get(w, ev->endpoint_id);
		WhBatch    *batch = ev->batch;
		WhOutcomeRec *o;
		WhOutcome	outcome = wh_classify((int) res.status);

		w->ninflight--;
		if (ep)
			ep->in_flight--;
		wh_stats_feed_sent(ev->endpoint_id, &res,
						   batch ? batch->body_len : ev->body_len);
		if (batch == NULL)
		{
			dlist_delete(&ev->node);
			o = wh_add_outcome(w, ev, res.started_at, res.duration_us,
							   (int) res.status, res.error, res.response,
							   res.retry_after);
			/* the breaker learns of a failure before the next dispatch */
			o->delivery = res.delivery;
			wh_stats_feed_result(o, &res);
			wh_note_health(ev, ep, o, outcome);
			continue;
		}

		/*
		 * A batch: every member gets the request's outcome, and one retry
		 * time; the breaker sees one request.
		 */
		{
			int64	   *delay = MemoryContextAlloc(w->outcome_cxt,
												   sizeof(int64));
			int			i;

			*delay = -1;
			for (i = 0; i < batch->nmembers; i++)
			{
				WhEvent    *m = batch->members[i];

				dlist_delete(&m->node);
				o = wh_add_outcome(w, m, res.started_at, res.duration_us,
								   (int) res.status, res.error, res.response,
								   res.retry_after);
				o->delivery = res.delivery;
				wh_stats_feed_result(o, &res);
				o->batch_delay = delay;
				if (i == 0)
					wh_note_health(m, ep, o, outcome);
				else
					o->noted = true;
			}
			wh_batch_free(batch);
		}

		/*
		 * An endpoint ordered as a whole must not receive the events queued
		 * behind a batch that failed: they go back to the table, and follow
		 * its retry.
		 */
		if (ep && ep->ordering == 'e' && outcome != WH_OUTCOME_DELIVERED)
		{
			dlist_mutable_iter it;

			dlist_foreach_modify(it, &w->queue)
			{
				WhEvent    *q = dlist_container(WhEvent, node, it.cur);

				if (q->endpoint_id != ep->id)
					continue;
				dlist_delete(&q->node);
				w->nqueued--;
				wh_release(w, q);
			}
		}
	}
}
