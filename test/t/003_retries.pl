# Failures and retries: 5xx, 429/503 with Retry-After, timeouts and refused
# connections are retried on schedule and then delivered; exhaustion
# dead-letters, replay and retry send again with the same webhook-id; 410
# disables the endpoint; an endpoint that cannot be used fails its own
# events without stopping the others; retention cleans up.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('retries');

# endpoint NAME with its own table t_NAME and receiver path /NAME
sub endpoint
{
	my ($name, %o) = @_;
	my $url = $o{url} // $recv->url("/$name");
	my $sched = $o{schedule} // '{1s,1s,1s}';
	my $timeout = $o{timeout} // '5s';
	$node->safe_psql('postgres', qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$sched', timeout => '$timeout');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret($node->safe_psql('postgres', "SELECT webhook.endpoint_secret('$name')"));
}

sub fire { $node->safe_psql('postgres', "INSERT INTO t_$_[0] (v) VALUES ('x')"); }

sub q1 { return $node->safe_psql('postgres', $_[0]); }

sub state_of
{
	return q1("SELECT string_agg(state::text, ',' ORDER BY id) FROM webhook.events WHERE endpoint = '$_[0]'");
}

# attempts of NAME's first event: [status or error, seconds since previous]
sub attempts_of
{
	my ($name) = @_;
	my @rows = split /\n/, q1(qq{
		SELECT coalesce(status::text, error), extract(epoch FROM started_at),
			   extract(epoch FROM duration)
		FROM webhook.attempts WHERE endpoint = '$name' ORDER BY event_id, attempt});
	my ($prev, @out);
	for (@rows)
	{
		my ($what, $at, $dur) = split /\|/;
		push @out, [ $what, defined $prev ? $at - $prev : 0, $dur ];
		$prev = $at;
	}
	return \@out;
}

my $worker_pid = q1("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'");

# -- 5xx twice, then success, on the schedule (1s, 2s with +-20% jitter)
endpoint('flaky', schedule => '{1s,2s,1s}');
$recv->behaviour('/flaky', { status => 500, times => 2 });
fire('flaky');
ok(wait_until(sub { state_of('flaky') eq 'delivered' }), '5xx: delivered in the end');
my $a = attempts_of('flaky');
is(join(',', map { $_->[0] } @$a), '500,500,204', '5xx: three attempts recorded');
ok($a->[1][1] >= 0.75 && $a->[1][1] < 1.8, "5xx: first retry after ~1s ($a->[1][1])");
ok($a->[2][1] >= 1.55 && $a->[2][1] < 3.0, "5xx: second retry after ~2s ($a->[2][1])");
my @ids = map { $_->{headers}{'webhook-id'} } @{ $recv->requests('/flaky') };
is(scalar(@ids), 3, '5xx: three requests arrived');
is(scalar(keys %{ { map { $_ => 1 } @ids } }), 1, '5xx: all with the same webhook-id');
ok((grep { $_->{verified} } @{ $recv->requests('/flaky') }) == 3, '5xx: each attempt signed');

# -- 429 with Retry-After seconds overrides a long schedule step
endpoint('busy', schedule => '{60s}');
$recv->behaviour('/busy', { status => 429, retry_after => '1', times => 1 });
fire('busy');
ok(wait_until(sub { state_of('busy') eq 'delivered' }, 20), '429: delivered');
$a = attempts_of('busy');
is(join(',', map { $_->[0] } @$a), '429,204', '429: two attempts');
ok($a->[1][1] >= 0.9 && $a->[1][1] < 5, "429: retried after Retry-After, not the schedule ($a->[1][1])");

# -- 503 with Retry-After as an HTTP date
endpoint('maint', schedule => '{60s}');
my @t = gmtime(int(time()) + 3);
my @day = qw(Sun Mon Tue Wed Thu Fri Sat);
my @mon = qw(Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec);
my $date = sprintf('%s, %02d %s %04d %02d:%02d:%02d GMT',
	$day[$t[6]], $t[3], $mon[$t[4]], $t[5] + 1900, $t[2], $t[1], $t[0]);
$recv->behaviour('/maint', { status => 503, retry_after => $date, times => 1 });
fire('maint');
ok(wait_until(sub { state_of('maint') eq 'delivered' }, 20), '503 with a date: delivered');
$a = attempts_of('maint');
ok($a->[1][1] >= 1 && $a->[1][1] < 6, "503: retried at the date ($a->[1][1])");

# -- a timeout is retried
endpoint('slow', schedule => '{1s}', timeout => '1s');
$recv->behaviour('/slow', { delay_ms => 3000, times => 1 });
fire('slow');
ok(wait_until(sub { state_of('slow') eq 'delivered' }), 'timeout: delivered in the end');
$a = attempts_of('slow');
like($a->[0][0], qr/timed out/i, 'timeout: the first attempt timed out');
ok($a->[0][2] >= 0.9 && $a->[0][2] < 2.5, "timeout: after about the endpoint's timeout ($a->[0][2])");

# -- a refused connection is retried, then the receiver is reachable
endpoint('down', url => 'http://127.0.0.1:1/down', schedule => '{1s,1s,1s,1s,1s,1s}');
fire('down');
ok(wait_until(sub { @{ attempts_of('down') } >= 2 }), 'refused: retried');
like(attempts_of('down')->[0][0], qr/connect/i, 'refused: the error says so');
my $down_url = $recv->url('/down');
q1("SELECT webhook.alter_endpoint('down', url => '$down_url')");
ok(wait_until(sub { state_of('down') eq 'delivered' }), 'refused: delivered once reachable');

# -- exhaustion dead-letters; replay and retry send again with the same id
endpoint('dead', schedule => '{1s,1s}');
$recv->behaviour('/dead', { status => 500 });
fire('dead');
ok(wait_until(sub { state_of('dead') eq 'dead' }), 'exhausted: the event is dead');
is(q1("SELECT attempts FROM webhook.events WHERE endpoint = 'dead'"), '3',
	'exhausted: 1 attempt + 2 retries');
$recv->reset_behaviour('/dead');
is(q1("SELECT webhook.replay('dead', since => now() - interval '1 hour')"), '1',
	'replay: one event');
ok(wait_until(sub { state_of('dead') eq 'delivered' }), 'replay: delivered');
my $reqs = $recv->requests('/dead');
is(scalar(@$reqs), 4, 'replay: a fourth request');
is($reqs->[3]{headers}{'webhook-id'}, $reqs->[0]{headers}{'webhook-id'},
	'replay: the same webhook-id');
ok($reqs->[3]{verified}, 'replay: verified');
# delivered, its row is gone: there is no payload left to send again
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT webhook.retry(id) FROM webhook.events WHERE endpoint = 'dead'",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/55000: payload of event \d+ is no longer kept/,
	'retry: a delivered event whose payload is gone is refused');
