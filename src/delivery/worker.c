/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The delivery worker: claim due events, send them, record what happened.
 *
 * One worker serves one database, the one the launcher (launcher/launcher.c)
 * passes as its argument; it exits when the extension is not there.  This
 * file is its loop; each step is a file of its own, and all of them share
 * one WhWorker (worker_state.h), which the loop owns and passes down:
 *
 *	1. Claim (claim.c): in a short transaction, read which endpoints may
 *	   send now and how many events each may take (its in-flight room, its
 *	   breaker, its rate limit); read only that many of each one's earliest
 *	   due events (never ones the worker already holds), lock them with FOR
 *	   UPDATE SKIP LOCKED, copy them into memory, fetch the endpoints they
 *	   name (kept in the endpoint cache, endpoints.c), and commit.  An
 *	   endpoint held back (disabled, paused, failing, limited, busy) is not
 *	   read at all: holding it back writes nothing, and a claim costs the
 *	   same whatever its backlog.
 *	2. Send (send.c): outside any transaction, sign each event and hand it
 *	   to the curl multi engine (http.c), up to webhook.max_in_flight
 *	   requests at once and an endpoint's own limit per endpoint; an
 *	   endpoint that takes batches gets several events a request
 *	   (batch.c).  The worker sleeps on one WaitEventSet holding its
 *	   latch, postmaster death and curl's sockets, so a commit, a finished
 *	   request or a signal all wake it.
 *	3. Record (record.c): in another short transaction, insert one attempt
 *	   row per finished request into the history and remove each
 *	   delivered event from the outbox (or mark it delivered, while
 *	   webhook.payload_retention keeps it), or move it to dead, or leave it
 *	   pending with its next attempt time.  An event that a user's session
 *	   keeps locked does not hold up the others: its outcome stays in
 *	   memory, the event still held, until a later record can lock it.
 *	4. Clean up (retention.c): now and then, empty the history segment
 *	   that has aged out (TRUNCATE), and delete dead events older than
 *	   webhook.retention (and delivered ones kept past
 *	   webhook.payload_retention), a small batch at a time.
 *
 * No transaction or row lock is ever held across network I/O.  Events the
 * worker holds in memory stay "pending" in the table; if the worker dies,
 * they are simply claimed and sent again (at-least-once delivery, with the
 * same webhook-id, so receivers can drop duplicates).  For the same reason
 * the worker's own commits need not wait for the WAL flush: a lost claim or
 * record only means a repeated attempt, never a lost event, so it runs with
 * synchronous_commit off.
 *
 * Rights: the worker connects as the bootstrap superuser and runs only its
 * own statements, on the extension's tables and pg_catalog.  Nothing
 * another role controls may change what they run: the search_path is
 * pinned to pg_catalog, pg_temp from the moment the worker connects (over
 * any ALTER DATABASE or ALTER ROLE setting), and every function, operator,
 * aggregate and type in them is schema-qualified.  The only other code that
 * can run in the worker is the extension's own triggers on its tables, which
 * pin their search_path too; no other role may add a trigger there.
 * Connecting as the extension's owner instead would buy nothing: the
 * extension needs a superuser to install (superuser = true in its control
 * file), so its owner is one too, the owner is only known once connected to
 * the database (pg_extension is not a shared catalog), and an owner made
 * NOLOGIN, or one that reached its connection limit, would stop delivery.
 *
 * Errors: a problem with one endpoint or one event (a secret that does not
 * decode, a URL that is no longer valid, a request curl refuses) is caught
 * and recorded on the events concerned, which are retried on their schedule
 * like any failure.  An error in a claim or record transaction is reported,
 * the transaction aborted, and the loop carries on after a pause
 * (wh_guarded, in spi.c, which also brackets every transaction).  The
 * breaker, rate limits and ordering (breaker.c, ratelimit.c, order.c,
 * defer.c) are consulted by the claim, the send and the record.
 *
 * IDENTIFICATION
 *	  src/delivery/worker.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "delivery/activity.h"
