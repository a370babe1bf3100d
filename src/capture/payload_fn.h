/*-------------------------------------------------------------------------
 *
 * payload_fn.h
 *	  Payload functions: a SQL function that builds an event's "data".
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_PAYLOAD_FN_H
#define WEBHOOK_PAYLOAD_FN_H

#include "fmgr.h"
#include "lib/stringinfo.h"

extern Oid	wh_payload_fn_lookup(const char *signature, Oid reltype,
								 const char *what);
extern Oid	wh_payload_fn_check(Oid fnoid, const char *signature,
								Oid reltype, const char *what);
extern void wh_payload_fn_append(StringInfo buf, FmgrInfo *fn, Oid rettype,
								 Datum row, const char *signature,
								 const char *what);

#endif							/* WEBHOOK_PAYLOAD_FN_H */
