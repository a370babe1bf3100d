-- Tenants: the functions an application calls for its customers, for a
-- trusted backend (the tenant passed) and for a tenant's own session (a role
-- mapped to a tenant, or the "webhook.tenant" setting), filters, secrets,
-- and the event-type catalog with its check.
\set VERBOSITY sqlstate
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- the extension made the tenants' role, which cannot log in
SELECT rolname, rolcanlogin, rolsuper FROM pg_roles
WHERE rolname = 'webhook_tenant';
-- and row-level security on the tables a tenant reaches
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c
WHERE c.relnamespace = 'webhook'::regnamespace AND c.relrowsecurity
ORDER BY 1;

CREATE ROLE tn_app IN ROLE webhook_admin;
CREATE ROLE tn_shop1;
CREATE ROLE tn_shop2;
CREATE ROLE tn_gateway IN ROLE webhook_tenant;

-- mapping roles to tenants
SELECT webhook.grant_tenant('tn_shop1', 'merchant-1');
SELECT webhook.grant_tenant('tn_shop2', 'merchant-2');
SELECT pg_has_role('tn_shop1', 'webhook_tenant', 'MEMBER') AS member;
SELECT role, tenant FROM webhook.tenant_role ORDER BY role;
-- superusers and webhook_admin are not held by row-level security
SELECT webhook.grant_tenant('tn_app', 'merchant-1');
SELECT webhook.grant_tenant(current_user::regrole, 'merchant-1');
SELECT webhook.grant_tenant('tn_shop1', '');
SELECT webhook.grant_tenant('tn_shop1', NULL);
SELECT webhook.revoke_tenant('tn_gateway');

-- a trusted backend passes the tenant
SET ROLE tn_app;
SELECT webhook.current_tenant() IS NULL AS no_session_tenant;
SELECT name, url, event_types, description, metadata, enabled, paused,
	   disabled_reason, signature, secret ~ '^whsec_[A-Za-z0-9+/]{43}=$' AS secret_ok
FROM webhook.tenant_create_endpoint('m1-orders', 'https://m1.example.com/hooks',
	event_types => '{order.*,invoice.paid}', description => 'orders',
	metadata => '{"team": "ops"}', headers => '{"X-Shop": "1"}',
	tenant => 'merchant-1');
-- v1a: a key of the scheme generate_secret() gives
SELECT name, signature = (CASE WHEN webhook.generate_secret('v1a') LIKE 'whsk_%'
							   THEN 'v1a' ELSE 'v1' END) AS scheme_ok,
	   left(secret, 5) = left(webhook.generate_secret('v1a'), 5) AS key_ok
FROM webhook.tenant_create_endpoint('m2-all', 'https://m2.example.com/hooks',
	signature => 'v1a', tenant => 'merchant-2');
SELECT name, url, event_types, description, metadata, signature
FROM webhook.tenant_endpoints(tenant => 'merchant-1');
SELECT name FROM webhook.tenant_endpoints(tenant => 'merchant-2');
SELECT count(*) FROM webhook.tenant_endpoints(tenant => 'merchant-3');
-- the tenant is stored, and the admin's own listing shows it
SELECT name, tenant, event_types, has_proxy, tls_insecure, operational
FROM webhook.endpoints WHERE tenant IS NOT NULL ORDER BY name;
-- no tenant named: refused with a hint
SELECT * FROM webhook.tenant_endpoints();
SELECT webhook.tenant_endpoints(tenant => '');
RESET ROLE;

-- a tenant's own session: its role's tenant, whatever it passes or sets
SET ROLE tn_shop1;
SELECT webhook.current_tenant();
SET webhook.tenant = 'merchant-2';
SELECT webhook.current_tenant();
RESET webhook.tenant;
SELECT name FROM webhook.tenant_endpoints();
SELECT name FROM webhook.tenant_endpoints(tenant => 'merchant-1');
SELECT name FROM webhook.tenant_endpoints(tenant => 'merchant-2');
-- create: the name is checked, the URL, the filter, the headers
SELECT name, event_types FROM webhook.tenant_create_endpoint('m1-billing',
	'https://billing.m1.example.com/', event_types => '{invoice.*}');
