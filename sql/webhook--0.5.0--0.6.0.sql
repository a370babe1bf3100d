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
CREATE INDEX endpoint_operational_idx ON webhook.endpoint (id)
	WHERE operational;

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
REVOKE ALL ON FUNCTION webhook._operational_emit(webhook.endpoint, text, jsonb),
	webhook._operational_endpoint(), webhook._operational_health_mark(),
	webhook._operational_health(), webhook._operational_event_dead()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	webhook._operational_emit(webhook.endpoint, text, jsonb),
	webhook._operational_endpoint(), webhook._operational_health_mark(),
	webhook._operational_health(), webhook._operational_event_dead()
	TO webhook_admin;
