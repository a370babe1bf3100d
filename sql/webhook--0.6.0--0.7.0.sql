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

/*
 * The counters kept in shared memory (see src/observe/stats.c): one row
 * per endpoint of this database that has any, and one (endpoint NULL)
 * summing the endpoints beyond "webhook.stats_max_endpoints" when there
 * are some.  Counters count since stats_reset; backlog, oldest_due_seconds
 * and breaker are gauges.  attempts_other counts the attempts that got no
 * class above: a 1xx or other unusual status, a TLS error, an event whose
 * body or endpoint could not be used.  The histograms are cumulative, as
 * Prometheus has them: bucket[i] counts the observations of at most le[i]
 * seconds, count all of them.  Reads no table but webhook.endpoint, for
 * names and tenants; SECURITY DEFINER so that monitoring roles need no
 * privilege on it.
 */
CREATE FUNCTION webhook.stats(
	OUT database name, OUT endpoint text, OUT tenant text,
	OUT captured bigint,
	OUT attempts_2xx bigint, OUT attempts_3xx bigint,
	OUT attempts_4xx bigint, OUT attempts_5xx bigint,
	OUT attempts_timeout bigint, OUT attempts_connection_error bigint,
	OUT attempts_refused bigint, OUT attempts_other bigint,
	OUT delivered bigint, OUT dead bigint, OUT retried bigint,
	OUT bytes_sent bigint,
	OUT backlog bigint, OUT oldest_due_seconds double precision,
	OUT breaker text,
	OUT attempt_seconds_le double precision[],
	OUT attempt_seconds_bucket bigint[],
	OUT attempt_seconds_sum double precision,
	OUT attempt_seconds_count bigint,
	OUT latency_seconds_le double precision[],
	OUT latency_seconds_bucket bigint[],
	OUT latency_seconds_sum double precision,
	OUT latency_seconds_count bigint,
	OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'webhook_stats';

COMMENT ON FUNCTION webhook.stats() IS
'Delivery statistics per endpoint, kept in shared memory: events captured, attempts by outcome, deliveries, dead letters, retries, bytes sent, backlog, age of the oldest due event, breaker state, and histograms of attempt duration and of latency from capture to delivery';

REVOKE ALL ON FUNCTION webhook.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.stats() TO webhook_admin, pg_monitor;

/*
 * Clear this database's counters (the gauges stay), or one endpoint's.
 */
CREATE FUNCTION webhook.stats_reset(endpoint text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'webhook_stats_reset';

COMMENT ON FUNCTION webhook.stats_reset(text) IS
'Clear the statistics counters of this database, or of one endpoint';

REVOKE ALL ON FUNCTION webhook.stats_reset(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.stats_reset(text) TO webhook_admin;

/* ---------------------------------------------------------------------
 * Explaining an event: where it is, and why
 * --------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Progress of long operations
 * --------------------------------------------------------------------- */

