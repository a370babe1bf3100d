/*
 * fuzz_header.c: libFuzzer harness for header name and value checks
 * (src/common/inputcheck.c).  The input is split at its first NUL byte into a
 * name and a value; whenever both are accepted, the header line the worker
 * would build from them must hold exactly one line with one colon before
 * the value: no header can be smuggled in.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/inputcheck.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t		namelen = nul ? (size_t) (nul - data) : size;
	const char *name = (const char *) data;
	const char *value = nul ? (const char *) nul + 1 : "";
	size_t		valuelen = nul ? size - namelen - 1 : 0;

	if (wh_header_name_problem(name, namelen) == NULL &&
		wh_header_value_problem(value, valuelen) == NULL)
	{
		size_t		len = namelen + 2 + valuelen;
		char	   *line = malloc(len + 1);
		size_t		i;

		memcpy(line, name, namelen);
		memcpy(line + namelen, ": ", 2);
		memcpy(line + namelen + 2, value, valuelen);
		line[len] = '\0';
		for (i = 0; i < len; i++)
			if (line[i] == '\r' || line[i] == '\n' || line[i] == '\0')
				abort();		/* a line break or NUL got through */
		if (memchr(name, ':', namelen) != NULL || namelen == 0)
			abort();			/* the name does not end at the first colon */
		free(line);
	}
	return 0;
}
