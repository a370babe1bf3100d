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
#      column, without and with the trigger, in alternating rounds (median
#      ratio); one bulk INSERT ... SELECT generate_series and one bulk UPDATE,
#      time and WAL bytes per captured row.  The INSERT figures are taken in
#      the same rounds for the peers a user would otherwise pick and that
#      Debian ships: PgQ's pgq.logutriga trigger (postgresql-NN-pgq3, "n/a"
#      where Debian has no package for this PostgreSQL) and a plain PL/pgSQL
#      trigger writing to_jsonb(NEW) to a bigserial-keyed outbox table;
#   3. drain: N events already in the outbox, delivery switched on, events/s
#      until all are delivered, and that as a fraction of the ceiling; then
#      the WAL each delivered event costs beyond the user's row, in three
#      parts (capture, delivery, retention and vacuum), and the bytes the
#      extension's tables keep per delivered event with the default
#      retention;
#   4. latency: commit to arrival, single commits spaced apart, then under a
#      fixed pgbench rate, with the largest backlog;
#   5. cost over time: 100,000 and 1,000,000 events captured and delivered
#      with a short retention: size of the extension's tables and indexes,
#      and the worker's RSS, at both points;
#   6. tenants: 10,000 merchants of 1 to 3 endpoints each, with event-type
#      filters drawn from 50 types, and a table subscribed by tenant:
#      single-row INSERT TPS for rows of a merchant with one endpoint and
#      of one with none beside the plain table, the WAL per change fanned
#      out to three endpoints beside one, and the drain with every one of
#      those endpoints enabled, events spread over them, beside phase 3's;
#   7. counters: single-row INSERT TPS (delivery off) and the drain, with
#      webhook.track_stats on and off in alternating rounds (median ratio),
#      the cost of the statistics webhook.stats() reads.  QUICK=1
#      COUNTERS_FULL=1 runs this phase at full scale and the others scaled
#      down, to measure it alone in a few minutes.
#
# Beside the targets it reports, to help read them: the worker's CPU use
# during the drain, the single-row INSERT pairs again with the worker
# delivering alongside, and how size and worker memory grow along phase 5 (the
# worker is restarted when phase 5 begins, so its memory counts only that
# phase's events).
#
# It prints a table, writes bench/results/latest.md and latest.png (a
# gnuplot chart, bench/chart.gp, that draws drain and WAL beside the
# figures of the results committed before this run), and exits non-zero if
# a phase produced no number (a missed target is reported, not an error).
# QUICK=1 runs every phase scaled down in under a minute and writes
# bench/results/quick.md only, so that "make test" can run it and the
# script cannot rot.
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
	pgb_secs=1 pairs=1 bulk_rows=10000 wrk_secs=2 drain_n=10000
	idle_n=20 load_secs=3 cost_1=10000 cost_2=50000 feed_rate=10000
	retention=1 av_wait=0 wal_n=5000 tenants_n=1000 fanout_n=300
	out_md=bench/results/quick.md out_png=bench/results/quick.png
else
	pgb_secs=15 pairs=3 bulk_rows=100000 wrk_secs=10 drain_n=100000
	idle_n=200 load_secs=30 cost_1=100000 cost_2=1000000 feed_rate=5000
	retention=5 av_wait=120 wal_n=50000 tenants_n=10000 fanout_n=5000
	out_md=bench/results/latest.md out_png=bench/results/latest.png
fi
idle_pause_ms=25		# between the idle-latency commits
load_rate=2000			# rows/s in the latency-under-load phase
max_in_flight=64		# webhook.max_in_flight and the endpoint's own

load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# The results committed before this run (or, outside git, those on disk):
# the chart draws them beside this run's.  before_num REGEX [N]: the Nth
# number (default 1) in the value of the first figure matching REGEX
# there, or NaN.
before_md=$(git -C "$top" show HEAD:bench/results/latest.md 2>/dev/null ||
	cat bench/results/latest.md 2>/dev/null || true)
before_commit=$(printf '%s\n' "$before_md" | sed -n 's/.*commit `\([0-9a-f]*\)`.*/\1/p' | head -n 1)
before_title="before (commit ${before_commit:-unknown})"
[ -n "$before_md" ] || before_title="before (no results committed)"
before_num() {
	printf '%s\n' "$before_md" | awk -F' [|] ' -v re="$1" -v n="${2:-1}" '
		!done && /^[|] / && substr($1, 3) ~ re {
			done = 1
			v = $2
			for (k = 1; match(v, /-?[0-9]+([.][0-9]+)?/); k++) {
				if (k == n) { out = substr(v, RSTART, RLENGTH); break }
				v = substr(v, RSTART + RLENGTH)
			}
		}
		END { print (out == "") ? "NaN" : out }'
}
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
# PgQ, a peer measured beside webhook, where Debian has it for this version
export WEBHOOK_OPTIONAL_PKGS="postgresql-$PG_MAJOR-pgq3"
wh_build_install

