# The attacker: a database owner who is no superuser (mallory) and a member
# of webhook_user (ursula) plant functions, operators, aggregates and a type
# that shadow what the worker's statements use, in every way PostgreSQL
# lets them: in public, in a schema of their own named like ours
# ("Webhook"), put first by ALTER DATABASE and ALTER ROLE ... SET
# search_path, with plan caches reset by CREATE SCHEMA and the worker
# reconnected so that it sees the database's settings (ALTER DATABASE ...
# SET role, too, which would make the worker the owner).  Then the worker
# claims, records, retries, probes a failing endpoint, trips a breaker,
# honours a 410, parks, rate-limits, orders and cleans up, and a superuser
# drops the extension in that database.  Every planted object, if it ever
# ran, would log itself and try to make its planter a superuser: nothing
# may be logged, and no role may gain an attribute or a membership.
#
# The utility hook acts only for commands PostgreSQL lets their caller run:
# the owner's ALTER DATABASE ... SET TABLESPACE that fails its permission
# check leaves the worker alone; once allowed, it clears the database.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('attacker', conf => qq{
webhook.retention = '1s'
});

# every query of the test's own sessions in the attacked database pins its
# search_path first: the database's setting would run the plants there too;
# and it takes back the superuser role the database's setting gives away
my $pin = 'SET ROLE NONE; SET search_path = pg_catalog, pg_temp;';
sub su { return $node->safe_psql('shop', "$pin $_[0]"); }
sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('shop', $sql, connstr => $node->connstr('shop') . " user=$role");
}

$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE ROLE ursula LOGIN IN ROLE webhook_user;
	CREATE DATABASE shop OWNER mallory;
});
$node->safe_psql('shop', 'CREATE EXTENSION webhook');
as_role('mallory', q{
	GRANT CREATE ON SCHEMA public TO ursula;
	GRANT CREATE ON DATABASE shop TO ursula;
});

# who holds what, before
my $roles_sql = q{
	SELECT string_agg(format('%s:%s%s%s%s%s', rolname, rolsuper, rolcreaterole,
							 rolcreatedb, rolbypassrls, rolreplication), ' '
					  ORDER BY rolname) FROM pg_catalog.pg_roles;
	SELECT coalesce(string_agg(format('%s>%s', roleid::regrole, member::regrole), ' '
							   ORDER BY roleid, member), '') FROM pg_catalog.pg_auth_members;
};
my $roles_before = $node->safe_psql('postgres', "$pin $roles_sql");

# -- endpoints (the superuser's), tables and subscriptions (ursula's)
my %tables = (retry => 'none', probe => 'none', trip => 'none', gone => 'none',
	rate => 'none', ordered => 'key');
my $steps = '{' . join(',', ('1s') x 20) . '}';
for my $name (sort keys %tables)
{
	my $url = $recv->url("/$name");
	su(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			headers => '{"X-Shop": "1"}', retry_schedule => '$steps',
			timeout => '5s');
		SELECT webhook.set_delivery_policy('$name', ordering => '$tables{$name}');
	});
	$recv->secret(su("SELECT webhook.endpoint_secret('$name')"));
	as_role('ursula', qq{
		$pin
		CREATE TABLE public.t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('public.t_$name', '$name');
	});
}
su("SELECT webhook.set_delivery_policy('trip', failure_threshold => 2)");
su("SELECT webhook.set_delivery_policy('rate', rate_limit => 5)");
# let the worker prepare its statements before anything is planted
as_role('ursula', "INSERT INTO public.t_retry (v) VALUES ('warm-up')");
ok(wait_until(sub { scalar @{ $recv->requests('/retry') } >= 1 }), 'a first event is delivered');

