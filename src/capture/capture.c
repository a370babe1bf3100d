/*-------------------------------------------------------------------------
 *
 * capture.c
 *	  The trigger that turns a row change into an event in the outbox.
 *
 * webhook.capture() runs as an AFTER ... FOR EACH ROW trigger.  Its first
 * argument names the endpoint; the rest are options written key=value:
 *
 *	type=NAME		event type (default "<table>.inserted|updated|deleted")
 *	exclude="a","b"	columns left out of the payload, each name quoted as
 *					quote_ident() does (bare names, as 0.2.0 wrote them,
 *					read as before); a name the table no longer has is
 *					passed over, never an error that would stop the write
 *	format=F		"standard" (the Standard Webhooks envelope, default) or
 *					"supabase" (the body Supabase Database Webhooks send)
 *	data=SIGNATURE	payload function (payload_fn.c)
 *
 * A subscribed partitioned table's trigger is cloned to each partition; a
 * partition's events are its partitioned table's: they carry its name, its
 * type and its column order (the row is converted), whichever partition
 * holds the row.  Tables of the extension's own schema are refused.
 *
 * Keeping trigger arguments right through DDL is this file's too: an event
 * trigger renames excluded columns and payload functions in them
 * (webhook_follow_rename), and webhook.subscribe() records the trigger's
 * dependency on its payload function (webhook_depend_on_function).
 *
 * For each row it decides whether there is anything to send (an UPDATE that
 * changed none of the watched columns sends nothing: the UPDATE OF list, or
 * every column not excluded), builds the body, and inserts one row into
 * webhook.event in the user's transaction, so a rollback leaves nothing and
 * a commit keeps it.  The insert runs as the outbox's owner, so users who
 * can write their tables need no privilege on the outbox and cannot forge
 * events in it.  Events are buffered and written in batches by outbox.c; at
 * commit the worker is woken (see launcher/wake.c).
 *
 * What can be worked out once per trigger (parsed options, the endpoint's
 * id, the row shape, the JSON of the names) is kept in a backend-local hash
 * keyed by the trigger's OID, so a stream of single-row statements pays for
 * it once rather than once per statement.  An entry is rebuilt after any
 * relcache invalidation of its table (ALTER TABLE, CREATE/DROP TRIGGER,
 * RENAME), of webhook.endpoint (whose statement trigger sends one whenever
 * endpoints change, see webhook._endpoint_changed()) or of webhook.event,
 * and after any schema is renamed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/tupconvert.h"
#include "catalog/dependency.h"
#include "catalog/pg_depend.h"
#include "catalog/indexing.h"
#include "catalog/partition.h"
#include "access/genam.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/trigger.h"
#include "nodes/parsenodes.h"
#include "parser/parse_func.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "utils/fmgroids.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "catalog/pg_proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "capture/capture.h"
#include "capture/outbox.h"
#include "capture/payload.h"
#include "capture/payload_fn.h"
#include "capture/route.h"
#include "guc.h"

typedef struct WhCaptureOptions
{
	char	   *endpoint;
	char	   *event_type;
	List	   *exclude;
	bool		supabase;
	char	   *data_fn;		/* payload function's signature, or NULL */
	char		route;			/* '\0': to the endpoint; 't'enant column,
								 * tenant e'x'pression, 'b'roadcast */
	char	   *tenant;			/* the column's name, or the expression */
} WhCaptureOptions;

typedef struct WhCaptureCache
{
	Oid			tgoid;			/* hash key */
	bool		valid;			/* false once invalidated or half built */
	Oid			relid;			/* the trigger's table */
	Oid			root_relid;		/* the subscribed table (see below) */
	MemoryContext cxt;			/* holds everything below */
	TupleDesc	leaf_desc;		/* the relcache descriptor it was built for */
	TupleDesc	desc;			/* rows are rendered in this shape */
	TupleConversionMap *map;	/* leaf rows to the root's, or NULL */
	Trigger    *watch;			/* UPDATE OF columns, in desc's numbers */
	Oid			data_fnoid;
	WhCaptureOptions opts;
	int32		endpoint_id;	/* 0 until first looked up */
	char		ordering;		/* the endpoint's: 'n'one, 'e'ndpoint, 'k'ey */
	Oid			owner;
	WhRowShape *shape;
	char	   *schema_json;
	char	   *table_json;
	char	   *type_json[3];	/* INSERT, UPDATE, DELETE */
	FmgrInfo	data_fn;		/* payload function (payload_fn.c) */
	Oid			data_rettype;
	char	   *data_what;		/* names the subscription in its errors */
	char	   *type_str[3];	/* the event types, as filters see them */
	AttrNumber	tenant_attnum;	/* routed by a column: which, in desc */
	bool		tenant_is_text;
	FmgrInfo	tenant_out;		/* its output function, unless text */
	SPIPlanPtr	tenant_plan;	/* routed by an expression: evaluates it */
} WhCaptureCache;

enum
{
	WH_OP_INSERT,
	WH_OP_UPDATE,
	WH_OP_DELETE
};

static const char *const wh_op_names[] = {"INSERT", "UPDATE", "DELETE"};
static const char *const wh_op_suffix[] = {"inserted", "updated", "deleted"};

static Oid	wh_trigger_payload_fn(Oid tgoid);

static SPIPlanPtr wh_lookup_plan = NULL;
static SPIPlanPtr wh_lookup_plan_010 = NULL;	/* before the 0.2.0 update */

static HTAB *wh_capture_htab = NULL;
static Oid	wh_endpoint_relid = InvalidOid;
static Oid	wh_event_relid = InvalidOid;
static pg_prng_state wh_id_prng;
static bool wh_id_prng_seeded = false;

/*
 * Parse webhook.capture()'s arguments.  Errors name the trigger (or, when
 * checking a subscription before it exists, the table).
 */
