/* webhook--0.6.0--0.7.0.sql: update the webhook extension from 0.6.0 to 0.7.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.7.0'" to load this file. \quit

/*
 * Brings an installed 0.6.0 to what webhook--0.7.0.sql installs: events
 * keep the W3C trace context of the transaction that captured them;
 * counters in shared memory, an event's story told by explain_event(), and
 * the progress of long operations.  Only what differs is restated here;
 * webhook--0.7.0.sql is where the schema reads whole.
 */

/* ---------------------------------------------------------------------
 * Tables
 * --------------------------------------------------------------------- */

ALTER TABLE webhook.event ADD COLUMN traceparent text,
	ADD COLUMN tracestate text;

/* ---------------------------------------------------------------------
 * Statistics: counters kept in shared memory
 * --------------------------------------------------------------------- */

/*
 * The counters kept in shared memory (see src/observe/stats.c): one row
 * per endpoint of this database that has any, and one (endpoint NULL)
 * summing the endpoints beyond "webhook.stats_max_endpoints" when there
 * are some.  Counters count since stats_reset; backlog, oldest_due_seconds
 * and breaker are gauges.  attempts_other counts the attempts that got no
 * class above: a 1xx or other unusual status, a TLS error, an event whose
 * body or endpoint could not be used.  The histograms are cumulative, as
 * Prometheus has them: bucket[i] counts the observations of at most le[i]
 * seconds, count all of them.  Reads no table but webhook.endpoint, for
 * names and tenants; SECURITY DEFINER so that monitoring roles need no
 * privilege on it.
 */
