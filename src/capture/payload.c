/*-------------------------------------------------------------------------
 *
 * payload.c
 *	  Turn a table row into the JSON object an event carries.
 *
 * Every value must come out exactly as to_jsonb() would render it, so a
 * receiver sees the same thing a user sees in SQL.  PostgreSQL does not
 * export its per-type JSON rendering, so a "row shape" is worked out once
 * per trigger (kept by capture.c): for each column, how its values turn
 * into JSON.  Common built-in scalar types get a direct path (numbers,
 * booleans, dates and times, json, jsonb, text-like types); arrays,
 * composites and types with a cast to json go through the server's own
 * to_json(), given a FuncExpr so it knows the argument type, and so render
 * exactly as it does.
 *
 * A shape also remembers which columns the subscription excludes (secrets,
 * personal data) and which form the row's key, used when a row is too large
 * to send whole.
 *
 * The outbox stores a Standard Webhooks body without its "timestamp", which
 * is always the event's created_at; wh_event_body() puts it back when the
 * event is sent or shown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/typcache.h"

#include "capture/payload.h"
#include "guc.h"

typedef enum WhJsonKind
{
	WH_KIND_SKIP,				/* dropped or excluded column */
	WH_KIND_NUMBER,
	WH_KIND_BOOL,
	WH_KIND_DATETIME,
	WH_KIND_JSON,
	WH_KIND_JSONB,
	WH_KIND_STRING,
	WH_KIND_TO_JSON
} WhJsonKind;

typedef struct WhColumn
{
	WhJsonKind	kind;
	bool		excluded;
	bool		is_key;
	Oid			basetype;
	char	   *key;			/* "name": ready to append */
	char	   *name_json;		/* "name" */
	FmgrInfo	fn;				/* output function, or to_json */
} WhColumn;

struct WhRowShape
{
	TupleDesc	tupdesc;
	int			natts;
	WhColumn   *columns;
};

/*
 * Decide how a column of type typid is rendered, mirroring the categories
 * of PostgreSQL's json.c.
 */
static void
wh_column_init(WhColumn *col, Oid typid, int32 typmod, Oid collation,
			   MemoryContext cxt)
{
	Oid			base = getBaseType(typid);
	Oid			outfn;
	bool		isvarlena;

	col->basetype = base;
	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			col->kind = WH_KIND_NUMBER;
			break;
		case BOOLOID:
			col->kind = WH_KIND_BOOL;
			break;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			col->kind = WH_KIND_DATETIME;
			break;
		case JSONOID:
			col->kind = WH_KIND_JSON;
			break;
		case JSONBOID:
			col->kind = WH_KIND_JSONB;
			break;
		default:
			if (OidIsValid(get_element_type(base)) || type_is_rowtype(base))
				col->kind = WH_KIND_TO_JSON;
			else if (base >= FirstNormalObjectId)
			{
				Oid			castfunc;
				CoercionPathType ctype;

				ctype = find_coercion_pathway(JSONOID, base,
											  COERCION_EXPLICIT, &castfunc);
				col->kind = (ctype == COERCION_PATH_FUNC &&
							 OidIsValid(castfunc)) ?
					WH_KIND_TO_JSON : WH_KIND_STRING;
			}
			else
				col->kind = WH_KIND_STRING;
			break;
	}

	if (col->kind == WH_KIND_TO_JSON)
	{
		FuncExpr   *expr;
		MemoryContext old = MemoryContextSwitchTo(cxt);

		expr = makeFuncExpr(F_TO_JSON, JSONOID,
							list_make1(makeNullConst(typid, typmod,
													 collation)),
							InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		fmgr_info_cxt(F_TO_JSON, &col->fn, cxt);
		fmgr_info_set_expr((Node *) expr, &col->fn);
		MemoryContextSwitchTo(old);
	}
	else if (col->kind != WH_KIND_BOOL && col->kind != WH_KIND_DATETIME)
	{
		getTypeOutputInfo(typid, &outfn, &isvarlena);
		fmgr_info_cxt(outfn, &col->fn, cxt);
	}
}

static List *wh_column_list_parse_quoted(const char *s, bool *ok);

