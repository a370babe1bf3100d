/*-------------------------------------------------------------------------
 *
 * drain.c
 *	  The worker's report of a drain: a large backlog of due events (after
 *	  an outage, once a failing endpoint's breaker closes, after a bulk
 *	  replay) being worked off, shown as a "drain" row in webhook.progress.
 *
 * A claim that leaves due events behind (it filled the batch, or an
 * endpoint its share) is the sign of a backlog.  Then, and not more often
 * than every WH_DRAIN_RECHECK_MS, the worker counts the due events in a
 * short transaction of its own; WH_DRAIN_MIN or more begin a drain whose
 * total is that count, counted once.  Each record that commits adds the
 * events it delivered to done; the first claim that leaves nothing due
 * behind ends the drain and its row.  A backlog that grows as fast as it
 * is sent outlasts its count: once done reaches total, the worker counts
 * again and begins a new drain (or ends it, below WH_DRAIN_MIN).  So the cost is one count per drain
 * (and per recheck while the worker is busy with a smaller backlog), and a
 * few instructions per record: never a statement per event.
 *
 * The row lives in the worker's progress slot (observe/progress.c), which
 * spans the worker's transactions and is freed when the worker exits.
 *
 * IDENTIFICATION
 *	  src/delivery/drain.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/timestamp.h"

#include "delivery/drain.h"
#include "delivery/spi.h"
#include "delivery/worker_state.h"
#include "guc.h"
#include "observe/progress.h"

/* A backlog this large is a drain worth reporting */
#define WH_DRAIN_MIN			1000
/* How often a busy worker looks again for a backlog that large */
#define WH_DRAIN_RECHECK_MS		10000

static SPIPlanPtr wh_drain_count_plan;
static int64 wh_drain_backlog;
static int64 wh_drain_done;
static TimestampTz wh_drain_checked_at;

/* Count the events due now (a step for wh_guarded) */
static void
wh_drain_count(WhWorker *w)
{
	bool		isnull;

	wh_xact_begin("counting due events");
	if (wh_drain_count_plan == NULL)
		wh_drain_count_plan = wh_prepare(
			"SELECT pg_catalog.count(*) FROM webhook.event e "
			"WHERE e.state OPERATOR(pg_catalog.=) 'pending' "
			"  AND e.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()",
			0, NULL);
	wh_run(wh_drain_count_plan, NULL, true, 1, SPI_OK_SELECT,
		   "counting due events");
	wh_drain_backlog = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												   SPI_tuptable->tupdesc,
												   1, &isnull));
	wh_xact_end();
}

/*
 * After a committed claim: begin a drain when a large backlog is found,
 * end it when the claim left nothing due behind.
 */
void
wh_drain_note_claim(WhWorker *w)
{
	bool		more = (w->claimed_n >= (uint64) wh_batch_size ||
						w->claim_skipped_busy || w->claim_held_back > 0);
	TimestampTz now;

	if (!more)
	{
		if (wh_progress_active())
			wh_progress_end();
		return;
	}
	/* a drain goes on until its backlog is delivered; then count again */
	if (wh_progress_active() && wh_drain_done < wh_drain_backlog)
		return;
	now = GetCurrentTimestamp();
	if (!TimestampDifferenceExceeds(wh_drain_checked_at, now,
									WH_DRAIN_RECHECK_MS))
		return;
	wh_drain_checked_at = now;
	if (!wh_guarded(wh_drain_count, w))
		return;
	if (wh_drain_backlog >= WH_DRAIN_MIN)
	{
		wh_drain_done = 0;
		wh_progress_begin("drain", "delivering due events",
						  wh_drain_backlog, false);
	}
	else if (wh_progress_active())
		wh_progress_end();
}

/*
 * After a record committed: the events it delivered count as done.
 */
void
wh_drain_note_recorded(List *outcomes)
{
	ListCell   *lc;
	int64		delivered = 0;

	if (!wh_progress_active())
		return;
	foreach(lc, outcomes)
	{
		WhOutcomeRec *o = lfirst(lc);

		if (!o->kept && o->decided && strcmp(o->state, "delivered") == 0)
			delivered++;
	}
	if (delivered > 0)
	{
		wh_drain_done += delivered;
		(void) wh_progress_update(wh_drain_done, -1, NULL);
	}
}