# with delivered payloads kept, it can be sent again
q1("ALTER SYSTEM SET webhook.payload_retention = '1h'");
q1("SELECT pg_reload_conf()");
$recv->behaviour('/dead', { status => 500 });
fire('dead');
ok(wait_until(sub { state_of('dead') eq 'delivered,dead' }), 'kept: a second event is dead');
$recv->reset_behaviour('/dead');
is(q1("SELECT webhook.replay('dead', since => now() - interval '1 hour')"), '1',
	'kept: replay sends the dead one');
ok(wait_until(sub { state_of('dead') eq 'delivered,delivered' }), 'kept: delivered, row kept');
is(q1("SELECT count(*) FROM webhook.event e JOIN webhook.endpoint p ON p.id = e.endpoint_id WHERE p.name = 'dead'"),
	'1', 'kept: the delivered row stays in the outbox');
$reqs = $recv->requests('/dead');
q1("SELECT webhook.retry(max(id)) FROM webhook.events WHERE endpoint = 'dead'");
ok(wait_until(sub { @{ $recv->requests('/dead') } == @$reqs + 1 }), 'retry: sent again');
is($recv->requests('/dead')->[-1]{headers}{'webhook-id'}, $reqs->[4]{headers}{'webhook-id'},
	'retry: the same webhook-id');
