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

ALTER TABLE webhook.event ADD COLUMN traceparent text;

/* ---------------------------------------------------------------------
 * Statistics: counters kept in shared memory
 * --------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Explaining an event: where it is, and why
 * --------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * Progress of long operations
 * --------------------------------------------------------------------- */

/*
 * Long operations report how far they are in shared memory, one row per
 * running operation: a replay (replay(), tenant_replay(), the bulk
 * discard()), the worker's drain of a large backlog, an update script that
 * migrates events.  The view shows every database's operations, as
 * PostgreSQL's pg_stat_progress_* views do; rate is per second since the
 * start, and eta extrapolates it.  A row ends with its operation: when a
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

