#!/usr/bin/env bash
# bench.sh: "make bench".  What webhook costs and how fast it delivers.
#
# Starts its own throwaway PostgreSQL cluster (fsync and
# synchronous_commit left on, webhook preloaded, the settings printed), a
# private nginx answering 204 on 127.0.0.1, and a small Node arrival clock
# (bench/arrivals.js), then measures, side by side in the same run:
#
#   1. receiver ceiling: requests/s nginx absorbs from wrk, same body size,
#      same headers, keep-alive;
#   2. capture cost: pgbench single-row INSERT and UPDATE of the watched
#      column, without and with the trigger, in alternating pairs (median
#      ratio); one bulk INSERT ... SELECT generate_series and one bulk UPDATE,
#      time and WAL bytes per captured row;
#   3. drain: N events already in the outbox, delivery switched on, events/s
#      until all are delivered, and that as a fraction of the ceiling;
#   4. latency: commit to arrival, single commits spaced apart, then under a
#      fixed pgbench rate, with the largest backlog;
#   5. cost over time: 100,000 and 1,000,000 events captured and delivered
#      with a short retention: size of the extension's tables and indexes,
#      and the worker's RSS, at both points.
#
# Beside the targets it reports, to help read them: the worker's CPU use
# during the drain, the single-row INSERT pairs again with the worker
# delivering alongside, and how size and worker memory grow along phase 5 (the
# worker is restarted when phase 5 begins, so its memory counts only that
# phase's events).
#
# It prints a table, writes bench/results/latest.md and latest.png (a
# gnuplot chart, bench/chart.gp), and exits non-zero if a phase produced no
# number (a missed target is reported, not an error).  QUICK=1 runs every
# phase scaled down in under a minute and writes bench/results/quick.md
# only, so that "make test" can run it and the script cannot rot.
#
# PostgreSQL refuses to run as root, so when called as root the cluster and
# nginx run as the "postgres" account (or $WEBHOOK_TEST_USER), as in
# demo/demo.sh.  Everything it started is stopped and removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

quick=${QUICK:-0}
[ "$quick" = 1 ] || quick=0

# ---------------------------------------------------------------- scale
if [ "$quick" = 1 ]; then
	pgb_secs=2 pairs=1 bulk_rows=10000 wrk_secs=2 drain_n=10000
	idle_n=20 load_secs=3 cost_1=10000 cost_2=50000 feed_rate=10000
	retention=1 av_wait=0
	out_md=bench/results/quick.md out_png=""
else
	pgb_secs=15 pairs=3 bulk_rows=100000 wrk_secs=10 drain_n=100000
	idle_n=200 load_secs=30 cost_1=100000 cost_2=1000000 feed_rate=5000
	retention=5 av_wait=120
	out_md=bench/results/latest.md out_png=bench/results/latest.png
fi
idle_pause_ms=25		# between the idle-latency commits
load_rate=2000			# rows/s in the latency-under-load phase
max_in_flight=64		# webhook.max_in_flight and the endpoint's own

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
tmp=""
started=false
nginx_job=""
arrivals_pid=""
sampler_pid=""
failed=()

section() { printf '\n== %s  [%d s]\n' "$*" "$SECONDS"; }
note() { printf '   %s  [%d s]\n' "$*" "$SECONDS"; }
die() { echo "bench: $*" >&2; exit 1; }

# ---------------------------------------------------------------- build
section "Dependencies, build, install"
. test/lib.sh
wh_pg_select
export WEBHOOK_EXTRA_PKGS="nginx-light wrk gnuplot-nox postgresql-client-$PG_MAJOR"
wh_build_install

# ------------------------------------------------------- helpers, cleanup
val() { sql -At -c "$1"; }

# pgb ARGS...: pgbench on the same database, all output kept in $tmp/pgbench.log
pgb() {
	"$bindir/pgbench" -h "$tmp" -p "$port" -U postgres -n "$@" postgres \
		>"$tmp/pgbench.out" 2>&1 ||
		{ cat "$tmp/pgbench.out" >&2; die "pgbench failed"; }
	cat "$tmp/pgbench.out" >>"$tmp/pgbench.log"
}
pgb_tps() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$tmp/pgbench.out"; }

# wait_for SQL-CONDITION SECONDS: poll until true; false on timeout
wait_for() {
	local deadline=$((SECONDS + $2))
	while [ "$(val "SELECT ($1)")" != t ]; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.2
	done
}

# wait_drained: every event delivered (nothing pending)
wait_drained() {
	wait_for "NOT EXISTS (SELECT FROM webhook.event WHERE state = 'pending')" \
		"${1:-300}" || die "events still pending after ${1:-300} s"
}

# clean_slate: no events left, empty outbox and orders, a checkpoint
clean_slate() {
	wait_drained
	sql -c "TRUNCATE orders, webhook.event, webhook.attempt" -c "CHECKPOINT"
}

# trigger on|off: the webhook trigger on orders enabled or disabled
trigger() {
	local how=DISABLE
	[ "$1" = on ] && how=ENABLE
	sql -c "ALTER TABLE orders $how TRIGGER webhook_bench"
}
endpoint_enabled() {
	if [ "$1" = on ]; then
		sql -c "SELECT webhook.enable_endpoint('bench')" >/dev/null
	else
		sql -c "UPDATE webhook.endpoint SET enabled = false WHERE name = 'bench'"
	fi
}

# delivery on|off: restart the server with the worker serving this database
# (on) or an empty one (off), so that with delivery off it uses no CPU
delivery() {
	local db=postgres
	[ "$1" = off ] && db=bench_idle
	as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 \
		-s restart -o "-c webhook.database=$db" || die "the server did not restart"
	note "delivery $1 (the worker serves database $db)"
}

