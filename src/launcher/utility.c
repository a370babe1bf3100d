/*-------------------------------------------------------------------------
 *
 * utility.c
 *	  The ProcessUtility hook: what the extension does around the commands
 *	  that create, update or drop it, and around those that need a database
 *	  to themselves.
 *
 * At the commit of CREATE or ALTER EXTENSION webhook (every version's
 * script counts) the hook asks the launcher for a worker in the database.
 * A backend about to run DROP DATABASE (or anything else that needs the
 * database to itself: RENAME, SET TABLESPACE, use as a template) holds the
 * database in the launcher's mailbox (registry.c), wakes its worker and
 * waits for it to exit, since before PostgreSQL 19 nothing else stops a
 * background worker connected to a database being dropped.  DROP
 * EXTENSION holds its database briefly at commit, so the worker exits
 * without first failing on the missing tables.
 *
 * The same hook makes DROP EXTENSION webhook drop the subscription triggers
 * first (they are not members of the extension, but they need its capture
 * function), in the same transaction, and wakes the worker after COMMIT
 * PREPARED (a prepared transaction's commit fires no transaction callback
 * in the session that captured its events).
 *
 * The hook runs in the caller's session and acts for the caller, so it
 * never does what the caller could not: a worker is made to leave only for
 * a command that passes the permission checks PostgreSQL itself makes
 * (wh_may_run), and the hook's own statements run with search_path pinned
 * to pg_catalog, pg_temp, whatever the session or its database set.
 *
 * IDENTIFICATION
 *	  src/launcher/utility.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "catalog/pg_tablespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "commands/tablespace.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"


#include "launcher/registry.h"
#include "launcher/utility.h"
#include "launcher/wake.h"

/* Longest a backend waits for a worker to leave a database */
#define WH_LEAVE_TIMEOUT_MS		10000L
/* How long DROP DATABASE keeps its database held after it ran */
#define WH_DROP_HOLD_MS			30000L
/* How long DROP EXTENSION holds its database at commit */
#define WH_UNINSTALL_HOLD_MS	5000L

/* Backend side: what to tell the launcher when this transaction commits */
typedef enum WhCommitAction
{
	WH_AT_COMMIT_NOTHING,
	WH_AT_COMMIT_START,
	WH_AT_COMMIT_STOP
} WhCommitAction;

static WhCommitAction wh_at_commit = WH_AT_COMMIT_NOTHING;
static bool wh_xact_cb_registered = false;
static ProcessUtility_hook_type prev_process_utility = NULL;

/*
 * Backend side: at commit, tell the launcher what this transaction did to
 * the extension.
 */
static void
wh_launcher_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wh_at_commit == WH_AT_COMMIT_START)
			{
				wh_set_hold(MyDatabaseId, 0);
				wh_launcher_request(MyDatabaseId);
				/* a worker waiting for ALTER EXTENSION UPDATE looks again */
				wh_wake_worker(MyDatabaseId);
			}
			else if (wh_at_commit == WH_AT_COMMIT_STOP)
			{
				wh_set_hold(MyDatabaseId, GetCurrentTimestamp() +
							WH_UNINSTALL_HOLD_MS * 1000);
				wh_signal_worker(MyDatabaseId);
			}
			wh_at_commit = WH_AT_COMMIT_NOTHING;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			wh_at_commit = WH_AT_COMMIT_NOTHING;
			break;
		default:
			break;
	}
}

static void
wh_notify_at_commit(WhCommitAction action)
{
	if (!wh_xact_cb_registered)
	{
		RegisterXactCallback(wh_launcher_xact_callback, NULL);
		wh_xact_cb_registered = true;
	}
	wh_at_commit = action;
}

/*
 * Hold a database and wait (a bounded time) for its worker to leave, so a
 * command that needs the database to itself does not fail with "being
 * accessed by other users".
 */
