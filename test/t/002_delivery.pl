# Delivery end to end, with the real receiver: an orders.status change
# arrives once, signed and verified, with the exact payload and headers; a
# rolled-back change sends nothing; rotation signs with both secrets; the
# worker survives SIGHUP and SIGTERM.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('delivery');

my $url = $recv->url('/shop');
$node->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('shop', '$url',
		headers => '{"X-Tenant": "acme"}');
	CREATE TABLE orders (id int PRIMARY KEY, customer text, status text,
						 total numeric(10,2), card text);
	SELECT webhook.subscribe('orders', 'shop', events => '{update}',
							 columns => '{status}', exclude => '{card}');
	INSERT INTO orders VALUES (1, 'ada', 'pending', 42.00, '4242');
});
$recv->secret($node->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')"));

# a rolled-back change sends nothing
$node->safe_psql('postgres',
	"BEGIN; UPDATE orders SET status = 'cancelled' WHERE id = 1; ROLLBACK;");

$node->safe_psql('postgres', "UPDATE orders SET status = 'paid' WHERE id = 1");
ok(wait_until(sub { @{ $recv->requests('/shop') } >= 1 }),
	'the update arrives');
my $event = $node->safe_psql('postgres',
	"SELECT webhook_id || ' ' || state FROM webhook.events");
ok(wait_until(sub {
	$node->safe_psql('postgres', 'SELECT state FROM webhook.events') eq 'delivered' }),
	'the event is recorded as delivered');
sleep 1;
my $reqs = $recv->requests('/shop');
is(scalar @$reqs, 1, 'exactly one request, for the committed change only');
my $r = $reqs->[0];
ok($r->{verified}, 'the signature verifies with the standardwebhooks library')
  or diag explain $r;
is($r->{method}, 'POST', 'POST');
is($r->{headers}{'content-type'}, 'application/json', 'content type');
like($r->{headers}{'user-agent'}, qr{^webhook/\d+\.\d+\.\d+$}, 'user agent');
is($r->{headers}{'x-tenant'}, 'acme', 'the endpoint\'s extra header');
my $id = $node->safe_psql('postgres', 'SELECT webhook_id FROM webhook.events');
is($r->{headers}{'webhook-id'}, $id, 'webhook-id is the event\'s id');
like($r->{headers}{'webhook-timestamp'}, qr/^\d{10}$/, 'timestamp in Unix seconds');
ok(abs($r->{headers}{'webhook-timestamp'} - time()) < 60, 'timestamp is now');
like($r->{headers}{'webhook-signature'}, qr{^v1,[A-Za-z0-9+/]{43}=$}, 'one v1 signature');

# the signature is webhook.sign() over exactly the bytes sent
my $secret = $node->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')");
my $body_q = $r->{body};
$body_q =~ s/'/''/g;
is( $node->safe_psql('postgres',
		"SELECT webhook.sign('$secret', '$id', $r->{headers}{'webhook-timestamp'}, '$body_q')"),
	$r->{headers}{'webhook-signature'},
	'webhook.sign() reproduces the signature');

my $body = json_decode($r->{body});
is($body->{type}, 'orders.updated', 'event type');
like($body->{timestamp}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'event timestamp');
is_deeply(
	$body->{data},
	{
		op => 'UPDATE', schema => 'public', table => 'orders',
		new => { id => 1, customer => 'ada', status => 'paid', total => 42 },
		old => { id => 1, customer => 'ada', status => 'pending', total => 42 },
		changed => ['status'],
	},
	'the exact payload, without the excluded card');
like($r->{body}, qr/"total":42\.00/, 'numbers stay JSON numbers');

my $attempts = $node->safe_psql('postgres',
	"SELECT attempt, status, error IS NULL, duration > '0' FROM webhook.attempts");
is($attempts, '1|204|t|t', 'the attempt is recorded with its status and duration');

# key rotation: both signatures while the overlap lasts; the old secret
# alone still verifies
my $recv2 = WebhookTest::Receiver->new;
$recv2->secret($secret);
my $url2 = $recv2->url('/rot');
$node->safe_psql('postgres', qq{
	SELECT webhook.alter_endpoint('shop', url => '$url2');
	SELECT webhook.rotate_secret('shop', overlap => '1h');
	UPDATE orders SET status = 'shipped';
});
ok(wait_until(sub { @{ $recv2->requests('/rot') } >= 1 }), 'rotated: arrives');
$r = $recv2->requests('/rot')->[0];
like($r->{headers}{'webhook-signature'},
	qr{^v1,[A-Za-z0-9+/]{43}= v1,[A-Za-z0-9+/]{43}=$}, 'two signatures during the overlap');
ok($r->{verified}, 'a receiver that knows only the old secret still verifies');

# after the overlap, only the new secret signs
$node->safe_psql('postgres', q{
	UPDATE webhook.endpoint SET previous_secret_expires_at = now() - interval '1s';
	UPDATE orders SET status = 'delivered';
});
ok(wait_until(sub { @{ $recv2->requests('/rot') } >= 2 }), 'after overlap: arrives');
$r = $recv2->requests('/rot')->[1];
like($r->{headers}{'webhook-signature'}, qr{^v1,[A-Za-z0-9+/]{43}=$}, 'one signature after the overlap');
ok(!$r->{verified}, 'the old secret no longer verifies');
$recv2->secret($node->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')"));

# the worker: visible, survives SIGHUP, restarts after SIGTERM
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'");
like($pid, qr/^\d+$/, 'the worker shows in pg_stat_activity as "webhook worker"');
$node->append_conf('postgresql.conf', 'webhook.max_in_flight = 8');
$node->reload;
$node->safe_psql('postgres', "UPDATE orders SET status = 'returned'");
ok(wait_until(sub { @{ $recv2->requests('/rot') } >= 3 }), 'delivers after SIGHUP');
is($node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'"),
	$pid, 'same worker after SIGHUP');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok(wait_until(sub {
	my $p = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'");
	$p =~ /^\d+$/ && $p ne $pid }), 'a new worker starts after SIGTERM');
$node->safe_psql('postgres', "UPDATE orders SET status = 'refunded'");
ok(wait_until(sub { @{ $recv2->requests('/rot') } >= 4 }), 'and delivers');
ok($recv2->requests('/rot')->[3]{verified}, 'verified');

# a session holding an event's row lock does not stall the worker: while
# one event is in flight, a user locks its row; other events still go out,
# and the locked one is delivered once the lock is gone
$recv2->control('POST', 'reset');
$recv2->behaviour('/rot', { delay_ms => 2000, times => 1 });
$node->safe_psql('postgres', "UPDATE orders SET status = 'locked'");
ok(wait_until(sub {
	$node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '1' }),
	'lock: one event pending');
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN');
$locker->query_safe("SELECT id FROM webhook.event WHERE state = 'pending' FOR UPDATE");
# the locked event's answer comes back while its row is locked
ok(wait_until(sub { @{ $recv2->requests('/rot') } >= 1 }), 'lock: it was sent');
sleep 3;
$node->safe_psql('postgres', "UPDATE orders SET status = 'unlocked'");
ok(wait_until(sub {
	grep { json_decode($_->{body})->{data}{new}{status} eq 'unlocked' }
	  @{ $recv2->requests('/rot') } }, 15),
	'lock: the worker carries on while the row is locked');
$locker->query_safe('COMMIT');
$locker->quit;
ok(wait_until(sub {
	$node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '0' }, 30),
	'lock: the locked event is delivered once the lock is gone');
ok((grep { json_decode($_->{body})->{data}{new}{status} eq 'locked' }
	  @{ $recv2->requests('/rot') }), 'lock: the receiver has it');

$node->stop;
$recv->stop;
$recv2->stop;
done_testing();
