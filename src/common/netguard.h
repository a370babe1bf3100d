/*-------------------------------------------------------------------------
 *
 * netguard.h
 *	  Which addresses the worker may connect to: the SSRF guard.
 *
 * Pure C (no PostgreSQL headers), so that the fuzz harnesses build it
 * outside the server.  guc.c parses webhook.allowed_networks and
 * webhook.denied_networks with wh_net_parse_list() in their check hooks and
 * installs the results in wh_net_allowed and wh_net_denied;
 * delivery/http.c calls wh_net_permit() from libcurl's open-socket
 * callback, on the address about to be connected to, after DNS.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_NETGUARD_H
#define WEBHOOK_NETGUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Most networks in one list, and the longest entry */
#define WH_NET_MAX_ENTRIES	256
#define WH_NET_MAX_ENTRY_LEN	64

/* One network: an IPv4 (family 4) or IPv6 (family 6) prefix */
typedef struct WhNet
{
	int			family;
	int			bits;
	unsigned char addr[16];
} WhNet;

/* A list of networks, allocated in one malloc'd chunk */
typedef struct WhNetList
{
	int			n;
	WhNet		nets[];
} WhNetList;

/* The lists in force; NULL means empty */
extern const WhNetList *wh_net_allowed;
extern const WhNetList *wh_net_denied;

/*
 * When the lists last changed, in microseconds on CLOCK_MONOTONIC (0:
 * never).  Connections opened before then were checked against old lists
 * and must not be reused.
 */
extern long long wh_net_changed_us;

/* Install a new list in *slot, noting the change if its content differs */
extern void wh_net_install(const WhNetList **slot, const WhNetList *list);

/*
 * Parse a list of networks ("10.0.0.0/8, ::1", commas or white space between
 * entries, a bare address meaning a single host).  Returns a malloc'd list,
 * or NULL with a reason in err (a NUL-ended message of at most errlen bytes;
 * also NULL with an empty err when out of memory).
 */
extern WhNetList *wh_net_parse_list(const char *s, char *err, size_t errlen);

/* Bytes that a parsed list takes, for copying it */
extern size_t wh_net_list_size(const WhNetList *list);

/*
 * May the worker connect to this address?  denied wins over allowed, allowed
 * over the built-in blocked ranges (loopback, private, link-local, ...).
 * When not, writes a reason naming the address to why (errlen bytes).
 */
extern bool wh_net_permit(const struct sockaddr *sa, size_t salen,
						  const WhNetList *allowed, const WhNetList *denied,
						  char *why, size_t whylen);

#endif							/* WEBHOOK_NETGUARD_H */
