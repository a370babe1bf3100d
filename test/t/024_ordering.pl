# Ordering per endpoint: 'none' (concurrent; a retry arrives after newer
# events), 'endpoint' (strict FIFO, one in flight) and 'key' (FIFO per row
# key, rows in parallel), each with failures injected in the middle; the
# receiver's order is asserted.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('ordering');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $sched = '{' . join(',', ('1s') x 10) . '}';

sub endpoint
{
	my ($name, $ordering, $schedule) = @_;
	my $url = $recv->url("/$name");
	$schedule //= $sched;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$schedule', max_in_flight => 8);
		SELECT webhook.set_delivery_policy('$name', ordering => '$ordering');
		CREATE TABLE t_$name (id int PRIMARY KEY, v int);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

sub delivered
{
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$_[0]' AND state = 'delivered'");
}

# the receiver's requests for NAME: [row id, v, answered, time]
sub seen
{
	my ($name) = @_;
	return [ map {
		my $b = json_decode($_->{body});
		[ $b->{data}{new}{id}, $b->{data}{new}{v}, $_->{answered}, $_->{time_ms} ]
	} sort { $a->{seq} <=> $b->{seq} } @{ $recv->requests("/$name") } ];
}

sub nondecreasing
{
	my @v = @_;
	for my $i (1 .. $#v) { return 0 if $v[$i] < $v[$i - 1]; }
	return 1;
}

# first two requests succeed, the next two fail, then all succeed
sub fail_third_twice
{
	my ($name) = @_;
	$recv->behaviour("/$name", { status => 204, times => 2 });
	$recv->behaviour("/$name", { status => 500, times => 2 });
}

# -- none: concurrent, and the failed event arrives after newer ones
endpoint('free', 'none');
# the first two to arrive fail (among the eight sent at once), so events
# sent later are delivered before their retries
$recv->behaviour('/free', { status => 500, times => 2 });
q1("INSERT INTO t_free SELECT g, g FROM generate_series(1, 10) g");
ok(wait_until(sub { delivered('free') == 10 }, 30), 'none: everything delivered');
my @ok = map { $_->[1] } grep { $_->[2] =~ /^2/ } @{ seen('free') };
is(scalar @ok, 10, 'none: ten deliveries');
ok(!nondecreasing(@ok), 'none: a failed event arrives after newer ones (' . join(',', @ok) . ')');

# -- endpoint: strict FIFO; a failure holds back everything after it
endpoint('fifo', 'endpoint');
fail_third_twice('fifo');
q1("INSERT INTO t_fifo SELECT g, g FROM generate_series(1, 10) g");
ok(wait_until(sub { delivered('fifo') == 10 }, 30), 'endpoint: everything delivered');
my $s = seen('fifo');
my @all = map { $_->[1] } @$s;
@ok = map { $_->[1] } grep { $_->[2] =~ /^2/ } @$s;
is(join(',', @ok), '1,2,3,4,5,6,7,8,9,10', 'endpoint: delivered in commit order');
ok(nondecreasing(@all), 'endpoint: nothing was even tried out of order (' . join(',', @all) . ')');
is(scalar(grep { $_->[2] == 500 } @$s), 2, 'endpoint: the failures happened');
# one in flight: each request arrives after the previous one was answered
# (the receiver answers at once, so arrivals are spaced by a round trip)
my $overlap = 0;
for my $i (1 .. $#$s) { $overlap++ if $s->[$i][3] - $s->[ $i - 1 ][3] < 0.5; }
is($overlap, 0, 'endpoint: one request at a time');

# -- endpoint: an ordering set a moment ago holds from the first event.
# The insert into t_free makes the worker claim (and read the orderings)
# just before the ordering is set; the receiver answers each request after
# 100 ms, so one request at a time means arrivals at least that far apart.
endpoint('late', 'none');
$recv->behaviour('/late', { status => 204, delay_ms => 100 });
q1(qq{
	INSERT INTO t_free VALUES (11, 11);
	SELECT pg_sleep(0.02);
	SELECT webhook.set_delivery_policy('late', ordering => 'endpoint');
	INSERT INTO t_late SELECT g, g FROM generate_series(1, 6) g;
});
is(q1("SELECT count(ordering_key) FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id WHERE e.name = 'late'"),
	'6', 'endpoint set late: every event has its key');
ok(wait_until(sub { delivered('late') == 6 }, 30), 'endpoint set late: everything delivered');
$s = seen('late');
is(join(',', map { $_->[1] } @$s), '1,2,3,4,5,6',
	'endpoint set late: sent once each, in commit order');
my @gaps = map { sprintf('%.0f', $s->[$_][3] - $s->[ $_ - 1 ][3]) } 1 .. $#$s;
is(scalar(grep { $_ < 95 } @gaps), 0,
	'endpoint set late: each request after the previous answer (gaps ' . join(',', @gaps) . ' ms)');

# -- key: FIFO per row; a failed row holds back only its own events
# (the failed row's retry comes after 3 s, so the other row has time)
endpoint('bykey', 'key', '{3s,1s,1s}');
$recv->behaviour('/bykey', { status => 500, times => 1 });
q1("INSERT INTO t_bykey VALUES (1, 0), (2, 0)");
q1("UPDATE t_bykey SET v = v + 1") for 1 .. 5;
ok(wait_until(sub { delivered('bykey') == 12 }, 30), 'key: everything delivered');
$s = seen('bykey');
my ($failed) = map { $_->[0] } grep { $_->[2] == 500 } @$s;
ok(defined $failed, "key: row $failed failed first");
my $other = $failed == 1 ? 2 : 1;
for my $row (1, 2)
{
	my @r = grep { $_->[0] == $row } @$s;
	is(join(',', map { $_->[1] } grep { $_->[2] =~ /^2/ } @r), '0,1,2,3,4,5',
		"key: row $row delivered in commit order");
	ok(nondecreasing(map { $_->[1] } @r), "key: row $row never tried out of order");
}
my ($failed_ok) = map { $_->[3] } grep { $_->[0] == $failed && $_->[2] =~ /^2/ } @$s;
my @other_ok = map { $_->[3] } grep { $_->[0] == $other && $_->[2] =~ /^2/ } @$s;
cmp_ok($other_ok[-1], '<', $failed_ok,
	"key: row $other was all delivered while row $failed waited for its retry");

# -- the keys are stored only for ordered endpoints (read in the capturing
# transaction: a delivered event's row is removed)
is(q1("BEGIN; INSERT INTO t_free VALUES (101, 0); SELECT count(*) FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id WHERE e.name = 'free' AND ordering_key IS NOT NULL; ROLLBACK"),
	'0', 'none: no keys stored');
is(q1("BEGIN; UPDATE t_bykey SET v = v + 1; SELECT string_agg(DISTINCT ordering_key, ' ' ORDER BY ordering_key) FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id WHERE e.name = 'bykey' AND ev.state = 'pending'; ROLLBACK"),
	'{"id":1} {"id":2}', 'key: the primary key is the key');

$node->stop;
$recv->stop;
done_testing();
