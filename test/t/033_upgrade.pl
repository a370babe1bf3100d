# Upgrades.  ALTER EXTENSION webhook UPDATE from every released version,
# with events pending, delivers them all, and the result is the same as a
# fresh install; every script is guarded against being run from psql.
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
my $node = new_node('upgrade');
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
	. "webhook.allowed_networks = '127.0.0.1/32'\n");
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
