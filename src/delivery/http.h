/*-------------------------------------------------------------------------
 *
 * http.h
 *	  Many HTTP POSTs in flight at once, through libcurl's multi interface.
 *
 * The worker hands requests to wh_http_start(), waits on wh_http_fd() in its
 * WaitEventSet together with its latch (the fd becomes readable whenever a
 * curl socket is ready), calls wh_http_perform() after every wake-up and
 * then drains finished transfers with wh_http_next_result().  Nothing here
 * opens a transaction or touches the database.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_HTTP_H
#define WEBHOOK_HTTP_H

#include "utils/timestamp.h"

typedef struct WhHttpRequest
{
	void	   *arg;			/* caller's key, handed back in the result */
	const char *url;
	const char *body;
	size_t		body_len;
	const char *const *headers; /* "Name: value" lines, without CR/LF */
	int			nheaders;
	long		timeout_ms;		/* whole transfer, connect included */
	/* transport options, NULL for none (copied by libcurl) */
	const char *ca_bundle;		/* PEM CA certificates to trust instead */
	const char *client_cert;	/* PEM client certificate, for mTLS */
	const char *client_key;		/* PEM private key of client_cert */
	bool		tls_insecure;	/* do not verify the peer (loud elsewhere) */
	const char *proxy;			/* proxy URL; NULL: none (never the environment) */
} WhHttpRequest;

/* A receiver's "webhook-delivery" response header */
typedef enum WhDeliveryDirective
{
	WH_DELIVERY_NONE = 0,
	WH_DELIVERY_DISABLE,		/* "disable": disable the endpoint */
	WH_DELIVERY_ABORT			/* "abort": stop retrying this message */
} WhDeliveryDirective;

typedef struct WhHttpResult
{
	void	   *arg;
	long		status;			/* HTTP status, 0 when no response arrived */
	int			curl_code;		/* CURLE_OK or the curl error */
	char	   *error;			/* palloc'd curl error text, NULL on success */
	char	   *response;		/* palloc'd first bytes of the body, NUL ended */
	char	   *retry_after;	/* palloc'd Retry-After value, or NULL */
	WhDeliveryDirective delivery;	/* webhook-delivery header */
	bool		refused;		/* the network guard refused the address */
	TimestampTz started_at;
	int64		duration_us;
} WhHttpResult;

/*
 * Set up the multi handle.  max_total bounds transfers and open connections
 * overall, max_host per host; max_response bounds the response bytes kept.
 */
extern void wh_http_init(int max_total, int max_host, int max_response);
extern void wh_http_shutdown(void);

/* The descriptor to wait on (readable when curl has work) */
extern int	wh_http_fd(void);

/* Start a transfer; everything in req is copied */
extern void wh_http_start(const WhHttpRequest *req);

/* Let curl make progress on ready sockets and expired timers */
extern void wh_http_perform(void);

/* Milliseconds until curl wants wh_http_perform() called, or -1 */
extern long wh_http_timeout_ms(void);

/* Number of transfers started and not yet returned */
extern int	wh_http_in_flight(void);

/*
 * Pop one finished transfer into *res (allocated in CurrentMemoryContext).
 * Returns false when none is finished.
 */
extern bool wh_http_next_result(WhHttpResult *res);

#endif							/* WEBHOOK_HTTP_H */
