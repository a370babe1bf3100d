/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  The launcher (launcher.c): one delivery worker per database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_LAUNCHER_H
#define WEBHOOK_LAUNCHER_H

extern void wh_launcher_init(void);

#endif							/* WEBHOOK_LAUNCHER_H */
