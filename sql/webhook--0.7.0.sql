/* webhook--0.7.0.sql: install script for the webhook extension */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION webhook" to load this file. \quit

/*
 * The whole schema, top to bottom: the schema guard, types, tables, the
 * functions written in C, the functions written in SQL and PL/pgSQL grouped
 * by what they manage (endpoints, subscriptions, operations, tenants), the
 * views, the event triggers, and last the roles, privileges and row-level
 * security.
 *
 * Every function whose body is parsed when it runs pins its search_path to
 * pg_catalog, pg_temp: the worker fires the endpoint table's triggers, and
 * superusers call the rest in databases other roles own.  The bodies name
 * the extension's objects with their schema.
 */

/* ---------------------------------------------------------------------
 * The schema
 * --------------------------------------------------------------------- */

/*
 * The schema must be the extension's own.  CREATE EXTENSION creates it when
 * it is missing, but quietly uses one that already exists: a schema another
 * role made beforehand would let that role replace or drop the extension's
 * objects, and plant its own beside them, under every function that runs
 * with the owner's rights.  So an existing schema is accepted only when a
 * superuser owns it, nothing is in it yet, and nobody else may create
 * objects in it.
 */
DO $$
DECLARE
	owner_ok boolean;
	is_empty boolean;
	acl_ok boolean;
BEGIN
	SELECT r.rolsuper,
		   NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
					   WHERE d.refclassid OPERATOR(pg_catalog.=)
							 'pg_catalog.pg_namespace'::pg_catalog.regclass
						 AND d.refobjid OPERATOR(pg_catalog.=) n.oid
						 -- this extension, being created, is no object in it
						 AND d.classid OPERATOR(pg_catalog.<>)
							 'pg_catalog.pg_extension'::pg_catalog.regclass),
		   NOT EXISTS (SELECT FROM pg_catalog.aclexplode(n.nspacl) a
					   WHERE a.grantee OPERATOR(pg_catalog.<>) n.nspowner
						 AND a.privilege_type OPERATOR(pg_catalog.=) 'CREATE')
	INTO owner_ok, is_empty, acl_ok
	FROM pg_catalog.pg_namespace n
	JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) n.nspowner
	WHERE n.nspname OPERATOR(pg_catalog.=) 'webhook';

	IF NOT owner_ok THEN
		RAISE EXCEPTION 'schema "webhook" already exists and is not owned by a superuser'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension installs into schema "webhook" and must not share it with objects another role controls.',
				  HINT = 'Drop or rename schema "webhook", then run CREATE EXTENSION webhook again.';
	ELSIF NOT is_empty THEN
		RAISE EXCEPTION 'schema "webhook" already exists and is not empty'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension installs into schema "webhook" and must not share it with objects another role controls.',
				  HINT = 'Drop or rename schema "webhook", then run CREATE EXTENSION webhook again.';
	ELSIF NOT acl_ok THEN
		RAISE EXCEPTION 'schema "webhook" already exists and other roles may create objects in it'
			USING ERRCODE = 'duplicate_schema',
				  DETAIL = 'The extension installs into schema "webhook" and must not share it with objects another role controls.',
				  HINT = 'Drop or rename schema "webhook", or revoke CREATE on it, then run CREATE EXTENSION webhook again.';
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Roles
 * --------------------------------------------------------------------- */

/*
 * webhook_admin manages endpoints and deliveries and may read secrets;
 * webhook_user may subscribe tables it owns (or holds TRIGGER on) to
 * existing endpoints; webhook_receiver may record received requests in the
 * inbox through webhook.receive(); webhook_tenant is the role of the
 * application's customers, directly (a role webhook.grant_tenant() mapped
 * to one tenant) or through a connection the application controls
 * ("webhook.tenant").  Roles belong to the cluster, not to a database:
 * they are created only when missing (another database, or an earlier
 * install, may have made them) and DROP EXTENSION leaves them alone.  They
 * are made first, so that each section may grant what it defines; what
 * each role may do is at the end, under "Roles and privileges".
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
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
				   WHERE rolname = 'webhook_receiver') THEN
		CREATE ROLE webhook_receiver NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles
				   WHERE rolname = 'webhook_tenant') THEN
		CREATE ROLE webhook_tenant NOLOGIN;
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Types
 * --------------------------------------------------------------------- */

/* where an event is in its life: waiting to be sent, sent, or given up */
CREATE TYPE webhook.event_state AS ENUM ('pending', 'delivered', 'dead');

/* ---------------------------------------------------------------------
 * Tables
 * --------------------------------------------------------------------- */

/*
 * Endpoints: where events go, how they are signed, and how they are sent.
 * Users fill this table through create_endpoint() and friends, so pg_dump
 * keeps its rows.
 *
 * previous_secret signs alongside secret until previous_secret_expires_at
 * (a rotation's overlap).  enabled is cleared by the circuit breaker or by
 * a receiver's answer (disabled_reason says which), paused by pause().
 * The delivery policy: failure_threshold consecutive failures, or failures
 * only for failure_window, disable the endpoint; rate_limit caps events a
 * second; ordering is 'none', 'endpoint' (one event at a time) or 'key'
 * (one at a time per row key).  The transport options: a CA bundle, a
 * client certificate and key (PEM text, handed to libcurl in memory, so no
 * server file is ever read), a switch that turns TLS verification off, and
 * a proxy.  secret, previous_secret, client_key and proxy (which may carry
 * credentials) are secrets: no view shows them.  Batching: an endpoint
 * with a batch_max_events receives its events as JSON arrays of up to that
 * many events and batch_max_bytes bytes a request; NULL sends them one by
 * one.
 *
 * Who an endpoint is for, and what it takes: tenant is the application's
 * own key for the customer the endpoint belongs to (NULL for the
 * application's own endpoints), which subscriptions routed by tenant send
 * to; event_types lists the types it accepts, exact names or patterns
 * where "*" stands for any run of characters (NULL takes every type);
 * description and metadata are the application's, never read by the
 * extension.  An operational endpoint receives the extension's own events
 * about the other endpoints (disabled, enabled, failing, recovered, events
 * given up).
 */
CREATE SEQUENCE webhook.endpoint_id_seq AS integer;

CREATE TABLE webhook.endpoint (
	id integer PRIMARY KEY DEFAULT nextval('webhook.endpoint_id_seq'),
	name text NOT NULL UNIQUE CHECK (name <> ''),
	url text NOT NULL,
	secret text NOT NULL,
	previous_secret text,
	previous_secret_expires_at timestamptz,
	headers jsonb NOT NULL DEFAULT '{}',
	timeout interval NOT NULL DEFAULT '15s',
	retry_schedule interval[] NOT NULL
		DEFAULT '{5s,5min,30min,2h,5h,10h,14h,20h,24h}',
	max_in_flight integer CHECK (max_in_flight > 0),
	enabled boolean NOT NULL DEFAULT true,
	disabled_reason text,
	disabled_at timestamptz,
	created_at timestamptz NOT NULL DEFAULT now(),
	-- delivery policy
	failure_threshold integer NOT NULL DEFAULT 1000
		CHECK (failure_threshold > 0),
	failure_window interval NOT NULL DEFAULT '5 days'
		CHECK (failure_window > '0'::interval),
	paused boolean NOT NULL DEFAULT false,
	rate_limit real CHECK (rate_limit > 0),
	ordering text NOT NULL DEFAULT 'none'
		CHECK (ordering IN ('none', 'endpoint', 'key')),
	-- transport
	ca_bundle text,
	client_cert text,
	client_key text,
	tls_insecure boolean NOT NULL DEFAULT false,
	proxy text,
	-- batching
	batch_max_events integer
		CHECK (batch_max_events BETWEEN 1 AND 1000),
	batch_max_bytes integer NOT NULL DEFAULT 1048576
		CHECK (batch_max_bytes BETWEEN 1024 AND 67108864),
	-- tenants and filters
	tenant text CHECK (tenant <> ''),
	description text,
	metadata jsonb NOT NULL DEFAULT '{}',
	event_types text[],
	operational boolean NOT NULL DEFAULT false
);

CREATE INDEX endpoint_tenant_idx ON webhook.endpoint (tenant);
/* the operational endpoints, looked for at every operational event */
CREATE INDEX endpoint_operational_idx ON webhook.endpoint (id)
	WHERE operational;
/*
 * the few endpoints that keep an order or a rate limit, which the worker
 * reads at every claim: with thousands of endpoints, finding them by a
 * scan of the table cost more than the rest of the claim
 */
CREATE INDEX endpoint_ordered_idx ON webhook.endpoint (id)
	WHERE ordering <> 'none';
CREATE INDEX endpoint_rate_limited_idx ON webhook.endpoint (id)
	WHERE rate_limit IS NOT NULL;

ALTER SEQUENCE webhook.endpoint_id_seq OWNED BY webhook.endpoint.id;

SELECT pg_catalog.pg_extension_config_dump('webhook.endpoint', '');
SELECT pg_catalog.pg_extension_config_dump('webhook.endpoint_id_seq', '');

/*
 * The outbox.  One row per event, written by webhook.capture() in the same
 * transaction as the change; the capture writes it by column position, so
 * the columns keep this order.  A row stays while its event is pending,
 * while it is dead (until webhook.retention, so that it can be replayed),
 * and once delivered only while webhook.payload_retention keeps delivered
 * payloads: otherwise the worker deletes it in the transaction that records
 * its delivery, and the history (webhook.attempt) alone tells of the event
 * from then on.
 *
 * msg_id is the webhook-id, fixed at capture and kept on every attempt.
 * attempts counts every attempt ever made; retry_from is the count at
 * which the current retry schedule started (a retry or replay restarts the
 * schedule).  next_attempt_at is 'infinity' while the endpoint is disabled
 * or paused.  ordering_key is the key an ordered endpoint keeps its order
 * by ('' for the whole endpoint, the row's primary key for 'key'), NULL
 * for every other event.  traceparent is the W3C trace context of the
 * transaction that captured the event (the webhook.traceparent setting),
 * NULL when it had none; tracestate the vendors' state that came with it
 * (webhook.tracestate), NULL when none did.
 *
 * payload is a Standard Webhooks body without what can be derived: its
 * "timestamp" (created_at) and, unless the subscription names its own, its
 * "type" (the table and the operation).  Both are added back when the
 * event is sent (see _event_body()), 40 to 65 bytes less per event in the
 * table and the WAL.
 *
 * Each backend takes event ids 64 at a time: a bulk statement otherwise
 * spends as long in nextval() as in building its events.  Ids stay unique
 * and grow within a session; across sessions they interleave, as commit
 * order already made them, and a session that ends leaves a gap.
 */
CREATE SEQUENCE webhook.event_id_seq AS bigint CACHE 64;

CREATE TABLE webhook.event (
	id bigint PRIMARY KEY DEFAULT nextval('webhook.event_id_seq'),
	endpoint_id integer NOT NULL,
	msg_id uuid NOT NULL,
	state webhook.event_state NOT NULL DEFAULT 'pending',
	attempts smallint NOT NULL DEFAULT 0,
	retry_from smallint NOT NULL DEFAULT 0,
	created_at timestamptz NOT NULL,
	next_attempt_at timestamptz NOT NULL,
	finished_at timestamptz,
	payload json,
	ordering_key text,
	message_id bigint,
	traceparent text,
	tracestate text
);

ALTER SEQUENCE webhook.event_id_seq OWNED BY webhook.event.id;

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
 * The outbox's indexes, all of them here.  The worker claims per
 * endpoint: for each endpoint that may send now (enabled, not at its
 * in-flight or rate limit, or due a probe while it fails), the earliest due
 * pending events, up to what that endpoint may take, through
 * event_claim_idx; an endpoint held back for any reason is simply not read,
 * so its backlog costs nothing and is never rewritten.  Retention and the
 * last hour's figures read finished events through event_finished_idx; an
 * ordered endpoint sends only the oldest pending event of each key, found
 * through event_order_idx, which holds those events only.
 */
CREATE INDEX event_claim_idx ON webhook.event (endpoint_id, next_attempt_at, id)
	WHERE state = 'pending';
CREATE INDEX event_finished_idx ON webhook.event (finished_at)
	WHERE state <> 'pending';
CREATE INDEX event_order_idx ON webhook.event (endpoint_id, ordering_key, id)
	WHERE state = 'pending' AND ordering_key IS NOT NULL;
