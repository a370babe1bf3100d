/* webhook--0.5.0--0.6.0.sql: update the webhook extension from 0.5.0 to 0.6.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.6.0'" to load this file. \quit

/*
 * Brings an installed 0.5.0 to what webhook--0.6.0.sql installs: endpoints
 * gain a tenant, an event-type filter, a description, metadata and the
 * operational flag; subscriptions may route by tenant or to every endpoint
 * without one, and a change sent to several endpoints keeps its payload
 * once, in webhook.message; tenants get a role (webhook_tenant), row-level
 * security and functions of their own, and the event-type catalog its
 * functions and an optional check.  Only what differs is restated here;
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
CREATE INDEX endpoint_operational_idx ON webhook.endpoint (id)
	WHERE operational;
/*
 * the few endpoints that keep an order or a rate limit, which the worker
 * reads at every claim: with thousands of endpoints, finding them by a
 * scan of the table cost more than the rest of the claim
 */
CREATE INDEX endpoint_ordered_idx ON webhook.endpoint (id)
	WHERE ordering <> 'none';
CREATE INDEX endpoint_rate_limited_idx ON webhook.endpoint (id)
	WHERE rate_limit IS NOT NULL;

ALTER TABLE webhook.endpoint_health ADD COLUMN failing_reported_at timestamptz;

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

/*
 * Which tenant a role acts for: a role listed here is one tenant's own
 * (webhook.grant_tenant() adds it and makes it a member of webhook_tenant),
 * and webhook.current_tenant() gives that tenant whatever the session sets.
 * Keyed by role name, as pg_dump keeps roles by name.  Configuration, so
 * pg_dump keeps its rows.
 */
CREATE TABLE webhook.tenant_role (
	role name PRIMARY KEY,
	tenant text NOT NULL CHECK (tenant <> '' AND octet_length(tenant) <= 255)
);

SELECT pg_catalog.pg_extension_config_dump('webhook.tenant_role', '');

/* ---------------------------------------------------------------------
 * Endpoints
 * --------------------------------------------------------------------- */

DROP FUNCTION webhook.generate_secret();

CREATE FUNCTION webhook.generate_secret(scheme text DEFAULT 'v1')
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_generate_secret'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.generate_secret(text) IS
'A new random Standard Webhooks secret: for scheme v1 "whsec_" and 32 random bytes in base64, for v1a a "whsk_" Ed25519 secret key';

/*
 * An endpoint's tenant and event-type filter, checked at the door: a
 * tenant key is a non-empty text of at most 255 bytes; a filter is a list
 * of types or patterns ("*" for any run of characters), each non-empty,
 * at most 255 bytes, of letters, digits and "._-:*" only.  An empty list
 * is refused (it would take nothing); NULL takes every type.  While
 * "webhook.check_event_types" is on, each filter must also match a type of
 * the catalog that is not archived.
 */
CREATE FUNCTION webhook._check_routing(tenant text, event_types text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
	checked boolean := coalesce(pg_catalog.current_setting('webhook.check_event_types', true)::boolean, false);
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
		-- "_" is LIKE's own wildcard, "*" the filter's
		IF checked AND NOT EXISTS (
			SELECT FROM webhook.event_types c
			WHERE NOT c.archived
			  AND c.name OPERATOR(pg_catalog.~~) pg_catalog.replace(
				  pg_catalog.replace(t, '_', '\_'), '*', '%')) THEN
			RAISE EXCEPTION 'event type filter "%" matches no event type of the catalog', t
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Add the type with webhook.create_event_type(), which also brings back an archived one; the catalog is webhook.event_types, checked while "webhook.check_event_types" is on.';
		END IF;
	END LOOP;
END
$$;

/*
 * A subscription's event type, checked against the catalog while
 * "webhook.check_event_types" is on: it must be a type of
 * webhook.event_types that is not archived.  A subscription without one
 * (its events typed by table and operation) is not checked.
 */
CREATE FUNCTION webhook._check_event_type(type text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF type IS NULL
		OR NOT coalesce(pg_catalog.current_setting('webhook.check_event_types', true)::boolean, false) THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT FROM webhook.event_types c
				   WHERE c.name OPERATOR(pg_catalog.=) _check_event_type.type
					 AND NOT c.archived) THEN
		RAISE EXCEPTION 'event type "%" is not in the catalog', type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Add it with webhook.create_event_type(), which also brings back an archived one; the catalog is webhook.event_types, checked while "webhook.check_event_types" is on.';
	END IF;
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
	PERFORM webhook._check_event_type(event_type);
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
		-- a subscription routed by the column reads it from every row
		FOR s IN SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS tbl
				 FROM pg_catalog.pg_trigger t,
					  LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs)
							   AS args) a
				 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.objid
				   AND t.tgfoid OPERATOR(pg_catalog.=)
					   'webhook.capture()'::pg_catalog.regprocedure
				   AND a.args[1] OPERATOR(pg_catalog.=) ''
				   AND pg_catalog.starts_with(a.args[2], 'tenant=')
				   AND d.address_names[3] OPERATOR(pg_catalog.=) ANY (
					   webhook._column_list_names(pg_catalog.substr(a.args[2], 8)))
				 ORDER BY t.tgname LIMIT 1 LOOP
			RAISE EXCEPTION 'cannot drop column "%" of table "%" because subscription "%" routes by it',
				d.address_names[3], d.address_names[2], s.tgname
				USING ERRCODE = 'dependent_objects_still_exist',
					  HINT = pg_catalog.format('Unsubscribe with webhook.unsubscribe(%L, NULL, name => %L), drop the column, then subscribe again with another tenant column.',
											   s.tbl::text, s.tgname);
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

/* ---------------------------------------------------------------------
 * Asymmetric signatures and the receiving side
 * --------------------------------------------------------------------- */

COMMENT ON FUNCTION webhook.sign(text, text, bigint, text) IS
'Standard Webhooks signature of msg_id.timestamp.body: "v1,<base64 HMAC-SHA256>" with a "whsec_" secret, "v1a,<base64 Ed25519>" with a "whsk_" secret key';

CREATE FUNCTION webhook.public_key_of(secret text)
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_public_key_of'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.public_key_of(text) IS
'The "whpk_" public key of a "whsk_" secret key: what receivers verify v1a signatures with';

CREATE FUNCTION webhook.verify(secret_or_public_key text, headers jsonb,
							   body text,
							   tolerance interval DEFAULT '5 minutes')
RETURNS boolean
AS 'MODULE_PATHNAME', 'webhook_verify'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.verify(text, jsonb, text, interval) IS
'Check a received Standard Webhooks request (its webhook-id, webhook-timestamp within the tolerance, and a v1 or v1a signature under the key); true, or an error saying why not';

DROP FUNCTION webhook.rotate_secret(text, text, interval);

/*
 * A rotation without a secret generates one of the endpoint's scheme, or
 * of the one signature names; a "whsk_" secret, or signature => 'v1a',
 * moves a v1 endpoint to v1a (and back).  Until the overlap ends requests
 * carry the old signature beside the new, whatever their schemes.
 */
CREATE FUNCTION webhook.rotate_secret(name text, secret text DEFAULT NULL,
									  overlap interval DEFAULT '24h',
									  signature text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(name, 'name', true);
	IF overlap IS NULL THEN
		RAISE EXCEPTION 'argument "overlap" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF signature IS NOT NULL AND signature NOT IN ('v1', 'v1a') THEN
		RAISE EXCEPTION 'invalid signature scheme "%"', signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).';
	END IF;
	IF secret IS NULL THEN
		secret := webhook.generate_secret(coalesce(signature,
			CASE WHEN starts_with(ep.secret, 'whsk_') THEN 'v1a' ELSE 'v1' END));
	ELSIF signature IS NOT NULL
		AND signature <> (CASE WHEN starts_with(secret, 'whsk_') THEN 'v1a'
							  ELSE 'v1' END) THEN
		RAISE EXCEPTION 'secret does not match signature scheme "%"', signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A v1 endpoint takes a whsec_ secret, a v1a endpoint a whsk_ key; omit the secret to have one generated.';
	END IF;
	PERFORM webhook._check_endpoint(NULL, secret, NULL);
	IF overlap < '0'::interval THEN
		RAISE EXCEPTION 'overlap must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	UPDATE webhook.endpoint e SET
		previous_secret = e.secret,
		previous_secret_expires_at = now() + overlap,
		secret = rotate_secret.secret
	WHERE e.id = ep.id;
END
$$;

