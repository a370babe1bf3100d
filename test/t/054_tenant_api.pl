# The tenant functions through the real worker and receiver: a tenant's own
# session (a role mapped to its tenant) creates an endpoint, sends a test
# event, and sees the delivery and its attempt; the receiver then fails a
# few, the tenant reads the attempts with their response excerpts, and
# tenant_replay() over a time range sends them again, with their webhook-ids,
# until every one is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('tenant_api');
$node->safe_psql('postgres', q{
	CREATE ROLE merchant LOGIN;
	SELECT webhook.grant_tenant('merchant', 'merchant-1');
});

# a query in the tenant's own session
sub tq
{
	return $node->safe_psql('postgres', $_[0], extra_params => [ '-U', 'merchant' ]);
}

is(tq('SELECT webhook.current_tenant()'), 'merchant-1', 'the session acts for its tenant');

my $url = $recv->url('/m1');
my $secret = tq(qq{
	SELECT secret FROM webhook.tenant_create_endpoint('m1-hook', '$url',
		description => 'merchant one')});
like($secret, qr/^whsec_/, 'the tenant gets its endpoint\'s secret');
$recv->secret($secret);
is(tq('SELECT name FROM webhook.tenant_endpoints()'), 'm1-hook', 'and lists the endpoint');
is($node->safe_psql('postgres', "SELECT tenant FROM webhook.endpoints WHERE name = 'm1-hook'"),
	'merchant-1', 'which belongs to its tenant');

# the application holds retries back for an hour, so that only the replay
# sends a failed event again
$node->safe_psql('postgres',
	"SELECT webhook.alter_endpoint('m1-hook', retry_schedule => '{1h}')");

# a test event: delivered, signed, and shown with its attempt
my $test_id = tq("SELECT webhook.tenant_send_test('m1-hook')");
ok( wait_until(sub {
		tq("SELECT state FROM webhook.tenant_deliveries() WHERE event_id = $test_id")
		  eq 'delivered' }),
	'the test event is delivered');
my $reqs = $recv->requests('/m1');
is(scalar(@$reqs), 1, 'one request arrived');
ok($reqs->[0]{verified}, 'signed with the tenant\'s secret');
is(WebhookTest::json_decode($reqs->[0]{body})->{type}, 'webhook.test', 'a webhook.test event');
is($reqs->[0]{answered}, 204, 'the receiver took it');
is(tq("SELECT endpoint || ' ' || state || ' ' || attempts
	   FROM webhook.tenant_deliveries() WHERE event_id = $test_id"),
	'm1-hook delivered 1', 'the delivery, as the tenant sees it');
is(tq("SELECT count(*) || ' ' || min(status) FROM webhook.tenant_attempts(event_id => $test_id)"),
	'1 204', 'and its attempt');

# the receiver fails: three events fail or wait behind the failing endpoint
my $body = 'maintenance until noon ' . ('x' x 300);
$recv->behaviour('/m1', { status => 503, body => $body, times => 3 });
my $since = tq('SELECT clock_timestamp()');
my @ids = split /\n/, tq(q{
	SELECT webhook.tenant_send_test('m1-hook') FROM generate_series(1, 3)});
is(scalar(@ids), 3, 'three more test events');
ok( wait_until(sub {
		tq("SELECT count(*) FROM webhook.tenant_attempts(since => '$since') WHERE status = 503")
		  >= 1 }),
	'the receiver refuses them');
is(tq("SELECT response FROM webhook.tenant_attempts(since => '$since') WHERE status = 503 LIMIT 1"),
	substr($body, 0, 200), 'the attempt shows the first 200 characters of the response');
is(tq("SELECT name || ' ' || state FROM webhook.tenant_endpoint_stats()"),
	'm1-hook failing', 'the endpoint is failing');
$recv->reset_behaviour('/m1');
is(tq("SELECT string_agg(DISTINCT state::text, ',') FROM webhook.tenant_deliveries(since => '$since')"),
	'pending', 'all three wait for a retry an hour away');

# replay over a time range: none before the failures, all three from them on
is(tq("SELECT webhook.tenant_replay(since => '-infinity', until => '$since')"),
	'0', 'a range before them replays nothing');
is(tq("SELECT webhook.tenant_replay(since => '$since')"), '3',
	'the range of the failures replays all three');
ok( wait_until(sub {
		tq("SELECT count(*) FROM webhook.tenant_deliveries(since => '$since', state => 'delivered')")
		  == 3 }),
	'all three are delivered');
my %want = map { $_ => 1 } split /\n/,
  tq("SELECT webhook_id FROM webhook.tenant_deliveries(since => '$since')");
my %got = map { $_->{headers}{'webhook-id'} => 1 }
  grep { $_->{verified} } @{ $recv->requests('/m1') };
is(scalar(grep { $got{$_} } keys %want), 3, 'with their own webhook-ids, signed');
is(tq("SELECT state || ' ' || delivered_last_hour || ' ' || pending FROM webhook.tenant_endpoint_stats()"),
	'healthy 4 0', 'the endpoint is healthy again, with four deliveries');

# the tenant's session stays inside its tenant
$node->safe_psql('postgres', q{
	SELECT webhook.create_endpoint('other', 'https://other.example.com/', tenant => 'merchant-2')});
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT * FROM webhook.tenant_endpoints(tenant => 'merchant-2')",
	extra_params => [ '-U', 'merchant' ]);
like($err, qr/permission denied for tenant "merchant-2"/, 'another tenant is refused');
is(tq("SELECT count(*) FROM webhook.endpoint WHERE name = 'other'"), '0',
	'and its endpoint is not there for it');

# nor can its own connection switch to another tenant with a role it may
# use and the setting: the connection's login role keeps its tenant
$node->safe_psql('postgres', q{
	CREATE ROLE gateway IN ROLE webhook_tenant;
	GRANT gateway TO merchant;
});
is(tq(q{SET ROLE gateway; SET webhook.tenant = 'merchant-2';
		SELECT webhook.current_tenant()}),
	'merchant-1', 'a tenant\'s connection keeps its tenant under SET ROLE');
is(tq(q{SET ROLE gateway; SET webhook.tenant = 'merchant-2';
		SELECT count(*) FROM webhook.tenant_endpoints()}),
	'1', 'and sees its own endpoint only');
is(tq(q{SET ROLE webhook_tenant; SET webhook.tenant = 'merchant-2';
		SELECT count(*) FROM webhook.endpoint WHERE tenant = 'merchant-2'}),
	'0', 'also as the group role itself');

$node->stop;
done_testing();
