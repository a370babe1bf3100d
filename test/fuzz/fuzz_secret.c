/*
 * fuzz_secret.c: libFuzzer harness for secret decoding (src/common/sign.c).  A
 * decoded secret has 24 to 64 bytes, only a "whsec_" secret decodes, and
 * it decodes from the one canonical base64 text of its key; a refusal
 * always comes with a reason.  And the other way round: the input taken as
 * a key of 24 to 64 bytes, encoded, decodes back to that key.
 */
#include "postgres.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/base64.h"
#include "common/sign.h"

/* PostgreSQL 18 types the binary side of its base64 routines as uint8 */
#if PG_VERSION_NUM >= 180000
typedef uint8 b64_byte;
#else
typedef char b64_byte;
#endif

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	unsigned char key[WH_SECRET_MAX_BYTES];
	char		text[6 + 88 + 1];
	const char *why = NULL;
	int			n;
	int			len;

	memcpy(s, data, size);
	s[size] = '\0';
	n = wh_secret_decode(s, key, &why);
	if (n == -1)
	{
		if (why == NULL)
			abort();
	}
	else
	{
		if (n < WH_SECRET_MIN_BYTES || n > WH_SECRET_MAX_BYTES ||
			strncmp(s, WH_SECRET_PREFIX, strlen(WH_SECRET_PREFIX)) != 0)
			abort();
		len = pg_b64_encode((const b64_byte *) key, n, text, sizeof(text));
		if (len < 0 || strlen(s) != 6 + (size_t) len ||
			memcmp(s + 6, text, len) != 0)
			abort();
	}
	free(s);

	if (size >= WH_SECRET_MIN_BYTES && size <= WH_SECRET_MAX_BYTES)
	{
		unsigned char back[WH_SECRET_MAX_BYTES];

		memcpy(text, WH_SECRET_PREFIX, 6);
		len = pg_b64_encode((const b64_byte *) data, (int) size, text + 6,
							sizeof(text) - 7);
		if (len < 0)
			abort();
		text[6 + len] = '\0';
		if (wh_secret_decode(text, back, &why) != (int) size ||
			memcmp(back, data, size) != 0)
			abort();
	}
	return 0;
}
