/* webhook--0.5.0--0.6.0.sql: update the webhook extension from 0.5.0 to 0.6.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.6.0'" to load this file. \quit

/*
 * Brings an installed 0.5.0 to what webhook--0.6.0.sql installs: endpoints
 * gain a tenant, an event-type filter, a description, metadata and the
 * operational flag; subscriptions may route by tenant or to every endpoint
 * without one, and a change sent to several endpoints keeps its payload
 * once, in webhook.message.  Only what differs is restated here;
 * webhook--0.6.0.sql is where the schema reads whole.
 */

/* ---------------------------------------------------------------------
 * Tables
 * --------------------------------------------------------------------- */

ALTER TABLE webhook.endpoint
	ADD COLUMN tenant text CHECK (tenant <> ''),
	ADD COLUMN description text,
	ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
	ADD COLUMN event_types text[],
	ADD COLUMN operational boolean NOT NULL DEFAULT false;

CREATE INDEX endpoint_tenant_idx ON webhook.endpoint (tenant);

ALTER TABLE webhook.event
	ALTER COLUMN payload DROP NOT NULL,
	ADD COLUMN message_id bigint;

/*
 * Payloads shared by several events.  A change routed to more than one
 * endpoint is written once: one row here holds its payload, and each of
 * its events (one per endpoint, all with the same msg_id) has a NULL
 * payload and this row's id in message_id.  The id is the first of those
 * events' ids.  A row lives as long as any event still refers to it.
 */
CREATE TABLE webhook.message (
	id bigint PRIMARY KEY,
	payload json NOT NULL
);

/*
 * The event types an application offers its receivers: a name (as sent in
 * "type"), what it means, the JSON schema of its "data", and whether it is
 * archived (kept for old receivers, offered to no new one).  Configuration,
 * so pg_dump keeps its rows.
 */
CREATE TABLE webhook.event_types (
	name text PRIMARY KEY
		CHECK (name <> '' AND octet_length(name) <= 255),
	description text,
	schema jsonb,
	archived boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT now()
);

SELECT pg_catalog.pg_extension_config_dump('webhook.event_types', '');

/* ---------------------------------------------------------------------
 * Endpoints
 * --------------------------------------------------------------------- */

DROP FUNCTION webhook.generate_secret();

CREATE FUNCTION webhook.generate_secret(scheme text DEFAULT 'v1')
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_generate_secret'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.generate_secret(text) IS
'A new random Standard Webhooks secret ("whsec_" and 32 random bytes in base64)';

/*
 * An endpoint's tenant and event-type filter, checked at the door: a
 * tenant key is a non-empty text of at most 255 bytes; a filter is a list
 * of types or patterns ("*" for any run of characters), each non-empty,
 * at most 255 bytes, of letters, digits and "._-:*" only.  An empty list
 * is refused (it would take nothing); NULL takes every type.
 */
CREATE FUNCTION webhook._check_routing(tenant text, event_types text[])
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
BEGIN
	IF tenant IS NOT NULL AND (tenant OPERATOR(pg_catalog.=) ''
		OR pg_catalog.octet_length(tenant) OPERATOR(pg_catalog.>) 255) THEN
		RAISE EXCEPTION 'invalid tenant "%"', tenant
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A tenant key is 1 to 255 bytes.';
	END IF;
	IF event_types IS NULL THEN
		RETURN;
	END IF;
	IF pg_catalog.cardinality(event_types) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'argument "event_types" must not be an empty list'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to take every event type.';
	END IF;
	FOREACH t IN ARRAY event_types LOOP
		IF t IS NULL THEN
			RAISE EXCEPTION 'argument "event_types" must not contain null'
				USING ERRCODE = 'null_value_not_allowed';
		END IF;
		IF t OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_.:*-]{1,255}$'
			OR pg_catalog.octet_length(t) OPERATOR(pg_catalog.>) 255 THEN
			RAISE EXCEPTION 'invalid event type filter "%"', t
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A filter is an event type or a pattern of at most 255 bytes, of letters, digits and the characters "._-:*"; "*" stands for any run of characters.';
		END IF;
	END LOOP;
