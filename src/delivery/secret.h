/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  Checking and generating endpoint secrets (secret.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_SECRET_H
#define WEBHOOK_SECRET_H

/* ereport(ERROR) unless secret is a valid "whsec_" secret; never prints it */
extern void wh_secret_check(const char *secret);

/* A fresh palloc'd "whsec_" secret of WH_SECRET_GEN_BYTES random bytes */
extern char *wh_secret_generate(void);

#endif							/* WEBHOOK_SECRET_H */
