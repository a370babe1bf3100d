/* webhook--0.1.0.sql: install script for the webhook extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION webhook" to load this file. \quit

/*
 * The schema must be the extension's own.  CREATE EXTENSION creates it when
 * it is missing, but quietly uses one that already exists: a schema another
 * role made beforehand would let that role replace or drop the extension's
 * objects, and plant its own beside them, under every function that runs
 * with the owner's rights.  So an existing schema is accepted only when a
 * superuser owns it, nothing is in it yet, and nobody else may create
 * objects in it.
 */
DO $$
DECLARE
	owner_ok boolean;
	is_empty boolean;
	acl_ok boolean;
BEGIN
	SELECT r.rolsuper,
		   NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
					   WHERE d.refclassid OPERATOR(pg_catalog.=)
							 'pg_catalog.pg_namespace'::pg_catalog.regclass
						 AND d.refobjid OPERATOR(pg_catalog.=) n.oid
						 -- this extension, being created, is no object in it
						 AND d.classid OPERATOR(pg_catalog.<>)
							 'pg_catalog.pg_extension'::pg_catalog.regclass),
		   NOT EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a
					   WHERE a.grantee OPERATOR(pg_catalog.<>) n.nspowner
						 AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE')
	INTO owner_ok, is_empty, acl_ok
	FROM pg_catalog.pg_namespace n
	JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	WHERE n.nspname OPERATOR(pg_catalog.=) 'webhook';

	IF NOT owner_ok THEN
		RAISE EXCEPTION 'schema "webhook" already exists and is not owned by a superuser'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension installs into schema "webhook" and must not share it with objects another role controls.',
				  HINT = 'Drop or rename schema "webhook", then run CREATE EXTENSION webhook again.';
	ELSIF NOT is_empty THEN
		RAISE EXCEPTION 'schema "webhook" already exists and is not empty'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension installs into schema "webhook" and must not share it with objects another role controls.',
				  HINT = 'Drop or rename schema "webhook", then run CREATE EXTENSION webhook again.';
	ELSIF NOT acl_ok THEN
		RAISE EXCEPTION 'schema "webhook" already exists and other roles may create objects in it'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension installs into schema "webhook" and must not share it with objects another role controls.',
				  HINT = 'Drop or rename schema "webhook", or revoke CREATE on it, then run CREATE EXTENSION webhook again.';
	END IF;
END
$$;

/*
 * Endpoints: where events go and how they are signed.  Users fill this table
 * through create_endpoint() and friends, so pg_dump keeps its rows.
 */
CREATE SEQUENCE webhook.endpoint_id_seq AS integer;

CREATE TABLE webhook.endpoint (
	id integer PRIMARY KEY DEFAULT nextval('webhook.endpoint_id_seq'),
	name text NOT NULL UNIQUE CHECK (name <> ''),
	url text NOT NULL,
	secret text NOT NULL,
	previous_secret text,
	previous_secret_expires_at timestamptz,
	headers jsonb NOT NULL DEFAULT '{}',
	timeout interval NOT NULL DEFAULT '15s',
	retry_schedule interval[] NOT NULL
		DEFAULT '{5s,5min,30min,2h,5h,10h,14h,20h,24h}',
	max_in_flight integer CHECK (max_in_flight > 0),
	enabled boolean NOT NULL DEFAULT true,
	disabled_reason text,
	disabled_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now()
);

ALTER SEQUENCE webhook.endpoint_id_seq OWNED BY webhook.endpoint.id;

SELECT pg_catalog.pg_extension_config_dump('webhook.endpoint', '');
SELECT pg_catalog.pg_extension_config_dump('webhook.endpoint_id_seq', '');

/*
 * The outbox.  One row per event, written by webhook.capture() in the same
 * transaction as the change.  msg_id is the webhook-id, fixed at capture and
 * kept on every attempt.  attempts counts every attempt ever made;
 * retry_from is the count at which the current retry schedule started (a
 * retry or replay restarts the schedule).  The worker claims due rows
 * through event_due_idx with FOR UPDATE SKIP LOCKED.
 */
