/*-------------------------------------------------------------------------
 *
 * activity.c
 *	  What the delivery worker shows in pg_stat_activity.
 *
 * Between its short transactions (whose activity text says what they do:
 * "claiming events", "recording attempts", ...) the worker sleeps on its
 * latch and curl's sockets.  Before each sleep it reports either "idle", or
 * "active" with a short text such as "waiting for 12 requests in flight, 3
 * queued" and, from PostgreSQL 17, the wait event WebhookHttp (custom wait
 * events; before 17, the generic Extension).  Idle sleeps use WebhookIdle.
 *
 * The worker's own queries are not the user's business: when
 * pg_stat_statements is loaded, its tracking is switched off in the worker,
 * so thousands of claims and records a minute do not crowd out the
 * statements users want to see.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/guc.h"
#if PG_VERSION_NUM >= 170000
#include "utils/wait_event.h"
#endif

#include "delivery/activity.h"

/*
 * Called once when the worker starts, after its own settings.
 */
void
wh_activity_worker_start(void)
{
	if (GetConfigOption("pg_stat_statements.track", true, false) != NULL)
		SetConfigOption("pg_stat_statements.track", "none", PGC_SUSET,
						PGC_S_OVERRIDE);
}

/*
 * Report what the worker waits for, just before it sleeps; returns the
 * wait event to sleep with.
 */
uint32
wh_activity_waiting(int in_flight, int queued)
{
#if PG_VERSION_NUM >= 170000
	static uint32 http_event = 0;
	static uint32 idle_event = 0;

	if (http_event == 0)
	{
		http_event = WaitEventExtensionNew("WebhookHttp");
		idle_event = WaitEventExtensionNew("WebhookIdle");
	}
#endif

	if (in_flight == 0)
	{
		pgstat_report_activity(STATE_IDLE, NULL);
#if PG_VERSION_NUM >= 170000
		return idle_event;
#else
		return PG_WAIT_EXTENSION;
#endif
	}

	{
		char		text[96];

		snprintf(text, sizeof(text),
				 "waiting for %d request%s in flight, %d queued",
				 in_flight, in_flight == 1 ? "" : "s", queued);
		pgstat_report_activity(STATE_RUNNING, text);
	}
#if PG_VERSION_NUM >= 170000
	return http_event;
#else
	return PG_WAIT_EXTENSION;
#endif
}
