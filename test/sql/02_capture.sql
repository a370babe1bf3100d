-- Capture: triggers write one event per row change, with the exact payload
SET client_min_messages = notice;
CREATE TABLE orders (
	id int PRIMARY KEY,
	status text NOT NULL,
	amount numeric(10,2),
	card_number text,
	note text
);

-- the helper writes an ordinary trigger, visible in \d and pg_dump
SELECT webhook.subscribe('orders', 'shop', columns => '{status}',
						 exclude => '{card_number}');
SELECT table_name, trigger_name, endpoint, options, definition
FROM webhook.subscriptions;

-- events as a test sees them: the body without its timestamp
CREATE VIEW ev AS
SELECT e.id, e.state, p.name AS endpoint,
	   webhook._event_body(e.payload, e.created_at)::jsonb ->> 'type' AS type,
	   (webhook._event_body(e.payload, e.created_at)::jsonb ? 'timestamp') AS has_ts,
	   e.payload::jsonb -> 'data' AS data
FROM webhook.event e JOIN webhook.endpoint p ON p.id = e.endpoint_id;

INSERT INTO orders VALUES (1, 'pending', 12.50, '4242424242424242', 'gift');
SELECT type, has_ts, jsonb_pretty(data) FROM ev ORDER BY id;

-- the outbox keeps the body without its timestamp, which is created_at, and
-- without its type, which is the table and the operation; the body as sent
-- (and as webhook.events shows it) has both, the timestamp in UTC
SELECT e.payload::jsonb ? 'timestamp' AS stored_ts,
	   e.payload::jsonb ? 'type' AS stored_type,
	   (b::jsonb ->> 'timestamp')::timestamptz = e.created_at AS ts_is_created_at,
	   b::text ~ '^\{"type":"orders.inserted","timestamp":"[0-9-]+T[0-9:.]+Z","data":\{' AS shape,
	   (SELECT v.payload::text FROM webhook.events v WHERE v.id = e.id) = b::text
		   AS view_shows_it
FROM webhook.event e, webhook._event_body(e.payload, e.created_at) b;

-- an UPDATE that changes no watched column sends nothing
UPDATE orders SET status = status;
UPDATE orders SET note = 'wrapped';
UPDATE orders SET card_number = '5555555555554444';
SELECT count(*) AS events FROM ev;

-- a real change: old, new and the changed columns, never the card number
UPDATE orders SET status = 'paid', note = 'ribbon' WHERE id = 1;
SELECT type, jsonb_pretty(data) FROM ev ORDER BY id DESC LIMIT 1;
DELETE FROM orders;
SELECT type, jsonb_pretty(data) FROM ev ORDER BY id DESC LIMIT 1;
SELECT count(*) AS mentions_card FROM webhook.event
WHERE payload::text LIKE '%4242%' OR payload::text LIKE '%5555%';

-- a rolled-back change leaves nothing; a savepoint rollback drops only its part
TRUNCATE webhook.event;
BEGIN;
INSERT INTO orders VALUES (2, 'pending', 1, NULL, NULL);
ROLLBACK;
BEGIN;
INSERT INTO orders VALUES (3, 'pending', 1, NULL, NULL);
SAVEPOINT s;
INSERT INTO orders VALUES (4, 'pending', 1, NULL, NULL);
ROLLBACK TO s;
COMMIT;
SELECT data -> 'new' ->> 'id' AS id FROM ev ORDER BY id;

-- a later trigger fails mid-statement: events already captured by that
-- statement are dropped with it, inside and outside an exception block
CREATE FUNCTION fail_on_13() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.id = 13 THEN RAISE EXCEPTION 'no 13'; END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER zz_fail AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION fail_on_13();
INSERT INTO orders SELECT g, 'pending', g, NULL, NULL FROM generate_series(11, 14) g;
DO $$
BEGIN
	INSERT INTO orders SELECT g, 'pending', g, NULL, NULL FROM generate_series(11, 14) g;
EXCEPTION WHEN raise_exception THEN
	INSERT INTO orders VALUES (15, 'pending', 15, NULL, NULL);
