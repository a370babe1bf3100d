/*-------------------------------------------------------------------------
 *
 * netguard.c
 *	  The SSRF guard: an address policy applied to every socket the worker
 *	  opens.
 *
 * A webhook sender runs inside the database server's network, where
 * loopback services, private networks and cloud metadata addresses
 * (169.254.169.254) answer to anyone who can make the server connect.  By
 * default the worker refuses all of them; webhook.allowed_networks opens
 * holes (the tests allow 127.0.0.1) and webhook.denied_networks closes more.
 *
 * The check is made on the address about to be connected to, from libcurl's
 * open-socket callback, so a host name that resolves to a harmless address
 * when the endpoint is created and to 127.0.0.1 later (DNS rebinding) is
 * still refused, and so is a redirect (never followed anyway) or a proxy
 * (whose own address is checked: allow it explicitly).  Every IPv6 form
 * that carries an IPv4 address is judged by that address as well: mapped
 * (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d), compatible (::a.b.c.d),
 * NAT64 (64:ff9b::/96), 6to4 (2002:aabb:ccdd::/48) and Teredo (2001::/32,
 * whose client address is stored inverted).  The local-use NAT64 prefix
 * (64:ff9b:1::/48), where the address may sit anywhere, is refused.
 *
 * This file is plain C with no PostgreSQL headers: it is called from a
 * libcurl callback, where nothing may ereport or palloc, and the fuzz
 * harness for the list parser builds it on its own.
 *
 * IDENTIFICATION
 *	  src/common/netguard.c
 *
 *-------------------------------------------------------------------------
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/netguard.h"

const WhNetList *wh_net_allowed = NULL;
const WhNetList *wh_net_denied = NULL;
long long	wh_net_changed_us = 0;

/* A built-in blocked range and what it is */
typedef struct WhBlocked
{
	const char *net;
	const char *what;
} WhBlocked;

static const WhBlocked wh_blocked_v4[] = {
	{"0.0.0.0/8", "an unspecified address"},
	{"127.0.0.0/8", "a loopback address"},
	{"10.0.0.0/8", "a private address"},
	{"172.16.0.0/12", "a private address"},
	{"192.168.0.0/16", "a private address"},
	{"100.64.0.0/10", "a shared (carrier-grade NAT) address"},
	{"169.254.0.0/16", "a link-local address"},
	{"224.0.0.0/4", "a multicast address"},
	{"240.0.0.0/4", "a reserved address"},
	{NULL, NULL}
};

static const WhBlocked wh_blocked_v6[] = {
	{"::/128", "an unspecified address"},
	{"::1/128", "a loopback address"},
	{"fe80::/10", "a link-local address"},
	{"fec0::/10", "a site-local address"},
	{"fc00::/7", "a private (unique local) address"},
	{"ff00::/8", "a multicast address"},
	{"64:ff9b:1::/48", "a local-use NAT64 address"},
	{NULL, NULL}
};

/*
 * Parse one entry, "addr" or "addr/bits", into *net.  Returns NULL or a
 * static reason.
 */
static const char *
wh_net_parse_one(const char *s, WhNet *net)
{
	char		buf[WH_NET_MAX_ENTRY_LEN + 1];
	char	   *slash;
	int			maxbits;
	int			i;

	if (strlen(s) > WH_NET_MAX_ENTRY_LEN)
		return "entry is too long";
	strcpy(buf, s);
	memset(net, 0, sizeof(*net));

	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash = '\0';

	if (inet_pton(AF_INET, buf, net->addr) == 1)
	{
		net->family = 4;
		maxbits = 32;
	}
	else if (inet_pton(AF_INET6, buf, net->addr) == 1)
	{
		net->family = 6;
		maxbits = 128;
	}
	else
		return "not an IPv4 or IPv6 address";

	net->bits = maxbits;
	if (slash != NULL)
	{
		const char *p = slash + 1;
		int			bits = 0;

		if (*p == '\0')
			return "missing prefix length after \"/\"";
		for (; *p; p++)
		{
			if (*p < '0' || *p > '9')
				return "prefix length is not a number";
			bits = bits * 10 + (*p - '0');
			if (bits > maxbits)
				return "prefix length is too long for the address";
		}
		net->bits = bits;
	}

	/* bits right of the mask must be zero, as for PostgreSQL's cidr */
	for (i = net->bits; i < maxbits; i++)
	{
		if (net->addr[i / 8] & (0x80 >> (i % 8)))
			return "address has bits set to the right of the prefix length";
	}
	return NULL;
}

/*
 * Parse a list of networks into a malloc'd WhNetList.  See netguard.h.
 */
WhNetList *
wh_net_parse_list(const char *s, char *err, size_t errlen)
{
	WhNetList  *list;
	const char *p = s;
	int			n = 0;

	if (errlen > 0)
		err[0] = '\0';
	list = malloc(sizeof(WhNetList) + sizeof(WhNet) * WH_NET_MAX_ENTRIES);
	if (list == NULL)
		return NULL;

	while (*p)
	{
		char		entry[WH_NET_MAX_ENTRY_LEN + 2];
		size_t		len = 0;
		const char *why;

		while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\n' ||
			   *p == '\r')
			p++;
		if (*p == '\0')
			break;
		while (p[len] && p[len] != ',' && p[len] != ' ' && p[len] != '\t' &&
			   p[len] != '\n' && p[len] != '\r')
			len++;

		if (n >= WH_NET_MAX_ENTRIES)
		{
			snprintf(err, errlen, "A list has at most %d entries.",
					 WH_NET_MAX_ENTRIES);
			free(list);
			return NULL;
		}
		if (len > WH_NET_MAX_ENTRY_LEN)
			why = "entry is too long";
		else
		{
			memcpy(entry, p, len);
			entry[len] = '\0';
			why = wh_net_parse_one(entry, &list->nets[n]);
		}
		if (why != NULL)
		{
			snprintf(err, errlen, "Entry \"%.*s\": %s.",
					 (int) (len > WH_NET_MAX_ENTRY_LEN ?
							WH_NET_MAX_ENTRY_LEN : len), p, why);
			free(list);
			return NULL;
		}
		n++;
		p += len;
	}
	list->n = n;
	return list;
}

