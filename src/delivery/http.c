/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The worker's HTTP engine: many POSTs in flight at once, driven by
 *	  libcurl's multi interface in socket-action style.
 *
 * One multi handle per process holds every transfer.  libcurl tells us which
 * sockets it wants watched through the socket callback, and we mirror them in
 * a private epoll instance; it tells us when it next wants to be called
 * through the timer callback, and we keep that deadline on the monotonic
 * clock.  The epoll descriptor is readable whenever any of curl's sockets is
 * ready, so the worker puts that single descriptor into its WaitEventSet next
 * to its latch and sleeps on both at once, using wh_http_timeout_ms() as the
 * wait timeout.  After every wake-up it calls wh_http_perform(), which hands
 * ready sockets and an expired timer to curl and moves finished transfers to
 * a queue that wh_http_next_result() drains.
 *
 * Connections are kept alive and reused between requests: the multi handle
 * owns a bounded connection cache, so a stream of POSTs to one receiver runs
 * over a handful of connections, and max_total caps the sockets we can hold.
 *
 * libcurl calls our callbacks from deep inside its own stack.  A longjmp out
 * of them would leave libcurl's state corrupt, so nothing reachable from a
 * callback may ereport, elog or palloc.  Everything a callback touches (the
 * per-transfer state, the kept response bytes) therefore lives in malloc'd
 * memory, and a callback that cannot go on (out of memory, a receiver that
 * sends too much) aborts its own transfer and leaves a reason behind.  Only
 * the entry points, which run in the worker's normal control flow, ereport;
 * results are copied into palloc'd memory when the worker collects them.
 *
 * Receivers are not trusted.  The headers we keep are bounded, the body we
 * keep is bounded by max_response, and a transfer whose response runs past
 * fixed limits is cut short, so a receiver streaming gigabytes or holding
 * the connection open cannot hold the worker beyond the request's timeout.
 * Only http and https are allowed, redirects are not followed and TLS peers
 * are verified unless an endpoint turns that off.  Every socket is opened
 * through wh_opensocket_cb(), which asks netguard.c whether the address,
 * as resolved, may be connected to at all (the SSRF guard).
 *
 * IDENTIFICATION
 *	  src/delivery/http.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "utils/timestamp.h"

#include "common/netguard.h"
#include "delivery/http.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85.0 or later is required"
#endif

/* Response headers beyond this many bytes abort the transfer */
#define WH_HTTP_MAX_HEADER_BYTES	(64 * 1024)

/* Response bodies beyond this many bytes (or max_response) abort it */
#define WH_HTTP_MAX_BODY_BYTES		(1024 * 1024)

/*
 * The error of a response over that limit, whether this file's write
 * callback or libcurl's own size check (CURLOPT_MAXFILESIZE, which newer
 * libcurl releases apply to bodies without a length too) stops it
 */
#define WH_BODY_TOO_LARGE	"response body too large, transfer cut short"

/* Longest Retry-After value kept; longer ones are not valid anyway */
#define WH_HTTP_RETRY_AFTER_LEN		256

/* Connecting may take at most this long, within the request's timeout */
#define WH_HTTP_CONNECT_TIMEOUT_MS	10000

/* Ready sockets taken from epoll per wh_http_perform() call */
#define WH_HTTP_MAX_EVENTS			64

/*
 * One transfer, from wh_http_start() until the worker collects its result.
 *
 * Allocated with malloc because the curl callbacks write into it.  While it
 * runs it is on the active list and owns its easy handle and header list;
 * once finished, those are released and it waits on the done queue with
 * only the outcome.
 */
