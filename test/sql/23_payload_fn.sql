-- Payload functions: a function of the row builds the event's "data";
-- it is checked when the subscription is made, and its errors name it and
-- the subscription.
SET client_min_messages = warning;
SELECT webhook.create_endpoint('thin', 'http://127.0.0.1:9/thin') > 0 AS created;
CREATE TABLE pf_orders (id int PRIMARY KEY, status text, total numeric, note text);
CREATE FUNCTION order_ids(o pf_orders) RETURNS jsonb
LANGUAGE sql RETURN jsonb_build_object('order_id', o.id, 'status', o.status);
CREATE FUNCTION order_json(o pf_orders) RETURNS json
LANGUAGE sql RETURN json_build_object('id', o.id, 'cents', (o.total * 100)::int);

SELECT webhook.subscribe('pf_orders', 'thin', payload_function => 'order_ids(pf_orders)');
SELECT options FROM webhook.subscriptions WHERE table_name = 'pf_orders'::regclass;
INSERT INTO pf_orders VALUES (1, 'new', 9.99, 'x');
UPDATE pf_orders SET status = 'paid' WHERE id = 1;
DELETE FROM pf_orders WHERE id = 1;
SELECT payload ->> 'type' AS type, payload -> 'data' AS data,
	   (SELECT array_agg(k ORDER BY k) FROM json_object_keys(payload) k) AS keys
FROM webhook.events WHERE endpoint = 'thin'
ORDER BY id;

-- json works too, and preview shows the same body
SELECT webhook.unsubscribe('pf_orders', 'thin');
SELECT webhook.subscribe('pf_orders', 'thin', payload_function => 'order_json(pf_orders)',
						 event_type => 'order.changed');
INSERT INTO pf_orders VALUES (2, 'new', 1.5, 'y');
SELECT payload::text LIKE '{"type":"order.changed","timestamp":"%","data":{"id" : 2, "cents" : 150}}' AS body_ok
FROM webhook.events ORDER BY id DESC LIMIT 1;
SELECT (p.body::jsonb - 'timestamp') = (ev.payload::jsonb - 'timestamp') AS same_as_preview
FROM pf_orders o, webhook.preview('pf_orders', o) p,
	 LATERAL (SELECT payload FROM webhook.events ORDER BY id DESC LIMIT 1) ev
WHERE o.id = 2;

-- checked at subscribe time
SELECT webhook.subscribe('pf_orders', 'thin', name => 'bad1',
						 payload_function => 'no_such_fn(pf_orders)');
CREATE FUNCTION wrong_arg(i int) RETURNS jsonb LANGUAGE sql RETURN '{}'::jsonb;
SELECT webhook.subscribe('pf_orders', 'thin', name => 'bad2',
						 payload_function => 'wrong_arg(int)');
CREATE FUNCTION wrong_ret(o pf_orders) RETURNS text LANGUAGE sql RETURN 'x';
SELECT webhook.subscribe('pf_orders', 'thin', name => 'bad3',
						 payload_function => 'wrong_ret(pf_orders)');
SELECT webhook.subscribe('pf_orders', 'thin', name => 'bad4', format => 'supabase',
						 payload_function => 'order_ids(pf_orders)');
SELECT count(*) AS subscriptions FROM webhook.subscriptions
WHERE table_name = 'pf_orders'::regclass;

-- an error in the function names it and the subscription; nothing is written
CREATE FUNCTION order_strict(o pf_orders) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
	IF o.total < 0 THEN
		RAISE EXCEPTION 'negative total %', o.total;
	END IF;
	RETURN jsonb_build_object('id', o.id);
END
$$;
SELECT webhook.subscribe('pf_orders', 'thin', name => 'strict',
						 payload_function => 'order_strict(pf_orders)');
\set VERBOSITY default
INSERT INTO pf_orders VALUES (3, 'new', -1, 'z');
SELECT count(*) AS rows_kept FROM pf_orders WHERE id = 3;

DROP TABLE pf_orders CASCADE;
SELECT webhook.drop_endpoint('thin', discard_pending => true);
