# Progress of long operations, watched from another session through
# webhook.progress: a replay of 50,000 events, held at known points by row
# locks that other sessions take, reports done growing to its total and
# tells its caller with NOTICEs; its row goes when it ends, and a cancelled
# replay leaves neither a row nor anything half done.  The worker reports
# the drain of a backlog left by a receiver that was down, and the row goes
# once the backlog is delivered.  A tenant's role sees its own replay, and
# another tenant's role sees nothing of it.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('progress');
sub q1 { return $node->safe_psql('postgres', $_[0]); }

# -- 50,000 dead events of a paused endpoint (nothing is sent)
my $n = 50000;
q1(qq{
	SELECT webhook.create_endpoint('replayed', '${\ $recv->url('/replayed')}');
	SELECT webhook.pause('replayed');
	CREATE TABLE items (id int PRIMARY KEY);
	SELECT webhook.subscribe('items', 'replayed');
	INSERT INTO items SELECT generate_series(1, $n);
});
my $ep = q1("SELECT id FROM webhook.endpoint WHERE name = 'replayed'");
my $make_dead = "UPDATE webhook.event SET state = 'dead', finished_at = now() "
  . "WHERE endpoint_id = $ep";
q1($make_dead);
my $lo = q1("SELECT min(id) FROM webhook.event WHERE endpoint_id = $ep");

# a session that locks one event row and holds it until told
sub locker
{
	my ($id) = @_;
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	$s{in} .= "BEGIN;\nSELECT 'locked:' || id FROM webhook.event WHERE id = $id FOR UPDATE;\n";
	ok(wait_until(sub { $s{h}->pump_nb; $s{out} =~ /locked:$id/ }),
		"a session holds event $id");
	return \%s;
}

sub unlock
{
	my ($s) = @_;
	$s->{in} .= "COMMIT;\n\\q\n";
	$s->{h}->finish;
}

# the replaying session: its pid first, then the replay
sub replayer
{
	my %s = (in => '', out => '', err => '');
	$s{h} = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
		'<', \$s{in}, '>', \$s{out}, '2>', \$s{err});
	$s{in} .= "SELECT 'pid:' || pg_backend_pid();\n"
	  . "SET client_min_messages = notice;\n"
	  . "SELECT 'replayed:' || webhook.replay('replayed', '-infinity');\n";
	wait_until(sub { $s{h}->pump_nb; $s{out} =~ /pid:(\d+)/ });
	($s{pid}) = $s{out} =~ /pid:(\d+)/;
	return \%s;
}

# waits, blocked on a row lock, with this much reported done
sub blocked_at
{
	my ($pid, $done) = @_;
	return wait_until(sub {
			q1("SELECT count(*) FROM pg_stat_activity "
				  . "WHERE pid = $pid AND wait_event_type = 'Lock'") eq '1'
			  && q1("SELECT done || '/' || total FROM webhook.progress WHERE pid = $pid")
			  eq "$done/$n";
		});
}

# -- a replay held twice on its way: done grows, batch by batch, to the total
my $l1 = locker($lo + 15000);	# in the second batch of 10,000 ids
my $l2 = locker($lo + 35000);	# in the fourth
my $r = replayer();
ok(blocked_at($r->{pid}, 10000), 'held in its second batch: 10000 of 50000 done')
  or diag(q1("SELECT * FROM webhook.progress"));
is( q1("SELECT database || ' ' || operation || ' ' || phase || ' ' || percent "
		  . "|| ' ' || (rate > 0) || ' ' || (eta > updated_at) "
		  . "FROM webhook.progress WHERE pid = $r->{pid}"),
	'postgres replay replaying events 20.0 true true',
	'the row names the database, operation and phase, with percent, rate and eta');
is(q1("SELECT count(*) FROM webhook.progress WHERE pid <> $r->{pid}"), '0',
	'no other operation reports');
unlock($l1);
ok(blocked_at($r->{pid}, 30000), 'held in its fourth batch: 30000 of 50000 done');
unlock($l2);
$r->{h}->finish;
like($r->{out}, qr/replayed:$n/, 'the replay replayed every event');
my @notices = $r->{err} =~ /NOTICE:\s+(.*)/g;
note "notices: @notices";
is_deeply(
	\@notices,
	[ map({ "replayed ${_}0000 of $n events" } 1 .. 4), "replayed $n events" ],
	'a NOTICE after each tenth (here: each batch), the last with the total');
is(q1("SELECT count(*) FROM webhook.progress"), '0', 'the row is gone once it returned');
is(q1("SELECT count(*) FROM webhook.event WHERE endpoint_id = $ep AND state = 'pending'"),
	"$n", 'every event is pending again');

# -- a cancelled replay: no row, nothing half done
q1($make_dead);
$l1 = locker($lo + 25000);
$r = replayer();
ok(blocked_at($r->{pid}, 20000), 'held in its third batch: 20000 of 50000 done');
q1("SELECT pg_cancel_backend($r->{pid})");
$r->{in} .= "\\q\n";
$r->{h}->finish;
like($r->{err}, qr/canceling statement due to user request/, 'the replay was cancelled');
unlike($r->{out}, qr/replayed:/, 'and returned nothing');
is(q1("SELECT count(*) FROM webhook.progress"), '0', 'no row is left behind');
is(q1("SELECT count(*) FROM webhook.event WHERE endpoint_id = $ep AND state = 'dead'"),
	"$n", 'no event was replayed: the batches done are rolled back with the rest');
