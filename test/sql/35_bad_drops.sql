-- Drops and names: an excluded column dropped by any cascade is refused like
-- ALTER TABLE ... DROP COLUMN, while drops of whole subscribed tables go
-- through; names at the 63-byte limit in multibyte characters; recording a
-- payload function's dependency needs EXECUTE on it.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT webhook.create_endpoint('rv', 'http://127.0.0.1:9/rv') > 0 AS created;

-- case 1: DROP COLLATION ... CASCADE of an excluded column's collation
CREATE SCHEMA rvs;
CREATE COLLATION rvs.rvc (locale = 'C');
CREATE FUNCTION rvs.lowered(text) RETURNS text LANGUAGE sql IMMUTABLE
	AS 'SELECT lower($1)';
CREATE TABLE rt (id int PRIMARY KEY, note text COLLATE rvs.rvc,
				 other text, low text GENERATED ALWAYS AS (rvs.lowered(other)) STORED);
SELECT webhook.subscribe('rt', 'rv', exclude => '{note,low}');
DROP COLLATION rvs.rvc CASCADE;
-- case 2: DROP FUNCTION ... CASCADE of a generated excluded column's function
DROP FUNCTION rvs.lowered(text) CASCADE;
-- case 3: DROP SCHEMA ... CASCADE that reaches both
DROP SCHEMA rvs CASCADE;
-- the columns are all there, and writes go on
INSERT INTO rt (id, note, other) VALUES (1, 'hidden', 'Shown');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
TRUNCATE webhook.event;
-- case 4: a cascade to a column no list names goes through
SELECT webhook.unsubscribe('rt', 'rv');
SELECT webhook.subscribe('rt', 'rv', exclude => '{low}');
DROP COLLATION rvs.rvc CASCADE;
SELECT attname FROM pg_attribute WHERE attrelid = 'rt'::regclass AND attnum > 0
	AND NOT attisdropped ORDER BY attnum;
-- case 5: and dropping the table drops its subscription with it
DROP TABLE rt;
SELECT count(*) AS subscriptions FROM webhook.subscriptions WHERE endpoint = 'rv';
-- case 5a: as does a schema's or a type's drop that takes whole tables
CREATE SCHEMA rvz;
CREATE TABLE rvz.t (id int PRIMARY KEY, a text);
CREATE TYPE rvz.ty AS (x int, y int);
CREATE TABLE rvz.typed OF rvz.ty;
SELECT webhook.subscribe('rvz.t', 'rv', exclude => '{a}');
SELECT webhook.subscribe('rvz.typed', 'rv', exclude => '{x}');
DROP SCHEMA rvz CASCADE;
SELECT count(*) AS subscriptions FROM webhook.subscriptions WHERE endpoint = 'rv';

-- case 6: an endpoint name of 63 bytes in two-byte characters is accepted,
-- one byte more is refused, by bytes not characters
SELECT webhook.create_endpoint(repeat('é', 31) || 'x', 'http://127.0.0.1:9/') > 0 AS created_63;
SELECT webhook.create_endpoint(repeat('é', 32), 'http://127.0.0.1:9/');
-- case 7: a subscription named after it would be 71 bytes: refused, with a hint
CREATE TABLE rn (id int PRIMARY KEY, "ééééééééééééééééééééééééééééééé" text);
SELECT webhook.subscribe('rn', repeat('é', 31) || 'x');
-- case 8: a 62-byte column name in multibyte characters is excluded exactly
SELECT webhook.subscribe('rn', repeat('é', 31) || 'x', name => 'rn_sub',
	exclude => ARRAY[repeat('é', 31)]);
INSERT INTO rn VALUES (1, 'hidden');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
SELECT webhook.unsubscribe('rn', repeat('é', 31) || 'x', name => 'rn_sub');
DROP TABLE rn;
TRUNCATE webhook.event;
SELECT webhook.drop_endpoint(repeat('é', 31) || 'x');

-- case 9: the helper that records a payload function's dependency takes
-- only a function its caller may run (else a webhook_user could block the
-- DROP FUNCTION of any function in the database)
CREATE ROLE rv_user IN ROLE webhook_user;
CREATE TABLE rp (id int PRIMARY KEY);
ALTER TABLE rp OWNER TO rv_user;
CREATE FUNCTION rv_private(rp) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
REVOKE ALL ON FUNCTION rv_private(rp) FROM PUBLIC;
SET ROLE rv_user;
SELECT webhook.subscribe('rp', 'rv', name => 'rp_sub');
SELECT webhook._depend_on_function('rp', 'rp_sub', 'rv_private(rp)');
RESET ROLE;
DROP FUNCTION rv_private(rp);
DROP TABLE rp;
DROP ROLE rv_user;
SELECT webhook.drop_endpoint('rv');
