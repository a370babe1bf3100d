/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  The extension's settings: every "webhook.*" configuration parameter.
 *
 * _PG_init (webhook.c) defines them while the library is preloaded, which
 * is the only way it loads; the rest of the tree reads the variables
 * declared in guc.h.  The settings that govern where the worker's requests
 * may go (webhook.allowed_networks, webhook.denied_networks and
 * webhook.proxy) have check hooks: a network list is parsed when it is set,
 * a bad one refused with a clear error (a bad line in postgresql.conf is
 * reported and the old value kept), and the parsed lists are installed for
 * the network guard (common/netguard.c), which the HTTP engine consults on
 * every connection.  Only superusers may set those three.
 *
 * Two settings are read by the SQL functions alone: webhook.tenant, the
 * tenant a connection the application controls acts for (see
 * webhook.current_tenant()), and webhook.check_event_types, which holds
 * subscriptions and endpoint filters to the event-type catalog.  The
 * prefix "webhook" is reserved, so both must be defined here for SET to
 * accept them.  webhook.traceparent and webhook.tracestate, the W3C trace
 * context of a session's changes, are read by the capture
 * (capture/outbox.c) and checked when set (common/trace.c).
 *
 * IDENTIFICATION
 *	  src/guc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "utils/guc.h"
#include "utils/memutils.h"

#include "common/inputcheck.h"
#include "common/netguard.h"
#include "common/trace.h"
#include "guc.h"

int			wh_max_payload_size = 1024 * 1024;
char	   *wh_database = NULL;
int			wh_max_workers = 8;
int			wh_max_in_flight = 64;
int			wh_max_in_flight_per_endpoint = 32;
int			wh_batch_size = 500;
int			wh_retention = 7 * 24 * 3600;
int			wh_payload_retention = 0;
int			wh_max_response_size = 1024;
int			wh_idle_timeout = 10000;
bool		wh_check_event_types = false;
char	   *wh_tenant = NULL;
char	   *wh_traceparent = NULL;
char	   *wh_tracestate = NULL;

char	   *wh_allowed_networks = NULL;
char	   *wh_denied_networks = NULL;
char	   *wh_proxy = NULL;

/*
 * Check hook of both lists: parse into a WhNetList handed over as the GUC's
 * "extra", which PostgreSQL frees with the value.
 */
static bool
wh_networks_check(char **newval, void **extra, GucSource source)
{
	char		err[256];
	WhNetList  *list;
	void	   *copy;
	size_t		size;

	list = wh_net_parse_list(*newval ? *newval : "", err, sizeof(err));
	if (list == NULL)
	{
		if (err[0] == '\0')
		{
			GUC_check_errcode(ERRCODE_OUT_OF_MEMORY);
			GUC_check_errmsg("out of memory");
			return false;
		}
		GUC_check_errdetail("%s", err);
		GUC_check_errhint("List networks as address/prefix-length, for example \"127.0.0.1/32, ::1/128\".");
		return false;
	}

	/* extra must be allocated the way the GUC machinery frees it */
	size = wh_net_list_size(list);
#if PG_VERSION_NUM >= 160000
	copy = guc_malloc(LOG, size);
#else
	copy = malloc(size);
#endif
	if (copy == NULL)
	{
		free(list);
		return false;
	}
	memcpy(copy, list, size);
	free(list);
	*extra = copy;
	return true;
}

static void
wh_allowed_assign(const char *newval, void *extra)
{
	wh_net_install(&wh_net_allowed, (const WhNetList *) extra);
}

static void
wh_denied_assign(const char *newval, void *extra)
{
	wh_net_install(&wh_net_denied, (const WhNetList *) extra);
}

/* The proxy must be a proxy URL, or empty for none */
static bool
wh_proxy_check(char **newval, void **extra, GucSource source)
{
	const char *problem;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	problem = wh_proxy_problem(*newval);
	if (problem != NULL)
	{
		/* never echo the value: it may carry credentials */
		GUC_check_errdetail("%c%s.", pg_toupper(problem[0]), problem + 1);
		return false;
	}
	return true;
}

/*
 * A trace setting's value is empty (none), or one that problem_of() finds
 * nothing wrong with.  The value is no secret: the detail may say what is
 * wrong with it, and the hint shows an example.
 */
static bool
wh_trace_setting_check(const char *value, const char *(*problem_of) (const char *),
					   const char *hint)
{
	const char *problem;

	if (value == NULL || value[0] == '\0')
		return true;
	problem = problem_of(value);
	if (problem != NULL)
	{
		GUC_check_errdetail("%s", problem);
		GUC_check_errhint("%s", hint);
		return false;
	}
	return true;
}

/* The trace context must be a W3C traceparent */
static bool
wh_traceparent_check(char **newval, void **extra, GucSource source)
{
	return wh_trace_setting_check(*newval, wh_traceparent_problem,
								  "Set it to a W3C traceparent such as \"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\", or to an empty string.");
}

/* The vendors' trace state must be a W3C tracestate */
static bool
wh_tracestate_check(char **newval, void **extra, GucSource source)
{
	return wh_trace_setting_check(*newval, wh_tracestate_problem,
								  "Set it to a W3C tracestate such as \"congo=t61rcWkgMzE,rojo=00f067aa0ba902b7\", or to an empty string.");
}

