# A failing endpoint whose backlog has each been attempted once: once the
# receiver works again, a successful probe must release the whole backlog,
# whether or not the server restarted in between (the worker's memory of
# the breaker is then gone, only webhook.endpoint_health remains).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('breaker_restart');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $steps = '{' . join(',', ('1s') x 20) . '}';

sub scenario
{
	my ($name, $restart) = @_;
	my $path = "/$name";
	my $url = $recv->url($path);

	$recv->behaviour($path, { status => 503 });
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$steps');
		CREATE TABLE t_$name (id int PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
		INSERT INTO t_$name SELECT g, 'x' FROM generate_series(1, 20) g;
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));

	# every event attempted (and failed) once: the endpoint is failing
	ok(wait_until(sub {
		q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$name' AND attempts >= 1") eq '20' }, 40),
		"$name: every event attempted once");
	ok(q1("SELECT consecutive_failures >= 3 FROM webhook.endpoint_health h "
		  . "JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = '$name'") eq 't',
		"$name: the endpoint is failing");

	$node->stop if $restart;
	$recv->reset_behaviour($path);
	$node->start if $restart;

	ok(wait_until(sub {
		q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$name' AND state = 'pending'") eq '0' }, 20),
		"$name: the whole backlog is delivered once the receiver works")
	  or diag(q1("SELECT id, attempts, retry_from, next_attempt_at - now() FROM webhook.event ORDER BY id")
		  . "\n" . q1("SELECT * FROM webhook.endpoint_health"));
	my %ids = map { $_->{headers}{'webhook-id'} // '' => 1 }
	  grep { ($_->{answered} // "") =~ /^2/ } @{ $recv->requests($path) };
	my @want = split /\n/,
	  q1("SELECT webhook_id FROM webhook.events WHERE endpoint = '$name'");
	is(scalar(grep { $ids{$_} } @want), 20, "$name: each webhook-id arrived");
}

scenario('norestart', 0);
scenario('restart', 1);

$node->stop;
$recv->stop;
done_testing();
