# Input that once made the worker misbehave: proxy variables in the server's
# environment are never used (only webhook.proxy and an endpoint's own);
# every IPv6 form that carries an IPv4 address is judged by that address;
# an endpoint whose name is thousands of bytes long (stored before names
# were limited) that answers 410 is disabled once, its event sent once; a
# body over webhook.max_payload_size is never read into the worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;

# the server starts with proxy variables that lead nowhere (port 1)
local $ENV{http_proxy} = 'http://127.0.0.1:1';
local $ENV{HTTP_PROXY} = 'http://127.0.0.1:1';
local $ENV{https_proxy} = 'http://127.0.0.1:1';
local $ENV{all_proxy} = 'http://127.0.0.1:1';
local $ENV{ALL_PROXY} = 'http://127.0.0.1:1';
my $node = new_node('bad_input');
# ... which the test's own HTTP client must not use
delete $ENV{$_} for qw(http_proxy HTTP_PROXY https_proxy all_proxy ALL_PROXY);

sub q1 { return $node->safe_psql('postgres', $_[0]); }

sub endpoint
{
	my ($name, $url) = @_;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url', timeout => '3s',
			retry_schedule => '{1s}');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

# 1. no proxy from the environment: delivered straight to the receiver
endpoint('direct', $recv->url('/direct'));
q1("INSERT INTO t_direct (v) VALUES ('x')");
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE endpoint = 'direct'") eq 'delivered' }),
	'delivered directly, not through the environment\'s proxy')
  or diag q1("SELECT error FROM webhook.attempts WHERE endpoint = 'direct'");
is(scalar(@{ $recv->requests('/direct') }), 1, 'the receiver got the request');

# 2. IPv4 addresses inside IPv6 forms are judged as IPv4: the metadata
# address in each form is refused at once
my %forms = (
	compatible => '[::169.254.169.254]',
	translated => '[::ffff:0:a9fe:a9fe]',
	sixtofour  => '[2002:a9fe:a9fe::1]',
	teredo     => '[2001:0:4136:e378:8000:63bf:5601:5601]',
	nat64      => '[64:ff9b::a9fe:a9fe]',
);
for my $name (sort keys %forms)
{
	endpoint($name, "http://$forms{$name}/latest/meta-data/");
	q1("INSERT INTO t_$name (v) VALUES ('x')");
}
for my $name (sort keys %forms)
{
	ok(wait_until(sub { q1("SELECT count(*) FROM webhook.attempts WHERE endpoint = '$name'") >= 1 }),
		"$name: attempted");
	like(q1("SELECT error FROM webhook.attempts WHERE endpoint = '$name' ORDER BY attempt LIMIT 1"),
		qr/refused to connect to \S+: a link-local address, not in "webhook.allowed_networks"/,
		"$name: refused as the IPv4 address it carries");
}

# 3. a long name stored before the limit; its receiver answers 410
my $long = 'n' x 5000;
q1(qq{
	SELECT webhook.create_endpoint('gone', '} . $recv->url('/gone') . qq{',
		retry_schedule => '{1s,1s,1s}');
	UPDATE webhook.endpoint SET name = '$long' WHERE name = 'gone';
	CREATE TABLE t_gone (id serial PRIMARY KEY, v text);
	SELECT webhook.subscribe('t_gone', '$long', name => 'gone');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('$long')"));
$recv->behaviour('/gone', { status => 410 });
q1("INSERT INTO t_gone (v) VALUES ('x')");
ok(wait_until(sub { q1("SELECT NOT enabled FROM webhook.endpoint WHERE name = '$long'") eq 't' }),
	'the endpoint that answered 410 is disabled');
is(q1("SELECT disabled_reason FROM webhook.endpoint WHERE name = '$long'"),
	'the receiver answered 410 Gone', 'with its reason');
is(q1("SELECT count(*) FROM webhook.attempts a JOIN webhook.events e ON e.id = a.event_id WHERE e.endpoint = '$long'"),
	'1', 'one attempt, recorded once');
is(scalar(@{ $recv->requests('/gone') }), 1, 'the receiver saw one request');
is(q1("SELECT state FROM webhook.events WHERE endpoint = '$long'"), 'pending',
	'the event waits for the endpoint to be enabled');

# 4. an event written by hand with a body over webhook.max_payload_size
# (1MB) is refused unread, never sent, and dead after its schedule
endpoint('huge', $recv->url('/huge'));
q1(q{INSERT INTO webhook.event (endpoint_id, msg_id, created_at, next_attempt_at, payload)
	SELECT id, gen_random_uuid(), now(), now(),
		   json_build_object('data', repeat('x', 3000000))
	FROM webhook.endpoint WHERE name = 'huge';
	SELECT webhook._wake()});
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE endpoint = 'huge'") eq 'dead' }),
	'the oversized event is dead after its retry schedule');
like(q1("SELECT error FROM webhook.attempts WHERE endpoint = 'huge' ORDER BY attempt LIMIT 1"),
	qr/^event body of 30000\d\d bytes exceeds "webhook.max_payload_size" \(1048576 bytes\)$/,
	'with an error that says why');
is(scalar(@{ $recv->requests('/huge') }), 0, 'and nothing was sent');

# 5. a max_in_flight that a lowered webhook.max_in_flight now caps is not
# changed silently: the worker warns when it loads the endpoint
endpoint('wide', $recv->url('/wide'));
q1("SELECT webhook.alter_endpoint('wide', max_in_flight => 60)");
q1("ALTER SYSTEM SET webhook.max_in_flight = 10; SELECT pg_reload_conf()");
sleep 1;
q1("SELECT webhook.alter_endpoint('wide', timeout => '4s')");
q1("INSERT INTO t_wide (v) VALUES ('x')");
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE endpoint = 'wide'") eq 'delivered' }),
	'the capped endpoint still delivers');
like(slurp_file($node->logfile),
	qr/WARNING:  webhook endpoint \d+ allows 60 requests in flight, more than "webhook.max_in_flight" \(10\)/,
	'and the log says that it is capped');

done_testing();