SELECT * FROM webhook.tenant_create_endpoint('m2-all', 'https://x.example.com/');
SELECT * FROM webhook.tenant_create_endpoint('', 'https://x.example.com/');
SELECT * FROM webhook.tenant_create_endpoint('bad', 'ftp://x.example.com/');
SELECT * FROM webhook.tenant_create_endpoint('bad', NULL);
SELECT * FROM webhook.tenant_create_endpoint('bad', 'https://x.example.com/',
	event_types => '{}');
SELECT * FROM webhook.tenant_create_endpoint('bad', 'https://x.example.com/',
	event_types => '{"order created"}');
SELECT * FROM webhook.tenant_create_endpoint('bad', 'https://x.example.com/',
	headers => '{"webhook-signature": "forged"}');
SELECT * FROM webhook.tenant_create_endpoint('bad', 'https://x.example.com/',
	metadata => '[1]');
SELECT * FROM webhook.tenant_create_endpoint('bad', 'https://x.example.com/',
	signature => 'v2');
SELECT count(*) AS bad_created FROM webhook.tenant_endpoints() WHERE name = 'bad';
-- alter: NULL keeps, an empty list clears the filter, '' the description
SELECT webhook.tenant_alter_endpoint('m1-billing', url => 'https://b2.m1.example.com/',
	description => 'billing', metadata => '{"v": 2}');
SELECT name, url, event_types, description, metadata
FROM webhook.tenant_endpoints() WHERE name = 'm1-billing';
SELECT webhook.tenant_alter_endpoint('m1-billing', event_types => '{}',
	description => '');
SELECT name, url, event_types, description
FROM webhook.tenant_endpoints() WHERE name = 'm1-billing';
SELECT webhook.tenant_alter_endpoint('m1-billing', url => 'gopher://x/');
SELECT webhook.tenant_alter_endpoint('m1-billing', headers => '{"Host": "evil"}');
SELECT webhook.tenant_alter_endpoint('nope');
-- disable and enable
SELECT webhook.tenant_disable_endpoint('m1-billing');
SELECT name, enabled, paused, disabled_reason FROM webhook.tenant_endpoints()
WHERE name = 'm1-billing';
SELECT webhook.tenant_enable_endpoint('m1-billing');
SELECT name, enabled, disabled_reason FROM webhook.tenant_endpoints()
WHERE name = 'm1-billing';
-- secrets: read, rotate (the old one signs during the overlap), switch scheme
SELECT webhook.tenant_endpoint_secret('m1-billing') ~ '^whsec_' AS secret_ok;
CREATE TEMP TABLE old_secret AS
SELECT webhook.tenant_endpoint_secret('m1-billing') AS s;
SELECT webhook.tenant_rotate_secret('m1-billing') ~ '^whsec_' AS rotated;
SELECT webhook.tenant_endpoint_secret('m1-billing') <> (SELECT s FROM old_secret) AS changed;
SELECT previous_secret = (SELECT s FROM old_secret) AS old_kept,
	   previous_secret_expires_at > now() + interval '23 hours' AS overlap_24h
FROM webhook.endpoint WHERE name = 'm1-billing';
SELECT left(webhook.tenant_rotate_secret('m1-billing', overlap => '1h', signature => 'v1a'), 5)
	   = left(webhook.generate_secret('v1a'), 5) AS v1a;
SELECT previous_secret_expires_at < now() + interval '2 hours' AS overlap_1h
FROM webhook.endpoint WHERE name = 'm1-billing';
SELECT webhook.tenant_rotate_secret('m1-billing', overlap => '-1h');
SELECT webhook.tenant_rotate_secret('m1-billing', signature => 'v9');
DROP TABLE old_secret;
-- a test event, its delivery row, replay and stats
SELECT webhook.tenant_send_test('m1-orders') > 0 AS queued;
SELECT endpoint, type, state, attempts, last_status FROM webhook.tenant_deliveries();
SELECT endpoint, type, state FROM webhook.tenant_deliveries(endpoint => 'm1-orders',
	state => 'pending', since => now() - interval '1 minute');
