/*-------------------------------------------------------------------------
 *
 * bodyenc.c
 *	  Event bodies in UTF-8, whatever the database encoding.
 *
 * JSON on the wire is UTF-8 (RFC 8259), and so is what receivers verify
 * signatures over; but the outbox holds bodies in the database encoding.
 * The worker converts each body as it claims it, inside the claim
 * transaction (conversion functions are looked up in the catalogs).  In a
 * UTF8 database that costs nothing.  In a SQL_ASCII database, where rows may
 * hold any bytes, a body that is not valid UTF-8 cannot be sent: the event
 * gets a failed attempt that says so, and follows its retry schedule like
 * any other failure, so it is kept and can be fixed and replayed.
 *
 * IDENTIFICATION
 *	  src/delivery/bodyenc.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"

#include "delivery/bodyenc.h"

void
wh_body_to_utf8(char **body, size_t *len, char **error)
{
	int			enc = GetDatabaseEncoding();
	MemoryContext cxt = CurrentMemoryContext;

	*error = NULL;
	if (enc == PG_UTF8 || *len == 0)
		return;

	if (enc == PG_SQL_ASCII)
	{
		if (!pg_verify_mbstr(PG_UTF8, *body, (int) *len, true))
			*error = pstrdup("event body is not valid UTF-8: the database encoding is SQL_ASCII and the row holds bytes that are not UTF-8");
		return;
	}

	PG_TRY();
	{
		char	   *conv = pg_server_to_any(*body, (int) *len, PG_UTF8);

		if (conv != *body)
		{
			pfree(*body);
			*body = conv;
			*len = strlen(conv);
		}
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* a conversion error holds no resources: report it, carry on */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		*error = psprintf("could not convert event body from %s to UTF-8: %s",
						  GetDatabaseEncodingName(), edata->message);
		FreeErrorData(edata);
	}
	PG_END_TRY();
}
