-- A row larger than webhook.max_payload_size is sent as its key, with a warning
CREATE TABLE docs (tenant int, id int, body text, PRIMARY KEY (tenant, id));
SELECT webhook.subscribe('docs', 'shop');
SET webhook.max_payload_size = '4kB';
SHOW webhook.max_payload_size;

INSERT INTO docs VALUES (1, 1, 'small');
-- (the body's size depends on its timestamp's digits: details left out)
\set VERBOSITY terse
INSERT INTO docs VALUES (1, 2, repeat('x', 10000));
UPDATE docs SET body = repeat('y', 20000) WHERE id = 1;
\set VERBOSITY default
SELECT payload::jsonb -> 'data' AS data FROM webhook.event ORDER BY id;

-- no primary key: the replica identity index, else an empty object
CREATE TABLE logs (n int NOT NULL UNIQUE, line text);
ALTER TABLE logs REPLICA IDENTITY USING INDEX logs_n_key;
CREATE TABLE blobs (b bytea);
SELECT webhook.subscribe('logs', 'shop');
SELECT webhook.subscribe('blobs', 'shop', format => 'supabase');
\set VERBOSITY terse
INSERT INTO logs VALUES (7, repeat('z', 9000));
\set VERBOSITY default
INSERT INTO blobs VALUES (decode(repeat('ab', 9000), 'hex'));
SELECT webhook._event_body(payload, created_at)::jsonb - 'timestamp' AS body FROM webhook.event ORDER BY id DESC LIMIT 2;

-- nonsense settings are refused (out of webhook's bounds: PostgreSQL's
-- wording of that differs between releases, so only the SQLSTATE shows)
\set VERBOSITY sqlstate
SET webhook.max_payload_size = '-1';
SET webhook.max_payload_size = 100;
\set VERBOSITY default
SET webhook.max_payload_size = 'lots';
RESET webhook.max_payload_size;
SELECT webhook.unsubscribe('docs', 'shop');
SELECT webhook.unsubscribe('logs', 'shop');
SELECT webhook.unsubscribe('blobs', 'shop');
TRUNCATE webhook.event;
