/* webhook--0.3.0--0.4.0.sql: update the webhook extension from 0.3.0 to 0.4.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.4.0'" to load this file. \quit

/* ---------------------------------------------------------------------
 * Claims
 * --------------------------------------------------------------------- */

/*
 * The worker claims per endpoint: for each endpoint that may send now
 * (enabled, not at its in-flight or rate limit, or due a probe while it
 * fails), the earliest due pending events, up to what that endpoint may
 * take.  An endpoint held back for any reason is simply not read, so its
 * backlog costs nothing and is never rewritten.  This index serves those
 * reads, the per-endpoint look-up of the next due time, and the release of
 * an endpoint's backlog; it replaces the single due-time index.  Events
 * parked at 'infinity' by earlier versions stay parked until
 * webhook.enable_endpoint() or webhook.resume() makes them due.
 */
CREATE INDEX event_claim_idx ON webhook.event (endpoint_id, next_attempt_at, id)
	WHERE state = 'pending';
DROP INDEX webhook.event_due_idx;
