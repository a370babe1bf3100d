/* webhook--0.4.0--0.5.0.sql: update the webhook extension from 0.4.0 to 0.5.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.5.0'" to load this file. \quit

/*
 * Brings an installed 0.4.0 to what webhook--0.5.0.sql installs: the
 * delivery history becomes narrow rows in eight segments that are emptied
 * by TRUNCATE, and a delivered event's outbox row need no longer be kept,
 * so the views read the history for what the row told before.  Only what
 * differs is restated here; webhook--0.5.0.sql is where the schema reads
 * whole.
 *
 * The attempts recorded so far move into segment 0, each with what it now
 * carries of its event (endpoint, webhook-id, creation time, and whether
 * it was the attempt that finished it).  Delivered events stay in the
 * outbox and leave it at the worker's next retention step, as
 * webhook.payload_retention says.
 */

/* ---------------------------------------------------------------------
 * The history
 * --------------------------------------------------------------------- */

/* the 0.4.0 table steps aside until its rows are copied */
ALTER TABLE webhook.attempt RENAME TO attempt_0_4;
ALTER TABLE webhook.attempt_0_4 RENAME CONSTRAINT attempt_pkey TO attempt_0_4_pkey;

/*
 * From PostgreSQL 18 on, NOT NULL constraints are named, and a new table's
 * names are chosen unique in the schema: the old table's would make the new
 * history's differ from a fresh install's.  They step aside too (before 18
 * there are none).
 */
DO $$
DECLARE
	c record;
BEGIN
	FOR c IN SELECT con.conname FROM pg_catalog.pg_constraint con
			 WHERE con.conrelid OPERATOR(pg_catalog.=)
				   'webhook.attempt_0_4'::pg_catalog.regclass
			   AND con.contype OPERATOR(pg_catalog.=) 'n'
	LOOP
		EXECUTE pg_catalog.format(
			'ALTER TABLE webhook.attempt_0_4 RENAME CONSTRAINT %I TO %I',
			c.conname, 'old_' OPERATOR(pg_catalog.||) c.conname);
	END LOOP;
END
$$;

/*
 * Delivery history: one narrow row per attempt, written once and never
 * updated.  It carries what the views show of an event whose outbox row is
 * gone (a delivered event's row is removed when it is delivered, unless
 * webhook.payload_retention keeps it): its endpoint, webhook-id and
 * creation time.  final marks the attempt that finished the event
 * (delivered, or dead after its last retry).  error and response are set
 * only when the attempt failed.
 *
 * The rows live in eight segments, children of webhook.attempt that the
 * worker fills one at a time.  When the one being written has been written
 * for a seventh of webhook.retention, the worker empties the next one with
 * TRUNCATE and moves on to it, so history is removed a segment at a time
 * (no DELETE, no vacuum) and kept for between one and eight sevenths of
 * webhook.retention.  Rows arrive in time order, so BRIN indexes find them
 * by event and by time at almost no cost to write.
 */
CREATE TABLE webhook.attempt (
	event_id bigint NOT NULL,
	created_at timestamptz NOT NULL,
	started_at timestamptz NOT NULL,
	msg_id uuid NOT NULL,
	endpoint_id integer NOT NULL,
	duration_us integer NOT NULL,
	attempt smallint NOT NULL,
	status smallint,
	final boolean NOT NULL,
	error text,
	response text
);

CREATE TABLE webhook.attempt_0 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_1 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_2 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_3 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_4 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_5 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_6 () INHERITS (webhook.attempt);
CREATE TABLE webhook.attempt_7 () INHERITS (webhook.attempt);

CREATE INDEX attempt_0_event_idx ON webhook.attempt_0 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_1_event_idx ON webhook.attempt_1 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_2_event_idx ON webhook.attempt_2 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_3_event_idx ON webhook.attempt_3 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_4_event_idx ON webhook.attempt_4 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_5_event_idx ON webhook.attempt_5 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_6_event_idx ON webhook.attempt_6 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_7_event_idx ON webhook.attempt_7 USING brin (event_id)
	WITH (autosummarize = on);
CREATE INDEX attempt_0_started_idx ON webhook.attempt_0 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_1_started_idx ON webhook.attempt_1 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_2_started_idx ON webhook.attempt_2 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_3_started_idx ON webhook.attempt_3 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_4_started_idx ON webhook.attempt_4 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_5_started_idx ON webhook.attempt_5 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_6_started_idx ON webhook.attempt_6 USING brin (started_at)
	WITH (autosummarize = on);
CREATE INDEX attempt_7_started_idx ON webhook.attempt_7 USING brin (started_at)
	WITH (autosummarize = on);

/*
 * The segments: since is when the worker began writing a segment (NULL
 * while it is empty); the one written now is the one begun last.
 */
CREATE TABLE webhook.attempt_segment (
	segment smallint PRIMARY KEY CHECK (segment BETWEEN 0 AND 7),
	since timestamptz
);

