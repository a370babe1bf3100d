/*-------------------------------------------------------------------------
 *
 * outbox.c
 *	  Write captured events into webhook.event, many rows at a time.
 *
 * The capture trigger fires once per row.  Inserting each event on its own
 * (through SPI, or even straight into the heap) costs an executor start, a
 * WAL record and a buffer lookup per row; for a bulk statement that is most
 * of the trigger's price.  So events are buffered in memory and written
 * together, the way COPY writes rows: one table_multi_insert() per batch
 * (one WAL record per heap page), then the index entries.
 *
 * When the buffer is written:
 *	- at the end of every statement (an ExecutorFinish hook, which runs after
 *	  the statement's AFTER triggers), so a statement's events are in the
 *	  table before the next statement runs, as if inserted directly;
 *	- whenever it holds WH_OUTBOX_BATCH events or WH_OUTBOX_BYTES bytes;
 *	- before commit or prepare, which also catches COPY (it fires its AFTER
 *	  triggers without ExecutorFinish).
 * The first two write only events of the current subtransaction (and of
 * its committed children), never an enclosing one's: see wh_outbox_write.
 * Events are tagged with the subtransaction that captured them; when a
 * subtransaction aborts, the events it buffered are dropped with it, so a
 * rolled-back change never reaches the table.  A top-level abort drops
 * everything.
 *
 * Index entries: ExecOpenIndices() builds every index's IndexInfo and
 * compiles the partial indexes' predicates each time, which for a
 * single-row statement cost about as much as the entries themselves.  So
 * when webhook.event's indexes are all plain btrees on columns (as the
 * extension makes them), their IndexInfo and compiled predicates are kept
 * per backend, rebuilt after any relcache invalidation of the table (a new
 * index, a dropped one, CREATE INDEX CONCURRENTLY becoming ready), and the
 * entries are inserted with index_insert() directly.  Any other index
 * (expressions, exclusion constraints, deferrable uniqueness, another
 * access method) sends every write down the executor's general path.
 *
 * Rows are written straight into the heap and indexes, without permission
 * checks: the table belongs to the extension, and users who can write
 * their own tables must be able to capture events without being able to
 * write (or forge) events directly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "catalog/index.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "capture/outbox.h"
#include "launcher/wake.h"

#define WH_OUTBOX_BATCH		1000
#define WH_OUTBOX_BYTES		(8 * 1024 * 1024)

typedef struct WhPendingEvent
{
	SubTransactionId subid;
	int32		endpoint_id;
	pg_uuid_t	msg_id;
	TimestampTz created_at;
	TimestampTz next_attempt_at;
	text	   *payload;
	text	   *ordering_key;	/* NULL unless its endpoint keeps order */
} WhPendingEvent;

static MemoryContext wh_outbox_cxt = NULL;
static WhPendingEvent *wh_buf = NULL;
static int	wh_nbuf = 0;
static int	wh_bufsize = 0;
static Size wh_buf_bytes = 0;
static bool wh_callbacks_registered = false;

static ExecutorFinish_hook_type prev_executor_finish = NULL;

/* webhook.event, its sequence and the "pending" label, looked up once */
static Oid	wh_event_relid = InvalidOid;
static Oid	wh_event_seqid = InvalidOid;
static Datum wh_pending_label = (Datum) 0;

/* webhook.event's indexes, when the direct path can maintain them */
typedef struct WhOutboxIndex
{
	Oid			indexoid;
	IndexInfo  *info;
	ExprState  *predicate;		/* NULL unless partial */
} WhOutboxIndex;

static MemoryContext wh_index_cxt = NULL;
static WhOutboxIndex *wh_indexes = NULL;
static int	wh_nindexes = 0;
static bool wh_indexes_direct = false;
static bool wh_indexes_checked = false;
static ExprContext *wh_index_econtext = NULL;

/*
 * Relcache callback: forget the OIDs above when webhook.event changes (or
 * goes, with DROP EXTENSION).
 */
static void
wh_outbox_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == wh_event_relid)
	{
		wh_event_relid = InvalidOid;
		wh_indexes_checked = false;
	}
}

/*
 * Work out, for the open webhook.event, whether its index entries can be
 * written directly, and keep what that needs (see the file header).
 */
