-- Asymmetric (v1a, Ed25519) signatures, and the receiving side: verify()
-- and receive()

-- a generated secret key: "whsk_" and the 64 bytes of seed and public key
SELECT webhook.generate_secret('v1a') ~ '^whsk_[A-Za-z0-9+/]{86}==$' AS sk_shape;
SELECT length(decode(substr(webhook.generate_secret('v1a'), 6), 'base64'))
	AS sk_bytes;
SELECT webhook.generate_secret('v1') ~ '^whsec_' AS v1_shape;
SELECT webhook.generate_secret('v2');
SELECT webhook.generate_secret('');

-- a fixed key pair (seed 01..20); its public key, from either form
SELECT webhook.public_key_of('whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB5tVYuj+ZU+UB4sRLoqYunkB+FOuaVvtfg45ELrQSWZA==');
SELECT webhook.public_key_of('whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=');
SELECT webhook.public_key_of('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');

-- Ed25519 is deterministic: the same signature as any other implementation
SELECT webhook.sign('whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyB5tVYuj+ZU+UB4sRLoqYunkB+FOuaVvtfg45ELrQSWZA==',
	'msg_1', 1700000000, '{"a":1}');
SELECT webhook.sign('whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=',
	'msg_1', 1700000000, '{"a":1}') AS seed_form;

-- malformed secret keys, and a public key where the secret key belongs
SELECT webhook.sign('whsk_', 'msg_1', 1, 'x');
SELECT webhook.sign('whsk_not base64', 'msg_1', 1, 'x');
SELECT webhook.sign('whsk_AQID', 'msg_1', 1, 'x');
-- the public half of another key
SELECT webhook.sign('whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAAtVYuj+ZU+UB4sRLoqYunkB+FOuaVvtfg45ELrQSWZA==',
	'msg_1', 1, 'x');
SELECT webhook.sign('whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=', 'msg_1', 1, 'x');

-- endpoints: created on v1a, moved to v1a by rotation, checked at the door
SELECT webhook.create_endpoint('sig_a', 'https://a.example.com/in', signature => 'v1a') > 0 AS created;
SELECT webhook.endpoint_secret('sig_a') ~ '^whsk_' AS a_is_v1a;
SELECT webhook.public_key('sig_a') = webhook.public_key_of(webhook.endpoint_secret('sig_a'))
	AS a_public_key;
SELECT webhook.public_key('sig_a') ~ '^whpk_[A-Za-z0-9+/]{43}=$' AS pk_shape;
SELECT webhook.create_endpoint('sig_b', 'https://b.example.com/in') > 0 AS created;
SELECT webhook.public_key('sig_b');
SELECT webhook.public_key('nope');
SELECT webhook.rotate_secret('sig_b', signature => 'v1a');
SELECT e.secret ~ '^whsk_' AS b_now_v1a, e.previous_secret ~ '^whsec_' AS b_was_v1
FROM webhook.endpoint e WHERE e.name = 'sig_b';
-- a rotation without arguments keeps the endpoint's scheme
SELECT webhook.rotate_secret('sig_a');
SELECT e.secret ~ '^whsk_' AS a_still_v1a, e.previous_secret ~ '^whsk_' AS a_was_v1a
FROM webhook.endpoint e WHERE e.name = 'sig_a';
SELECT webhook.rotate_secret('sig_a', secret => 'whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=');
SELECT webhook.public_key('sig_a');
SELECT webhook.rotate_secret('sig_a', secret => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
	signature => 'v1a');
SELECT webhook.rotate_secret('sig_a', signature => 'v3');
SELECT webhook.rotate_secret('sig_a', secret => 'whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=');
SELECT webhook.create_endpoint('sig_c', 'https://c.example.com/in', secret => 'whsk_AQID');

-- verify(): a v1a request, checked with the public key and the secret key
\set pk '\'whpk_ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ=\''
\set sk '\'whsk_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=\''
\set v1 '\'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\''
-- a tolerance of a century keeps the fixed timestamp inside it
\set tol '\'100 years\''
SELECT webhook.verify(:pk, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol);
-- header names in any case, the secret key, several signatures of which
-- one verifies, an unknown version passed over
SELECT webhook.verify(:sk, '{"Webhook-Id": "msg_1", "WEBHOOK-TIMESTAMP": "1700000000",
	"Content-Type": "application/json",
	"Webhook-Signature": "v2,abc v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol);
-- v1 with a whsec_ secret: what sign() computes verifies
SELECT webhook.verify(:v1, jsonb_build_object('webhook-id', 'msg_2',
	'webhook-timestamp', '1700000000',
	'webhook-signature', webhook.sign(:v1, 'msg_2', 1700000000, 'hello')),
	'hello', :tol);
-- and now, with the default tolerance
SELECT webhook.verify(:v1, jsonb_build_object('webhook-id', 'msg_2',
	'webhook-timestamp', extract(epoch FROM now())::bigint::text,
	'webhook-signature', webhook.sign(:v1, 'msg_2', extract(epoch FROM now())::bigint, 'hello')),
	'hello');

-- refused: a tampered body, another id, another key, the wrong scheme
SELECT webhook.verify(:pk, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":2}', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "msg_9", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw== v1a,AAAA"}',
	'{"a":1}', :tol);