/*
 * Parse a subscription's column list, the value of capture option
 * "exclude=": names separated by commas, each either as it is (so lists
 * written before quoting was introduced keep their meaning) or in double
 * quotes with any inner double quote doubled, as quote_ident() writes a
 * name.  Quoting lets a list carry any legal name, commas included.
 * Returns a List of palloc'd names.  A list that is not well formed (an
 * unterminated quote, or text after a closing quote) can only have been
 * written by 0.2.0, unquoted, about a name that begins with a double
 * quote: it is read as 0.2.0 read it, split at every comma, and *ok is set
 * to false.
 */
List *
wh_column_list_parse(const char *s, bool *ok)
{
	List	   *names = wh_column_list_parse_quoted(s, ok);

	if (!*ok)
	{
		char	   *copy = pstrdup(s);
		char	   *tok;
		char	   *save = NULL;

		names = NIL;
		for (tok = strtok_r(copy, ",", &save); tok;
			 tok = strtok_r(NULL, ",", &save))
			names = lappend(names, tok);
	}
	return names;
}

/* wh_column_list_parse()'s reading of the quoted form; NIL when malformed */
static List *
wh_column_list_parse_quoted(const char *s, bool *ok)
{
	List	   *names = NIL;
	const char *p = s;

	*ok = true;
	if (*p == '\0')
		return NIL;
	for (;;)
	{
		StringInfoData name;

		initStringInfo(&name);
		if (*p == '"')
		{
			for (p++;; p++)
			{
				if (*p == '\0')
				{
					*ok = false;
					return NIL;
				}
				if (*p == '"')
				{
					if (p[1] != '"')
						break;
					p++;
				}
				appendStringInfoChar(&name, *p);
			}
			p++;
			if (*p != ',' && *p != '\0')
			{
				*ok = false;
				return NIL;
			}
		}
		else
		{
			while (*p != ',' && *p != '\0')
				appendStringInfoChar(&name, *p++);
		}
		if (name.len > 0)
			names = lappend(names, name.data);
		if (*p == '\0')
			break;
		p++;					/* the comma */
	}
	return names;
}

/*
 * Write a list of column names (char *) the way wh_column_list_parse()
 * reads it: every name in double quotes, so that no name can change the
 * list's meaning.
 */
char *
wh_column_list_format(List *names)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, names)
	{
		const char *c;

		if (buf.len > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoChar(&buf, '"');
		for (c = lfirst(lc); *c; c++)
		{
			if (*c == '"')
				appendStringInfoChar(&buf, '"');
			appendStringInfoChar(&buf, *c);
		}
		appendStringInfoChar(&buf, '"');
	}
	return buf.data;
}

/*
 * Work out how to render rows of rel.  exclude is a list of column names
 * (char *) to leave out; an unknown name is an error.
 */
WhRowShape *
wh_shape_build(Relation rel, MemoryContext cxt, List *exclude)
{
	return wh_shape_build_ext(rel, cxt, exclude, true);
}

/*
 * As wh_shape_build(); with strict false an excluded name the table no
 * longer has is passed over (the capture must never stop a write because a
 * subscription's list is out of date: a name that is not there cannot be
 * sent either).
 */
WhRowShape *
wh_shape_build_ext(Relation rel, MemoryContext cxt, List *exclude,
				   bool strict)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	WhRowShape *shape;
	Bitmapset  *keys;
	ListCell   *lc;
	int			i;

	shape = MemoryContextAllocZero(cxt, sizeof(WhRowShape));
	shape->tupdesc = tupdesc;
	shape->natts = tupdesc->natts;
	shape->columns = MemoryContextAllocZero(cxt,
											sizeof(WhColumn) * tupdesc->natts);

	keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_PRIMARY_KEY);
	if (keys == NULL)
		keys = RelationGetIndexAttrBitmap(rel, INDEX_ATTR_BITMAP_IDENTITY_KEY);

	foreach(lc, exclude)
	{
		char	   *name = (char *) lfirst(lc);
		bool		found = false;

		for (i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			{
				shape->columns[i].excluded = true;
				found = true;
			}
		}
		if (!found && strict)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation \"%s\" does not exist",
							name, RelationGetRelationName(rel))));
	}

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		WhColumn   *col = &shape->columns[i];
		StringInfoData key;

		if (att->attisdropped)
		{
			col->kind = WH_KIND_SKIP;
			col->excluded = true;
			continue;
		}
		col->is_key = bms_is_member(att->attnum -
									FirstLowInvalidHeapAttributeNumber, keys);

		initStringInfo(&key);
		escape_json(&key, NameStr(att->attname));
		col->name_json = MemoryContextStrdup(cxt, key.data);
		appendStringInfoChar(&key, ':');
		col->key = MemoryContextStrdup(cxt, key.data);
		pfree(key.data);

		if (col->excluded)
		{
			col->kind = WH_KIND_SKIP;
			continue;
		}
		wh_column_init(col, att->atttypid, att->atttypmod, att->attcollation,
					   cxt);
	}
	return shape;
}

