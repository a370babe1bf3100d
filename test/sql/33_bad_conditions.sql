-- Conditions are parsed alone as one expression, never spliced into SQL;
-- payload functions and conditions run with the writer's rights, both
-- checked as the writer.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT webhook.create_endpoint('cond', 'http://127.0.0.1:9/cond') > 0 AS created;
CREATE TABLE cd (id int PRIMARY KEY, status text);

-- cases 1 to 8: anything but one expression is refused with 42601
\set VERBOSITY default
SELECT webhook.subscribe('cd', 'cond', condition => '1=1; DROP TABLE cd');
SELECT webhook.subscribe('cd', 'cond', condition =>
	'true) EXECUTE FUNCTION webhook.capture(''cond''); DROP TABLE cd; CREATE TRIGGER x AFTER INSERT ON cd FOR EACH ROW WHEN (true');
SELECT webhook.subscribe('cd', 'cond', condition => 'true FROM pg_class');
SELECT webhook.subscribe('cd', 'cond', condition => 'true AS x');
SELECT webhook.subscribe('cd', 'cond', condition => 'true, false');
SELECT webhook.subscribe('cd', 'cond', condition => 'NEW.id > 0 /* unterminated');
SELECT webhook.subscribe('cd', 'cond', condition => 'NEW.id > 0 ORDER BY 1');
SELECT webhook.subscribe('cd', 'cond', condition => 'true UNION SELECT true');
-- cases 9 and 10: an empty condition
SELECT webhook.subscribe('cd', 'cond', condition => '');
SELECT webhook.subscribe('cd', 'cond', condition => '   ');
-- case 11: the table still has no trigger and no extra one
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'cd'::regclass;
-- case 12: a condition ending in a comment is still only that condition
SELECT webhook.subscribe('cd', 'cond', events => '{insert}',
						 condition => 'NEW.status = ''paid'' -- paid only');
INSERT INTO cd VALUES (1, 'new'), (2, 'paid');
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
SELECT webhook.unsubscribe('cd', 'cond');
TRUNCATE webhook.event;
-- case 13: what PostgreSQL refuses in a WHEN clause it still refuses
SELECT webhook.subscribe('cd', 'cond', condition => 'EXISTS (SELECT 1)');

-- cases 14 and 15: a payload function runs as the writer, who needs EXECUTE
CREATE ROLE wh_writer;
GRANT INSERT, UPDATE, SELECT ON cd TO wh_writer;
CREATE FUNCTION cd_ids(r cd) RETURNS jsonb LANGUAGE sql
RETURN jsonb_build_object('id', r.id);
REVOKE EXECUTE ON FUNCTION cd_ids(cd) FROM PUBLIC;
SELECT webhook.subscribe('cd', 'cond', name => 'cd_fn', events => '{insert}',
						 payload_function => 'cd_ids(cd)');
SET ROLE wh_writer;
INSERT INTO cd VALUES (3, 'new');
RESET ROLE;
GRANT EXECUTE ON FUNCTION cd_ids(cd) TO wh_writer;
SET ROLE wh_writer;
INSERT INTO cd VALUES (4, 'new');
RESET ROLE;
SELECT payload::jsonb -> 'data' AS data FROM webhook.event ORDER BY id;
SELECT webhook.unsubscribe('cd', 'cond', 'cd_fn');
TRUNCATE webhook.event;

-- cases 16 and 17: so does a function a condition calls, checked the same way
-- (a condition is read with search_path pg_catalog: name its schema)
CREATE FUNCTION cd_paid(s text) RETURNS boolean LANGUAGE sql RETURN s = 'paid';
REVOKE EXECUTE ON FUNCTION cd_paid(text) FROM PUBLIC;
SELECT webhook.subscribe('cd', 'cond', name => 'cd_cond', events => '{insert}',
						 condition => 'public.cd_paid(NEW.status)');
SET ROLE wh_writer;
INSERT INTO cd VALUES (5, 'paid');
RESET ROLE;
GRANT EXECUTE ON FUNCTION cd_paid(text) TO wh_writer;
SET ROLE wh_writer;
INSERT INTO cd VALUES (6, 'paid');
RESET ROLE;
SELECT payload::jsonb -> 'data' -> 'new' AS new FROM webhook.event ORDER BY id;
TRUNCATE webhook.event;

DROP TABLE cd CASCADE;
DROP FUNCTION cd_paid(text);
DROP ROLE wh_writer;
SELECT webhook.drop_endpoint('cond', discard_pending => true);
