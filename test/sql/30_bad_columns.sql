-- Column lists (columns, exclude, the trigger's own arguments) carry any
-- legal name exactly; a rename follows the column; dropping an excluded
-- column is refused, naming the subscription; writes never fail because
-- a list is out of date.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT webhook.create_endpoint('cols', 'http://127.0.0.1:9/cols') > 0 AS created;

-- case 1: a name holding a comma is one column, and the others stay
CREATE TABLE bc (id int PRIMARY KEY, "a,b" text, a text, b text);
SELECT webhook.subscribe('bc', 'cols', exclude => '{"a,b"}');
INSERT INTO bc VALUES (1, 'secret', 'A', 'B');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
SELECT options FROM webhook.subscriptions WHERE table_name = 'bc'::regclass;
SELECT webhook.unsubscribe('bc', 'cols');
TRUNCATE webhook.event;

-- case 2: names with double quotes, spaces, capitals, keywords, commas
CREATE TABLE bq (id int PRIMARY KEY, "x""y" text, " sp " text, "Caps" text,
				 "select" text, "," text, shown text);
SELECT webhook.subscribe('bq', 'cols',
	exclude => ARRAY['x"y', ' sp ', 'Caps', 'select', ',']);
INSERT INTO bq VALUES (1, 'q', 's', 'c', 'k', 'comma', 'ok');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
TRUNCATE webhook.event;

-- case 3: UPDATE OF a quoted column with a comma; a change elsewhere sends nothing
SELECT webhook.subscribe('bc', 'cols', columns => '{"a,b"}', name => 'bc_watch');
UPDATE bc SET a = 'A2';
UPDATE bc SET "a,b" = 'changed';
SELECT payload::jsonb -> 'data' -> 'changed' AS changed FROM webhook.event ORDER BY id;
SELECT webhook.unsubscribe('bc', 'cols', 'bc_watch');
TRUNCATE webhook.event;

-- case 4: a rename follows the excluded column (and the one it watches)
SELECT webhook.subscribe('bc', 'cols', exclude => '{"a,b"}', columns => '{b}');
ALTER TABLE bc RENAME COLUMN "a,b" TO "hidden, really";
ALTER TABLE bc RENAME COLUMN b TO bee;
SELECT options, definition FROM webhook.subscriptions WHERE table_name = 'bc'::regclass;
UPDATE bc SET bee = 'B2';
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
TRUNCATE webhook.event;

-- case 5: dropping the excluded column is refused and names the subscription
ALTER TABLE bc DROP COLUMN "hidden, really";
-- case 6: dropping the watched column is refused by its dependency
ALTER TABLE bc DROP COLUMN bee;
-- case 7: a column no list names drops freely
ALTER TABLE bc DROP COLUMN a;
SELECT webhook.unsubscribe('bc', 'cols');
ALTER TABLE bc DROP COLUMN "hidden, really";

-- case 8: a trigger made by hand whose list names no column: writes go on
CREATE TABLE bh (id int PRIMARY KEY, v text);
CREATE TRIGGER bh_hand AFTER INSERT ON bh FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('cols', 'exclude=gone,v');
INSERT INTO bh VALUES (1, 'hidden');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
DROP TRIGGER bh_hand ON bh;
TRUNCATE webhook.event;

-- case 9: a list 0.2.0 wrote about a name starting with a double quote
-- (not well formed when read as quoted) is read as 0.2.0 read it
ALTER TABLE bh ADD COLUMN """q" text;
CREATE TRIGGER bh_old AFTER INSERT ON bh FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('cols', 'exclude="q,v');
INSERT INTO bh VALUES (2, 'x', 'hidden too');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
DROP TRIGGER bh_old ON bh;
TRUNCATE webhook.event;

-- cases 10 to 13: empty and NULL entries say which argument is wrong
SELECT webhook.subscribe('bh', 'cols', columns => '{}');
SELECT webhook.subscribe('bh', 'cols', columns => ARRAY[NULL]::text[]);
SELECT webhook.subscribe('bh', 'cols', exclude => ARRAY['v', NULL]);
SELECT webhook.subscribe('bh', 'cols', exclude => '{""}');

-- case 14: a rename on a partitioned table follows into every partition
CREATE TABLE bp (id int, k text, secret text, PRIMARY KEY (id, k)) PARTITION BY LIST (k);
CREATE TABLE bp_a PARTITION OF bp FOR VALUES IN ('a');
SELECT webhook.subscribe('bp', 'cols', exclude => '{secret}');
ALTER TABLE bp RENAME COLUMN secret TO "Secret, Renamed";
SELECT table_name, options FROM webhook.subscriptions
WHERE table_name IN ('bp'::regclass, 'bp_a'::regclass) ORDER BY 1;
INSERT INTO bp VALUES (1, 'a', 'x');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
TRUNCATE webhook.event;

-- cases 15 to 17: a payload function's subscription follows a rename of the
-- function, of its schema and of the table whose rows it takes
CREATE SCHEMA bfs;
CREATE TABLE bf (id int PRIMARY KEY);
CREATE FUNCTION bfs.bf_ids(r bf) RETURNS jsonb LANGUAGE sql
RETURN jsonb_build_object('id', r.id);
SELECT webhook.subscribe('bf', 'cols', name => 'bf_fn', payload_function => 'bfs.bf_ids(bf)');
ALTER FUNCTION bfs.bf_ids(bf) RENAME TO bf_keys;
ALTER SCHEMA bfs RENAME TO bfs2;
ALTER TABLE bf RENAME TO bf2;
SELECT options FROM webhook.subscriptions WHERE trigger_name = 'bf_fn';
INSERT INTO bf2 VALUES (1);
SELECT payload::jsonb -> 'data' AS data FROM webhook.event ORDER BY id;
TRUNCATE webhook.event;
DROP TABLE bf2 CASCADE;
DROP SCHEMA bfs2 CASCADE;

DROP TABLE bc, bq, bh, bp;
SELECT webhook.drop_endpoint('cols', discard_pending => true);
