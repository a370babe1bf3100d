/*-------------------------------------------------------------------------
 *
 * endpoints.h
 *	  The worker's endpoint cache (endpoints.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ENDPOINTS_H
#define WEBHOOK_ENDPOINTS_H

#include "common/sign.h"
#include "delivery/transport.h"
#include "delivery/worker_state.h"

/* An endpoint as the worker needs it, kept across batches */
typedef struct WhEndpoint
{
	int32		id;				/* hash key */
	TransactionId xmin;			/* row version this entry was built from */
	bool		valid;			/* false until built */
	bool		enabled;
	MemoryContext cxt;			/* holds everything below */
	char	   *error;			/* why it cannot be used, or NULL */
	char	   *url;
	WhSignKey	key;			/* the secret, decoded (and parsed, for v1a) */
	WhSignKey	prevkey;		/* the previous one, or scheme NONE */
	TimestampTz prev_expires;
	char	  **headers;		/* "Name: value" */
	int			nheaders;
	long		timeout_ms;
	int64	   *schedule_ms;
	int			nschedule;
	int			max_in_flight;
	WhTransport transport;		/* TLS and proxy options */
	int			batch_max_events;	/* 0: one event a request */
	int			batch_max_bytes;
	char		ordering;		/* 'n'one, 'e'ndpoint or 'k'ey */
	int			in_flight;		/* requests now in flight */
	int			held;			/* events held (queued or in flight) */
} WhEndpoint;

extern void wh_endpoints_create(WhWorker *w);
extern WhEndpoint *wh_endpoint_get(WhWorker *w, int32 id);
extern void wh_endpoints_fetch(WhWorker *w, List *epids);
extern void wh_build_claimed_endpoints(WhWorker *w);

#endif							/* WEBHOOK_ENDPOINTS_H */
