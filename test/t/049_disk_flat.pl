# The extension's disk stays flat under steady traffic: delivered events
# leave the outbox, history is removed a segment at a time, dead events go
# after webhook.retention, and the space all that frees is used again.
#
# One endpoint's receiver fails a tenth of its requests at random.  A
# second endpoint's receiver fails seven in ten, and its events get one
# retry, so about half of them go dead (a receiver that failed every
# request would be taken for a dead one and only probed); its dead events
# of the first half of each round are replayed, and one of the others
# retried, while that receiver answers every request.  webhook.retention
# is 20 s, so the history's eight segments turn over several times during
# the test, and autovacuum looks every second.  Rounds of a few thousand
# rows start at a fixed pace, so traffic per second is the same
# throughout; the dead events kept at a time outnumber one batch of the
# retention step.  After each round the outbox, the history (webhook.attempt
# and all its children) and the segment table are measured together.  The
# largest size among the last rounds may be at most 1.2 times the largest
# among the first rounds after the history has filled its retention: a
# history that were never emptied holds more than twice as much by then,
# and an outbox whose dead rows were never removed, or whose free space
# were not used again, grows as fast.
#
# Nothing is lost on the way: once each round is done, every event of it
# is delivered or dead (and every replayed one delivered); every row of
# the first endpoint reached its receiver with a 2xx, each of the second
# endpoint's rows reached its receiver and those of the replayed halves
# got a 2xx; and no row arrived under two webhook-ids, nor a webhook-id
# with two rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use WebhookTest;

# rows per round for each endpoint, seconds between round starts, and the
# windows (seconds since the first round began) compared
my $n_flaky = 1500;
my $n_dead = 1200;
my $pace = 5;
my @first = (30, 55);
my @last = (80, 105);

