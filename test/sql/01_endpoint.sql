-- Endpoints: create, list, alter, rotate, drop, and every bad input
CREATE EXTENSION webhook;

-- a generated secret has the Standard Webhooks form
SELECT webhook.create_endpoint('shop', 'https://shop.example.com/hooks');
SELECT webhook.endpoint_secret('shop') ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS generated_ok;
SELECT length(decode(substr(webhook.generate_secret(), 7), 'base64')) AS secret_bytes;

-- a given secret, extra headers, a short timeout and retry schedule
SELECT webhook.create_endpoint('crm', 'http://127.0.0.1:8080/in',
	secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
	headers => '{"Authorization": "Bearer abc", "X-Tenant": "7"}',
	timeout => '2s', retry_schedule => '{1s,2s}', max_in_flight => 4);
SELECT webhook.create_endpoint('v6', 'https://[::1]:8443/a%20b?x=1#frag');

-- the listing shows no secrets and no header values
SELECT name, url, header_names, timeout, retry_schedule, max_in_flight,
	   enabled, rotating
FROM webhook.endpoints ORDER BY id;
SELECT count(*) AS secrets_in_view
FROM webhook.endpoints e, webhook.endpoint s
WHERE e::text LIKE '%' || s.secret || '%' OR e::text LIKE '%Bearer%';

-- bad URLs
SELECT webhook.create_endpoint('x', 'file:///etc/passwd');
SELECT webhook.create_endpoint('x', 'gopher://example.com/');
SELECT webhook.create_endpoint('x', 'ftp://example.com/');
SELECT webhook.create_endpoint('x', 'http://');
SELECT webhook.create_endpoint('x', 'http:///path');
SELECT webhook.create_endpoint('x', 'example.com/hook');
SELECT webhook.create_endpoint('x', 'http://exa mple.com/');
SELECT webhook.create_endpoint('x', E'http://example.com/\n');
SELECT webhook.create_endpoint('x', 'https://user:hunter2@example.com/');
SELECT webhook.create_endpoint('x', 'https://user@example.com/');
SELECT webhook.create_endpoint('x', NULL);
SELECT webhook.create_endpoint('x', 'https://example.com/' || repeat('a', 9000));

-- bad secrets: never echoed
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'hunter2');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_hunter2');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_c2hvcnQ=');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_' || translate(encode(repeat('k', 65)::bytea, 'base64'), E'\n', ''));
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_');

-- bad headers: no injection, no overriding the signature headers
SELECT webhook.create_endpoint('x', 'https://example.com/', headers => E'{"X-A": "1\\r\\nX-Evil: 1"}');
SELECT webhook.create_endpoint('x', 'https://example.com/', headers => '{"Bad Name": "1"}');
SELECT webhook.create_endpoint('x', 'https://example.com/', headers => '{"webhook-signature": "v1,x"}');
SELECT webhook.create_endpoint('x', 'https://example.com/', headers => '{"X-N": 5}');
SELECT webhook.create_endpoint('x', 'https://example.com/', headers => '["X-A"]');

-- bad settings and names
SELECT webhook.create_endpoint('x', 'https://example.com/', timeout => '0s');
SELECT webhook.create_endpoint('x', 'https://example.com/', retry_schedule => '{1s,-1s}');
SELECT webhook.create_endpoint('', 'https://example.com/');
SELECT webhook.create_endpoint('shop', 'https://example.com/');
SELECT webhook.create_endpoint('x', 'https://example.com/', max_in_flight => 0);
SELECT count(*) AS endpoints_after_errors FROM webhook.endpoint;

-- alter: unchanged arguments keep their value
SELECT webhook.alter_endpoint('crm', url => 'http://127.0.0.1:9090/in', timeout => '3s');
SELECT name, url, timeout, retry_schedule FROM webhook.endpoints WHERE name = 'crm';
SELECT webhook.alter_endpoint('crm', url => 'ftp://example.com/');
SELECT webhook.alter_endpoint('nope', timeout => '1s');
SELECT webhook.alter_endpoint('crm', new_name => 'shop');
SELECT webhook.alter_endpoint('v6', new_name => 'ipv6');
SELECT name FROM webhook.endpoints ORDER BY id;

-- rotation keeps the old secret for the overlap
SELECT webhook.endpoint_secret('crm') AS old_secret \gset
SELECT webhook.rotate_secret('crm', overlap => '1h');
SELECT previous_secret = :'old_secret' AS kept_old,
	   secret <> :'old_secret' AS has_new,
	   previous_secret_expires_at > now() + '59min' AS overlap_ok
FROM webhook.endpoint WHERE name = 'crm';
SELECT rotating FROM webhook.endpoints WHERE name = 'crm';
SELECT webhook.rotate_secret('crm', secret => 'nonsense');
SELECT webhook.rotate_secret('nope');

-- the Standard Webhooks test vector
SELECT webhook.sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
					'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330,
					'{"test": 2432232314}');
SELECT webhook.sign('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'a.b', 1, '{}');
SELECT webhook.sign('bad', 'msg_1', 1, '{}');

-- drop
SELECT webhook.drop_endpoint('ipv6');
SELECT webhook.drop_endpoint('ipv6');
SELECT name FROM webhook.endpoints ORDER BY id;

-- the delivery functions refuse unknown targets
SELECT webhook.enable_endpoint('nope');
SELECT webhook.endpoint_secret('nope');
SELECT webhook.retry(-1);
SELECT webhook.replay('nope', since => now());
SELECT webhook.replay('shop', since => NULL);
SELECT webhook.replay('shop', since => now() - interval '1 day');
SELECT webhook.rotate_secret('shop', overlap => '-1h');
