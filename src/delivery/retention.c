/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Removing what is no longer kept: old history segments, dead events
 *	  older than webhook.retention, delivered events older than
 *	  webhook.payload_retention, and received ids in webhook.inbox older
 *	  than webhook.retention.
 *
 * The attempt history lives in WH_HISTORY_SEGMENTS children of
 * webhook.attempt, written one at a time.  When the one being written has
 * been written for a seventh of webhook.retention, the worker empties the
 * next with TRUNCATE and writes that one instead, so old history goes a
 * segment at a time, without DELETE or vacuum.  A segment whose data is
 * all older than webhook.retention is emptied too, so that a shorter
 * retention takes effect at once.  The TRUNCATE never waits: if a session
 * is reading the segment, it is tried again at the next step.
 *
 * The outbox keeps delivered events only while webhook.payload_retention
 * says so (the record step removes them otherwise) and dead ones for
 * webhook.retention; now and then the worker deletes a small batch of them
 * in a short transaction of its own; a full batch means there is more, and
 * the next batch follows at once.
 *
 * IDENTIFICATION
 *	  src/delivery/retention.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "storage/lmgr.h"
#include "utils/timestamp.h"

#include "delivery/pending.h"
#include "delivery/retention.h"
#include "delivery/spi.h"
#include "guc.h"

#define WH_RETENTION_BATCH		1000

static SPIPlanPtr wh_retention_plan;
static SPIPlanPtr wh_inbox_plan;
static SPIPlanPtr wh_truncate_plan[WH_HISTORY_SEGMENTS];
static SPIPlanPtr wh_segment_plan;
static SPIPlanPtr wh_segment_begin_plan;
static SPIPlanPtr wh_segment_expired_plan;

/*
 * Find the segment written now: the one begun last.  Runs in the caller's
 * transaction.
 */
static void
wh_history_load(WhWorker *w)
{
	if (wh_segment_plan == NULL)
		wh_segment_plan = wh_prepare(
			"SELECT segment, since FROM webhook.attempt_segment "
			"WHERE since IS NOT NULL "
			"ORDER BY since DESC, segment DESC LIMIT 1", 0, NULL);
	wh_run(wh_segment_plan, NULL, true, 0, SPI_OK_SELECT,
		   "reading the history segments");
	w->history_segment = 0;
	w->history_since = GetCurrentTimestamp();
	if (SPI_processed > 0)
	{
		bool		isnull;
		int			seg;

		seg = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
		if (seg >= 0 && seg < WH_HISTORY_SEGMENTS)
		{
			w->history_segment = seg;
			w->history_since =
				DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 2,
												  &isnull));
		}
	}
	w->history_known = true;
}

/*
 * The segment attempts are written to now.  The first call reads it, in
 * the caller's transaction.
 */
int
wh_history_segment(WhWorker *w)
{
	if (!w->history_known)
		wh_history_load(w);
	return w->history_segment;
}

/*
 * Empty one segment, if no other session is using it; then mark it begun
 * now (begin = true) or empty.  Returns false, having done nothing, when
 * the segment could not be locked at once.
 */
static bool
wh_history_empty(int seg, bool begin)
{
	char		relname[NAMEDATALEN];
	Oid			relid;
	Datum		args[2];
	Oid			types[2] = {INT2OID, BOOLOID};

	snprintf(relname, sizeof(relname), "attempt_%d", seg);
	relid = RangeVarGetRelid(makeRangeVar("webhook", relname, -1), NoLock,
							 false);
	if (!ConditionalLockRelationOid(relid, AccessExclusiveLock))
		return false;

	/*
	 * TRUNCATE rebuilds the BRIN indexes with their first range summarized,
	 * which would make every row written into it update the summary (a WAL
	 * record per row and index).  Left unsummarized, the range costs
	 * nothing until autosummarize takes it once it is full.
	 */
	if (wh_truncate_plan[seg] == NULL)
	{
		char	   *sql = psprintf("TRUNCATE webhook.attempt_%d; "
								   "SELECT pg_catalog.brin_desummarize_range("
								   "'webhook.attempt_%d_event_idx'::pg_catalog.regclass, 0), "
								   "pg_catalog.brin_desummarize_range("
								   "'webhook.attempt_%d_started_idx'::pg_catalog.regclass, 0)",
								   seg, seg, seg);

		wh_truncate_plan[seg] = wh_prepare(sql, 0, NULL);
		pfree(sql);
	}
	wh_run(wh_truncate_plan[seg], NULL, false, 0, SPI_OK_SELECT,
		   "removing old attempts");

	if (wh_segment_begin_plan == NULL)
		wh_segment_begin_plan = wh_prepare(
			"UPDATE webhook.attempt_segment "
			"SET since = CASE WHEN $2 THEN pg_catalog.now() END "
			"WHERE segment OPERATOR(pg_catalog.=) $1", 2, types);
	args[0] = Int16GetDatum((int16) seg);
	args[1] = BoolGetDatum(begin);
	wh_run(wh_segment_begin_plan, args, false, 0, SPI_OK_UPDATE,
		   "removing old attempts");
	return true;
}

/*
 * Move the history on: empty the segments whose data is all older than
 * webhook.retention, and once the segment written now has been written for
 * its share of webhook.retention, empty the next and write that instead.
 * Runs in the caller's transaction; the worker's memory follows once it
 * commits (wh_retention_step).
 */
