-- Hostile and odd input: each gets a clear error or a correct payload
\set SHOW_CONTEXT never

-- network lists: parsed and checked when set, superuser only
SET webhook.allowed_networks = '10.0.0.0/8, fd00::/8 192.168.1.7';
SHOW webhook.allowed_networks;
SET webhook.allowed_networks = 'nonsense';
SET webhook.allowed_networks = '10.0.0.1/8';
SET webhook.allowed_networks = '10.0.0.0/33';
SET webhook.allowed_networks = '::1/129';
SET webhook.allowed_networks = '300.1.1.1';
SET webhook.allowed_networks = '10.0.0.0/';
SET webhook.allowed_networks = '10.0.0.0/-1';
SET webhook.allowed_networks = 'localhost';
SET webhook.denied_networks = '169.254.169.254, 10.1.0.0/16';
SET webhook.denied_networks = E'10.0.0.0/8\u0001';
SELECT set_config('webhook.denied_networks', repeat('1.2.3.4,', 300), false);
RESET webhook.allowed_networks;
RESET webhook.denied_networks;
SET webhook.proxy = 'http://proxy.example.com:3128';
ALTER SYSTEM SET webhook.proxy = 'ftp://proxy.example.com/';
ALTER SYSTEM SET webhook.proxy = 'proxy.example.com:3128';
ALTER SYSTEM SET webhook.proxy = 'socks5h://proxy.example.com:1080';
ALTER SYSTEM RESET webhook.proxy;
SET webhook.max_payload_size = 'lots';
-- below webhook's bound (PostgreSQL words that by release: the SQLSTATE)
\set VERBOSITY sqlstate
SET webhook.max_payload_size = -1;
\set VERBOSITY default
CREATE ROLE wh_plain;
SET ROLE wh_plain;
SET webhook.allowed_networks = '0.0.0.0/0';
SET webhook.denied_networks = '';
SET webhook.max_payload_size = '10MB';
RESET ROLE;
DROP ROLE wh_plain;

-- URLs: IPv6 literals, ports, percent-encoding, IDN hosts, long ones
SELECT webhook.create_endpoint('u1', 'http://[2001:db8::1]:8080/in?x=%20y') > 0 AS ok;
SELECT webhook.create_endpoint('u2', 'https://[fe80::1%25eth0]/') > 0 AS ok;
SELECT webhook.create_endpoint('u3', 'https://xn--bcher-kva.example/h%C3%BC') > 0 AS ok;
SELECT webhook.create_endpoint('u4', 'https://example.com:65535/' || repeat('a', 8000)) > 0 AS ok;
SELECT webhook.create_endpoint('u5', 'https://bücher.example/') > 0 AS idn_ok;
SELECT webhook.create_endpoint('x', 'https://example.com:99999/');
SELECT webhook.create_endpoint('x', 'https://[::1/');
SELECT webhook.create_endpoint('x', 'https://[zz::1]/');
SELECT webhook.create_endpoint('x', 'https://example.com/' || repeat('a', 8173));
SELECT webhook.create_endpoint('x', 'HTTPS://EXAMPLE.COM/') > 0 AS upper_case_ok;
SELECT webhook.drop_endpoint('x');
SELECT webhook.create_endpoint('x', 'javascript://example.com/%0a');
SELECT webhook.create_endpoint('u6', E'https://example.com/\u00a0') > 0 AS ok;
SELECT name, left(url, 40) AS url FROM webhook.endpoints
WHERE name LIKE 'u_' AND name <> 'u6' ORDER BY name;

-- header injection is impossible: CR, LF and NUL are refused anywhere
SELECT webhook.create_endpoint('x', 'https://example.com/',
	headers => '{"X-A": "ok\r\nX-Injected: 1"}');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	headers => '{"X-A": "ok\nX-Injected: 1"}');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	headers => '{"X-A\r\nX-Injected": "1"}');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	headers => '{"X-A:": "1"}');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	headers => '{"X-Ünicode": "1"}');
SELECT webhook.alter_endpoint('u1', headers => '{"X-A": "a\rb"}');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	headers => '{"X-A": "\u0000"}');

-- secrets of the wrong length or alphabet, never echoed
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_' || repeat('-_', 20));
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => E'whsec_MfKQ9r8GKYqrTwjUPD8I\nLPZIo2LaLaSw');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw===');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
SELECT webhook.create_endpoint('x', 'https://example.com/', secret => 'whsec_' || repeat('A', 100000));
SELECT webhook.rotate_secret('u1', 'whsec_ünïcödé');