/* the events sharing a payload, found when one of them is removed */
CREATE INDEX event_message_idx ON webhook.event (message_id)
	WHERE message_id IS NOT NULL;

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
 * A BRIN index built on an empty table has its first range summarized, so
 * every row written into it would update the summary.  Left unsummarized,
 * the range costs nothing until autosummarize takes it once it is full.
 * The worker does the same whenever it empties a segment.
 */
SELECT pg_catalog.brin_desummarize_range('webhook.attempt_0_event_idx', 0),
	   pg_catalog.brin_desummarize_range('webhook.attempt_0_started_idx', 0);

/*
 * The outbox is a queue: rows come in at one end and leave at the other
 * (removed when delivered, or after webhook.retention once dead).  Its free
 * space must be reclaimed while it runs, not once a fifth of it is dead, or
 * it grows with every day of traffic.  So autovacuum looks at it after
 * every 2,000 dead rows and does not throttle itself on it (it is small
 * once vacuumed).  The history is insert-only and emptied by TRUNCATE, so
 * autovacuum only needs to visit it to keep its BRIN indexes summarized.
 */
ALTER TABLE webhook.event SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 20000);
ALTER TABLE webhook.message SET (autovacuum_vacuum_scale_factor = 0,
	autovacuum_vacuum_threshold = 2000, autovacuum_vacuum_cost_delay = 0,
	autovacuum_vacuum_insert_scale_factor = 0,
	autovacuum_vacuum_insert_threshold = 20000);

/*
 * Health: what the worker has seen lately, one row per endpoint that ever
 * failed.  Runtime state, not configuration, so pg_dump leaves it out.
 * consecutive_failures counts failed attempts since the last 2xx;
 * failing_since is the first of them.  While an endpoint fails, the worker
 * sends one probe at a time: probe_step counts the failed probes, and the
 * next goes at next_probe_at, at the pace of the retry schedule.
 * failing_reported_at is when endpoint.failing was sent for the failing
 * period under way (see "Operational events"), NULL outside one.
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
	next_probe_at timestamptz,
	failing_reported_at timestamptz
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
 * Which tenant a role acts for: a role listed here is one tenant's own
 * (webhook.grant_tenant() adds it and makes it a member of webhook_tenant),
 * and webhook.current_tenant() gives that tenant whatever the session sets.
 * Keyed by role name, as pg_dump keeps roles by name.  Configuration, so
 * pg_dump keeps its rows.
 */
CREATE TABLE webhook.tenant_role (
	role name PRIMARY KEY,
	tenant text NOT NULL CHECK (tenant <> '' AND octet_length(tenant) <= 255)
);

SELECT pg_catalog.pg_extension_config_dump('webhook.tenant_role', '');

/* ---------------------------------------------------------------------
 * Functions written in C
 * --------------------------------------------------------------------- */

CREATE FUNCTION webhook.capture()
RETURNS trigger
AS 'MODULE_PATHNAME', 'webhook_capture'
LANGUAGE C;

COMMENT ON FUNCTION webhook.capture() IS
'Trigger function: writes each row change to the outbox for the endpoint named by its first argument';

CREATE FUNCTION webhook.sign(secret text, msg_id text, "timestamp" bigint,
							 body text)
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_sign'
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.sign(text, text, bigint, text) IS
'Standard Webhooks signature of msg_id.timestamp.body: "v1,<base64 HMAC-SHA256>" with a "whsec_" secret, "v1a,<base64 Ed25519>" with a "whsk_" secret key';

CREATE FUNCTION webhook.generate_secret(scheme text DEFAULT 'v1')
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_generate_secret'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION webhook.generate_secret(text) IS
'A new random Standard Webhooks secret: for scheme v1 "whsec_" and 32 random bytes in base64, for v1a a "whsk_" Ed25519 secret key';

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