# pgq_find: make Debian's PgQ loadable by the server $PG_CONFIG names.  On
# a Debian server it is there already; a private copy of the same major
# version (PG_CONFIG pointing elsewhere) gets the package's library and
# extension files copied into its own directories.  False without PgQ.
pgq_find() {
	local pkg=postgresql-$PG_MAJOR-pgq3 share lib f dest sudo=""
	share=$("$PG_CONFIG" --sharedir)/extension
	lib=$("$PG_CONFIG" --pkglibdir)
	[ -f "$share/pgq.control" ] && [ -f "$lib/pgq_lowlevel.so" ] && return 0
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
		return 1
	[ "$(id -u)" -ne 0 ] && sudo=sudo
	for f in $(dpkg -L "$pkg"); do
		[ -f "$f" ] || continue
		case $f in
		/usr/lib/postgresql/$PG_MAJOR/lib/*)
			dest=$lib/${f#/usr/lib/postgresql/"$PG_MAJOR"/lib/} ;;
		/usr/share/postgresql/$PG_MAJOR/extension/*)
			dest=$share/${f#/usr/share/postgresql/"$PG_MAJOR"/extension/} ;;
		*) continue ;;
		esac
		$sudo install -D -m 644 "$f" "$dest" || return 1
	done
	[ -f "$share/pgq.control" ]
}
have_pgq=false
if pgq_find; then
	have_pgq=true
	echo "PgQ: $(sed -n "s/^default_version = '\(.*\)'/\1/p" \
		"$("$PG_CONFIG" --sharedir)/extension/pgq.control")"
else
	echo "PgQ: no postgresql-$PG_MAJOR-pgq3 here; its figures will read n/a"
fi

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

# The extension's storage, with indexes and TOAST: the history is
# webhook.attempt (which holds no rows of its own), every table that
# inherits from it (its segments, found through pg_inherits) and the
# segment table; the outbox is webhook.event.  SQL expressions, for the
# figures and the sampler alike.
history_size_sql="((WITH RECURSIVE h(oid) AS (
		SELECT 'webhook.attempt'::regclass::oid
		UNION ALL
		SELECT i.inhrelid FROM pg_inherits i JOIN h ON i.inhparent = h.oid)
	SELECT sum(pg_total_relation_size(h.oid)) FROM h)
	+ coalesce(pg_total_relation_size(to_regclass('webhook.attempt_segment')), 0))"
storage_size_sql="(pg_total_relation_size('webhook.event') + $history_size_sql)"
# webhook_bytes: the outbox and the history; history_bytes: the history
webhook_bytes() { val "SELECT $storage_size_sql"; }
history_bytes() { val "SELECT $history_size_sql"; }

# last_answer: when the receiver answered the last event delivered, in
# seconds since the epoch: from the history (the attempt's start plus its
# duration), or from the outbox's finished_at where delivered events' rows
# are kept (webhook.payload_retention)
last_answer() {
	val "SELECT extract(epoch FROM greatest(
		(SELECT max(finished_at) FROM webhook.event WHERE state = 'delivered'),
		(SELECT max(started_at + duration_us * interval '1 microsecond')
		 FROM webhook.attempt WHERE final AND status BETWEEN 200 AND 299)))"
}

# wait_drained: every event delivered (nothing pending)
wait_drained() {
	wait_for "NOT EXISTS (SELECT FROM webhook.event WHERE state = 'pending')" \
		"${1:-300}" || die "events still pending after ${1:-300} s"
}

# clean_slate: no events left, empty outbox and orders, a checkpoint.
# Every TRUNCATE here names the history before the outbox: the worker's
# clean-up empties a history segment, then deletes from the outbox, so
# locking them in the other order could deadlock with it.
clean_slate() {
	wait_drained
	sql -c "TRUNCATE webhook.attempt, webhook.event, orders" -c "CHECKPOINT"
}

# capture_with none|webhook|outbox|pgq: the one trigger on orders that is
# enabled (webhook's, the PL/pgSQL outbox's or PgQ's), or none of them
capture_with() {
	local t
	case $1 in
	none) t="" ;;
	webhook) t=webhook_bench ;;
	outbox) t=bench_outbox ;;
	pgq) t=bench_pgq ;;
	*) die "no capture named $1" ;;
	esac
	sql -c "ALTER TABLE orders DISABLE TRIGGER USER" \
		${t:+-c "ALTER TABLE orders ENABLE TRIGGER $t"}
}
# trigger on|off: the webhook trigger alone, or no trigger
trigger() {
	if [ "$1" = on ]; then capture_with webhook; else capture_with none; fi
}

# reset_tables: orders, webhook's outbox and the peers' queues emptied, then
# a checkpoint
reset_tables() {
	sql -c "TRUNCATE webhook.attempt, webhook.event, orders, bench_outbox" \
		${pgq_table:+-c "TRUNCATE $pgq_table"} -c "CHECKPOINT"
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
	[ -n "${held_pid:-}" ] && kill -CONT "$held_pid" 2>/dev/null
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
-- a peer: the outbox a user would write by hand, one jsonb row per change
CREATE TABLE bench_outbox (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION bench_outbox_capture() RETURNS trigger
LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO bench_outbox (topic, payload)
    VALUES (TG_TABLE_NAME || '.' || lower(TG_OP), to_jsonb(NEW));
    RETURN NULL;
END
\$\$;
CREATE TRIGGER bench_outbox AFTER INSERT OR UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION bench_outbox_capture();
-- the latency phases: commits as the client saw them, arrivals as the
-- receiver saw them (unlogged: no WAL, nothing to flush)
CREATE UNLOGGED TABLE bench_commit (order_id bigint, committed_at timestamptz);
CREATE UNLOGGED TABLE bench_arrival (webhook_id text, arrived_ms float8, order_id bigint);
EOF

# the other peer: PgQ's own trigger, each change an event in queue "bench"
pgq_table=""
if $have_pgq; then
	if sql -c "CREATE EXTENSION pgq" -c "SELECT pgq.create_queue('bench')" \
		-c "CREATE TRIGGER bench_pgq AFTER INSERT OR UPDATE ON orders
			FOR EACH ROW EXECUTE FUNCTION pgq.logutriga('bench')" \
		>"$tmp/pgq.out" 2>&1; then
		# the queue's event tables inherit from this one
		pgq_table=$(val "SELECT queue_data_pfx FROM pgq.queue WHERE queue_name = 'bench'")
		pgq_version=$(val "SELECT extversion FROM pg_extension WHERE extname = 'pgq'")
	else
		echo "bench: PgQ is installed but could not be set up; its figures will read n/a:" >&2
		cat "$tmp/pgq.out" >&2
		have_pgq=false
	fi
fi
peers="webhook outbox"
$have_pgq && peers+=" pgq"
trigger on

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

# one real event, for the load tool's body (and a check that delivery
# works): its body is read while its endpoint is disabled, since a
# delivered event's row leaves the outbox
endpoint_enabled off
sql -c "INSERT INTO orders (customer, status, total) VALUES ('customer 1', 'pending', 42.50)"
sample=$(val "SELECT payload FROM webhook.events WHERE state = 'pending' ORDER BY id DESC LIMIT 1")
sample_id=$(val "SELECT webhook.webhook_id(msg_id) FROM webhook.event ORDER BY id DESC LIMIT 1")
endpoint_enabled on
wait_drained 30
[ "$(val "SELECT count(*) FROM webhook.attempt WHERE final AND status BETWEEN 200 AND 299")" -ge 1 ] ||
	die "the first event was not delivered"
body_bytes=$(printf '%s' "$sample" | wc -c)
echo "a captured INSERT event: $body_bytes bytes of JSON, as sent"

# ------------------------------------------------ 1. the receiver ceiling
section "1. Receiver ceiling: wrk -> nginx, ${wrk_secs} s"
cat >"$tmp/post.lua" <<EOF
wrk.method = "POST"
wrk.body = [==[$sample]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["User-Agent"] = "webhook/$(val "SELECT extversion FROM pg_extension WHERE extname = 'webhook'")"
wrk.headers["webhook-id"] = "$sample_id"
wrk.headers["webhook-timestamp"] = "$(date +%s)"
wrk.headers["webhook-signature"] = "v1,$(head -c 32 /dev/urandom | base64)"
EOF
wrk -t 2 -c 64 -d "${wrk_secs}s" -s "$tmp/post.lua" "$nginx_url" >"$tmp/wrk.out" 2>&1 ||
	{ cat "$tmp/wrk.out" >&2; die "wrk failed"; }
got ceiling "$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")"
note "wrk -t 2 -c 64, keep-alive, $body_bytes-byte body: ${R[ceiling]} requests/s"

# ------------------------------------------------------ 2. capture cost
section "2. Capture cost: webhook, and beside it ${peers#webhook }"
# The capture figures are the trigger's cost on the write path, so they are
# taken with delivery off: the server restarted with the worker serving an
# empty database (webhook.database), so it takes no CPU from the cores the
# clients use.  Then the single-row INSERT pairs run again with the worker
# delivering alongside, as in production on this 2-core machine.
#
# run_rounds NAME SCRIPT PREPARE VARIANT...: $pairs rounds, each one pgbench
# run with no trigger and one with each VARIANT's (capture_with), in that
# order and reversed every other round, so that no capture always runs
# first.  Per variant: median TPS, median of its per-round ratios to the run
# with no trigger in the same round, and the worker's CPU (median).
# Figures NAME_off, and NAME_on/_ratio/_cpu for webhook, NAME_VARIANT_on...
# for a peer.
run_rounds() {
	local name=$1 script=$2 prepare=$3 i v k tps order
	shift 3
	local variants=(none "$@")
	declare -A tpsl cpul ratl
	for i in $(seq "$pairs"); do
		order=("${variants[@]}")
		if [ $((i % 2)) -eq 0 ]; then
			order=()
			for ((k = ${#variants[@]} - 1; k >= 0; k--)); do order+=("${variants[$k]}"); done
		fi
		declare -A round=()
		for v in "${order[@]}"; do
			$prepare
			capture_with "$v"
			pgb_cpu -c 4 -j 2 -T "$pgb_secs" -M prepared -f "$script" -D nrows="$bulk_rows"
			tps=$(pgb_tps)
			round[$v]=$tps
			note "$name round $i, trigger: $v: $tps TPS (worker CPU $cpu_pct%)"
			tpsl[$v]+="$tps "
			cpul[$v]+="$cpu_pct "
		done
		for v in "$@"; do
			ratl[$v]+="$(calc "${round[$v]} / ${round[none]}" 3) "
		done
	done
	got "${name}_off" "$(printf '%s\n' ${tpsl[none]} | median)"
	for v in "$@"; do
		k=$name
		[ "$v" = webhook ] || k=${name}_$v
		got "${k}_on" "$(printf '%s\n' ${tpsl[$v]} | median)"
		got "${k}_ratio" "$(printf '%s\n' ${ratl[$v]} | median)"
		got "${k}_cpu" "$(printf '%s\n' ${cpul[$v]} | median)"
		note "$name, $v: median $(calc "${R[${name}_off]}" 0) -> $(calc "${R[${k}_on]}" 0) TPS," \
			"ratios ${ratl[$v]}median ${R[${k}_ratio]}"
	done
}

# with delivery off nothing drains, so these empty the outbox themselves
prepare_insert() { reset_tables; }
prepare_update() { sql -c "TRUNCATE webhook.attempt, webhook.event" -c "VACUUM orders" -c "CHECKPOINT"; }

wait_drained
delivery off
echo "-- single-row INSERT, pgbench -c 4 -j 2 -T $pgb_secs -M prepared, delivery off: $peers"
run_rounds insert bench/insert.sql prepare_insert $peers

echo "-- single-row UPDATE of the watched column (status), $bulk_rows rows, delivery off"
capture_with none
sql -c "TRUNCATE orders RESTART IDENTITY" -c "TRUNCATE webhook.attempt, webhook.event" \
	-c "INSERT INTO orders (customer, status, total)
		SELECT 'customer ' || i, 'pending', (i % 1000) + 0.99
		FROM generate_series(1, $bulk_rows) i" -c "VACUUM ANALYZE orders"
run_rounds update bench/update.sql prepare_update webhook

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

# In each round: one bulk INSERT with no trigger and one with each
# variant's, in turn (reversed every other round); the bulk UPDATE for no
# trigger and webhook's only.  Per variant: median time, median ratio of
# time to the same round's run with no trigger, median extra WAL per row.
echo "-- bulk INSERT ... SELECT generate_series(1, $bulk_rows) ($peers) and UPDATE of all rows (webhook), delivery off"
variants=(none $peers)
declare -A bt bw bl
for i in $(seq "$pairs"); do
	order=("${variants[@]}")
	if [ $((i % 2)) -eq 0 ]; then
		order=()
		for ((k = ${#variants[@]} - 1; k >= 0; k--)); do order+=("${variants[$k]}"); done
	fi
	for v in "${order[@]}"; do
		reset_tables
		capture_with "$v"
		read -r t w <<<"$(bulk "$fill")"
		bt[ins_$v]=$t bw[ins_$v]=$w
		bl[ins_t_$v]+="$t "
		line="round $i, trigger: $v: INSERT $t s, $(calc "$w / $bulk_rows" 0) WAL bytes/row"
		if [ "$v" = none ] || [ "$v" = webhook ]; then
			sql -c "TRUNCATE webhook.event" -c "CHECKPOINT"
			read -r t w <<<"$(bulk "UPDATE orders SET status = 'paid'")"
			bt[upd_$v]=$t bw[upd_$v]=$w
			bl[upd_t_$v]+="$t "
			line+="; UPDATE $t s, $(calc "$w / $bulk_rows" 0) WAL bytes/row"
		fi
		note "$line"
	done
	for v in $peers; do
		bl[ins_r_$v]+="$(calc "${bt[ins_$v]} / ${bt[ins_none]}" 3) "
		bl[ins_w_$v]+="$(calc "(${bw[ins_$v]} - ${bw[ins_none]}) / $bulk_rows" 1) "
	done
	bl[upd_r]+="$(calc "${bt[upd_webhook]} / ${bt[upd_none]}" 3) "
	bl[upd_w]+="$(calc "(${bw[upd_webhook]} - ${bw[upd_none]}) / $bulk_rows" 1) "
done
got bulk_ins_off "$(printf '%s\n' ${bl[ins_t_none]} | median)"
got bulk_upd_off "$(printf '%s\n' ${bl[upd_t_none]} | median)"
got bulk_upd_on "$(printf '%s\n' ${bl[upd_t_webhook]} | median)"
got bulk_upd_ratio "$(printf '%s\n' ${bl[upd_r]} | median)"
got wal_upd "$(printf '%s\n' ${bl[upd_w]} | median)"
for v in $peers; do
	k=""
	[ "$v" = webhook ] || k=_$v
	got "bulk_ins${k}_on" "$(printf '%s\n' ${bl[ins_t_$v]} | median)"
	got "bulk_ins${k}_ratio" "$(printf '%s\n' ${bl[ins_r_$v]} | median)"
	got "wal_ins$k" "$(printf '%s\n' ${bl[ins_w_$v]} | median)"
	note "bulk INSERT, $v: ratios ${bl[ins_r_$v]}(median ${R[bulk_ins${k}_ratio]}), extra WAL/row ${bl[ins_w_$v]}"
done
note "bulk UPDATE, webhook: ratios ${bl[upd_r]}(median ${R[bulk_upd_ratio]}), extra WAL/row ${bl[upd_w]}"
# without PgQ here, its figures read n/a (not a failure)
if ! $have_pgq; then
	for k in insert_pgq_on insert_pgq_ratio bulk_ins_pgq_on bulk_ins_pgq_ratio wal_ins_pgq; do
		R[$k]=n/a
	done
fi
reset_tables
trigger on

delivery on
echo "-- single-row INSERT again, with the worker delivering alongside"
prepare_live() { clean_slate; }
run_rounds live bench/insert.sql prepare_live webhook

# ------------------------------------------------------------- 3. drain
section "3. Drain: $drain_n events in the outbox, then delivery on"
# drain KEY PER-REQUEST: $drain_n events captured with the endpoint
# disabled, then the clock from webhook.enable_endpoint() to the last
# event's finished_at (recorded just after nginx answered it); figures KEY
# (events/s), KEY_frac (of the ceiling) and KEY_cpu (the worker's)
drain() {
	local key=$1 per=$2 before w0 t0 secs answered
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
	secs=$(calc "$(last_answer) - $t0" 6)
	got "${key}_cpu" "$(calc "($(worker_ticks) - $w0) / $hz / $secs * 100" 0)"
	# stub_status counts its own requests: one in "before", one now
	answered=$(( $(nginx_requests) - before - 1 ))
	[ "$answered" -ge $((drain_n / per)) ] ||
		die "nginx answered $answered requests, expected $((drain_n / per))"
	got "$key" "$(calc "$drain_n / $secs" 0)"
	got "${key}_frac" "$(calc "${R[$key]} / ${R[ceiling]}" 3)"
	note "$drain_n events in $(calc "$secs" 2) s: ${R[$key]} events/s," \
		"$(calc "${R[${key}_frac]} * 100" 0)% of the receiver ceiling ($answered requests reached nginx);" \
		"worker CPU ${R[${key}_cpu]}% of a core"
}
drain drain 1

# Batching, where the endpoint can take it: 50 events a request
batch_arg=$(val "SELECT a FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
		unnest(p.proargnames) a
	WHERE n.nspname = 'webhook' AND p.proname = 'alter_endpoint'
	  AND a IN ('batch_max_events', 'batch_size', 'max_batch_events', 'batch_events')
	LIMIT 1")
if [ -n "$batch_arg" ]; then
	echo "-- again with batching on: alter_endpoint($batch_arg => 50)"
	sql -c "SELECT webhook.alter_endpoint('bench', $batch_arg => 50)" >/dev/null
	drain drain_batch 50
	# 0 turns batching off; where 0 is not taken, batches of one
	sql -c "SELECT webhook.alter_endpoint('bench', $batch_arg => 0)" >/dev/null 2>&1 ||
		sql -c "SELECT webhook.alter_endpoint('bench', $batch_arg => 1)" >/dev/null
else
	note "no batching in this build (webhook.alter_endpoint takes no batch size): n/a"
	R[drain_batch]=n/a R[drain_batch_frac]=n/a R[drain_batch_cpu]=n/a
fi

# ------------------------------------- 3b. WAL and disk per delivered event
section "3b. WAL and disk per delivered event: $wal_n events"
# WAL per delivered event beyond the user's row, in three parts:
#   capture:  the INSERT of $wal_n rows with the trigger, minus the same
#             INSERT without it, delivery off;
#   delivery: across the drain of those events (each delivered event's row
#             leaves the outbox, its attempt goes into the history);
#   cleanup:  VACUUM of the outbox, which frees the rows the deliveries
#             removed, then the retention step emptying the history (its
#             segments go by TRUNCATE: the history is never vacuumed).
# Each is pg_current_wal_insert_lsn() after minus before, / $wal_n.  No
# checkpoint falls between capture and cleanup (as in production, where an
# event is delivered seconds after its capture; the CHECKPOINT just before
# the capture restarts checkpoint_timeout's 30 minutes), so no part pays
# for full page images the others would not.  That is also why delivery is off here
# by holding the worker (SIGSTOP, while it waits for work, so it holds no
# lock a commit needs) and not by a restart, which writes a shutdown
# checkpoint, nor by disabling the endpoint, whose events the worker parks.
# Then the bytes kept: the outbox and the history, indexes included, once
# the events are delivered and the outbox vacuumed, with the default
# retention (so the history still holds their attempts), minus their size
# when empty, / $wal_n; and the history's share of that.
held_pid=""
worker_hold() {
	local pid idle="wait_event_type IN ('Extension', 'Activity')"
	for _ in $(seq 100); do
		pid=$(val "SELECT pid FROM pg_stat_activity
			WHERE backend_type = 'webhook worker' AND $idle LIMIT 1")
		if [ -n "$pid" ]; then
			kill -STOP "$pid"
			held_pid=$pid
			# still waiting once stopped: then it holds nothing
			[ "$(val "SELECT $idle FROM pg_stat_activity WHERE pid = $pid")" = t ] &&
				return 0
			worker_go
		fi
		sleep 0.1
	done
	die "the worker was never found waiting for work"
}
worker_go() {
	[ -n "$held_pid" ] && kill -CONT "$held_pid"
	held_pid=""
}
lsn() { val "SELECT pg_current_wal_insert_lsn()"; }
wal_since() { val "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$1')"; }
webhook_tables=$(val "SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid)
	FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
	WHERE s.nspname = 'webhook' AND c.relkind = 'r'")
fill_wal="INSERT INTO orders (customer, status, total)
	SELECT 'customer ' || i, 'pending', (i % 1000) + 0.99
	FROM generate_series(1, $wal_n) i"

clean_slate
worker_hold
capture_with none
read -r _ wal_plain <<<"$(bulk "$fill_wal")"
reset_tables
capture_with webhook
empty_bytes=$(webhook_bytes)
empty_history=$(history_bytes)
read -r _ wal_with <<<"$(bulk "$fill_wal")"
got wal_part_capture "$(calc "($wal_with - $wal_plain) / $wal_n" 0)"
# what autovacuum would do to the user's table and the planner's figures,
# done now, outside the windows
sql -c "VACUUM ANALYZE orders" -c "ANALYZE $webhook_tables"
[ "$(val "SELECT count(*) FROM webhook.event WHERE state = 'pending'")" = "$wal_n" ] ||
	die "expected $wal_n pending events"
l0=$(lsn)
worker_go
wait_drained 300
got wal_part_delivery "$(calc "$(wal_since "$l0") / $wal_n" 0)"
l1=$(lsn)
sql -c "VACUUM webhook.event"
got kept_bytes "$(calc "($(webhook_bytes) - $empty_bytes) / $wal_n" 0)"
got kept_history_bytes "$(calc "($(history_bytes) - $empty_history) / $wal_n" 0)"
kept_rows=$(val "SELECT (SELECT count(*) FROM webhook.event) || ' ' || (SELECT count(*) FROM webhook.attempt)")
sql -c "ALTER SYSTEM SET webhook.retention = '1s'" -c "SELECT pg_reload_conf()" >/dev/null
wait_for "NOT EXISTS (SELECT FROM webhook.event) AND NOT EXISTS (SELECT FROM webhook.attempt)" 120 ||
	die "retention left $(val "SELECT count(*) FROM webhook.event") events and $(val "SELECT count(*) FROM webhook.attempt") attempts"
l2=$(lsn)
got wal_part_cleanup "$(calc "$(wal_since "$l1") / $wal_n" 0)"
sql -c "ALTER SYSTEM RESET webhook.retention" -c "SELECT pg_reload_conf()" >/dev/null
# The same WAL by kind of record (contrib's pg_walinspect, where it is
# installed), to read the figures with: "rmgr/record delivery delivery-FPI
# cleanup cleanup-FPI" per line, bytes per event, the kinds of at least
# 0.1 B per event.  The checkpoint first, outside
# every window, so that all of it has been flushed.
wal_rmgr=""
if sql -c "CREATE EXTENSION IF NOT EXISTS pg_walinspect" >/dev/null 2>&1; then
	sql -c "CHECKPOINT"
	wal_rmgr=$(val "
		WITH w AS (
			SELECT 'd' AS part, g.* FROM pg_get_wal_stats('$l0', '$l1', true)
				AS g(rec, n, n_pct, rec_size, rec_pct, fpi_size, fpi_pct, size, size_pct)
			UNION ALL
			SELECT 'c', g.* FROM pg_get_wal_stats('$l1', '$l2', true)
				AS g(rec, n, n_pct, rec_size, rec_pct, fpi_size, fpi_pct, size, size_pct))
		SELECT replace(rec, ' ', '_')
			|| ' ' || round(coalesce(sum(size) FILTER (WHERE part = 'd'), 0)::numeric / $wal_n, 1)
			|| ' ' || round(coalesce(sum(fpi_size) FILTER (WHERE part = 'd'), 0)::numeric / $wal_n, 1)
			|| ' ' || round(coalesce(sum(size) FILTER (WHERE part = 'c'), 0)::numeric / $wal_n, 1)
			|| ' ' || round(coalesce(sum(fpi_size) FILTER (WHERE part = 'c'), 0)::numeric / $wal_n, 1)
		FROM w WHERE n > 0
		GROUP BY rec
		HAVING sum(size) >= $wal_n / 10
		ORDER BY sum(size) DESC" 2>/dev/null) || wal_rmgr=""
fi
[ -n "$wal_rmgr" ] || note "pg_walinspect not available: no WAL by kind of record"
got wal_per_event "$(calc "${R[wal_part_capture]} + ${R[wal_part_delivery]} + ${R[wal_part_cleanup]}" 0)"
note "WAL per delivered event: capture ${R[wal_part_capture]} B + delivery ${R[wal_part_delivery]} B" \
	"+ cleanup ${R[wal_part_cleanup]} B = ${R[wal_per_event]} B;" \
	"kept after delivery (retention as shipped): ${R[kept_bytes]} B per event," \
	"${R[kept_history_bytes]} B of it in the history (rows left: outbox, history: $kept_rows)"

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
		JOIN bench_arrival a ON a.order_id = c.order_id
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
			|| ' ' || $storage_size_sql") $(worker_mem | cut -d' ' -f2-)"
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
# through the outbox (the history is never vacuumed for space: its
# segments are emptied by TRUNCATE), the size of the outbox and the
# history (with indexes and TOAST), the rows retention has not removed
# yet, and the worker's memory
checkpoint_cost() {
	local n=$1 t_done av mem
	wait_drained 600
	t_done=$(val "SELECT now()")
	av=no
	if [ "$av_wait" -gt 0 ] && wait_for "(SELECT coalesce(last_autovacuum >= '$t_done', false)
			FROM pg_stat_all_tables WHERE relid = 'webhook.event'::regclass)" "$av_wait"; then
		av=yes
	fi
	got "size_$n" "$(webhook_bytes)"
	R[size_event_$n]=$(val "SELECT pg_total_relation_size('webhook.event')")
	R[size_attempt_$n]=$(history_bytes)
	R[kept_$n]=$(val "SELECT count(*) FROM webhook.event")
	R[kept_attempts_$n]=$(val "SELECT count(*) FROM webhook.attempt")
	R[av_$n]=$av
	mem=$(worker_mem)
	read -r pid rss anon <<<"$mem"
	R[pid_$n]=${pid:-}
	got "rss_$n" "${rss:-}"
	got "anon_$n" "${anon:-}"
	note "after $n: tables+indexes $(calc "${R[size_$n]} / 1048576" 1) MB" \
		"(outbox $(calc "${R[size_event_$n]} / 1048576" 1) MB, history $(calc "${R[size_attempt_$n]} / 1048576" 1) MB)," \
		"${R[kept_$n]} events and ${R[kept_attempts_$n]} attempts not yet removed, autovacuum since: $av;" \
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

# ------------------------------------------------------------ 6. tenants
section "6. Tenants: $tenants_n tenants of 1 to 3 endpoints, 50 event types"
# An application's customers: merchant i (1 .. $tenants_n) has 1 + i % 3
# endpoints, all at nginx, each with an event-type filter drawn from 50
# types (10 kinds of object times 5 verbs: "order.created" ...
# "dispute.deleted") or a pattern ("invoice.*"), or none (every type).
# tenant_orders is subscribed by tenant (its merchant_id column), so each
# row's "order.created" event goes to the endpoints of that row's merchant
# whose filter matches.  The mix is deterministic: a merchant's first
# endpoint always matches (no filter, "order.*", or a list naming
# "order.created"), and so do all three of a merchant with i % 6 = 5; every
# other endpoint's filter does not.  So the classes measured:
#   one:   i % 3 = 0, one endpoint, which matches;
#   three: i % 6 = 5, three endpoints, all of which match;
#   none:  merchants beyond $tenants_n, who have no endpoint at all;
#   plain: the same table with its trigger disabled.
# tenant_class CLASS: "mul off nk" for bench/tenant_insert.sql
tenant_class() {
	case $1 in
	one | plain) echo "3 3 $((tenants_n / 3))" ;;
	three) echo "6 5 $(((tenants_n - 5) / 6 + 1))" ;;
	none) echo "1 $((tenants_n + 1)) $tenants_n" ;;
	*) die "no tenant class named $1" ;;
	esac
}
sql <<EOSQL
CREATE TABLE tenant_orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant_id text NOT NULL,
    status text NOT NULL,
    total numeric(10,2) NOT NULL
);
CREATE TABLE bench_types AS
    SELECT (pi - 1) * 5 + vi AS k, p || '.' || v AS name
    FROM unnest('{order,invoice,payment,refund,customer,subscription,shipment,product,cart,dispute}'::text[])
             WITH ORDINALITY a(p, pi),
         unnest('{created,updated,paid,cancelled,deleted}'::text[])
             WITH ORDINALITY b(v, vi);
INSERT INTO webhook.event_types (name) SELECT name FROM bench_types ORDER BY k;
EOSQL
t_setup=$SECONDS
# ty[1] is "order.created"; ty[2 + x % 49] never is; kinds[2 + x % 9] is
# never "order"
sql -At >/dev/null <<EOSQL
WITH ty AS (SELECT array_agg(name ORDER BY k) AS ty FROM bench_types),
     kinds AS (SELECT '{order,invoice,payment,refund,customer,subscription,shipment,product,cart,dispute}'::text[] AS kinds)
SELECT count(webhook.create_endpoint(
    'm' || i || '.' || j, '$nginx_url', tenant => 'm' || i,
    event_types => CASE
        WHEN j = 0 OR i % 6 = 5 THEN
            CASE (i + j) % 4
            WHEN 0 THEN NULL
            WHEN 1 THEN '{order.*}'::text[]
            WHEN 2 THEN ARRAY['order.created', ty[2 + (7 * i + j) % 49]]
            ELSE ARRAY[ty[2 + (3 * i + j) % 49], ty[2 + (5 * i + j) % 49], 'order.created']
            END
        ELSE
            CASE (i + j) % 3
            WHEN 0 THEN ARRAY[kinds[2 + (i + j) % 9] || '.*']
            WHEN 1 THEN ARRAY[ty[2 + (7 * i + j) % 49]]
            ELSE ARRAY[ty[2 + (3 * i + j) % 49], kinds[2 + (5 * i + j) % 9] || '.paid']
            END
        END))
FROM ty, kinds, generate_series(1, $tenants_n) i, generate_series(0, i % 3) j;
EOSQL
tenant_eps=$(val "SELECT count(*) FROM webhook.endpoint WHERE tenant IS NOT NULL")
note "$tenants_n merchants, $tenant_eps endpoints created in $((SECONDS - t_setup)) s"
# routed by tenant where this build can (a build without it gets n/a for
# the capture figures, and the drain is still measured)
routing=false
if sql -c "SELECT webhook.subscribe('tenant_orders', tenant => 'merchant_id',
		events => '{insert}', event_type => 'order.created')" \
	>"$tmp/subscribe.out" 2>&1; then
	routing=true
	note "tenant_orders subscribed by tenant (merchant_id)"
else
	note "no subscribe(tenant => ...) in this build: the capture figures read n/a ($(head -n 1 "$tmp/subscribe.out"))"
fi
# tenant_trigger on|off: tenant_orders' webhook trigger enabled or not
tenant_trigger() {
	if [ "$1" = on ]; then
		sql -c "ALTER TABLE tenant_orders ENABLE TRIGGER USER"
	else
		sql -c "ALTER TABLE tenant_orders DISABLE TRIGGER USER"
	fi
}
reset_tenant_tables() {
	sql -c "TRUNCATE webhook.attempt, webhook.event, tenant_orders" \
		-c "TRUNCATE webhook.message" -c "CHECKPOINT"
}
# tenant_pgb CLASS ARGS...: bench/tenant_insert.sql for merchants of CLASS
tenant_pgb() {
	local c=$1 mul off nk
	shift
	read -r mul off nk <<<"$(tenant_class "$c")"
	pgb "$@" -M prepared -f bench/tenant_insert.sql -D mul="$mul" -D off="$off" -D nk="$nk"
}

if $routing; then
	# 6.1, 6.2: single-row INSERT TPS, rows of a merchant with one endpoint
	# and of one with none, beside the table without its trigger: rounds
	# as in phase 2 (the order reversed every other round), delivery off,
	# the table and the outbox emptied and a CHECKPOINT before each run
	delivery off
	echo "-- single-row INSERT into tenant_orders, pgbench -c 4 -j 2 -T $pgb_secs, delivery off: plain, one, none"
	declare -A ttps tratl
	tvariants=(plain one none)
	for i in $(seq "$pairs"); do
		order=("${tvariants[@]}")
		[ $((i % 2)) -eq 0 ] && order=(none one plain)
		declare -A tround=()
		for v in "${order[@]}"; do
			reset_tenant_tables
			if [ "$v" = plain ]; then tenant_trigger off; else tenant_trigger on; fi
			tenant_pgb "$v" -c 4 -j 2 -T "$pgb_secs"
			tround[$v]=$(pgb_tps)
			ttps[$v]+="${tround[$v]} "
			note "tenants round $i, $v: ${tround[$v]} TPS"
		done
		for v in one none; do
			tratl[$v]+="$(calc "${tround[$v]} / ${tround[plain]}" 3) "
		done
	done
	tenant_trigger on
	for v in plain one none; do
		got "tenant_tps_$v" "$(printf '%s\n' ${ttps[$v]} | median)"
	done
	for v in one none; do
		got "tenant_ratio_$v" "$(printf '%s\n' ${tratl[$v]} | median)"
		note "tenants, $v / plain: ratios ${tratl[$v]}median ${R[tenant_ratio_$v]}"
	done
	reset_tenant_tables
	delivery on

	# 6.3: WAL per change, $fanout_n single-row INSERTs (one client, one
	# transaction each) per class, with the worker held (SIGSTOP, as in
	# 3b) so that the WAL is the capture's; then the worker lets go and
	# the WAL across their delivery.  A CHECKPOINT before each class, so
	# each pays the same first-touch full page images.
	echo "-- WAL per change: $fanout_n single-row INSERTs per class, then their delivery"
	tenant_walinspect=false
	tenant_recs=""
	sql -c "CREATE EXTENSION IF NOT EXISTS pg_walinspect" >/dev/null 2>&1 && tenant_walinspect=true
	for v in plain one three; do
		clean_slate
		reset_tenant_tables
		if [ "$v" = plain ]; then tenant_trigger off; else tenant_trigger on; fi
		worker_hold
		l0=$(lsn)
		tenant_pgb "$v" -c 1 -t "$fanout_n"
		R[tenant_wal_$v]=$(wal_since "$l0")
		# by kind of record, now: the next class's CHECKPOINT may recycle
		# this WAL
		if $tenant_walinspect; then
			tenant_recs+=$(val "SELECT '$v ' || replace(g.rec, ' ', '_') || ' ' || g.size
				FROM pg_get_wal_stats('$l0', pg_current_wal_flush_lsn(), true)
					AS g(rec, n, n_pct, rec_size, rec_pct, fpi_size, fpi_pct, size, size_pct)
				WHERE g.n > 0" 2>/dev/null || true)$'\n'
		fi
		nev=$(val "SELECT count(*) FROM webhook.event")
		l1=$(lsn)
		worker_go
		sql -c "SELECT webhook._wake()" >/dev/null
		wait_drained 300
		R[tenant_dwal_$v]=$(wal_since "$l1")
		note "$v: $fanout_n changes, $nev events: capture WAL $(calc "${R[tenant_wal_$v]} / $fanout_n" 0) B per change" \
			"(row included), delivery WAL $(calc "${R[tenant_dwal_$v]} / $fanout_n" 0) B per change"
		case $v in plain) want=0 ;; one) want=$fanout_n ;; three) want=$((3 * fanout_n)) ;; esac
		[ "$nev" = "$want" ] || die "expected $want events for class $v, found $nev"
	done
	tenant_trigger on
	# per change, the user's row and commit included; and beyond the plain row
	got tenant_fanout_wal "$(calc "${R[tenant_wal_three]} / ${R[tenant_wal_one]}" 3)"
	got tenant_fanout_extra "$(calc "(${R[tenant_wal_three]} - ${R[tenant_wal_plain]}) / (${R[tenant_wal_one]} - ${R[tenant_wal_plain]})" 3)"
	got tenant_fanout_all "$(calc "(${R[tenant_wal_three]} + ${R[tenant_dwal_three]}) / (${R[tenant_wal_one]} + ${R[tenant_dwal_one]})" 3)"
	for v in plain one three; do
		got "tenant_walpc_$v" "$(calc "${R[tenant_wal_$v]} / $fanout_n" 0)"
		got "tenant_dwalpc_$v" "$(calc "${R[tenant_dwal_$v]} / $fanout_n" 0)"
	done
	# the capture's WAL by kind of record (pg_walinspect, as in 3b): "rmgr/record
	# plain one three" per line, bytes per change, the kinds of at least 1 B
	# per change over the three classes
	tenant_rmgr=$(printf '%s' "$tenant_recs" | awk -v n="$fanout_n" '
		NF == 3 { b[$2, $1] += $3; t[$2] += $3 }
		END {
			for (r in t)
				if (t[r] >= n)
					printf "%s %.1f %.1f %.1f %d\n", r, b[r, "plain"] / n,
						b[r, "one"] / n, b[r, "three"] / n, t[r]
		}' | sort -k5,5nr | cut -d' ' -f1-4)
	note "fan-out WAL, three / one: ${R[tenant_fanout_wal]} (row included)," \
		"${R[tenant_fanout_extra]} (beyond the row), ${R[tenant_fanout_all]} (with delivery)"
else
	for k in tenant_tps_plain tenant_tps_one tenant_tps_none tenant_ratio_one \
		tenant_ratio_none tenant_fanout_wal tenant_fanout_extra tenant_fanout_all \
		tenant_walpc_plain tenant_walpc_one tenant_walpc_three \
		tenant_dwalpc_plain tenant_dwalpc_one tenant_dwalpc_three; do
		R[$k]=n/a
	done
fi

# 6.4: the drain with every tenant's endpoint enabled: $drain_n events
# spread round-robin over the $tenant_eps endpoints, written straight into
# the outbox (a copy of a real captured event's body each) with the worker
# held, then the clock from letting it go to nginx's answer to the last;
# beside phase 3's single-endpoint drain of as many events
echo "-- drain of $drain_n events over $tenant_eps endpoints"
clean_slate
sql -c "TRUNCATE tenant_orders, webhook.message"
worker_hold
trigger on
sql -c "INSERT INTO orders (customer, status, total) VALUES ('customer 1', 'pending', 42.50)"
sql <<EOSQL
INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload)
SELECT e.ids[1 + g % e.n], gen_random_uuid(), now(), now(), s.payload
FROM (SELECT array_agg(id ORDER BY id) AS ids, count(*)::int AS n
      FROM webhook.endpoint WHERE tenant IS NOT NULL) e,
     (SELECT payload FROM webhook.event ORDER BY id LIMIT 1) s,
     generate_series(0, $drain_n - 1) g;
DELETE FROM webhook.event WHERE endpoint_id = (SELECT id FROM webhook.endpoint WHERE name = 'bench');
TRUNCATE orders;
ANALYZE webhook.event;
CHECKPOINT;
EOSQL
[ "$(val "SELECT count(*) FROM webhook.event WHERE state = 'pending'")" = "$drain_n" ] ||
	die "expected $drain_n pending events"
before=$(nginx_requests)
w0=$(worker_ticks)
t0=$(val "SELECT extract(epoch FROM clock_timestamp())")
worker_go
sql -c "SELECT webhook._wake()" >/dev/null
wait_drained 900
secs=$(calc "$(last_answer) - $t0" 6)
got tenant_drain_cpu "$(calc "($(worker_ticks) - $w0) / $hz / $secs * 100" 0)"
answered=$(( $(nginx_requests) - before - 1 ))
[ "$answered" -ge "$drain_n" ] || die "nginx answered $answered requests, expected $drain_n"
got tenant_drain "$(calc "$drain_n / $secs" 0)"
got tenant_drain_ratio "$(calc "${R[tenant_drain]} / ${R[drain]}" 3)"
note "$drain_n events over $tenant_eps endpoints in $(calc "$secs" 2) s: ${R[tenant_drain]} events/s," \
	"${R[tenant_drain_ratio]} of the single-endpoint drain (${R[drain]} events/s); worker CPU ${R[tenant_drain_cpu]}% of a core"

# ---------------------------------------------------------- 7. counters
section "7. Counters: webhook.track_stats on and off"
# track_stats on|off, for every session and the worker
track_stats() {
	sql -c "ALTER SYSTEM SET webhook.track_stats = $1" -c "SELECT pg_reload_conf()" >/dev/null
	sleep 0.5
}
# In each round one pgbench run with the counters on and one with them off
# (the order reversed every other round), delivery off as in phase 2; then
# the drain of phase 3 with them on and off, in the same alternation.
c_secs=$pgb_secs c_pairs=$pairs c_drain=$drain_n
if [ "${COUNTERS_FULL:-0}" = 1 ]; then
	c_secs=15 c_pairs=3 c_drain=100000
fi
wait_drained 900
sql -c "TRUNCATE tenant_orders, webhook.message" >/dev/null 2>&1 || true
# the drain is phase 3's, to one endpoint: phase 6's endpoints are disabled
# (every claim reads the window of each enabled endpoint)
sql -c "UPDATE webhook.endpoint SET enabled = false WHERE tenant IS NOT NULL" >/dev/null
trigger on
delivery off
capture_with webhook
declare -A cs
for i in $(seq "$c_pairs"); do
	order=(on off)
	[ $((i % 2)) -eq 0 ] && order=(off on)
	declare -A round=()
	for v in "${order[@]}"; do
		prepare_insert
		track_stats "$v"
		pgb_cpu -c 4 -j 2 -T "$c_secs" -M prepared -f bench/insert.sql -D nrows="$bulk_rows"
		round[$v]=$(pgb_tps)
		cs[ins_$v]+="${round[$v]} "
		note "counters round $i, track_stats $v: ${round[$v]} TPS"
	done
	cs[ins_r]+="$(calc "${round[on]} / ${round[off]}" 3) "
done
got counters_insert_on "$(printf '%s\n' ${cs[ins_on]} | median)"
got counters_insert_off "$(printf '%s\n' ${cs[ins_off]} | median)"
got counters_insert_ratio "$(printf '%s\n' ${cs[ins_r]} | median)"
note "single-row INSERT, counters on / off: ratios ${cs[ins_r]}median ${R[counters_insert_ratio]}"
reset_tables
delivery on
saved_drain_n=$drain_n
drain_n=$c_drain
for i in $(seq "$c_pairs"); do
	order=(on off)
	[ $((i % 2)) -eq 0 ] && order=(off on)
	for v in "${order[@]}"; do
		track_stats "$v"
		drain "counters_drain_${v}_$i" 1
		cs[drain_$v]+="${R[counters_drain_${v}_$i]} "
	done
	cs[drain_r]+="$(calc "${R[counters_drain_on_$i]} / ${R[counters_drain_off_$i]}" 3) "
done
got counters_drain_on "$(printf '%s\n' ${cs[drain_on]} | median)"
got counters_drain_off "$(printf '%s\n' ${cs[drain_off]} | median)"
got counters_drain_ratio "$(printf '%s\n' ${cs[drain_r]} | median)"
note "drain, counters on / off: ratios ${cs[drain_r]}median ${R[counters_drain_ratio]}"
drain_n=$saved_drain_n
sql -c "ALTER SYSTEM RESET webhook.track_stats" -c "SELECT pg_reload_conf()" >/dev/null

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
	[ "$1" = n/a ] || [ "$3" = n/a ] && { echo n/a; return; }
	awk -v v="$1" -v t="$3" "BEGIN { print (v $2 t) ? \"met\" : \"missed\" }"
}
k1=$cost_1 k2=$cost_2
pgq_label="PgQ${pgq_version:+ $pgq_version} (pgq.logutriga)"
# the figures of the issue's targets first, then the others that help read
# them; a row is "figure|value|target|result"
rows=(
	"Receiver ceiling (wrk -> nginx)|$(fmt_n "${R[ceiling]}") req/s||"
	"Single-row INSERT TPS, no trigger / trigger|$(fmt_n "${R[insert_off]}") / $(fmt_n "${R[insert_on]}")||"
	"Single-row INSERT TPS ratio, trigger / none, delivery off (median of $pairs)|${R[insert_ratio]}|>= 0.90|$(verdict "${R[insert_ratio]}" '>=' 0.90)"
	"Single-row INSERT TPS with the worker delivering alongside, no trigger / trigger|$(fmt_n "${R[live_off]}") / $(fmt_n "${R[live_on]}")||"
	"Single-row INSERT TPS ratio with the worker delivering alongside (median of $pairs)|${R[live_ratio]}|>= 0.75|$(verdict "${R[live_ratio]}" '>=' 0.75)"
	"Worker CPU during those runs with trigger (median)|${R[live_cpu]}% of a core||"
	"Single-row UPDATE TPS, no trigger / trigger|$(fmt_n "${R[update_off]}") / $(fmt_n "${R[update_on]}")||"
	"Single-row UPDATE TPS ratio, trigger / none (median of $pairs)|${R[update_ratio]}||"
	"Bulk INSERT $bulk_rows rows, no trigger / trigger|${R[bulk_ins_off]} s / ${R[bulk_ins_on]} s||"
	"Bulk INSERT time ratio, trigger / none|${R[bulk_ins_ratio]}|<= 2.2|$(verdict "${R[bulk_ins_ratio]}" '<=' 2.2)"
	"Extra WAL per captured INSERT row|$(fmt_n "${R[wal_ins]}") B|<= outbox's ($(fmt_n "${R[wal_ins_outbox]}") B)|$(verdict "${R[wal_ins]}" '<=' "${R[wal_ins_outbox]}")"
	"Bulk UPDATE $bulk_rows rows, no trigger / trigger|${R[bulk_upd_off]} s / ${R[bulk_upd_on]} s||"
	"Bulk UPDATE time ratio, trigger / none|${R[bulk_upd_ratio]}||"
	"Extra WAL per captured UPDATE row|$(fmt_n "${R[wal_upd]}") B||"
	"PL/pgSQL outbox: single-row INSERT TPS ratio / none (median of $pairs)|${R[insert_outbox_ratio]}||"
	"PL/pgSQL outbox: bulk INSERT time ratio / none|${R[bulk_ins_outbox_ratio]}||"
	"PL/pgSQL outbox: extra WAL per captured INSERT row|$(fmt_n "${R[wal_ins_outbox]}") B||"
	"$pgq_label: single-row INSERT TPS ratio / none (median of $pairs)|${R[insert_pgq_ratio]}||"
	"$pgq_label: bulk INSERT time ratio / none|${R[bulk_ins_pgq_ratio]}||"
	"$pgq_label: extra WAL per captured INSERT row|$(fmt_n "${R[wal_ins_pgq]}")$([ "${R[wal_ins_pgq]}" = n/a ] || echo " B")||"
	"Drain, $drain_n events|$(fmt_n "${R[drain]}") events/s|>= 30000|$(verdict "${R[drain]}" '>=' 30000)"
	"Drain / receiver ceiling|$(fmt_n "${R[drain_frac]}" 3)|>= 0.35|$(verdict "${R[drain_frac]}" '>=' 0.35)"
	"Worker CPU during the drain|${R[drain_cpu]}% of a core||"
	"Drain with batching on, 50 events a request|$(fmt_n "${R[drain_batch]}")$([ "${R[drain_batch]}" = n/a ] || echo " events/s")|>= 100000|$(verdict "${R[drain_batch]}" '>=' 100000)"
	"WAL per delivered event, capture ($wal_n events)|${R[wal_part_capture]} B||"
	"WAL per delivered event, delivery|${R[wal_part_delivery]} B||"
	"WAL per delivered event, retention and vacuum (outbox VACUUM, history TRUNCATE)|${R[wal_part_cleanup]} B||"
	"WAL per delivered event beyond the user's row, capture + delivery + cleanup|${R[wal_per_event]} B|<= 450 B|$(verdict "${R[wal_per_event]}" '<=' 450)"
	"Bytes kept per delivered event, outbox and history (default settings)|${R[kept_bytes]} B|<= 120 B|$(verdict "${R[kept_bytes]}" '<=' 120)"
	"Bytes kept per delivered event in the history alone|${R[kept_history_bytes]} B||"
	"Idle latency p50 ($idle_n commits)|${R[idle_p50]} ms|<= 1 ms|$(verdict "${R[idle_p50]}" '<=' 1)"
	"Idle latency p99|${R[idle_p99]} ms|<= 2 ms|$(verdict "${R[idle_p99]}" '<=' 2)"
	"Idle latency max|${R[idle_max]} ms||"
	"Latency at $load_rate rows/s, p50|${R[load_p50]} ms||"
	"Latency at $load_rate rows/s, p99|${R[load_p99]} ms|<= 50 ms|$(verdict "${R[load_p99]}" '<=' 50)"
	"Latency at $load_rate rows/s, max|${R[load_max]} ms||"
	"Largest backlog at $load_rate rows/s|${R[load_backlog]} events||"
	"Tables+indexes after $k1 / $k2 events|$(mb "${R[size_$k1]}") MB / $(mb "${R[size_$k2]}") MB||"
	"Tables+indexes ratio|${R[size_ratio]}|<= 1.2|$(verdict "${R[size_ratio]}" '<=' 1.2)"
	"Worker VmRSS after $k1 / $k2 events|$(mb "$((${R[rss_$k1]/n\/a/0} * 1024))") MB / $(mb "$((${R[rss_$k2]/n\/a/0} * 1024))") MB||"
	"Worker VmRSS ratio|${R[rss_ratio]}|<= 1.1|$(verdict "${R[rss_ratio]}" '<=' 1.1)"
	"Worker private memory (RssAnon) ratio|${R[anon_ratio]}||"
	"Tenants: single-row INSERT TPS, plain / tenant with 1 endpoint / with none|$(fmt_n "${R[tenant_tps_plain]}") / $(fmt_n "${R[tenant_tps_one]}") / $(fmt_n "${R[tenant_tps_none]}")||"
	"Tenants: single-row INSERT TPS ratio, tenant with 1 endpoint / plain (median of $pairs)|${R[tenant_ratio_one]}|>= 0.85|$(verdict "${R[tenant_ratio_one]}" '>=' 0.85)"
	"Tenants: single-row INSERT TPS ratio, tenant with no endpoint / plain (median of $pairs)|${R[tenant_ratio_none]}|>= 0.95|$(verdict "${R[tenant_ratio_none]}" '>=' 0.95)"
	"Tenants: WAL per change, 3 matching endpoints / 1 (capture, row and commit included)|${R[tenant_fanout_wal]}|<= 1.3|$(verdict "${R[tenant_fanout_wal]}" '<=' 1.3)"
	"Tenants: WAL per change, plain / 1 endpoint / 3 endpoints (capture, row and commit included)|${R[tenant_walpc_plain]} B / ${R[tenant_walpc_one]} B / ${R[tenant_walpc_three]} B||"
	"Tenants: fan-out WAL beyond the user's row, 3 endpoints / 1|${R[tenant_fanout_extra]}||"
	"Tenants: delivery WAL per change, 1 endpoint / 3 endpoints|${R[tenant_dwalpc_one]} B / ${R[tenant_dwalpc_three]} B||"
	"Tenants: fan-out WAL with delivery included, 3 endpoints / 1|${R[tenant_fanout_all]}||"
	"Drain over ${tenant_eps:-?} endpoints of $tenants_n tenants, $drain_n events|$(fmt_n "${R[tenant_drain]}") events/s||"
	"Drain over ${tenant_eps:-?} endpoints / single-endpoint drain|${R[tenant_drain_ratio]}|>= 0.70|$(verdict "${R[tenant_drain_ratio]}" '>=' 0.70)"
	"Worker CPU during the drain over ${tenant_eps:-?} endpoints|${R[tenant_drain_cpu]}% of a core||"
	"Counters: single-row INSERT TPS, track_stats off / on, delivery off|$(fmt_n "${R[counters_insert_off]}") / $(fmt_n "${R[counters_insert_on]}")||"
	"Counters: single-row INSERT TPS ratio, on / off (median of $c_pairs)|${R[counters_insert_ratio]}|>= 0.99|$(verdict "${R[counters_insert_ratio]}" '>=' 0.99)"
	"Counters: drain, $c_drain events, track_stats off / on|$(fmt_n "${R[counters_drain_off]}") / $(fmt_n "${R[counters_drain_on]}") events/s||"
	"Counters: drain ratio, on / off (median of $c_pairs)|${R[counters_drain_ratio]}|>= 0.99|$(verdict "${R[counters_drain_ratio]}" '>=' 0.99)"
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
	[ -n "$out_png" ] && { echo "![throughput, latency and WAL, beside the results before](${out_png##*/})"; echo; }
	if [ -n "$wal_rmgr" ]; then
		echo "## WAL per delivered event by kind of record"
		echo
		echo "The delivery and cleanup parts above, from \`pg_get_wal_stats(..., per_record => true)\` (pg_walinspect)," \
			"bytes per delivered event, full page images included (and apart); kinds of at least 0.1 B per event."
		echo
		echo "| resource manager/record | delivery | of which FPI | cleanup | of which FPI |"
		echo "| --- | --- | --- | --- | --- |"
		echo "$wal_rmgr" | awk 'NF == 5 { printf "| %s | %s B | %s B | %s B | %s B |\n", $1, $2, $3, $4, $5 }'
		echo
	fi
	if [ -n "${tenant_rmgr:-}" ]; then
		echo "## Tenants: capture WAL per change by kind of record"
		echo
		echo "Phase 6's single-row INSERTs ($fanout_n per class), from \`pg_get_wal_stats(..., per_record => true)\`," \
			"bytes per change, the user's row and the commit included; kinds of at least 1 B per change over the three."
		echo
		echo "| resource manager/record | plain | 1 endpoint | 3 endpoints |"
		echo "| --- | --- | --- | --- |"
		echo "$tenant_rmgr" | awk 'NF == 4 { printf "| %s | %s B | %s B | %s B |\n", $1, $2, $3, $4 }'
		echo
	fi
	echo "## Capture beside the peers"
	echo
	echo "Same run, same table, same pgbench scripts, delivery off; each ratio to the same round's run with no trigger."
	echo
	echo "| capture | single-row INSERT TPS / none | $bulk_rows-row INSERT time / none | extra WAL per captured row |"
	echo "| --- | --- | --- | --- |"
	echo "| webhook | ${R[insert_ratio]} | ${R[bulk_ins_ratio]} | $(fmt_n "${R[wal_ins]}") B |"
	echo "| PL/pgSQL outbox (to_jsonb(NEW), bigserial key) | ${R[insert_outbox_ratio]} | ${R[bulk_ins_outbox_ratio]} | $(fmt_n "${R[wal_ins_outbox]}") B |"
	echo "| $pgq_label | ${R[insert_pgq_ratio]} | ${R[bulk_ins_pgq_ratio]} | $(fmt_n "${R[wal_ins_pgq]}")$([ "${R[wal_ins_pgq]}" = n/a ] || echo " B") |"
	echo
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
		"(bench/insert.sql, bench/update.sql), $pairs rounds, each one run with no trigger and one with each trigger in turn (the order reversed every other round)," \
		"orders and the outbox truncated (UPDATE: orders vacuumed) and a CHECKPOINT before each run." \
		"Delivery off: the server is restarted with \`webhook.database\` naming an empty database, so the worker takes no CPU;" \
		"the figure is the trigger's cost on the write path. Ratio = median of the per-round ratios to the round's run with no trigger." \
		"The webhook INSERT rounds then run again with delivery on (the worker delivering each event to nginx alongside, on the same 2 cores)."
	echo "- **Bulk INSERT / UPDATE**: one statement over $bulk_rows rows, time including its commit;" \
		"WAL = \`pg_current_wal_insert_lsn()\` after minus before; per-row figure = (with - without) / $bulk_rows." \
		"Delivery is off during these, so the WAL is the capture's alone. Median of $pairs rounds."
	echo "- **Peers**: the single-row and bulk INSERT figures are taken in the same rounds for each capture in turn" \
		"(no trigger, webhook, the PL/pgSQL outbox, PgQ; the order reversed every other round), only one trigger enabled at a time." \
		"The PL/pgSQL outbox is an AFTER INSERT OR UPDATE trigger writing \`to_jsonb(NEW)\` into a table keyed by a bigserial;" \
		"PgQ is Debian's postgresql-$PG_MAJOR-pgq3 ($([ -n "${pgq_version:-}" ] && echo "version $pgq_version" || echo "not available here: n/a")), \`pgq.logutriga('bench')\` on the table."
	echo "- **Drain**: $drain_n events captured with the endpoint disabled; the clock starts at" \
		"\`webhook.enable_endpoint()\` and stops when nginx answered the last event (its final attempt's \`started_at\` plus its duration, from the history)." \
		"Batching: $([ -n "$batch_arg" ] && echo "the same with \`$batch_arg => 50\`" || echo "not in this build, n/a")."
	echo "- **WAL per delivered event**, beyond the user's row: $wal_n rows inserted in one statement with delivery off," \
		"\`pg_current_wal_insert_lsn()\` after minus before, minus the same INSERT without the trigger (capture);" \
		"the WAL written across the drain of those events, each delivered event's row removed from the outbox and its attempt written to the history (delivery);" \
		"then a VACUUM of the outbox and retention set to 1 s until the history's segments holding those attempts are emptied by TRUNCATE (cleanup: the history is never vacuumed);" \
		"each / $wal_n. No checkpoint falls between capture and cleanup," \
		"as in production, where an event is delivered seconds after its capture. Delivery is held off by stopping the" \
		"worker (SIGSTOP while it waits for work, SIGCONT to drain), not by a restart (its shutdown checkpoint would make" \
		"every later first change to a page log the whole page) nor by disabling the endpoint (whose events the worker parks)." \
		"**Bytes kept**: size of the outbox (\`webhook.event\`) and the history (\`webhook.attempt\`, every table inheriting from it and \`webhook.attempt_segment\`)," \
		"indexes and TOAST included, once those $wal_n events are delivered and the outbox vacuumed," \
		"retention as shipped (7 days, so the history keeps their attempts), minus their size when empty, / $wal_n; and the history's share of it."
	echo "- **Latency**: the endpoint points at bench/arrivals.js, which notes when each request's body has arrived" \
		"(sub-ms wall clock); bench/latency.sql notes \`clock_timestamp()\` right after each single-row INSERT's commit" \
		"returned to pgbench. Idle: $idle_n commits ${idle_pause_ms} ms apart. Under load: \`pgbench -c 4 -j 2 -R $load_rate -T $load_secs\`." \
		"Backlog = events committed but not yet arrived, largest over the run (from the same timestamps)."
	echo "- **Tenants**: $tenants_n merchants, merchant i with 1 + i % 3 endpoints (${tenant_eps:-?} in all), all at nginx," \
		"each with an event-type filter from 50 types (10 kinds of object times 5 verbs), a pattern such as \`invoice.*\`, or none;" \
		"\`tenant_orders\` subscribed with \`subscribe(tbl, tenant => 'merchant_id', event_type => 'order.created')\`." \
		"A merchant's first endpoint always takes \`order.created\`, the others do not, except all three of a merchant with i % 6 = 5." \
		"INSERT TPS: bench/tenant_insert.sql, rows of merchants with one endpoint (i % 3 = 0), of merchants with none (beyond $tenants_n)," \
		"and the plain table (trigger disabled), rounds as for the single-row INSERT above, delivery off." \
		"WAL per change: $fanout_n single-row INSERTs (one client, one transaction each) for merchants with 1 and with 3 matching endpoints" \
		"and for the plain table, \`pg_current_wal_insert_lsn()\` after minus before with the worker held (SIGSTOP)," \
		"then the WAL across their delivery once it is let go; a CHECKPOINT before each class." \
		"Drain: $drain_n events written straight into the outbox (each a copy of one captured event's body)," \
		"spread round-robin over every merchant's endpoint, with the worker held; the clock from letting it go to nginx's answer to the last," \
		"beside the single-endpoint drain above."
	echo "- **Cost over time**: orders fed at $feed_rate rows/s (bench/feed.sql, 100 rows a transaction) to nginx," \
		"retention ${retention}s. At each point: all delivered, then autovacuum awaited on the outbox, webhook.event" \
		"(after $k1: ${R[av_$k1]}; after $k2: ${R[av_$k2]}; the history is not vacuumed, its segments are emptied by TRUNCATE);" \
		"rows retention had not removed yet, outbox and history: ${R[kept_$k1]} and ${R[kept_attempts_$k1]}, then ${R[kept_$k2]} and ${R[kept_attempts_$k2]}." \
		"Size = \`pg_total_relation_size\` of the outbox and of the history (\`webhook.attempt\`, every table inheriting from it, found through \`pg_inherits\`, and \`webhook.attempt_segment\`);" \
		"RSS from /proc of the \`webhook worker\` backend" \
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
	# d VALUE: a figure for gnuplot (NaN when there is none)
	d() { [ -z "$1" ] || [ "$1" = n/a ] && echo NaN || echo "$1"; }
	# the INSERT TPS targets are ratios to the run with no trigger
	t_insert=$([ "${R[insert_off]}" = n/a ] && echo NaN || calc "0.90 * ${R[insert_off]}" 0)
	t_live=$([ "${R[live_off]}" = n/a ] && echo NaN || calc "0.75 * ${R[live_off]}" 0)
	printf '"%s" %s %s %s\n' \
		"receiver ceiling" "$(d "${R[ceiling]}")" "$(before_num '^Receiver ceiling')" NaN \
		"drain" "$(d "${R[drain]}")" "$(before_num '^Drain, [0-9]+ events')" 30000 \
		"drain, batches of 50" "$(d "${R[drain_batch]}")" "$(before_num '^Drain with batching')" 100000 \
		>"$tmp/drain.dat"
	printf '"%s" %s %s %s\n' \
		"no trigger" "$(d "${R[insert_off]}")" "$(before_num '^Single-row INSERT TPS, no trigger')" NaN \
		"trigger" "$(d "${R[insert_on]}")" "$(before_num '^Single-row INSERT TPS, no trigger' 2)" "$t_insert" \
		"no trigger, delivering" "$(d "${R[live_off]}")" \
		"$(before_num '^Single-row INSERT TPS with the worker delivering alongside, no trigger')" NaN \
		"trigger, delivering" "$(d "${R[live_on]}")" \
		"$(before_num '^Single-row INSERT TPS with the worker delivering alongside, no trigger' 2)" "$t_live" \
		>"$tmp/tps.dat"
	# WAL per delivered event in its parts, disk kept per event, and the
	# capture's WAL per row beside the peers'
	printf '"%s" %s %s %s\n' \
		"capture" "$(d "${R[wal_part_capture]}")" "$(before_num '^WAL per delivered event, capture')" NaN \
		"delivery" "$(d "${R[wal_part_delivery]}")" "$(before_num '^WAL per delivered event, delivery')" NaN \
		"retention + vacuum" "$(d "${R[wal_part_cleanup]}")" "$(before_num '^WAL per delivered event, retention')" NaN \
		"total" "$(d "${R[wal_per_event]}")" "$(before_num "^WAL per delivered event beyond")" 450 \
		"disk kept per event" "$(d "${R[kept_bytes]}")" "$(before_num '^Bytes kept per delivered event')" 120 \
		"per captured row: webhook" "$(d "${R[wal_ins]}")" "$(before_num '^Extra WAL per captured INSERT row')" \
		"$(d "${R[wal_ins_outbox]}")" \
		"PL/pgSQL outbox" "$(d "${R[wal_ins_outbox]}")" "$(before_num '^PL/pgSQL outbox: extra WAL')" NaN \
		"PgQ" "$(d "${R[wal_ins_pgq]}")" "$(before_num '^PgQ.*: extra WAL')" NaN \
		>"$tmp/wal.dat"
	printf '"%s" %s %s %s\n' \
		"idle p50" "$(d "${R[idle_p50]}")" "$(before_num '^Idle latency p50')" 1 \
		"idle p99" "$(d "${R[idle_p99]}")" "$(before_num '^Idle latency p99')" 2 \
		"idle max" "$(d "${R[idle_max]}")" "$(before_num '^Idle latency max')" NaN \
		"$load_rate/s p50" "$(d "${R[load_p50]}")" "$(before_num '^Latency at [0-9]+ rows/s, p50')" NaN \
		"$load_rate/s p99" "$(d "${R[load_p99]}")" "$(before_num '^Latency at [0-9]+ rows/s, p99')" 50 \
		"$load_rate/s max" "$(d "${R[load_max]}")" "$(before_num '^Latency at [0-9]+ rows/s, max')" NaN \
		>"$tmp/latency.dat"
	gnuplot -e "drain='$tmp/drain.dat'; tps='$tmp/tps.dat'; lat='$tmp/latency.dat'; wal='$tmp/wal.dat'; out='$out_png';
		before='$before_title';
		subtitle='$when, commit $commit; $(nproc) cores, PostgreSQL $pg_version, fsync and synchronous_commit on'" \
		bench/chart.gp
	echo "wrote $out_png"
fi

if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: no figure for: ${failed[*]}" >&2
	exit 1
fi
echo "bench: every phase produced its figures"
