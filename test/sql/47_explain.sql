-- webhook.explain_event(): an event's story, and why it is where it is.
-- No worker serves this database: each state is set up as the worker and
-- the operations leave it (UPDATEs, health rows, history rows), with ids
-- fixed and times relative to now(); times in the text are masked.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- the story with its times masked, and whether each row is in time order
CREATE FUNCTION pg_temp.story(id bigint)
RETURNS TABLE(step text, detail text, ordered boolean)
LANGUAGE sql AS $$
	SELECT s.step,
		   regexp_replace(regexp_replace(s.detail,
			   '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([A-Z]+|[+-]\d\d(:\d\d)?)', 'T', 'g'),
			   'msg_[0-9a-f]{32}', 'msg_X', 'g'),
		   s.at >= coalesce(lag(s.at) OVER (), '-infinity')
	FROM webhook.explain_event(id) s
$$;
CREATE FUNCTION pg_temp.story(webhook_id text)
RETURNS TABLE(step text, detail text)
LANGUAGE sql AS $$
	SELECT s.step,
		   regexp_replace(regexp_replace(s.detail,
			   '\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([A-Z]+|[+-]\d\d(:\d\d)?)', 'T', 'g'),
			   'msg_[0-9a-f]{32}', 'msg_X', 'g')
	FROM webhook.explain_event(webhook_id) s
$$;

SELECT webhook.create_endpoint('ex_plain', 'http://127.0.0.1:9/plain',
							   retry_schedule => '{5s,5min}') > 0 AS created,
	   webhook.create_endpoint('ex_paused', 'http://127.0.0.1:9/paused') > 0,
	   webhook.create_endpoint('ex_off', 'http://127.0.0.1:9/off') > 0,
	   webhook.create_endpoint('ex_failing', 'http://127.0.0.1:9/failing') > 0,
	   webhook.create_endpoint('ex_ordered', 'http://127.0.0.1:9/ordered') > 0,
	   webhook.create_endpoint('ex_limited', 'http://127.0.0.1:9/limited',
							   batch_max_events => 50) > 0;
SELECT webhook.set_delivery_policy('ex_ordered', ordering => 'key'),
	   webhook.set_delivery_policy('ex_limited', rate_limit => 10);

CREATE TABLE ex_orders (id int PRIMARY KEY, status text);
SELECT webhook.subscribe('ex_orders', 'ex_plain', name => 'ex_orders_plain') IS NOT NULL AS subscribed;
SELECT webhook.subscribe('ex_orders', 'ex_ordered', name => 'ex_orders_ordered') IS NOT NULL AS subscribed;

-- captured here, ids from 3000001 on: the insert of row 1 is 3000001 to
-- ex_ordered and 3000002 to ex_plain, its update 3000003 and 3000004
SELECT setval('webhook.event_id_seq', 3000000) IS NOT NULL AS reset;
INSERT INTO ex_orders VALUES (1, 'new');
UPDATE ex_orders SET status = 'paid' WHERE id = 1;
SELECT e.id, p.name, e.ordering_key FROM webhook.event e
JOIN webhook.endpoint p ON p.id = e.endpoint_id
WHERE e.id BETWEEN 3000001 AND 3000004 ORDER BY e.id;
-- captured a minute ago, so that the attempts below come after it
UPDATE webhook.event SET created_at = now() - interval '1 hour'
WHERE id BETWEEN 3000001 AND 3000004;

-- due now, never attempted, and no worker serves this database
SELECT * FROM pg_temp.story(3000001);

-- by its webhook-id: the same story
SELECT webhook.webhook_id(msg_id) AS wid FROM webhook.event WHERE id = 3000001 \gset
SELECT * FROM pg_temp.story(:'wid');
-- a string of digits is an event id
SELECT count(*) FROM pg_temp.story('3000001');

-- ordered by key: the update waits for the insert of the same row
SELECT * FROM pg_temp.story(3000003);
-- not once the endpoint no longer keeps an order
SELECT webhook.set_delivery_policy('ex_ordered', ordering => 'none');
SELECT step FROM pg_temp.story(3000003) WHERE step <> 'captured';
SELECT webhook.set_delivery_policy('ex_ordered', ordering => 'key');