typedef struct WhTransfer
{
	CURL	   *easy;			/* NULL once finished */
	struct curl_slist *headers; /* request headers, NULL once finished */
	void	   *arg;			/* caller's key */

	/* response body, as far as kept */
	char	   *resp;			/* malloc'd, resp_cap bytes */
	size_t		resp_len;
	size_t		resp_cap;
	size_t		max_response;	/* bytes of the body to keep */
	size_t		max_body;		/* body bytes after which we abort */
	size_t		body_bytes;		/* body bytes received in total */
	size_t		header_bytes;	/* header bytes received in total */

	bool		has_retry_after;
	char		retry_after[WH_HTTP_RETRY_AFTER_LEN + 1];
	WhDeliveryDirective delivery;	/* final response's webhook-delivery */

	/* set by a callback that aborted the transfer, or by a watch failure */
	const char *abort_reason;
	char		guard_reason[256];	/* why netguard refused an address */
	bool		watch_failed;

	/* outcome */
	CURLcode	code;
	long		status;
	TimestampTz started_at;
	int64		start_us;		/* monotonic clock */
	int64		duration_us;
	char		errbuf[CURL_ERROR_SIZE];

	struct WhTransfer *prev;	/* active list, or done queue (next only) */
	struct WhTransfer *next;
} WhTransfer;

/* The engine's state; one per process */
static CURLM *wh_multi = NULL;
static int	wh_epfd = -1;
static int	wh_max_response = 0;
static int64 wh_timer_deadline = -1;	/* monotonic us, -1 for none */
static bool wh_watch_failed = false;	/* some transfer has watch_failed */
static int	wh_in_flight = 0;

static WhTransfer *wh_active = NULL;	/* doubly linked */
static WhTransfer *wh_done_head = NULL; /* FIFO, singly linked */
static WhTransfer *wh_done_tail = NULL;

/*
 * Microseconds on the monotonic clock.  Used for curl's timer and for
 * durations, which must not jump when the wall clock is set.
 */
static int64
wh_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Release a transfer's malloc'd state and curl objects; never ereports */
static void
wh_transfer_free(WhTransfer *t)
{
	if (t->easy != NULL)
		curl_easy_cleanup(t->easy);
	if (t->headers != NULL)
		curl_slist_free_all(t->headers);
	free(t->resp);
	free(t);
}

/*
 * Socket callback: mirror the interest curl reports for one socket in our
 * epoll set.
 *
 * curl may report a socket again with a changed interest, and epoll forgets
 * a descriptor by itself once it is closed, so instead of tracking which
 * sockets are registered we try the likely operation and fall back to the
 * other.  For a removal, the socket may already be closed, which is fine.
 * If a socket cannot be watched, its transfer could never finish: mark it so
 * that wh_http_perform() ends it with an error.
 */
static int
wh_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
			 void *socketp)
{
	struct epoll_event ev;

	if (what == CURL_POLL_REMOVE)
	{
		/* ENOENT and EBADF: curl closed it already, and epoll forgot it */
		(void) epoll_ctl(wh_epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}

	memset(&ev, 0, sizeof(ev));
	ev.data.fd = s;
	if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
		ev.events |= EPOLLIN;
	if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
		ev.events |= EPOLLOUT;

	if (epoll_ctl(wh_epfd, EPOLL_CTL_ADD, s, &ev) == 0)
		return 0;
	if (errno == EEXIST && epoll_ctl(wh_epfd, EPOLL_CTL_MOD, s, &ev) == 0)
		return 0;

	if (easy != NULL)
	{
		WhTransfer *t = NULL;

		if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t) ==
			CURLE_OK && t != NULL)
		{
			t->watch_failed = true;
			if (t->abort_reason == NULL)
				t->abort_reason = "could not watch socket";
			wh_watch_failed = true;
		}
	}
	return 0;
}

/* Timer callback: remember when curl next wants to be called */
static int
wh_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	if (timeout_ms < 0)
		wh_timer_deadline = -1;
	else
		wh_timer_deadline = wh_monotonic_us() + (int64) timeout_ms * 1000;
	return 0;
}

/*
 * The value of a "webhook-delivery" header line, if buf is one: "disable"
 * or "abort", case-insensitive; anything else means nothing.
 */
static WhDeliveryDirective
wh_delivery_directive(const char *buf, size_t n)
{
	const char *name = "webhook-delivery:";
	size_t		namelen = strlen(name);
	const char *start = buf + namelen;
	const char *end = buf + n;

	if (n < namelen || strncasecmp(buf, name, namelen) != 0)
		return WH_DELIVERY_NONE;
	while (start < end && (*start == ' ' || *start == '\t'))
		start++;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
						   end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (end - start == 7 && strncasecmp(start, "disable", 7) == 0)
		return WH_DELIVERY_DISABLE;
	if (end - start == 5 && strncasecmp(start, "abort", 5) == 0)
		return WH_DELIVERY_ABORT;
	return WH_DELIVERY_NONE;
}

