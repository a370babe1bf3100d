-- Names have a length limit checked at the door; no name or payload
-- function result makes an event larger than "webhook.max_payload_size";
-- a long name already stored cannot make an endpoint's state change fail.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- cases 1 to 4: endpoint names are at most 63 bytes
SELECT webhook.create_endpoint(repeat('n', 63), 'http://127.0.0.1:9/') > 0 AS created_63;
SELECT webhook.create_endpoint(repeat('n', 64), 'http://127.0.0.1:9/');
SELECT webhook.create_endpoint(repeat('é', 32), 'http://127.0.0.1:9/');
SELECT webhook.alter_endpoint(repeat('n', 63), new_name => repeat('m', 3000));
-- case 4b: a row written directly, as a restore of an older dump does, is kept
INSERT INTO webhook.endpoint (name, url, secret)
VALUES (repeat('x', 100), 'http://127.0.0.1:9/', webhook.generate_secret());
SELECT webhook.drop_endpoint(repeat('x', 100));
SELECT webhook.drop_endpoint(repeat('n', 63));

-- cases 5 and 6: subscription names are at most 63 bytes, and the default
-- one ("webhook_" and the endpoint's name) is never cut short
SELECT webhook.create_endpoint(repeat('s', 60), 'http://127.0.0.1:9/') > 0 AS created;
CREATE TABLE sz (id int PRIMARY KEY, body text);
SELECT webhook.subscribe('sz', repeat('s', 60));
SELECT webhook.subscribe('sz', repeat('s', 60), name => repeat('t', 64));
SELECT webhook.subscribe('sz', repeat('s', 60), name => 'sz_short');

-- case 7: event types are at most 255 bytes
SELECT webhook.subscribe('sz', repeat('s', 60), name => 'sz_type',
						 event_type => repeat('t', 256));

-- case 8: a payload function's result over the limit is refused, naming the
-- subscription; the write does not happen
CREATE FUNCTION sz_big(r sz) RETURNS json LANGUAGE sql
RETURN json_build_object('blob', repeat('b', 10000));
SELECT webhook.subscribe('sz', repeat('s', 60), name => 'sz_fn',
						 payload_function => 'sz_big(sz)');
SET webhook.max_payload_size = '4kB';
INSERT INTO sz VALUES (1, 'x');
SELECT count(*) AS rows_written FROM sz;
-- case 9: within the limit it is sent as it is
RESET webhook.max_payload_size;
INSERT INTO sz VALUES (2, 'x');
SELECT count(*) AS events, max(length(payload::text)) AS longest FROM webhook.event;
TRUNCATE webhook.event;

-- case 10: a long name stored before the limit: changing the endpoint's
-- state (as the worker does when a receiver answers 410) still works, its
-- announcement cut to fit NOTIFY's 8000 bytes
UPDATE webhook.endpoint SET name = repeat('é', 3000) WHERE name = repeat('s', 60);
UPDATE webhook.endpoint SET enabled = false,
	disabled_reason = 'the receiver answered 410 Gone'
WHERE name = repeat('é', 3000);
SELECT octet_length(name) AS name_bytes, enabled FROM webhook.endpoint
WHERE name = repeat('é', 3000);
-- case 11: ... and other changes to it are not refused for the old name
SELECT webhook.alter_endpoint(repeat('é', 3000), timeout => '5s');

-- case 12: the payload function cannot be dropped from under the subscription
DROP FUNCTION sz_big(sz);
DROP TABLE sz CASCADE;
SELECT webhook.drop_endpoint(repeat('é', 3000), discard_pending => true);
