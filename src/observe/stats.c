/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Delivery statistics kept in shared memory, per database and per
 *	  endpoint, and the SQL functions that read and reset them.
 *
 * What is counted, and where:
 *	- captured: the capture (outbox.c) tells wh_stats_captured() how many
 *	  events of each endpoint it wrote.  The counts stay in backend memory,
 *	  tagged with the subtransaction that wrote the rows, and reach shared
 *	  memory only when the transaction commits (or is prepared): a rolled
 *	  back transaction or subtransaction counts nothing, and a transaction
 *	  costs a few atomic additions per endpoint at commit, none per row.
 *	- attempts by class, delivered, dead, retried, bytes sent and the two
 *	  histograms: the worker sums them per endpoint over each batch of
 *	  outcomes it has recorded (delivery/stats_feed.c) and adds the sums
 *	  with wh_stats_apply().
 *	- the gauges: backlog is the number of pending events, kept as events
 *	  captured minus events finished (delivered or dead), and set to a
 *	  count of the pending events by the worker when it starts and once a
 *	  minute after (one index scan, per endpoint, of the pending events),
 *	  which also corrects what retry, replay, discard or a dropped endpoint
 *	  changed behind the counters' back.  oldest_due is the creation time of
 *	  the oldest event the worker last held for sending (claimed, due),
 *	  kept while the endpoint has a backlog; breaker is the state of the
 *	  worker's circuit breaker (breaker.c: healthy is closed, down is open,
 *	  down with its probe in flight is half-open), published by the worker
 *	  every second.  webhook.stats_reset() leaves the gauges alone.
 *
 * Layout and locking: one area holds a table of WH_STATS_MAX_DATABASES
 * databases (each with the time its counters were last reset and an
 * overflow slot, which sums the endpoints beyond the tracked limit) and an
 * open-addressing hash table of endpoint slots, twice as large as
 * webhook.stats_max_endpoints so that probes stay short.  A slot is keyed
 * by (database, endpoint); a key is claimed with a compare-and-exchange
 * and never given back while the server runs, so a slot found once stays
 * that endpoint's.  Every counter is a 64-bit atomic: writers add, readers
 * read, and no lock is ever taken.  A reader may see one counter of a
 * batch added before another; each counter is exact on its own.  Once
 * webhook.stats_max_endpoints slots are taken, new endpoints are summed in
 * their database's overflow slot.  A dropped endpoint keeps its slot (and
 * webhook.stats() stops showing it) until the server restarts.
 *
 * Reading (webhook.stats()) reads these slots and webhook.endpoint (for
 * names and tenants), never the outbox or the history.
 *
 * IDENTIFICATION
 *	  src/observe/stats.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "observe/stats.h"

/* databases whose counters are kept; the others' are not */
#define WH_STATS_MAX_DATABASES	64

/* histogram bounds, seconds */
static const double wh_attempt_bounds[WH_STATS_ATTEMPT_NBOUNDS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 60
};
static const double wh_latency_bounds[WH_STATS_LATENCY_NBOUNDS] = {
	0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600
};

/* the counters of WhStatsCounters.c */
enum
{
	WH_C_CAPTURED,
	WH_C_ATTEMPTS,				/* WH_ATTEMPT_NCLASSES of them */
	WH_C_DELIVERED = WH_C_ATTEMPTS + WH_ATTEMPT_NCLASSES,
	WH_C_DEAD,
	WH_C_RETRIED,
	WH_C_BYTES,
	WH_C_ATTEMPT_SUM_US,
	WH_C_LATENCY_SUM_US,
	WH_C_N
};

typedef struct WhStatsCounters
{
	pg_atomic_uint64 c[WH_C_N];
	pg_atomic_uint64 attempt_bucket[WH_STATS_ATTEMPT_NBOUNDS + 1];
	pg_atomic_uint64 latency_bucket[WH_STATS_LATENCY_NBOUNDS + 1];
	/* gauges, which a reset leaves alone */
	pg_atomic_uint64 backlog;	/* an int64 */
	pg_atomic_uint64 oldest_due;	/* a TimestampTz, 0 for none */
	pg_atomic_uint32 breaker;
} WhStatsCounters;

typedef struct WhStatsSlot
{
	pg_atomic_uint64 key;		/* database << 32 | endpoint; 0 when free */
	WhStatsCounters n;
} WhStatsSlot;

