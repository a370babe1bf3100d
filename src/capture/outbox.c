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
 * Rows are written straight into the heap and indexes only while that is
 * exactly what an INSERT would do: webhook.event is a plain heap table
 * with no INSERT triggers, no rules, CHECK constraints or generated
 * columns, and every NOT NULL column gets a value (see
 * wh_outbox_cache_build).  Columns are found by name and defaults are
 * evaluated, so added, dropped or reordered columns keep the direct path.  When any condition fails, each event goes
 * through a prepared INSERT instead, and the executor applies triggers,
 * rules and constraints.  What is known of the table is rebuilt after any
 * relcache invalidation of it, so a change is seen by the next write.
 *
 * Either way rows are written as the table's owner: the table belongs to
 * the extension, and users who can write their own tables must be able to
 * capture events without being able to write (or forge) events directly.
 *
 * Each event keeps the webhook.traceparent of the moment it was captured,
 * and with it the webhook.tracestate (the events captured under one value
 * share one copy of it), in the traceparent and tracestate columns when
 * the table has them.  Unset, as it mostly is, the traceparent costs one
 * test per event.
 *
 * A change routed to several endpoints is buffered as one group: the first
 * event holds the payload, the others none.  When written, the payload
 * goes once into webhook.message under the first event's id (taken from
 * the id column's default as its row is formed, or from the column's
 * sequence through the executor), and every event of the group names it in
 * message_id, with a NULL payload.  A group is buffered, written and
 * dropped as a whole.  webhook.message is written directly too (one
 * multi-insert, then its index entries by the executor's routine) while it
 * is the plain two-column table the extension makes, else by one INSERT
 * per batch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_relation.h"
#include "rewrite/rewriteHandler.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "capture/outbox.h"
#include "guc.h"
#include "launcher/wake.h"
#include "observe/stats.h"

#define WH_OUTBOX_BATCH		1000
#define WH_OUTBOX_BYTES		(8 * 1024 * 1024)

typedef struct WhPendingEvent
{
	SubTransactionId subid;
	int32		endpoint_id;
	pg_uuid_t	msg_id;
	TimestampTz created_at;
	TimestampTz next_attempt_at;
	text	   *payload;		/* NULL for a shared payload's follower */
	text	   *ordering_key;	/* NULL unless its endpoint keeps order */
	text	   *traceparent;	/* NULL, or wh_trace_text: not freed alone */
	text	   *tracestate;		/* NULL, or wh_state_text: the same */
	int			share;			/* 0: own payload; n > 1: the first of n
								 * events sharing it; -1: one of the rest */
} WhPendingEvent;

static MemoryContext wh_outbox_cxt = NULL;
static WhPendingEvent *wh_buf = NULL;
static int	wh_nbuf = 0;
static int	wh_bufsize = 0;
static Size wh_buf_bytes = 0;
static bool wh_callbacks_registered = false;

/*
 * The last webhook.traceparent and webhook.tracestate seen, as the texts
 * every event captured under them shares (in wh_outbox_cxt), so that a
 * traced bulk statement copies them once.
 */
static text *wh_trace_text = NULL;
static text *wh_state_text = NULL;

static ExecutorFinish_hook_type prev_executor_finish = NULL;

static WhPendingEvent *wh_outbox_push(int32 endpoint_id,
									  const pg_uuid_t *msg_id,
									  TimestampTz created_at,
									  TimestampTz next_attempt_at,
									  const char *body, int len,
									  const char *ordering_key);

/*
 * The columns the capture fills, found by name, and the type of the value
 * it has for each.  Every other column gets its default, or null, as an
 * INSERT naming only these columns would give it.
 */
typedef enum WhOutboxColumn
{
	WH_COL_ENDPOINT_ID,
	WH_COL_MSG_ID,
	WH_COL_CREATED_AT,
	WH_COL_NEXT_ATTEMPT_AT,
	WH_COL_PAYLOAD,
	WH_COL_ORDERING_KEY,
	WH_COL_MESSAGE_ID,
	WH_COL_TRACEPARENT,
	WH_COL_TRACESTATE,
	WH_NCOLUMNS
} WhOutboxColumn;

static const char *const wh_column_names[WH_NCOLUMNS] = {
	"endpoint_id", "msg_id", "created_at", "next_attempt_at", "payload",
	"ordering_key", "message_id", "traceparent", "tracestate"
};

static const Oid wh_column_types[WH_NCOLUMNS] = {
	INT4OID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, JSONOID, TEXTOID, INT8OID,
	TEXTOID, TEXTOID
};

/*
 * The executor's way in, taken when the direct write is not safe; the
 * second for a table from before ordering keys (the one column that may be
 * missing: an extension still at 0.1.0 whose library is newer).  The
 * traced statements below fill traceparent and tracestate too, whenever
 * the table has them (one from before 0.7.0 does not: its events keep no
 * trace).
 */
static const char wh_insert_traced_sql[] =
"INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload, ordering_key, traceparent, tracestate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static SPIPlanPtr wh_insert_traced_plan = NULL;
static const char wh_insert_sql[] =
"INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload, ordering_key) VALUES ($1, $2, $3, $4, $5, $6)";
static const char wh_insert_unkeyed_sql[] =
"INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload) VALUES ($1, $2, $3, $4, $5)";
static SPIPlanPtr wh_insert_plan = NULL;
static SPIPlanPtr wh_insert_unkeyed_plan = NULL;

/*
 * Events sharing one payload, through the executor: the first takes its id
 * from the id column's sequence, and is its own message; the rest name it.
 * Their payloads go into webhook.message, a batch per statement.
 */
static const char wh_insert_head_sql[] =
"INSERT INTO webhook.event (id, endpoint_id, msg_id, created_at, next_attempt_at, ordering_key, message_id) "
"SELECT n.id, $1, $2, $3, $4, $5, n.id FROM (SELECT pg_catalog.nextval(pg_catalog.pg_get_serial_sequence('webhook.event', 'id')) AS id) n "
"RETURNING id";
static const char wh_insert_follower_sql[] =
"INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, ordering_key, message_id) VALUES ($1, $2, $3, $4, $5, $6)";
static const char wh_insert_message_sql[] =
"INSERT INTO webhook.message (id, payload) "
"SELECT * FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.int8[]), pg_catalog.unnest($2::pg_catalog.json[]))";
static SPIPlanPtr wh_insert_head_plan = NULL;
static SPIPlanPtr wh_insert_follower_plan = NULL;
/* the same with traceparent and tracestate ($7, $8; the head has no use for $6) */
static const char wh_insert_head_traced_sql[] =
"INSERT INTO webhook.event (id, endpoint_id, msg_id, created_at, next_attempt_at, ordering_key, message_id, traceparent, tracestate) "
"SELECT n.id, $1, $2, $3, $4, $5, n.id, $7, $8 FROM (SELECT pg_catalog.nextval(pg_catalog.pg_get_serial_sequence('webhook.event', 'id')) AS id) n "
"RETURNING id";
static const char wh_insert_follower_traced_sql[] =
"INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, ordering_key, message_id, traceparent, tracestate) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
static SPIPlanPtr wh_insert_head_traced_plan = NULL;
static SPIPlanPtr wh_insert_follower_traced_plan = NULL;
static SPIPlanPtr wh_insert_message_plan = NULL;

/*
 * What this backend knows of webhook.event: built when the table is first
 * written after it changed (see wh_outbox_cache_build), forgotten by the
 * relcache callback.
 */
typedef struct WhOutboxCache
{
	Oid			relid;			/* InvalidOid until looked up */
	bool		valid;			/* false until built, and after a change */
	Oid			owner;			/* rows are written as this role */
	bool		direct;			/* may rows go straight into the heap? */
	AttrNumber	attnum[WH_NCOLUMNS];	/* where each filled column is, or 0 */
	int			id_default;		/* which default is the id's, or -1 */
	int			ndefaults;		/* the other columns that have a default */
	AttrNumber *defattnum;
	ExprState **defstate;
	ExprContext *defcontext;	/* where they are evaluated */
} WhOutboxCache;

static MemoryContext wh_cache_cxt = NULL;
static WhOutboxCache wh_cache;

/* what is known of webhook.message, for the shared payloads' direct write */
typedef struct WhMessageCache
{
	Oid			relid;
	bool		valid;
	bool		direct;
	AttrNumber	id_att;
	AttrNumber	payload_att;
} WhMessageCache;

static WhMessageCache wh_msg;
static uint64 wh_cache_invals = 0;	/* invalidations of it seen so far */

/* how many writes are under way; nested ones leave the buffer's memory be */
static int	wh_writing = 0;

/* webhook.event's indexes, when the direct path can maintain them */
typedef struct WhOutboxIndex
{
	Oid			indexoid;
	IndexInfo  *info;
	ExprState  *predicate;		/* NULL unless partial */
} WhOutboxIndex;

static WhOutboxIndex *wh_indexes = NULL;
static int	wh_nindexes = 0;
static bool wh_indexes_direct = false;
static ExprContext *wh_index_econtext = NULL;

/*
 * Relcache callback: forget what is known of webhook.event when it changes
 * (a column, a default, a constraint, a trigger, a rule, an index) or goes,
 * with DROP EXTENSION.
 */
static void
wh_outbox_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == wh_cache.relid)
	{
		wh_cache.valid = false;
		wh_cache_invals++;
	}
	if (!OidIsValid(relid) || relid == wh_msg.relid)
		wh_msg.valid = false;
}

