-- Operations: pause/resume, discard, replay by state, retry, send_test,
-- preview, breaker settings.  No worker serves this database, so events
-- stay where these functions put them.
SET client_min_messages = warning;

SELECT webhook.create_endpoint('ops', 'http://127.0.0.1:9/ops',
	secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
	headers => '{"X-Tenant": "7"}') > 0 AS created;
CREATE TABLE ops_orders (id int PRIMARY KEY, status text, secret text);
SELECT webhook.subscribe('ops_orders', 'ops', exclude => '{secret}');

-- breaker settings: defaults, changes, bad values
SELECT name, failure_threshold, failure_window, paused, rate_limit
FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.set_delivery_policy('ops', failure_threshold => 20,
	failure_window => '1 day');
SELECT failure_threshold, failure_window FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.set_delivery_policy('ops', failure_threshold => 0);
SELECT webhook.set_delivery_policy('ops', failure_window => '-1s');
SELECT webhook.set_delivery_policy('nope', failure_threshold => 3);
SELECT webhook.set_delivery_policy('ops', rate_limit => 2.5);
SELECT rate_limit FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.set_delivery_policy('ops', failure_threshold => 30);
SELECT failure_threshold, rate_limit FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.set_delivery_policy('ops', rate_limit => 0);
SELECT rate_limit FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.set_delivery_policy('ops', rate_limit => -1);
SELECT webhook.set_delivery_policy('ops', ordering => 'key');
SELECT ordering FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.set_delivery_policy('ops', ordering => 'none');
SELECT webhook.set_delivery_policy('ops', ordering => 'random');
SELECT webhook.set_delivery_policy('ops', failure_threshold => 20);

-- pause parks new work; resume makes the backlog due (NOTIFY: TAP test 021)
SELECT webhook.pause('ops');
SELECT enabled, paused, disabled_reason FROM webhook.endpoint WHERE name = 'ops';
SELECT webhook.pause('ops');	-- already paused: nothing changes
INSERT INTO ops_orders VALUES (1, 'new', 's3cret'), (2, 'new', 's3cret');
UPDATE webhook.event SET next_attempt_at = 'infinity' WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');	-- as the worker parks them
SELECT webhook.resume('ops');
SELECT enabled, paused, disabled_reason FROM webhook.endpoint WHERE name = 'ops';
SELECT count(*) FILTER (WHERE next_attempt_at <= now()) AS due
FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');
SELECT webhook.resume('ops');	-- not paused: nothing to do
UPDATE webhook.endpoint SET enabled = false, disabled_reason = 'test' WHERE name = 'ops';
SELECT webhook.resume('ops');
SELECT webhook.enable_endpoint('ops');
SELECT webhook.pause('nope');
SELECT webhook.resume('nope');

-- discard one event, then by filter
SELECT webhook.discard(min(id)) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');
SELECT state, finished_at IS NOT NULL AS finished FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops') ORDER BY id;
DO $$
BEGIN
	PERFORM webhook.discard(min(id)) FROM webhook.event
	WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
	RAISE WARNING 'discarding it again: %', regexp_replace(SQLERRM, '\d+', 'N');
END
$$;
SELECT webhook.discard(-1);
INSERT INTO ops_orders VALUES (3, 'new', 'x'), (4, 'new', 'x');
SELECT webhook.discard('ops', type => 'ops_orders.deleted');
SELECT webhook.discard('ops', since => now() + interval '1 hour');
SELECT webhook.discard('ops', since => now() - interval '1 hour', "until" => now() + interval '1 hour');
SELECT state, count(*) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops') GROUP BY 1 ORDER BY 1;
SELECT webhook.discard('nope');

-- replay by state
UPDATE webhook.event SET state = 'delivered' WHERE id = (SELECT max(id) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops'));
SELECT webhook.replay('ops', now() - interval '1 hour', status => 'delivered');
SELECT state, count(*) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops') GROUP BY 1 ORDER BY 1;
SELECT webhook.replay('ops', now() - interval '1 hour', status => 'dead');
SELECT state, count(*) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops') GROUP BY 1 ORDER BY 1;
SELECT webhook.replay('ops', now() - interval '1 hour', status => 'pending');

-- retry a pending event: due now, fresh schedule
UPDATE webhook.event SET next_attempt_at = now() + interval '1 day', attempts = 3 WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');
SELECT webhook.retry(min(id)) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');
SELECT attempts, retry_from, next_attempt_at <= clock_timestamp() AS due
FROM webhook.event WHERE id = (SELECT min(id) FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops'));

-- send_test queues a webhook.test event through the normal path
SELECT webhook.send_test('ops') > 0 AS queued;
SELECT e.name, ev.state, ev.attempts, ev.payload ->> 'type' AS type,
	   ev.payload -> 'data' AS data,
	   ev.payload ->> 'timestamp' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$' AS ts_ok
FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id
WHERE ev.payload ->> 'type' = 'webhook.test';
SELECT webhook.pause('ops');
SELECT webhook.send_test('ops') > 0 AS queued;
SELECT next_attempt_at FROM webhook.event
WHERE payload ->> 'type' = 'webhook.test' ORDER BY id DESC LIMIT 1;
SELECT webhook.resume('ops');
SELECT webhook.send_test('nope');

-- preview: the same body a captured event gets, without the timestamp,
-- and headers signed with the endpoint's secret
INSERT INTO ops_orders VALUES (10, 'new', 'hidden');
SELECT (p.body::jsonb - 'timestamp') = (ev.payload::jsonb - 'timestamp') AS same_body,
	   p.body::jsonb -> 'data' AS data,
	   p.trigger_name, p.endpoint, p.url
FROM ops_orders o, webhook.preview('ops_orders', o) p,
	 LATERAL (SELECT payload FROM webhook.events ORDER BY id DESC LIMIT 1) ev
WHERE o.id = 10;
SELECT count(*) AS events_after_preview FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'ops');
SELECT p.headers - 'webhook-id' - 'webhook-timestamp' - 'webhook-signature' - 'User-Agent' AS fixed_headers,
	   p.headers ->> 'webhook-signature' =
		   webhook.sign(webhook.endpoint_secret('ops'), p.headers ->> 'webhook-id',
						(p.headers ->> 'webhook-timestamp')::bigint, p.body::text) AS signed,
	   p.headers ->> 'webhook-id' ~ '^msg_[0-9a-f]{32}$' AS id_ok
FROM ops_orders o, webhook.preview('ops_orders', o) p WHERE o.id = 10;
-- an update: old and new, changed columns; one that changes nothing sends nothing
SELECT p.body::jsonb -> 'data' AS data
FROM ops_orders o, webhook.preview('ops_orders', (10, 'paid', 'hidden')::ops_orders, o) p WHERE o.id = 10;
SELECT count(*) AS nothing_sent
FROM ops_orders o, webhook.preview('ops_orders', (10, 'new', 'changed')::ops_orders, o) p WHERE o.id = 10;
-- a delete
SELECT p.body::jsonb -> 'data' AS data
FROM ops_orders o, webhook.preview('ops_orders', NULL::ops_orders, o) p WHERE o.id = 10;
-- a Supabase-format subscription with its own name
SELECT webhook.subscribe('ops_orders', 'ops', format => 'supabase', name => 'ops_orders_supa');
SELECT p.trigger_name, p.body
FROM ops_orders o, webhook.preview('ops_orders', o, subscription => 'ops_orders_supa') p WHERE o.id = 10;
CREATE TABLE lonely (id int);
SELECT * FROM webhook.preview('lonely', ROW(1)::lonely);
SELECT * FROM webhook.preview('ops_orders', NULL::ops_orders);
