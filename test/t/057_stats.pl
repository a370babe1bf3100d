# Statistics in shared memory, checked against what the receiver saw and
# what the history (webhook.attempts) says: attempts by class (2xx, 4xx,
# 5xx, timeout, connection error, refused by the network guard), delivered,
# dead, retried, bytes sent, both histograms; backlog, oldest due event
# and breaker while a receiver is down, and after it is back; the overflow
# row once webhook.stats_max_endpoints endpoints are tracked; nothing
# counted while webhook.track_stats is off.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('stats', conf => "webhook.stats_max_endpoints = 6\n");

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# endpoint NAME with its own table t_NAME
sub endpoint
{
	my ($name, %o) = @_;
	my $url = $o{url} // $recv->url("/$name");
	my $timeout = $o{timeout} // '5s';
	my $sched = $o{schedule} // '{1s}';
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$sched', timeout => '$timeout');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

sub fire
{
	my ($name, $n) = @_;
	q1("INSERT INTO t_$name (v) SELECT 'x' FROM generate_series(1, " . ($n // 1) . ")");
}

# one endpoint's row of webhook.stats(), as a hash
sub stats_of
{
	my ($name) = @_;
	my $where = defined $name ? "endpoint = '$name'" : 'endpoint IS NULL';
	my $row = q1(qq{
		SELECT row_to_json(s) FROM webhook.stats() s WHERE $where});
	return $row eq '' ? undef : json_decode($row);
}

sub settled
{
	my ($name) = @_;
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$name' AND state = 'pending'") == 0;
}

# what the history says of an endpoint's attempts
sub history
{
	my ($name) = @_;
	my $r = q1(qq{
		SELECT count(*),
			   count(*) FILTER (WHERE status BETWEEN 200 AND 299),
			   count(*) FILTER (WHERE status BETWEEN 400 AND 499),
			   count(*) FILTER (WHERE status BETWEEN 500 AND 599),
			   count(*) FILTER (WHERE status IS NULL AND error ~* 'timed? ?out'),
			   count(*) FILTER (WHERE status IS NULL AND error ~ '^refused to connect')
		FROM webhook.attempts WHERE endpoint = '$name'});
	my @v = split /\|/, $r;
	return { total => $v[0], '2xx' => $v[1], '4xx' => $v[2], '5xx' => $v[3],
		timeout => $v[4], refused => $v[5] };
}

sub total_attempts
{
	my ($s) = @_;
	my $n = 0;
	$n += $s->{"attempts_$_"} for qw(2xx 3xx 4xx 5xx timeout connection_error refused other);
	return $n;
}

# -- one endpoint per outcome class
endpoint('ok');
endpoint('e500');
endpoint('e404');
endpoint('slow', timeout => '1s');
endpoint('guard', url => 'http://10.1.2.3:9/guarded');
$recv->behaviour('/e500', { status => 500 });
$recv->behaviour('/e404', { status => 404 });
$recv->behaviour('/slow', { delay_ms => 3000, times => 1 });

fire('ok', 3);
fire($_) for qw(e500 e404 slow guard);
for my $name (qw(ok e500 e404 slow guard))
{
	ok(wait_until(sub { settled($name) }), "$name: its events are finished");
}

# the counters of the last batch are added right after it is recorded
ok(wait_until(sub { my $s = stats_of('guard'); $s && $s->{dead} == 1 }),
	'guard: counted');

my $s = stats_of('ok');
my $h = history('ok');
my $reqs = $recv->requests('/ok');
is($s->{captured}, 3, 'ok: three events captured');
is($s->{attempts_2xx}, 3, 'ok: three 2xx attempts');
is($s->{attempts_2xx}, $h->{'2xx'}, 'ok: as many as the history has');
is($s->{attempts_2xx}, scalar(@$reqs), 'ok: as many as the receiver saw');
is($s->{delivered}, 3, 'ok: three delivered');
is($s->{dead} + $s->{retried}, 0, 'ok: none dead or retried');
my $bytes = 0;
$bytes += $_->{body_bytes} for @$reqs;
is($s->{bytes_sent}, $bytes, "ok: bytes sent are the bodies the receiver got ($bytes)");
is($s->{attempt_seconds_count}, 3, 'ok: the attempt histogram counts each attempt');
is($s->{attempt_seconds_bucket}[-1] <= 3 && $s->{attempt_seconds_bucket}[0] <= $s->{attempt_seconds_bucket}[-1] ? 1 : 0,
	1, 'ok: its buckets are cumulative');
is($s->{latency_seconds_count}, 3, 'ok: the latency histogram counts each delivery');
ok($s->{latency_seconds_sum} > 0 && $s->{latency_seconds_sum} < 60,
	"ok: latency summed ($s->{latency_seconds_sum} s)");
is($s->{backlog}, 0, 'ok: no backlog left');
is($s->{oldest_due_seconds}, 0, 'ok: and no oldest due event');
is($s->{breaker}, 'closed', 'ok: breaker closed');

for my $case ([ 'e500', '5xx' ], [ 'e404', '4xx' ], [ 'guard', 'refused' ])
{
	my ($name, $class) = @$case;
	$s = stats_of($name);
	$h = history($name);
	is($s->{"attempts_$class"}, 2, "$name: two attempts counted as $class");
	is($s->{"attempts_$class"}, $h->{$class}, "$name: as the history has them");
	is(total_attempts($s), $h->{total}, "$name: no attempt counted in another class");
	is($s->{attempt_seconds_count}, $h->{total}, "$name: the histogram counts every attempt");
	is($s->{retried}, 1, "$name: one attempt retried");
	is($s->{dead}, 1, "$name: one event dead");
	is($s->{delivered}, 0, "$name: none delivered");
	is($s->{latency_seconds_count}, 0, "$name: no latency observed");
}
is(stats_of('guard')->{bytes_sent}, 0, 'guard: no bytes sent to a refused address');
is(scalar(@{ $recv->requests('/e500') }), 2, 'e500: the receiver saw both attempts');

$s = stats_of('slow');
$h = history('slow');
is($s->{attempts_timeout}, 1, 'slow: one attempt timed out');
is($s->{attempts_timeout}, $h->{timeout}, 'slow: as the history says');
is($s->{attempts_2xx}, 1, 'slow: then one delivered');
is($s->{retried}, 1, 'slow: after one retry');
is($s->{delivered}, 1, 'slow: one delivered');
is(total_attempts($s), $h->{total}, 'slow: every attempt counted once');
ok($s->{attempt_seconds_sum} >= 0.9, "slow: the timeout's duration is summed ($s->{attempt_seconds_sum})");
ok($s->{attempt_seconds_bucket}[0] <= 1, 'slow: the timed-out attempt is not in the first bucket');

# -- a receiver that is down: backlog, oldest due, breaker
endpoint('down', url => 'http://127.0.0.1:1/down',
	schedule => '{' . join(',', ('1s') x 60) . '}');
fire('down', 2);
ok(wait_until(sub { my $x = stats_of('down'); $x && $x->{attempts_connection_error} >= 3 }),
	'down: connection errors counted');
$s = stats_of('down');
is($s->{backlog}, 2, 'down: backlog of two while the receiver is down');
ok($s->{oldest_due_seconds} > 0, "down: the oldest due event has an age ($s->{oldest_due_seconds})");
ok(wait_until(sub { stats_of('down')->{breaker} ne 'closed' }), 'down: the breaker opens (open or half-open)');
# half-open only while a probe is out, which against a refused connection
# is a moment of each second: sampled, it is open
my %seen;
for (1 .. 8)
{
	$seen{ stats_of('down')->{breaker} }++;
	select(undef, undef, undef, 0.25);
}
cmp_ok($seen{open} // 0, '>=', 6,
	'down: open between probes (' . join(' ', map { "$_ $seen{$_}" } sort keys %seen) . ')');
my $age = stats_of('down')->{oldest_due_seconds};
ok(wait_until(sub { stats_of('down')->{oldest_due_seconds} > $age + 0.5 }),
	'down: the age of the oldest event grows');
q1("SELECT webhook.alter_endpoint('down', url => '" . $recv->url('/down') . "')");
ok(wait_until(sub { settled('down') }), 'down: delivered once the receiver is back');
ok(wait_until(sub { my $x = stats_of('down'); $x->{backlog} == 0 && $x->{breaker} eq 'closed' }),
	'down: backlog 0 and breaker closed after');
$s = stats_of('down');
is($s->{oldest_due_seconds}, 0, 'down: no oldest due event after');
is($s->{delivered}, 2, 'down: both delivered');
is($s->{attempts_connection_error} + $s->{attempts_2xx}, history('down')->{total},
	'down: every attempt counted');

# -- beyond webhook.stats_max_endpoints (6): one row sums the rest
is(stats_of(undef), undef, 'no overflow row while every endpoint is tracked');
endpoint('x1');
endpoint('x2');
fire('x1', 2);
fire('x2');
ok(wait_until(sub { settled('x1') && settled('x2') }), 'x1, x2: delivered');
ok(wait_until(sub { my $x = stats_of(undef); $x && $x->{delivered} == 3 }),
	'overflow: the untracked endpoints summed in one row');
$s = stats_of(undef);
is($s->{captured}, 3, 'overflow: their captures');
is($s->{attempts_2xx}, 3, 'overflow: their attempts');
is($s->{endpoint}, undef, 'overflow: with no endpoint name');
is(q1("SELECT count(*) FROM webhook.stats() WHERE endpoint IN ('x1', 'x2')"), 0,
	'overflow: no row of their own');
is(q1("SELECT count(*) FROM webhook.stats() WHERE endpoint IS NOT NULL"), 6,
	'six endpoints tracked');

# -- counting turned off: nothing moves
q1("ALTER SYSTEM SET webhook.track_stats = off");
q1("SELECT pg_reload_conf()");
ok(wait_until(sub { q1("SHOW webhook.track_stats") eq 'off' }), 'track_stats off');
# the worker reloads when signalled; give it something to read the new value
my $before = stats_of('ok');
my $seen = scalar(@{ $recv->requests('/ok') });
fire('ok', 2);
ok(wait_until(sub { settled('ok') && @{ $recv->requests('/ok') } == $seen + 2 }),
	'track_stats off: delivered all the same');
$s = stats_of('ok');
is($s->{captured}, $before->{captured}, 'track_stats off: no capture counted');
is($s->{attempts_2xx}, $before->{attempts_2xx}, 'track_stats off: no attempt counted');
is($s->{delivered}, $before->{delivered}, 'track_stats off: no delivery counted');
is($s->{bytes_sent}, $before->{bytes_sent}, 'track_stats off: no bytes counted');
q1("ALTER SYSTEM RESET webhook.track_stats");
q1("SELECT pg_reload_conf()");

# -- a reset clears the counters of this database
q1("SELECT webhook.stats_reset()");
$s = stats_of('ok');
is($s->{captured} + total_attempts($s) + $s->{delivered} + $s->{bytes_sent}, 0,
	'reset: counters cleared');

$node->stop;
done_testing();