static void
wh_outbox_index_setup(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	MemoryContext old;

	if (wh_index_cxt == NULL)
		wh_index_cxt = AllocSetContextCreate(CacheMemoryContext,
											 "webhook outbox indexes",
											 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(wh_index_cxt);
	wh_indexes = NULL;
	wh_nindexes = 0;
	wh_indexes_direct = false;
	wh_index_econtext = NULL;

	old = MemoryContextSwitchTo(wh_index_cxt);
	wh_indexes = palloc0(sizeof(WhOutboxIndex) * (list_length(indexes) + 1));
	foreach(lc, indexes)
	{
		Oid			indexoid = lfirst_oid(lc);
		Relation	irel = index_open(indexoid, AccessShareLock);
		IndexInfo  *ii = BuildIndexInfo(irel);
		bool		plain;
		WhOutboxIndex *wi;

		plain = irel->rd_rel->relam == BTREE_AM_OID &&
			ii->ii_Expressions == NIL && ii->ii_ExclusionOps == NULL &&
			(!ii->ii_Unique || irel->rd_index->indimmediate);
			index_close(irel, AccessShareLock);
		if (!plain)
		{
			MemoryContextSwitchTo(old);
			MemoryContextReset(wh_index_cxt);
			wh_indexes = NULL;
			wh_nindexes = 0;
			return;
		}
		wi = &wh_indexes[wh_nindexes++];
		wi->indexoid = indexoid;
		wi->info = ii;
		wi->predicate = ii->ii_Predicate != NIL ?
			ExecInitQual(ii->ii_Predicate, NULL) : NULL;
	}
	wh_index_econtext = CreateStandaloneExprContext();
	MemoryContextSwitchTo(old);
	wh_indexes_direct = true;
}

/*
 * Write the index entries of the n rows just inserted, directly (see the
 * file header).
 */
static void
wh_outbox_index_direct(Relation rel, TupleTableSlot **slots, int n)
{
	Relation   *irels = palloc(sizeof(Relation) * (wh_nindexes + 1));
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			i;
	int			k;

	for (k = 0; k < wh_nindexes; k++)
		irels[k] = index_open(wh_indexes[k].indexoid, RowExclusiveLock);
	for (i = 0; i < n; i++)
	{
		for (k = 0; k < wh_nindexes; k++)
		{
			WhOutboxIndex *wi = &wh_indexes[k];

			if (!wi->info->ii_ReadyForInserts)
				continue;
			if (wi->predicate)
			{
				wh_index_econtext->ecxt_scantuple = slots[i];
				if (!ExecQual(wi->predicate, wh_index_econtext))
				{
					ResetExprContext(wh_index_econtext);
					continue;
				}
				ResetExprContext(wh_index_econtext);
			}
			FormIndexDatum(wi->info, slots[i], NULL, values, isnull);
			index_insert(irels[k], values, isnull, &slots[i]->tts_tid, rel,
						 wi->info->ii_Unique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO,
						 false, wi->info);
		}
	}
	for (k = 0; k < wh_nindexes; k++)
		index_close(irels[k], NoLock);
	pfree(irels);
}

/*
 * Look up webhook.event, its id sequence and the enum value "pending", once
 * per backend (again after webhook.event changes).
 */
static void
wh_outbox_lookup(void)
{
	static bool registered = false;
	Oid			nsp;
	Oid			relid;
	Oid			seqid;
	Oid			state_type;

	if (OidIsValid(wh_event_relid))
		return;
	if (!registered)
	{
		CacheRegisterRelcacheCallback(wh_outbox_relcache_cb, (Datum) 0);
		registered = true;
	}
	nsp = get_namespace_oid("webhook", false);
	relid = get_relname_relid("event", nsp);
	seqid = get_relname_relid("event_id_seq", nsp);
	state_type = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								 CStringGetDatum("event_state"),
								 ObjectIdGetDatum(nsp));
	if (!OidIsValid(relid) || !OidIsValid(seqid) || !OidIsValid(state_type))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"webhook.event\" does not exist"),
				 errhint("Is the webhook extension installed in this database?")));
	wh_pending_label = DirectFunctionCall2(enum_in, CStringGetDatum("pending"),
										   ObjectIdGetDatum(state_type));
	wh_event_seqid = seqid;
	wh_indexes_checked = false;
	wh_event_relid = relid;
}

/*
 * Forget buffered events from subtransaction subid and its children
 * (subtransaction ids only grow within a transaction).
 */