-- attempted twice, waiting for its retry: the last of its schedule's three
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
							   endpoint_id, duration_us, attempt, status,
							   final, error, response)
SELECT e.id, e.created_at, now() - interval '10 min', e.msg_id, e.endpoint_id,
	   12000, 1, 500, false, NULL, 'internal error'
FROM webhook.event e WHERE e.id = 3000004
UNION ALL
SELECT e.id, e.created_at, now() - interval '5 min', e.msg_id, e.endpoint_id,
	   15000000, 2, NULL, false, 'Operation timed out after 15000 milliseconds', NULL
FROM webhook.event e WHERE e.id = 3000004;
UPDATE webhook.event SET attempts = 2, next_attempt_at = now() + interval '1 hour'
WHERE id = 3000004;
SELECT * FROM pg_temp.story(3000004);
-- one attempt earlier in its schedule, the next retry is named
UPDATE webhook.event SET attempts = 1 WHERE id = 3000004;
SELECT step, detail FROM pg_temp.story(3000004) WHERE step = 'waiting';
UPDATE webhook.event SET attempts = 2 WHERE id = 3000004;

-- then dead after its schedule ran out; webhook.retry() replays it
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
							   endpoint_id, duration_us, attempt, status,
							   final, error, response)
SELECT e.id, e.created_at, now() - interval '1 min', e.msg_id, e.endpoint_id,
	   9000, 3, 503, true, NULL, NULL
FROM webhook.event e WHERE e.id = 3000004;
UPDATE webhook.event SET attempts = 3, state = 'dead', finished_at = now()
WHERE id = 3000004;
SELECT * FROM pg_temp.story(3000004);

-- discarded by the operator: dead without a final attempt; and the update
-- of its row, which waited for it, is due now
SELECT webhook.discard(3000001);
SELECT step, detail FROM pg_temp.story(3000001) WHERE step <> 'captured';
SELECT step FROM pg_temp.story(3000003) WHERE step <> 'captured';

-- delivered, its row kept (webhook.payload_retention)
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
							   endpoint_id, duration_us, attempt, status,
							   final, error, response)
SELECT e.id, e.created_at, now() - interval '2 min', e.msg_id, e.endpoint_id,
	   4000, 1, 204, true, NULL, NULL
FROM webhook.event e WHERE e.id = 3000002;
UPDATE webhook.event SET attempts = 1, state = 'delivered', finished_at = now()
WHERE id = 3000002;
SELECT * FROM pg_temp.story(3000002);

-- delivered and removed from the outbox: the history tells of it, by id
-- and by webhook-id
SELECT webhook.webhook_id(msg_id) AS wid2 FROM webhook.event WHERE id = 3000002 \gset
DELETE FROM webhook.event WHERE id = 3000002;
SELECT * FROM pg_temp.story(3000002);
SELECT step FROM pg_temp.story(:'wid2');

-- a send_test() event on a paused endpoint, and on a disabled one
SELECT webhook.pause('ex_paused');
UPDATE webhook.endpoint SET enabled = false,
	disabled_reason = 'the receiver answered 410 Gone', disabled_at = now()
WHERE name = 'ex_off';
SELECT setval('webhook.event_id_seq', 3000100) IS NOT NULL AS reset;
SELECT webhook.send_test('ex_paused'), webhook.send_test('ex_off');
SELECT * FROM pg_temp.story(3000101);
SELECT * FROM pg_temp.story(3000102);

-- the circuit breaker holds a failing endpoint to one probe at a time
INSERT INTO webhook.endpoint_health (endpoint_id, consecutive_failures,
									 failing_since, last_failure_at,
									 last_error, probe_step, next_probe_at)
SELECT id, 7, now() - interval '2 hours', now() - interval '1 min',
	   'HTTP status 502', 2, now() + interval '20 min'
FROM webhook.endpoint WHERE name = 'ex_failing';
SELECT webhook.send_test('ex_failing');
SELECT step, detail FROM pg_temp.story(3000103) WHERE step <> 'captured';
-- only while it is down: a failure or two are the event's own
UPDATE webhook.endpoint_health SET consecutive_failures = 2, next_probe_at = NULL
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ex_failing');
SELECT step FROM pg_temp.story(3000103) WHERE step <> 'captured';