CREATE TYPE webhook.event_state AS ENUM ('pending', 'delivered', 'dead');

CREATE SEQUENCE webhook.event_id_seq AS bigint;

CREATE TABLE webhook.event (
	id bigint PRIMARY KEY DEFAULT nextval('webhook.event_id_seq'),
	endpoint_id integer NOT NULL,
	msg_id uuid NOT NULL,
	state webhook.event_state NOT NULL DEFAULT 'pending',
	attempts smallint NOT NULL DEFAULT 0,
	retry_from smallint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	finished_at timestamptz,
	payload json NOT NULL
);

ALTER SEQUENCE webhook.event_id_seq OWNED BY webhook.event.id;

CREATE INDEX event_due_idx ON webhook.event (next_attempt_at, id)
	WHERE state = 'pending';
CREATE INDEX event_finished_idx ON webhook.event (finished_at)
	WHERE state <> 'pending';

/*
 * Delivery history: one row per attempt.
 */
CREATE TABLE webhook.attempt (
	event_id bigint NOT NULL,
	attempt smallint NOT NULL,
	started_at timestamptz NOT NULL,
	duration interval NOT NULL,
	status smallint,
	error text,
	response text,
	PRIMARY KEY (event_id, attempt)
);

/*
 * C functions.
 */
CREATE FUNCTION webhook.capture()
RETURNS trigger
AS 'MODULE_PATHNAME', 'webhook_capture'
LANGUAGE C;

COMMENT ON FUNCTION webhook.capture() IS
'Trigger function: writes each row change to the outbox for the endpoint named by its first argument';

CREATE FUNCTION webhook.sign(secret text, msg_id text, "timestamp" bigint,
							 body text)
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_sign'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.sign(text, text, bigint, text) IS
'Standard Webhooks signature ("v1,<base64 HMAC-SHA256>") of msg_id.timestamp.body';

CREATE FUNCTION webhook.generate_secret()
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_generate_secret'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.generate_secret() IS
'A new random Standard Webhooks secret ("whsec_" and 32 random bytes in base64)';

CREATE FUNCTION webhook._check_endpoint(url text, secret text, headers jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_endpoint'
LANGUAGE C;

CREATE FUNCTION webhook._check_capture_args(tbl regclass, args text[])
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_capture_args'
LANGUAGE C STRICT;

CREATE FUNCTION webhook._trigger_args(tgargs bytea, nargs smallint)
RETURNS text[]
AS 'MODULE_PATHNAME', 'webhook_trigger_args'
LANGUAGE C STRICT IMMUTABLE;

CREATE FUNCTION webhook._wake()
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_wake'
LANGUAGE C STRICT;

/*
 * The webhook-id header value of an event.
 */
CREATE FUNCTION webhook.webhook_id(msg_id uuid)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'msg_' || replace(msg_id::text, '-', '');

COMMENT ON FUNCTION webhook.webhook_id(uuid) IS
'The webhook-id header sent with an event';

/*
 * Endpoints.
 */
CREATE FUNCTION webhook.create_endpoint(
	name text,
	url text,
	secret text DEFAULT NULL,
	headers jsonb DEFAULT '{}',
	timeout interval DEFAULT '15s',
	retry_schedule interval[] DEFAULT '{5s,5min,30min,2h,5h,10h,14h,20h,24h}',
	max_in_flight integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id integer;
BEGIN
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'endpoint name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF url IS NULL THEN
		RAISE EXCEPTION 'endpoint URL must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF secret IS NULL THEN
		secret := webhook.generate_secret();
	END IF;
	PERFORM webhook._check_endpoint(url, secret, coalesce(headers, '{}'));
	PERFORM webhook._check_settings(timeout, retry_schedule, max_in_flight);
	IF EXISTS (SELECT FROM webhook.endpoint e WHERE e.name = create_endpoint.name) THEN
		RAISE EXCEPTION 'endpoint "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	INSERT INTO webhook.endpoint AS e (name, url, secret, headers, timeout,
									   retry_schedule, max_in_flight)
	VALUES (create_endpoint.name, create_endpoint.url, create_endpoint.secret,
			coalesce(create_endpoint.headers, '{}'),
			coalesce(create_endpoint.timeout, '15s'),
			coalesce(create_endpoint.retry_schedule,
					 '{5s,5min,30min,2h,5h,10h,14h,20h,24h}'),
			create_endpoint.max_in_flight)
	RETURNING e.id INTO new_id;
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval, interval[], integer) IS
'Register an endpoint: a URL, a signing secret (generated when omitted) and delivery settings';