/*
 * Work out, for the open webhook.event, whether its index entries can be
 * written directly, and keep what that needs (see the file header), in
 * wh_cache_cxt.
 */
static void
wh_outbox_index_setup(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	MemoryContext old;

	old = MemoryContextSwitchTo(wh_cache_cxt);
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
			/* what was kept is freed with the next rebuild */
			MemoryContextSwitchTo(old);
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
 * Is attnum one of the columns the capture fills?
 */
static bool
wh_outbox_is_filled(AttrNumber attnum)
{
	int			i;

	for (i = 0; i < WH_NCOLUMNS; i++)
		if (wh_cache.attnum[i] == attnum && attnum > 0)
			return true;
	return false;
}

/*
 * The index entries of one row the executor's way (no unique index of the
 * outbox defers its check, so there is nothing to recheck).
 */
static void
wh_insert_index_entries(ResultRelInfo *rri, TupleTableSlot *slot,
						EState *estate)
{
	List	   *recheck;

#if PG_VERSION_NUM >= 160000
	recheck = ExecInsertIndexTuples(rri, slot, estate, false,
									false, NULL, NIL, false);
#else
	recheck = ExecInsertIndexTuples(rri, slot, estate, false,
									false, NULL, NIL);
#endif
	list_free(recheck);
	ResetPerTupleExprContext(estate);
}

/*
 * Would an INSERT into the table fire a trigger?  Triggers on other
 * operations (UPDATE, DELETE) leave the direct path exact.
 */
static bool
wh_has_insert_triggers(TriggerDesc *trigdesc)
{
	if (trigdesc == NULL)
		return false;
	return trigdesc->trig_insert_before_row ||
		trigdesc->trig_insert_after_row ||
		trigdesc->trig_insert_instead_row ||
		trigdesc->trig_insert_before_statement ||
		trigdesc->trig_insert_after_statement ||
		trigdesc->trig_insert_new_table;
}

/*
 * Learn the shape of the open webhook.event, and whether writing it
 * directly is safe.
 *
 * The direct write forms each row itself and puts it in the heap, so it is
 * safe only where the executor would do nothing more: a plain heap table
 * with no INSERT triggers (which also covers foreign keys and deferred
 * uniqueness; triggers on UPDATE or DELETE change nothing an INSERT does)
 * and no rules, no CHECK constraint, no generated column, no column of a
 * domain type (whose constraints it would skip) other than those it fills,
 * and no NOT NULL column it would leave null.  Defaults are not a reason to
 * fall back: the direct write evaluates them, as COPY does.  Otherwise rows
 * go through an INSERT, and the executor applies everything.  Either way,
 * columns are found by name, so any column order works.
 */
static void
wh_outbox_cache_build(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	uint64		invals = wh_cache_invals;
	bool		direct;
	MemoryContext old;
	int			i;

	if (wh_cache_cxt == NULL)
		wh_cache_cxt = AllocSetContextCreate(CacheMemoryContext,
											 "webhook outbox cache",
											 ALLOCSET_SMALL_SIZES);
	MemoryContextReset(wh_cache_cxt);
	wh_cache.ndefaults = 0;
	wh_cache.id_default = -1;
	wh_cache.defattnum = NULL;
	wh_cache.defstate = NULL;
	wh_cache.defcontext = NULL;
	wh_indexes = NULL;
	wh_nindexes = 0;
	wh_indexes_direct = false;
	wh_index_econtext = NULL;

	direct = rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		!wh_has_insert_triggers(rel->trigdesc) && !rel->rd_rel->relhasrules &&
		(desc->constr == NULL || desc->constr->num_check == 0);

	for (i = 0; i < WH_NCOLUMNS; i++)
	{
		AttrNumber	attnum = attnameAttNum(rel, wh_column_names[i], false);
		Form_pg_attribute att;

		if (attnum <= 0 &&
			(i == WH_COL_ORDERING_KEY || i == WH_COL_MESSAGE_ID ||
			 i == WH_COL_TRACEPARENT || i == WH_COL_TRACESTATE))
		{
			wh_cache.attnum[i] = 0;
			continue;
		}
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"webhook.event\" does not exist",
							wh_column_names[i]),
					 errhint("The webhook extension writes every captured event to this column.")));
		att = TupleDescAttr(desc, attnum - 1);
		if (att->atttypid != wh_column_types[i] || att->attgenerated)
			direct = false;
		wh_cache.attnum[i] = attnum;
	}
	/* the only columns filled that may be left null */
	if (wh_cache.attnum[WH_COL_ORDERING_KEY] > 0 &&
		TupleDescAttr(desc, wh_cache.attnum[WH_COL_ORDERING_KEY] - 1)->attnotnull)
		direct = false;
	if (wh_cache.attnum[WH_COL_MESSAGE_ID] > 0 &&
		TupleDescAttr(desc, wh_cache.attnum[WH_COL_MESSAGE_ID] - 1)->attnotnull)
		direct = false;
	if (wh_cache.attnum[WH_COL_TRACEPARENT] > 0 &&
		TupleDescAttr(desc, wh_cache.attnum[WH_COL_TRACEPARENT] - 1)->attnotnull)
		direct = false;
	if (wh_cache.attnum[WH_COL_TRACESTATE] > 0 &&
		TupleDescAttr(desc, wh_cache.attnum[WH_COL_TRACESTATE] - 1)->attnotnull)
		direct = false;

	old = MemoryContextSwitchTo(wh_cache_cxt);
	wh_cache.defattnum = palloc(sizeof(AttrNumber) * (desc->natts + 1));
	wh_cache.defstate = palloc(sizeof(ExprState *) * (desc->natts + 1));
	for (i = 0; direct && i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		Node	   *expr;

		if (att->attisdropped || wh_outbox_is_filled(att->attnum))
			continue;
		if (att->attgenerated || get_typtype(att->atttypid) == TYPTYPE_DOMAIN)
		{
			direct = false;
			break;
		}
		expr = build_column_default(rel, att->attnum);
		if (expr == NULL)
		{
			if (att->attnotnull)
				direct = false;
			continue;
		}
		/*
		 * Not planned (which would inline SQL functions, whose later
		 * replacement would go unseen here): the executor only needs the
		 * operators' functions filled in.
		 */
		fix_opfuncids(expr);
		if (strcmp(NameStr(att->attname), "id") == 0 &&
			att->atttypid == INT8OID)
			wh_cache.id_default = wh_cache.ndefaults;
		wh_cache.defattnum[wh_cache.ndefaults] = att->attnum;
		wh_cache.defstate[wh_cache.ndefaults] = ExecInitExpr((Expr *) expr,
															 NULL);
		wh_cache.ndefaults++;
	}
	wh_cache.defcontext = CreateStandaloneExprContext();
	MemoryContextSwitchTo(old);

	if (direct)
		wh_outbox_index_setup(rel);
	wh_cache.owner = rel->rd_rel->relowner;
	wh_cache.direct = direct;
	/* opening the indexes may have taken in a change: if so, build again */
	wh_cache.valid = wh_cache_invals == invals;
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
 * Find webhook.event, once per backend (again after it changes, for it may
 * be another table now, with DROP and CREATE EXTENSION).
 */
