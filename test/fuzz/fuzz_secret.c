/*
 * fuzz_secret.c: libFuzzer harness for secret decoding (src/common/sign.c).  A
 * decoded secret has 24 to 64 bytes, and only a "whsec_" secret decodes;
 * a refusal always comes with a reason.
 */
#include "postgres.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/sign.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	unsigned char key[WH_SECRET_MAX_BYTES];
	const char *why = NULL;
	int			n;

	memcpy(s, data, size);
	s[size] = '\0';
	n = wh_secret_decode(s, key, &why);
	if (n == -1)
	{
		if (why == NULL)
			abort();
	}
	else if (n < WH_SECRET_MIN_BYTES || n > WH_SECRET_MAX_BYTES ||
			 strncmp(s, WH_SECRET_PREFIX, strlen(WH_SECRET_PREFIX)) != 0)
		abort();
	free(s);
	return 0;
}
