/* webhook--0.1.0--0.2.0.sql: update the webhook extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.2.0'" to load this file. \quit

/*
 * A new install runs webhook--0.1.0.sql and then this script, so everything
 * 0.2.0 adds or changes lives here, once.  Each part is headed by what it is
 * for.
 */

/*
 * Capture cost: backends keep each capture trigger's endpoint id
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
 * Operating it.  Endpoint health (circuit breaker, pause, receiver
 * "webhook-delivery" directives, NOTIFY on state changes), operations
 * (discard, replay by state, send_test, preview) and per-endpoint figures.
 */

-- breaker settings, pause and rate limit, on the (pg_dump'ed) endpoint rows
ALTER TABLE webhook.endpoint
	ADD COLUMN failure_threshold integer NOT NULL DEFAULT 1000
		CHECK (failure_threshold > 0),
	ADD COLUMN failure_window interval NOT NULL DEFAULT '5 days'
		CHECK (failure_window > '0'::interval),
	ADD COLUMN paused boolean NOT NULL DEFAULT false,
	ADD COLUMN rate_limit real CHECK (rate_limit > 0),
	ADD COLUMN ordering text NOT NULL DEFAULT 'none'
		CHECK (ordering IN ('none', 'endpoint', 'key'));

/*
 * Ordering: an endpoint with ordering 'endpoint' or 'key' gets, on each
 * event, the key its order is kept by ('' for the whole endpoint, the row's
 * primary key for 'key'); NULL for every other event.  The worker sends
 * only the oldest pending event of each key, found through this index,
 * which holds those events only.
 */
ALTER TABLE webhook.event ADD COLUMN ordering_key text;
CREATE INDEX event_order_idx ON webhook.event (endpoint_id, ordering_key, id)
	WHERE state = 'pending' AND ordering_key IS NOT NULL;

/*
 * Health: what the worker has seen lately, one row per endpoint that ever
 * failed.  Runtime state, not configuration, so pg_dump leaves it out.
 * consecutive_failures counts failed attempts since the last 2xx;
 * failing_since is the first of them.  While an endpoint fails, the worker
 * sends one probe at a time: probe_step counts the failed probes, and the
 * next goes at next_probe_at, at the pace of the retry schedule.
 */
CREATE TABLE webhook.endpoint_health (
	endpoint_id integer PRIMARY KEY
		REFERENCES webhook.endpoint (id) ON DELETE CASCADE,
	consecutive_failures integer NOT NULL DEFAULT 0,
	failing_since timestamptz,
	last_failure_at timestamptz,
	last_error text,
	last_success_at timestamptz,
	probe_step integer NOT NULL DEFAULT 0,
	next_probe_at timestamptz
);

REVOKE ALL ON webhook.endpoint_health FROM PUBLIC;

/*
 * Every change of an endpoint's state is announced on channel
 * webhook_endpoint, whoever makes it (these functions, the worker, or a
 * direct UPDATE): {"endpoint": name, "state": "enabled" | "disabled" |
 * "paused", "reason": ...}.
 */
CREATE FUNCTION webhook._endpoint_state_notify()
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
	IF st = old_st THEN
		RETURN NULL;
	END IF;
	PERFORM pg_notify('webhook_endpoint',
					  json_build_object('endpoint', NEW.name, 'state', st,
										'reason', NEW.disabled_reason)::text);
	RETURN NULL;
END
$$;

CREATE TRIGGER endpoint_state_notify
	AFTER UPDATE OF enabled, paused ON webhook.endpoint
	FOR EACH ROW EXECUTE FUNCTION webhook._endpoint_state_notify();

/*
 * Delivery policy: when the breaker trips, and how fast an endpoint may be
 * sent to.  Arguments left NULL keep their value; rate_limit => 0 removes
 * the limit.
 */
CREATE FUNCTION webhook.set_delivery_policy(
	endpoint text,
	failure_threshold integer DEFAULT NULL,
	failure_window interval DEFAULT NULL,
	rate_limit real DEFAULT NULL,
	ordering text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
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
	WHERE e.name = set_delivery_policy.endpoint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.set_delivery_policy(text, integer, interval, real, text) IS
'Set when the circuit breaker disables an endpoint (failure_threshold consecutive failures, or failures only for failure_window), its rate limit in events per second, and its ordering (none, endpoint or key)';

/*
 * Make an endpoint's waiting events due now: those parked while it was
 * disabled or paused (at infinity) and those the breaker held back while
 * it was failing.
 */
CREATE FUNCTION webhook._release_backlog(ep_id integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.event ev SET next_attempt_at = clock_timestamp()
	WHERE ev.state = 'pending' AND ev.next_attempt_at > now()
	  AND ev.endpoint_id = ep_id;
	PERFORM webhook._wake();
END
$$;

CREATE OR REPLACE FUNCTION webhook.enable_endpoint(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
BEGIN
	UPDATE webhook.endpoint e
	SET enabled = true, paused = false, disabled_reason = NULL, disabled_at = NULL
	WHERE e.name = enable_endpoint.name
	RETURNING e.id INTO ep_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	-- a fresh start: the breaker counts again from zero
	UPDATE webhook.endpoint_health h
	SET consecutive_failures = 0, failing_since = NULL, probe_step = 0,
		next_probe_at = NULL
	WHERE h.endpoint_id = ep_id;
	PERFORM webhook._release_backlog(ep_id);
END
$$;

COMMENT ON FUNCTION webhook.enable_endpoint(text) IS
'Re-enable a disabled or paused endpoint; its breaker is reset and its pending events are sent again';

CREATE FUNCTION webhook.pause(endpoint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.endpoint e
	SET paused = true, enabled = false,
		disabled_reason = 'paused by webhook.pause()',
		disabled_at = now()
	WHERE e.name = pause.endpoint AND NOT e.paused;
	IF NOT FOUND AND NOT EXISTS (SELECT FROM webhook.endpoint e
								 WHERE e.name = pause.endpoint) THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.pause(text) IS
'Stop sending to an endpoint; its events keep accumulating until webhook.resume()';

CREATE FUNCTION webhook.resume(endpoint text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
BEGIN
	SELECT * INTO ep FROM webhook.endpoint e
	WHERE e.name = resume.endpoint FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
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

COMMENT ON FUNCTION webhook.resume(text) IS
'Send to a paused endpoint again, starting with the events that waited';

/*
 * Discarding: pending events stop being sent and become dead; history is
 * kept.  An event in flight may still arrive once.
 */
CREATE FUNCTION webhook.discard(event_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.event ev
	SET state = 'dead', finished_at = clock_timestamp()
	WHERE ev.id = discard.event_id AND ev.state = 'pending';
	IF NOT FOUND THEN
		IF NOT EXISTS (SELECT FROM webhook.event ev
					   WHERE ev.id = discard.event_id) THEN
			RAISE EXCEPTION 'event % does not exist', event_id
				USING ERRCODE = 'undefined_object';
		END IF;
		RAISE EXCEPTION 'event % is not pending', event_id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.discard(bigint) IS
'Stop sending a pending event; it becomes dead and its history is kept';

CREATE FUNCTION webhook.discard(endpoint text,
								since timestamptz DEFAULT NULL,
								"until" timestamptz DEFAULT NULL,
								type text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
	n bigint;
BEGIN
	SELECT e.id INTO ep_id FROM webhook.endpoint e
	WHERE e.name = discard.endpoint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
	UPDATE webhook.event ev
	SET state = 'dead', finished_at = clock_timestamp()
	WHERE ev.endpoint_id = ep_id AND ev.state = 'pending'
	  AND (discard.since IS NULL OR ev.created_at >= discard.since)
	  AND (discard."until" IS NULL OR ev.created_at < discard."until")
	  AND (discard.type IS NULL OR
		   webhook._event_body(ev.payload, ev.created_at) ->> 'type' = discard.type);
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.discard(text, timestamptz, timestamptz, text) IS
'Stop sending an endpoint''s pending events created in [since, until), of one type if given; returns how many';

/*
 * replay gains a status filter: 'delivered', 'dead', or NULL for both.
 */
DROP FUNCTION webhook.replay(text, timestamptz, timestamptz, boolean);

CREATE FUNCTION webhook.replay(endpoint text, since timestamptz,
							   "until" timestamptz DEFAULT NULL,
							   only_dead boolean DEFAULT false,
							   status text DEFAULT NULL)
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
	WHERE ev.endpoint_id = ep_id AND ev.state <> 'pending'
	  AND ev.created_at >= since
	  AND (replay."until" IS NULL OR ev.created_at < replay."until")
	  AND (NOT coalesce(only_dead, false) OR ev.state = 'dead')
	  AND (replay.status IS NULL OR ev.state::text = replay.status);
	GET DIAGNOSTICS n = ROW_COUNT;
	PERFORM webhook._wake();
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.replay(text, timestamptz, timestamptz, boolean, text) IS
'Send an endpoint''s delivered and dead events created in [since, until) again (only those in state status, if given), with their original webhook-ids';

/*
 * A "webhook.test" event through the normal path: signed, retried and
 * recorded like any other.
 */
CREATE FUNCTION webhook.send_test(endpoint text)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep webhook.endpoint;
	ts timestamptz := clock_timestamp();
	new_id bigint;
BEGIN
	SELECT * INTO ep FROM webhook.endpoint e WHERE e.name = send_test.endpoint;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
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

COMMENT ON FUNCTION webhook.send_test(text) IS
'Queue a "webhook.test" event for an endpoint, sent like any other; returns its event id';

/*
 * Preview: the exact request a row change would become, without sending
 * or writing anything.
 */
CREATE FUNCTION webhook._preview_body(tbl regclass, trigger_name name,
									  op text, new_row record, old_row record)
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_preview_body'
LANGUAGE C;

CREATE FUNCTION webhook.preview(tbl regclass, new_row anyelement,
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
BEGIN
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
		SELECT * INTO ep FROM webhook.endpoint e WHERE e.name = s.endpoint;
		b := webhook._preview_body(tbl, s.trigger_name, op, new_row, old_row);
		CONTINUE WHEN b IS NULL;
		msg := 'msg_' || replace(gen_random_uuid()::text, '-', '');
		ts := extract(epoch FROM now())::bigint;
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
	IF NOT FOUND AND NOT EXISTS (SELECT FROM webhook.subscriptions sub
								 WHERE sub.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" is not subscribed to any endpoint',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl)
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.preview(regclass, anyelement, anyelement, name) IS
'The body and headers each subscription of a table would send for a row change (new_row alone: an insert; old_row alone: a delete; both: an update), without sending anything';

/*
 * Per-endpoint figures.  Reads the pending events (event_due_idx), the
 * events finished in the last hour (event_finished_idx) and their attempts
 * (by primary key): an attempt made in the last hour belongs to an event
 * that is pending or finished since, so nothing older is scanned.  Cost
 * grows with the pending backlog and the last hour's traffic, not with the
 * history kept.
 */
CREATE VIEW webhook.endpoint_stats AS
WITH recent AS (
	SELECT ev.id, ev.endpoint_id, ev.state, ev.created_at, ev.attempts
	FROM webhook.event ev
	WHERE ev.state <> 'pending' AND ev.finished_at > now() - interval '1 hour'
	UNION ALL
	SELECT ev.id, ev.endpoint_id, ev.state, ev.created_at, ev.attempts
	FROM webhook.event ev
	WHERE ev.state = 'pending' AND ev.attempts > 0
),
pending AS (
	SELECT ev.endpoint_id, count(*) AS n, min(ev.created_at) AS oldest
	FROM webhook.event ev WHERE ev.state = 'pending'
	GROUP BY ev.endpoint_id
),
finished AS (
	SELECT r.endpoint_id,
		   count(*) FILTER (WHERE r.state = 'delivered') AS delivered,
		   count(*) FILTER (WHERE r.state = 'dead') AS dead,
		   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
			   ORDER BY a.started_at + a.duration - r.created_at)
			   FILTER (WHERE r.state = 'delivered') AS latency
	FROM recent r
	LEFT JOIN webhook.attempt a ON a.event_id = r.id AND a.attempt = r.attempts
	WHERE r.state <> 'pending'
	GROUP BY r.endpoint_id
),
attempts AS (
	SELECT r.endpoint_id,
		   count(*) FILTER (WHERE a.status IS NULL
							OR a.status NOT BETWEEN 200 AND 299) AS failed,
		   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
			   ORDER BY a.duration) AS latency
	FROM recent r
	JOIN webhook.attempt a ON a.event_id = r.id
	WHERE a.started_at > now() - interval '1 hour'
	GROUP BY r.endpoint_id
)
SELECT e.id, e.name,
	   CASE WHEN e.paused THEN 'paused'
			WHEN NOT e.enabled THEN 'disabled'
			WHEN h.consecutive_failures > 0 THEN 'failing'
			ELSE 'healthy' END AS state,
	   coalesce(p.n, 0) AS pending,
	   now() - p.oldest AS oldest_pending_age,
	   coalesce(f.delivered, 0) AS delivered_last_hour,
	   coalesce(f.dead, 0) AS dead_last_hour,
	   coalesce(a.failed, 0) AS failed_attempts_last_hour,
	   f.latency[1] AS delivery_p50,
	   f.latency[2] AS delivery_p95,
	   f.latency[3] AS delivery_p99,
	   a.latency[1] AS attempt_p50,
	   a.latency[2] AS attempt_p95,
	   a.latency[3] AS attempt_p99,
	   coalesce(h.consecutive_failures, 0) AS consecutive_failures,
	   h.failing_since,
	   h.last_error,
	   h.last_failure_at,
	   h.last_success_at,
	   h.next_probe_at,
	   e.disabled_reason,
	   e.disabled_at
FROM webhook.endpoint e
LEFT JOIN webhook.endpoint_health h ON h.endpoint_id = e.id
LEFT JOIN pending p ON p.endpoint_id = e.id
LEFT JOIN finished f ON f.endpoint_id = e.id
LEFT JOIN attempts a ON a.endpoint_id = e.id;

COMMENT ON VIEW webhook.endpoint_stats IS
'Per endpoint: state, backlog, the last hour''s deliveries and failures, delivery latency (capture to 2xx) and attempt latency percentiles, and the last error';

-- the endpoint listing shows the new settings (columns added at the end)
CREATE OR REPLACE VIEW webhook.endpoints AS
SELECT e.id, e.name, e.url,
	   ARRAY(SELECT jsonb_object_keys(e.headers)) AS header_names,
	   e.timeout, e.retry_schedule, e.max_in_flight, e.enabled,
	   e.disabled_reason, e.disabled_at,
	   e.previous_secret IS NOT NULL
		   AND e.previous_secret_expires_at > now() AS rotating,
	   e.created_at,
	   e.paused, e.failure_threshold, e.failure_window, e.rate_limit,
	   e.ordering
FROM webhook.endpoint e;

-- the operations functions are for the roles that manage webhooks only
REVOKE ALL ON FUNCTION webhook._endpoint_state_notify() FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.set_delivery_policy(text, integer, interval, real, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook._release_backlog(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.pause(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.resume(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.discard(bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.discard(text, timestamptz, timestamptz, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.replay(text, timestamptz, timestamptz, boolean, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.send_test(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook._preview_body(regclass, name, text, record, record) FROM PUBLIC;
REVOKE ALL ON FUNCTION webhook.preview(regclass, anyelement, anyelement, name) FROM PUBLIC;
REVOKE ALL ON webhook.endpoint_stats FROM PUBLIC;

/*
 * Payload functions: subscribe() gains payload_function, a function of the
 * table's row type returning json or jsonb that builds the event's "data"
 * (capture option "data=", see src/payload_fn.c).
 */
DROP FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[], text, text, text);

-- the new subscribe(), with payload_function, is created in the security
-- part below, which also changes how it checks the endpoint


/*
 * Security and hostile input.
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

/*
 * The listing gains the transport options that are not secret, at the end
 * (after the delivery policy, above)
 */
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
BEGIN
	IF NOT webhook._endpoint_exists(subscribe.endpoint) THEN
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
	IF payload_function IS NOT NULL THEN
		-- by signature, schema-qualified (search_path is pg_catalog here)
		args := args || ('data=' || payload_function::text);
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

COMMENT ON FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[], text, text, text, regprocedure) IS
'Create the trigger that sends a table''s row changes to an endpoint; returns its name.  payload_function, taking the table''s row type and returning json or jsonb, builds the event''s data';

REVOKE ALL ON FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[], text, text, text, regprocedure) FROM PUBLIC;

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
	ON webhook.endpoint, webhook.event, webhook.attempt, webhook.endpoint_health
	TO webhook_admin;
GRANT USAGE, SELECT, UPDATE
	ON webhook.endpoint_id_seq, webhook.event_id_seq TO webhook_admin;
GRANT SELECT ON webhook.endpoints, webhook.events, webhook.attempts,
	webhook.subscriptions, webhook.endpoint_stats TO webhook_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA webhook TO webhook_admin;

/* webhook_user: subscribe tables it may put triggers on, see subscriptions */
GRANT SELECT ON webhook.subscriptions TO webhook_user;
GRANT EXECUTE ON FUNCTION
	webhook.capture(),
	webhook.subscribe(regclass, text, text[], text[], text, text[], text,
					  text, text, regprocedure),
	webhook.unsubscribe(regclass, text, text),
	webhook._endpoint_exists(text),
	webhook._check_capture_args(regclass, text[]),
	webhook._trigger_args(bytea, smallint)
	TO webhook_user;
