/*
 * fuzz_url.c: libFuzzer harness for the endpoint URL, proxy URL and PEM
 * checks (src/common/inputcheck.c).  Any input must give an answer without a
 * crash; an accepted URL must be free of the characters that could break a
 * request line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/inputcheck.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);

	memcpy(s, data, size);
	s[size] = '\0';

	if (wh_url_problem(s) == NULL)
	{
		const char *p;

		for (p = s; *p; p++)
			if ((unsigned char) *p <= ' ' || *p == 0x7f)
				abort();		/* an accepted URL with a space or control */
		if (strncasecmp(s, "http://", 7) != 0 &&
			strncasecmp(s, "https://", 8) != 0)
			abort();			/* an accepted URL of another scheme */
	}
	(void) wh_proxy_problem(s);
	(void) wh_pem_problem(s, "CERTIFICATE");
	(void) wh_pem_problem(s, "PRIVATE KEY");
	free(s);
	return 0;
}
