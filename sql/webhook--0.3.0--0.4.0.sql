/* webhook--0.3.0--0.4.0.sql: update the webhook extension from 0.3.0 to 0.4.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.4.0'" to load this file. \quit

/*
 * Brings an installed 0.3.0 to what webhook--0.4.0.sql installs: the
 * functions that manage endpoints look an endpoint up, and check an
 * endpoint's transport options, through one helper each; and an endpoint
 * may take its events in batches.  Only what
 * differs is restated here; webhook--0.4.0.sql is where the schema reads
 * whole.
 */

/* ---------------------------------------------------------------------
 * Endpoints
 * --------------------------------------------------------------------- */

/*
 * The endpoint a management function names, looked up in one place for
 * all of them: a NULL name is refused naming the argument it came in, an
 * unknown one with the same error everywhere.  for_update locks the row,
 * for a function that goes on to change the endpoint or what it sends.
 */
CREATE FUNCTION webhook._lookup_endpoint(name text, argument text,
										 for_update boolean)
RETURNS webhook.endpoint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'argument "%" must not be null', argument
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF for_update THEN
		SELECT * INTO ep FROM webhook.endpoint e
		WHERE e.name OPERATOR(pg_catalog.=) _lookup_endpoint.name
		FOR UPDATE;
	ELSE
		SELECT * INTO ep FROM webhook.endpoint e
		WHERE e.name OPERATOR(pg_catalog.=) _lookup_endpoint.name;
	END IF;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN ep;
END
$$;

/*
 * An endpoint's transport options as they will be stored: each one checked
 * by _check_transport(), and a client certificate only with its key.
 */