# -- the plants.  public.pwn() logs who ran it and tries to escalate.
as_role('mallory', q{
	CREATE TABLE public.ran (what text, who text, backend text, su boolean);
	GRANT SELECT, INSERT ON public.ran TO PUBLIC;
	CREATE FUNCTION public.pwn(what text) RETURNS void
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
	BEGIN
		INSERT INTO public.ran
		SELECT what, current_user,
			   (SELECT a.backend_type FROM pg_stat_activity a
				WHERE a.pid = pg_backend_pid()),
			   (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user);
		BEGIN
			EXECUTE 'ALTER ROLE mallory SUPERUSER CREATEROLE';
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		BEGIN
			EXECUTE 'GRANT webhook_admin TO mallory, ursula';
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
		BEGIN
			EXECUTE 'ALTER ROLE ursula SUPERUSER';
		EXCEPTION WHEN OTHERS THEN NULL;
		END;
	END $$;
});

# [name, argument types, result type, body returning the real thing]
my @functions = (
	[ 'now', '', 'timestamptz', 'RETURN pg_catalog.now();' ],
	[ 'clock_timestamp', '', 'timestamptz', 'RETURN pg_catalog.clock_timestamp();' ],
	[ 'unnest', 'bigint[]', 'SETOF bigint', 'RETURN QUERY SELECT pg_catalog.unnest($1);' ],
	[ 'unnest', 'integer[]', 'SETOF integer', 'RETURN QUERY SELECT pg_catalog.unnest($1);' ],
	[ 'unnest', 'smallint[]', 'SETOF smallint', 'RETURN QUERY SELECT pg_catalog.unnest($1);' ],
	[ 'unnest', 'text[]', 'SETOF text', 'RETURN QUERY SELECT pg_catalog.unnest($1);' ],
	[ 'unnest', 'timestamptz[]', 'SETOF timestamptz', 'RETURN QUERY SELECT pg_catalog.unnest($1);' ],
	[ 'unnest', 'interval[]', 'SETOF interval', 'RETURN QUERY SELECT pg_catalog.unnest($1);' ],
	[ 'jsonb_each_text', 'jsonb', 'TABLE(key text, value text)',
	  'RETURN QUERY SELECT * FROM pg_catalog.jsonb_each_text($1);' ],
	[ 'format', 'text, integer', 'text', 'RETURN pg_catalog.format($1, $2);' ],
	[ 'format', 'text, interval', 'text', 'RETURN pg_catalog.format($1, $2);' ],
);
# [operator, left, right, result, expression]
my @operators = (
	[ '=', 'webhook.event_state', 'webhook.event_state', 'boolean', '$1::text OPERATOR(pg_catalog.=) $2::text' ],
	[ '<>', 'webhook.event_state', 'webhook.event_state', 'boolean', '$1::text OPERATOR(pg_catalog.<>) $2::text' ],
	[ '=', 'bigint', 'bigint', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '=', 'integer', 'integer', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '<', 'bigint', 'bigint', 'boolean', '$1 OPERATOR(pg_catalog.<) $2' ],
	[ '>', 'integer', 'integer', 'boolean', '$1 OPERATOR(pg_catalog.>) $2' ],
	[ '>=', 'integer', 'integer', 'boolean', '$1 OPERATOR(pg_catalog.>=) $2' ],
	[ '=', 'smallint', 'smallint', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '=', 'text', 'text', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '<>', 'text', 'text', 'boolean', '$1 OPERATOR(pg_catalog.<>) $2' ],
	[ '||', 'text', 'text', 'text', '$1 OPERATOR(pg_catalog.||) $2' ],
	[ '=', 'name', 'name', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '=', 'oid', 'oid', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '=', '"char"', '"char"', 'boolean', '$1 OPERATOR(pg_catalog.=) $2' ],
	[ '<', 'timestamptz', 'timestamptz', 'boolean', '$1 OPERATOR(pg_catalog.<) $2' ],
	[ '<=', 'timestamptz', 'timestamptz', 'boolean', '$1 OPERATOR(pg_catalog.<=) $2' ],
	[ '>', 'timestamptz', 'timestamptz', 'boolean', '$1 OPERATOR(pg_catalog.>) $2' ],
	[ '-', 'timestamptz', 'timestamptz', 'interval', '$1 OPERATOR(pg_catalog.-) $2' ],
	[ '-', 'timestamptz', 'interval', 'timestamptz', '$1 OPERATOR(pg_catalog.-) $2' ],
	[ '>=', 'interval', 'interval', 'boolean', '$1 OPERATOR(pg_catalog.>=) $2' ],
	[ '*', 'integer', 'interval', 'interval', '$1 OPERATOR(pg_catalog.*) $2' ],
	[ '*', 'bigint', 'interval', 'interval', '$1 OPERATOR(pg_catalog.*) $2' ],
	[ '*', 'numeric', 'integer', 'numeric', '$1 OPERATOR(pg_catalog.*) $2' ],
);

