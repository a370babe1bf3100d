/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Per-endpoint rate limits (events per second), as token buckets.
 *
 * An endpoint with a rate_limit of R gets a bucket that fills at R tokens
 * a second and holds at most WH_RATE_BURST_S seconds' worth (at least one
 * token).  A request takes a token before it starts; an event whose
 * endpoint has none left waits in the worker's queue, and the worker sleeps
 * until the next token is due.  Other endpoints' events go past it: the
 * queue is not first-in first-out across endpoints.
 *
 * So that a limited endpoint's backlog cannot fill the worker's queue, the
 * claim takes only WH_RATE_QUEUE_S seconds' worth of its events
 * (wh_rate_quota()); the rest wait in the table, unread and unwritten,
 * until the queue has room again.
 *
 * Limits are read from webhook.endpoint by the claims: again by the first
 * claim whose snapshot sees an endpoint change committed (the routing
 * counters, wh_route_stamp()), so that a limit set just before its events
 * arrive holds from their first; and at least every WH_RATE_REFRESH_MS for
 * a change that fires no trigger.  Buckets live in the worker's memory, so
 * a restart begins with full buckets.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "executor/spi.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "delivery/ratelimit.h"
#include "delivery/spi.h"

/* A bucket holds this many seconds of tokens (at least one) */
#define WH_RATE_BURST_S		0.05
/* The worker holds this many seconds of a limited endpoint's events */
#define WH_RATE_QUEUE_S		0.5
/* Limits are read again at least this often while no endpoint changes */
#define WH_RATE_REFRESH_MS	1000

typedef struct WhRate
{
	int32		id;				/* hash key: endpoint id */
	double		rate;			/* tokens a second; 0: not limited */
	double		tokens;
	TimestampTz refilled_at;
	bool		waiting;		/* an event waits for a token */
} WhRate;

static HTAB *wh_rates = NULL;
static int	wh_nlimited = 0;
static SPIPlanPtr wh_rate_plan = NULL;
static TimestampTz wh_refreshed_at = 0;
static bool wh_refreshed_valid = false;
static uint64 wh_refreshed_stamp = 0;

static WhRate *
wh_rate_get(int32 id, bool create)
{
	bool		found;
	WhRate	   *r;

	if (wh_rates == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(WhRate);
		ctl.hcxt = TopMemoryContext;
		wh_rates = hash_create("webhook rate limits", 16, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	r = hash_search(wh_rates, &id, create ? HASH_ENTER : HASH_FIND, &found);
	if (create && !found)
	{
		memset(r, 0, sizeof(WhRate));
		r->id = id;
	}
	return r;
}

static double
wh_rate_capacity(WhRate *r)
{
	return Max(1.0, r->rate * WH_RATE_BURST_S);
}

/* Add the tokens earned since the last refill */
static void
wh_rate_refill(WhRate *r, TimestampTz now)
{
	if (r->refilled_at == 0)
		r->tokens = wh_rate_capacity(r);
	else if (now > r->refilled_at)
		r->tokens = Min(wh_rate_capacity(r),
						r->tokens + (now - r->refilled_at) * r->rate / 1e6);
	r->refilled_at = now;
}

/*
 * Read the limits, in the claim transaction, unless those read last are
 * still exact: no endpoint changed since (quiet and stamp are
 * wh_route_stamp()'s, read before this transaction's snapshot) and they
 * are less than WH_RATE_REFRESH_MS old.  A limit that changed keeps the
 * bucket's tokens (up to the new capacity).
 */
void
wh_rate_refresh(bool quiet, uint64 stamp)
{
	HASH_SEQ_STATUS seq;
	WhRate	   *r;
	uint64		i;
	int			rc;
	TimestampTz now = GetCurrentTimestamp();

	/* claims come every few milliseconds under load; limits change seldom */
	if (wh_refreshed_valid && quiet && stamp == wh_refreshed_stamp &&
		now - wh_refreshed_at < WH_RATE_REFRESH_MS * 1000 &&
		now >= wh_refreshed_at)
		return;
	wh_refreshed_valid = false;

	if (wh_rate_plan == NULL)
		wh_rate_plan = wh_prepare(
			"SELECT id, rate_limit::pg_catalog.float8 "
			"FROM webhook.endpoint "
			"WHERE rate_limit IS NOT NULL", 0, NULL);
	rc = SPI_execute_plan(wh_rate_plan, NULL, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading rate limits failed: %s",
			 SPI_result_code_string(rc));

	if (wh_rates)
	{
		hash_seq_init(&seq, wh_rates);
		while ((r = hash_seq_search(&seq)) != NULL)
			r->rate = 0;
	}
	wh_nlimited = SPI_processed;
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];

		r = wh_rate_get(DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc,
													1, &isnull)), true);
		r->rate = DatumGetFloat8(SPI_getbinval(tup, SPI_tuptable->tupdesc, 2,
											   &isnull));
		r->tokens = Min(r->tokens, wh_rate_capacity(r));
	}
	/* exact as of this snapshot only if no endpoint change was under way */
	wh_refreshed_valid = quiet;
	wh_refreshed_stamp = stamp;
	wh_refreshed_at = now;
}

/*
 * How many more events may the claim take of an endpoint that already has
 * "held" events in the worker?  Up to WH_RATE_QUEUE_S seconds' worth in
 * all; WH_RATE_ANY when the endpoint is not limited.
 */
int
wh_rate_quota(int32 endpoint_id, int held)
{
	WhRate	   *r;
	int			cap;

	if (wh_nlimited == 0)
		return WH_RATE_ANY;
	r = wh_rate_get(endpoint_id, false);
	if (r == NULL || r->rate <= 0)
		return WH_RATE_ANY;
	cap = (int) Max(1.0, ceil(r->rate * WH_RATE_QUEUE_S));
	return Max(0, cap - held);
}

/* A new pass over the queue: no event is known to wait yet */
void
wh_rate_dispatch_begin(void)
{
	HASH_SEQ_STATUS seq;
	WhRate	   *r;

	if (wh_nlimited == 0 || wh_rates == NULL)
		return;
	hash_seq_init(&seq, wh_rates);
	while ((r = hash_seq_search(&seq)) != NULL)
		r->waiting = false;
}

/*
 * Take a token to start a request now; false if the endpoint has none
 * left (its event waits in the queue).
 */
bool
wh_rate_take(int32 endpoint_id, TimestampTz now)
{
	WhRate	   *r;

	if (wh_nlimited == 0)
		return true;
	r = wh_rate_get(endpoint_id, false);
	if (r == NULL || r->rate <= 0)
		return true;
	wh_rate_refill(r, now);
	if (r->tokens >= 1.0)
	{
		r->tokens -= 1.0;
		r->waiting = false;
		return true;
	}
	r->waiting = true;
	return false;
}

/*
 * When the first endpoint with a waiting event gets its next token, or
 * DT_NOEND when none waits.
 */
TimestampTz
wh_rate_next_wake(void)
{
	HASH_SEQ_STATUS seq;
	WhRate	   *r;
	TimestampTz next = DT_NOEND;

	if (wh_nlimited == 0 || wh_rates == NULL)
		return DT_NOEND;
	hash_seq_init(&seq, wh_rates);
	while ((r = hash_seq_search(&seq)) != NULL)
	{
		TimestampTz at;

		if (!r->waiting || r->rate <= 0)
			continue;
		at = r->refilled_at + (int64) ceil((1.0 - r->tokens) * 1e6 / r->rate);
		if (at < next)
			next = at;
	}
	return next;
}
