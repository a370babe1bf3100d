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


