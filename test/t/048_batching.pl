# Batching: an endpoint with batch_max_events receives its events as JSON
# arrays in capture order, each element carrying its own webhook-id as
# "id", under one webhook-id per batch, every signature verified; a batch
# that fails is retried as one, with the same webhook-id and members; an
# ordered endpoint keeps its order across a failure; batch_max_bytes bounds
# a body, and an event bigger than it goes alone; send_test and replay go
# through; a key-ordered endpoint puts at most one event per key in a
# batch; an endpoint beside them that does not batch is unchanged; bad
# settings are refused.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
# delivered events keep their payloads: the test reads them back and replays them
my $node = new_node('batching', conf => q{
webhook.payload_retention = '1h'
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $sched = '{' . join(',', ('1s') x 10) . '}';

sub endpoint
{
	my ($name, $settings, $ordering) = @_;
	my $url = $recv->url("/$name");
	q1(qq{
		SELECT webhook.create_endpoint('$name', '$url',
			retry_schedule => '$sched' $settings);
		CREATE TABLE t_$name (id int PRIMARY KEY, v text);
		SELECT webhook.subscribe('t_$name', '$name');
	});
	q1("SELECT webhook.set_delivery_policy('$name', ordering => '$ordering')")
	  if $ordering;
	$recv->secret(q1("SELECT webhook.endpoint_secret('$name')"));
}

sub delivered
{
	return q1("SELECT count(*) FROM webhook.events WHERE endpoint = '$_[0]' AND state = 'delivered'");
}

# the event ids of NAME's events by capture order: webhook-id => row id
sub ids
{
	my %m = map { my ($w, $r) = split /\|/; ($w => $r) } split /\n/,
	  q1("SELECT webhook_id, payload->'data'->'new'->>'id' FROM webhook.events WHERE endpoint = '$_[0]' ORDER BY id");
	return \%m;
}

sub requests
{
	return [ sort { $a->{seq} <=> $b->{seq} } @{ $recv->requests("/$_[0]") } ];
}

sub increasing
{
	my @v = @_;
	for my $i (1 .. $#v) { return 0 if $v[$i] <= $v[$i - 1]; }
	return 1;
}

# Did each request of an endpoint ordered as a whole carry only events
# whose predecessors were delivered already, or sent ahead in it?
sub in_order
{
	my ($reqs, $ids) = @_;
	my $done = 0;				# events 1 .. $done are delivered
	for my $r (@$reqs)
	{
		my $next = $done + 1;
		for my $m (@{ $r->{batch_members} })
		{
			return 0 unless $ids->{$m} == $next;
			$next++;
		}
		$done = $next - 1 if $r->{answered} =~ /^2/;
	}
	return 1;
}

# -- batches of at most N events, in capture order, one webhook-id each
endpoint('bat', ', batch_max_events => 5');
endpoint('plain', '');
is(q1("SELECT batch_max_events || ' ' || batch_max_bytes FROM webhook.endpoints WHERE name = 'bat'"),
	'5 1048576', 'the endpoints view shows the batch settings');
q1("BEGIN; INSERT INTO t_bat SELECT g, 'v' || g FROM generate_series(1, 12) g;
	INSERT INTO t_plain SELECT g, 'v' || g FROM generate_series(1, 4) g; COMMIT");
ok(wait_until(sub { delivered('bat') == 12 && delivered('plain') == 4 }, 30),
	'batched and plain events delivered');

my $ids = ids('bat');
my $reqs = requests('bat');
my (@all, %batch_ids);
my $ok_shape = 1;
for my $r (@$reqs)
{
	my $body = json_decode($r->{body});
	$ok_shape = 0 unless ref $body eq 'ARRAY' && @$body >= 1 && @$body <= 5;
	$ok_shape = 0 unless $r->{headers}{'webhook-id'} =~ /^batch_[0-9a-f]{32}$/;
	$ok_shape = 0 unless $r->{verified};
	for my $el (@$body)
	{
		$ok_shape = 0 unless defined $el->{type} && defined $el->{timestamp};
		$ok_shape = 0 unless defined $ids->{ $el->{id} }
		  && $ids->{ $el->{id} } == $el->{data}{new}{id};
	}
	$batch_ids{ $r->{headers}{'webhook-id'} }++;
	push @all, map { $ids->{$_} } @{ $r->{batch_members} };
}
ok($ok_shape, 'each request is a verified array of 1 to 5 events, each with its own id');
ok(scalar @$reqs >= 3 && scalar @$reqs < 12,
	'twelve events went in ' . scalar(@$reqs) . ' requests');
is(scalar keys %batch_ids, scalar @$reqs, 'one webhook-id per batch');
is(join(',', @all), join(',', 1 .. 12), 'every event once, in capture order');
is(q1("SELECT count(*) FROM webhook.attempts WHERE endpoint = 'bat' AND status BETWEEN 200 AND 299"),
	'12', 'every member has its attempt recorded');

# the endpoint beside it does not batch
my $plain = requests('plain');
my $pids = ids('plain');
is(scalar @$plain, 4, 'the plain endpoint got one request per event');
ok(!(grep { !(ref json_decode($_->{body}) eq 'HASH'
			&& defined $pids->{ $_->{headers}{'webhook-id'} }
			&& $_->{verified}) } @$plain),
	'the plain endpoint got objects under their own webhook-ids');

# -- a batch that fails is retried as one: same webhook-id, same members
endpoint('flaky', ', batch_max_events => 10');
$recv->behaviour('/flaky', { status => 500, times => 1 });
q1("INSERT INTO t_flaky SELECT g, 'v' || g FROM generate_series(1, 4) g");
ok(wait_until(sub { delivered('flaky') == 4 }, 30), 'the failed batch is delivered');
$reqs = requests('flaky');
is(scalar @$reqs, 2, 'two requests: the failure and its retry');
is($reqs->[0]{answered}, 500, 'the first failed');
is($reqs->[1]{headers}{'webhook-id'}, $reqs->[0]{headers}{'webhook-id'},
	'the retry has the same webhook-id');
is(join(',', @{ $reqs->[1]{batch_members} }), join(',', @{ $reqs->[0]{batch_members} }),
	'the retry has the same members');
is(scalar @{ $reqs->[0]{batch_members} }, 4, 'all four events in one batch');
is(q1("SELECT string_agg(attempt || ':' || coalesce(status::text, '-'), ',' ORDER BY event_id, attempt) FROM webhook.attempts WHERE endpoint = 'flaky'"),
	'1:500,2:204,1:500,2:204,1:500,2:204,1:500,2:204',
	'each member has both attempts');

# -- an ordered endpoint keeps its order across a failure
endpoint('fifo', ', batch_max_events => 3, max_in_flight => 4', 'endpoint');
$recv->behaviour('/fifo', { status => 204, times => 1 });
$recv->behaviour('/fifo', { status => 500, times => 2 });
q1("INSERT INTO t_fifo SELECT g, 'v' || g FROM generate_series(1, 10) g");
ok(wait_until(sub { delivered('fifo') == 10 }, 40), 'ordered: everything delivered');
$ids = ids('fifo');
$reqs = requests('fifo');
my @ok = map { my $r = $_; map { $ids->{$_} } @{ $r->{batch_members} } }
  grep { $_->{answered} =~ /^2/ } @$reqs;
is(join(',', @ok), join(',', 1 .. 10), 'ordered: delivered once each, in capture order');
ok((grep { $_->{answered} == 500 } @$reqs) == 2, 'ordered: two requests failed');
ok((grep { @{ $_->{batch_members} } > 1 } @$reqs), 'ordered: batches of more than one event')
  or diag(join(' ', map { $_->{answered} . ':' . join(',', map { $ids->{$_} } @{ $_->{batch_members} }) } @$reqs));
ok(!(grep { @{ $_->{batch_members} } > 3 } @$reqs), 'ordered: no batch over three events');
ok(in_order($reqs, $ids), 'ordered: nothing was sent before the events ahead of it were delivered');

# the same when batch_max_bytes splits a run: what was queued behind the
# batch that failed waits for its retry
endpoint('fifo2', ', batch_max_events => 6, batch_max_bytes => 1024', 'endpoint');
$recv->behaviour('/fifo2', { status => 500, times => 1 });
q1("INSERT INTO t_fifo2 SELECT g, repeat('x', 300) FROM generate_series(1, 8) g");
ok(wait_until(sub { delivered('fifo2') == 8 }, 40), 'ordered by bytes: everything delivered');
$ids = ids('fifo2');
$reqs = requests('fifo2');
@ok = map { my $r = $_; map { $ids->{$_} } @{ $r->{batch_members} } }
  grep { $_->{answered} =~ /^2/ } @$reqs;
is(join(',', @ok), join(',', 1 .. 8), 'ordered by bytes: delivered once each, in capture order');
ok(in_order($reqs, $ids) && $reqs->[0]{answered} == 500
	  && @{ $reqs->[0]{batch_members} } < 6,
	'ordered by bytes: a split run waits behind its failed batch');
ok(!(grep { $_->{body_bytes} > 1024 } @$reqs), 'ordered by bytes: no body over batch_max_bytes');

# -- an endpoint ordered by key: at most one event per key in a batch, and
# each key's events in capture order
endpoint('keyed', ', batch_max_events => 10', 'key');
q1("INSERT INTO t_keyed SELECT g, 'a' FROM generate_series(1, 4) g");
q1("UPDATE t_keyed SET v = 'b'");
q1("UPDATE t_keyed SET v = 'c'");
ok(wait_until(sub { delivered('keyed') == 12 }, 30), 'keyed: everything delivered');
my ($one_per_key, @per_key) = (1);
for my $r (@{ requests('keyed') })
{
	my %keys;
	for my $el (@{ json_decode($r->{body}) })
	{
		my $k = $el->{data}{new}{id};
		$one_per_key = 0 if $keys{$k}++;
		push @{ $per_key[$k] }, $el->{data}{new}{v};
	}
}
ok($one_per_key, 'keyed: no batch holds two events of one key');
is(join(' ', map { join('', @{ $per_key[$_] }) } 1 .. 4), 'abc abc abc abc',
	'keyed: each key in capture order');
ok((grep { @{ $_->{batch_members} } > 1 } @{ requests('keyed') }),
	'keyed: keys went together');

# -- batch_max_bytes bounds a body; an event bigger than it goes alone
endpoint('small', ', batch_max_events => 100, batch_max_bytes => 1024');
q1("INSERT INTO t_small SELECT g, repeat('x', 300) FROM generate_series(1, 6) g;
	INSERT INTO t_small VALUES (7, repeat('y', 2000))");
ok(wait_until(sub { delivered('small') == 7 }, 30), 'small batches delivered');
$reqs = requests('small');
ok(!(grep { $_->{body_bytes} > 1024 && @{ $_->{batch_members} } > 1 } @$reqs),
	'no batch of several events is over batch_max_bytes');
ok((grep { $_->{body_bytes} > 1024 && @{ $_->{batch_members} } == 1 } @$reqs),
	'the big event went alone');
ok((grep { @{ $_->{batch_members} } > 1 } @$reqs), 'small events still went together');
ok(!(grep { !$_->{verified} } @$reqs), 'every signature verified');

# -- send_test and replay to a batching endpoint
$recv->control('POST', 'reset', { all => 1 });
q1("SELECT webhook.send_test('bat')");
ok(wait_until(sub { scalar @{ requests('bat') } == 1 }, 30), 'send_test arrives');
my $t = json_decode(requests('bat')->[0]{body});
is($t->[0]{type}, 'webhook.test', 'send_test arrives as a batch of one');
$recv->control('POST', 'reset', { all => 1 });
is(q1("SELECT webhook.replay('bat', now() - interval '1 hour', status => 'delivered')"),
	'13', 'replay takes the delivered events back');
ok(wait_until(sub { delivered('bat') == 13 }, 30), 'replayed events delivered');
@all = map { @{ $_->{batch_members} } } @{ requests('bat') };
is(scalar @all, 13, 'replayed in batches, every event once');
ok(!(grep { @{ $_->{batch_members} } > 5 } @{ requests('bat') }), 'replayed in batches of at most five');

# -- bad settings are refused; 0 turns batching off
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT webhook.create_endpoint('b1', 'http://127.0.0.1:1/', batch_max_events => 1001)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/22023: invalid batch_max_events 1001/, 'a batch of over 1000 events is refused');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT webhook.alter_endpoint('bat', batch_max_bytes => 10)",
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/22023: invalid batch_max_bytes 10/, 'a tiny batch_max_bytes is refused');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT webhook.alter_endpoint('bat', batch_max_events => -1)");
like($err, qr/invalid batch_max_events -1/, 'a negative batch_max_events is refused');
($rc, $out, $err) = $node->psql('postgres',
	"UPDATE webhook.endpoint SET batch_max_events = 0 WHERE name = 'bat'");
like($err, qr/violates check constraint/, 'the table refuses a batch of none');
q1("SELECT webhook.alter_endpoint('bat', batch_max_events => 0)");
is(q1("SELECT batch_max_events IS NULL FROM webhook.endpoints WHERE name = 'bat'"),
	't', '0 turns batching off');
$recv->control('POST', 'reset', { all => 1 });
q1("INSERT INTO t_bat VALUES (100, 'x'), (101, 'y')");
ok(wait_until(sub { scalar @{ requests('bat') } == 2 }, 30), 'events go one by one again');
ok(!(grep { defined $_->{batch_members} } @{ requests('bat') }), 'as objects');

done_testing();
