/*-------------------------------------------------------------------------
 *
 * preview.c
 *	  The body a subscription would send for a row, without sending it.
 *
 * webhook.preview() (SQL) shows the exact request an event would become:
 * this file builds its body the way the capture trigger does, from the
 * subscription's own trigger (its options and UPDATE OF columns) and the
 * row shapes of payload.c; the SQL function adds the headers and signs it
 * with webhook.sign() (delivery/secret.c).  Nothing is written to the outbox.
 *
 * The envelope follows capture.c's; test 21_ops checks that a preview and
 * a captured event carry the same body.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "commands/trigger.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "capture/capture.h"
#include "capture/payload.h"
#include "capture/payload_fn.h"
#include "guc.h"

typedef struct WhPreviewOptions
{
	const char *event_type;
	List	   *exclude;
	bool		supabase;
	const char *data_fn;
} WhPreviewOptions;

/*
 * Read a subscription's options (webhook.capture()'s arguments after the
 * endpoint): type=, exclude= and format=.  The trigger was checked when it
 * was made; anything else is ignored here, and refused by the capture.
 */
static void
wh_preview_options(Trigger *trigger, WhPreviewOptions *opts)
{
	int			i;

	memset(opts, 0, sizeof(*opts));
	for (i = 1; i < trigger->tgnargs; i++)
	{
		const char *arg = trigger->tgargs[i];

		if (strncmp(arg, "type=", 5) == 0)
			opts->event_type = arg + 5;
		else if (strncmp(arg, "data=", 5) == 0)
			opts->data_fn = arg + 5;
		else if (strncmp(arg, "format=", 7) == 0)
			opts->supabase = strcmp(arg + 7, "supabase") == 0;
		else if (strncmp(arg, "exclude=", 8) == 0)
		{
			bool		ok;

			opts->exclude = wh_column_list_parse(arg + 8, &ok);
		}
	}
}

/* Deform a row value of the relation's type */
static void
wh_preview_deform(Relation rel, HeapTupleHeader td, Datum **values,
				  bool **nulls)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	HeapTupleData tup;

	if (HeapTupleHeaderGetTypeId(td) != rel->rd_rel->reltype)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("row is not of the type of table \"%s\"",
						RelationGetRelationName(rel))));
	tup.t_len = HeapTupleHeaderGetDatumLength(td);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = td;
	*values = palloc(sizeof(Datum) * tupdesc->natts);
	*nulls = palloc(sizeof(bool) * tupdesc->natts);
	heap_deform_tuple(&tup, tupdesc, *values, *nulls);
}

