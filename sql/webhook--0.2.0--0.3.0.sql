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

/*
 * Column lists.  A subscription's excluded columns are kept in its
 * trigger's "exclude=" argument as double-quoted names separated by
 * commas, so that any legal name, one holding a comma or a double quote
 * included, means exactly that column.  Lists written by 0.2.0 (bare names)
 * read as before.
 */
CREATE FUNCTION webhook._column_list(names text[])
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_column_list'
LANGUAGE C STRICT IMMUTABLE;

CREATE FUNCTION webhook._column_list_names(list text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'webhook_column_list_names'
LANGUAGE C STRICT IMMUTABLE;

/*
 * A condition is parsed alone as one expression (see capture.c) before it
 * becomes a WHEN clause: it can never carry a second statement or clause.
 */
CREATE FUNCTION webhook._check_condition(condition text)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_condition'
LANGUAGE C STRICT;

/*
 * Excluded columns follow a rename: an event trigger rewrites the
 * "exclude=" arguments of the table's capture triggers (and those of the
 * tables that inherit the column).  The UPDATE OF columns and the WHEN
 * clause are kept by column number and follow by themselves.
 */
CREATE FUNCTION webhook._follow_rename()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'webhook_follow_rename'
LANGUAGE C;

CREATE EVENT TRIGGER webhook_follow_rename ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE')
	EXECUTE FUNCTION webhook._follow_rename();

/*
 * Dropping a column a subscription excludes is refused, naming the
 * subscription: its list would otherwise name a column that is not there
 * (and a column added later under that name would be left out unasked).
 * Columns a subscription watches (UPDATE OF) or its condition reads are
 * protected by PostgreSQL's own dependencies.  SECURITY DEFINER, since it
 * runs for whoever drops a column and reads the extension's helpers.
 */
CREATE FUNCTION webhook._refuse_drop_excluded()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d record;
	s record;
BEGIN
	FOR d IN SELECT x.objid, x.address_names
			 FROM pg_catalog.pg_event_trigger_dropped_objects() x
			 WHERE x.object_type OPERATOR(pg_catalog.=) 'table column' LOOP
		FOR s IN SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS tbl,
						a.args[1] AS endpoint
				 FROM pg_catalog.pg_trigger t,
					  LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs)
							   AS args) a
				 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.objid
				   AND t.tgfoid OPERATOR(pg_catalog.=)
					   'webhook.capture()'::pg_catalog.regprocedure
				   AND EXISTS (
					   SELECT FROM pg_catalog.unnest(a.args[2:]) o(opt)
					   WHERE pg_catalog.starts_with(o.opt, 'exclude=')
						 AND d.address_names[3] OPERATOR(pg_catalog.=) ANY (
							 webhook._column_list_names(
								 pg_catalog.substr(o.opt, 9))))
				 ORDER BY t.tgname LIMIT 1 LOOP
			RAISE EXCEPTION 'cannot drop column "%" of table "%" because subscription "%" excludes it',
				d.address_names[3], d.address_names[2], s.tgname
				USING ERRCODE = 'dependent_objects_still_exist',
					  HINT = pg_catalog.format('Unsubscribe with webhook.unsubscribe(%L, %L, name => %L), drop the column, then subscribe again without excluding it.',
											   s.tbl::text, s.endpoint, s.tgname);
		END LOOP;
	END LOOP;
END
$$;

REVOKE ALL ON FUNCTION webhook._refuse_drop_excluded() FROM PUBLIC;

CREATE EVENT TRIGGER webhook_refuse_drop_excluded ON sql_drop
	WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'DROP TYPE',
				 'DROP DOMAIN')
	EXECUTE FUNCTION webhook._refuse_drop_excluded();

/*
 * Names and settings checked at the door, however a row is written (the
 * management functions, or an administrator's INSERT or UPDATE): an
 * endpoint's name is at most 63 bytes, like an identifier, and its
 * max_in_flight may not exceed "webhook.max_in_flight", which would cap it.
 * Values already stored are left alone; only a new or changed one is
 * checked.
 */
CREATE FUNCTION webhook._check_endpoint_row()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cap integer;
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'INSERT'
		OR NEW.name IS DISTINCT FROM OLD.name THEN
		IF pg_catalog.octet_length(NEW.name) OPERATOR(pg_catalog.>) 63 THEN
			RAISE EXCEPTION 'endpoint name is too long'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = pg_catalog.format('An endpoint name is at most 63 bytes; this one is %s bytes.',
												 pg_catalog.octet_length(NEW.name));
		END IF;
	END IF;
	IF NEW.max_in_flight IS NOT NULL
		AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT'
			 OR NEW.max_in_flight IS DISTINCT FROM OLD.max_in_flight) THEN
		cap := pg_catalog.current_setting('webhook.max_in_flight', true)::integer;
		IF cap IS NOT NULL AND NEW.max_in_flight OPERATOR(pg_catalog.>) cap THEN
			RAISE EXCEPTION 'invalid max_in_flight %', NEW.max_in_flight
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = pg_catalog.format('The worker sends at most %s requests at once, to all endpoints together.', cap),
					  HINT = 'Choose at most "webhook.max_in_flight", or raise that setting first.';
		END IF;
	END IF;
	RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION webhook._check_endpoint_row() FROM PUBLIC;

