-- Tenant privileges: tenant roles A and B play the attacker.  A cannot see,
-- change, replay, rotate, drop, disable or read the secrets, events,
-- messages, attempts or stats of B by any argument, setting or plain SQL;
-- cannot move its rows into B; cannot set what only the application may
-- (proxy, TLS, delivery settings, the operational flag); a role that is no
-- tenant gets nothing.  Each refusal is an error code or zero rows.
\set VERBOSITY sqlstate
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE ROLE tp_a;
CREATE ROLE tp_b;
CREATE ROLE tp_gateway IN ROLE webhook_tenant;
CREATE ROLE tp_nobody;
SELECT webhook.grant_tenant('tp_a', 'a'), webhook.grant_tenant('tp_b', 'b');

-- B's endpoint, with an event, a failed attempt, a shared payload, health
SELECT webhook.create_endpoint('b-hook', 'https://b.example.com/h',
	secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
	headers => '{"Authorization": "Bearer b-token"}', tenant => 'b') AS b_id \gset
SELECT webhook.create_endpoint('a-hook', 'https://a.example.com/h', tenant => 'a') AS a_id \gset
SELECT webhook.create_endpoint('app-hook', 'https://app.example.com/h') AS app_id \gset
SELECT webhook.send_test('b-hook') AS b_event \gset
SELECT webhook.send_test('a-hook') AS a_event \gset
INSERT INTO webhook.message (id, payload) VALUES (:b_event, '{"secret": "b-data"}');
UPDATE webhook.event SET message_id = :b_event, payload = NULL, state = 'dead',
	finished_at = now(), attempts = 1 WHERE id = :b_event;
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
	endpoint_id, duration_us, attempt, status, final, error, response)
SELECT id, created_at, now(), msg_id, endpoint_id, 10, 1, 500, true, NULL,
	   'b-response' FROM webhook.event WHERE id = :b_event;
-- A's own event shares a payload too (as one fanned out to several endpoints)
INSERT INTO webhook.message (id, payload) VALUES (:a_event, '{"type": "order.paid", "data": {"mine": "a-data"}}');
UPDATE webhook.event SET message_id = :a_event, payload = NULL, state = 'dead',
	finished_at = now(), attempts = 1 WHERE id = :a_event;
INSERT INTO webhook.endpoint_health (endpoint_id, consecutive_failures,
	failing_since, last_error)
VALUES (:b_id, 1, now(), 'b-error');

