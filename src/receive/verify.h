/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  Checking a received Standard Webhooks request (verify.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_VERIFY_H
#define WEBHOOK_VERIFY_H

#include "fmgr.h"

extern Datum webhook_verify(PG_FUNCTION_ARGS);

#endif							/* WEBHOOK_VERIFY_H */
