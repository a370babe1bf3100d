-- Routing: subscriptions by tenant and broadcast, event-type filters, and
-- a change for several endpoints stored once
SET client_min_messages = notice;
CREATE TABLE rt_orders (id int PRIMARY KEY, merchant text, status text);

-- merchant m1 has two endpoints, m2 one enabled and one disabled, m3 none;
-- rt_all has no tenant: a broadcast target (as are earlier tests' endpoints)
SELECT webhook.create_endpoint('rt_m1a', 'https://m1.example.com/a', tenant => 'm1');
SELECT webhook.create_endpoint('rt_m1b', 'https://m1.example.com/b', tenant => 'm1',
							   event_types => '{rt_orders.updated}');
SELECT webhook.create_endpoint('rt_m2', 'https://m2.example.com/', tenant => 'm2',
							   event_types => '{rt_orders.*}');
SELECT webhook.create_endpoint('rt_m2off', 'https://m2.example.com/off', tenant => 'm2');
UPDATE webhook.endpoint SET enabled = false WHERE name = 'rt_m2off';
SELECT webhook.create_endpoint('rt_all', 'https://all.example.com/',
							   event_types => '{rt_orders.deleted,order.*}');

-- exactly one of endpoint, tenant and broadcast
SELECT webhook.subscribe('rt_orders');
SELECT webhook.subscribe('rt_orders', 'rt_m1a', tenant => 'merchant');
SELECT webhook.subscribe('rt_orders', tenant => 'merchant', broadcast => true);
SELECT webhook.subscribe('rt_orders', broadcast => NULL);
SELECT webhook.subscribe('rt_orders', tenant => '  ');
-- an expression must parse, alone, and compile against the table
SELECT webhook.subscribe('rt_orders', tenant => 'NEW.merchant ||');
SELECT webhook.subscribe('rt_orders', tenant => 'NEW.merchant; DROP TABLE rt_orders');
SELECT webhook.subscribe('rt_orders', tenant => 'NEW.nope');
-- the trigger's arguments are checked too
SELECT webhook._check_capture_args('rt_orders', '{"", "type=x"}');
SELECT webhook._check_capture_args('rt_orders', '{rt_m1a, broadcast}');
SELECT webhook._check_capture_args('rt_orders', '{"", broadcast, "tenant=merchant"}');

-- by a column of the table
SELECT webhook.subscribe('rt_orders', tenant => 'merchant');
SELECT table_name, trigger_name, endpoint, routing, tenant, options, definition
FROM webhook.subscriptions WHERE table_name = 'rt_orders'::regclass;

CREATE VIEW rt_ev AS
SELECT ev.id, p.name AS endpoint, ev.msg_id, ev.payload IS NULL AS shared,
	   ev.message_id, ev.next_attempt_at = 'infinity' AS parked
FROM webhook.event ev JOIN webhook.endpoint p ON p.id = ev.endpoint_id
WHERE p.name LIKE 'rt%';

-- an insert by m1: rt_m1a only (rt_m1b takes updates): one event, its own payload
INSERT INTO rt_orders VALUES (1, 'm1', 'new');
SELECT endpoint, shared, message_id IS NULL AS no_message FROM rt_ev ORDER BY id;
SELECT count(*) AS messages FROM webhook.message;

-- an update by m1 goes to both: one message, two events without payload,
-- one webhook-id, the message's id the first event's
UPDATE rt_orders SET status = 'paid' WHERE id = 1;
SELECT endpoint, shared, message_id IS NOT NULL AS has_message FROM rt_ev ORDER BY id;
SELECT count(DISTINCT msg_id) AS webhook_ids, count(DISTINCT message_id) AS messages,
	   min(id) = min(message_id) AS first_id
FROM rt_ev WHERE message_id IS NOT NULL;
SELECT payload::jsonb -> 'data' -> 'new' ->> 'status' AS status FROM webhook.message;
-- webhook.events shows each with the shared payload
SELECT endpoint, type, payload -> 'data' -> 'new' ->> 'status' AS status
FROM webhook.events WHERE endpoint LIKE 'rt%' ORDER BY id;

-- m2's enabled endpoint (rt_orders.*) only; m3 has none, a NULL tenant
-- routes nowhere: no event, no message
INSERT INTO rt_orders VALUES (2, 'm2', 'new');
SELECT count(*) AS events_before FROM webhook.event \gset
SELECT count(*) AS messages_before FROM webhook.message \gset
INSERT INTO rt_orders VALUES (3, 'm3', 'new'), (4, NULL, 'new');
SELECT count(*) - :events_before AS new_events FROM webhook.event;

-- a rollback, or a subtransaction's, leaves nothing
BEGIN;
UPDATE rt_orders SET status = 'x' WHERE id = 1;
ROLLBACK;
BEGIN;
SAVEPOINT a;
UPDATE rt_orders SET status = 'y' WHERE id = 1;
ROLLBACK TO a;
COMMIT;
SELECT count(*) - :events_before AS new_events FROM webhook.event;
SELECT count(*) - :messages_before AS new_messages FROM webhook.message;
SELECT endpoint FROM rt_ev ORDER BY id;

-- an endpoint created in the same transaction receives its next change
BEGIN;
SELECT webhook.create_endpoint('rt_m3', 'https://m3.example.com/', tenant => 'm3');
UPDATE rt_orders SET status = 'paid' WHERE id = 3;
COMMIT;
SELECT endpoint FROM rt_ev ORDER BY id;

-- a paused endpoint's events are parked; a disabled one (rt_m2off) gets none
SELECT webhook.pause('rt_m3');
UPDATE rt_orders SET status = 'sent' WHERE id = 3;
SELECT endpoint, parked FROM rt_ev WHERE endpoint = 'rt_m3' ORDER BY id;
SELECT webhook.resume('rt_m3');

-- a renamed tenant column is followed
ALTER TABLE rt_orders RENAME merchant TO merchant_id;
SELECT trigger_name, routing, tenant, options FROM webhook.subscriptions
WHERE table_name = 'rt_orders'::regclass;
ALTER TABLE rt_orders RENAME merchant_id TO merchant;

-- by an expression over NEW and OLD (a DELETE has only OLD)
SELECT webhook.unsubscribe('rt_orders', NULL);
SELECT webhook.unsubscribe('rt_orders', NULL, name => 'nope');
SELECT webhook.unsubscribe('rt_orders', NULL, name => 'webhook_by_tenant');
SELECT webhook.subscribe('rt_orders', tenant => 'coalesce(NEW.merchant, OLD.merchant)',
						 name => 'rt_expr');
-- and broadcast, of deletes only
SELECT webhook.subscribe('rt_orders', broadcast => true, events => '{delete}');
SELECT trigger_name, endpoint, routing, tenant, options FROM webhook.subscriptions
WHERE table_name = 'rt_orders'::regclass ORDER BY 1;
SELECT max(id) AS last_id FROM webhook.event \gset
DELETE FROM rt_orders WHERE id = 2;
-- rt_m2 by tenant, rt_all by broadcast: two changes, two webhook-ids
SELECT endpoint, message_id IS NULL AS own_payload FROM rt_ev WHERE id > :last_id ORDER BY id;

-- preview: one row per endpoint a routed change goes to
SELECT trigger_name, endpoint, body ->> 'type' AS type
FROM webhook.preview('rt_orders', ROW(5, 'm1', 'new')::rt_orders, ROW(5, 'm1', 'old')::rt_orders)
ORDER BY 1, 2;
SELECT trigger_name, endpoint, body ->> 'type' AS type
FROM webhook.preview('rt_orders', NULL::rt_orders, ROW(5, 'm2', 'old')::rt_orders)
WHERE endpoint LIKE 'rt%' ORDER BY 1, 2;
SELECT trigger_name, endpoint FROM webhook.preview('rt_orders', ROW(5, NULL, 'new')::rt_orders)
WHERE endpoint LIKE 'rt%';

-- filters: exact names, '*' for any run of characters, NULL for every type
SELECT p, t, webhook._event_type_matches(p, t)
FROM (VALUES ('{order.*}'::text[], 'order.paid'), ('{order.*}', 'order.item.added'),
			 ('{order.*}', 'orders.paid'), ('{order.*}', 'order'),
			 ('{*.paid}', 'invoice.paid'), ('{a*b*c}', 'aXbYc'), ('{a*b*c}', 'aXbYcd'),
			 ('{invoice.paid}', 'invoice.paid'), ('{invoice.paid}', 'invoice.paid2'),
			 ('{}', 'x'), (NULL, 'x'), ('{x,*}', 'y')) v(p, t);

-- a shared payload goes with the last event that refers to it
SELECT count(*) AS messages FROM webhook.message;
DELETE FROM webhook.event
WHERE id = (SELECT min(id) FROM webhook.event WHERE message_id IS NOT NULL);
SELECT count(*) AS messages FROM webhook.message;
DELETE FROM webhook.event ev USING webhook.endpoint p
WHERE p.id = ev.endpoint_id AND p.name LIKE 'rt%';
SELECT count(*) AS messages FROM webhook.message;
-- the broadcast change's other receivers (earlier tests' endpoints) hold one
DELETE FROM webhook.event WHERE message_id IS NOT NULL;
SELECT count(*) AS messages FROM webhook.message;

DROP TABLE rt_orders CASCADE;
SELECT webhook.drop_endpoint(name) FROM webhook.endpoint WHERE name LIKE 'rt%' ORDER BY name;