/*
 * Header callback: count header bytes, aborting when a receiver sends too
 * many, and keep the final response's Retry-After and webhook-delivery
 * values.
 *
 * Each status line starts a new response (an interim 1xx may come first),
 * so it forgets any Retry-After seen so far.  Values too long to be valid are
 * dropped rather than cut, so a cut value is never mistaken for a real one.
 */
static size_t
wh_header_cb(char *buf, size_t size, size_t nitems, void *userdata)
{
	WhTransfer *t = (WhTransfer *) userdata;
	size_t		n = size * nitems;
	const char *name = "retry-after:";
	size_t		namelen = strlen(name);

	t->header_bytes += n;
	if (t->header_bytes > WH_HTTP_MAX_HEADER_BYTES)
	{
		t->abort_reason = "response headers exceeded 65536 bytes";
		return 0;
	}

	if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0)
	{
		t->has_retry_after = false;
		t->retry_after[0] = '\0';
		t->delivery = WH_DELIVERY_NONE;
	}
	else if (wh_delivery_directive(buf, n) != WH_DELIVERY_NONE)
		t->delivery = wh_delivery_directive(buf, n);
	else if (n >= namelen && strncasecmp(buf, name, namelen) == 0)
	{
		const char *start = buf + namelen;
		const char *end = buf + n;

		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
							   end[-1] == '\r' || end[-1] == '\n'))
			end--;

		if (end - start <= WH_HTTP_RETRY_AFTER_LEN)
		{
			memcpy(t->retry_after, start, end - start);
			t->retry_after[end - start] = '\0';
			t->has_retry_after = true;
		}
		else
		{
			t->has_retry_after = false;
			t->retry_after[0] = '\0';
		}
	}

	return n;
}

/*
 * Open-socket callback: the SSRF guard.  libcurl calls it with each address
 * it is about to connect to, after name resolution, so the policy applies to
 * the address really used, whatever the host name said earlier.  A refused
 * address fails the transfer (or makes curl try the host's next address)
 * and leaves the reason behind for the attempt's record.
 */
static curl_socket_t
wh_opensocket_cb(void *clientp, curlsocktype purpose,
				 struct curl_sockaddr *address)
{
	WhTransfer *t = (WhTransfer *) clientp;

	if (!wh_net_permit(&address->addr, address->addrlen, wh_net_allowed,
					   wh_net_denied, t->guard_reason,
					   sizeof(t->guard_reason)))
	{
		t->abort_reason = t->guard_reason;
		return CURL_SOCKET_BAD;
	}
	return socket(address->family, address->socktype | SOCK_CLOEXEC,
				  address->protocol);
}

/*
 * Write callback: keep the first max_response bytes of the body and discard
 * the rest, but abort once the body passes max_body, so that a receiver
 * streaming without end cannot keep the transfer going until its timeout.
 * The kept buffer grows on demand; if it cannot, the transfer is aborted.
 */
static size_t
wh_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	WhTransfer *t = (WhTransfer *) userdata;
	size_t		n = size * nmemb;

	t->body_bytes += n;

	if (t->resp_len < t->max_response && n > 0)
	{
		size_t		keep = Min(n, t->max_response - t->resp_len);

		if (t->resp_len + keep > t->resp_cap)
		{
			size_t		newcap = Max(t->resp_cap * 2, 1024);
			char	   *p;

			newcap = Max(newcap, t->resp_len + keep);
			newcap = Min(newcap, t->max_response);
			p = realloc(t->resp, newcap);
			if (p == NULL)
			{
				t->abort_reason = "out of memory";
				return 0;
			}
			t->resp = p;
			t->resp_cap = newcap;
		}
		memcpy(t->resp + t->resp_len, ptr, keep);
		t->resp_len += keep;
	}

	if (t->body_bytes > t->max_body)
	{
		t->abort_reason = WH_BODY_TOO_LARGE;
		return 0;
	}

	return n;
}

/*
 * Set up the multi handle and the epoll set.
 *
 * Called again while set up, it only applies the new limits; transfers
 * already running keep the max_response they started with.
 */
