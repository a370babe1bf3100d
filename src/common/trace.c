/*-------------------------------------------------------------------------
 *
 * trace.c
 *	  W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 *	  traceparent and tracestate a transaction sets, and the child span of
 *	  each attempt.
 *
 * A traceparent is "version-trace_id-parent_id-flags" in lower-case hex:
 * version 00 is exactly 55 characters, its trace id (32 digits) and parent
 * id (16 digits) not all zeros.  Version ff is invalid.  A later version
 * is accepted as the specification asks of a version-00 implementation:
 * its first 55 characters must have version 00's form, and anything after
 * them must begin with "-" (what follows is never read, and never sent).
 * Whatever version was set, the worker sends version 00, the one it knows,
 * with the same trace id and flags and a parent id of its own: each
 * attempt is a child span of the capturing transaction's.
 *
 * Upper-case hex is refused, as the specification requires.
 *
 * A tracestate is vendors' data passed along unchanged with the trace: a
 * comma-separated list of at most 32 "key=value" members (empty members
 * and spaces or tabs around the commas allowed), each key at most once, in
 * all at most 512 characters.  A key is lower-case letters, digits and
 * "_-*" "/", starting with a letter (at most 256 characters), or
 * "tenant@system" (at most 241 and 14, the tenant starting with a letter or
 * digit, the system with a letter).  A value is 1 to 256 printable ASCII
 * characters other than "," and "=", not ending in a space.  So no accepted
 * value can break a header line.
 *
 * Only the setting is read, never a traceparent in application_name, as
 * some drivers put one: application_name is cut at 63 bytes, which is
 * shorter than "traceparent=" and a traceparent together, it lasts as long
 * as the session (a trace would outlive the transaction it belongs to),
 * and its format is nobody's standard.
 *
 * IDENTIFICATION
 *	  src/common/trace.c
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "common/trace.h"

/* Are the n characters at s lower-case hex digits? */
static bool
wh_trace_hex(const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* Are the n characters at s all "0"? */
static bool
wh_trace_zeros(const char *s, size_t n)
{
	size_t		i;

	for (i = 0; i < n; i++)
		if (s[i] != '0')
			return false;
	return true;
}

/*
 * Check value; see the file header for what is accepted.  A reason is a
 * sentence fit for an error's detail, which never quotes the value.
 */
const char *
wh_traceparent_problem(const char *value)
{
	size_t		len = strnlen(value, WH_TRACEPARENT_MAX_LEN + 1);
	size_t		i;

	if (len < 2 || !wh_trace_hex(value, 2))
		return "The version must be two lower-case hexadecimal digits.";
	if (value[0] == 'f' && value[1] == 'f')
		return "Version ff is not a valid version.";
	if (len > WH_TRACEPARENT_MAX_LEN)
		return "The value is too long.";
	if (len != WH_TRACEPARENT_LEN && memcmp(value, "00", 2) == 0)
		return "A version-00 traceparent is exactly 55 characters long.";
	if (len < WH_TRACEPARENT_LEN)
		return "A traceparent is at least 55 characters long.";
	if (value[2] != '-' || value[35] != '-' || value[52] != '-' ||
		(len > WH_TRACEPARENT_LEN && value[55] != '-'))
		return "The fields must be separated by \"-\".";
	if (!wh_trace_hex(value + 3, 32))
		return "The trace id must be 32 lower-case hexadecimal digits.";
	if (wh_trace_zeros(value + 3, 32))
		return "The trace id must not be all zeros.";
	if (!wh_trace_hex(value + 36, 16))
		return "The parent id must be 16 lower-case hexadecimal digits.";
	if (wh_trace_zeros(value + 36, 16))
		return "The parent id must not be all zeros.";
	if (!wh_trace_hex(value + 53, 2))
		return "The flags must be two lower-case hexadecimal digits.";
	/* a later version's other fields: printable, without spaces */
	for (i = WH_TRACEPARENT_LEN; i < len; i++)
		if (value[i] <= ' ' || value[i] > '~')
			return "The value must be printable ASCII without spaces.";
	return NULL;
}

/* May c be in a tracestate key after its first character? */
static bool
wh_tracestate_key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		c == '_' || c == '-' || c == '*' || c == '/';
}

