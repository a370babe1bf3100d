/* webhook--0.1.0--0.2.0.sql: update the webhook extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.2.0'" to load this file. \quit

/*
 * A new install runs webhook--0.1.0.sql and then this script, so everything
 * 0.2.0 adds or changes lives here, once.  Each part is headed by what it is
 * for.
 */

/*
 * Issue 4 (capture cost): backends keep each capture trigger's endpoint id
 * across statements; this trigger tells them to look it up again whenever
 * endpoints change.
 */
CREATE FUNCTION webhook._endpoint_changed() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'webhook_endpoint_changed';

CREATE TRIGGER endpoint_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhook.endpoint
	FOR EACH STATEMENT EXECUTE FUNCTION webhook._endpoint_changed();

/*
 * The outbox keeps a Standard Webhooks body without what can be derived:
 * its "timestamp" (the event's created_at) and, unless the subscription
 * names its own, its "type" (the table and the operation).  Both are added
 * back when the event is sent: 40 to 65 bytes less per event in the table
 * and the WAL.  The events view shows the body as sent.
 */
CREATE FUNCTION webhook._event_body(payload json, created_at timestamptz)
RETURNS json
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'webhook_event_body';

CREATE OR REPLACE VIEW webhook.events AS
SELECT ev.id, e.name AS endpoint, webhook.webhook_id(ev.msg_id) AS webhook_id,
	   b.body ->> 'type' AS type, ev.state, ev.attempts, ev.created_at,
	   -- infinity: parked until its endpoint is enabled again
	   CASE WHEN ev.state = 'pending' THEN ev.next_attempt_at END
		   AS next_attempt_at,
	   ev.finished_at,
	   (SELECT coalesce(a.status::text, a.error) FROM webhook.attempt a
		WHERE a.event_id = ev.id ORDER BY a.attempt DESC LIMIT 1)
		   AS last_result,
	   b.body AS payload
FROM webhook.event ev
CROSS JOIN LATERAL webhook._event_body(ev.payload, ev.created_at) AS b(body)
LEFT JOIN webhook.endpoint e ON e.id = ev.endpoint_id;

/*
 * Each backend takes event ids 64 at a time: a bulk statement otherwise
 * spends as long in nextval() as in building its events.  Ids stay unique
 * and grow within a session; across sessions they interleave, as commit
 * order already made them, and a session that ends leaves a gap.
 */
ALTER SEQUENCE webhook.event_id_seq CACHE 64;

/*
 * The outbox and the history are queues: rows come in at one end and leave
 * at the other (delivered, then removed after webhook.retention).  Their
 * free space must be reclaimed while they run, not once a fifth of them is
 * dead, or they grow with every day of traffic.  So autovacuum looks at
 * them after every 2,000 dead rows and does not throttle itself on them
 * (they are small once vacuumed).
 */
ALTER TABLE webhook.event SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 20000);
ALTER TABLE webhook.attempt SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 20000);

/*
 * Issue 5: security and hostile input.
 *
 * Roles.  webhook_admin manages endpoints and deliveries and may read
 * secrets; webhook_user may subscribe tables it owns (or holds TRIGGER on)
 * to existing endpoints.  Roles belong to the cluster, not to a database:
 * they are created only when missing (another database, or an earlier
 * install, may have made them) and DROP EXTENSION leaves them alone.
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
				   WHERE rolname = 'webhook_admin') THEN
		CREATE ROLE webhook_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
				   WHERE rolname = 'webhook_user') THEN
		CREATE ROLE webhook_user NOLOGIN;
	END IF;
END
$$;

/*
 * Transport options per endpoint: a CA bundle and a client certificate and
 * key (PEM text, handed to libcurl in memory, so no server file is ever
 * read), a switch that turns TLS verification off (loud), and a proxy.
 * client_key and proxy (which may carry credentials) are secrets like
 * secret: no view shows them.
 */
ALTER TABLE webhook.endpoint
	ADD COLUMN ca_bundle text,
	ADD COLUMN client_cert text,
	ADD COLUMN client_key text,
	ADD COLUMN tls_insecure boolean NOT NULL DEFAULT false,
	ADD COLUMN proxy text;

CREATE FUNCTION webhook._check_transport(ca_bundle text, client_cert text,
										 client_key text, proxy text)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_transport'