median() { sort -g | awk '{ a[NR] = $1 } END {
	if (NR == 0) exit; print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }

# nginx_requests: requests nginx has answered so far (stub_status)
nginx_requests() {
	wh_http_get "http://127.0.0.1:$status_port/" | awk 'NR == 3 { print $3 }'
}

# worker_mem: "pid VmRSS-kB RssAnon-kB" of the delivery worker
worker_mem() {
	local pid
	pid=$(val "SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'")
	[ -n "$pid" ] || { echo ""; return; }
	awk -v pid="$pid" '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 }
		END { print pid, r, a }' "/proc/$pid/status"
}

# worker_ticks: CPU time (clock ticks) the delivery workers have used (0
# when none runs, as with delivery off)
worker_ticks() {
	local pid total=0
	for pid in $(val "SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'"); do
		total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || echo 0)))
	done
	echo "$total"
}
hz=$(getconf CLK_TCK)

# pgb_cpu ARGS...: pgb, and the worker's CPU use during it, in % of a core
pgb_cpu() {
	local t0 w0
	w0=$(worker_ticks)
	t0=$(date +%s.%N)
	pgb "$@"
	cpu_pct=$(calc "($(worker_ticks) - $w0) / $hz / ($(date +%s.%N) - $t0) * 100" 0)
}

# R[key] holds every figure; got KEY VALUE checks that it is a number
declare -A R
got() {
	if [[ $2 =~ ^-?[0-9]+(\.[0-9]+)?$ ]]; then
		R[$1]=$2
	else
		R[$1]="n/a"
		failed+=("$1")
		echo "bench: no number for $1 (got \"$2\")" >&2
	fi
}

cleanup() {
	local rc=$?
	trap - EXIT
	if [ $rc -ne 0 ] && [ -n "$tmp" ] && [ -f "$tmp/postgres.log" ]; then
		echo "bench: FAILED (exit status $rc)" >&2
		echo "-- last lines of the server log:" >&2
		tail -n 20 "$tmp/postgres.log" >&2
	fi
	wh_stop "$sampler_pid"
	wh_stop "$arrivals_pid"
	if [ -n "$nginx_job" ]; then
		if [ -s "$tmp/nginx/nginx.pid" ]; then
			kill "$(cat "$tmp/nginx/nginx.pid")" 2>/dev/null || true
		else
			kill "$nginx_job" 2>/dev/null || true
		fi
		wait "$nginx_job" 2>/dev/null || true
	fi
	wh_drop_cluster
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
	node -e '
		const s = require("net").createServer();
		s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ------------------------------------------------------------ the server
section "A throwaway PostgreSQL cluster, nginx and the arrival clock"
tmp=$(mktemp -d /tmp/webhook-bench.XXXXXX)
chmod 755 "$tmp"
[ "$(id -u)" -eq 0 ] && chown "$owner" "$tmp"
port=$(free_port)

as_owner "$bindir/initdb" -D "$tmp/data" -U postgres --auth=trust \
	--no-sync >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; die "initdb failed"; }
# The settings under test: durability as shipped (fsync, synchronous_commit
# and full_page_writes on); room for the WAL of a whole phase between the
# explicit checkpoints; autovacuum looking every 10 s so the cost phase need
# not wait a minute for it.
cat >>"$tmp/data/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$tmp'
shared_preload_libraries = 'webhook'
webhook.database = 'postgres'
# the receiver runs on this machine: let the SSRF guard allow loopback
webhook.allowed_networks = '127.0.0.1/32, ::1/128'
webhook.max_in_flight = $max_in_flight
webhook.batch_size = 500
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = '1GB'
max_wal_size = '8GB'
checkpoint_timeout = '30min'
autovacuum_naptime = '10s'
EOF
as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 60 \
	-s start || die "the server did not start"
started=true

# nginx: one worker process (the machine's cores are shared with
# PostgreSQL and the load tool), keep-alive for as long as the run,
# no access log, 204 for everything; stub_status on a second port counts
# what it answered.
nginx_port=$(free_port)
status_port=$(free_port)
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/body;
	proxy_temp_path $tmp/nginx/proxy;
	fastcgi_temp_path $tmp/nginx/fastcgi;
	uwsgi_temp_path $tmp/nginx/uwsgi;
	scgi_temp_path $tmp/nginx/scgi;
	client_body_buffer_size 64k;
	keepalive_requests 1000000;
	keepalive_timeout 600s;
	server {
		listen 127.0.0.1:$nginx_port;
		location / { return 204; }
	}
	server {
		listen 127.0.0.1:$status_port;
		location / { stub_status; }
	}
}
EOF
[ "$(id -u)" -eq 0 ] && chown -R "$owner" "$tmp/nginx"
as_owner nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
	-e "$tmp/nginx/error.log" >"$tmp/nginx/stdout" 2>&1 &
nginx_job=$!
for _ in $(seq 100); do
	wh_http_get "http://127.0.0.1:$status_port/" >/dev/null && break
	kill -0 "$nginx_job" 2>/dev/null ||
		{ cat "$tmp/nginx/stdout" "$tmp/nginx/error.log" >&2; die "nginx did not start"; }
	sleep 0.1
done
wh_http_get "http://127.0.0.1:$status_port/" >/dev/null || die "nginx did not start within 10 s"
nginx_url="http://127.0.0.1:$nginx_port/hooks"