END
$$;


DROP FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval,
	interval[], integer, text, text, text, boolean, text, integer, integer);

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
	proxy text DEFAULT NULL,
	batch_max_events integer DEFAULT NULL,
	batch_max_bytes integer DEFAULT NULL,
	tenant text DEFAULT NULL,
	event_types text[] DEFAULT NULL,
	description text DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	operational boolean DEFAULT false,
	signature text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	new_id integer;
BEGIN
	PERFORM webhook._check_endpoint_name(name);
	IF url IS NULL THEN
		RAISE EXCEPTION 'endpoint URL must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM webhook._check_routing(tenant, event_types);
	IF metadata IS NOT NULL AND pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "metadata" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF signature IS NOT NULL AND signature NOT IN ('v1', 'v1a') THEN
		RAISE EXCEPTION 'invalid signature scheme "%"', signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).';
	END IF;
	IF secret IS NULL THEN
		secret := webhook.generate_secret(coalesce(signature, 'v1'));
	ELSIF signature IS NOT NULL
		AND signature OPERATOR(pg_catalog.<>)
			(CASE WHEN pg_catalog.starts_with(secret, 'whsk_') THEN 'v1a' ELSE 'v1' END) THEN
		RAISE EXCEPTION 'secret does not match signature scheme "%"', signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A v1 endpoint takes a whsec_ secret, a v1a endpoint a whsk_ key; omit the secret to have one generated.';
	END IF;
	PERFORM webhook._check_endpoint(url, secret, coalesce(headers, '{}'));
	PERFORM webhook._check_settings(timeout, retry_schedule, max_in_flight);
	PERFORM webhook._check_transport_settings(ca_bundle, client_cert,
											  client_key, proxy);
	PERFORM webhook._check_batching(batch_max_events, batch_max_bytes);
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
									   tls_insecure, proxy, batch_max_events,
									   batch_max_bytes, tenant, event_types,
									   description, metadata, operational)
	VALUES (create_endpoint.name, create_endpoint.url, create_endpoint.secret,
			coalesce(create_endpoint.headers, '{}'),
			coalesce(create_endpoint.timeout, '15s'),
			coalesce(create_endpoint.retry_schedule,
					 '{5s,5min,30min,2h,5h,10h,14h,20h,24h}'),
			create_endpoint.max_in_flight,
			create_endpoint.ca_bundle, create_endpoint.client_cert,
			create_endpoint.client_key,
			coalesce(create_endpoint.tls_insecure, false),
			create_endpoint.proxy,
			nullif(create_endpoint.batch_max_events, 0),
			coalesce(create_endpoint.batch_max_bytes, 1048576),
			create_endpoint.tenant, create_endpoint.event_types,
			create_endpoint.description,
			coalesce(create_endpoint.metadata, '{}'),
			coalesce(create_endpoint.operational, false))
	RETURNING e.id INTO new_id;
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval, interval[], integer, text, text, text, boolean, text, integer, integer, text, text[], text, jsonb, boolean, text) IS
'Register an endpoint: a URL, a signing secret or key (generated when omitted), delivery settings, TLS and proxy options, batching, its tenant and event-type filter';

