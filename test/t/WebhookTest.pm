# WebhookTest.pm: helpers shared by the TAP tests.
#
# new_node() gives a PostgreSQL::Test::Cluster with webhook preloaded and the
# extension created; Receiver starts test/receiver/receiver.js on 127.0.0.1
# and talks to its control API.
package WebhookTest;

use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(new_node wait_until json_decode start_after_kill9);

my $json = JSON::PP->new->canonical;

sub json_decode { return $json->decode(shift); }

# A started node with webhook preloaded and created in "postgres" (workers
# run in every database where the extension is created).  Loopback is
# allowed unless no_allow_loopback => 1.
sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webhook'
log_min_messages = info
} . ($opts{no_allow_loopback} ? '' : qq{
# receivers run on this machine: the SSRF guard must allow loopback
webhook.allowed_networks = '127.0.0.1/32, ::1/128'
}) . ($opts{conf} // ''));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION webhook');
	return $node;
}

# Start a node after kill9: its old backends may still hold the data
# directory for a moment.
sub start_after_kill9
{
	my ($node) = @_;
	for (1 .. 100)
	{
		# a failed start may have read the dead postmaster's pid
		$node->{_pid} = undef;
		return if $node->start(fail_ok => 1);
		usleep(200_000);
	}
	die "could not restart node " . $node->name;
}

# Poll a Perl condition until it is true, for at most $secs seconds.
sub wait_until
{
	my ($cond, $secs) = @_;
	$secs //= $PostgreSQL::Test::Utils::timeout_default;
	my $deadline = time() + $secs;
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(50_000);
	}
	return $cond->();
}

package WebhookTest::Receiver;

use strict;
use warnings;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IPC::Run;
use Time::HiRes qw(usleep);

# Start the receiver; port => N to reuse a port (after a restart).
sub new
{
	my ($class, %opts) = @_;
	my $self = bless { dir => tempdir(CLEANUP => 1), %opts }, $class;
	$self->start;
	return $self;
}

sub start
{
	my ($self) = @_;
	my $pf = "$self->{dir}/port";
	unlink $pf;
	my @cmd = ('node', 'test/receiver/receiver.js', '--quiet',
		'--port', $self->{port} // 0, '--port-file', $pf,
		'--log', "$self->{dir}/log");
	push @cmd, '--secret', $_ for @{ $self->{secrets} // [] };
	push @cmd, '--public-key', $_ for @{ $self->{public_keys} // [] };
	my ($out, $err) = ('', '');
	$self->{h} = IPC::Run::start(\@cmd, '<', \undef, '>', \$out, '2>', \$err);
	for (1 .. 200)
	{
		last if -s $pf;
		usleep(50_000);
	}
	die "receiver did not start: $err" unless -s $pf;
	open my $fh, '<', $pf or die;
	chomp(my $port = <$fh>);
	close $fh;
	$self->{port} = $port;
	$self->{http} = HTTP::Tiny->new(timeout => 10);
	$self->secret($_) for @{ $self->{added_secrets} // [] };
	$self->public_key($_) for @{ $self->{added_public_keys} // [] };
	return $self;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{h};
	$self->{h}->signal('TERM');
	$self->{h}->finish;
	delete $self->{h};
}

sub DESTROY { my $self = shift; $self->stop if $self->{h}; }

sub port { return $_[0]->{port}; }
sub url { my ($self, $path) = @_; return "http://127.0.0.1:$self->{port}" . ($path // '/hook'); }

sub control
{
	my ($self, $method, $path, $body) = @_;
	my $res = $self->{http}->request($method, "http://127.0.0.1:$self->{port}/_control/$path",
		$body ? { content => WebhookTest::json_encode($body),
				  headers => { 'content-type' => 'application/json' } } : {});
	die "control $path failed: $res->{status} $res->{content}" unless $res->{success};
	return $res->{content} ? WebhookTest::json_decode($res->{content}) : undef;
}

# Known secrets survive a restart of the receiver.
sub secret
{
	my ($self, $secret) = @_;
	push @{ $self->{added_secrets} }, $secret
	  unless grep { $_ eq $secret } @{ $self->{added_secrets} // [] };
	return $self->control('POST', 'secret', { secret => $secret });
}

# Known "whpk_" public keys (v1a) survive a restart too.
sub public_key
{
	my ($self, $key) = @_;
	push @{ $self->{added_public_keys} }, $key
	  unless grep { $_ eq $key } @{ $self->{added_public_keys} // [] };
	return $self->control('POST', 'public_key', { public_key => $key });
}

# The receiver's verdict on a request it did not receive (a changed copy of
# one it did, say): {verified, error, matched_secret, matched_public_key,
# matched_scheme}.
sub verify_copy
{
	my ($self, $headers, $body) = @_;
	return $self->control('POST', 'verify', { headers => $headers, body => $body });
}

sub behaviour
{
	my ($self, $path, $b) = @_;
	return $self->control('POST', 'behaviour', { path => $path, behaviour => $b });
}

sub reset_behaviour
{
	my ($self, $path) = @_;
	return $self->control('POST', 'behaviour', { path => $path, reset => JSON::PP::true });
}

sub requests
{
	my ($self, $path) = @_;
	return $self->control('GET', 'requests' . ($path ? "?path=$path" : ''));
}

sub stats { return $_[0]->control('GET', 'stats'); }

package WebhookTest;

sub json_encode { return $json->encode(shift); }

1;