# plant everything in one schema, as one role; returns how many objects
sub plant
{
	my ($role, $schema, $prefix) = @_;
	my $s = $schema eq 'public' ? 'public' : qq{"$schema"};
	my @sql;
	my $n = 0;
	my $i = 0;
	for my $f (@functions)
	{
		my ($name, $args, $ret, $body) = @$f;
		push @sql, qq{CREATE FUNCTION $s.$name($args) RETURNS $ret
			LANGUAGE plpgsql AS \$\$ BEGIN PERFORM public.pwn('$prefix.$name($args)'); $body END \$\$;};
		$n++;
	}
	for my $o (@operators)
	{
		my ($op, $l, $r, $ret, $expr) = @$o;
		my $fn = "${prefix}_op" . $i++;
		push @sql, qq{CREATE FUNCTION $s.$fn($l, $r) RETURNS $ret
			LANGUAGE plpgsql AS \$\$ BEGIN PERFORM public.pwn('$prefix.$op($l, $r)'); RETURN $expr; END \$\$;},
		  qq{CREATE OPERATOR $s.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = $s.$fn);};
		$n++;
	}
	# aggregates: array_agg(integer), min(bigint), count(*)
	push @sql, qq{
		CREATE FUNCTION $s.${prefix}_agg_int(integer[], integer) RETURNS integer[]
			LANGUAGE plpgsql AS \$\$ BEGIN PERFORM public.pwn('$prefix.array_agg(integer)');
			RETURN pg_catalog.array_append(\$1, \$2); END \$\$;
		CREATE AGGREGATE $s.array_agg(integer) (SFUNC = $s.${prefix}_agg_int, STYPE = integer[]);
		CREATE FUNCTION $s.${prefix}_agg_min(bigint, bigint) RETURNS bigint
			LANGUAGE plpgsql AS \$\$ BEGIN PERFORM public.pwn('$prefix.min(bigint)');
			RETURN pg_catalog.least(\$1, \$2); END \$\$;
		CREATE AGGREGATE $s.min(bigint) (SFUNC = $s.${prefix}_agg_min, STYPE = bigint);
		CREATE FUNCTION $s.${prefix}_agg_count(bigint) RETURNS bigint
			LANGUAGE plpgsql AS \$\$ BEGIN PERFORM public.pwn('$prefix.count(*)');
			RETURN \$1 OPERATOR(pg_catalog.+) 1; END \$\$;
		CREATE AGGREGATE $s.count(*) (SFUNC = $s.${prefix}_agg_count, STYPE = bigint,
			INITCOND = '0');
	};
	$n += 3;
	# a type named like the one the rate limit reads as: a domain whose
	# check runs whenever a value is cast to it
	push @sql, qq{
		CREATE FUNCTION $s.${prefix}_check(double precision) RETURNS boolean
			LANGUAGE plpgsql AS \$\$ BEGIN PERFORM public.pwn('$prefix.float8'); RETURN true; END \$\$;
		CREATE DOMAIN $s.float8 AS pg_catalog.float8 CHECK ($s.${prefix}_check(VALUE));
	};
	$n++;
	as_role($role, "$pin " . join("\n", @sql));
	return $n;
}

my $planted = plant('mallory', 'public', 'mallory');
as_role('ursula', qq{$pin CREATE SCHEMA "Webhook";});
$planted += plant('ursula', 'Webhook', 'ursula');
note("planted $planted objects");

