-- The delivery history read by the views and the operations.  No worker
-- serves this database: outbox rows and history rows are written here as
-- the worker writes them, a delivered event's outbox row removed unless
-- webhook.payload_retention keeps it, with timestamps relative to each
-- statement's now() so that every figure is exact.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
SELECT webhook.create_endpoint('hist', 'http://127.0.0.1:9/hist') > 0 AS created;

-- attempts: {started after creation, duration, status as seconds (0: no
-- response), 1s if it finished the event}; in_outbox: the row is kept
CREATE TEMP TABLE hist (n int, state webhook.event_state, in_outbox boolean,
						created interval, attempts interval[][],
						msg_id uuid DEFAULT gen_random_uuid());
INSERT INTO hist (n, state, in_outbox, created, attempts) VALUES
	-- delivered at the second attempt, its row removed
	(1, 'delivered', false, '31 min', '{{1min,1s,503,0},{11min,250ms,200,1s}}'),
	-- delivered, its row kept
	(2, 'delivered', true, '16 min', '{{1min,125ms,204,1s}}'),
	-- pending after a timeout
	(3, 'pending', true, '6 min', '{{1min,2s,0,0}}'),
	-- dead, its row kept for replay
	(4, 'dead', true, '45 min', '{{5min,1s,500,1s}}'),
	-- dead, its row removed after webhook.retention
	(5, 'dead', false, '2h 10min', '{{10min,1s,410,1s}}'),
	-- delivered, replayed and delivered again, its row removed
	(6, 'delivered', false, '2h 5min', '{{5min,100ms,200,1s},{1h 55min,100ms,200,1s}}'),
	-- delivered three hours ago, its row removed
	(7, 'delivered', false, '3 hours', '{{1s,40ms,200,1s}}');

INSERT INTO webhook.event (id, endpoint_id, msg_id, state, attempts,
						   created_at, next_attempt_at, finished_at, payload)
SELECT 2000000 + h.n, e.id, h.msg_id, h.state, array_length(h.attempts, 1),
	   now() - h.created,
	   CASE WHEN h.state = 'pending' THEN now() + interval '1 hour'
			ELSE now() - h.created END,
	   CASE WHEN h.state <> 'pending' THEN
		   now() - h.created + h.attempts[array_length(h.attempts, 1)][1]
		   + h.attempts[array_length(h.attempts, 1)][2] END,
	   json_build_object('type', 'hist.test', 'data', json_build_object('n', h.n))
FROM hist h, webhook.endpoint e WHERE e.name = 'hist' AND h.in_outbox;
INSERT INTO webhook.attempt_0 (event_id, created_at, started_at, msg_id,
							   endpoint_id, duration_us, attempt, status,
							   final, error)
SELECT 2000000 + h.n, now() - h.created, now() - h.created + h.attempts[i][1],
	   h.msg_id, e.id, (extract(epoch FROM h.attempts[i][2]) * 1000000)::int,
	   i, nullif(extract(epoch FROM h.attempts[i][3])::int, 0)::smallint,
	   h.attempts[i][4] > '0',
	   CASE WHEN extract(epoch FROM h.attempts[i][3]) = 0
			THEN 'Operation timed out' END
FROM hist h, webhook.endpoint e, generate_subscripts(h.attempts, 1) i
WHERE e.name = 'hist'
ORDER BY now() - h.created + h.attempts[i][1];

-- the parent holds no rows of its own
SELECT count(*) AS parent_rows FROM ONLY webhook.attempt;

-- every event once: those kept in the outbox from there, with type and
-- payload; delivered ones whose row is gone from the history, without;
-- the dead one whose row is gone not at all
SELECT ev.id - 2000000 AS n, ev.endpoint, ev.webhook_id = webhook.webhook_id(h.msg_id) AS same_id,
	   ev.type, ev.state, ev.attempts, ev.next_attempt_at IS NOT NULL AS due_at,
	   ev.finished_at - ev.created_at AS took, ev.last_result,
	   ev.payload -> 'data' AS data