typedef struct WhStatsDatabase
{
	pg_atomic_uint32 dboid;		/* InvalidOid when free */
	pg_atomic_uint64 reset_at;	/* a TimestampTz */
	pg_atomic_uint32 overflowed;	/* the overflow slot was used */
	WhStatsCounters overflow;
} WhStatsDatabase;

typedef struct WhStatsShared
{
	pg_atomic_uint32 nused;		/* endpoint slots taken */
	int			ntable;			/* endpoint slots in the table */
	WhStatsDatabase dbs[WH_STATS_MAX_DATABASES];
	WhStatsSlot slots[FLEXIBLE_ARRAY_MEMBER];
} WhStatsShared;

bool		wh_track_stats = true;
static int	wh_stats_max_endpoints = 1000;

static WhStatsShared *wh_stats = NULL;
static WhStatsDatabase *wh_my_db = NULL;

/* captured events not yet committed */
typedef struct WhStatsPending
{
	int32		endpoint_id;
	SubTransactionId subid;
	int64		n;
} WhStatsPending;

static WhStatsPending *wh_pending = NULL;
static int	wh_npending = 0;
static int	wh_pending_size = 0;
static bool wh_callbacks_registered = false;

PG_FUNCTION_INFO_V1(webhook_stats);
PG_FUNCTION_INFO_V1(webhook_stats_reset);

/*
 * Define the settings (from _PG_init).
 */