CREATE TRIGGER endpoint_check_row
	BEFORE INSERT OR UPDATE OF name, max_in_flight ON webhook.endpoint
	FOR EACH ROW EXECUTE FUNCTION webhook._check_endpoint_row();

/*
 * A state change is announced with NOTIFY, whose payload is limited to
 * 8000 bytes: the name and reason are cut so that the payload always fits,
 * or the change (the worker disabling an endpoint that answered 410, say)
 * would fail, and be tried again, for ever.
 */
CREATE OR REPLACE FUNCTION webhook._endpoint_state_notify()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	st text;
	old_st text;
BEGIN
	st := CASE WHEN NEW.paused THEN 'paused'
			   WHEN NOT NEW.enabled THEN 'disabled'
			   ELSE 'enabled' END;
	old_st := CASE WHEN OLD.paused THEN 'paused'
				   WHEN NOT OLD.enabled THEN 'disabled'
				   ELSE 'enabled' END;
	IF st OPERATOR(pg_catalog.=) old_st THEN
		RETURN NULL;
	END IF;
	-- at most 4 bytes a character: 2 x 800 characters stay under 8000 bytes
	PERFORM pg_catalog.pg_notify('webhook_endpoint',
		pg_catalog.json_build_object(
			'endpoint', pg_catalog.left(NEW.name, 800), 'state', st,
			'reason', pg_catalog.left(NEW.disabled_reason, 800))::text);
	RETURN NULL;
END
$$;

/*
 * subscribe(): every argument checked and named when wrong; the column
 * lists quoted; the condition parsed as one expression; the extension's own
 * tables refused (by _check_capture_args); names limited to 63 bytes, as
 * PostgreSQL would otherwise cut a trigger's name short; a table with
 * inheritance children warned about, since their rows are not captured
 * (partitions are: a partitioned table's trigger is cloned to each of them,
 * and their events are the partitioned table's).
 */
