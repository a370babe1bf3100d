/*-------------------------------------------------------------------------
 *
 * transport.h
 *	  An endpoint's TLS and proxy options, from its row to its requests.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_TRANSPORT_H
#define WEBHOOK_TRANSPORT_H

#include "access/htup.h"
#include "access/tupdesc.h"

#include "delivery/http.h"

typedef struct WhTransport
{
	char	   *ca_bundle;		/* PEM, or NULL */
	char	   *client_cert;	/* PEM, or NULL */
	char	   *client_key;		/* PEM, or NULL; a secret */
	bool		tls_insecure;
	char	   *proxy;			/* URL, or NULL; may carry credentials */
} WhTransport;

/* Read the options from an SPI row, columns first .. first + 4 */
extern void wh_transport_fetch(WhTransport *t, HeapTuple tup, TupleDesc desc,
							   int first);

/* Copy src into dst in CurrentMemoryContext; warns when TLS checks are off */
extern void wh_transport_copy(WhTransport *dst, const WhTransport *src,
							  int32 endpoint_id);

/* Put the options (and webhook.proxy as the default proxy) on a request */
extern void wh_transport_apply(WhHttpRequest *req, const WhTransport *t);

#endif							/* WEBHOOK_TRANSPORT_H */