#include "delivery/claim.h"
#include "delivery/endpoints.h"
#include "delivery/http.h"
#include "delivery/ratelimit.h"
#include "delivery/record.h"
#include "delivery/retention.h"
#include "delivery/send.h"
#include "delivery/spi.h"
#include "delivery/stats_feed.h"
#include "delivery/worker.h"
#include "delivery/worker_state.h"
#include "guc.h"
#include "launcher/registry.h"

/*
 * Is the extension installed in this database?
 */
static void
wh_check_extension(WhWorker *w)
{
	int			rc;

	wh_xact_begin("checking for the webhook extension");
	rc = SPI_execute("SELECT extversion FROM pg_catalog.pg_extension "
					 "WHERE extname OPERATOR(pg_catalog.=) 'webhook'",
					 true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	w->has_extension = (SPI_processed > 0);
	w->old_extension = false;
	if (w->has_extension)
	{
		char	   *version = SPI_getvalue(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1);

		/*
		 * The library's queries need this version's tables: after a new
		 * library is installed, wait (sending nothing, losing nothing) for
		 * ALTER EXTENSION webhook UPDATE, which wakes the worker.
		 */
		if (version == NULL || strcmp(version, WEBHOOK_VERSION) != 0)
		{
			if (!w->old_extension_logged)
				ereport(WARNING,
						(errmsg("webhook worker for database \"%s\" is waiting for ALTER EXTENSION webhook UPDATE",
								MyBgworkerEntry->bgw_extra),
						 errdetail("The extension's objects are version %s; the library is version %s.",
								   version ? version : "(unknown)",
								   WEBHOOK_VERSION),
						 errhint("Run ALTER EXTENSION webhook UPDATE in that database.  Events stay pending until then.")));
			w->old_extension_logged = true;
			w->old_extension = true;
			w->has_extension = false;
		}
	}
	wh_xact_end();
}

static void
wh_worker_exit(int code, Datum arg)
{
	wh_http_shutdown();
}

/*
 * Make the session the worker's own, whatever its database or role set:
 * the search_path, the transaction settings and the role its statements
 * rely on.
 */
static void
wh_pin_session(void)
{
	/*
	 * Name resolution is the worker's, not the database's: nothing a
	 * database owner or any other role sets (ALTER DATABASE or ALTER ROLE
	 * ... SET search_path, objects in public) may change which function or
	 * operator its statements call.  An override outranks every per-database
	 * and per-role setting and survives configuration reloads; it is set
	 * before the first transaction, so even the first plan is built with
	 * it.  pg_temp goes last so that it can never come first implicitly (the
	 * worker has no temporary schema, and functions and operators are never
	 * looked up there).  The statements are schema-qualified as well, so
	 * that neither alone is load-bearing.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET,
					PGC_S_OVERRIDE);

	/*
	 * Likewise the transaction settings a database owner could set for its
	 * database: the worker's claims and records assume read-write, read
	 * committed transactions that are never cut short.
	 */
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET,
					PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);

	/*
	 * And the role: a database owner may ALTER DATABASE ... SET role (or
	 * session_authorization), which the connection has just applied.  The
	 * worker is the bootstrap superuser, whatever the database says; the
	 * names are looked up in the catalogs, hence the transaction.
	 */
	StartTransactionCommand();
	SetConfigOption("session_authorization",
					GetUserNameFromId(BOOTSTRAP_SUPERUSERID, false),
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("role", "none", PGC_SUSET, PGC_S_OVERRIDE);
	CommitTransactionCommand();
}

/*
 * Settings that suit the worker's short, frequent statements, which would
 * be a poor choice for anyone else's.
 */
static void
wh_tune_session(void)
{
	/* A lost commit here only means an attempt repeated, never lost */
	SetConfigOption("synchronous_commit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "webhook worker", PGC_USERSET,
					PGC_S_OVERRIDE);

	/*
	 * The outbox's statistics swing between "everything pending" and
	 * "nothing pending" within seconds, and the claim's filters make any
	 * row estimate a guess; a plan that scans the whole table and sorts it
	 * would be chosen whenever the estimate is small, and likewise a hash
	 * of every pending event to record a few hundred results.  Every query
	 * the worker runs is an index range scan or a small set of index
	 * lookups, so steer the planner to exactly that.  A bitmap scan would
	 * AND a whole partial index into a look-up by id; statements that name
	 * events by id re-check their state in a form no partial index serves
	 * (pending.h), so their only index is the primary key.
	 */
	SetConfigOption("enable_seqscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_bitmapscan", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_hashjoin", "off", PGC_USERSET, PGC_S_OVERRIDE);
	SetConfigOption("enable_mergejoin", "off", PGC_USERSET, PGC_S_OVERRIDE);

	/*
	 * With those settings every statement's best plan is the same whatever
	 * its arrays hold (index lookups, nested loops), so plan each once: a
	 * custom plan per execution cost a tenth of the worker's CPU.
	 */
	SetConfigOption("plan_cache_mode", "force_generic_plan", PGC_USERSET,
					PGC_S_OVERRIDE);
	/*
	 * Never wait long for a row a user's session has locked: the worker
	 * serves every endpoint, so a claim or clean-up that cannot get its
	 * lock gives up and is tried again, and a record writes the outcomes
	 * of the events it can lock and keeps the others for later.
	 */
	SetConfigOption("lock_timeout", "1s", PGC_USERSET, PGC_S_OVERRIDE);
	/* and its small, frequent queries gain nothing from JIT compilation */
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_OVERRIDE);
}

/*
 * The worker's state, for its whole life.
 */
static WhWorker *
wh_worker_create(void)
{
	WhWorker   *w;

	w = MemoryContextAllocZero(TopMemoryContext, sizeof(WhWorker));
	dlist_init(&w->queue);
	dlist_init(&w->inflight);
	dlist_init(&w->claimed);
	w->worker_cxt = AllocSetContextCreate(TopMemoryContext, "webhook worker",
										  ALLOCSET_DEFAULT_SIZES);
	w->loop_cxt = AllocSetContextCreate(w->worker_cxt, "webhook loop",
										ALLOCSET_DEFAULT_SIZES);
	w->outcome_cxt = AllocSetContextCreate(w->worker_cxt, "webhook outcomes",
										   ALLOCSET_DEFAULT_SIZES);
	wh_endpoints_create(w);
	return w;
}

/*
 * How long to sleep: until the next claim, clean-up or record is due, a
 * rate-limited endpoint has its next token, or curl wants to be called,
 * and at most webhook.idle_timeout.  A commit, a ready socket or a signal
 * wakes the worker earlier.
 */
static long
wh_sleep_ms(WhWorker *w)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz until = now + (int64) wh_idle_timeout * 1000;
	long		curl_ms = wh_http_timeout_ms();
	long		timeout;

	if (w->has_extension)
	{
		if (w->nqueued < wh_max_in_flight && w->next_claim_at < until)
			until = w->next_claim_at;
		if (w->next_retention_at < until)
			until = w->next_retention_at;
		if (wh_record_due(w) < until)
			until = wh_record_due(w);
		/* a rate-limited endpoint's next token */
		if (wh_rate_next_wake() < until)
			until = wh_rate_next_wake();
	}
	timeout = until <= now ? 0 : (long) ((until - now + 999) / 1000);
	if (curl_ms >= 0 && curl_ms < timeout)
		timeout = curl_ms;
	return timeout;
}

