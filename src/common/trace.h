/*-------------------------------------------------------------------------
 *
 * trace.h
 *	  W3C Trace Context: checking a traceparent and a tracestate, and making
 *	  the traceparent of a child span (trace.c).
 *
 * Pure C (no PostgreSQL headers), so that the fuzz harness builds it
 * outside the server.  The settings webhook.traceparent and
 * webhook.tracestate are checked with wh_traceparent_problem() and
 * wh_tracestate_problem() (guc.c); the worker parses the value an event
 * kept with wh_traceparent_parse() and sends, with each attempt, a child
 * span's traceparent made by wh_traceparent_child() from random bytes the
 * caller draws.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_TRACE_H
#define WEBHOOK_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* a version-00 traceparent: 2 + 1 + 32 + 1 + 16 + 1 + 2 characters */
#define WH_TRACEPARENT_LEN		55
/* the longest value a later version may have that is accepted */
#define WH_TRACEPARENT_MAX_LEN	512

/* the longest tracestate accepted, as the specification bounds it */
#define WH_TRACESTATE_MAX_LEN	512

/* What the worker needs of a trace context: its trace id and flags */
typedef struct WhTraceContext
{
	char		trace_id[33];	/* 32 lower-case hex digits */
	char		flags[3];		/* 2 lower-case hex digits */
} WhTraceContext;

/*
 * NULL when value is a traceparent the product accepts, else a static
 * sentence that says why not (see trace.c for what is accepted).
 */
extern const char *wh_traceparent_problem(const char *value);

/*
 * NULL when value is a tracestate the product accepts (an empty one too),
 * else a static sentence that says why not.
 */
extern const char *wh_tracestate_problem(const char *value);

/* Parse an accepted traceparent into *ctx; false if it is not one */
extern bool wh_traceparent_parse(const char *value, WhTraceContext *ctx);

/*
 * Write into out (WH_TRACEPARENT_LEN + 1 bytes) the version-00 traceparent
 * of a child span of ctx whose span id is the 8 bytes of span.  false
 * (and nothing written) when those bytes are all zero, which is no span
 * id: draw others.
 */
extern bool wh_traceparent_child(const WhTraceContext *ctx,
								 const uint8_t span[8], char *out);

#endif							/* WEBHOOK_TRACE_H */