/*
 * Install a list.  A list with other content than before marks the time,
 * so that the HTTP engine stops reusing connections opened under the old
 * one (they were checked once, when opened).
 */
void
wh_net_install(const WhNetList **slot, const WhNetList *list)
{
	const WhNetList *old = *slot;
	int			oldn = old ? old->n : 0;
	int			newn = list ? list->n : 0;

	if (oldn != newn ||
		(newn > 0 && memcmp(old->nets, list->nets, sizeof(WhNet) * newn) != 0))
	{
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		wh_net_changed_us = (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	}
	*slot = list;
}

size_t
wh_net_list_size(const WhNetList *list)
{
	return sizeof(WhNetList) + sizeof(WhNet) * (list ? list->n : 0);
}

/* Is the address (family 4 or 6, network byte order) inside net? */
static bool
wh_net_match(const WhNet *net, int family, const unsigned char *addr)
{
	int			full = net->bits / 8;
	int			rest = net->bits % 8;

	if (net->family != family)
		return false;
	if (memcmp(net->addr, addr, full) != 0)
		return false;
	if (rest != 0)
	{
		unsigned char mask = (unsigned char) (0xff << (8 - rest));

		if ((net->addr[full] & mask) != (addr[full] & mask))
			return false;
	}
	return true;
}

static bool
wh_net_list_match(const WhNetList *list, int family, const unsigned char *addr)
{
	int			i;

	if (list == NULL)
		return false;
	for (i = 0; i < list->n; i++)
		if (wh_net_match(&list->nets[i], family, addr))
			return true;
	return false;
}

/* The built-in range the address falls in, or NULL */
static const char *
wh_net_blocked(int family, const unsigned char *addr)
{
	const WhBlocked *b = family == 4 ? wh_blocked_v4 : wh_blocked_v6;

	for (; b->net; b++)
	{
		WhNet		net;

		/* the table is constant and valid; parsing it is cheap */
		if (wh_net_parse_one(b->net, &net) == NULL &&
			wh_net_match(&net, family, addr))
			return b->what;
	}
	return NULL;
}

/*
 * The IPv4 address an IPv6 address carries, if it is of a form that
 * carries one (see the file header): copied to v4, returns true.
 */
static bool
wh_net_embedded_v4(const unsigned char *a, unsigned char *v4)
{
	static const unsigned char zero[12] = {0};
	static const unsigned char mapped[12] =
	{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char translated[12] =
	{0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
	static const unsigned char nat64[12] =
	{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	int			i;

	if (memcmp(a, mapped, 12) == 0 || memcmp(a, translated, 12) == 0 ||
		memcmp(a, nat64, 12) == 0)
	{
		memcpy(v4, a + 12, 4);
		return true;
	}
	/* compatible, but not :: and ::1, which are IPv6's own */
	if (memcmp(a, zero, 12) == 0 &&
		!(a[12] == 0 && a[13] == 0 && a[14] == 0 && a[15] <= 1))
	{
		memcpy(v4, a + 12, 4);
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x02)
	{
		memcpy(v4, a + 2, 4);	/* 6to4 */
		return true;
	}
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0)
	{
		for (i = 0; i < 4; i++)
			v4[i] = a[12 + i] ^ 0xff;	/* Teredo's client */
		return true;
	}
	return false;
}

/*
 * Decide on one address.  See netguard.h.
 */
bool
wh_net_permit(const struct sockaddr *sa, size_t salen,
			  const WhNetList *allowed, const WhNetList *denied,
			  char *why, size_t whylen)
{
	unsigned char addr[16];
	unsigned char v6[16];
	bool		is_v6 = false;
	int			family;
	char		text[INET6_ADDRSTRLEN];
	const char *what = NULL;

	if (sa == NULL)
	{
		snprintf(why, whylen, "no address to connect to");
		return false;
	}
	if (sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in))
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		family = 4;
		memcpy(addr, &in->sin_addr, 4);
		inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
	}
	else if (sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6))
	{
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *) sa;

		family = 6;
		memcpy(addr, &in6->sin6_addr, 16);
		inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
		/* judge an IPv4 address carried in IPv6 as that IPv4 address */
		memcpy(v6, addr, 16);
		is_v6 = true;
		if (wh_net_embedded_v4(v6, addr))
			family = 4;
	}
	else
	{
		snprintf(why, whylen,
				 "refused to connect: not an IPv4 or IPv6 address");
		return false;
	}

	/* a denied IPv6 prefix holds whatever IPv4 address the form carries */
	if (wh_net_list_match(denied, family, addr) ||
		(is_v6 && wh_net_list_match(denied, 6, v6)))
	{
		snprintf(why, whylen,
				 "refused to connect to %s: the address is in \"webhook.denied_networks\"",
				 text);
		return false;
	}
	if (wh_net_list_match(allowed, family, addr))
		return true;
	what = wh_net_blocked(family, addr);
	if (what == NULL && is_v6 && family == 4)
		what = wh_net_blocked(6, v6);
	if (what != NULL)
	{
		snprintf(why, whylen,
				 "refused to connect to %s: %s, not in \"webhook.allowed_networks\" (to allow it, add it with ALTER SYSTEM SET webhook.allowed_networks and SELECT pg_reload_conf())",
				 text, what);
		return false;
	}
	return true;
}
