# webhook.explain_event() over real deliveries: a delivered event's story
# (captured, a failed attempt, a successful one, delivered), a dead one
# after its schedule, one held back by the circuit breaker, one by an
# endpoint its receiver disabled; by webhook-id too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('explain');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# endpoint NAME with its own table t_NAME and receiver path /NAME
sub endpoint
{
	my ($name, $sched) = @_;
	my $url = $recv->url("/$name");
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$sched', timeout => '5s');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name', name => 'sub_$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

# insert a row into t_NAME; the id of the event it captured
sub fire
{
	my ($name) = @_;
	return q1(qq{
		INSERT INTO t_$name (v) VALUES ('x');
		SELECT max(e.id) FROM webhook.event e
		JOIN webhook.endpoint p ON p.id = e.endpoint_id WHERE p.name = '$name'});
}

# the story of an event: [ [step, detail], ... ] in the order told
sub story
{
	my ($id) = @_;
	my $arg = $id =~ /^\d+$/ ? $id : "'$id'";
	return [ map { [ split /\|/, $_, 2 ] }
		  split /\n/, q1("SELECT step, detail FROM webhook.explain_event($arg)") ];
}

sub steps { return join ',', map { $_->[0] } @{ $_[0] }; }

sub event_state
{
	return q1("SELECT state FROM webhook.events WHERE id = $_[0]");
}

# delivered at the second attempt
endpoint('story', '{1s}');
$recv->behaviour('/story', { status => 500, body => 'try later', times => 1 });
my $id = fire('story');
ok(wait_until(sub { event_state($id) eq 'delivered' }), 'story: delivered');
my $s = story($id);
is(steps($s), 'captured,attempt,attempt,delivered',
	'story: captured, two attempts, delivered');
like($s->[0][1],
	qr/^Captured for endpoint "story" \(http:.*\/story\), with webhook-id msg_[0-9a-f]{32}\. Its outbox row is gone/,
	'story: captured, told from the history once its row is gone');
like($s->[1][1],
	qr/^Attempt 1 failed in \d+ ms: the receiver answered HTTP 500 with "try later"\.$/,
	'story: the failed attempt, with the response');
like($s->[2][1], qr/^Attempt 2 succeeded in \d+ ms: the receiver answered HTTP 20\d\. The event was delivered\.$/,
	'story: the successful attempt');
like($s->[3][1], qr/^Delivered by attempt 2, then removed from the outbox/,
	'story: delivered, its row gone');
my $wid = q1("SELECT webhook_id FROM webhook.attempts WHERE event_id = $id LIMIT 1");
is(steps(story($wid)), steps($s), 'story: the same by webhook-id');

# dead after its schedule: three attempts
endpoint('dead', '{1s,1s}');
$recv->behaviour('/dead', { status => 500 });
$id = fire('dead');
ok(wait_until(sub { event_state($id) eq 'dead' }), 'dead: dead');
$s = story($id);
is(steps($s), 'captured,attempt,attempt,attempt,dead', 'dead: three attempts, then dead');
like($s->[3][1], qr/It was the last attempt: the event became dead\.$/,
	'dead: the last attempt finished it');
like($s->[4][1],
	qr/^Dead since .*, after 3 attempts: its retry schedule \(3 attempts: 1\.0 s, 1\.0 s\) ran out\. .*webhook\.retry\($id\) sends it again/,
	'dead: why, and how to replay it');
$recv->reset_behaviour('/dead');

# three failures in a row put an endpoint down: a new event waits for a
# probe, due an hour later
endpoint('down', '{1h}');
$recv->behaviour('/down', { status => 503 });
q1("INSERT INTO t_down (v) SELECT 'x' FROM generate_series(1, 3)");
ok(wait_until(sub {
	q1(qq{SELECT h.next_probe_at IS NOT NULL FROM webhook.endpoint_health h
		  JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = 'down'}) eq 't' }),
	'down: the breaker holds the endpoint');
$id = fire('down');
$s = story($id);
is(steps($s), 'captured,held', 'down: held, never attempted');
like($s->[1][1],
	qr/^Pending, held back by the circuit breaker: endpoint "down" has failed 3 attempts in a row since .* \(last: HTTP status 503\), .* the next probe is at .*, in 60 min\. .*webhook\.retry\($id\) makes this event the probe/,
	'down: the breaker, its failures and its next probe');
unlike($s->[1][1], qr/no webhook worker/, 'down: a worker serves this database');
is(scalar @{ $recv->requests('/down') }, 3, 'down: only the three failures were sent');

# a receiver that answers 410 Gone disables its endpoint; the event waits
endpoint('gone', '{1s}');
$recv->behaviour('/gone', { status => 410 });
$id = fire('gone');
ok(wait_until(sub {
	q1("SELECT NOT enabled FROM webhook.endpoint WHERE name = 'gone'") eq 't' }),
	'gone: disabled by its receiver');
$s = story($id);
is(steps($s), 'captured,attempt,held', 'gone: one attempt, then held');
like($s->[0][1],
	qr/^Captured from an INSERT on table public\.t_gone by subscription "sub_gone" \(to endpoint "gone"\), as event type "t_gone\.inserted", for endpoint "gone" \(http:.*\/gone\), with webhook-id msg_[0-9a-f]{32}\.$/,
	'gone: how it was captured');
like($s->[1][1], qr/^Attempt 1 failed in \d+ ms: the receiver answered HTTP 410\.$/,
	'gone: the 410');
like($s->[2][1],
	qr/^Pending, held back: endpoint "gone" is disabled since .* \(.+\)\. Its events wait until webhook\.enable_endpoint\('gone'\); this one goes then\.$/,
	'gone: disabled, why, and how to go on');

# enabled again, it is delivered; the story ends with the delivery
$recv->reset_behaviour('/gone');
q1("SELECT webhook.enable_endpoint('gone')");
ok(wait_until(sub { event_state($id) eq 'delivered' }), 'gone: delivered once enabled');
is(steps(story($id)), 'captured,attempt,attempt,delivered', 'gone: the whole story');

done_testing();
