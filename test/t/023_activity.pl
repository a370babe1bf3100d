# The worker in pg_stat_activity: a short state and a wait event while
# requests are in flight, idle otherwise; and none of its own queries in
# pg_stat_statements.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('activity',
	conf => "shared_preload_libraries = 'webhook,pg_stat_statements'\n");

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $url = $recv->url('/slow');
q1(qq{
	CREATE EXTENSION pg_stat_statements;
	SELECT webhook.create_endpoint('slow', '$url');
	CREATE TABLE t (id serial PRIMARY KEY, v text);
	SELECT webhook.subscribe('t', 'slow');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('slow')"));

my $worker = "FROM pg_stat_activity WHERE backend_type = 'webhook worker'";
ok(wait_until(sub { q1("SELECT state $worker") eq 'idle' }), 'idle when there is nothing to send');

$recv->behaviour('/slow', { delay_ms => 3000, times => 2 });
q1("INSERT INTO t (v) VALUES ('a'), ('b')");
ok(wait_until(sub { q1("SELECT state || '|' || query $worker") eq 'active|waiting for 2 requests in flight, 0 queued' }),
	'active while requests are in flight, saying so');
like(q1("SELECT wait_event_type || '|' || wait_event $worker"),
	qr/^Extension\|(Extension|WebhookHttp)$/, 'with a wait event');
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '2' }),
	'delivered');
ok(wait_until(sub { q1("SELECT state $worker") eq 'idle' }), 'idle again');

q1("INSERT INTO t (v) SELECT 'x' FROM generate_series(1, 50)");
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '52' }),
	'more delivered');
is(q1("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%SKIP LOCKED%' OR query LIKE '%INSERT INTO webhook.attempt%'"),
	'0', "the worker's queries are not in pg_stat_statements");
cmp_ok(q1("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%generate_series%'"),
	'>=', 1, "users' queries still are");

$node->stop;
$recv->stop;
done_testing();
