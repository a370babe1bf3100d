/*-------------------------------------------------------------------------
 *
 * egress.c
 *	  Settings that govern where the worker's requests may go:
 *	  webhook.allowed_networks, webhook.denied_networks and webhook.proxy.
 *
 * The network lists are parsed and checked when set, by check hooks that
 * refuse a bad list with a clear error (a bad line in postgresql.conf is
 * reported and the old value kept), and the parsed lists are installed for
 * netguard.c, which the HTTP engine consults on every connection.  Only
 * superusers may set them.
 *
 * IDENTIFICATION
 *	  src/egress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "inputcheck.h"
#include "netguard.h"
#include "webhook.h"

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
 * Define the settings; called from _PG_init while preloading.
 */
void
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