void
wh_http_init(int max_total, int max_host, int max_response)
{
	CURLMcode	mrc;

	if (max_total < 1 || max_host < 0 || max_response < 0)
		elog(ERROR, "invalid HTTP limits: %d total, %d per host, %d bytes",
			 max_total, max_host, max_response);

	if (wh_multi == NULL)
	{
		CURLcode	rc;

		rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		if (rc != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not initialize libcurl"),
					 errdetail("%s", curl_easy_strerror(rc))));

		wh_epfd = epoll_create1(EPOLL_CLOEXEC);
		if (wh_epfd < 0)
		{
			int			save_errno = errno;

			curl_global_cleanup();
			errno = save_errno;
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not create epoll instance: %m")));
		}

		wh_multi = curl_multi_init();
		if (wh_multi == NULL)
		{
			close(wh_epfd);
			wh_epfd = -1;
			curl_global_cleanup();
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not initialize libcurl multi handle")));
		}

		wh_timer_deadline = -1;
		wh_watch_failed = false;
		wh_in_flight = 0;
	}

	wh_max_response = max_response;

	if ((mrc = curl_multi_setopt(wh_multi, CURLMOPT_SOCKETFUNCTION,
								 wh_socket_cb)) != CURLM_OK ||
		(mrc = curl_multi_setopt(wh_multi, CURLMOPT_TIMERFUNCTION,
								 wh_timer_cb)) != CURLM_OK ||
		(mrc = curl_multi_setopt(wh_multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
								 (long) max_total)) != CURLM_OK ||
		(mrc = curl_multi_setopt(wh_multi, CURLMOPT_MAX_HOST_CONNECTIONS,
								 (long) max_host)) != CURLM_OK ||
		(mrc = curl_multi_setopt(wh_multi, CURLMOPT_MAXCONNECTS,
								 (long) max_total)) != CURLM_OK)
	{
		/* the handle stays usable with whatever options took effect */
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not configure libcurl multi handle"),
				 errdetail("%s", curl_multi_strerror(mrc))));
	}
}

/*
 * Abandon every transfer and release the multi handle and the epoll set.
 *
 * Safe to call when not set up, more than once, and from an exit callback:
 * it never ereports.  Results not yet collected are lost.
 */
void
wh_http_shutdown(void)
{
	WhTransfer *t;

	if (wh_multi == NULL)
		return;

	while ((t = wh_active) != NULL)
	{
		wh_active = t->next;
		curl_multi_remove_handle(wh_multi, t->easy);
		wh_transfer_free(t);
	}
	while ((t = wh_done_head) != NULL)
	{
		wh_done_head = t->next;
		wh_transfer_free(t);
	}
	wh_done_tail = NULL;

	/* closing cached connections calls the socket callback: epoll first */
	curl_multi_cleanup(wh_multi);
	wh_multi = NULL;
	close(wh_epfd);
	wh_epfd = -1;
	curl_global_cleanup();

	wh_timer_deadline = -1;
	wh_watch_failed = false;
	wh_in_flight = 0;
}

int
wh_http_fd(void)
{
	return wh_epfd;
}

/*
 * Set the options of a transfer's easy handle.  Returns the first failure;
 * the caller releases the transfer.
 */
