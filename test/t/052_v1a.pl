# v1a (Ed25519) deliveries, verified by the test receiver with Node's own
# crypto.verify: a v1a endpoint's requests verify under its public key and
# carry the signature webhook.sign() computes; rotations (v1a to a new v1a
# key, v1 to v1a) send both signatures during the overlap, each verifying
# under its own key; a body changed in flight does not verify.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('v1a');

my $url_a = $recv->url('/a');
my $url_b = $recv->url('/b');
$node->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('a', '$url_a', signature => 'v1a');
	SELECT webhook.create_endpoint('b', '$url_b');
});
my $sk_a = $node->safe_psql('postgres', "SELECT webhook.endpoint_secret('a')");
my $pk_a = $node->safe_psql('postgres', "SELECT webhook.public_key('a')");
like($sk_a, qr{^whsk_[A-Za-z0-9+/]{86}==$}, 'a v1a endpoint has a whsk_ secret key');
like($pk_a, qr{^whpk_[A-Za-z0-9+/]{43}=$}, 'and a whpk_ public key');
$recv->public_key($pk_a);

# Wait for the next request to a path, after the ones seen so far.
sub next_request
{
	my ($path, $seen) = @_;
	my $r;
	ok(wait_until(sub {
		my $reqs = $recv->requests($path);
		$r = $reqs->[$seen] if @$reqs > $seen;
		return defined $r; }), "request " . ($seen + 1) . " to $path arrives");
	return $r;
}

sub sql_lit
{
	my ($s) = @_;
	$s =~ s/'/''/g;
	return "'$s'";
}

# a v1a delivery
$node->safe_psql('postgres', "SELECT webhook.send_test('a')");
my $r = next_request('/a', 0);
like($r->{headers}{'webhook-signature'}, qr{^v1a,[A-Za-z0-9+/]{86}==$},
	'one v1a signature');
ok($r->{verified}, 'Node\'s crypto.verify accepts it') or diag explain $r;
is($r->{matched_scheme}, 'v1a', 'as v1a');
is($r->{matched_public_key}, $pk_a, 'under the endpoint\'s public key');
my ($id, $ts) = @{ $r->{headers} }{qw(webhook-id webhook-timestamp)};
is( $node->safe_psql('postgres',
		"SELECT webhook.sign('$sk_a', '$id', $ts, " . sql_lit($r->{body}) . ")"),
	$r->{headers}{'webhook-signature'},
	'the signature is what webhook.sign() computes (Ed25519 is deterministic)');

# tampering: a changed body, id or timestamp does not verify
my %h = %{ $r->{headers} };
my $v = $recv->verify_copy(\%h, $r->{body});
ok($v->{verified}, 'the unchanged copy verifies') or diag explain $v;
(my $changed = $r->{body}) =~ s/webhook\.test/webhook.tset/;
isnt($changed, $r->{body}, 'the copy is changed');
$v = $recv->verify_copy(\%h, $changed);
ok(!$v->{verified}, 'a body changed in flight does not verify');
like($v->{error}, qr/No matching signature found/, 'no matching signature');
$v = $recv->verify_copy({ %h, 'webhook-id' => 'msg_other' }, $r->{body});
ok(!$v->{verified}, 'nor another id');
$v = $recv->verify_copy({ %h, 'webhook-timestamp' => $ts + 1 }, $r->{body});
ok(!$v->{verified}, 'nor another timestamp');

# one signature of a header, alone
sub only
{
	my ($req, $i) = @_;
	my @sigs = split / /, $req->{headers}{'webhook-signature'};
	return $recv->verify_copy(
		{ %{ $req->{headers} }, 'webhook-signature' => $sigs[$i] }, $req->{body});
}

# a v1a endpoint rotated to a new v1a key: both signatures, new one first
$node->safe_psql('postgres',
	"SELECT webhook.rotate_secret('a', signature => 'v1a', overlap => '1h')");
my $pk_a2 = $node->safe_psql('postgres', "SELECT webhook.public_key('a')");
isnt($pk_a2, $pk_a, 'rotation made a new key pair');
$recv->public_key($pk_a2);
$node->safe_psql('postgres', "SELECT webhook.send_test('a')");
$r = next_request('/a', 1);
like($r->{headers}{'webhook-signature'},
	qr{^v1a,[A-Za-z0-9+/]{86}== v1a,[A-Za-z0-9+/]{86}==$},
	'two v1a signatures during the overlap');
ok($r->{verified}, 'the request verifies') or diag explain $r;
$v = only($r, 0);
is($v->{matched_public_key}, $pk_a2, 'the first verifies under the new key')
  or diag explain $v;
$v = only($r, 1);
is($v->{matched_public_key}, $pk_a, 'the second under the old key')
  or diag explain $v;

# after the overlap, the new signature alone
$node->safe_psql('postgres',
	"SELECT webhook.rotate_secret('a', signature => 'v1a', overlap => '0')");
my $pk_a3 = $node->safe_psql('postgres', "SELECT webhook.public_key('a')");
$recv->public_key($pk_a3);
$node->safe_psql('postgres', "SELECT webhook.send_test('a')");
$r = next_request('/a', 2);
like($r->{headers}{'webhook-signature'}, qr{^v1a,[A-Za-z0-9+/]{86}==$},
	'one signature once the overlap is over');
is($r->{matched_public_key}, $pk_a3, 'under the newest key');

# a v1 endpoint rotated to v1a: a v1a and a v1 signature
my $sec_b = $node->safe_psql('postgres', "SELECT webhook.endpoint_secret('b')");
like($sec_b, qr/^whsec_/, 'b starts on v1');
$recv->secret($sec_b);
$node->safe_psql('postgres', "SELECT webhook.send_test('b')");
$r = next_request('/b', 0);
like($r->{headers}{'webhook-signature'}, qr{^v1,[A-Za-z0-9+/]{43}=$}, 'v1 before');
is($r->{matched_secret}, $sec_b, 'verified under its secret');
$node->safe_psql('postgres',
	"SELECT webhook.rotate_secret('b', signature => 'v1a', overlap => '1h')");
my $pk_b = $node->safe_psql('postgres', "SELECT webhook.public_key('b')");
$recv->public_key($pk_b);
$node->safe_psql('postgres', "SELECT webhook.send_test('b')");
$r = next_request('/b', 1);
like($r->{headers}{'webhook-signature'},
	qr{^v1a,[A-Za-z0-9+/]{86}== v1,[A-Za-z0-9+/]{43}=$},
	'a v1a and a v1 signature during the overlap');
$v = only($r, 0);
ok($v->{verified} && $v->{matched_scheme} eq 'v1a'
	  && $v->{matched_public_key} eq $pk_b,
	'the v1a one verifies under the new public key') or diag explain $v;
$v = only($r, 1);
ok($v->{verified} && $v->{matched_scheme} eq 'v1'
	  && $v->{matched_secret} eq $sec_b,
	'the v1 one under the old secret') or diag explain $v;

# every request verified; the worker logged no signing failure
my $st = $recv->stats;
is($st->{unverified}, 0, 'no request failed verification') or diag explain $st;
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.events WHERE state <> 'delivered'"),
	'0', 'every event delivered');
ok(!$node->log_contains('could not sign event'), 'no signing failure logged');

$node->stop;
done_testing();
