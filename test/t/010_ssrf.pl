# The SSRF guard: with nothing allowed, the worker refuses to connect to
# loopback, private, link-local (the cloud metadata address included),
# unspecified and IPv4-mapped addresses, and to a host name that resolves to
# 127.0.0.1, each as a failed attempt with a clear error that is retried and
# dead-lettered like any failure; webhook.allowed_networks opens loopback
# and webhook.denied_networks closes it again, on reload.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('ssrf', no_allow_loopback => 1);
my $port = $recv->port;

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# endpoint NAME for URL, with its own table; returns nothing
sub endpoint
{
	my ($name, $url, $sched) = @_;
	$sched //= '{1s}';
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url', timeout => '3s',
			retry_schedule => '$sched');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

my %blocked = (
	loopback  => [ "http://127.0.0.1:$port/lo", qr/refused to connect to 127\.0\.0\.1: a loopback address/ ],
	lo8       => [ "http://127.1.2.3:$port/lo", qr/refused to connect to 127\.1\.2\.3: a loopback address/ ],
	localhost => [ "http://localhost:$port/lo", qr/refused to connect to (127\.0\.0\.1|::1): a loopback address/ ],
	ten       => [ "http://10.1.2.3:9/", qr/refused to connect to 10\.1\.2\.3: a private address/ ],
	r172      => [ "http://172.31.0.1:9/", qr/refused to connect to 172\.31\.0\.1: a private address/ ],
	r192      => [ "http://192.168.0.1:9/", qr/refused to connect to 192\.168\.0\.1: a private address/ ],
	metadata  => [ "http://169.254.169.254/latest/meta-data/", qr/refused to connect to 169\.254\.169\.254: a link-local address/ ],
	zero      => [ "http://0.0.0.0:$port/lo", qr/refused to connect to 0\.0\.0\.0: an unspecified address/ ],
	v6lo      => [ "http://[::1]:$port/lo", qr/refused to connect to ::1: a loopback address/ ],
	v6unspec  => [ "http://[::]:$port/lo", qr/refused to connect to ::: an unspecified address/ ],
	v6ll      => [ "http://[fe80::1]:9/", qr/refused to connect to fe80::1: a link-local address/ ],
	v6ula     => [ "http://[fd12:3456::1]:9/", qr/refused to connect to fd12:3456::1: a private \(unique local\) address/ ],
	mapped    => [ "http://[::ffff:127.0.0.1]:$port/lo", qr/refused to connect to ::ffff:127\.0\.0\.1: a loopback address/ ],
	mapped_md => [ "http://[::ffff:a9fe:a9fe]/", qr/refused to connect to ::ffff:169\.254\.169\.254: a link-local address/ ],
);

for my $name (sort keys %blocked)
{
	endpoint($name, $blocked{$name}[0]);
	q1("INSERT INTO t_$name (v) VALUES ('x')");
}

# one retry each (schedule {1s}), then dead; every error names the address
ok(wait_until(sub {
	q1("SELECT count(*) FROM webhook.events WHERE state = 'dead'") == scalar(keys %blocked) }, 60),
	'every refused event is retried and dead-lettered');
for my $name (sort keys %blocked)
{
	my @errs = split /\n/, q1("SELECT coalesce(status::text, error) FROM webhook.attempts WHERE endpoint = '$name' ORDER BY attempt");
	is(scalar(@errs), 2, "$name: two attempts");
	like($errs[0], $blocked{$name}[1], "$name: refused with a clear error");
}
is($recv->stats->{count}, 0, 'the receiver saw no request at all');
my $dur = q1("SELECT max(extract(epoch FROM duration)) FROM webhook.attempts");
cmp_ok($dur, '<', 1, "a refusal is immediate (longest attempt ${dur}s)");

# allow loopback: the dead loopback events go through on retry
$node->append_conf('postgresql.conf', "webhook.allowed_networks = '127.0.0.0/8, ::1/128'\n");
$node->reload;
ok(wait_until(sub { q1("SHOW webhook.allowed_networks") eq '127.0.0.0/8, ::1/128' }),
	'reloaded');
q1("SELECT webhook.retry(id) FROM webhook.events WHERE endpoint IN ('loopback', 'localhost')");
ok(wait_until(sub {
	q1("SELECT count(*) FROM webhook.events WHERE endpoint IN ('loopback', 'localhost') AND state = 'delivered'") == 2 }),
	'allowed: loopback and localhost are delivered');
my $reqs = $recv->requests('/lo');
is(scalar(@$reqs), 2, 'the receiver got both');
ok(!grep({ !$_->{verified} } @$reqs), 'both signatures verify');

# still refused: classes not allowed, even next to allowed ones
q1("SELECT webhook.retry(id) FROM webhook.events WHERE endpoint = 'metadata'");
ok(wait_until(sub {
	q1("SELECT count(*) FROM webhook.attempts WHERE endpoint = 'metadata'") == 3 }),
	'metadata retried');
like(q1("SELECT error FROM webhook.attempts WHERE endpoint = 'metadata' ORDER BY attempt DESC LIMIT 1"),
	qr/169\.254\.169\.254: a link-local address/, 'the metadata address stays refused');

# denied wins over allowed
$node->append_conf('postgresql.conf', "webhook.denied_networks = '127.0.0.1/32'\n");
$node->reload;
ok(wait_until(sub { q1("SHOW webhook.denied_networks") eq '127.0.0.1/32' }), 'reloaded');
q1("INSERT INTO t_loopback (v) VALUES ('denied')");
ok(wait_until(sub {
	q1("SELECT count(*) FROM webhook.attempts WHERE endpoint = 'loopback' AND error LIKE '%webhook.denied_networks%'") >= 1 }),
	'a denied network is refused even though allowed');
# 127.1.2.3 is allowed and not denied: the receiver does not listen there,
# so the connection is tried (and fails as a refused connection, not by us)
q1("SELECT webhook.retry(id) FROM webhook.events WHERE endpoint = 'lo8'");
ok(wait_until(sub {
	q1("SELECT count(*) FROM webhook.attempts WHERE endpoint = 'lo8'") == 3 }), 'lo8 retried');
unlike(q1("SELECT error FROM webhook.attempts WHERE endpoint = 'lo8' ORDER BY attempt DESC LIMIT 1"),
	qr/refused to connect to/, 'an allowed address is connected to');

# a bad list in the file keeps the old one and says why
$node->append_conf('postgresql.conf', "webhook.allowed_networks = 'not-a-network'\n");
$node->reload;
ok(wait_until(sub { -s $node->logfile && slurp_file($node->logfile) =~ /invalid value for parameter "webhook.allowed_networks": "not-a-network"/ }),
	'a bad list is reported in the log');
is(q1("SHOW webhook.allowed_networks"), '127.0.0.0/8, ::1/128', 'and the old list stays');

# no secret ever reached the log
my $log = slurp_file($node->logfile);
my @secrets = split /\n/, q1("SELECT secret FROM webhook.endpoint");
ok(!grep({ index($log, $_) >= 0 } @secrets), 'no secret in the server log');

$node->stop;
$recv->stop;
done_testing();
