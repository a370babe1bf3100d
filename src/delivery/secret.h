/*-------------------------------------------------------------------------
 *
 * secret.h
 *	  Checking and generating endpoint secrets (secret.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_SECRET_H
#define WEBHOOK_SECRET_H

/*
 * ereport(ERROR) unless secret is a valid "whsec_" secret or "whsk_" secret
 * key; never prints it
 */
extern void wh_secret_check(const char *secret);

/* A fresh palloc'd secret of scheme "v1" ("whsec_") or "v1a" ("whsk_") */
extern char *wh_secret_generate(const char *scheme);

/* The palloc'd "whpk_" public key of a "whsk_" secret key */
extern char *wh_public_key_of(const char *secret);

#endif							/* WEBHOOK_SECRET_H */
