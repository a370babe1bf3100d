/*-------------------------------------------------------------------------
 *
 * activity.h
 *	  What the delivery worker shows in pg_stat_activity.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ACTIVITY_H
#define WEBHOOK_ACTIVITY_H

extern void wh_activity_worker_start(void);
extern uint32 wh_activity_waiting(int in_flight, int queued);

#endif							/* WEBHOOK_ACTIVITY_H */
