/*-------------------------------------------------------------------------
 *
 * payload_fn.c
 *	  Payload functions: a SQL function that builds an event's "data".
 *
 * A subscription may name a function (capture option "data=", written by
 * webhook.subscribe(payload_function => ...)) that takes the table's row
 * type and returns json or jsonb.  The capture calls it with the new row
 * (the old one for a DELETE) and sends what it returns as the envelope's
 * "data", instead of the row itself: a thin payload with ids only, or the
 * shape a receiver already expects.
 *
 * wh_payload_fn_lookup() resolves and checks the function (when the
 * subscription is made, and when the trigger first fires);
 * wh_payload_fn_append() calls it, with an error context naming the
 * function and the subscription, so an error in it says where it came
 * from.  The function is named by its signature, not its OID, so a dump
 * and restore keep the subscription working.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "capture/payload_fn.h"

/*
 * Resolve a payload function's signature and check that it takes rows of
 * type reltype and returns json or jsonb.  what names the subscription in
 * errors.
 */
Oid
wh_payload_fn_lookup(const char *signature, Oid reltype, const char *what)
{
	Oid			fnoid;

	fnoid = DatumGetObjectId(DirectFunctionCall1(regprocedurein,
												 CStringGetDatum(signature)));
	return wh_payload_fn_check(fnoid, signature, reltype, what);
}

/*
 * Check that function fnoid (named signature in errors) takes rows of type
 * reltype and returns json or jsonb; returns it.
 */
Oid
wh_payload_fn_check(Oid fnoid, const char *signature, Oid reltype,
					const char *what)
{
	HeapTuple	tp;
	Form_pg_proc proc;

	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(fnoid));
	if (!HeapTupleIsValid(tp))
		elog(ERROR, "cache lookup failed for function %u", fnoid);
	proc = (Form_pg_proc) GETSTRUCT(tp);
	if (proc->pronargs != 1 || proc->proargtypes.values[0] != reltype)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("payload function %s of %s must take one argument of type %s",
						signature, what, format_type_be(reltype))));
	if (proc->prorettype != JSONOID && proc->prorettype != JSONBOID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("payload function %s of %s must return json or jsonb",
						signature, what),
				 errdetail("It returns %s.", format_type_be(proc->prorettype))));
	if (proc->proretset || proc->prokind != PROKIND_FUNCTION)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("payload function %s of %s must be a plain function returning one value",
						signature, what)));
	ReleaseSysCache(tp);
	return fnoid;
}

typedef struct WhPayloadFnContext
{
	const char *signature;
	const char *what;
} WhPayloadFnContext;

static void
wh_payload_fn_errcontext(void *arg)
{
	WhPayloadFnContext *c = (WhPayloadFnContext *) arg;

	errcontext("payload function %s of %s", c->signature, c->what);
}

/*
 * Call the payload function on a row (a composite Datum) and append its
 * result, as JSON text, to buf.  A NULL result is sent as null.
 */
void
wh_payload_fn_append(StringInfo buf, FmgrInfo *fn, Oid rettype, Datum row,
					 const char *signature, const char *what)
{
	ErrorContextCallback errcb;
	WhPayloadFnContext c;
	LOCAL_FCINFO(fcinfo, 1);
	Datum		result;

	c.signature = signature;
	c.what = what;
	errcb.callback = wh_payload_fn_errcontext;
	errcb.arg = &c;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	InitFunctionCallInfoData(*fcinfo, fn, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = row;
	fcinfo->args[0].isnull = false;
	result = FunctionCallInvoke(fcinfo);

	error_context_stack = errcb.previous;

	if (fcinfo->isnull)
		appendStringInfoString(buf, "null");
	else if (rettype == JSONBOID)
	{
		Jsonb	   *jb = DatumGetJsonbP(result);

		(void) JsonbToCString(buf, &jb->root, VARSIZE(jb));
	}
	else
	{
		text	   *t = DatumGetTextPP(result);

		appendBinaryStringInfo(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
}
