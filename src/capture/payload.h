/*-------------------------------------------------------------------------
 *
 * payload.h
 *	  Rows to JSON, column lists, and the body an event is sent with
 *	  (payload.c).
 *
 * A row shape is built once per table and trigger: how each column is
 * rendered, and which are left out.  A subscription's column list is
 * stored in its trigger's arguments as quoted names separated by commas;
 * the column-list functions read and write that form, and the "ext" shape
 * builder tolerates names the table no longer has.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_PAYLOAD_H
#define WEBHOOK_PAYLOAD_H

#include "access/tupdesc.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/relcache.h"
#include "utils/timestamp.h"

typedef struct WhRowShape WhRowShape;

extern WhRowShape *wh_shape_build(Relation rel, MemoryContext cxt,
								  List *exclude);
extern WhRowShape *wh_shape_build_ext(Relation rel, MemoryContext cxt,
									  List *exclude, bool strict);
extern bool wh_shape_matches(WhRowShape *shape, TupleDesc tupdesc);
extern void wh_shape_append_row(StringInfo buf, WhRowShape *shape,
								Datum *values, bool *nulls, bool keys_only);
extern bool wh_shape_is_excluded(WhRowShape *shape, int attno);
extern const char *wh_shape_column_json(WhRowShape *shape, int attno);

extern List *wh_column_list_parse(const char *s, bool *ok);
extern char *wh_column_list_format(List *names);

/* The stored payload, with its type and timestamp, as it is sent */
extern char *wh_event_body(const char *payload, size_t len,
						   TimestampTz created_at, size_t *body_len);

#endif							/* WEBHOOK_PAYLOAD_H */
