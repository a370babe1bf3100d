/*-------------------------------------------------------------------------
 *
 * worker_state.h
 *	  The delivery worker's state: one struct, passed to every step.
 *
 * An event the worker claimed is held in memory until its attempt is
 * recorded: first on the claimed list (its claim not yet committed), then
 * queued, then in flight, then as an outcome waiting to be recorded.  The
 * counters follow it.  The loop (worker.c) owns the one WhWorker; claim.c,
 * send.c, record.c, retention.c and the endpoint cache (endpoints.c) each
 * take it as their first argument, and no other file keeps any of it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_WORKER_STATE_H
#define WEBHOOK_WORKER_STATE_H

#include "lib/ilist.h"
#include "nodes/pg_list.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "common/trace.h"
#include "delivery/http.h"

#ifndef WEBHOOK_VERSION
#define WEBHOOK_VERSION "unknown"
#endif

/* Claims come at most this often, unless the last one was full */
#define WH_CLAIM_INTERVAL_MS	2
/* Pause after an error in a claim or record transaction */
#define WH_ERROR_PAUSE_MS		1000L

struct WhBatch;

/* A claimed event, held until its attempt is recorded */
typedef struct WhEvent
{
	dlist_node	node;			/* in the worker's queue, in flight, or claimed */
	int64		id;
	int32		endpoint_id;
	int16		attempts;
	int16		retry_from;
	TimestampTz created_at;		/* when it was captured */
	char		msg_id[40];
	char	   *body;
	size_t		body_len;
	char	   *body_error;		/* why the body cannot be sent, or NULL */
	bool		counted;		/* counted in its endpoint's "held" */
	bool		traced;			/* captured with a trace context: trace */
	WhTraceContext trace;
	char	   *tracestate;		/* sent with trace, or NULL */
	struct WhBatch *batch;		/* the batch it leads while in flight */
} WhEvent;

/*
 * The events sent together in one request to an endpoint that takes
 * batches (batch.c).  Its first member leads it: the request is started
 * and answered under that event; every member is in flight.
 */
typedef struct WhBatch
{
	int			nmembers;
	WhEvent   **members;		/* in id order */
	char		id[48];			/* the request's webhook-id */
	char	   *body;			/* the JSON array */
	size_t		body_len;
	bool		traced;			/* every member has trace's trace id */
	WhTraceContext trace;
	const char *tracestate;		/* every member's, or NULL: not freed alone */
} WhBatch;

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
	int64	   *batch_delay;	/* shared by a batch's members: the retry
								 * delay, -1 until one is chosen; or NULL */
	bool		decided;		/* state and next_at are set */
	const char *state;			/* "pending", "delivered" or "dead" */
	TimestampTz next_at;		/* if pending: its next attempt */
	bool		kept;			/* its event was locked: record it later */
	int			failure;		/* WhAttemptClass of one without response */
} WhOutcomeRec;

typedef struct WhWorker
{
	MemoryContext worker_cxt;	/* lives as long as the worker */
	MemoryContext loop_cxt;		/* reset every iteration */
	HTAB	   *endpoints;		/* int32 id -> WhEndpoint (endpoints.c) */

	/* the events held, and how many of them */
	dlist_head	queue;			/* claimed, waiting to be sent */
	dlist_head	inflight;		/* sent, waiting for their response */
	dlist_head	claimed;		/* by a claim not yet committed */
	int			nheld;			/* queued + in flight + awaiting record */
	int			nqueued;
	int			ninflight;

	/* outcomes waiting to be recorded */
	MemoryContext outcome_cxt;	/* reset when outcomes are recorded */
	List	   *outcomes;		/* of WhOutcomeRec *, in outcome_cxt */
	TimestampTz oldest_outcome;
	int			nkept;			/* outcomes kept: their event was locked */
	TimestampTz kept_retry_at;

	/* what the last claim found */
	TimestampTz last_claim_at;
	bool		claim_skipped_busy; /* last claim left out an endpoint at its
									 * limit */
	int			claim_held_back;	/* ordered events held back */
	List	   *claimed_rows;	/* of WhEndpointRow *, built after commit */
	uint64		claimed_n;		/* events the last claim took */
	TimestampTz next_due;		/* when the next pending event falls due */

	/* when to do what */
	TimestampTz next_claim_at;	/* 0: claim as soon as woken */
	TimestampTz next_retention_at;
	bool		retention_more; /* the last clean-up removed a full batch */

	/* the history segment attempts are written to (retention.c) */
	bool		history_known;
	int			history_segment;
	TimestampTz history_since;	/* when it was begun */

	/* is this library's version of the extension installed? */
	bool		has_extension;
	bool		old_extension;	/* installed, but an older version */
	bool		old_extension_logged;
} WhWorker;

#endif							/* WEBHOOK_WORKER_STATE_H */
