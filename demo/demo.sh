#!/usr/bin/env bash
# demo.sh: "make demo".  One webhook, end to end, on a throwaway server.
#
# Installs what is missing (test/deps.sh), builds and installs the
# extension, then starts a private PostgreSQL cluster in a temporary
# directory (unix socket only, webhook preloaded) and the test receiver
# (test/receiver/receiver.js) on 127.0.0.1.  It subscribes an "orders" table
# to the receiver, marks an order paid, and shows the request the receiver
# got, whether its signature verified, and what webhook.events and
# webhook.attempts say about it.
#
# PostgreSQL refuses to run as root, so when called as root the cluster runs
# as the "postgres" account (or $WEBHOOK_TEST_USER); otherwise as yourself,
# with sudo only for "make install".  Everything is removed on exit, unless
# KEEP=1 is set: then the cluster and receiver are left running and the
# script says how to connect and how to stop them.
set -euo pipefail
cd "$(dirname "$0")/.."

keep=${KEEP:-0}
tmp=""
receiver_pid=""
started=false

section() { printf '\n== %s\n' "$*"; }
die() { echo "demo: $*" >&2; exit 1; }

# ---------------------------------------------------------------- build
section "Dependencies, build, install"
. test/lib.sh
wh_build_install

# ------------------------------------------------------- helpers, cleanup
# ctl METHOD PATH [JSON]: call the receiver's control API, print the answer
ctl() {
	node -e '
		const [method, path, body] = process.argv.slice(1);
		const req = require("http").request(
			{host: "127.0.0.1", port: Number(process.env.RECEIVER_PORT),
			 method, path, headers: {"content-type": "application/json"}},
			(res) => {
				let s = "";
				res.on("data", (d) => { s += d; });
				res.on("end", () => {
					process.stdout.write(s);
					process.exit(res.statusCode < 300 ? 0 : 1);
				});
			});
		req.on("error", (e) => { console.error(e.message); process.exit(1); });
		req.end(body || "");' "$@"
}

