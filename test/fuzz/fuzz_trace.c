/*
 * fuzz_trace.c: libFuzzer harness for the W3C traceparent check and the
 * child span's traceparent (src/common/trace.c).  The input, cut at its
 * first NUL byte, is a candidate value; the 8 bytes after that byte (zeros
 * where the input is shorter) are a span id.  Whenever the check accepts
 * the value, parsing must succeed and agree with it, and the child's
 * traceparent must itself be accepted: exactly 55 characters of version
 * 00, the same trace id and flags, the span id's hex, and nothing a header
 * line could be broken by.  A value the check refuses must not parse.
 * The same value, checked as a tracestate and accepted, must be at most
 * 512 characters of printable ASCII, spaces and tabs, at most 32 of its
 * comma-separated members not empty, each with a "=".
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/trace.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t		len = nul ? (size_t) (nul - data) : size;
	char	   *value = malloc(len + 1);
	uint8_t		span[8] = {0};
	WhTraceContext ctx;
	char		out[WH_TRACEPARENT_LEN + 1];
	bool		accepted;

	memcpy(value, data, len);
	value[len] = '\0';
	if (nul)
		memcpy(span, nul + 1, size - len - 1 < 8 ? size - len - 1 : 8);

	accepted = wh_traceparent_problem(value) == NULL;
	if (wh_traceparent_parse(value, &ctx) != accepted)
		abort();				/* the check and the parser disagree */
	if (accepted)
	{
		static const char hex[] = "0123456789abcdef";
		bool		zero = true;
		int			i;

		if (memcmp(ctx.trace_id, value + 3, 32) != 0 ||
			memcmp(ctx.flags, value + 53, 2) != 0 ||
			strlen(ctx.trace_id) != 32 || strlen(ctx.flags) != 2)
			abort();			/* the parse is not the value's */
		for (i = 0; i < 8; i++)
			if (span[i] != 0)
				zero = false;
		if (wh_traceparent_child(&ctx, span, out) == zero)
			abort();			/* an all-zero span id was not refused */
		if (!zero)
		{
			if (strlen(out) != WH_TRACEPARENT_LEN ||
				wh_traceparent_problem(out) != NULL ||
				memcmp(out, "00-", 3) != 0 ||
				memcmp(out + 3, ctx.trace_id, 32) != 0 ||
				memcmp(out + 53, ctx.flags, 2) != 0)
				abort();		/* the child is not a traceparent of the trace */
			for (i = 0; i < 8; i++)
				if (out[36 + 2 * i] != hex[span[i] >> 4] ||
					out[37 + 2 * i] != hex[span[i] & 0x0f])
					abort();	/* the span id is not the bytes given */
		}
	}
	if (wh_tracestate_problem(value) == NULL)
	{
		size_t		i;
		int			members = 0;
		bool		content = false;
		bool		has_eq = false;

		if (len > WH_TRACESTATE_MAX_LEN)
			abort();			/* too long, accepted */
		for (i = 0; i <= len; i++)
		{
			char		c = value[i];

			if (i == len || c == ',')
			{
				if (content && !has_eq)
					abort();	/* a member without "=" */
				members += content;
				content = has_eq = false;
				continue;
			}
			if (c != '\t' && (c < ' ' || c > '~'))
				abort();		/* a character a header line cannot hold */
			if (c == '=')
				has_eq = true;
			if (c != ' ' && c != '\t')
				content = true;
		}
		if (members > 32)
			abort();			/* more members than the specification allows */
	}
	free(value);
	return 0;
}