static void
wh_parse_options(int nargs, char **args, const char *what,
				 WhCaptureOptions *opts)
{
	int			i;

	memset(opts, 0, sizeof(*opts));
	if (nargs < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not name an endpoint", what),
				 errhint("Pass the endpoint's name as the first argument of webhook.capture().")));
	opts->endpoint = pstrdup(args[0]);

	for (i = 1; i < nargs; i++)
	{
		char	   *eq = strchr(args[i], '=');
		char	   *key;
		char	   *val;

		if (strcmp(args[i], "broadcast") == 0)
		{
			if (opts->route)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s is routed more than one way", what),
						 errhint("Give one of \"tenant\", \"tenant_expr\" and \"broadcast\".")));
			opts->route = 'b';
			continue;
		}
		if (eq == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid capture option \"%s\"", args[i]),
					 errdetail("Options after the endpoint name are written key=value.")));
		key = pnstrdup(args[i], eq - args[i]);
		val = eq + 1;

		if (strcmp(key, "type") == 0)
		{
			if (*val == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("event type must not be empty")));
			opts->event_type = pstrdup(val);
		}
		else if (strcmp(key, "exclude") == 0)
		{
			bool		ok;

			/* a list that is not well formed is read as 0.2.0 wrote it */
			opts->exclude = wh_column_list_parse(val, &ok);
		}
		else if (strcmp(key, "format") == 0)
		{
			if (strcmp(val, "standard") == 0)
				opts->supabase = false;
			else if (strcmp(val, "supabase") == 0)
				opts->supabase = true;
			else
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unrecognized payload format \"%s\"", val),
						 errhint("Valid formats are \"standard\" and \"supabase\".")));
		}
		else if (strcmp(key, "data") == 0)
			opts->data_fn = pstrdup(val);
		else if (strcmp(key, "tenant") == 0 || strcmp(key, "tenant_expr") == 0)
		{
			bool		ok = true;
			List	   *names = NIL;

			if (opts->route)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s is routed more than one way", what),
						 errhint("Give one of \"tenant\", \"tenant_expr\" and \"broadcast\".")));
			if (key[6] == '\0')
				names = wh_column_list_parse(val, &ok);
			if (key[6] == '\0' && (!ok || list_length(names) != 1))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid tenant column \"%s\"", val),
						 errdetail("The \"tenant\" option names one column, quoted as quote_ident() quotes it.")));
			if (*val == '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("tenant expression must not be empty")));
			opts->route = key[6] == '\0' ? 't' : 'x';
			opts->tenant = key[6] == '\0' ? pstrdup(linitial(names)) :
				pstrdup(val);
		}
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized capture option \"%s\"", key),
					 errhint("Valid options are \"type\", \"exclude\", \"format\", \"data\", \"tenant\", \"tenant_expr\" and \"broadcast\".")));
	}
	if (opts->endpoint[0] == '\0' && !opts->route)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s does not name an endpoint", what),
				 errhint("Pass the endpoint's name as the first argument of webhook.capture().")));
	if (opts->endpoint[0] != '\0' && opts->route)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s both names an endpoint and is routed", what),
				 errhint("Pass an empty first argument to webhook.capture() for a routed subscription.")));
	if (opts->data_fn && opts->supabase)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s cannot use a payload function with format \"supabase\"",
						what)));
}

/*
 * The owner of webhook.event: captured events are written as that role.
 */
static Oid
wh_outbox_owner(void)
{
	Oid			nsp = get_namespace_oid("webhook", false);
	Oid			relid = get_relname_relid("event", nsp);
	HeapTuple	tp;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"webhook.event\" does not exist"),
				 errhint("Is the webhook extension installed in this database?")));
	tp = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tp))->relowner;
	ReleaseSysCache(tp);
	return owner;
}

/*
 * Look up an endpoint's id by name; 0 when there is none.  Runs under SPI,
 * which the caller has connected.
 */
static int32
wh_lookup_endpoint(const char *name, char *ordering)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	int			rc;
	Oid			relid;
	bool		has_ordering;
	SPIPlanPtr *planp;

	/*
	 * A 0.1.0 schema has no ordering column until ALTER EXTENSION UPDATE:
	 * look (in the syscache) which query fits, so capture works either way.
	 */
	relid = get_relname_relid("endpoint", get_namespace_oid("webhook", false));
	has_ordering = OidIsValid(relid) &&
		get_attnum(relid, "ordering") != InvalidAttrNumber;
	planp = has_ordering ? &wh_lookup_plan : &wh_lookup_plan_010;
	if (*planp == NULL)
	{
		Oid			argtypes[1] = {TEXTOID};
		SPIPlanPtr	plan;

		/* qualified: a caller's search_path must not pick the operator */
		plan = SPI_prepare(has_ordering ?
						   "SELECT id, ordering FROM webhook.endpoint "
						   "WHERE name OPERATOR(pg_catalog.=) $1" :
						   "SELECT id, 'none' FROM webhook.endpoint "
						   "WHERE name OPERATOR(pg_catalog.=) $1", 1, argtypes);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		*planp = plan;
	}
	rc = SPI_execute_plan(*planp, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return 0;
	*ordering = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
							 2)[0];
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * A new event id: a version 7 UUID (Unix milliseconds, then random bits),
 * unique across databases and clusters and roughly ordered by time.
 *
 * The random bits come from a per-backend generator seeded once from
 * pg_strong_random(): ids must be unique, not secret (the signature, not
 * the id, is what a receiver trusts), and reading the kernel's generator
 * for every row cost as much as writing the row's index entries.
 */
static void
wh_new_msg_id(pg_uuid_t *uuid, TimestampTz now)
{
	uint64		unix_ms;
	uint64		r1;
	uint64		r2;
	int			i;

	if (!wh_id_prng_seeded)
	{
		uint64		seed;

		if (!pg_strong_random(&seed, sizeof(seed)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate random event id")));
		pg_prng_seed(&wh_id_prng, seed);
		wh_id_prng_seeded = true;
	}
	unix_ms = (uint64) (now / 1000) +
		(uint64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000;
	r1 = pg_prng_uint64(&wh_id_prng);
	r2 = pg_prng_uint64(&wh_id_prng);
	for (i = 0; i < 8; i++)
		uuid->data[6 + i] = (unsigned char) (r1 >> (8 * i));
	uuid->data[14] = (unsigned char) r2;
	uuid->data[15] = (unsigned char) (r2 >> 8);
	for (i = 0; i < 6; i++)
		uuid->data[i] = (unsigned char) (unix_ms >> (8 * (5 - i)));
	uuid->data[6] = 0x70 | (uuid->data[6] & 0x0F);
	uuid->data[8] = 0x80 | (uuid->data[8] & 0x3F);
}

/*
 * Relcache callback: forget entries built from a relation that changed.
 * relid is InvalidOid when the whole relcache is being reset.
 */
static void
wh_capture_relcache_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	WhCaptureCache *entry;
	bool		all;

	all = !OidIsValid(relid) || relid == wh_endpoint_relid ||
		relid == wh_event_relid;
	hash_seq_init(&status, wh_capture_htab);
	while ((entry = hash_seq_search(&status)) != NULL)
		if (all || entry->relid == relid || entry->root_relid == relid)
			entry->valid = false;
}

/*
 * Syscache callback (schemas, functions): a renamed schema changes the
 * "schema" every event names, and a payload function may be replaced or
 * dropped; neither sends a relcache invalidation.
 */
static void
wh_capture_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	wh_capture_relcache_cb(arg, InvalidOid);
}

/*
 * Refuse a table of the extension's own schema: its rows are events,
 * attempts and endpoints with their secrets, and capturing the outbox
 * would write an event for every event written.
 */
static void
wh_check_not_own_table(Relation rel)
{
	Oid			nsp = get_namespace_oid("webhook", true);

	if (OidIsValid(nsp) && RelationGetNamespace(rel) == nsp)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("cannot subscribe table \"webhook.%s\"",
						RelationGetRelationName(rel)),
				 errdetail("Tables in schema \"webhook\" hold the extension's own state: events, attempts, and endpoints with their secrets.")));
}

