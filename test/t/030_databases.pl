# Every database: the launcher starts one worker per database where the
# extension exists.  Three databases each deliver to their own endpoint; a
# database created at run time gets its worker within about a second; when
# no background worker slot is left the log says so and names
# "max_worker_processes"; DROP DATABASE of a database whose worker runs
# neither hangs nor fails; DROP EXTENSION (no CASCADE) removes its triggers
# and stops the worker; nothing runs in a database without the extension.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
# the launcher and three workers fill every slot
my $node = new_node('databases', conf => q{
max_worker_processes = 4
max_parallel_workers = 0
max_logical_replication_workers = 0
});

sub workers
{
	return $node->safe_psql('postgres', q{
		SELECT coalesce(string_agg(datname, ',' ORDER BY datname), '')
		FROM pg_stat_activity WHERE backend_type = 'webhook worker'});
}

# A database with the extension, an endpoint at /<db> and a subscribed table.
sub setup_db
{
	my ($db) = @_;
	my $url = $recv->url("/$db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION IF NOT EXISTS webhook;
		SELECT webhook.create_endpoint('ep_$db', '$url');
		CREATE TABLE items (id int PRIMARY KEY, note text);
		SELECT webhook.subscribe('items', 'ep_$db');
	});
	$recv->secret($node->safe_psql($db, "SELECT webhook.endpoint_secret('ep_$db')"));
}

# Insert n rows in a database and wait until its endpoint got them all.
sub delivers
{
	my ($db, $n, $what) = @_;
	my $before = scalar @{ $recv->requests("/$db") };
	$node->safe_psql($db,
		"INSERT INTO items SELECT g, '$db' FROM generate_series(coalesce((SELECT max(id) FROM items), 0) + 1, coalesce((SELECT max(id) FROM items), 0) + $n) g");
	ok(wait_until(sub { @{ $recv->requests("/$db") } >= $before + $n }, 30),
		"$what: $db delivers to its own endpoint");
	my @bad = grep { !$_->{verified} || $_->{body} !~ /"note":"$db"/ }
	  @{ $recv->requests("/$db") };
	is(scalar @bad, 0, "$what: $db\'s requests are its own, signed with its secret");
}

ok(wait_until(sub { workers() eq 'postgres' }), 'at start-up: a worker for postgres only');
$node->safe_psql('postgres', 'CREATE DATABASE quiet');
setup_db('postgres');

# -- a database created at run time gets its worker without a restart
$node->safe_psql('postgres', 'CREATE DATABASE shop');
my $t0 = time();
$node->safe_psql('shop', 'CREATE EXTENSION webhook');
ok(wait_until(sub { workers() eq 'postgres,shop' }), 'CREATE EXTENSION starts a worker');
my $took = time() - $t0;
note sprintf('worker for a new database running after %.2f s', $took);
cmp_ok($took, '<', 3, 'within about a second');
$node->safe_psql('shop', 'DROP EXTENSION webhook');
ok(wait_until(sub { workers() eq 'postgres' }), 'DROP EXTENSION stops it');
setup_db('shop');
ok(wait_until(sub { workers() eq 'postgres,shop' }), 'CREATE EXTENSION again starts it again');

$node->safe_psql('postgres', 'CREATE DATABASE billing');
setup_db('billing');
ok(wait_until(sub { workers() eq 'billing,postgres,shop' }), 'three databases, three workers');
delivers($_, 5, 'three databases') for qw(postgres shop billing);

# -- no slot left: a clear message
my $log_at = -s $node->logfile;
$node->safe_psql('postgres', 'CREATE DATABASE extra');
setup_db('extra');
ok($node->wait_for_log(
		qr/could not start a webhook worker for database "extra".*\n.*DETAIL:  No background worker slot is free.*\n.*HINT:  .*"max_worker_processes"/,
		$log_at),
	'no slot: the log says so and names "max_worker_processes"');
is(workers(), 'billing,postgres,shop', 'no worker in extra yet');
$node->safe_psql('extra', "INSERT INTO items VALUES (1, 'extra')");

