/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Delivery statistics kept in shared memory (stats.c).
 *
 * The capture counts the events it wrote, per endpoint, in backend memory
 * and adds them to shared memory when the transaction commits; the worker
 * adds what each recorded batch of attempts says.  webhook.stats() reads
 * them.  Nothing here calls any other part of the extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_STATS_H
#define WEBHOOK_STATS_H

#include "utils/timestamp.h"

/* What an attempt came to, as the statistics count it */
typedef enum WhAttemptClass
{
	WH_ATTEMPT_2XX,
	WH_ATTEMPT_3XX,
	WH_ATTEMPT_4XX,
	WH_ATTEMPT_5XX,
	WH_ATTEMPT_TIMEOUT,
	WH_ATTEMPT_CONNECTION_ERROR,
	WH_ATTEMPT_REFUSED,			/* by the network guard */
	WH_ATTEMPT_OTHER			/* TLS errors, 1xx, a body that cannot go... */
} WhAttemptClass;

#define WH_ATTEMPT_NCLASSES		8

/* The circuit breaker's state, as published by the worker */
#define WH_STATS_BREAKER_CLOSED		0
#define WH_STATS_BREAKER_OPEN		1
#define WH_STATS_BREAKER_HALF_OPEN	2

/* Histogram bounds, in seconds (stats.c) */
#define WH_STATS_ATTEMPT_NBOUNDS	14
#define WH_STATS_LATENCY_NBOUNDS	15

/*
 * What one batch of the worker's work adds to one endpoint's counters,
 * summed in the worker's memory and added to shared memory at once.
 */
typedef struct WhStatsDelta
{
	int64		attempts[WH_ATTEMPT_NCLASSES];
	int64		delivered;
	int64		dead;
	int64		retried;
	int64		bytes_sent;
	int64		attempt_bucket[WH_STATS_ATTEMPT_NBOUNDS + 1];
	int64		attempt_sum_us;
	int64		latency_bucket[WH_STATS_LATENCY_NBOUNDS + 1];
	int64		latency_sum_us;
} WhStatsDelta;

extern bool wh_track_stats;

/* from _PG_init, and from the shared memory hooks (registry.c) */
extern void wh_stats_init(void);
extern Size wh_stats_shmem_size(void);
extern void wh_stats_shmem_init(void);

/* capture: n events for an endpoint written in this (sub)transaction */
extern void wh_stats_captured(int32 endpoint_id, int n);

/* worker: add a delta to an endpoint of this database */
extern void wh_stats_delta_attempt(WhStatsDelta *d, WhAttemptClass c,
								   int64 duration_us);
extern void wh_stats_delta_latency(WhStatsDelta *d, int64 latency_us);
extern void wh_stats_apply(int32 endpoint_id, const WhStatsDelta *d);

/* worker: the gauges */
extern void wh_stats_set_oldest_due(int32 endpoint_id, TimestampTz created_at);
extern void wh_stats_set_breaker(int32 endpoint_id, int state);
extern void wh_stats_set_breakers(int (*state_of) (int32 endpoint_id));
extern void wh_stats_set_backlogs(const int32 *ids, const int64 *pending,
								  int n);

#endif							/* WEBHOOK_STATS_H */
