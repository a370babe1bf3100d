-- update.sql: pgbench script for the capture-cost phase of bench.sh.
-- One single-row UPDATE per transaction that flips the watched column,
-- status, so that with the trigger every transaction captures one event.
-- :nrows is the number of rows bench.sh put in orders beforehand.
\set id random(1, :nrows)
UPDATE orders
SET status = CASE status WHEN 'paid' THEN 'pending' ELSE 'paid' END
WHERE id = :id;