/* Is the shape still right for rows of this descriptor? */
bool
wh_shape_matches(WhRowShape *shape, TupleDesc tupdesc)
{
	return shape->tupdesc == tupdesc;
}

bool
wh_shape_is_excluded(WhRowShape *shape, int attno)
{
	return shape->columns[attno - 1].excluded;
}

/* The column's name as a JSON string */
const char *
wh_shape_column_json(WhRowShape *shape, int attno)
{
	return shape->columns[attno - 1].name_json;
}

/*
 * Render one value.
 */
static void
wh_append_value(StringInfo buf, WhColumn *col, Datum value)
{
	char	   *str;

	switch (col->kind)
	{
		case WH_KIND_NUMBER:
			str = OutputFunctionCall(&col->fn, value);
			if (IsValidJsonNumber(str, strlen(str)))
				appendStringInfoString(buf, str);
			else
				escape_json(buf, str);
			pfree(str);
			break;
		case WH_KIND_BOOL:
			appendStringInfoString(buf, DatumGetBool(value) ? "true" : "false");
			break;
		case WH_KIND_DATETIME:
			{
				char		dt[MAXDATELEN + 1];

				JsonEncodeDateTime(dt, value, col->basetype, NULL);
				appendStringInfoChar(buf, '"');
				appendStringInfoString(buf, dt);
				appendStringInfoChar(buf, '"');
			}
			break;
		case WH_KIND_JSON:
		case WH_KIND_JSONB:
			str = OutputFunctionCall(&col->fn, value);
			appendStringInfoString(buf, str);
			pfree(str);
			break;
		case WH_KIND_STRING:
			str = OutputFunctionCall(&col->fn, value);
			escape_json(buf, str);
			pfree(str);
			break;
		case WH_KIND_TO_JSON:
			{
				text	   *t = DatumGetTextPP(FunctionCall1(&col->fn, value));

				appendBinaryStringInfo(buf, VARDATA_ANY(t),
									   VARSIZE_ANY_EXHDR(t));
			}
			break;
		case WH_KIND_SKIP:
			break;
	}
}

/*
 * Append the row as a JSON object: every column not excluded, or only the
 * key columns when keys_only.
 */