COMMENT ON FUNCTION webhook.rotate_secret(text, text, interval, text) IS
'Replace an endpoint''s secret (signature => ''v1a'' moves it to Ed25519); requests carry signatures with both secrets until the overlap ends';

/*
 * What a v1a endpoint's receivers verify with.  A v1 endpoint has no public
 * key: its receivers need the secret itself (endpoint_secret()).
 */
CREATE FUNCTION webhook.public_key(endpoint text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	secret text := (webhook._lookup_endpoint(endpoint, 'endpoint', false)).secret;
BEGIN
	IF NOT starts_with(secret, 'whsk_') THEN
		RAISE EXCEPTION 'endpoint "%" signs with v1, which has no public key',
			endpoint
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Its receivers verify with its secret (webhook.endpoint_secret()); webhook.rotate_secret(name, signature => ''v1a'') moves it to v1a.';
	END IF;
	RETURN webhook.public_key_of(secret);
END
$$;

COMMENT ON FUNCTION webhook.public_key(text) IS
'The "whpk_" public key of a v1a endpoint, for configuring its receivers';

/*
 * The inbox: the webhook-id of every request webhook.receive() accepted, so
 * that a retried delivery is acted on once.  The worker's clean-up removes
 * ids older than "webhook.retention": a request older than receive()'s
 * tolerance is refused by its timestamp anyway, so ids need keeping only
 * as long as the tolerance, and the retention (days, where tolerances are
 * minutes) is that with a wide margin.
 */
CREATE TABLE webhook.inbox (
	webhook_id text PRIMARY KEY,
	received_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX inbox_received_at_idx ON webhook.inbox (received_at);

/*
 * Verify a request, then record its webhook-id in the inbox: true the first
 * time, false for a request already received.  The row belongs to the
 * caller's transaction, so a transaction that fails while acting on the
 * request takes the row with it and the sender's retry gets through; two
 * sessions receiving the same id at once are ordered by the primary key
 * (the second waits, then sees the first's row, or inserts its own if the
 * first rolled back).  SECURITY DEFINER: callers need no privilege on the
 * inbox, only EXECUTE on this function.
 */
CREATE FUNCTION webhook.receive(secret_or_public_key text, headers jsonb,
								body text,
								tolerance interval DEFAULT '5 minutes')
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id text;
	n bigint;
BEGIN
	PERFORM webhook.verify(secret_or_public_key, headers, body, tolerance);
	SELECT h.value INTO STRICT id FROM jsonb_each_text(headers) h
	WHERE lower(h.key) = 'webhook-id';
	INSERT INTO webhook.inbox (webhook_id) VALUES (id)
	ON CONFLICT (webhook_id) DO NOTHING;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n = 1;
END
$$;

COMMENT ON FUNCTION webhook.receive(text, jsonb, text, interval) IS
'Verify a received Standard Webhooks request and record its webhook-id: true when it is new, false when it was already received';

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
				   WHERE rolname = 'webhook_receiver') THEN
		CREATE ROLE webhook_receiver NOLOGIN;
	END IF;
END
$$;

REVOKE ALL ON webhook.inbox FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook.inbox TO webhook_admin;
REVOKE ALL ON FUNCTION webhook.public_key_of(text),
	webhook.verify(text, jsonb, text, interval),
	webhook.rotate_secret(text, text, interval, text),
	webhook.public_key(text),
	webhook.receive(text, jsonb, text, interval)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.public_key_of(text),
	webhook.verify(text, jsonb, text, interval),
	webhook.rotate_secret(text, text, interval, text),
	webhook.public_key(text),
	webhook.receive(text, jsonb, text, interval)
	TO webhook_admin;
GRANT EXECUTE ON FUNCTION webhook.verify(text, jsonb, text, interval)
	TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.receive(text, jsonb, text, interval)
	TO webhook_receiver;

/* ---------------------------------------------------------------------
 * Endpoints written by tenants
 * --------------------------------------------------------------------- */

/*
 * A tenant may write its endpoints with plain SQL as well as through the
 * tenant functions (row-level security keeps it to its own rows, column
 * privileges to the columns it may set), so a write by anyone who is not
 * webhook_admin is checked here as the functions check it: the name, the
 * URL, the secret and the headers (_check_endpoint()), the tenant and the
 * filter.  A subscribed endpoint may be neither renamed nor deleted by
 * them: the subscription names it, and every write to its table would
 * fail.  The trigger's WHEN leaves webhook_admin and superusers (the
 * worker among them) out, so they pay one role check per row.
 */
CREATE FUNCTION webhook._endpoint_tenant_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE'
		AND webhook._endpoint_subscribed(OLD.name) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" while tables are subscribed to it', OLD.name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; the application must unsubscribe them first.';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
		AND NEW.name OPERATOR(pg_catalog.<>) OLD.name
		AND webhook._endpoint_subscribed(OLD.name) THEN
		RAISE EXCEPTION 'cannot rename endpoint "%" while tables are subscribed to it', OLD.name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; the application must unsubscribe them first.';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	PERFORM webhook._check_endpoint_name(NEW.name);
	PERFORM webhook._check_endpoint(NEW.url, NEW.secret, NEW.headers);
	PERFORM webhook._check_routing(NEW.tenant, NEW.event_types);
	IF pg_catalog.jsonb_typeof(NEW.metadata) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'endpoint metadata must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN NEW;
END
$$;

/*
 * Is an endpoint named by a subscription?  The triggers are in
 * pg_catalog.pg_trigger, which every role may read; this only decodes
 * their arguments for roles that may not read webhook.subscriptions.
 */
CREATE FUNCTION webhook._endpoint_subscribed(name text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
	SELECT FROM pg_catalog.pg_trigger t
	WHERE t.tgfoid OPERATOR(pg_catalog.=)
		  'webhook.capture()'::pg_catalog.regprocedure
	  AND (webhook._trigger_args(t.tgargs, t.tgnargs))[1]
		  OPERATOR(pg_catalog.=) _endpoint_subscribed.name);

/*
 * Writes by roles other than webhook_admin (tenants): checked as the
 * tenant functions check them, see _endpoint_tenant_check()
 */
CREATE TRIGGER endpoint_tenant_check
	BEFORE INSERT OR UPDATE OR DELETE ON webhook.endpoint
	FOR EACH ROW
	WHEN (NOT pg_catalog.pg_has_role(CURRENT_USER, 'webhook_admin', 'MEMBER'))
	EXECUTE FUNCTION webhook._endpoint_tenant_check();

/* ---------------------------------------------------------------------
 * Tenants: what the application calls for its customers
 * --------------------------------------------------------------------- */

/*
 * The functions that read the outbox and the history turn JIT off: for a
 * tenant, each table they read carries its row-level security subplans,
 * whose estimates reach jit_above_cost although the queries read a few
 * index ranges; compiling them took longer (2.5 s) than running them.
 */

/*
 * Who the session acts for.  The functions below run as their caller
 * (SECURITY INVOKER), and row-level security on the extension's tables
 * (see "Roles and privileges") keeps a tenant's role to its own tenant's
 * rows whatever it runs: these functions, or plain SQL on the tables.
 * Wrappers running as the owner could not do that: inside a SECURITY
 * DEFINER function current_user is the owner, so the tenant could only be
 * taken from an argument the caller chose.
 *
 * The tenant is, in this order:
 * - the one webhook.grant_tenant() mapped the role to, or else the one it
 *   mapped the session's login role to: a tenant's own connection, which
 *   neither "webhook.tenant" nor SET ROLE can move elsewhere;
 * - for another member of webhook_tenant (not webhook_tenant itself),
 *   "webhook.tenant": a connection the application controls sets it per
 *   request.  With PostgREST, the
 *   authenticator switches to a role in webhook_tenant, and its
 *   pre-request function sets the tenant from the JWT:
 *
 *     CREATE FUNCTION api.pre_request() RETURNS void LANGUAGE sql AS $f$
 *       SELECT set_config('webhook.tenant',
 *                         current_setting('request.jwt.claims', true)::json
 *                         ->> 'merchant_id', true)
 *     $f$;
 *
 * - for anyone else (webhook_admin, superusers), none: a trusted backend
 *   names the tenant in each call instead.
 */
CREATE FUNCTION webhook.current_tenant()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
BEGIN
	SELECT r.tenant INTO t FROM webhook.tenant_role r
	WHERE r.role OPERATOR(pg_catalog.=) CURRENT_USER;
	IF FOUND THEN
		RETURN t;
	END IF;
	-- a tenant's own connection stays its tenant's whatever role it
	-- switches to (it may SET ROLE webhook_tenant, being a member)
	SELECT r.tenant INTO t FROM webhook.tenant_role r
	WHERE r.role OPERATOR(pg_catalog.=) SESSION_USER;
	IF FOUND THEN
		RETURN t;
	END IF;
	-- superusers are members of every role, yet tenants of none; the group
	-- role itself is nobody's own
	IF pg_catalog.pg_has_role(CURRENT_USER, 'webhook_tenant', 'MEMBER')
		AND NOT pg_catalog.pg_has_role(CURRENT_USER, 'webhook_admin', 'MEMBER')
		AND CURRENT_USER OPERATOR(pg_catalog.<>) 'webhook_tenant' THEN
		RETURN nullif(pg_catalog.current_setting('webhook.tenant', true), '');
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION webhook.current_tenant() IS
'The tenant this session acts for: its role''s (webhook.grant_tenant()), else "webhook.tenant" for other members of webhook_tenant, else none';

/*
 * The tenant a tenant function acts for: the session's when it has one (a
 * tenant argument naming another is refused), else the argument, which
 * only webhook_admin (the application's trusted backend) may pass.
 */
CREATE FUNCTION webhook._tenant(tenant text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook.current_tenant();
BEGIN
	IF t IS NOT NULL THEN
		IF tenant IS NOT NULL AND tenant OPERATOR(pg_catalog.<>) t THEN
			RAISE EXCEPTION 'permission denied for tenant "%"', tenant
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'This session acts for its own tenant only.';
		END IF;
		RETURN t;
	END IF;
	IF NOT pg_catalog.pg_has_role(CURRENT_USER, 'webhook_admin', 'MEMBER') THEN
		IF tenant IS NOT NULL THEN
			RAISE EXCEPTION 'permission denied for tenant "%"', tenant
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'Only members of webhook_admin may name the tenant they act for.';
		END IF;
		RAISE EXCEPTION 'permission denied to act for a tenant'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'This session has no tenant.',
				  HINT = 'Map the role to a tenant with webhook.grant_tenant(), or set "webhook.tenant" in a connection the application controls.';
	END IF;
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'argument "tenant" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'A session without a tenant of its own names the tenant it acts for.';
	END IF;
	PERFORM webhook._check_routing(tenant, NULL);
	RETURN tenant;
END
$$;

/*
 * One of a tenant's endpoints, by name: its id, or the same error as for
 * a name that does not exist (another tenant's endpoint is not there).
 */
CREATE FUNCTION webhook._tenant_endpoint(name text, tenant text,
										 for_update boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF for_update THEN
		SELECT e.id INTO ep_id FROM webhook.endpoint e
		WHERE e.name OPERATOR(pg_catalog.=) _tenant_endpoint.name
		  AND e.tenant OPERATOR(pg_catalog.=) _tenant_endpoint.tenant
		FOR UPDATE;
	ELSE
		SELECT e.id INTO ep_id FROM webhook.endpoint e
		WHERE e.name OPERATOR(pg_catalog.=) _tenant_endpoint.name
		  AND e.tenant OPERATOR(pg_catalog.=) _tenant_endpoint.tenant;
	END IF;
	IF ep_id IS NULL THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN ep_id;
END
$$;

/*
 * Mapping a role to a tenant, for webhook_admin.  SECURITY DEFINER, as
 * granting webhook_tenant takes its admin option, which webhook_admin has
 * not.  Superusers and members of webhook_admin are refused: row-level
 * security does not hold them, so a mapping would promise an isolation
 * that is not there.
 */
CREATE FUNCTION webhook.grant_tenant(role regrole, tenant text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'argument "role" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'argument "tenant" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM webhook._check_routing(tenant, NULL);
	IF EXISTS (SELECT FROM pg_catalog.pg_roles r
			   WHERE r.oid OPERATOR(pg_catalog.=) grant_tenant.role
				 AND r.rolsuper)
		OR pg_catalog.pg_has_role(role, 'webhook_admin', 'MEMBER')
		OR role::pg_catalog.text IN ('webhook_admin', 'webhook_user', 'webhook_tenant') THEN
		RAISE EXCEPTION 'role "%" cannot act for a tenant', role
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Superusers and members of webhook_admin see every tenant''s rows.';
	END IF;
	INSERT INTO webhook.tenant_role AS r (role, tenant)
	VALUES (role::pg_catalog.text, grant_tenant.tenant)
	ON CONFLICT ON CONSTRAINT tenant_role_pkey
	DO UPDATE SET tenant = excluded.tenant;
	EXECUTE pg_catalog.format('GRANT webhook_tenant TO %s', role);
END
$$;

COMMENT ON FUNCTION webhook.grant_tenant(regrole, text) IS
'Make a role one tenant''s: a member of webhook_tenant whose session acts for that tenant only';

CREATE FUNCTION webhook.revoke_tenant(role regrole)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'argument "role" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	DELETE FROM webhook.tenant_role r
	WHERE r.role OPERATOR(pg_catalog.=) revoke_tenant.role::pg_catalog.text;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" is not mapped to a tenant', role
			USING ERRCODE = 'undefined_object';
	END IF;
	EXECUTE pg_catalog.format('REVOKE webhook_tenant FROM %s', role);
END
$$;

COMMENT ON FUNCTION webhook.revoke_tenant(regrole) IS
'Undo webhook.grant_tenant(): the role no longer acts for a tenant';

/*
 * A tenant's endpoints, as a tenant may see them: no secret, no header
 * values, no delivery or transport settings (those are the application's).
 * tenant_create_endpoint() returns the same row, with the secret once.
 */
CREATE FUNCTION webhook.tenant_endpoints(tenant text DEFAULT NULL)
RETURNS TABLE (name text, url text, event_types text[], description text,
			   metadata jsonb, enabled boolean, paused boolean,
			   disabled_reason text, signature text,
			   created_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook._tenant(tenant_endpoints.tenant);
BEGIN
	RETURN QUERY
	SELECT e.name, e.url, e.event_types, e.description, e.metadata,
		   e.enabled, e.paused, e.disabled_reason,
		   CASE WHEN pg_catalog.starts_with(e.secret, 'whsk_') THEN 'v1a'
				ELSE 'v1' END,
		   e.created_at
	FROM webhook.endpoint e
	WHERE e.tenant OPERATOR(pg_catalog.=) t
	ORDER BY e.name;
END
$$;

COMMENT ON FUNCTION webhook.tenant_endpoints(text) IS
'A tenant''s endpoints: name, URL, filter, description, metadata, state and signature scheme';

/*
 * Endpoint names are unique across tenants (subscriptions and the other
 * functions name endpoints), so a name another tenant uses is refused as
 * taken, without saying whose it is.
 */
CREATE FUNCTION webhook._tenant_create_endpoint(
	name text,
	url text,
	event_types text[],
	description text,
	metadata jsonb,
	signature text,
	headers jsonb,
	tenant text)
RETURNS TABLE (ep_name text, ep_url text, ep_event_types text[],
			   ep_description text, ep_metadata jsonb, ep_enabled boolean,
			   ep_paused boolean, ep_disabled_reason text,
			   ep_signature text, ep_created_at timestamptz,
			   ep_secret text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook._tenant(_tenant_create_endpoint.tenant);
	new_secret text;
	new_id integer;
BEGIN
	PERFORM webhook._check_endpoint_name(_tenant_create_endpoint.name);
	IF _tenant_create_endpoint.url IS NULL THEN
		RAISE EXCEPTION 'endpoint URL must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM webhook._check_routing(t, _tenant_create_endpoint.event_types);
	IF pg_catalog.jsonb_typeof(_tenant_create_endpoint.metadata)
		OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "metadata" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF _tenant_create_endpoint.signature IS NOT NULL
		AND _tenant_create_endpoint.signature NOT IN ('v1', 'v1a') THEN
		RAISE EXCEPTION 'invalid signature scheme "%"', _tenant_create_endpoint.signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).';
	END IF;
	new_secret := webhook.generate_secret(coalesce(_tenant_create_endpoint.signature, 'v1'));
	PERFORM webhook._check_endpoint(_tenant_create_endpoint.url, new_secret,
									coalesce(_tenant_create_endpoint.headers, '{}'));
	BEGIN
		INSERT INTO webhook.endpoint AS e (name, url, secret, headers, tenant,
										   event_types, description, metadata)
		VALUES (_tenant_create_endpoint.name, _tenant_create_endpoint.url,
				new_secret, coalesce(_tenant_create_endpoint.headers, '{}'), t,
				_tenant_create_endpoint.event_types,
				nullif(_tenant_create_endpoint.description, ''),
				coalesce(_tenant_create_endpoint.metadata, '{}'))
		RETURNING e.id INTO new_id;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'endpoint name "%" is taken', _tenant_create_endpoint.name
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Endpoint names are unique across all tenants.',
				  HINT = 'Choose another name.';
	END;
	PERFORM webhook._wake();
	RETURN QUERY
	SELECT e.name, e.url, e.event_types, e.description, e.metadata,
		   e.enabled, e.paused, e.disabled_reason,
		   CASE WHEN pg_catalog.starts_with(e.secret, 'whsk_') THEN 'v1a'
				ELSE 'v1' END,
		   e.created_at, e.secret
	FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) new_id;
END
$$;

/*
 * The row is built by _tenant_create_endpoint(): PL/pgSQL cannot take an
 * argument and return a column of the same name.
 */
CREATE FUNCTION webhook.tenant_create_endpoint(
	name text,
	url text,
	event_types text[] DEFAULT NULL,
	description text DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	signature text DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	tenant text DEFAULT NULL)
RETURNS TABLE (name text, url text, event_types text[], description text,
			   metadata jsonb, enabled boolean, paused boolean,
			   disabled_reason text, signature text,
			   created_at timestamptz, secret text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM webhook._tenant_create_endpoint($1, $2, $3, $4, $5, $6, $7, $8)
$$;

COMMENT ON FUNCTION webhook.tenant_create_endpoint(text, text, text[], text, jsonb, text, jsonb, text) IS
'Register an endpoint for a tenant, with a generated secret (v1) or key (v1a), returned once';

/*
 * Arguments left NULL keep their value; an empty string clears the
 * description, an empty list the filter (every type).
 */
CREATE FUNCTION webhook.tenant_alter_endpoint(
	name text,
	url text DEFAULT NULL,
	event_types text[] DEFAULT NULL,
	description text DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook._tenant(tenant);
	ep_id integer := webhook._tenant_endpoint(name, t, true);
	cur record;
	new_types text[];
BEGIN
	SELECT e.url, e.secret, e.headers, e.event_types INTO cur
	FROM webhook.endpoint e WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	new_types := CASE WHEN pg_catalog.cardinality(event_types) OPERATOR(pg_catalog.=) 0
					  THEN NULL
					  ELSE coalesce(event_types, cur.event_types) END;
	PERFORM webhook._check_routing(t, new_types);
	IF pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "metadata" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM webhook._check_endpoint(coalesce(url, cur.url), cur.secret,
									coalesce(headers, cur.headers));
	UPDATE webhook.endpoint e SET
		url = coalesce(tenant_alter_endpoint.url, e.url),
		headers = coalesce(tenant_alter_endpoint.headers, e.headers),
		event_types = new_types,
		description = CASE WHEN tenant_alter_endpoint.description OPERATOR(pg_catalog.=) ''
						   THEN NULL
						   ELSE coalesce(tenant_alter_endpoint.description, e.description) END,
		metadata = coalesce(tenant_alter_endpoint.metadata, e.metadata)
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.tenant_alter_endpoint(text, text, text[], text, jsonb, jsonb, text) IS
'Change a tenant''s endpoint: URL, filter, description, metadata, headers; arguments left NULL keep their value';

CREATE FUNCTION webhook.tenant_disable_endpoint(name text,
												tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
BEGIN
	UPDATE webhook.endpoint e
	SET enabled = false, paused = false,
		disabled_reason = 'disabled by its tenant', disabled_at = pg_catalog.now()
	WHERE e.id OPERATOR(pg_catalog.=) ep_id AND e.enabled;
END
$$;

COMMENT ON FUNCTION webhook.tenant_disable_endpoint(text, text) IS
'Stop sending to a tenant''s endpoint; its events wait until it is enabled again';

CREATE FUNCTION webhook.tenant_enable_endpoint(name text,
											   tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
BEGIN
	UPDATE webhook.endpoint e
	SET enabled = true, paused = false, disabled_reason = NULL, disabled_at = NULL
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	-- a fresh start: the breaker counts again from zero
	UPDATE webhook.endpoint_health h
	SET consecutive_failures = 0, failing_since = NULL, probe_step = 0,
		next_probe_at = NULL
	WHERE h.endpoint_id OPERATOR(pg_catalog.=) ep_id;
	PERFORM webhook._release_backlog(ep_id);
END
$$;

COMMENT ON FUNCTION webhook.tenant_enable_endpoint(text, text) IS
'Enable a tenant''s disabled or paused endpoint again; its breaker is reset and its waiting events are sent';

CREATE FUNCTION webhook.tenant_drop_endpoint(name text,
											 discard_pending boolean DEFAULT false,
											 tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
	npending bigint;
BEGIN
	IF webhook._endpoint_subscribed(name) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" while tables are subscribed to it', name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; the application must unsubscribe them first.';
	END IF;
	SELECT pg_catalog.count(*) INTO npending FROM webhook.event ev
	WHERE ev.endpoint_id OPERATOR(pg_catalog.=) ep_id
	  AND ev.state OPERATOR(pg_catalog.=) 'pending';
	IF npending OPERATOR(pg_catalog.>) 0 AND NOT coalesce(discard_pending, false) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" while events are pending', name
			USING ERRCODE = 'object_in_use',
				  DETAIL = pg_catalog.format('Pending events: %s.', npending),
				  HINT = 'Wait for them to be delivered, or pass discard_pending => true to discard them.';
	END IF;
	DELETE FROM webhook.event ev WHERE ev.endpoint_id OPERATOR(pg_catalog.=) ep_id;
	DELETE FROM webhook.endpoint e WHERE e.id OPERATOR(pg_catalog.=) ep_id;
END
$$;

COMMENT ON FUNCTION webhook.tenant_drop_endpoint(text, boolean, text) IS
'Remove a tenant''s endpoint and its events; refused while events are pending unless discard_pending';

/*
 * A new secret or key (of the endpoint's scheme, or of the one named), the
 * old one still signing for the overlap.  Returned once; the receiver may
 * also read it later with tenant_endpoint_secret().
 */
CREATE FUNCTION webhook.tenant_rotate_secret(name text,
											 overlap interval DEFAULT '24h',
											 signature text DEFAULT NULL,
											 tenant text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
	old_secret text;
	new_secret text;
BEGIN
	IF overlap IS NULL THEN
		RAISE EXCEPTION 'argument "overlap" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF overlap OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
		RAISE EXCEPTION 'overlap must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF signature IS NOT NULL AND signature NOT IN ('v1', 'v1a') THEN
		RAISE EXCEPTION 'invalid signature scheme "%"', signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).';
	END IF;
	SELECT e.secret INTO old_secret FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	new_secret := webhook.generate_secret(coalesce(signature,
		CASE WHEN pg_catalog.starts_with(old_secret, 'whsk_') THEN 'v1a'
			 ELSE 'v1' END));
	UPDATE webhook.endpoint e SET
		previous_secret = e.secret,
		previous_secret_expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) overlap,
		secret = new_secret
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	RETURN new_secret;
END
$$;

COMMENT ON FUNCTION webhook.tenant_rotate_secret(text, interval, text, text) IS
'Give a tenant''s endpoint a new secret, returned; requests carry signatures with both until the overlap ends';

CREATE FUNCTION webhook.tenant_endpoint_secret(name text,
											   tenant text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), false);
BEGIN
	RETURN (SELECT e.secret FROM webhook.endpoint e
			WHERE e.id OPERATOR(pg_catalog.=) ep_id);
END
$$;

COMMENT ON FUNCTION webhook.tenant_endpoint_secret(text, text) IS
'The signing secret or key of a tenant''s endpoint, for configuring its receiver';

/*
 * A tenant's recent events, newest first: those the outbox holds, and the
 * delivered ones whose rows are gone, from their final attempt (as the
 * webhook.events view shows them).  last_status and last_error are those
 * of the latest attempt.  In SQL, as PL/pgSQL cannot take an argument and
 * return a column of the same name; the arguments are read by position
 * ($1 endpoint, $2 since, $3 until, $4 state, $5 limit, $6 tenant), and the
 * tenant's endpoints are looked up once.  Cost: the tenant's pending
 * events, found by endpoint; with since, the events finished and the
 * attempts started since then, found through their time indexes; without
 * it, the whole outbox and history are read, as webhook.events does.
 */
CREATE FUNCTION webhook.tenant_deliveries(
	endpoint text DEFAULT NULL,
	since timestamptz DEFAULT NULL,
	"until" timestamptz DEFAULT NULL,
	state webhook.event_state DEFAULT NULL,
	"limit" integer DEFAULT 100,
	tenant text DEFAULT NULL)
RETURNS TABLE (event_id bigint, endpoint text, webhook_id text, type text,
			   state webhook.event_state, attempts smallint,
			   created_at timestamptz, next_attempt_at timestamptz,
			   finished_at timestamptz, last_status smallint,
			   last_error text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
WITH scope AS MATERIALIZED (
	SELECT e.id, e.name FROM webhook.endpoint e
	WHERE e.tenant OPERATOR(pg_catalog.=) webhook._tenant($6)
	  AND ($1 IS NULL OR e.id OPERATOR(pg_catalog.=)
		   webhook._tenant_endpoint($1, webhook._tenant($6), false))
)
SELECT d.* FROM (
	SELECT ev.id, s.name, webhook.webhook_id(ev.msg_id),
		   webhook._event_body(coalesce(ev.payload, m.payload),
							   ev.created_at) ->> 'type',
		   ev.state, ev.attempts, ev.created_at,
		   CASE WHEN ev.state OPERATOR(pg_catalog.=) 'pending'
				THEN ev.next_attempt_at END,
		   ev.finished_at, la.status, la.error
	FROM scope s
	JOIN LATERAL (
		-- pending: through event_claim_idx
		SELECT p.* FROM webhook.event p
		WHERE p.endpoint_id OPERATOR(pg_catalog.=) s.id
		  AND p.state OPERATOR(pg_catalog.=) 'pending'
		UNION ALL
		-- finished (dead, or delivered and kept): finished after since,
		-- so through event_finished_idx when since is given
		SELECT f.* FROM webhook.event f
		WHERE f.endpoint_id OPERATOR(pg_catalog.=) s.id
		  AND f.state OPERATOR(pg_catalog.<>) 'pending'
		  AND ($2 IS NULL OR f.finished_at OPERATOR(pg_catalog.>=) $2)) ev ON true
	LEFT JOIN webhook.message m ON m.id OPERATOR(pg_catalog.=) ev.message_id
	LEFT JOIN LATERAL (
		SELECT a.status, a.error FROM webhook.attempt a
		WHERE a.event_id OPERATOR(pg_catalog.=) ev.id
		ORDER BY a.attempt DESC LIMIT 1) la
		ON ev.attempts OPERATOR(pg_catalog.>) 0
	WHERE ($2 IS NULL OR ev.created_at OPERATOR(pg_catalog.>=) $2)
	  AND ($3 IS NULL OR ev.created_at OPERATOR(pg_catalog.<) $3)
	  AND ($4 IS NULL OR ev.state OPERATOR(pg_catalog.=) $4)
	UNION ALL
	SELECT f.event_id, s.name, webhook.webhook_id(f.msg_id), NULL::text,
		   'delivered'::webhook.event_state, f.attempt, f.created_at,
		   NULL::timestamptz,
		   f.started_at OPERATOR(pg_catalog.+)
			   (f.duration_us OPERATOR(pg_catalog.*) '1 microsecond'::pg_catalog.interval),
		   f.status, NULL::text
	FROM (SELECT DISTINCT ON (a.event_id) a.*
		  FROM webhook.attempt a
		  WHERE a.final
			AND a.endpoint_id OPERATOR(pg_catalog.=) ANY (SELECT s.id FROM scope s)
			-- attempts start after their event: the BRIN index prunes
			AND ($2 IS NULL OR a.started_at OPERATOR(pg_catalog.>=) $2)
		  ORDER BY a.event_id, a.attempt DESC) f
	JOIN scope s ON s.id OPERATOR(pg_catalog.=) f.endpoint_id
	WHERE f.status BETWEEN 200 AND 299
	  AND ($4 IS NULL OR $4 OPERATOR(pg_catalog.=) 'delivered')
	  AND ($2 IS NULL OR f.created_at OPERATOR(pg_catalog.>=) $2)
	  AND ($3 IS NULL OR f.created_at OPERATOR(pg_catalog.<) $3)
	  AND NOT EXISTS (SELECT FROM webhook.event ev
					  WHERE ev.id OPERATOR(pg_catalog.=) f.event_id)
) d (event_id, endpoint, webhook_id, type, state, attempts, created_at,
	 next_attempt_at, finished_at, last_status, last_error)
ORDER BY d.created_at DESC, d.event_id DESC
LIMIT coalesce($5, 100)
$$;

COMMENT ON FUNCTION webhook.tenant_deliveries(text, timestamptz, timestamptz, webhook.event_state, integer, text) IS
'A tenant''s recent events, newest first, of one endpoint, time range [since, until) and state if given: type, state, attempts and the last result';

/*
 * In SQL for the same reason; $1 endpoint, $2 event_id, $3 since, $4
 * limit, $5 tenant.
 */
CREATE FUNCTION webhook.tenant_attempts(
	endpoint text DEFAULT NULL,
	event_id bigint DEFAULT NULL,
	since timestamptz DEFAULT NULL,
	"limit" integer DEFAULT 100,
	tenant text DEFAULT NULL)
RETURNS TABLE (event_id bigint, endpoint text, webhook_id text,
			   attempt smallint, started_at timestamptz, duration interval,
			   status smallint, error text, response text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
WITH scope AS MATERIALIZED (
	SELECT e.id, e.name FROM webhook.endpoint e
	WHERE e.tenant OPERATOR(pg_catalog.=) webhook._tenant($5)
	  AND ($1 IS NULL OR e.id OPERATOR(pg_catalog.=)
		   webhook._tenant_endpoint($1, webhook._tenant($5), false))
)
SELECT a.event_id, s.name, webhook.webhook_id(a.msg_id), a.attempt,
	   a.started_at,
	   a.duration_us OPERATOR(pg_catalog.*) '1 microsecond'::pg_catalog.interval,
	   a.status, a.error, pg_catalog.left(a.response, 200)
FROM webhook.attempt a
JOIN scope s ON s.id OPERATOR(pg_catalog.=) a.endpoint_id
WHERE ($2 IS NULL OR a.event_id OPERATOR(pg_catalog.=) $2)
  AND ($3 IS NULL OR a.started_at OPERATOR(pg_catalog.>=) $3)
ORDER BY a.started_at DESC, a.attempt DESC
LIMIT coalesce($4, 100)
$$;

COMMENT ON FUNCTION webhook.tenant_attempts(text, bigint, timestamptz, integer, text) IS
'A tenant''s delivery attempts, newest first: status, error and the first 200 characters of the response';

/*
 * Send again, now and with a fresh retry schedule, a tenant's events
 * created in [since, until) that failed: pending ones waiting for a retry
 * or held back by their failing endpoint, and dead ones.  Each keeps its
 * webhook-id.  A failing endpoint is probed at once (its other events
 * follow once the probe succeeds).  Returns how many are due again.
 */
CREATE FUNCTION webhook.tenant_replay(since timestamptz,
									  "until" timestamptz DEFAULT NULL,
									  endpoint text DEFAULT NULL,
									  tenant text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	t text := webhook._tenant(tenant);
	ep_id integer;
	n bigint;
BEGIN
	IF since IS NULL THEN
		RAISE EXCEPTION 'argument "since" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NOT NULL THEN
		ep_id := webhook._tenant_endpoint(endpoint, t, false);
	END IF;
	UPDATE webhook.event ev
	SET state = 'pending',
		next_attempt_at = CASE WHEN e.enabled THEN pg_catalog.clock_timestamp()
							   ELSE 'infinity' END,
		finished_at = NULL, retry_from = ev.attempts
	FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) ev.endpoint_id
	  AND e.tenant OPERATOR(pg_catalog.=) t
	  AND (ep_id IS NULL OR e.id OPERATOR(pg_catalog.=) ep_id)
	  AND (ev.state OPERATOR(pg_catalog.=) 'dead'
		   OR (ev.state OPERATOR(pg_catalog.=) 'pending'
			   AND (ev.attempts OPERATOR(pg_catalog.>) 0
					OR EXISTS (SELECT FROM webhook.endpoint_health h
							   WHERE h.endpoint_id OPERATOR(pg_catalog.=) e.id
								 AND h.consecutive_failures OPERATOR(pg_catalog.>) 0))))
	  AND ev.created_at OPERATOR(pg_catalog.>=) since
	  AND (tenant_replay."until" IS NULL
		   OR ev.created_at OPERATOR(pg_catalog.<) tenant_replay."until");
	GET DIAGNOSTICS n = ROW_COUNT;
	UPDATE webhook.endpoint_health h
	SET next_probe_at = pg_catalog.clock_timestamp()
	FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) h.endpoint_id
	  AND e.tenant OPERATOR(pg_catalog.=) t AND e.enabled
	  AND (ep_id IS NULL OR e.id OPERATOR(pg_catalog.=) ep_id)
	  AND h.consecutive_failures OPERATOR(pg_catalog.>) 0;
	PERFORM webhook._wake();
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.tenant_replay(timestamptz, timestamptz, text, text) IS
'Send a tenant''s failed (pending or dead) events created in [since, until) again now, of one endpoint if given; returns how many';

CREATE FUNCTION webhook.tenant_send_test(name text, tenant text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), false);
	ts timestamptz := pg_catalog.clock_timestamp();
	new_id bigint;
BEGIN
	INSERT INTO webhook.event AS ev (endpoint_id, msg_id, created_at,
									 next_attempt_at, payload)
	SELECT e.id, pg_catalog.gen_random_uuid(), ts,
		   CASE WHEN e.enabled THEN ts ELSE 'infinity' END,
		   pg_catalog.json_build_object(
			   'type', 'webhook.test',
			   'timestamp', pg_catalog.to_char(ts AT TIME ZONE 'UTC',
											   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			   'data', pg_catalog.json_build_object('endpoint', e.name))
	FROM webhook.endpoint e WHERE e.id OPERATOR(pg_catalog.=) ep_id
	RETURNING ev.id INTO new_id;
	PERFORM webhook._wake();
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION webhook.tenant_send_test(text, text) IS
'Queue a "webhook.test" event for a tenant''s endpoint, sent like any other; returns its event id';

/*
 * Per endpoint of a tenant, as webhook.endpoint_stats counts them: state,
 * backlog, and the last hour's deliveries and failures.
 */
CREATE FUNCTION webhook.tenant_endpoint_stats(tenant text DEFAULT NULL)
RETURNS TABLE (name text, state text, pending bigint,
			   oldest_pending_age interval, delivered_last_hour bigint,
			   dead_last_hour bigint, failed_attempts_last_hour bigint,
			   consecutive_failures integer, last_error text,
			   last_failure_at timestamptz, last_success_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	t text := webhook._tenant(tenant_endpoint_stats.tenant);
BEGIN
	RETURN QUERY
	SELECT e.name,
		   CASE WHEN e.paused THEN 'paused'
				WHEN NOT e.enabled THEN 'disabled'
				WHEN h.consecutive_failures OPERATOR(pg_catalog.>) 0 THEN 'failing'
				ELSE 'healthy' END,
		   coalesce(p.n, 0),
		   pg_catalog.now() OPERATOR(pg_catalog.-) p.oldest,
		   coalesce(a.delivered, 0),
		   coalesce(d.n, 0),
		   coalesce(a.failed, 0),
		   coalesce(h.consecutive_failures, 0),
		   h.last_error, h.last_failure_at, h.last_success_at
	FROM webhook.endpoint e
	LEFT JOIN webhook.endpoint_health h
		ON h.endpoint_id OPERATOR(pg_catalog.=) e.id
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) AS n, pg_catalog.min(ev.created_at) AS oldest
		FROM webhook.event ev
		WHERE ev.endpoint_id OPERATOR(pg_catalog.=) e.id
		  AND ev.state OPERATOR(pg_catalog.=) 'pending') p ON true
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) AS n FROM webhook.event ev
		WHERE ev.endpoint_id OPERATOR(pg_catalog.=) e.id
		  AND ev.state OPERATOR(pg_catalog.=) 'dead'
		  AND ev.finished_at OPERATOR(pg_catalog.>)
			  (pg_catalog.now() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval)) d ON true
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) FILTER (
				   WHERE x.final AND x.status BETWEEN 200 AND 299) AS delivered,
			   pg_catalog.count(*) FILTER (
				   WHERE x.status IS NULL OR x.status NOT BETWEEN 200 AND 299) AS failed
		FROM webhook.attempt x
		WHERE x.endpoint_id OPERATOR(pg_catalog.=) e.id
		  AND x.started_at OPERATOR(pg_catalog.>)
			  (pg_catalog.now() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval)) a ON true
	WHERE e.tenant OPERATOR(pg_catalog.=) t
	ORDER BY e.name;
END
$$;

COMMENT ON FUNCTION webhook.tenant_endpoint_stats(text) IS
'Per endpoint of a tenant: state, backlog, the last hour''s deliveries, dead events and failed attempts, and the last error';

/*
 * The event-type catalog, for webhook_admin: the types the application
 * offers.  create_event_type() publishes a type or, for one already there,
 * replaces its description and schema and brings it back from the archive,
 * so a deployment may run it every time.  An archived type stays for the
 * receivers that take it, and is offered to no new subscription or filter
 * while "webhook.check_event_types" is on.
 */
CREATE FUNCTION webhook.create_event_type(name text,
										  description text DEFAULT NULL,
										  schema jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_.:-]{1,255}$'
		OR pg_catalog.octet_length(name) OPERATOR(pg_catalog.>) 255 THEN
		RAISE EXCEPTION 'invalid event type "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An event type is at most 255 bytes, of letters, digits and the characters "._-:".';
	END IF;
	IF schema IS NOT NULL
		AND pg_catalog.jsonb_typeof(schema) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "schema" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the JSON schema of the events'' "data".';
	END IF;
	INSERT INTO webhook.event_types AS c (name, description, schema)
	VALUES (create_event_type.name, create_event_type.description,
			create_event_type.schema)
	ON CONFLICT ON CONSTRAINT event_types_pkey DO UPDATE
	SET description = excluded.description, schema = excluded.schema,
		archived = false;
END
$$;

COMMENT ON FUNCTION webhook.create_event_type(text, text, jsonb) IS
'Publish an event type in the catalog, with its description and the JSON schema of its data; an existing one is replaced and unarchived';

CREATE FUNCTION webhook.archive_event_type(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.event_types c SET archived = true
	WHERE c.name OPERATOR(pg_catalog.=) archive_event_type.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event type "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.archive_event_type(text) IS
'Archive an event type: kept in the catalog, offered to no new subscription or filter';

CREATE FUNCTION webhook.drop_event_type(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM webhook.event_types c
	WHERE c.name OPERATOR(pg_catalog.=) drop_event_type.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event type "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.drop_event_type(text) IS
'Remove an event type from the catalog';

/* the tenants' table and functions */
REVOKE ALL ON webhook.tenant_role FROM PUBLIC;
REVOKE ALL ON FUNCTION
	webhook._check_event_type(text),
	webhook._endpoint_tenant_check(),
	webhook._endpoint_subscribed(text),
	webhook.current_tenant(),
	webhook._tenant(text),
	webhook._tenant_endpoint(text, text, boolean),
	webhook.grant_tenant(regrole, text),
	webhook.revoke_tenant(regrole),
	webhook.tenant_endpoints(text),
	webhook._tenant_create_endpoint(text, text, text[], text, jsonb, text,
									jsonb, text),
	webhook.tenant_create_endpoint(text, text, text[], text, jsonb, text,
								   jsonb, text),
	webhook.tenant_alter_endpoint(text, text, text[], text, jsonb, jsonb, text),
	webhook.tenant_disable_endpoint(text, text),
	webhook.tenant_enable_endpoint(text, text),
	webhook.tenant_drop_endpoint(text, boolean, text),
	webhook.tenant_rotate_secret(text, interval, text, text),
	webhook.tenant_endpoint_secret(text, text),
	webhook.tenant_deliveries(text, timestamptz, timestamptz,
							  webhook.event_state, integer, text),
	webhook.tenant_attempts(text, bigint, timestamptz, integer, text),
	webhook.tenant_replay(timestamptz, timestamptz, text, text),
	webhook.tenant_send_test(text, text),
	webhook.tenant_endpoint_stats(text),
	webhook.create_event_type(text, text, jsonb),
	webhook.archive_event_type(text),
	webhook.drop_event_type(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	webhook._check_event_type(text),
	webhook._endpoint_tenant_check(),
	webhook._endpoint_subscribed(text),
	webhook.current_tenant(),
	webhook._tenant(text),
	webhook._tenant_endpoint(text, text, boolean),
	webhook.grant_tenant(regrole, text),
	webhook.revoke_tenant(regrole),
	webhook.tenant_endpoints(text),
	webhook._tenant_create_endpoint(text, text, text[], text, jsonb, text,
									jsonb, text),
	webhook.tenant_create_endpoint(text, text, text[], text, jsonb, text,
								   jsonb, text),
	webhook.tenant_alter_endpoint(text, text, text[], text, jsonb, jsonb, text),
	webhook.tenant_disable_endpoint(text, text),
	webhook.tenant_enable_endpoint(text, text),
	webhook.tenant_drop_endpoint(text, boolean, text),
	webhook.tenant_rotate_secret(text, interval, text, text),
	webhook.tenant_endpoint_secret(text, text),
	webhook.tenant_deliveries(text, timestamptz, timestamptz,
							  webhook.event_state, integer, text),
	webhook.tenant_attempts(text, bigint, timestamptz, integer, text),
	webhook.tenant_replay(timestamptz, timestamptz, text, text),
	webhook.tenant_send_test(text, text),
	webhook.tenant_endpoint_stats(text),
	webhook.create_event_type(text, text, jsonb),
	webhook.archive_event_type(text),
	webhook.drop_event_type(text)
	TO webhook_admin;

/*
 * webhook_tenant: the role of the application's customers, directly (a
 * role webhook.grant_tenant() mapped to one tenant) or through a
 * connection the application controls ("webhook.tenant").  Created, like
 * the other two, only when missing.
 */
DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
				   WHERE rolname = 'webhook_tenant') THEN
		CREATE ROLE webhook_tenant NOLOGIN;
	END IF;
END
$$;

/*
 * Row-level security: a tenant reaches its own tenant's rows only, by any
 * path (the tenant functions run as their caller, and a tenant may also
 * use plain SQL on the tables it is granted).  A SECURITY DEFINER wrapper
 * could not tell whom it serves: inside it, current_user is its owner.
 * webhook_admin keeps seeing and changing everything.  The tables' owner
 * (the extension's, a superuser) is not held by the policies (no FORCE),
 * so the worker and the capture trigger, which write as the owner, pay
 * nothing; pg_dump reads the configuration tables as a superuser.  Roles
 * without a policy of their own see no rows, whatever else they are
 * granted.
 *
 * A tenant's endpoints are those whose tenant is the session's; its
 * events, attempts and health are those of its endpoints (the history's
 * policy, on its parent webhook.attempt, applies to every segment read
 * through it; the segments themselves are the worker's), and its shared
 * payloads are those its events refer to (its events' message_id is not
 * among the columns it may set).  WITH CHECK keeps its writes inside the
 * tenant: an endpoint cannot be moved to another tenant, nor an event
 * pointed at another tenant's endpoint.  The tenant is looked up once
 * a statement (an initplan), not once a row.
 */
ALTER TABLE webhook.endpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.event ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.message ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.attempt ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.endpoint_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.tenant_role ENABLE ROW LEVEL SECURITY;

CREATE POLICY admin_all ON webhook.endpoint TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.event TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.message TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.attempt TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.endpoint_health TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.tenant_role TO webhook_admin
	USING (true) WITH CHECK (true);

CREATE POLICY tenant_own ON webhook.endpoint TO webhook_tenant
	USING (tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant()))
	WITH CHECK (tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant()));
CREATE POLICY tenant_own ON webhook.event TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.id OPERATOR(pg_catalog.=) event.endpoint_id
					 AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())))
	WITH CHECK (EXISTS (SELECT FROM webhook.endpoint e
						WHERE e.id OPERATOR(pg_catalog.=) event.endpoint_id
						  AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())));