CREATE OR REPLACE FUNCTION webhook.subscribe(
	tbl regclass,
	endpoint text,
	events text[] DEFAULT '{insert,update,delete}',
	columns text[] DEFAULT NULL,
	condition text DEFAULT NULL,
	exclude text[] DEFAULT NULL,
	event_type text DEFAULT NULL,
	format text DEFAULT NULL,
	name text DEFAULT NULL,
	payload_function regprocedure DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ev text;
	col text;
	parts text[] := '{}';
	args text[];
	trg text;
	sql text;
	nchildren integer;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NULL OR endpoint OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "endpoint" must not be null or empty'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF NOT webhook._endpoint_exists(subscribe.endpoint) THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with webhook.create_endpoint().';
	END IF;
	IF events IS NULL OR pg_catalog.cardinality(events) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'no events to subscribe to'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name one or more of insert, update and delete.';
	END IF;
	FOREACH ev IN ARRAY events LOOP
		IF ev IS NULL OR pg_catalog.lower(ev) NOT IN ('insert', 'update', 'delete') THEN
			RAISE EXCEPTION 'unrecognized event "%"', coalesce(ev, 'NULL')
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Valid events are insert, update and delete.';
		END IF;
	END LOOP;
	IF columns IS NOT NULL AND pg_catalog.cardinality(columns) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'argument "columns" must not be an empty list'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to watch every column.';
	END IF;
	IF columns IS NOT NULL AND NOT ('update' OPERATOR(pg_catalog.=) ANY (
			ARRAY(SELECT pg_catalog.lower(x) FROM pg_catalog.unnest(events) x))) THEN
		RAISE EXCEPTION 'columns apply only to update events'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.array_position(columns, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "columns" must not contain null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pg_catalog.array_position(exclude, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "exclude" must not contain null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH col IN ARRAY coalesce(columns, '{}') || coalesce(exclude, '{}') LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
					   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
						 AND a.attname OPERATOR(pg_catalog.=) col
						 AND a.attnum OPERATOR(pg_catalog.>) 0
						 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', col,
				(SELECT c.relname FROM pg_catalog.pg_class c
				 WHERE c.oid OPERATOR(pg_catalog.=) tbl)
				USING ERRCODE = 'undefined_column';
		END IF;
	END LOOP;
	IF event_type IS NOT NULL
		AND pg_catalog.octet_length(event_type) OPERATOR(pg_catalog.>) 255 THEN
		RAISE EXCEPTION 'event type is too long'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('An event type is at most 255 bytes; this one is %s bytes.',
											 pg_catalog.octet_length(event_type));
	END IF;
	IF condition IS NOT NULL THEN
		BEGIN
			PERFORM webhook._check_condition(condition);
		EXCEPTION
			WHEN syntax_error THEN
				RAISE EXCEPTION 'invalid subscription condition: %', SQLERRM
					USING ERRCODE = 'syntax_error',
						  DETAIL = pg_catalog.format('The condition was: %s', condition);
		END;
	END IF;

	FOREACH ev IN ARRAY ARRAY(SELECT DISTINCT pg_catalog.lower(x)
							  FROM pg_catalog.unnest(events) x ORDER BY 1) LOOP
		IF ev OPERATOR(pg_catalog.=) 'update' AND columns IS NOT NULL THEN
			parts := parts || ('UPDATE OF ' || (
				SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ')
				FROM pg_catalog.unnest(columns) c));
		ELSE
			parts := parts || pg_catalog.upper(ev);
		END IF;
	END LOOP;

	args := ARRAY[endpoint];
	IF event_type IS NOT NULL THEN
		args := args || ('type=' || event_type);
	END IF;
	IF exclude IS NOT NULL AND pg_catalog.cardinality(exclude) OPERATOR(pg_catalog.>) 0 THEN
		args := args || ('exclude=' || webhook._column_list(exclude));
	END IF;
	IF format IS NOT NULL THEN
		args := args || ('format=' || format);
	END IF;
	IF payload_function IS NOT NULL THEN
		-- by signature, schema-qualified (search_path is pg_catalog here)
		args := args || ('data=' || payload_function::text);
	END IF;
	PERFORM webhook._check_capture_args(tbl, args);

	IF name IS NOT NULL AND name OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "name" must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to name the subscription after its endpoint.';
	END IF;
	trg := coalesce(name, 'webhook_' || endpoint);
	IF pg_catalog.octet_length(trg) OPERATOR(pg_catalog.>) 63 THEN
		RAISE EXCEPTION 'subscription name "%" is too long', trg
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('A subscription name is at most 63 bytes; this one is %s bytes.',
											 pg_catalog.octet_length(trg)),
				  HINT = CASE WHEN name IS NULL
							  THEN 'Pass a shorter name with name =>.'
							  ELSE 'Pass a shorter name.' END;
	END IF;

	SELECT pg_catalog.count(*) INTO nchildren
	FROM pg_catalog.pg_inherits i
	JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhparent
	WHERE i.inhparent OPERATOR(pg_catalog.=) tbl
	  AND c.relkind OPERATOR(pg_catalog.<>) 'p';
	IF nchildren OPERATOR(pg_catalog.>) 0 THEN
		RAISE WARNING 'rows of the % tables that inherit from % are not captured',
			nchildren, tbl
			USING DETAIL = 'A subscription captures the rows written to its own table only; a change made through the parent to a child''s row is the child''s.',
				  HINT = 'Subscribe each child table as well.';
	END IF;

	-- a newline ends any comment the condition ends with
	sql := pg_catalog.format(
		'CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW %s EXECUTE FUNCTION webhook.capture(%s)',
		trg, pg_catalog.array_to_string(parts, ' OR '), tbl,
		CASE WHEN condition IS NULL THEN ''
			 ELSE 'WHEN (' || condition || E'\n)' END,
		(SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a), ', ')
		 FROM pg_catalog.unnest(args) a));
	BEGIN
		EXECUTE sql;
	EXCEPTION
		WHEN syntax_error THEN
			RAISE EXCEPTION 'invalid subscription condition: %', SQLERRM
				USING ERRCODE = 'syntax_error',
					  DETAIL = pg_catalog.format('The condition was: %s', condition);
	END;
	RETURN trg;
END
$$;

REVOKE ALL ON FUNCTION webhook._column_list(text[]),
	webhook._column_list_names(text), webhook._check_condition(text),
	webhook._follow_rename() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook._column_list(text[]),
	webhook._check_condition(text) TO webhook_user, webhook_admin;
GRANT EXECUTE ON FUNCTION webhook._column_list_names(text),
	webhook._follow_rename(), webhook._check_endpoint_row()
	TO webhook_admin;


/* ---------------------------------------------------------------------
 * Operations: endpoint changes and retries that act at once
 * --------------------------------------------------------------------- */



/* ---------------------------------------------------------------------
 * Privileges: every SECURITY DEFINER function pins its search_path
 * (kept last, so that it covers functions redefined above)
 * --------------------------------------------------------------------- */


