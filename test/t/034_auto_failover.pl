# Failover under pg_auto_failover: a monitor and two nodes on loopback, run
# by pg_autoctl as this user without systemd.  The nodes only add webhook to
# shared_preload_libraries.  Events drain from the primary while
# "pg_autoctl perform failover" switches the roles; the new primary sends
# the rest, and every event arrives (distinct webhook-ids at the receiver).
# Skipped when pg_autoctl is not installed (test/deps.sh installs Debian's
# postgresql-MAJOR-auto-failover where it exists for the server's major).
use strict;
use warnings;
use File::Spec;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WebhookTest;

sub pg_config
{
	my ($opt) = @_;
	my $out;
	IPC::Run::run([ 'pg_config', $opt ], '>', \$out) or die "pg_config $opt failed";
	chomp $out;
	return $out;
}

# The nodes run the PostgreSQL webhook is installed in.  The monitor needs
# one that has the pgautofailover extension: this one, normally, else
# Debian's server of the same major version.
my $bindir = pg_config('--bindir');
my ($major) = pg_config('--version') =~ /^PostgreSQL (\d+)/;
my ($autoctl) = grep { -x $_ } map { "$_/pg_autoctl" } File::Spec->path, $bindir;
my $node_pgctl = "$bindir/pg_ctl";
my $mon_pgctl;
if (-e pg_config('--sharedir') . '/extension/pgautofailover.control')
{
	$mon_pgctl = $node_pgctl;
}
elsif (-e "/usr/share/postgresql/$major/extension/pgautofailover.control")
{
	$mon_pgctl = "/usr/lib/postgresql/$major/bin/pg_ctl";
}
plan skip_all =>
  "pg_auto_failover is not installed (Debian package postgresql-$major-auto-failover)"
  unless $autoctl && $mon_pgctl;

# pg_autoctl keeps its own files under the XDG directories; libpq
# variables set by the test framework must not reach it.
my $base = PostgreSQL::Test::Utils::tempdir();
$ENV{XDG_CONFIG_HOME} = "$base/config";
$ENV{XDG_DATA_HOME} = "$base/data";
$ENV{XDG_RUNTIME_DIR} = "$base/run";
delete $ENV{$_} for qw(PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGDATA PGSERVICE);
my $logdir = $PostgreSQL::Test::Utils::log_path;

my %port = map { $_ => PostgreSQL::Test::Cluster::get_free_port() } qw(monitor node1 node2);
my $monitor_uri = "postgres://autoctl_node\@127.0.0.1:$port{monitor}/pg_auto_failover?sslmode=disable";
my %running;

sub psql_at
{
	my ($name, $db, $sql, %opts) = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1',
			'-p', $port{$name}, '-d', $db, '-c', $sql ], '>', \$out, '2>', \$err);
	return undef if !$ok && $opts{fail_ok};
	die "psql on $name failed: $err" unless $ok;
	chomp $out;
	return $out;
}

sub autoctl
{
	my ($name, @args) = @_;
	my $log = "$logdir/034_autoctl_$name.log";
	my $ok = IPC::Run::run([ $autoctl, @args ], '>>', $log, '2>>', $log,
		IPC::Run::timeout(120));
	return $ok;
}

# "pg_autoctl run" for a node, in the background, until the end of the test.
sub run_node
{
	my ($name) = @_;
	my $log = "$logdir/034_autoctl_$name.log";
	$running{$name} = IPC::Run::start([ $autoctl, 'run', '--pgdata', "$base/$name" ],
		'>>', $log, '2>>', $log);
}

sub stop_all
{
	for my $name (grep { $running{$_} } qw(node2 node1 monitor))
	{
		IPC::Run::run([ $autoctl, 'stop', '--pgdata', "$base/$name" ], '>', '/dev/null', '2>&1');
		my $h = delete $running{$name};
		eval { $h->finish; 1 } or $h->kill_kill;
	}
}
END { stop_all(); }

# Small shared_buffers (pg_autoctl would take a quarter of the RAM), and for
# the nodes webhook, appended after pg_autoctl's own settings.
sub append_conf
{
	my ($name, $text) = @_;
	open my $fh, '>>', "$base/$name/postgresql.conf" or die;
	print $fh $text;
	close $fh;
}

sub states
{
	return psql_at('monitor', 'pg_auto_failover', q{
		SELECT string_agg(nodename || ':' || reportedstate || '/' || goalstate, ' '
			ORDER BY nodename) FROM pgautofailover.node}, fail_ok => 1) // '';
}

sub webhook_procs
{
	my ($name) = @_;
	return psql_at($name, 'postgres', q{
		SELECT coalesce(string_agg(backend_type, ',' ORDER BY backend_type), '')
		FROM pg_stat_activity WHERE backend_type LIKE 'webhook%'}, fail_ok => 1) // 'down';
}

my $t0 = time();

# -- the monitor, with health checks turned down so that it acts in seconds
ok(autoctl('monitor', 'create', 'monitor', '--pgctl', $mon_pgctl, '--pgdata', "$base/monitor",
		'--pgport', $port{monitor}, '--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl'),
	'pg_autoctl create monitor');