CREATE POLICY tenant_own ON webhook.message TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.event ev
				   WHERE ev.message_id OPERATOR(pg_catalog.=) message.id));
CREATE POLICY tenant_own ON webhook.attempt TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.id OPERATOR(pg_catalog.=) attempt.endpoint_id
					 AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())));
CREATE POLICY tenant_own ON webhook.endpoint_health TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.id OPERATOR(pg_catalog.=) endpoint_health.endpoint_id
					 AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())));
CREATE POLICY tenant_own ON webhook.tenant_role TO webhook_tenant
	USING (role OPERATOR(pg_catalog.=) CURRENT_USER
		   OR role OPERATOR(pg_catalog.=) SESSION_USER);

/*
 * webhook_tenant: the tenant functions, and on its own rows (row-level
 * security above) the columns a customer may safely set itself: never the
 * transport (proxy, CA bundle, client certificate, TLS verification), the
 * delivery policy, the batching, or the operational flag, which are the
 * application's; direct writes are checked as the functions check them
 * (see _endpoint_tenant_check()).  It reads the event-type catalog, as
 * webhook_user does.
 */
GRANT SELECT ON webhook.event_types TO webhook_tenant, webhook_user;
GRANT SELECT ON webhook.tenant_role TO webhook_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook.tenant_role TO webhook_admin;
GRANT SELECT (id, name, url, secret, previous_secret,
			  previous_secret_expires_at, headers, enabled, disabled_reason,
			  disabled_at, created_at, paused, tenant, description, metadata,
			  event_types),
	  INSERT (name, url, secret, headers, tenant, description, metadata,
			  event_types),
	  UPDATE (name, url, secret, previous_secret, previous_secret_expires_at,
			  headers, enabled, paused, disabled_reason, disabled_at, tenant,
			  description, metadata, event_types),
	  DELETE
	ON webhook.endpoint TO webhook_tenant;