static void
wh_clear_database(Oid dboid, long hold_ms)
{
	TimestampTz start = GetCurrentTimestamp();

	wh_set_hold(dboid, start + hold_ms * 1000);
	while (wh_worker_pid(dboid) != 0)
	{
		wh_signal_worker(dboid);
		if (TimestampDifferenceExceeds(start, GetCurrentTimestamp(),
									   WH_LEAVE_TIMEOUT_MS))
			break;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * Pin search_path for the hook's own statements, as SET search_path on a
 * function does; returns the level to hand to wh_unpin_search_path().  The
 * caller's search_path, or one its database's owner set, must not choose
 * the functions and operators those statements run (the caller may be a
 * superuser running DROP EXTENSION in a database another role owns).  An
 * error unwinds the setting with the transaction.
 */
static int
wh_pin_search_path(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	return nestlevel;
}

static void
wh_unpin_search_path(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * DROP EXTENSION webhook: drop every trigger that calls webhook.capture()
 * first.  They are the user's subscriptions, not members of the extension,
 * but are useless without it; dropping them here, in the same transaction,
 * lets DROP EXTENSION succeed without CASCADE and leave nothing behind.
 */
static char *
wh_drop_capture_triggers(void)
{
	int			rc;
	uint64		i;
	List	   *cmds = NIL;
	ListCell   *lc;
	char	   *schema = NULL;

	int			nestlevel;

	if (!OidIsValid(get_extension_oid("webhook", true)))
		return NULL;

	nestlevel = wh_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	rc = SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e "
					 "JOIN pg_catalog.pg_namespace n "
					 "  ON n.oid OPERATOR(pg_catalog.=) e.extnamespace "
					 "WHERE e.extname OPERATOR(pg_catalog.=) 'webhook'",
					 true, 0);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
		schema = MemoryContextStrdup(CurTransactionContext,
									 SPI_getvalue(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1));
	rc = SPI_execute(
		"SELECT pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, "
		"                         t.tgrelid::pg_catalog.regclass) "
		"FROM pg_catalog.pg_trigger t "
		"JOIN pg_catalog.pg_depend d "
		"  ON d.classid OPERATOR(pg_catalog.=) "
		"     'pg_catalog.pg_proc'::pg_catalog.regclass "
		" AND d.objid OPERATOR(pg_catalog.=) t.tgfoid "
		" AND d.deptype OPERATOR(pg_catalog.=) 'e' "
		"JOIN pg_catalog.pg_extension e "
		"  ON d.refclassid OPERATOR(pg_catalog.=) "
		"     'pg_catalog.pg_extension'::pg_catalog.regclass "
		" AND e.oid OPERATOR(pg_catalog.=) d.refobjid "
		"JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) t.tgfoid "
		"WHERE e.extname OPERATOR(pg_catalog.=) 'webhook' "
		"  AND p.proname OPERATOR(pg_catalog.=) 'capture' "
		"ORDER BY t.oid", true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
		cmds = lappend(cmds, SPI_getvalue(SPI_tuptable->vals[i],
										  SPI_tuptable->tupdesc, 1));
	foreach(lc, cmds)
	{
		rc = SPI_execute((char *) lfirst(lc), false, 0);
		if (rc != SPI_OK_UTILITY)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	}
	PopActiveSnapshot();
	SPI_finish();
	wh_unpin_search_path(nestlevel);
	return schema;
}

/*
 * After DROP EXTENSION webhook: drop its schema too when nothing is left
 * in it.  CREATE EXTENSION creates the schema named in the control file
 * without making it a member, so DROP EXTENSION alone would leave it.
 */
static void
wh_drop_empty_schema(const char *schema)
{
	int			rc;
	Datum		arg[1];
	Oid			argtypes[1] = {TEXTOID};
	int			nestlevel = wh_pin_search_path();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	arg[0] = CStringGetTextDatum(schema);
	rc = SPI_execute_with_args(
		"SELECT pg_catalog.format('DROP SCHEMA %I', n.nspname) "
		"FROM pg_catalog.pg_namespace n "
		"WHERE n.nspname OPERATOR(pg_catalog.=) $1 "
		"AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d "
		"  WHERE d.refclassid OPERATOR(pg_catalog.=) "
		"        'pg_catalog.pg_namespace'::pg_catalog.regclass "
		"    AND d.refobjid OPERATOR(pg_catalog.=) n.oid)",
		1, argtypes, arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		rc = SPI_execute(SPI_getvalue(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1), false, 0);
		if (rc != SPI_OK_UTILITY)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));
	}
	PopActiveSnapshot();
	SPI_finish();
	wh_unpin_search_path(nestlevel);
}

/* Does the current role own a database (as DROP DATABASE requires)? */
static bool
wh_owns_database(Oid dboid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(DatabaseRelationId, dboid, GetUserId());
#else
	return pg_database_ownercheck(dboid, GetUserId());
#endif
}

/* May the current role create databases (CREATEDB, or superuser)? */
static bool
wh_may_create_databases(void)
{
	HeapTuple	tup;
	bool		result = false;

	if (superuser())
		return true;
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(GetUserId()));
	if (HeapTupleIsValid(tup))
	{
		result = ((Form_pg_authid) GETSTRUCT(tup))->rolcreatedb;
		ReleaseSysCache(tup);
	}
	return result;
}

