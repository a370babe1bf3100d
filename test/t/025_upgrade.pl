# ALTER EXTENSION webhook UPDATE from 0.1.0: captures keep working on the
# old schema with the new library, and after the update pending events are
# delivered and the new functions work.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('upgrade');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $url = $recv->url('/up');
q1(qq{
	DROP EXTENSION webhook;
	CREATE EXTENSION webhook VERSION '0.1.0';
	SELECT webhook.create_endpoint('up', '$url');
	CREATE TABLE t (id int PRIMARY KEY, v text);
	SELECT webhook.subscribe('t', 'up');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('up')"));
is(q1("SELECT extversion FROM pg_extension WHERE extname = 'webhook'"), '0.1.0', 'at 0.1.0');
q1("INSERT INTO t VALUES (1, 'before')");
is(q1("SELECT count(*) FROM webhook.event"), '1', 'capture works on the 0.1.0 schema');

# the worker cannot claim on the old schema; it looks again when woken
q1("ALTER EXTENSION webhook UPDATE; SELECT webhook._wake();");
is(q1("SELECT extversion FROM pg_extension WHERE extname = 'webhook'"),
	q1("SELECT default_version FROM pg_available_extensions WHERE name = 'webhook'"),
	'updated to the current version');
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '1' }),
	'the event captured before the update is delivered');
q1("SELECT webhook.set_delivery_policy('up', ordering => 'key')");
# read in the capturing transaction: a delivered event's row is removed
is(q1("BEGIN; INSERT INTO t VALUES (2, 'after');
	SELECT ordering_key FROM webhook.event ORDER BY id DESC LIMIT 1; COMMIT"), '{"id":2}',
	'an event captured after it has its ordering key');
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '2' }),
	'and is delivered');
is(q1("SELECT state || ',' || pending FROM webhook.endpoint_stats WHERE name = 'up'"),
	'healthy,0', 'the stats view works');
q1("SELECT webhook.pause('up')");
is(q1("SELECT paused FROM webhook.endpoints WHERE name = 'up'"), 't', 'pause works');

$node->stop;
$recv->stop;
done_testing();