void
wh_stats_init(void)
{
	DefineCustomBoolVariable("webhook.track_stats",
							 "Counts captured events and delivery attempts for webhook.stats().",
							 NULL,
							 &wh_track_stats, true,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("webhook.stats_max_endpoints",
							"Endpoints whose statistics are kept, in all databases; the others are summed per database.",
							NULL,
							&wh_stats_max_endpoints, 1000, 1, 1000000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
}

static int
wh_stats_ntable(void)
{
	return 2 * wh_stats_max_endpoints;
}

Size
wh_stats_shmem_size(void)
{
	return MAXALIGN(add_size(offsetof(WhStatsShared, slots),
							 mul_size(sizeof(WhStatsSlot),
									  wh_stats_ntable())));
}

static void
wh_stats_counters_init(WhStatsCounters *n)
{
	int			i;

	for (i = 0; i < WH_C_N; i++)
		pg_atomic_init_u64(&n->c[i], 0);
	for (i = 0; i <= WH_STATS_ATTEMPT_NBOUNDS; i++)
		pg_atomic_init_u64(&n->attempt_bucket[i], 0);
	for (i = 0; i <= WH_STATS_LATENCY_NBOUNDS; i++)
		pg_atomic_init_u64(&n->latency_bucket[i], 0);
	pg_atomic_init_u64(&n->backlog, 0);
	pg_atomic_init_u64(&n->oldest_due, 0);
	pg_atomic_init_u32(&n->breaker, WH_STATS_BREAKER_CLOSED);
}

/*
 * Set up the area (from the shared memory startup hook, under
 * AddinShmemInitLock).
 */
void
wh_stats_shmem_init(void)
{
	bool		found;
	int			i;

	wh_stats = ShmemInitStruct("webhook statistics", wh_stats_shmem_size(),
							   &found);
	if (found)
		return;
	pg_atomic_init_u32(&wh_stats->nused, 0);
	wh_stats->ntable = wh_stats_ntable();
	for (i = 0; i < WH_STATS_MAX_DATABASES; i++)
	{
		pg_atomic_init_u32(&wh_stats->dbs[i].dboid, InvalidOid);
		pg_atomic_init_u64(&wh_stats->dbs[i].reset_at, 0);
		pg_atomic_init_u32(&wh_stats->dbs[i].overflowed, 0);
		wh_stats_counters_init(&wh_stats->dbs[i].overflow);
	}
	for (i = 0; i < wh_stats->ntable; i++)
	{
		pg_atomic_init_u64(&wh_stats->slots[i].key, 0);
		wh_stats_counters_init(&wh_stats->slots[i].n);
	}
}

/*
 * This database's entry, taken on first use if create; NULL when there is
 * none (or every entry is taken).
 */
static WhStatsDatabase *
wh_stats_db(bool create)
{
	int			i;

	if (wh_my_db != NULL)
		return wh_my_db;
	if (wh_stats == NULL || !OidIsValid(MyDatabaseId))
		return NULL;
	for (i = 0; i < WH_STATS_MAX_DATABASES; i++)
	{
		WhStatsDatabase *db = &wh_stats->dbs[i];
		uint32		oid = pg_atomic_read_u32(&db->dboid);

		if (oid == MyDatabaseId)
			return wh_my_db = db;
		if (oid == InvalidOid && create)
		{
			uint32		expected = InvalidOid;

			if (pg_atomic_compare_exchange_u32(&db->dboid, &expected,
											   MyDatabaseId))
			{
				pg_atomic_write_u64(&db->reset_at,
									(uint64) GetCurrentTimestamp());
				return wh_my_db = db;
			}
			if (expected == MyDatabaseId)
				return wh_my_db = db;
		}
	}
	return NULL;
}

/*
 * The counters of an endpoint of this database: its slot, taken on first
 * use if create (or the database's overflow slot once the limit is
 * reached); NULL when there are none.
 */
static WhStatsCounters *
wh_stats_counters(int32 endpoint_id, bool create)
{
	WhStatsDatabase *db = wh_stats_db(create);
	uint64		key;
	uint32		h;
	int			i;

	if (db == NULL || endpoint_id <= 0)
		return NULL;
	key = ((uint64) MyDatabaseId << 32) | (uint32) endpoint_id;
	h = hash_bytes_uint32((uint32) endpoint_id) ^
		hash_bytes_uint32((uint32) MyDatabaseId);
	for (i = 0; i < wh_stats->ntable; i++)
	{
		WhStatsSlot *slot = &wh_stats->slots[(h + i) % wh_stats->ntable];
		uint64		k = pg_atomic_read_u64(&slot->key);

		if (k == key)
			return &slot->n;
		if (k != 0)
			continue;
		/* a free slot: the endpoint has none */
		if (!create)
			return NULL;
		if (pg_atomic_read_u32(&wh_stats->nused) >=
			(uint32) wh_stats_max_endpoints)
			break;
		if (pg_atomic_fetch_add_u32(&wh_stats->nused, 1) >=
			(uint32) wh_stats_max_endpoints)
		{
			pg_atomic_fetch_sub_u32(&wh_stats->nused, 1);
			break;
		}
		if (pg_atomic_compare_exchange_u64(&slot->key, &k, key))
			return &slot->n;
		/* another backend took this slot first */
		pg_atomic_fetch_sub_u32(&wh_stats->nused, 1);
		if (k == key)
			return &slot->n;
	}
	pg_atomic_write_u32(&db->overflowed, 1);
	return &db->overflow;
}

/*
 * Capture side.  Counts wait in backend memory for the commit.
 */
static void
wh_stats_xact_callback(XactEvent event, void *arg)
{
	int			i;

	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			for (i = 0; i < wh_npending; i++)
			{
				WhStatsCounters *n;

				n = wh_stats_counters(wh_pending[i].endpoint_id, true);
				if (n == NULL)
					continue;
				pg_atomic_fetch_add_u64(&n->c[WH_C_CAPTURED],
										wh_pending[i].n);
				pg_atomic_fetch_add_u64(&n->backlog, wh_pending[i].n);
			}
			wh_npending = 0;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wh_npending = 0;
			break;
		default:
			break;
	}
}

static void
wh_stats_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* what it and its children wrote is gone */
	while (wh_npending > 0 && wh_pending[wh_npending - 1].subid >= mySubid)
		wh_npending--;
}

/*
 * n events of an endpoint were written in the current subtransaction.
 */
void
wh_stats_captured(int32 endpoint_id, int n)
{
	SubTransactionId subid;
	WhStatsPending *last;

	if (!wh_track_stats || n <= 0)
		return;
	if (!wh_callbacks_registered)
	{
		RegisterXactCallback(wh_stats_xact_callback, NULL);
		RegisterSubXactCallback(wh_stats_subxact_callback, NULL);
		wh_callbacks_registered = true;
	}
	subid = GetCurrentSubTransactionId();
	last = wh_npending > 0 ? &wh_pending[wh_npending - 1] : NULL;
	if (last && last->endpoint_id == endpoint_id && last->subid == subid)
	{
		last->n += n;
		return;
	}
	if (wh_npending >= wh_pending_size)
	{
		wh_pending_size = Max(16, wh_pending_size * 2);
		wh_pending = wh_pending ?
			repalloc(wh_pending, sizeof(WhStatsPending) * wh_pending_size) :
			MemoryContextAlloc(TopMemoryContext,
							   sizeof(WhStatsPending) * wh_pending_size);
	}
	wh_pending[wh_npending].endpoint_id = endpoint_id;
	wh_pending[wh_npending].subid = subid;
	wh_pending[wh_npending].n = n;
	wh_npending++;
}

