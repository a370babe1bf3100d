# Committed events survive an immediate-mode crash (kill -9 of the
# postmaster) and restart; an uncommitted transaction's events do not.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $node = new_node('crash');

# the endpoint is disabled so the worker leaves the events alone
$node->safe_psql('postgres', q{
	SELECT webhook.create_endpoint('shop', 'http://127.0.0.1:9/hook');
	UPDATE webhook.endpoint SET enabled = false;
	CREATE TABLE orders (id int PRIMARY KEY, status text);
	SELECT webhook.subscribe('orders', 'shop');
});

# 2000 events in 200 committed transactions
for my $i (0 .. 199)
{
	my $lo = $i * 10 + 1;
	my $hi = $lo + 9;
	$node->safe_psql('postgres',
		"INSERT INTO orders SELECT g, 'new' FROM generate_series($lo, $hi) g");
}

# one more transaction in progress when the server dies
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe("INSERT INTO orders SELECT g, 'new' FROM generate_series(5001, 5100) g");

is($node->safe_psql('postgres', 'SELECT count(*) FROM webhook.event'),
	'2000', 'committed events are in the outbox before the crash');

$node->kill9;
eval { $open->quit; };
start_after_kill9($node);

is($node->safe_psql('postgres', 'SELECT count(*) FROM webhook.event'),
	'2000', 'every committed event survives the crash');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.event WHERE (payload::jsonb -> 'data' -> 'new' ->> 'id')::int > 5000"),
	'0', 'the uncommitted transaction left nothing');
is( $node->safe_psql('postgres',
		"SELECT count(DISTINCT msg_id) FROM webhook.event"),
	'2000', 'each event kept its own webhook-id');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM orders o JOIN webhook.event e ON (e.payload::jsonb -> 'data' -> 'new' ->> 'id')::int = o.id"),
	'2000', 'each committed row has its event');

$node->stop;

# without shared_preload_libraries the extension says what to do
my $plain = PostgreSQL::Test::Cluster->new('plain');
$plain->init;
$plain->start;
my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION webhook');
isnt($ret, 0, 'CREATE EXTENSION fails without preloading');
like($err, qr/webhook must be loaded via "shared_preload_libraries"/, 'with a clear error');
like($err, qr/HINT:  Add "webhook" to "shared_preload_libraries" with ALTER SYSTEM SET shared_preload_libraries = 'webhook'/,
	'and a hint that gives the command');
$plain->stop;
done_testing();
