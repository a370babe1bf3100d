# The receiving side: webhook.verify() and webhook.receive() against
# requests signed by another implementation (the standardwebhooks library,
# test/receiver/sign_sw.js) and by this extension's own worker (a delivered
# request's headers and body, as the receiver got them): replays, stale and
# future timestamps, tampered bodies, rotated secrets, v1a with the public
# key.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('receive');

sub sql_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# A request the standardwebhooks library signs, one signature per secret.
sub lib_request
{
	my ($id, $ts, $body, @secrets) = @_;
	my ($out, $err);
	IPC::Run::run([ 'node', 'test/receiver/sign_sw.js', $id, $ts, $body, @secrets ],
		'<', \undef, '>', \$out, '2>', \$err)
	  or die "sign_sw.js failed: $err";
	return WebhookTest::json_decode($out);
}

# The SQL call of fn ('verify' or 'receive') on a request
sub call
{
	my ($fn, $key, $req) = @_;
	return "SELECT webhook.$fn(" . sql_lit($key) . ', '
	  . sql_lit(WebhookTest::json_encode($req->{headers})) . '::jsonb, '
	  . sql_lit($req->{body}) . ')';
}

# [result, stderr] of a call
sub run_call
{
	my ($fn, $key, $req) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', call($fn, $key, $req),
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return ($out, $err);
}

my $secret = $node->safe_psql('postgres', "SELECT webhook.generate_secret()");
my $other = $node->safe_psql('postgres', "SELECT webhook.generate_secret()");
my $now = time();

# the library's request verifies, header names as it sends them
my $req = lib_request('msg_lib1', $now, '{"type":"payment.succeeded","order":7}', $secret);
like($req->{headers}{'Webhook-Signature'}, qr/^v1,/, 'the library signed it');
is($node->safe_psql('postgres', call('verify', $secret, $req)), 't',
	'verify() accepts a request the standardwebhooks library signed');

# receive(): new, then a replay
is($node->safe_psql('postgres', call('receive', $secret, $req)), 't',
	'receive() records it as new');
is($node->safe_psql('postgres', call('receive', $secret, $req)), 'f',
	'the same request again is a replay');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.inbox WHERE webhook_id = 'msg_lib1'"),
	'1', 'one inbox row');

# a stale and a future timestamp, each signed properly
my ($out, $err) = run_call('verify', $secret,
	lib_request('msg_lib2', $now - 600, '{}', $secret));
like($err, qr/28000.*webhook timestamp is too old/s, 'a stale request is refused (28000)');
($out, $err) = run_call('receive', $secret,
	lib_request('msg_lib3', $now + 600, '{}', $secret));
like($err, qr/28000.*webhook timestamp is too far in the future/s,
	'a request from the future is refused');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.inbox WHERE webhook_id IN ('msg_lib2', 'msg_lib3')"),
	'0', 'refused requests leave no inbox row');
# a wider tolerance lets the stale one through
is($node->safe_psql('postgres',
		call('verify', $secret, lib_request('msg_lib2', $now - 600, '{}', $secret))
		  =~ s/\)$/, tolerance => '1 hour')/r),
	't', 'unless the tolerance is wider');

# a tampered body
my $t = lib_request('msg_lib4', $now, '{"amount":100}', $secret);
$t->{body} = '{"amount":1000}';
($out, $err) = run_call('receive', $secret, $t);
like($err, qr/28000.*webhook signature does not match/s, 'a tampered body is refused');

# rotated secrets: two signatures, one valid for each side
my $rot = lib_request('msg_lib5', $now, '{"r":1}', $other, $secret);
like($rot->{headers}{'Webhook-Signature'}, qr/^v1,\S+ v1,\S+$/, 'two signatures');
is($node->safe_psql('postgres', call('verify', $secret, $rot)), 't',
	'the old secret verifies a rotating sender\'s request');
is($node->safe_psql('postgres', call('verify', $other, $rot)), 't',
	'so does the new');
my $third = $node->safe_psql('postgres', "SELECT webhook.generate_secret()");
($out, $err) = run_call('verify', $third, $rot);
like($err, qr/carries 2 signatures, none of which verifies/,
	'a key that signed neither is refused');