CREATE FUNCTION webhook._check_transport_settings(ca_bundle text,
												  client_cert text,
												  client_key text,
												  proxy text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM webhook._check_transport(ca_bundle, client_cert, client_key, proxy);
	IF (client_cert IS NULL) OPERATOR(pg_catalog.<>) (client_key IS NULL) THEN
		RAISE EXCEPTION 'client certificate and client key go together'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass both client_cert and client_key, or neither.';
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION webhook.drop_endpoint(name text,
									  discard_pending boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
	npending bigint;
	subs text;
BEGIN
	ep := webhook._lookup_endpoint(name, 'name', true);
	SELECT string_agg(format('%s on %s', s.trigger_name, s.table_name), ', ')
	INTO subs FROM webhook.subscriptions s WHERE s.endpoint = drop_endpoint.name;
	IF subs IS NOT NULL THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" because tables are subscribed to it', name
			USING ERRCODE = 'dependent_objects_still_exist',
				  DETAIL = format('Subscribed: %s.', subs),
				  HINT = 'Remove them first with webhook.unsubscribe().';
	END IF;
	SELECT count(*) INTO npending FROM webhook.event ev
	WHERE ev.endpoint_id = ep.id AND ev.state = 'pending';
	IF npending > 0 AND NOT coalesce(discard_pending, false) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" because % pending', name,
			CASE WHEN npending = 1 THEN '1 event is'
				 ELSE npending || ' events are' END
			USING ERRCODE = 'object_in_use',
				  HINT = 'Wait for them to be delivered, or pass discard_pending => true to discard them.';
	END IF;
	DELETE FROM webhook.attempt a USING webhook.event ev
	WHERE a.event_id = ev.id AND ev.endpoint_id = ep.id;
	DELETE FROM webhook.event ev WHERE ev.endpoint_id = ep.id;
	DELETE FROM webhook.endpoint e WHERE e.id = ep.id;
	IF npending > 0 THEN
		RAISE NOTICE 'discarded % of endpoint "%"',
			CASE WHEN npending = 1 THEN '1 pending event'
				 ELSE npending || ' pending events' END, name;
	END IF;
END
$$;

CREATE OR REPLACE FUNCTION webhook.rotate_secret(name text, secret text DEFAULT NULL,
									  overlap interval DEFAULT '24h')
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
	IF secret IS NULL THEN
		secret := webhook.generate_secret();
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

CREATE OR REPLACE FUNCTION webhook.endpoint_secret(name text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (webhook._lookup_endpoint(name, 'name', false)).secret;
END
$$;

CREATE OR REPLACE FUNCTION webhook.enable_endpoint(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(name, 'name', true);
	UPDATE webhook.endpoint e
	SET enabled = true, paused = false, disabled_reason = NULL, disabled_at = NULL
	WHERE e.id = ep.id;
	-- a fresh start: the breaker counts again from zero
	UPDATE webhook.endpoint_health h
	SET consecutive_failures = 0, failing_since = NULL, probe_step = 0,
		next_probe_at = NULL
	WHERE h.endpoint_id = ep.id;
	PERFORM webhook._release_backlog(ep.id);
END
$$;

CREATE OR REPLACE FUNCTION webhook.set_delivery_policy(
	endpoint text,
	failure_threshold integer DEFAULT NULL,
	failure_window interval DEFAULT NULL,
	rate_limit real DEFAULT NULL,
	ordering text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', true);
	IF failure_threshold IS NOT NULL AND failure_threshold < 1 THEN
		RAISE EXCEPTION 'invalid failure_threshold %', failure_threshold
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An endpoint is disabled after 1 or more consecutive failures.';
	END IF;
	IF failure_window IS NOT NULL AND failure_window <= '0'::interval THEN
		RAISE EXCEPTION 'invalid failure_window "%"', failure_window
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The failure window must be more than zero.';
	END IF;
	IF rate_limit IS NOT NULL AND (rate_limit < 0 OR rate_limit > 100000
								   OR rate_limit = 'NaN') THEN
		RAISE EXCEPTION 'invalid rate_limit %', rate_limit
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A rate limit is 0 (none) to 100000 events per second.';
	END IF;
	IF ordering IS NOT NULL AND ordering NOT IN ('none', 'endpoint', 'key') THEN
		RAISE EXCEPTION 'invalid ordering "%"', ordering
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid orderings are none, endpoint and key.';
	END IF;
	UPDATE webhook.endpoint e SET
		failure_threshold = coalesce(set_delivery_policy.failure_threshold,
									 e.failure_threshold),
		failure_window = coalesce(set_delivery_policy.failure_window,
								  e.failure_window),
		rate_limit = CASE WHEN set_delivery_policy.rate_limit IS NULL
						  THEN e.rate_limit
						  ELSE nullif(set_delivery_policy.rate_limit, 0) END,
		ordering = coalesce(set_delivery_policy.ordering, e.ordering)
	WHERE e.id = ep.id;
	PERFORM webhook._wake();
END
$$;

CREATE OR REPLACE FUNCTION webhook.pause(endpoint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', true);
	IF ep.paused THEN
		RETURN;
	END IF;
	UPDATE webhook.endpoint e
	SET paused = true, enabled = false,
		disabled_reason = 'paused by webhook.pause()',
		disabled_at = now()
	WHERE e.id = ep.id;
END
$$;

CREATE OR REPLACE FUNCTION webhook.resume(endpoint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', true);
	IF NOT ep.paused THEN
		IF NOT ep.enabled THEN
			RAISE EXCEPTION 'endpoint "%" is disabled, not paused', endpoint
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = format('It was disabled because %s.',
									  coalesce(ep.disabled_reason, 'of an unknown reason')),
					  HINT = 'Re-enable it with webhook.enable_endpoint().';
		END IF;
		RETURN;
	END IF;
	UPDATE webhook.endpoint e
	SET paused = false, enabled = true, disabled_reason = NULL,
		disabled_at = NULL
	WHERE e.id = ep.id;
	PERFORM webhook._release_backlog(ep.id);
END
$$;

/* ---------------------------------------------------------------------
 * Operations
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION webhook.replay(endpoint text, since timestamptz,
							   "until" timestamptz DEFAULT NULL,
							   only_dead boolean DEFAULT false,
							   status text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
	n bigint;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', false);
	IF since IS NULL THEN
		RAISE EXCEPTION 'argument "since" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF status IS NOT NULL AND status NOT IN ('delivered', 'dead') THEN
		RAISE EXCEPTION 'invalid replay status "%"', status
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Replay takes delivered or dead events.';
	END IF;
	UPDATE webhook.event ev
	SET state = 'pending',
		next_attempt_at = CASE WHEN (SELECT e.enabled FROM webhook.endpoint e
									 WHERE e.id = ev.endpoint_id)
							   THEN clock_timestamp() ELSE 'infinity' END,
		finished_at = NULL, retry_from = ev.attempts
	WHERE ev.endpoint_id = ep.id AND ev.state <> 'pending'
	  AND ev.created_at >= since
	  AND (replay."until" IS NULL OR ev.created_at < replay."until")
	  AND (NOT coalesce(only_dead, false) OR ev.state = 'dead')
	  AND (replay.status IS NULL OR ev.state::text = replay.status);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM webhook._wake();
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION webhook.discard(endpoint text,
								since timestamptz DEFAULT NULL,
								"until" timestamptz DEFAULT NULL,
								type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
	n bigint;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', false);
	UPDATE webhook.event ev
	SET state = 'dead', finished_at = clock_timestamp()
	WHERE ev.endpoint_id = ep.id AND ev.state = 'pending'
	  AND (discard.since IS NULL OR ev.created_at >= discard.since)
	  AND (discard."until" IS NULL OR ev.created_at < discard."until")
	  AND (discard.type IS NULL OR
		   webhook._event_body(ev.payload, ev.created_at) ->> 'type' = discard.type);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION webhook.send_test(endpoint text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
	ts timestamptz := clock_timestamp();
	new_id bigint;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', false);
	INSERT INTO webhook.event AS ev (endpoint_id, msg_id, created_at,
									 next_attempt_at, payload)
	VALUES (ep.id, gen_random_uuid(), ts,
			CASE WHEN ep.enabled THEN ts ELSE 'infinity' END,
			json_build_object(
				'type', 'webhook.test',
				'timestamp', to_char(ts AT TIME ZONE 'UTC',
									 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
				'data', json_build_object('endpoint', ep.name)))
	RETURNING ev.id INTO new_id;
	PERFORM webhook._wake();
	RETURN new_id;
END
$$;

/* ---------------------------------------------------------------------
 * Batching
 * --------------------------------------------------------------------- */

/*
 * An endpoint may take its events in batches: batch_max_events (NULL: one
 * event a request) and batch_max_bytes, set through create_endpoint() and
 * alter_endpoint(), which gain the two arguments, and shown by the
 * endpoints view.
 */
ALTER TABLE webhook.endpoint
	ADD COLUMN batch_max_events integer
		CHECK (batch_max_events BETWEEN 1 AND 1000),
	ADD COLUMN batch_max_bytes integer NOT NULL DEFAULT 1048576
		CHECK (batch_max_bytes BETWEEN 1024 AND 67108864);

/*
 * An endpoint's batch settings as create_endpoint() and alter_endpoint()
 * take them: batch_max_events from 1 to 1000 (0 turns batching off),
 * batch_max_bytes from 1 kB to 64 MB.
 */
CREATE FUNCTION webhook._check_batching(batch_max_events integer,
										batch_max_bytes integer)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF batch_max_events IS NOT NULL
		AND (batch_max_events < 0 OR batch_max_events > 1000) THEN
		RAISE EXCEPTION 'invalid batch_max_events %', batch_max_events
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A batch holds 1 to 1000 events.',
				  HINT = 'Pass 0 to send events one by one.';
	END IF;
	IF batch_max_bytes IS NOT NULL
		AND (batch_max_bytes < 1024 OR batch_max_bytes > 67108864) THEN
		RAISE EXCEPTION 'invalid batch_max_bytes %', batch_max_bytes
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'A batch''s body may be 1024 bytes to 64 MB.';
	END IF;
END
$$;

DROP FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval,
	interval[], integer, text, text, text, boolean, text);
DROP FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[],
	integer, text, text, text, text, boolean, text);

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
	batch_max_bytes integer DEFAULT NULL)
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
	IF secret IS NULL THEN
		secret := webhook.generate_secret();
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
									   batch_max_bytes)
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
			coalesce(create_endpoint.batch_max_bytes, 1048576))
	RETURNING e.id INTO new_id;
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION webhook.create_endpoint(text, text, text, jsonb, interval, interval[], integer, text, text, text, boolean, text, integer, integer) IS
'Register an endpoint: a URL, a signing secret (generated when omitted), delivery settings, TLS and proxy options, and batching';

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
	batch_max_bytes integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	ep := webhook._lookup_endpoint(name, 'name', true);
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
								   e.batch_max_bytes)
	WHERE e.id = ep.id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer, text, text, text, text, boolean, text, integer, integer) IS