DROP FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[],
	integer, text, text, text, text, boolean, text, integer, integer);

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
	proxy text DEFAULT NULL,
	batch_max_events integer DEFAULT NULL,
	batch_max_bytes integer DEFAULT NULL,
	tenant text DEFAULT NULL,
	event_types text[] DEFAULT NULL,
	description text DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	operational boolean DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(name, 'name', true);
	-- an empty string clears the tenant and the description, an empty
	-- list the filter
	ep.tenant := CASE WHEN tenant = '' THEN NULL
					  ELSE coalesce(tenant, ep.tenant) END;
	ep.description := CASE WHEN description = '' THEN NULL
						   ELSE coalesce(description, ep.description) END;
	ep.event_types := CASE WHEN pg_catalog.cardinality(event_types) = 0 THEN NULL
						   ELSE coalesce(event_types, ep.event_types) END;
	PERFORM webhook._check_routing(ep.tenant, ep.event_types);
	IF metadata IS NOT NULL AND pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "metadata" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF new_name IS NOT NULL THEN
		PERFORM webhook._check_endpoint_name(new_name);
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
	PERFORM webhook._check_transport_settings(ep.ca_bundle, ep.client_cert,
											  ep.client_key, ep.proxy);
	PERFORM webhook._check_batching(batch_max_events, batch_max_bytes);
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
		proxy = ep.proxy,
		-- 0 turns batching off
		batch_max_events = CASE WHEN alter_endpoint.batch_max_events = 0
								THEN NULL
								ELSE coalesce(alter_endpoint.batch_max_events,
											  e.batch_max_events) END,
		batch_max_bytes = coalesce(alter_endpoint.batch_max_bytes,
								   e.batch_max_bytes),
		tenant = ep.tenant,
		event_types = ep.event_types,
		description = ep.description,
		metadata = coalesce(alter_endpoint.metadata, e.metadata),
		operational = coalesce(alter_endpoint.operational, e.operational)
	WHERE e.id = ep.id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer, text, text, text, text, boolean, text, integer, integer, text, text[], text, jsonb, boolean) IS
'Change an endpoint''s settings; arguments left NULL keep their value, an empty string clears a TLS or proxy option, the tenant or the description, an empty list the event-type filter, a batch_max_events of 0 turns batching off';

/* ---------------------------------------------------------------------
 * Views
 * --------------------------------------------------------------------- */

CREATE OR REPLACE VIEW webhook.endpoints AS
SELECT e.id, e.name, e.url,
	   ARRAY(SELECT jsonb_object_keys(e.headers)) AS header_names,
	   e.timeout, e.retry_schedule, e.max_in_flight, e.enabled,
	   e.disabled_reason, e.disabled_at,
	   e.previous_secret IS NOT NULL
		   AND e.previous_secret_expires_at > now() AS rotating,
	   e.created_at,
	   e.paused, e.failure_threshold, e.failure_window, e.rate_limit,
	   e.ordering,
	   e.tls_insecure,
	   e.ca_bundle IS NOT NULL AS has_ca_bundle,
	   e.client_cert IS NOT NULL AS has_client_cert,
	   e.proxy IS NOT NULL AS has_proxy,
	   e.batch_max_events, e.batch_max_bytes,
	   e.tenant, e.event_types, e.description, e.metadata, e.operational,
	   CASE WHEN pg_catalog.starts_with(e.secret, 'whsk_') THEN 'v1a'
			ELSE 'v1' END AS signature
FROM webhook.endpoint e;

/* ---------------------------------------------------------------------
 * Routed subscriptions and shared payloads
 * --------------------------------------------------------------------- */

/* does an endpoint's event-type filter (NULL: every type) take a type? */
CREATE FUNCTION webhook._event_type_matches(patterns text[], type text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'webhook_event_type_matches'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

/* the events sharing a payload, found when one of them is removed */
CREATE INDEX event_message_idx ON webhook.event (message_id)
	WHERE message_id IS NOT NULL;

/*
 * A shared payload goes with the last event that refers to it, in the
 * transaction that removes that event, whatever removes it (delivery,
 * retention, webhook.drop_endpoint(), discard, a user's DELETE).  The
 * payloads the deleted rows named are locked first, in id order, and
 * looked at again in a statement of their own: two transactions that
 * remove the last two events of one payload at once then take turns, and
 * the second sees the first's removal, so no payload is left behind.
 */
CREATE FUNCTION webhook._message_cleanup()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids bigint[];
BEGIN
	SELECT pg_catalog.array_agg(DISTINCT o.message_id ORDER BY o.message_id)
	INTO ids
	FROM old_events o WHERE o.message_id IS NOT NULL;
	IF ids IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM FROM webhook.message m
	WHERE m.id OPERATOR(pg_catalog.=) ANY (ids)
	ORDER BY m.id FOR UPDATE;
	DELETE FROM webhook.message m
	WHERE m.id OPERATOR(pg_catalog.=) ANY (ids)
	  AND NOT EXISTS (SELECT FROM webhook.event ev
					  WHERE ev.message_id OPERATOR(pg_catalog.=) m.id);
	RETURN NULL;
END
$$;

CREATE TRIGGER event_message_cleanup
	AFTER DELETE ON webhook.event
	REFERENCING OLD TABLE AS old_events
	FOR EACH STATEMENT EXECUTE FUNCTION webhook._message_cleanup();

DROP FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[],
								text, text, text, regprocedure);