/* The envelope, as capture.c builds it */
static void
wh_preview_envelope(StringInfo buf, Relation rel, WhPreviewOptions *opts,
					WhRowShape *shape, const char *op, TimestampTz now,
					Datum *oldv, bool *oldn, Datum *newv, bool *newn,
					const char *changed, bool keys_only, const char *data_json)
{
	const char *suffix = strcmp(op, "INSERT") == 0 ? "inserted" :
		strcmp(op, "UPDATE") == 0 ? "updated" : "deleted";
	char	   *schema = get_namespace_name(RelationGetNamespace(rel));
	const char *table = RelationGetRelationName(rel);
	char		ts[MAXDATELEN + 1];

	if (opts->supabase)
	{
		appendStringInfoString(buf, "{\"type\":");
		escape_json(buf, op);
		appendStringInfoString(buf, ",\"table\":");
		escape_json(buf, table);
		appendStringInfoString(buf, ",\"schema\":");
		escape_json(buf, schema);
		appendStringInfoString(buf, ",\"record\":");
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

	appendStringInfoString(buf, "{\"type\":");
	escape_json(buf, opts->event_type ? opts->event_type :
				psprintf("%s.%s", table, suffix));
	JsonEncodeDateTime(ts, TimestampGetDatum(now), TIMESTAMPOID, NULL);
	if (data_json)
	{
		appendStringInfo(buf, ",\"timestamp\":\"%sZ\",\"data\":%s}",
						 ts, data_json);
		return;
	}
	appendStringInfo(buf, ",\"timestamp\":\"%sZ\",\"data\":{\"op\":\"%s\",\"schema\":",
					 ts, op);
	escape_json(buf, schema);
	appendStringInfoString(buf, ",\"table\":");
	escape_json(buf, table);
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

PG_FUNCTION_INFO_V1(webhook_preview_body);

/*
 * SQL: webhook._preview_body(tbl regclass, trigger name, op text,
 * new_row record, old_row record) returns text: the body trigger "trigger"
 * on tbl would send for this change, or NULL when it would send nothing
 * (an UPDATE that changed no watched column).
 */
Datum
webhook_preview_body(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *tgname;
	char	   *op;
	Relation	rel;
	Trigger    *trigger = NULL;
	WhPreviewOptions opts;
	WhRowShape *shape;
	Datum	   *newv = NULL,
			   *oldv = NULL;
	bool	   *newn = NULL,
			   *oldn = NULL;
	StringInfoData changed;
	StringInfoData body;
	StringInfoData data;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	tgname = NameStr(*PG_GETARG_NAME(1));
	op = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(op, "INSERT") != 0 && strcmp(op, "UPDATE") != 0 &&
		strcmp(op, "DELETE") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid operation \"%s\"", op),
				 errhint("Valid operations are INSERT, UPDATE and DELETE.")));

	rel = relation_open(relid, AccessShareLock);
	for (i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
		if (strcmp(rel->trigdesc->triggers[i].tgname, tgname) == 0)
			trigger = &rel->trigdesc->triggers[i];
	if (trigger == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("trigger \"%s\" for table \"%s\" does not exist",
						tgname, RelationGetRelationName(rel))));

	if (strcmp(op, "DELETE") != 0)
	{
		if (PG_ARGISNULL(3))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("an %s needs the new row", op)));
		wh_preview_deform(rel, PG_GETARG_HEAPTUPLEHEADER(3), &newv, &newn);
	}
	if (strcmp(op, "INSERT") != 0)
	{
		if (PG_ARGISNULL(4))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("an %s needs the old row", op)));
		wh_preview_deform(rel, PG_GETARG_HEAPTUPLEHEADER(4), &oldv, &oldn);
	}

	wh_preview_options(trigger, &opts);
	shape = wh_shape_build_ext(rel, CurrentMemoryContext, opts.exclude,
							   false);

	initStringInfo(&changed);
	if (strcmp(op, "UPDATE") == 0 &&
		!wh_update_changed(RelationGetDescr(rel), trigger, shape,
							oldv, oldn, newv, newn, &changed))
	{
		relation_close(rel, AccessShareLock);
		PG_RETURN_NULL();
	}

	if (opts.data_fn)
	{
		char	   *what = psprintf("subscription \"%s\" on table \"%s\"",
									tgname, RelationGetRelationName(rel));
		Oid			fnoid = wh_payload_fn_lookup(opts.data_fn,
												 rel->rd_rel->reltype, what);
		FmgrInfo	fn;

		fmgr_info(fnoid, &fn);
		initStringInfo(&data);
		wh_payload_fn_append(&data, &fn, get_func_rettype(fnoid),
							 newv ? PG_GETARG_DATUM(3) : PG_GETARG_DATUM(4),
							 opts.data_fn, what);
	}

	initStringInfo(&body);
	wh_preview_envelope(&body, rel, &opts, shape, op, now, oldv, oldn,
						newv, newn,
						strcmp(op, "UPDATE") == 0 ? changed.data : NULL,
						false, opts.data_fn ? data.data : NULL);
	if (body.len > wh_max_payload_size && !opts.data_fn)
	{
		resetStringInfo(&body);
		wh_preview_envelope(&body, rel, &opts, shape, op, now, oldv, oldn,
							newv, newn,
							strcmp(op, "UPDATE") == 0 ? changed.data : NULL,
							true, NULL);
	}
	relation_close(rel, AccessShareLock);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(body.data, body.len));
}
