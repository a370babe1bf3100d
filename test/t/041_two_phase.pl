# Two-phase commit: COMMIT PREPARED of a transaction that captured events
# wakes the worker like a plain commit.  The worker's fallback timeout is an
# hour here, so only a wake-up can deliver the events within the test.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('two_phase', conf => qq{
max_prepared_transactions = 4
webhook.idle_timeout = '1h'
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $url = $recv->url('/tp');
q1(qq{
	SELECT webhook.create_endpoint('tp', '$url');
	CREATE TABLE orders (id int PRIMARY KEY, v text);
	SELECT webhook.subscribe('orders', 'tp');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('tp')"));

sub bodies
{
	return join(' ', sort map { json_decode($_->{body})->{data}{new}{v} }
		  @{ $recv->requests('/tp') });
}

# a plain commit first: the worker is up and has gone back to sleep
q1("INSERT INTO orders VALUES (1, 'plain')");
ok(wait_until(sub { bodies() eq 'plain' }, 60), 'a plain commit is delivered');

# prepared in one session, committed in another
q1(q{
	BEGIN;
	INSERT INTO orders VALUES (2, 'prepared');
	PREPARE TRANSACTION 'tp1';
});
is(q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'"), '1',
	'a prepared transaction has no visible event');
is(q1('SELECT count(*) FROM webhook.event'), '0',
	'the delivered event has left the outbox');
q1(q{
	BEGIN;
	INSERT INTO orders VALUES (3, 'rolled back');
	PREPARE TRANSACTION 'tp2';
});
q1("ROLLBACK PREPARED 'tp2'");
q1("COMMIT PREPARED 'tp1'");
ok(wait_until(sub { bodies() eq 'plain prepared' }, 60),
	'COMMIT PREPARED wakes the worker: delivered well before the idle timeout');
ok(wait_until(sub {
	q1(q{SELECT count(*) FROM webhook.events WHERE state = 'delivered'}) == 2 }, 60),
	'and recorded');
is(bodies(), 'plain prepared', 'the rolled back transaction sent nothing');

done_testing();
