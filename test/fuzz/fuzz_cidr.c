/*
 * fuzz_cidr.c: libFuzzer harness for the network list parser and the
 * address policy (src/common/netguard.c).  A parsed list holds valid prefixes; the
 * policy answers for any address, always refuses a denied one, and always
 * refuses loopback and the metadata address unless allowed.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/netguard.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	char		err[256];
	char		why[160];
	WhNetList  *list;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	int			i;

	memcpy(s, data, size);
	s[size] = '\0';
	list = wh_net_parse_list(s, err, sizeof(err));
	free(s);
	if (list == NULL)
	{
		if (err[0] == '\0')
			abort();			/* refused without a reason */
		return 0;
	}
	for (i = 0; i < list->n; i++)
		if ((list->nets[i].family != 4 && list->nets[i].family != 6) ||
			list->nets[i].bits < 0 ||
			list->nets[i].bits > (list->nets[i].family == 4 ? 32 : 128))
			abort();

	/* addresses taken from the input's bytes, and fixed ones */
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	memcpy(&in.sin_addr, data, size < 4 ? size : 4);
	(void) wh_net_permit((struct sockaddr *) &in, sizeof(in), list, NULL,
						 why, sizeof(why));
	if (list->n > 0 &&
		wh_net_permit((struct sockaddr *) &in, sizeof(in), NULL, list,
					  why, sizeof(why)) &&
		list->nets[0].family == 4 && list->nets[0].bits == 0)
		abort();				/* denied 0.0.0.0/0, yet permitted */

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	memcpy(&in6.sin6_addr, data, size < 16 ? size : 16);
	(void) wh_net_permit((struct sockaddr *) &in6, sizeof(in6), list, list,
						 why, sizeof(why));

	inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
	if (wh_net_permit((struct sockaddr *) &in, sizeof(in), NULL, NULL,
					  why, sizeof(why)))
		abort();				/* the metadata address got through */
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &in6.sin6_addr);
	if (wh_net_permit((struct sockaddr *) &in6, sizeof(in6), NULL, NULL,
					  why, sizeof(why)))
		abort();				/* mapped loopback got through */

	/*
	 * Every IPv6 form that carries an IPv4 address is judged by it: with
	 * the input's first four bytes as the IPv4 address, each form must be
	 * permitted exactly when the plain IPv4 address is (no lists given).
	 */
	{
		static const char *const forms[] = {
			"::ffff:%s", "::ffff:0:%s", "::%s", "64:ff9b::%s", NULL
		};
		char		v4[INET_ADDRSTRLEN];
		char		text[64];
		bool		plain;
		int			f;

		memset(&in, 0, sizeof(in));
		in.sin_family = AF_INET;
		memcpy(&in.sin_addr, data, size < 4 ? size : 4);
		inet_ntop(AF_INET, &in.sin_addr, v4, sizeof(v4));
		plain = wh_net_permit((struct sockaddr *) &in, sizeof(in), NULL, NULL,
							  why, sizeof(why));
		for (f = 0; forms[f]; f++)
		{
			/* :: and ::1 are IPv6's own, not 0.0.0.0 and 0.0.0.1 */
			if (f == 2 && memcmp(&in.sin_addr, "\0\0\0", 3) == 0 &&
				((unsigned char *) &in.sin_addr)[3] <= 1)
				continue;
			snprintf(text, sizeof(text), forms[f], v4);
			memset(&in6, 0, sizeof(in6));
			in6.sin6_family = AF_INET6;
			if (inet_pton(AF_INET6, text, &in6.sin6_addr) != 1)
				abort();
			if (wh_net_permit((struct sockaddr *) &in6, sizeof(in6), NULL,
							  NULL, why, sizeof(why)) != plain)
				abort();		/* judged otherwise than its IPv4 address */
		}
		/* 6to4 carries it in bytes 2 to 5, Teredo inverted in 12 to 15 */
		memset(&in6, 0, sizeof(in6));
		in6.sin6_family = AF_INET6;
		in6.sin6_addr.s6_addr[0] = 0x20;
		in6.sin6_addr.s6_addr[1] = 0x02;
		memcpy(&in6.sin6_addr.s6_addr[2], &in.sin_addr, 4);
		if (wh_net_permit((struct sockaddr *) &in6, sizeof(in6), NULL, NULL,
						  why, sizeof(why)) && !plain)
			abort();
		memset(&in6, 0, sizeof(in6));
		in6.sin6_family = AF_INET6;
		in6.sin6_addr.s6_addr[0] = 0x20;
		in6.sin6_addr.s6_addr[1] = 0x01;
		for (i = 0; i < 4; i++)
			in6.sin6_addr.s6_addr[12 + i] =
				((unsigned char *) &in.sin_addr)[i] ^ 0xff;
		if (wh_net_permit((struct sockaddr *) &in6, sizeof(in6), NULL, NULL,
						  why, sizeof(why)) && !plain)
			abort();
	}

	free(list);
	return 0;
}