GRANT SELECT, DELETE,
	  INSERT (endpoint_id, msg_id, created_at, next_attempt_at, payload),
	  UPDATE (state, next_attempt_at, finished_at, retry_from)
	ON webhook.event TO webhook_tenant;
GRANT SELECT ON webhook.message, webhook.attempt TO webhook_tenant;
GRANT SELECT,
	  UPDATE (consecutive_failures, failing_since, probe_step, next_probe_at)
	ON webhook.endpoint_health TO webhook_tenant;
GRANT USAGE ON webhook.endpoint_id_seq, webhook.event_id_seq TO webhook_tenant;
GRANT EXECUTE ON FUNCTION
	webhook.current_tenant(),
	webhook._tenant(text),
	webhook._tenant_endpoint(text, text, boolean),
	webhook._tenant_create_endpoint(text, text, text[], text, jsonb, text,
									jsonb, text),
	webhook.tenant_endpoints(text),
	webhook.tenant_create_endpoint(text, text, text[], text, jsonb, text,
								   jsonb, text),
	webhook.tenant_alter_endpoint(text, text, text[], text, jsonb, jsonb, text),
	webhook.tenant_disable_endpoint(text, text),
	webhook.tenant_enable_endpoint(text, text),
	webhook.tenant_drop_endpoint(text, boolean, text),
	webhook.tenant_rotate_secret(text, interval, text, text),
	webhook.tenant_endpoint_secret(text, text),
	webhook.tenant_deliveries(text, timestamptz, timestamptz,
							  webhook.event_state, integer, text),
	webhook.tenant_attempts(text, bigint, timestamptz, integer, text),
	webhook.tenant_replay(timestamptz, timestamptz, text, text),
	webhook.tenant_send_test(text, text),
	webhook.tenant_endpoint_stats(text),
	webhook.generate_secret(text),
	webhook.webhook_id(uuid),
	webhook._event_body(json, timestamptz),
	webhook._check_endpoint(text, text, jsonb),
	webhook._check_endpoint_name(text),
	webhook._check_routing(text, text[]),
	webhook._check_event_type(text),
	webhook._endpoint_subscribed(text),
	webhook._trigger_args(bytea, smallint),
	webhook._release_backlog(integer),
	webhook._wake()
	TO webhook_tenant;