CREATE FUNCTION webhook.stats(
	OUT database name, OUT endpoint text, OUT tenant text,
	OUT captured bigint,
	OUT attempts_2xx bigint, OUT attempts_3xx bigint,
	OUT attempts_4xx bigint, OUT attempts_5xx bigint,
	OUT attempts_timeout bigint, OUT attempts_connection_error bigint,
	OUT attempts_refused bigint, OUT attempts_other bigint,
	OUT delivered bigint, OUT dead bigint, OUT retried bigint,
	OUT bytes_sent bigint,
	OUT backlog bigint, OUT oldest_due_seconds double precision,
	OUT breaker text,
	OUT attempt_seconds_le double precision[],
	OUT attempt_seconds_bucket bigint[],
	OUT attempt_seconds_sum double precision,
	OUT attempt_seconds_count bigint,
	OUT latency_seconds_le double precision[],
	OUT latency_seconds_bucket bigint[],
	OUT latency_seconds_sum double precision,
	OUT latency_seconds_count bigint,
	OUT stats_reset timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'webhook_stats';

COMMENT ON FUNCTION webhook.stats() IS
'Delivery statistics per endpoint, kept in shared memory: events captured, attempts by outcome, deliveries, dead letters, retries, bytes sent, backlog, age of the oldest due event, breaker state, and histograms of attempt duration and of latency from capture to delivery';

REVOKE ALL ON FUNCTION webhook.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.stats() TO webhook_admin, pg_monitor;

/*
 * Clear this database's counters (the gauges stay), or one endpoint's.
 */
CREATE FUNCTION webhook.stats_reset(endpoint text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'webhook_stats_reset';

COMMENT ON FUNCTION webhook.stats_reset(text) IS
'Clear the statistics counters of this database, or of one endpoint';

REVOKE ALL ON FUNCTION webhook.stats_reset(text) FROM PUBLIC;

/*
 * Each endpoint of this database, enabled or not and paused or not, for
 * monitoring roles (pg_monitor) that may read neither webhook.endpoint,
 * which holds secrets, nor webhook.endpoints, which shows URLs.
 */
CREATE FUNCTION webhook.endpoint_status(
	OUT endpoint text, OUT tenant text, OUT enabled boolean,
	OUT paused boolean)
RETURNS SETOF record
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT e.name, e.tenant, e.enabled, e.paused
	FROM webhook.endpoint e
	ORDER BY e.name
$$;

COMMENT ON FUNCTION webhook.endpoint_status() IS
'Each endpoint of this database: whether it is enabled and whether it is paused';

REVOKE ALL ON FUNCTION webhook.endpoint_status() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.endpoint_status() TO webhook_admin, pg_monitor;
GRANT EXECUTE ON FUNCTION webhook.stats_reset(text) TO webhook_admin;

/* ---------------------------------------------------------------------
 * Explaining an event: where it is, and why
 * --------------------------------------------------------------------- */

/*
 * An interval as a person says it: "0.2 s", "40 s", "5 min", "2.5 h",
 * "3.0 days"; the time of a step is in its own column, this is for "in
 * 5 min".
 */
CREATE FUNCTION webhook._explain_span(span interval)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN CASE
	WHEN abs(extract(epoch FROM span)) < 10
		THEN round(extract(epoch FROM span), 1)::text || ' s'
	WHEN abs(extract(epoch FROM span)) < 90
		THEN round(extract(epoch FROM span))::text || ' s'
	WHEN abs(extract(epoch FROM span)) < 90 * 60
		THEN round(extract(epoch FROM span) / 60)::text || ' min'
	WHEN abs(extract(epoch FROM span)) < 36 * 3600
		THEN round(extract(epoch FROM span) / 3600, 1)::text || ' h'
	ELSE round(extract(epoch FROM span) / 86400, 1)::text || ' days' END;

/* a time in the story: to the second, with its zone, whatever DateStyle */
CREATE FUNCTION webhook._explain_time(ts timestamptz)
RETURNS text
LANGUAGE sql STABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN to_char(ts, 'YYYY-MM-DD HH24:MI:SS TZ');

/*
 * The story of one event, in rows in time order, each detail a sentence:
 * how it was captured (the table, the operation, the subscriptions that
 * may have written it, its type and endpoint), each attempt and what came
 * back, and a last row, at now(), saying where the event is and why:
 * delivered, dead (and how to replay it), discarded, or pending, and then
 * what holds it back, tested in the order the worker applies its rules:
 * a paused or disabled endpoint, the ordering of its key, the circuit
 * breaker, its own retry time, and otherwise that it is due, with the
 * rate limit, batching and backlog ahead of it; and whether a worker
 * serves this database at all.
 *
 * An id the outbox does not hold is told from its history when the
 * history has it (a delivered event whose row was removed, a dead one past
 * webhook.retention); otherwise one row says so and why that may be.  It
 * never raises an error for an id.
 *
 * It runs as its caller (SECURITY INVOKER): row-level security shows a
 * tenant its own events only, so another tenant's event reads as one that
 * is not there.  A tenant may not read an endpoint's delivery policy (its
 * retry schedule, ordering, rate limit, batching): the story then leaves
 * what depends on it out, rather than failing.
 */
CREATE FUNCTION webhook.explain_event(event_id bigint)
RETURNS TABLE(at timestamptz, step text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
	ev webhook.event;
	found_event boolean;
	ep_name text;
	ep_url text;
	ep_tenant text;
	ep_enabled boolean;
	ep_paused boolean;
	ep_reason text;
	ep_since timestamptz;
	ep_found boolean := false;
	-- the delivery policy, NULL when this role may not read it
	policy_known boolean;
	ep_schedule interval[];
	ep_ordering text;
	ep_rate real;
	ep_batch integer;
	ep_threshold integer;
	ep_window interval;
	h webhook.endpoint_health;
	a record;
	n_attempts integer := 0;
	last_attempt integer;
	last_status integer;
	last_final boolean := false;
	last_end timestamptz;
	body jsonb;
	data jsonb;
	ev_type text;
	tbl_schema text;
	tbl_name text;
	tbl_op text;
	tbl regclass;
	subs text;
	sentence text;
	k integer;
	n integer;
	head record;
	ahead bigint;
	worker_note text;
	last_id bigint;
	ts_now timestamptz := now();
	-- how this role sends an event again: webhook.retry(), or for a
	-- tenant webhook.tenant_replay() over its creation time; NULL: neither
	again text;
	retry_now text := '';
BEGIN
	IF event_id IS NULL THEN
		RETURN QUERY SELECT ts_now, 'not found'::text,
			'No event was named: the event id is NULL.'::text;
		RETURN;
	END IF;

	SELECT * INTO ev FROM webhook.event e
	WHERE e.id OPERATOR(pg_catalog.=) explain_event.event_id;
	found_event := FOUND;
	IF has_function_privilege(to_regprocedure('webhook.retry(bigint)'), 'EXECUTE') THEN
		again := format('webhook.retry(%s)', event_id);
		retry_now := format(' webhook.retry(%s) sends it now.', event_id);
	ELSIF found_event
		  AND has_function_privilege(to_regprocedure('webhook.tenant_replay(timestamptz, timestamptz, text, text)'), 'EXECUTE') THEN
		again := format('webhook.tenant_replay(%L, %L)', ev.created_at,
						ev.created_at OPERATOR(pg_catalog.+) interval '1 microsecond');
	END IF;

	/* the endpoint, as far as this role may read it */
	SELECT e.name, e.url, e.tenant, e.enabled, e.paused, e.disabled_reason,
		   e.disabled_at, true
	INTO ep_name, ep_url, ep_tenant, ep_enabled, ep_paused, ep_reason,
		 ep_since, ep_found
	FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) coalesce(ev.endpoint_id,
		(SELECT a.endpoint_id FROM webhook.attempt a
		 WHERE a.event_id OPERATOR(pg_catalog.=) explain_event.event_id
		 LIMIT 1));
	ep_found := coalesce(ep_found, false);
	policy_known := has_column_privilege('webhook.endpoint', 'retry_schedule', 'SELECT')
		AND has_column_privilege('webhook.endpoint', 'ordering', 'SELECT')
		AND has_column_privilege('webhook.endpoint', 'rate_limit', 'SELECT')
		AND has_column_privilege('webhook.endpoint', 'batch_max_events', 'SELECT')
		AND has_column_privilege('webhook.endpoint', 'failure_threshold', 'SELECT')
		AND has_column_privilege('webhook.endpoint', 'failure_window', 'SELECT');
	IF ep_found AND policy_known THEN
		SELECT e.retry_schedule, e.ordering, e.rate_limit, e.batch_max_events,
			   e.failure_threshold, e.failure_window
		INTO ep_schedule, ep_ordering, ep_rate, ep_batch, ep_threshold,
			 ep_window
		FROM webhook.endpoint e
		WHERE e.id OPERATOR(pg_catalog.=) coalesce(ev.endpoint_id,
			(SELECT a.endpoint_id FROM webhook.attempt a
			 WHERE a.event_id OPERATOR(pg_catalog.=) explain_event.event_id
			 LIMIT 1));
	END IF;

	/* captured */
	IF found_event THEN
		body := webhook._event_body(coalesce(ev.payload,
			(SELECT m.payload FROM webhook.message m
			 WHERE m.id OPERATOR(pg_catalog.=) ev.message_id)),
			ev.created_at)::jsonb;
		ev_type := body ->> 'type';
		data := CASE WHEN jsonb_typeof(body -> 'data') OPERATOR(pg_catalog.=) 'object'
					 THEN body -> 'data' END;
		IF data ? 'table' AND data ? 'op' THEN
			tbl_schema := data ->> 'schema';
			tbl_name := data ->> 'table';
			tbl_op := upper(data ->> 'op');
		ELSIF body ? 'table' AND body ? 'record' THEN
			-- the Supabase format: "type" is the operation
			tbl_schema := body ->> 'schema';
			tbl_name := body ->> 'table';
			tbl_op := body ->> 'type';
		END IF;
		IF tbl_name IS NOT NULL THEN
			tbl := to_regclass(format('%I.%I', tbl_schema, tbl_name));
		END IF;
		IF tbl IS NOT NULL
		   AND has_table_privilege('webhook.subscriptions', 'SELECT') THEN
			SELECT string_agg(
					   format('"%s" (%s)', s.trigger_name,
							  CASE s.routing
								  WHEN 'endpoint' THEN format('to endpoint "%s"', s.endpoint)
								  WHEN 'broadcast' THEN 'broadcast to every endpoint that takes its type'
								  ELSE format('routed by tenant, from %s', s.tenant) END),
					   ' or ' ORDER BY s.trigger_name)
			INTO subs
			FROM webhook.subscriptions s
			WHERE s.table_name OPERATOR(pg_catalog.=) tbl
			  AND (s.endpoint OPERATOR(pg_catalog.=) ep_name
				   OR s.routing OPERATOR(pg_catalog.<>) 'endpoint');
		END IF;
		IF tbl_name IS NOT NULL THEN
			sentence := format('Captured from an %s on table %s', tbl_op,
							   coalesce(tbl::text, format('%I.%I', tbl_schema, tbl_name)));
			IF subs IS NOT NULL THEN
				sentence := sentence || format(' by subscription %s', subs);
			END IF;
			sentence := sentence || format(', as event type "%s"', ev_type);
		ELSIF ev_type OPERATOR(pg_catalog.=) 'webhook.test' THEN
			sentence := 'Queued by webhook.send_test(), as event type "webhook.test"';
		ELSE
			sentence := format('Written to the outbox as event type "%s"',
							   coalesce(ev_type, 'unknown'));
		END IF;
		sentence := sentence || format(', for endpoint %s, with webhook-id %s.',
			CASE WHEN ep_found THEN format('"%s" (%s)', ep_name, ep_url)
				 ELSE format('%s, which no longer exists', ev.endpoint_id) END,
			webhook.webhook_id(ev.msg_id));
		IF ev.traceparent IS NOT NULL AND ev.tracestate IS NOT NULL THEN
			sentence := sentence || format(' Its transaction''s trace context is %s, with tracestate %s.',
										   ev.traceparent, ev.tracestate);
		ELSIF ev.traceparent IS NOT NULL THEN
			sentence := sentence || format(' Its transaction''s trace context is %s.',
										   ev.traceparent);
		END IF;
		RETURN QUERY SELECT ev.created_at, 'captured'::text, sentence;
	END IF;

	/* the attempts, from the history */
	FOR a IN
		SELECT a.attempt, a.started_at, a.created_at, a.endpoint_id, a.msg_id,
			   a.duration_us, a.status, a.final, a.error, a.response
		FROM webhook.attempt a
		WHERE a.event_id OPERATOR(pg_catalog.=) explain_event.event_id
		ORDER BY a.started_at, a.attempt
	LOOP
		IF n_attempts OPERATOR(pg_catalog.=) 0 AND NOT found_event THEN
			RETURN QUERY SELECT a.created_at, 'captured'::text,
				format('Captured for endpoint %s, with webhook-id %s. Its outbox row is gone, and with it its payload, type and table; the delivery history below is all that is left of it.',
					   CASE WHEN ep_found THEN format('"%s" (%s)', ep_name, ep_url)
							ELSE format('%s, which no longer exists', a.endpoint_id) END,
					   webhook.webhook_id(a.msg_id));
		END IF;
		n_attempts := n_attempts OPERATOR(pg_catalog.+) 1;
		last_attempt := a.attempt;
		last_status := a.status;
		last_final := a.final;
		last_end := a.started_at + a.duration_us * interval '1 microsecond';
		IF a.status BETWEEN 200 AND 299 THEN
			sentence := format('Attempt %s succeeded in %s ms: the receiver answered HTTP %s.',
							   a.attempt, round(a.duration_us / 1000.0), a.status);
		ELSIF a.status IS NOT NULL THEN
			sentence := format('Attempt %s failed in %s ms: the receiver answered HTTP %s%s.',
							   a.attempt, round(a.duration_us / 1000.0), a.status,
							   CASE WHEN coalesce(a.response, '') OPERATOR(pg_catalog.<>) ''
									THEN format(' with "%s"',
												CASE WHEN length(a.response) OPERATOR(pg_catalog.>) 200
													 THEN left(a.response, 200) || '...'
													 ELSE a.response END)
									ELSE '' END);
			IF a.error IS NOT NULL THEN
				sentence := sentence || format(' The worker noted: %s.', a.error);
			END IF;
		ELSE
			sentence := format('Attempt %s failed after %s ms with no answer: %s.',
							   a.attempt, round(a.duration_us / 1000.0),
							   coalesce(a.error, 'no response'));
		END IF;
		IF a.final THEN
			sentence := sentence || CASE WHEN a.status BETWEEN 200 AND 299
				THEN ' The event was delivered.'
				ELSE ' It was the last attempt: the event became dead.' END;
		END IF;
		RETURN QUERY SELECT a.started_at, 'attempt'::text, sentence;
	END LOOP;

	/* not there at all */
	IF NOT found_event AND n_attempts OPERATOR(pg_catalog.=) 0 THEN
		sentence := format('Event %s is not in the outbox, and the delivery history has no attempt of it.',
						   event_id);
		IF webhook.current_tenant() IS NULL
		   AND has_sequence_privilege('webhook.event_id_seq', 'SELECT') THEN
			last_id := pg_sequence_last_value('webhook.event_id_seq');
		END IF;
		IF last_id IS NOT NULL AND event_id OPERATOR(pg_catalog.>) last_id THEN
			sentence := sentence || format(' No event has had an id this high yet: the sequence of event ids stands at %s.',
										   last_id);
		ELSE
			sentence := sentence || format(' It may never have been captured (its transaction rolled back, a subscription''s condition did not match the row, or a session''s cached id went unused); or it was removed: a delivered event leaves the outbox at once unless "webhook.payload_retention" keeps it (now %s), a dead one after "webhook.retention" (now %s), and its attempts leave the history after "webhook.retention" too, or when its endpoint was dropped.',
					coalesce(current_setting('webhook.payload_retention', true), 'unknown'),
					coalesce(current_setting('webhook.retention', true), 'unknown'));
		END IF;
		RETURN QUERY SELECT ts_now, 'not found'::text, sentence;
		RETURN;
	END IF;

	/* known from the history alone */
	IF NOT found_event THEN
		IF last_final AND coalesce(last_status BETWEEN 200 AND 299, false) THEN
			RETURN QUERY SELECT last_end,
				'delivered'::text,
				format('Delivered by attempt %s, then removed from the outbox, as delivered events are unless "webhook.payload_retention" keeps them; its payload cannot be sent again.',
					   last_attempt);
		ELSIF last_final THEN
			RETURN QUERY SELECT ts_now, 'removed'::text,
				format('Dead after %s attempts, and removed from the outbox after "webhook.retention" (now %s); its payload cannot be sent again.',
					   last_attempt,
					   coalesce(current_setting('webhook.retention', true), 'unknown'));
		ELSIF NOT ep_found THEN
			RETURN QUERY SELECT ts_now, 'removed'::text,
				'Removed from the outbox with its endpoint, which was dropped.'::text;
		ELSE
			RETURN QUERY SELECT ts_now, 'removed'::text,
				format('Removed from the outbox after attempt %s without being delivered: it was discarded and then expired after "webhook.retention", or deleted by hand.',
					   last_attempt);
		END IF;
		RETURN;
	END IF;

	/* where it is now */
	IF ev.state OPERATOR(pg_catalog.=) 'delivered' THEN
		RETURN QUERY SELECT ts_now, 'delivered'::text,
			format('Delivered at %s%s. Its row stays in the outbox for "webhook.payload_retention" (now %s)%s.',
				   webhook._explain_time(ev.finished_at),
				   CASE WHEN last_final AND last_status BETWEEN 200 AND 299
						THEN format(' by attempt %s', last_attempt) ELSE '' END,
				   coalesce(current_setting('webhook.payload_retention', true), 'unknown'),
				   CASE WHEN again IS NOT NULL
						THEN format(', so %s can still send it again', again)
						ELSE '' END);
		RETURN;
	END IF;

	IF ev.state OPERATOR(pg_catalog.=) 'dead' THEN
		IF ev.attempts OPERATOR(pg_catalog.=) 0 OR NOT last_final
		   OR last_attempt OPERATOR(pg_catalog.<) ev.attempts THEN
			sentence := format('Discarded at %s (webhook.discard()) after %s, and not sent since.',
				webhook._explain_time(ev.finished_at),
				CASE ev.attempts WHEN 0 THEN 'no attempt'
					 WHEN 1 THEN '1 attempt'
					 ELSE ev.attempts || ' attempts' END);
			RETURN QUERY SELECT ts_now, 'discarded'::text,
				sentence || format(' It stays in the outbox for "webhook.retention" (now %s)%s.',
					coalesce(current_setting('webhook.retention', true), 'unknown'),
					CASE WHEN again IS NOT NULL
						 THEN format('; %s sends it again', again) ELSE '' END);
			RETURN;
		END IF;
		sentence := format('Dead since %s, after %s: ',
			webhook._explain_time(ev.finished_at),
			CASE ev.attempts WHEN 1 THEN '1 attempt' ELSE ev.attempts || ' attempts' END);
		IF NOT ep_found THEN
			sentence := sentence || 'its endpoint no longer exists.';
		ELSIF ep_schedule IS NOT NULL
			  AND (ev.attempts OPERATOR(pg_catalog.-) ev.retry_from)
				  OPERATOR(pg_catalog.>=) (1 OPERATOR(pg_catalog.+) cardinality(ep_schedule)) THEN
			sentence := sentence || format('its retry schedule (%s attempts: %s) ran out.',
				1 OPERATOR(pg_catalog.+) cardinality(ep_schedule),
				array_to_string(ARRAY(SELECT webhook._explain_span(x)
									  FROM unnest(ep_schedule) x), ', '));
		ELSIF ep_schedule IS NOT NULL THEN
			sentence := sentence || 'the receiver asked for no more tries.';
		ELSE
			sentence := sentence || 'its last attempt failed and no more were to be made.';
		END IF;
		RETURN QUERY SELECT ts_now, 'dead'::text,
			sentence || format(' It stays in the outbox for "webhook.retention" (now %s)%s.',
				coalesce(current_setting('webhook.retention', true), 'unknown'),
				CASE WHEN again IS NOT NULL
					 THEN format('; %s sends it again, with its webhook-id and a fresh retry schedule', again)
					 ELSE '' END);
		RETURN;
	END IF;

	/* pending: is there a worker at all? */
	IF NOT EXISTS (SELECT FROM pg_stat_activity s
				   WHERE s.backend_type OPERATOR(pg_catalog.=) 'webhook worker'
					 AND s.datname OPERATOR(pg_catalog.=) current_database()) THEN
		IF NOT pg_has_role('pg_read_all_stats', 'USAGE') THEN
			worker_note := NULL;		-- this role cannot see the workers
		ELSIF NOT (string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ',')
				   OPERATOR(pg_catalog.@>) ARRAY['webhook']) THEN
			worker_note := ' But no webhook worker runs for this database: "shared_preload_libraries" does not load webhook, so nothing is sent until it does and the server is restarted.';
		ELSIF coalesce(current_setting('webhook.database', true), '') OPERATOR(pg_catalog.<>) ''
			  AND current_setting('webhook.database', true) OPERATOR(pg_catalog.<>) current_database() THEN
			worker_note := format(' But no webhook worker runs for this database: "webhook.database" is set to "%s", so only that database''s events are delivered.',
								  current_setting('webhook.database', true));
		ELSE
			worker_note := ' But no webhook worker runs for this database now: the launcher starts one when events arrive; if none comes, see the server log ("webhook.max_workers" and "max_worker_processes" bound how many run).';
		END IF;
	END IF;

	IF NOT ep_found THEN
		RETURN QUERY SELECT ts_now, 'held'::text,
			format('Pending, but its endpoint (id %s) no longer exists, so it is never sent. webhook.discard(%s) ends it.',
				   ev.endpoint_id, ev.id);
		RETURN;
	END IF;

	IF ep_paused THEN
		RETURN QUERY SELECT ts_now, 'held'::text,
			format('Pending, held back: endpoint "%s" is paused%s. Its events wait until webhook.resume(''%s''); this one goes then.',
				   ep_name,
				   CASE WHEN ep_since IS NOT NULL
						THEN format(' since %s', webhook._explain_time(ep_since)) ELSE '' END,
				   ep_name) || coalesce(worker_note, '');
		RETURN;
	END IF;

	IF NOT ep_enabled THEN
		RETURN QUERY SELECT ts_now, 'held'::text,
			format('Pending, held back: endpoint "%s" is disabled%s%s. Its events wait until webhook.enable_endpoint(''%s''); this one goes then.',
				   ep_name,
				   CASE WHEN ep_since IS NOT NULL
						THEN format(' since %s', webhook._explain_time(ep_since)) ELSE '' END,
				   CASE WHEN ep_reason IS NOT NULL
						THEN format(' (%s)', ep_reason) ELSE '' END,
				   ep_name) || coalesce(worker_note, '');
		RETURN;
	END IF;

	/* ordered: the oldest pending event of its key goes first */
	IF ev.ordering_key IS NOT NULL
	   AND coalesce(ep_ordering OPERATOR(pg_catalog.<>) 'none', true) THEN
		SELECT o.id, o.attempts, o.next_attempt_at INTO head
		FROM webhook.event o
		WHERE o.state OPERATOR(pg_catalog.=) 'pending'
		  AND o.ordering_key IS NOT NULL
		  AND o.endpoint_id OPERATOR(pg_catalog.=) ev.endpoint_id
		  AND o.ordering_key OPERATOR(pg_catalog.=) ev.ordering_key
		  AND o.id OPERATOR(pg_catalog.<) ev.id
		ORDER BY o.id LIMIT 1;
		IF FOUND THEN
			RETURN QUERY SELECT ts_now, 'held'::text,
				format('Pending, held back by ordering: endpoint "%s" delivers %s in capture order, and event %s, captured before it, is not delivered yet (%s). This one goes once event %s is delivered or dead; webhook.explain_event(%s) tells why it waits.',
					   ep_name,
					   CASE WHEN ev.ordering_key OPERATOR(pg_catalog.=) ''
							THEN 'its events one at a time'
							ELSE format('the events of each row key (this one''s is %s)', ev.ordering_key) END,
					   head.id,
					   CASE WHEN head.attempts OPERATOR(pg_catalog.=) 0
							THEN 'not attempted yet'
							ELSE format('%s attempts so far, the next %s', head.attempts,
										CASE WHEN head.next_attempt_at OPERATOR(pg_catalog.<=) ts_now THEN 'due now'
											 ELSE 'in ' || webhook._explain_span(head.next_attempt_at OPERATOR(pg_catalog.-) ts_now) END) END,
					   head.id, head.id) || coalesce(worker_note, '');
			RETURN;
		END IF;
	END IF;

	/* the circuit breaker: a failing endpoint gets one probe at a time */
	SELECT * INTO h FROM webhook.endpoint_health eh
	WHERE eh.endpoint_id OPERATOR(pg_catalog.=) ev.endpoint_id;
	IF FOUND AND h.next_probe_at IS NOT NULL
	   AND h.consecutive_failures OPERATOR(pg_catalog.>=) 3 THEN
		RETURN QUERY SELECT ts_now, 'held'::text,
			format('Pending, held back by the circuit breaker: endpoint "%s" has failed %s attempts in a row since %s (last: %s), so the worker sends it one request at a time, a probe; the next probe is %s. Its other events wait until a probe succeeds.%s%s',
				   ep_name, h.consecutive_failures,
				   webhook._explain_time(h.failing_since),
				   coalesce(h.last_error, 'unknown'),
				   CASE WHEN h.next_probe_at OPERATOR(pg_catalog.<=) ts_now THEN 'due now'
						ELSE format('at %s, in %s', webhook._explain_time(h.next_probe_at),
									webhook._explain_span(h.next_probe_at OPERATOR(pg_catalog.-) ts_now)) END,
				   CASE WHEN again IS NOT NULL AND retry_now OPERATOR(pg_catalog.<>) ''
						THEN format(' %s makes this event the probe, now.', again)
						ELSE '' END,
				   CASE WHEN ep_threshold IS NOT NULL
						THEN format(' The breaker disables the endpoint after %s failures in a row, or after %s of failures only.',
									ep_threshold, ep_window)
						ELSE '' END) || coalesce(worker_note, '');
		RETURN;
	END IF;

	/* its own retry time */
	IF ev.next_attempt_at OPERATOR(pg_catalog.>) ts_now THEN
		IF ev.next_attempt_at OPERATOR(pg_catalog.=) 'infinity' THEN
			RETURN QUERY SELECT ts_now, 'held'::text,
				format('Pending, parked: its next attempt is at infinity, as while its endpoint was disabled or paused, although endpoint "%s" is enabled now.',
					   ep_name) || retry_now || coalesce(worker_note, '');
			RETURN;
		END IF;
		k := ev.attempts OPERATOR(pg_catalog.-) ev.retry_from OPERATOR(pg_catalog.+) 1;
		n := 1 OPERATOR(pg_catalog.+) cardinality(ep_schedule);
		sentence := format('Pending, waiting for its next attempt at %s, in %s',
						   webhook._explain_time(ev.next_attempt_at),
						   webhook._explain_span(ev.next_attempt_at OPERATOR(pg_catalog.-) ts_now));
		IF ev.attempts OPERATOR(pg_catalog.=) 0 THEN
			sentence := sentence || '.';
		ELSIF n IS NULL THEN
			sentence := sentence || format(': attempt %s.', ev.attempts OPERATOR(pg_catalog.+) 1);
		ELSIF k OPERATOR(pg_catalog.<) n THEN
			sentence := sentence || format(': attempt %s of %s on its retry schedule; if it fails, the next is about %s later.',
										   k, n, webhook._explain_span(ep_schedule[k]));
		ELSE
			sentence := sentence || format(': attempt %s of %s, the last on its retry schedule; if it fails, the event becomes dead, and is kept for "webhook.retention" to be replayed.',
										   k, n);
		END IF;
		sentence := sentence || retry_now;
		RETURN QUERY SELECT ts_now, 'waiting'::text, sentence || coalesce(worker_note, '');
		RETURN;
	END IF;

	/* due: the worker takes it in its turn */
	-- counted through event_claim_idx, and no further than a big backlog
	SELECT count(*) INTO ahead FROM (
		SELECT FROM webhook.event o
		WHERE o.endpoint_id OPERATOR(pg_catalog.=) ev.endpoint_id
		  AND o.state OPERATOR(pg_catalog.=) 'pending'
		  AND o.next_attempt_at OPERATOR(pg_catalog.<=) ts_now
		  AND (o.next_attempt_at, o.id) OPERATOR(pg_catalog.<) (ev.next_attempt_at, ev.id)
		LIMIT 100001) o;
	sentence := format('Pending and due since %s: the worker should be sending it now',
					   webhook._explain_time(ev.next_attempt_at));
	IF ahead OPERATOR(pg_catalog.>) 0 THEN
		sentence := sentence || format(', after the %s due event%s of endpoint "%s" ahead of it',
									   CASE WHEN ahead OPERATOR(pg_catalog.>) 100000
											THEN 'more than 100000' ELSE ahead::text END,
									   CASE WHEN ahead OPERATOR(pg_catalog.=) 1 THEN '' ELSE 's' END,
									   ep_name);
	END IF;
	sentence := sentence || '.';
	IF ep_rate IS NOT NULL THEN
		sentence := sentence || format(' The endpoint is rate-limited to %s events a second%s.',
			ep_rate,
			CASE WHEN ahead OPERATOR(pg_catalog.>) 0
				 THEN format(', so it goes in about %s',
							 webhook._explain_span(ahead / ep_rate * interval '1 second'))
				 ELSE '' END);
	END IF;
	IF ep_batch IS NOT NULL THEN
		sentence := sentence || format(' The endpoint takes batches: it goes with up to %s others in one request.',
									   ep_batch OPERATOR(pg_catalog.-) 1);
	END IF;
	RETURN QUERY SELECT ts_now, 'due'::text, sentence || coalesce(worker_note, '');
END
$$;

COMMENT ON FUNCTION webhook.explain_event(bigint) IS
'Why an event is where it is: its capture, each attempt, and a last row saying whether it was delivered, is dead, or what holds it back';

/*
 * The same story by webhook-id ("msg_" and 32 hex digits, as sent in the
 * header): the story of every event with that id, one per endpoint a
 * change went to, in id order.  A string of digits is taken for an event
 * id.  The outbox has no index on msg_id: this reads it whole, and the
 * history whole for an id the outbox no longer holds.
 */
CREATE FUNCTION webhook.explain_event(webhook_id text)
RETURNS TABLE(at timestamptz, step text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
	u uuid;
	id bigint;
	n integer := 0;
BEGIN
	IF webhook_id ~ '^\s*[0-9]{1,18}\s*$' THEN
		RETURN QUERY SELECT * FROM webhook.explain_event(btrim(webhook_id)::bigint);
		RETURN;
	END IF;
	IF webhook_id !~ '^msg_[0-9a-fA-F]{32}$' THEN
		RETURN QUERY SELECT now(), 'not found'::text,
			format('"%s" is not a webhook-id: a webhook-id is "msg_" followed by 32 hexadecimal digits, as sent in the webhook-id header.',
				   coalesce(webhook_id, 'NULL'));
		RETURN;
	END IF;
	u := substr(webhook_id, 5)::uuid;
	FOR id IN
		SELECT e.id FROM webhook.event e
		WHERE e.msg_id OPERATOR(pg_catalog.=) u
		UNION
		SELECT a.event_id FROM webhook.attempt a
		WHERE a.msg_id OPERATOR(pg_catalog.=) u
		  AND NOT EXISTS (SELECT FROM webhook.event e
						  WHERE e.msg_id OPERATOR(pg_catalog.=) u)
		ORDER BY 1
	LOOP
		RETURN QUERY SELECT * FROM webhook.explain_event(id);
		n := n OPERATOR(pg_catalog.+) 1;
	END LOOP;
	IF n OPERATOR(pg_catalog.=) 0 THEN
		RETURN QUERY SELECT now(), 'not found'::text,
			format('No event with webhook-id %s is in the outbox or the delivery history. It may never have been captured (its transaction rolled back, or a subscription''s condition did not match the row), or it was removed with its history after "webhook.retention" (now %s).',
				   webhook_id,
				   coalesce(current_setting('webhook.retention', true), 'unknown'));
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.explain_event(text) IS
'Why the events with this webhook-id are where they are, as webhook.explain_event(bigint) tells it';

/*
 * The story as one text, a line a step ("time  step  detail"), for a
 * terminal or a support ticket: psql's aligned output of the rows is as
 * wide as the longest detail.
 */
CREATE FUNCTION webhook.explain_event_text(event_id bigint)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT string_agg(format('%s  %-9s  %s', webhook._explain_time(s.at),
							 s.step, s.detail), E'\n' ORDER BY s.n)
	FROM webhook.explain_event(event_id) WITH ORDINALITY AS s(at, step, detail, n);
END;

COMMENT ON FUNCTION webhook.explain_event_text(bigint) IS
'webhook.explain_event() as one text, a line a step';

CREATE FUNCTION webhook.explain_event_text(webhook_id text)
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
	SELECT string_agg(format('%s  %-9s  %s', webhook._explain_time(s.at),
							 s.step, s.detail), E'\n' ORDER BY s.n)
	FROM webhook.explain_event(webhook_id) WITH ORDINALITY AS s(at, step, detail, n);
END;

COMMENT ON FUNCTION webhook.explain_event_text(text) IS
'webhook.explain_event() by webhook-id as one text, a line a step';

/* run as the caller, so a tenant is shown its own events only */
REVOKE ALL ON FUNCTION webhook._explain_span(interval),
	webhook._explain_time(timestamptz),
	webhook.explain_event(bigint), webhook.explain_event(text),
	webhook.explain_event_text(bigint), webhook.explain_event_text(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook._explain_span(interval),
	webhook._explain_time(timestamptz),
	webhook.explain_event(bigint), webhook.explain_event(text),
	webhook.explain_event_text(bigint), webhook.explain_event_text(text)
	TO webhook_admin, webhook_tenant;

/* ---------------------------------------------------------------------
 * Progress of long operations
 * --------------------------------------------------------------------- */

/*
 * Long operations report how far they are in shared memory, one row per
 * running operation: a replay (replay(), tenant_replay(), the bulk
 * discard()), the worker's drain of a large backlog, an update script that
 * migrates events.  The view shows every database's operations, as
 * PostgreSQL's pg_stat_progress_* views do, to members of pg_monitor and
 * webhook_admin; anyone else sees only operations begun by a role whose
 * privileges they have (a tenant's own tenant_replay()).  rate is per
 * second since the start, and eta extrapolates it.  A row ends with its operation: when a
 * function returns, fails or is cancelled, when a drain is done.
 *
 * The three helpers are for functions that run in the caller's
 * transaction: begin, report after each batch (true when a NOTICE is
 * due: another tenth done, or five seconds since the last), end.  What is
 * begun ends with the transaction at the latest.  An update script that
 * rewrites pending events uses them the same way, once the step that
 * creates them has run: _progress_begin('update', 'migrating events',
 * total), then a batch of ids at a time with _progress_advance() and a
 * NOTICE when it says so, then _progress_end().
 */
CREATE FUNCTION webhook._progress_begin(operation text, phase text DEFAULT NULL,
										total bigint DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'wh_sql_progress_begin'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION webhook._progress_begin(text, text, bigint) IS
'Begin reporting a long operation of this session in webhook.progress';

CREATE FUNCTION webhook._progress_advance(done bigint, total bigint DEFAULT NULL,
										  phase text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'wh_sql_progress_advance'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION webhook._progress_advance(bigint, bigint, text) IS
'Report how far this session''s long operation is; true when a NOTICE is due';

CREATE FUNCTION webhook._progress_end()
RETURNS void
AS 'MODULE_PATHNAME', 'wh_sql_progress_end'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION webhook._progress_end() IS
'End reporting this session''s long operation';

CREATE FUNCTION webhook._progress(OUT pid integer, OUT dboid oid,
								  OUT operation text, OUT phase text,
								  OUT done bigint, OUT total bigint,
								  OUT started_at timestamptz,
								  OUT updated_at timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'wh_sql_progress'
LANGUAGE C VOLATILE;

COMMENT ON FUNCTION webhook._progress() IS
'The long operations running in the cluster, as shared memory holds them';

CREATE VIEW webhook.progress AS
SELECT p.pid, d.datname AS database, p.operation, p.phase, p.done, p.total,
	   CASE WHEN p.total OPERATOR(pg_catalog.>) 0
			THEN pg_catalog.round(100.0 OPERATOR(pg_catalog.*)
					LEAST(p.done, p.total)
					OPERATOR(pg_catalog./) p.total, 1) END AS percent,
	   CASE WHEN r.seconds OPERATOR(pg_catalog.>) 0
			THEN p.done OPERATOR(pg_catalog./) r.seconds END AS rate,
	   p.started_at, p.updated_at,
	   CASE WHEN p.total OPERATOR(pg_catalog.>=) p.done
				 AND p.done OPERATOR(pg_catalog.>) 0
			THEN p.updated_at OPERATOR(pg_catalog.+)
				 pg_catalog.make_interval(secs =>
					(p.total OPERATOR(pg_catalog.-) p.done)
					OPERATOR(pg_catalog.*) r.seconds
					OPERATOR(pg_catalog./) p.done) END AS eta
FROM webhook._progress() p
LEFT JOIN pg_catalog.pg_database d ON d.oid OPERATOR(pg_catalog.=) p.dboid
CROSS JOIN LATERAL (SELECT pg_catalog.date_part('epoch',
						p.updated_at OPERATOR(pg_catalog.-) p.started_at)
					AS seconds) r;

COMMENT ON VIEW webhook.progress IS
'Long operations running now (replays, the worker''s drain of a backlog, update scripts): done, total, rate and estimated finish';
COMMENT ON COLUMN webhook.progress.rate IS
'Units done per second since the operation began';
COMMENT ON COLUMN webhook.progress.eta IS
'When the operation should finish at its rate so far';

REVOKE ALL ON FUNCTION webhook._progress_begin(text, text, bigint),
	webhook._progress_advance(bigint, bigint, text), webhook._progress_end(),
	webhook._progress() FROM PUBLIC;
REVOKE ALL ON webhook.progress FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook._progress() TO pg_monitor;
GRANT SELECT ON webhook.progress TO pg_monitor;
GRANT EXECUTE ON FUNCTION webhook._progress_begin(text, text, bigint),
	webhook._progress_advance(bigint, bigint, text), webhook._progress_end(),
	webhook._progress() TO webhook_admin;
GRANT SELECT ON webhook.progress TO webhook_admin;
GRANT EXECUTE ON FUNCTION webhook._progress_begin(text, text, bigint),
	webhook._progress_advance(bigint, bigint, text), webhook._progress_end()
	TO webhook_tenant;
GRANT EXECUTE ON FUNCTION webhook._progress() TO webhook_tenant;
GRANT SELECT ON webhook.progress TO webhook_tenant;

/* The bulk operations now work in batches and report their progress */
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
	n bigint := 0;
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
	-- in batches of ids, reported in webhook.progress (and by NOTICEs when
	-- there are more than one batch's worth): all in this transaction
	DECLARE
		k bigint;
		total bigint;
		lo bigint;
		hi bigint;
		step constant bigint := 10000;	-- ids a batch covers
	BEGIN
		PERFORM webhook._progress_begin('replay', 'counting events');
		SELECT count(*), min(ev.id), max(ev.id) INTO total, lo, hi
		FROM webhook.event ev
		WHERE ev.endpoint_id = ep.id AND ev.state <> 'pending'
		  AND ev.created_at >= since
		  AND (replay."until" IS NULL OR ev.created_at < replay."until")
		  AND (NOT coalesce(only_dead, false) OR ev.state = 'dead')
		  AND (replay.status IS NULL OR ev.state::text = replay.status);
		PERFORM webhook._progress_advance(0, total, 'replaying events');
		WHILE lo <= hi LOOP
			UPDATE webhook.event ev
			SET state = 'pending',
				next_attempt_at = CASE WHEN (SELECT e.enabled FROM webhook.endpoint e
											 WHERE e.id = ev.endpoint_id)
									   THEN clock_timestamp() ELSE 'infinity' END,
				finished_at = NULL, retry_from = ev.attempts
			WHERE ev.id >= lo AND ev.id < lo + step
			  AND ev.endpoint_id = ep.id AND ev.state <> 'pending'
			  AND ev.created_at >= since
			  AND (replay."until" IS NULL OR ev.created_at < replay."until")
			  AND (NOT coalesce(only_dead, false) OR ev.state = 'dead')
			  AND (replay.status IS NULL OR ev.state::text = replay.status);
			GET DIAGNOSTICS k = ROW_COUNT;
			n := n + k;
			lo := lo + step;
			IF webhook._progress_advance(n) AND total > step THEN
				RAISE NOTICE 'replayed % of % events', n, total;
			END IF;
		END LOOP;
		IF total > step THEN
			RAISE NOTICE 'replayed % events', n;
		END IF;
		PERFORM webhook._progress_end();
	END;
	PERFORM webhook._wake();
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.replay(text, timestamptz, timestamptz, boolean, text) IS
'Send an endpoint''s dead events, and the delivered events whose payloads are kept, created in [since, until) again (only those in state status, if given), with their original webhook-ids';

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
	n bigint := 0;
BEGIN
	ep := webhook._lookup_endpoint(endpoint, 'endpoint', false);
	-- in batches, as replay() does
	DECLARE
		k bigint;
		total bigint;
		lo bigint;
		hi bigint;
		step constant bigint := 10000;	-- ids a batch covers
	BEGIN
		PERFORM webhook._progress_begin('discard', 'counting events');
		SELECT count(*), min(ev.id), max(ev.id) INTO total, lo, hi
		FROM webhook.event ev
		WHERE ev.endpoint_id = ep.id AND ev.state = 'pending'
		  AND (discard.since IS NULL OR ev.created_at >= discard.since)
		  AND (discard."until" IS NULL OR ev.created_at < discard."until")
		  AND (discard.type IS NULL OR
			   webhook._event_body(ev.payload, ev.created_at) ->> 'type' = discard.type);
		PERFORM webhook._progress_advance(0, total, 'discarding events');
		WHILE lo <= hi LOOP
			UPDATE webhook.event ev
			SET state = 'dead', finished_at = clock_timestamp()
			WHERE ev.id >= lo AND ev.id < lo + step
			  AND ev.endpoint_id = ep.id AND ev.state = 'pending'
			  AND (discard.since IS NULL OR ev.created_at >= discard.since)
			  AND (discard."until" IS NULL OR ev.created_at < discard."until")
			  AND (discard.type IS NULL OR
				   webhook._event_body(ev.payload, ev.created_at) ->> 'type' = discard.type);
			GET DIAGNOSTICS k = ROW_COUNT;
			n := n + k;
			lo := lo + step;
			IF webhook._progress_advance(n) AND total > step THEN
				RAISE NOTICE 'discarded % of % events', n, total;
			END IF;
		END LOOP;
		IF total > step THEN
			RAISE NOTICE 'discarded % events', n;
		END IF;
		PERFORM webhook._progress_end();
	END;
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.discard(text, timestamptz, timestamptz, text) IS
'Stop sending an endpoint''s pending events created in [since, until), of one type if given; returns how many';

CREATE OR REPLACE FUNCTION webhook.tenant_replay(since timestamptz,
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
	n bigint := 0;
BEGIN
	IF since IS NULL THEN
		RAISE EXCEPTION 'argument "since" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NOT NULL THEN
		ep_id := webhook._tenant_endpoint(endpoint, t, false);
	END IF;
	-- in batches, as replay() does
	DECLARE
		k bigint;
		total bigint;
		lo bigint;
		hi bigint;
		step constant bigint := 10000;	-- ids a batch covers
	BEGIN
		PERFORM webhook._progress_begin('tenant replay', 'counting events');
		SELECT pg_catalog.count(*), pg_catalog.min(ev.id), pg_catalog.max(ev.id)
		INTO total, lo, hi
		FROM webhook.event ev JOIN webhook.endpoint e
			ON e.id OPERATOR(pg_catalog.=) ev.endpoint_id
		WHERE e.tenant OPERATOR(pg_catalog.=) t
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
		PERFORM webhook._progress_advance(0, total, 'replaying events');
		WHILE lo OPERATOR(pg_catalog.<=) hi LOOP
			UPDATE webhook.event ev
			SET state = 'pending',
				next_attempt_at = CASE WHEN e.enabled THEN pg_catalog.clock_timestamp()
									   ELSE 'infinity' END,
				finished_at = NULL, retry_from = ev.attempts
			FROM webhook.endpoint e
			WHERE ev.id OPERATOR(pg_catalog.>=) lo
			  AND ev.id OPERATOR(pg_catalog.<) (lo OPERATOR(pg_catalog.+) step)
			  AND e.id OPERATOR(pg_catalog.=) ev.endpoint_id
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
			GET DIAGNOSTICS k = ROW_COUNT;
			n := n OPERATOR(pg_catalog.+) k;
			lo := lo OPERATOR(pg_catalog.+) step;
			IF webhook._progress_advance(n) AND total OPERATOR(pg_catalog.>) step THEN
				RAISE NOTICE 'replayed % of % events', n, total;
			END IF;
		END LOOP;
		IF total OPERATOR(pg_catalog.>) step THEN
			RAISE NOTICE 'replayed % events', n;
		END IF;
	END;
	UPDATE webhook.endpoint_health h
	SET next_probe_at = pg_catalog.clock_timestamp()
	FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) h.endpoint_id
	  AND e.tenant OPERATOR(pg_catalog.=) t AND e.enabled
	  AND (ep_id IS NULL OR e.id OPERATOR(pg_catalog.=) ep_id)
	  AND h.consecutive_failures OPERATOR(pg_catalog.>) 0;
	PERFORM webhook._progress_end();
	PERFORM webhook._wake();
	RETURN n;
END
$$;

COMMENT ON FUNCTION webhook.tenant_replay(timestamptz, timestamptz, text, text) IS
'Send a tenant''s failed (pending or dead) events created in [since, until) again now, of one endpoint if given; returns how many';

