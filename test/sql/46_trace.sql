-- Trace context: webhook.traceparent accepts only a W3C traceparent, and
-- every event a transaction captures under it keeps it (written directly,
-- through the executor, or routed to several endpoints); events captured
-- without it keep none.  webhook.tracestate accepts only a W3C tracestate,
-- kept with the traceparent, never without one.
SET client_min_messages = warning;

-- refused: upper-case hex, wrong lengths, all-zero ids, version ff, bad
-- separators, bad flags
SET webhook.traceparent = '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01';
SET webhook.traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1';
SET webhook.traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-';
SET webhook.traceparent = '00-00000000000000000000000000000000-00f067aa0ba902b7-01';
SET webhook.traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01';
SET webhook.traceparent = 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
SET webhook.traceparent = '00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01';
SET webhook.traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g';
SET webhook.traceparent = 'traceparent';
-- a later version may add fields, but only after a "-"
SET webhook.traceparent = '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x';
-- the error is invalid_parameter_value, and nothing was set
DO $$
BEGIN
	SET LOCAL webhook.traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736';
EXCEPTION WHEN invalid_parameter_value THEN
	RAISE WARNING 'refused with SQLSTATE %', SQLSTATE;
END
$$;
SELECT current_setting('webhook.traceparent') = '' AS still_empty;

-- accepted: version 00, a later version, and empty for none
SET webhook.traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
SHOW webhook.traceparent;
SET webhook.traceparent = 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-what-follows';
SHOW webhook.traceparent;
SET webhook.traceparent = '';
RESET webhook.traceparent;

SELECT webhook.create_endpoint('tr_a', 'https://a.example.com/', tenant => 'tr') > 0 AS created;
SELECT webhook.create_endpoint('tr_b', 'https://b.example.com/', tenant => 'tr') > 0 AS created;
CREATE TABLE tr_t (id int PRIMARY KEY, v text);
SELECT webhook.subscribe('tr_t', 'tr_a') IS NOT NULL AS subscribed;
CREATE TABLE tr_fan (id int PRIMARY KEY, tenant text);
SELECT webhook.subscribe('tr_fan', tenant => 'tenant') IS NOT NULL AS subscribed;
CREATE VIEW tr_ev AS
SELECT coalesce(ev.payload, m.payload)::jsonb -> 'data' -> 'new' ->> 'id' AS row_id,
	   p.name AS endpoint, ev.message_id IS NOT NULL AS shared, ev.traceparent
FROM webhook.event ev JOIN webhook.endpoint p ON p.id = ev.endpoint_id
LEFT JOIN webhook.message m ON m.id = ev.message_id
WHERE p.name LIKE 'tr\_%';

-- SET LOCAL traces the transaction's events, and only them; a statement of
-- many rows shares it; a change routed to two endpoints carries it to both
BEGIN;
SET LOCAL webhook.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
INSERT INTO tr_t VALUES (1, 'traced');
INSERT INTO tr_t SELECT g, 'bulk' FROM generate_series(2, 4) g;
INSERT INTO tr_fan VALUES (101, 'tr');
COMMIT;
INSERT INTO tr_t VALUES (5, 'after the transaction');
INSERT INTO tr_fan VALUES (102, 'tr');
-- the setting changed mid-transaction: events keep the value they saw
BEGIN;
SET LOCAL webhook.traceparent = '00-11111111111111111111111111111111-2222222222222222-00';
INSERT INTO tr_t VALUES (6, 'first trace');
SET LOCAL webhook.traceparent = '00-33333333333333333333333333333333-4444444444444444-01';
INSERT INTO tr_t VALUES (7, 'second trace');
SET LOCAL webhook.traceparent = '';
INSERT INTO tr_t VALUES (8, 'untraced');
COMMIT;
SELECT current_setting('webhook.traceparent') = '' AS scoped;
SELECT row_id, endpoint, shared, traceparent FROM tr_ev ORDER BY endpoint, row_id::int;

-- through the executor (a CHECK constraint on the outbox sends every write
-- there): the same, for one endpoint and for two
TRUNCATE webhook.event, webhook.message;
ALTER TABLE webhook.event ADD CONSTRAINT tr_check CHECK (attempts >= 0);
BEGIN;
SET LOCAL webhook.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
INSERT INTO tr_t VALUES (11, 'traced');
INSERT INTO tr_fan VALUES (111, 'tr');
COMMIT;
INSERT INTO tr_t VALUES (12, 'untraced');
INSERT INTO tr_fan VALUES (112, 'tr');
SELECT row_id, endpoint, shared, traceparent FROM tr_ev ORDER BY endpoint, row_id::int;
ALTER TABLE webhook.event DROP CONSTRAINT tr_check;

