/*-------------------------------------------------------------------------
 *
 * utility.h
 *	  The ProcessUtility hook (utility.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_UTILITY_H
#define WEBHOOK_UTILITY_H

extern void wh_utility_init(void);

#endif							/* WEBHOOK_UTILITY_H */
