#!/usr/bin/env bash
# matrix.sh: "make test-matrix".  The README's commands, as written, on a
# fresh minimal Debian of each release that is tested, one after another:
#
#   bash test/matrix.sh [SUITE...]     (default: $MATRIX_SUITES)
#
# Each Debian release brings its own PostgreSQL (the version its
# "postgresql" package stands for, which "make test" picks), compiler,
# libcurl and Node.js, so the releases are the matrix.  For each one:
#
#   - a pristine root filesystem, "mmdebstrap --variant=apt SUITE", made
#     once and kept as $MATRIX_CACHE/SUITE.tar.zst (MATRIX_REFRESH=1 makes
#     it again), is extracted anew into a scratch directory beside it;
#   - the tree's files (what git tracks or would track; nothing built, no
#     node_modules) are copied to /root/webhook in it;
#   - as root there, with nothing else installed: "apt-get update &&
#     apt-get install -y make", then "make demo", then "make test";
#   - its whole output goes to $MATRIX_LOGS/SUITE.log, and one summary line
#     is printed: the PostgreSQL version, each suite's counts, the time.
#
# The downloaded packages are kept in $MATRIX_CACHE/apt-SUITE, so a second
# run fetches only the package lists.  The last line is the total, "N
# passed, N failed"; the exit status is non-zero if anything failed.
#
# Each release runs in a private mount and PID namespace (unshare): its
# mounts (proc, sys, dev, dev/pts, dev/shm, the package cache) exist only
# there, so they vanish with it however it ends, kill -9 included, and
# every process started inside ends with it.  Needs root; installs
# mmdebstrap and zstd on this machine when they are missing.
#
# WERROR=1 in the environment is passed on (CI builds with -Werror), and
# so are http_proxy and https_proxy.  MATRIX_RUN replaces the commands run
# as root in /root/webhook (say, to repeat one TAP test: see the README).
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

