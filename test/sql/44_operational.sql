-- Operational events: what an operational endpoint is sent about the
-- others, written by the triggers of the endpoint, health and outbox
-- tables whoever makes the change.  No worker serves this database, so the
-- events stay where the triggers put them; health rows are written here as
-- the worker writes them.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- what the operational endpoints were sent: the body as it goes out, the
-- times and ids (which vary) left out of "data" but checked to be there
CREATE TEMP VIEW sent AS
SELECT o.name AS receiver, b ->> 'type' AS type,
	   (b -> 'data') - '{url,endpoint_id,disabled_at,failing_since,last_failure_at,failing_reported_at,recovered_at,event_id,webhook_id}'::text[]
		   AS data,
	   x.raw::text ~ '^\{"type":"[a-z.]+","timestamp":"[0-9T:.-]+Z","data":\{'
		   AS standard,
	   (b -> 'data' ->> 'endpoint_id')::int = s.id
		   AND b -> 'data' ->> 'url' = s.url AS names_subject
FROM webhook.event ev
JOIN webhook.endpoint o ON o.id = ev.endpoint_id AND o.operational
CROSS JOIN LATERAL webhook._event_body(ev.payload, ev.created_at) AS x(raw)
CROSS JOIN LATERAL CAST(x.raw AS jsonb) AS y(b)
LEFT JOIN webhook.endpoint s ON s.name = b -> 'data' ->> 'endpoint'
ORDER BY ev.id, o.name;

SELECT webhook.create_endpoint('op_shop', 'http://127.0.0.1:9/acme',
	tenant => 'acme') > 0 AS created;
SELECT webhook.create_endpoint('op_plain', 'http://127.0.0.1:9/plain') > 0
	AS created;

CREATE TEMP VIEW mine AS
SELECT id FROM webhook.endpoint WHERE name LIKE 'op\_%';

-- no operational endpoint: nothing is written for any change
SELECT count(*) AS operational FROM webhook.endpoint WHERE operational;
SELECT count(*) AS n_before FROM webhook.event \gset
UPDATE webhook.endpoint SET enabled = false, disabled_reason = 'maintenance',
	disabled_at = now() WHERE name = 'op_shop';
SELECT webhook.enable_endpoint('op_shop');
INSERT INTO webhook.endpoint_health (endpoint_id, consecutive_failures,
	failing_since, last_error, next_probe_at)
SELECT id, 5, now(), 'HTTP status 500', now() FROM webhook.endpoint
WHERE name = 'op_plain';
UPDATE webhook.endpoint_health SET consecutive_failures = 0,
	failing_since = NULL, next_probe_at = NULL, last_success_at = now()
WHERE endpoint_id IN (SELECT id FROM mine);
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at,
						   payload)
SELECT id, gen_random_uuid(), now(), now(), '{"type":"x","data":{}}'
FROM webhook.endpoint WHERE name = 'op_shop';
UPDATE webhook.event SET state = 'dead', attempts = 1 WHERE endpoint_id IN (SELECT id FROM mine);
-- the one event written here, and nothing else
SELECT count(*) - :n_before AS events FROM webhook.event;
DELETE FROM webhook.endpoint_health WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);

-- two operational endpoints, one taking endpoint events only
SELECT webhook.create_endpoint('op_ops', 'http://127.0.0.1:9/ops',
	operational => true) > 0 AS created;
SELECT webhook.create_endpoint('op_ops_ep', 'http://127.0.0.1:9/ops_ep',
	operational => true, event_types => '{endpoint.*}') > 0 AS created;
SELECT name, tenant, operational FROM webhook.endpoints
WHERE id IN (SELECT id FROM mine) ORDER BY id;

-- disabled by an UPDATE, enabled again: one event each per operational
-- endpoint, with one webhook-id, the tenant and the reason in "data"
UPDATE webhook.endpoint SET enabled = false, disabled_reason = 'maintenance',
	disabled_at = now() WHERE name = 'op_shop';
SELECT * FROM sent;
SELECT count(DISTINCT msg_id) AS webhook_ids,
	   bool_and(next_attempt_at <= clock_timestamp()) AS due
FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT webhook._event_body(payload, created_at)::jsonb -> 'data' ->> 'disabled_at'
	= (SELECT to_jsonb(disabled_at) ->> 0 FROM webhook.endpoint WHERE name = 'op_shop')
	AS disabled_at_sent
FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine) LIMIT 1;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT webhook.enable_endpoint('op_shop');
SELECT * FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);

-- enabling an enabled endpoint, or changing anything else, says nothing
SELECT webhook.enable_endpoint('op_shop');
SELECT webhook.alter_endpoint('op_shop', description => 'the acme shop');
SELECT count(*) AS events FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);

-- paused and resumed
SELECT webhook.pause('op_plain');
SELECT webhook.resume('op_plain');
SELECT * FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);

-- a receiver that answers 410 Gone: the worker's own statement
UPDATE webhook.endpoint SET enabled = false,
	disabled_reason = 'the receiver answered 410 Gone', disabled_at = now()
WHERE id = ANY (ARRAY[(SELECT id FROM webhook.endpoint WHERE name = 'op_shop')])
  AND enabled;
SELECT * FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT webhook.enable_endpoint('op_shop');
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);

-- failing: the health row, as the worker writes it, comes to say the
-- endpoint is down (a next probe, three failures in a row or more)
CREATE FUNCTION pg_temp.health(ep text, failures int, error text,
							   success boolean, probing boolean)
RETURNS void LANGUAGE sql AS $$
	INSERT INTO webhook.endpoint_health AS h
		(endpoint_id, consecutive_failures, failing_since, last_failure_at,
		 last_error, last_success_at, probe_step, next_probe_at)
	SELECT e.id, failures,
		   CASE WHEN failures > 0 THEN now() - interval '1 min' END,
		   CASE WHEN failures > 0 THEN now() END,
		   error, CASE WHEN success THEN clock_timestamp() END,
		   0, CASE WHEN probing THEN now() + interval '5 s' END
	FROM webhook.endpoint e WHERE e.name = ep
	ON CONFLICT (endpoint_id) DO UPDATE SET
		consecutive_failures = excluded.consecutive_failures,
		failing_since = excluded.failing_since,
		last_failure_at = coalesce(excluded.last_failure_at, h.last_failure_at),
		last_error = coalesce(excluded.last_error, h.last_error),
		last_success_at = coalesce(excluded.last_success_at, h.last_success_at),
		probe_step = excluded.probe_step,
		next_probe_at = excluded.next_probe_at
$$;
SELECT pg_temp.health('op_shop', 1, 'HTTP status 500', false, false);
SELECT pg_temp.health('op_shop', 2, 'HTTP status 500', false, false);
SELECT count(*) AS events FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT pg_temp.health('op_shop', 3, 'HTTP status 500', false, true);
SELECT * FROM sent;
SELECT failing_reported_at IS NOT NULL AS reported FROM webhook.endpoint_health
WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
-- once per failing period: more failures, a tripped breaker and an
-- operator's reset do not send it again
SELECT pg_temp.health('op_shop', 4, 'could not connect', false, true);
SELECT count(*) AS events FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
UPDATE webhook.endpoint SET enabled = false,
	disabled_reason = '4 consecutive attempts failed', disabled_at = now()
WHERE name = 'op_shop';
SELECT webhook.enable_endpoint('op_shop');
SELECT type FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT pg_temp.health('op_shop', 5, 'could not connect', false, true);
SELECT count(*) AS events FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
-- the first success ends it, and only the first
SELECT pg_temp.health('op_shop', 0, NULL, true, false);
SELECT * FROM sent;
SELECT failing_reported_at IS NULL AS period_over FROM webhook.endpoint_health
WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT pg_temp.health('op_shop', 0, NULL, true, false);
SELECT count(*) AS events FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
-- a failing endpoint's first health row may already say it is down
SELECT pg_temp.health('op_plain', 7, 'timed out', false, true);
SELECT * FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.endpoint_health WHERE endpoint_id IN (SELECT id FROM mine);

-- an event the worker gives up on after its last retry
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at,
						   payload, attempts)
SELECT id, 'a81b4b4c-6b2e-4d4a-9a53-6a4bd5ab1c0e', now(), now(),
	   '{"type":"order.paid","data":{"id":1}}', 2
FROM webhook.endpoint WHERE name = 'op_shop';
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
	endpoint_id, duration_us, attempt, status, final, error, response)