static void
wh_outbox_lookup(void)
{
	static bool registered = false;
	Oid			relid;

	if (wh_cache.valid)
		return;
	if (!registered)
	{
		CacheRegisterRelcacheCallback(wh_outbox_relcache_cb, (Datum) 0);
		registered = true;
	}
	relid = get_relname_relid("event", get_namespace_oid("webhook", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"webhook.event\" does not exist"),
				 errhint("Is the webhook extension installed in this database?")));
	wh_cache.relid = relid;
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
		if (wh_buf[wh_nbuf].payload)
		{
			wh_buf_bytes -= VARSIZE(wh_buf[wh_nbuf].payload);
			pfree(wh_buf[wh_nbuf].payload);
		}
		if (wh_buf[wh_nbuf].ordering_key)
			pfree(wh_buf[wh_nbuf].ordering_key);
	}
}

static void
wh_outbox_reset(void)
{
	wh_nbuf = 0;
	wh_buf_bytes = 0;
	wh_buf = NULL;
	wh_bufsize = 0;
	wh_writing = 0;
	wh_trace_text = NULL;
	wh_state_text = NULL;
	if (wh_outbox_cxt)
		MemoryContextReset(wh_outbox_cxt);
}

/*
 * Prepare and keep one of the executor's statements.
 */
