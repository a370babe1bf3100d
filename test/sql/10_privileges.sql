-- Privileges: webhook_admin manages, webhook_user subscribes its own tables,
-- everyone else gets SQLSTATE 42501 and learns no secret.
\set VERBOSITY sqlstate
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- the extension made both roles, and they cannot log in
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles
WHERE rolname IN ('webhook_admin', 'webhook_user') ORDER BY 1;

CREATE ROLE wh_admin IN ROLE webhook_admin;
CREATE ROLE wh_owner IN ROLE webhook_user;
CREATE ROLE wh_writer;
CREATE ROLE wh_nobody;
CREATE SCHEMA own AUTHORIZATION wh_owner;
CREATE SCHEMA evil AUTHORIZATION wh_owner;
GRANT USAGE ON SCHEMA own TO wh_writer;
CREATE TABLE su_table (id int PRIMARY KEY);
GRANT SELECT, INSERT ON su_table TO wh_owner, wh_nobody;

SELECT webhook.create_endpoint('priv', 'https://priv.example.com/h',
	secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
	headers => '{"Authorization": "Bearer sekrit-token"}') > 0 AS created;

-- PUBLIC: nothing on the tables, views and management functions
SET ROLE wh_nobody;
SELECT * FROM webhook.endpoint;
SELECT secret FROM webhook.endpoint;
SELECT * FROM webhook.endpoints;
SELECT * FROM webhook.events;
SELECT * FROM webhook.attempts;
SELECT * FROM webhook.event;
SELECT * FROM webhook.attempt;
SELECT * FROM webhook.attempt_0;
SELECT * FROM webhook.attempt_segment;
SELECT * FROM webhook.subscriptions;
EXPLAIN SELECT secret FROM webhook.endpoint;
SELECT webhook.endpoint_secret('priv');
SELECT webhook.create_endpoint('x', 'https://x.example.com/');
SELECT webhook.alter_endpoint('priv', url => 'https://attacker.example.com/');
SELECT webhook.drop_endpoint('priv');
SELECT webhook.rotate_secret('priv');
SELECT webhook.enable_endpoint('priv');
SELECT webhook.retry(1);
SELECT webhook.replay('priv', '-infinity');
SELECT webhook.generate_secret();
SELECT webhook._check_endpoint('https://x.example.com/', NULL, NULL);
SELECT webhook._check_transport(NULL, NULL, NULL, NULL);
SELECT webhook._endpoint_exists('priv');
SELECT webhook._wake();
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload)
VALUES (1, gen_random_uuid(), now(), now(), '{}');
UPDATE webhook.endpoint SET url = 'https://attacker.example.com/';
DELETE FROM webhook.event;
SELECT nextval('webhook.event_id_seq');
-- not a webhook_user: no subscribing, not even by hand
SELECT webhook.subscribe('su_table', 'priv');
CREATE TRIGGER by_hand AFTER INSERT ON su_table FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('priv');
-- the pure helpers stay public
SELECT webhook.webhook_id('00000000-0000-0000-0000-000000000001');
SELECT webhook.sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_1', 1, '{}')
	LIKE 'v1,%' AS signs;
RESET ROLE;

-- webhook_user: subscribes tables it owns, sees subscriptions, nothing else
SET ROLE wh_owner;
CREATE TABLE own.t (id int PRIMARY KEY, v text);
GRANT INSERT, UPDATE ON own.t TO wh_writer;
SELECT webhook.subscribe('own.t', 'priv');
SELECT table_name, trigger_name, endpoint FROM webhook.subscriptions
WHERE table_name = 'own.t'::regclass;
-- a table it may write to but does not own
SELECT webhook.subscribe('su_table', 'priv');
-- an endpoint that does not exist: says so, nothing more
SELECT webhook.subscribe('own.t', 'nope', name => 'x');
SELECT webhook._endpoint_exists('priv') AS exists, webhook._endpoint_exists('nope') AS not_exists;
SELECT * FROM webhook.endpoint;
SELECT * FROM webhook.endpoints;
SELECT * FROM webhook.events;
SELECT webhook.endpoint_secret('priv');
SELECT webhook.create_endpoint('x', 'https://x.example.com/');
SELECT webhook.alter_endpoint('priv', url => 'https://attacker.example.com/');
SELECT webhook.retry(1);
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload)
VALUES (1, gen_random_uuid(), now(), now(), '{}');
RESET ROLE;

-- a writer to a subscribed table needs nothing of webhook's, and the
-- change is captured
SET ROLE wh_writer;
INSERT INTO own.t VALUES (1, 'written by wh_writer');
SELECT * FROM webhook.events;
RESET ROLE;
SELECT payload -> 'data' -> 'new' AS captured FROM webhook.events
WHERE endpoint = 'priv' ORDER BY id DESC LIMIT 1;

-- a hostile search_path with a shadowing "=" operator: capture and the
-- SECURITY DEFINER lookup never call it (it would raise a notice)
SET ROLE wh_owner;
CREATE FUNCTION evil.spy(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'spy called as %', current_user;
	RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.spy);
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	RAISE WARNING 'spy lower called as %', current_user;
	RETURN $1;
END $$;
SET search_path = evil, pg_catalog, public;
SELECT 'a'::text = 'a'::text AS shadowed;  -- the trap works where it is not pinned
INSERT INTO own.t VALUES (2, 'hostile search_path');
UPDATE own.t SET v = 'again' WHERE id OPERATOR(pg_catalog.=) 2;
SELECT webhook.subscribe('own.t', 'priv', name => 'second', events => '{delete}');
SELECT webhook.unsubscribe('own.t', 'priv', name => 'second');
RESET search_path;
RESET ROLE;
SELECT count(*) AS captured FROM webhook.events WHERE endpoint = 'priv';

-- webhook_admin: manages endpoints and reads secrets
SET ROLE wh_admin;
SELECT webhook.create_endpoint('admins', 'https://admins.example.com/') > 0 AS created;
SELECT webhook.alter_endpoint('admins', timeout => '3s');
SELECT webhook.endpoint_secret('priv') AS secret;
SELECT name, url, header_names FROM webhook.endpoints WHERE name = 'admins';
SELECT count(*) > 0 AS sees_events FROM webhook.events;
-- the history through its parent, not its segments (they are the worker's)
SELECT count(*) >= 0 AS sees_history FROM webhook.attempt;
SELECT count(*) >= 0 AS sees_attempts FROM webhook.attempts;
SELECT * FROM webhook.attempt_0;
SELECT * FROM webhook.attempt_segment;
SELECT webhook.drop_endpoint('admins');
RESET ROLE;

-- no view a non-admin could reach shows a secret or a header value
SELECT count(*) AS leaks
FROM webhook.subscriptions s, webhook.endpoint e
WHERE s::text LIKE '%' || e.secret || '%' OR s::text LIKE '%sekrit%';

-- clean up (the extension's roles stay: they belong to the cluster)
SET ROLE wh_owner;
SELECT webhook.unsubscribe('own.t', 'priv');
RESET ROLE;
SELECT webhook.drop_endpoint('priv', discard_pending => true);
DROP SCHEMA own CASCADE;
DROP SCHEMA evil CASCADE;
DROP TABLE su_table;
DROP ROLE wh_admin, wh_owner, wh_writer, wh_nobody;