node bench/arrivals.js --port-file "$tmp/arrivals.port" >"$tmp/arrivals.out" 2>&1 &
arrivals_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/arrivals.port" ] && break
	kill -0 "$arrivals_pid" 2>/dev/null ||
		{ cat "$tmp/arrivals.out" >&2; die "the arrival clock did not start"; }
	sleep 0.1
done
[ -s "$tmp/arrivals.port" ] || die "the arrival clock did not start within 10 s"
arrivals_url="http://127.0.0.1:$(cat "$tmp/arrivals.port")"

sql -c "CREATE DATABASE bench_idle" >/dev/null
sql <<EOF
CREATE EXTENSION webhook;
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer text NOT NULL,
    status text NOT NULL,
    total numeric(10,2) NOT NULL
);
SELECT webhook.create_endpoint('bench', '$nginx_url',
                               max_in_flight => $max_in_flight);
SELECT webhook.subscribe('orders', 'bench', columns => '{status}');
-- the latency phases: commits as the client saw them, arrivals as the
-- receiver saw them (unlogged: no WAL, nothing to flush)
CREATE UNLOGGED TABLE bench_commit (order_id bigint, committed_at timestamptz);
CREATE UNLOGGED TABLE bench_arrival (webhook_id text, arrived_ms float8);
EOF

pg_version=$(val "SHOW server_version")
settings=$(val "SELECT string_agg(name || ' = ' || current_setting(name),
		E'\n' ORDER BY name) FROM pg_settings
	WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes',
		'shared_buffers', 'max_wal_size', 'checkpoint_timeout', 'wal_level',
		'autovacuum_naptime', 'webhook.max_in_flight',
		'webhook.max_in_flight_per_endpoint', 'webhook.batch_size',
		'webhook.idle_timeout')")
ep_mif=$(val "SELECT max_in_flight FROM webhook.endpoint WHERE name = 'bench'")
echo "PostgreSQL $pg_version on socket $tmp, running as \"$owner\""
echo "nginx at $nginx_url (1 worker process), arrival clock at $arrivals_url"
echo "settings:"
echo "$settings" | sed 's/^/   /'
echo "   endpoint \"bench\" max_in_flight = $ep_mif"
[ "$quick" = 1 ] && echo "QUICK=1: every phase scaled down; figures are not comparable"

# one real event, for the load tool's body (and a check that delivery works)
sql -c "INSERT INTO orders (customer, status, total) VALUES ('customer 1', 'pending', 42.50)"
wait_drained 30
sample=$(val "SELECT payload FROM webhook.events ORDER BY id DESC LIMIT 1")
sample_id=$(val "SELECT webhook.webhook_id(msg_id) FROM webhook.event ORDER BY id DESC LIMIT 1")
body_bytes=$(printf '%s' "$sample" | wc -c)
echo "a captured INSERT event: $body_bytes bytes of JSON, as sent"

# ------------------------------------------------ 1. the receiver ceiling
section "1. Receiver ceiling: wrk -> nginx, ${wrk_secs} s"
cat >"$tmp/post.lua" <<EOF
wrk.method = "POST"
wrk.body = [==[$sample]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "webhook/0.4.0"
wrk.headers["webhook-id"] = "$sample_id"
wrk.headers["webhook-timestamp"] = "$(date +%s)"
wrk.headers["webhook-signature"] = "v1,$(head -c 32 /dev/urandom | base64)"
EOF
wrk -t 2 -c 64 -d "${wrk_secs}s" -s "$tmp/post.lua" "$nginx_url" >"$tmp/wrk.out" 2>&1 ||
	{ cat "$tmp/wrk.out" >&2; die "wrk failed"; }
got ceiling "$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")"
note "wrk -t 2 -c 64, keep-alive, $body_bytes-byte body: ${R[ceiling]} requests/s"

# ------------------------------------------------------ 2. capture cost
section "2. Capture cost"
# The capture figures are the trigger's cost on the write path, so they are
# taken with delivery off: the server restarted with the worker serving an
# empty database (webhook.database), so it takes no CPU from the cores the
# clients use.  Then the single-row INSERT pairs run again with the worker
# delivering alongside, as in production on this 2-core machine (not a
# target: that figure adds the worker's own CPU to the trigger's).
# run_pairs NAME SCRIPT PREPARE: $pairs alternating pairs, off/on, on/off...
run_pairs() {
	local name=$1 script=$2 prepare=$3 i state ratios=() offs=() ons=() tps cpus=()
	for i in $(seq "$pairs"); do
		local order="off on"
		[ $((i % 2)) -eq 0 ] && order="on off"
		for state in $order; do
			$prepare
			trigger "$state"
			pgb_cpu -c 4 -j 2 -T "$pgb_secs" -M prepared -f "$script" -D nrows="$bulk_rows"
			tps=$(pgb_tps)
			note "$name pair $i, trigger $state: $tps TPS (worker CPU $cpu_pct%)"
			if [ "$state" = on ]; then ons+=("$tps") cpus+=("$cpu_pct"); else offs+=("$tps"); fi
		done
		ratios+=("$(calc "${ons[$((i - 1))]} / ${offs[$((i - 1))]}" 3)")
	done
	got "${name}_off" "$(printf '%s\n' "${offs[@]}" | median)"
	got "${name}_on" "$(printf '%s\n' "${ons[@]}" | median)"
	got "${name}_ratio" "$(printf '%s\n' "${ratios[@]}" | median)"
	got "${name}_cpu" "$(printf '%s\n' "${cpus[@]}" | median)"
	note "$name: median $(calc "${R[${name}_off]}" 0) -> $(calc "${R[${name}_on]}" 0) TPS," \
		"ratios ${ratios[*]}, median ${R[${name}_ratio]}"
}