CREATE FUNCTION webhook.subscribe(
	tbl regclass,
	endpoint text DEFAULT NULL,
	events text[] DEFAULT '{insert,update,delete}',
	columns text[] DEFAULT NULL,
	condition text DEFAULT NULL,
	exclude text[] DEFAULT NULL,
	event_type text DEFAULT NULL,
	format text DEFAULT NULL,
	name text DEFAULT NULL,
	payload_function regprocedure DEFAULT NULL,
	tenant text DEFAULT NULL,
	broadcast boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ev text;
	col text;
	parts text[] := '{}';
	args text[];
	route text;
	trg text;
	sql text;
	nchildren integer;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF broadcast IS NULL THEN
		RAISE EXCEPTION 'argument "broadcast" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF (endpoint IS NOT NULL)::integer OPERATOR(pg_catalog.+)
		(tenant IS NOT NULL)::integer OPERATOR(pg_catalog.+)
		broadcast::integer OPERATOR(pg_catalog.<>) 1 THEN
		RAISE EXCEPTION 'a subscription needs exactly one of "endpoint", "tenant" and "broadcast"'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name an endpoint, pass tenant => a column or an expression over NEW and OLD, or pass broadcast => true.';
	END IF;
	IF endpoint OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "endpoint" must not be null or empty'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NOT NULL AND NOT webhook._endpoint_exists(subscribe.endpoint) THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with webhook.create_endpoint().';
	END IF;
	IF pg_catalog.btrim(tenant, E' \t\r\n') OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "tenant" must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name the column that holds the tenant, or write an expression over NEW and OLD.';
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

	/*
	 * A tenant is a column of the table (read from the row), or else an
	 * expression over NEW and OLD, which must compile now.
	 */
	IF broadcast THEN
		route := 'broadcast';
	ELSIF tenant IS NOT NULL AND EXISTS (
			SELECT FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
			  AND a.attname OPERATOR(pg_catalog.=) tenant
			  AND a.attnum OPERATOR(pg_catalog.>) 0
			  AND NOT a.attisdropped) THEN
		route := 'tenant=' || pg_catalog.quote_ident(tenant);
	ELSIF tenant IS NOT NULL THEN
		BEGIN
			PERFORM webhook._check_condition(tenant);
			EXECUTE pg_catalog.format(
				E'SELECT (%s\n)::pg_catalog.text FROM (SELECT (NULL::%s).*) AS new, (SELECT (NULL::%s).*) AS old LIMIT 0',
				tenant, tbl, tbl);
		EXCEPTION
			WHEN syntax_error THEN
				RAISE EXCEPTION 'invalid tenant expression: %', SQLERRM
					USING ERRCODE = 'syntax_error',
						  DETAIL = pg_catalog.format('The expression was: %s', tenant),
						  HINT = 'Name a column of the table, or write an expression over NEW and OLD, such as "coalesce(NEW.merchant_id, OLD.merchant_id)".';
		END;
		route := 'tenant_expr=' || tenant;
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

	-- a routed subscription names no endpoint: its first argument is empty
	args := ARRAY[coalesce(endpoint, '')];
	IF route IS NOT NULL THEN
		args := args || route;
	END IF;
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
	trg := coalesce(name, CASE WHEN broadcast THEN 'webhook_broadcast'
							   WHEN tenant IS NOT NULL THEN 'webhook_by_tenant'
							   ELSE 'webhook_' || endpoint END);
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
		RAISE WARNING 'rows of tables that inherit from table "%" are not captured',
			(SELECT c.relname FROM pg_catalog.pg_class c
			 WHERE c.oid OPERATOR(pg_catalog.=) tbl)
			USING DETAIL = pg_catalog.format('The table has %s child tables by inheritance. A subscription captures the rows stored in its own table only, even when a change is made through the parent.', nchildren),
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
	IF payload_function IS NOT NULL THEN
		PERFORM webhook._depend_on_function(tbl, trg, payload_function);
	END IF;
	RETURN trg;
END
$$;

COMMENT ON FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[], text, text, text, regprocedure, text, boolean) IS
'Create the trigger that sends a table''s row changes to an endpoint, to the endpoints of each row''s tenant (tenant: a column, or an expression over NEW and OLD), or to every endpoint without a tenant (broadcast); returns its name.  payload_function, taking the table''s row type and returning json or jsonb, builds the event''s data';