/*
 * Entry point of the delivery worker.
 */
void
wh_worker_main(Datum main_arg)
{
	WhWorker   *w;
	WaitEventSet *wes;
	int			latch_pos;
	TimestampTz last_ext_check = 0;
	bool		woken = true;
	bool		announced = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(DatumGetObjectId(main_arg),
											  InvalidOid, 0);

	wh_pin_session();

	if (!wh_worker_attach())
		wh_launcher_worker_done("another worker serves this database");

	wh_tune_session();
	pgstat_report_appname("webhook worker");
	wh_activity_worker_start();

	w = wh_worker_create();

	/* per-endpoint limits are the worker's; curl only bounds the total */
	wh_http_init(wh_max_in_flight, wh_max_in_flight, wh_max_response_size);
	before_shmem_exit(wh_worker_exit, (Datum) 0);

	/* from PostgreSQL 17 on, the set lives in TopMemoryContext, owned by none */
#if PG_VERSION_NUM >= 170000
	wes = CreateWaitEventSet(NULL, 3);
#else
	wes = CreateWaitEventSet(TopMemoryContext, 3);
#endif
	latch_pos = AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET,
								  MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	AddWaitEventToSet(wes, WL_SOCKET_READABLE, wh_http_fd(), NULL, NULL);
	(void) latch_pos;

	for (;;)
	{
		WaitEvent	events[3];
		TimestampTz now;
		long		timeout;
		int			nev;
		int			i;

		MemoryContextSwitchTo(w->loop_cxt);

		CHECK_FOR_INTERRUPTS();
		if (wh_launcher_stop_requested())
			wh_launcher_worker_done("asked to leave the database");
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			w->next_retention_at = 0;
			w->next_claim_at = 0;
			wh_http_init(wh_max_in_flight, wh_max_in_flight,
						 wh_max_response_size);
		}

		now = GetCurrentTimestamp();
		if (!w->has_extension)
		{
			/* look again when woken (by a commit) or after a while */
			if (woken ||
				now - last_ext_check >= (int64) wh_idle_timeout * 1000)
			{
				last_ext_check = now;
				if (!wh_guarded(wh_check_extension, w))
					w->has_extension = false;
				else if (!w->has_extension && !w->old_extension)
					wh_launcher_worker_done("the extension is not installed");
				else if (!announced)
				{
					announced = true;
					ereport(LOG,
							(errmsg("webhook worker started for database \"%s\"",
									MyBgworkerEntry->bgw_extra)));
				}
			}
		}

		if (w->has_extension)
		{
			/* send what is queued, then claim more if there is room */
			wh_dispatch(w);
			if (w->next_claim_at <= now && w->nqueued < wh_max_in_flight)
			{
				w->last_claim_at = now;
				if (wh_guarded(wh_claim, w))
				{
					wh_stats_feed_claimed(w);
					wh_build_claimed_endpoints(w);
					wh_dispatch(w);
					if (w->claimed_n >= (uint64) wh_batch_size ||
						w->claim_held_back > 0)
						w->next_claim_at = 0;	/* probably more */
					else if (w->next_due)
						w->next_claim_at = Max(w->next_due,
											   now + WH_CLAIM_INTERVAL_MS * 1000);
					else
						w->next_claim_at = now + (int64) wh_idle_timeout * 1000;
				}
				else
				{
					/* the extension may have been dropped */
					wh_claim_abandon(w);
					w->has_extension = false;
					last_ext_check = now;
					w->next_claim_at = now + WH_ERROR_PAUSE_MS * 1000;
				}
			}

			if (wh_record_due(w) <= now)
				wh_flush_outcomes(w);
			wh_stats_feed_tick(w);

			if (w->next_retention_at <= now)
			{
				if (wh_guarded(wh_retention_step, w) && w->retention_more)
					w->next_retention_at = 0;
				else
					w->next_retention_at = now + WH_RETENTION_INTERVAL_MS * 1000;
			}
		}

		/* sleep until woken, a socket is ready, or something is due */
		timeout = wh_sleep_ms(w);

		woken = false;
		nev = WaitEventSetWait(wes, timeout, events, lengthof(events),
							   wh_activity_waiting(w->ninflight, w->nqueued));
		for (i = 0; i < nev; i++)
		{
			if (events[i].events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				woken = true;
			}
		}

		/*
		 * A commit woke us: claim soon, but not more often than every
		 * WH_CLAIM_INTERVAL_MS, so a stream of small commits is claimed in
		 * batches instead of one transaction each.
		 */
		if (woken)
			w->next_claim_at = Min(w->next_claim_at,
								   w->last_claim_at + WH_CLAIM_INTERVAL_MS * 1000);

		wh_http_perform();
		wh_collect(w);

		MemoryContextReset(w->loop_cxt);
	}
}