/*
 * Worker side.
 */
void
wh_stats_delta_attempt(WhStatsDelta *d, WhAttemptClass c, int64 duration_us)
{
	double		s = duration_us / 1000000.0;
	int			b = 0;

	d->attempts[c]++;
	while (b < WH_STATS_ATTEMPT_NBOUNDS && s > wh_attempt_bounds[b])
		b++;
	d->attempt_bucket[b]++;
	d->attempt_sum_us += Max(duration_us, 0);
}

void
wh_stats_delta_latency(WhStatsDelta *d, int64 latency_us)
{
	double		s;
	int			b = 0;

	latency_us = Max(latency_us, 0);
	s = latency_us / 1000000.0;
	while (b < WH_STATS_LATENCY_NBOUNDS && s > wh_latency_bounds[b])
		b++;
	d->latency_bucket[b]++;
	d->latency_sum_us += latency_us;
}

static inline void
wh_add(pg_atomic_uint64 *c, int64 v)
{
	if (v != 0)
		pg_atomic_fetch_add_u64(c, v);
}

/*
 * Add what a batch did to an endpoint's counters.  Finished events leave
 * the backlog.
 */
void
wh_stats_apply(int32 endpoint_id, const WhStatsDelta *d)
{
	WhStatsCounters *n = wh_stats_counters(endpoint_id, true);
	int			i;

	if (n == NULL)
		return;
	for (i = 0; i < WH_ATTEMPT_NCLASSES; i++)
		wh_add(&n->c[WH_C_ATTEMPTS + i], d->attempts[i]);
	wh_add(&n->c[WH_C_DELIVERED], d->delivered);
	wh_add(&n->c[WH_C_DEAD], d->dead);
	wh_add(&n->c[WH_C_RETRIED], d->retried);
	wh_add(&n->c[WH_C_BYTES], d->bytes_sent);
	for (i = 0; i <= WH_STATS_ATTEMPT_NBOUNDS; i++)
		wh_add(&n->attempt_bucket[i], d->attempt_bucket[i]);
	wh_add(&n->c[WH_C_ATTEMPT_SUM_US], d->attempt_sum_us);
	for (i = 0; i <= WH_STATS_LATENCY_NBOUNDS; i++)
		wh_add(&n->latency_bucket[i], d->latency_bucket[i]);
	wh_add(&n->c[WH_C_LATENCY_SUM_US], d->latency_sum_us);
	if (d->delivered + d->dead > 0)
		pg_atomic_fetch_sub_u64(&n->backlog, d->delivered + d->dead);
}

/*
 * The creation time of the oldest event the worker holds for an endpoint.
 */
void
wh_stats_set_oldest_due(int32 endpoint_id, TimestampTz created_at)
{
	WhStatsCounters *n = wh_stats_counters(endpoint_id, true);

	if (n)
		pg_atomic_write_u64(&n->oldest_due, (uint64) created_at);
}

/*
 * The worker's breaker of one endpoint changed state.
 */
void
wh_stats_set_breaker(int32 endpoint_id, int state)
{
	WhStatsCounters *n = wh_stats_counters(endpoint_id, false);

	if (n)
		pg_atomic_write_u32(&n->breaker, (uint32) state);
}

/*
 * Publish the breaker state of every tracked endpoint of this database.
 */
void
wh_stats_set_breakers(int (*state_of) (int32 endpoint_id))
{
	int			i;

	if (wh_stats == NULL)
		return;
	for (i = 0; i < wh_stats->ntable; i++)
	{
		WhStatsSlot *slot = &wh_stats->slots[i];
		uint64		k = pg_atomic_read_u64(&slot->key);

		if (k != 0 && (Oid) (k >> 32) == MyDatabaseId)
			pg_atomic_write_u32(&slot->n.breaker,
								(uint32) state_of((int32) (uint32) k));
	}
}

/*
 * The worker counted the pending events: n endpoints have some, the
 * others of this database none.
 */