# with delivery off nothing drains, so these empty the outbox themselves
prepare_insert() { sql -c "TRUNCATE orders, webhook.event, webhook.attempt" -c "CHECKPOINT"; }
prepare_update() { sql -c "TRUNCATE webhook.event, webhook.attempt" -c "VACUUM orders" -c "CHECKPOINT"; }

wait_drained
delivery off
echo "-- single-row INSERT, pgbench -c 4 -j 2 -T $pgb_secs -M prepared, delivery off"
run_pairs insert bench/insert.sql prepare_insert

echo "-- single-row UPDATE of the watched column (status), $bulk_rows rows, delivery off"
trigger off
sql -c "TRUNCATE orders RESTART IDENTITY" -c "TRUNCATE webhook.event, webhook.attempt" \
	-c "INSERT INTO orders (customer, status, total)
		SELECT 'customer ' || i, 'pending', (i % 1000) + 0.99
		FROM generate_series(1, $bulk_rows) i" -c "VACUUM ANALYZE orders"
run_pairs update bench/update.sql prepare_update

# Bulk statements, still with delivery off, so the WAL figures are the
# capture's alone.  Time and WAL include the commit.
# bulk SQL: "seconds wal-bytes" of one statement
bulk() {
	sql -At <<EOF
SELECT pg_current_wal_insert_lsn() AS l0, clock_timestamp() AS t0 \gset
$1;
SELECT round(extract(epoch FROM clock_timestamp() - :'t0')::numeric, 4) || ' ' ||
	pg_wal_lsn_diff(pg_current_wal_insert_lsn(), :'l0');
EOF
}
fill="INSERT INTO orders (customer, status, total)
	SELECT 'customer ' || i, 'pending', (i % 1000) + 0.99
	FROM generate_series(1, $bulk_rows) i"

echo "-- bulk INSERT ... SELECT generate_series(1, $bulk_rows) and UPDATE of all rows, delivery off"
declare -A bt bw
ins_ratios=() upd_ratios=() ins_wal=() upd_wal=()
for i in $(seq "$pairs"); do
	order="off on"
	[ $((i % 2)) -eq 0 ] && order="on off"
	for state in $order; do
		sql -c "TRUNCATE orders, webhook.event, webhook.attempt" -c "CHECKPOINT"
		trigger "$state"
		read -r t w <<<"$(bulk "$fill")"
		bt[ins_$state]=$t bw[ins_$state]=$w
		sql -c "TRUNCATE webhook.event" -c "CHECKPOINT"
		read -r t w <<<"$(bulk "UPDATE orders SET status = 'paid'")"
		bt[upd_$state]=$t bw[upd_$state]=$w
		note "pair $i, trigger $state: INSERT ${bt[ins_$state]} s, $(calc "${bw[ins_$state]} / $bulk_rows" 0) WAL bytes/row;" \
			"UPDATE ${bt[upd_$state]} s, $(calc "${bw[upd_$state]} / $bulk_rows" 0) WAL bytes/row"
		R[bulk_ins_${state}_$i]=${bt[ins_$state]}
		R[bulk_upd_${state}_$i]=${bt[upd_$state]}
	done
	ins_ratios+=("$(calc "${bt[ins_on]} / ${bt[ins_off]}" 3)")
	upd_ratios+=("$(calc "${bt[upd_on]} / ${bt[upd_off]}" 3)")
	ins_wal+=("$(calc "(${bw[ins_on]} - ${bw[ins_off]}) / $bulk_rows" 1)")
	upd_wal+=("$(calc "(${bw[upd_on]} - ${bw[upd_off]}) / $bulk_rows" 1)")
done
got bulk_ins_off "$(for i in $(seq "$pairs"); do echo "${R[bulk_ins_off_$i]}"; done | median)"
got bulk_ins_on "$(for i in $(seq "$pairs"); do echo "${R[bulk_ins_on_$i]}"; done | median)"
got bulk_upd_off "$(for i in $(seq "$pairs"); do echo "${R[bulk_upd_off_$i]}"; done | median)"
got bulk_upd_on "$(for i in $(seq "$pairs"); do echo "${R[bulk_upd_on_$i]}"; done | median)"
got bulk_ins_ratio "$(printf '%s\n' "${ins_ratios[@]}" | median)"
got bulk_upd_ratio "$(printf '%s\n' "${upd_ratios[@]}" | median)"
got wal_ins "$(printf '%s\n' "${ins_wal[@]}" | median)"
got wal_upd "$(printf '%s\n' "${upd_wal[@]}" | median)"
note "bulk INSERT ratios ${ins_ratios[*]} (median ${R[bulk_ins_ratio]}), extra WAL/row ${ins_wal[*]}"
note "bulk UPDATE ratios ${upd_ratios[*]} (median ${R[bulk_upd_ratio]}), extra WAL/row ${upd_wal[*]}"
sql -c "TRUNCATE orders, webhook.event, webhook.attempt"
trigger on

delivery on
echo "-- single-row INSERT again, with the worker delivering alongside (not a target)"
prepare_live() { clean_slate; }
run_pairs live bench/insert.sql prepare_live

# ------------------------------------------------------------- 3. drain
section "3. Drain: $drain_n events in the outbox, then delivery on"
clean_slate
endpoint_enabled off
sql -c "INSERT INTO orders (customer, status, total)
		SELECT 'customer ' || i, 'pending', (i % 1000) + 0.99
		FROM generate_series(1, $drain_n) i" \
	-c "ANALYZE webhook.event" -c "CHECKPOINT"
