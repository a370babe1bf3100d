-- webhook.endpoint_stats against a known history, written directly with
-- timestamps relative to one transaction's now(), so every figure is exact
SET client_min_messages = warning;
SELECT webhook.create_endpoint('stats', 'http://127.0.0.1:9/stats') > 0 AS created;
SELECT webhook.create_endpoint('quiet', 'http://127.0.0.1:9/quiet') > 0 AS created;

BEGIN;
CREATE TEMP TABLE hist (n int, state webhook.event_state, created interval,
						finished interval, attempts interval[][]);
-- attempts: {started after creation, duration, status as seconds (0: no
-- response)}
INSERT INTO hist VALUES
	(1, 'delivered', '30 min', '29 min', '{{1s,100ms,200}}'),
	(2, 'delivered', '20 min', '19 min', '{{1s,200ms,500},{10s,300ms,204}}'),
	(3, 'delivered', '3 hours', '3 hours', '{{1s,5s,200}}'),
	(4, 'dead', '50 min', '40 min', '{{1s,1s,0},{2s,1s,0}}'),
	(5, 'pending', '10 min', NULL, '{{1min,500ms,503}}'),
	(6, 'pending', '5 min', NULL, NULL),
	(7, 'delivered', '3 min', '2 min', '{{500ms,50ms,200}}');

INSERT INTO webhook.event (id, endpoint_id, msg_id, state, attempts,
						   created_at, next_attempt_at, finished_at, payload)
SELECT 1000000 + h.n, e.id, gen_random_uuid(), h.state,
	   coalesce(array_length(h.attempts, 1), 0),
	   now() - h.created, now() + interval '1 hour', now() - h.finished, '{}'
FROM hist h, webhook.endpoint e WHERE e.name = 'stats';
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
							   endpoint_id, duration_us, attempt, status,
							   final, error)
SELECT ev.id, ev.created_at, ev.created_at + h.attempts[i][1], ev.msg_id,
	   ev.endpoint_id, (extract(epoch FROM h.attempts[i][2]) * 1000000)::int,
	   i, nullif(extract(epoch FROM h.attempts[i][3])::int, 0)::smallint,
	   i = ev.attempts AND h.state <> 'pending',
	   CASE WHEN extract(epoch FROM h.attempts[i][3]) = 0
			THEN 'Operation timed out' END
FROM hist h JOIN webhook.event ev ON ev.id = 1000000 + h.n,
	 generate_subscripts(h.attempts, 1) i;
INSERT INTO webhook.endpoint_health (endpoint_id, consecutive_failures,
	failing_since, last_failure_at, last_error)
SELECT e.id, 1, now() - interval '9 min', now() - interval '9 min',
	   'HTTP status 503'
FROM webhook.endpoint e WHERE e.name = 'stats';

SELECT name, state, pending, oldest_pending_age, delivered_last_hour,
	   dead_last_hour, failed_attempts_last_hour
FROM webhook.endpoint_stats WHERE name IN ('stats', 'quiet') ORDER BY name;
SELECT delivery_p50, delivery_p95, delivery_p99,
	   attempt_p50, attempt_p95, attempt_p99
FROM webhook.endpoint_stats WHERE name = 'stats';
SELECT consecutive_failures, now() - failing_since AS failing_for, last_error
FROM webhook.endpoint_stats WHERE name = 'stats';
ROLLBACK;

-- the states
BEGIN;
SELECT webhook.pause('quiet');
SELECT name, state FROM webhook.endpoint_stats WHERE name = 'quiet';
UPDATE webhook.endpoint SET paused = false, disabled_reason = 'broken' WHERE name = 'quiet';
SELECT name, state, disabled_reason FROM webhook.endpoint_stats WHERE name = 'quiet';
ROLLBACK;

-- the per-event view shows state and attempts
SELECT count(*) > 0 AS has_columns FROM information_schema.columns
WHERE table_schema = 'webhook' AND table_name = 'events'
  AND column_name IN ('state', 'attempts');

SELECT webhook.drop_endpoint('stats');
SELECT webhook.drop_endpoint('quiet');

-- the endpoint listing shows the delivery policy; nothing new is PUBLIC's
SELECT webhook.create_endpoint('listed', 'http://127.0.0.1:9/l') > 0 AS created;
SELECT webhook.set_delivery_policy('listed', failure_threshold => 7, rate_limit => 3);
SELECT name, paused, failure_threshold, failure_window, rate_limit
FROM webhook.endpoints WHERE name = 'listed';
SELECT p.oid::regprocedure AS public_function
FROM pg_proc p
WHERE p.pronamespace = 'webhook'::regnamespace
  AND has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY 1;
SELECT webhook.drop_endpoint('listed');