-- A, by every argument
SET ROLE tp_a;
SELECT webhook.current_tenant();
SELECT * FROM webhook.tenant_endpoints(tenant => 'b');
SELECT * FROM webhook.tenant_create_endpoint('a-2', 'https://a.example.com/2', tenant => 'b');
SELECT webhook.tenant_alter_endpoint('a-hook', description => 'x', tenant => 'b');
SELECT webhook.tenant_disable_endpoint('a-hook', tenant => 'b');
SELECT webhook.tenant_enable_endpoint('a-hook', tenant => 'b');
SELECT webhook.tenant_drop_endpoint('a-hook', tenant => 'b');
SELECT webhook.tenant_rotate_secret('a-hook', tenant => 'b');
SELECT webhook.tenant_endpoint_secret('a-hook', tenant => 'b');
SELECT * FROM webhook.tenant_deliveries(tenant => 'b');
SELECT * FROM webhook.tenant_attempts(tenant => 'b');
SELECT webhook.tenant_replay('-infinity', tenant => 'b');
SELECT webhook.tenant_send_test('a-hook', tenant => 'b');
SELECT * FROM webhook.tenant_endpoint_stats(tenant => 'b');
-- B's endpoint by name: as if it did not exist
SELECT webhook.tenant_alter_endpoint('b-hook', url => 'https://evil.example.com/');
SELECT webhook.tenant_disable_endpoint('b-hook');
SELECT webhook.tenant_enable_endpoint('b-hook');
SELECT webhook.tenant_drop_endpoint('b-hook', discard_pending => true);
SELECT webhook.tenant_rotate_secret('b-hook');
SELECT webhook.tenant_endpoint_secret('b-hook');
SELECT webhook.tenant_send_test('b-hook');
SELECT * FROM webhook.tenant_deliveries(endpoint => 'b-hook');
SELECT * FROM webhook.tenant_attempts(endpoint => 'b-hook');
SELECT webhook.tenant_replay('-infinity', endpoint => 'b-hook');
SELECT webhook.tenant_alter_endpoint('app-hook', url => 'https://evil.example.com/');
-- B's event ids
SELECT count(*) FROM webhook.tenant_attempts(event_id => :b_event);
SELECT count(*) FROM webhook.tenant_deliveries() WHERE event_id = :b_event;
-- what A sees is its own
SELECT name FROM webhook.tenant_endpoints();
SELECT name FROM webhook.tenant_endpoint_stats();
SELECT endpoint FROM webhook.tenant_deliveries();
-- its own fanned-out event: shown with its payload's type, and replayed
SELECT endpoint, type, state FROM webhook.tenant_deliveries();
SELECT webhook.tenant_replay('-infinity');
SELECT endpoint, state FROM webhook.tenant_deliveries();
-- a mapped role cannot SET its way to B
SET webhook.tenant = 'b';
SELECT webhook.current_tenant();
SELECT name FROM webhook.tenant_endpoints();
SELECT count(*) FROM webhook.endpoint WHERE tenant = 'b';
RESET webhook.tenant;
-- nor SET ROLE to the group role and SET its way from there
SET ROLE webhook_tenant;
SET webhook.tenant = 'b';
SELECT webhook.current_tenant() IS NULL AS no_tenant;
SELECT count(*) FROM webhook.endpoint;
SELECT * FROM webhook.tenant_endpoints();
RESET webhook.tenant;
SET ROLE tp_a;
-- plain SQL on every table: its own rows only
SELECT id = :a_id AS own FROM webhook.endpoint;
SELECT count(*) FROM webhook.endpoint WHERE id IN (:b_id, :app_id);
SELECT secret FROM webhook.endpoint WHERE name = 'b-hook';
SELECT count(*) FROM webhook.event WHERE id = :b_event OR endpoint_id = :b_id;
SELECT id = :a_event AS own FROM webhook.event;
SELECT id = :a_event AS own, payload::text FROM webhook.message;
SELECT count(*) FROM webhook.attempt;
SELECT count(*) FROM webhook.endpoint_health;
SELECT role, tenant FROM webhook.tenant_role;
SELECT * FROM webhook.endpoint;
SELECT proxy FROM webhook.endpoint;
SELECT client_key FROM webhook.endpoint;
SELECT * FROM webhook.attempt_0;
SELECT * FROM webhook.attempt_segment;
-- and on every view
SELECT * FROM webhook.endpoints;
SELECT * FROM webhook.events;
SELECT * FROM webhook.attempts;
SELECT * FROM webhook.endpoint_stats;
SELECT * FROM webhook.subscriptions;
-- a function in the query sees what the policies let through, no more
CREATE TEMP TABLE seen (n text);
CREATE FUNCTION pg_temp.peek(n text) RETURNS boolean LANGUAGE plpgsql
	AS $$ BEGIN INSERT INTO seen VALUES (n); RETURN true; END $$;
SELECT count(*) FROM webhook.endpoint e WHERE pg_temp.peek(e.name || e.secret);
SELECT count(*) FROM seen WHERE n NOT LIKE 'a-hook%';
DROP FUNCTION pg_temp.peek(text);
DROP TABLE seen;
-- writes to B's rows change nothing
WITH w AS (UPDATE webhook.endpoint SET url = 'https://evil.example.com/'
		   WHERE id = :b_id RETURNING 1) SELECT count(*) AS changed FROM w;
WITH w AS (UPDATE webhook.endpoint SET secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'
		   WHERE tenant = 'b' RETURNING 1) SELECT count(*) AS changed FROM w;