cache=${MATRIX_CACHE:-/var/cache/webhook-matrix}
logs=${MATRIX_LOGS:-$top/test/out-matrix}
suites=("$@")
[ ${#suites[@]} -eq 0 ] && read -r -a suites <<<"${MATRIX_SUITES:-bookworm trixie sid}"

# ------------------------------------------------- inside the namespace
# matrix.sh --inside ROOT: mount what a chroot needs and run the README's
# commands in it.  Runs as PID 1 of its own PID namespace.
if [ "${1:-}" = --inside ]; then
	root=$2
	suite=$3
	mounted=()
	unmount() {
		local i
		for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
			umount "${mounted[$i]}" 2>/dev/null || umount -l "${mounted[$i]}"
		done
	}
	trap unmount EXIT
	# mnt TARGET MOUNT-ARGS...: mount onto TARGET inside the root
	mnt() {
		local target=$root$1
		shift
		mount "$@" "$target" && mounted+=("$target")
	}
	mnt /proc -t proc proc || exit 1
	mnt /sys --bind -o ro /sys || exit 1
	mnt /dev --bind /dev || exit 1
	mnt /dev/pts --bind /dev/pts || exit 1
	mnt /dev/shm --bind /dev/shm || exit 1
	mkdir -p "$cache/apt-$suite" "$root/var/cache/apt/archives"
	mnt /var/cache/apt/archives --bind "$cache/apt-$suite" || exit 1
	# the README's commands, as a person would type them on this release
	run=${MATRIX_RUN:-'apt-get update && apt-get install -y make &&
		{ make demo; echo "demo exit status: $?"; } &&
		make test'}
	chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		CI="${CI:-}" ${WERROR:+WERROR="$WERROR"} \
		${http_proxy:+http_proxy="$http_proxy"} \
		${https_proxy:+https_proxy="$https_proxy"} \
		bash -c "cd /root/webhook && { $run; }" </dev/null
	exit $?
fi

# ------------------------------------------------------------ the host
die() { echo "matrix: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (it builds root filesystems and runs chroot)"

need=()
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v zstd >/dev/null 2>&1 || need+=(zstd)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
	echo "matrix: installing ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		die "could not install ${need[*]}"
fi
mkdir -p "$cache" "$logs" || die "cannot create $cache or $logs"

# one run at a time per cache; under that lock, scratch root filesystems
# left by a run that was killed can go
exec 9>"$cache/lock"
flock -n 9 || die "another matrix run uses $cache"
for d in "$cache"/root-*.??????; do
	[ -d "$d" ] || continue
	in_use=false
	for p in /proc/[0-9]*; do
		case $(readlink "$p/root" 2>/dev/null) in
		"$d" | "$d"/*) in_use=true; break ;;
		esac
	done
	$in_use || grep -qF " $d/" /proc/self/mountinfo || rm -rf --one-file-system "$d"
done

root=""
inside_pid=""
# cleanup: end the namespace (and with it everything inside), then remove
# the scratch root filesystem
cleanup() {
	if [ -n "$inside_pid" ]; then
		# unshare passes SIGKILL on to the namespace's first process, and
		# the kernel then ends every other one in it
		kill -KILL "$inside_pid" 2>/dev/null
		wait "$inside_pid" 2>/dev/null
		inside_pid=""
	fi
	if [ -n "$root" ] && [ -d "$root" ]; then
		# the namespace's mounts were never visible here; be sure anyway
		if grep -qF " $root/" /proc/self/mountinfo; then
			echo "matrix: $root still has mounts; left in place" >&2
		else
			rm -rf --one-file-system "$root"
		fi
	fi
	root=""
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# the tree's files, as git sees them (what a clone would have, plus files
# not yet committed), or everything but build products outside git
tree_tar() {
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$top" ls-files -z --cached --others --exclude-standard |
			(cd "$top" && while IFS= read -r -d '' f; do
				[ -e "$f" ] && printf '%s\0' "$f"
			done) | tar -C "$top" --null -T - -cf -
	else
		tar -C "$top" --exclude=.git --exclude=node_modules \
			--exclude='*.o' --exclude='*.so' --exclude='*.bc' \
			--exclude=test/out-matrix -cf - .
	fi
}

total_p=0
total_f=0
summary=()
for suite in "${suites[@]}"; do
	log=$logs/$suite.log
	start=$SECONDS
	: >"$log"
	echo "== $suite (log: $log)"

	tarball=$cache/$suite.tar.zst
	cached="cached root filesystem"
	if [ ! -s "$tarball" ] || [ "${MATRIX_REFRESH:-0}" = 1 ]; then
		cached="new root filesystem"
		echo "matrix: mmdebstrap $suite" | tee -a "$log"
		if ! mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
			"$suite" "$tarball.new" >>"$log" 2>&1; then
			rm -f "$tarball.new"
			tail -n 20 "$log"
			summary+=("$suite: mmdebstrap failed; 0 passed, 1 failed")
			total_f=$((total_f + 1))
			continue
		fi
		mv "$tarball.new" "$tarball"
	fi

	root=$(mktemp -d "$cache/root-$suite.XXXXXX")
	if ! tar -C "$root" --zstd -xpf "$tarball" >>"$log" 2>&1 ||
		! tree_tar | { mkdir -p "$root/root/webhook" &&
			tar -C "$root/root/webhook" -xf -; } >>"$log" 2>&1; then
		tail -n 20 "$log"
		summary+=("$suite: could not lay out the root filesystem; 0 passed, 1 failed")
		total_f=$((total_f + 1))
		cleanup
		continue
	fi
	# this machine's name service, and its CA certificates (an intercepting
	# proxy's, where there is one), which ca-certificates takes in when
	# "make demo" installs it
	cp /etc/resolv.conf /etc/hosts "$root/etc/" 2>/dev/null
	if compgen -G '/usr/local/share/ca-certificates/*' >/dev/null; then
		mkdir -p "$root/usr/local/share/ca-certificates"
		cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
	fi

	# if this script is killed, so is unshare (parent death signal), and
	# so everything in the namespace
	setpriv --pdeathsig KILL \
		unshare --mount --propagation private --pid --fork --kill-child \
		bash "$top/test/matrix.sh" --inside "$root" "$suite" >>"$log" 2>&1 &
	inside_pid=$!
	wait "$inside_pid"
	rc=$?
	inside_pid=""
	cleanup
	secs=$((SECONDS - start))

	# the counts "make test" printed, suite by suite
	counts=""
	p=0
	f=0
	while read -r name np nf; do
		counts+="$name $np/$nf  "
		p=$((p + np))
		f=$((f + nf))
	done < <(sed -n 's/^\([a-z]*\): \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2 \3/p' "$log")
	pg=$(sed -n 's/^PostgreSQL \([0-9][0-9]*\) (.*/\1/p' "$log" | tail -n 1)
	demo=$(sed -n 's/^demo exit status: \([0-9]*\)$/\1/p' "$log" | tail -n 1)
	if [ "$demo" = 0 ]; then
		p=$((p + 1))
		counts="demo ok  $counts"
	elif [ -n "$demo" ]; then
		f=$((f + 1))
		counts="demo FAILED  $counts"
	fi
	# "make test" ran to its end only if it printed its total
	if [ $rc -ne 0 ] && [ $f -eq 0 ]; then f=1; fi
	if [ $rc -ne 0 ]; then
		echo "-- $suite failed (exit status $rc); what failed, from $log:"
		grep -E '^not ok|^#   Failed test|^# +(got|expected|doesn.t match)|^[-+][A-Z]+: |FAILED|^deps: |^E: |rror' "$log" |
			grep -v '^ok' | head -n 60
		echo "-- the end of $log:"
		tail -n 15 "$log"
	fi
	line="$suite (PostgreSQL ${pg:-?}, $cached, $((secs / 60))m$((secs % 60))s): ${counts}$p passed, $f failed"
	echo "$line"
	summary+=("$line")
	total_p=$((total_p + p))
	total_f=$((total_f + f))
done

echo
echo "== matrix"
printf '%s\n' "${summary[@]}"
echo "$total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
