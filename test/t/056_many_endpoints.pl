# Many endpoints: with 300 endpoints that may send (more than a claim reads
# at once), a backlog of 20 events each is delivered in full, each event
# once, to its own endpoint; and the claims read about what they take, not
# every endpoint's window each time: the claim index entries they read stay
# under 20 per event delivered (about 7 here; reading every window at each
# claim of 50 events costs about 70).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('many_endpoints', conf => q{
webhook.batch_size = 50
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $neps = 300;
my $per = 20;
my $nevents = $neps * $per;

# the endpoints, paused while their backlog is written
my $url = $recv->url('/m');
q1(qq{
	SELECT count(webhook.create_endpoint('m' || i, '$url?ep=' || i))
	FROM generate_series(1, $neps) i;
	UPDATE webhook.endpoint SET paused = true, enabled = false;
});
# each event's body names its endpoint, so a delivery can be checked
q1(qq{
	INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload)
	SELECT e.id, gen_random_uuid(), now(), now(),
		json_build_object('type', 'order.created', 'data', json_build_object('endpoint', e.name, 'n', n))
	FROM webhook.endpoint e, generate_series(1, $per) n;
});

# what the claims read of the outbox's claim index from here on
sub claim_index_reads
{
	return q1("SELECT idx_tup_read FROM pg_stat_all_indexes
		WHERE indexrelid = 'webhook.event_claim_idx'::regclass");
}
my $reads0 = claim_index_reads();

q1("UPDATE webhook.endpoint SET paused = false, enabled = true;
	SELECT webhook._wake()");
ok( wait_until(
		sub {
			q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'")
			  == $nevents;
		},
		180),
	"all $nevents events of $neps endpoints are delivered");

# each event arrived once, at its own endpoint
my $reqs = $recv->requests('/m');
my %seen;
my $wrong = 0;
for my $r (@$reqs)
{
	my $body = WebhookTest::json_decode($r->{body});
	my ($ep) = $r->{url} =~ /ep=(\d+)/;
	$wrong++ unless defined $ep && $body->{data}{endpoint} eq "m$ep";
	$seen{ $r->{headers}{'webhook-id'} }++;
}
is(scalar(@$reqs), $nevents, "the receiver got $nevents requests");
is(scalar(keys %seen), $nevents, 'each under its own webhook-id');
is($wrong, 0, 'each at the endpoint the event belongs to');

# The worker reports its counters after a transaction, at most once a
# second: wake it (each wake-up is a claim) until they count at least one
# read per event delivered, then until they stand still.
wait_until(
	sub {
		q1("SELECT webhook._wake()");
		usleep(500_000);
		return claim_index_reads() - $reads0 >= $nevents;
	},
	120);
my $reads = claim_index_reads();
wait_until(
	sub {
		q1("SELECT webhook._wake()");
		usleep(1_500_000);
		my $now = claim_index_reads();
		my $still = $now == $reads;
		$reads = $now;
		return $still;
	},
	60);
$reads -= $reads0;
diag "claim index entries read: $reads for $nevents events";
cmp_ok($reads, '>=', $nevents, 'the claims\' reads are counted');
cmp_ok($reads, '<=', 20 * $nevents,
	'the claims read the windows they take from, not all of them each time');

$node->stop;
done_testing();