[ "$(val "SELECT count(*) FROM webhook.event WHERE state = 'pending'")" = "$drain_n" ] ||
	die "expected $drain_n pending events"
before=$(nginx_requests)
w0=$(worker_ticks)
t0=$(val "SELECT webhook.enable_endpoint('bench'); SELECT extract(epoch FROM clock_timestamp())" | tail -n 1)
wait_drained 600
# the last event's attempt is recorded just after nginx answered it
secs=$(val "SELECT extract(epoch FROM max(finished_at)) - $t0 FROM webhook.event")
got drain_cpu "$(calc "($(worker_ticks) - $w0) / $hz / $secs * 100" 0)"
# stub_status counts its own requests: one in "before", one now
answered=$(( $(nginx_requests) - before - 1 ))
[ "$answered" -ge "$drain_n" ] || die "nginx answered $answered requests, expected $drain_n"
got drain "$(calc "$drain_n / $secs" 0)"
got drain_frac "$(calc "${R[drain]} / ${R[ceiling]}" 3)"
note "$drain_n events in $(calc "$secs" 2) s: ${R[drain]} events/s," \
	"$(calc "${R[drain_frac]} * 100" 0)% of the receiver ceiling ($answered requests reached nginx);" \
	"worker CPU ${R[drain_cpu]}% of a core"

# ----------------------------------------------------------- 4. latency
section "4. Latency, commit to arrival"
# The endpoint points at the arrival clock; the client notes the server's
# clock right after each COMMIT returns (latency.sql), the arrival clock
# notes when each request's body has arrived; both read this machine's wall
# clock.
arrivals() { wh_http_get "$arrivals_url/_arrivals?reset=1"; }
clean_slate
sql -c "SELECT webhook.alter_endpoint('bench', url => '$arrivals_url/hooks')" >/dev/null
for _ in 1 2 3; do
	sql -c "INSERT INTO orders (customer, status, total) VALUES ('warm-up', 'pending', 1)"
done
wait_drained 30
arrivals >/dev/null

# latency_stats PREFIX: match commits to arrivals, p50/p99/max and backlog
latency_stats() {
	local rows
	wait_drained 120
	arrivals >"$tmp/arrivals.tsv"
	sql -c "TRUNCATE bench_arrival" -c "\\copy bench_arrival FROM '$tmp/arrivals.tsv'"
	rows=$(val "
		CREATE TEMP TABLE lat AS
		SELECT extract(epoch FROM c.committed_at) * 1000 AS committed_ms,
			   min(a.arrived_ms) AS arrived_ms
		FROM bench_commit c
		JOIN webhook.event ev
		  ON (ev.payload -> 'data' -> 'new' ->> 'id')::bigint = c.order_id
		JOIN bench_arrival a ON a.webhook_id = webhook.webhook_id(ev.msg_id)
		GROUP BY c.order_id, c.committed_at;
		SELECT (SELECT count(*) FROM bench_commit) || ' ' || count(*) || ' ' ||
			   round(percentile_cont(0.5) WITHIN GROUP
					 (ORDER BY arrived_ms - committed_ms)::numeric, 3) || ' ' ||
			   round(percentile_cont(0.99) WITHIN GROUP
					 (ORDER BY arrived_ms - committed_ms)::numeric, 3) || ' ' ||
			   round(max(arrived_ms - committed_ms)::numeric, 3) || ' ' ||
			   (SELECT max(n) FROM (
					SELECT sum(d) OVER (ORDER BY t, d ROWS UNBOUNDED PRECEDING) AS n
					FROM (SELECT committed_ms AS t, 1 AS d FROM lat
						  UNION ALL SELECT arrived_ms, -1 FROM lat) e) b)
		FROM lat" | tail -n 1)
	read -r commits matched p50 p99 max backlog <<<"$rows"
	[ "$commits" = "$matched" ] && [ "$commits" -gt 0 ] ||
		die "$matched of $commits commits were matched to an arrival"
	got "$1_p50" "$p50"
	got "$1_p99" "$p99"
	got "$1_max" "$max"
	got "$1_backlog" "$backlog"
	got "$1_n" "$matched"
}

echo "-- $idle_n single-row commits, $idle_pause_ms ms apart"
sql -c "TRUNCATE bench_commit"
pgb -c 1 -t "$idle_n" -f bench/latency.sql -D pause_ms="$idle_pause_ms"
latency_stats idle
note "p50 ${R[idle_p50]} ms, p99 ${R[idle_p99]} ms, max ${R[idle_max]} ms (${R[idle_n]} commits)"

echo "-- pgbench at $load_rate rows/s for $load_secs s (-c 4 -j 2), worker draining"
clean_slate
sql -c "TRUNCATE bench_commit"
arrivals >/dev/null
pgb -c 4 -j 2 -R "$load_rate" -T "$load_secs" -f bench/latency.sql -D pause_ms=0
got load_tps "$(pgb_tps)"
latency_stats load
note "pgbench achieved ${R[load_tps]} rows/s;" \
	"$(sed -n 's/^rate limit schedule lag: /schedule lag /p' "$tmp/pgbench.out")"
note "p50 ${R[load_p50]} ms, p99 ${R[load_p99]} ms, max ${R[load_max]} ms," \
	"largest backlog ${R[load_backlog]} events (${R[load_n]} commits)"
sql -c "SELECT webhook.alter_endpoint('bench', url => '$nginx_url')" >/dev/null

# --------------------------------------------------- 5. cost over time
section "5. Cost over time: $cost_1 then $cost_2 events, retention ${retention}s"
sql -c "ALTER SYSTEM SET webhook.retention = '${retention}s'" -c "SELECT pg_reload_conf()" >/dev/null
clean_slate
# A fresh worker, so that its memory reflects this phase's events only (the
# phases before have sent about a million already); the launcher starts it
# again within about a second.
old_pid=$(worker_mem | cut -d' ' -f1)
sql -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE backend_type = 'webhook worker'" >/dev/null
wait_for "EXISTS (SELECT FROM pg_stat_activity
		WHERE backend_type = 'webhook worker' AND pid <> ${old_pid:-0})" 30 ||
	die "the worker did not come back"