# requests this extension's worker delivered, passed to receive() as the
# application gets them from its framework
my $url1 = $recv->url('/v1');
my $url2 = $recv->url('/v1a');
$node->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('v1', '$url1');
	SELECT webhook.create_endpoint('v1a', '$url2', signature => 'v1a');
	SELECT webhook.send_test('v1');
	SELECT webhook.send_test('v1a');
});
ok(wait_until(sub { @{ $recv->requests('/v1') } >= 1 && @{ $recv->requests('/v1a') } >= 1 }),
	'both deliveries arrive');
my $sec1 = $node->safe_psql('postgres', "SELECT webhook.endpoint_secret('v1')");
my $sk2 = $node->safe_psql('postgres', "SELECT webhook.endpoint_secret('v1a')");
my $pk2 = $node->safe_psql('postgres', "SELECT webhook.public_key('v1a')");
my $d1 = $recv->requests('/v1')->[0];
my $d2 = $recv->requests('/v1a')->[0];
ok(exists $d1->{headers}{host}, 'the headers are all the request\'s, others included');
is($node->safe_psql('postgres', call('receive', $sec1, $d1)), 't',
	'a v1 delivery is received with the endpoint\'s secret');
is($node->safe_psql('postgres', call('receive', $sec1, $d1)), 'f',
	'and its replay is not new');
is($node->safe_psql('postgres', call('verify', $pk2, $d2)), 't',
	'a v1a delivery verifies with the whpk_ public key');
is($node->safe_psql('postgres', call('verify', $sk2, $d2)), 't',
	'and with the whsk_ secret key');
is($node->safe_psql('postgres', call('receive', $pk2, $d2)), 't',
	'it is received once');
is($node->safe_psql('postgres', call('receive', $pk2, $d2)), 'f', 'only once');
($out, $err) = run_call('verify', $sec1, $d2);
like($err, qr/carries no signature of the scheme the key checks/,
	'a v1 secret cannot verify a v1a delivery');
my %tampered = (%$d2, body => $d2->{body} . ' ');
($out, $err) = run_call('verify', $pk2, \%tampered);
like($err, qr/webhook signature does not match/, 'a tampered v1a delivery is refused');

# a rotated endpoint's delivery: verified under the old and the new key
$node->safe_psql('postgres', qq{
	SELECT webhook.rotate_secret('v1', signature => 'v1a', overlap => '1h');
	SELECT webhook.send_test('v1');
});
ok(wait_until(sub { @{ $recv->requests('/v1') } >= 2 }), 'the rotated delivery arrives');
my $d3 = $recv->requests('/v1')->[1];
my $pk3 = $node->safe_psql('postgres', "SELECT webhook.public_key('v1')");
is($node->safe_psql('postgres', call('verify', $sec1, $d3)), 't',
	'during the overlap the old v1 secret verifies');
is($node->safe_psql('postgres', call('verify', $pk3, $d3)), 't',
	'and the new v1a public key');

# who may receive: webhook_receiver without any privilege on the inbox
$node->safe_psql('postgres', 'CREATE ROLE shop LOGIN IN ROLE webhook_receiver');
my $late = lib_request('msg_lib6', time(), '{"x":1}', $secret);
($out, $err) = ('', '');
$node->psql('postgres', call('receive', $secret, $late), stdout => \$out,
	stderr => \$err, connstr => $node->connstr('postgres') . ' user=shop');
is($out, 't', 'a webhook_receiver member receives') or diag $err;
$node->psql('postgres', 'SELECT count(*) FROM webhook.inbox', stdout => \$out,
	stderr => \$err, connstr => $node->connstr('postgres') . ' user=shop');
like($err, qr/permission denied for table inbox/, 'but cannot read the inbox');

# the worker's clean-up removes ids older than webhook.retention
$node->safe_psql('postgres', qq{
	INSERT INTO webhook.inbox VALUES ('msg_ancient', now() - interval '30 days');
	ALTER SYSTEM SET webhook.retention = '7d';
	SELECT pg_reload_conf();
	SELECT webhook.send_test('v1');
});
ok(wait_until(sub {
	$node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.inbox WHERE webhook_id = 'msg_ancient'") eq '0' }),
	'an id older than the retention is removed');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.inbox WHERE webhook_id = 'msg_lib1'"),
	'1', 'a recent one is kept');

$node->stop;
done_testing();
