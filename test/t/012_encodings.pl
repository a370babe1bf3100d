# Databases in LATIN1 and SQL_ASCII: the body on the wire is UTF-8 JSON
# (converted from LATIN1, signed after conversion); in SQL_ASCII, bytes that
# are not UTF-8 make a failed attempt that says why, and the event is kept.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('encodings');

# the table name holds é: byte 0xE9 in LATIN1, its UTF-8 bytes in SQL_ASCII
my %tbl = (latin1 => "tbl_\xe9", sql_ascii => "tbl_\xc3\xa9");
my $utf8 = JSON::PP->new->utf8;

for my $enc (qw(LATIN1 SQL_ASCII))
{
	my $db = lc $enc;
	$node->safe_psql('postgres', qq{
		CREATE DATABASE $db ENCODING '$enc' TEMPLATE template0
			LC_COLLATE 'C' LC_CTYPE 'C'});
	$node->safe_psql($db, qq{
		CREATE EXTENSION webhook;
		SELECT webhook.create_endpoint('e', '${\ $recv->url("/$db")}',
			retry_schedule => '{1s}');
		CREATE TABLE "$tbl{$db}" (id int PRIMARY KEY, v text);
		SELECT webhook.subscribe('"$tbl{$db}"', 'e');
	});
	$recv->secret($node->safe_psql($db, "SELECT webhook.endpoint_secret('e')"));
}

# deliver one database at a time: the worker serves webhook.database
sub serve
{
	my ($db) = @_;
	$node->append_conf('postgresql.conf', "webhook.database = '$db'\n");
	$node->restart;
}

# LATIN1: é (0xE9 in the database) arrives as UTF-8 é, signed as sent
$node->safe_psql('latin1', qq{
	INSERT INTO "$tbl{latin1}" VALUES (1, 'caf' || chr(233) || ' ' || chr(255));
});
serve('latin1');
ok(wait_until(sub { $node->safe_psql('latin1', "SELECT state FROM webhook.events") eq 'delivered' }),
	'LATIN1: delivered');
my ($r) = @{ $recv->requests('/latin1') };
ok($r->{verified}, 'LATIN1: the signature verifies over the UTF-8 body');
# the control API hands bodies over as their bytes
my $body = $utf8->decode($r->{body});
is($body->{data}{new}{v}, "caf\x{e9} \x{ff}", 'LATIN1: the text arrives as UTF-8');
is($body->{data}{table}, "tbl_\x{e9}", 'LATIN1: and so does the table name');

# SQL_ASCII: UTF-8 bytes pass; other bytes are refused with a clear error
$node->safe_psql('sql_ascii', qq{
	INSERT INTO "$tbl{sql_ascii}" VALUES (1, E'caf\\xc3\\xa9');
	INSERT INTO "$tbl{sql_ascii}" VALUES (2, E'caf\\xe9');
});
serve('sql_ascii');
ok(wait_until(sub {
	$node->safe_psql('sql_ascii', "SELECT string_agg(state::text, ',' ORDER BY id) FROM webhook.events") eq 'delivered,dead' }),
	'SQL_ASCII: the UTF-8 row is delivered, the other retried then dead');
my @reqs = @{ $recv->requests('/sql_ascii') };
is(scalar(@reqs), 1, 'SQL_ASCII: only one request was sent');
$body = $utf8->decode($reqs[0]{body});
is($body->{data}{new}{v}, "caf\x{e9}", 'SQL_ASCII: UTF-8 text arrives intact');
is($body->{data}{table}, "tbl_\x{e9}", 'SQL_ASCII: and so does the table name');
like($node->safe_psql('sql_ascii', "SELECT error FROM webhook.attempts ORDER BY event_id DESC, attempt LIMIT 1"),
	qr/event body is not valid UTF-8: the database encoding is SQL_ASCII/,
	'SQL_ASCII: the attempt says why');
is($node->safe_psql('sql_ascii', "SELECT count(*) FROM webhook.events"), 2, 'no event lost');

$node->stop;
$recv->stop;
done_testing();
