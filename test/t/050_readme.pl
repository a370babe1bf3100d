# The README, as a new user follows it.  Every ```sql block of README.md is
# run in order, each in its own psql session with ON_ERROR_STOP, on a fresh
# cluster that does not preload the library yet.  The one substitution is
# the README's placeholder receiver, http://127.0.0.1:8080, which becomes the
# test receiver's address.  Where the README says to restart (after setting
# shared_preload_libraries) the test restarts the server; after a
# pg_reload_conf() it waits for the new settings to reach new sessions, as
# they have already in the user's own session.  psql runs in a directory
# holding the PEM files the TLS example reads.  Then the webhooks the README
# promises must arrive, signed with the endpoint's secret, each once, and
# no block may have raised a WARNING.
use strict;
use warnings;
use File::Temp qw(tempdir);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $placeholder = 'http://127.0.0.1:8080';

# the ```sql blocks of README.md, in order, with the line each starts on
my @blocks;
{
	open my $fh, '<', 'README.md' or die "README.md: $!";
	my ($in, $text, $line) = (0, '', 0);
	while (my $l = <$fh>)
	{
		if (!$in && $l =~ /^```sql\s*$/)
		{
			($in, $text, $line) = (1, '', $.);
		}
		elsif ($in && $l =~ /^```\s*$/)
		{
			push @blocks, { line => $line, sql => $text };
			$in = 0;
		}
		elsif ($in)
		{
			$text .= $l;
		}
	}
	close $fh;
	die "README.md: a ```sql block opened at line $line is not closed" if $in;
}
cmp_ok(scalar @blocks, '>=', 15, 'README.md has its sql blocks');
ok((grep { $_->{sql} =~ /\Q$placeholder\E/ } @blocks),
	"the sql blocks send to the placeholder $placeholder");

# the PEM files the TLS example reads from psql's working directory
my $dir = tempdir(CLEANUP => 1);
sub ossl
{
	my ($o, $e) = ('', '');
	IPC::Run::run([ 'openssl', @_ ], '>', \$o, '2>', \$e)
	  or die "openssl @_: $e";
}
ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
	'-subj', '/CN=partner-ca', '-keyout', "$dir/ca.key",
	'-out', "$dir/partner-ca.pem");
ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
	'-subj', '/CN=client', '-keyout', "$dir/client.key",
	'-out', "$dir/client.pem");

my $recv = WebhookTest::Receiver->new;
my $base = 'http://127.0.0.1:' . $recv->port;

# a fresh cluster, as a package installs it: nothing preloaded
my $node = PostgreSQL::Test::Cluster->new('readme');
$node->init;
$node->append_conf('postgresql.conf', "log_min_messages = info\n");
$node->start;

sub q1 { return $node->safe_psql('postgres', $_[0]); }

