#!/usr/bin/env bash
# deps.sh: install what building and testing webhook needs, if missing.
#
# Debian packages: the PostgreSQL server and its headers, of the major
# version test/lib.sh's wh_pg_select chooses (PG_MAJOR; by default the
# distribution's own), with pg_auto_failover for the failover test when
# Debian has it for that version; the compiler, libcurl and OpenSSL
# headers; Perl's IPC::Run for the TAP tests; Node.js and npm for the test
# receiver; clang and its libFuzzer runtime for the fuzz harnesses; openssl
# to make the TLS test's certificates; Prometheus, promtool and
# prometheus-postgres-exporter for the monitoring tests (installed without
# starting their services: see policy-rc.d below); the packages named in
# $WEBHOOK_EXTRA_PKGS, and those in $WEBHOOK_OPTIONAL_PKGS where Debian has
# them.  Then the receiver's npm packages.
# Safe to run again: it only installs what is not there.  Needs root, or
# sudo, when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# a machine whose package lists were never fetched cannot say which
# version is the distribution's
if [ -z "${PG_CONFIG:-}${PG_MAJOR:-}" ] &&
	! apt-cache show postgresql >/dev/null 2>&1; then
	$sudo apt-get update -qq
fi
wh_pg_select

pkgs=(build-essential "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
	libcurl4-openssl-dev libssl-dev libipc-run-perl clang libclang-rt-dev
	openssl ca-certificates prometheus prometheus-postgres-exporter)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
[ -n "${WEBHOOK_EXTRA_PKGS:-}" ] && pkgs+=($WEBHOOK_EXTRA_PKGS)
# optional: without it, the failover test says why it skips (and
# $WEBHOOK_OPTIONAL_PKGS: without them, the bench prints n/a for a peer)
optional=("postgresql-$PG_MAJOR-auto-failover")
[ -n "${WEBHOOK_OPTIONAL_PKGS:-}" ] && optional+=($WEBHOOK_OPTIONAL_PKGS)

installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
for p in "${pkgs[@]}"; do
	installed "$p" || missing+=("$p")
done
want=()
for p in "${optional[@]}"; do
	installed "$p" || want+=("$p")
done

if [ ${#missing[@]} -gt 0 ] || [ ${#want[@]} -gt 0 ]; then
	$sudo apt-get update -qq
	for p in "${want[@]}"; do
		if apt-cache show "$p" >/dev/null 2>&1; then
			missing+=("$p")
		else
			echo "deps: Debian has no $p here; what needs it will skip"
		fi
	done
fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	# Debian's prometheus packages start their daemons (on ports 9090 and
	# 9187) where invoke-rc.d may; a chroot shares this machine's network,
	# so forbid that unless a policy-rc.d already says what to do
	rc_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		rc_policy=/usr/sbin/policy-rc.d
		printf '#!/bin/sh\n# webhook test/deps.sh: no service starts while it installs\nexit 101\n' |
			$sudo tee "$rc_policy" >/dev/null
		$sudo chmod 755 "$rc_policy"
		trap '$sudo rm -f "$rc_policy"' EXIT
	fi
	# apt-get's progress goes to a log, shown when it fails
	log=$(mktemp)
	if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" \
		>"$log" 2>&1; then
		tail -n 30 "$log" >&2
		rm -f "$log"
		echo "deps: apt-get install failed" >&2
		exit 1
	fi
	rm -f "$log"
	if [ -n "$rc_policy" ]; then
		$sudo rm -f "$rc_policy"
		trap - EXIT
	fi
fi

if [ ! -x "$PG_CONFIG" ]; then
	echo "deps: $PG_CONFIG is missing after installing postgresql-server-dev-$PG_MAJOR" >&2
	exit 1
fi

if [ ! -d test/receiver/node_modules/standardwebhooks ]; then
	echo "deps: installing the test receiver's npm packages"
	(cd test/receiver && npm ci --no-audit --no-fund)
fi