void
wh_stats_set_backlogs(const int32 *ids, const int64 *pending, int n)
{
	WhStatsDatabase *db = wh_stats_db(true);
	int			i;

	if (db == NULL)
		return;
	for (i = 0; i < wh_stats->ntable; i++)
	{
		WhStatsSlot *slot = &wh_stats->slots[i];
		uint64		k = pg_atomic_read_u64(&slot->key);

		if (k != 0 && (Oid) (k >> 32) == MyDatabaseId)
			pg_atomic_write_u64(&slot->n.backlog, 0);
	}
	pg_atomic_write_u64(&db->overflow.backlog, 0);
	for (i = 0; i < n; i++)
	{
		WhStatsCounters *c = wh_stats_counters(ids[i], true);

		if (c)
			pg_atomic_fetch_add_u64(&c->backlog, pending[i]);
	}
}

/*
 * SQL: the counters.
 */
static void
wh_stats_zero(WhStatsCounters *n)
{
	int			i;

	for (i = 0; i < WH_C_N; i++)
		pg_atomic_write_u64(&n->c[i], 0);
	for (i = 0; i <= WH_STATS_ATTEMPT_NBOUNDS; i++)
		pg_atomic_write_u64(&n->attempt_bucket[i], 0);
	for (i = 0; i <= WH_STATS_LATENCY_NBOUNDS; i++)
		pg_atomic_write_u64(&n->latency_bucket[i], 0);
}