/* an endpoint's URL, secret and headers, each refused when unfit */
CREATE FUNCTION webhook._check_endpoint(url text, secret text, headers jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_endpoint'
LANGUAGE C;

/* an endpoint's CA bundle, client certificate and key, and proxy */
CREATE FUNCTION webhook._check_transport(ca_bundle text, client_cert text,
										 client_key text, proxy text)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_transport'
LANGUAGE C;

/* a capture trigger's arguments, as subscribe() is about to write them */
CREATE FUNCTION webhook._check_capture_args(tbl regclass, args text[])
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_capture_args'
LANGUAGE C STRICT;

/* a trigger's arguments, from pg_trigger.tgargs */
CREATE FUNCTION webhook._trigger_args(tgargs bytea, nargs smallint)
RETURNS text[]
AS 'MODULE_PATHNAME', 'webhook_trigger_args'
LANGUAGE C STRICT IMMUTABLE;

/* wake this database's worker at commit */
CREATE FUNCTION webhook._wake()
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_wake'
LANGUAGE C STRICT;

/*
 * Backends keep each capture trigger's endpoint id across statements; this
 * trigger function tells them to look it up again whenever endpoints
 * change.
 */
CREATE FUNCTION webhook._endpoint_changed() RETURNS trigger
	LANGUAGE c AS 'MODULE_PATHNAME', 'webhook_endpoint_changed';

/* does an endpoint's event-type filter (NULL: every type) take a type? */
CREATE FUNCTION webhook._event_type_matches(patterns text[], type text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'webhook_event_type_matches'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

/* an event's body as sent: the stored payload with its timestamp and type */
CREATE FUNCTION webhook._event_body(payload json, created_at timestamptz)
RETURNS json
LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'webhook_event_body';

/*
 * The body a capture trigger would write for a row change, for preview():
 * nothing is sent or written.
 */
CREATE FUNCTION webhook._preview_body(tbl regclass, trigger_name name,
									  op text, new_row record, old_row record)
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_preview_body'
LANGUAGE C;

/*
 * Column lists.  A subscription's excluded columns are kept in its
 * trigger's "exclude=" argument as double-quoted names separated by
 * commas, so that any legal name, one holding a comma or a double quote
 * included, means exactly that column.  Lists of bare names, as older
 * versions wrote them, read as before.
 */
CREATE FUNCTION webhook._column_list(names text[])
RETURNS text
AS 'MODULE_PATHNAME', 'webhook_column_list'
LANGUAGE C STRICT IMMUTABLE;

CREATE FUNCTION webhook._column_list_names(list text)
RETURNS text[]
AS 'MODULE_PATHNAME', 'webhook_column_list_names'
LANGUAGE C STRICT IMMUTABLE;

/*
 * A condition is parsed alone as one expression (see capture.c) before it
 * becomes a WHEN clause: it can never carry a second statement or clause.
 */
CREATE FUNCTION webhook._check_condition(condition text)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_check_condition'
LANGUAGE C STRICT;

/*
 * Excluded columns follow a rename: rewrites the "exclude=" arguments of
 * the table's capture triggers (and those of the tables that inherit the
 * column).  The UPDATE OF columns and the WHEN clause are kept by column
 * number and follow by themselves.  A payload function renamed or moved
 * (or whose table was) is named anew in "data="; the capture finds it by
 * its recorded dependency in any case.  Run by an event trigger, below.
 */
CREATE FUNCTION webhook._follow_rename()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'webhook_follow_rename'
LANGUAGE C;

/*
 * A subscription's payload function is named in its trigger's arguments,
 * which PostgreSQL does not read: a dependency recorded from the trigger
 * to the function makes DROP FUNCTION refuse while it is in use (and
 * DROP FUNCTION ... CASCADE remove the subscription with it), rather than
 * every later write fail.
 */
CREATE FUNCTION webhook._depend_on_function(tbl regclass, trigger_name name,
											fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'webhook_depend_on_function'
LANGUAGE C STRICT;

/*
 * The webhook-id header value of an event.
 */
CREATE FUNCTION webhook.webhook_id(msg_id uuid)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN 'msg_' || replace(msg_id::text, '-', '');

COMMENT ON FUNCTION webhook.webhook_id(uuid) IS
'The webhook-id header sent with an event';

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

/*
 * Names and settings checked at the door, by the functions that manage
 * endpoints: an endpoint's name is at most 63 bytes, like an identifier
 * (it is part of the default subscription name, and of every NOTIFY about
 * the endpoint), and its max_in_flight may not exceed
 * "webhook.max_in_flight", which would cap it.  Rows written otherwise (a
 * restore of an older dump) are not refused: nothing breaks on a long
 * name, it is only not accepted any more.
 */
CREATE FUNCTION webhook._check_endpoint_name(name text)
RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'endpoint name must not be empty'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.octet_length(name) OPERATOR(pg_catalog.>) 63 THEN
		RAISE EXCEPTION 'endpoint name is too long'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('An endpoint name is at most 63 bytes; this one is %s bytes.',
											 pg_catalog.octet_length(name));
	END IF;
END
$$;

CREATE FUNCTION webhook._check_settings(timeout interval,
										retry_schedule interval[],
										max_in_flight integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cap integer;
BEGIN
	IF timeout IS NOT NULL
		AND (timeout <= '0'::interval OR timeout > '5min'::interval) THEN
		RAISE EXCEPTION 'invalid endpoint timeout "%"', timeout
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'The timeout must be more than zero and at most 5 minutes.';
	END IF;
	IF max_in_flight IS NOT NULL AND (max_in_flight < 1 OR max_in_flight > 512) THEN
		RAISE EXCEPTION 'invalid max_in_flight %', max_in_flight
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An endpoint allows 1 to 512 requests in flight.';
	END IF;
	-- the worker's own cap would lower it without a word
	cap := current_setting('webhook.max_in_flight', true)::integer;
	IF max_in_flight IS NOT NULL AND max_in_flight > cap THEN
		RAISE EXCEPTION 'invalid max_in_flight %', max_in_flight
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = format('The worker sends at most %s requests at once, to all endpoints together.', cap),
				  HINT = 'Choose at most "webhook.max_in_flight", or raise that setting first.';
	END IF;
	IF retry_schedule IS NOT NULL THEN
		IF cardinality(retry_schedule) > 100 THEN
			RAISE EXCEPTION 'retry schedule is too long'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'A retry schedule has at most 100 steps.';
		END IF;
		IF EXISTS (SELECT FROM unnest(retry_schedule) s
				   WHERE s IS NULL OR s < '0'::interval
						 OR s > '30 days'::interval) THEN
			RAISE EXCEPTION 'invalid retry schedule'
				USING ERRCODE = 'invalid_parameter_value',
					  DETAIL = 'Each step must be between zero and 30 days.';
		END IF;
	END IF;
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

/*
 * An endpoint's tenant and event-type filter, checked at the door: a
 * tenant key is a non-empty text of at most 255 bytes; a filter is a list
 * of types or patterns ("*" for any run of characters), each non-empty,
 * at most 255 bytes, of letters, digits and "._-:*" only.  An empty list
 * is refused (it would take nothing); NULL takes every type.  While
 * "webhook.check_event_types" is on, each filter must also match a type of
 * the catalog that is not archived.
 */
CREATE FUNCTION webhook._check_routing(tenant text, event_types text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
	checked boolean := coalesce(pg_catalog.current_setting('webhook.check_event_types', true)::boolean, false);
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
		-- "_" is LIKE's own wildcard, "*" the filter's
		IF checked AND NOT EXISTS (
			SELECT FROM webhook.event_types c
			WHERE NOT c.archived
			  AND c.name OPERATOR(pg_catalog.~~) pg_catalog.replace(
				  pg_catalog.replace(t, '_', '\_'), '*', '%')) THEN
			RAISE EXCEPTION 'event type filter "%" matches no event type of the catalog', t
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Add the type with webhook.create_event_type(), which also brings back an archived one; the catalog is webhook.event_types, checked while "webhook.check_event_types" is on.';
		END IF;
	END LOOP;
END
$$;

/*
 * A subscription's event type, checked against the catalog while
 * "webhook.check_event_types" is on: it must be a type of
 * webhook.event_types that is not archived.  A subscription without one
 * (its events typed by table and operation) is not checked.
 */
CREATE FUNCTION webhook._check_event_type(type text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF type IS NULL
		OR NOT coalesce(pg_catalog.current_setting('webhook.check_event_types', true)::boolean, false) THEN
		RETURN;
	END IF;
	IF NOT EXISTS (SELECT FROM webhook.event_types c
				   WHERE c.name OPERATOR(pg_catalog.=) _check_event_type.type
					 AND NOT c.archived) THEN
		RAISE EXCEPTION 'event type "%" is not in the catalog', type
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Add it with webhook.create_event_type(), which also brings back an archived one; the catalog is webhook.event_types, checked while "webhook.check_event_types" is on.';
	END IF;
END
$$;

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

/*
 * Dropping an endpoint removes it and its events from the outbox.  Its
 * delivery history stays (nothing deletes from the history) and ages out
 * with the rest, a segment at a time; the views show it without an
 * endpoint name.
 */
CREATE FUNCTION webhook.drop_endpoint(name text,
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

CREATE FUNCTION webhook.endpoint_secret(name text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN (webhook._lookup_endpoint(name, 'name', false)).secret;
END
$$;

COMMENT ON FUNCTION webhook.endpoint_secret(text) IS
'The signing secret of an endpoint, for configuring its receiver';

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

CREATE FUNCTION webhook.enable_endpoint(name text)
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

COMMENT ON FUNCTION webhook.enable_endpoint(text) IS
'Re-enable a disabled or paused endpoint; its breaker is reset and its pending events are sent again';

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

COMMENT ON FUNCTION webhook.set_delivery_policy(text, integer, interval, real, text) IS
'Set when the circuit breaker disables an endpoint (failure_threshold consecutive failures, or failures only for failure_window), its rate limit in events per second, and its ordering (none, endpoint or key)';

CREATE FUNCTION webhook.pause(endpoint text)
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

COMMENT ON FUNCTION webhook.resume(text) IS
'Send to a paused endpoint again, starting with the events that waited';

/*
 * Every change of an endpoint's state is announced on channel
 * webhook_endpoint, whoever makes it (these functions, the worker, or a
 * direct UPDATE): {"endpoint": name, "state": "enabled" | "disabled" |
 * "paused", "reason": ...}.  The payload of a NOTIFY is limited to 8000
 * bytes: the name and reason are cut so that it always fits, or the change
 * (the worker disabling an endpoint that answered 410, say) would fail,
 * and be tried again, for ever.
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
	IF st OPERATOR(pg_catalog.=) old_st THEN
		RETURN NULL;
	END IF;
	-- at most 4 bytes a character: 2 x 800 characters stay under 8000 bytes
	PERFORM pg_catalog.pg_notify('webhook_endpoint',
		pg_catalog.json_build_object(
			'endpoint', pg_catalog.left(NEW.name, 800), 'state', st,
			'reason', pg_catalog.left(NEW.disabled_reason, 800))::text);
	RETURN NULL;
END
$$;

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

/*
 * A tenant may write its endpoints with plain SQL as well as through the
 * tenant functions (row-level security keeps it to its own rows, column
 * privileges to the columns it may set), so a write by anyone who is not
 * webhook_admin is checked here as the functions check it: the name, the
 * URL, the secret and the headers (_check_endpoint()), the tenant and the
 * filter.  A subscribed endpoint may be neither renamed nor deleted by
 * them: the subscription names it, and every write to its table would
 * fail.  The trigger's WHEN leaves webhook_admin and superusers (the
 * worker among them) out, so they pay one role check per row.
 */
CREATE FUNCTION webhook._endpoint_tenant_check()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE'
		AND webhook._endpoint_subscribed(OLD.name) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" while tables are subscribed to it', OLD.name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; the application must unsubscribe them first.';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'UPDATE'
		AND NEW.name OPERATOR(pg_catalog.<>) OLD.name
		AND webhook._endpoint_subscribed(OLD.name) THEN
		RAISE EXCEPTION 'cannot rename endpoint "%" while tables are subscribed to it', OLD.name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; the application must unsubscribe them first.';
	END IF;
	IF TG_OP OPERATOR(pg_catalog.=) 'DELETE' THEN
		RETURN OLD;
	END IF;
	PERFORM webhook._check_endpoint_name(NEW.name);
	PERFORM webhook._check_endpoint(NEW.url, NEW.secret, NEW.headers);
	PERFORM webhook._check_routing(NEW.tenant, NEW.event_types);
	IF pg_catalog.jsonb_typeof(NEW.metadata) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'endpoint metadata must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	RETURN NEW;
END
$$;

/*
 * Is an endpoint named by a subscription?  The triggers are in
 * pg_catalog.pg_trigger, which every role may read; this only decodes
 * their arguments for roles that may not read webhook.subscriptions.
 */
CREATE FUNCTION webhook._endpoint_subscribed(name text)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
	SELECT FROM pg_catalog.pg_trigger t
	WHERE t.tgfoid OPERATOR(pg_catalog.=)
		  'webhook.capture()'::pg_catalog.regprocedure
	  AND (webhook._trigger_args(t.tgargs, t.tgnargs))[1]
		  OPERATOR(pg_catalog.=) _endpoint_subscribed.name);

/* the endpoint table's triggers, for the functions above */
CREATE TRIGGER endpoint_changed
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webhook.endpoint
	FOR EACH STATEMENT EXECUTE FUNCTION webhook._endpoint_changed();

CREATE TRIGGER endpoint_state_notify
	AFTER UPDATE OF enabled, paused ON webhook.endpoint
	FOR EACH ROW EXECUTE FUNCTION webhook._endpoint_state_notify();

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

CREATE TRIGGER endpoint_url_check
	AFTER INSERT OR UPDATE OF url ON webhook.endpoint
	FOR EACH ROW EXECUTE FUNCTION webhook._endpoint_url_check();

/*
 * A shared payload goes with the last event that refers to it, in the
 * transaction that removes that event, whatever removes it (delivery,
 * retention, webhook.drop_endpoint(), discard, a user's DELETE).  The
 * payloads the deleted rows named are locked first, in id order, and
 * looked at again in a statement of their own: two transactions that
 * remove the last two events of one payload at once then take turns, and
 * the second sees the first's removal, so no payload is left behind.
 */
CREATE FUNCTION webhook._message_cleanup()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ids bigint[];
BEGIN
	SELECT pg_catalog.array_agg(DISTINCT o.message_id ORDER BY o.message_id)
	INTO ids
	FROM old_events o WHERE o.message_id IS NOT NULL;
	IF ids IS NULL THEN
		RETURN NULL;
	END IF;
	PERFORM FROM webhook.message m
	WHERE m.id OPERATOR(pg_catalog.=) ANY (ids)
	ORDER BY m.id FOR UPDATE;
	DELETE FROM webhook.message m
	WHERE m.id OPERATOR(pg_catalog.=) ANY (ids)
	  AND NOT EXISTS (SELECT FROM webhook.event ev
					  WHERE ev.message_id OPERATOR(pg_catalog.=) m.id);
	RETURN NULL;
END
$$;

CREATE TRIGGER event_message_cleanup
	AFTER DELETE ON webhook.event
	REFERENCING OLD TABLE AS old_events
	FOR EACH STATEMENT EXECUTE FUNCTION webhook._message_cleanup();

/*
 * Writes by roles other than webhook_admin (tenants): checked as the
 * tenant functions check them, see _endpoint_tenant_check()
 */
CREATE TRIGGER endpoint_tenant_check
	BEFORE INSERT OR UPDATE OR DELETE ON webhook.endpoint
	FOR EACH ROW
	WHEN (NOT pg_catalog.pg_has_role(CURRENT_USER, 'webhook_admin', 'MEMBER'))
	EXECUTE FUNCTION webhook._endpoint_tenant_check();

/* ---------------------------------------------------------------------
 * Subscriptions: triggers that call webhook.capture()
 * --------------------------------------------------------------------- */

/*
 * subscribe() runs as its caller, so that CREATE TRIGGER checks the
 * caller's own right to the table; only the endpoint lookup goes through
 * the SECURITY DEFINER _endpoint_exists().  Every argument is checked and
 * named when wrong; the column lists are quoted; the condition is parsed
 * as one expression; the extension's own tables are refused (by
 * _check_capture_args()); names are limited to 63 bytes, as PostgreSQL
 * would otherwise cut a trigger's name short; a table with inheritance
 * children is warned about, since their rows are not captured (partitions
 * are: a partitioned table's trigger is cloned to each of them, and their
 * events are the partitioned table's).
 */
CREATE FUNCTION webhook.subscribe(
	tbl regclass,
	endpoint text DEFAULT NULL,
	events text[] DEFAULT '{insert,update,delete}',
	columns text[] DEFAULT NULL,
	condition text DEFAULT NULL,
	exclude text[] DEFAULT NULL,
	event_type text DEFAULT NULL,
	format text DEFAULT NULL,
	name text DEFAULT NULL,
	payload_function regprocedure DEFAULT NULL,
	tenant text DEFAULT NULL,
	broadcast boolean DEFAULT false)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ev text;
	col text;
	parts text[] := '{}';
	args text[];
	route text;
	trg text;
	sql text;
	nchildren integer;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF broadcast IS NULL THEN
		RAISE EXCEPTION 'argument "broadcast" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF (endpoint IS NOT NULL)::integer OPERATOR(pg_catalog.+)
		(tenant IS NOT NULL)::integer OPERATOR(pg_catalog.+)
		broadcast::integer OPERATOR(pg_catalog.<>) 1 THEN
		RAISE EXCEPTION 'a subscription needs exactly one of "endpoint", "tenant" and "broadcast"'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name an endpoint, pass tenant => a column or an expression over NEW and OLD, or pass broadcast => true.';
	END IF;
	IF endpoint OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "endpoint" must not be null or empty'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NOT NULL AND NOT webhook._endpoint_exists(subscribe.endpoint) THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', endpoint
			USING ERRCODE = 'undefined_object',
				  HINT = 'Create it first with webhook.create_endpoint().';
	END IF;
	IF pg_catalog.btrim(tenant, E' \t\r\n') OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "tenant" must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name the column that holds the tenant, or write an expression over NEW and OLD.';
	END IF;
	IF events IS NULL OR pg_catalog.cardinality(events) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'no events to subscribe to'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Name one or more of insert, update and delete.';
	END IF;
	FOREACH ev IN ARRAY events LOOP
		IF ev IS NULL OR pg_catalog.lower(ev) NOT IN ('insert', 'update', 'delete') THEN
			RAISE EXCEPTION 'unrecognized event "%"', coalesce(ev, 'NULL')
				USING ERRCODE = 'invalid_parameter_value',
					  HINT = 'Valid events are insert, update and delete.';
		END IF;
	END LOOP;
	IF columns IS NOT NULL AND pg_catalog.cardinality(columns) OPERATOR(pg_catalog.=) 0 THEN
		RAISE EXCEPTION 'argument "columns" must not be an empty list'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to watch every column.';
	END IF;
	IF columns IS NOT NULL AND NOT ('update' OPERATOR(pg_catalog.=) ANY (
			ARRAY(SELECT pg_catalog.lower(x) FROM pg_catalog.unnest(events) x))) THEN
		RAISE EXCEPTION 'columns apply only to update events'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF pg_catalog.array_position(columns, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "columns" must not contain null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF pg_catalog.array_position(exclude, NULL) IS NOT NULL THEN
		RAISE EXCEPTION 'argument "exclude" must not contain null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	FOREACH col IN ARRAY coalesce(columns, '{}') || coalesce(exclude, '{}') LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
					   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
						 AND a.attname OPERATOR(pg_catalog.=) col
						 AND a.attnum OPERATOR(pg_catalog.>) 0
						 AND NOT a.attisdropped) THEN
			RAISE EXCEPTION 'column "%" of relation "%" does not exist', col,
				(SELECT c.relname FROM pg_catalog.pg_class c
				 WHERE c.oid OPERATOR(pg_catalog.=) tbl)
				USING ERRCODE = 'undefined_column';
		END IF;
	END LOOP;
	IF event_type IS NOT NULL
		AND pg_catalog.octet_length(event_type) OPERATOR(pg_catalog.>) 255 THEN
		RAISE EXCEPTION 'event type is too long'
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('An event type is at most 255 bytes; this one is %s bytes.',
											 pg_catalog.octet_length(event_type));
	END IF;
	PERFORM webhook._check_event_type(event_type);
	IF condition IS NOT NULL THEN
		BEGIN
			PERFORM webhook._check_condition(condition);
		EXCEPTION
			WHEN syntax_error THEN
				RAISE EXCEPTION 'invalid subscription condition: %', SQLERRM
					USING ERRCODE = 'syntax_error',
						  DETAIL = pg_catalog.format('The condition was: %s', condition);
		END;
	END IF;

	/*
	 * A tenant is a column of the table (read from the row), or else an
	 * expression over NEW and OLD, which must compile now.
	 */
	IF broadcast THEN
		route := 'broadcast';
	ELSIF tenant IS NOT NULL AND EXISTS (
			SELECT FROM pg_catalog.pg_attribute a
			WHERE a.attrelid OPERATOR(pg_catalog.=) tbl
			  AND a.attname OPERATOR(pg_catalog.=) tenant
			  AND a.attnum OPERATOR(pg_catalog.>) 0
			  AND NOT a.attisdropped) THEN
		route := 'tenant=' || pg_catalog.quote_ident(tenant);
	ELSIF tenant IS NOT NULL THEN
		BEGIN
			PERFORM webhook._check_condition(tenant);
			EXECUTE pg_catalog.format(
				E'SELECT (%s\n)::pg_catalog.text FROM (SELECT (NULL::%s).*) AS new, (SELECT (NULL::%s).*) AS old LIMIT 0',
				tenant, tbl, tbl);
		EXCEPTION
			WHEN syntax_error THEN
				RAISE EXCEPTION 'invalid tenant expression: %', SQLERRM
					USING ERRCODE = 'syntax_error',
						  DETAIL = pg_catalog.format('The expression was: %s', tenant),
						  HINT = 'Name a column of the table, or write an expression over NEW and OLD, such as "coalesce(NEW.merchant_id, OLD.merchant_id)".';
		END;
		route := 'tenant_expr=' || tenant;
	END IF;

	FOREACH ev IN ARRAY ARRAY(SELECT DISTINCT pg_catalog.lower(x)
							  FROM pg_catalog.unnest(events) x ORDER BY 1) LOOP
		IF ev OPERATOR(pg_catalog.=) 'update' AND columns IS NOT NULL THEN
			parts := parts || ('UPDATE OF ' || (
				SELECT pg_catalog.string_agg(pg_catalog.quote_ident(c), ', ')
				FROM pg_catalog.unnest(columns) c));
		ELSE
			parts := parts || pg_catalog.upper(ev);
		END IF;
	END LOOP;

	-- a routed subscription names no endpoint: its first argument is empty
	args := ARRAY[coalesce(endpoint, '')];
	IF route IS NOT NULL THEN
		args := args || route;
	END IF;
	IF event_type IS NOT NULL THEN
		args := args || ('type=' || event_type);
	END IF;
	IF exclude IS NOT NULL AND pg_catalog.cardinality(exclude) OPERATOR(pg_catalog.>) 0 THEN
		args := args || ('exclude=' || webhook._column_list(exclude));
	END IF;
	IF format IS NOT NULL THEN
		args := args || ('format=' || format);
	END IF;
	IF payload_function IS NOT NULL THEN
		-- by signature, schema-qualified (search_path is pg_catalog here)
		args := args || ('data=' || payload_function::text);
	END IF;
	PERFORM webhook._check_capture_args(tbl, args);

	IF name IS NOT NULL AND name OPERATOR(pg_catalog.=) '' THEN
		RAISE EXCEPTION 'argument "name" must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass NULL to name the subscription after its endpoint.';
	END IF;
	trg := coalesce(name, CASE WHEN broadcast THEN 'webhook_broadcast'
							   WHEN tenant IS NOT NULL THEN 'webhook_by_tenant'
							   ELSE 'webhook_' || endpoint END);
	IF pg_catalog.octet_length(trg) OPERATOR(pg_catalog.>) 63 THEN
		RAISE EXCEPTION 'subscription name "%" is too long', trg
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = pg_catalog.format('A subscription name is at most 63 bytes; this one is %s bytes.',
											 pg_catalog.octet_length(trg)),
				  HINT = CASE WHEN name IS NULL
							  THEN 'Pass a shorter name with name =>.'
							  ELSE 'Pass a shorter name.' END;
	END IF;

	SELECT pg_catalog.count(*) INTO nchildren
	FROM pg_catalog.pg_inherits i
	JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhparent
	WHERE i.inhparent OPERATOR(pg_catalog.=) tbl
	  AND c.relkind OPERATOR(pg_catalog.<>) 'p';
	IF nchildren OPERATOR(pg_catalog.>) 0 THEN
		RAISE WARNING 'rows of tables that inherit from table "%" are not captured',
			(SELECT c.relname FROM pg_catalog.pg_class c
			 WHERE c.oid OPERATOR(pg_catalog.=) tbl)
			USING DETAIL = pg_catalog.format('The table has %s child tables by inheritance. A subscription captures the rows stored in its own table only, even when a change is made through the parent.', nchildren),
				  HINT = 'Subscribe each child table as well.';
	END IF;

	-- a newline ends any comment the condition ends with
	sql := pg_catalog.format(
		'CREATE TRIGGER %I AFTER %s ON %s FOR EACH ROW %s EXECUTE FUNCTION webhook.capture(%s)',
		trg, pg_catalog.array_to_string(parts, ' OR '), tbl,
		CASE WHEN condition IS NULL THEN ''
			 ELSE 'WHEN (' || condition || E'\n)' END,
		(SELECT pg_catalog.string_agg(pg_catalog.quote_literal(a), ', ')
		 FROM pg_catalog.unnest(args) a));
	BEGIN
		EXECUTE sql;
	EXCEPTION
		WHEN syntax_error THEN
			RAISE EXCEPTION 'invalid subscription condition: %', SQLERRM
				USING ERRCODE = 'syntax_error',
					  DETAIL = pg_catalog.format('The condition was: %s', condition);
	END;
	IF payload_function IS NOT NULL THEN
		PERFORM webhook._depend_on_function(tbl, trg, payload_function);
	END IF;
	RETURN trg;
END
$$;

COMMENT ON FUNCTION webhook.subscribe(regclass, text, text[], text[], text, text[], text, text, text, regprocedure, text, boolean) IS
'Create the trigger that sends a table''s row changes to an endpoint, to the endpoints of each row''s tenant (tenant: a column, or an expression over NEW and OLD), or to every endpoint without a tenant (broadcast); returns its name.  payload_function, taking the table''s row type and returning json or jsonb, builds the event''s data';

CREATE FUNCTION webhook.unsubscribe(tbl regclass, endpoint text,
									name text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	trg name;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF endpoint IS NULL AND name IS NULL THEN
		RAISE EXCEPTION 'argument "endpoint" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass name => the subscription''s name to drop a routed subscription.';
	END IF;
	SELECT s.trigger_name INTO trg FROM webhook.subscriptions s
	WHERE s.table_name = tbl
	  AND (unsubscribe.endpoint IS NULL OR s.endpoint = unsubscribe.endpoint)
	  AND (unsubscribe.name IS NULL OR s.trigger_name = unsubscribe.name)
	ORDER BY s.trigger_name LIMIT 1;
	IF NOT FOUND AND endpoint IS NULL THEN
		RAISE EXCEPTION 'table "%" has no subscription "%"',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl), name
			USING ERRCODE = 'undefined_object';
	ELSIF NOT FOUND THEN
		RAISE EXCEPTION 'table "%" is not subscribed to endpoint "%"',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl), endpoint
			USING ERRCODE = 'undefined_object';
	END IF;
	EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trg, tbl);
END
$$;

COMMENT ON FUNCTION webhook.unsubscribe(regclass, text, text) IS
'Drop the trigger that sends a table''s row changes to an endpoint (endpoint NULL: the subscription named name, routed ones included)';

/*
 * Preview: the exact request a row change would become, without sending
 * or writing anything.
 */
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
	t text;
	expr text;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'argument "tbl" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
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
		b := webhook._preview_body(tbl, s.trigger_name, op, new_row, old_row);
		CONTINUE WHEN b IS NULL;
		-- only subscriptions that fire on the operation
		CONTINUE WHEN NOT EXISTS (
			SELECT FROM pg_trigger tg
			WHERE tg.tgrelid = tbl AND tg.tgname = s.trigger_name
			  AND (tg.tgtype::integer & CASE op WHEN 'INSERT' THEN 4
												WHEN 'DELETE' THEN 8
												ELSE 16 END) <> 0);
		-- a routed change goes to its tenant's endpoints, as the capture routes it
		t := NULL;
		IF s.routing = 'tenant' THEN
			expr := s.tenant;
			IF EXISTS (SELECT FROM pg_attribute a
					   WHERE a.attrelid = tbl AND a.attname = s.tenant
						 AND a.attnum > 0 AND NOT a.attisdropped) THEN
				expr := pg_catalog.format('%s.%I',
					CASE WHEN op = 'DELETE' THEN 'old' ELSE 'new' END, s.tenant);
			END IF;
			EXECUTE pg_catalog.format(
				E'SELECT (%s\n)::pg_catalog.text FROM (SELECT ($1).*) AS new, (SELECT ($2).*) AS old',
				expr) INTO t USING new_row, old_row;
			CONTINUE WHEN t IS NULL;
		END IF;
		msg := 'msg_' || replace(gen_random_uuid()::text, '-', '');
		ts := extract(epoch FROM now())::bigint;
		FOR ep IN SELECT * FROM webhook.endpoint e
				  WHERE CASE s.routing
						WHEN 'endpoint' THEN e.name = s.endpoint
						ELSE (e.enabled OR e.paused) AND NOT e.operational
							 AND e.tenant IS NOT DISTINCT FROM t
							 AND webhook._event_type_matches(e.event_types,
															 b::json ->> 'type')
						END
				  ORDER BY e.id LOOP
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
	END LOOP;
	IF NOT EXISTS (SELECT FROM webhook.subscriptions sub
				   WHERE sub.table_name = tbl) THEN
		RAISE EXCEPTION 'table "%" is not subscribed to any endpoint',
			(SELECT c.relname FROM pg_class c WHERE c.oid = tbl)
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.preview(regclass, anyelement, anyelement, name) IS
'The body and headers each subscription of a table would send for a row change (new_row alone: an insert; old_row alone: a delete; both: an update), one row per endpoint a routed change goes to, without sending anything';

/* ---------------------------------------------------------------------
 * Operations: retry, replay, discard, test
 * --------------------------------------------------------------------- */

/*
 * A manual retry is a probe: the event is due now, and if the breaker holds
 * its endpoint back, the next probe is due now too, so that this event is
 * the one sent.  Its success ends the failing state and releases the rest.
 * A disabled or paused endpoint's event stays parked until the endpoint is
 * enabled or resumed.  Only an event still in the outbox can be sent again:
 * one the history alone knows of (delivered, its row removed) is refused
 * with a hint to keep delivered payloads.
 */
CREATE FUNCTION webhook.retry(event_id bigint)
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

COMMENT ON FUNCTION webhook.retry(bigint) IS
'Send an event again now, as a probe if its endpoint is failing, with its original webhook-id and a fresh retry schedule';

/*
 * Replay: the events the outbox still holds sent again, with their
 * webhook-ids: dead ones, and delivered ones while
 * webhook.payload_retention keeps them (a delivered event whose row is gone
 * has no payload left to send).  status picks 'delivered' or 'dead' only,
 * NULL both.
 */
CREATE FUNCTION webhook.replay(endpoint text, since timestamptz,
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

COMMENT ON FUNCTION webhook.send_test(text) IS
'Queue a "webhook.test" event for an endpoint, sent like any other; returns its event id';

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
 * Tenants: what the application calls for its customers
 * --------------------------------------------------------------------- */

/*
 * The functions that read the outbox and the history turn JIT off: for a
 * tenant, each table they read carries its row-level security subplans,
 * whose estimates reach jit_above_cost although the queries read a few
 * index ranges; compiling them took longer (2.5 s) than running them.
 */

/*
 * Who the session acts for.  The functions below run as their caller
 * (SECURITY INVOKER), and row-level security on the extension's tables
 * (see "Roles and privileges") keeps a tenant's role to its own tenant's
 * rows whatever it runs: these functions, or plain SQL on the tables.
 * Wrappers running as the owner could not do that: inside a SECURITY
 * DEFINER function current_user is the owner, so the tenant could only be
 * taken from an argument the caller chose.
 *
 * The tenant is, in this order:
 * - the one webhook.grant_tenant() mapped the role to, or else the one it
 *   mapped the session's login role to: a tenant's own connection, which
 *   neither "webhook.tenant" nor SET ROLE can move elsewhere;
 * - for another member of webhook_tenant (not webhook_tenant itself),
 *   "webhook.tenant": a connection the application controls sets it per
 *   request.  With PostgREST, the
 *   authenticator switches to a role in webhook_tenant, and its
 *   pre-request function sets the tenant from the JWT:
 *
 *     CREATE FUNCTION api.pre_request() RETURNS void LANGUAGE sql AS $f$
 *       SELECT set_config('webhook.tenant',
 *                         current_setting('request.jwt.claims', true)::json
 *                         ->> 'merchant_id', true)
 *     $f$;
 *
 * - for anyone else (webhook_admin, superusers), none: a trusted backend
 *   names the tenant in each call instead.
 */
CREATE FUNCTION webhook.current_tenant()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text;
BEGIN
	SELECT r.tenant INTO t FROM webhook.tenant_role r
	WHERE r.role OPERATOR(pg_catalog.=) CURRENT_USER;
	IF FOUND THEN
		RETURN t;
	END IF;
	-- a tenant's own connection stays its tenant's whatever role it
	-- switches to (it may SET ROLE webhook_tenant, being a member)
	SELECT r.tenant INTO t FROM webhook.tenant_role r
	WHERE r.role OPERATOR(pg_catalog.=) SESSION_USER;
	IF FOUND THEN
		RETURN t;
	END IF;
	-- superusers are members of every role, yet tenants of none; the group
	-- role itself is nobody's own
	IF pg_catalog.pg_has_role(CURRENT_USER, 'webhook_tenant', 'MEMBER')
		AND NOT pg_catalog.pg_has_role(CURRENT_USER, 'webhook_admin', 'MEMBER')
		AND CURRENT_USER OPERATOR(pg_catalog.<>) 'webhook_tenant' THEN
		RETURN nullif(pg_catalog.current_setting('webhook.tenant', true), '');
	END IF;
	RETURN NULL;
END
$$;

COMMENT ON FUNCTION webhook.current_tenant() IS
'The tenant this session acts for: its role''s (webhook.grant_tenant()), else "webhook.tenant" for other members of webhook_tenant, else none';

/*
 * The tenant a tenant function acts for: the session's when it has one (a
 * tenant argument naming another is refused), else the argument, which
 * only webhook_admin (the application's trusted backend) may pass.
 */
CREATE FUNCTION webhook._tenant(tenant text)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook.current_tenant();
BEGIN
	IF t IS NOT NULL THEN
		IF tenant IS NOT NULL AND tenant OPERATOR(pg_catalog.<>) t THEN
			RAISE EXCEPTION 'permission denied for tenant "%"', tenant
				USING ERRCODE = 'insufficient_privilege',
					  DETAIL = 'This session acts for its own tenant only.';
		END IF;
		RETURN t;
	END IF;
	IF NOT pg_catalog.pg_has_role(CURRENT_USER, 'webhook_admin', 'MEMBER') THEN
		IF tenant IS NOT NULL THEN
			RAISE EXCEPTION 'permission denied for tenant "%"', tenant
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'Only members of webhook_admin may name the tenant they act for.';
		END IF;
		RAISE EXCEPTION 'permission denied to act for a tenant'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'This session has no tenant.',
				  HINT = 'Map the role to a tenant with webhook.grant_tenant(), or set "webhook.tenant" in a connection the application controls.';
	END IF;
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'argument "tenant" must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'A session without a tenant of its own names the tenant it acts for.';
	END IF;
	PERFORM webhook._check_routing(tenant, NULL);
	RETURN tenant;
END
$$;

/*
 * One of a tenant's endpoints, by name: its id, or the same error as for
 * a name that does not exist (another tenant's endpoint is not there).
 */
CREATE FUNCTION webhook._tenant_endpoint(name text, tenant text,
										 for_update boolean)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer;
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF for_update THEN
		SELECT e.id INTO ep_id FROM webhook.endpoint e
		WHERE e.name OPERATOR(pg_catalog.=) _tenant_endpoint.name
		  AND e.tenant OPERATOR(pg_catalog.=) _tenant_endpoint.tenant
		FOR UPDATE;
	ELSE
		SELECT e.id INTO ep_id FROM webhook.endpoint e
		WHERE e.name OPERATOR(pg_catalog.=) _tenant_endpoint.name
		  AND e.tenant OPERATOR(pg_catalog.=) _tenant_endpoint.tenant;
	END IF;
	IF ep_id IS NULL THEN
		RAISE EXCEPTION 'endpoint "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
	RETURN ep_id;
END
$$;

/*
 * Mapping a role to a tenant, for webhook_admin.  SECURITY DEFINER, as
 * granting webhook_tenant takes its admin option, which webhook_admin has
 * not.  Superusers and members of webhook_admin are refused: row-level
 * security does not hold them, so a mapping would promise an isolation
 * that is not there.
 */
CREATE FUNCTION webhook.grant_tenant(role regrole, tenant text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'argument "role" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF tenant IS NULL THEN
		RAISE EXCEPTION 'argument "tenant" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM webhook._check_routing(tenant, NULL);
	IF EXISTS (SELECT FROM pg_catalog.pg_roles r
			   WHERE r.oid OPERATOR(pg_catalog.=) grant_tenant.role
				 AND r.rolsuper)
		OR pg_catalog.pg_has_role(role, 'webhook_admin', 'MEMBER')
		OR role::pg_catalog.text IN ('webhook_admin', 'webhook_user', 'webhook_tenant') THEN
		RAISE EXCEPTION 'role "%" cannot act for a tenant', role
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'Superusers and members of webhook_admin see every tenant''s rows.';
	END IF;
	INSERT INTO webhook.tenant_role AS r (role, tenant)
	VALUES (role::pg_catalog.text, grant_tenant.tenant)
	ON CONFLICT ON CONSTRAINT tenant_role_pkey
	DO UPDATE SET tenant = excluded.tenant;
	EXECUTE pg_catalog.format('GRANT webhook_tenant TO %s', role);
END
$$;

COMMENT ON FUNCTION webhook.grant_tenant(regrole, text) IS
'Make a role one tenant''s: a member of webhook_tenant whose session acts for that tenant only';

CREATE FUNCTION webhook.revoke_tenant(role regrole)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF role IS NULL THEN
		RAISE EXCEPTION 'argument "role" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	DELETE FROM webhook.tenant_role r
	WHERE r.role OPERATOR(pg_catalog.=) revoke_tenant.role::pg_catalog.text;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'role "%" is not mapped to a tenant', role
			USING ERRCODE = 'undefined_object';
	END IF;
	EXECUTE pg_catalog.format('REVOKE webhook_tenant FROM %s', role);
END
$$;

COMMENT ON FUNCTION webhook.revoke_tenant(regrole) IS
'Undo webhook.grant_tenant(): the role no longer acts for a tenant';

/*
 * A tenant's endpoints, as a tenant may see them: no secret, no header
 * values, no delivery or transport settings (those are the application's).
 * tenant_create_endpoint() returns the same row, with the secret once.
 */
CREATE FUNCTION webhook.tenant_endpoints(tenant text DEFAULT NULL)
RETURNS TABLE (name text, url text, event_types text[], description text,
			   metadata jsonb, enabled boolean, paused boolean,
			   disabled_reason text, signature text,
			   created_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook._tenant(tenant_endpoints.tenant);
BEGIN
	RETURN QUERY
	SELECT e.name, e.url, e.event_types, e.description, e.metadata,
		   e.enabled, e.paused, e.disabled_reason,
		   CASE WHEN pg_catalog.starts_with(e.secret, 'whsk_') THEN 'v1a'
				ELSE 'v1' END,
		   e.created_at
	FROM webhook.endpoint e
	WHERE e.tenant OPERATOR(pg_catalog.=) t
	ORDER BY e.name;
END
$$;

COMMENT ON FUNCTION webhook.tenant_endpoints(text) IS
'A tenant''s endpoints: name, URL, filter, description, metadata, state and signature scheme';

/*
 * Endpoint names are unique across tenants (subscriptions and the other
 * functions name endpoints), so a name another tenant uses is refused as
 * taken, without saying whose it is.
 */
CREATE FUNCTION webhook._tenant_create_endpoint(
	name text,
	url text,
	event_types text[],
	description text,
	metadata jsonb,
	signature text,
	headers jsonb,
	tenant text)
RETURNS TABLE (ep_name text, ep_url text, ep_event_types text[],
			   ep_description text, ep_metadata jsonb, ep_enabled boolean,
			   ep_paused boolean, ep_disabled_reason text,
			   ep_signature text, ep_created_at timestamptz,
			   ep_secret text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook._tenant(_tenant_create_endpoint.tenant);
	new_secret text;
	new_id integer;
BEGIN
	PERFORM webhook._check_endpoint_name(_tenant_create_endpoint.name);
	IF _tenant_create_endpoint.url IS NULL THEN
		RAISE EXCEPTION 'endpoint URL must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM webhook._check_routing(t, _tenant_create_endpoint.event_types);
	IF pg_catalog.jsonb_typeof(_tenant_create_endpoint.metadata)
		OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "metadata" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF _tenant_create_endpoint.signature IS NOT NULL
		AND _tenant_create_endpoint.signature NOT IN ('v1', 'v1a') THEN
		RAISE EXCEPTION 'invalid signature scheme "%"', _tenant_create_endpoint.signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).';
	END IF;
	new_secret := webhook.generate_secret(coalesce(_tenant_create_endpoint.signature, 'v1'));
	PERFORM webhook._check_endpoint(_tenant_create_endpoint.url, new_secret,
									coalesce(_tenant_create_endpoint.headers, '{}'));
	BEGIN
		INSERT INTO webhook.endpoint AS e (name, url, secret, headers, tenant,
										   event_types, description, metadata)
		VALUES (_tenant_create_endpoint.name, _tenant_create_endpoint.url,
				new_secret, coalesce(_tenant_create_endpoint.headers, '{}'), t,
				_tenant_create_endpoint.event_types,
				nullif(_tenant_create_endpoint.description, ''),
				coalesce(_tenant_create_endpoint.metadata, '{}'))
		RETURNING e.id INTO new_id;
	EXCEPTION WHEN unique_violation THEN
		RAISE EXCEPTION 'endpoint name "%" is taken', _tenant_create_endpoint.name
			USING ERRCODE = 'duplicate_object',
				  DETAIL = 'Endpoint names are unique across all tenants.',
				  HINT = 'Choose another name.';
	END;
	PERFORM webhook._wake();
	RETURN QUERY
	SELECT e.name, e.url, e.event_types, e.description, e.metadata,
		   e.enabled, e.paused, e.disabled_reason,
		   CASE WHEN pg_catalog.starts_with(e.secret, 'whsk_') THEN 'v1a'
				ELSE 'v1' END,
		   e.created_at, e.secret
	FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) new_id;
END
$$;

/*
 * The row is built by _tenant_create_endpoint(): PL/pgSQL cannot take an
 * argument and return a column of the same name.
 */
CREATE FUNCTION webhook.tenant_create_endpoint(
	name text,
	url text,
	event_types text[] DEFAULT NULL,
	description text DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	signature text DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	tenant text DEFAULT NULL)
RETURNS TABLE (name text, url text, event_types text[], description text,
			   metadata jsonb, enabled boolean, paused boolean,
			   disabled_reason text, signature text,
			   created_at timestamptz, secret text)
LANGUAGE sql
SET search_path = pg_catalog, pg_temp
AS $$
SELECT * FROM webhook._tenant_create_endpoint($1, $2, $3, $4, $5, $6, $7, $8)
$$;

COMMENT ON FUNCTION webhook.tenant_create_endpoint(text, text, text[], text, jsonb, text, jsonb, text) IS
'Register an endpoint for a tenant, with a generated secret (v1) or key (v1a), returned once';

/*
 * Arguments left NULL keep their value; an empty string clears the
 * description, an empty list the filter (every type).
 */
CREATE FUNCTION webhook.tenant_alter_endpoint(
	name text,
	url text DEFAULT NULL,
	event_types text[] DEFAULT NULL,
	description text DEFAULT NULL,
	metadata jsonb DEFAULT NULL,
	headers jsonb DEFAULT NULL,
	tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	t text := webhook._tenant(tenant);
	ep_id integer := webhook._tenant_endpoint(name, t, true);
	cur record;
	new_types text[];
BEGIN
	SELECT e.url, e.secret, e.headers, e.event_types INTO cur
	FROM webhook.endpoint e WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	new_types := CASE WHEN pg_catalog.cardinality(event_types) OPERATOR(pg_catalog.=) 0
					  THEN NULL
					  ELSE coalesce(event_types, cur.event_types) END;
	PERFORM webhook._check_routing(t, new_types);
	IF pg_catalog.jsonb_typeof(metadata) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "metadata" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM webhook._check_endpoint(coalesce(url, cur.url), cur.secret,
									coalesce(headers, cur.headers));
	UPDATE webhook.endpoint e SET
		url = coalesce(tenant_alter_endpoint.url, e.url),
		headers = coalesce(tenant_alter_endpoint.headers, e.headers),
		event_types = new_types,
		description = CASE WHEN tenant_alter_endpoint.description OPERATOR(pg_catalog.=) ''
						   THEN NULL
						   ELSE coalesce(tenant_alter_endpoint.description, e.description) END,
		metadata = coalesce(tenant_alter_endpoint.metadata, e.metadata)
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	PERFORM webhook._wake();
END
$$;

COMMENT ON FUNCTION webhook.tenant_alter_endpoint(text, text, text[], text, jsonb, jsonb, text) IS
'Change a tenant''s endpoint: URL, filter, description, metadata, headers; arguments left NULL keep their value';

CREATE FUNCTION webhook.tenant_disable_endpoint(name text,
												tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
BEGIN
	UPDATE webhook.endpoint e
	SET enabled = false, paused = false,
		disabled_reason = 'disabled by its tenant', disabled_at = pg_catalog.now()
	WHERE e.id OPERATOR(pg_catalog.=) ep_id AND e.enabled;
END
$$;

COMMENT ON FUNCTION webhook.tenant_disable_endpoint(text, text) IS
'Stop sending to a tenant''s endpoint; its events wait until it is enabled again';

CREATE FUNCTION webhook.tenant_enable_endpoint(name text,
											   tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
BEGIN
	UPDATE webhook.endpoint e
	SET enabled = true, paused = false, disabled_reason = NULL, disabled_at = NULL
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	-- a fresh start: the breaker counts again from zero
	UPDATE webhook.endpoint_health h
	SET consecutive_failures = 0, failing_since = NULL, probe_step = 0,
		next_probe_at = NULL
	WHERE h.endpoint_id OPERATOR(pg_catalog.=) ep_id;
	PERFORM webhook._release_backlog(ep_id);
END
$$;

COMMENT ON FUNCTION webhook.tenant_enable_endpoint(text, text) IS
'Enable a tenant''s disabled or paused endpoint again; its breaker is reset and its waiting events are sent';

CREATE FUNCTION webhook.tenant_drop_endpoint(name text,
											 discard_pending boolean DEFAULT false,
											 tenant text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
	npending bigint;
BEGIN
	IF webhook._endpoint_subscribed(name) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" while tables are subscribed to it', name
			USING ERRCODE = 'dependent_objects_still_exist',
				  HINT = 'Subscriptions name their endpoint; the application must unsubscribe them first.';
	END IF;
	SELECT pg_catalog.count(*) INTO npending FROM webhook.event ev
	WHERE ev.endpoint_id OPERATOR(pg_catalog.=) ep_id
	  AND ev.state OPERATOR(pg_catalog.=) 'pending';
	IF npending OPERATOR(pg_catalog.>) 0 AND NOT coalesce(discard_pending, false) THEN
		RAISE EXCEPTION 'cannot drop endpoint "%" while events are pending', name
			USING ERRCODE = 'object_in_use',
				  DETAIL = pg_catalog.format('Pending events: %s.', npending),
				  HINT = 'Wait for them to be delivered, or pass discard_pending => true to discard them.';
	END IF;
	DELETE FROM webhook.event ev WHERE ev.endpoint_id OPERATOR(pg_catalog.=) ep_id;
	DELETE FROM webhook.endpoint e WHERE e.id OPERATOR(pg_catalog.=) ep_id;
END
$$;

COMMENT ON FUNCTION webhook.tenant_drop_endpoint(text, boolean, text) IS
'Remove a tenant''s endpoint and its events; refused while events are pending unless discard_pending';

/*
 * A new secret or key (of the endpoint's scheme, or of the one named), the
 * old one still signing for the overlap.  Returned once; the receiver may
 * also read it later with tenant_endpoint_secret().
 */
CREATE FUNCTION webhook.tenant_rotate_secret(name text,
											 overlap interval DEFAULT '24h',
											 signature text DEFAULT NULL,
											 tenant text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), true);
	old_secret text;
	new_secret text;
BEGIN
	IF overlap IS NULL THEN
		RAISE EXCEPTION 'argument "overlap" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF overlap OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
		RAISE EXCEPTION 'overlap must not be negative'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF signature IS NOT NULL AND signature NOT IN ('v1', 'v1a') THEN
		RAISE EXCEPTION 'invalid signature scheme "%"', signature
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Valid schemes are v1 (HMAC-SHA256, a whsec_ secret) and v1a (Ed25519, a whsk_ key).';
	END IF;
	SELECT e.secret INTO old_secret FROM webhook.endpoint e
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	new_secret := webhook.generate_secret(coalesce(signature,
		CASE WHEN pg_catalog.starts_with(old_secret, 'whsk_') THEN 'v1a'
			 ELSE 'v1' END));
	UPDATE webhook.endpoint e SET
		previous_secret = e.secret,
		previous_secret_expires_at = pg_catalog.now() OPERATOR(pg_catalog.+) overlap,
		secret = new_secret
	WHERE e.id OPERATOR(pg_catalog.=) ep_id;
	RETURN new_secret;
END
$$;

COMMENT ON FUNCTION webhook.tenant_rotate_secret(text, interval, text, text) IS
'Give a tenant''s endpoint a new secret, returned; requests carry signatures with both until the overlap ends';

CREATE FUNCTION webhook.tenant_endpoint_secret(name text,
											   tenant text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), false);
BEGIN
	RETURN (SELECT e.secret FROM webhook.endpoint e
			WHERE e.id OPERATOR(pg_catalog.=) ep_id);
END
$$;

COMMENT ON FUNCTION webhook.tenant_endpoint_secret(text, text) IS
'The signing secret or key of a tenant''s endpoint, for configuring its receiver';

/*
 * A tenant's recent events, newest first: those the outbox holds, and the
 * delivered ones whose rows are gone, from their final attempt (as the
 * webhook.events view shows them).  last_status and last_error are those
 * of the latest attempt.  In SQL, as PL/pgSQL cannot take an argument and
 * return a column of the same name; the arguments are read by position
 * ($1 endpoint, $2 since, $3 until, $4 state, $5 limit, $6 tenant), and the
 * tenant's endpoints are looked up once.  Cost: the tenant's pending
 * events, found by endpoint; with since, the events finished and the
 * attempts started since then, found through their time indexes; without
 * it, the whole outbox and history are read, as webhook.events does.
 */
CREATE FUNCTION webhook.tenant_deliveries(
	endpoint text DEFAULT NULL,
	since timestamptz DEFAULT NULL,
	"until" timestamptz DEFAULT NULL,
	state webhook.event_state DEFAULT NULL,
	"limit" integer DEFAULT 100,
	tenant text DEFAULT NULL)
RETURNS TABLE (event_id bigint, endpoint text, webhook_id text, type text,
			   state webhook.event_state, attempts smallint,
			   created_at timestamptz, next_attempt_at timestamptz,
			   finished_at timestamptz, last_status smallint,
			   last_error text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
WITH scope AS MATERIALIZED (
	SELECT e.id, e.name FROM webhook.endpoint e
	WHERE e.tenant OPERATOR(pg_catalog.=) webhook._tenant($6)
	  AND ($1 IS NULL OR e.id OPERATOR(pg_catalog.=)
		   webhook._tenant_endpoint($1, webhook._tenant($6), false))
)
SELECT d.* FROM (
	SELECT ev.id, s.name, webhook.webhook_id(ev.msg_id),
		   webhook._event_body(coalesce(ev.payload, m.payload),
							   ev.created_at) ->> 'type',
		   ev.state, ev.attempts, ev.created_at,
		   CASE WHEN ev.state OPERATOR(pg_catalog.=) 'pending'
				THEN ev.next_attempt_at END,
		   ev.finished_at, la.status, la.error
	FROM scope s
	JOIN LATERAL (
		-- pending: through event_claim_idx
		SELECT p.* FROM webhook.event p
		WHERE p.endpoint_id OPERATOR(pg_catalog.=) s.id
		  AND p.state OPERATOR(pg_catalog.=) 'pending'
		UNION ALL
		-- finished (dead, or delivered and kept): finished after since,
		-- so through event_finished_idx when since is given
		SELECT f.* FROM webhook.event f
		WHERE f.endpoint_id OPERATOR(pg_catalog.=) s.id
		  AND f.state OPERATOR(pg_catalog.<>) 'pending'
		  AND ($2 IS NULL OR f.finished_at OPERATOR(pg_catalog.>=) $2)) ev ON true
	LEFT JOIN webhook.message m ON m.id OPERATOR(pg_catalog.=) ev.message_id
	LEFT JOIN LATERAL (
		SELECT a.status, a.error FROM webhook.attempt a
		WHERE a.event_id OPERATOR(pg_catalog.=) ev.id
		ORDER BY a.attempt DESC LIMIT 1) la
		ON ev.attempts OPERATOR(pg_catalog.>) 0
	WHERE ($2 IS NULL OR ev.created_at OPERATOR(pg_catalog.>=) $2)
	  AND ($3 IS NULL OR ev.created_at OPERATOR(pg_catalog.<) $3)
	  AND ($4 IS NULL OR ev.state OPERATOR(pg_catalog.=) $4)
	UNION ALL
	SELECT f.event_id, s.name, webhook.webhook_id(f.msg_id), NULL::text,
		   'delivered'::webhook.event_state, f.attempt, f.created_at,
		   NULL::timestamptz,
		   f.started_at OPERATOR(pg_catalog.+)
			   (f.duration_us OPERATOR(pg_catalog.*) '1 microsecond'::pg_catalog.interval),
		   f.status, NULL::text
	FROM (SELECT DISTINCT ON (a.event_id) a.*
		  FROM webhook.attempt a
		  WHERE a.final
			AND a.endpoint_id OPERATOR(pg_catalog.=) ANY (SELECT s.id FROM scope s)
			-- attempts start after their event: the BRIN index prunes
			AND ($2 IS NULL OR a.started_at OPERATOR(pg_catalog.>=) $2)
		  ORDER BY a.event_id, a.attempt DESC) f
	JOIN scope s ON s.id OPERATOR(pg_catalog.=) f.endpoint_id
	WHERE f.status BETWEEN 200 AND 299
	  AND ($4 IS NULL OR $4 OPERATOR(pg_catalog.=) 'delivered')
	  AND ($2 IS NULL OR f.created_at OPERATOR(pg_catalog.>=) $2)
	  AND ($3 IS NULL OR f.created_at OPERATOR(pg_catalog.<) $3)
	  AND NOT EXISTS (SELECT FROM webhook.event ev
					  WHERE ev.id OPERATOR(pg_catalog.=) f.event_id)
) d (event_id, endpoint, webhook_id, type, state, attempts, created_at,
	 next_attempt_at, finished_at, last_status, last_error)
ORDER BY d.created_at DESC, d.event_id DESC
LIMIT coalesce($5, 100)
$$;

COMMENT ON FUNCTION webhook.tenant_deliveries(text, timestamptz, timestamptz, webhook.event_state, integer, text) IS
'A tenant''s recent events, newest first, of one endpoint, time range [since, until) and state if given: type, state, attempts and the last result';

/*
 * In SQL for the same reason; $1 endpoint, $2 event_id, $3 since, $4
 * limit, $5 tenant.
 */
CREATE FUNCTION webhook.tenant_attempts(
	endpoint text DEFAULT NULL,
	event_id bigint DEFAULT NULL,
	since timestamptz DEFAULT NULL,
	"limit" integer DEFAULT 100,
	tenant text DEFAULT NULL)
RETURNS TABLE (event_id bigint, endpoint text, webhook_id text,
			   attempt smallint, started_at timestamptz, duration interval,
			   status smallint, error text, response text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
WITH scope AS MATERIALIZED (
	SELECT e.id, e.name FROM webhook.endpoint e
	WHERE e.tenant OPERATOR(pg_catalog.=) webhook._tenant($5)
	  AND ($1 IS NULL OR e.id OPERATOR(pg_catalog.=)
		   webhook._tenant_endpoint($1, webhook._tenant($5), false))
)
SELECT a.event_id, s.name, webhook.webhook_id(a.msg_id), a.attempt,
	   a.started_at,
	   a.duration_us OPERATOR(pg_catalog.*) '1 microsecond'::pg_catalog.interval,
	   a.status, a.error, pg_catalog.left(a.response, 200)
FROM webhook.attempt a
JOIN scope s ON s.id OPERATOR(pg_catalog.=) a.endpoint_id
WHERE ($2 IS NULL OR a.event_id OPERATOR(pg_catalog.=) $2)
  AND ($3 IS NULL OR a.started_at OPERATOR(pg_catalog.>=) $3)
ORDER BY a.started_at DESC, a.attempt DESC
LIMIT coalesce($4, 100)
$$;

COMMENT ON FUNCTION webhook.tenant_attempts(text, bigint, timestamptz, integer, text) IS
'A tenant''s delivery attempts, newest first: status, error and the first 200 characters of the response';

/*
 * Send again, now and with a fresh retry schedule, a tenant's events
 * created in [since, until) that failed: pending ones waiting for a retry
 * or held back by their failing endpoint, and dead ones.  Each keeps its
 * webhook-id.  A failing endpoint is probed at once (its other events
 * follow once the probe succeeds).  Returns how many are due again.
 */
CREATE FUNCTION webhook.tenant_replay(since timestamptz,
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

CREATE FUNCTION webhook.tenant_send_test(name text, tenant text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	ep_id integer := webhook._tenant_endpoint(name, webhook._tenant(tenant), false);
	ts timestamptz := pg_catalog.clock_timestamp();
	new_id bigint;
BEGIN
	INSERT INTO webhook.event AS ev (endpoint_id, msg_id, created_at,
									 next_attempt_at, payload)
	SELECT e.id, pg_catalog.gen_random_uuid(), ts,
		   CASE WHEN e.enabled THEN ts ELSE 'infinity' END,
		   pg_catalog.json_build_object(
			   'type', 'webhook.test',
			   'timestamp', pg_catalog.to_char(ts AT TIME ZONE 'UTC',
											   'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			   'data', pg_catalog.json_build_object('endpoint', e.name))
	FROM webhook.endpoint e WHERE e.id OPERATOR(pg_catalog.=) ep_id
	RETURNING ev.id INTO new_id;
	PERFORM webhook._wake();
	RETURN new_id;
END
$$;

COMMENT ON FUNCTION webhook.tenant_send_test(text, text) IS
'Queue a "webhook.test" event for a tenant''s endpoint, sent like any other; returns its event id';

/*
 * Per endpoint of a tenant, as webhook.endpoint_stats counts them: state,
 * backlog, and the last hour's deliveries and failures.
 */
CREATE FUNCTION webhook.tenant_endpoint_stats(tenant text DEFAULT NULL)
RETURNS TABLE (name text, state text, pending bigint,
			   oldest_pending_age interval, delivered_last_hour bigint,
			   dead_last_hour bigint, failed_attempts_last_hour bigint,
			   consecutive_failures integer, last_error text,
			   last_failure_at timestamptz, last_success_at timestamptz)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
	t text := webhook._tenant(tenant_endpoint_stats.tenant);
BEGIN
	RETURN QUERY
	SELECT e.name,
		   CASE WHEN e.paused THEN 'paused'
				WHEN NOT e.enabled THEN 'disabled'
				WHEN h.consecutive_failures OPERATOR(pg_catalog.>) 0 THEN 'failing'
				ELSE 'healthy' END,
		   coalesce(p.n, 0),
		   pg_catalog.now() OPERATOR(pg_catalog.-) p.oldest,
		   coalesce(a.delivered, 0),
		   coalesce(d.n, 0),
		   coalesce(a.failed, 0),
		   coalesce(h.consecutive_failures, 0),
		   h.last_error, h.last_failure_at, h.last_success_at
	FROM webhook.endpoint e
	LEFT JOIN webhook.endpoint_health h
		ON h.endpoint_id OPERATOR(pg_catalog.=) e.id
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) AS n, pg_catalog.min(ev.created_at) AS oldest
		FROM webhook.event ev
		WHERE ev.endpoint_id OPERATOR(pg_catalog.=) e.id
		  AND ev.state OPERATOR(pg_catalog.=) 'pending') p ON true
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) AS n FROM webhook.event ev
		WHERE ev.endpoint_id OPERATOR(pg_catalog.=) e.id
		  AND ev.state OPERATOR(pg_catalog.=) 'dead'
		  AND ev.finished_at OPERATOR(pg_catalog.>)
			  (pg_catalog.now() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval)) d ON true
	LEFT JOIN LATERAL (
		SELECT pg_catalog.count(*) FILTER (
				   WHERE x.final AND x.status BETWEEN 200 AND 299) AS delivered,
			   pg_catalog.count(*) FILTER (
				   WHERE x.status IS NULL OR x.status NOT BETWEEN 200 AND 299) AS failed
		FROM webhook.attempt x
		WHERE x.endpoint_id OPERATOR(pg_catalog.=) e.id
		  AND x.started_at OPERATOR(pg_catalog.>)
			  (pg_catalog.now() OPERATOR(pg_catalog.-) '1 hour'::pg_catalog.interval)) a ON true
	WHERE e.tenant OPERATOR(pg_catalog.=) t
	ORDER BY e.name;
END
$$;

COMMENT ON FUNCTION webhook.tenant_endpoint_stats(text) IS
'Per endpoint of a tenant: state, backlog, the last hour''s deliveries, dead events and failed attempts, and the last error';

/*
 * The event-type catalog, for webhook_admin: the types the application
 * offers.  create_event_type() publishes a type or, for one already there,
 * replaces its description and schema and brings it back from the archive,
 * so a deployment may run it every time.  An archived type stays for the
 * receivers that take it, and is offered to no new subscription or filter
 * while "webhook.check_event_types" is on.
 */
CREATE FUNCTION webhook.create_event_type(name text,
										  description text DEFAULT NULL,
										  schema jsonb DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF name IS NULL THEN
		RAISE EXCEPTION 'argument "name" must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF name OPERATOR(pg_catalog.!~) '^[A-Za-z0-9_.:-]{1,255}$'
		OR pg_catalog.octet_length(name) OPERATOR(pg_catalog.>) 255 THEN
		RAISE EXCEPTION 'invalid event type "%"', name
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An event type is at most 255 bytes, of letters, digits and the characters "._-:".';
	END IF;
	IF schema IS NOT NULL
		AND pg_catalog.jsonb_typeof(schema) OPERATOR(pg_catalog.<>) 'object' THEN
		RAISE EXCEPTION 'argument "schema" must be a JSON object'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Pass the JSON schema of the events'' "data".';
	END IF;
	INSERT INTO webhook.event_types AS c (name, description, schema)
	VALUES (create_event_type.name, create_event_type.description,
			create_event_type.schema)
	ON CONFLICT ON CONSTRAINT event_types_pkey DO UPDATE
	SET description = excluded.description, schema = excluded.schema,
		archived = false;
END
$$;

COMMENT ON FUNCTION webhook.create_event_type(text, text, jsonb) IS
'Publish an event type in the catalog, with its description and the JSON schema of its data; an existing one is replaced and unarchived';

CREATE FUNCTION webhook.archive_event_type(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE webhook.event_types c SET archived = true
	WHERE c.name OPERATOR(pg_catalog.=) archive_event_type.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event type "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.archive_event_type(text) IS
'Archive an event type: kept in the catalog, offered to no new subscription or filter';

CREATE FUNCTION webhook.drop_event_type(name text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	DELETE FROM webhook.event_types c
	WHERE c.name OPERATOR(pg_catalog.=) drop_event_type.name;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'event type "%" does not exist', name
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;

COMMENT ON FUNCTION webhook.drop_event_type(text) IS
'Remove an event type from the catalog';

/* ---------------------------------------------------------------------
 * Views
 * --------------------------------------------------------------------- */

/* the endpoints, with the transport options that are not secret */
CREATE VIEW webhook.endpoints AS
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

COMMENT ON VIEW webhook.endpoints IS
'Endpoints without their secrets or header values';

CREATE VIEW webhook.subscriptions AS
SELECT t.tgrelid::regclass AS table_name,
	   t.tgname AS trigger_name,
	   NULLIF(args[1], '') AS endpoint,
	   CASE WHEN args[1] = '' THEN args[3:] ELSE args[2:] END AS options,
	   t.tgenabled <> 'D' AS enabled,
	   pg_catalog.pg_get_triggerdef(t.oid) AS definition,
	   CASE WHEN args[1] <> '' THEN 'endpoint'
			WHEN args[2] = 'broadcast' THEN 'broadcast'
			ELSE 'tenant' END AS routing,
	   CASE WHEN args[1] <> '' THEN NULL
			WHEN pg_catalog.starts_with(args[2], 'tenant=') THEN
				(webhook._column_list_names(pg_catalog.substr(args[2], 8)))[1]
			WHEN pg_catalog.starts_with(args[2], 'tenant_expr=') THEN
				pg_catalog.substr(args[2], 13) END AS tenant
FROM pg_catalog.pg_trigger t,
	 LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs) AS args) x
WHERE t.tgfoid = 'webhook.capture()'::regprocedure;

COMMENT ON VIEW webhook.subscriptions IS
'Every trigger that captures events, with its endpoint (NULL when routed) and options, how it routes (endpoint, tenant or broadcast) and the tenant column or expression';

/*
 * The events: every row of the outbox, with the body as sent, and every
 * delivered event whose row is gone, from its last attempt in the history
 * (no type or payload then: they went with the row).  An event kept in the
 * outbox is shown from there alone, so none is listed twice.  Its latest
 * result is looked up in the history only once it has been attempted.
 */
CREATE VIEW webhook.events AS
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
LEFT JOIN webhook.message m ON m.id = ev.message_id
CROSS JOIN LATERAL webhook._event_body(coalesce(ev.payload, m.payload),
									   ev.created_at) AS b(body)
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
CREATE VIEW webhook.attempts AS
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
CREATE VIEW webhook.endpoint_stats AS
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

/* ---------------------------------------------------------------------
 * Event triggers
 * --------------------------------------------------------------------- */

CREATE EVENT TRIGGER webhook_follow_rename ON ddl_command_end
	WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER FUNCTION',
				 'ALTER SCHEMA', 'ALTER TYPE')
	EXECUTE FUNCTION webhook._follow_rename();

/*
 * Dropping a column a subscription excludes is refused, naming the
 * subscription: its list would otherwise name a column that is not there
 * (and a column added later under that name would be left out unasked).
 * Columns a subscription watches (UPDATE OF) or its condition reads are
 * protected by PostgreSQL's own dependencies.  SECURITY DEFINER, since it
 * runs for whoever drops a column and reads the extension's helpers.
 */
CREATE FUNCTION webhook._refuse_drop_excluded()
RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	d record;
	s record;
BEGIN
	FOR d IN SELECT x.objid, x.address_names
			 FROM pg_catalog.pg_event_trigger_dropped_objects() x
			 WHERE x.object_type OPERATOR(pg_catalog.=) 'table column' LOOP
		FOR s IN SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS tbl,
						a.args[1] AS endpoint
				 FROM pg_catalog.pg_trigger t,
					  LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs)
							   AS args) a
				 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.objid
				   AND t.tgfoid OPERATOR(pg_catalog.=)
					   'webhook.capture()'::pg_catalog.regprocedure
				   AND EXISTS (
					   SELECT FROM pg_catalog.unnest(a.args[2:]) o(opt)
					   WHERE pg_catalog.starts_with(o.opt, 'exclude=')
						 AND d.address_names[3] OPERATOR(pg_catalog.=) ANY (
							 webhook._column_list_names(
								 pg_catalog.substr(o.opt, 9))))
				 ORDER BY t.tgname LIMIT 1 LOOP
			RAISE EXCEPTION 'cannot drop column "%" of table "%" because subscription "%" excludes it',
				d.address_names[3], d.address_names[2], s.tgname
				USING ERRCODE = 'dependent_objects_still_exist',
					  HINT = pg_catalog.format('Unsubscribe with webhook.unsubscribe(%L, %L, name => %L), drop the column, then subscribe again without excluding it.',
											   s.tbl::text, NULLIF(s.endpoint, ''), s.tgname);
		END LOOP;
		-- a subscription routed by the column reads it from every row
		FOR s IN SELECT t.tgname, t.tgrelid::pg_catalog.regclass AS tbl
				 FROM pg_catalog.pg_trigger t,
					  LATERAL (SELECT webhook._trigger_args(t.tgargs, t.tgnargs)
							   AS args) a
				 WHERE t.tgrelid OPERATOR(pg_catalog.=) d.objid
				   AND t.tgfoid OPERATOR(pg_catalog.=)
					   'webhook.capture()'::pg_catalog.regprocedure
				   AND a.args[1] OPERATOR(pg_catalog.=) ''
				   AND pg_catalog.starts_with(a.args[2], 'tenant=')
				   AND d.address_names[3] OPERATOR(pg_catalog.=) ANY (
					   webhook._column_list_names(pg_catalog.substr(a.args[2], 8)))
				 ORDER BY t.tgname LIMIT 1 LOOP
			RAISE EXCEPTION 'cannot drop column "%" of table "%" because subscription "%" routes by it',
				d.address_names[3], d.address_names[2], s.tgname
				USING ERRCODE = 'dependent_objects_still_exist',
					  HINT = pg_catalog.format('Unsubscribe with webhook.unsubscribe(%L, NULL, name => %L), drop the column, then subscribe again with another tenant column.',
											   s.tbl::text, s.tgname);
		END LOOP;
	END LOOP;
END
$$;

/*
 * An excluded column is dropped not only by ALTER TABLE ... DROP COLUMN
 * and DROP TYPE or DROP DOMAIN ... CASCADE, but by any drop that cascades
 * to it: of its collation, of a function or operator a generated column
 * uses, of a schema, an extension or a role's objects.  So the refusal
 * listens to every drop; the function looks only at dropped columns.
 */
CREATE EVENT TRIGGER webhook_refuse_drop_excluded ON sql_drop
	EXECUTE FUNCTION webhook._refuse_drop_excluded();

/* ---------------------------------------------------------------------
 * Receiving: verifying and deduplicating requests the application receives
 * --------------------------------------------------------------------- */

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

/* webhook_admin is given both below, with every function of the schema */
REVOKE ALL ON FUNCTION webhook.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.stats() TO pg_monitor;

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
GRANT EXECUTE ON FUNCTION webhook.endpoint_status() TO pg_monitor;

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
GRANT SELECT ON webhook.progress TO webhook_admin;
/* tenant_replay() reports its progress as its caller */
GRANT EXECUTE ON FUNCTION webhook._progress_begin(text, text, bigint),
	webhook._progress_advance(bigint, bigint, text), webhook._progress_end()
	TO webhook_tenant;
GRANT EXECUTE ON FUNCTION webhook._progress() TO webhook_tenant;
GRANT SELECT ON webhook.progress TO webhook_tenant;

/* ---------------------------------------------------------------------
 * Where events are sent from
 * --------------------------------------------------------------------- */

/*
 * Installing into a database that "webhook.database" leaves out is allowed
 * (events are kept), but nothing is sent from it: say so at once, as a
 * warning, since extension scripts run with client_min_messages at warning.
 */
DO $$
DECLARE
	only_db text := pg_catalog.current_setting('webhook.database', true);
BEGIN
	IF only_db IS NOT NULL AND only_db OPERATOR(pg_catalog.<>) ''
		AND only_db OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
		RAISE WARNING 'webhook events of database "%" are not sent',
			pg_catalog.current_database()
			USING DETAIL = pg_catalog.format('"webhook.database" is "%s", so only that database has a delivery worker.', only_db),
			HINT = 'Set "webhook.database" to an empty string to send from every database, and restart the server.';
	END IF;
END
$$;

/* ---------------------------------------------------------------------
 * Roles and privileges
 * --------------------------------------------------------------------- */


/*
 * PUBLIC gets schema usage and the pure helpers (sign, webhook_id, verify),
 * and nothing else.  webhook.capture() is not PUBLIC's: EXECUTE on a trigger
 * function is checked when a trigger is created, not when it fires, so
 * writers to a subscribed table need nothing, while only members of
 * webhook_user or webhook_admin can attach the function to a table (it
 * writes to the outbox as the extension's owner).
 */
REVOKE ALL ON ALL TABLES IN SCHEMA webhook FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA webhook FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA webhook FROM PUBLIC;
GRANT USAGE ON SCHEMA webhook TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.sign(text, text, bigint, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.webhook_id(uuid) TO PUBLIC;
GRANT EXECUTE ON FUNCTION webhook.verify(text, jsonb, text, interval)
	TO PUBLIC;

/*
 * webhook_admin: everything, secrets included (pg_dump as it keeps them);
 * the history through its parent, webhook.attempt, which reads every
 * segment (the segments themselves and webhook.attempt_segment are the
 * worker's)
 */
GRANT SELECT, INSERT, UPDATE, DELETE
	ON webhook.endpoint, webhook.event, webhook.attempt, webhook.endpoint_health,
	   webhook.message, webhook.event_types, webhook.inbox
	TO webhook_admin;
GRANT USAGE, SELECT, UPDATE
	ON webhook.endpoint_id_seq, webhook.event_id_seq TO webhook_admin;
GRANT SELECT ON webhook.endpoints, webhook.events, webhook.attempts,
	webhook.subscriptions, webhook.endpoint_stats TO webhook_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA webhook TO webhook_admin;

/*
 * webhook_user: subscribe tables it may put triggers on, see
 * subscriptions, and run the helpers subscribe() calls as its caller
 */
GRANT SELECT ON webhook.subscriptions TO webhook_user;
GRANT EXECUTE ON FUNCTION
	webhook.capture(),
	webhook.subscribe(regclass, text, text[], text[], text, text[], text,
					  text, text, regprocedure, text, boolean),
	webhook.unsubscribe(regclass, text, text),
	webhook._endpoint_exists(text),
	webhook._check_capture_args(regclass, text[]),
	webhook._check_condition(text),
	webhook._column_list(text[]),
	webhook._depend_on_function(regclass, name, regprocedure),
	webhook._trigger_args(bytea, smallint)
	TO webhook_user;

/* webhook_receiver: receive requests into the inbox, nothing else */
GRANT EXECUTE ON FUNCTION webhook.receive(text, jsonb, text, interval)
	TO webhook_receiver;


/*
 * Row-level security: a tenant reaches its own tenant's rows only, by any
 * path (the tenant functions run as their caller, and a tenant may also
 * use plain SQL on the tables it is granted).  A SECURITY DEFINER wrapper
 * could not tell whom it serves: inside it, current_user is its owner.
 * webhook_admin keeps seeing and changing everything.  The tables' owner
 * (the extension's, a superuser) is not held by the policies (no FORCE),
 * so the worker and the capture trigger, which write as the owner, pay
 * nothing; pg_dump reads the configuration tables as a superuser.  Roles
 * without a policy of their own see no rows, whatever else they are
 * granted.
 *
 * A tenant's endpoints are those whose tenant is the session's; its
 * events, attempts and health are those of its endpoints (the history's
 * policy, on its parent webhook.attempt, applies to every segment read
 * through it; the segments themselves are the worker's), and its shared
 * payloads are those its events refer to (its events' message_id is not
 * among the columns it may set).  WITH CHECK keeps its writes inside the
 * tenant: an endpoint cannot be moved to another tenant, nor an event
 * pointed at another tenant's endpoint.  The tenant is looked up once
 * a statement (an initplan), not once a row.
 */
ALTER TABLE webhook.endpoint ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.event ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.message ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.attempt ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.endpoint_health ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook.tenant_role ENABLE ROW LEVEL SECURITY;

CREATE POLICY admin_all ON webhook.endpoint TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.event TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.message TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.attempt TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.endpoint_health TO webhook_admin
	USING (true) WITH CHECK (true);
CREATE POLICY admin_all ON webhook.tenant_role TO webhook_admin
	USING (true) WITH CHECK (true);

CREATE POLICY tenant_own ON webhook.endpoint TO webhook_tenant
	USING (tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant()))
	WITH CHECK (tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant()));
CREATE POLICY tenant_own ON webhook.event TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.id OPERATOR(pg_catalog.=) event.endpoint_id
					 AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())))
	WITH CHECK (EXISTS (SELECT FROM webhook.endpoint e
						WHERE e.id OPERATOR(pg_catalog.=) event.endpoint_id
						  AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())));
CREATE POLICY tenant_own ON webhook.message TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.event ev
				   WHERE ev.message_id OPERATOR(pg_catalog.=) message.id));
CREATE POLICY tenant_own ON webhook.attempt TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.id OPERATOR(pg_catalog.=) attempt.endpoint_id
					 AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())));