SELECT id, created_at, now(), msg_id, endpoint_id, 1000, 3, 500, true,
	   NULL, 'oops'
FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
UPDATE webhook.event SET state = 'dead', attempts = 3,
	finished_at = clock_timestamp()
WHERE endpoint_id IN (SELECT id FROM mine);
SELECT * FROM sent;
SELECT b -> 'data' ->> 'webhook_id' = webhook.webhook_id(
		   'a81b4b4c-6b2e-4d4a-9a53-6a4bd5ab1c0e') AS same_webhook_id,
	   (b -> 'data' ->> 'event_id')::bigint = (SELECT min(id) FROM webhook.event
														WHERE endpoint_id IN (SELECT id FROM mine))
		   AS same_event
FROM webhook.event ev
CROSS JOIN LATERAL (SELECT webhook._event_body(ev.payload, ev.created_at)::jsonb) AS x(b)
WHERE ev.endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'op_ops');
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.attempt_0 WHERE endpoint_id IN (SELECT id FROM mine);

-- one whose payload is shared, dead after an error without a response,
-- and one discarded by the operator (nothing)
INSERT INTO webhook.message (id, payload)
VALUES (4400000001, '{"data":{"op":"INSERT","schema":"public","table":"orders","new":{"id":2}}}');
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at,
						   message_id)
SELECT id, gen_random_uuid(), now(), now(), 4400000001
FROM webhook.endpoint WHERE name IN ('op_shop', 'op_plain');
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
	endpoint_id, duration_us, attempt, status, final, error, response)
SELECT id, created_at, now(), msg_id, endpoint_id, 1000, 1, NULL, true,
	   'could not connect', NULL
FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
UPDATE webhook.event SET state = 'dead', attempts = 1
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'op_shop');
SELECT webhook.discard(endpoint => 'op_plain');
SELECT * FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.message WHERE id = 4400000001;
DELETE FROM webhook.attempt_0 WHERE endpoint_id IN (SELECT id FROM mine);

-- nothing about an operational endpoint itself: disabled, failing, or
-- its own events dead
UPDATE webhook.endpoint SET enabled = false WHERE name = 'op_ops';
SELECT webhook.enable_endpoint('op_ops');
SELECT pg_temp.health('op_ops', 3, 'HTTP status 500', false, true);
SELECT pg_temp.health('op_ops', 0, NULL, true, false);
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at,
						   payload)
SELECT id, gen_random_uuid(), now(), now(), '{"type":"x","data":{}}'
FROM webhook.endpoint WHERE name = 'op_ops';
UPDATE webhook.event SET state = 'dead', attempts = 1 WHERE endpoint_id IN (SELECT id FROM mine);
SELECT count(*) AS events FROM webhook.event
WHERE endpoint_id IN (SELECT id FROM mine) AND state = 'pending';
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
DELETE FROM webhook.endpoint_health WHERE endpoint_id IN (SELECT id FROM mine);

-- a disabled operational endpoint is sent nothing
SELECT webhook.pause('op_ops');
SELECT webhook.pause('op_shop');
SELECT * FROM sent;
SELECT webhook.resume('op_ops');
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);

-- the change may be made by a role that cannot write the operational
-- endpoints' events: a tenant enabling its own endpoint
CREATE ROLE wh_op_caller;
SELECT webhook.grant_tenant('wh_op_caller', 'acme');
SELECT id AS ops_id FROM webhook.endpoint WHERE name = 'op_ops' \gset
SET ROLE wh_op_caller;
UPDATE webhook.endpoint SET enabled = true, paused = false WHERE name = 'op_shop';
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at)
VALUES (:ops_id, gen_random_uuid(), now(), now());
RESET ROLE;
SELECT * FROM sent;
DELETE FROM webhook.event WHERE endpoint_id IN (SELECT id FROM mine);
SELECT webhook.revoke_tenant('wh_op_caller');
DROP OWNED BY wh_op_caller;
DROP ROLE wh_op_caller;

SELECT webhook.drop_endpoint('op_shop');
SELECT webhook.drop_endpoint('op_plain');
SELECT webhook.drop_endpoint('op_ops');
SELECT webhook.drop_endpoint('op_ops_ep');