static void
wh_outbox_discard_from(SubTransactionId subid)
{
	while (wh_nbuf > 0 && wh_buf[wh_nbuf - 1].subid >= subid)
	{
		wh_nbuf--;
		wh_buf_bytes -= VARSIZE(wh_buf[wh_nbuf].payload);
		pfree(wh_buf[wh_nbuf].payload);
	}
}

static void
wh_outbox_reset(void)
{
	wh_nbuf = 0;
	wh_buf_bytes = 0;
	wh_buf = NULL;
	wh_bufsize = 0;
	if (wh_outbox_cxt)
		MemoryContextReset(wh_outbox_cxt);
}

/*
 * Write buffered events into webhook.event: all of them (all = true, at
 * commit), or only those captured by the current subtransaction and its
 * committed children.  Events of an enclosing (sub)transaction must not be
 * written from inside a subtransaction, or rolling it back would take them
 * along; they wait for a flush at their own level, or for the commit.
 */
static void
wh_outbox_write(bool all)
{
	Relation	rel;
	Oid			seqid;
	ResultRelInfo *rri;
	EState	   *estate;
	BulkInsertState bistate;
	TupleTableSlot **slots;
	TupleDesc	desc;
	Datum		pending;
	CommandId	cid;
	MemoryContext old;
	int			first = 0;
	int			n;
	int			i;

	if (!all)
	{
		SubTransactionId cur = GetCurrentSubTransactionId();

		first = wh_nbuf;
		while (first > 0 && wh_buf[first - 1].subid >= cur)
			first--;
	}
	n = wh_nbuf - first;
	if (n == 0)
		return;

	wh_outbox_lookup();
	seqid = wh_event_seqid;
	pending = wh_pending_label;
	rel = table_open(wh_event_relid, RowExclusiveLock);
	desc = RelationGetDescr(rel);
	if (desc->natts < 10)
		elog(ERROR, "webhook.event has %d columns, expected at least 10",
			 desc->natts);

	/* after table_open, which took in any invalidation of the table */
	if (!wh_indexes_checked)
	{
		wh_outbox_index_setup(rel);
		wh_indexes_checked = true;
	}

	estate = CreateExecutorState();
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	if (!wh_indexes_direct)
		ExecOpenIndices(rri, false);
	/* a ring of buffers only pays off for real batches */
	bistate = n > 1 ? GetBulkInsertState() : NULL;
	cid = GetCurrentCommandId(true);

	/*
	 * The slots share a copy of the descriptor that is not reference
	 * counted: with the relcache's own, each slot would register with the
	 * resource owner, and forgetting n of them costs O(n^2).
	 */
	desc = CreateTupleDescCopy(desc);
	slots = palloc(sizeof(TupleTableSlot *) * n);
	for (i = 0; i < n; i++)
	{
		WhPendingEvent *ev = &wh_buf[first + i];
		TupleTableSlot *slot;

		slot = MakeSingleTupleTableSlot(desc, table_slot_callbacks(rel));
		ExecClearTuple(slot);
		/* columns added after the first ten are left null */
		memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
		memset(slot->tts_isnull, false, sizeof(bool) * 10);
		slot->tts_values[0] = Int64GetDatum(nextval_internal(seqid, false));
		slot->tts_values[1] = Int32GetDatum(ev->endpoint_id);
		slot->tts_values[2] = UUIDPGetDatum(&ev->msg_id);
		slot->tts_values[3] = pending;
		slot->tts_values[4] = Int16GetDatum(0);
		slot->tts_values[5] = Int16GetDatum(0);
		slot->tts_values[6] = TimestampTzGetDatum(ev->created_at);
		slot->tts_values[7] = TimestampTzGetDatum(ev->next_attempt_at);
		slot->tts_values[8] = (Datum) 0;
		slot->tts_isnull[8] = true;
		slot->tts_values[9] = PointerGetDatum(ev->payload);
		if (desc->natts > 10)
		{
			slot->tts_values[10] = PointerGetDatum(ev->ordering_key);
			slot->tts_isnull[10] = (ev->ordering_key == NULL);
		}
		ExecStoreVirtualTuple(slot);
		slots[i] = slot;
	}

	table_multi_insert(rel, slots, n, cid, 0, bistate);

	if (wh_indexes_direct)
		wh_outbox_index_direct(rel, slots, n);
	else
	{
		for (i = 0; i < n; i++)
		{
			List	   *recheck;

#if PG_VERSION_NUM >= 160000
			recheck = ExecInsertIndexTuples(rri, slots[i], estate, false,
											false, NULL, NIL, false);
#else
			recheck = ExecInsertIndexTuples(rri, slots[i], estate, false,
											false, NULL, NIL);
#endif
			list_free(recheck);
			ResetPerTupleExprContext(estate);
		}
		ExecCloseIndices(rri);
	}
	for (i = 0; i < n; i++)
		ExecDropSingleTupleTableSlot(slots[i]);

	if (bistate)
		FreeBulkInsertState(bistate);
	MemoryContextSwitchTo(old);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	if (first == 0)
		wh_outbox_reset();
	else
	{
		for (i = first; i < wh_nbuf; i++)
		{
			wh_buf_bytes -= VARSIZE(wh_buf[i].payload);
			pfree(wh_buf[i].payload);
		}
		wh_nbuf = first;
	}
	wh_wake_at_commit();
}