GRANT EXECUTE ON FUNCTION webhook._check_event_type(text) TO webhook_user;

/* ---------------------------------------------------------------------
 * Operational events
 * --------------------------------------------------------------------- */

/*
 * An operational endpoint (create_endpoint(..., operational => true))
 * hears of the other endpoints through the extension's own events, each a
 * Standard Webhooks event like any other, signed with that endpoint's
 * secret, retried and dead-lettered on its schedule:
 *
 *	endpoint.disabled	its enabled flag goes from true to false: the
 *						breaker tripped, the receiver answered 410 Gone or
 *						asked for it, pause(), or an UPDATE;
 *	endpoint.enabled	enabled goes from false to true;
 *	endpoint.failing	the breaker puts the endpoint down: its health row
 *						comes to say that it is probed one request at a time
 *						(next_probe_at set, after at least three failed
 *						attempts in a row), as the worker reads it.  Sent
 *						once per failing period, which the health row's
 *						failing_reported_at remembers;
 *	endpoint.recovered	the first success the worker records for it after
 *						endpoint.failing (an operator resetting the
 *						breaker is no success: the period goes on until
 *						one);
 *	message.attempt.exhausted  an attempt leaves one of its events dead
 *						(its last retry failed, or the receiver wanted no
 *						more); an event discard()ed is the operator's own
 *						doing, and sends none.
 *
 * "data" names the endpoint (name, id, tenant, url) and says what applies.
 * Each change writes one event per enabled operational endpoint whose
 * event-type filter takes its type, the payload inline and one webhook-id
 * for all of them, and wakes the worker at commit.  Nothing is sent about
 * an operational endpoint itself, so a failing operator endpoint cannot
 * feed on its own failures.
 *
 * The triggers below fire in the worker's transactions and in callers',
 * whatever their rights: the functions run as the extension's owner.  Each
 * is narrowed by its WHEN clause to the rows that change state, so the
 * statements that record deliveries pay for nothing else; with no
 * operational endpoint, each returns after one index probe.
 */
