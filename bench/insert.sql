-- insert.sql: pgbench script for the capture-cost phase of bench.sh.
-- One single-row INSERT per transaction; the identity column gives each row
-- a new id, so clients never conflict.
\set total random(100, 99999)
INSERT INTO orders (customer, status, total)
VALUES ('customer ' || :client_id, 'pending', :total / 100.0);
