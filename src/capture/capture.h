/*-------------------------------------------------------------------------
 *
 * capture.h
 *	  The capture trigger (capture.c), as the payload preview uses it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_CAPTURE_H
#define WEBHOOK_CAPTURE_H

#include "commands/trigger.h"
#include "lib/stringinfo.h"

#include "capture/payload.h"

/* Did an UPDATE change a watched column?  Lists them in changed */
extern bool wh_update_changed(TupleDesc tupdesc, Trigger *trigger,
							  WhRowShape *shape, Datum *oldv, bool *oldn,
							  Datum *newv, bool *newn, StringInfo changed);

#endif							/* WEBHOOK_CAPTURE_H */