static SPIPlanPtr
wh_outbox_prepare(SPIPlanPtr *planp, const char *sql, int nargs,
				  const Oid *argtypes)
{
	if (*planp == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, (Oid *) argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*planp = plan;
	}
	return *planp;
}

/*
 * Is webhook.message (open as rel) fit for the direct write?  Only as the
 * extension makes it: a plain heap table of the two columns id and
 * payload, with no INSERT triggers, rules, CHECK constraints or generated
 * columns.  Its indexes are maintained by the executor's own routine.
 */
static void
wh_outbox_message_check(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;
	int			i;

	wh_msg.id_att = attnameAttNum(rel, "id", false);
	wh_msg.payload_att = attnameAttNum(rel, "payload", false);
	for (i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			live++;
	wh_msg.direct = rel->rd_rel->relkind == RELKIND_RELATION &&
		rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
		!wh_has_insert_triggers(rel->trigdesc) && !rel->rd_rel->relhasrules &&
		(desc->constr == NULL || (desc->constr->num_check == 0 &&
								  !desc->constr->has_generated_stored)) &&
		live == 2 && wh_msg.id_att > 0 && wh_msg.payload_att > 0 &&
		TupleDescAttr(desc, wh_msg.id_att - 1)->atttypid == INT8OID &&
		TupleDescAttr(desc, wh_msg.payload_att - 1)->atttypid == JSONOID;
	wh_msg.valid = true;
}

/*
 * Write the payloads shared by several events into webhook.message: like
 * the events, straight into the heap (one multi-insert) and its indexes
 * when the table is as the extension makes it, else one INSERT for the
 * batch.  Runs as the table's owner, like the events.
 */
static void
wh_outbox_insert_messages(int64 *ids, text **payloads, int n)
{
	static const Oid argtypes[2] = {INT8ARRAYOID, JSONARRAYOID};
	Datum	   *idd;
	Datum		values[2];
	Relation	rel;
	Oid			relid;
	int			rc;
	int			i;

	relid = get_relname_relid("message", get_namespace_oid("webhook", false));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"webhook.message\" does not exist"),
				 errhint("Run ALTER EXTENSION webhook UPDATE to store changes routed to several endpoints.")));
	rel = table_open(relid, RowExclusiveLock);
	if (!wh_msg.valid || wh_msg.relid != relid)
	{
		wh_msg.relid = relid;
		wh_outbox_message_check(rel);
	}
	if (wh_msg.direct)
	{
		EState	   *estate = CreateExecutorState();
		MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);
		ResultRelInfo *rri = makeNode(ResultRelInfo);
		TupleDesc	desc = CreateTupleDescCopy(RelationGetDescr(rel));
		TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * n);

		InitResultRelInfo(rri, rel, 1, NULL, 0);
		ExecOpenIndices(rri, false);
		for (i = 0; i < n; i++)
		{
			TupleTableSlot *slot = MakeSingleTupleTableSlot(desc,
															table_slot_callbacks(rel));

			ExecClearTuple(slot);
			memset(slot->tts_isnull, true, sizeof(bool) * desc->natts);
			slot->tts_values[wh_msg.id_att - 1] = Int64GetDatum(ids[i]);
			slot->tts_isnull[wh_msg.id_att - 1] = false;
			slot->tts_values[wh_msg.payload_att - 1] = PointerGetDatum(payloads[i]);
			slot->tts_isnull[wh_msg.payload_att - 1] = false;
			ExecStoreVirtualTuple(slot);
			slots[i] = slot;
		}
		table_multi_insert(rel, slots, n, GetCurrentCommandId(true), 0, NULL);
		for (i = 0; i < n; i++)
		{
			wh_insert_index_entries(rri, slots[i], estate);
			ExecDropSingleTupleTableSlot(slots[i]);
		}
		ExecCloseIndices(rri);
		MemoryContextSwitchTo(old);
		FreeExecutorState(estate);
		table_close(rel, NoLock);
		return;
	}
	table_close(rel, NoLock);

	idd = palloc(sizeof(Datum) * n);
	for (i = 0; i < n; i++)
		idd[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(idd, n, INT8OID, 8,
												FLOAT8PASSBYVAL,
												TYPALIGN_DOUBLE));
	values[1] = PointerGetDatum(construct_array((Datum *) payloads, n,
												JSONOID, -1, false,
												TYPALIGN_INT));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(wh_outbox_prepare(&wh_insert_message_plan,
											wh_insert_message_sql, 2,
											argtypes),
						  values, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not insert into webhook.message: %s",
			 SPI_result_code_string(rc));
	SPI_finish();
	pfree(idd);
}