CREATE FUNCTION webhook._operational_emit(subject webhook.endpoint,
										  event_type text,
										  details jsonb)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ts timestamptz := pg_catalog.clock_timestamp();
	body text;
BEGIN
	IF subject.operational THEN
		RETURN;
	END IF;
	-- stored as the capture stores a named type: the timestamp is created_at
	body := '{"type":' OPERATOR(pg_catalog.||) pg_catalog.to_json(event_type)::text
		OPERATOR(pg_catalog.||) ',"data":'
		OPERATOR(pg_catalog.||) (pg_catalog.jsonb_build_object(
			'endpoint', subject.name, 'endpoint_id', subject.id,
			'tenant', subject.tenant, 'url', subject.url)
			OPERATOR(pg_catalog.||) details)::text
		OPERATOR(pg_catalog.||) '}';
	INSERT INTO webhook.event (endpoint_id, msg_id, created_at,
							   next_attempt_at, payload, ordering_key)
	SELECT o.id, m.id, ts, ts, body::json,
		   CASE o.ordering WHEN 'endpoint' THEN ''
						   WHEN 'key' THEN subject.id::text END
	FROM webhook.endpoint o, (SELECT pg_catalog.gen_random_uuid() AS id) m
	WHERE o.operational AND o.enabled
	  AND (o.event_types IS NULL
		   OR EXISTS (SELECT FROM pg_catalog.unnest(o.event_types) AS p(p)
					  WHERE event_type OPERATOR(pg_catalog.~~) pg_catalog.replace(
						  pg_catalog.replace(p.p, '_', '\_'), '*', '%')));
	IF FOUND THEN
		PERFORM webhook._wake();
	END IF;
