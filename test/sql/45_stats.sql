-- Statistics kept in shared memory: webhook.stats() and webhook.stats_reset().
-- No worker serves this database, so only what the capture counts moves:
-- committed events, per endpoint, nothing for a rolled-back change.
SET client_min_messages = warning;
\set VERBOSITY sqlstate
\set SHOW_CONTEXT never

-- the shape: its columns, in order, and their types
SELECT p.proname, pg_catalog.pg_get_function_result(p.oid) AS result,
	   pg_catalog.pg_get_function_arguments(p.oid) AS arguments
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'webhook'::regnamespace
  AND p.proname IN ('stats', 'stats_reset')
ORDER BY p.proname;

SELECT webhook.create_endpoint('st_a', 'http://127.0.0.1:9/a') > 0 AS created;
SELECT webhook.create_endpoint('st_b', 'http://127.0.0.1:9/b',
	tenant => 'acme') > 0 AS created;
CREATE TABLE st_orders (id int PRIMARY KEY, v text);
SELECT webhook.subscribe('st_orders', 'st_a') IS NOT NULL AS subscribed;
SELECT webhook.stats_reset();

CREATE TEMP VIEW st AS
SELECT endpoint, tenant, captured, attempts_2xx + attempts_3xx + attempts_4xx +
	   attempts_5xx + attempts_timeout + attempts_connection_error +
	   attempts_refused + attempts_other AS attempts, delivered, dead,
	   retried, bytes_sent, backlog, oldest_due_seconds, breaker,
	   attempt_seconds_count, latency_seconds_count,
	   database = current_database() AS this_database,
	   stats_reset <= now() AS reset_known
FROM webhook.stats() WHERE endpoint LIKE 'st\_%' OR endpoint IS NULL
ORDER BY endpoint;

-- committed events count; a rolled-back insert counts nothing, and neither
-- does a rolled-back savepoint
INSERT INTO st_orders VALUES (1, 'a'), (2, 'b');
BEGIN;
INSERT INTO st_orders VALUES (3, 'c');
ROLLBACK;
BEGIN;
INSERT INTO st_orders VALUES (4, 'd');
SAVEPOINT s;
INSERT INTO st_orders VALUES (5, 'e');
UPDATE st_orders SET v = 'x' WHERE id = 1;
ROLLBACK TO SAVEPOINT s;
INSERT INTO st_orders VALUES (6, 'f');
COMMIT;
SELECT * FROM st;
SELECT count(*) AS events FROM webhook.event ev
JOIN webhook.endpoint e ON e.id = ev.endpoint_id WHERE e.name = 'st_a';

-- an event sent to two endpoints (one payload) counts once for each
SELECT webhook.subscribe('st_orders', 'st_b') IS NOT NULL AS subscribed;
INSERT INTO st_orders VALUES (7, 'g');
SELECT endpoint, tenant, captured, backlog FROM st;

-- with track_stats off, nothing is counted
SET webhook.track_stats = off;
INSERT INTO st_orders VALUES (8, 'h');
RESET webhook.track_stats;
SELECT endpoint, captured FROM st;

-- the histograms: finite ascending bounds, a cumulative count per bound
SELECT array_length(attempt_seconds_le, 1) = array_length(attempt_seconds_bucket, 1)
		   AS attempt_shape,
	   attempt_seconds_le[1] AS attempt_first, attempt_seconds_le[array_upper(attempt_seconds_le, 1)] AS attempt_last,
	   array_length(latency_seconds_le, 1) = array_length(latency_seconds_bucket, 1)
		   AS latency_shape,
	   latency_seconds_le[1] AS latency_first, latency_seconds_le[array_upper(latency_seconds_le, 1)] AS latency_last,
	   attempt_seconds_le = (SELECT array_agg(x ORDER BY x) FROM unnest(attempt_seconds_le) x) AS ascending
FROM webhook.stats() WHERE endpoint = 'st_a';

-- resetting one endpoint, then all; the backlog is a gauge and stays
SELECT webhook.stats_reset('st_b');
SELECT endpoint, captured, backlog FROM st;
SELECT webhook.stats_reset('st_nosuch');
SELECT stats_reset AS before_reset FROM webhook.stats() LIMIT 1 \gset
SELECT webhook.stats_reset();
SELECT endpoint, captured, backlog FROM st;
SELECT bool_and(stats_reset > :'before_reset') AS reset_moved FROM webhook.stats();

-- privileges: a plain role is refused both; pg_monitor reads, and
-- webhook_admin reads and resets
CREATE ROLE st_plain;
CREATE ROLE st_monitor IN ROLE pg_monitor;
CREATE ROLE st_admin IN ROLE webhook_admin;
SET ROLE st_plain;
SELECT count(*) FROM webhook.stats();
SELECT webhook.stats_reset();
SELECT count(*) FROM webhook.endpoint_status();
SET webhook.track_stats = off;
RESET ROLE;
SET ROLE st_monitor;
SELECT count(*) > 0 AS monitor_reads FROM webhook.stats();
-- each endpoint's state, but not its URL
SELECT * FROM webhook.endpoint_status() WHERE endpoint LIKE 'st\_%' ORDER BY 1;
SELECT count(*) FROM webhook.endpoints;
SELECT webhook.stats_reset();
RESET ROLE;
SET ROLE st_admin;
SELECT count(*) > 0 AS admin_reads FROM webhook.stats();
SELECT webhook.stats_reset('st_a');
RESET ROLE;

-- the settings: the limit is fixed at server start, bad values refused
SET webhook.stats_max_endpoints = 10;
SET webhook.track_stats = maybe;
SHOW webhook.stats_max_endpoints;

SELECT webhook.unsubscribe('st_orders', 'st_a');
SELECT webhook.unsubscribe('st_orders', 'st_b');
DROP TABLE st_orders;
DELETE FROM webhook.event WHERE endpoint_id IN
	(SELECT id FROM webhook.endpoint WHERE name LIKE 'st\_%');
SELECT webhook.drop_endpoint('st_a');
SELECT webhook.drop_endpoint('st_b');
DROP ROLE st_plain;
DROP ROLE st_monitor;
DROP ROLE st_admin;
