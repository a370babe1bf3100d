# Secrets and pg_dump: a webhook_admin member's dump (with
# --enable-row-security) keeps the endpoints with their secrets and restores
# them; anyone else's dump fails on the endpoint
# table (or its sequence) and shows no secret.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $node = new_node('dump');
my $secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
$node->safe_psql('postgres', qq{
	SELECT webhook.create_endpoint('kept', 'https://kept.example.com/',
		secret => '$secret', client_cert => E'-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n',
		client_key => E'-----BEGIN PRIVATE KEY-----\\nS3CR3TKEY\\n-----END PRIVATE KEY-----\\n');
	CREATE ROLE adm LOGIN IN ROLE webhook_admin;
	CREATE ROLE usr LOGIN;
	CREATE TABLE orders (id int PRIMARY KEY);
	GRANT SELECT ON orders TO adm, usr;
	SELECT webhook.subscribe('orders', 'kept');
});

my $dump = $node->basedir . '/adm.sql';
# the endpoint table has row-level security (tenants see their own rows):
# a role that is not its owner dumps it through its policies, and
# webhook_admin's policy shows every row
my ($out, $err) = run_command([ 'pg_dump', '--enable-row-security', '-U', 'adm', '-d', $node->connstr('postgres'), '-f', $dump ]);
is($err, '', 'a webhook_admin member can dump the database');
my $text = slurp_file($dump);
ok(index($text, $secret) >= 0, 'the dump keeps the secret');
ok(index($text, 'S3CR3TKEY') >= 0, 'and the client key');

my $ok = IPC::Run::run([ 'pg_dump', '-U', 'usr', '-d', $node->connstr('postgres') ],
	'>', \$out, '2>', \$err);
ok(!$ok, 'anyone else\'s dump fails');
# pg_dump words its refusal by release; what webhook decides is that
# neither the endpoint table nor its sequence is readable to others
like($err, qr/\bendpoint/, '... on the endpoint table or its sequence');
is($node->safe_psql('postgres', q{
	SELECT has_table_privilege('usr', 'webhook.endpoint', 'SELECT')
	    OR has_sequence_privilege('usr', 'webhook.endpoint_id_seq', 'SELECT')}),
	'f', '... which others may not read');
ok(index($out . $err, $secret) < 0 && index($out . $err, 'S3CR3TKEY') < 0, '... and shows no secret');

# restore the admin's dump into a new database (as a superuser)
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('restored'), '-f', $dump ],
	'the dump restores');
is($node->safe_psql('restored', "SELECT webhook.endpoint_secret('kept')"), $secret,
	'with the same secret');
is($node->safe_psql('restored', "SELECT endpoint FROM webhook.subscriptions"), 'kept',
	'and the subscription');
is($node->safe_psql('restored', "SELECT has_function_privilege('usr', 'webhook.endpoint_secret(text)', 'EXECUTE')::text || has_table_privilege('adm', 'webhook.endpoint', 'SELECT')::text"),
	'falsetrue', 'and the privileges');

$node->stop;
done_testing();