INSERT INTO webhook.attempt_segment (segment, since)
SELECT s, CASE WHEN s = 0 THEN pg_catalog.now() END
FROM pg_catalog.generate_series(0, 7) s;

/*
 * The old rows, oldest first (the BRIN indexes work best on rows in time
 * order).  Every attempt has its event: 0.4.0 removed both together.  An
 * attempt finished its event when it was the event's last and the event
 * is no longer pending.  Rows are copied as they were, so an attempt that
 * succeeded before the update may still show the response it got.
 */
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
							   endpoint_id, duration_us, attempt, status,
							   final, error, response)
SELECT a.event_id, ev.created_at, a.started_at, ev.msg_id, ev.endpoint_id,
	   LEAST(round(date_part('epoch', a.duration) * 1000000),
			 2147483647)::integer,
	   a.attempt, a.status,
	   a.attempt = ev.attempts AND ev.state <> 'pending',
	   a.error, a.response
FROM webhook.attempt_0_4 a
JOIN webhook.event ev ON ev.id = a.event_id
ORDER BY a.started_at, a.event_id, a.attempt;

/* ---------------------------------------------------------------------
 * Views
 * --------------------------------------------------------------------- */

/*
 * The events: every row of the outbox, with the body as sent, and every
 * delivered event whose row is gone, from its last attempt in the history
 * (no type or payload then: they went with the row).  An event kept in the
 * outbox is shown from there alone, so none is listed twice.  Its latest
 * result is looked up in the history only once it has been attempted.
 */
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
CROSS JOIN LATERAL webhook._event_body(ev.payload, ev.created_at) AS b(body)
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

/*
 * The attempts, from the history alone: an attempt outlives its event's
 * row, and its endpoint (which shows without a name once dropped).
 */
CREATE OR REPLACE VIEW webhook.attempts AS
SELECT a.event_id, e.name AS endpoint,
	   webhook.webhook_id(a.msg_id) AS webhook_id, a.attempt, a.started_at,
	   a.duration_us * interval '1 microsecond' AS duration,
	   a.status, a.error, a.response
FROM webhook.attempt a
LEFT JOIN webhook.endpoint e ON e.id = a.endpoint_id;

COMMENT ON VIEW webhook.attempts IS
'Every delivery attempt the history keeps: when, how long, and what came back';

/*
 * Per-endpoint figures.  Reads the pending events (event_claim_idx), the
 * events finished in the last hour (event_finished_idx) for the dead ones,
 * and the attempts started in the last hour, found in each history
 * segment through its BRIN index on started_at: only the segments written
 * in the last hour have rows there, and in them only the last hour's block
 * ranges are read.  Deliveries and their latency come from the final
 * attempts, which carry their event's creation time, so a delivered
 * event's row need not be kept.  Cost grows with the pending backlog and
 * the last hour's traffic, not with the history kept.
 */
CREATE OR REPLACE VIEW webhook.endpoint_stats AS
WITH pending AS (
	SELECT ev.endpoint_id, count(*) AS n, min(ev.created_at) AS oldest
	FROM webhook.event ev WHERE ev.state = 'pending'
	GROUP BY ev.endpoint_id
),
dead AS (
	SELECT ev.endpoint_id, count(*) FILTER (WHERE ev.state = 'dead') AS n
	FROM webhook.event ev
	WHERE ev.state <> 'pending' AND ev.finished_at > now() - interval '1 hour'
	GROUP BY ev.endpoint_id
),
attempts AS (
	SELECT a.endpoint_id,
		   count(*) FILTER (WHERE a.final
							AND a.status BETWEEN 200 AND 299) AS delivered,
		   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
			   ORDER BY a.started_at + a.duration_us * interval '1 microsecond'
						- a.created_at)
			   FILTER (WHERE a.final AND a.status BETWEEN 200 AND 299)
			   AS delivery_latency,
		   count(*) FILTER (WHERE a.status IS NULL
							OR a.status NOT BETWEEN 200 AND 299) AS failed,
		   percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (
			   ORDER BY a.duration_us * interval '1 microsecond') AS latency
	FROM webhook.attempt a
	WHERE a.started_at > now() - interval '1 hour'
	GROUP BY a.endpoint_id
)
SELECT e.id, e.name,
	   CASE WHEN e.paused THEN 'paused'
			WHEN NOT e.enabled THEN 'disabled'
			WHEN h.consecutive_failures > 0 THEN 'failing'
			ELSE 'healthy' END AS state,
	   coalesce(p.n, 0) AS pending,
	   now() - p.oldest AS oldest_pending_age,
	   coalesce(a.delivered, 0) AS delivered_last_hour,
	   coalesce(d.n, 0) AS dead_last_hour,
	   coalesce(a.failed, 0) AS failed_attempts_last_hour,
	   a.delivery_latency[1] AS delivery_p50,
	   a.delivery_latency[2] AS delivery_p95,
	   a.delivery_latency[3] AS delivery_p99,
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
LEFT JOIN dead d ON d.endpoint_id = e.id
LEFT JOIN attempts a ON a.endpoint_id = e.id;

