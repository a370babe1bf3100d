/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Removing delivered and dead events older than webhook.retention.
 *
 * Now and then the worker deletes a small batch of finished events, and
 * their attempts, in a short transaction of its own; a full batch means
 * there is more, and the next batch follows at once.
 *
 * IDENTIFICATION
 *	  src/delivery/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"

#include "delivery/pending.h"
#include "delivery/retention.h"
#include "delivery/spi.h"
#include "guc.h"

#define WH_RETENTION_BATCH		1000

static SPIPlanPtr wh_retention_plan;

/*
 * Delete one batch of finished events older than webhook.retention, with
 * their attempts.  Sets retention_more when a full batch went.
 */
void
wh_retention_step(WhWorker *w)
{
	Datum		args[2];

	wh_xact_begin("removing old events");
	if (wh_retention_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT4OID};

		wh_retention_plan = wh_prepare(
			"WITH d AS ("
			"  DELETE FROM webhook.event e USING ("
			"    SELECT id FROM webhook.event "
			"    WHERE state OPERATOR(pg_catalog.<>) 'pending' "
			"      AND finished_at OPERATOR(pg_catalog.<) "
			"          (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"           ($1 OPERATOR(pg_catalog.*) interval '1 second')) "
			"    LIMIT $2) f "
			"  WHERE e.id OPERATOR(pg_catalog.=) f.id "
			"    AND " WH_NO_LONGER_PENDING("e") " "
			"    AND e.finished_at OPERATOR(pg_catalog.<) "
			"        (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"         ($1 OPERATOR(pg_catalog.*) interval '1 second')) "
			"  RETURNING e.id), "
			"a AS ("
			"  DELETE FROM webhook.attempt a USING d "
			"  WHERE a.event_id OPERATOR(pg_catalog.=) d.id) "
			"SELECT pg_catalog.count(*) FROM d", 2, types);
	}
	args[0] = Int32GetDatum(wh_retention);
	args[1] = Int32GetDatum(WH_RETENTION_BATCH);
	wh_run(wh_retention_plan, args, false, 0, SPI_OK_SELECT, "removing old events");
	w->retention_more = false;
	if (SPI_processed > 0)
	{
		bool		isnull;
		int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc,
													1, &isnull));

		w->retention_more = (n >= WH_RETENTION_BATCH);
	}
	wh_xact_end();
}