# put them first, for the database and for both roles; and make every
# superuser connecting to the database (the worker, say) the owner
as_role('mallory', q{
	ALTER DATABASE shop SET search_path = "Webhook", public, pg_catalog;
	ALTER DATABASE shop SET role = mallory;
	ALTER ROLE mallory SET search_path = public, pg_catalog;
});
as_role('ursula', q{ALTER ROLE ursula SET search_path = "Webhook", public, pg_catalog});

# the plants are live: a session that takes these settings runs them (so
# this test would see them run in the worker)
is(as_role('ursula', q{SELECT 'delivered'::webhook.event_state = 'delivered'}), 't',
	'a planted operator answers like the real one');
is($node->safe_psql('shop', "$pin SELECT count(*) FROM public.ran"), '1',
	'and logs that it ran');
$node->safe_psql('shop', "$pin TRUNCATE public.ran");

# reset every plan cache, then make the worker reconnect to take the
# database's settings
my $old_pid = $node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'
	AND datname = 'shop'});
su('CREATE SCHEMA reset_plans_1');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($old_pid)");
ok(wait_until(sub {
	my $p = $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'
		AND datname = 'shop'});
	$p ne '' && $p ne $old_pid;
}), 'the worker reconnected');

# -- drive the worker through every path
$recv->behaviour('/retry', { status => 500, times => 1 });
$recv->behaviour('/probe', { status => 500 });
$recv->behaviour('/trip', { status => 500 });
$recv->behaviour('/gone', { status => 410 });
$recv->behaviour('/ordered', { status => 500, times => 1 });

sub fire
{
	my ($name, $n) = @_;
	as_role('ursula', "INSERT INTO public.t_$name (v) SELECT 'x' FROM pg_catalog.generate_series(1, $n)");
}
fire('retry', 3);
fire('probe', 10);
fire('trip', 3);
fire('gone', 2);
fire('rate', 20);
as_role('ursula', q{
	INSERT INTO public.t_ordered (id, v) VALUES (1, 'a'), (2, 'a');
	UPDATE public.t_ordered SET v = 'b';
	UPDATE public.t_ordered SET v = 'c';
});

sub nreq { return scalar @{ $recv->requests("/$_[0]") }; }
# events delivered, as the receiver saw them (retention removes them here)
sub delivered
{
	my %ids = map { $_->{headers}{'webhook-id'} => 1 }
	  grep { $_->{answered} =~ /^20/ } @{ $recv->requests("/$_[0]") };
	return scalar keys %ids;
}

ok(wait_until(sub { nreq('retry') >= 5 && delivered('retry') == 4 }),
	'retry: the failed event is sent again');
ok(wait_until(sub {
	su(q{SELECT h.consecutive_failures FROM webhook.endpoint_health h
		 JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = 'probe'}) >= 4
}), 'probe: the failing endpoint is probed');
su('CREATE SCHEMA reset_plans_2');
$recv->reset_behaviour('/probe');
ok(wait_until(sub { su(q{SELECT enabled FROM webhook.endpoint WHERE name = 'trip'}) eq 'f' }),
	'trip: the breaker disables the endpoint');
ok(wait_until(sub { su(q{SELECT disabled_reason FROM webhook.endpoint WHERE name = 'gone'}) =~ /410/ }),
	'gone: a 410 disables the endpoint');
ok(wait_until(sub { delivered('rate') == 20 }), 'rate: every event of the limited endpoint is sent');
ok(wait_until(sub { delivered('ordered') == 6 && nreq('ordered') == 7 }),
	'ordered: every event is sent, the failed head again');
ok(wait_until(sub { delivered('probe') == 10 }, 60), 'probe: the recovered endpoint gets its backlog')
  or diag(join(' ', map { $_->{answered} } @{ $recv->requests('/probe') }) . "\n"
	. su(q{SELECT row_to_json(h) FROM webhook.endpoint_health h}) . "\n"
	. su(q{SELECT row_to_json(e) FROM webhook.events e WHERE endpoint = 'probe'}));