/*
 * The partitioned table a partition's trigger was cloned from, highest
 * first: subscribing a partitioned table puts a copy of its trigger, with
 * the same name, on every partition (now and when attached later), and the
 * events of all of them are the subscribed table's.  NULL when the trigger
 * is the table's own.  The ancestors found stay locked (AccessShareLock)
 * until the end of the transaction, like the partition itself.
 */
static Relation
wh_capture_root(Relation rel, Trigger *trigger)
{
	Relation	root = NULL;
	List	   *ancestors;
	ListCell   *lc;

	if (!rel->rd_rel->relispartition)
		return NULL;
	ancestors = get_partition_ancestors(RelationGetRelid(rel));
	foreach(lc, ancestors)
	{
		Relation	anc = relation_open(lfirst_oid(lc), AccessShareLock);
		bool		has = false;
		int			i;

		for (i = 0; anc->trigdesc && i < anc->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &anc->trigdesc->triggers[i];

			if (t->tgfoid == trigger->tgfoid &&
				strcmp(t->tgname, trigger->tgname) == 0)
				has = true;
		}
		if (!has)
		{
			relation_close(anc, AccessShareLock);
			break;
		}
		if (root)
			relation_close(root, NoLock);
		root = anc;
	}
	return root;
}

/*
 * A subscription routed by a column of its table: where the column is.
 */
static void
wh_capture_tenant_column(WhCaptureCache *cache, Relation subscribed,
						 Trigger *trigger)
{
	AttrNumber	attnum = attnameAttNum(subscribed, cache->opts.tenant, false);
	Oid			typid;
	Oid			outfn;
	bool		varlena;

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						cache->opts.tenant, RelationGetRelationName(subscribed)),
				 errdetail("Subscription \"%s\" routes its events by the tenant in this column.",
						   trigger->tgname),
				 errhint("Subscribe the table again with the column that holds the tenant.")));
	cache->tenant_attnum = attnum;
	typid = TupleDescAttr(cache->desc, attnum - 1)->atttypid;
	cache->tenant_is_text = typid == TEXTOID || typid == VARCHAROID;
	getTypeOutputInfo(typid, &outfn, &varlena);
	fmgr_info_cxt(outfn, &cache->tenant_out, cache->cxt);
}

/*
 * A subscription routed by an expression over NEW and OLD: the statement
 * that evaluates it, planned once and kept with the trigger's state.
 */
static void
wh_capture_tenant_expr(WhCaptureCache *cache, Relation subscribed,
					   Trigger *trigger)
{
	Oid			argtypes[2];
	SPIPlanPtr	plan;

	argtypes[0] = argtypes[1] = subscribed->rd_rel->reltype;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = SPI_prepare(psprintf("SELECT (%s\n)::pg_catalog.text "
								"FROM (SELECT ($1).*) AS new, "
								"(SELECT ($2).*) AS old",
								cache->opts.tenant), 2, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	SPI_finish();
	cache->tenant_plan = plan;
}

/*
 * The tenant a routed change goes to, or NULL (for no one).  A column is
 * read from the row (the new one, the old one for a DELETE); an expression
 * is evaluated as the user making the change.
 */
static char *
wh_capture_tenant(WhCaptureCache *cache, HeapTuple oldtup, HeapTuple newtup,
				  Datum *oldv, bool *oldn, Datum *newv, bool *newn)
{
	MemoryContext outer = CurrentMemoryContext;
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	char	   *tenant = NULL;
	int			rc;

	if (cache->opts.route == 't')
	{
		int			i = cache->tenant_attnum - 1;
		Datum		v = newv ? newv[i] : oldv[i];

		if (newv ? newn[i] : oldn[i])
			return NULL;
		return cache->tenant_is_text ? TextDatumGetCString(v) :
			OutputFunctionCall(&cache->tenant_out, v);
	}

	args[0] = newtup ? heap_copy_tuple_as_datum(newtup, cache->desc) : (Datum) 0;
	args[1] = oldtup ? heap_copy_tuple_as_datum(oldtup, cache->desc) : (Datum) 0;
	if (!newtup)
		nulls[0] = 'n';
	if (!oldtup)
		nulls[1] = 'n';
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_plan(cache->tenant_plan, args, nulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1);

		if (v)
			tenant = MemoryContextStrdup(outer, v);
	}
	SPI_finish();
	return tenant;
}

/*
 * The trigger's cached state: options, endpoint id, row shape, names.
 * Looked up in the backend-local hash (see the file header) and remembered
 * in fn_extra for the rest of the statement.
 */
