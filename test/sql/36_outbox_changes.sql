-- The outbox table changed under the capture: a column with a default, a
-- trigger, a CHECK constraint, columns dropped and added back in another
-- order.  Every event still arrives with every column right, and what the
-- table's definition asks for (defaults, triggers, constraints) applies to
-- it, whoever made the change that was captured.
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT webhook.create_endpoint('oc', 'http://127.0.0.1:9/oc') > 0 AS created;
SELECT webhook.set_delivery_policy('oc', ordering => 'key');
CREATE TABLE oc_t (id int PRIMARY KEY, v text);
SELECT webhook.subscribe('oc_t', 'oc') IS NOT NULL AS subscribed;
CREATE ROLE regress_oc_writer;
GRANT INSERT ON oc_t TO regress_oc_writer;
TRUNCATE webhook.event;

-- every column the capture writes, read by name (PL/pgSQL binds late, so
-- the outbox's columns can change under it)
CREATE FUNCTION oc_events() RETURNS TABLE (row_id int, v text, endpoint text,
	id_ok bool, msg_id_ok bool, state text, attempts int, retry_from int,
	due_at_capture bool, finished bool, ordering_key text)
LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY
	SELECT (e.payload::jsonb -> 'data' -> 'new' ->> 'id')::int,
		   e.payload::jsonb -> 'data' -> 'new' ->> 'v',
		   p.name, e.id > 0, e.msg_id IS NOT NULL, e.state::text,
		   e.attempts::int, e.retry_from::int,
		   e.created_at = e.next_attempt_at AND
		   e.created_at > now() - interval '1 hour',
		   e.finished_at IS NOT NULL, e.ordering_key
	FROM webhook.event e JOIN webhook.endpoint p ON p.id = e.endpoint_id
	ORDER BY e.id;
END
$$;

-- as installed
INSERT INTO oc_t VALUES (1, 'plain');
SELECT * FROM oc_events();

-- case 1: a column with a default: new rows carry it
ALTER TABLE webhook.event ADD COLUMN note text DEFAULT 'x';
INSERT INTO oc_t VALUES (2, 'default');
SELECT (payload::jsonb -> 'data' -> 'new' ->> 'id')::int AS row_id, note
FROM webhook.event ORDER BY id;

-- case 2: a trigger on the outbox fires for every captured row, as the
-- table's owner, for statements of any size, for COPY, and for a user
-- with no privilege on the outbox or on what the trigger writes
CREATE TABLE oc_fired (row_id int, note text, as_role name);
CREATE FUNCTION oc_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO oc_fired
	VALUES ((NEW.payload::jsonb -> 'data' -> 'new' ->> 'id')::int, NEW.note,
			current_user);
	NEW.note := 'set by trigger';
	RETURN NEW;
END
$$;
CREATE TRIGGER oc_record BEFORE INSERT ON webhook.event
	FOR EACH ROW EXECUTE FUNCTION oc_record();
INSERT INTO oc_t VALUES (3, 'one');
INSERT INTO oc_t SELECT g, 'many' FROM generate_series(4, 6) g;
COPY oc_t FROM STDIN;
7	copied
8	copied
\.
SET ROLE regress_oc_writer;
INSERT INTO oc_t VALUES (9, 'by writer');
RESET ROLE;
SELECT row_id, note, as_role = current_user AS as_owner
FROM oc_fired ORDER BY row_id;
SELECT (payload::jsonb -> 'data' -> 'new' ->> 'id')::int AS row_id, note
FROM webhook.event ORDER BY id;
SELECT * FROM oc_events() WHERE row_id > 2;

-- case 3: without the trigger the rows go in as before: it no longer fires,
-- and the default is back
DROP TRIGGER oc_record ON webhook.event;
INSERT INTO oc_t VALUES (10, 'no trigger');
SELECT count(*) AS fired FROM oc_fired;
SELECT note FROM webhook.event
WHERE payload::jsonb -> 'data' -> 'new' ->> 'id' = '10';

-- case 4: a CHECK constraint on the outbox holds for captured rows
ALTER TABLE webhook.event ADD CONSTRAINT oc_no_secret
	CHECK (payload::jsonb -> 'data' -> 'new' ->> 'v' <> 'secret');
INSERT INTO oc_t VALUES (11, 'secret');
INSERT INTO oc_t VALUES (11, 'fine');
ALTER TABLE webhook.event DROP CONSTRAINT oc_no_secret;
INSERT INTO oc_t VALUES (12, 'secret');
SELECT row_id, v FROM oc_events() WHERE row_id > 10;

-- case 5: columns dropped and added back at the end, one with a default and
-- one in an index: each still gets its own value
TRUNCATE webhook.event;
ALTER TABLE webhook.event DROP COLUMN note;
ALTER TABLE webhook.event ADD COLUMN note text NOT NULL DEFAULT 'y';
ALTER TABLE webhook.event DROP COLUMN ordering_key;
ALTER TABLE webhook.event ADD COLUMN ordering_key text;
CREATE INDEX event_order_idx ON webhook.event (endpoint_id, ordering_key, id)
	WHERE state = 'pending' AND ordering_key IS NOT NULL;
INSERT INTO oc_t VALUES (13, 'moved');
INSERT INTO oc_t SELECT g, 'moved' FROM generate_series(14, 15) g;
SELECT * FROM oc_events();
SELECT DISTINCT note FROM webhook.event;
SET enable_seqscan = off;
SELECT count(*) AS found_by_index FROM webhook.event
WHERE state = 'pending' AND ordering_key IS NOT NULL AND endpoint_id > 0;
RESET enable_seqscan;
-- and a NOT NULL column left without a value is refused
TRUNCATE webhook.event;
ALTER TABLE webhook.event ADD COLUMN required int NOT NULL;
INSERT INTO oc_t VALUES (16, 'required');
ALTER TABLE webhook.event DROP COLUMN required;
INSERT INTO oc_t VALUES (16, 'not required');
SELECT row_id, v FROM oc_events() WHERE row_id > 15;

-- a change made and rolled back in one transaction leaves the direct path
-- as it was: the rolled-back trigger fires no more
BEGIN;
CREATE TRIGGER oc_record BEFORE INSERT ON webhook.event
	FOR EACH ROW EXECUTE FUNCTION oc_record();
INSERT INTO oc_t VALUES (17, 'in transaction');
ROLLBACK;
INSERT INTO oc_t VALUES (18, 'after rollback');
SELECT row_id FROM oc_fired WHERE row_id > 16;
SELECT row_id, v FROM oc_events() WHERE row_id > 16;

-- clean up: the extension's objects still work
ALTER TABLE webhook.event DROP COLUMN note;
DROP FUNCTION oc_events();
DROP TABLE oc_fired;
DROP FUNCTION oc_record();
SELECT webhook.unsubscribe('oc_t', 'oc');
DROP TABLE oc_t;
DROP ROLE regress_oc_writer;
SELECT webhook.drop_endpoint('oc', discard_pending => true);