CREATE OR REPLACE FUNCTION webhook.unsubscribe(tbl regclass, endpoint text,
									name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trg name;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NULL AND name IS NULL THEN
		RAISE EXCEPTION 'argument "endpoint" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass name => the subscription''s name to drop a routed subscription.';
	END IF;
	SELECT s.trigger_name INTO trg FROM webhook.subscriptions s
	WHERE s.table_name = tbl
	  AND (unsubscribe.endpoint IS NULL OR s.endpoint = unsubscribe.endpoint)
	  AND (unsubscribe.name IS NULL OR s.trigger_name = unsubscribe.name)
	ORDER BY s.trigger_name LIMIT 1;
	IF NOT FOUND AND endpoint IS NULL THEN
		RAISE EXCEPTION 'table "%" has no subscription "%"',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl), name
			USING ERRCODE = 'undefined_object';
	ELSIF NOT FOUND THEN
		RAISE EXCEPTION 'table "%" is not subscribed to endpoint "%"',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl), endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
	EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg, tbl);
END
$$;

COMMENT ON FUNCTION webhook.unsubscribe(regclass, text, text) IS
'Drop the trigger that sends a table''s row changes to an endpoint (endpoint NULL: the subscription named name, routed ones included)';

CREATE OR REPLACE FUNCTION webhook.preview(tbl regclass, new_row anyelement,
								old_row anyelement DEFAULT NULL,
								subscription name DEFAULT NULL)