static WhCaptureCache *
wh_capture_cache(FunctionCallInfo fcinfo, TriggerData *trigdata)
{
	WhCaptureCache *cache = (WhCaptureCache *) fcinfo->flinfo->fn_extra;
	Trigger    *trigger = trigdata->tg_trigger;
	Relation	rel = trigdata->tg_relation;
	Relation	root;
	Relation	subscribed;
	MemoryContext old;
	StringInfoData buf;
	Oid			nsp;
	bool		found;
	int			op;
	Oid			root_tgoid = trigger->tgoid;
	Oid			fnoid;

	if (cache != NULL && cache->valid && cache->tgoid == trigger->tgoid &&
		cache->leaf_desc == RelationGetDescr(rel))
		return cache;

	if (wh_capture_htab == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(WhCaptureCache);
		ctl.hcxt = CacheMemoryContext;
		wh_capture_htab = hash_create("webhook capture cache", 32, &ctl,
									  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(wh_capture_relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, wh_capture_syscache_cb,
									  (Datum) 0);
		/* a payload function replaced or dropped */
		CacheRegisterSyscacheCallback(PROCOID, wh_capture_syscache_cb,
									  (Datum) 0);
	}
	cache = hash_search(wh_capture_htab, &trigger->tgoid, HASH_ENTER, &found);
	if (!found)
	{
		cache->valid = false;
		cache->cxt = NULL;
		cache->tenant_plan = NULL;
	}
	if (cache->valid && cache->leaf_desc == RelationGetDescr(rel))
	{
		fcinfo->flinfo->fn_extra = cache;
		return cache;
	}

	/* (re)build; valid stays false until every part is in place */
	cache->valid = false;
	if (cache->cxt)
		MemoryContextDelete(cache->cxt);
	if (cache->tenant_plan)
		SPI_freeplan(cache->tenant_plan);
	cache->tenant_plan = NULL;
	cache->cxt = AllocSetContextCreate(CacheMemoryContext,
									   "webhook capture trigger",
									   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cache->cxt);
	wh_check_not_own_table(rel);
	cache->relid = RelationGetRelid(rel);
	cache->endpoint_id = 0;
	wh_parse_options(trigger->tgnargs, trigger->tgargs,
					 psprintf("trigger \"%s\"", trigger->tgname),
					 &cache->opts);

	/* a partition's events are its partitioned table's */
	root = wh_capture_root(rel, trigger);
	subscribed = root ? root : rel;
	cache->root_relid = RelationGetRelid(subscribed);
	cache->leaf_desc = RelationGetDescr(rel);
	cache->map = NULL;
	cache->watch = NULL;		/* the trigger's own */
	if (root)
	{
		int			i;

		cache->desc = CreateTupleDescCopy(RelationGetDescr(root));
		cache->map =
			convert_tuples_by_name(CreateTupleDescCopy(RelationGetDescr(rel)),
								   cache->desc);
		for (i = 0; i < root->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &root->trigdesc->triggers[i];

			if (t->tgfoid == trigger->tgfoid &&
				strcmp(t->tgname, trigger->tgname) == 0)
			{
				root_tgoid = t->tgoid;
				cache->watch = palloc0(sizeof(Trigger));
				cache->watch->tgnattr = t->tgnattr;
				cache->watch->tgattr = palloc(sizeof(int16) * Max(t->tgnattr, 1));
				memcpy(cache->watch->tgattr, t->tgattr,
					   sizeof(int16) * t->tgnattr);
			}
		}
	}
	else
		cache->desc = RelationGetDescr(rel);

	cache->shape = wh_shape_build_ext(subscribed, cache->cxt,
									  cache->opts.exclude, false);
	cache->owner = wh_outbox_owner();
	nsp = get_namespace_oid("webhook", false);
	wh_endpoint_relid = get_relname_relid("endpoint", nsp);
	wh_event_relid = get_relname_relid("event", nsp);
	if (cache->opts.data_fn)
	{
		cache->data_what = psprintf("subscription \"%s\" on table \"%s\"",
									trigger->tgname,
									RelationGetRelationName(subscribed));
		/* by the recorded dependency, which follows renames; else by name */
		fnoid = wh_trigger_payload_fn(root_tgoid);
		if (OidIsValid(fnoid))
			cache->data_fnoid = wh_payload_fn_check(fnoid, cache->opts.data_fn,
													subscribed->rd_rel->reltype,
													cache->data_what);
		else
			cache->data_fnoid = wh_payload_fn_lookup(cache->opts.data_fn,
													 subscribed->rd_rel->reltype,
													 cache->data_what);
		fmgr_info_cxt(cache->data_fnoid, &cache->data_fn, cache->cxt);
		cache->data_rettype = get_func_rettype(cache->data_fnoid);
	}

	initStringInfo(&buf);
	escape_json(&buf, get_namespace_name(RelationGetNamespace(subscribed)));
	cache->schema_json = pstrdup(buf.data);
	resetStringInfo(&buf);
	escape_json(&buf, RelationGetRelationName(subscribed));
	cache->table_json = pstrdup(buf.data);
	for (op = 0; op < 3; op++)
	{
		resetStringInfo(&buf);
		if (cache->opts.supabase)
			escape_json(&buf, wh_op_names[op]);
		else if (cache->opts.event_type)
			escape_json(&buf, cache->opts.event_type);
		else
			escape_json(&buf, psprintf("%s.%s",
									   RelationGetRelationName(subscribed),
									   wh_op_suffix[op]));
		cache->type_json[op] = pstrdup(buf.data);
		cache->type_str[op] = cache->opts.supabase ? pstrdup(wh_op_names[op]) :
			cache->opts.event_type ? cache->opts.event_type :
			psprintf("%s.%s", RelationGetRelationName(subscribed),
					 wh_op_suffix[op]);
	}
	if (cache->opts.route == 't')
		wh_capture_tenant_column(cache, subscribed, trigger);
	else if (cache->opts.route == 'x')
		wh_capture_tenant_expr(cache, subscribed, trigger);
	MemoryContextSwitchTo(old);
	if (root)
		relation_close(root, NoLock);

	cache->valid = true;
	fcinfo->flinfo->fn_extra = cache;
	return cache;
}

/*
 * Has the UPDATE changed a watched column?  Fills "changed" with the JSON
 * array of changed columns that are not excluded.  Also used by
 * webhook.preview() (preview.c), so both decide alike.
 */
bool
wh_update_changed(TupleDesc tupdesc, Trigger *trigger, WhRowShape *shape,
				  Datum *oldv, bool *oldn, Datum *newv, bool *newn,
				  StringInfo changed)
{
	bool		watched_changed = false;
	bool		first = true;
	int			i;

	appendStringInfoChar(changed, '[');
	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		differs;
		bool		watched;

		if (att->attisdropped)
			continue;
		if (oldn[i] || newn[i])
			differs = oldn[i] != newn[i];
		else
			differs = !datum_image_eq(oldv[i], newv[i], att->attbyval,
									  att->attlen);
		if (!differs)
			continue;

		if (trigger->tgnattr > 0)
		{
			int			j;

			watched = false;
			for (j = 0; j < trigger->tgnattr; j++)
				if (trigger->tgattr[j] == att->attnum)
					watched = true;
		}
		else
			watched = !wh_shape_is_excluded(shape, att->attnum);
		watched_changed |= watched;

		if (!wh_shape_is_excluded(shape, att->attnum))
		{
			if (!first)
				appendStringInfoChar(changed, ',');
			first = false;
			appendStringInfoString(changed,
								   wh_shape_column_json(shape, att->attnum));
		}
	}
	appendStringInfoChar(changed, ']');
	return watched_changed;
}