-- a session-wide SET traces every transaction until it is reset
SET webhook.traceparent = '00-55555555555555555555555555555555-6666666666666666-01';
INSERT INTO tr_t VALUES (13, 'session');
RESET webhook.traceparent;
INSERT INTO tr_t VALUES (14, 'reset');
-- a rolled-back subtransaction takes its setting along
BEGIN;
SAVEPOINT s;
SET LOCAL webhook.traceparent = '00-77777777777777777777777777777777-8888888888888888-01';
ROLLBACK TO SAVEPOINT s;
INSERT INTO tr_t VALUES (15, 'after rollback to savepoint');
COMMIT;
SELECT row_id, traceparent FROM tr_ev WHERE row_id::int BETWEEN 13 AND 15 ORDER BY row_id::int;

TRUNCATE webhook.event, webhook.message;
DROP VIEW tr_ev;

-- an outbox from before traceparent (a library newer than the extension):
-- events are captured, directly or through the executor, without it
BEGIN;
ALTER TABLE webhook.event DROP COLUMN traceparent;
SET LOCAL webhook.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
INSERT INTO tr_t VALUES (21, 'direct');
ALTER TABLE webhook.event ADD CONSTRAINT tr_check CHECK (attempts >= 0);
INSERT INTO tr_t VALUES (22, 'executor');
INSERT INTO tr_fan VALUES (122, 'tr');
SELECT count(*) AS captured FROM webhook.event;
ROLLBACK;

-- refused tracestates: an upper-case key, no "=", a value holding "=", a
-- key starting with "_", a bad tenant@system, a key twice, 33 members,
-- more than 512 characters, a control character
SET webhook.tracestate = 'Congo=t61rcWkgMzE';
SET webhook.tracestate = 'congo';
SET webhook.tracestate = 'congo=a=b';
SET webhook.tracestate = '_congo=1';
SET webhook.tracestate = 'tenant@Sys=1';
SET webhook.tracestate = 'congo=1,rojo=2,congo=3';
SELECT set_config('webhook.tracestate', string_agg('k' || g || '=v', ','), false)
FROM generate_series(1, 33) g;
SELECT set_config('webhook.tracestate', 'k=' || repeat('v', 256) || ',l=' || repeat('v', 256), false);
SELECT set_config('webhook.tracestate', 'congo=a' || chr(10) || 'b', false);
SELECT current_setting('webhook.tracestate') = '' AS still_empty;
-- accepted: two vendors, tenant@system, 32 members, empty members and
-- spaces around the commas
SET webhook.tracestate = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';
SHOW webhook.tracestate;
SET webhook.tracestate = 'fw529a3039@dt=FWx y';
SHOW webhook.tracestate;
SELECT set_config('webhook.tracestate', string_agg('k' || g || '=v', ','), false) IS NOT NULL AS set
FROM generate_series(1, 32) g;
SET webhook.tracestate = ' a=1 ,, b=2 ,';
SHOW webhook.tracestate;
RESET webhook.tracestate;

-- kept with the traceparent, directly, through the executor and routed to
-- two endpoints; without a traceparent it is not kept
CREATE VIEW tr_ev AS
SELECT coalesce(ev.payload, m.payload)::jsonb -> 'data' -> 'new' ->> 'id' AS row_id,
	   p.name AS endpoint, ev.traceparent IS NOT NULL AS traced, ev.tracestate
FROM webhook.event ev JOIN webhook.endpoint p ON p.id = ev.endpoint_id
LEFT JOIN webhook.message m ON m.id = ev.message_id
WHERE p.name LIKE 'tr\_%';
BEGIN;
SET LOCAL webhook.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
SET LOCAL webhook.tracestate = 'congo=t61rcWkgMzE';
INSERT INTO tr_t VALUES (31, 'direct');
INSERT INTO tr_fan VALUES (131, 'tr');
SET LOCAL webhook.traceparent = '';
INSERT INTO tr_t VALUES (32, 'tracestate alone');
COMMIT;
ALTER TABLE webhook.event ADD CONSTRAINT tr_check CHECK (attempts >= 0);
BEGIN;
SET LOCAL webhook.traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
SET LOCAL webhook.tracestate = 'rojo=00f067aa0ba902b7';
INSERT INTO tr_t VALUES (33, 'executor');
INSERT INTO tr_fan VALUES (133, 'tr');
COMMIT;
ALTER TABLE webhook.event DROP CONSTRAINT tr_check;
SELECT row_id, endpoint, traced, tracestate FROM tr_ev ORDER BY row_id::int, endpoint;
DROP VIEW tr_ev;
TRUNCATE webhook.event, webhook.message;

DROP TABLE tr_t, tr_fan;
SELECT webhook.drop_endpoint('tr_a');
SELECT webhook.drop_endpoint('tr_b');
