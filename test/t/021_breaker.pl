# Endpoint health: a failing endpoint is probed at the retry schedule's
# pace instead of being sent its backlog; past its threshold (or window) it
# is disabled once, with a WARNING and a NOTIFY, its events kept;
# re-enabling drains them.  Receivers' webhook-delivery headers disable an
# endpoint or dead-letter one message; pause and resume.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('breaker');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $steps = '{' . join(',', ('1s') x 40) . '}';

# endpoint NAME with its own table t_NAME and receiver path /NAME
sub endpoint
{
	my ($name, %o) = @_;
	my $url = $recv->url("/$name");
	my $sched = $o{schedule} // $steps;
	my $mif = $o{max_in_flight} // 2;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$sched', timeout => '5s',
			max_in_flight => $mif);
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

sub fire
{
	my ($name, $n) = @_;
	$n //= 1;
	q1("INSERT INTO t_$name (v) SELECT 'x' FROM generate_series(1, $n)");
}

sub nreq { return scalar @{ $recv->requests("/$_[0]") }; }

sub count_state
{
	my ($name, $state) = @_;
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$name' AND state = '$state'");
}

# a session listening on webhook_endpoint; notifications() returns the
# payloads received so far
my ($lin, $lout, $lerr) = ('', '', '');
my $listener = IPC::Run::start(
	[ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$lin, '>', \$lout, '2>', \$lerr);
$lin .= "LISTEN webhook_endpoint;\n";
$listener->pump_nb;

sub notifications
{
	$lin .= "SELECT 1;\n";
	$listener->pump_nb;
	return [ $lout =~ /Asynchronous notification "webhook_endpoint" with payload "(.*?)" received/g ];
}

sub notified
{
	my ($name, $state) = @_;
	return wait_until(sub {
		grep {
			my $p = json_decode($_);
			$p->{endpoint} eq $name && $p->{state} eq $state
		} @{ notifications() };
	}, 20);
}

# -- a failing endpoint gets probes, not its backlog
endpoint('probe');
$recv->behaviour('/probe', { status => 500 });
fire('probe', 30);
ok(wait_until(sub { nreq('probe') >= 2 }), 'failing: the first requests fail');
my $t0 = time();
my $n0 = nreq('probe');
sleep 4;
my $n1 = nreq('probe');
my $elapsed = time() - $t0;
cmp_ok($n0, '<=', 6, "failing: little more than the first claim's worth before it knew ($n0)");
cmp_ok($n1 - $n0, '<=', int($elapsed / 0.8) + 1,
	"failing: about one probe a second over ${elapsed}s (" . ($n1 - $n0) . ')');
cmp_ok($n1 - $n0, '>=', 2, 'failing: but it is probed');
is(count_state('probe', 'pending'), '30', 'failing: every event is kept pending');
my %ids = map { $_->{headers}{'webhook-id'} => 1 } @{ $recv->requests('/probe') };
ok(wait_until(sub { q1("SELECT consecutive_failures FROM webhook.endpoint_health h JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = 'probe'")
		== nreq('probe') }), 'failing: every failure is counted');
like(q1("SELECT last_error FROM webhook.endpoint_health h JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = 'probe'"),
	qr/500/, 'failing: with the last error');

# -- past the threshold: disabled once, with a reason, a WARNING and a NOTIFY
q1("SELECT webhook.set_delivery_policy('probe', failure_threshold => 8)");
ok(wait_until(sub { q1("SELECT enabled FROM webhook.endpoints WHERE name = 'probe'") eq 'f' }),
	'threshold: the endpoint is disabled');
like(q1("SELECT disabled_reason FROM webhook.endpoints WHERE name = 'probe'"),
	qr/^\d+ consecutive attempts failed$/, 'threshold: with the reason');
is(q1("SELECT disabled_at IS NOT NULL FROM webhook.endpoints WHERE name = 'probe'"), 't',
	'threshold: and the time');
ok(notified('probe', 'disabled'), 'threshold: NOTIFY webhook_endpoint says so');
my $n2 = nreq('probe');
sleep 2;
is(nreq('probe'), $n2, 'disabled: nothing more is sent');
is(count_state('probe', 'pending'), '30', 'disabled: every event is still pending');
my $log = slurp_file($node->logfile);
my @warnings = $log =~ /WARNING:  webhook endpoint "probe" disabled/g;
is(scalar @warnings, 1, 'disabled: one WARNING');

# -- re-enabling drains the backlog
$recv->reset_behaviour('/probe');
q1("SELECT webhook.enable_endpoint('probe')");
ok(notified('probe', 'enabled'), 'enable: NOTIFY webhook_endpoint says so');
ok(wait_until(sub { count_state('probe', 'delivered') eq '30' }), 'enable: the backlog is delivered');
is(q1("SELECT consecutive_failures FROM webhook.endpoint_health h JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = 'probe'"),
	'0', 'enable: the breaker is reset');

# -- a failure window
endpoint('window');
q1("SELECT webhook.set_delivery_policy('window', failure_window => '2s')");
$recv->behaviour('/window', { status => 503 });
fire('window', 5);
ok(wait_until(sub { q1("SELECT enabled FROM webhook.endpoints WHERE name = 'window'") eq 'f' }, 20),
	'window: disabled after failing for its window');
like(q1("SELECT disabled_reason FROM webhook.endpoints WHERE name = 'window'"),
	qr/every attempt failed for 00:00:02/, 'window: with the reason');
cmp_ok(nreq('window'), '<=', 8, 'window: probed, not flooded (' . nreq('window') . ')');
is(count_state('window', 'pending'), '5', 'window: events kept');

# -- an endpoint that recovers by itself gets its held-back events at once
endpoint('recover');
$recv->behaviour('/recover', { status => 500, times => 3 });
fire('recover', 20);
ok(wait_until(sub { count_state('recover', 'delivered') eq '20' }), 'recover: everything delivered');
cmp_ok(nreq('recover'), '<=', 24, 'recover: few requests wasted (' . nreq('recover') . ')');
is(q1("SELECT consecutive_failures || ',' || (last_success_at IS NOT NULL) FROM webhook.endpoint_health h JOIN webhook.endpoint e ON e.id = h.endpoint_id WHERE e.name = 'recover'"),
	'0,true', 'recover: healthy again');

# -- webhook-delivery: abort dead-letters that message only
endpoint('abort');
$recv->behaviour('/abort', { status => 500, headers => { 'webhook-delivery' => 'abort' }, times => 1 });
fire('abort');
ok(wait_until(sub { count_state('abort', 'dead') eq '1' }), 'abort: the message is dead');
is(q1("SELECT attempts FROM webhook.events WHERE endpoint = 'abort'"), '1', 'abort: after one attempt');
fire('abort');
ok(wait_until(sub { count_state('abort', 'delivered') eq '1' }), 'abort: the next one is delivered');
is(q1("SELECT enabled FROM webhook.endpoints WHERE name = 'abort'"), 't', 'abort: the endpoint stays enabled');

# -- webhook-delivery: disable disables the endpoint, the message waits
endpoint('disable');
$recv->behaviour('/disable', { status => 400, headers => { 'Webhook-Delivery' => 'Disable' }, times => 1 });
fire('disable');
ok(wait_until(sub { q1("SELECT enabled FROM webhook.endpoints WHERE name = 'disable'") eq 'f' }),
	'disable: the receiver disabled its endpoint');
like(q1("SELECT disabled_reason FROM webhook.endpoints WHERE name = 'disable'"),
	qr/webhook-delivery: disable/, 'disable: with the reason');
ok(notified('disable', 'disabled'), 'disable: NOTIFY');
is(count_state('disable', 'pending'), '1', 'disable: the message is kept');
q1("SELECT webhook.enable_endpoint('disable')");
ok(wait_until(sub { count_state('disable', 'delivered') eq '1' }), 'disable: delivered once enabled');

# -- pause and resume
q1("SELECT webhook.pause('recover')");
ok(notified('recover', 'paused'), 'pause: NOTIFY');
is(q1("SELECT enabled::text || ',' || disabled_reason FROM webhook.endpoints WHERE name = 'recover'"),
	'false,paused by webhook.pause()', 'pause: shown on the endpoint');
my $n3 = nreq('recover');
fire('recover', 3);
sleep 1.5;
is(nreq('recover'), $n3, 'pause: nothing is sent');
q1("SELECT webhook.resume('recover')");
ok(notified('recover', 'enabled'), 'resume: NOTIFY');
ok(wait_until(sub { count_state('recover', 'delivered') eq '23' }), 'resume: the events that waited go out');

# -- send_test goes through the normal path: signed, recorded
my $tid = q1("SELECT webhook.send_test('recover')");
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE id = $tid") eq 'delivered' }),
	'send_test: delivered');
my ($test_req) = grep { $_->{body} =~ /"webhook\.test"/ } @{ $recv->requests('/recover') };
ok($test_req && $test_req->{verified}, 'send_test: a verified webhook.test request arrived');

# -- discard stops a pending event for good
q1("SELECT webhook.pause('recover')");
fire('recover');
my $did = q1("SELECT max(id) FROM webhook.events WHERE endpoint = 'recover'");
q1("SELECT webhook.discard($did)");
q1("SELECT webhook.resume('recover')");
my $sid = q1("SELECT webhook.send_test('recover')");
ok(wait_until(sub { q1("SELECT state FROM webhook.events WHERE id = $sid") eq 'delivered' }),
	'discard: a later event is delivered');
is(q1("SELECT state || ',' || attempts FROM webhook.events WHERE id = $did"), 'dead,0',
	'discard: the discarded one never went out');

$lin .= "\\q\n";
$listener->finish;
$node->stop;
$recv->stop;
done_testing();
