# Dump and restore: pg_dump of a database (as a superuser) restored into a
# new cluster keeps the endpoints with their secrets and settings and the
# subscription triggers, so an insert there is delivered, signed with the
# same secret.  The outbox is not dumped: the copy does not send the old
# events again, delivered or pending.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $src = new_node('source');
my $url = $recv->url('/orders');
my $down = $recv->url('/down');
$recv->behaviour('/down', { status => 500 });
$src->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('shop', '$url',
		headers => '{"X-Tenant": "acme"}', timeout => '7s',
		retry_schedule => '{1s,2s}', max_in_flight => 3);
	SELECT webhook.create_endpoint('later', '$down', retry_schedule => '{1h}');
	SELECT webhook.rotate_secret('shop');
	CREATE TABLE orders (id int PRIMARY KEY, status text, card text);
	SELECT webhook.subscribe('orders', 'shop', exclude => '{card}',
							 event_type => 'order.changed');
	CREATE TABLE audit (id int);
	SELECT webhook.subscribe('audit', 'later', events => '{insert}');
	INSERT INTO orders SELECT g, 'new', '4242' FROM generate_series(1, 10) g;
	INSERT INTO audit VALUES (1);
});
$recv->secret($src->safe_psql('postgres', "SELECT webhook.endpoint_secret('shop')"));
ok(wait_until(sub {
	$src->safe_psql('postgres', "SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '10' }),
	'source: ten events delivered');
ok(wait_until(sub {
	$src->safe_psql('postgres', "SELECT attempts FROM webhook.events WHERE endpoint = 'later'") eq '1' }),
	'source: one event pending after a failed attempt');
my $old_ids = $src->safe_psql('postgres', 'SELECT string_agg(webhook_id, \',\') FROM webhook.events');

my $dump = PostgreSQL::Test::Utils::tempdir() . '/db.dump';
command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $src->connstr('postgres') ],
	'pg_dump of the database');

my $dst = new_node('copy');
$dst->safe_psql('postgres', 'CREATE DATABASE shop');
command_ok([ 'pg_restore', '--exit-on-error', '-d', $dst->connstr('shop'), $dump ],
	'pg_restore into a new database of a new cluster');

my $endpoints = q{SELECT string_agg(concat_ws(' ', name, url, secret, previous_secret,
	previous_secret_expires_at, headers, timeout, retry_schedule, max_in_flight, enabled), E'\n'
	ORDER BY name) FROM webhook.endpoint};
is($dst->safe_psql('shop', $endpoints), $src->safe_psql('postgres', $endpoints),
	'endpoints are restored with their secrets (both, while rotating) and settings');
my $subs = q{SELECT string_agg(concat_ws(' ', table_name, trigger_name, endpoint, options, definition), E'\n'
	ORDER BY trigger_name) FROM webhook.subscriptions};
is($dst->safe_psql('shop', $subs), $src->safe_psql('postgres', $subs),
	'subscription triggers are restored');
is($dst->safe_psql('shop', 'SELECT count(*) FROM webhook.event'), '0',
	'the outbox is not restored: no delivered or pending event is in the copy');
is($dst->safe_psql('shop', 'SELECT count(*) FROM webhook.attempt'), '0',
	'nor is the attempt history');

$dst->safe_psql('shop', "UPDATE orders SET status = 'paid' WHERE id = 1");
ok(wait_until(sub { @{ $recv->requests('/orders') } >= 11 }, 30), 'an update in the copy is delivered');
my $reqs = $recv->requests('/orders');
my $last = $reqs->[-1];
ok($last->{verified}, 'signed with the restored secret');
like($last->{body}, qr/"type":"order\.changed".*"status":"paid"/, 'with the subscription\'s options');
unlike($last->{body}, qr/4242/, 'excluded column left out');
is($last->{headers}{'x-tenant'}, 'acme', 'and the endpoint\'s headers');
like($last->{headers}{'webhook-signature'}, qr/^v1,\S+ v1,\S+$/, 'both secrets sign while rotating');
is($dst->safe_psql('shop', q{SELECT count(*) FROM webhook.events WHERE state = 'delivered'}), '1',
	'the copy\'s outbox holds only its own event');
my %old = map { $_ => 1 } split /,/, $old_ids;
my $resent = grep { $old{ $_->{headers}{'webhook-id'} } } @$reqs;
is($resent, 10, 'no old event was sent again by the copy');
is(scalar @{ $recv->requests('/down') }, 1, 'the pending event stays with the source');

# the restored copy can be dropped like any other
my ($ret, $out, $err) = $dst->psql('shop', 'DROP EXTENSION webhook');
is($ret, 0, 'DROP EXTENSION in the copy, triggers and all') or diag $err;

$src->stop;
$dst->stop;
$recv->stop;
done_testing();