-- rate-limited and batching, behind two due events of its endpoint
SELECT webhook.send_test('ex_limited'), webhook.send_test('ex_limited'),
	   webhook.send_test('ex_limited');
SELECT step, detail FROM pg_temp.story(3000106) WHERE step <> 'captured';

-- the same as one text, a line a step
SELECT regexp_replace(regexp_replace(webhook.explain_event_text(3000106),
	'\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ([A-Z]+|[+-]\d\d(:\d\d)?)', 'T', 'g'),
	'msg_[0-9a-f]{32}', 'msg_X', 'g') AS story;
SELECT webhook.explain_event_text(3000106) =
	   webhook.explain_event_text(webhook.webhook_id(msg_id)) AS same
FROM webhook.event WHERE id = 3000106;

-- ids that are not there: never a bare error
SELECT * FROM pg_temp.story(3000200);
SELECT * FROM pg_temp.story(42);
SELECT * FROM pg_temp.story(NULL::bigint);
SELECT * FROM pg_temp.story('msg_00000000000000000000000000000000');
SELECT * FROM pg_temp.story('event 42');

-- a tenant sees its own events only: another tenant's reads as not found
CREATE ROLE ex_acme;
CREATE ROLE ex_globex;
SELECT webhook.grant_tenant('ex_acme', 'acme'), webhook.grant_tenant('ex_globex', 'globex');
SELECT webhook.create_endpoint('ex_acme_hook', 'http://127.0.0.1:9/acme',
							   tenant => 'acme') > 0 AS created,
	   webhook.create_endpoint('ex_globex_hook', 'http://127.0.0.1:9/globex',
							   tenant => 'globex') > 0;
SELECT setval('webhook.event_id_seq', 3000300) IS NOT NULL AS reset;
SELECT webhook.send_test('ex_acme_hook'), webhook.send_test('ex_globex_hook');
UPDATE webhook.event SET attempts = 1, next_attempt_at = now() + interval '1 hour'
WHERE id = 3000301;
SET ROLE ex_acme;
SELECT * FROM pg_temp.story(3000301);
SELECT * FROM pg_temp.story(3000302);
SELECT * FROM pg_temp.story(3000001);
-- word for word what an id that never was reads as
SELECT replace(o.detail, '3000302', 'N') = replace(m.detail, '3000299', 'N')
	   AS same_as_missing
FROM pg_temp.story(3000302) o, pg_temp.story(3000299) m;
RESET ROLE;
SET ROLE ex_globex;
SELECT step FROM pg_temp.story(3000302);
SELECT step FROM pg_temp.story(3000301);
RESET ROLE;

-- PUBLIC may not call it; the two roles may
SELECT has_function_privilege('public', 'webhook.explain_event(bigint)', 'EXECUTE') AS public_bigint,
	   has_function_privilege('public', 'webhook.explain_event(text)', 'EXECUTE') AS public_text,
	   has_function_privilege('webhook_admin', 'webhook.explain_event(bigint)', 'EXECUTE') AS admin,
	   has_function_privilege('webhook_tenant', 'webhook.explain_event(text)', 'EXECUTE') AS tenant;
SELECT p.prosecdef, p.proconfig FROM pg_proc p
WHERE p.oid = 'webhook.explain_event(bigint)'::regprocedure;

-- clean up
SELECT webhook.unsubscribe('ex_orders', 'ex_plain'), webhook.unsubscribe('ex_orders', 'ex_ordered');
DROP TABLE ex_orders;
DELETE FROM webhook.event WHERE id BETWEEN 3000000 AND 3000400;
SELECT webhook.revoke_tenant('ex_acme'), webhook.revoke_tenant('ex_globex');
SELECT webhook.drop_endpoint(n) FROM unnest(ARRAY['ex_plain', 'ex_paused',
	'ex_off', 'ex_failing', 'ex_ordered', 'ex_limited', 'ex_acme_hook',
	'ex_globex_hook']) n;
DROP ROLE ex_acme;
DROP ROLE ex_globex;
