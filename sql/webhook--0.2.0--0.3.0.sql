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

/*
 * A changed address, header or transport setting is a new start for the
 * endpoint: whatever failed before says nothing about where it now sends.
 * The breaker's record is reset and the events it (or their own failures)
 * held back are due at once, whoever makes the change (alter_endpoint() or
 * an UPDATE of the table).  A disabled or paused endpoint keeps its events
 * parked: changing its URL does not enable it.
 */
CREATE FUNCTION webhook._endpoint_target_changed()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.endpoint_health h
	SET consecutive_failures = 0, failing_since = NULL, probe_step = 0,
		next_probe_at = NULL
	WHERE h.endpoint_id = NEW.id;
	IF NEW.enabled AND NOT NEW.paused THEN
		PERFORM webhook._release_backlog(NEW.id);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER endpoint_target_changed
	AFTER UPDATE OF url, headers, timeout, ca_bundle, client_cert, client_key,
		tls_insecure, proxy ON webhook.endpoint
	FOR EACH ROW
	WHEN (OLD.url IS DISTINCT FROM NEW.url
		  OR OLD.headers IS DISTINCT FROM NEW.headers
		  OR OLD.timeout IS DISTINCT FROM NEW.timeout
		  OR OLD.ca_bundle IS DISTINCT FROM NEW.ca_bundle
		  OR OLD.client_cert IS DISTINCT FROM NEW.client_cert
		  OR OLD.client_key IS DISTINCT FROM NEW.client_key
		  OR OLD.tls_insecure IS DISTINCT FROM NEW.tls_insecure
		  OR OLD.proxy IS DISTINCT FROM NEW.proxy)
	EXECUTE FUNCTION webhook._endpoint_target_changed();

REVOKE ALL ON FUNCTION webhook._endpoint_target_changed() FROM PUBLIC;

/*
 * The address users most often get refused first is their own machine's:
 * the worker does not connect to loopback, private or link-local addresses
 * unless webhook.allowed_networks lets it.  When an endpoint's URL names
 * such an address literally (or "localhost"), and this session's
 * webhook.allowed_networks does not allow it, say so at once, with the
 * setting that fixes it, instead of leaving it to the first failed attempt.
 * Host names are not resolved here; the worker checks every address it
 * connects to, whatever this says.
 */
CREATE FUNCTION webhook._endpoint_url_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	host text;
	addr inet;
	allowed text := coalesce(current_setting('webhook.allowed_networks', true), '');
	suggest text;
BEGIN
	host := lower(substring(NEW.url FROM '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(\[[^]]*\]|[^:/?#]*)'));
	host := btrim(host, '[]');
	IF host IS NULL OR host = '' THEN
		RETURN NULL;
	END IF;
	IF host = 'localhost' OR host LIKE '%.localhost' THEN
		addr := '127.0.0.1';
		suggest := '127.0.0.1/32, ::1/128';
		host := 'localhost';
	ELSIF host ~ '^[0-9.]+$' OR host ~ '^[0-9a-f:.]+$' THEN
		BEGIN
			addr := host::inet;
		EXCEPTION WHEN invalid_text_representation THEN
			RETURN NULL;
		END;
		suggest := host(addr) || CASE WHEN family(addr) = 4 THEN '/32' ELSE '/128' END;
	ELSE
		RETURN NULL;
	END IF;
	-- allowed already?
	IF EXISTS (SELECT FROM regexp_split_to_table(btrim(allowed), '[,[:space:]]+') AS n
			   WHERE n <> '' AND addr <<= n::inet) THEN
		RETURN NULL;
	END IF;
	IF addr = '127.0.0.1' OR addr = '::1' THEN
		suggest := '127.0.0.1/32, ::1/128';
	END IF;
	IF btrim(allowed) <> '' THEN
		suggest := btrim(allowed) || ', ' || suggest;
	END IF;
	IF addr <<= '127.0.0.0/8' OR addr = '::1' THEN
		RAISE WARNING 'endpoint "%" is on this machine, where the worker does not connect', NEW.name
			USING DETAIL = format('The address %s is a loopback address, and "webhook.allowed_networks" does not allow it.', host),
				  HINT = format('To allow a receiver on this machine, run ALTER SYSTEM SET webhook.allowed_networks = %L and then SELECT pg_reload_conf().', suggest);
	ELSIF addr <<= '10.0.0.0/8' OR addr <<= '172.16.0.0/12'
		OR addr <<= '192.168.0.0/16' OR addr <<= '100.64.0.0/10'
		OR addr <<= 'fc00::/7' THEN
		RAISE WARNING 'endpoint "%" is on a private network, where the worker does not connect', NEW.name
			USING DETAIL = format('The address %s is a private address, and "webhook.allowed_networks" does not allow it.', host),
				  HINT = format('To allow it, run ALTER SYSTEM SET webhook.allowed_networks = %L and then SELECT pg_reload_conf().', suggest);
	ELSIF addr <<= '169.254.0.0/16' OR addr <<= 'fe80::/10' THEN
		RAISE WARNING 'endpoint "%" has a link-local address, where the worker does not connect', NEW.name
			USING DETAIL = format('The address %s is a link-local address, and "webhook.allowed_networks" does not allow it.', host),
				  HINT = format('To allow it, run ALTER SYSTEM SET webhook.allowed_networks = %L and then SELECT pg_reload_conf().', suggest);
	END IF;
	RETURN NULL;
END
$$;

CREATE TRIGGER endpoint_url_check
	AFTER INSERT OR UPDATE OF url ON webhook.endpoint
	FOR EACH ROW EXECUTE FUNCTION webhook._endpoint_url_check();

REVOKE ALL ON FUNCTION webhook._endpoint_url_check() FROM PUBLIC;

/*
 * A manual retry is a probe: the event is due now, and if the breaker holds
 * its endpoint back, the next probe is due now too, so that this event is
 * the one sent.  Its success ends the failing state and releases the rest.
 * A disabled or paused endpoint's event stays parked until the endpoint is
 * enabled or resumed.
 */
CREATE OR REPLACE FUNCTION webhook.retry(event_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
	ep_name text;
	ep_enabled boolean;
BEGIN
	SELECT e.id, e.name, e.enabled INTO ep_id, ep_name, ep_enabled
	FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id
	WHERE ev.id = retry.event_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event % does not exist', event_id
			USING ERRCODE = 'undefined_object';
	END IF;
	UPDATE webhook.event ev
	SET state = 'pending',
		next_attempt_at = CASE WHEN ep_enabled THEN clock_timestamp()
							   ELSE 'infinity' END,
		finished_at = NULL, retry_from = ev.attempts
	WHERE ev.id = retry.event_id;
	IF ep_enabled THEN
		UPDATE webhook.endpoint_health h SET next_probe_at = clock_timestamp()
		WHERE h.endpoint_id = ep_id AND h.consecutive_failures > 0;
	ELSE
		RAISE NOTICE 'event waits for endpoint "%", which is disabled or paused', ep_name
			USING HINT = 'Enable it with webhook.enable_endpoint() or resume it with webhook.resume(); the event is sent then.';
	END IF;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.retry(bigint) IS
'Send an event again now, as a probe if its endpoint is failing, with its original webhook-id and a fresh retry schedule';




/* ---------------------------------------------------------------------
 * Privileges: every SECURITY DEFINER function pins its search_path
 * (kept last, so that it covers functions redefined above)
 * --------------------------------------------------------------------- */


