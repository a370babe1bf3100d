/*-------------------------------------------------------------------------
 *
 * route.c
 *	  Where a routed change goes: the backend's routing cache of endpoints,
 *	  kept exact under concurrent endpoint changes, and event-type filters.
 *
 * A subscription routed by tenant sends each change to every enabled
 * endpoint of the row's tenant whose filter takes the event's type; a
 * broadcast subscription to every enabled endpoint without a tenant whose
 * filter takes it.  Operational endpoints (which receive the extension's
 * own events) are never routed to; a disabled endpoint receives nothing,
 * a paused one (webhook.pause() also disables it) receives its events
 * parked at 'infinity', as webhook.resume() expects.  The capture must
 * not run SQL per row, so each backend keeps every endpoint that may
 * receive routed events (id, tenant, filter, ordering, paused) in memory:
 * a hash by tenant and a list of broadcast targets, loaded as the outbox's
 * owner with a snapshot taken when it is loaded, which sees every
 * committed endpoint change.
 *
 * The protocol that keeps it exact.  A relcache invalidation is not
 * enough: it is sent once the changing transaction's commit is visible,
 * and a backend in the middle of a transaction takes it in only at its next
 * command, so a change committed between two rows of one statement would
 * go unseen.  Instead shared memory holds two counters, "begun" and
 * "done".  A transaction that changed webhook.endpoint (its statement
 * trigger, webhook._endpoint_changed(), tells this file) adds one to begun
 * before its commit becomes visible (XACT_EVENT_PRE_COMMIT) and one to done
 * after (XACT_EVENT_COMMIT, or ABORT).  So done <= begun at every instant,
 * and whenever they are equal no endpoint change is on its way to being
 * visible.  The cache is loaded after reading both counters; when they
 * were equal it is tagged with their value, otherwise it is used for the
 * row that loaded it only.  Before each row the capture reads both (two
 * atomic reads): the cache is used while begun == done == its tag.  Any
 * transaction whose commit the cache's snapshot missed must have added to
 * begun after the tag was read, so the tag no longer matches from then on.
 *
 * The transaction's own endpoint changes are not counted until it commits;
 * they mark the cache stale at once (and again at the end of the
 * transaction or of a subtransaction that rolls back), and a snapshot taken
 * inside the transaction sees them.
 *
 * Two-phase commit: a prepared transaction's changes become visible when
 * another session runs COMMIT PREPARED, where no callback of this one
 * runs.  So PREPARE TRANSACTION of a transaction that changed endpoints is
 * refused.
 *
 * Without shared memory (the library not in shared_preload_libraries) the
 * counters do not exist, and the cache is loaded again for every statement
 * (every command of a transaction): a change committed while a statement
 * runs reaches the statement after it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "capture/route.h"

typedef struct WhRouteShared
{
	pg_atomic_uint64 begun;		/* endpoint changes about to be visible */
	pg_atomic_uint64 done;		/* those that are visible (or aborted) */
} WhRouteShared;

/* one tenant's endpoints (and any other tenant's of the same hash) */
typedef struct WhRouteTenant
{
	uint32		hash;			/* key */
	WhRouteEndpoint *first;
} WhRouteTenant;

static WhRouteShared *wh_route_shared = NULL;

/* this transaction changed endpoints; it added to begun */
static bool wh_route_xact_changed = false;
static bool wh_route_bumped = false;
static bool wh_route_callbacks = false;

/* the cache */
static MemoryContext wh_route_cxt = NULL;
static HTAB *wh_route_tenants = NULL;
static WhRouteEndpoint *wh_route_broadcast = NULL;
static bool wh_route_valid = false;
static bool wh_route_tagged = false;	/* loaded while begun == done */
static uint64 wh_route_tag = 0;
/* without shared memory: the transaction and command it was loaded in */
static uint64 wh_route_xact_seq = 0;
static uint64 wh_route_loaded_seq = 0;
static CommandId wh_route_loaded_cid = InvalidCommandId;

static SPIPlanPtr wh_route_plan = NULL;

Size
wh_route_shmem_size(void)
{
	return MAXALIGN(sizeof(WhRouteShared));
}

/*
 * Set up the counters (from the shared memory startup hook, under
 * AddinShmemInitLock).
 */
void
wh_route_shmem_init(void)
{
	bool		found;

	wh_route_shared = ShmemInitStruct("webhook routing",
									  wh_route_shmem_size(), &found);
	if (!found)
	{
		pg_atomic_init_u64(&wh_route_shared->begun, 0);
		pg_atomic_init_u64(&wh_route_shared->done, 0);
	}
}