FROM webhook.events ev JOIN hist h ON h.n = ev.id - 2000000
ORDER BY ev.id;
SELECT ev.id - 2000000 AS n, count(*) AS listed
FROM webhook.events ev WHERE ev.id > 2000000
GROUP BY ev.id HAVING count(*) <> 1;
SELECT state, count(*) FROM webhook.events WHERE endpoint = 'hist'
GROUP BY state ORDER BY state;
-- one event found by id, from either side
SELECT id - 2000000 AS n, state, type FROM webhook.events WHERE id = 2000001;
SELECT id - 2000000 AS n, state, type FROM webhook.events WHERE id = 2000002;

-- every attempt, with its duration, from the history alone
SELECT a.event_id - 2000000 AS n, a.endpoint,
	   a.webhook_id = webhook.webhook_id(h.msg_id) AS same_id,
	   a.attempt, a.started_at - ev_created.at AS after, a.duration, a.status,
	   a.error
FROM webhook.attempts a JOIN hist h ON h.n = a.event_id - 2000000,
	 LATERAL (SELECT b.created_at AS at FROM webhook.attempt b
			  WHERE b.event_id = a.event_id AND b.attempt = 1) ev_created
ORDER BY a.event_id, a.attempt;

-- the last hour's figures, from the history: deliveries 1, 2 and the
-- replay of 6 (not 7, three hours ago, nor 6's first); failed attempts 1's
-- first, 3's and 4's; dead: 4, which the outbox keeps; pending: 3
SELECT name, state, pending, delivered_last_hour, dead_last_hour,
	   failed_attempts_last_hour
FROM webhook.endpoint_stats WHERE name = 'hist';
-- delivery latency (capture to 2xx): 1m0.125s, 11m0.25s, 1h55m0.1s;
-- attempt latency: 0.1, 0.125, 0.25, 1, 1, 2 seconds
SELECT delivery_p50, attempt_p50, attempt_p99
FROM webhook.endpoint_stats WHERE name = 'hist';

-- an event whose row is gone cannot be sent again: its payload went with it
SELECT webhook.retry(2000001);
\echo :LAST_ERROR_SQLSTATE
SELECT webhook.retry(2000005);
\echo :LAST_ERROR_SQLSTATE
SELECT webhook.retry(2999999);
\echo :LAST_ERROR_SQLSTATE
-- nor discarded: it is not pending (and is not unknown)
SELECT webhook.discard(2000001);
\echo :LAST_ERROR_SQLSTATE
SELECT webhook.discard(2000006);
\echo :LAST_ERROR_SQLSTATE
SELECT webhook.discard(2999999);
\echo :LAST_ERROR_SQLSTATE

-- a delivered event whose row is kept can be sent again
SELECT webhook.retry(2000002);
SELECT state, attempts, last_result FROM webhook.events WHERE id = 2000002;

-- replay sends what the outbox keeps (here the dead event); the delivered
-- events whose rows are gone stay delivered, from the history
SELECT webhook.replay('hist', since => now() - interval '1 day') AS replayed;
SELECT id - 2000000 AS n, state, attempts, last_result
FROM webhook.events WHERE endpoint = 'hist' ORDER BY id;

-- dropping the endpoint leaves its history: it ages out with its segment.
-- The events view still tells of the deliveries it keeps, 2's included
-- (its row went with the endpoint); 4 is not: it ended dead
SELECT webhook.drop_endpoint('hist', discard_pending => true);
SELECT count(*) AS attempts_kept, count(endpoint) AS with_endpoint
FROM webhook.attempts WHERE event_id > 2000000;
SELECT id - 2000000 AS n, endpoint, state FROM webhook.events
WHERE id > 2000000 ORDER BY id;

TRUNCATE webhook.attempt_0;
DROP TABLE hist;
