/*-------------------------------------------------------------------------
 *
 * stats_feed.c
 *	  The delivery worker's side of the statistics kept in shared memory
 *	  (observe/stats.c).
 *
 * Counters are summed per endpoint in the worker's memory and added to
 * shared memory once per batch of recorded outcomes, never per attempt:
 *	- each recorded attempt in its class (by HTTP status when a response
 *	  came; else refused by the network guard, timed out, could not
 *	  connect, or other), in the attempt-duration histogram, and as
 *	  delivered, dead, or retried (failed, its event still pending); a
 *	  delivery adds its latency from capture (the event's created_at) to
 *	  the end of the successful attempt;
 *	- the bytes of each request body, when its request finishes, unless it
 *	  never connected (refused, unresolved, no one listening).
 * Only outcomes that were written to the history are counted, so the
 * counters agree with webhook.attempts; an outcome kept for a later record
 * (its event was locked) is counted when it is written.
 *
 * Gauges: after each claim, the creation time of the oldest event held for
 * each endpoint; every second, the breaker state of every tracked
 * endpoint; when the worker starts and then every minute, the pending
 * events counted per endpoint (one read of the outbox's claim index),
 * which sets each backlog afresh.
 *
 * Nothing is counted while "webhook.track_stats" is off.
 *
 * IDENTIFICATION
 *	  src/delivery/stats_feed.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "utils/memutils.h"

#include "delivery/breaker.h"
#include "delivery/spi.h"
#include "delivery/stats_feed.h"
#include "observe/stats.h"

/* how often the breaker states and the backlog are published */
#define WH_STATS_BREAKER_MS		1000
#define WH_STATS_RECOUNT_MS		(60 * 1000)

typedef struct WhFeedEntry
{
	int32		endpoint_id;
	WhStatsDelta d;
} WhFeedEntry;

static WhFeedEntry *wh_feed = NULL;
static int	wh_nfeed = 0;
static int	wh_feed_size = 0;
static TimestampTz wh_breakers_at = 0;
static TimestampTz wh_recount_at = 0;
static SPIPlanPtr wh_recount_plan = NULL;

/* the sums for an endpoint, in the worker's memory */
static WhStatsDelta *
wh_feed_delta(int32 endpoint_id)
{
	int			i;

	for (i = wh_nfeed - 1; i >= 0; i--)
		if (wh_feed[i].endpoint_id == endpoint_id)
			return &wh_feed[i].d;
	if (wh_nfeed >= wh_feed_size)
	{
		wh_feed_size = Max(16, wh_feed_size * 2);
		wh_feed = wh_feed ?
			repalloc(wh_feed, sizeof(WhFeedEntry) * wh_feed_size) :
			MemoryContextAlloc(TopMemoryContext,
							   sizeof(WhFeedEntry) * wh_feed_size);
	}
	memset(&wh_feed[wh_nfeed], 0, sizeof(WhFeedEntry));
	wh_feed[wh_nfeed].endpoint_id = endpoint_id;
	return &wh_feed[wh_nfeed++].d;
}

/*
 * How an attempt without a response failed, kept with its outcome.
 */
void
wh_stats_feed_result(WhOutcomeRec *o, const WhHttpResult *res)
{
	switch (res->curl_code)
	{
		case CURLE_OK:
			o->failure = WH_ATTEMPT_OTHER;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			o->failure = WH_ATTEMPT_TIMEOUT;
			break;
		case CURLE_COULDNT_RESOLVE_PROXY:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_CONNECT:
		case CURLE_SEND_ERROR:
		case CURLE_RECV_ERROR:
		case CURLE_GOT_NOTHING:
			o->failure = WH_ATTEMPT_CONNECTION_ERROR;
			break;
		default:
			o->failure = WH_ATTEMPT_OTHER;
			break;
	}
	if (res->refused)
		o->failure = WH_ATTEMPT_REFUSED;
}

void
wh_stats_feed_sent(int32 endpoint_id, const WhHttpResult *res, size_t bytes)
{
	if (!wh_track_stats || res->refused ||
		(res->status == 0 &&
		 (res->curl_code == CURLE_COULDNT_RESOLVE_PROXY ||
		  res->curl_code == CURLE_COULDNT_RESOLVE_HOST ||
		  res->curl_code == CURLE_COULDNT_CONNECT)))
		return;
	wh_feed_delta(endpoint_id)->bytes_sent += bytes;
}

/* an outcome's class: its status when a response came */
static WhAttemptClass
wh_outcome_class(const WhOutcomeRec *o)
{
	if (o->status >= 200 && o->status <= 299)
		return WH_ATTEMPT_2XX;
	if (o->status >= 300 && o->status <= 399)
		return WH_ATTEMPT_3XX;
	if (o->status >= 400 && o->status <= 499)
		return WH_ATTEMPT_4XX;
	if (o->status >= 500 && o->status <= 599)
		return WH_ATTEMPT_5XX;
	if (o->status != 0)
		return WH_ATTEMPT_OTHER;
	/* no response: an outcome made before sending has no failure set */
	return o->failure == WH_ATTEMPT_2XX ? WH_ATTEMPT_OTHER : o->failure;
}

