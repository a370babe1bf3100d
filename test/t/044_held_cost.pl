# Holding an endpoint back costs nothing per held event: the backlogs of a
# paused, a disabled, a failing (probed) and a rate-limited endpoint are
# neither parked nor deferred while another endpoint takes single commits;
# only events actually attempted are written.  Once released (resume,
# enable, the receiver recovering, the rate allowing), every event arrives.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('held');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $steps = '{' . join(',', ('1s') x 20) . '}';
foreach my $name ('paused', 'disabled', 'failing', 'limited', 'live')
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

my $n = 300;

# WAL per single-row insert while its endpoint is paused, with a backlog,
# beside the same inserts into a table nobody subscribed
sub wal_per_row
{
	my ($table) = @_;
	my $lsn0 = q1("SELECT pg_current_wal_insert_lsn()");
	q1("INSERT INTO $table (v) VALUES ('w')") for 1 .. 200;
	# let the worker act on the wake-ups (a measure, not an assertion)
	usleep(1_000_000);
	my $lsn1 = q1("SELECT pg_current_wal_insert_lsn()");
	return q1("SELECT pg_wal_lsn_diff('$lsn1', '$lsn0') / 200");
}
q1("CREATE TABLE t_plain (id serial PRIMARY KEY, v text)");
q1("SELECT webhook.pause('paused')");
q1("INSERT INTO t_paused (v) SELECT 'x' FROM generate_series(1, 1000)");
usleep(1_000_000);
my $plain = wal_per_row('t_plain');
my $paused = wal_per_row('t_paused');
diag sprintf('WAL per single-row insert: %.0f B unsubscribed, %.0f B with '
	  . 'its endpoint paused (%.0f B more)', $plain, $paused, $paused - $plain);
q1("SELECT webhook.resume('paused')");
ok( wait_until(
		sub {
			q1("SELECT count(*) FROM webhook.events
				WHERE endpoint = 'paused' AND state = 'pending'") == 0;
		},
		60),
	'the first paused backlog is delivered once resumed');
q1("SELECT webhook.pause('paused')");
q1(q{UPDATE webhook.endpoint SET enabled = false, disabled_at = now(),
	 disabled_reason = 'disabled by the test' WHERE name = 'disabled'});
q1("SELECT webhook.set_delivery_policy('limited', rate_limit => 20)");
$recv->behaviour('/failing', { status => 500 });
foreach my $name ('paused', 'disabled', 'failing', 'limited')
{
	q1("INSERT INTO t_$name (v) SELECT 'x' FROM generate_series(1, $n)");
}
ok( wait_until(sub { scalar @{ $recv->requests('/failing') } >= 3 }, 30),
	'the failing endpoint failed three times and is now probed');

# single commits: to the live endpoint and to the paused one, which keeps
# accumulating
my $probes = scalar @{ $recv->requests('/failing') };
for my $i (1 .. 100)
{
	q1("INSERT INTO t_paused (v) VALUES ('$i')");
}
for my $i (1 .. 20)
{
	q1("INSERT INTO t_live (v) VALUES ('$i')");
	usleep(100_000);
}
ok(wait_until(sub { scalar @{ $recv->requests('/live') } >= 20 }, 30),
	'the live endpoint is served meanwhile');
ok( wait_until(
		sub { scalar @{ $recv->requests('/failing') } >= $probes + 3 }, 30),
	'three more probe steps passed');
cmp_ok(scalar @{ $recv->requests('/limited') }, '<', $n,
	'the rate-limited endpoint is still held back');

# no row of an event that was not attempted was rewritten: each still has
# the xmin of the transaction that captured it, the one that wrote its
# table's row
foreach my $name ('paused', 'disabled', 'failing', 'limited')
{
	my ($waiting, $rewritten) = split /\|/, q1(qq{
		SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (
				SELECT 1 FROM t_$name t WHERE t.xmin = ev.xmin))
		FROM webhook.event ev JOIN webhook.endpoint e ON e.id = ev.endpoint_id
		WHERE e.name = '$name' AND ev.state = 'pending'
		  AND ev.attempts = 0});
	cmp_ok($waiting, '>', 0, "$name: events still waiting");
	is($rewritten, 0, "$name: no waiting event's row was rewritten");
}
my $parked = q1(q{SELECT count(*) FROM webhook.event
				  WHERE next_attempt_at = 'infinity'});
is($parked, '0', 'no event was parked');

# released, everything arrives
q1("SELECT webhook.resume('paused')");
q1("SELECT webhook.enable_endpoint('disabled')");
$recv->reset_behaviour('/failing');
q1("SELECT webhook.set_delivery_policy('limited', rate_limit => 1000)");
my %want = (paused => 1000 + 200 + $n + 100, disabled => $n, failing => $n,
	limited => $n);
foreach my $name (sort keys %want)
{
	ok( wait_until(
			sub {
				q1("SELECT count(*) FROM webhook.events
					WHERE endpoint = '$name' AND state = 'delivered'") ==
				  $want{$name};
			},
			90),
		"$name: all $want{$name} events delivered once released");
}

$node->stop;
done_testing();
