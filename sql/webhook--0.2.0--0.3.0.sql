/* webhook--0.2.0--0.3.0.sql: update the webhook extension from 0.2.0 to 0.3.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.3.0'" to load this file. \quit

/*
 * A new install runs webhook--0.1.0.sql, webhook--0.1.0--0.2.0.sql and then
 * this script.  Each part is headed by what it is for.
 */

/* ---------------------------------------------------------------------
 * Input checks: column lists, conditions, names, arguments
 * --------------------------------------------------------------------- */



/* ---------------------------------------------------------------------
 * Operations: endpoint changes and retries that act at once
 * --------------------------------------------------------------------- */



/* ---------------------------------------------------------------------
 * Privileges: every SECURITY DEFINER function pins its search_path
 * (kept last, so that it covers functions redefined above)
 * --------------------------------------------------------------------- */

/*
 * A function whose body is parsed when it runs (PL/pgSQL, or SQL without a
 * standard body) looks its names up in its caller's search_path unless it
 * sets its own, and CREATE OR REPLACE FUNCTION drops a setting the new text
 * does not repeat.  Pin it on every such function of the extension,
 * SECURITY DEFINER or not: the worker fires the endpoint table's triggers,
 * and superusers call the rest in databases other roles own.  Their bodies
 * already name the extension's objects with their schema.
 */
DO $$
DECLARE
	f regprocedure;
BEGIN
	FOR f IN
		SELECT p.oid::pg_catalog.regprocedure
		FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_language l ON l.oid OPERATOR(pg_catalog.=) p.prolang
		JOIN pg_catalog.pg_depend d
		  ON d.classid OPERATOR(pg_catalog.=)
			 'pg_catalog.pg_proc'::pg_catalog.regclass
		 AND d.objid OPERATOR(pg_catalog.=) p.oid
		 AND d.deptype OPERATOR(pg_catalog.=) 'e'
		JOIN pg_catalog.pg_extension e
		  ON e.oid OPERATOR(pg_catalog.=) d.refobjid
		 AND e.extname OPERATOR(pg_catalog.=) 'webhook'
		WHERE l.lanname OPERATOR(pg_catalog.=) ANY ('{plpgsql,sql}')
		  AND p.prosqlbody IS NULL
		  AND NOT coalesce('search_path=pg_catalog, pg_temp'
						   OPERATOR(pg_catalog.=) ANY (p.proconfig), false)
	LOOP
		EXECUTE pg_catalog.format(
			'ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
	END LOOP;
END
$$;