CREATE POLICY tenant_own ON webhook.endpoint_health TO webhook_tenant
	USING (EXISTS (SELECT FROM webhook.endpoint e
				   WHERE e.id OPERATOR(pg_catalog.=) endpoint_health.endpoint_id
					 AND e.tenant OPERATOR(pg_catalog.=) (SELECT webhook.current_tenant())));
CREATE POLICY tenant_own ON webhook.tenant_role TO webhook_tenant
	USING (role OPERATOR(pg_catalog.=) CURRENT_USER
		   OR role OPERATOR(pg_catalog.=) SESSION_USER);

/*
 * webhook_tenant: the tenant functions, and on its own rows (row-level
 * security above) the columns a customer may safely set itself: never the
 * transport (proxy, CA bundle, client certificate, TLS verification), the
 * delivery policy, the batching, or the operational flag, which are the
 * application's; direct writes are checked as the functions check them
 * (see _endpoint_tenant_check()).  It reads the event-type catalog, as
 * webhook_user does.
 */
GRANT SELECT ON webhook.event_types TO webhook_tenant, webhook_user;
GRANT SELECT ON webhook.tenant_role TO webhook_tenant;
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook.tenant_role TO webhook_admin;
GRANT SELECT (id, name, url, secret, previous_secret,
			  previous_secret_expires_at, headers, enabled, disabled_reason,
			  disabled_at, created_at, paused, tenant, description, metadata,
			  event_types),
	  INSERT (name, url, secret, headers, tenant, description, metadata,
			  event_types),
	  UPDATE (name, url, secret, previous_secret, previous_secret_expires_at,
			  headers, enabled, paused, disabled_reason, disabled_at, tenant,
			  description, metadata, event_types),
	  DELETE
	ON webhook.endpoint TO webhook_tenant;