CREATE FUNCTION webhook._check_settings(timeout interval,
										retry_schedule interval[],
										max_in_flight integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF timeout IS NOT NULL
		AND (timeout <= '0'::interval OR timeout > '5min'::interval) THEN
		RAISE EXCEPTION 'invalid endpoint timeout "%"', timeout
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The timeout must be more than zero and at most 5 minutes.';
	END IF;
	IF max_in_flight IS NOT NULL AND (max_in_flight < 1 OR max_in_flight > 512) THEN
		RAISE EXCEPTION 'invalid max_in_flight %', max_in_flight
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An endpoint allows 1 to 512 requests in flight.';
	END IF;
	IF retry_schedule IS NOT NULL THEN
		IF cardinality(retry_schedule) > 100 THEN
			RAISE EXCEPTION 'retry schedule is too long'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A retry schedule has at most 100 steps.';
		END IF;
		IF EXISTS (SELECT FROM unnest(retry_schedule) s
				   WHERE s IS NULL OR s < '0'::interval
						 OR s > '30 days'::interval) THEN
			RAISE EXCEPTION 'invalid retry schedule'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Each step must be between zero and 30 days.';
		END IF;
	END IF;
END
$$;

CREATE FUNCTION webhook.alter_endpoint(
	name text,
	url text DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	timeout interval DEFAULT NULL,
	retry_schedule interval[] DEFAULT NULL,
	max_in_flight integer DEFAULT NULL,
	new_name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	SELECT * INTO ep FROM webhook.endpoint e
	WHERE e.name = alter_endpoint.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	IF new_name = '' THEN
		RAISE EXCEPTION 'endpoint name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF new_name IS NOT NULL AND new_name <> ep.name
		AND EXISTS (SELECT FROM webhook.endpoint e WHERE e.name = new_name) THEN
		RAISE EXCEPTION 'endpoint "%" already exists', new_name
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF new_name IS NOT NULL AND new_name <> ep.name
		AND EXISTS (SELECT FROM webhook.subscriptions s
					WHERE s.endpoint = ep.name) THEN
		RAISE EXCEPTION 'cannot rename endpoint "%" while tables are subscribed to it', ep.name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; unsubscribe them first.';
	END IF;
	PERFORM webhook._check_endpoint(coalesce(url, ep.url), ep.secret,
									coalesce(headers, ep.headers));
	PERFORM webhook._check_settings(timeout, retry_schedule, max_in_flight);
	UPDATE webhook.endpoint e SET
		name = coalesce(new_name, e.name),
		url = coalesce(alter_endpoint.url, e.url),
		headers = coalesce(alter_endpoint.headers, e.headers),
		timeout = coalesce(alter_endpoint.timeout, e.timeout),
		retry_schedule = coalesce(alter_endpoint.retry_schedule, e.retry_schedule),
		max_in_flight = coalesce(alter_endpoint.max_in_flight, e.max_in_flight)
	WHERE e.id = ep.id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer, text) IS
'Change an endpoint''s settings; arguments left NULL keep their value';

CREATE FUNCTION webhook.drop_endpoint(name text,
									  discard_pending boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
	npending bigint;
	subs text;
BEGIN
	SELECT e.id INTO ep_id FROM webhook.endpoint e
	WHERE e.name = drop_endpoint.name FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	SELECT string_agg(format('%s on %s', s.trigger_name, s.table_name), ', ')
	INTO subs FROM webhook.subscriptions s WHERE s.endpoint = drop_endpoint.name;
	IF subs IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" because tables are subscribed to it', name
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = format('Subscribed: %s.', subs),
				  HINT = 'Remove them first with webhook.unsubscribe().';
	END IF;
	SELECT count(*) INTO npending FROM webhook.event ev
	WHERE ev.endpoint_id = ep_id AND ev.state = 'pending';
	IF npending > 0 AND NOT coalesce(discard_pending, false) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" because % pending', name,
			CASE WHEN npending = 1 THEN '1 event is'
				 ELSE npending || ' events are' END
			USING ERRCODE = 'object_in_use',
				  HINT = 'Wait for them to be delivered, or pass discard_pending => true to discard them.';
	END IF;
	DELETE FROM webhook.attempt a USING webhook.event ev
	WHERE a.event_id = ev.id AND ev.endpoint_id = ep_id;
	DELETE FROM webhook.event ev WHERE ev.endpoint_id = ep_id;
	DELETE FROM webhook.endpoint e WHERE e.id = ep_id;
	IF npending > 0 THEN
		RAISE NOTICE 'discarded % of endpoint "%"',
			CASE WHEN npending = 1 THEN '1 pending event'
				 ELSE npending || ' pending events' END, name;
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.drop_endpoint(text, boolean) IS
'Remove an endpoint and its history; refused while events are pending unless discard_pending';

CREATE FUNCTION webhook.rotate_secret(name text, secret text DEFAULT NULL,
									  overlap interval DEFAULT '24h')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF secret IS NULL THEN
		secret := webhook.generate_secret();
	END IF;
	PERFORM webhook._check_endpoint(NULL, secret, NULL);
	IF overlap IS NULL OR overlap < '0'::interval THEN
		RAISE EXCEPTION 'overlap must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE webhook.endpoint e SET
		previous_secret = e.secret,
		previous_secret_expires_at = now() + overlap,
		secret = rotate_secret.secret
	WHERE e.name = rotate_secret.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.rotate_secret(text, text, interval) IS
'Replace an endpoint''s secret; requests carry signatures with both secrets until the overlap ends';

CREATE FUNCTION webhook.endpoint_secret(name text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s text;
BEGIN
	SELECT e.secret INTO s FROM webhook.endpoint e
	WHERE e.name = endpoint_secret.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN s;
END
$$;

COMMENT ON FUNCTION webhook.endpoint_secret(text) IS
'The signing secret of an endpoint, for configuring its receiver';

CREATE FUNCTION webhook.enable_endpoint(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
BEGIN
	UPDATE webhook.endpoint e
	SET enabled = true, disabled_reason = NULL, disabled_at = NULL
	WHERE e.name = enable_endpoint.name
	RETURNING e.id INTO ep_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	-- events parked while it was disabled are due again
	UPDATE webhook.event ev SET next_attempt_at = clock_timestamp()
	WHERE ev.state = 'pending' AND ev.next_attempt_at = 'infinity'
	  AND ev.endpoint_id = ep_id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.enable_endpoint(text) IS
'Re-enable a disabled endpoint; its pending events are sent again';

CREATE VIEW webhook.endpoints AS
SELECT e.id, e.name, e.url,
	   ARRAY(SELECT jsonb_object_keys(e.headers)) AS header_names,
	   e.timeout, e.retry_schedule, e.max_in_flight, e.enabled,
	   e.disabled_reason, e.disabled_at,
	   e.previous_secret IS NOT NULL
		   AND e.previous_secret_expires_at > now() AS rotating,
	   e.created_at
FROM webhook.endpoint e;

COMMENT ON VIEW webhook.endpoints IS
'Endpoints without their secrets or header values';

/*
 * Subscriptions are triggers that call webhook.capture().
 */
CREATE VIEW webhook.subscriptions AS
SELECT t.tgrelid::regclass AS table_name,
	   t.tgname AS trigger_name,
	   args[1] AS endpoint,
	   args[2:] AS options,
	   t.tgenabled <> 'D' AS enabled,
	   pg_catalog.pg_get_triggerdef(t.oid) AS definition
FROM pg_catalog.pg_trigger t,
	 LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs) AS args) x
WHERE t.tgfoid = 'webhook.capture()'::regprocedure;

COMMENT ON VIEW webhook.subscriptions IS
'Every trigger that captures events, with its endpoint and options';

CREATE FUNCTION webhook.subscribe(
	tbl regclass,
	endpoint text,
	events text[] DEFAULT '{insert,update,delete}',
	columns text[] DEFAULT NULL,
	condition text DEFAULT NULL,
	exclude text[] DEFAULT NULL,
	event_type text DEFAULT NULL,
	format text DEFAULT NULL,
	name text DEFAULT NULL)
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
BEGIN
	IF NOT EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.name = subscribe.endpoint) THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with webhook.create_endpoint().';
	END IF;
	IF events IS NULL OR cardinality(events) = 0 THEN
		RAISE EXCEPTION 'no events to subscribe to'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name one or more of insert, update and delete.';
	END IF;
	FOREACH ev IN ARRAY events LOOP
		IF lower(ev) NOT IN ('insert', 'update', 'delete') THEN
			RAISE EXCEPTION 'unrecognized event "%"', ev
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Valid events are insert, update and delete.';
		END IF;
	END LOOP;
	IF columns IS NOT NULL AND NOT ('update' = ANY (
			ARRAY(SELECT lower(x) FROM unnest(events) x))) THEN
		RAISE EXCEPTION 'columns apply only to update events'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	FOREACH col IN ARRAY coalesce(columns, '{}') || coalesce(exclude, '{}') LOOP
		IF NOT EXISTS (SELECT FROM pg_attribute a
					   WHERE a.attrelid = tbl AND a.attname = col
						 AND a.attnum > 0 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', col,
				(SELECT c.relname FROM pg_class c WHERE c.oid = tbl)
				USING ERRCODE = 'undefined_column';
		END IF;
	END LOOP;

	FOREACH ev IN ARRAY ARRAY(SELECT DISTINCT lower(x) FROM unnest(events) x
							  ORDER BY 1) LOOP
		IF ev = 'update' AND columns IS NOT NULL THEN
			parts := parts || ('UPDATE OF ' || (
				SELECT string_agg(quote_ident(c), ', ') FROM unnest(columns) c));
		ELSE
			parts := parts || upper(ev);
		END IF;
	END LOOP;

	args := ARRAY[endpoint];
	IF event_type IS NOT NULL THEN
		args := args || ('type=' || event_type);
	END IF;
	IF exclude IS NOT NULL AND cardinality(exclude) > 0 THEN
		args := args || ('exclude=' || array_to_string(exclude, ','));
	END IF;
	IF format IS NOT NULL THEN
		args := args || ('format=' || format);
	END IF;
	PERFORM webhook._check_capture_args(tbl, args);

	trg := coalesce(name, 'webhook_' || endpoint);
	sql := pg_catalog.format(
		'CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW %s EXECUTE FUNCTION webhook.capture(%s)',
		trg, array_to_string(parts, ' OR '), tbl,
		CASE WHEN condition IS NULL THEN ''
			 ELSE 'WHEN (' || condition || ')' END,
		(SELECT string_agg(quote_literal(a), ', ') FROM unnest(args) a));
	BEGIN
		EXECUTE sql;
	EXCEPTION
		WHEN syntax_error THEN
			RAISE EXCEPTION 'invalid subscription condition: %', SQLERRM
				USING ERRCODE = 'syntax_error',
					  DETAIL = format('The condition was: %s', condition);
	END;
	RETURN trg;
END
$$;

COMMENT ON FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[], text, text, text) IS
'Create the trigger that sends a table''s row changes to an endpoint; returns its name';

CREATE FUNCTION webhook.unsubscribe(tbl regclass, endpoint text,
									name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trg name;
BEGIN
	SELECT s.trigger_name INTO trg FROM webhook.subscriptions s
	WHERE s.table_name = tbl AND s.endpoint = unsubscribe.endpoint
	  AND (unsubscribe.name IS NULL OR s.trigger_name = unsubscribe.name)
	ORDER BY s.trigger_name LIMIT 1;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'table "%" is not subscribed to endpoint "%"',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl), endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
	EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg, tbl);