RETURNS TABLE (trigger_name name, endpoint text, url text, body json,
			   headers jsonb)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	ep webhook.endpoint;
	op text;
	msg text;
	ts bigint;
	sig text;
	b text;
	t text;
	expr text;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	op := CASE WHEN old_row IS NULL THEN 'INSERT'
			   WHEN new_row IS NULL THEN 'DELETE'
			   ELSE 'UPDATE' END;
	IF new_row IS NULL AND old_row IS NULL THEN
		RAISE EXCEPTION 'a preview needs a new row, an old row, or both'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOR s IN SELECT * FROM webhook.subscriptions sub
			 WHERE sub.table_name = tbl
			   AND (preview.subscription IS NULL
					OR sub.trigger_name = preview.subscription)
			 ORDER BY sub.trigger_name LOOP
		b := webhook._preview_body(tbl, s.trigger_name, op, new_row, old_row);
		CONTINUE WHEN b IS NULL;
		-- only subscriptions that fire on the operation
		CONTINUE WHEN NOT EXISTS (
			SELECT FROM pg_trigger tg
			WHERE tg.tgrelid = tbl AND tg.tgname = s.trigger_name
			  AND (tg.tgtype::integer & CASE op WHEN 'INSERT' THEN 4
												WHEN 'DELETE' THEN 8
												ELSE 16 END) <> 0);
		-- a routed change goes to its tenant's endpoints, as the capture routes it
		t := NULL;
		IF s.routing = 'tenant' THEN
			expr := s.tenant;
			IF EXISTS (SELECT FROM pg_attribute a
					   WHERE a.attrelid = tbl AND a.attname = s.tenant
						 AND a.attnum > 0 AND NOT a.attisdropped) THEN
				expr := pg_catalog.format('%s.%I',
					CASE WHEN op = 'DELETE' THEN 'old' ELSE 'new' END, s.tenant);
			END IF;
			EXECUTE pg_catalog.format(
				E'SELECT (%s\n)::pg_catalog.text FROM (SELECT ($1).*) AS new, (SELECT ($2).*) AS old',
				expr) INTO t USING new_row, old_row;
			CONTINUE WHEN t IS NULL;
		END IF;
		msg := 'msg_' || replace(gen_random_uuid()::text, '-', '');
		ts := extract(epoch FROM now())::bigint;
		FOR ep IN SELECT * FROM webhook.endpoint e
				  WHERE CASE s.routing
						WHEN 'endpoint' THEN e.name = s.endpoint
						ELSE (e.enabled OR e.paused) AND NOT e.operational
							 AND e.tenant IS NOT DISTINCT FROM t
							 AND webhook._event_type_matches(e.event_types,
															 b::json ->> 'type')
						END
				  ORDER BY e.id LOOP
			sig := webhook.sign(ep.secret, msg, ts, b);
			IF ep.previous_secret IS NOT NULL
				AND ep.previous_secret_expires_at > now() THEN
				sig := sig || ' ' || webhook.sign(ep.previous_secret, msg, ts, b);
			END IF;
			trigger_name := s.trigger_name;
			endpoint := ep.name;
			url := ep.url;
			body := b::json;
			headers := jsonb_build_object(
				'Content-Type', 'application/json',
				'User-Agent', 'webhook/' || (SELECT x.extversion FROM pg_extension x
											 WHERE x.extname = 'webhook'),
				'webhook-id', msg,
				'webhook-timestamp', ts::text,
				'webhook-signature', sig) || ep.headers;
			RETURN NEXT;
		END LOOP;
	END LOOP;
	IF NOT EXISTS (SELECT FROM webhook.subscriptions sub
				   WHERE sub.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" is not subscribed to any endpoint',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl)
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.preview(regclass, anyelement, anyelement, name) IS
'The body and headers each subscription of a table would send for a row change (new_row alone: an insert; old_row alone: a delete; both: an update), one row per endpoint a routed change goes to, without sending anything';

CREATE OR REPLACE VIEW webhook.subscriptions AS
SELECT t.tgrelid::regclass AS table_name,
	   t.tgname AS trigger_name,
	   NULLIF(args[1], '') AS endpoint,
	   CASE WHEN args[1] = '' THEN args[3:] ELSE args[2:] END AS options,
	   t.tgenabled <> 'D' AS enabled,
	   pg_catalog.pg_get_triggerdef(t.oid) AS definition,
	   CASE WHEN args[1] <> '' THEN 'endpoint'
			WHEN args[2] = 'broadcast' THEN 'broadcast'
			ELSE 'tenant' END AS routing,
	   CASE WHEN args[1] <> '' THEN NULL
			WHEN pg_catalog.starts_with(args[2], 'tenant=') THEN
				(webhook._column_list_names(pg_catalog.substr(args[2], 8)))[1]
			WHEN pg_catalog.starts_with(args[2], 'tenant_expr=') THEN
				pg_catalog.substr(args[2], 13) END AS tenant
FROM pg_catalog.pg_trigger t,
	 LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs) AS args) x
WHERE t.tgfoid = 'webhook.capture()'::regprocedure;

COMMENT ON VIEW webhook.subscriptions IS
'Every trigger that captures events, with its endpoint (NULL when routed) and options, how it routes (endpoint, tenant or broadcast) and the tenant column or expression';