/*
 * Build the event body.  keys_only renders rows as their key columns and
 * marks the event as truncated.
 */
static void
wh_build_body(StringInfo buf, WhCaptureCache *cache, int op,
			  Datum *oldv, bool *oldn, Datum *newv, bool *newn,
			  const char *changed, bool keys_only, const char *data_json)
{
	WhRowShape *shape = cache->shape;

	if (data_json)
	{
		/*
		 * A payload function built "data".  The type is stored, since "data"
		 * need not name the table; the timestamp is added when sent.
		 */
		appendStringInfo(buf, "{\"type\":%s,\"data\":%s}",
						 cache->type_json[op], data_json);
		return;
	}

	if (cache->opts.supabase)
	{
		appendStringInfo(buf, "{\"type\":%s,\"table\":%s,\"schema\":%s,\"record\":",
						 cache->type_json[op], cache->table_json,
						 cache->schema_json);
		if (newv)
			wh_shape_append_row(buf, shape, newv, newn, keys_only);
		else
			appendStringInfoString(buf, "null");
		appendStringInfoString(buf, ",\"old_record\":");
		if (oldv)
			wh_shape_append_row(buf, shape, oldv, oldn, keys_only);
		else
			appendStringInfoString(buf, "null");
		if (keys_only)
			appendStringInfoString(buf, ",\"truncated\":true");
		appendStringInfoChar(buf, '}');
		return;
	}

	/*
	 * Stored without "timestamp" (it is created_at) and, unless the
	 * subscription names its own, without "type" (it is the table and the
	 * operation): wh_event_body() adds both back when the event is sent.
	 */
	appendStringInfoChar(buf, '{');
	if (cache->opts.event_type)
		appendStringInfo(buf, "\"type\":%s,", cache->type_json[op]);
	appendStringInfo(buf, "\"data\":{\"op\":\"%s\",\"schema\":%s,\"table\":%s",
					 wh_op_names[op], cache->schema_json, cache->table_json);
	if (newv)
	{
		appendStringInfoString(buf, ",\"new\":");
		wh_shape_append_row(buf, shape, newv, newn, keys_only);
	}
	if (oldv)
	{
		appendStringInfoString(buf, ",\"old\":");
		wh_shape_append_row(buf, shape, oldv, oldn, keys_only);
	}
	if (changed)
	{
		appendStringInfoString(buf, ",\"changed\":");
		appendStringInfoString(buf, changed);
	}
	if (keys_only)
		appendStringInfoString(buf, ",\"truncated\":true");
	appendStringInfoString(buf, "}}");
}

/*
 * Queue the event for the outbox (see outbox.c).  The endpoint's id is
 * looked up once per trigger (again whenever endpoints change), as the
 * outbox's owner, so users need no privilege on the extension's tables.
 */
static void
wh_insert_event(WhCaptureCache *cache, TriggerData *trigdata, TimestampTz now,
				StringInfo body, Datum *keyv, bool *keyn,
				WhRouteEndpoint **route, int nroute)
{
	pg_uuid_t	uuid;

	if (cache->opts.route)
	{
		int32	   *ids = palloc(sizeof(int32) * nroute);
		TimestampTz *due = palloc(sizeof(TimestampTz) * nroute);
		char	  **keys = palloc0(sizeof(char *) * nroute);
		char	   *rowkey = NULL;
		int			i;

		wh_new_msg_id(&uuid, now);
		for (i = 0; i < nroute; i++)
		{
			ids[i] = route[i]->id;
			/* a paused endpoint's events wait for it to be resumed */
			due[i] = route[i]->paused ? DT_NOEND : now;
			if (route[i]->ordering == 'k' && rowkey == NULL)
			{
				StringInfoData key;

				initStringInfo(&key);
				wh_shape_append_row(&key, cache->shape, keyv, keyn, true);
				rowkey = key.data;
			}
			if (route[i]->ordering == 'k')
				keys[i] = rowkey;
			else if (route[i]->ordering == 'e')
				keys[i] = "";
		}
		if (nroute == 1)
			wh_outbox_add_keyed(ids[0], &uuid, now, due[0], body->data,
								body->len, keys[0]);
		else
			wh_outbox_add_shared(nroute, ids, &uuid, now, due, body->data,
								 body->len, keys);
		return;
	}

	if (cache->endpoint_id == 0)
	{
		Oid			save_userid;
		int			save_sec;
		int32		endpoint_id;

		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(cache->owner,
							   save_sec | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		endpoint_id = wh_lookup_endpoint(cache->opts.endpoint, &cache->ordering);
		SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec);

		if (endpoint_id == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("endpoint \"%s\" does not exist",
							cache->opts.endpoint),
					 errdetail("Trigger \"%s\" on table \"%s\" sends events to it.",
							   trigdata->tg_trigger->tgname,
							   RelationGetRelationName(trigdata->tg_relation)),
					 errhint("Create it with webhook.create_endpoint(), or drop the trigger.")));
		cache->endpoint_id = endpoint_id;
	}

	wh_new_msg_id(&uuid, now);
	if (cache->ordering == 'e' || cache->ordering == 'k')
	{
		/* the endpoint keeps order: of all its events, or per row key */
		StringInfoData key;

		initStringInfo(&key);
		if (cache->ordering == 'k')
			wh_shape_append_row(&key, cache->shape, keyv, keyn, true);
		wh_outbox_add_keyed(cache->endpoint_id, &uuid, now, now, body->data,
							body->len, key.data);
	}
	else
		wh_outbox_add(cache->endpoint_id, &uuid, now, now, body->data,
					  body->len);
}

PG_FUNCTION_INFO_V1(webhook_capture);

/*
 * The trigger function.
 */