COMMENT ON VIEW webhook.endpoint_stats IS
'Per endpoint: state, backlog, the last hour''s deliveries and failures, delivery latency (capture to 2xx) and attempt latency percentiles, and the last error';

/* the 0.4.0 history: copied, and no view reads it any more */
DROP TABLE webhook.attempt_0_4;

/* ---------------------------------------------------------------------
 * Endpoints and operations
 * --------------------------------------------------------------------- */

/*
 * Dropping an endpoint removes it and its events from the outbox.  Its
 * delivery history stays (nothing deletes from the history) and ages out
 * with the rest, a segment at a time; the views show it without an
 * endpoint name.
 */
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
	DELETE FROM webhook.event ev WHERE ev.endpoint_id = ep.id;
	DELETE FROM webhook.endpoint e WHERE e.id = ep.id;
	IF npending > 0 THEN
		RAISE NOTICE 'discarded % of endpoint "%"',
			CASE WHEN npending = 1 THEN '1 pending event'
				 ELSE npending || ' pending events' END, name;
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.drop_endpoint(text, boolean) IS
'Remove an endpoint and its events (its delivery history ages out); refused while events are pending unless discard_pending';

/*
 * A manual retry is a probe: the event is due now, and if the breaker holds
 * its endpoint back, the next probe is due now too, so that this event is
 * the one sent.  Its success ends the failing state and releases the rest.
 * A disabled or paused endpoint's event stays parked until the endpoint is
 * enabled or resumed.  Only an event still in the outbox can be sent again:
 * one the history alone knows of (delivered, its row removed) is refused
 * with a hint to keep delivered payloads.
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
	delivered boolean;
BEGIN
	IF event_id IS NULL THEN
		RAISE EXCEPTION 'argument "event_id" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT e.id, e.name, e.enabled INTO ep_id, ep_name, ep_enabled
	FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id
	WHERE ev.id = retry.event_id;
	IF NOT FOUND THEN
		SELECT a.final AND a.status BETWEEN 200 AND 299 INTO delivered
		FROM webhook.attempt a WHERE a.event_id = retry.event_id
		ORDER BY a.attempt DESC LIMIT 1;
		IF NOT FOUND THEN
			RAISE EXCEPTION 'event % does not exist', event_id
				USING ERRCODE = 'undefined_object';
		ELSIF delivered THEN
			RAISE EXCEPTION 'payload of event % is no longer kept', event_id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'The event was delivered and its payload removed; only its delivery history is left.',
					  HINT = 'Set "webhook.payload_retention" to keep delivered events'' payloads for replay.';
		ELSE
			RAISE EXCEPTION 'payload of event % is no longer kept', event_id
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'The event was removed from the outbox; only its delivery history is left.',
					  HINT = 'Raise "webhook.retention" to keep dead events longer.';
		END IF;
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

/*
 * Replay: the events the outbox still holds sent again, with their
 * webhook-ids: dead ones, and delivered ones while
 * webhook.payload_retention keeps them (a delivered event whose row is gone
 * has no payload left to send).  status picks 'delivered' or 'dead' only,
 * NULL both.
 */
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

COMMENT ON FUNCTION webhook.replay(text, timestamptz, timestamptz, boolean, text) IS
'Send an endpoint''s dead events, and the delivered events whose payloads are kept, created in [since, until) again (only those in state status, if given), with their original webhook-ids';

/*
 * Discarding: pending events stop being sent and become dead; history is
 * kept.  An event in flight may still arrive once.
 */
CREATE OR REPLACE FUNCTION webhook.discard(event_id bigint)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF event_id IS NULL THEN
		RAISE EXCEPTION 'argument "event_id" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	UPDATE webhook.event ev
	SET state = 'dead', finished_at = clock_timestamp()
	WHERE ev.id = discard.event_id AND ev.state = 'pending';
	IF NOT FOUND THEN
		-- an event the history alone knows of was delivered or is dead
		IF NOT EXISTS (SELECT FROM webhook.event ev
					   WHERE ev.id = discard.event_id)
		   AND NOT EXISTS (SELECT FROM webhook.attempt a
						   WHERE a.event_id = discard.event_id) THEN
			RAISE EXCEPTION 'event % does not exist', event_id
				USING ERRCODE = 'undefined_object';
		END IF;
		RAISE EXCEPTION 'event % is not pending', event_id
			USING ERRCODE = 'object_not_in_prerequisite_state';
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Privileges
 * --------------------------------------------------------------------- */

/* the history's tables are nobody's but the owner's, as every table is */
REVOKE ALL ON webhook.attempt, webhook.attempt_0, webhook.attempt_1,
	webhook.attempt_2, webhook.attempt_3, webhook.attempt_4,
	webhook.attempt_5, webhook.attempt_6, webhook.attempt_7,
	webhook.attempt_segment FROM PUBLIC;

/* webhook_admin reads and writes the history through its parent */
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook.attempt TO webhook_admin;