/* Is the n characters at s a tracestate key? */
static bool
wh_tracestate_key(const char *s, size_t n)
{
	const char *at = memchr(s, '@', n);
	size_t		i;

	if (at == NULL)
	{
		if (n < 1 || n > 256 || !(s[0] >= 'a' && s[0] <= 'z'))
			return false;
		for (i = 1; i < n; i++)
			if (!wh_tracestate_key_char(s[i]))
				return false;
		return true;
	}
	else
	{
		size_t		tn = at - s;
		size_t		sn = n - tn - 1;

		if (tn < 1 || tn > 241 || sn < 1 || sn > 14)
			return false;
		if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
			return false;
		for (i = 1; i < tn; i++)
			if (!wh_tracestate_key_char(s[i]))
				return false;
		if (!(at[1] >= 'a' && at[1] <= 'z'))
			return false;
		for (i = 2; i <= sn; i++)
			if (!wh_tracestate_key_char(at[i]))
				return false;
		return true;
	}
}

const char *
wh_tracestate_problem(const char *value)
{
	size_t		len = strnlen(value, WH_TRACESTATE_MAX_LEN + 1);
	size_t		start = 0;
	const char *keys[32];
	size_t		keylens[32];
	int			nmembers = 0;

	if (len > WH_TRACESTATE_MAX_LEN)
		return "The value is too long.";
	while (start <= len)
	{
		size_t		end = start;
		size_t		b,
					e,
					eq,
					i;
		int			k;

		while (end < len && value[end] != ',')
			end++;
		/* the member, without the spaces and tabs around it */
		b = start;
		e = end;
		while (b < e && (value[b] == ' ' || value[b] == '\t'))
			b++;
		while (e > b && (value[e - 1] == ' ' || value[e - 1] == '\t'))
			e--;
		start = end + 1;
		if (b == e)
			continue;			/* an empty member */
		if (nmembers == 32)
			return "A tracestate has at most 32 members.";
		for (eq = b; eq < e && value[eq] != '='; eq++)
			;
		if (eq == e)
			return "Each member must be a key, \"=\" and a value.";
		if (!wh_tracestate_key(value + b, eq - b))
			return "A key must be lower-case letters, digits, \"_\", \"-\", \"*\" and \"/\", starting with a letter, or tenant@system.";
		if (e - eq - 1 < 1 || e - eq - 1 > 256)
			return "A value must be 1 to 256 characters long.";
		for (i = eq + 1; i < e; i++)
			if (value[i] < ' ' || value[i] > '~' || value[i] == ',' ||
				value[i] == '=')
				return "A value must be printable ASCII other than \",\" and \"=\".";
		for (k = 0; k < nmembers; k++)
			if (keylens[k] == eq - b && memcmp(keys[k], value + b, eq - b) == 0)
				return "A key must not appear twice.";
		keys[nmembers] = value + b;
		keylens[nmembers] = eq - b;
		nmembers++;
	}
	return NULL;
}

bool
wh_traceparent_parse(const char *value, WhTraceContext *ctx)
{
	if (value == NULL || wh_traceparent_problem(value) != NULL)
		return false;
	memcpy(ctx->trace_id, value + 3, 32);
	ctx->trace_id[32] = '\0';
	memcpy(ctx->flags, value + 53, 2);
	ctx->flags[2] = '\0';
	return true;
}

bool
wh_traceparent_child(const WhTraceContext *ctx, const uint8_t span[8],
					 char *out)
{
	static const char hex[] = "0123456789abcdef";
	char	   *p = out;
	bool		zero = true;
	int			i;

	for (i = 0; i < 8; i++)
		if (span[i] != 0)
			zero = false;
	if (zero)
		return false;
	memcpy(p, "00-", 3);
	p += 3;
	memcpy(p, ctx->trace_id, 32);
	p += 32;
	*p++ = '-';
	for (i = 0; i < 8; i++)
	{
		*p++ = hex[span[i] >> 4];
		*p++ = hex[span[i] & 0x0f];
	}
	*p++ = '-';
	memcpy(p, ctx->flags, 2);
	p += 2;
	*p = '\0';
	return true;
}
