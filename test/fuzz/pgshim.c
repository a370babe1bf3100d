/*-------------------------------------------------------------------------
 *
 * pgshim.c
 *	  Just enough of the PostgreSQL server for the fuzz harnesses to link
 *	  src/sign.c and src/retry.c outside it.
 *
 * The functions under test (secret decoding, signing, Retry-After parsing)
 * never ereport or allocate; the server symbols below are referenced only
 * by the SQL-facing functions that sit in the same files.  base64 and HMAC
 * come from libpgcommon, PostgreSQL's frontend build of them, which needs
 * no resource owner: the one src/sign.c makes for its HMAC context is a
 * token here.  palloc is real
 * (malloc) so that a path that does allocate still works; the error
 * reporting entry points abort, so that an unexpected ereport shows up as a
 * crash the fuzzer reports.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/pg_prng.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/resowner.h"

/* port.h points these at libpgport, which we do not link */
#undef fprintf
#undef vsnprintf

pg_prng_state pg_global_prng_state;
ResourceOwner CurrentResourceOwner = NULL;

ResourceOwner
ResourceOwnerCreate(ResourceOwner parent, const char *name)
{
	static char token;

	return (ResourceOwner) &token;
}

bool
errstart_cold(int elevel, const char *domain)
{
	fprintf(stderr, "pgshim: ereport(%d) reached\n", elevel);
	abort();
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	abort();
}

int
errcode(int sqlerrcode)
{
	abort();
}

int
errmsg(const char *fmt,...)
{
	abort();
}

int
errmsg_internal(const char *fmt,...)
{
	abort();
}

int
errdetail(const char *fmt,...)
{
	abort();
}

int
errhint(const char *fmt,...)
{
	abort();
}

void *
palloc(Size size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

void
pfree(void *pointer)
{
	free(pointer);
}

int
pg_snprintf(char *str, size_t count, const char *fmt,...)
{
	va_list		ap;
	int			n;

	va_start(ap, fmt);
	n = vsnprintf(str, count, fmt, ap);
	va_end(ap);
	return n;
}

bool
pg_strong_random(void *buf, size_t len)
{
	abort();
}

double
pg_prng_double(pg_prng_state *state)
{
	return 0.5;
}

text *
cstring_to_text(const char *s)
{
	abort();
}

char *
text_to_cstring(const text *t)
{
	abort();
}

struct varlena *
pg_detoast_datum_packed(struct varlena *datum)
{
	abort();
}