static void
wh_route_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			if (wh_route_xact_changed && wh_route_shared && !wh_route_bumped)
			{
				pg_atomic_fetch_add_u64(&wh_route_shared->begun, 1);
				wh_route_bumped = true;
			}
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (wh_route_xact_changed)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that changed webhook endpoints"),
						 errdetail("Captured changes are routed by the endpoints that are committed, and a prepared transaction's changes become visible in another session."),
						 errhint("Commit endpoint changes in a transaction of their own.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			if (wh_route_bumped)
				pg_atomic_fetch_add_u64(&wh_route_shared->done, 1);
			wh_route_bumped = false;
			if (wh_route_xact_changed)
				wh_route_valid = false;
			wh_route_xact_changed = false;
			wh_route_xact_seq++;
			break;
	}
}

static void
wh_route_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	/* endpoint changes rolled back: the cache may hold them */
	if (event == SUBXACT_EVENT_ABORT_SUB && wh_route_xact_changed)
		wh_route_valid = false;
}

static void
wh_route_register(void)
{
	if (wh_route_callbacks)
		return;
	RegisterXactCallback(wh_route_xact_callback, NULL);
	RegisterSubXactCallback(wh_route_subxact_callback, NULL);
	wh_route_callbacks = true;
}

/*
 * Called by webhook._endpoint_changed(), the statement trigger on
 * webhook.endpoint.
 */
void
wh_route_endpoints_changed(void)
{
	wh_route_register();
	wh_route_xact_changed = true;
	wh_route_valid = false;
}

/*
 * The counters, for caches other than this file's: see route.h.
 */
bool
wh_route_stamp(uint64 *stamp)
{
	uint64		begun;
	uint64		done;

	*stamp = 0;
	if (wh_route_shared == NULL)
		return false;
	pg_memory_barrier();
	begun = pg_atomic_read_u64(&wh_route_shared->begun);
	pg_read_barrier();
	done = pg_atomic_read_u64(&wh_route_shared->done);
	*stamp = begun;
	return begun == done;
}

/*
 * Is the cache still exact?  See the file header.
 */
static bool
wh_route_current(void)
{
	uint64		begun;
	uint64		done;

	if (!wh_route_valid)
		return false;
	if (wh_route_shared == NULL)
		return wh_route_loaded_seq == wh_route_xact_seq &&
			wh_route_loaded_cid == GetCurrentCommandId(false);
	if (!wh_route_tagged)
		return false;
	pg_memory_barrier();
	begun = pg_atomic_read_u64(&wh_route_shared->begun);
	pg_read_barrier();
	done = pg_atomic_read_u64(&wh_route_shared->done);
	return begun == done && begun == wh_route_tag;
}

/*
 * Load every endpoint that may receive routed events, as the outbox's
 * owner (row-level security on the table does not apply to its owner),
 * with a snapshot taken now.
 */