GRANT SELECT, DELETE,
	  INSERT (endpoint_id, msg_id, created_at, next_attempt_at, payload),
	  UPDATE (state, next_attempt_at, finished_at, retry_from)
	ON webhook.event TO webhook_tenant;
GRANT SELECT ON webhook.message, webhook.attempt TO webhook_tenant;
GRANT SELECT,
	  UPDATE (consecutive_failures, failing_since, probe_step, next_probe_at)
	ON webhook.endpoint_health TO webhook_tenant;
GRANT USAGE ON webhook.endpoint_id_seq, webhook.event_id_seq TO webhook_tenant;
GRANT EXECUTE ON FUNCTION
	webhook.current_tenant(),
	webhook._tenant(text),
	webhook._tenant_endpoint(text, text, boolean),
	webhook._tenant_create_endpoint(text, text, text[], text, jsonb, text,
									jsonb, text),
	webhook.tenant_endpoints(text),
	webhook.tenant_create_endpoint(text, text, text[], text, jsonb, text,
								   jsonb, text),
	webhook.tenant_alter_endpoint(text, text, text[], text, jsonb, jsonb, text),
	webhook.tenant_disable_endpoint(text, text),
	webhook.tenant_enable_endpoint(text, text),
	webhook.tenant_drop_endpoint(text, boolean, text),
	webhook.tenant_rotate_secret(text, interval, text, text),
	webhook.tenant_endpoint_secret(text, text),
	webhook.tenant_deliveries(text, timestamptz, timestamptz,
							  webhook.event_state, integer, text),
	webhook.tenant_attempts(text, bigint, timestamptz, integer, text),
	webhook.tenant_replay(timestamptz, timestamptz, text, text),
	webhook.tenant_send_test(text, text),
	webhook.tenant_endpoint_stats(text),
	webhook.generate_secret(text),
	webhook.webhook_id(uuid),
	webhook._event_body(json, timestamptz),
	webhook._check_endpoint(text, text, jsonb),
	webhook._check_endpoint_name(text),
	webhook._check_routing(text, text[]),
	webhook._check_event_type(text),
	webhook._endpoint_subscribed(text),
	webhook._trigger_args(bytea, smallint),
	webhook._release_backlog(integer),
	webhook._wake()
	TO webhook_tenant;
GRANT EXECUTE ON FUNCTION webhook._check_event_type(text) TO webhook_user;