END
$$;

COMMENT ON FUNCTION webhook.unsubscribe(regclass, text, text) IS
'Drop the trigger that sends a table''s row changes to an endpoint';

/*
 * Seeing and fixing deliveries.
 */
CREATE VIEW webhook.events AS
SELECT ev.id, e.name AS endpoint, webhook.webhook_id(ev.msg_id) AS webhook_id,
	   ev.payload ->> 'type' AS type, ev.state, ev.attempts, ev.created_at,
	   -- infinity: parked until its endpoint is enabled again
	   CASE WHEN ev.state = 'pending' THEN ev.next_attempt_at END
		   AS next_attempt_at,
	   ev.finished_at,
	   (SELECT coalesce(a.status::text, a.error) FROM webhook.attempt a
		WHERE a.event_id = ev.id ORDER BY a.attempt DESC LIMIT 1)
		   AS last_result,
	   ev.payload
FROM webhook.event ev
LEFT JOIN webhook.endpoint e ON e.id = ev.endpoint_id;

COMMENT ON VIEW webhook.events IS
'Every event kept in the outbox, with its state and latest result';

CREATE VIEW webhook.attempts AS
SELECT a.event_id, e.name AS endpoint,
	   webhook.webhook_id(ev.msg_id) AS webhook_id, a.attempt, a.started_at,
	   a.duration, a.status, a.error, a.response
