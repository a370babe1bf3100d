-- Which tables can be subscribed: never the extension's own; a partitioned
-- table captures every partition (attached before or after) under its own
-- name, type and column order; inheritance children are not captured, and
-- subscribe() says so.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT webhook.create_endpoint('tabs', 'http://127.0.0.1:9/tabs') > 0 AS created;

-- cases 1 to 4: the extension's tables, by subscribe() or by hand
SELECT webhook.subscribe('webhook.endpoint', 'tabs');
SELECT webhook.subscribe('webhook.event', 'tabs', events => '{insert}');
SELECT webhook.subscribe('webhook.attempt', 'tabs');
CREATE TRIGGER by_hand AFTER INSERT ON webhook.endpoint FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('tabs');
SELECT webhook.create_endpoint('tabs2', 'http://127.0.0.1:9/tabs2');
DROP TRIGGER by_hand ON webhook.endpoint;
SELECT count(*) AS events FROM webhook.event;

-- case 5: a partitioned table; partitions with their own column order, one
-- attached after subscribing, one two levels down
CREATE TABLE pt (id int, region text, secret text, note text,
				 PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE pt_eu PARTITION OF pt FOR VALUES IN ('eu');
CREATE TABLE pt_us (note text, secret text, region text NOT NULL, id int NOT NULL);
ALTER TABLE pt ATTACH PARTITION pt_us FOR VALUES IN ('us');
SELECT webhook.subscribe('pt', 'tabs', exclude => '{secret}', columns => '{note}');
CREATE TABLE pt_asia (secret text, id int NOT NULL, note text, region text NOT NULL);
ALTER TABLE pt ATTACH PARTITION pt_asia FOR VALUES IN ('asia');
CREATE TABLE pt_af PARTITION OF pt FOR VALUES IN ('af') PARTITION BY LIST (id);
CREATE TABLE pt_af_1 PARTITION OF pt_af FOR VALUES IN (1);
INSERT INTO pt VALUES (1, 'eu', 's', 'n'), (1, 'us', 's', 'n'), (1, 'asia', 's', 'n'),
	(1, 'af', 's', 'n');
INSERT INTO pt_us VALUES ('direct', 's', 'us', 2);
UPDATE pt SET note = 'm' WHERE region = 'asia';
UPDATE pt SET secret = 'x' WHERE region = 'eu';
DELETE FROM pt WHERE region = 'af';
-- (the stored body, whose keys keep the partitioned table's column order)
SELECT ev.payload FROM webhook.event ev ORDER BY ev.id;
TRUNCATE webhook.event;

-- case 6: a row moved to another partition: a delete and an insert, both the
-- partitioned table's
UPDATE pt SET region = 'eu', note = 'moved' WHERE id = 2;
SELECT ev.payload FROM webhook.event ev ORDER BY ev.id;
TRUNCATE webhook.event;

-- case 7: a payload function of the partitioned table's row type
CREATE FUNCTION pt_ids(r pt) RETURNS jsonb LANGUAGE sql
RETURN jsonb_build_object('id', r.id, 'region', r.region);
SELECT webhook.subscribe('pt', 'tabs', name => 'pt_fn', events => '{insert}',
						 payload_function => 'pt_ids(pt)');
INSERT INTO pt VALUES (3, 'asia', 's', 'n');
SELECT ev.payload FROM webhook.event ev ORDER BY ev.id;
TRUNCATE webhook.event;

-- case 8: inheritance: subscribe() warns that children are not captured
CREATE TABLE ih (id int PRIMARY KEY, v text);
CREATE TABLE ih_child (extra text) INHERITS (ih);
SELECT webhook.subscribe('ih', 'tabs');
INSERT INTO ih VALUES (1, 'parent');
INSERT INTO ih_child VALUES (2, 'child', 'e');
UPDATE ih SET v = v || '!';
SELECT ev.payload FROM webhook.event ev ORDER BY ev.id;
TRUNCATE webhook.event;

DROP TABLE pt, ih CASCADE;
DROP FUNCTION IF EXISTS pt_ids(pt);
SELECT webhook.drop_endpoint('tabs', discard_pending => true);