# -- a role that may not drop a database does not disturb its worker
$node->safe_psql('postgres', 'CREATE ROLE mallory LOGIN');
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = 'billing'");
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE billing',
	extra_params => [ '-U', 'mallory' ]);
like($err, qr/must be owner of database billing/, 'DROP DATABASE by another role is refused');
is($node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker' AND datname = 'billing'"),
	$pid, 'and the worker was left alone');

# -- DROP DATABASE of a database whose worker runs
$t0 = time();
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE billing');
$took = time() - $t0;
is($ret, 0, 'DROP DATABASE with a running worker succeeds') or diag $err;
note sprintf('DROP DATABASE took %.2f s', $took);
cmp_ok($took, '<', 5, 'without hanging');
ok(wait_until(sub { workers() eq 'extra,postgres,shop' }),
	'the freed slot goes to the waiting database');
ok(wait_until(sub { @{ $recv->requests('/extra') } >= 1 }),
	'its event captured while it waited is delivered');
delivers('extra', 3, 'after DROP DATABASE');

# -- DROP EXTENSION without CASCADE removes the subscriptions' triggers
($ret, $out, $err) = $node->psql('shop', 'DROP EXTENSION webhook');
is($ret, 0, 'DROP EXTENSION webhook succeeds without CASCADE') or diag $err;
is($node->safe_psql('shop',
		"SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass"),
	'0', 'the subscription trigger is gone');
is($node->safe_psql('shop',
		"SELECT count(*) FROM pg_namespace WHERE nspname = 'webhook'"),
	'0', 'schema webhook is gone');
$node->safe_psql('shop', "INSERT INTO items VALUES (1000, 'after')");
ok(wait_until(sub { workers() eq 'extra,postgres' }), 'its worker stopped');
# a failed DROP EXTENSION keeps the triggers
$node->safe_psql('extra', 'CREATE VIEW v AS SELECT * FROM webhook.events');
($ret, $out, $err) = $node->psql('extra', 'DROP EXTENSION webhook');
isnt($ret, 0, 'DROP EXTENSION refused while a view depends on it');
is($node->safe_psql('extra',
		"SELECT count(*) FROM pg_trigger WHERE tgrelid = 'items'::regclass"),
	'1', 'and the trigger is still there');
delivers('extra', 2, 'after a refused DROP EXTENSION');

# RENAME needs the database to itself too
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE extra RENAME TO extra2');
is($ret, 0, 'ALTER DATABASE ... RENAME of a database with a worker succeeds') or diag $err;
ok(wait_until(sub { workers() eq 'extra2,postgres' }), 'and its worker comes back');
$node->safe_psql('postgres', 'ALTER DATABASE extra2 RENAME TO extra');
ok(wait_until(sub { workers() eq 'extra,postgres' }), 'renamed back');
unlike(workers(), qr/quiet/, 'a database without the extension has no worker');
# a database whose worker runs can still be a template
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE copy TEMPLATE extra');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE of a database with a worker succeeds') or diag $err;
ok(wait_until(sub { workers() eq 'extra,postgres' }), 'and the template\'s worker comes back');
$node->safe_psql('copy', "INSERT INTO items VALUES (5000, 'extra')");
ok(wait_until(sub { workers() eq 'copy,extra,postgres' }),
	'the copy gets its worker at its first captured commit');
unlike(slurp_file($node->logfile), qr/terminating background worker "webhook/,
	'no worker was killed');

# -- webhook.max_workers bounds the workers, and says so
$node->append_conf('postgresql.conf', "webhook.max_workers = 2\n");
$log_at = -s $node->logfile;
$node->restart;
ok($node->wait_for_log(
		qr/could not start a webhook worker for database "\w+".*\n.*DETAIL:  All 2 webhook workers allowed by "webhook.max_workers" are running/,
		$log_at),
	'webhook.max_workers reached: the log says so');
ok(wait_until(sub { workers() =~ /^\w+,\w+$/ }), 'two workers run');
sleep 1;
like(workers(), qr/^\w+,\w+$/, 'and no more');

$node->stop;
$recv->stop;
done_testing();
