# Upgrades.  ALTER EXTENSION webhook UPDATE from every released version,
# with events pending, delivers them all, and the result is the same as a
# fresh install; every script is guarded against being run from psql.
# The delivery history of 0.4.0 moves into the segments of 0.5.0, and the
# views read the same before and after the update.
# pg_upgrade of a cluster that preloads webhook works (the library does
# nothing in binary-upgrade mode) and the upgraded cluster delivers what
# was pending.
use strict;
use warnings;
use Cwd;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

# -- every script is guarded, and there is one step per release
my @scripts = glob('sql/webhook--*.sql');
ok(@scripts >= 2, 'install and update scripts exist');
for my $f (@scripts)
{
	like(slurp_file($f), qr/^\\echo Use "(CREATE|ALTER) EXTENSION webhook[^\n]*\\quit$/m,
		"$f is guarded with \\echo ... \\quit");
}

my $recv = WebhookTest::Receiver->new;
# a worker for each database made below (one per released version), one
# for postgres, and the launcher
my $node = new_node('upgrade', conf => "max_worker_processes = 16\n");
my $default = $node->safe_psql('postgres',
	"SELECT default_version FROM pg_available_extensions WHERE name = 'webhook'");
my @released = split /\n/, $node->safe_psql('postgres', qq{
	SELECT version FROM pg_available_extension_versions
	WHERE name = 'webhook' AND version <> '$default' ORDER BY version});
ok(scalar @released, 'there are released versions to update from: ' . join(', ', @released));

# the objects of an installed extension, with everything that makes them
# what they are: a function's definition (its volatility, SECURITY DEFINER
# and pinned search_path included), a table's columns in their order with
# their defaults, its indexes, constraints, triggers and storage options, a
# sequence's settings, a view's query, an enum's labels, an event trigger's
# event, function and tags; privileges (sorted: the order of grants is no
# difference) and comments of each; and the extension's dump configuration
# and its schema's privileges
my $members = q{
	SELECT string_agg(x, E'\n' ORDER BY x) FROM (
	SELECT pg_describe_object(classid, objid, 0)
		|| coalesce(' ' || CASE classid
			WHEN 'pg_proc'::regclass THEN (SELECT pg_get_functiondef(p.oid)
				|| ' config ' || coalesce(p.proconfig::text, '-')
				|| ' definer ' || p.prosecdef::text
				|| ' acl ' || coalesce((SELECT array_agg(a::text ORDER BY a::text)
					FROM unnest(p.proacl) a)::text, '-')
				FROM pg_proc p WHERE p.oid = objid)
			WHEN 'pg_class'::regclass THEN (SELECT relkind::text || ' ' || coalesce(
				pg_get_viewdef(objid), (SELECT string_agg(attname::text || ' '
					|| format_type(atttypid, atttypmod) || ' ' || attnotnull::text
					|| coalesce(' ' || pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY attnum)
				FROM pg_attribute a LEFT JOIN pg_attrdef d
					ON d.adrelid = a.attrelid AND d.adnum = a.attnum
				WHERE a.attrelid = objid AND a.attnum > 0 AND NOT a.attisdropped), '')
				|| ' acl ' || coalesce((SELECT array_agg(a::text ORDER BY a::text)
					FROM unnest(relacl) a)::text, '-')
				|| ' options ' || coalesce(reloptions::text, '-')
				|| coalesce(' indexes ' || (SELECT string_agg(pg_get_indexdef(i.indexrelid), '; '
						ORDER BY pg_get_indexdef(i.indexrelid))
					FROM pg_index i WHERE i.indrelid = objid), '')
				|| coalesce(' constraints ' || (SELECT string_agg(conname || ' '
						|| pg_get_constraintdef(c.oid), '; ' ORDER BY conname)
					FROM pg_constraint c WHERE c.conrelid = objid), '')
				|| coalesce(' triggers ' || (SELECT string_agg(pg_get_triggerdef(t.oid), '; '
						ORDER BY t.tgname)
					FROM pg_trigger t WHERE t.tgrelid = objid AND NOT t.tgisinternal), '')
				|| coalesce(' sequence ' || (SELECT format('%s %s %s %s', s.seqtypid::regtype,
						s.seqincrement, s.seqcache, s.seqcycle)
					FROM pg_sequence s WHERE s.seqrelid = objid), '')
				FROM pg_class WHERE oid = objid)
			WHEN 'pg_type'::regclass THEN (SELECT string_agg(enumlabel::text, ','
					ORDER BY enumsortorder)
				FROM pg_enum WHERE enumtypid = objid)
			WHEN 'pg_event_trigger'::regclass THEN (SELECT evtevent || ' '
				|| evtfoid::regproc::text || ' ' || evtenabled::text || ' '
				|| coalesce(evttags::text, '-')
				FROM pg_event_trigger WHERE oid = objid) END, '')
		|| coalesce(' comment ' || obj_description(objid, classid::regclass::name), '') AS x
	FROM pg_depend
	WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
	  AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'webhook')
	UNION ALL
	SELECT 'extension config ' || coalesce(extconfig::regclass[]::text, '-') || ' '
		|| coalesce(extcondition::text, '-') || ' schema acl '
		|| coalesce((SELECT array_agg(a::text ORDER BY a::text)
			FROM unnest(n.nspacl) a)::text, '-')
	FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
	WHERE extname = 'webhook') m};