static Datum
wh_float8_array(const double *v, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	int			i;

	for (i = 0; i < n; i++)
		d[i] = Float8GetDatum(v[i]);
	return PointerGetDatum(construct_array(d, n, FLOAT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/* cumulative counts, as Prometheus has them, the last one +Inf's */
static Datum
wh_bucket_array(pg_atomic_uint64 *bucket, int nbounds, int64 *count)
{
	Datum	   *d = palloc(sizeof(Datum) * nbounds);
	int64		sum = 0;
	int			i;

	for (i = 0; i < nbounds; i++)
	{
		sum += (int64) pg_atomic_read_u64(&bucket[i]);
		d[i] = Int64GetDatum(sum);
	}
	sum += (int64) pg_atomic_read_u64(&bucket[nbounds]);
	*count = sum;
	return PointerGetDatum(construct_array(d, nbounds, INT8OID, 8,
										   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

#define WH_STATS_COLS	28

/* a counter as a bigint Datum */
#define WH_COUNTER(x)	Int64GetDatum((int64) pg_atomic_read_u64(&(x)))
/* a sum of microseconds as seconds */
#define WH_SECONDS(x)	Float8GetDatum((int64) pg_atomic_read_u64(&(x)) / 1000000.0)

static void
wh_stats_row(ReturnSetInfo *rsinfo, Datum dbname, const char *endpoint,
			 const char *tenant, WhStatsCounters *n, TimestampTz now,
			 TimestampTz reset_at)
{
	Datum		values[WH_STATS_COLS];
	bool		nulls[WH_STATS_COLS];
	int			c = 0;
	int			i;
	int64		backlog = (int64) pg_atomic_read_u64(&n->backlog);
	TimestampTz oldest = (TimestampTz) pg_atomic_read_u64(&n->oldest_due);
	uint32		breaker = pg_atomic_read_u32(&n->breaker);
	int64		count;

	memset(nulls, 0, sizeof(nulls));
	values[c++] = dbname;
	nulls[c] = (endpoint == NULL);
	values[c++] = endpoint ? CStringGetTextDatum(endpoint) : (Datum) 0;
	nulls[c] = (tenant == NULL);
	values[c++] = tenant ? CStringGetTextDatum(tenant) : (Datum) 0;
	values[c++] = WH_COUNTER(n->c[WH_C_CAPTURED]);
	for (i = 0; i < WH_ATTEMPT_NCLASSES; i++)
		values[c++] = WH_COUNTER(n->c[WH_C_ATTEMPTS + i]);
	values[c++] = WH_COUNTER(n->c[WH_C_DELIVERED]);
	values[c++] = WH_COUNTER(n->c[WH_C_DEAD]);
	values[c++] = WH_COUNTER(n->c[WH_C_RETRIED]);
	values[c++] = WH_COUNTER(n->c[WH_C_BYTES]);
	values[c++] = Int64GetDatum(Max(backlog, 0));
	values[c++] = Float8GetDatum(backlog > 0 && oldest != 0 && now > oldest ?
								 (now - oldest) / 1000000.0 : 0.0);
	values[c++] = CStringGetTextDatum(breaker == WH_STATS_BREAKER_OPEN ?
									  "open" :
									  breaker == WH_STATS_BREAKER_HALF_OPEN ?
									  "half-open" : "closed");
	values[c++] = wh_float8_array(wh_attempt_bounds, WH_STATS_ATTEMPT_NBOUNDS);
	values[c++] = wh_bucket_array(n->attempt_bucket, WH_STATS_ATTEMPT_NBOUNDS,
								  &count);
	values[c++] = WH_SECONDS(n->c[WH_C_ATTEMPT_SUM_US]);
	values[c++] = Int64GetDatum(count);
	values[c++] = wh_float8_array(wh_latency_bounds, WH_STATS_LATENCY_NBOUNDS);
	values[c++] = wh_bucket_array(n->latency_bucket, WH_STATS_LATENCY_NBOUNDS,
								  &count);
	values[c++] = WH_SECONDS(n->c[WH_C_LATENCY_SUM_US]);
	values[c++] = Int64GetDatum(count);
	values[c++] = TimestampTzGetDatum(reset_at);
	Assert(c == WH_STATS_COLS);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * webhook.stats(): one row per tracked endpoint of this database, and one
 * for the endpoints beyond the limit if there are any.  Names and tenants
 * come from webhook.endpoint; an endpoint dropped since is left out.
 */
Datum
webhook_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	WhStatsDatabase *db;
	int32	   *ids = NULL;
	char	  **names = NULL;
	char	  **tenants = NULL;
	uint64		n = 0;
	uint64		i;
	Datum		dbname;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz reset_at;

	InitMaterializedSRF(fcinfo, 0);
	db = wh_stats_db(false);
	if (db == NULL)
		PG_RETURN_VOID();
	dbname = DirectFunctionCall1(namein,
								 CStringGetDatum(get_database_name(MyDatabaseId)));
	reset_at = (TimestampTz) pg_atomic_read_u64(&db->reset_at);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT e.id, e.name, e.tenant FROM webhook.endpoint e "
					"ORDER BY e.name", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read webhook.endpoint");
	n = SPI_processed;
	if (n > 0)
	{
		ids = MemoryContextAlloc(cxt, sizeof(int32) * n);
		names = MemoryContextAlloc(cxt, sizeof(char *) * n);
		tenants = MemoryContextAlloc(cxt, sizeof(char *) * n);
	}
	for (i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		char	   *t;

		ids[i] = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		names[i] = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, 2));
		t = SPI_getvalue(tup, desc, 3);
		tenants[i] = t ? MemoryContextStrdup(cxt, t) : NULL;
	}
	SPI_finish();

	for (i = 0; i < n; i++)
	{
		WhStatsCounters *c = wh_stats_counters(ids[i], false);

		if (c)
			wh_stats_row(rsinfo, dbname, names[i], tenants[i], c, now,
						 reset_at);
	}
	if (pg_atomic_read_u32(&db->overflowed))
		wh_stats_row(rsinfo, dbname, NULL, NULL, &db->overflow, now,
					 reset_at);
	PG_RETURN_VOID();
}

/*
 * webhook.stats_reset(endpoint): clear this database's counters, or one
 * endpoint's.  The gauges stay: they describe now, not a period.
 */
Datum
webhook_stats_reset(PG_FUNCTION_ARGS)
{
	WhStatsDatabase *db = wh_stats_db(true);
	int			i;

	if (db == NULL)
		PG_RETURN_VOID();
	if (!PG_ARGISNULL(0))
	{
		char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
		Oid			argtypes[1] = {TEXTOID};
		Datum		args[1];
		bool		isnull;
		int32		id;
		WhStatsCounters *c;

		args[0] = PG_GETARG_DATUM(0);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT e.id FROM webhook.endpoint e "
								  "WHERE e.name OPERATOR(pg_catalog.=) $1",
								  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read webhook.endpoint");
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("endpoint \"%s\" does not exist", name)));
		id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
		SPI_finish();
		c = wh_stats_counters(id, false);
		if (c)
			wh_stats_zero(c);
		PG_RETURN_VOID();
	}

	for (i = 0; i < wh_stats->ntable; i++)
	{
		WhStatsSlot *slot = &wh_stats->slots[i];
		uint64		k = pg_atomic_read_u64(&slot->key);

		if (k != 0 && (Oid) (k >> 32) == MyDatabaseId)
			wh_stats_zero(&slot->n);
	}
	wh_stats_zero(&db->overflow);
	pg_atomic_write_u32(&db->overflowed, 0);
	pg_atomic_write_u64(&db->reset_at, (uint64) GetCurrentTimestamp());
	PG_RETURN_VOID();
}
