-- tenant_insert.sql: pgbench script for the tenants phase of bench.sh.
-- One single-row INSERT per transaction, for a tenant of one class: the
-- merchant "m" || (mul * k + off) for a k drawn from 0 .. nk - 1 (bench.sh
-- picks mul, off and nk so that every such merchant has the endpoints the
-- class stands for).
\set k random(0, :nk - 1)
\set t :mul * :k + :off
\set total random(100, 99999)
INSERT INTO tenant_orders (merchant_id, status, total)
VALUES ('m' || :t, 'pending', :total / 100.0);
