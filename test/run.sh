#!/usr/bin/env bash
# run.sh: "make test".  Installs what is missing, builds and installs the
# extension, then runs every suite (pg_regress, isolation, TAP, fuzz: one
# count per fuzz target, FUZZ_SECONDS each) and ends with one line
# "N passed, N failed", after one such line per suite ("regress: N passed,
# N failed").  Exits non-zero on any failure.  The PostgreSQL it builds
# against is test/lib.sh's choice: PG_CONFIG, PG_MAJOR or the
# distribution's default.
#
# PostgreSQL refuses to run as root, so when called as root the suites run
# as the unprivileged "postgres" account in a copy of the tree it owns.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

. test/lib.sh
wh_pg_select || exit 1
bash test/deps.sh || exit 1
echo "PostgreSQL $PG_MAJOR ($PG_CONFIG)"
make -s || exit 1
if [ "$(id -u)" -eq 0 ]; then
	make -s install >/dev/null || exit 1
else
	if ! make -s install >/dev/null 2>&1; then
		sudo make -s install >/dev/null || exit 1
	fi
fi

run_as=()
work="$top"
if [ "$(id -u)" -eq 0 ]; then
	user=${WEBHOOK_TEST_USER:-postgres}
	work=$(mktemp -d /tmp/webhook-test.XXXXXX)
	tar -C "$top" --exclude=.git -cf - . | tar -C "$work" -xf -
	chown -R "$user" "$work"
	run_as=(runuser -u "$user" --)
fi

log="$work/test/out-all.log"
passed=0
failed=0

# suite NAME TARGET: run one make target, add up what its runner reports
suite() {
	local name=$1 target=$2 out rc p f
	echo "== $name"
	out=$("${run_as[@]}" make -C "$work" -s "$target" 2>&1)
	rc=$?
	echo "$out" | tee -a "$log" | grep -vE '^\s*$' | tail -n 60
	p=0; f=0
	case $name in
	tap)
		if [[ $out =~ Tests=([0-9]+) ]]; then p=${BASH_REMATCH[1]}; fi
		f=$(echo "$out" | sed -n 's/.*Failed \([0-9]*\)\/[0-9]* subtests.*/\1/p' |
			awk '{s+=$1} END {print s+0}')
		p=$((p - f))
		;;
	*)
		if [[ $out =~ All\ ([0-9]+)\ tests\ passed ]]; then
			p=${BASH_REMATCH[1]}
		elif [[ $out =~ ([0-9]+)\ of\ ([0-9]+)\ tests\ failed ]]; then
			f=${BASH_REMATCH[1]}; p=$((BASH_REMATCH[2] - f))
		fi
		;;
	esac
	if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ $rc -ne 0 ]; then
		for d in "$work"/test/out "$work"/test/out_iso; do
			[ -f "$d/regression.diffs" ] && head -n 200 "$d/regression.diffs"
		done
		ls "$work"/tmp_check/log/*.log >/dev/null 2>&1 &&
			tail -n 40 "$work"/tmp_check/log/regress_log_* 2>/dev/null | tail -n 120
	fi
	echo "$name: $p passed, $f failed"
	passed=$((passed + p))
	failed=$((failed + f))
}

suite regress check-regress
suite isolation check-isolation
suite tap check-tap
suite fuzz check-fuzz
if [ -f test/receiver/selftest.js ]; then
	echo "== receiver"
	if out=$("${run_as[@]}" node "$work/test/receiver/selftest.js" 2>&1); then :; fi
	echo "$out" | tail -n 3
	if [[ $out =~ ([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
		passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
		echo "receiver: ${BASH_REMATCH[1]} passed, ${BASH_REMATCH[2]} failed"
	else
		failed=$((failed + 1))
		echo "receiver: 0 passed, 1 failed"
	fi
fi

# the benchmark's smoke mode, so that it cannot rot (it manages its own
# cluster and drops privileges itself)
echo "== bench (QUICK=1)"
if out=$(QUICK=1 bash bench/bench.sh 2>&1); then
	passed=$((passed + 1))
	echo "$out" | tail -n 5
	echo "bench: 1 passed, 0 failed"
else
	failed=$((failed + 1))
	echo "$out" | tail -n 40
	echo "bench: 0 passed, 1 failed"
fi

[ "$work" != "$top" ] && [ "$failed" -eq 0 ] && rm -rf "$work"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
