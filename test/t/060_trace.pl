# Trace context end to end, with the real receiver: events captured by a
# transaction that set webhook.traceparent arrive with a traceparent header
# of the same trace id and flags and a span id of the attempt's own (never
# the transaction's); a retried event's attempts share the trace id, each
# with a span id of its own; an event of another transaction has no
# header; a change routed to two endpoints carries the trace to both; a
# batch carries it when all its events share the trace id, and carries none
# when it mixes traced and untraced events.  An endpoint's own fixed
# traceparent header gives way to the event's.  The transaction's
# webhook.tracestate goes along unchanged with the traceparent (a batch's
# when all its events share it), and an endpoint's fixed tracestate gives
# way too.  The headers are not part of the signature: every request still
# verifies.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('trace', conf => q{
webhook.payload_retention = '1h'
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $trace = '4bf92f3577b34da6a3ce929d0e0e4736';
my $parent = '00f067aa0ba902b7';
my $tp = "00-$trace-$parent-01";
my $ts = 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7';

for my $e (['plain', ''], ['fan_a', ", tenant => 'm'"],
	['fan_b', ", tenant => 'm', headers => '{\"traceparent\": \"00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbbbbbbbbbbbbbb-01\", \"tracestate\": \"fixed=1\"}'"], ['bat', ', batch_max_events => 10'])
{
	my ($name, $settings) = @$e;
	my $url = $recv->url("/$name");
	q1(qq{SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '{1s,1s}' $settings)});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}
q1(q{
	CREATE TABLE t_plain (id int PRIMARY KEY, v text);
	SELECT webhook.subscribe('t_plain', 'plain');
	CREATE TABLE t_fan (id int PRIMARY KEY, merchant text);
	SELECT webhook.subscribe('t_fan', tenant => 'merchant');
	CREATE TABLE t_bat (id int PRIMARY KEY, v text);
	SELECT webhook.subscribe('t_bat', 'bat');
});

sub delivered
{
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$_[0]' AND state = 'delivered'");
}

# the requests to a path, by the row id of their (first) event
sub by_row
{
	my ($path) = @_;
	my %r;
	for my $req (@{ $recv->requests($path) })
	{
		my $b = json_decode($req->{body});
		$b = $b->[0] if ref $b eq 'ARRAY';
		push @{ $r{ $b->{data}{new}{id} } }, $req;
	}
	return \%r;
}

# -- a traced transaction, a retried event, and an untraced transaction
$recv->behaviour('/plain', { status => 500, times => 1 });
q1(qq{
	BEGIN;
	SET LOCAL webhook.traceparent = '$tp';
	SET LOCAL webhook.tracestate = '$ts';
	INSERT INTO t_plain VALUES (1, 'traced');
	COMMIT;
});
ok(wait_until(sub { delivered('plain') == 1 }, 60),
	'the traced event is delivered after a failed attempt');
q1("INSERT INTO t_plain VALUES (2, 'untraced')");
ok(wait_until(sub { delivered('plain') == 2 }, 60), 'the untraced event is delivered');