static CURLcode
wh_easy_setup(WhTransfer *t, const WhHttpRequest *req)
{
	CURL	   *easy = t->easy;
	CURLcode	rc;
	long		connect_ms = Min(req->timeout_ms,
								 (long) WH_HTTP_CONNECT_TIMEOUT_MS);
	curl_off_t	body_len = 0;

	if (req->body != NULL)
		body_len = (curl_off_t) req->body_len;

#define WH_SETOPT(opt, val) \
	do { \
		if ((rc = curl_easy_setopt(easy, opt, val)) != CURLE_OK) \
			return rc; \
	} while (0)

	WH_SETOPT(CURLOPT_PRIVATE, t);
	WH_SETOPT(CURLOPT_ERRORBUFFER, t->errbuf);
	WH_SETOPT(CURLOPT_NOSIGNAL, 1L);
	WH_SETOPT(CURLOPT_URL, req->url);

	/* only plain HTTP(S), never followed elsewhere, TLS peers verified */
	WH_SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
	WH_SETOPT(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	WH_SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
	WH_SETOPT(CURLOPT_SSL_VERIFYPEER, req->tls_insecure ? 0L : 1L);
	WH_SETOPT(CURLOPT_SSL_VERIFYHOST, req->tls_insecure ? 0L : 2L);
	if (req->ca_bundle != NULL)
	{
		struct curl_blob blob;

		blob.data = (void *) req->ca_bundle;
		blob.len = strlen(req->ca_bundle);
		blob.flags = CURL_BLOB_COPY;
		WH_SETOPT(CURLOPT_CAINFO_BLOB, &blob);
	}
	if (req->client_cert != NULL && req->client_key != NULL)
	{
		struct curl_blob cert;
		struct curl_blob key;

		cert.data = (void *) req->client_cert;
		cert.len = strlen(req->client_cert);
		cert.flags = CURL_BLOB_COPY;
		key.data = (void *) req->client_key;
		key.len = strlen(req->client_key);
		key.flags = CURL_BLOB_COPY;
		WH_SETOPT(CURLOPT_SSLCERTTYPE, "PEM");
		WH_SETOPT(CURLOPT_SSLCERT_BLOB, &cert);
		WH_SETOPT(CURLOPT_SSLKEYTYPE, "PEM");
		WH_SETOPT(CURLOPT_SSLKEY_BLOB, &key);
	}
	/*
	 * Only the endpoint's proxy or webhook.proxy: "" stops libcurl from
	 * reading http_proxy, https_proxy, all_proxy and no_proxy from the
	 * server's environment, which would route requests past the guard's
	 * view of the receiver.
	 */
	WH_SETOPT(CURLOPT_PROXY, req->proxy != NULL ? req->proxy : "");

	/* every connection, to a receiver or a proxy, passes the SSRF guard */
	WH_SETOPT(CURLOPT_OPENSOCKETFUNCTION, wh_opensocket_cb);
	WH_SETOPT(CURLOPT_OPENSOCKETDATA, t);

	/*
	 * ... once, when opened: since the network lists last changed, reuse
	 * only connections opened after that (curl counts whole seconds, so
	 * within the first second take a fresh one).
	 */
	if (wh_net_changed_us > 0)
	{
		int64		age_s = (wh_monotonic_us() - wh_net_changed_us) / 1000000;

		if (age_s < 1)
			WH_SETOPT(CURLOPT_FRESH_CONNECT, 1L);
		else
			WH_SETOPT(CURLOPT_MAXLIFETIME_CONN, (long) age_s);
	}

	/* a receiver announcing a huge body is cut off before it sends it */
	WH_SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) t->max_body);

	/* the size goes first, so that COPYPOSTFIELDS copies binary data */
	WH_SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, body_len);
	WH_SETOPT(CURLOPT_COPYPOSTFIELDS, req->body != NULL ? req->body : "");
	WH_SETOPT(CURLOPT_HTTPHEADER, t->headers);
#ifdef WEBHOOK_VERSION
	WH_SETOPT(CURLOPT_USERAGENT, "postgresql-webhook/" WEBHOOK_VERSION);
#endif

	WH_SETOPT(CURLOPT_TIMEOUT_MS, req->timeout_ms);
	WH_SETOPT(CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	WH_SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);

	WH_SETOPT(CURLOPT_HEADERFUNCTION, wh_header_cb);
	WH_SETOPT(CURLOPT_HEADERDATA, t);
	WH_SETOPT(CURLOPT_WRITEFUNCTION, wh_write_cb);
	WH_SETOPT(CURLOPT_WRITEDATA, t);

#undef WH_SETOPT

	return CURLE_OK;
}

/*
 * Start a POST.  The URL, body and headers are copied, so the caller's
 * memory may go away at once.  Failures to reach the receiver are reported
 * in the result, not here; this ereports only when the transfer cannot be
 * set up at all, and then leaves nothing behind.
 */
