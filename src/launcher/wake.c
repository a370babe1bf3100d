/*-------------------------------------------------------------------------
 *
 * wake.c
 *	  Waking the delivery worker once a transaction has committed.
 *
 * Backends never wake the worker from inside a transaction: whatever
 * writes something the worker should see (the outbox writer, the utility
 * hook after COMMIT PREPARED, the SQL functions that make events due again
 * through webhook._wake()) calls wh_wake_at_commit(), which arranges for a
 * transaction callback to set the latch once, after the commit is visible.
 * Many events in one transaction, or many transactions in quick
 * succession, cost the worker one wake-up.  Where no worker runs, the
 * launcher is asked for one (registry.c).
 *
 * IDENTIFICATION
 *	  src/launcher/wake.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"

#include "launcher/registry.h"
#include "launcher/wake.h"

static bool wh_wake_pending = false;
static bool wh_callback_registered = false;

static void
wh_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wh_wake_pending)
			{
				wh_wake_pending = false;
				wh_wake_worker(MyDatabaseId);
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wh_wake_pending = false;
			break;
		default:
			break;
	}
}

/*
 * Called whenever this transaction writes something the worker should see:
 * wake it once the transaction commits.
 */
void
wh_wake_at_commit(void)
{
	if (!wh_callback_registered)
	{
		RegisterXactCallback(wh_xact_callback, NULL);
		wh_callback_registered = true;
	}
	wh_wake_pending = true;
}

PG_FUNCTION_INFO_V1(webhook_wake);

/*
 * SQL: webhook._wake(), for functions that make events due again.
 */
Datum
webhook_wake(PG_FUNCTION_ARGS)
{
	wh_wake_at_commit();
	PG_RETURN_VOID();
}
