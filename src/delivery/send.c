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
 * into an outcome for record.c.
 *
 * IDENTIFICATION
 *	  src/delivery/send.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <time.h>

#include "delivery/breaker.h"
#include "delivery/endpoints.h"
#include "delivery/http.h"
#include "delivery/ratelimit.h"
#include "delivery/record.h"
#include "delivery/send.h"
#include "guc.h"

/*
 * Sign and start one request.  Errors (from curl, say) are caught and
 * recorded as this event's failed attempt.
 */
static void
wh_send(WhWorker *w, WhEvent *ev, WhEndpoint *ep)
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
		wh_add_outcome(w, ev, now, 0, 0, edata->message, NULL, NULL);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * Start as many queued events as the limits allow.  Events of an endpoint
 * that cannot be used fail at once; events of one that is at its limit
 * wait without holding up the others.
 */
void
wh_dispatch(WhWorker *w)
{
	dlist_mutable_iter it;

	wh_rate_dispatch_begin();
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
			!wh_rate_take(ev->endpoint_id, GetCurrentTimestamp()))
		{
			/* it waits in the queue: a probe allowed here is not one yet */
			if (probe)
				wh_breaker_probe_not_sent(ev->endpoint_id);
			continue;
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
		WhOutcomeRec *o;

		dlist_delete(&ev->node);
		w->ninflight--;
		if (ep)
			ep->in_flight--;
		o = wh_add_outcome(w, ev, res.started_at, res.duration_us,
						   (int) res.status, res.error, res.response,
						   res.retry_after);
		/* the breaker learns of a failure before the next dispatch */
		o->delivery = res.delivery;
		wh_note_health(ev, ep, o, wh_classify(o->status));
	}
}
