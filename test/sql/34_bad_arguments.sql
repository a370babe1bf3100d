-- Every function's NULL and empty arguments give errors that say which
-- argument is wrong; a value another setting caps is refused.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SELECT webhook.create_endpoint('args', 'http://127.0.0.1:9/args') > 0 AS created;
CREATE TABLE ar (id int PRIMARY KEY);

-- cases 1 to 6: creating an endpoint
SELECT webhook.create_endpoint(NULL, 'http://127.0.0.1:9/');
SELECT webhook.create_endpoint('', 'http://127.0.0.1:9/');
SELECT webhook.create_endpoint('x', NULL);
SELECT webhook.create_endpoint('x', '');
SELECT webhook.create_endpoint('x', 'http://127.0.0.1:9/', secret => '');
SELECT webhook.create_endpoint('x', 'http://127.0.0.1:9/', headers => '[]');

-- cases 7 to 10: a max_in_flight above "webhook.max_in_flight" is refused
SHOW webhook.max_in_flight;
SELECT webhook.create_endpoint('x', 'http://127.0.0.1:9/', max_in_flight => 200);
SELECT webhook.create_endpoint('x', 'http://127.0.0.1:9/', max_in_flight => 64) > 0 AS created_64;
SELECT webhook.alter_endpoint('x', max_in_flight => 65);
SELECT webhook.alter_endpoint('x', max_in_flight => 0);
SELECT max_in_flight FROM webhook.endpoints WHERE name = 'x';
SELECT webhook.drop_endpoint('x');

-- cases 11 to 29: each management function, given NULL
SELECT webhook.alter_endpoint(NULL, timeout => '1s');
SELECT webhook.alter_endpoint('args', new_name => '');
SELECT webhook.drop_endpoint(NULL);
SELECT webhook.rotate_secret(NULL);
SELECT webhook.rotate_secret('args', overlap => NULL);
SELECT webhook.endpoint_secret(NULL);
SELECT webhook.enable_endpoint(NULL);
SELECT webhook.retry(NULL);
SELECT webhook.replay(NULL, now());
SELECT webhook.replay('args', NULL);
SELECT webhook.set_delivery_policy(NULL, failure_threshold => 3);
SELECT webhook.pause(NULL);
SELECT webhook.resume(NULL);
SELECT webhook.discard(NULL::bigint);
SELECT webhook.discard(NULL::text);
SELECT webhook.send_test(NULL);
SELECT webhook.unsubscribe(NULL, 'args');
SELECT webhook.unsubscribe('ar', NULL);
SELECT webhook.preview(NULL, ROW(1)::ar);

-- cases 30 to 37: subscribe()
SELECT webhook.subscribe(NULL, 'args');
SELECT webhook.subscribe('ar', NULL);
SELECT webhook.subscribe('ar', '');
SELECT webhook.subscribe('ar', 'args', events => NULL);
SELECT webhook.subscribe('ar', 'args', events => ARRAY[NULL]);
SELECT webhook.subscribe('ar', 'args', name => '');
SELECT webhook.subscribe('ar', 'args', event_type => '');
SELECT webhook.subscribe('ar', 'args', format => '');

-- case 38: nothing was made along the way
SELECT count(*) AS subscriptions FROM webhook.subscriptions WHERE table_name = 'ar'::regclass;

DROP TABLE ar;
SELECT webhook.drop_endpoint('args', discard_pending => true);