void
wh_outbox_flush(void)
{
	wh_outbox_write(true);
}

static void
wh_outbox_executor_finish(QueryDesc *queryDesc)
{
	if (prev_executor_finish)
		prev_executor_finish(queryDesc);
	else
		standard_ExecutorFinish(queryDesc);
	if (wh_nbuf > 0)
		wh_outbox_write(false);
}

static void
wh_outbox_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			wh_outbox_flush();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			wh_outbox_reset();
			break;
	}
}

static void
wh_outbox_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		wh_outbox_discard_from(mySubid);
}

/*
 * Buffer one event; payload is the body's text, next_attempt_at when it is
 * first due.  The caller's transaction
 * writes it (see the file header for when).
 */
void
wh_outbox_add(int32 endpoint_id, const pg_uuid_t *msg_id,
			  TimestampTz created_at, TimestampTz next_attempt_at,
			  const char *body, int len)
{
	wh_outbox_add_keyed(endpoint_id, msg_id, created_at, next_attempt_at,
						body, len, NULL);
}

/*
 * The same, for an event whose endpoint keeps order: ordering_key names the
 * sequence it belongs to (see the worker's order.c).
 */
void
wh_outbox_add_keyed(int32 endpoint_id, const pg_uuid_t *msg_id,
					TimestampTz created_at, TimestampTz next_attempt_at,
					const char *body, int len, const char *ordering_key)
{
	WhPendingEvent *ev;
	MemoryContext old;

	if (!wh_callbacks_registered)
	{
		RegisterXactCallback(wh_outbox_xact_callback, NULL);
		RegisterSubXactCallback(wh_outbox_subxact_callback, NULL);
		wh_outbox_cxt = AllocSetContextCreate(TopMemoryContext,
											  "webhook outbox buffer",
											  ALLOCSET_DEFAULT_SIZES);
		wh_callbacks_registered = true;
	}

	old = MemoryContextSwitchTo(wh_outbox_cxt);
	if (wh_nbuf >= wh_bufsize)
	{
		/* grows past WH_OUTBOX_BATCH only while outer events must wait */
		wh_bufsize = Max(WH_OUTBOX_BATCH, wh_bufsize * 2);
		wh_buf = wh_buf ? repalloc(wh_buf, sizeof(WhPendingEvent) * wh_bufsize) :
			palloc(sizeof(WhPendingEvent) * wh_bufsize);
	}
	ev = &wh_buf[wh_nbuf++];
	ev->subid = GetCurrentSubTransactionId();
	ev->endpoint_id = endpoint_id;
	ev->msg_id = *msg_id;
	ev->created_at = created_at;
	ev->next_attempt_at = next_attempt_at;
	ev->payload = cstring_to_text_with_len(body, len);
	ev->ordering_key = ordering_key ? cstring_to_text(ordering_key) : NULL;
	wh_buf_bytes += VARSIZE(ev->payload);
	MemoryContextSwitchTo(old);

	if (wh_nbuf >= WH_OUTBOX_BATCH || wh_buf_bytes >= WH_OUTBOX_BYTES)
		wh_outbox_write(false);
}

/*
 * Install the end-of-statement hook (from _PG_init).
 */
void
wh_outbox_init(void)
{
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = wh_outbox_executor_finish;
}
