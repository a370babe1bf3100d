#!/usr/bin/env bash
# run.sh: build the libFuzzer harnesses and run each for a bounded time.
#
#   bash test/fuzz/run.sh [TARGET...]     (all targets by default)
#
# FUZZ_SECONDS (default 10) bounds each run; PG_CONFIG finds the server
# headers and PostgreSQL's static libraries libpgcommon and libpgport (the
# frontend builds of its base64 and HMAC, which src/common/sign.c uses; Debian's
# postgresql-server-dev-NN ships them): nothing links against the server
# itself.  Each target
# starts from its seed corpus in test/fuzz/corpus/TARGET, which is read but
# never written: new inputs go to a scratch copy under test/fuzz/build.  A
# crash leaves its input in test/fuzz/build/crash-TARGET-*; add it to the
# seed corpus once fixed.  Ends with one pg_regress-style summary line.
set -uo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-10}
pg_config=${PG_CONFIG:-pg_config}
cc=${FUZZ_CC:-clang}
build=test/fuzz/build
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(url header retry_after secret sign cidr trace)

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "fuzz: $cc not found (run test/deps.sh)"
	echo "1 of 1 tests failed."
	exit 1
fi

mkdir -p "$build"
inc=$("$pg_config" --includedir-server)
pglibs=
for d in "$("$pg_config" --pkglibdir)" "$("$pg_config" --libdir)"; do
	if [ -f "$d/libpgcommon.a" ] && [ -f "$d/libpgport.a" ]; then
		pglibs="-L$d -lpgcommon -lpgport"
		break
	fi
done
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-Wno-ignored-attributes -Isrc -I"$inc")

# the sources each target links, beyond its harness
declare -A srcs=(
	[url]="src/common/inputcheck.c"
	[header]="src/common/inputcheck.c"
	[retry_after]="src/common/retry.c test/fuzz/pgshim.c"
	[secret]="src/common/sign.c test/fuzz/pgshim.c"
	[sign]="src/common/sign.c test/fuzz/pgshim.c"
	[cidr]="src/common/netguard.c"
	[trace]="src/common/trace.c"
)
declare -A libs=([url]="-lcurl" [header]="-lcurl"
	[secret]="$pglibs -lcrypto" [sign]="$pglibs -lcrypto")

passed=0
failed=0
for t in "${targets[@]}"; do
	bin="$build/fuzz_$t"
	if [ -z "$pglibs" ] && { [ "$t" = secret ] || [ "$t" = sign ]; }; then
		echo "fuzz $t: build failed: libpgcommon.a and libpgport.a not found under \"$("$pg_config" --pkglibdir)\" (install postgresql-server-dev-NN)"
		failed=$((failed + 1))
		continue
	fi
	# shellcheck disable=SC2086
	if ! $cc "${cflags[@]}" -o "$bin" "test/fuzz/fuzz_$t.c" ${srcs[$t]} \
		${libs[$t]:-} >"$build/$t.build.log" 2>&1; then
		echo "fuzz $t: build failed"
		tail -n 20 "$build/$t.build.log"
		failed=$((failed + 1))
		continue
	fi
	rm -rf "$build/corpus-$t"
	mkdir -p "$build/corpus-$t"
	if "$bin" -max_total_time="$seconds" -rss_limit_mb=1024 -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$build/crash-$t-" \
		"$build/corpus-$t" "test/fuzz/corpus/$t" >"$build/$t.log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$t.log")
		echo "fuzz $t: ok, ${runs:-?} runs in ${seconds}s"
		passed=$((passed + 1))
	else
		echo "fuzz $t: FAILED"
		grep -E 'ERROR|SUMMARY|pgshim|Test unit written' "$build/$t.log" | head -n 20
		failed=$((failed + 1))
	fi
done

total=$((passed + failed))
if [ $failed -eq 0 ]; then
	echo "All $total tests passed."
else
	echo "$failed of $total tests failed."
	exit 1
fi
