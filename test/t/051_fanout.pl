# Fan-out end to end, with the real receiver: three merchants (tenants)
# with one to three endpoints each, each with its own secret and filter,
# and a broadcast endpoint.  Every receiver gets exactly the events its
# filter takes, signed with its own secret; receivers of one change get the
# same webhook-id; one endpoint's retries resend nothing to the others; a
# disabled endpoint gets nothing; the shared payloads are gone once every
# event is delivered.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('fanout');

my %ep = (
	m1_all    => ['m1', '/m1/all',  'NULL'],
	m1_paid   => ['m1', '/m1/paid', q{'{order.paid}'}],
	m2_orders => ['m2', '/m2/a',    q{'{order.*}'}],
	m2_new    => ['m2', '/m2/b',    q{'{order.created}'}],
	m2_inv    => ['m2', '/m2/c',    q{'{invoice.*}'}],
	m3_all    => ['m3', '/m3/x',    'NULL'],
	m3_off    => ['m3', '/m3/off',  'NULL'],
	bc        => [undef, '/bc',     q{'{order.paid}'}],
);
for my $name (sort keys %ep)
{
	my ($tenant, $path, $types) = @{ $ep{$name} };
	my $url = $recv->url($path);
	my $t = defined $tenant ? "'$tenant'" : 'NULL';
	$node->safe_psql('postgres', qq{
		SELECT webhook.create_endpoint('$name', '$url', tenant => $t,
			event_types => $types, retry_schedule => '{1s}');
	});
	$recv->secret($node->safe_psql('postgres',
		"SELECT webhook.endpoint_secret('$name')"));
}
$node->safe_psql('postgres', q{
	UPDATE webhook.endpoint SET enabled = false WHERE name = 'm3_off';
	CREATE TABLE orders (id int PRIMARY KEY, merchant text, status text);
	SELECT webhook.subscribe('orders', tenant => 'merchant', events => '{insert}',
							 event_type => 'order.created', name => 'created');
	SELECT webhook.subscribe('orders', tenant => 'merchant', events => '{update}',
							 event_type => 'order.paid', name => 'paid');
	SELECT webhook.subscribe('orders', broadcast => true, events => '{update}',
							 event_type => 'order.paid', name => 'paid_all');
});
# m1_paid fails once: its retry must not reach anyone else
$recv->behaviour('/m1/paid', { status => 500, times => 1 });

$node->safe_psql('postgres', q{
	INSERT INTO orders VALUES (1, 'm1', 'new'), (2, 'm2', 'new'), (3, 'm3', 'new');
	UPDATE orders SET status = 'paid';
});

my %want = ('/m1/all' => 2, '/m1/paid' => 2, '/m2/a' => 2, '/m2/b' => 1,
			'/m2/c' => 0, '/m3/x' => 2, '/m3/off' => 0, '/bc' => 3);
ok(wait_until(sub {
	$node->safe_psql('postgres',
		"SELECT count(*) FROM webhook.event WHERE state <> 'delivered'") == 0 }, 60),
	'every event is delivered');
my %count = map { $_ => scalar @{ $recv->requests($_) } } keys %want;
is_deeply(\%count, \%want,
	'each receiver got the events its filter takes, the failing one a retry more');

# each request is signed with its own endpoint's secret, and only that one
my %by_path = map { $ep{$_}[1] => $_ } keys %ep;
my %secret = map { $_ => $node->safe_psql('postgres',
	"SELECT webhook.endpoint_secret('$_')") } keys %ep;
my $signed_ok = 1;
my %ids;
for my $path (keys %want)
{
	for my $r (@{ $recv->requests($path) })
	{
		next unless defined $r->{answered} && $r->{answered} =~ /^2/;
		my $body = $r->{body};
		(my $q = $body) =~ s/'/''/g;
		my $id = $r->{headers}{'webhook-id'};
		my $ts = $r->{headers}{'webhook-timestamp'};
		for my $other (keys %ep)
		{
			my $sig = $node->safe_psql('postgres',
				"SELECT webhook.sign('$secret{$other}', '$id', $ts, '$q')");
			my $match = $sig eq $r->{headers}{'webhook-signature'};
			$signed_ok = 0 if $match != ($other eq $by_path{$path});
		}
		$signed_ok = 0 unless $r->{verified};
		my $b = json_decode($body);
		push @{ $ids{"$b->{type} $b->{data}{new}{id}"} }, [$path, $id];
	}
}
ok($signed_ok, 'every request verifies with its own endpoint\'s secret only');

# one change, one webhook-id, whichever receivers it reached
sub ids_of
{
	my ($key, @paths) = @_;
	my %p = map { $_ => 1 } @paths;
	return sort map { $_->[1] } grep { $p{ $_->[0] } } @{ $ids{$key} // [] };
}
my @created2 = ids_of('order.created 2', '/m2/a', '/m2/b');
is(scalar @created2, 2, 'm2\'s new order reached both endpoints that take it');
is($created2[0], $created2[1], 'with the same webhook-id');
my @paid1 = ids_of('order.paid 1', '/m1/all', '/m1/paid');
is(scalar @paid1, 2, 'm1\'s payment reached both endpoints, the retried one once');
is($paid1[0], $paid1[1], 'with the same webhook-id');
my @bc = ids_of('order.paid 1', '/bc');
isnt($bc[0], $paid1[0], 'the broadcast subscription\'s event is a change of its own');

is($node->safe_psql('postgres', 'SELECT count(*) FROM webhook.message'), '0',
	'the shared payloads went with their last delivered event');

$node->stop;
done_testing();