is(q1("SELECT max(attempt) FROM webhook.attempts WHERE endpoint = 'dead'"), '5',
	'every attempt is kept in the history');
q1("ALTER SYSTEM RESET webhook.payload_retention");
q1("SELECT pg_reload_conf()");

# -- 410 Gone disables the endpoint; its events wait; enabling drains them
endpoint('gone');
$recv->behaviour('/gone', { status => 410, times => 1 });
fire('gone');
ok(wait_until(sub { q1("SELECT enabled FROM webhook.endpoints WHERE name = 'gone'") eq 'f' }),
	'410: the endpoint is disabled');
like(q1("SELECT disabled_reason FROM webhook.endpoints WHERE name = 'gone'"), qr/410/,
	'410: with the reason');
fire('gone');
sleep 2;
is(scalar @{ $recv->requests('/gone') }, 1, '410: nothing more is sent while disabled');
is(state_of('gone'), 'pending,pending', '410: the events wait');
q1("SELECT webhook.enable_endpoint('gone')");
ok(wait_until(sub { state_of('gone') eq 'delivered,delivered' }), '410: enabling drains the backlog');

# -- an endpoint that cannot be used fails its own events, not the others
endpoint('broken');
endpoint('fine');
q1("UPDATE webhook.endpoint SET url = 'gopher://example.com/' WHERE name = 'broken'");
fire('broken');
fire('fine') for 1 .. 5;
ok(wait_until(sub { state_of('fine') eq join(',', ('delivered') x 5) }),
	'forced error: the other endpoint delivers');
ok(wait_until(sub { @{ attempts_of('broken') } >= 1 }), 'forced error: recorded on the event');
like(attempts_of('broken')->[0][0], qr/invalid endpoint URL/, 'forced error: with its message');
q1("UPDATE webhook.endpoint SET url = '" . $recv->url('/broken') . "', secret = 'whsec_broken' WHERE name = 'broken'");
fire('broken');
ok(wait_until(sub { grep { $_->[0] =~ /secret/ } @{ attempts_of('broken') } }),
	'forced error: a bad secret is recorded too');
is(q1("SELECT pid FROM pg_stat_activity WHERE backend_type = 'webhook worker'"),
	$worker_pid, 'forced error: the same worker carries on');
is(scalar @{ $recv->requests('/broken') }, 0, 'forced error: nothing sent unsigned');

# -- retention removes finished events and their attempts
q1("SELECT webhook.alter_endpoint('fine', url => 'http://127.0.0.1:1/never')");
fire('fine');
ok(wait_until(sub { @{ attempts_of('fine') } > 5 }), 'a pending event with attempts');
q1("ALTER SYSTEM SET webhook.retention = '1s'");
$node->reload;
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.events WHERE state = 'delivered'") eq '0' }),
	'retention: delivered events are removed');
ok(wait_until(sub { q1("SELECT count(*) FROM webhook.attempt a WHERE NOT EXISTS (SELECT FROM webhook.event e WHERE e.id = a.event_id)") eq '0' }),
	'retention: with their attempts, a segment at a time');
cmp_ok(q1("SELECT count(*) FROM webhook.attempt_segment WHERE since IS NOT NULL"), '>=', 1,
	'retention: a segment is being written');
is(q1("SELECT count(*) FROM webhook.events WHERE state = 'pending' AND endpoint = 'fine'"), '1',
	'retention: pending events stay');
cmp_ok(q1("SELECT attempts FROM webhook.events WHERE state = 'pending' AND endpoint = 'fine'"), '>', 5,
	'retention: the pending event still counts its attempts');

$node->stop;
$recv->stop;
done_testing();