SELECT count(*) FROM webhook.tenant_deliveries(state => 'dead');
SELECT count(*) FROM webhook.tenant_deliveries(until => '-infinity');
SELECT count(*) FROM webhook.tenant_attempts();
SELECT name, state, pending, delivered_last_hour, dead_last_hour
FROM webhook.tenant_endpoint_stats();
RESET ROLE;

-- failures as the worker records them: a failed attempt, a dead event
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
	endpoint_id, duration_us, attempt, status, final, error, response)
SELECT ev.id, ev.created_at, now(), ev.msg_id, ev.endpoint_id, 1500, 1, 500,
	   false, NULL, repeat('x', 300)
FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id
WHERE e.name = 'm1-orders';
UPDATE webhook.event ev SET attempts = 1, next_attempt_at = now() + interval '1h'
FROM webhook.endpoint e WHERE e.id = ev.endpoint_id AND e.name = 'm1-orders';
SET ROLE tn_shop1;
SELECT webhook.tenant_send_test('m1-billing') > 0 AS queued;
RESET ROLE;
UPDATE webhook.event ev SET state = 'dead', finished_at = now(), attempts = 3
FROM webhook.endpoint e
WHERE e.id = ev.endpoint_id AND e.name = 'm1-billing';

SET ROLE tn_shop1;
SELECT endpoint, state, attempts, last_status FROM webhook.tenant_deliveries()
ORDER BY endpoint;
SELECT endpoint, attempt, status, duration, length(response) AS excerpt
FROM webhook.tenant_attempts();
SELECT count(*) FROM webhook.tenant_attempts(endpoint => 'm1-billing');
SELECT name, state, pending, dead_last_hour, failed_attempts_last_hour
FROM webhook.tenant_endpoint_stats();
-- replay over a time range: the failed pending one and the dead one
SELECT webhook.tenant_replay(since => now() + interval '1 minute');
SELECT webhook.tenant_replay(since => now() - interval '1 minute', endpoint => 'm1-billing');
SELECT webhook.tenant_replay(since => '-infinity');
SELECT endpoint, state, next_attempt_at <= clock_timestamp() AS due
FROM webhook.tenant_deliveries() ORDER BY endpoint;
SELECT webhook.tenant_replay(NULL);
-- drop: refused while events are pending, then with discard_pending
SELECT webhook.tenant_drop_endpoint('m1-billing');
SELECT webhook.tenant_drop_endpoint('m1-billing', discard_pending => true);
SELECT name FROM webhook.tenant_endpoints();
RESET ROLE;

-- a subscribed endpoint cannot be dropped or renamed by its tenant
CREATE TABLE tn_orders (id int PRIMARY KEY);
SELECT webhook.subscribe('tn_orders', 'm1-orders');
SET ROLE tn_shop1;
SELECT webhook.tenant_drop_endpoint('m1-orders', discard_pending => true);
DELETE FROM webhook.endpoint WHERE name = 'm1-orders';
UPDATE webhook.endpoint SET name = 'm1-renamed' WHERE name = 'm1-orders';
RESET ROLE;
SELECT webhook.unsubscribe('tn_orders', 'm1-orders');

-- a connection the application controls: webhook.tenant names the tenant
SET ROLE tn_gateway;
SELECT webhook.current_tenant() IS NULL AS unset;
SELECT * FROM webhook.tenant_endpoints();
SET webhook.tenant = 'merchant-2';
SELECT webhook.current_tenant();
SELECT name FROM webhook.tenant_endpoints();
SELECT name FROM webhook.tenant_endpoints(tenant => 'merchant-1');
SET webhook.tenant = 'merchant-1';
SELECT name FROM webhook.tenant_endpoints();
RESET webhook.tenant;
RESET ROLE;