seq0=$(val "SELECT last_value FROM webhook.event_id_seq")

# sampler: every 2 s, "events-captured-in-this-phase tables-bytes VmRSS-kB
# RssAnon-kB", to show how size and memory grow between the two points
sampler() {
	set +e
	while :; do
		echo "$(val "SELECT (SELECT last_value FROM webhook.event_id_seq) - $seq0
			|| ' ' || (SELECT sum(pg_total_relation_size(c.oid))
			FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
			WHERE s.nspname = 'webhook' AND c.relkind = 'r')") $(worker_mem | cut -d' ' -f2-)"
		sleep 2
	done
}
sampler >"$tmp/samples.txt" 2>/dev/null &
sampler_pid=$!

# feed N: N more rows at $feed_rate rows/s (2 clients, 100 rows a transaction)
feed() {
	local per_client=$(($1 / 200))
	pgb -c 2 -j 2 -R "$((feed_rate / 100))" -t "$per_client" -f bench/feed.sql
}

# checkpoint_cost N: once everything is delivered and autovacuum has been
# through webhook's tables, the size of those tables (with indexes and
# TOAST), the rows retention has not removed yet, and the worker's memory
checkpoint_cost() {
	local n=$1 t_done av mem
	wait_drained 600
	t_done=$(val "SELECT now()")
	av=no
	if [ "$av_wait" -gt 0 ] && wait_for "(SELECT bool_and(coalesce(last_autovacuum >= '$t_done', false))
			FROM pg_stat_all_tables
			WHERE relid IN ('webhook.event'::regclass, 'webhook.attempt'::regclass))" "$av_wait"; then
		av=yes
	fi
	got "size_$n" "$(val "SELECT sum(pg_total_relation_size(c.oid))
		FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
		WHERE s.nspname = 'webhook' AND c.relkind = 'r'")"
	R[size_event_$n]=$(val "SELECT pg_total_relation_size('webhook.event')")
	R[size_attempt_$n]=$(val "SELECT pg_total_relation_size('webhook.attempt')")
	R[kept_$n]=$(val "SELECT count(*) FROM webhook.event")
	R[av_$n]=$av
	mem=$(worker_mem)
	read -r pid rss anon <<<"$mem"
	R[pid_$n]=${pid:-}
	got "rss_$n" "${rss:-}"
	got "anon_$n" "${anon:-}"
	note "after $n: tables+indexes $(calc "${R[size_$n]} / 1048576" 1) MB" \
		"(event $(calc "${R[size_event_$n]} / 1048576" 1) MB, attempt $(calc "${R[size_attempt_$n]} / 1048576" 1) MB)," \
		"${R[kept_$n]} events not yet removed, autovacuum since: $av;" \
		"worker pid ${pid:-?} VmRSS ${rss:-?} kB, RssAnon ${anon:-?} kB"
}

feed "$cost_1"
checkpoint_cost "$cost_1"
feed $((cost_2 - cost_1))
checkpoint_cost "$cost_2"
got size_ratio "$(calc "${R[size_$cost_2]} / ${R[size_$cost_1]}" 3)"
got rss_ratio "$(calc "${R[rss_$cost_2]} / ${R[rss_$cost_1]}" 3)"
got anon_ratio "$(calc "${R[anon_$cost_2]} / ${R[anon_$cost_1]}" 3)"
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=""
[ "${R[pid_$cost_1]}" = "${R[pid_$cost_2]}" ] ||
	echo "bench: the worker restarted during the run (pid ${R[pid_$cost_1]} -> ${R[pid_$cost_2]})" >&2