void
wh_shape_append_row(StringInfo buf, WhRowShape *shape, Datum *values,
					bool *nulls, bool keys_only)
{
	bool		first = true;
	int			i;

	appendStringInfoChar(buf, '{');
	for (i = 0; i < shape->natts; i++)
	{
		WhColumn   *col = &shape->columns[i];

		if (col->kind == WH_KIND_SKIP || (keys_only && !col->is_key))
			continue;
		if (!first)
			appendStringInfoChar(buf, ',');
		first = false;
		appendStringInfoString(buf, col->key);
		if (nulls[i])
			appendStringInfoString(buf, "null");
		else
			wh_append_value(buf, col, values[i]);
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The end of the JSON string starting at p[i] (a '"'), just past its closing
 * quote; len when it does not end.
 */
static size_t
wh_json_string_end(const char *p, size_t len, size_t i)
{
	for (i++; i < len && p[i] != '"'; i++)
		if (p[i] == '\\')
			i++;
	return i < len ? i + 1 : len;
}

/* Does p[i..len) start with the string lit? */
static bool
wh_at(const char *p, size_t len, size_t i, const char *lit)
{
	size_t		n = strlen(lit);

	return i <= len && len - i >= n && memcmp(p + i, lit, n) == 0;
}

/*
 * The body an event is sent with, from its stored payload.
 *
 * A Standard Webhooks body is {"type":T,"timestamp":TS,"data":D}.  The
 * capture stores only what cannot be derived: the timestamp is the event's
 * created_at, and the type, unless the subscription names its own, is
 * "<table>.inserted|updated|deleted" from D's "table" and "op".  So it
 * stores {"data":D}, or {"type":T,"data":D} for a named type, which keeps
 * 40 to 65 bytes per event out of the table and the WAL, and they are put
 * back here.  Any other payload (Supabase's format, events written by
 * version 0.1.0, which carry both) is returned as stored.  The result is
 * palloc'd and NUL-terminated; *body_len is its length.
 */
char *
wh_event_body(const char *payload, size_t len, TimestampTz created_at,
			  size_t *body_len)
{
	static const char *const ops[][2] = {
		{"INSERT", "inserted"}, {"UPDATE", "updated"}, {"DELETE", "deleted"}
	};
	const char *type = NULL;	/* the type's JSON string, as stored */
	size_t		type_len = 0;
	const char *table = NULL;	/* or the table's, for a derived type */
	size_t		table_len = 0;
	const char *suffix = NULL;
	size_t		data;			/* where "data": starts */
	char		ts[MAXDATELEN + 1];
	StringInfoData buf;

	if (wh_at(payload, len, 0, "{\"type\":\""))
	{
		size_t		end = wh_json_string_end(payload, len, 8);

		type = payload + 8;
		type_len = end - 8;
		data = end + 1;
		if (!wh_at(payload, len, end, ",\"data\":"))
			goto as_stored;
	}
	else if (wh_at(payload, len, 0, "{\"data\":{\"op\":\""))
	{
		size_t		i = 15;
		int			k;

		data = 1;
		for (k = 0; k < lengthof(ops) && suffix == NULL; k++)
			if (wh_at(payload, len, i, ops[k][0]) &&
				wh_at(payload, len, i + 6, "\",\"schema\":\""))
				suffix = ops[k][1];
		if (suffix == NULL)
			goto as_stored;
		i = wh_json_string_end(payload, len, i + 17);
		if (!wh_at(payload, len, i, ",\"table\":\""))
			goto as_stored;
		table = payload + i + 9;
		table_len = wh_json_string_end(payload, len, i + 9) - (i + 9);
		if (table_len < 2 || table[table_len - 1] != '"')
			goto as_stored;
	}
	else
		goto as_stored;

	JsonEncodeDateTime(ts, TimestampTzGetDatum(created_at), TIMESTAMPOID, NULL);
	initStringInfo(&buf);
	enlargeStringInfo(&buf, len + 48 + 2 * table_len);
	appendStringInfoString(&buf, "{\"type\":");
	if (type)
		appendBinaryStringInfo(&buf, type, type_len);
	else
	{
		/* "<table>.<suffix>": the table's string without its closing quote */
		appendBinaryStringInfo(&buf, table, table_len - 1);
		appendStringInfo(&buf, ".%s\"", suffix);
	}
	appendStringInfo(&buf, ",\"timestamp\":\"%sZ\",", ts);
	appendBinaryStringInfo(&buf, payload + data, len - data);
	*body_len = buf.len;
	return buf.data;

as_stored:
	*body_len = len;
	return pnstrdup(payload, len);
}

PG_FUNCTION_INFO_V1(webhook_event_body);

/*
 * SQL: webhook._event_body(payload, created_at), the body as sent, for the
 * events view.
 */
Datum
webhook_event_body(PG_FUNCTION_ARGS)
{
	text	   *payload = PG_GETARG_TEXT_PP(0);
	TimestampTz created_at = PG_GETARG_TIMESTAMPTZ(1);
	char	   *body;
	size_t		len;

	body = wh_event_body(VARDATA_ANY(payload), VARSIZE_ANY_EXHDR(payload),
						 created_at, &len);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(body, len));
}