LANGUAGE C;

/*
 * Does an endpoint exist?  SECURITY DEFINER so that webhook_user, who
 * cannot read webhook.endpoint, can subscribe; it tells nothing but yes or
 * no about a name.
 */
CREATE FUNCTION webhook._endpoint_exists(name text)
RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (SELECT FROM webhook.endpoint e
			   WHERE e.name OPERATOR(pg_catalog.=) _endpoint_exists.name);

DROP FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval,
									  interval[], integer);

CREATE FUNCTION webhook.create_endpoint(
	name text,
	url text,
	secret text DEFAULT NULL,
	headers jsonb DEFAULT '{}',
	timeout interval DEFAULT '15s',
	retry_schedule interval[] DEFAULT '{5s,5min,30min,2h,5h,10h,14h,20h,24h}',
	max_in_flight integer DEFAULT NULL,
	ca_bundle text DEFAULT NULL,
	client_cert text DEFAULT NULL,
	client_key text DEFAULT NULL,
	tls_insecure boolean DEFAULT false,
	proxy text DEFAULT NULL)
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
	PERFORM webhook._check_transport(ca_bundle, client_cert, client_key, proxy);
	IF (client_cert IS NULL) <> (client_key IS NULL) THEN
		RAISE EXCEPTION 'client certificate and client key go together'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass both client_cert and client_key, or neither.';
	END IF;
	IF EXISTS (SELECT FROM webhook.endpoint e WHERE e.name = create_endpoint.name) THEN
		RAISE EXCEPTION 'endpoint "%" already exists', name
			USING ERRCODE = 'duplicate_object';
	END IF;
	IF coalesce(tls_insecure, false) THEN
		RAISE WARNING 'TLS verification is off for endpoint "%"', name
			USING DETAIL = 'Its receiver''s certificate and host name are not checked, so anyone on the path can read and change its requests.';
	END IF;
	INSERT INTO webhook.endpoint AS e (name, url, secret, headers, timeout,
									   retry_schedule, max_in_flight,
									   ca_bundle, client_cert, client_key,
									   tls_insecure, proxy)
	VALUES (create_endpoint.name, create_endpoint.url, create_endpoint.secret,
			coalesce(create_endpoint.headers, '{}'),
			coalesce(create_endpoint.timeout, '15s'),
			coalesce(create_endpoint.retry_schedule,
					 '{5s,5min,30min,2h,5h,10h,14h,20h,24h}'),
			create_endpoint.max_in_flight,
			create_endpoint.ca_bundle, create_endpoint.client_cert,
			create_endpoint.client_key,
			coalesce(create_endpoint.tls_insecure, false),
			create_endpoint.proxy)
	RETURNING e.id INTO new_id;
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval, interval[], integer, text, text, text, boolean, text) IS
'Register an endpoint: a URL, a signing secret (generated when omitted), delivery settings and TLS and proxy options';

DROP FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[],
									 integer, text);

CREATE FUNCTION webhook.alter_endpoint(
	name text,
	url text DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	timeout interval DEFAULT NULL,
	retry_schedule interval[] DEFAULT NULL,
	max_in_flight integer DEFAULT NULL,
	new_name text DEFAULT NULL,
	ca_bundle text DEFAULT NULL,
	client_cert text DEFAULT NULL,
	client_key text DEFAULT NULL,
	tls_insecure boolean DEFAULT NULL,
	proxy text DEFAULT NULL)
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
	-- an empty string clears a transport option
	ep.ca_bundle := CASE WHEN ca_bundle = '' THEN NULL
						 ELSE coalesce(ca_bundle, ep.ca_bundle) END;
	ep.client_cert := CASE WHEN client_cert = '' THEN NULL
						   ELSE coalesce(client_cert, ep.client_cert) END;
	ep.client_key := CASE WHEN client_key = '' THEN NULL
						  ELSE coalesce(client_key, ep.client_key) END;
	ep.proxy := CASE WHEN proxy = '' THEN NULL
					 ELSE coalesce(proxy, ep.proxy) END;
	PERFORM webhook._check_endpoint(coalesce(url, ep.url), ep.secret,
									coalesce(headers, ep.headers));
	PERFORM webhook._check_settings(timeout, retry_schedule, max_in_flight);
	PERFORM webhook._check_transport(ep.ca_bundle, ep.client_cert,
									 ep.client_key, ep.proxy);
	IF (ep.client_cert IS NULL) <> (ep.client_key IS NULL) THEN
		RAISE EXCEPTION 'client certificate and client key go together'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass both client_cert and client_key, or neither.';
	END IF;
	IF tls_insecure AND NOT ep.tls_insecure THEN
		RAISE WARNING 'TLS verification is off for endpoint "%"', ep.name
			USING DETAIL = 'Its receiver''s certificate and host name are not checked, so anyone on the path can read and change its requests.';
	END IF;
	UPDATE webhook.endpoint e SET
		name = coalesce(new_name, e.name),
		url = coalesce(alter_endpoint.url, e.url),
		headers = coalesce(alter_endpoint.headers, e.headers),
		timeout = coalesce(alter_endpoint.timeout, e.timeout),
		retry_schedule = coalesce(alter_endpoint.retry_schedule, e.retry_schedule),
		max_in_flight = coalesce(alter_endpoint.max_in_flight, e.max_in_flight),
		ca_bundle = ep.ca_bundle,
		client_cert = ep.client_cert,
		client_key = ep.client_key,
		tls_insecure = coalesce(alter_endpoint.tls_insecure, e.tls_insecure),
		proxy = ep.proxy
	WHERE e.id = ep.id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer, text, text, text, text, boolean, text) IS
