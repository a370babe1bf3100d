# Fixing an endpoint acts at once.  While the breaker holds a failing
# endpoint back (its next probe an hour away, the worker's idle poll an
# hour too), a new URL through alter_endpoint(), a new URL through an
# UPDATE of the endpoint table, and webhook.retry() of one event each get
# the waiting events delivered: nothing but the change itself can have sent
# them.  A disabled endpoint's events stay unsent when its URL changes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('act_at_once', conf => "webhook.idle_timeout = '1h'\n");

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# endpoint NAME at URL, with its own table t_NAME; one step of an hour, so
# that neither its events' own retries nor its probes come within the test
sub endpoint
{
	my ($name, $url) = @_;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '{1h}', timeout => '5s');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

sub fire
{
	my ($name, $n) = @_;
	q1("INSERT INTO t_$name (v) SELECT 'x' FROM generate_series(1, $n)");
}

# three events fail (the breaker then holds the endpoint back) and wait an
# hour for their retry; two more wait, unsent, for the next probe, an hour
# away
sub trip
{
	my ($name) = @_;
	fire($name, 3);
	ok( wait_until(sub {
				q1("SELECT state FROM webhook.endpoint_stats WHERE name = '$name'")
				  eq 'failing';
			}, 60),
		"$name: three failures make the endpoint failing");
	fire($name, 2);
	ok( wait_until(sub {
				q1(qq{SELECT count(*) FROM webhook.events
					  WHERE endpoint = '$name' AND state = 'pending'
					    AND (next_attempt_at > now() + interval '10 min'
							 OR attempts = 0)}) == 5;
			}, 60),
		"$name: all five events wait");
}

# the events of NAME that arrived verified at PATH, by webhook-id
sub arrived
{
	my ($path) = @_;
	my %ids;
	$ids{ $_->{headers}{'webhook-id'} } = 1
	  for grep { $_->{verified} } @{ $recv->requests($path) };
	return scalar keys %ids;
}

sub delivered
{
	my ($name) = @_;
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$name' AND state = 'delivered'");
}

# 1. alter_endpoint(url => ...) after a wrong URL (nothing listens there)
endpoint('moved', 'http://127.0.0.1:1/nothing-here');
trip('moved');
my $t0 = time;
q1("SELECT webhook.alter_endpoint('moved', url => '" . $recv->url('/moved') . "')");
ok(wait_until(sub { arrived('/moved') == 5 }, 30),
	'alter_endpoint: the five waiting events arrive at the new URL at once');
note(sprintf('alter_endpoint to the last arrival: %.3f s', time - $t0));
ok(wait_until(sub { delivered('moved') == 5 }, 30),
	'alter_endpoint: and are recorded as delivered');
is(q1("SELECT state FROM webhook.endpoint_stats WHERE name = 'moved'"),
	'healthy', 'alter_endpoint: the breaker was reset');

# 2. an UPDATE of the table does the same
endpoint('updated', 'http://127.0.0.1:1/nothing-here');
trip('updated');
q1("UPDATE webhook.endpoint SET url = '" . $recv->url('/updated')
	  . "' WHERE name = 'updated'");
ok( wait_until(sub { arrived('/updated') == 5 && delivered('updated') == 5 },
		30),
	'UPDATE of the URL: the five waiting events arrive at once');

# 3. retry(): the receiver works again, one event is retried by hand; it is
# the probe, and its success releases the events held back
$recv->behaviour('/retried', { status => 500 });
endpoint('retried', $recv->url('/retried'));
trip('retried');
$recv->reset_behaviour('/retried');
my $first = q1("SELECT min(id) FROM webhook.events WHERE endpoint = 'retried'");
my $first_id = q1("SELECT webhook_id FROM webhook.events WHERE id = $first");
$t0 = time;
q1("SELECT webhook.retry($first)");
ok( wait_until(sub {
			grep { $_->{verified} && $_->{answered} == 204
				  && $_->{headers}{'webhook-id'} eq $first_id }
			  @{ $recv->requests('/retried') };
		}, 30),
	'retry(): the retried event is sent at once although the endpoint was failing');
note(sprintf('retry() to its arrival: %.3f s', time - $t0));
# the two held back are released; the two other failed ones keep waiting for
# their own retry, as after any recovery
ok(wait_until(sub { delivered('retried') == 3 }, 30),
	'retry(): its success releases the events held back');
is( q1(qq{SELECT count(*) FROM webhook.events WHERE endpoint = 'retried'
		  AND state = 'pending' AND attempts = 1}),
	'2', 'retry(): events that failed themselves keep their own retry time');

# 4. a disabled endpoint's events stay unsent when its URL changes; a
# delivery to another endpoint shows the worker claimed after the change
endpoint('off', 'http://127.0.0.1:1/nothing-here');
q1("UPDATE webhook.endpoint SET enabled = false WHERE name = 'off'");
fire('off', 1);
q1("SELECT webhook.alter_endpoint('off', url => '" . $recv->url('/off') . "')");
fire('moved', 1);
ok(wait_until(sub { arrived('/moved') == 6 }, 30),
	'disabled: the worker claims after the change');
is( q1(qq{SELECT state || ' ' || attempts FROM webhook.events
		  WHERE endpoint = 'off'}),
	'pending 0', 'disabled: a new URL leaves its event unsent');
is(arrived('/off'), 0, 'disabled: nothing arrived at the new URL');
q1("SELECT webhook.enable_endpoint('off')");
ok(wait_until(sub { arrived('/off') == 1 }, 30),
	'disabled: enabling it sends the event to the new URL');

$node->stop;
done_testing();