/*
 * Count the outcomes just recorded (those not kept for later), then add
 * every endpoint's sums to shared memory.
 */
void
wh_stats_feed_outcomes(WhWorker *w)
{
	ListCell   *lc;
	int			i;

	if (!wh_track_stats)
	{
		wh_nfeed = 0;
		return;
	}
	foreach(lc, w->outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);
		WhStatsDelta *d;
		WhAttemptClass c;

		if (o->kept)
			continue;
		d = wh_feed_delta(o->ev->endpoint_id);
		c = wh_outcome_class(o);
		wh_stats_delta_attempt(d, c, o->duration_us);
		if (strcmp(o->state, "delivered") == 0)
		{
			d->delivered++;
			wh_stats_delta_latency(d, o->started_at + o->duration_us -
								   o->ev->created_at);
		}
		else if (strcmp(o->state, "dead") == 0)
			d->dead++;
		else if (c != WH_ATTEMPT_2XX)
			d->retried++;
	}
	for (i = 0; i < wh_nfeed; i++)
		wh_stats_apply(wh_feed[i].endpoint_id, &wh_feed[i].d);
	wh_nfeed = 0;
}

/* the oldest event held of one list, per endpoint */
static void
wh_feed_oldest(dlist_head *list, List **ids, List **times)
{
	dlist_iter	it;

	dlist_foreach(it, list)
	{
		WhEvent    *ev = dlist_container(WhEvent, node, it.cur);
		ListCell   *a,
				   *b;
		bool		found = false;

		forboth(a, *ids, b, *times)
		{
			if (lfirst_int(a) == ev->endpoint_id)
			{
				TimestampTz *t = lfirst(b);

				if (ev->created_at < *t)
					*t = ev->created_at;
				found = true;
				break;
			}
		}
		if (!found)
		{
			TimestampTz *t = palloc(sizeof(TimestampTz));

			*t = ev->created_at;
			*ids = lappend_int(*ids, ev->endpoint_id);
			*times = lappend(*times, t);
		}
	}
}

/*
 * A claim committed: publish, for each endpoint of which the worker holds
 * events, the creation time of the oldest.
 */
void
wh_stats_feed_claimed(WhWorker *w)
{
	List	   *ids = NIL;
	List	   *times = NIL;
	ListCell   *a,
			   *b;

	if (!wh_track_stats || w->claimed_n == 0)
		return;
	wh_feed_oldest(&w->queue, &ids, &times);
	wh_feed_oldest(&w->inflight, &ids, &times);
	forboth(a, ids, b, times)
		wh_stats_set_oldest_due(lfirst_int(a), *(TimestampTz *) lfirst(b));
}

/*
 * Count the pending events of every endpoint, an endpoint at a time through
 * event_claim_idx, so the plan is the same whatever the outbox's statistics
 * say.
 */
static void
wh_feed_recount(WhWorker *w)
{
	int32	   *ids;
	int64	   *pending;
	int			n;
	uint64		i;

	wh_xact_begin("counting pending events");
	if (wh_recount_plan == NULL)
		wh_recount_plan = wh_prepare(
			"SELECT e.id, c.n FROM webhook.endpoint e, "
			"LATERAL (SELECT pg_catalog.count(*) AS n "
			"         FROM webhook.event ev "
			"         WHERE ev.endpoint_id OPERATOR(pg_catalog.=) e.id "
			"           AND ev.state OPERATOR(pg_catalog.=) 'pending') c "
			"WHERE c.n OPERATOR(pg_catalog.>) 0", 0, NULL);
	wh_run(wh_recount_plan, NULL, true, 0, SPI_OK_SELECT,
		   "counting pending events");
	n = (int) SPI_processed;
	ids = MemoryContextAlloc(w->loop_cxt, sizeof(int32) * (n + 1));
	pending = MemoryContextAlloc(w->loop_cxt, sizeof(int64) * (n + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		ids[i] = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1,
											 &isnull));
		pending[i] = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 2,
												 &isnull));
	}
	wh_xact_end();
	wh_stats_set_backlogs(ids, pending, n);
}

void
wh_stats_feed_tick(WhWorker *w)
{
	TimestampTz now;

	if (!wh_track_stats)
		return;
	now = GetCurrentTimestamp();
	if (now - wh_breakers_at >= WH_STATS_BREAKER_MS * 1000L)
	{
		wh_breakers_at = now;
		wh_stats_set_breakers(wh_breaker_state);
	}
	if (now - wh_recount_at >= WH_STATS_RECOUNT_MS * 1000L)
	{
		wh_recount_at = now;
		(void) wh_guarded(wh_feed_recount, w);
	}
}