END
$$;

/* endpoint.disabled and endpoint.enabled */
CREATE FUNCTION webhook._operational_endpoint()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NEW.enabled THEN
		PERFORM webhook._operational_emit(NEW, 'endpoint.enabled', '{}');
	ELSE
		PERFORM webhook._operational_emit(NEW, 'endpoint.disabled',
			pg_catalog.jsonb_build_object(
				'reason', NEW.disabled_reason,
				'disabled_at', NEW.disabled_at,
				'paused', NEW.paused));
	END IF;
	RETURN NULL;
END
$$;

/*
 * The failing period, kept on the health row: it begins when the row first
 * says the endpoint is down, and ends with the first success written
 * after that.
 */
CREATE FUNCTION webhook._operational_health_mark()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
		AND NEW.failing_reported_at IS NOT NULL
		AND NEW.last_success_at IS DISTINCT FROM OLD.last_success_at THEN
		NEW.failing_reported_at := NULL;
	ELSIF NEW.failing_reported_at IS NULL
		AND NEW.next_probe_at IS NOT NULL
		AND NEW.consecutive_failures OPERATOR(pg_catalog.>=) 3 THEN
		NEW.failing_reported_at := pg_catalog.clock_timestamp();
	END IF;
	RETURN NEW;
END
$$;