# give the receiver the secret of every endpoint there is
sub learn_secrets
{
	my $has = q1("SELECT count(*) FROM pg_extension WHERE extname = 'webhook'");
	return unless $has;
	$recv->secret($_) for grep { $_ ne '' } split /\n/,
	  q1("SELECT webhook.endpoint_secret(name) FROM webhook.endpoints
		  WHERE signature = 'v1'");
	# a v1a endpoint's receiver has its public key, not its secret
	$recv->public_key($_) for grep { $_ ne '' } split /\n/,
	  q1("SELECT webhook.public_key(name) FROM webhook.endpoints
		  WHERE signature = 'v1a'");
}

my $warnings = '';
for my $b (@blocks)
{
	(my $sql = $b->{sql}) =~ s/\Q$placeholder\E/$base/g;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-f', '-' ],
		'<', \$sql, '>', \$out, '2>', \$err,
		init => sub { chdir $dir or die "chdir $dir: $!"; });
	ok($ok, "README.md line $b->{line}: the block runs")
	  or diag("block:\n$sql\nstderr:\n$err");
	$warnings .= "README.md line $b->{line}:\n$err" if $err =~ /WARNING/;

	# the README says to restart after preloading the library
	if ($sql =~ /ALTER SYSTEM SET shared_preload_libraries/i)
	{
		$node->restart;
		is(q1('SHOW shared_preload_libraries'), 'webhook',
			'the restart preloads the library');
	}
	# the user's own session sees a reloaded setting at once, new sessions
	# once the postmaster has read the file
	if ($sql =~ /pg_reload_conf\(\)/)
	{
		ok( wait_until(sub {
					q1("SELECT count(*) FROM pg_file_settings
						WHERE applied IS NOT TRUE AND error IS NULL")
					  == 0 && q1("SHOW webhook.allowed_networks") ne '';
				}, 30),
			'the reloaded settings reach new sessions');
	}
	learn_secrets();
}
is($warnings, '', 'no block raised a WARNING');

# what the README promises: by receiver path, the event types, in order
my %want = (
	'/hooks/orders' => [
		'orders.inserted', 'orders.updated', 'refund.changed',
		'webhook.test', 'orders.updated',
		# the traced update under "Traces"
		'orders.updated'
	],
	'/hooks/billing' => ['order.paid'],
	'/hooks/crm' => [ 'orders.updated', 'orders.updated' ],
	# routed by merchant, each endpoint by its own filter
	'/merchants/m1' => [ 'order.created', 'order.paid' ],
	'/merchants/m2' => [ 'order.paid', 'webhook.test' ],
	'/merchants/m3' => [ 'order.created', 'order.paid' ],);

# the distinct events received at a path, first arrival of each, in order
sub events_at
{
	my ($path) = @_;
	my (%seen, @ev);
	for my $r (@{ $recv->requests($path) })
	{
		next if $seen{ $r->{headers}{'webhook-id'} }++;
		push @ev, $r;
	}
	return \@ev;
}

for my $path (sort keys %want)
{
	my $n = scalar @{ $want{$path} };
	ok(wait_until(sub { @{ events_at($path) } >= $n }, 60),
		"$path: $n webhooks arrive");
	my $ev = events_at($path);
	my @types = map { json_decode($_->{body})->{type} } @$ev;
	# the inserts and updates are sent in commit order here, one at a time
	is_deeply([ sort @types ], [ sort @{ $want{$path} } ],
		"$path: the events the README promises, and no others");
	is(scalar(grep { !$_->{verified} } @$ev), 0,
		"$path: every request is signed with the endpoint's secret");
	is(scalar(grep { $_->{body} =~ /4242424242424242/ } @$ev), 0,
		"$path: no card number is sent");
}

# the bodies the README shows
my ($paid) = grep { json_decode($_->{body})->{type} eq 'orders.updated' }
  @{ events_at('/hooks/orders') };
my $data = json_decode($paid->{body})->{data};
is_deeply(
	[ $data->{op}, $data->{table}, $data->{old}{status}, $data->{new}{status},
		$data->{changed} ],
	[ 'UPDATE', 'orders', 'pending', 'paid', ['status'] ],
	'shop: the first update is the one shown under "The payload"');
is_deeply([ sort keys %{ $data->{new} } ], [qw(customer id status total)],
	'shop: the row as sent has every column but the excluded card number');
is(scalar(grep { ($_->{matched_scheme} // '') ne 'v1a' } @{ events_at('/merchants/m3') }),
	0, 'm3: every request verifies as v1a with its public key');
is(q1("SELECT count(*) FROM webhook.inbox"), '1',
	'receiving: the request received twice is recorded once');
my ($crm) = @{ events_at('/hooks/crm') };
is_deeply(json_decode($crm->{body})->{data},
	{ order_id => 1, status => 'shipped' },
	'crm: the payload function\'s data, as the README shows it');

# the traced transaction of "Traces": its webhooks carry its trace id, each
# with a span of its own
my @traced = grep { ($_->{headers}{traceparent} // '') ne '' }
  map { @{ $recv->requests($_) } } sort keys %want;
ok(scalar(@traced) >= 1, 'traces: the traced change\'s webhooks carry a traceparent');
is(scalar(grep { $_->{headers}{traceparent} !~
	/^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/ } @traced),
	0, 'traces: each with the transaction\'s trace id and a new span id');
is(scalar(grep { json_decode($_->{body})->{type} ne 'orders.updated' } @traced),
	0, 'traces: only the traced update\'s webhooks carry one');

$node->stop;
done_testing();