static void
wh_route_load(Oid owner)
{
	Oid			save_userid;
	int			save_sec;
	uint64		begun = 0;
	uint64		done = 0;
	HASHCTL		ctl;
	WhRouteEndpoint **broadcast_tail = &wh_route_broadcast;
	uint64		i;
	int			rc;

	wh_route_register();
	if (wh_route_cxt == NULL)
		wh_route_cxt = AllocSetContextCreate(TopMemoryContext,
											 "webhook routing cache",
											 ALLOCSET_DEFAULT_SIZES);
	wh_route_valid = false;
	MemoryContextReset(wh_route_cxt);
	wh_route_tenants = NULL;
	wh_route_broadcast = NULL;

	/* the counters first, then the snapshot */
	if (wh_route_shared)
	{
		pg_memory_barrier();
		begun = pg_atomic_read_u64(&wh_route_shared->begun);
		pg_read_barrier();
		done = pg_atomic_read_u64(&wh_route_shared->done);
	}

	ctl.keysize = sizeof(uint32);
	ctl.entrysize = sizeof(WhRouteTenant);
	ctl.hcxt = wh_route_cxt;
	wh_route_tenants = hash_create("webhook routing tenants", 1024, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (wh_route_plan == NULL)
	{
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT e.id, e.tenant, e.event_types, "
						   "       e.ordering, e.paused "
						   "FROM webhook.endpoint e "
						   "WHERE (e.enabled OR e.paused) AND NOT e.operational "
						   "ORDER BY e.id", 0, NULL);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		wh_route_plan = plan;
	}
	rc = SPI_execute_snapshot(wh_route_plan, NULL, NULL, GetLatestSnapshot(),
							  InvalidSnapshot, true, false, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_snapshot failed: %s",
			 SPI_result_code_string(rc));

	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext old;
		WhRouteEndpoint *ep;
		Datum		d;
		bool		isnull;
		char	   *tenant = NULL;
		char	   *ordering;

		old = MemoryContextSwitchTo(wh_route_cxt);
		ep = palloc0(sizeof(WhRouteEndpoint));
		ep->id = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		d = SPI_getbinval(tup, desc, 2, &isnull);
		if (!isnull)
			tenant = TextDatumGetCString(d);
		ep->tenant = tenant;
		d = SPI_getbinval(tup, desc, 3, &isnull);
		ep->ntypes = -1;
		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;
			int			k;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false,
							  TYPALIGN_INT, &elems, &nulls, &n);
			ep->types = palloc(sizeof(char *) * Max(n, 1));
			ep->ntypes = 0;
			for (k = 0; k < n; k++)
				if (!nulls[k])
					ep->types[ep->ntypes++] = TextDatumGetCString(elems[k]);
		}
		ordering = TextDatumGetCString(SPI_getbinval(tup, desc, 4, &isnull));
		ep->ordering = ordering[0];
		ep->paused = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));

		if (tenant == NULL)
		{
			/* kept in id order, as the query gave them */
			*broadcast_tail = ep;
			broadcast_tail = &ep->next;
		}
		else
		{
			uint32		h = hash_bytes((const unsigned char *) tenant,
									   strlen(tenant));
			bool		found;
			WhRouteTenant *t;

			WhRouteEndpoint **tail;

			t = hash_search(wh_route_tenants, &h, HASH_ENTER, &found);
			if (!found)
				t->first = NULL;
			/* in id order, as the query gave them: events are written so */
			for (tail = &t->first; *tail; tail = &(*tail)->next)
				;
			*tail = ep;
		}
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	SetUserIdAndSecContext(save_userid, save_sec);

	wh_route_tagged = wh_route_shared != NULL && begun == done;
	wh_route_tag = begun;
	wh_route_loaded_seq = wh_route_xact_seq;
	wh_route_loaded_cid = GetCurrentCommandId(false);
	wh_route_valid = true;
}

/*
 * '*' stands for any run of characters, every other character for itself.
 */
bool
wh_route_type_matches(const char *pattern, const char *type)
{
	const char *star = NULL;
	const char *resume = NULL;

	while (*type)
	{
		if (*pattern == '*')
		{
			star = pattern++;
			resume = type;
		}
		else if (*pattern == *type)
		{
			pattern++;
			type++;
		}
		else if (star)
		{
			pattern = star + 1;
			type = ++resume;
		}
		else
			return false;
	}
	while (*pattern == '*')
		pattern++;
	return *pattern == '\0';
}

static bool
wh_route_accepts(const WhRouteEndpoint *ep, const char *event_type)
{
	int			i;

	if (ep->ntypes < 0)
		return true;
	for (i = 0; i < ep->ntypes; i++)
		if (wh_route_type_matches(ep->types[i], event_type))
			return true;
	return false;
}

int
wh_route_lookup(Oid owner, const char *tenant, const char *event_type,
				WhRouteEndpoint **out, int max)
{
	WhRouteEndpoint *ep;
	int			n = 0;

	if (!wh_route_current())
		wh_route_load(owner);
	if (!wh_route_tagged)
		wh_route_valid = wh_route_shared == NULL;	/* this row only */

	if (tenant == NULL)
		ep = wh_route_broadcast;
	else
	{
		uint32		h = hash_bytes((const unsigned char *) tenant,
								   strlen(tenant));
		WhRouteTenant *t = hash_search(wh_route_tenants, &h, HASH_FIND, NULL);

		ep = t ? t->first : NULL;
	}
	for (; ep; ep = ep->next)
	{
		if (tenant && strcmp(ep->tenant, tenant) != 0)
			continue;
		if (!wh_route_accepts(ep, event_type))
			continue;
		if (n < max)
			out[n] = ep;
		n++;
	}
	return n;
}

PG_FUNCTION_INFO_V1(webhook_event_type_matches);

/*
 * SQL: webhook._event_type_matches(patterns, type): does an endpoint's
 * filter take an event type?  NULL patterns take every type.
 */
Datum
webhook_event_type_matches(PG_FUNCTION_ARGS)
{
	char	   *type;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(true);
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	type = text_to_cstring(PG_GETARG_TEXT_PP(1));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
		if (!nulls[i] &&
			wh_route_type_matches(TextDatumGetCString(elems[i]), type))
			PG_RETURN_BOOL(true);
	PG_RETURN_BOOL(false);
}