void
wh_http_start(const WhHttpRequest *req)
{
	WhTransfer *t;
	CURL	   *easy;
	CURLcode	rc = CURLE_OK;
	CURLMcode	mrc;
	int			i;

	if (wh_multi == NULL)
		elog(ERROR, "HTTP engine is not initialized");
	if (req->timeout_ms <= 0)
		elog(ERROR, "invalid HTTP timeout: %ld ms", req->timeout_ms);

	/* a line break in a header would let it smuggle in more headers */
	for (i = 0; i < req->nheaders; i++)
	{
		if (strpbrk(req->headers[i], "\r\n") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid HTTP header line"),
					 errdetail("Header lines must not contain carriage return or line feed characters.")));
	}

	t = calloc(1, sizeof(WhTransfer));
	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	t->arg = req->arg;
	t->max_response = wh_max_response;
	t->max_body = Max(WH_HTTP_MAX_BODY_BYTES, t->max_response);
	t->code = CURLE_OK;

	easy = t->easy = curl_easy_init();
	if (easy == NULL)
	{
		rc = CURLE_FAILED_INIT;
		goto fail;
	}

	/* a trailing empty Expect: stops curl waiting for "100 Continue" */
	for (i = 0; i <= req->nheaders; i++)
	{
		const char *line = (i < req->nheaders) ? req->headers[i] : "Expect:";
		struct curl_slist *l = curl_slist_append(t->headers, line);

		if (l == NULL)
		{
			rc = CURLE_OUT_OF_MEMORY;
			goto fail;
		}
		t->headers = l;
	}

	if ((rc = wh_easy_setup(t, req)) != CURLE_OK)
		goto fail;

	t->started_at = GetCurrentTimestamp();
	t->start_us = wh_monotonic_us();

	mrc = curl_multi_add_handle(wh_multi, easy);
	if (mrc != CURLM_OK)
	{
		wh_transfer_free(t);
		ereport(ERROR,
				(errcode(mrc == CURLM_OUT_OF_MEMORY ?
						 ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR),
				 errmsg("could not start HTTP request"),
				 errdetail("%s", curl_multi_strerror(mrc))));
	}

	t->prev = NULL;
	t->next = wh_active;
	if (wh_active != NULL)
		wh_active->prev = t;
	wh_active = t;
	wh_in_flight++;
	return;

fail:
	wh_transfer_free(t);
	ereport(ERROR,
			(errcode(rc == CURLE_OUT_OF_MEMORY ?
					 ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR),
			 errmsg("could not start HTTP request"),
			 errdetail("%s", curl_easy_strerror(rc))));
}

/*
 * Record a transfer's outcome, release its curl objects and move it from
 * the active list to the done queue.  Releasing the easy handle at once
 * hands its connection back to the cache and frees a slot for a pending
 * transfer, whenever the worker gets round to collecting the result.
 */
static void
wh_transfer_finish(WhTransfer *t, CURLcode code)
{
	long		status = 0;

	t->code = code;
	if (curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK)
		t->status = status;
	t->duration_us = wh_monotonic_us() - t->start_us;

	curl_multi_remove_handle(wh_multi, t->easy);
	curl_easy_cleanup(t->easy);
	t->easy = NULL;
	curl_slist_free_all(t->headers);
	t->headers = NULL;

	if (t->prev != NULL)
		t->prev->next = t->next;
	else
		wh_active = t->next;
	if (t->next != NULL)
		t->next->prev = t->prev;

	t->prev = NULL;
	t->next = NULL;
	if (wh_done_tail != NULL)
		wh_done_tail->next = t;
	else
		wh_done_head = t;
	wh_done_tail = t;
}

/*
 * Let curl work on every ready socket and, if its timer is due, on its
 * timeouts; then queue the transfers that finished.  Never blocks.
 */
