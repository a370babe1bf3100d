/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  Batches: several events of one endpoint in one signed request.
 *
 * An endpoint with a batch_max_events receives its events as a JSON array,
 * in capture (id) order, of at most batch_max_events events and
 * batch_max_bytes bytes; each element is the event's usual body with its
 * own webhook-id added as "id".  The request's webhook-id is the batch's
 * own, derived from its members' ids, so the same events sent together
 * again carry the same id.  An event too big for batch_max_bytes goes
 * alone, still as an array.
 *
 * send.c gathers a batch from the worker's queue when it may start a
 * request to such an endpoint (wh_batch_gather), sends it under its first
 * member, and gives every member the request's outcome when it is
 * answered (wh_batch_free then forgets the batch itself).  A batch so fails
 * or succeeds as one; record.c gives its members one retry time.
 *
 * A batch's request carries a trace context only when every member was
 * captured with the same trace id (under the first member's flags), and a
 * tracestate only when every member has the same one: a request that
 * carries events of several traces, or untraced ones, belongs to none of
 * them.
 *
 * IDENTIFICATION
 *	  src/delivery/batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>

#include "lib/stringinfo.h"

#include "delivery/batch.h"
#include "delivery/ratelimit.h"

/* What "id" and the punctuation around an element add, at most */
#define WH_BATCH_ELEMENT_SLACK	24

/*
 * The bytes an event takes in a batch's body, at most.
 */
static size_t
wh_batch_member_size(const WhEvent *ev)
{
	return ev->body_len + strlen(ev->msg_id) + WH_BATCH_ELEMENT_SLACK;
}

static int
wh_cmp_event_id(const void *a, const void *b)
{
	int64		x = (*(WhEvent *const *) a)->id;
	int64		y = (*(WhEvent *const *) b)->id;

	return (x > y) - (x < y);
}

/*
 * The batch's webhook-id: a SHA-256 digest of its members' ids, in order,
 * so that the same events sent together again are recognised as the same
 * message.  OpenSSL's one-shot digest needs no resource owner, which the
 * worker has none of outside a transaction.
 */
static void
wh_batch_make_id(WhBatch *b)
{
	StringInfoData ids;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	int			i;

	initStringInfo(&ids);
	for (i = 0; i < b->nmembers; i++)
		appendStringInfo(&ids, "%s,", b->members[i]->msg_id);
	if (!EVP_Digest(ids.data, ids.len, digest, &dlen, EVP_sha256(), NULL) ||
		dlen < 16)
		elog(ERROR, "could not compute SHA-256");
	pfree(ids.data);

	strcpy(b->id, "batch_");
	for (i = 0; i < 16; i++)
		snprintf(b->id + 6 + 2 * i, 3, "%02x", digest[i]);
}

/*
 * The batch's trace: its members' common trace id, if they all have one,
 * and their tracestate if it is the same for all.
 */
static void
wh_batch_make_trace(WhBatch *b)
{
	int			i;
	const char *state = b->members[0]->tracestate;

	b->traced = b->members[0]->traced;
	for (i = 1; b->traced && i < b->nmembers; i++)
	{
		const char *other = b->members[i]->tracestate;

		if (!b->members[i]->traced ||
			strcmp(b->members[i]->trace.trace_id,
				   b->members[0]->trace.trace_id) != 0)
			b->traced = false;
		else if (state != NULL &&
				 (other == NULL || strcmp(other, state) != 0))
			state = NULL;
	}
	if (b->traced)
		b->trace = b->members[0]->trace;
	b->tracestate = b->traced ? state : NULL;
}

/* JSON's white space */
static inline bool
wh_json_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The body: a JSON array of the members' bodies, each with its webhook-id
 * as "id".  A body that is not a JSON object (an event inserted by hand)
 * becomes the element's "data".
 */
static void
wh_batch_make_body(WhBatch *b)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	for (i = 0; i < b->nmembers; i++)
	{
		const WhEvent *ev = b->members[i];
		const char *p = ev->body;
		const char *end = ev->body + ev->body_len;

		if (i > 0)
			appendStringInfoChar(&buf, ',');
		while (p < end && wh_json_space(*p))
			p++;
		appendStringInfo(&buf, "{\"id\":\"%s\"", ev->msg_id);
		if (p < end && *p == '{')
		{
			const char *q = p + 1;

			while (q < end && wh_json_space(*q))
				q++;
			if (q < end && *q != '}')
				appendStringInfoChar(&buf, ',');
			appendBinaryStringInfo(&buf, p + 1, end - (p + 1));
		}
		else
		{
			appendStringInfoString(&buf, ",\"data\":");
			appendBinaryStringInfo(&buf, ev->body, ev->body_len);
			appendStringInfoChar(&buf, '}');
		}
	}
	appendStringInfoChar(&buf, ']');
	b->body = buf.data;
	b->body_len = buf.len;
}

/*
 * Take the next batch of an endpoint's queued events off the queue: the
 * earliest ones by id, up to its batch_max_events and batch_max_bytes (the
 * first always, however big), as the rate limit allows (the first has its
 * token already).  Events whose body cannot be sent are left to fail on
 * their own.  Allocated in the worker's memory.
 */
WhBatch *
wh_batch_gather(WhWorker *w, WhEndpoint *ep)
{
	MemoryContext old = MemoryContextSwitchTo(w->worker_cxt);
	WhEvent   **all;
	int			nall = 0;
	dlist_iter	it;
	WhBatch    *b;
	size_t		bytes;
	int			i;

	all = palloc(sizeof(WhEvent *) * (w->nqueued + 1));
	dlist_foreach(it, &w->queue)
	{
		WhEvent    *ev = dlist_container(WhEvent, node, it.cur);

		if (ev->endpoint_id == ep->id && ev->body_error == NULL)
			all[nall++] = ev;
	}
	Assert(nall > 0);
	qsort(all, nall, sizeof(WhEvent *), wh_cmp_event_id);

	b = palloc0(sizeof(WhBatch));
	b->members = palloc(sizeof(WhEvent *) * Min(nall, ep->batch_max_events));
	b->members[b->nmembers++] = all[0];
	bytes = 2 + wh_batch_member_size(all[0]);
	for (i = 1; i < nall && b->nmembers < ep->batch_max_events; i++)
	{
		size_t		more = wh_batch_member_size(all[i]);

		if (bytes + more > (size_t) ep->batch_max_bytes)
			break;
		if (!wh_rate_take(ep->id, GetCurrentTimestamp()))
			break;
		bytes += more;
		b->members[b->nmembers++] = all[i];
	}
	pfree(all);

	for (i = 0; i < b->nmembers; i++)
	{
		dlist_delete(&b->members[i]->node);
		w->nqueued--;
	}
	b->members[0]->batch = b;
	wh_batch_make_id(b);
	wh_batch_make_body(b);
	wh_batch_make_trace(b);
	MemoryContextSwitchTo(old);
	return b;
}

/*
 * Forget a batch whose members have their outcomes.
 */
void
wh_batch_free(WhBatch *b)
{
	b->members[0]->batch = NULL;
	pfree(b->body);
	pfree(b->members);
	pfree(b);
}
