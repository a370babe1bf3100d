/*
 * fuzz_retry_after.c: libFuzzer harness for the Retry-After parser
 * (src/common/retry.c), as fed by a hostile receiver.  The answer is -1 or a
 * delay; a delay from delay-seconds never exceeds what the digits say.
 */
#include "postgres.h"

#include <stdint.h>
#include <stdlib.h>

#include "common/retry.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);
	int64		ms;

	memcpy(s, data, size);
	s[size] = '\0';
	/* 2026-11-28 12:00:00 UTC, and a time near the end of the range */
	ms = wh_parse_retry_after(s, INT64CONST(1795867200));
	if (ms < -1)
		abort();
	ms = wh_parse_retry_after(s, INT64CONST(253402300799));
	if (ms < -1)
		abort();
	free(s);
	return 0;
}
