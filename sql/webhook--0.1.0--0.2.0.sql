/* webhook--0.1.0--0.2.0.sql: update the webhook extension from 0.1.0 to 0.2.0 */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION webhook UPDATE TO '0.2.0'" to load this file. \quit

/*
 * A new install runs webhook--0.1.0.sql and then this script, so everything
 * 0.2.0 adds or changes lives here, once.  Each part is headed by what it is
 * for.
 */

/*
 * Issue 4 (capture cost): backends keep each capture trigger's endpoint id
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
