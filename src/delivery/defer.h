/*-------------------------------------------------------------------------
 *
 * defer.h
 *	  Holding events back: moving their next attempt later, in the claim.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_DEFER_H
#define WEBHOOK_DEFER_H

#include "utils/timestamp.h"

extern void wh_defer_begin(void);
extern void wh_defer_add(int64 event_id, TimestampTz until);
extern int	wh_defer_flush(void);

#endif							/* WEBHOOK_DEFER_H */