# one sample per tenth of the way: "events MB VmRSS-MB RssAnon-MB"
growth=$(awk -v step=$((cost_2 / 10)) '
	NF == 4 && $1 >= next_at + 0 && $1 > 0 {
		printf "%d %.1f %.1f %.1f\n", $1, $2 / 1048576, $3 / 1024, $4 / 1024
		next_at = (int($1 / step) + 1) * step
	}' "$tmp/samples.txt")

# --------------------------------------------------------------- report
section "Results"
# the worker's FATAL when phase 5 restarts it is expected
log_problems() {
	grep -E 'ERROR|FATAL|PANIC|terminated by signal' "$tmp/postgres.log" |
		grep -v 'due to administrator command' || true
}
worker_errors=$(log_problems | grep -c . || true)
fmt_n() { [ "$1" = n/a ] && echo n/a || calc "$1" "${2:-0}"; }
mb() { [ "$1" = n/a ] && echo n/a || calc "$1 / 1048576" 1; }
# verdict VALUE OP TARGET: met or missed (n/a when there is no value)
verdict() {
	[ "$1" = n/a ] && { echo n/a; return; }
	awk -v v="$1" -v t="$3" "BEGIN { print (v $2 t) ? \"met\" : \"missed\" }"
}
k1=$cost_1 k2=$cost_2
rows=(
	"Receiver ceiling (wrk -> nginx)|$(fmt_n "${R[ceiling]}") req/s||"
	"Single-row INSERT TPS, no trigger / trigger|$(fmt_n "${R[insert_off]}") / $(fmt_n "${R[insert_on]}")||"
	"Single-row INSERT TPS ratio, trigger / none, delivery off (median of $pairs)|${R[insert_ratio]}|>= 0.85|$(verdict "${R[insert_ratio]}" '>=' 0.85)"
	"Single-row INSERT TPS with the worker delivering alongside, no trigger / trigger|$(fmt_n "${R[live_off]}") / $(fmt_n "${R[live_on]}")||"
	"Single-row INSERT TPS ratio with the worker delivering alongside (median of $pairs)|${R[live_ratio]}||"
	"Worker CPU during those runs with trigger (median)|${R[live_cpu]}% of a core||"
	"Single-row UPDATE TPS, no trigger / trigger|$(fmt_n "${R[update_off]}") / $(fmt_n "${R[update_on]}")||"
	"Single-row UPDATE TPS ratio, trigger / none (median of $pairs)|${R[update_ratio]}||"
	"Bulk INSERT $bulk_rows rows, no trigger / trigger|${R[bulk_ins_off]} s / ${R[bulk_ins_on]} s||"
	"Bulk INSERT time ratio, trigger / none|${R[bulk_ins_ratio]}|<= 2.5|$(verdict "${R[bulk_ins_ratio]}" '<=' 2.5)"
	"Extra WAL per captured INSERT row|$(fmt_n "${R[wal_ins]}") B|< 389 B|$(verdict "${R[wal_ins]}" '<' 389)"
	"Bulk UPDATE $bulk_rows rows, no trigger / trigger|${R[bulk_upd_off]} s / ${R[bulk_upd_on]} s||"
	"Bulk UPDATE time ratio, trigger / none|${R[bulk_upd_ratio]}||"
	"Extra WAL per captured UPDATE row|$(fmt_n "${R[wal_upd]}") B||"
	"Drain, $drain_n events|$(fmt_n "${R[drain]}") events/s|>= 20000|$(verdict "${R[drain]}" '>=' 20000)"
	"Drain / receiver ceiling|$(fmt_n "${R[drain_frac]}" 3)|>= 0.30|$(verdict "${R[drain_frac]}" '>=' 0.30)"
	"Worker CPU during the drain|${R[drain_cpu]}% of a core||"
	"Idle latency p50 ($idle_n commits)|${R[idle_p50]} ms|<= 1 ms|$(verdict "${R[idle_p50]}" '<=' 1)"
	"Idle latency p99|${R[idle_p99]} ms|<= 5 ms|$(verdict "${R[idle_p99]}" '<=' 5)"
	"Idle latency max|${R[idle_max]} ms||"
	"Latency at $load_rate rows/s, p50|${R[load_p50]} ms||"
	"Latency at $load_rate rows/s, p99|${R[load_p99]} ms|<= 50 ms|$(verdict "${R[load_p99]}" '<=' 50)"
	"Latency at $load_rate rows/s, max|${R[load_max]} ms||"
	"Largest backlog at $load_rate rows/s|${R[load_backlog]} events||"
	"Tables+indexes after $k1 / $k2 events|$(mb "${R[size_$k1]}") MB / $(mb "${R[size_$k2]}") MB||"
	"Tables+indexes ratio|${R[size_ratio]}|<= 1.5|$(verdict "${R[size_ratio]}" '<=' 1.5)"
	"Worker VmRSS after $k1 / $k2 events|$(mb "$((${R[rss_$k1]/n\/a/0} * 1024))") MB / $(mb "$((${R[rss_$k2]/n\/a/0} * 1024))") MB||"
	"Worker VmRSS ratio|${R[rss_ratio]}|<= 1.1|$(verdict "${R[rss_ratio]}" '<=' 1.1)"
	"Worker private memory (RssAnon) ratio|${R[anon_ratio]}||"
)

{
	printf '%-62s %-24s %-9s %s\n' figure value target result
	for r in "${rows[@]}"; do
		IFS='|' read -r f v t m <<<"$r"
		printf '%-62s %-24s %-9s %s\n' "$f" "$v" "$t" "$m"
	done
} | tee "$tmp/table.txt"

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
mem=$(awk '/^MemTotal:/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
when=$(date -u '+%Y-%m-%d %H:%M UTC')
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$top" status --porcelain -- src sql 2>/dev/null | grep -q . && echo " (with uncommitted changes in src/ or sql/)" || true)
{
	echo "# webhook benchmark"
	echo
	[ "$quick" = 1 ] && { echo "**QUICK=1 smoke run: every phase scaled down; the figures mean nothing.**"; echo; }
	echo "$when, commit \`$commit\`$dirty, \`make bench$([ "$quick" = 1 ] && echo " QUICK=1")\`."
	echo
	echo "Machine: $(nproc) cores ($cpu), $mem, Linux $(uname -r), PostgreSQL $pg_version," \
		"$(nginx -v 2>&1 | sed 's|nginx version: ||'), $(wrk --version 2>&1 | head -n 1 | awk '{ print "wrk " $2 }')," \
		"load average $load_start at the start and $(cut -d' ' -f1-3 /proc/loadavg) at the end."
	echo "Everything (PostgreSQL, the worker, nginx with one worker process, wrk, pgbench) shares these cores."
	echo
	echo "| figure | value | target | result |"
	echo "| --- | --- | --- | --- |"
	for r in "${rows[@]}"; do
		IFS='|' read -r f v t m <<<"$r"
		echo "| $f | $v | ${t:-} | ${m:-} |"
	done
	echo
	[ -n "$out_png" ] && { echo "![throughput and latency](latest.png)"; echo; }
	echo "## Settings"
	echo
	echo '```'
	echo "$settings"
	echo "endpoint max_in_flight = $ep_mif"
	echo "webhook.retention = ${retention}s (cost-over-time phase only; 7 days before it)"
	echo '```'
	echo
	echo "## How each figure is measured"
	echo
	echo "- **Receiver ceiling**: \`wrk -t 2 -c 64 -d ${wrk_secs}s\` POSTs a real captured event" \
		"($body_bytes bytes, with the same headers the worker sends) to nginx (\`return 204\`, keep-alive)."
	echo "- **Single-row INSERT / UPDATE**: \`pgbench -c 4 -j 2 -T $pgb_secs -M prepared\`" \
		"(bench/insert.sql, bench/update.sql), $pairs alternating pairs (off/on, on/off, ...)," \
		"orders and the outbox truncated (UPDATE: orders vacuumed) and a CHECKPOINT before each run." \
		"Delivery off: the server is restarted with \`webhook.database\` naming an empty database, so the worker takes no CPU;" \
		"the figure is the trigger's cost on the write path. Ratio = median of the per-pair ratios." \
		"The INSERT pairs then run again with delivery on (the worker delivering each event to nginx alongside, on the same 2 cores)."
	echo "- **Bulk INSERT / UPDATE**: one statement over $bulk_rows rows, time including its commit;" \
		"WAL = \`pg_current_wal_insert_lsn()\` after minus before; per-row figure = (with - without) / $bulk_rows." \
		"Delivery is off during these, so the WAL is the capture's alone. Median of $pairs pairs."
	echo "- **Drain**: $drain_n events captured with the endpoint disabled; the clock starts at" \
		"\`webhook.enable_endpoint()\` and stops at the last event's \`finished_at\` (recorded just after nginx answered it)."
	echo "- **Latency**: the endpoint points at bench/arrivals.js, which notes when each request's body has arrived" \
		"(sub-ms wall clock); bench/latency.sql notes \`clock_timestamp()\` right after each single-row INSERT's commit" \
		"returned to pgbench. Idle: $idle_n commits ${idle_pause_ms} ms apart. Under load: \`pgbench -c 4 -j 2 -R $load_rate -T $load_secs\`." \
		"Backlog = events committed but not yet arrived, largest over the run (from the same timestamps)."
	echo "- **Cost over time**: orders fed at $feed_rate rows/s (bench/feed.sql, 100 rows a transaction) to nginx," \
		"retention ${retention}s. At each point: all delivered, then autovacuum awaited on webhook.event and" \
		"webhook.attempt (after $k1: ${R[av_$k1]}; after $k2: ${R[av_$k2]}); events retention had not removed yet:" \
		"${R[kept_$k1]} and ${R[kept_$k2]}." \
		"Size = \`pg_total_relation_size\` of every table in schema webhook; RSS from /proc of the \`webhook worker\` backend" \
		"(VmRSS counts the shared buffers it has touched; RssAnon is its private memory)." \
		"The worker is restarted (\`pg_terminate_backend\`) at the start of this phase, so both points count this phase's events only."
	echo
	echo "## Growth during the cost-over-time phase"
	echo
	echo "Sampled every 2 s while orders were fed (so before the wait for autovacuum at each point):"
	echo
	echo "| events captured | tables+indexes | worker VmRSS | worker RssAnon |"
	echo "| --- | --- | --- | --- |"
	echo "$growth" | awk 'NF == 4 { printf "| %d | %s MB | %s MB | %s MB |\n", $1, $2, $3, $4 }'
	echo
	if [ "$worker_errors" -gt 0 ]; then
		echo "Server log: $worker_errors ERROR/FATAL lines, the first ones:"
		echo
		echo '```'
		log_problems | head -n 10
		echo '```'
	else
		echo "Server log: no ERROR, FATAL or crash during the run."
	fi
} >"$out_md"
echo
echo "wrote $out_md"

if [ -n "$out_png" ]; then
	printf '"%s" %s %s\n' \
		"receiver ceiling\n(wrk to nginx)" "${R[ceiling]/n\/a/0}" NaN \
		"drain\n(events/s)" "${R[drain]/n\/a/0}" 20000 \
		"INSERT TPS\nno trigger" "${R[insert_off]/n\/a/0}" NaN \
		"INSERT TPS\ntrigger" "${R[insert_on]/n\/a/0}" \
		"$(calc "0.85 * ${R[insert_off]/n\/a/0}" 0)" \
		"UPDATE TPS\nno trigger" "${R[update_off]/n\/a/0}" NaN \
		"UPDATE TPS\ntrigger" "${R[update_on]/n\/a/0}" NaN >"$tmp/throughput.dat"
	printf '"%s" %s %s\n' \
		"idle p50" "${R[idle_p50]/n\/a/0}" 1 \
		"idle p99" "${R[idle_p99]/n\/a/0}" 5 \
		"idle max" "${R[idle_max]/n\/a/0}" NaN \
		"$load_rate/s p50" "${R[load_p50]/n\/a/0}" NaN \
		"$load_rate/s p99" "${R[load_p99]/n\/a/0}" 50 \
		"$load_rate/s max" "${R[load_max]/n\/a/0}" NaN >"$tmp/latency.dat"
	gnuplot -e "thr='$tmp/throughput.dat'; lat='$tmp/latency.dat'; out='$out_png';
		subtitle='$when, commit $commit; $(nproc) cores, PostgreSQL $pg_version, fsync and synchronous_commit on'" \
		bench/chart.gp
	echo "wrote $out_png"
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: no figure for: ${failed[*]}" >&2
	exit 1
fi
echo "bench: every phase produced its figures"