static int
wh_history_rotate(WhWorker *w)
{
	int			cur = wh_history_segment(w);
	int			next = (cur + 1) % WH_HISTORY_SEGMENTS;
	int64		period_us;
	Datum		args[2];
	uint64		i;
	int		   *expired;
	int			nexpired;

	if (wh_segment_expired_plan == NULL)
	{
		Oid			types[2] = {INT2OID, INT4OID};

		wh_segment_expired_plan = wh_prepare(
			"SELECT s.segment FROM webhook.attempt_segment s "
			"JOIN webhook.attempt_segment n ON n.segment OPERATOR(pg_catalog.=) "
			"  ((s.segment OPERATOR(pg_catalog.+) 1) "
			"   OPERATOR(pg_catalog.%) " CppAsString2(WH_HISTORY_SEGMENTS) ") "
			"WHERE s.segment OPERATOR(pg_catalog.<>) $1 "
			"  AND s.since IS NOT NULL "
			"  AND n.since OPERATOR(pg_catalog.<) (pg_catalog.now() "
			"      OPERATOR(pg_catalog.-) "
			"      ($2 OPERATOR(pg_catalog.*) interval '1 second'))",
			2, types);
	}
	args[0] = Int16GetDatum((int16) cur);
	args[1] = Int32GetDatum(wh_retention);
	wh_run(wh_segment_expired_plan, args, true, 0, SPI_OK_SELECT,
		   "removing old attempts");
	nexpired = (int) SPI_processed;
	expired = palloc(sizeof(int) * (nexpired + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		expired[i] = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[i],
												 SPI_tuptable->tupdesc, 1,
												 &isnull));
	}
	for (i = 0; i < (uint64) nexpired; i++)
		(void) wh_history_empty(expired[i], false);
	pfree(expired);

	period_us = Max((int64) wh_retention * USECS_PER_SEC / 7, USECS_PER_SEC);
	if (GetCurrentTimestamp() - w->history_since < period_us)
		return cur;
	if (!wh_history_empty(next, true))
		return cur;
	return next;
}

/*
 * One clean-up step: move the history on, then delete one batch of
 * finished events that are no longer kept.  Sets retention_more when a
 * full batch went.
 */
void
wh_retention_step(WhWorker *w)
{
	Datum		args[3];
	int			seg;

	wh_xact_begin("removing old events");
	seg = wh_history_rotate(w);
	if (wh_retention_plan == NULL)
	{
		Oid			types[3] = {INT4OID, INT4OID, INT4OID};

		wh_retention_plan = wh_prepare(
			"WITH d AS ("
			"  DELETE FROM webhook.event e USING ("
			"    SELECT id FROM webhook.event "
			"    WHERE state OPERATOR(pg_catalog.<>) 'pending' "
			"      AND finished_at OPERATOR(pg_catalog.<) "
			"          (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"           (LEAST($1, $3) "
			"            OPERATOR(pg_catalog.*) interval '1 second')) "
			"      AND (state::pg_catalog.text OPERATOR(pg_catalog.=) 'delivered' "
			"           OR finished_at OPERATOR(pg_catalog.<) "
			"              (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"               ($1 OPERATOR(pg_catalog.*) interval '1 second'))) "
			"    ORDER BY finished_at LIMIT $2) f "
			"  WHERE e.id OPERATOR(pg_catalog.=) f.id "
			"    AND " WH_NO_LONGER_PENDING("e") " "
			"    AND e.finished_at OPERATOR(pg_catalog.<) "
			"        (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"         (CASE WHEN (e.state)::pg_catalog.text "
			"                    OPERATOR(pg_catalog.=) 'delivered' "
			"               THEN LEAST($1, $3) ELSE $1 END "
			"          OPERATOR(pg_catalog.*) interval '1 second')) "
			"  RETURNING e.id) "
			"SELECT pg_catalog.count(*) FROM d", 3, types);
	}
	args[0] = Int32GetDatum(wh_retention);
	args[1] = Int32GetDatum(WH_RETENTION_BATCH);
	args[2] = Int32GetDatum(wh_payload_retention);
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

	/*
	 * The inbox's ids are kept for "webhook.retention": receive() refuses a
	 * request older than its tolerance (minutes) by its timestamp, so ids
	 * kept for days leave a wide margin.  A batch a step, oldest first.
	 */
	if (wh_inbox_plan == NULL)
	{
		Oid			types[2] = {INT4OID, INT4OID};

		wh_inbox_plan = wh_prepare(
			"DELETE FROM webhook.inbox i USING ("
			"  SELECT webhook_id FROM webhook.inbox "
			"  WHERE received_at OPERATOR(pg_catalog.<) "
			"        (pg_catalog.now() OPERATOR(pg_catalog.-) "
			"         ($1 OPERATOR(pg_catalog.*) interval '1 second')) "
			"  ORDER BY received_at LIMIT $2) o "
			"WHERE i.webhook_id OPERATOR(pg_catalog.=) o.webhook_id", 2, types);
	}
	wh_run(wh_inbox_plan, args, false, 0, SPI_OK_DELETE,
		   "removing old inbox entries");
	wh_xact_end();
	if (seg != w->history_segment)
	{
		w->history_segment = seg;
		w->history_since = GetCurrentTimestamp();
	}
}