append_conf('monitor', "shared_buffers = 16MB\n");
run_node('monitor');
ok(wait_until(sub { defined psql_at('monitor', 'pg_auto_failover', 'SELECT 1', fail_ok => 1) }, 60),
	'the monitor runs');
psql_at('monitor', 'pg_auto_failover', "ALTER SYSTEM SET pgautofailover.$_")
  for ('health_check_period = 1000', 'health_check_timeout = 1000',
	'health_check_max_retries = 1', 'health_check_retry_delay = 500',
	'node_considered_unhealthy_timeout = 3000', 'primary_demote_timeout = 5000');
psql_at('monitor', 'pg_auto_failover', 'SELECT pg_reload_conf()');

# -- two nodes; only shared_preload_libraries is added for webhook
# (pg_autoctl preloads pg_stat_statements; keep it)
my $node_conf = "shared_buffers = 16MB\nshared_preload_libraries = 'pg_stat_statements,webhook'\n"
  . "webhook.allowed_networks = '127.0.0.1/32'\n";
sub create_node
{
	my ($name) = @_;
	return autoctl($name, 'create', 'postgres', '--pgctl', $node_pgctl,
		'--pgdata', "$base/$name", '--pgport', $port{$name}, '--listen', '127.0.0.1',
		'--hostname', '127.0.0.1', '--auth', 'trust', '--no-ssl',
		'--monitor', $monitor_uri, '--name', $name);
}
ok(create_node('node1'), 'pg_autoctl create postgres: node1');
append_conf('node1', $node_conf);
run_node('node1');
ok(wait_until(sub { states() eq 'node1:single/single' && webhook_procs('node1') eq 'webhook launcher' }, 60),
	'node1 is the single node, with webhook preloaded');

my $recv = WebhookTest::Receiver->new;
my $url = $recv->url('/orders');
psql_at('node1', 'postgres', qq{
	CREATE EXTENSION webhook;
	SELECT webhook.create_endpoint('shop', '$url', max_in_flight => 4);
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT webhook.subscribe('orders', 'shop');
});
$recv->secret(psql_at('node1', 'postgres', "SELECT webhook.endpoint_secret('shop')"));

# pg_basebackup waits for a spread checkpoint: let it find nothing to write
psql_at('node1', 'postgres', 'CHECKPOINT');
ok(create_node('node2'), 'pg_autoctl create postgres: node2');
append_conf('node2', $node_conf)
  unless slurp_file("$base/node2/postgresql.conf") =~ /^shared_preload_libraries = '\S*webhook'/m;
run_node('node2');
ok(wait_until(sub { states() eq 'node1:primary/primary node2:secondary/secondary' }, 60),
	'node1 is primary, node2 secondary');
is(webhook_procs('node2'), '', 'the secondary runs no webhook process');
note sprintf('formation ready after %d s', time() - $t0);

# -- events drain while the roles switch
$recv->behaviour('/orders', { delay_ms => 30 });
psql_at('node1', 'postgres',
	"INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 1000) g");
ok(wait_until(sub { $recv->stats->{count} >= 50 }, 30), 'delivery under way on node1');
my $t1 = time();
# it prints a harmless "invalid input syntax for type integer" and exits 0:
# the monitor's state is what counts
autoctl('failover', 'perform', 'failover', '--pgdata', "$base/node1");
ok(wait_until(sub { states() eq 'node1:secondary/secondary node2:primary/primary' }, 60),
	'pg_autoctl perform failover: node2 is primary, node1 secondary');
note sprintf('failover took %d s; %d requests had arrived', time() - $t1, $recv->stats->{count});
cmp_ok($recv->stats->{count}, '<', 1000, 'events were still pending at the failover');

ok(wait_until(sub { webhook_procs('node2') eq 'webhook launcher,webhook worker' }, 30),
	'the new primary runs the launcher and a worker');
$recv->reset_behaviour('/orders');
psql_at('node2', 'postgres', "INSERT INTO orders SELECT g, 'new' FROM generate_series(1001, 1010) g");
ok(wait_until(sub {
	psql_at('node2', 'postgres', "SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '0' }, 60),
	'the new primary delivers everything pending');
my @expect = split /\n/, psql_at('node2', 'postgres', 'SELECT webhook_id FROM webhook.events');
is(scalar @expect, 1010, 'all 1010 events are in the new primary\'s outbox');
my $reqs = $recv->requests('/orders');
my %ids;
$ids{ $_->{headers}{'webhook-id'} }++ for @$reqs;
is(scalar(grep { $ids{$_} } @expect), 1010, 'every event arrived, under its webhook-id');
is(scalar keys %ids, 1010, 'and no other id');
note 'requests: ' . scalar(@$reqs) . ', duplicated ids: ' . scalar(grep { $_ > 1 } values %ids);
ok(!(grep { !$_->{verified} } @$reqs), 'all verified');
is(webhook_procs('node1'), '', 'the demoted node runs no webhook process');

stop_all();
$recv->stop;
note sprintf('total %d s', time() - $t0);
done_testing();