/*
 * The direct write: n rows formed here, one table_multi_insert(), then the
 * index entries.  Runs as the table's owner (see wh_outbox_write).
 */
static void
wh_outbox_insert_direct(Relation rel, WhPendingEvent *batch, int n)
{
	ResultRelInfo *rri;
	EState	   *estate;
	ExprContext *defcxt = wh_cache.defcontext;
	BulkInsertState bistate;
	TupleTableSlot **slots;
	TupleDesc	desc;
	CommandId	cid;
	MemoryContext old;
	int64		message_id = 0;
	int64	   *msg_ids;
	text	  **msg_payloads;
	int			nmsgs = 0;
	int			i;
	int			k;

	estate = CreateExecutorState();
	old = MemoryContextSwitchTo(estate->es_query_cxt);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	if (!wh_indexes_direct)
		ExecOpenIndices(rri, false);
	/* what the defaults give is kept until the rows are written */
	ResetExprContext(defcxt);
	/* a ring of buffers only pays off for real batches */
	bistate = n > 1 ? GetBulkInsertState() : NULL;
	cid = GetCurrentCommandId(true);

	/*
	 * The slots share a copy of the descriptor that is not reference
	 * counted: with the relcache's own, each slot would register with the
	 * resource owner, and forgetting n of them costs O(n^2).
	 */
	desc = CreateTupleDescCopy(RelationGetDescr(rel));
	slots = palloc(sizeof(TupleTableSlot *) * n);
	msg_ids = palloc(sizeof(int64) * n);
	msg_payloads = palloc(sizeof(text *) * n);
	for (i = 0; i < n; i++)
	{
		WhPendingEvent *ev = &batch[i];
		TupleTableSlot *slot;
		Datum	   *values;
		bool	   *isnull;

		slot = MakeSingleTupleTableSlot(desc, table_slot_callbacks(rel));
		ExecClearTuple(slot);
		values = slot->tts_values;
		isnull = slot->tts_isnull;
		memset(isnull, true, sizeof(bool) * desc->natts);

#define WH_SET(col, datum) \
		do { \
			values[wh_cache.attnum[col] - 1] = (datum); \
			isnull[wh_cache.attnum[col] - 1] = false; \
		} while (0)

		WH_SET(WH_COL_ENDPOINT_ID, Int32GetDatum(ev->endpoint_id));
		WH_SET(WH_COL_MSG_ID, UUIDPGetDatum(&ev->msg_id));
		WH_SET(WH_COL_CREATED_AT, TimestampTzGetDatum(ev->created_at));
		WH_SET(WH_COL_NEXT_ATTEMPT_AT, TimestampTzGetDatum(ev->next_attempt_at));
		if (ev->share == 0)
			WH_SET(WH_COL_PAYLOAD, PointerGetDatum(ev->payload));
		if (ev->ordering_key && wh_cache.attnum[WH_COL_ORDERING_KEY] > 0)
			WH_SET(WH_COL_ORDERING_KEY, PointerGetDatum(ev->ordering_key));
		if (ev->traceparent && wh_cache.attnum[WH_COL_TRACEPARENT] > 0)
			WH_SET(WH_COL_TRACEPARENT, PointerGetDatum(ev->traceparent));
		if (ev->tracestate && wh_cache.attnum[WH_COL_TRACESTATE] > 0)
			WH_SET(WH_COL_TRACESTATE, PointerGetDatum(ev->tracestate));

		for (k = 0; k < wh_cache.ndefaults; k++)
		{
			AttrNumber	attnum = wh_cache.defattnum[k];

			values[attnum - 1] = ExecEvalExprSwitchContext(wh_cache.defstate[k],
														   defcxt,
														   &isnull[attnum - 1]);
		}
		if (ev->share > 1)
		{
			/* the first event's id is the shared payload's */
			AttrNumber	idatt = wh_cache.defattnum[wh_cache.id_default];

			if (isnull[idatt - 1])
				ereport(ERROR,
						(errcode(ERRCODE_NOT_NULL_VIOLATION),
						 errmsg("null value in column \"id\" of relation \"webhook.event\"")));
			message_id = DatumGetInt64(values[idatt - 1]);
			msg_ids[nmsgs] = message_id;
			msg_payloads[nmsgs++] = ev->payload;
		}
		if (ev->share != 0)
			WH_SET(WH_COL_MESSAGE_ID, Int64GetDatum(message_id));
#undef WH_SET
		ExecStoreVirtualTuple(slot);
		slots[i] = slot;
	}

	table_multi_insert(rel, slots, n, cid, 0, bistate);

	if (wh_indexes_direct)
		wh_outbox_index_direct(rel, slots, n);
	else
	{
		for (i = 0; i < n; i++)
			wh_insert_index_entries(rri, slots[i], estate);
		ExecCloseIndices(rri);
	}
	for (i = 0; i < n; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
	ResetExprContext(defcxt);

	if (bistate)
		FreeBulkInsertState(bistate);
	MemoryContextSwitchTo(old);
	if (nmsgs > 0)
		wh_outbox_insert_messages(msg_ids, msg_payloads, nmsgs);
	FreeExecutorState(estate);
}

/*
 * The executor's write: one INSERT per event, so that triggers, rules,
 * defaults and constraints all apply.  Runs as the table's owner (see
 * wh_outbox_write).
 */
static void
wh_outbox_insert_executor(WhPendingEvent *batch, int n)
{
	bool		keyed = wh_cache.attnum[WH_COL_ORDERING_KEY] > 0;
	bool		traced = keyed && wh_cache.attnum[WH_COL_TRACEPARENT] > 0 &&
		wh_cache.attnum[WH_COL_TRACESTATE] > 0;
	SPIPlanPtr *planp = traced ? &wh_insert_traced_plan :
		keyed ? &wh_insert_plan : &wh_insert_unkeyed_plan;
	int64		message_id = 0;
	int64	   *msg_ids = palloc(sizeof(int64) * n);
	text	  **msg_payloads = palloc(sizeof(text *) * n);
	int			nmsgs = 0;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (*planp == NULL)
	{
		Oid			argtypes[WH_NCOLUMNS];
		SPIPlanPtr	plan;

		memcpy(argtypes, wh_column_types, sizeof(argtypes));
		argtypes[WH_COL_ORDERING_KEY + 1] = TEXTOID;	/* traceparent, $7 */
		argtypes[WH_COL_ORDERING_KEY + 2] = TEXTOID;	/* tracestate, $8 */
		plan = SPI_prepare(traced ? wh_insert_traced_sql :
						   keyed ? wh_insert_sql : wh_insert_unkeyed_sql,
						   traced ? WH_COL_ORDERING_KEY + 3 :
						   keyed ? WH_COL_ORDERING_KEY + 1 : WH_COL_ORDERING_KEY,
						   argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*planp = plan;
	}
	for (i = 0; i < n; i++)
	{
		WhPendingEvent *ev = &batch[i];
		Datum		values[WH_NCOLUMNS];
		char		nulls[WH_NCOLUMNS];
		int			rc;

		if (ev->share != 0)
		{
			static const Oid head_types[5] = {
				INT4OID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID
			};
			static const Oid follower_types[8] = {
				INT4OID, UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, INT8OID,
				TEXTOID, TEXTOID
			};
			Datum		v[8];
			char		nl[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
			bool		isnull;

			v[0] = Int32GetDatum(ev->endpoint_id);
			v[1] = UUIDPGetDatum(&ev->msg_id);
			v[2] = TimestampTzGetDatum(ev->created_at);
			v[3] = TimestampTzGetDatum(ev->next_attempt_at);
			v[4] = PointerGetDatum(ev->ordering_key);
			if (ev->ordering_key == NULL)
				nl[4] = 'n';
			v[5] = Int64GetDatum(message_id);
			v[6] = PointerGetDatum(ev->traceparent);
			if (ev->traceparent == NULL)
				nl[6] = 'n';
			v[7] = PointerGetDatum(ev->tracestate);
			if (ev->tracestate == NULL)
				nl[7] = 'n';
			if (ev->share > 1)
			{
				rc = traced ?
					SPI_execute_plan(wh_outbox_prepare(&wh_insert_head_traced_plan,
													   wh_insert_head_traced_sql,
													   8, follower_types),
									 v, nl, false, 0) :
					SPI_execute_plan(wh_outbox_prepare(&wh_insert_head_plan,
													   wh_insert_head_sql,
													   5, head_types),
									 v, nl, false, 0);
				if (rc != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
					elog(ERROR, "could not insert into webhook.event: %s",
						 SPI_result_code_string(rc));
				message_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														 SPI_tuptable->tupdesc,
														 1, &isnull));
				msg_ids[nmsgs] = message_id;
				msg_payloads[nmsgs++] = ev->payload;
			}
			else
			{
				rc = traced ?
					SPI_execute_plan(wh_outbox_prepare(&wh_insert_follower_traced_plan,
													   wh_insert_follower_traced_sql,
													   8, follower_types),
									 v, nl, false, 0) :
					SPI_execute_plan(wh_outbox_prepare(&wh_insert_follower_plan,
													   wh_insert_follower_sql,
													   6, follower_types),
									 v, nl, false, 0);
				if (rc != SPI_OK_INSERT)
					elog(ERROR, "could not insert into webhook.event: %s",
						 SPI_result_code_string(rc));
			}
			continue;
		}

		memset(nulls, ' ', sizeof(nulls));
		values[WH_COL_ENDPOINT_ID] = Int32GetDatum(ev->endpoint_id);
		values[WH_COL_MSG_ID] = UUIDPGetDatum(&ev->msg_id);
		values[WH_COL_CREATED_AT] = TimestampTzGetDatum(ev->created_at);
		values[WH_COL_NEXT_ATTEMPT_AT] = TimestampTzGetDatum(ev->next_attempt_at);
		values[WH_COL_PAYLOAD] = PointerGetDatum(ev->payload);
		values[WH_COL_ORDERING_KEY] = PointerGetDatum(ev->ordering_key);
		if (ev->ordering_key == NULL)
			nulls[WH_COL_ORDERING_KEY] = 'n';
		values[WH_COL_ORDERING_KEY + 1] = PointerGetDatum(ev->traceparent);
		if (ev->traceparent == NULL)
			nulls[WH_COL_ORDERING_KEY + 1] = 'n';
		values[WH_COL_ORDERING_KEY + 2] = PointerGetDatum(ev->tracestate);
		if (ev->tracestate == NULL)
			nulls[WH_COL_ORDERING_KEY + 2] = 'n';
		rc = SPI_execute_plan(*planp, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not insert into webhook.event: %s",
				 SPI_result_code_string(rc));
	}
	if (nmsgs > 0)
		wh_outbox_insert_messages(msg_ids, msg_payloads, nmsgs);
	SPI_finish();
}

/*
 * Write buffered events into webhook.event: all of them (all = true, at
 * commit), or only those captured by the current subtransaction and its
 * committed children.  Events of an enclosing (sub)transaction must not be
 * written from inside a subtransaction, or rolling it back would take them
 * along; they wait for a flush at their own level, or for the commit.
 *
 * The rows are written as the table's owner, so that users need no
 * privilege on it, directly when that is safe and through the executor
 * otherwise (see wh_outbox_cache_build).  The batch leaves the buffer
 * before it is written: a default or a trigger on the table may capture
 * more events, which are buffered, and written, on their own.
 */
static void
wh_outbox_write(bool all)
{
	Relation	rel;
	WhPendingEvent *batch;
	Oid			save_userid;
	int			save_sec;
	bool		pushed = false;
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
	rel = table_open(wh_cache.relid, RowExclusiveLock);
	/* after table_open, which took in any invalidation of the table */
	while (!wh_cache.valid)
		wh_outbox_cache_build(rel);

	batch = palloc(sizeof(WhPendingEvent) * n);
	memcpy(batch, &wh_buf[first], sizeof(WhPendingEvent) * n);
	for (i = 0; i < n; i++)
		if (batch[i].payload)
			wh_buf_bytes -= VARSIZE(batch[i].payload);
	wh_nbuf = first;
	wh_writing++;

	/* before commit, after COPY, no statement's snapshot is left */
	if (!ActiveSnapshotSet())
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		pushed = true;
	}
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(wh_cache.owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	for (i = 0; i < n && batch[i].share == 0; i++)
		;
	if (i < n && wh_cache.attnum[WH_COL_MESSAGE_ID] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"message_id\" of relation \"webhook.event\" does not exist"),
				 errhint("Run ALTER EXTENSION webhook UPDATE to store changes routed to several endpoints.")));
	/* shared payloads go directly only when the id comes from a default */
	if (wh_cache.direct && (i == n || wh_cache.id_default >= 0))
		wh_outbox_insert_direct(rel, batch, n);
	else
		wh_outbox_insert_executor(batch, n);
	SetUserIdAndSecContext(save_userid, save_sec);
	if (pushed)
		PopActiveSnapshot();
	table_close(rel, NoLock);

	wh_writing--;
	for (i = 0; i < n; i++)
	{
		wh_stats_captured(batch[i].endpoint_id, 1);
		if (batch[i].payload)
			pfree(batch[i].payload);
		if (batch[i].ordering_key)
			pfree(batch[i].ordering_key);
	}
	pfree(batch);
	if (wh_nbuf == 0 && wh_writing == 0)
		wh_outbox_reset();
	wh_wake_at_commit();
}

