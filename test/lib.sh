# lib.sh: shell helpers shared by test/deps.sh, test/run.sh, demo/demo.sh
# and bench/bench.sh, which source it from the top of the tree.
#
# wh_pg_select chooses the PostgreSQL to build and test against.
# wh_build_install installs what is missing (test/deps.sh, plus the
# packages in $WEBHOOK_EXTRA_PKGS), builds and installs the extension, and
# sets bindir and owner: the account a throwaway cluster runs as (PostgreSQL
# refuses root, so "postgres" or $WEBHOOK_TEST_USER when called as root).
# as_owner and sql then work on the cluster in $tmp listening on $port;
# wh_stop and wh_drop_cluster clean up after it.

# wh_pg_select: choose the PostgreSQL server to build and test against,
# and export PG_MAJOR and PG_CONFIG.  PG_CONFIG, when set, decides; else
# PG_MAJOR (Debian's /usr/lib/postgresql/$PG_MAJOR); else the version the
# distribution's "postgresql" package stands for; else the pg_config on
# PATH.  It need not be installed yet: test/deps.sh installs it.
wh_pg_select() {
	if [ -n "${PG_CONFIG:-}" ]; then
		if [ -z "${PG_MAJOR:-}" ]; then
			PG_MAJOR=$("$PG_CONFIG" --version 2>/dev/null |
				sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
		fi
		if [ -z "$PG_MAJOR" ]; then
			echo "\"$PG_CONFIG\" (PG_CONFIG) is not a pg_config that works" >&2
			return 1
		fi
	else
		if [ -z "${PG_MAJOR:-}" ]; then
			PG_MAJOR=$(apt-cache depends postgresql 2>/dev/null |
				sed -n 's/^ *Depends: postgresql-\([0-9][0-9]*\)$/\1/p' | head -n 1)
		fi
		if [ -z "$PG_MAJOR" ] && command -v pg_config >/dev/null 2>&1; then
			PG_MAJOR=$(pg_config --version |
				sed -n 's/^PostgreSQL \([0-9][0-9]*\).*/\1/p')
		fi
		if [ -z "$PG_MAJOR" ]; then
			echo "cannot tell which PostgreSQL to use: run \"apt-get update\", or set PG_MAJOR (for example PG_MAJOR=17)" >&2
			return 1
		fi
		PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
	fi
	export PG_MAJOR PG_CONFIG
}

# wh_http_get URL: print the body of a GET on this machine (Node.js is
# there for the test receiver; curl need not be).  Fails unless 2xx.
wh_http_get() {
	node -e '
		require("http").get(process.argv[1], (res) => {
			res.pipe(process.stdout);
			res.on("end", () => process.exit(res.statusCode < 300 ? 0 : 1));
		}).on("error", () => process.exit(1));' "$1"
}

wh_build_install() {
	wh_pg_select
	pg_config=$PG_CONFIG
	bash test/deps.sh
	make -s
	if [ "$(id -u)" -eq 0 ]; then
		make -s install >/dev/null
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