/* May the current role create objects in a tablespace? */
static bool
wh_may_use_tablespace(Oid spcoid)
{
#if PG_VERSION_NUM >= 160000
	return object_aclcheck(TableSpaceRelationId, spcoid, GetUserId(),
						   ACL_CREATE) == ACLCHECK_OK;
#else
	return pg_tablespace_aclcheck(spcoid, GetUserId(),
								  ACL_CREATE) == ACLCHECK_OK;
#endif
}

/* A database's default tablespace and whether it is a template */
static bool
wh_database_info(Oid dboid, Oid *spcoid, bool *istemplate)
{
	HeapTuple	tup = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));

	if (!HeapTupleIsValid(tup))
		return false;
	*spcoid = ((Form_pg_database) GETSTRUCT(tup))->dattablespace;
	*istemplate = ((Form_pg_database) GETSTRUCT(tup))->datistemplate;
	ReleaseSysCache(tup);
	return true;
}

/*
 * Will PostgreSQL let the current role run this command, which needs the
 * database dboid to itself?  The hook makes that database's worker leave
 * before the command runs (the command refuses to start while another
 * session is connected, so acting after it succeeded is not possible).  So
 * the hook repeats the checks the command makes before it looks for other
 * sessions: ownership, CREATEDB, the tablespace's CREATE privilege, and the
 * conditions that make it fail outright.  A command bound to fail leaves
 * the worker alone.
 */
static bool
wh_may_run(Node *parsetree, Oid dboid)
{
	Oid			spcoid;
	bool		istemplate;

	if (!wh_database_info(dboid, &spcoid, &istemplate))
		return false;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return wh_owns_database(dboid) && dboid != MyDatabaseId &&
				!istemplate;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) parsetree;

				return wh_owns_database(dboid) && wh_may_create_databases() &&
					dboid != MyDatabaseId &&
					!OidIsValid(get_database_oid(stmt->newname, true));
			}
		case T_AlterDatabaseStmt:
			{
				AlterDatabaseStmt *stmt = (AlterDatabaseStmt *) parsetree;
				DefElem    *def = linitial(stmt->options);
				Oid			target;

				if (list_length(stmt->options) != 1 || def->arg == NULL ||
					!wh_owns_database(dboid) || dboid == MyDatabaseId)
					return false;
				target = get_tablespace_oid(defGetString(def), true);
				return OidIsValid(target) && wh_may_use_tablespace(target) &&
					target != spcoid && target != GLOBALTABLESPACE_OID;
			}
		case T_CreatedbStmt:
			{
				CreatedbStmt *stmt = (CreatedbStmt *) parsetree;
				ListCell   *lc;

				if (!wh_may_create_databases())
					return false;
				if (!istemplate && !wh_owns_database(dboid))
					return false;
				/* OWNER: the creator must be able to become that role */
				foreach(lc, stmt->options)
				{
					DefElem    *def = lfirst(lc);
					Oid			owner;

					if (strcmp(def->defname, "owner") != 0 || def->arg == NULL)
						continue;
					owner = get_role_oid(defGetString(def), true);
					if (!OidIsValid(owner) ||
						!is_member_of_role(GetUserId(), owner))
						return false;
				}
				return true;
			}
		default:
			return false;
	}
}