Datum
webhook_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	WhCaptureCache *cache;
	HeapTuple	oldtup = NULL;
	HeapTuple	newtup = NULL;
	Datum	   *oldv = NULL,
			   *newv = NULL;
	bool	   *oldn = NULL,
			   *newn = NULL;
	StringInfoData changed;
	StringInfoData body;
	StringInfoData data;
	TimestampTz now;
	int			op;
	WhRouteEndpoint *route_buf[64];
	WhRouteEndpoint **route = NULL;
	int			nroute = 0;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook.capture() can only be called as a trigger")));
	if (!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" must be an AFTER ... FOR EACH ROW trigger",
						trigdata->tg_trigger->tgname),
				 errdetail("webhook.capture() sends committed row changes, one event per row.")));

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
	{
		op = WH_OP_INSERT;
		newtup = trigdata->tg_trigtuple;
	}
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		op = WH_OP_UPDATE;
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
	{
		op = WH_OP_DELETE;
		oldtup = trigdata->tg_trigtuple;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("trigger \"%s\" must fire on INSERT, UPDATE or DELETE",
						trigdata->tg_trigger->tgname)));

	cache = wh_capture_cache(fcinfo, trigdata);
	tupdesc = cache->desc;
	if (cache->map)
	{
		/* a partition's row, in its partitioned table's column order */
		if (oldtup)
			oldtup = execute_attr_map_tuple(oldtup, cache->map);
		if (newtup)
			newtup = execute_attr_map_tuple(newtup, cache->map);
	}

	if (oldtup)
	{
		oldv = palloc(sizeof(Datum) * tupdesc->natts);
		oldn = palloc(sizeof(bool) * tupdesc->natts);
		heap_deform_tuple(oldtup, tupdesc, oldv, oldn);
	}
	if (newtup)
	{
		newv = palloc(sizeof(Datum) * tupdesc->natts);
		newn = palloc(sizeof(bool) * tupdesc->natts);
		heap_deform_tuple(newtup, tupdesc, newv, newn);
	}

	initStringInfo(&changed);
	if (op == WH_OP_UPDATE &&
		!wh_update_changed(tupdesc,
						   cache->watch ? cache->watch : trigdata->tg_trigger,
						   cache->shape, oldv, oldn, newv, newn, &changed))
		return PointerGetDatum(NULL);

	if (cache->opts.route)
	{
		/* where it goes, before anything is built for it */
		char	   *tenant = NULL;

		if (cache->opts.route != 'b')
		{
			tenant = wh_capture_tenant(cache, oldtup, newtup, oldv, oldn,
									   newv, newn);
			if (tenant == NULL)
				return PointerGetDatum(NULL);
		}
		nroute = wh_route_lookup(cache->owner, tenant, cache->type_str[op],
								 route_buf, lengthof(route_buf));
		if (nroute == 0)
			return PointerGetDatum(NULL);
		route = route_buf;
		if (nroute > lengthof(route_buf))
		{
			route = palloc(sizeof(WhRouteEndpoint *) * nroute);
			(void) wh_route_lookup(cache->owner, tenant, cache->type_str[op],
								   route, nroute);
		}
	}

	if (cache->opts.data_fn)
	{
		AclResult	aclresult;

		/* run as the writer, who must be allowed to, as in a condition */
#if PG_VERSION_NUM >= 160000
		aclresult = object_aclcheck(ProcedureRelationId, cache->data_fnoid,
									GetUserId(), ACL_EXECUTE);
#else
		aclresult = pg_proc_aclcheck(cache->data_fnoid, GetUserId(),
									 ACL_EXECUTE);
#endif
		if (aclresult != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s",
							cache->opts.data_fn),
					 errdetail("Subscription \"%s\" on table \"%s\" builds its events with this function, which runs as the user who changes the table.",
							   trigdata->tg_trigger->tgname,
							   RelationGetRelationName(trigdata->tg_relation)),
					 errhint("Grant EXECUTE on the function to the users who write the table, or subscribe without it.")));
		initStringInfo(&data);
		wh_payload_fn_append(&data, &cache->data_fn, cache->data_rettype,
							 heap_copy_tuple_as_datum(newtup ? newtup : oldtup,
													  tupdesc),
							 cache->opts.data_fn, cache->data_what);
	}

	now = GetCurrentTimestamp();
	initStringInfo(&body);
	wh_build_body(&body, cache, op, oldv, oldn, newv, newn,
				  op == WH_OP_UPDATE ? changed.data : NULL, false,
				  cache->opts.data_fn ? data.data : NULL);
	/*
	 * A payload function's result is sent as it is, or not at all: there is
	 * no key to fall back on.
	 */
	if (body.len > wh_max_payload_size && cache->opts.data_fn)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("payload function %s returned too large a result",
						cache->opts.data_fn),
				 errdetail("The event body of subscription \"%s\" on table \"%s\" would be %d bytes; \"webhook.max_payload_size\" is %d bytes.",
						   trigdata->tg_trigger->tgname,
						   RelationGetRelationName(trigdata->tg_relation),
						   body.len, wh_max_payload_size),
				 errhint("Make the function return less, or raise \"webhook.max_payload_size\".")));
	if (body.len > wh_max_payload_size)
	{
		int			full = body.len;

		resetStringInfo(&body);
		wh_build_body(&body, cache, op, oldv, oldn, newv, newn,
					  op == WH_OP_UPDATE ? changed.data : NULL, true, NULL);
		ereport(WARNING,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("webhook event for table \"%s\" is too large, sending its key only",
						RelationGetRelationName(trigdata->tg_relation)),
				 errdetail("The event body would be %d bytes; \"webhook.max_payload_size\" is %d bytes.",
						   full, wh_max_payload_size)));
	}

	wh_insert_event(cache, trigdata, now, &body, newv ? newv : oldv,
					newv ? newn : oldn, route, nroute);
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(webhook_endpoint_changed);

/*
 * Statement trigger on webhook.endpoint: tell every backend (at commit, and
 * this one at the next command) to rebuild its capture cache, since an
 * endpoint's name may now lead to another id, or to none.
 */
Datum
webhook_endpoint_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook._endpoint_changed() can only be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	wh_route_endpoints_changed();
	return PointerGetDatum(NULL);
}

PG_FUNCTION_INFO_V1(webhook_check_capture_args);

/*
 * SQL: webhook._check_capture_args(table, args), used by webhook.subscribe()
 * to reject bad options before it creates the trigger.
 */
