# Operational events through the real worker: an endpoint of tenant "acme"
# fails, goes down, has an event given up and is disabled by its breaker;
# the operator endpoint hears of each, then of its re-enabling and its
# first success, every request signed with the operator endpoint's own
# secret.  An operator endpoint that fails itself is reported to nobody.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('operational');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# an endpoint at receiver path /NAME; its secret is known to the receiver
sub endpoint
{
	my ($name, $extra) = @_;
	my $url = $recv->url("/$name");
	q1(qq{SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '{1s,1s}', timeout => '5s' $extra)});
	my $secret = q1("SELECT webhook.endpoint_secret('$name')");
	$recv->secret($secret);
	return $secret;
}

my $op_secret = endpoint('operator', ", operational => true");
my $op2_secret = endpoint('operator2', ", operational => true");
endpoint('acme', ", tenant => 'acme'");
q1("SELECT webhook.set_delivery_policy('acme', failure_threshold => 4)");
q1(q{
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT webhook.subscribe('orders', 'acme');
});

# what the operator endpoint has received, as decoded bodies in order of
# arrival; each must verify with its own secret
sub received
{
	my ($path) = @_;
	return [ map { json_decode($_->{body}) } @{ $recv->requests($path) } ];
}

sub got
{
	my ($path, $type) = @_;
	return grep { $_->{type} eq $type } @{ received($path) };
}

sub wait_for_type
{
	my ($path, $type) = @_;
	return wait_until(sub { scalar got($path, $type) }, 60);
}

# the receiver fails: the event is retried twice and given up, the third
# failure in a row puts the endpoint down
$recv->behaviour('/acme', { status => 500 });
q1("INSERT INTO orders VALUES (1, 'paid')");
ok(wait_for_type('/operator', 'message.attempt.exhausted'),
	'exhausted: the operator hears of the event given up');
ok(wait_for_type('/operator', 'endpoint.failing'),
	'failing: the operator hears the endpoint went down');

my @acme = @{ $recv->requests('/acme') };
is(scalar @acme, 3, 'the event was tried three times');
my ($exhausted) = got('/operator', 'message.attempt.exhausted');
is_deeply(
	{ map { $_ => $exhausted->{data}{$_} }
		  qw(endpoint tenant attempts last_status) },
	{ endpoint => 'acme', tenant => 'acme', attempts => 3,
	  last_status => 500 },
	'exhausted: the endpoint, its tenant, the attempts and the last status');
is($exhausted->{data}{webhook_id}, $acme[0]{headers}{'webhook-id'},
	'exhausted: the webhook-id the receiver saw');
is($exhausted->{data}{event_type}, json_decode($acme[0]{body})->{type},
	'exhausted: the type of the event given up');
my ($failing) = got('/operator', 'endpoint.failing');
is($failing->{data}{tenant}, 'acme', 'failing: the tenant');
cmp_ok($failing->{data}{consecutive_failures}, '>=', 3,
	'failing: after three failures in a row');
is($failing->{data}{last_error}, 'HTTP status 500', 'failing: the last error');
ok(defined $failing->{data}{failing_since}, 'failing: since when');

# the next event is the probe; its failure is the fourth in a row, the
# breaker's threshold
q1("INSERT INTO orders VALUES (2, 'paid')");
ok(wait_for_type('/operator', 'endpoint.disabled'),
	'disabled: the operator hears the breaker tripped');
my ($disabled) = got('/operator', 'endpoint.disabled');
is_deeply(
	{ map { $_ => $disabled->{data}{$_} } qw(endpoint tenant reason) },
	{ endpoint => 'acme', tenant => 'acme',
	  reason => '4 consecutive attempts failed' },
	'disabled: the endpoint, its tenant and the reason');
is(scalar got('/operator', 'endpoint.failing'), 1,
	'failing: once per failing period');

# enabled again, the receiver answers: enabled, then recovered at the
# first success
$recv->reset_behaviour('/acme');
q1("SELECT webhook.enable_endpoint('acme')");
ok(wait_for_type('/operator', 'endpoint.enabled'),
	'enabled: the operator hears of it');
ok(wait_for_type('/operator', 'endpoint.recovered'),
	'recovered: the operator hears of the first success');
ok(wait_until(sub { scalar grep { $_->{answered} eq '204' } @{ $recv->requests('/acme') } }),
	'the waiting event was delivered');
is(scalar got('/operator', 'endpoint.recovered'), 1, 'recovered: once');
q1("INSERT INTO orders VALUES (3, 'paid')");
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE endpoint = 'acme' AND state = 'pending'") == 0 }),
	'more deliveries');

my @types = map { $_->{type} } @{ received('/operator') };
is_deeply([ sort @types ],
	[ sort qw(message.attempt.exhausted endpoint.failing endpoint.disabled
			  endpoint.enabled endpoint.recovered) ],
	'the operator received each event once: ' . join(', ', @types));
my @ops = @{ $recv->requests('/operator') };
ok((!grep { !$_->{verified} || $_->{matched_secret} ne $op_secret } @ops),
	"each request to the operator verifies with the operator's own secret");
ok((!grep { $_->{matched_secret} ne $op2_secret } @{ $recv->requests('/operator2') }),
	"and each to the second operator endpoint with that one's");
is(scalar @{ $recv->requests('/operator2') }, scalar @ops,
	'the second operator endpoint received as many');
like($ops[0]{headers}{'webhook-id'}, qr/^msg_/, 'a webhook-id');
ok($ops[0]{body} =~ /^\{"type":"[a-z.]+","timestamp":"[^"]+Z","data":\{/,
	'a Standard Webhooks body');

# operator endpoints fail themselves: "operator" has its events given up,
# a new one that never succeeds goes down at once, and nobody hears of
# either
$recv->behaviour('/operator', { status => 500 });
$recv->behaviour('/operator3', { status => 500 });
endpoint('operator3', ", operational => true");
my $before2 = scalar @{ $recv->requests('/operator2') };
q1("SELECT webhook.pause('acme')");
q1("SELECT webhook.resume('acme')");
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE endpoint IN ('operator', 'operator3') AND state = 'dead'") eq '4' }, 60),
	'the failing operator endpoints had their events given up');
is(q1(q{SELECT consecutive_failures >= 3 AND next_probe_at IS NOT NULL
		FROM webhook.endpoint_stats WHERE name = 'operator3'}),
	't', 'the new one went down');
ok(wait_until(sub { scalar @{ $recv->requests('/operator2') } >= $before2 + 2 }),
	'the second operator endpoint heard of the pause and the resume');
is(q1(q{SELECT count(*) FROM webhook.event ev, webhook.endpoint e
		WHERE e.id = ev.endpoint_id AND e.operational
		  AND webhook._event_body(ev.payload, ev.created_at)::jsonb
			  -> 'data' ->> 'endpoint' LIKE 'operator%'}),
	'0', 'no event about an operational endpoint was written');
my @about = grep { $_->{data}{endpoint} =~ /^operator/ }
	@{ received('/operator2') };
is(scalar @about, 0, 'and none was sent');

done_testing();
