/*-------------------------------------------------------------------------
 *
 * payload.h
 *	  Column lists and row shapes (payload.c) beyond those in webhook.h.
 *
 * A subscription's column list is stored in its trigger's arguments as
 * quoted names separated by commas; these read and write that form, and
 * build a row shape that tolerates names the table no longer has.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_PAYLOAD_H
#define WEBHOOK_PAYLOAD_H

#include "nodes/pg_list.h"
#include "utils/relcache.h"

struct WhRowShape;

extern List *wh_column_list_parse(const char *s, bool *ok);
extern char *wh_column_list_format(List *names);
extern struct WhRowShape *wh_shape_build_ext(Relation rel, MemoryContext cxt,
									  List *exclude, bool strict);

#endif							/* WEBHOOK_PAYLOAD_H */