unlock($l1);

# -- a tenant's replay: its own role sees it, another tenant's sees nothing
# of it (not even a row), pg_monitor and webhook_admin see it
q1(qq{
	CREATE ROLE merchant LOGIN;
	CREATE ROLE rival LOGIN;
	CREATE ROLE watcher LOGIN IN ROLE pg_monitor;
	CREATE ROLE ops LOGIN IN ROLE webhook_admin;
	SELECT webhook.grant_tenant('merchant', 'm1');
	SELECT webhook.grant_tenant('rival', 'm2');
	SELECT webhook.create_endpoint('m1-hook', '${\ $recv->url('/m1')}', tenant => 'm1');
	SELECT webhook.pause('m1-hook');
	CREATE TABLE m1_items (id int PRIMARY KEY);
	SELECT webhook.subscribe('m1_items', 'm1-hook');
	INSERT INTO m1_items SELECT generate_series(1, 20000);
});
my $m1 = q1("SELECT id FROM webhook.endpoint WHERE name = 'm1-hook'");
q1("UPDATE webhook.event SET state = 'dead', finished_at = now() WHERE endpoint_id = $m1");
my $m1_lo = q1("SELECT min(id) FROM webhook.event WHERE endpoint_id = $m1");
sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}
$l1 = locker($m1_lo + 15000);
my %t = (in => '', out => '', err => '');
$t{h} = IPC::Run::start(
	[ 'psql', '-XAtq', '-U', 'merchant', '-d', $node->connstr('postgres') ],
	'<', \$t{in}, '>', \$t{out}, '2>', \$t{err});
$t{in} .= "SELECT 'pid:' || pg_backend_pid();\n"
  . "SELECT 'replayed:' || webhook.tenant_replay('-infinity');\n";
wait_until(sub { $t{h}->pump_nb; $t{out} =~ /pid:(\d+)/ });
my ($tpid) = $t{out} =~ /pid:(\d+)/;
ok(wait_until(sub {
		q1("SELECT count(*) FROM pg_stat_activity WHERE pid = $tpid AND wait_event_type = 'Lock'") eq '1' }),
	'the tenant\'s replay is held in its second batch');
is(as_role('merchant', "SELECT pid || ' ' || operation || ' ' || done || '/' || total FROM webhook.progress"),
	"$tpid tenant replay 10000/20000", 'the tenant sees its own replay');
is(as_role('rival', 'SELECT count(*) FROM webhook.progress'), '0',
	'another tenant sees no row at all');
is(as_role('watcher', "SELECT operation FROM webhook.progress WHERE pid = $tpid"),
	'tenant replay', 'pg_monitor sees it');
is(as_role('ops', "SELECT operation FROM webhook.progress WHERE pid = $tpid"),
	'tenant replay', 'webhook_admin sees it');
unlock($l1);
$t{in} .= "\\q\n";
$t{h}->finish;
like($t{out}, qr/replayed:20000/, 'the tenant\'s replay replayed its events');
q1("DELETE FROM webhook.event WHERE endpoint_id = $m1");

# -- the worker drains a backlog after an outage
q1("DELETE FROM webhook.event WHERE endpoint_id = $ep");
my $m = 3000;
q1(qq{
	SELECT webhook.create_endpoint('drained', '${\ $recv->url('/drained')}',
		retry_schedule => '{1s,1s,1s,1s,1s,1s,1s,1s,1s,1s}');
	CREATE TABLE orders (id int PRIMARY KEY);
	SELECT webhook.subscribe('orders', 'drained');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('drained')"));
$recv->stop;
q1("INSERT INTO orders SELECT generate_series(1, $m)");
ok(wait_until(sub {
		q1("SELECT count(*) FROM webhook.progress WHERE operation = 'drain'") eq '1' }),
	'receiver down: the worker reports a drain of its backlog');
my $wpid = q1("SELECT pid FROM pg_stat_activity WHERE application_name = 'webhook worker' "
	  . "AND datname = 'postgres'");
is(q1("SELECT pid || ' ' || total || ' ' || phase FROM webhook.progress WHERE operation = 'drain'"),
	"$wpid $m delivering due events",
	'the drain is the worker\'s, its total the backlog it found');
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.attempts") >= 3 }),
	'receiver down: attempts fail');
is(q1("SELECT done FROM webhook.progress WHERE operation = 'drain'"), '0',
	'nothing delivered yet');

# back, but slow: the drain takes a while to watch
$recv->start;
$recv->behaviour('/drained', { delay_ms => 50 });
ok(wait_until(sub {
		q1("SELECT count(*) FROM webhook.progress WHERE operation = 'drain' "
			  . "AND done > 0 AND done < total AND rate > 0") eq '1' }),
	'receiver back: done grows, at a rate');
ok(wait_until(sub {
		q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq "$m" }),
	'every event delivered');
ok(wait_until(sub {
		q1("SELECT count(*) FROM webhook.progress WHERE operation = 'drain'") eq '0' }),
	'the drain row is gone once the backlog is drained');

$node->stop;
$recv->stop;
done_testing();
