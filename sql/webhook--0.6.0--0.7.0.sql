/* webhook--0.6.0--0.7.0.sql: update the webhook extension from 0.6.0 to 0.7.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.7.0'" to load this file. \quit

/*
 * Brings an installed 0.6.0 to what webhook--0.7.0.sql installs: events
 * keep the W3C trace context of the transaction that captured them;
 * counters in shared memory, an event's story told by explain_event(), and
 * the progress of long operations.  Only what differs is restated here;
 * webhook--0.7.0.sql is where the schema reads whole.
 */

/* ---------------------------------------------------------------------
 * Tables
 * --------------------------------------------------------------------- */

ALTER TABLE webhook.event ADD COLUMN traceparent text;

/* ---------------------------------------------------------------------
 * Statistics: counters kept in shared memory
 * --------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Explaining an event: where it is, and why
 * --------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Progress of long operations
 * --------------------------------------------------------------------- */

