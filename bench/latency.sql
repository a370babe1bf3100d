-- latency.sql: pgbench script for the latency phases of bench.sh.
-- A single-row INSERT (it commits on its own), then, once its commit has
-- returned, the server's clock is noted in the unlogged table bench_commit
-- (no WAL flush, so this costs little).  bench.sh matches each noted commit
-- to the arrival of its webhook.  :pause_ms spaces the commits apart (0
-- under pgbench's own rate limit).
INSERT INTO orders (customer, status, total)
VALUES ('latency', 'pending', 1.00) RETURNING id \gset
INSERT INTO bench_commit (order_id, committed_at) VALUES (:id, clock_timestamp());
\sleep :pause_ms ms