/* endpoint.failing and endpoint.recovered, as the period begins and ends */
CREATE FUNCTION webhook._operational_health()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	SELECT e.* INTO ep FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) NEW.endpoint_id;
	IF NOT FOUND THEN
		RETURN NULL;
	END IF;
	IF NEW.failing_reported_at IS NOT NULL THEN
		PERFORM webhook._operational_emit(ep, 'endpoint.failing',
			pg_catalog.jsonb_build_object(
				'failing_since', NEW.failing_since,
				'consecutive_failures', NEW.consecutive_failures,
				'last_error', NEW.last_error,
				'last_failure_at', NEW.last_failure_at));
	ELSE
		PERFORM webhook._operational_emit(ep, 'endpoint.recovered',
			pg_catalog.jsonb_build_object(
				'failing_reported_at', OLD.failing_reported_at,
				'recovered_at', NEW.last_success_at));
	END IF;
	RETURN NULL;
END
$$;

/* message.attempt.exhausted */
CREATE FUNCTION webhook._operational_event_dead()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
	last_status smallint;
	last_error text;
	payload json;
BEGIN
	-- the first operational endpoint, through endpoint_operational_idx
	-- whatever the statistics say (a scan of every endpoint would cost
	-- each event given up a millisecond per 10,000 endpoints)
	IF NOT EXISTS (SELECT FROM (SELECT o.id FROM webhook.endpoint o
								WHERE o.operational
								ORDER BY o.id LIMIT 1) o) THEN
		RETURN NULL;
	END IF;
	SELECT e.* INTO ep FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) NEW.endpoint_id;
	IF NOT FOUND OR ep.operational THEN
		RETURN NULL;
	END IF;
	SELECT a.status, a.error INTO last_status, last_error
	FROM webhook.attempt a
	WHERE a.event_id OPERATOR(pg_catalog.=) NEW.id
	ORDER BY a.attempt DESC LIMIT 1;
	payload := NEW.payload;
	IF payload IS NULL THEN
		SELECT m.payload INTO payload FROM webhook.message m
		WHERE m.id OPERATOR(pg_catalog.=) NEW.message_id;
	END IF;
	PERFORM webhook._operational_emit(ep, 'message.attempt.exhausted',
		pg_catalog.jsonb_build_object(
			'event_id', NEW.id,
			'webhook_id', webhook.webhook_id(NEW.msg_id),
			'event_type',
			webhook._event_body(payload, NEW.created_at) OPERATOR(pg_catalog.->>) 'type',
			'attempts', NEW.attempts,
			'last_status', last_status,
			'last_error', last_error));
	RETURN NULL;
END
$$;

CREATE TRIGGER operational_endpoint
	AFTER UPDATE OF enabled ON webhook.endpoint
	FOR EACH ROW
	WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled AND NOT NEW.operational)
	EXECUTE FUNCTION webhook._operational_endpoint();

CREATE TRIGGER operational_health_mark_insert
	BEFORE INSERT ON webhook.endpoint_health
	FOR EACH ROW
	WHEN (NEW.next_probe_at IS NOT NULL)
	EXECUTE FUNCTION webhook._operational_health_mark();

CREATE TRIGGER operational_health_mark
	BEFORE UPDATE ON webhook.endpoint_health
	FOR EACH ROW
	WHEN ((NEW.failing_reported_at IS NULL AND NEW.next_probe_at IS NOT NULL)
		  OR (NEW.failing_reported_at IS NOT NULL
			  AND NEW.last_success_at IS DISTINCT FROM OLD.last_success_at))
	EXECUTE FUNCTION webhook._operational_health_mark();

CREATE TRIGGER operational_health_insert
	AFTER INSERT ON webhook.endpoint_health
	FOR EACH ROW
	WHEN (NEW.failing_reported_at IS NOT NULL)
	EXECUTE FUNCTION webhook._operational_health();

CREATE TRIGGER operational_health
	AFTER UPDATE ON webhook.endpoint_health
	FOR EACH ROW
	WHEN (OLD.failing_reported_at IS DISTINCT FROM NEW.failing_reported_at)
	EXECUTE FUNCTION webhook._operational_health();

CREATE TRIGGER operational_event_dead
	AFTER UPDATE OF state ON webhook.event
	FOR EACH ROW
	WHEN (NEW.state = 'dead' AND OLD.state <> 'dead'
		  AND NEW.attempts > OLD.attempts)
	EXECUTE FUNCTION webhook._operational_event_dead();

REVOKE ALL ON FUNCTION webhook._operational_emit(webhook.endpoint, text, jsonb),
	webhook._operational_endpoint(), webhook._operational_health_mark(),
	webhook._operational_health(), webhook._operational_event_dead()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	webhook._operational_emit(webhook.endpoint, text, jsonb),
	webhook._operational_endpoint(), webhook._operational_health_mark(),
	webhook._operational_health(), webhook._operational_event_dead()
	TO webhook_admin;
