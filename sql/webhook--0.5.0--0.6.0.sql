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
'A new random Standard Webhooks secret: for scheme v1 "whsec_" and 32 random bytes in base64, for v1a a "whsk_" Ed25519 secret key';

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
