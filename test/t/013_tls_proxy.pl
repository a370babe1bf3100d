# TLS and proxy options: a receiver that demands a client certificate is
# reached with the endpoint's CA bundle and client certificate (mutual TLS);
# without the CA bundle, or without the certificate, the attempt fails;
# tls_insecure skips verification, loudly; requests go through an endpoint's
# proxy, or through webhook.proxy.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $dir = tempdir(CLEANUP => 1);

# a CA, a server certificate for 127.0.0.1 and a client certificate
sub ossl
{
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'openssl', @_ ], '>', \$o, '2>', \$e) or die "openssl @_: $e";
}
ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=test-ca',
	'-keyout', "$dir/ca.key", '-out', "$dir/ca.pem");
for my $who (qw(server client))
{
	ossl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', "/CN=$who-cn",
		'-keyout', "$dir/$who.key", '-out', "$dir/$who.csr");
	open my $fh, '>', "$dir/$who.ext" or die;
	print $fh ($who eq 'server' ? "subjectAltName=IP:127.0.0.1\n" : "extendedKeyUsage=clientAuth\n");
	close $fh;
	ossl('x509', '-req', '-in', "$dir/$who.csr", '-CA', "$dir/ca.pem", '-CAkey', "$dir/ca.key",
		'-CAcreateserial', '-days', '2', '-extfile', "$dir/$who.ext", '-out', "$dir/$who.pem");
}
# a private key in PKCS#8 ("BEGIN PRIVATE KEY"), as openssl writes it
my %pem = map { $_ => slurp_file("$dir/$_") } qw(ca.pem client.pem client.key);

my ($out, $err) = ('', '');
my $h = IPC::Run::start([ 'node', 'test/receiver/tlsproxy.js', '--dir', $dir ],
	'<', \undef, '>', \$out, '2>', \$err);
ok(wait_until(sub { $h->pump_nb; $out =~ /\n/ }, 20), 'TLS receiver and proxy started') or diag $err;
my $ports = WebhookTest::json_decode($out);

# statements carry the key; the point is that webhook itself never logs it
my $node = new_node('tls_proxy', conf => "log_statement = none\n");
sub q1 { return $node->safe_psql('postgres', $_[0]); }
sub lit { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

sub endpoint
{
	my ($name, $url, %o) = @_;
	my $opts = join '', map { ", $_ => $o{$_}" } sort keys %o;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url', timeout => '5s',
			retry_schedule => '{60s}'$opts);
		CREATE TABLE t_$name (id serial PRIMARY KEY);
		SELECT webhook.subscribe('t_$name', '$name');
		INSERT INTO t_$name DEFAULT VALUES;
	});
}

my $tls = "https://127.0.0.1:$ports->{tls}";
endpoint('mtls', "$tls/mtls", ca_bundle => lit($pem{'ca.pem'}),
	client_cert => lit($pem{'client.pem'}), client_key => lit($pem{'client.key'}));
endpoint('no_ca', "$tls/no_ca", client_cert => lit($pem{'client.pem'}),
	client_key => lit($pem{'client.key'}));
endpoint('no_cert', "$tls/no_cert", ca_bundle => lit($pem{'ca.pem'}));
endpoint('insecure', "$tls/insecure", tls_insecure => 'true',
	client_cert => lit($pem{'client.pem'}), client_key => lit($pem{'client.key'}));

ok(wait_until(sub { q1("SELECT count(DISTINCT endpoint) FROM webhook.attempts") == 4 }, 30),
	'every TLS endpoint was tried');
sub result { return q1("SELECT coalesce(status::text, error) FROM webhook.attempts WHERE endpoint = '$_[0]' ORDER BY attempt LIMIT 1"); }
is(result('mtls'), '204', 'CA bundle and client certificate: delivered');
like(result('no_ca'), qr/certificate/i, 'without the CA bundle the server is not trusted: ' . result('no_ca'));
unlike(result('no_cert'), qr/^2/, 'without a client certificate the server refuses: ' . result('no_cert'));
is(result('insecure'), '204', 'tls_insecure: delivered without verification');
like(slurp_file($node->logfile), qr/WARNING:  TLS verification is off for webhook endpoint \d+/,
	'... and the worker says so in its log');
my @log = map { WebhookTest::json_decode($_) } split /\n/, slurp_file("$dir/log");
is(join(',', map { $_->{cn} // 'none' } grep { $_->{via} eq 'tls' } @log), 'client-cn,client-cn',
	'the receiver saw the client certificate on both deliveries');
my $keybody = (split /\n/, $pem{'client.key'})[1];
ok(index(slurp_file($node->logfile), $keybody) < 0, 'no key in the server log');

# proxies: the endpoint's own, then webhook.proxy for the others
my $recv = WebhookTest::Receiver->new;
my $proxy = "http://127.0.0.1:$ports->{proxy}";
endpoint('proxied', $recv->url('/proxied'), proxy => lit($proxy));
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE endpoint = 'proxied'") eq 'delivered' }),
	'delivered through the endpoint\'s proxy');
$node->append_conf('postgresql.conf', "webhook.proxy = '$proxy'\n");
$node->reload;
ok(wait_until(sub { q1("SHOW webhook.proxy") eq $proxy }), 'webhook.proxy set');
endpoint('default_proxy', $recv->url('/default_proxy'));
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE endpoint = 'default_proxy'") eq 'delivered' }),
	'delivered through webhook.proxy');
@log = map { WebhookTest::json_decode($_) } split /\n/, slurp_file("$dir/log");
is(join(',', map { $_->{url} =~ m{/(\w+)$} ? $1 : '?' } grep { $_->{via} eq 'proxy' } @log),
	'proxied,default_proxy', 'the proxy forwarded both');
is(scalar(@{ $recv->requests }), 2, 'and the receiver got both');

$node->stop;
$recv->stop;
$h->signal('TERM');
$h->finish;
done_testing();
