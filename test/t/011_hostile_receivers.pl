# Receivers that misbehave on purpose: one that trickles a byte a second, one
# that returns 50 MB (announced, or chunked so the size is unknown), one
# that sends 100 kB of headers.  Each attempt ends within its bounds with a
# clear error, keeps at most webhook.max_response_size bytes, and a healthy
# endpoint is delivered meanwhile without waiting for them.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('hostile_receivers');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

sub endpoint
{
	my ($name, $timeout) = @_;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '${\ $recv->url("/$name")}',
			timeout => '$timeout', retry_schedule => '{30s}');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

$recv->behaviour('/trickle', { trickle => JSON::PP::true, trickle_interval_ms => 1000 });
$recv->behaviour('/huge', { huge_mb => 50 });
$recv->behaviour('/chunked', { huge_mb => 50, chunked => JSON::PP::true });
$recv->behaviour('/headers', { headers => { 'X-Big' => 'h' x 100_000 } });
$recv->behaviour('/slow_headers', { delay_ms => 60_000 });

endpoint('trickle', '2s');
endpoint('huge', '20s');
endpoint('chunked', '20s');
endpoint('headers', '20s');
endpoint('slow_headers', '2s');
endpoint('fine', '5s');

my $worker_pid = q1("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'");

q1("INSERT INTO t_$_ (v) VALUES ('x')") for qw(trickle slow_headers huge chunked headers);
my $t0 = time();
q1("INSERT INTO t_fine (v) VALUES ('x')");
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE endpoint = 'fine'") eq 'delivered' }, 30),
	'a healthy endpoint is delivered');
my $fine_s = time() - $t0;
cmp_ok($fine_s, '<', 1.9, sprintf('... without waiting for the hostile ones (%.2fs)', $fine_s));

ok(wait_until(sub {
	q1("SELECT count(DISTINCT endpoint) FROM webhook.attempts WHERE endpoint <> 'fine'") == 5 }, 60),
	'every hostile endpoint has an attempt');

# endpoint => [error pattern, longest seconds, state]: a 2xx status line
# counts as delivered even when the rest of the response is cut off; with no
# status the event waits for its retry
my %expect = (
	trickle      => [ qr/timed out/i, 3.0, 'delivered' ],
	slow_headers => [ qr/timed out/i, 3.0, 'pending' ],
	huge         => [ qr/^response body too large, transfer cut short$/, 3.0, 'delivered' ],
	chunked      => [ qr/^response body too large, transfer cut short$/, 5.0, 'delivered' ],
	headers      => [ qr/response headers exceeded 65536 bytes/, 3.0, 'delivered' ],
);
for my $name (sort keys %expect)
{
	my ($err, $dur, $resp) = split /\|/, q1(qq{
		SELECT error, extract(epoch FROM duration), coalesce(length(response), 0)
		FROM webhook.attempts WHERE endpoint = '$name' ORDER BY attempt LIMIT 1});
	like($err, $expect{$name}[0], "$name: clear error ($err)");
	cmp_ok($dur, '<=', $expect{$name}[1], "$name: ended within bounds (${dur}s)");
	cmp_ok($resp, '<=', 1024, "$name: kept at most webhook.max_response_size bytes ($resp)");
	is(q1("SELECT state FROM webhook.events WHERE endpoint = '$name'"), $expect{$name}[2],
		"$name: the event is $expect{$name}[2]");
}
# the trickle really ran until the timeout, not less
my $tdur = q1("SELECT extract(epoch FROM duration) FROM webhook.attempts WHERE endpoint = 'trickle'");
cmp_ok($tdur, '>=', 1.9, "trickle: cut at its 2s timeout (${tdur}s)");

is(q1("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'"), $worker_pid,
	'the worker never restarted');
q1("INSERT INTO t_fine (v) VALUES ('again')");
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE endpoint = 'fine' AND state = 'delivered'") == 2 }, 10),
	'and keeps delivering');
my $vmrss = `grep VmRSS /proc/$worker_pid/status`;
$vmrss =~ /(\d+)/;
cmp_ok($1, '<', 200_000, "worker memory stays small (VmRSS ${1} kB)");

$node->stop;
$recv->stop;
done_testing();
