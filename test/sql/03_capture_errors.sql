-- Capture: bad input gets a clear error and leaves nothing half-made
CREATE TABLE t (id int PRIMARY KEY, a text, b int);

-- unknown endpoint: in subscribe, and in a hand-written trigger
SELECT webhook.subscribe('t', 'nope');
CREATE TRIGGER t_nope AFTER INSERT ON t FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('nope');
INSERT INTO t VALUES (1, 'a', 1);
SELECT count(*) FROM t;
DROP TRIGGER t_nope ON t;

-- unknown columns, bad events, a condition that does not parse
SELECT webhook.subscribe('t', 'shop', columns => '{nope}');
SELECT webhook.subscribe('t', 'shop', exclude => '{a,nope}');
SELECT webhook.subscribe('t', 'shop', events => '{insert,truncate}');
SELECT webhook.subscribe('t', 'shop', events => '{}');
SELECT webhook.subscribe('t', 'shop', events => '{insert}', columns => '{a}');
SELECT webhook.subscribe('t', 'shop', condition => 'NEW.a = = 1');
SELECT webhook.subscribe('t', 'shop', condition => 'NEW.nope = 1');
SELECT webhook.subscribe('t', 'shop', format => 'xml');
SELECT webhook.subscribe('nope_table', 'shop');
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 't'::regclass;

-- the same subscription twice
SELECT webhook.subscribe('t', 'shop');
SELECT webhook.subscribe('t', 'shop');
SELECT webhook.unsubscribe('t', 'shop');
SELECT webhook.unsubscribe('t', 'nope');

-- webhook.capture() outside a trigger, as a statement trigger, BEFORE, INSTEAD OF
SELECT webhook.capture();
CREATE TRIGGER t_stmt AFTER INSERT ON t FOR EACH STATEMENT
	EXECUTE FUNCTION webhook.capture('shop');
INSERT INTO t VALUES (2, 'a', 2);
DROP TRIGGER t_stmt ON t;
CREATE TRIGGER t_before BEFORE INSERT ON t FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('shop');
INSERT INTO t VALUES (3, 'a', 3);
DROP TRIGGER t_before ON t;
CREATE VIEW tv AS SELECT * FROM t;
CREATE TRIGGER tv_instead INSTEAD OF INSERT ON tv FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('shop');
INSERT INTO tv VALUES (4, 'a', 4);
DROP VIEW tv;

-- bad options in a hand-written trigger
CREATE TRIGGER t_opt AFTER INSERT ON t FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('shop', 'colour=blue');
INSERT INTO t VALUES (5, 'a', 5);
DROP TRIGGER t_opt ON t;
CREATE TRIGGER t_opt AFTER INSERT ON t FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('shop', 'nonsense');
INSERT INTO t VALUES (6, 'a', 6);
DROP TRIGGER t_opt ON t;
CREATE TRIGGER t_opt AFTER INSERT ON t FOR EACH ROW
	EXECUTE FUNCTION webhook.capture('shop', 'exclude=zzz');
INSERT INTO t VALUES (7, 'a', 7);
DROP TRIGGER t_opt ON t;
CREATE TRIGGER t_opt AFTER INSERT ON t FOR EACH ROW
	EXECUTE FUNCTION webhook.capture();
INSERT INTO t VALUES (8, 'a', 8);
DROP TRIGGER t_opt ON t;

SELECT count(*) AS rows_written FROM t;
SELECT count(*) AS events_written FROM webhook.event;
