# Flow control: a rate-limited endpoint is held to its rate (within 10%
# over more than 10 seconds) while another endpoint runs at full speed
# beside it, and its concurrency limit holds across batches.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('flow');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

sub endpoint
{
	my ($name, $extra) = @_;
	my $url = $recv->url("/$name");
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url' $extra);
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

sub delivered
{
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$_[0]' AND state = 'delivered'");
}

my $rate = 20;
my $n_limited = 250;
my $n_fast = 1000;
endpoint('limited');
endpoint('fast');
q1("SELECT webhook.set_delivery_policy('limited', rate_limit => $rate)");

q1("INSERT INTO t_limited (v) SELECT 'x' FROM generate_series(1, $n_limited)");

# the other endpoint gets a batch every 2 seconds while the limited one
# sends, and each batch goes through at full speed
my $batches = 5;
my @batch_s;
for my $b (1 .. $batches)
{
	my $t0 = time();
	q1("INSERT INTO t_fast (v) SELECT 'x' FROM generate_series(1, $n_fast)");
	ok(wait_until(sub { delivered('fast') == $b * $n_fast }, 60), "fast: batch $b delivered");
	push @batch_s, time() - $t0;
	sleep(2 - $batch_s[-1]) if $batch_s[-1] < 2;
}
my $limited_then = delivered('limited');
cmp_ok($limited_then, '<', $n_limited,
	"fast: every batch went while the limited endpoint was still sending ($limited_then of $n_limited sent)");
my ($slowest) = sort { $b <=> $a } @batch_s;
cmp_ok($n_fast / $slowest, '>', 5 * $rate,
	sprintf('fast: at least %.0f events/s in every batch, far above the limit', $n_fast / $slowest));

ok(wait_until(sub { delivered('limited') == $n_limited }, 60), 'limited: everything delivered');
is(scalar @{ $recv->requests('/limited') }, $n_limited, 'limited: one request per event');
# the limit holds when the worker starts each request, which the history
# records; arrival times at the receiver would also measure the receiver's
# own stalls on a busy machine
my @t = split /\n/, q1(q{
	SELECT round(extract(epoch FROM started_at) * 1000)
	FROM webhook.attempts WHERE endpoint = 'limited' ORDER BY started_at});
is(scalar @t, $n_limited, 'limited: one attempt per event in the history');
my $span = ($t[-1] - $t[0]) / 1000;
my $measured = (@t - 1) / $span;
cmp_ok($span, '>=', 10, "limited: measured over ${span}s");
ok(abs($measured - $rate) <= 0.1 * $rate,
	sprintf('limited: %.2f events/s for a limit of %d', $measured, $rate));
# and no second runs far above the limit
my $worst = 0;
for my $i (0 .. $#t)
{
	my $j = $i;
	$j++ while $j < $#t && $t[$j + 1] < $t[$i] + 1000;
	$worst = $j - $i + 1 if $j - $i + 1 > $worst;
}
cmp_ok($worst, '<=', $rate * 1.1 + 1, "limited: at most $worst in any one second");

# -- a limit set just before its events arrive holds from the first one,
# while the worker is busy claiming another endpoint's events
endpoint('late');
q1("INSERT INTO t_fast (v) SELECT 'x' FROM generate_series(1, $n_fast)");
$node->safe_psql('postgres', qq{
	SELECT webhook.set_delivery_policy('late', rate_limit => $rate);
	INSERT INTO t_late (v) SELECT 'x' FROM generate_series(1, 3 * $rate);
});
ok(wait_until(sub { delivered('late') == 3 * $rate }, 60), 'late limit: delivered');
my @late = split /\n/, q1(q{
	SELECT round(extract(epoch FROM started_at) * 1000)
	FROM webhook.attempts WHERE endpoint = 'late' ORDER BY started_at});
my $first = grep { $_ < $late[0] + 1000 } @late;
cmp_ok($first, '<=', $rate * 1.1 + 1,
	"late limit: $first requests in the first second for a limit of $rate");
ok(wait_until(sub { delivered('fast') == ($batches + 1) * $n_fast }, 60),
	'late limit: the other endpoint delivered');

# -- max_in_flight holds across batches: a slow receiver never sees more
q1("SELECT webhook.alter_endpoint('fast', max_in_flight => 3)");
$recv->behaviour('/fast', { delay_ms => 200 });
$recv->control('POST', 'reset');
q1("INSERT INTO t_fast (v) SELECT 'x' FROM generate_series(1, 30)");
ok(wait_until(sub { delivered('fast') == ($batches + 1) * $n_fast + 30 }, 60), 'concurrency: delivered');
my @reqs = sort { $a->{time_ms} <=> $b->{time_ms} } @{ $recv->requests('/fast') };
# a request is in flight from its arrival until about 200 ms later
my $peak = 0;
for my $r (@reqs)
{
	my $n = grep { $_->{time_ms} <= $r->{time_ms} && $_->{time_ms} > $r->{time_ms} - 190 } @reqs;
	$peak = $n if $n > $peak;
}
cmp_ok($peak, '<=', 3, "concurrency: at most 3 in flight ($peak)");
cmp_ok($peak, '>=', 2, 'concurrency: but more than one');

$node->stop;
$recv->stop;
done_testing();