'Change an endpoint''s settings; arguments left NULL keep their value, an empty string clears a TLS or proxy option, a batch_max_events of 0 turns batching off';

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
	   e.batch_max_events, e.batch_max_bytes
FROM webhook.endpoint e;

REVOKE ALL ON FUNCTION webhook._check_batching(integer, integer),
	webhook.create_endpoint(text, text, text, jsonb, interval, interval[],
							integer, text, text, text, boolean, text, integer,
							integer),
	webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer,
						   text, text, text, text, boolean, text, integer,
						   integer)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook._check_batching(integer, integer),
	webhook.create_endpoint(text, text, text, jsonb, interval, interval[],
							integer, text, text, text, boolean, text, integer,
							integer),
	webhook.alter_endpoint(text, text, jsonb, interval, interval[], integer,
						   text, text, text, text, boolean, text, integer,
						   integer)
	TO webhook_admin;

/* ---------------------------------------------------------------------
 * Privileges
 * --------------------------------------------------------------------- */

/*
 * webhook_admin may execute every function of the extension, as a fresh
 * install grants: the two helpers above, and the trigger functions of
 * the endpoint table and of the event triggers.
 */
REVOKE ALL ON FUNCTION webhook._lookup_endpoint(text, text, boolean),
	webhook._check_transport_settings(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook._lookup_endpoint(text, text, boolean),
	webhook._check_transport_settings(text, text, text, text),
	webhook._endpoint_target_changed(),
	webhook._endpoint_url_check(),
	webhook._refuse_drop_excluded()
	TO webhook_admin;

/* ---------------------------------------------------------------------
 * Claims
 * --------------------------------------------------------------------- */

/*
 * The worker claims per endpoint: for each endpoint that may send now
 * (enabled, not at its in-flight or rate limit, or due a probe while it
 * fails), the earliest due pending events, up to what that endpoint may
 * take.  An endpoint held back for any reason is simply not read, so its
 * backlog costs nothing and is never rewritten.  This index serves those
 * reads, the per-endpoint look-up of the next due time, and the release of
 * an endpoint's backlog; it replaces the single due-time index.  Events
 * parked at 'infinity' by earlier versions stay parked until
 * webhook.enable_endpoint() or webhook.resume() makes them due.
 */
CREATE INDEX event_claim_idx ON webhook.event (endpoint_id, next_attempt_at, id)
	WHERE state = 'pending';
DROP INDEX webhook.event_due_idx;
