/*-------------------------------------------------------------------------
 *
 * pending.h
 *	  How the worker's statements re-check that an event they name by id is
 *	  still pending.
 *
 * Statements that take a list of event ids (lock the claimed events,
 * record outcomes, hold ordered events back, remove old ones) must read
 * each row by primary key, whatever the statistics say.  Written as
 * "state = 'pending'", the re-check would match the predicate of the
 * outbox's partial indexes, and with statistics that count few pending
 * events the planner would scan a whole partial index (once per id, in a
 * nested loop) instead of looking each id up.  Compared as text, the
 * re-check means the same but no partial index predicate is implied by it,
 * so the primary key is the only index these statements can use.  With the
 * worker's planner settings (no sequential or bitmap scans, no hash or
 * merge joins: see worker.c), their only plan is one index look-up per id.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBHOOK_PENDING_H
#define WEBHOOK_PENDING_H

/* alias.state is 'pending', in a form no partial index predicate matches */
#define WH_STILL_PENDING(alias) \
	"(" alias ".state)::pg_catalog.text OPERATOR(pg_catalog.=) 'pending'"

/* ... and is not */
#define WH_NO_LONGER_PENDING(alias) \
	"(" alias ".state)::pg_catalog.text OPERATOR(pg_catalog.<>) 'pending'"

#endif							/* WEBHOOK_PENDING_H */