-- TLS and proxy options: PEM text, not file names; loud when insecure
SELECT webhook.create_endpoint('x', 'https://example.com/', ca_bundle => '/etc/ssl/certs/ca-certificates.crt');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	client_cert => E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
SELECT webhook.create_endpoint('x', 'https://example.com/',
	client_cert => E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
	client_key => E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
SELECT webhook.create_endpoint('x', 'https://example.com/', ca_bundle => E'-----BEGIN CERTIFICATE-----\n\u00e9\n-----END CERTIFICATE-----\n');
SELECT webhook.create_endpoint('x', 'https://example.com/', proxy => 'ftp://proxy.example.com/');
SELECT webhook.create_endpoint('x', 'https://example.com/', proxy => 'http://user:hunter2@/');
SELECT webhook.create_endpoint('tls', 'https://example.com/',
	ca_bundle => E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
	client_cert => E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
	client_key => E'-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n',
	proxy => 'http://user:hunter2@proxy.example.com:3128') > 0 AS ok;
SELECT webhook.create_endpoint('insecure', 'https://self-signed.example.com/',
	tls_insecure => true) > 0 AS ok;
SELECT name, tls_insecure, has_ca_bundle, has_client_cert, has_proxy
FROM webhook.endpoints WHERE name IN ('tls', 'insecure') ORDER BY name;
SELECT count(*) AS leaks FROM webhook.endpoints e
WHERE e::text LIKE '%hunter2%' OR e::text LIKE '%BBBB%';
SELECT webhook.alter_endpoint('tls', client_key => '');
SELECT webhook.alter_endpoint('tls', client_key => '', client_cert => '', proxy => '');
SELECT webhook.alter_endpoint('u1', tls_insecure => true);
SELECT name, tls_insecure, has_ca_bundle, has_client_cert, has_proxy
FROM webhook.endpoints WHERE name IN ('tls', 'u1') ORDER BY name;
-- the old call forms still work
SELECT webhook.create_endpoint('old', 'https://example.com/', NULL, '{}', '2s',
	'{1s}', 4) > 0 AS ok;
SELECT webhook.alter_endpoint('old', 'https://example.com/2', '{}', '3s', '{2s}', 5, 'old2');

-- names that need quoting: quotes, dots, emoji, spaces
CREATE SCHEMA "we.ird ""schema""";
CREATE TABLE "we.ird ""schema"""."tab.le ""😀""" (
	"id.""x""" int PRIMARY KEY,
	"col 😀" text,
	"a""b" int
);
SELECT webhook.subscribe('"we.ird ""schema"""."tab.le ""😀"""', 'u1',
	exclude => ARRAY['a"b'], name => 'trig "😀".x');
INSERT INTO "we.ird ""schema"""."tab.le ""😀""" VALUES (1, 'ünïcödé 😀', 7);
SELECT payload -> 'type' AS type, payload -> 'data' -> 'schema' AS schema,
	   payload -> 'data' -> 'table' AS table,
	   payload -> 'data' -> 'new' AS new
FROM webhook.events WHERE endpoint = 'u1' ORDER BY id DESC LIMIT 1;
SELECT webhook.unsubscribe('"we.ird ""schema"""."tab.le ""😀"""', 'u1',
	name => 'trig "😀".x');

-- huge TOASTed values and deep arrays
CREATE TABLE big (id int PRIMARY KEY, t text, b bytea, deep int[]);
SELECT webhook.subscribe('big', 'u1');
SET webhook.max_payload_size = '64MB';
INSERT INTO big VALUES (1, repeat('x', 3000000),
	decode(repeat('00ff', 1000000), 'hex'),
	'{{{{{{1,2},{3,4}}}}}}');
SELECT length(payload::text) > 7000000 AS big_body,
	   length(payload -> 'data' -> 'new' ->> 't') AS text_len,
	   length(payload -> 'data' -> 'new' ->> 'b') AS bytea_hex_len,
	   payload -> 'data' -> 'new' -> 'deep' AS deep,
	   (payload -> 'data' -> 'new')::jsonb =
		   (SELECT to_jsonb(big) FROM big WHERE id = 1) AS matches
FROM webhook.events WHERE endpoint = 'u1' ORDER BY id DESC LIMIT 1;
-- deeper than any receiver wants, still valid JSON
INSERT INTO big (id, deep) VALUES (2, (repeat('{', 6) || '1' || repeat('}', 6))::int[]);
SELECT payload -> 'data' -> 'new' -> 'deep' AS deep
FROM webhook.events WHERE endpoint = 'u1' ORDER BY id DESC LIMIT 1;
RESET webhook.max_payload_size;

-- text that looks like trouble: control characters, escape look-alikes,
-- -0, NaN and infinities
CREATE TABLE odd (id int PRIMARY KEY, t text, j jsonb, f float8, n numeric);
SELECT webhook.subscribe('odd', 'u1');
INSERT INTO odd VALUES
	(1, E'\u0001\u001f\u007f\b\f\r\n\t"\\', '"\\ud800 not a surrogate"', '-0', 'NaN'),
	(2, E'\\u0000 \\ud83d\\ude00 \u2028\u2029 \ufeff', '{"\\u0000": "k"}', '-Infinity', '-0.0'),
	(3, repeat(E'\\', 10) || '</script>', 'null', 'NaN', 'Infinity');
SELECT p.id, (ev.payload -> 'data' -> 'new')::jsonb = to_jsonb(p) AS matches,
	   ev.payload -> 'data' -> 'new' ->> 't' = p.t AS text_round_trips,
	   ev.payload -> 'data' -> 'new' -> 'f' AS f,
	   ev.payload -> 'data' -> 'new' -> 'n' AS n
FROM webhook.events ev
JOIN odd p ON (ev.payload -> 'data' -> 'new' ->> 'id')::int = p.id
WHERE ev.endpoint = 'u1' AND ev.payload -> 'data' ->> 'table' = 'odd'
ORDER BY p.id;

-- clean up
DROP SCHEMA "we.ird ""schema""" CASCADE;
DROP TABLE big, odd;
SET client_min_messages = warning;
SELECT count(webhook.drop_endpoint(name, discard_pending => true)) AS dropped
FROM webhook.endpoints
WHERE name IN ('u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'tls', 'insecure', 'old2');
