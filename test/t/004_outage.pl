# Nothing is lost: with the receiver down for a while every event arrives
# once it is back, and a kill -9 of the postmaster with thousands of events
# pending or in flight loses none of them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('outage');
my $url = $recv->url('/orders');

$node->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('shop', '$url',
		retry_schedule => '{1s,1s,1s,1s,1s,1s,1s,1s,1s,1s}');
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT webhook.subscribe('orders', 'shop');
});
$recv->secret($node->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')"));

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# -- the receiver is down for a while
$recv->stop;
q1("INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 50) g");
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.attempts") >= 3 }),
	'receiver down: attempts fail (a failing endpoint is only probed)');
is(q1("SELECT count(*) FROM webhook.events WHERE state = 'pending'"), '50',
	'receiver down: all still pending');
$recv->start;
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '50' }),
	'receiver back: every event delivered');
my %seen = map { $_->{headers}{'webhook-id'} => 1 } @{ $recv->requests('/orders') };
is(scalar(keys %seen), 50, 'receiver back: 50 distinct webhook-ids arrived');
is( q1("SELECT count(*) FROM webhook.events WHERE webhook_id IN ("
		. join(',', map { "'$_'" } keys %seen) . ")"),
	'50', 'receiver back: they are the events\' ids');
ok(!(grep { !$_->{verified} } @{ $recv->requests('/orders') }), 'all verified');

# -- kill -9 with thousands of events pending and in flight
$recv->control('POST', 'reset');
q1("SELECT webhook.alter_endpoint('shop', max_in_flight => 16)");
$recv->behaviour('/orders', { delay_ms => 2 });
my $before = q1("SELECT coalesce(max(id), 0) FROM webhook.events");
q1("INSERT INTO orders SELECT g, 'new' FROM generate_series(1001, 5000) g");
ok(wait_until(sub { $recv->stats->{count} >= 300 }), 'delivery under way');
$node->kill9;
my $at_kill = $recv->stats->{count};
cmp_ok($at_kill, '<', 4000, "killed with events still to send ($at_kill of 4000 arrived)");
start_after_kill9($node);
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '0' }, 120),
	'after the restart, nothing is left pending');
my $reqs = $recv->requests('/orders');
my %ids;
$ids{ $_->{headers}{'webhook-id'} }++ for @$reqs;
my @expect = split /\n/, q1(
	"SELECT webhook_id FROM webhook.events WHERE id > $before");
is(scalar(@expect), 4000, '4000 events in the outbox or its history');
is(scalar(grep { $ids{$_} } @expect), 4000, 'every one of them arrived at the receiver');
my $dups = grep { $_ > 1 } values %ids;
note "requests: " . scalar(@$reqs) . ", duplicates: $dups";
cmp_ok($dups, '<=', 64 + 500, 'duplicates are limited to what was claimed or in flight');
ok(!(grep { !$_->{verified} } @$reqs), 'all verified');

$node->stop;
$recv->stop;
done_testing();