# the trip endpoint's events are parked, then drain once it is enabled
$recv->reset_behaviour('/trip');
su("SELECT webhook.enable_endpoint('trip')");
ok(wait_until(sub { delivered('trip') == 3 }), 'trip: re-enabled, it drains');
ok(wait_until(sub {
	su(q{SELECT count(*) FROM webhook.event WHERE state <> 'pending'}) == 0
	  && su(q{SELECT count(*) FROM webhook.event}) == 2
}), 'retention: finished events are removed (the two for the gone endpoint wait)');
ok(wait_until(sub { su(q{SELECT count(*) FROM webhook.attempt a
		WHERE NOT EXISTS (SELECT FROM webhook.event e WHERE e.id = a.event_id)}) == 0 }),
	'retention: with their attempts, a history segment at a time');
# per row, in commit order: a, b, c
my %seen;
for my $r (@{ $recv->requests('/ordered') })
{
	next unless $r->{answered} =~ /^20/;
	my $b = json_decode($r->{body});
	push @{ $seen{ $b->{data}{new}{id} // $b->{data}{id} // '?' } }, $b->{data}{new}{v} // $b->{data}{v} // '?';
}
is(join(' ', map { "$_:" . join('', @{ $seen{$_} }) } sort keys %seen), '1:abc 2:abc',
	'ordered: each row\'s events arrive in commit order');

# -- nothing planted ran in the worker, and nobody gained anything
sub nothing_ran
{
	my ($when) = @_;
	is($node->safe_psql('shop', "$pin SELECT coalesce(string_agg(DISTINCT format('%s by %s in %s', what, who, backend), '; '), '') FROM public.ran"),
		'', "$when: no planted object ever ran");
	is($node->safe_psql('postgres', "$pin $roles_sql"), $roles_before,
		"$when: no role gained an attribute or a membership");
}
nothing_ran('delivery');

# -- the utility hook: a command its caller may not run disturbs no worker
my $pid = $node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = 'shop'});
my $tsdir = $node->basedir . '/ts_shop';
mkdir $tsdir or die;
$node->safe_psql('postgres', "CREATE TABLESPACE ts_shop LOCATION '$tsdir'");
my ($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE shop SET TABLESPACE ts_shop',
	connstr => $node->connstr('postgres') . ' user=mallory');
like($err, qr/permission denied for tablespace ts_shop/, 'hook: the owner may not use the tablespace');
is($node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = 'shop'}),
	$pid, 'hook: so the worker stayed connected');
($rc, $out, $err) = $node->psql('postgres', 'ALTER DATABASE shop RENAME TO shop2',
	connstr => $node->connstr('postgres') . ' user=mallory');
like($err, qr/permission denied to rename database/, 'hook: nor rename it without CREATEDB');
is($node->safe_psql('postgres', q{
	SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = 'shop'}),
	$pid, 'hook: and the worker stayed connected');
$node->safe_psql('postgres', 'GRANT CREATE ON TABLESPACE ts_shop TO mallory');
$node->safe_psql('postgres', 'ALTER DATABASE shop SET TABLESPACE ts_shop',
	connstr => $node->connstr('postgres') . ' user=mallory');
is($node->safe_psql('postgres', q{
	SELECT spcname FROM pg_database d JOIN pg_tablespace t ON t.oid = d.dattablespace
	WHERE datname = 'shop'}), 'ts_shop', 'hook: once allowed, the move succeeds');
ok(wait_until(sub {
	my $p = $node->safe_psql('postgres', q{
		SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = 'shop'});
	$p ne '' && $p ne $pid;
}), 'hook: and the worker comes back');
fire('retry', 1);
ok(wait_until(sub { delivered('retry') == 5 }), 'delivery goes on after the move');

# -- a superuser drops the extension with the database's search_path (the
# planted operators on its type go with it)
$node->safe_psql('shop', 'SET ROLE NONE; DROP EXTENSION webhook CASCADE');
is($node->safe_psql('shop', "$pin SELECT count(*) FROM pg_trigger WHERE tgname LIKE 'webhook%'"),
	'0', 'DROP EXTENSION drops the subscriptions first');

nothing_ran('DROP EXTENSION');
my $log = slurp_file($node->logfile);
unlike($log, qr/ERROR:\s+(operator|function) .* does not exist/,
	'the worker never failed to find what it calls');

done_testing();
