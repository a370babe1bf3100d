/*-------------------------------------------------------------------------
 *
 * transport.c
 *	  An endpoint's TLS and proxy options: read from webhook.endpoint by the
 *	  worker, kept with the endpoint, put on each of its requests.
 *
 * Certificates and keys are PEM text kept in the table and handed to
 * libcurl in memory, so the worker never opens a file an endpoint names.
 * The client key and the proxy URL are secrets: nothing here logs them.
 * An endpoint with TLS verification off is logged with a WARNING each time
 * the worker (re)loads it, so the setting cannot go unnoticed.
 *
 * IDENTIFICATION
 *	  src/delivery/transport.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "delivery/transport.h"
#include "guc.h"

void
wh_transport_fetch(WhTransport *t, HeapTuple tup, TupleDesc desc, int first)
{
	bool		isnull;

	t->ca_bundle = SPI_getvalue(tup, desc, first);
	t->client_cert = SPI_getvalue(tup, desc, first + 1);
	t->client_key = SPI_getvalue(tup, desc, first + 2);
	t->tls_insecure = DatumGetBool(SPI_getbinval(tup, desc, first + 3,
												 &isnull)) && !isnull;
	t->proxy = SPI_getvalue(tup, desc, first + 4);
}

void
wh_transport_copy(WhTransport *dst, const WhTransport *src,
				  int32 endpoint_id)
{
	dst->ca_bundle = src->ca_bundle ? pstrdup(src->ca_bundle) : NULL;
	dst->client_cert = src->client_cert ? pstrdup(src->client_cert) : NULL;
	dst->client_key = src->client_key ? pstrdup(src->client_key) : NULL;
	dst->tls_insecure = src->tls_insecure;
	dst->proxy = src->proxy ? pstrdup(src->proxy) : NULL;

	if (dst->tls_insecure)
		ereport(WARNING,
				(errmsg("TLS verification is off for webhook endpoint %d",
						endpoint_id),
				 errdetail("Its receiver's certificate and host name are not checked.")));
}

void
wh_transport_apply(WhHttpRequest *req, const WhTransport *t)
{
	req->ca_bundle = t->ca_bundle;
	req->tls_insecure = t->tls_insecure;
	if (t->client_cert != NULL && t->client_key != NULL)
	{
		req->client_cert = t->client_cert;
		req->client_key = t->client_key;
	}
	if (t->proxy != NULL)
		req->proxy = t->proxy;
	else if (wh_proxy != NULL && wh_proxy[0] != '\0')
		req->proxy = wh_proxy;
}