cleanup() {
	local rc=$?
	trap - EXIT
	if [ $rc -ne 0 ] && [ -n "$tmp" ]; then
		echo "demo: FAILED (exit status $rc)" >&2
		if [ -f "$tmp/postgres.log" ]; then
			echo "-- last lines of the server log:" >&2
			tail -n 20 "$tmp/postgres.log" >&2
		fi
	fi
	if [ "$keep" = 1 ] && [ -n "$tmp" ]; then
		section "KEEP=1: left running"
		echo "connect:  $bindir/psql -h $tmp -p ${port:-?} -U postgres postgres"
		echo "requests: node -e 'require(\"http\").get(\"http://127.0.0.1:${RECEIVER_PORT:-?}/_control/requests\", r => r.pipe(process.stdout))'"
		echo "stop:     kill ${receiver_pid:-?}"
		if [ "$(id -u)" -eq 0 ]; then
			echo "          (cd $tmp && runuser -u $owner -- $bindir/pg_ctl -D $tmp/data stop)"
		else
			echo "          $bindir/pg_ctl -D $tmp/data stop"
		fi
		echo "          rm -rf $tmp"
		exit $rc
	fi
	wh_stop "$receiver_pid"
	wh_drop_cluster
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------ the server
section "A throwaway PostgreSQL cluster"
tmp=$(mktemp -d /tmp/webhook-demo.XXXXXX)
[ "$(id -u)" -eq 0 ] && chown "$owner" "$tmp"

# a port nobody listens on; the server itself only has a unix socket
port=$(node -e '
	const s = require("net").createServer();
	s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')

as_owner "$bindir/initdb" -D "$tmp/data" -U postgres --auth=trust \
	--no-sync >"$tmp/initdb.log" 2>&1 ||
	{ cat "$tmp/initdb.log" >&2; die "initdb failed"; }
cat >>"$tmp/data/postgresql.conf" <<EOF
port = $port
listen_addresses = ''
unix_socket_directories = '$tmp'
shared_preload_libraries = 'webhook'
webhook.database = 'postgres'
# the receiver runs on this machine: let the SSRF guard allow loopback
webhook.allowed_networks = '127.0.0.1/32, ::1/128'
EOF
as_owner "$bindir/pg_ctl" -D "$tmp/data" -l "$tmp/postgres.log" -w -t 30 \
	-s start || die "the server did not start (see the log above)"
started=true
echo "PostgreSQL on socket $tmp, port $port, running as \"$owner\""

# ---------------------------------------------------------- the receiver
section "The test receiver"
node test/receiver/receiver.js --port 0 --port-file "$tmp/receiver.port" \
	--log "$tmp/receiver.log" --quiet >"$tmp/receiver.out" 2>&1 &
receiver_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/receiver.port" ] && break
	kill -0 "$receiver_pid" 2>/dev/null ||
		{ cat "$tmp/receiver.out" >&2; die "the receiver did not start"; }
	sleep 0.1
done
[ -s "$tmp/receiver.port" ] || die "the receiver did not start within 10 s"
RECEIVER_PORT=$(cat "$tmp/receiver.port")
export RECEIVER_PORT
url="http://127.0.0.1:$RECEIVER_PORT"
echo "receiver at $url (pid $receiver_pid)"

# -------------------------------------------------------------- the demo
section "SQL: set up"
sql -a <<EOF
CREATE EXTENSION webhook;
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer text NOT NULL,
    status text NOT NULL,
    total numeric(10,2) NOT NULL
);
SELECT webhook.create_endpoint('shop', '$url/shop');
SELECT webhook.subscribe('orders', 'shop', columns => '{status}');
EOF

echo "SELECT webhook.endpoint_secret('shop');   -- given to the receiver"
secret=$(sql -At -c "SELECT webhook.endpoint_secret('shop')")
ctl POST /_control/secret "{\"secret\": \"$secret\"}" >/dev/null ||
	die "could not give the receiver the endpoint's secret"

section "SQL: change an order"
sql -a <<EOF
INSERT INTO orders (customer, status, total) VALUES ('Ada', 'pending', 42.50);
UPDATE orders SET status = 'paid' WHERE customer = 'Ada';
EOF

# ------------------------------------------------------------ the result
section "Waiting for the webhook"
# Print the UPDATE the receiver recorded (exit 0; 4 if its signature did
# not verify), or nothing (exit 3).  The body is re-indented without being
# re-encoded, so every value shows exactly as it was sent.
show_update='
	function indent(json) {
		let out = "", depth = 0, instr = false, esc = false;
		const nl = () => "\n" + "  ".repeat(depth);
		for (let i = 0; i < json.length; i++) {
			const c = json[i];
			if (instr) {
				out += c;
				if (esc) esc = false;
				else if (c === "\\") esc = true;
				else if (c === "\"") instr = false;
			} else if (c === "\"") {
				out += c; instr = true;
			} else if (c === "{" || c === "[") {
				const close = c === "{" ? "}" : "]";
				if (json[i + 1] === close) { out += c + close; i++; }
				else { depth++; out += c + nl(); }
			} else if (c === "}" || c === "]") {
				depth--; out += nl() + c;
			} else if (c === ",") {
				out += "," + nl();
			} else if (c === ":") {
				out += ": ";
			} else if (c.trim() !== "") {
				out += c;
			}
		}
		return out;
	}
	let entries = JSON.parse(require("fs").readFileSync(0, "utf8"));
	let e = entries.find((r) => {
		try { return JSON.parse(r.body).data.op === "UPDATE"; }
		catch (err) { return false; }
	});
	if (!e) process.exit(3);
	const h = e.headers;
	console.log(`${e.method} ${e.url}`);
	for (const k of ["webhook-id", "webhook-timestamp", "webhook-signature",
					 "content-type", "user-agent"])
		console.log(`${k}: ${h[k]}`);
	console.log(`\n${indent(e.body)}\n`);
	console.log(e.verified ? "verified: yes (standardwebhooks)"
						   : `verified: NO (${e.verify_error})`);
	process.exit(e.verified ? 0 : 4);'
request=""
rc=3
for _ in $(seq 60); do
	if request=$(ctl GET /_control/requests?path=/shop | node -e "$show_update")
	then
		rc=0
	else
		rc=$?
	fi
	[ $rc -ne 3 ] && break
	sleep 0.25
done
case $rc in
0 | 4) ;;
3)
	sql -c "SELECT id, type, state, attempts, last_result FROM webhook.events ORDER BY id"
	die "the receiver got no UPDATE webhook within 15 s" ;;
*)
	die "could not read the receiver's requests" ;;
esac

section "The request as received"
echo "$request"
[ $rc -eq 0 ] || die "the webhook's signature did not verify"

section "webhook.events and webhook.attempts"
webhook_id=$(echo "$request" | sed -n 's/^webhook-id: //p')
# the worker records the attempt right after the answer: wait for it
for _ in $(seq 40); do
	state=$(sql -At -c "SELECT state FROM webhook.events
						WHERE webhook_id = '$webhook_id'")
	[ "$state" != pending ] && break
	sleep 0.25
done
sql -a -x <<EOF
SELECT e.id, e.type, e.webhook_id, e.state, e.attempts, e.created_at,
       e.finished_at, a.status, a.duration
FROM webhook.events e JOIN webhook.attempts a ON a.event_id = e.id
WHERE e.webhook_id = '$webhook_id';
EOF
result=$(sql -At -c "SELECT e.state || ' ' || a.status
	FROM webhook.events e JOIN webhook.attempts a ON a.event_id = e.id
	WHERE e.webhook_id = '$webhook_id' ORDER BY a.attempt DESC LIMIT 1")
[ "$result" = "delivered 204" ] ||
	die "expected the event delivered with HTTP 204, found \"$result\""

section "Done"
echo "one committed UPDATE, one signed webhook, verified and recorded"