'Change an endpoint''s settings; arguments left NULL keep their value, an empty string clears a TLS or proxy option';

/* The listing gains the transport options that are not secret, at the end */
CREATE OR REPLACE VIEW webhook.endpoints AS
SELECT e.id, e.name, e.url,
	   ARRAY(SELECT jsonb_object_keys(e.headers)) AS header_names,
	   e.timeout, e.retry_schedule, e.max_in_flight, e.enabled,
	   e.disabled_reason, e.disabled_at,
	   e.previous_secret IS NOT NULL
		   AND e.previous_secret_expires_at > now() AS rotating,
	   e.created_at,
	   e.tls_insecure,
	   e.ca_bundle IS NOT NULL AS has_ca_bundle,
	   e.client_cert IS NOT NULL AS has_client_cert,
	   e.proxy IS NOT NULL AS has_proxy
FROM webhook.endpoint e;

/*
 * subscribe() runs as its caller, so that CREATE TRIGGER checks the
 * caller's own right to the table; only the endpoint lookup goes through
 * the SECURITY DEFINER helper above.
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
	IF NOT webhook._endpoint_exists(
			subscribe.endpoint) THEN
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

/*
 * Privileges.  PUBLIC keeps only the pure helpers it had (sign, webhook_id)
 * and schema usage.  webhook.capture() is no longer PUBLIC's: EXECUTE on a
 * trigger function is checked when a trigger is created, not when it fires,
 * so writers to a subscribed table need nothing, while only members of
 * webhook_user or webhook_admin can attach the function to a table (it
 * writes to the outbox as the extension's owner).
 */
REVOKE ALL ON ALL TABLES IN SCHEMA webhook FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA webhook FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA webhook FROM PUBLIC;
GRANT USAGE ON SCHEMA webhook TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.sign(text, text, bigint, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.webhook_id(uuid) TO PUBLIC;

/* webhook_admin: everything, secrets included (pg_dump as it keeps them) */
GRANT SELECT, INSERT, UPDATE, DELETE
	ON webhook.endpoint, webhook.event, webhook.attempt TO webhook_admin;
GRANT USAGE, SELECT, UPDATE
	ON webhook.endpoint_id_seq, webhook.event_id_seq TO webhook_admin;
GRANT SELECT ON webhook.endpoints, webhook.events, webhook.attempts,
	webhook.subscriptions TO webhook_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA webhook TO webhook_admin;

/* webhook_user: subscribe tables it may put triggers on, see subscriptions */
GRANT SELECT ON webhook.subscriptions TO webhook_user;
GRANT EXECUTE ON FUNCTION
	webhook.capture(),
	webhook.subscribe(regclass, text, text[], text[], text, text[], text,
					  text, text),
	webhook.unsubscribe(regclass, text, text),
	webhook._endpoint_exists(text),
	webhook._check_capture_args(regclass, text[]),
	webhook._trigger_args(bytea, smallint)
	TO webhook_user;
