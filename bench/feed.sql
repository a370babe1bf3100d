-- feed.sql: pgbench script for the cost-over-time phase of bench.sh.
-- 100 rows per transaction; run under a rate limit so that the outbox
-- reaches its steady size early and the 100,000 and 1,000,000 points are
-- comparable.
INSERT INTO orders (customer, status, total)
SELECT 'customer ' || i, 'pending', (i % 1000) + 0.99
FROM generate_series(1, 100) i;
