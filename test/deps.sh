#!/usr/bin/env bash
# deps.sh: install what building and testing webhook needs, if missing.
#
# Debian 12 packages (PostgreSQL 15 server and headers, libcurl and OpenSSL
# headers, Perl's IPC::Run for the TAP tests, Node.js for the test receiver,
# clang and its libFuzzer runtime for the fuzz harnesses, openssl to make
# the TLS test's certificates)
# and the receiver's npm packages.  Safe to run again: it only installs what
# is not there.  Needs root, or sudo, when a package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential postgresql-15 postgresql-server-dev-15
      libcurl4-openssl-dev libssl-dev libipc-run-perl
      postgresql-15-auto-failover clang libclang-rt-14-dev openssl)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
[ -n "${WEBHOOK_EXTRA_PKGS:-}" ] && pkgs+=($WEBHOOK_EXTRA_PKGS)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -ne 0 ] && sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d test/receiver/node_modules/standardwebhooks ]; then
	echo "deps: installing the test receiver's npm packages"
	(cd test/receiver && npm ci --no-audit --no-fund --silent)
fi