my $fresh = $node->safe_psql('postgres', $members);

for my $v (@released)
{
	my $db = "from_$v";
	$db =~ s/\W/_/g;
	my $path = "/$db";
	my $url = $recv->url($path);
	$recv->behaviour($path, { status => 503 });
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	$node->safe_psql($db, qq{
		CREATE EXTENSION webhook VERSION '$v';
		SELECT webhook.create_endpoint('shop', '$url',
			retry_schedule => '{1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s}');
		CREATE TABLE orders (id int PRIMARY KEY, status text);
		SELECT webhook.subscribe('orders', 'shop');
		INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 50) g;
	});
	$recv->secret($node->safe_psql($db, "SELECT webhook.endpoint_secret('shop')"));
	# this library's worker does not run against an older version's
	# objects: it says so once and waits, sending nothing, losing nothing
	ok(wait_until(sub { slurp_file($node->logfile) =~
		/webhook worker for database "$db" is waiting for ALTER EXTENSION webhook UPDATE/ }, 30),
		"$v: the worker waits for ALTER EXTENSION UPDATE, and says so");
	is(scalar @{ $recv->requests($path) }, 0, "$v: nothing is sent meanwhile");
	is($node->safe_psql($db, "SELECT count(*) FROM webhook.event WHERE state = 'pending'"),
		'50', "$v: 50 events pending");

	$node->safe_psql($db, 'ALTER EXTENSION webhook UPDATE');
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'webhook'"),
		$default, "$v: updated to $default");
	is($node->safe_psql($db, $members), $fresh, "$v: the updated extension equals a fresh install");

	$recv->reset_behaviour($path);
	ok(wait_until(sub {
		$node->safe_psql($db, "SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '50' }, 30),
		"$v: after the update every pending event is delivered");
	my %ids = map { $_->{headers}{'webhook-id'} => 1 }
	  grep { $_->{answered} =~ /^2/ } @{ $recv->requests($path) };
	is(scalar keys %ids, 50, "$v: 50 distinct webhook-ids accepted");
	$node->safe_psql($db, "INSERT INTO orders VALUES (51, 'new')");
	ok(wait_until(sub {
		$node->safe_psql($db, "SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '51' }, 30),
		"$v: and new events are captured and delivered");
}

# -- the 0.4.0 history moves into the 0.5.0 segments: every view reads the
# same before and after the update (a delivered event without its type and
# payload once the worker has removed its row), and each row carries its
# event's endpoint, webhook-id and creation time, and whether it finished it
{
	my $db = 'history_0_4_0';
	$node->safe_psql('postgres', qq{CREATE DATABASE "$db"});
	my $hurl = $recv->url('/history');
	$node->safe_psql($db, qq{
		CREATE EXTENSION webhook VERSION '0.4.0';
		SELECT webhook.create_endpoint('hist', '$hurl');
		SELECT webhook.pause('hist');
		CREATE TABLE t (id int PRIMARY KEY);
		SELECT webhook.subscribe('t', 'hist');
		INSERT INTO t SELECT g FROM generate_series(1, 4) g;
		-- 1: delivered at the second attempt; 2: dead after two;
		-- 3: pending after one; 4: never attempted
		CREATE TEMP TABLE h (n int, state webhook.event_state,
							 attempts interval[][]);
		INSERT INTO h VALUES
			(1, 'delivered', '{{1min,1.5s,503},{6min,0.25s,200}}'),
			(2, 'dead', '{{2min,15s,0},{7min,0.75s,500}}'),
			(3, 'pending', '{{3min,1.25s,502}}');
		WITH ev AS (SELECT ev.id, row_number() OVER (ORDER BY ev.id) AS n
					FROM webhook.event ev)
		UPDATE webhook.event e
		SET state = h.state, attempts = array_length(h.attempts, 1),
			created_at = now() - interval '30 min',
			finished_at = CASE WHEN h.state <> 'pending' THEN
				now() - interval '30 min'
				+ h.attempts[array_length(h.attempts, 1)][1]
				+ h.attempts[array_length(h.attempts, 1)][2] END
		FROM ev JOIN h ON h.n = ev.n WHERE e.id = ev.id;
		INSERT INTO webhook.attempt (event_id, attempt, started_at, duration,
									 status, error, response)
		SELECT ev.id, i, ev.created_at + h.attempts[i][1], h.attempts[i][2],
			   nullif(extract(epoch FROM h.attempts[i][3])::int, 0),
			   CASE WHEN extract(epoch FROM h.attempts[i][3]) = 0
					THEN 'Operation timed out' END,
			   'answer ' || i
		FROM (SELECT e.*, row_number() OVER (ORDER BY e.id) AS n
			  FROM webhook.event e) ev
		JOIN h ON h.n = ev.n, generate_subscripts(h.attempts, 1) i;
	});
	my %views = (
		events => 'SELECT id, endpoint, webhook_id, state, attempts, created_at,
			next_attempt_at, finished_at, last_result FROM webhook.events ORDER BY id',
		attempts => 'SELECT * FROM webhook.attempts ORDER BY event_id, attempt',
		endpoint_stats => 'SELECT name, state, pending, delivered_last_hour,
			dead_last_hour, failed_attempts_last_hour, delivery_p50, delivery_p95,
			delivery_p99, attempt_p50, attempt_p95, attempt_p99
			FROM webhook.endpoint_stats');
	my %before = map { $_ => $node->safe_psql($db, $views{$_}) } keys %views;
	like($before{attempts}, qr/Operation timed out/, '0.4.0 history: written');
	my $carried = $node->safe_psql($db, q{
		SELECT string_agg(format('%s/%s %s %s %s', a.event_id, a.attempt,
				ev.endpoint_id, ev.msg_id, ev.created_at), ', ' ORDER BY a.event_id, a.attempt)
		FROM webhook.attempt a JOIN webhook.event ev ON ev.id = a.event_id});
	$node->safe_psql($db, 'ALTER EXTENSION webhook UPDATE');
	for my $v (sort keys %views)
	{
		is($node->safe_psql($db, $views{$v}), $before{$v},
			"0.4.0 history: webhook.$v reads the same after the update");
	}
	is($node->safe_psql($db, q{
		SELECT string_agg(format('%s/%s %s %s %s', event_id, attempt,
				endpoint_id, msg_id, created_at), ', ' ORDER BY event_id, attempt)
		FROM webhook.attempt_0}), $carried,
		'0.4.0 history: in segment 0, each row with its event\'s endpoint, webhook-id and creation time');
	is($node->safe_psql($db, q{
		SELECT string_agg(format('%s %s %s', duration_us,
				coalesce(status::text, error), final), ', ' ORDER BY event_id, attempt)
		FROM webhook.attempt_0}),
		'1500000 503 f, 250000 200 t, 15000000 Operation timed out f, 750000 500 t, 1250000 502 f',
		'0.4.0 history: durations in microseconds, final on the attempt that finished its event');
	is($node->safe_psql($db, q{
		SELECT count(*) FROM ONLY webhook.attempt}), '0',
		'0.4.0 history: nothing in the parent');
	is($node->safe_psql($db, q{
		SELECT string_agg(segment || ':' || (since IS NOT NULL), ',' ORDER BY segment)
		FROM webhook.attempt_segment}),
		'0:true,1:false,2:false,3:false,4:false,5:false,6:false,7:false',
		'0.4.0 history: segment 0 is the one being written');
}

# -- pg_upgrade of a cluster that preloads webhook
my $url = $recv->url('/upgraded');
$recv->behaviour('/upgraded', { status => 503 });
$node->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('shop', '$url', retry_schedule => '{1s,1s,1s,1s,1s,1s,1s,1s,1s,1s}');
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT webhook.subscribe('orders', 'shop');
	INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 20) g;
});
$recv->secret($node->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')"));
ok(wait_until(sub { @{ $recv->requests('/upgraded') } >= 1 }, 30), 'pg_upgrade: events pending');
$node->stop;

my $new = PostgreSQL::Test::Cluster->new('upgraded');
$new->init;
$new->append_conf('postgresql.conf', "shared_preload_libraries = 'webhook'\n"
	. "webhook.allowed_networks = '127.0.0.1/32'\n"
	# a worker for each database the updates made, and one for postgres
	. "max_worker_processes = 16\n");
my $bindir = $node->config_data('--bindir');
my $cwd = getcwd();
chdir(PostgreSQL::Test::Utils::tempdir()) or die;
command_ok([ 'pg_upgrade', '--no-sync', '-d', $node->data_dir, '-D', $new->data_dir,
		'-b', $bindir, '-B', $bindir, '-s', $new->host, '-p', $node->port, '-P', $new->port ],
	'pg_upgrade succeeds with webhook preloaded');
chdir($cwd) or die;
$recv->reset_behaviour('/upgraded');
$new->start;
is($new->safe_psql('postgres', "SELECT count(*) FROM webhook.endpoints"), '1',
	'pg_upgrade: the endpoint is there');
ok(wait_until(sub {
	$new->safe_psql('postgres', "SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '0' }, 30),
	'pg_upgrade: the upgraded cluster delivers what was pending');
is($new->safe_psql('postgres', "SELECT count(DISTINCT webhook_id) FROM webhook.events WHERE state = 'delivered'"),
	'20', 'pg_upgrade: all 20 delivered');

$new->stop;
$recv->stop;
done_testing();