WITH w AS (DELETE FROM webhook.endpoint WHERE id IN (:b_id, :app_id) RETURNING 1)
SELECT count(*) AS deleted FROM w;
WITH w AS (UPDATE webhook.event SET state = 'pending' WHERE id = :b_event RETURNING 1)
SELECT count(*) AS changed FROM w;
WITH w AS (DELETE FROM webhook.event WHERE id = :b_event RETURNING 1)
SELECT count(*) AS deleted FROM w;
WITH w AS (UPDATE webhook.endpoint_health SET next_probe_at = now(),
		   consecutive_failures = 0 RETURNING 1) SELECT count(*) AS changed FROM w;
-- nor can A move its rows into B
UPDATE webhook.endpoint SET tenant = 'b' WHERE id = :a_id;
UPDATE webhook.endpoint SET tenant = NULL WHERE id = :a_id;
INSERT INTO webhook.endpoint (name, url, secret, tenant)
VALUES ('a-planted', 'https://a.example.com/p', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'b');
UPDATE webhook.event SET endpoint_id = :b_id WHERE id = :a_event;
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload)
VALUES (:b_id, gen_random_uuid(), now(), now(), '{}');
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, message_id)
VALUES (:a_id, gen_random_uuid(), now(), now(), :b_event);
-- nor set what only the application may
UPDATE webhook.endpoint SET proxy = 'http://evil.example.com:3128' WHERE id = :a_id;
UPDATE webhook.endpoint SET tls_insecure = true WHERE id = :a_id;
UPDATE webhook.endpoint SET ca_bundle = 'x' WHERE id = :a_id;
UPDATE webhook.endpoint SET client_cert = 'x', client_key = 'y' WHERE id = :a_id;
UPDATE webhook.endpoint SET operational = true WHERE id = :a_id;
UPDATE webhook.endpoint SET retry_schedule = '{1s}', timeout = '5min' WHERE id = :a_id;
UPDATE webhook.endpoint SET max_in_flight = 512 WHERE id = :a_id;
UPDATE webhook.endpoint SET rate_limit = 100000, failure_threshold = 1 WHERE id = :a_id;
UPDATE webhook.endpoint SET batch_max_events = 1000, ordering = 'key' WHERE id = :a_id;
INSERT INTO webhook.endpoint (name, url, secret, tenant, tls_insecure)
VALUES ('a-insecure', 'https://a.example.com/i', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'a', true);
INSERT INTO webhook.endpoint (name, url, secret, tenant, operational)
VALUES ('a-ops', 'https://a.example.com/o', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'a', true);
-- its direct writes are checked as the functions check them
INSERT INTO webhook.endpoint (name, url, secret, tenant)
VALUES ('a-weak', 'https://a.example.com/w', 'short', 'a');
INSERT INTO webhook.endpoint (name, url, secret, headers, tenant)
VALUES ('a-hdr', 'https://a.example.com/w', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
		'{"webhook-signature": "v1,forged"}', 'a');
INSERT INTO webhook.endpoint (name, url, secret, tenant)
VALUES ('a-ftp', 'ftp://a.example.com/w', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'a');
UPDATE webhook.endpoint SET event_types = '{"bad type"}' WHERE id = :a_id;
UPDATE webhook.endpoint SET name = repeat('n', 64) WHERE id = :a_id;
INSERT INTO webhook.endpoint (name, url, secret, tenant)
VALUES ('a-direct', 'https://a.example.com/d', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'a');
-- nor the admin's functions, the mapping, or the sequences
SELECT webhook.create_endpoint('a-x', 'https://a.example.com/x', proxy => 'http://p:3128', tenant => 'a');
SELECT webhook.alter_endpoint('a-hook', tls_insecure => true);
SELECT webhook.endpoint_secret('b-hook');
SELECT webhook.rotate_secret('b-hook');
SELECT webhook.replay('b-hook', '-infinity');
SELECT webhook.retry(:b_event);
SELECT webhook.send_test('b-hook');
SELECT webhook.drop_endpoint('b-hook');
SELECT webhook.grant_tenant('tp_a', 'b');
SELECT webhook.revoke_tenant('tp_b');
SELECT webhook.create_event_type('a.type');
UPDATE webhook.tenant_role SET tenant = 'b';
INSERT INTO webhook.tenant_role VALUES ('tp_a', 'b');
DELETE FROM webhook.tenant_role;
SELECT setval('webhook.event_id_seq', 1);
RESET ROLE;

