-- Functions that run with more rights than their caller, and the schema the
-- extension installs into, are immune to objects other roles create.
SET client_min_messages = warning;
\set SHOW_CONTEXT never

-- every SECURITY DEFINER function of the extension pins its search_path
SELECT p.oid::regprocedure AS definer_without_pinned_search_path
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webhook'
WHERE p.prosecdef
	AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig),
					 false)
ORDER BY 1::text;

-- and so does every function whose body is parsed when it runs (PL/pgSQL,
-- or SQL without a standard body): the names in it would otherwise be
-- looked up in whatever search_path its caller (the worker, for the
-- endpoint table's triggers) happens to have
SELECT p.oid::regprocedure AS body_resolved_at_run_time
FROM pg_proc p
JOIN pg_language l ON l.oid = p.prolang
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
	AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webhook'
WHERE l.lanname IN ('plpgsql', 'sql') AND p.prosqlbody IS NULL
	AND NOT coalesce('search_path=pg_catalog, pg_temp' = ANY (p.proconfig),
					 false)
ORDER BY 1::text;

-- a schema named webhook that existed before CREATE EXTENSION is refused
-- unless a superuser owns it, it is empty, and nobody else may create in it
CREATE ROLE wh_dbowner;
CREATE DATABASE wh_guard OWNER wh_dbowner;
\c wh_guard
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SET ROLE wh_dbowner;
CREATE SCHEMA webhook;
CREATE FUNCTION webhook.now() RETURNS timestamptz LANGUAGE sql
	RETURN '2000-01-01'::timestamptz;
RESET ROLE;
CREATE EXTENSION webhook;
\set VERBOSITY sqlstate
CREATE EXTENSION webhook;
\set VERBOSITY default
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'webhook';
DROP SCHEMA webhook CASCADE;

-- a superuser's schema with something in it
CREATE SCHEMA webhook;
CREATE TABLE webhook.endpoint (id int);
CREATE EXTENSION webhook;
DROP TABLE webhook.endpoint;

-- a superuser's empty schema where another role may create objects
GRANT CREATE ON SCHEMA webhook TO wh_dbowner;
CREATE EXTENSION webhook;

-- usage alone is no threat: the install goes ahead
REVOKE CREATE ON SCHEMA webhook FROM wh_dbowner;
GRANT USAGE ON SCHEMA webhook TO wh_dbowner;
CREATE EXTENSION webhook;
SELECT n.nspname, r.rolsuper AS owned_by_superuser
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
JOIN pg_roles r ON r.oid = n.nspowner WHERE e.extname = 'webhook';

-- and with no schema at all, CREATE EXTENSION makes its own
DROP EXTENSION webhook;
SELECT count(*) AS webhook_schemas FROM pg_namespace WHERE nspname = 'webhook';
CREATE EXTENSION webhook;
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'webhook';
-- webhook.database names another database: the install says nothing is sent
DROP EXTENSION webhook;
CREATE EXTENSION webhook;
\c contrib_regression
DROP DATABASE wh_guard;
DROP ROLE wh_dbowner;
