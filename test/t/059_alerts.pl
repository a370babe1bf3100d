# The Prometheus alerting rules shipped in monitoring/alerts.yml: Debian's
# promtool finds them valid ("check rules") and their unit tests in
# monitoring/alerts_test.yml pass ("test rules": each alert fires on the
# series that should page and stays quiet on those that should not).
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;

my $promtool;
for my $dir (split /:/, $ENV{PATH})
{
	$promtool = "$dir/promtool", last if -x "$dir/promtool";
}
if (!$promtool)
{
	# CI installs it (test/deps.sh): there it must run
	if (($ENV{CI} // '') eq 'true')
	{
		fail('promtool installed (test/deps.sh installs it)');
		done_testing();
		exit;
	}
	plan skip_all => 'promtool is not installed (bash test/deps.sh installs it)';
}

# run promtool in monitoring/, where alerts_test.yml names alerts.yml
sub promtool
{
	my @args = @_;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ $promtool, @args ],
		'<', \undef, '>', \$out, '2>', \$err, init => sub { chdir 'monitoring' or die });
	return ($ok, "$out$err");
}

my ($ok, $out) = promtool('check', 'rules', 'alerts.yml');
ok($ok, 'promtool check rules alerts.yml') or diag($out);
like($out, qr/SUCCESS: 6 rules found/, 'six alerting rules');

($ok, $out) = promtool('test', 'rules', 'alerts_test.yml');
ok($ok, 'promtool test rules alerts_test.yml') or diag($out);
unlike($out, qr/FAILED/, 'no unit test failed');

done_testing();
