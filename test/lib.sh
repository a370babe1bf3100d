# lib.sh: shell helpers shared by demo/demo.sh and bench/bench.sh, which
# source it from the top of the tree.
#
# wh_build_install installs what is missing (test/deps.sh, plus the
# packages in $WEBHOOK_EXTRA_PKGS), builds and installs the extension, and
# sets bindir and owner: the account a throwaway cluster runs as (PostgreSQL
# refuses root, so "postgres" or $WEBHOOK_TEST_USER when called as root).
# as_owner and sql then work on the cluster in $tmp listening on $port;
# wh_stop and wh_drop_cluster clean up after it.

wh_build_install() {
	bash test/deps.sh
	make -s PG_CONFIG="$pg_config"
	if [ "$(id -u)" -eq 0 ]; then
		make -s PG_CONFIG="$pg_config" install >/dev/null
	else
		sudo make -s PG_CONFIG="$pg_config" install >/dev/null
	fi
	bindir=$("$pg_config" --bindir)
	echo "installed webhook into $("$pg_config" --pkglibdir) ($("$pg_config" --version))"
	owner=$(id -un)
	if [ "$(id -u)" -eq 0 ]; then
		owner=${WEBHOOK_TEST_USER:-postgres}
	fi
}

# as_owner CMD...: run a program as the cluster's owner, from $tmp
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd "$tmp" && runuser -u "$owner" -- "$@")
	else
		"$@"
	fi
}

# sql ARGS...: psql on the cluster's "postgres" database, as its superuser
sql() {
	"$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" \
		-U postgres -d postgres "$@"
}

# wh_stop PID: end a helper process we started, if any
wh_stop() {
	if [ -n "$1" ]; then
		kill "$1" 2>/dev/null || true
		wait "$1" 2>/dev/null || true
	fi
}

# wh_drop_cluster: stop the cluster in $tmp (if $started) and remove $tmp
wh_drop_cluster() {
	if $started; then
		as_owner "$bindir/pg_ctl" -D "$tmp/data" -m immediate -s stop \
			>/dev/null 2>&1 || true
	fi
	if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
