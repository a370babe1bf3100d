/* webhook--0.1.0--0.2.0.sql: update the webhook extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.2.0'" to load this file. \quit

/*
 * A new install runs webhook--0.1.0.sql and then this script, so everything
 * 0.2.0 adds or changes lives here, once.  Each part is headed by what it is
 * for.
 */
