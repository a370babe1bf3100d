-- Progress of long operations: the webhook.progress view, its privileges,
-- a row that lives as long as its operation (and no longer, whether the
-- transaction commits or aborts), and the NOTICEs of a replay and a
-- discard of more than one batch (10,000 ids).  No worker serves this
-- database, so events stay where these functions put them.
SET client_min_messages = warning;

-- the view's shape
\d webhook.progress

-- nothing runs: no row
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();

-- a row lives while its operation runs, in this transaction
BEGIN;
SELECT webhook._progress_begin('test', 'first phase', 40);
SELECT webhook._progress_advance(10) AS notice_due;
SELECT webhook._progress_advance(11) AS notice_due;	-- the same tenth
SELECT webhook._progress_advance(30, phase => 'second phase') AS notice_due;
SELECT database = current_database() AS this_database, operation, phase,
	   done, total, percent, rate >= 0 AS has_rate,
	   eta >= updated_at AS has_eta, started_at <= updated_at AS times
FROM webhook.progress WHERE pid = pg_backend_pid();
SELECT webhook._progress_advance(40) AS notice_due;	-- the end: never
SELECT webhook._progress_end();
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
-- an unknown total: no percent, no estimate
SELECT webhook._progress_begin('test');
SELECT webhook._progress_advance(5) AS notice_due;
SELECT operation, phase, done, total, percent, eta
FROM webhook.progress WHERE pid = pg_backend_pid();
COMMIT;
-- ... and ends with the transaction, even if the operation forgot to
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();

-- an abort ends it, and so does the abort of its subtransaction
BEGIN;
SELECT webhook._progress_begin('test', total => 3);
SELECT 1 / 0;
ROLLBACK;
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
BEGIN;
SAVEPOINT s;
SELECT webhook._progress_begin('test', total => 3);
ROLLBACK TO s;
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
SAVEPOINT s2;
SELECT webhook._progress_begin('test', total => 3);
RELEASE s2;		-- goes on in the transaction
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
COMMIT;
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();

-- privileges: pg_monitor and webhook_admin read it, others do not
SELECT grantee, privilege_type FROM information_schema.role_table_grants
WHERE table_schema = 'webhook' AND table_name = 'progress'
  AND grantee <> current_user ORDER BY grantee;
CREATE ROLE progress_plain;
CREATE ROLE progress_monitor IN ROLE pg_monitor;
SET ROLE progress_plain;
SELECT count(*) FROM webhook.progress;
SELECT webhook._progress_begin('forged');
RESET ROLE;
SET ROLE progress_monitor;
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
SELECT webhook._progress_begin('forged');
RESET ROLE;
SET ROLE webhook_admin;
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
RESET ROLE;
-- a tenant's role sees the operations it began, and no other role's
CREATE ROLE progress_tenant IN ROLE webhook_tenant;
BEGIN;
SELECT webhook._progress_begin('begun by a superuser');
SET LOCAL ROLE progress_tenant;
SELECT count(*) FROM webhook.progress;
SELECT webhook._progress_begin('tenant replay');
SELECT operation FROM webhook.progress WHERE pid = pg_backend_pid();
ROLLBACK;
DROP ROLE progress_plain, progress_monitor, progress_tenant;

-- a replay and a discard of more than one batch tell how far they are
SELECT webhook.create_endpoint('progress', 'http://127.0.0.1:9/progress') > 0
	AS created;
CREATE TABLE progress_rows (id int PRIMARY KEY);
SELECT webhook.subscribe('progress_rows', 'progress');
INSERT INTO progress_rows SELECT generate_series(1, 20001);
UPDATE webhook.event SET state = 'dead', finished_at = now()
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'progress');
SET client_min_messages = notice;
SELECT webhook.replay('progress', now() - interval '1 hour');
SELECT state, count(*), count(*) FILTER (WHERE next_attempt_at <= now()) AS due,
	   count(finished_at) AS finished
FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'progress')
GROUP BY state;
-- nothing left to replay: silent
SELECT webhook.replay('progress', now() - interval '1 hour');
SELECT webhook.discard('progress');
SELECT state, count(*) FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'progress')
GROUP BY state;
-- a small replay says nothing more than before
DELETE FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'progress')
  AND id > (SELECT min(id) + 4 FROM webhook.event
			 WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'progress'));
SELECT webhook.replay('progress', now() - interval '1 hour', only_dead => true);
SELECT count(*) FROM webhook.progress WHERE pid = pg_backend_pid();
SET client_min_messages = warning;

SELECT webhook.unsubscribe('progress_rows', 'progress');
DROP TABLE progress_rows;
DELETE FROM webhook.event
WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'progress');
SELECT webhook.drop_endpoint('progress');