END $$;
DROP TRIGGER zz_fail ON orders;
SELECT data -> 'new' ->> 'id' AS id FROM ev ORDER BY id;
-- within a transaction, each statement's events are in the table when it ends
BEGIN;
INSERT INTO orders VALUES (16, 'pending', 16, NULL, NULL);
SELECT count(*) AS visible_before_commit FROM ev WHERE data -> 'new' ->> 'id' = '16';
ROLLBACK;
SELECT count(*) AS after_rollback FROM ev WHERE data -> 'new' ->> 'id' = '16';
-- COPY fires its row triggers without the end-of-statement hook; a
-- savepoint rolled back after it must not take the COPY's events along
BEGIN;
COPY orders (id, status, amount) FROM stdin;
20	pending	20
21	pending	21
\.
SAVEPOINT s;
SELECT 1 AS in_savepoint;
ROLLBACK TO s;
COMMIT;
SELECT data -> 'new' ->> 'id' AS id FROM ev WHERE (data -> 'new' ->> 'id')::int >= 20 ORDER BY 1;
DELETE FROM orders WHERE id IN (15, 20, 21);
TRUNCATE webhook.event;

-- each event has its own webhook-id: msg_ and 32 hex digits, no dot
INSERT INTO orders SELECT g, 'pending', g, NULL, NULL FROM generate_series(10, 209) g;
SELECT count(*) AS events, count(DISTINCT msg_id) AS ids,
	   bool_and(webhook.webhook_id(msg_id) ~ '^msg_[0-9a-f]{32}$') AS id_form
FROM webhook.event;
SELECT webhook_id IS NOT NULL AS listed, state, attempts FROM webhook.events LIMIT 1;

-- event types, the Supabase format, a WHEN condition
TRUNCATE webhook.event;
SELECT webhook.unsubscribe('orders', 'shop');
SELECT webhook.subscribe('orders', 'shop', events => '{update}',
						 condition => 'OLD.status IS DISTINCT FROM NEW.status AND NEW.status = ''paid''',
						 event_type => 'order.paid');
SELECT webhook.subscribe('orders', 'crm', format => 'supabase',
						 exclude => '{card_number,note}');
UPDATE orders SET status = 'shipped' WHERE id = 3;
UPDATE orders SET status = 'paid' WHERE id = 3;
INSERT INTO orders VALUES (5, 'new', 5, 'x', 'y');
DELETE FROM orders WHERE id = 5;
SELECT endpoint, type, jsonb_pretty(data) FROM ev WHERE endpoint = 'shop';
SELECT p.name, jsonb_pretty(payload::jsonb) FROM webhook.event e
JOIN webhook.endpoint p ON p.id = e.endpoint_id WHERE p.name = 'crm' ORDER BY e.id;
SELECT webhook.unsubscribe('orders', 'shop');
SELECT webhook.unsubscribe('orders', 'crm');
SELECT webhook.unsubscribe('orders', 'crm');

-- names that need quoting: table "Order Items", column "select", a dot and a quote
TRUNCATE webhook.event;
CREATE TABLE "Order Items" ("select" int PRIMARY KEY, "we""ird.col" text, "ünï" text);
SELECT webhook.subscribe('"Order Items"', 'shop', columns => '{select}',
						 exclude => ARRAY['we"ird.col']);
SELECT definition FROM webhook.subscriptions;
INSERT INTO "Order Items" VALUES (1, 'hidden', 'shown');
UPDATE "Order Items" SET "select" = 2;
SELECT type, data FROM ev ORDER BY id;
SELECT webhook.unsubscribe('"Order Items"', 'shop');
TRUNCATE webhook.event;

-- a hand-written trigger with options
CREATE TRIGGER hand AFTER INSERT ON orders FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('shop', 'type=orders.new', 'exclude=note');
INSERT INTO orders VALUES (6, 'new', 6, NULL, 'n');
SELECT type, data -> 'new' AS new FROM ev;
DROP TRIGGER hand ON orders;

-- drop_endpoint refuses while subscribed, or while events are pending
SELECT webhook.subscribe('orders', 'shop');
SELECT webhook.drop_endpoint('shop');
SELECT webhook.unsubscribe('orders', 'shop');
SELECT webhook.drop_endpoint('shop');
SELECT webhook.drop_endpoint('shop', discard_pending => true);
SELECT count(*) AS left_over FROM webhook.event;
SELECT webhook.create_endpoint('shop', 'https://shop.example.com/hooks');