/*
 * Write every buffered event (before commit or prepare).  Writing can
 * capture more events (see wh_outbox_write); they are written too.
 */
void
wh_outbox_flush(void)
{
	while (wh_nbuf > 0)
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
	wh_outbox_push(endpoint_id, msg_id, created_at, next_attempt_at, body,
				   len, ordering_key);
	if (wh_nbuf >= WH_OUTBOX_BATCH || wh_buf_bytes >= WH_OUTBOX_BYTES)
		wh_outbox_write(false);
}

/*
 * The text of a setting's value that the events captured under it share:
 * kept (in the current memory context, wh_outbox_cxt) while the value
 * stays the same, so that a traced bulk statement copies it once.
 */
static text *
wh_outbox_shared_text(text *kept, const char *value)
{
	if (kept == NULL ||
		strlen(value) != VARSIZE(kept) - VARHDRSZ ||
		memcmp(value, VARDATA(kept), VARSIZE(kept) - VARHDRSZ) != 0)
		return cstring_to_text(value);
	return kept;
}

/*
 * Append one event to the buffer (body NULL: a shared payload's follower),
 * without writing.
 */
static WhPendingEvent *
wh_outbox_push(int32 endpoint_id, const pg_uuid_t *msg_id,
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
	ev->ordering_key = ordering_key ? cstring_to_text(ordering_key) : NULL;
	/* untraced, as most are, an event costs one test here */
	ev->traceparent = NULL;
	ev->tracestate = NULL;
	if (wh_traceparent != NULL && wh_traceparent[0] != '\0')
	{
		wh_trace_text = wh_outbox_shared_text(wh_trace_text, wh_traceparent);
		ev->traceparent = wh_trace_text;
		if (wh_tracestate != NULL && wh_tracestate[0] != '\0')
		{
			wh_state_text = wh_outbox_shared_text(wh_state_text,
												  wh_tracestate);
			ev->tracestate = wh_state_text;
		}
	}
	ev->share = 0;
	ev->payload = NULL;
	if (body)
	{
		ev->payload = cstring_to_text_with_len(body, len);
		wh_buf_bytes += VARSIZE(ev->payload);
	}
	MemoryContextSwitchTo(old);
	return ev;
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

/*
 * Buffer one change for n endpoints (n >= 2): one payload, written once
 * into webhook.message, and n events that refer to it, all with the same
 * msg_id, each with its own endpoint's due time and ordering key (NULL
 * unless that endpoint keeps order).  Flushed and dropped as one.
 */
void
wh_outbox_add_shared(int n, const int32 *endpoint_ids, const pg_uuid_t *msg_id,
					 TimestampTz created_at,
					 const TimestampTz *next_attempt_at,
					 const char *body, int len,
					 char *const *ordering_keys)
{
	int			i;

	Assert(n >= 2);
	wh_outbox_push(endpoint_ids[0], msg_id, created_at, next_attempt_at[0],
				   body, len, ordering_keys[0])->share = n;
	for (i = 1; i < n; i++)
		wh_outbox_push(endpoint_ids[i], msg_id, created_at,
					   next_attempt_at[i], NULL, 0,
					   ordering_keys[i])->share = -1;
	if (wh_nbuf >= WH_OUTBOX_BATCH || wh_buf_bytes >= WH_OUTBOX_BYTES)
		wh_outbox_write(false);
}
