-- What a new user hits first: an endpoint on this machine or a private
-- network is refused by the worker unless webhook.allowed_networks allows
-- it, and creating or moving one says so with the setting that fixes it;
-- retry() of a paused endpoint's event says why it waits.
SET webhook.allowed_networks = '';
SELECT webhook.create_endpoint('fh_loop', 'http://127.0.0.1:8080/hooks') > 0 AS created;
SELECT webhook.create_endpoint('fh_local', 'http://localhost:8080/hooks') > 0 AS created;
SELECT webhook.create_endpoint('fh_v6', 'http://[::1]:8080/hooks') > 0 AS created;
SELECT webhook.create_endpoint('fh_private', 'https://10.1.2.3/hooks') > 0 AS created;
SELECT webhook.create_endpoint('fh_linklocal', 'http://169.254.10.10/hooks') > 0 AS created;
-- public addresses and host names: nothing to say
SELECT webhook.create_endpoint('fh_public', 'https://192.0.2.10/hooks') > 0 AS created;
SELECT webhook.create_endpoint('fh_name', 'https://hooks.example.com/in') > 0 AS created;
-- allowed: nothing to say; the hint keeps what is allowed already
SET webhook.allowed_networks = '127.0.0.1/32, ::1/128';
SELECT webhook.alter_endpoint('fh_name', url => 'http://127.0.0.2/in');
SELECT webhook.alter_endpoint('fh_name', url => 'http://127.0.0.1:9/in');
SELECT webhook.alter_endpoint('fh_name', url => 'http://192.168.0.7/in');
-- changing another setting says nothing
SET webhook.allowed_networks = '';
UPDATE webhook.endpoint SET timeout = '5s' WHERE name = 'fh_loop';
RESET webhook.allowed_networks;

-- a changed URL resets the endpoint's health and makes its events due
CREATE TABLE fh_t (id int PRIMARY KEY);
SELECT webhook.subscribe('fh_t', 'fh_public');
INSERT INTO fh_t VALUES (1), (2);
UPDATE webhook.event SET next_attempt_at = now() + interval '1 hour'
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');
INSERT INTO webhook.endpoint_health (endpoint_id, consecutive_failures,
	failing_since, probe_step, next_probe_at)
SELECT id, 5, now(), 2, now() + interval '1 hour' FROM webhook.endpoint
WHERE name = 'fh_public';
SELECT webhook.alter_endpoint('fh_public', max_in_flight => 3);
SELECT state, consecutive_failures FROM webhook.endpoint_stats WHERE name = 'fh_public';
SELECT webhook.alter_endpoint('fh_public', url => 'https://192.0.2.11/hooks');
SELECT state, consecutive_failures FROM webhook.endpoint_stats WHERE name = 'fh_public';
SELECT count(*) FILTER (WHERE next_attempt_at <= clock_timestamp()) AS due,
	   count(*) AS pending
FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');

-- retry() of a failing endpoint's event: due now, and so is the next probe
UPDATE webhook.event SET next_attempt_at = now() + interval '1 hour'
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');
UPDATE webhook.endpoint_health SET consecutive_failures = 5,
	next_probe_at = now() + interval '1 hour'
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');
SELECT webhook.retry(min(id)) FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');
SELECT next_probe_at <= clock_timestamp() AS probe_due
FROM webhook.endpoint_stats WHERE name = 'fh_public';
SELECT count(*) FILTER (WHERE next_attempt_at <= clock_timestamp()) AS due
FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');

-- a paused endpoint's event waits, and retry() says why
SELECT webhook.pause('fh_public');
SELECT webhook.retry(min(id)) FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');
-- and a new URL does not send it either
SELECT webhook.alter_endpoint('fh_public', url => 'https://192.0.2.12/hooks');
SELECT count(*) FILTER (WHERE next_attempt_at <= clock_timestamp()) AS due
FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'fh_public');

SELECT webhook.unsubscribe('fh_t', 'fh_public');
DROP TABLE fh_t;
SELECT count(webhook.drop_endpoint(name, discard_pending => true)) AS dropped
FROM webhook.endpoint WHERE name LIKE 'fh\_%';
