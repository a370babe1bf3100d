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
	ep_enabled boolean;
BEGIN
	SELECT e.id, e.enabled AND NOT e.paused INTO ep_id, ep_enabled
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
		RAISE NOTICE 'endpoint of event % is disabled or paused', event_id
			USING HINT = 'The event is sent once the endpoint is enabled with webhook.enable_endpoint() or resumed with webhook.resume().';
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