-- the event-type catalog
SELECT webhook.create_event_type('order.created', 'An order was placed',
	'{"type": "object", "required": ["id"]}');
SELECT webhook.create_event_type('order.paid', 'An order was paid');
SELECT webhook.create_event_type('invoice.paid');
SELECT webhook.create_event_type('invoice.paid', 'An invoice was paid');
SELECT webhook.create_event_type('bad type');
SELECT webhook.create_event_type(NULL);
SELECT webhook.create_event_type('x.y', schema => '"string"');
SELECT webhook.archive_event_type('order.paid');
SELECT webhook.archive_event_type('nope');
SELECT name, description, schema, archived FROM webhook.event_types ORDER BY name;
-- tenants and subscribers read it
SET ROLE tn_shop1;
SELECT name FROM webhook.event_types WHERE NOT archived ORDER BY name;
SELECT webhook.create_event_type('tenant.made');
RESET ROLE;
-- the check is off by default: any filter and event type
SHOW webhook.check_event_types;
SELECT webhook.create_endpoint('unchecked', 'https://u.example.com/',
	event_types => '{whatever.*}') > 0 AS created;
-- only superusers turn it on or off
SET ROLE tn_shop1;
SET webhook.check_event_types = off;
RESET ROLE;
SET webhook.check_event_types = on;
-- each filter must match a type that is not archived
SELECT webhook.create_endpoint('checked', 'https://c.example.com/',
	event_types => '{order.*}') > 0 AS created;
SELECT webhook.create_endpoint('checked2', 'https://c.example.com/',
	event_types => '{order.*,refund.*}');
SELECT webhook.create_endpoint('checked2', 'https://c.example.com/',
	event_types => '{order.paid}');
SELECT webhook.create_endpoint('checked2', 'https://c.example.com/',
	event_types => '{invoice_paid}');
SELECT webhook.alter_endpoint('checked', event_types => '{nothing.*}');
SELECT webhook.alter_endpoint('checked', event_types => '{invoice.paid}');
SELECT webhook.create_endpoint('checked3', 'https://c.example.com/') > 0 AS all_types;
SET ROLE tn_shop1;
SELECT * FROM webhook.tenant_create_endpoint('m1-refunds', 'https://m1.example.com/r',
	event_types => '{refund.*}');
SELECT webhook.tenant_alter_endpoint('m1-orders', event_types => '{order.created}');
RESET ROLE;
-- and a subscription's event type must be one
CREATE TABLE tn_invoices (id int PRIMARY KEY);
SELECT webhook.subscribe('tn_invoices', 'checked', event_type => 'invoice.void');
SELECT webhook.subscribe('tn_invoices', 'checked', event_type => 'order.paid');
SELECT webhook.subscribe('tn_invoices', 'checked', event_type => 'invoice.paid');
SELECT webhook.subscribe('tn_invoices', 'checked', name => 'untyped');
-- brought back from the archive
SELECT webhook.create_event_type('order.paid', 'An order was paid');
SELECT webhook.subscribe('tn_invoices', 'checked', event_type => 'order.paid',
	name => 'paid');
SELECT webhook.drop_event_type('order.paid');
SELECT webhook.drop_event_type('order.paid');
RESET webhook.check_event_types;

-- cleanup
SELECT webhook.unsubscribe('tn_invoices', 'checked', name => n)
FROM unnest(ARRAY['webhook_checked', 'untyped', 'paid']) n;
DROP TABLE tn_orders, tn_invoices;
SELECT webhook.drop_endpoint(name, discard_pending => true)
FROM webhook.endpoints WHERE name IN ('m1-orders', 'm2-all', 'unchecked', 'checked', 'checked3');
SELECT webhook.revoke_tenant('tn_shop1');
SELECT webhook.revoke_tenant('tn_shop1');
SELECT webhook.revoke_tenant('tn_shop2');
SELECT pg_has_role('tn_shop1', 'webhook_tenant', 'MEMBER') AS still_member;
DELETE FROM webhook.event_types;
DROP ROLE tn_app, tn_shop1, tn_shop2, tn_gateway;
