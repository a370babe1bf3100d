/*-------------------------------------------------------------------------
 *
 * pgshim.c
 *	  The few symbols of PostgreSQL's support libraries that the fuzz
 *	  harnesses need to link src/common/sign.c and src/common/retry.c.
 *
 * The files under src/common/ make one server call between them: signing
 * makes its HMAC context under a resource owner of its own, which the
 * frontend build of the HMAC in libpgcommon does not need, so the owner is
 * a token here.  Beyond it, only snprintf (which port.h points at
 * libpgport) and the pseudo-random generator of libpgcommon, for the
 * harnesses that link neither; the generator's stand-in returns a fixed
 * value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/pg_prng.h"
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

double
pg_prng_double(pg_prng_state *state)
{
	return 0.5;
}
