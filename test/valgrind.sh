#!/usr/bin/env bash
# valgrind.sh: run the server side of webhook once under valgrind (memcheck).
#
#   PG_CONFIG=... bash test/valgrind.sh        (as the cluster owner, not root)
#
# Not part of "make test" (it takes a few minutes): starts a throwaway cluster
# whose every process runs under valgrind, with webhook preloaded and the
# installed build of the extension; runs the endpoint, capture, type,
# privilege and hostile-input SQL tests against it; then delivers rows to
# the test receiver through healthy, trickling, oversized, refused (SSRF)
# and failing TLS endpoints.  INITDB_OPTS="-E LATIN1 --locale=C" runs it in
# a LATIN1 cluster (bodies are then converted to UTF-8).  Prints one line
# per process with errors and exits non-zero if there is any; the logs stay
# in the work directory it names.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

pg_config=${PG_CONFIG:-pg_config}
bin=$("$pg_config" --bindir)
d=$(mktemp -d /tmp/webhook-valgrind.XXXXXX)
port=${PGPORT_VALGRIND:-55499}
export PATH="$bin:$PATH" PGHOST="$d" PGPORT="$port" PGDATABASE=postgres
command -v valgrind >/dev/null || { echo "valgrind not found"; exit 1; }

# PostgreSQL (not built with USE_VALGRIND) sends and writes buffers with
# padding bytes valgrind calls uninitialised: not ours, not interesting
cat >"$d/pg.supp" <<'SUPP'
{
   pg_send
   Memcheck:Param
   send(msg)
   fun:*
   ...
}
{
   pg_sendto
   Memcheck:Param
   sendto(msg)
   fun:*
   ...
}
{
   pg_write
   Memcheck:Param
   write(buf)
   fun:*
   ...
}
{
   pg_pwrite
   Memcheck:Param
   pwrite64(buf)
   fun:*
   ...
}
SUPP

initdb -D "$d/data" -A trust ${INITDB_OPTS:-} >/dev/null || exit 1
cat >>"$d/data/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$d'
port = $port
shared_preload_libraries = 'webhook'
webhook.database = 'postgres'
webhook.allowed_networks = '127.0.0.1/32'
max_connections = 10
CONF
valgrind --quiet --trace-children=yes --error-limit=no --num-callers=30 \
	--log-file="$d/vg.%p" --suppressions="$d/pg.supp" \
	postgres -D "$d/data" >"$d/postgres.log" 2>&1 &
for _ in $(seq 1 120); do pg_isready -q && break; sleep 1; done
pg_isready -q || { echo "the server did not start (see $d/postgres.log)"; exit 1; }

node test/receiver/receiver.js --quiet --port-file "$d/port" >/dev/null 2>&1 &
rpid=$!
for _ in $(seq 1 50); do [ -s "$d/port" ] && break; sleep 0.2; done
rport=$(cat "$d/port")
recv="http://127.0.0.1:$rport"

for t in 01_endpoint 02_capture 04_types 10_privileges 11_hostile_input; do
	psql -X -q -f "test/sql/$t.sql" >"$d/$t.out" 2>&1
done
curl -s -X POST -H 'content-type: application/json' \
	-d '{"path":"/trickle","behaviour":{"trickle":true}}' "$recv/_control/behaviour" >/dev/null
curl -s -X POST -H 'content-type: application/json' \
	-d '{"path":"/huge","behaviour":{"huge_mb":20,"chunked":true}}' "$recv/_control/behaviour" >/dev/null
psql -X -q >"$d/deliver.out" 2>&1 <<SQL
SELECT webhook.create_endpoint('vg_ok', '$recv/ok', retry_schedule => '{1s}');
SELECT webhook.create_endpoint('vg_trickle', '$recv/trickle', timeout => '2s', retry_schedule => '{1s}');
SELECT webhook.create_endpoint('vg_huge', '$recv/huge', retry_schedule => '{1s}');
SELECT webhook.create_endpoint('vg_meta', 'http://169.254.169.254/', retry_schedule => '{1s}');
SELECT webhook.create_endpoint('vg_tls', 'https://127.0.0.1:$rport/', retry_schedule => '{1s}',
	tls_insecure => true, ca_bundle => E'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
CREATE TABLE vg (id serial PRIMARY KEY, v text);
SELECT webhook.subscribe('vg', e)
FROM unnest('{vg_ok,vg_trickle,vg_huge,vg_meta,vg_tls}'::text[]) e;
INSERT INTO vg (v) SELECT repeat('x', g) || ' caf' || chr(233) FROM generate_series(1, 20) g;
SQL
for _ in $(seq 1 90); do
	n=$(psql -X -At -c "SELECT count(*) FROM webhook.events
		WHERE endpoint LIKE 'vg\\_%' AND (state <> 'pending' OR attempts >= 2)")
	[ "$n" = 100 ] && break
	sleep 2
done
psql -X -At -c "SELECT endpoint, state, count(*) FROM webhook.events
	WHERE endpoint LIKE 'vg\\_%' GROUP BY 1, 2 ORDER BY 1, 2" | tee "$d/states.out"
pg_ctl -D "$d/data" -m fast stop -w -t 120 >/dev/null
kill "$rpid" 2>/dev/null

nproc=0
nbad=0
for f in "$d"/vg.*; do
	nproc=$((nproc + 1))
	if [ -s "$f" ]; then
		nbad=$((nbad + 1))
		echo "errors in ${f}: $(grep -c '^==[0-9]*== [A-Z]' "$f") lines"
	fi
done
echo "valgrind: $nproc processes, $nbad with errors (logs in $d)"
[ "$nbad" -eq 0 ]
