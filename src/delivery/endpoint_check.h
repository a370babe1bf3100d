/*-------------------------------------------------------------------------
 *
 * endpoint_check.h
 *	  Checks on an endpoint's URL and headers (endpoint_check.c), raised as
 *	  errors.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_ENDPOINT_CHECK_H
#define WEBHOOK_ENDPOINT_CHECK_H

#include "utils/jsonb.h"

extern void wh_check_url(const char *url);
extern void wh_check_headers(Jsonb *headers);

#endif							/* WEBHOOK_ENDPOINT_CHECK_H */
