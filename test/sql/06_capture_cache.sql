-- The capture trigger keeps its endpoint id, options and row shape across
-- statements; every change that affects them must be seen by the very next
-- statement (test/specs/capture_cache.spec covers other sessions).
SET client_min_messages = warning;
SELECT webhook.create_endpoint('cache_a', 'http://127.0.0.1:9/a');
SELECT webhook.create_endpoint('cache_b', 'http://127.0.0.1:9/b');
CREATE TABLE cached (id int PRIMARY KEY, status text);
SELECT webhook.subscribe('cached', 'cache_a') IS NOT NULL AS subscribed;

CREATE VIEW cev AS
SELECT p.name AS endpoint,
	   webhook._event_body(e.payload, e.created_at)::jsonb ->> 'type' AS type,
	   e.payload::jsonb -> 'data' ->> 'schema' AS schema,
	   e.payload::jsonb -> 'data' ->> 'table' AS tab,
	   e.payload::jsonb -> 'data' -> 'new' AS new
FROM webhook.event e JOIN webhook.endpoint p ON p.id = e.endpoint_id
ORDER BY e.id DESC LIMIT 1;

INSERT INTO cached VALUES (1, 'new');
SELECT * FROM cev;

-- a new column shows up in the next event
ALTER TABLE cached ADD COLUMN note text DEFAULT 'hi';
INSERT INTO cached VALUES (2, 'new');
SELECT * FROM cev;

-- so does a renamed table, and a renamed schema
ALTER TABLE cached RENAME TO cached2;
INSERT INTO cached2 VALUES (3, 'new');
SELECT * FROM cev;
CREATE SCHEMA shop;
ALTER TABLE cached2 SET SCHEMA shop;
INSERT INTO shop.cached2 VALUES (4, 'new');
SELECT * FROM cev;
ALTER SCHEMA shop RENAME TO store;
INSERT INTO store.cached2 VALUES (5, 'new');
SELECT * FROM cev;

-- an endpoint dropped and made again under the same name gets a new id:
-- events follow the name, never the old id
SELECT webhook.unsubscribe('store.cached2', 'cache_a');
SELECT webhook.drop_endpoint('cache_a', discard_pending => true);
SELECT webhook.create_endpoint('cache_a', 'http://127.0.0.1:9/a2') > 0 AS made;
SELECT webhook.subscribe('store.cached2', 'cache_a') IS NOT NULL AS subscribed;
INSERT INTO store.cached2 VALUES (6, 'new');
SELECT c.endpoint, p.url FROM cev c JOIN webhook.endpoint p ON p.name = c.endpoint;

-- the same trigger, while endpoint names move between ids: each row goes
-- to whichever endpoint holds the name when it is written
SELECT webhook.create_endpoint('cache_c', 'http://127.0.0.1:9/c') > 0 AS made;
CREATE TABLE hand (id int PRIMARY KEY);
CREATE TRIGGER hand_b AFTER INSERT ON hand FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('cache_b');
CREATE VIEW hand_ev AS
SELECT (e.payload::jsonb -> 'data' -> 'new' ->> 'id')::int AS row_id, p.url
FROM webhook.event e JOIN webhook.endpoint p ON p.id = e.endpoint_id
WHERE e.payload::jsonb -> 'data' ->> 'table' = 'hand';
INSERT INTO hand VALUES (1);
UPDATE webhook.endpoint SET name = 'cache_tmp' WHERE name = 'cache_b';
UPDATE webhook.endpoint SET name = 'cache_b' WHERE name = 'cache_c';
UPDATE webhook.endpoint SET name = 'cache_c' WHERE name = 'cache_tmp';
INSERT INTO hand VALUES (2);
-- a rename rolled back is forgotten too
BEGIN;
UPDATE webhook.endpoint SET name = 'cache_tmp' WHERE name = 'cache_b';
UPDATE webhook.endpoint SET name = 'cache_b' WHERE name = 'cache_c';
INSERT INTO hand VALUES (3);
ROLLBACK;
INSERT INTO hand VALUES (4);
-- and a name that is gone is an error at the next row
UPDATE webhook.endpoint SET name = 'cache_gone' WHERE name = 'cache_b';
INSERT INTO hand VALUES (5);
SELECT * FROM hand_ev ORDER BY row_id;

-- The outbox's own indexes are written directly (kept per backend); any
-- other index on it sends writes down the executor's general path.  Both
-- must leave every index complete: read each one alone.
CREATE FUNCTION index_counts(OUT pk bigint, OUT due bigint, OUT extra bigint)
LANGUAGE plpgsql AS $$
BEGIN
	SET LOCAL enable_seqscan = off;
	SET LOCAL enable_bitmapscan = off;
	SELECT count(*) INTO pk FROM webhook.event WHERE id > 0;
	SELECT count(*) INTO due FROM webhook.event
	WHERE state = 'pending' AND next_attempt_at > '-infinity';
	IF to_regclass('webhook.event_type_idx') IS NOT NULL THEN
		SELECT count(*) INTO extra FROM webhook.event
		WHERE payload -> 'data' ->> 'table' > '';
	END IF;
END
$$;
DELETE FROM webhook.event;
UPDATE webhook.endpoint SET name = 'cache_b' WHERE name = 'cache_gone';
INSERT INTO hand VALUES (10);
INSERT INTO hand SELECT g FROM generate_series(11, 20) g;
SELECT * FROM index_counts();
CREATE INDEX event_type_idx ON webhook.event ((payload -> 'data' ->> 'table'));
INSERT INTO hand VALUES (21);
INSERT INTO hand SELECT g FROM generate_series(22, 30) g;
SELECT * FROM index_counts();
DROP INDEX webhook.event_type_idx;
INSERT INTO hand VALUES (31);
SELECT * FROM index_counts();
-- a duplicate id is still refused by the primary key
SELECT setval('webhook.event_id_seq', (SELECT min(id) FROM webhook.event), false) > 0 AS rewound;
\set VERBOSITY terse
INSERT INTO hand VALUES (32);
\set VERBOSITY default
SELECT setval('webhook.event_id_seq', (SELECT max(id) FROM webhook.event)) > 0 AS restored;
DROP FUNCTION index_counts();

DROP VIEW hand_ev;
DROP TABLE hand, store.cached2;
DROP SCHEMA store;
DROP VIEW cev;
SELECT webhook.drop_endpoint(name, discard_pending => true)
FROM webhook.endpoint WHERE name IN ('cache_a', 'cache_b', 'cache_c');