-- B's rows are as they were
SELECT name, url, secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' AS secret_kept,
	   tenant, enabled, tls_insecure, proxy IS NULL AS no_proxy
FROM webhook.endpoint WHERE name IN ('a-hook', 'b-hook', 'app-hook', 'a-direct')
ORDER BY id;
SELECT id = :b_event AS b_event, state, endpoint_id = :b_id AS b_endpoint
FROM webhook.event WHERE endpoint_id <> :a_id;
SELECT consecutive_failures, next_probe_at IS NULL AS untouched
FROM webhook.endpoint_health WHERE endpoint_id = :b_id;
SELECT role, tenant FROM webhook.tenant_role ORDER BY role;

-- a connection the application controls sees the tenant it sets, only
SET ROLE tp_gateway;
SELECT count(*) FROM webhook.endpoint;
SELECT count(*) FROM webhook.event;
SELECT * FROM webhook.tenant_endpoints();
SET webhook.tenant = 'a';
SELECT name FROM webhook.tenant_endpoints();
SELECT name FROM webhook.tenant_endpoints(tenant => 'b');
SELECT count(*) FROM webhook.endpoint WHERE tenant <> 'a';
RESET webhook.tenant;
RESET ROLE;

-- a role that is no tenant gets nothing
SET ROLE tp_nobody;
SELECT webhook.current_tenant();
SELECT * FROM webhook.tenant_endpoints(tenant => 'a');
SELECT * FROM webhook.tenant_create_endpoint('n', 'https://n.example.com/', tenant => 'a');
SELECT webhook.tenant_endpoint_secret('a-hook', tenant => 'a');
SELECT webhook.tenant_replay('-infinity', tenant => 'a');
SELECT * FROM webhook.tenant_deliveries(tenant => 'a');
SELECT * FROM webhook.tenant_attempts(tenant => 'a');
SELECT * FROM webhook.tenant_endpoint_stats(tenant => 'a');
SELECT * FROM webhook.endpoint;
SELECT count(*) FROM webhook.event;
SELECT count(*) FROM webhook.tenant_role;
SELECT count(*) FROM webhook.event_types;
RESET ROLE;

-- a webhook_admin sees every row, as before
SELECT (SELECT count(*) FROM webhook.endpoint) AS n_endpoint,
	   (SELECT count(*) FROM webhook.event) AS n_event,
	   (SELECT count(*) FROM webhook.attempt) AS n_attempt,
	   (SELECT count(*) FROM webhook.message) AS n_message,
	   (SELECT count(*) FROM webhook.endpoint_health) AS n_health,
	   (SELECT count(*) FROM webhook.tenant_role) AS n_role \gset
CREATE ROLE tp_admin IN ROLE webhook_admin;
SET ROLE tp_admin;
SELECT (SELECT count(*) FROM webhook.endpoint) = :n_endpoint AS endpoints,
	   (SELECT count(*) FROM webhook.endpoints) = :n_endpoint AS view,
	   (SELECT count(*) FROM webhook.event) = :n_event AS events,
	   (SELECT count(*) FROM webhook.attempt) = :n_attempt AS attempts,
	   (SELECT count(*) FROM webhook.message) = :n_message AS messages,
	   (SELECT count(*) FROM webhook.endpoint_health) = :n_health AS health,
	   (SELECT count(*) FROM webhook.tenant_role) = :n_role AS roles,
	   :n_role >= 2 AND :n_message >= 1 AS counted;
RESET ROLE;

-- cleanup
SELECT webhook.drop_endpoint(name, discard_pending => true)
FROM webhook.endpoint WHERE name IN ('a-hook', 'b-hook', 'app-hook', 'a-direct')
ORDER BY id;
DELETE FROM webhook.message WHERE id = :b_event;
SELECT webhook.revoke_tenant('tp_a'), webhook.revoke_tenant('tp_b');
DROP ROLE tp_a, tp_b, tp_gateway, tp_nobody, tp_admin;
