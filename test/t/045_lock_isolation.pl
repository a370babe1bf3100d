# A user's lock on one event does not cost the others their records.  While
# the worker delivers a batch, a session locks one of its events (SELECT
# ... FOR UPDATE) and holds the lock well past the worker's lock_timeout.
# Every other event of the batch is recorded as delivered while the lock is
# held and arrives exactly once; the locked event's outcome waits, and is
# recorded (delivered, one attempt) once the lock goes, without being sent
# again.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('lock_isolation');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $n = 10;
my $url = $recv->url('/locked');
q1(qq{
	SELECT webhook.create_endpoint('locked', '$url', max_in_flight => 16,
		timeout => '10s');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT webhook.subscribe('t', 'locked');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('locked')"));

# the receiver answers each request after 2 s: the batch is in flight
# while the session takes its lock
$recv->behaviour('/locked', { delay_ms => 2000 });
q1("INSERT INTO t SELECT g, 'x' FROM generate_series(1, $n) g");
ok(wait_until(sub { scalar @{ $recv->requests('/locked') } >= $n }, 30),
	'the whole batch is in flight');

# lock one of them, as a user's session might
my $victim = q1("SELECT min(id) FROM webhook.event");
my $victim_wid = q1("SELECT webhook_id FROM webhook.events WHERE id = $victim");
my ($in, $out, $err) = ('', '', '');
my $locker = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN;\nSELECT 'locked:' || id FROM webhook.event WHERE id = $victim FOR UPDATE;\n";
ok(wait_until(sub { $locker->pump_nb; $out =~ /locked:$victim/ }, 30),
	'a session holds a row lock on one event');
is(scalar @{ $recv->requests('/locked') }, $n,
	'the lock was taken before any answer came back');

# the others are recorded while the lock is held (past lock_timeout)
ok( wait_until(sub {
			q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'")
			  == $n - 1;
		}, 30),
	'every other event of the batch is recorded as delivered under the lock')
  or diag(q1("SELECT id, state, attempts FROM webhook.events ORDER BY id"));
sleep 2;    # well past lock_timeout again: nothing changes meanwhile
is(q1("SELECT state || ',' || attempts FROM webhook.events WHERE id = $victim"),
	'pending,0', 'the locked event waits for its lock');
$locker->pump_nb;
like($out, qr/locked:$victim/, 'the session still holds the lock');

# release the lock: the outcome already known is recorded, not a new attempt
$in .= "COMMIT;\n\\q\n";
$locker->finish;
ok( wait_until(sub {
			q1("SELECT state FROM webhook.events WHERE id = $victim") eq 'delivered';
		}, 30),
	'the locked event is recorded as delivered once the lock goes');
is(q1("SELECT attempts FROM webhook.events WHERE id = $victim"), '1',
	'with one attempt');
is(q1("SELECT count(*) FROM webhook.attempts WHERE event_id = $victim"), '1',
	'and one attempt row');
is(q1("SELECT count(*) FROM webhook.attempts"), $n,
	'one attempt row per event, no more');

# give a repeated send every chance to show itself, then count by webhook-id
sleep 2;
my %count;
$count{ $_->{headers}{'webhook-id'} }++ for @{ $recv->requests('/locked') };
my @ids = split /\n/, q1("SELECT webhook_id FROM webhook.events ORDER BY id");
is(scalar @ids, $n, "$n events");
is(scalar(grep { ($count{$_} // 0) == 1 } @ids), $n,
	'each event was received exactly once')
  or diag(explain \%count);
is($count{$victim_wid}, 1, 'the locked one too');
is(q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'"), $n,
	'all delivered');

# -- a lock on an event the breaker holds back, as the endpoint recovers
# Three events fail (the endpoint is then down, its next probe an hour
# away) and two more wait, unsent, until then.  A session locks one of
# those two; the receiver works again and webhook.retry() sends a probe.
# Its success is recorded, and the held-back event that is not locked is
# released and delivered: the lock costs the others nothing.  The locked
# one is never sent meanwhile.
my $hurl = $recv->url('/held');
$recv->behaviour('/held', { status => 500 });
q1(qq{
	SELECT webhook.create_endpoint('held', '$hurl', retry_schedule => '{1h}',
		timeout => '5s', max_in_flight => 2);
	CREATE TABLE h (id serial PRIMARY KEY, v text);
	SELECT webhook.subscribe('h', 'held');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('held')"));

sub held_count
{
	my ($cond) = @_;
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = 'held' AND $cond");
}

q1("INSERT INTO h (v) SELECT 'x' FROM generate_series(1, 3)");
ok( wait_until(sub {
			q1(qq{SELECT consecutive_failures >= 3 AND next_probe_at > now()
				  FROM webhook.endpoint_health h JOIN webhook.endpoint e
				    ON e.id = h.endpoint_id WHERE e.name = 'held'}) eq 't';
		}, 60),
	'held: three failures put the endpoint down');
q1("INSERT INTO h (v) SELECT 'x' FROM generate_series(1, 2)");
ok( wait_until(sub {
			held_count(q{state = 'pending' AND attempts = 1
				AND next_attempt_at > now() + interval '10 min'}) == 3;
		}, 60),
	'held: the three failed events wait for their retry');
# the two new ones wait, untouched, for the next probe
sleep 2;
is(held_count(q{state = 'pending'}), '5', 'held: all five events are pending');
is(held_count('attempts = 0'), '2', 'held: two of them were never sent');

my ($hold1, $hold2) = split /\n/,
  q1("SELECT id FROM webhook.events WHERE endpoint = 'held' AND attempts = 0 ORDER BY id");
my $hold2_wid = q1("SELECT webhook_id FROM webhook.events WHERE id = $hold2");
($in, $out, $err) = ('', '', '');
$locker = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN;\nSELECT 'locked:' || id FROM webhook.event WHERE id = $hold2 FOR UPDATE;\n";
ok(wait_until(sub { $locker->pump_nb; $out =~ /locked:$hold2/ }, 30),
	'held: a session locks one of the held-back events');

$recv->reset_behaviour('/held');
my $probe = q1("SELECT min(id) FROM webhook.events WHERE endpoint = 'held'");
my $probe_wid = q1("SELECT webhook_id FROM webhook.events WHERE id = $probe");
q1("SELECT webhook.retry($probe)");
ok( wait_until(sub {
			q1("SELECT state FROM webhook.events WHERE id = $probe") eq 'delivered';
		}, 30),
	'held: the probe is recorded as delivered')
  or diag(q1("SELECT id, state, attempts, next_attempt_at - now() FROM webhook.events WHERE endpoint = 'held' ORDER BY id"));
ok( wait_until(sub {
			q1("SELECT state FROM webhook.events WHERE id = $hold1") eq 'delivered';
		}, 30),
	'held: the held-back event that is not locked is released and delivered');
sleep 2;
my %ok;
$ok{ $_->{headers}{'webhook-id'} }++
  for grep { $_->{answered} =~ /^2/ } @{ $recv->requests('/held') };
is($ok{$probe_wid}, 1, 'held: the probe was answered once, not sent again');
is(held_count("id = $hold2 AND state = 'pending' AND attempts = 0"), '1',
	'held: the locked one is still pending');
ok(!$ok{$hold2_wid}, 'held: and was not sent meanwhile');
$in .= "COMMIT;\n\\q\n";
$locker->finish;

$node->stop;
$recv->stop;
done_testing();