/*
 * Define the egress settings, as part of wh_guc_define().
 */
static void
wh_egress_define_gucs(void)
{
	DefineCustomStringVariable("webhook.allowed_networks",
							   "Networks the worker may connect to even though they are loopback, private or link-local.",
							   "A list of address/prefix-length entries; by default none.",
							   &wh_allowed_networks,
							   "",
							   PGC_SUSET, GUC_LIST_INPUT,
							   wh_networks_check, wh_allowed_assign, NULL);

	DefineCustomStringVariable("webhook.denied_networks",
							   "Networks the worker never connects to, even when allowed.",
							   "A list of address/prefix-length entries; by default none.",
							   &wh_denied_networks,
							   "",
							   PGC_SUSET, GUC_LIST_INPUT,
							   wh_networks_check, wh_denied_assign, NULL);

	DefineCustomStringVariable("webhook.proxy",
							   "Proxy for endpoints that do not set their own, such as \"http://proxy:3128\".",
							   "Empty: no proxy.  The server's http_proxy, https_proxy and all_proxy environment variables are never used.",
							   &wh_proxy,
							   "",
							   PGC_SIGHUP, GUC_SUPERUSER_ONLY,
							   wh_proxy_check, NULL, NULL);
}

/*
 * Define every setting; called from _PG_init while preloading.
 */
void
wh_guc_define(void)
{
	DefineCustomIntVariable("webhook.max_payload_size",
							"Largest event body; a larger row is sent as its key only.",
							NULL,
							&wh_max_payload_size,
							1024 * 1024, 1024, MaxAllocSize / 2,
							PGC_SUSET, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomStringVariable("webhook.database",
							   "Only this database's events are delivered; empty means every database.",
							   NULL,
							   &wh_database,
							   "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_workers",
							"Most delivery workers (one per database) running at once.",
							NULL,
							&wh_max_workers,
							8, 1, 1024,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_in_flight",
							"Most requests the worker has in flight at once.",
							NULL,
							&wh_max_in_flight,
							64, 1, 512,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_in_flight_per_endpoint",
							"Most requests in flight to one endpoint, unless the endpoint sets its own.",
							NULL,
							&wh_max_in_flight_per_endpoint,
							32, 1, 512,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.batch_size",
							"Most events the worker claims in one transaction.",
							NULL,
							&wh_batch_size,
							500, 1, 10000,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.retention",
							"How long dead events and the attempt history are kept.",
							NULL,
							&wh_retention,
							7 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.payload_retention",
							"How long delivered events are kept in the outbox, payload and all.",
							"0 removes an event from the outbox as soon as it is delivered; its attempts stay in the history for webhook.retention.",
							&wh_payload_retention,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.max_response_size",
							"Bytes of each response body kept in the attempt history.",
							NULL,
							&wh_max_response_size,
							1024, 0, 65536,
							PGC_SIGHUP, GUC_UNIT_BYTE,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webhook.idle_timeout",
							"Longest the worker sleeps without being woken.",
							NULL,
							&wh_idle_timeout,
							10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS,
							NULL, NULL, NULL);

	/*
	 * Superusers only: the catalog check is the application's promise to
	 * its receivers, which a session (a tenant's among them) must not turn
	 * off for itself.
	 */
	DefineCustomBoolVariable("webhook.check_event_types",
							 "Holds subscriptions' event types and endpoints' filters to the event-type catalog.",
							 "When on, each filter must match a type of webhook.event_types that is not archived, and each subscription's event type must be one.",
							 &wh_check_event_types,
							 false,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);

	/*
	 * Any session may set it: it is read only for members of webhook_tenant
	 * without a tenant of their own, whose connections the application
	 * controls (a role mapped to a tenant is never moved by it).
	 */
	DefineCustomStringVariable("webhook.tenant",
							   "Tenant this session acts for, in connections the application controls.",
							   "Read by webhook.current_tenant() for members of webhook_tenant that webhook.grant_tenant() has not mapped to a tenant; empty means none.",
							   &wh_tenant,
							   "",
							   PGC_USERSET, 0,
							   NULL, NULL, NULL);

	/*
	 * Any session may set it, normally with SET LOCAL in the transaction
	 * whose changes it traces: the capture keeps it with every event of the
	 * transaction, and each attempt sends a child span of it.
	 */
	DefineCustomStringVariable("webhook.traceparent",
							   "W3C trace context that events captured by this session carry to their receivers.",
							   "A traceparent such as \"00-<trace-id>-<parent-id>-<flags>\"; each attempt sends the same trace id and flags with a span id of its own.  Empty means none.",
							   &wh_traceparent,
							   "",
							   PGC_USERSET, 0,
							   wh_traceparent_check, NULL, NULL);

	/* sent along with the traceparent, unchanged; without one, unused */
	DefineCustomStringVariable("webhook.tracestate",
							   "W3C trace state that events captured by this session carry to their receivers with their traceparent.",
							   "A tracestate such as \"congo=t61rcWkgMzE\", sent unchanged with each attempt of an event that has a traceparent.  Empty means none.",
							   &wh_tracestate,
							   "",
							   PGC_USERSET, 0,
							   wh_tracestate_check, NULL, NULL);

	wh_egress_define_gucs();

	MarkGUCPrefixReserved("webhook");
}
