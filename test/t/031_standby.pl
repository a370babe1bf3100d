# Standbys and failover by hand: a streaming standby sends nothing (no
# launcher, no worker); the primary is killed with kill9 while events are in
# flight; after pg_ctl promote the new primary delivers every event that was
# committed, with the same webhook-ids, and duplicates stay limited to what
# was in flight or not yet recorded.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $primary = new_node('primary', init => { allows_streaming => 1 });
my $url = $recv->url('/orders');
$primary->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('shop', '$url', max_in_flight => 8);
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT webhook.subscribe('orders', 'shop');
});
$recv->secret($primary->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')"));

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;

sub webhook_procs
{
	my ($node) = @_;
	return $node->safe_psql('postgres', q{
		SELECT count(*) FROM pg_stat_activity
		WHERE backend_type IN ('webhook launcher', 'webhook worker')});
}

# -- a standby sends nothing
$primary->safe_psql('postgres', "INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 20) g");
$primary->wait_for_catchup($standby);
ok(wait_until(sub { $recv->stats->{count} >= 20 }), 'the primary delivers');
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is(webhook_procs($standby), '0', 'the standby runs no launcher and no worker');
is(webhook_procs($primary), '2', 'the primary runs a launcher and a worker');

# -- kill9 the primary with events in flight, promote the standby
$recv->behaviour('/orders', { delay_ms => 20 });
$primary->safe_psql('postgres',
	"INSERT INTO orders SELECT g, 'new' FROM generate_series(1001, 2000) g");
$primary->wait_for_catchup($standby);
ok(wait_until(sub { $recv->stats->{count} >= 120 }), 'delivery under way');
$primary->kill9;
my $at_kill = $recv->stats->{count};
cmp_ok($at_kill, '<', 1020, "killed with events still to send ($at_kill requests so far)");

$standby->promote;
ok(wait_until(sub { webhook_procs($standby) eq '2' }),
	'after promotion the launcher and a worker run');
$recv->reset_behaviour('/orders');
ok(wait_until(sub {
	$standby->safe_psql('postgres',
		"SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '0' }, 60),
	'the promoted standby delivers everything pending');

my @expect = split /\n/, $standby->safe_psql('postgres',
	'SELECT webhook_id FROM webhook.events ORDER BY id');
is(scalar @expect, 1020, 'the outbox holds all 1020 committed events');
my $reqs = $recv->requests('/orders');
my %ids;
$ids{ $_->{headers}{'webhook-id'} }++ for @$reqs;
is(scalar(grep { $ids{$_} } @expect), 1020,
	'every committed event arrived, under its original webhook-id');
is(scalar(keys %ids), 1020, 'and no other id arrived');
my $dups = grep { $_ > 1 } values %ids;
note "requests: " . scalar(@$reqs) . ", duplicated ids: $dups";
cmp_ok($dups, '<=', 500 + 64, 'duplicates are limited to what was claimed or in flight');
ok(!(grep { !$_->{verified} } @$reqs), 'all verified');

$standby->stop;
$recv->stop;
done_testing();