my $plain = by_row('/plain');
my @attempts = @{ $plain->{1} // [] };
is(scalar @attempts, 2, 'the traced event took two attempts');
is(join(',', map { $_->{answered} } @attempts), '500,204', 'a failure, then a success');
my @tps = map { $_->{headers}{traceparent} // '' } @attempts;
like($tps[0], qr/^00-$trace-[0-9a-f]{16}-01$/,
	'the first attempt carries the transaction\'s trace id and flags');
like($tps[1], qr/^00-$trace-[0-9a-f]{16}-01$/, 'so does the retry');
my @spans = map { (split /-/)[2] // '' } @tps;
ok($spans[0] ne $parent && $spans[1] ne $parent,
	'neither attempt reuses the transaction\'s own span id');
isnt($spans[0], $spans[1], 'each attempt is a span of its own');
isnt($spans[0], '0000000000000000', 'the span id is not all zeros');
is(join(' | ', map { $_->{headers}{tracestate} // 'none' } @attempts), "$ts | $ts",
	'both attempts carry the transaction\'s tracestate unchanged');
ok(!(grep { !$_->{verified} } @attempts), 'both attempts verify: the header is not signed');
is(scalar @{ $plain->{2} // [] }, 1, 'the untraced event took one attempt');
ok(!exists $plain->{2}[0]{headers}{traceparent},
	'an event of a transaction without the setting has no traceparent');
ok(!exists $plain->{2}[0]{headers}{tracestate}, 'nor a tracestate');
is(q1("SELECT traceparent FROM webhook.event WHERE payload->'data'->'new'->>'id' = '1'"),
	$tp, 'the outbox kept the transaction\'s traceparent as it was set');

# -- a change routed to two endpoints carries the trace to both
q1(qq{
	BEGIN;
	SET LOCAL webhook.traceparent = '00-$trace-$parent-00';
	INSERT INTO t_fan VALUES (1, 'm');
	COMMIT;
});
ok(wait_until(sub { delivered('fan_a') == 1 && delivered('fan_b') == 1 }, 60),
	'the routed change reached both endpoints');
my @fan = map { @{ by_row($_)->{1} // [] } } ('/fan_a', '/fan_b');
is(scalar @fan, 2, 'one request each');
ok(!(grep { ($_->{headers}{traceparent} // '') !~ /^00-$trace-[0-9a-f]{16}-00$/ } @fan),
	'both carry the trace id and the unsampled flags, one endpoint\'s fixed traceparent header replaced');
isnt((split /-/, $fan[0]{headers}{traceparent})[2],
	(split /-/, $fan[1]{headers}{traceparent})[2], 'each with a span of its own');
ok(!(grep { exists $_->{headers}{tracestate} } @fan),
	'a trace without a tracestate sends none, the endpoint\'s fixed one dropped with its fixed traceparent');

# -- batches: traced together, or mixed with an untraced event (the
# endpoint is paused so that each group goes in one request)
q1("SELECT webhook.pause('bat')");
q1(qq{
	BEGIN;
	SET LOCAL webhook.traceparent = '$tp';
	SET LOCAL webhook.tracestate = '$ts';
	INSERT INTO t_bat SELECT g, 'traced' FROM generate_series(1, 3) g;
	COMMIT;
});
q1("SELECT webhook.resume('bat')");
ok(wait_until(sub { delivered('bat') == 3 }, 60), 'the traced batch is delivered');
q1("SELECT webhook.pause('bat')");
q1(qq{
	BEGIN;
	SET LOCAL webhook.traceparent = '$tp';
	INSERT INTO t_bat VALUES (4, 'traced');
	COMMIT;
	INSERT INTO t_bat VALUES (5, 'untraced');
});
q1("SELECT webhook.resume('bat')");
ok(wait_until(sub { delivered('bat') == 5 }, 60), 'the mixed batch is delivered');
my $bat = by_row('/bat');
is(scalar @{ $bat->{1} // [] }, 1, 'the three traced events went in one request');
is(scalar @{ $bat->{1}[0]{batch_members} // [] }, 3, 'of three members');
like($bat->{1}[0]{headers}{traceparent} // '', qr/^00-$trace-[0-9a-f]{16}-01$/,
	'a batch of one trace carries it');
is($bat->{1}[0]{headers}{tracestate} // 'none', $ts, 'and its tracestate');
is(scalar @{ $bat->{4} // [] }, 1, 'the traced and the untraced event went in one request');
is(scalar @{ $bat->{4}[0]{batch_members} // [] }, 2, 'of two members');
ok(!exists $bat->{4}[0]{headers}{traceparent},
	'a batch that mixes traced and untraced events carries no trace');
ok(!exists $bat->{4}[0]{headers}{tracestate}, 'nor a tracestate');

$node->stop;
done_testing();