Datum
webhook_check_capture_args(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	char	  **args;
	WhCaptureOptions opts;
	Relation	rel;
	int			i;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	args = palloc(sizeof(char *) * (nelems + 1));
	for (i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("capture options must not be null")));
		args[i] = TextDatumGetCString(elems[i]);
	}

	rel = relation_open(relid, AccessShareLock);
	wh_check_not_own_table(rel);
	wh_parse_options(nelems, args,
					 psprintf("subscription of table \"%s\"",
							  RelationGetRelationName(rel)),
					 &opts);
	(void) wh_shape_build(rel, CurrentMemoryContext, opts.exclude);
	if (opts.data_fn)
		(void) wh_payload_fn_lookup(opts.data_fn, rel->rd_rel->reltype,
									psprintf("subscription of table \"%s\"",
											 RelationGetRelationName(rel)));
	relation_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(webhook_trigger_args);

/*
 * SQL: webhook._trigger_args(tgargs, tgnargs): pg_trigger's NUL-separated
 * argument bytes as a text array, for the subscriptions view.
 */
Datum
webhook_trigger_args(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	int			nargs = PG_GETARG_INT16(1);
	const char *p = VARDATA_ANY(raw);
	const char *end = p + VARSIZE_ANY_EXHDR(raw);
	Datum	   *elems;
	int			n = 0;

	elems = palloc(sizeof(Datum) * Max(nargs, 1));
	while (n < nargs && p < end)
	{
		size_t		len = strnlen(p, end - p);

		elems[n++] = PointerGetDatum(cstring_to_text_with_len(p, len));
		p += len + 1;
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(webhook_column_list);

/*
 * SQL: webhook._column_list(names), the "exclude=" option's text for a list
 * of column names.  Every name is quoted, so any legal name, one holding a
 * comma or a double quote included, comes back out exactly.
 */
Datum
webhook_column_list(PG_FUNCTION_ARGS)
{
	ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	List	   *names = NIL;
	int			i;

	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (i = 0; i < nelems; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column names must not be null")));
		names = lappend(names, TextDatumGetCString(elems[i]));
	}
	PG_RETURN_TEXT_P(cstring_to_text(wh_column_list_format(names)));
}

PG_FUNCTION_INFO_V1(webhook_column_list_names);

/*
 * SQL: webhook._column_list_names(list), the names an "exclude=" option
 * holds, as a text array.
 */
Datum
webhook_column_list_names(PG_FUNCTION_ARGS)
{
	char	   *val = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *names;
	Datum	   *elems;
	ListCell   *lc;
	bool		ok;
	int			n = 0;

	names = wh_column_list_parse(val, &ok);
	elems = palloc(sizeof(Datum) * Max(list_length(names), 1));
	foreach(lc, names)
		elems[n++] = CStringGetTextDatum(lfirst(lc));
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, n, TEXTOID, -1, false,
										  TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(webhook_check_condition);

/*
 * SQL: webhook._check_condition(condition).  A subscription's condition
 * becomes its trigger's WHEN clause; it must be one expression and nothing
 * else, so it is parsed here, alone, by the server's own parser (as
 * PL/pgSQL parses an expression), and refused unless that yields exactly
 * one expression: no second statement, no FROM or other clause, no alias.
 * An expression that parses alone parses the same inside parentheses.
 */
Datum
webhook_check_condition(PG_FUNCTION_ARGS)
{
	char	   *cond = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *parsed;
	SelectStmt *sel = NULL;
	const char *p;

	for (p = cond; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	if (*p == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("subscription condition must not be empty"),
				 errhint("Pass NULL to send every row change.")));

	parsed = raw_parser(cond, RAW_PARSE_PLPGSQL_EXPR);
	if (list_length(parsed) == 1 &&
		IsA(((RawStmt *) linitial(parsed))->stmt, SelectStmt))
		sel = (SelectStmt *) ((RawStmt *) linitial(parsed))->stmt;
	if (sel == NULL || list_length(sel->targetList) != 1 ||
		((ResTarget *) linitial(sel->targetList))->name != NULL ||
		sel->distinctClause != NIL || sel->intoClause != NULL ||
		sel->fromClause != NIL || sel->whereClause != NULL ||
		sel->groupClause != NIL || sel->havingClause != NULL ||
		sel->windowClause != NIL || sel->valuesLists != NIL ||
		sel->sortClause != NIL || sel->limitOffset != NULL ||
		sel->limitCount != NULL || sel->lockingClause != NIL ||
		sel->withClause != NULL || sel->op != SETOP_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("condition is not a single expression"),
				 errhint("Write a boolean expression over NEW and OLD, such as \"NEW.status <> OLD.status\".")));
	PG_RETURN_VOID();
}

/*
 * The payload function a capture trigger depends on (recorded by
 * webhook.subscribe(), see webhook_depend_on_function), or InvalidOid.
 * The dependency follows the function through renames, where the
 * signature in the trigger's arguments does not.
 */
static Oid
wh_trigger_payload_fn(Oid tgoid)
{
	Relation	deprel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			fnoid = InvalidOid;

	deprel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(TriggerRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(tgoid));
	scan = systable_beginscan(deprel, DependDependerIndexId, true, NULL,
							  2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->refclassid == ProcedureRelationId &&
			dep->deptype == DEPENDENCY_NORMAL)
			fnoid = dep->refobjid;
	}
	systable_endscan(scan);
	table_close(deprel, AccessShareLock);
	return fnoid;
}

/*
 * Bring the arguments of capture triggers up to date after DDL: with
 * oldcol set, a column of table relid renamed to newcol (an "exclude="
 * list names columns as text, so unlike the UPDATE OF columns and the WHEN
 * clause, kept by attribute number, it does not follow by itself); and
 * always, the signature in "data=" of a payload function that was renamed
 * or moved, or whose argument type (the table's row type) was.  relid
 * InvalidOid: every capture trigger of the database.
 */
static void
wh_update_triggers(Oid relid, Oid capture_fn, const char *oldcol,
				   const char *newcol)
{
	Relation	tgrel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	tgrel = table_open(TriggerRelationId, RowExclusiveLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(relid));
	scan = systable_beginscan(tgrel, TriggerRelidNameIndexId,
							  OidIsValid(relid), NULL,
							  OidIsValid(relid) ? 1 : 0, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_trigger tg = (Form_pg_trigger) GETSTRUCT(tup);
		bytea	   *raw;
		bool		isnull;
		const char *p;
		const char *end;
		StringInfoData out;
		bool		changed = false;
		int			n;

		if (tg->tgfoid != capture_fn || tg->tgnargs == 0)
			continue;
		raw = DatumGetByteaPP(heap_getattr(tup, Anum_pg_trigger_tgargs,
										   RelationGetDescr(tgrel), &isnull));
		if (isnull)
			continue;
		p = VARDATA_ANY(raw);
		end = p + VARSIZE_ANY_EXHDR(raw);
		initStringInfo(&out);
		for (n = 0; n < tg->tgnargs && p < end; n++)
		{
			size_t		len = strnlen(p, end - p);
			char	   *arg = pnstrdup(p, len);

			if (n > 0 && oldcol && strncmp(arg, "exclude=", 8) == 0)
			{
				bool		ok;
				bool		renamed = false;
				List	   *names = wh_column_list_parse(arg + 8, &ok);
				ListCell   *lc;

				foreach(lc, names)
				{
					if (strcmp(lfirst(lc), oldcol) == 0)
					{
						lfirst(lc) = pstrdup(newcol);
						renamed = true;
					}
				}
				if (renamed)
					arg = psprintf("exclude=%s", wh_column_list_format(names));
				changed |= renamed;
			}
			else if (n > 0 && oldcol && strncmp(arg, "tenant=", 7) == 0)
			{
				bool		ok;
				List	   *names = wh_column_list_parse(arg + 7, &ok);

				if (list_length(names) == 1 &&
					strcmp(linitial(names), oldcol) == 0)
				{
					arg = psprintf("tenant=%s",
								   wh_column_list_format(list_make1(pstrdup(newcol))));
					changed = true;
				}
			}
			else if (n > 0 && strncmp(arg, "data=", 5) == 0)
			{
				Oid			fnoid = wh_trigger_payload_fn(tg->oid);
				char	   *sig;

				if (OidIsValid(fnoid) &&
					(sig = format_procedure_qualified(fnoid)) != NULL &&
					strcmp(sig, arg + 5) != 0)
				{
					arg = psprintf("data=%s", sig);
					changed = true;
				}
			}
			appendBinaryStringInfo(&out, arg, strlen(arg) + 1);
			p += len + 1;
		}
		if (changed)
		{
			Datum		values[Natts_pg_trigger] = {0};
			bool		nulls[Natts_pg_trigger] = {0};
			bool		replace[Natts_pg_trigger] = {0};
			HeapTuple	newtup;
			bytea	   *b = palloc(VARHDRSZ + out.len);

			SET_VARSIZE(b, VARHDRSZ + out.len);
			memcpy(VARDATA(b), out.data, out.len);
			values[Anum_pg_trigger_tgargs - 1] = PointerGetDatum(b);
			replace[Anum_pg_trigger_tgargs - 1] = true;
			newtup = heap_modify_tuple(tup, RelationGetDescr(tgrel), values,
									   nulls, replace);
			CatalogTupleUpdate(tgrel, &newtup->t_self, newtup);
			heap_freetuple(newtup);
			CacheInvalidateRelcacheByRelid(tg->tgrelid);
		}
	}
	systable_endscan(scan);
	table_close(tgrel, RowExclusiveLock);
}

PG_FUNCTION_INFO_V1(webhook_follow_rename);

/*
 * Event trigger at ddl_command_end: when a column is renamed, the
 * subscriptions of its table (and of the tables that inherit it, which are
 * renamed with it) that exclude it by name exclude it by its new name; when
 * anything is renamed or moved to another schema, payload functions are
 * named by their new signatures.
 */
Datum
webhook_follow_rename(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	RenameStmt *stmt;
	Oid			relid;
	Oid			capture_fn;
	List	   *rels;
	ListCell   *lc;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webhook._follow_rename() can only be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	if (trigdata->parsetree == NULL ||
		!(IsA(trigdata->parsetree, RenameStmt) ||
		  IsA(trigdata->parsetree, AlterObjectSchemaStmt)))
		PG_RETURN_VOID();
	capture_fn = LookupFuncName(list_make2(makeString("webhook"),
										   makeString("capture")),
								0, NULL, true);
	if (!OidIsValid(capture_fn))
		PG_RETURN_VOID();

	stmt = (RenameStmt *) trigdata->parsetree;
	if (IsA(stmt, RenameStmt) && stmt->renameType == OBJECT_COLUMN &&
		stmt->relation != NULL && stmt->subname != NULL &&
		stmt->newname != NULL &&
		OidIsValid(relid = RangeVarGetRelid(stmt->relation, NoLock, true)))
	{
		rels = find_all_inheritors(relid, NoLock, NULL);
		foreach(lc, rels)
			wh_update_triggers(lfirst_oid(lc), capture_fn, stmt->subname,
							   stmt->newname);
	}
	else
		wh_update_triggers(InvalidOid, capture_fn, NULL, NULL);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(webhook_depend_on_function);

/*
 * SQL: webhook._depend_on_function(table, trigger name, function), called
 * by webhook.subscribe() once it has made a subscription with a payload
 * function: the trigger depends on the function, as it would on a function
 * its WHEN clause calls.  Only for a caller who may put triggers on the
 * table and run the function: a dependency blocks the function's DROP.
 */
Datum
webhook_depend_on_function(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *tgname = NameStr(*PG_GETARG_NAME(1));
	Oid			fnoid = PG_GETARG_OID(2);
	ObjectAddress trigger;
	ObjectAddress fn;
	AclResult	aclresult;

	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_TRIGGER);
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
	/* a function the caller may run, as a payload function must be */
#if PG_VERSION_NUM >= 160000
	aclresult = object_aclcheck(ProcedureRelationId, fnoid, GetUserId(),
								ACL_EXECUTE);
#else
	aclresult = pg_proc_aclcheck(fnoid, GetUserId(), ACL_EXECUTE);
#endif
	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, OBJECT_FUNCTION, get_func_name(fnoid));
	trigger.classId = TriggerRelationId;
	trigger.objectId = get_trigger_oid(relid, tgname, false);
	trigger.objectSubId = 0;
	fn.classId = ProcedureRelationId;
	fn.objectId = fnoid;
	fn.objectSubId = 0;
	recordDependencyOn(&trigger, &fn, DEPENDENCY_NORMAL);
	PG_RETURN_VOID();
}