/* Does a DROP statement name the webhook extension? */
static bool
wh_drops_webhook(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), "webhook") == 0)
			return true;
	return false;
}

/* The database named by a DefElem option of a statement, if any */
static Oid
wh_option_database(List *options, const char *option)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, option) == 0 && def->arg != NULL)
			return get_database_oid(defGetString(def), true);
	}
	return InvalidOid;
}

/*
 * ProcessUtility hook: clear databases before commands that need them to
 * themselves, follow the extension's creation and removal.
 */
static void
wh_process_utility(PlannedStmt *pstmt, const char *queryString,
				   bool readOnlyTree, ProcessUtilityContext context,
				   ParamListInfo params, QueryEnvironment *queryEnv,
				   DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	volatile Oid cleared = InvalidOid;
	volatile bool dropping = false;
	char	   *volatile schema = NULL;
	volatile bool commit_prepared = false;

	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			cleared = get_database_oid(((DropdbStmt *) parsetree)->dbname,
									   true);
			dropping = true;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				cleared = get_database_oid(((RenameStmt *) parsetree)->subname,
										   true);
			break;
		case T_AlterDatabaseStmt:
			{
				AlterDatabaseStmt *stmt = (AlterDatabaseStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, stmt->options)
					if (strcmp(((DefElem *) lfirst(lc))->defname,
							   "tablespace") == 0)
						cleared = get_database_oid(stmt->dbname, true);
			}
			break;
		case T_CreatedbStmt:
			cleared = wh_option_database(((CreatedbStmt *) parsetree)->options,
										 "template");
			break;
		case T_CreateExtensionStmt:
			if (strcmp(((CreateExtensionStmt *) parsetree)->extname,
					   "webhook") == 0)
				wh_notify_at_commit(WH_AT_COMMIT_START);
			break;
		case T_AlterExtensionStmt:
			if (strcmp(((AlterExtensionStmt *) parsetree)->extname,
					   "webhook") == 0)
				wh_notify_at_commit(WH_AT_COMMIT_START);
			break;
		case T_DropStmt:
			if (wh_drops_webhook((DropStmt *) parsetree))
			{
				schema = wh_drop_capture_triggers();
				wh_notify_at_commit(WH_AT_COMMIT_STOP);
			}
			break;
		case T_TransactionStmt:
			commit_prepared = ((TransactionStmt *) parsetree)->kind ==
				TRANS_STMT_COMMIT_PREPARED;
			break;
		default:
			break;
	}

	/* only for a command the role may run: nobody else stops a worker */
	if (OidIsValid(cleared) && !wh_may_run(parsetree, cleared))
		cleared = InvalidOid;
	if (OidIsValid(cleared) && wh_launcher != NULL)
		wh_clear_database(cleared, dropping ? WH_DROP_HOLD_MS :
						  WH_LEAVE_TIMEOUT_MS * 2);

	PG_TRY();
	{
		if (prev_process_utility)
			prev_process_utility(pstmt, queryString, readOnlyTree, context,
								 params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree,
									context, params, queryEnv, dest, qc);
	}
	PG_CATCH();
	{
		/* the database is still there: let its worker come back */
		if (OidIsValid(cleared) && wh_launcher != NULL)
		{
			wh_set_hold(cleared, 0);
			wh_launcher_request(cleared);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();

	if (schema)
		wh_drop_empty_schema(schema);

	/*
	 * The prepared transaction's events are committed now, but the commit
	 * callback that wakes the worker ran for nobody: PREPARE TRANSACTION
	 * ended that session's transaction without a commit.  Wake it when this
	 * one commits.  Waking costs the worker one claim when the transaction
	 * captured nothing.
	 */
	if (commit_prepared)
		wh_wake_at_commit();

	/*
	 * A dropped database stays held until it is surely gone; any other
	 * command is done with it now (RENAME and the like hold locks that make
	 * a new worker wait for their commit).
	 */
	if (OidIsValid(cleared) && wh_launcher != NULL && !dropping)
	{
		wh_set_hold(cleared, 0);
		wh_launcher_request(cleared);
	}
}

/*
 * Called from _PG_init: install the hook.
 */
void
wh_utility_init(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = wh_process_utility;
}
