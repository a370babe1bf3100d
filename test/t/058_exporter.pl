# webhook's metrics as operators see them: Debian's prometheus-postgres-
# exporter, run with monitoring/postgres_exporter.yml against a test node
# that delivers to a receiver (two endpoints answering 200, one answering
# 500, one whose receiver is down), exports figures that match what the
# receiver saw and what the history says; then Debian's Prometheus scrapes
# that exporter while more traffic fails and succeeds, and every query of
# every panel of monitoring/dashboard.json answers with series whose values
# make sense (a success ratio between 0 and 1 and 0 for the failing
# endpoints, latency quantiles above 0, ...).
use strict;
use warnings;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use WebhookTest;

# the binaries Debian's prometheus and prometheus-postgres-exporter install
my %bin;
for my $name ('prometheus', 'prometheus-postgres-exporter')
{
	for my $dir (split /:/, $ENV{PATH})
	{
		$bin{$name} = "$dir/$name", last if -x "$dir/$name";
	}
}
my @absent = grep { !$bin{$_} } 'prometheus', 'prometheus-postgres-exporter';
if (@absent)
{
	# CI installs them (test/deps.sh): there this test must run
	if (($ENV{CI} // '') eq 'true')
	{
		fail("@absent installed (test/deps.sh installs them)");
		done_testing();
		exit;
	}
	plan skip_all => "@absent not installed (bash test/deps.sh installs them)";
}

my $dir = tempdir(CLEANUP => 1);
my $http = HTTP::Tiny->new(timeout => 10);
my $recv = WebhookTest::Receiver->new;
my $node = new_node('exporter');

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# a port nothing listens on: the "down" endpoint's receiver
my $down_port = PostgreSQL::Test::Cluster::get_free_port();

# endpoint NAME at URL, with its own table t_NAME; failing endpoints give
# up after one retry, so their events become dead letters quickly
sub endpoint
{
	my ($name, $url) = @_;
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '{1s}', timeout => '5s');
		CREATE TABLE t_$name (id serial PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}
endpoint('ok1', $recv->url('/ok1'));
endpoint('ok2', $recv->url('/ok2'));
endpoint('fail', $recv->url('/fail'));
endpoint('down', "http://127.0.0.1:$down_port/down");
$recv->behaviour('/fail', { status => 500 });

my %sent = (ok1 => 0, ok2 => 0, fail => 0, down => 0);

# insert N rows into each endpoint's table, one transaction per row
sub traffic
{
	my (%n) = @_;
	for my $name (sort keys %n)
	{
		q1("INSERT INTO t_$name (v) VALUES ('x')") for 1 .. $n{$name};
		$sent{$name} += $n{$name};
	}
}

# every event finished: delivered or dead
sub settled
{
	return wait_until(sub {
		q1("SELECT count(*) FROM webhook.events WHERE state = 'pending'") eq '0';
	}, 120);
}

# ------------------------------------------------------------ the exporter

# version-proof options: every collector that the exporter's version has
# is turned off (0.11 has two, 0.17 and later a dozen), so a scrape runs
# only the query file
my ($help_out, $help_err) = ('', '');
IPC::Run::run([ $bin{'prometheus-postgres-exporter'}, '--help' ],
	'<', \undef, '>', \$help_out, '2>', \$help_err);
my %collectors = map { $_ => 1 } ("$help_out$help_err" =~ /--\[no-\]collector\.(\w+)\s/g,
	"$help_out$help_err" =~ /--collector\.(\w+)\s/g);
my @no_collectors = map { "--no-collector.$_" } sort keys %collectors;

# the exporter connects as README's "Observing it" says: a role in
# pg_monitor, nothing more
q1(q{CREATE ROLE prometheus LOGIN IN ROLE pg_monitor});
my $exporter_port = PostgreSQL::Test::Cluster::get_free_port();
my $user = 'prometheus';
my $exporter_log = "$dir/exporter.log";
my $exporter = IPC::Run::start(
	[
		$bin{'prometheus-postgres-exporter'},
		"--web.listen-address=127.0.0.1:$exporter_port",
		'--extend.query-path=monitoring/postgres_exporter.yml',
		'--disable-default-metrics', '--disable-settings-metrics',
		@no_collectors
	],
	'<', \undef, '>', $exporter_log, '2>&1',
	init => sub {
		$ENV{DATA_SOURCE_NAME} = 'host=' . $node->host . ' port=' . $node->port
		  . " user=$user dbname=postgres sslmode=disable";
	});

# the exporter's /metrics, parsed: {name}{"l1=v1,l2=v2"} = value, with the
# labels sorted by name; types in {'# TYPE'}{name}
sub scrape
{
	my $res = $http->get("http://127.0.0.1:$exporter_port/metrics");
	return undef unless $res->{success};
	my %m;
	for my $line (split /\n/, $res->{content})
	{
		if ($line =~ /^# TYPE (\S+) (\S+)/)
		{
			$m{'# TYPE'}{$1} = $2;
			next;
		}
		next if $line =~ /^#/ || $line !~ /^(\w+)(?:\{(.*)\})? (\S+)$/;
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my %l = $labels =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
		$m{$name}{ join(',', map { "$_=$l{$_}" } sort keys %l) } = $value;
	}
	return \%m;
}

# the value of metric NAME for the series whose labels include LABELS
# (endpoint => ..., outcome => ...); undef if none or more than one
sub value
{
	my ($m, $name, %labels) = @_;
	my @hits;
	for my $key (keys %{ $m->{$name} // {} })
	{
		my %l = map { split /=/, $_, 2 } split /,/, $key;
		push @hits, $m->{$name}{$key}
		  unless grep { ($l{$_} // "\0") ne $labels{$_} } keys %labels;
	}
	return @hits == 1 ? $hits[0] : undef;
}

ok(wait_until(sub { my $m = scrape(); $m && defined value($m, 'webhook_stats_endpoints'); }, 60),
	'the exporter serves webhook_stats_endpoints')
  or diag(slurp_file($exporter_log));

traffic(ok1 => 5, ok2 => 3, fail => 2, down => 2);
ok(settled(), 'every event delivered or dead');

# what the receiver saw, and what the history says, per endpoint
my %seen = map { $_ => scalar @{ $recv->requests("/$_") } } qw(ok1 ok2 fail);
my %bytes;
for my $name (qw(ok1 ok2))
{
	$bytes{$name} = 0;
	$bytes{$name} += $_->{body_bytes} for @{ $recv->requests("/$name") };
}
my %history = map { $_ => q1("SELECT count(*) FROM webhook.attempts WHERE endpoint = '$_'") }
  qw(ok1 ok2 fail down);
is($seen{ok1}, 5, 'the receiver saw 5 requests for ok1');
is($seen{fail}, 4, 'the receiver saw each of the 2 events for "fail" twice');
is($history{down}, 4, 'the history has 2 attempts for each event for "down"');

# the worker publishes its counters per batch: wait for the last ones
my $m;
ok( wait_until(sub {
			$m = scrape();
			$m
			  && (value($m, 'webhook_dead_total', endpoint => 'down') // -1) == 2
			  && (value($m, 'webhook_delivered_total', endpoint => 'ok1') // -1) == 5;
		}, 60),
	'the exported counters caught up')
  or diag(explain($m));

is($m->{'# TYPE'}{webhook_attempts_total}, 'counter', 'webhook_attempts_total is a counter');
is($m->{'# TYPE'}{webhook_attempt_duration_seconds}, 'histogram',
	'webhook_attempt_duration_seconds is a histogram');
is($m->{'# TYPE'}{webhook_delivery_latency_seconds}, 'histogram',
	'webhook_delivery_latency_seconds is a histogram');
is($m->{'# TYPE'}{webhook_backlog_events}, 'gauge', 'webhook_backlog_events is a gauge');

for my $name (qw(ok1 ok2))
{
	my %e = (endpoint => $name);
	is(value($m, 'webhook_events_captured_total', %e), $sent{$name}, "$name: captured");
	is(value($m, 'webhook_delivered_total', %e), $seen{$name}, "$name: delivered = receiver's count");
	is(value($m, 'webhook_attempts_total', %e, outcome => '2xx'), $seen{$name}, "$name: 2xx attempts");
	is(value($m, 'webhook_attempts_total', %e, outcome => '5xx'), 0, "$name: no 5xx");
	is(value($m, 'webhook_dead_total', %e), 0, "$name: no dead letters");
	is(value($m, 'webhook_retried_total', %e), 0, "$name: no retries");
	is(value($m, 'webhook_sent_bytes_total', %e), $bytes{$name}, "$name: bytes = receiver's body bytes");
	is(value($m, 'webhook_attempt_duration_seconds_count', %e), $history{$name},
		"$name: attempt duration count = attempts in the history");
	is(value($m, 'webhook_attempt_duration_seconds_bucket', %e, le => '+Inf'), $history{$name},
		"$name: attempt duration +Inf bucket = count");
	is(value($m, 'webhook_delivery_latency_seconds_count', %e), $seen{$name},
		"$name: one latency per delivery");
	cmp_ok(value($m, 'webhook_delivery_latency_seconds_sum', %e), '>', 0, "$name: latency sum > 0");
	is(value($m, 'webhook_backlog_events', %e), 0, "$name: backlog 0 once settled");
	is(value($m, 'webhook_oldest_due_age_seconds', %e), 0, "$name: nothing due");
	is(value($m, 'webhook_endpoint_enabled', %e), 1, "$name: enabled");
}

my %fe = (endpoint => 'fail');
is(value($m, 'webhook_events_captured_total', %fe), 2, 'fail: captured');
is(value($m, 'webhook_attempts_total', %fe, outcome => '5xx'), $seen{fail},
	"fail: 5xx attempts = receiver's count");
is(value($m, 'webhook_attempts_total', %fe, outcome => '2xx'), 0, 'fail: no 2xx');
is(value($m, 'webhook_delivered_total', %fe), 0, 'fail: nothing delivered');
is(value($m, 'webhook_dead_total', %fe), 2, 'fail: both events dead');
is(value($m, 'webhook_retried_total', %fe), $seen{fail} - 2,
	'fail: retried = attempts that got a next try');
is(value($m, 'webhook_delivery_latency_seconds_count', %fe), 0, 'fail: no latency');
is(value($m, 'webhook_attempt_duration_seconds_count', %fe), $history{fail},
	'fail: attempt duration count = attempts in the history');

my %de = (endpoint => 'down');
is(value($m, 'webhook_attempts_total', %de, outcome => 'connection_error'), $history{down},
	'down: connection errors = attempts in the history');
is(value($m, 'webhook_dead_total', %de), 2, 'down: both events dead');
is(value($m, 'webhook_sent_bytes_total', %de), 0, 'down: no bytes sent');
like(value($m, 'webhook_breaker_state', %de), qr/^[012]$/, 'down: breaker state is 0, 1 or 2');
cmp_ok(value($m, 'webhook_stats_endpoints'), '>=', 4, 'webhook_stats_endpoints counts the endpoints');

# ------------------------------------------------------------ Prometheus
my $prom_port = PostgreSQL::Test::Cluster::get_free_port();
PostgreSQL::Test::Utils::append_to_file("$dir/prometheus.yml", <<"EOC");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:$exporter_port']
EOC
my $prom_log = "$dir/prometheus.log";
my $prometheus = IPC::Run::start(
	[
		$bin{prometheus}, "--config.file=$dir/prometheus.yml",
		"--storage.tsdb.path=$dir/data",
		"--web.listen-address=127.0.0.1:$prom_port"
	],
	'<', \undef, '>', $prom_log, '2>&1');

# run PromQL at the current time; the decoded "data" or undef
sub promql
{
	my ($expr) = @_;
	my $res = $http->post_form("http://127.0.0.1:$prom_port/api/v1/query", { query => $expr });
	return undef unless $res->{content} && $res->{content} =~ /^\{/;
	my $d = JSON::PP->new->decode($res->{content});
	return $d->{status} eq 'success' ? $d->{data} : { error => $d->{error} };
}

ok( wait_until(sub {
			my $d = promql('webhook_stats_endpoints');
			$d && ref $d->{result} eq 'ARRAY' && @{ $d->{result} };
		}, 90),
	'Prometheus scrapes the exporter')
  or diag(slurp_file($prom_log),
	$http->get("http://127.0.0.1:$prom_port/api/v1/targets")->{content});

# traffic in waves, one scrape apart at least, so rates see it grow
for (1 .. 4)
{
	traffic(ok1 => 4, ok2 => 2, fail => 1, down => 1);
	usleep(1_500_000);
}
ok(settled(), 'the second round settled');
my $want_ok1 = $sent{ok1};
ok( wait_until(sub {
			my $d = promql('sum(webhook_delivered_total{endpoint="ok1"})');
			$d && $d->{result} && @{ $d->{result} } && $d->{result}[0]{value}[1] == $want_ok1;
		}, 60),
	"Prometheus has ok1's $want_ok1 deliveries");
# a backlog to see: ok2 paused, with events waiting
q1("SELECT webhook.pause('ok2')");
q1("INSERT INTO t_ok2 (v) VALUES ('held')") for 1 .. 3;
ok( wait_until(sub {
			my $d = promql('sum(webhook_backlog_events{endpoint="ok2"})');
			$d && $d->{result} && @{ $d->{result} } && $d->{result}[0]{value}[1] == 3;
		}, 60),
	'Prometheus sees the 3 events held for the paused ok2');
# and a few scrapes more, so the last increments are inside every window
usleep(3_000_000);

# every panel's queries, with the dashboard's variables set to all
my $dash = JSON::PP->new->decode(slurp_file('monitoring/dashboard.json'));
my @panels = @{ $dash->{panels} };
cmp_ok(scalar @panels, '>=', 10, 'the dashboard has its panels');
my %var_names = map { $_->{name} => 1 } @{ $dash->{templating}{list} };
ok($var_names{datasource} && $var_names{endpoint}, 'datasource and endpoint variables');

# per panel title: a check of each series' value (endpoint, value)
my $number = qr/^-?\d+(?:\.\d+)?(?:e[-+]?\d+)?$/i;
my %plausible = (
	'Success ratio, by endpoint' => sub {
		my ($ep, $v) = @_;
		return $v == 1 if $ep =~ /^ok/;
		return $v == 0;
	},
	'Breaker state, by endpoint' => sub { $_[1] =~ /^[012]$/ },
	# webhook.pause() disables the endpoint until webhook.resume()
	'Endpoint enabled' => sub { $_[1] == ($_[0] eq 'ok2' ? 0 : 1) },
);
my %need_positive = map { $_ => 1 } (
	'Delivered per second, by endpoint', 'Captured per second, by endpoint',
	'Attempts per second, by outcome', 'Delivery latency (capture to 2xx), p50 / p95 / p99',
	'Attempt duration, p50 / p95 / p99', 'Dead letters in the last hour, by endpoint',
	'Retried per second, by endpoint', 'Bytes sent per second, by endpoint',
	'Backlog, by endpoint', 'Age of the oldest due event, by endpoint');

my $queries = 0;
for my $p (@panels)
{
	for my $t (@{ $p->{targets} })
	{
		my $expr = $t->{expr};
		$expr =~ s/\$(?:\{database\}|database\b)/.*/g;
		$expr =~ s/\$(?:\{endpoint\}|endpoint\b)/.*/g;
		$expr =~ s/\$(?:\{__rate_interval\}|__rate_interval\b)/5m/g;
		unlike($expr, qr/\$/, "$p->{title} [$t->{refId}]: every variable substituted");
		my $d = promql($expr);
		$queries++;
		my @r = $d && ref $d->{result} eq 'ARRAY' ? @{ $d->{result} } : ();
		ok(scalar @r, "$p->{title} [$t->{refId}]: returns series")
		  or diag("$expr: " . JSON::PP->new->canonical->encode($d // {}));
		my @values = map { [ $_->{metric}{endpoint} // $_->{metric}{outcome} // '', $_->{value}[1] ] } @r;
		note("$p->{title} [$t->{refId}]: " . join(', ', map { "$_->[0]=$_->[1]" } @values));
		my @bad;
		for my $ev (@values)
		{
			my ($ep, $v) = @$ev;
			# quantiles of an endpoint that never got a 2xx are NaN
			next if $v eq 'NaN' && $p->{title} =~ /latency/ && $ep =~ /^(fail|down)$/;
			if ($v !~ $number) { push @bad, "$ep=$v"; next; }
			push @bad, "$ep=$v" if $v < 0;
			push @bad, "$ep=$v" if $plausible{ $p->{title} } && !$plausible{ $p->{title} }->($ep, $v);
			push @bad, "$ep=$v" if $p->{title} =~ /latency|duration/ && $v > 60;
		}
		is_deeply(\@bad, [], "$p->{title} [$t->{refId}]: plausible values")
		  or diag($expr);
		if ($need_positive{ $p->{title} })
		{
			ok((grep { $_->[1] =~ $number && $_->[1] > 0 } @values),
				"$p->{title} [$t->{refId}]: some series above 0")
			  or diag("$expr: " . JSON::PP->new->encode(\@values));
		}
	}
}
cmp_ok($queries, '>=', 15, "ran all $queries panel queries");

# the 500 endpoint: its attempts are all 5xx in Prometheus too
my $d = promql('sum(webhook_attempts_total{endpoint="fail",outcome="5xx"})');
is($d->{result}[0]{value}[1], scalar @{ $recv->requests('/fail') },
	"Prometheus' 5xx count for \"fail\" = the receiver's");

$prometheus->signal('TERM');
$prometheus->finish;
$exporter->signal('TERM');
$exporter->finish;
done_testing();
