# A healthy endpoint stays prompt while another one fails with a large
# backlog and the outbox's statistics are stale (ANALYZE saw only delivered
# events, autovacuum is off for it): no plan the worker runs may depend on what the
# statistics say.  auto_explain logs every plan the worker executes; none
# of them may read the outbox by a sequential scan, or through an index
# without an index condition.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('stale', conf => q{
shared_preload_libraries = 'webhook, auto_explain'
auto_explain.log_min_duration = 0
auto_explain.log_nested_statements = off
log_line_prefix = '%m [%p] %b '
# delivered events stay, so that the statistics say the outbox holds nothing else
webhook.payload_retention = '1h'
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $steps = '{' . join(',', ('1s') x 20) . '}';
foreach my $name ('down', 'up')
{
	my $url = $recv->url("/$name");
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$steps', timeout => '5s');
		SELECT webhook.set_delivery_policy('$name',
			failure_threshold => 1000000, failure_window => '1 day');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

# statistics that say nothing is pending: a history of delivered events,
# analysed, then a backlog they do not know of
q1(q{ALTER TABLE webhook.event SET (autovacuum_enabled = false)});
q1("INSERT INTO t_up (v) SELECT 'h' FROM generate_series(1, 5000)");
ok( wait_until(
		sub {
			q1("SELECT count(*) FROM webhook.event WHERE state = 'pending'") eq
			  '0';
		},
		120),
	'the history is delivered');
$recv->control('POST', 'reset');
$recv->behaviour('/down', { status => 500 });
q1("ANALYZE webhook.event");
is( q1(q{SELECT most_common_vals::text FROM pg_stats
		 WHERE schemaname = 'webhook' AND tablename = 'event'
		   AND attname = 'state'}),
	'{delivered}',
	'the statistics say nothing is pending');
q1("INSERT INTO t_down (v) SELECT 'x' FROM generate_series(1, 10000)");

# and the history goes while the test runs, so the clean-up's plans show too
q1("ALTER SYSTEM SET webhook.retention = 1");
q1("SELECT pg_reload_conf()");
ok( wait_until(sub { scalar @{ $recv->requests('/down') } >= 4 }, 60),
	'the failing endpoint is being probed');

# single commits to the healthy endpoint, each awaited; latency is from
# the insert (its row carries the time) to the receiver's arrival time, on
# the same clock
my @lat;
for my $i (1 .. 20)
{
	q1("INSERT INTO t_up (v)
		VALUES (extract(epoch FROM clock_timestamp()) * 1000)");
	my $ok = wait_until(sub { scalar @{ $recv->requests('/up') } >= $i }, 10);
	my $req = $recv->requests('/up')->[ $i - 1 ];
	my ($at) = $ok ? ($req->{body} =~ /"v"\s*:\s*"([\d.]+)"/) : ();
	push @lat, defined $at ? ($req->{time_ms} - $at) / 1000 : 999;
}
my @sorted = sort { $a <=> $b } @lat;
my $p50 = $sorted[9] * 1000;
my $p99 = $sorted[-1] * 1000;
note sprintf('healthy endpoint with stale statistics: p50 %.1f ms, p99 %.1f ms',
	$p50, $p99);
diag sprintf('latency p50 %.1f ms, p99 (max of 20) %.1f ms', $p50, $p99);
is(scalar(grep { $_ >= 1 } @lat), 0,
	'every event of the healthy endpoint arrives within a second');
is(scalar @{ $recv->requests('/up') }, 20, 'each arrived once');
is( q1(q{SELECT most_common_vals::text FROM pg_stats
		 WHERE schemaname = 'webhook' AND tablename = 'event'
		   AND attname = 'state'}),
	'{delivered}',
	'the statistics were stale throughout');

# the plans the worker ran, as auto_explain logged them
my $log = slurp_file($node->logfile);
my @plans;
foreach my $entry (split /\n(?=\S+ \S+ \S+ \[\d+\] )/, $log)
{
	next unless $entry =~ /\] webhook worker LOG:  duration: [\d.]+ ms  plan:/;
	next unless $entry =~ /webhook\.event\b/;
	push @plans, $entry;
}
cmp_ok(scalar @plans, '>', 10, 'auto_explain logged the worker\'s plans');
foreach my $what ('FOR UPDATE OF ev SKIP LOCKED', 'INSERT INTO webhook.attempt',
	'DELETE FROM webhook.event')
{
	ok((grep { index($_, $what) >= 0 } @plans),
		"a plan of the statement with \"$what\" was logged");
}
my @bad;
foreach my $p (@plans)
{
	my @lines = split /\n/, $p;
	for my $j (0 .. $#lines)
	{
		my $l = $lines[$j];
		if ($l =~ /Seq Scan on event\b|Bitmap Heap Scan on event\b/)
		{
			push @bad, $p;
			last;
		}
		next unless $l =~ /Index (?:Only )?Scan(?: Backward)? using (\S+) on event\b/;

		# the node's own detail lines: an index scan must have a condition
		my $cond = 0;
		for my $k ($j + 1 .. $#lines)
		{
			last if $lines[$k] =~ /->/;
			$cond = 1 if $lines[$k] =~ /Index Cond:/;
		}
		unless ($cond)
		{
			push @bad, $p;
			last;
		}
	}
}
is(scalar @bad, 0, 'every plan reads the outbox through an index condition')
  or diag "first bad plan:\n$bad[0]";

$node->stop;
done_testing();