SELECT webhook.verify(webhook.public_key_of(webhook.generate_secret('v1a')), '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol);
SELECT webhook.verify(:v1, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol);
-- stale and future timestamps, under the default tolerance (the detail
-- says by how many seconds, which varies)
\set VERBOSITY terse
SELECT webhook.verify(:pk, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}');
SELECT webhook.verify(:v1, jsonb_build_object('webhook-id', 'msg_3',
	'webhook-timestamp', (extract(epoch FROM now())::bigint + 3600)::text,
	'webhook-signature', webhook.sign(:v1, 'msg_3', extract(epoch FROM now())::bigint + 3600, 'x')),
	'x');
\set VERBOSITY default
-- malformed requests and keys
SELECT webhook.verify(:pk, '{"webhook-timestamp": "1", "webhook-signature": "v1a,x"}', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "m", "webhook-signature": "v1a,x"}', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "m", "webhook-timestamp": "1"}', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "m", "Webhook-Id": "n", "webhook-timestamp": "1", "webhook-signature": "v1a,x"}', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": 7, "webhook-timestamp": "1", "webhook-signature": "v1a,x"}', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "m", "webhook-timestamp": "soon", "webhook-signature": "v1a,x"}', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "m.1", "webhook-timestamp": "1", "webhook-signature": "v1a,x"}', '', :tol);
SELECT webhook.verify(:pk, '["webhook-id"]', '', :tol);
SELECT webhook.verify(:pk, '{"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1a,x"}', '', '-1 minute');
-- a tolerance of any size: the timestamp passes, the signature does not
SELECT webhook.verify(:pk, '{"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1a,x"}', '', '100000000 years');
SELECT webhook.verify('secret', '{}', '', :tol);
SELECT webhook.verify('whpk_AQID', '{}', '', :tol);
SELECT webhook.verify(NULL, '{}', '', :tol);

-- receive(): true the first time, false for the same id again; a failed
-- verification records nothing
SELECT webhook.receive(:pk, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol) AS first;
SELECT webhook.receive(:pk, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol) AS again;
SELECT webhook.receive(:pk, '{"webhook-id": "msg_5", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol);
SELECT webhook_id FROM webhook.inbox ORDER BY 1;
-- a rolled-back receive lets the retry through
BEGIN;
SELECT webhook.receive(:v1, jsonb_build_object('webhook-id', 'msg_2',
	'webhook-timestamp', '1700000000',
	'webhook-signature', webhook.sign(:v1, 'msg_2', 1700000000, 'hello')),
	'hello', :tol) AS in_rolled_back;
ROLLBACK;
SELECT webhook.receive(:v1, jsonb_build_object('webhook-id', 'msg_2',
	'webhook-timestamp', '1700000000',
	'webhook-signature', webhook.sign(:v1, 'msg_2', 1700000000, 'hello')),
	'hello', :tol) AS after_rollback;

-- privileges: verify() is anyone's; receive() webhook_receiver's and
-- webhook_admin's, who need nothing on the inbox; public_key() the admin's
CREATE ROLE sig_nobody;
CREATE ROLE sig_recv IN ROLE webhook_receiver;
SET ROLE sig_nobody;
SELECT webhook.verify(:pk, '{"webhook-id": "msg_1", "webhook-timestamp": "1700000000",
	"webhook-signature": "v1a,AB/LMJbSwc35ATf1WuKuqpMgqg+80rKxRdRAv12fAhrtF5ndlLV+3JJl3zzx3cWF35RqcWq/YzgQhmEfFMBhCw=="}',
	'{"a":1}', :tol) AS anyone_verifies;
SELECT webhook.receive(:pk, '{}', '', :tol);
SELECT webhook.public_key('sig_a');
SET ROLE sig_recv;
SELECT webhook.receive(:v1, jsonb_build_object('webhook-id', 'msg_6',
	'webhook-timestamp', '1700000000',
	'webhook-signature', webhook.sign(:v1, 'msg_6', 1700000000, 'hi')),
	'hi', :tol) AS receiver_receives;
SELECT count(*) FROM webhook.inbox;
RESET ROLE;
SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args, p.provolatile,
	   p.prosecdef
FROM pg_proc p
WHERE p.pronamespace = 'webhook'::regnamespace
  AND p.proname IN ('verify', 'receive', 'public_key', 'public_key_of',
					'rotate_secret', 'sign', 'generate_secret')
ORDER BY p.proname;
DROP ROLE sig_nobody;
DROP ROLE sig_recv;
SELECT webhook.drop_endpoint('sig_a');
SELECT webhook.drop_endpoint('sig_b');
TRUNCATE webhook.inbox;