void
wh_http_perform(void)
{
	struct epoll_event events[WH_HTTP_MAX_EVENTS];
	int			nevents;
	int			running;
	int			i;
	CURLMcode	mrc = CURLM_OK;
	CURLMsg    *msg;
	int			msgs_left;

	if (wh_multi == NULL)
		return;

	nevents = epoll_wait(wh_epfd, events, WH_HTTP_MAX_EVENTS, 0);
	if (nevents < 0)
	{
		if (errno != EINTR)
			ereport(ERROR,
					(errcode_for_socket_access(),
					 errmsg("could not poll HTTP sockets: %m")));
		nevents = 0;
	}

	for (i = 0; i < nevents && mrc == CURLM_OK; i++)
	{
		int			bits = 0;

		/* a hang-up is read as end of file, so curl sees why it ended */
		if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP))
			bits |= CURL_CSELECT_IN;
		if (events[i].events & EPOLLOUT)
			bits |= CURL_CSELECT_OUT;
		if (events[i].events & EPOLLERR)
			bits |= CURL_CSELECT_ERR;

		mrc = curl_multi_socket_action(wh_multi, events[i].data.fd, bits,
									   &running);
	}

	if (mrc == CURLM_OK && wh_timer_deadline >= 0 &&
		wh_monotonic_us() >= wh_timer_deadline)
	{
		/* cleared first: curl usually sets a new timer from inside */
		wh_timer_deadline = -1;
		mrc = curl_multi_socket_action(wh_multi, CURL_SOCKET_TIMEOUT, 0,
									   &running);
	}

	while ((msg = curl_multi_info_read(wh_multi, &msgs_left)) != NULL)
	{
		WhTransfer *t = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &t);
		if (t != NULL)
			wh_transfer_finish(t, msg->data.result);
	}

	/* transfers whose socket we could not watch would wait forever */
	if (wh_watch_failed)
	{
		WhTransfer *t = wh_active;

		wh_watch_failed = false;
		while (t != NULL)
		{
			WhTransfer *next = t->next;

			if (t->watch_failed)
				wh_transfer_finish(t, CURLE_ABORTED_BY_CALLBACK);
			t = next;
		}
	}

	if (mrc != CURLM_OK)
		ereport(ERROR,
				(errcode(mrc == CURLM_OUT_OF_MEMORY ?
						 ERRCODE_OUT_OF_MEMORY : ERRCODE_INTERNAL_ERROR),
				 errmsg("could not drive HTTP transfers"),
				 errdetail("%s", curl_multi_strerror(mrc))));
}

/*
 * Milliseconds until curl's timer is due, rounded up so that a wait of that
 * length does not wake just before it and spin; 0 when due, -1 when unset.
 */
long
wh_http_timeout_ms(void)
{
	int64		left;

	if (wh_multi == NULL || wh_timer_deadline < 0)
		return -1;
	left = wh_timer_deadline - wh_monotonic_us();
	if (left <= 0)
		return 0;
	return (long) ((left + 999) / 1000);
}

int
wh_http_in_flight(void)
{
	return wh_in_flight;
}

/*
 * Copy the oldest finished transfer into *res and free it.
 *
 * The copies are made before the transfer leaves the queue, so an
 * out-of-memory error here loses nothing: the result is still there to be
 * collected next time.
 */
bool
wh_http_next_result(WhHttpResult *res)
{
	WhTransfer *t = wh_done_head;
	char	   *response;
	char	   *error = NULL;
	char	   *retry_after = NULL;

	if (t == NULL)
		return false;

	response = palloc(t->resp_len + 1);
	if (t->resp_len > 0)
		memcpy(response, t->resp, t->resp_len);
	response[t->resp_len] = '\0';

	if (t->code != CURLE_OK)
	{
		if (t->abort_reason != NULL)
			error = pstrdup(t->abort_reason);
		else if (t->code == CURLE_FILESIZE_EXCEEDED)
			error = pstrdup(WH_BODY_TOO_LARGE);
		else if (t->errbuf[0] != '\0')
			error = pstrdup(t->errbuf);
		else
			error = pstrdup(curl_easy_strerror(t->code));
	}
	if (t->has_retry_after)
		retry_after = pstrdup(t->retry_after);

	res->arg = t->arg;
	res->status = t->status;
	res->curl_code = (int) t->code;
	res->refused = (t->abort_reason == t->guard_reason);
	res->error = error;
	res->response = response;
	res->retry_after = retry_after;
	res->delivery = t->delivery;
	res->started_at = t->started_at;
	res->duration_us = t->duration_us;

	wh_done_head = t->next;
	if (wh_done_head == NULL)
		wh_done_tail = NULL;
	wh_in_flight--;
	wh_transfer_free(t);

	return true;
}