FROM webhook.attempt a
JOIN webhook.event ev ON ev.id = a.event_id
LEFT JOIN webhook.endpoint e ON e.id = ev.endpoint_id;

COMMENT ON VIEW webhook.attempts IS
'Every delivery attempt: when, how long, and what came back';

CREATE FUNCTION webhook.retry(event_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.event ev
	SET state = 'pending',
		next_attempt_at = CASE WHEN (SELECT e.enabled FROM webhook.endpoint e
									 WHERE e.id = ev.endpoint_id)
							   THEN clock_timestamp() ELSE 'infinity' END,
		finished_at = NULL, retry_from = ev.attempts
	WHERE ev.id = retry.event_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', event_id
			USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.retry(bigint) IS
'Send an event again now, with its original webhook-id and a fresh retry schedule';

CREATE FUNCTION webhook.replay(endpoint text, since timestamptz,
							   "until" timestamptz DEFAULT NULL,
							   only_dead boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
	n bigint;
BEGIN
	SELECT e.id INTO ep_id FROM webhook.endpoint e
	WHERE e.name = replay.endpoint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
	IF since IS NULL THEN
		RAISE EXCEPTION 'since must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	UPDATE webhook.event ev
	SET state = 'pending',
		next_attempt_at = CASE WHEN (SELECT e.enabled FROM webhook.endpoint e
									 WHERE e.id = ev.endpoint_id)
							   THEN clock_timestamp() ELSE 'infinity' END,
		finished_at = NULL, retry_from = ev.attempts
	WHERE ev.endpoint_id = ep_id AND ev.state <> 'pending'
	  AND ev.created_at >= since
	  AND (replay."until" IS NULL OR ev.created_at < replay."until")
	  AND (NOT only_dead OR ev.state = 'dead');
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM webhook._wake();
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.replay(text, timestamptz, timestamptz, boolean) IS
'Send an endpoint''s delivered and dead events created in [since, until) again, with their original webhook-ids';

/*
 * Privileges: nothing for PUBLIC beyond what capture needs (it switches to
 * the extension owner to write the outbox, so it needs nothing at all).
 */
REVOKE ALL ON ALL TABLES IN SCHEMA webhook FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA webhook FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA webhook FROM PUBLIC;
GRANT USAGE ON SCHEMA webhook TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.capture() TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.sign(text, text, bigint, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.webhook_id(uuid) TO PUBLIC;