my $recv = WebhookTest::Receiver->new;
my $node = new_node('flat', conf => q{
webhook.retention = '20s'
autovacuum = on
autovacuum_naptime = '1s'
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $flaky_sched = '{' . join(',', ('200ms') x 12) . '}';
q1(qq{
	SELECT webhook.create_endpoint('flaky', '@{[ $recv->url('/flaky') ]}',
		retry_schedule => '$flaky_sched', timeout => '5s');
	CREATE TABLE t_flaky (id bigint PRIMARY KEY, v text);
	SELECT webhook.subscribe('t_flaky', 'flaky');
	SELECT webhook.create_endpoint('dead', '@{[ $recv->url('/dead') ]}',
		retry_schedule => '{200ms}', timeout => '5s');
	SELECT webhook.set_delivery_policy('dead',
		failure_threshold => 1000000, failure_window => '1 day');
	CREATE TABLE t_dead (id bigint PRIMARY KEY, v text);
	SELECT webhook.subscribe('t_dead', 'dead');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('$_')")) for 'flaky', 'dead';
$recv->behaviour('/flaky', { flaky => 0.1 });
my $dead_fails = { flaky => 0.7 };
$recv->behaviour('/dead', $dead_fails);

# bytes on disk of the outbox, the history parent and every child of it,
# and the segment table (where there is one), indexes and TOAST included
my $size_sql = q{
	SELECT pg_total_relation_size('webhook.event') || ' ' ||
		(SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)
		 FROM pg_class c
		 WHERE c.oid = 'webhook.attempt'::regclass
			OR c.oid IN (SELECT inhrelid FROM pg_inherits
						 WHERE inhparent = 'webhook.attempt'::regclass))
		+ coalesce(pg_total_relation_size(to_regclass('webhook.attempt_segment')), 0)
};

# what webhook.events says of the events created since T for ENDPOINT:
# "pending delivered dead"
sub states
{
	my ($ep, $since, $until) = @_;
	my $until_sql = $until ? "AND created_at < '$until'" : '';
	return q1(qq{
		SELECT count(*) FILTER (WHERE state = 'pending') || ' ' ||
			   count(*) FILTER (WHERE state = 'delivered') || ' ' ||
			   count(*) FILTER (WHERE state = 'dead')
		FROM webhook.events
		WHERE endpoint = '$ep' AND created_at >= '$since' $until_sql});
}

sub nothing_pending
{
	return q1("SELECT count(*) FROM webhook.event WHERE state = 'pending'") == 0;
}

my ($next_flaky, $next_dead) = (1, 1);
my $replayed = {};				# rows of t_dead replayed, and delivered
my $round_ok = 1;
my @sizes;						# [seconds since start, outbox, history]
my $t0 = time;
my $round = 0;
while (time - $t0 < $last[1])
{
	my $start = $t0 + $round * $pace;
	my $wait = $start - time;
	usleep($wait * 1e6) if $wait > 0;
	my $at = time - $t0;
	$round++;

	my $since = q1("SELECT clock_timestamp()");
	my ($f0, $f1) = ($next_flaky, $next_flaky + $n_flaky - 1);
	my ($d0, $dm, $d1) = ($next_dead, $next_dead + $n_dead / 2, $next_dead + $n_dead - 1);
	$next_flaky = $f1 + 1;
	$next_dead = $d1 + 1;
	q1("INSERT INTO t_flaky SELECT g, 'x' FROM generate_series($f0, $f1) g");
	q1("INSERT INTO t_dead SELECT g, 'x' FROM generate_series($d0, $dm - 1) g");
	my $mid = q1("SELECT clock_timestamp()");
	q1("INSERT INTO t_dead SELECT g, 'x' FROM generate_series($dm, $d1) g");

	my $drained = wait_until(\&nothing_pending, 120);

	# the dead events of the first half are replayed, and one of the second
	# half retried, while the receiver answers every request
	my $was_dead = states('dead', $since, $mid);
	$recv->behaviour('/dead', { status => 204 });
	my $n_replayed = q1(qq{
		SELECT webhook.replay('dead', since => '$since', "until" => '$mid',
							  status => 'dead')});
	my ($retried, $retried_row) = split /\|/, q1(qq{
		SELECT ev.id, ev.payload->'data'->'new'->>'id' FROM webhook.event ev
		JOIN webhook.endpoint e ON e.id = ev.endpoint_id
		WHERE e.name = 'dead' AND ev.state = 'dead' AND ev.created_at >= '$mid'
		ORDER BY ev.id LIMIT 1});
	q1("SELECT webhook.retry($retried)") if defined $retried;
	$drained &&= wait_until(\&nothing_pending, 120);
	$recv->behaviour('/dead', $dead_fails);
	$replayed->{$_} = 1 for $d0 .. $dm - 1, $retried_row // ();

	# each round's events are delivered or dead, the replayed ones delivered
	my $flaky_states = states('flaky', $since);
	my ($dp0, $dd0, $dx0) = split / /, states('dead', $since, $mid);
	my ($dp1, $dd1, $dx1) = split / /, states('dead', $mid);
	my (undef, undef, $want_replayed) = split / /, $was_dead;
	unless ($drained && $flaky_states eq "0 $n_flaky 0"
		&& $n_replayed == $want_replayed
		&& "$dp0 $dd0 $dx0" eq "0 " . ($n_dead / 2) . " 0"
		&& $dp1 == 0 && $dd1 + $dx1 == $n_dead / 2
		&& (!defined $retried || $dd1 >= 1))
	{
		$round_ok = 0;
		diag("round $round: drained " . ($drained ? 'yes' : 'no')
			  . "; flaky (pending delivered dead) $flaky_states"
			  . "; dead, first half: $was_dead before $n_replayed were replayed,"
			  . " $dp0 $dd0 $dx0 after; second half $dp1 $dd1 $dx1");
	}

	my ($outbox, $history) = split / /, q1($size_sql);
	push @sizes, [ $at, $outbox, $history ];
	note(sprintf('round %d at %.1fs, done %.1fs later: outbox %d kB, history %d kB',
			$round, $at, time - $t0 - $at, $outbox / 1024, $history / 1024));
	# the receiver keeps its log file; let it forget what it holds in memory
	$recv->control('POST', 'reset');
}
ok($round_ok, "each of the $round rounds: every event delivered or dead, replays delivered");

# the largest size in each window
sub largest
{
	my ($from, $to) = @_;
	my $max = 0;
	for (grep { $_->[0] >= $from && $_->[0] < $to } @sizes)
	{
		my $s = $_->[1] + $_->[2];
		$max = $s if $s > $max;
	}
	return $max;
}
my $first = largest(@first);
my $last = largest(@last);
ok($first > 0 && $last > 0, 'rounds measured in both windows');
cmp_ok($last, '<=', 1.2 * $first,
	sprintf('disk stays flat: %.0f kB at the end, %.0f kB after %ds (ratio %.2f)',
		$last / 1024, $first / 1024, $first[0], $first ? $last / $first : 0));

# what the receiver saw: per row, the webhook-ids it arrived under and
# whether one was answered with a 2xx; per webhook-id, its rows
my (%wids, %rows, %ok, %seen);
open my $log, '<', "$recv->{dir}/log" or die "receiver log: $!";
while (my $line = <$log>)
{
	my $r = json_decode($line);
	my $ep = $r->{path} eq '/flaky' ? 'f' : $r->{path} eq '/dead' ? 'd' : next;
	my $body = eval { json_decode($r->{body}) } or next;
	my $row = "$ep" . $body->{data}{new}{id};
	my $wid = $r->{headers}{'webhook-id'};
	$seen{$row} = 1;
	$wids{$row}{$wid} = 1;
	$rows{$wid}{$row} = 1;
	$ok{$row} = 1 if $r->{verified} && $r->{answered} =~ /^2/;
}
close $log;

my $flaky_total = $next_flaky - 1;
my $dead_total = $next_dead - 1;
is(scalar(grep { $ok{"f$_"} } 1 .. $flaky_total), $flaky_total,
	"flaky: each of the $flaky_total rows arrived, verified, with a 2xx");
is(scalar(grep { $seen{"d$_"} } 1 .. $dead_total), $dead_total,
	"dead: each of the $dead_total rows reached the receiver");
is(scalar(grep { $ok{"d$_"} } keys %$replayed), scalar(keys %$replayed),
	'dead: each replayed row arrived, verified, with a 2xx');
is(scalar(grep { keys %{ $wids{$_} } != 1 } keys %wids), 0,
	'no row arrived under two webhook-ids');
is(scalar(grep { keys %{ $rows{$_} } != 1 } keys %rows), 0,
	'no webhook-id carried two rows');

$node->stop;
$recv->stop;
done_testing();