CREATE OR REPLACE VIEW webhook.events AS
SELECT ev.id, e.name AS endpoint, webhook.webhook_id(ev.msg_id) AS webhook_id,
	   b.body ->> 'type' AS type, ev.state, ev.attempts, ev.created_at,
	   -- infinity: parked until its endpoint is enabled again
	   CASE WHEN ev.state = 'pending' THEN ev.next_attempt_at END
		   AS next_attempt_at,
	   ev.finished_at,
	   CASE WHEN ev.attempts > 0 THEN
		   (SELECT coalesce(a.status::text, a.error) FROM webhook.attempt a
			WHERE a.event_id = ev.id ORDER BY a.attempt DESC LIMIT 1) END
		   AS last_result,
	   b.body AS payload
FROM webhook.event ev
LEFT JOIN webhook.message m ON m.id = ev.message_id
CROSS JOIN LATERAL webhook._event_body(coalesce(ev.payload, m.payload),
									   ev.created_at) AS b(body)
LEFT JOIN webhook.endpoint e ON e.id = ev.endpoint_id
UNION ALL
SELECT a.event_id, e.name, webhook.webhook_id(a.msg_id),
	   NULL::text, 'delivered'::webhook.event_state, a.attempt, a.created_at,
	   NULL::timestamptz,
	   a.started_at + a.duration_us * interval '1 microsecond',
	   a.status::text, NULL::json
FROM (
	-- an event's last final attempt says how it ended (a replayed event
	-- has one per time it was finished)
	SELECT DISTINCT ON (f.event_id) f.*
	FROM webhook.attempt f
	WHERE f.final
	ORDER BY f.event_id, f.attempt DESC
) a
LEFT JOIN webhook.endpoint e ON e.id = a.endpoint_id
WHERE a.status BETWEEN 200 AND 299
  AND NOT EXISTS (SELECT FROM webhook.event ev WHERE ev.id = a.event_id);

COMMENT ON VIEW webhook.events IS
'Every event kept in the outbox, with its state and latest result, and every delivered event the history still tells of (without its type and payload once its row is removed)';

CREATE OR REPLACE FUNCTION webhook._refuse_drop_excluded()
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
											   s.tbl::text, NULLIF(s.endpoint, ''), s.tgname);
		END LOOP;
	END LOOP;
END
$$;

REVOKE ALL ON FUNCTION webhook._event_type_matches(text[], text),
	webhook._message_cleanup(),
	webhook.subscribe(regclass, text, text[], text[], text, text[], text,
					  text, text, regprocedure, text, boolean)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook._event_type_matches(text[], text),
	webhook._message_cleanup(),
	webhook.subscribe(regclass, text, text[], text[], text, text[], text,
					  text, text, regprocedure, text, boolean)
	TO webhook_admin;
GRANT EXECUTE ON FUNCTION
	webhook.subscribe(regclass, text, text[], text[], text, text[], text,
					  text, text, regprocedure, text, boolean)
	TO webhook_user;

/* ---------------------------------------------------------------------
 * Privileges of what this update created
 * --------------------------------------------------------------------- */

ALTER TABLE webhook.message SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 20000);

REVOKE ALL ON webhook.message, webhook.event_types FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook.message, webhook.event_types
	TO webhook_admin;
REVOKE ALL ON FUNCTION webhook.generate_secret(text),
	webhook._check_routing(text, text[]),
	webhook.create_endpoint(text, text, text, jsonb, interval, interval[],
		integer, text, text, text, boolean, text, integer, integer, text,
		text[], text, jsonb, boolean, text),
	webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer,
		text, text, text, text, boolean, text, integer, integer, text, text[],
		text, jsonb, boolean)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.generate_secret(text),
	webhook._check_routing(text, text[]),
	webhook.create_endpoint(text, text, text, jsonb, interval, interval[],
		integer, text, text, text, boolean, text, integer, integer, text,
		text[], text, jsonb, boolean, text),
	webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer,
		text, text, text, text, boolean, text, integer, integer, text, text[],
		text, jsonb, boolean)
	TO webhook_admin;
