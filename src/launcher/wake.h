/*-------------------------------------------------------------------------
 *
 * wake.h
 *	  Waking the delivery worker at commit (wake.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_WAKE_H
#define WEBHOOK_WAKE_H

extern void wh_wake_at_commit(void);

#endif							/* WEBHOOK_WAKE_H */
