# Transactions commit out of the order of their event ids.  Event ids are
# taken when a change is captured, not when its transaction commits, so a
# long transaction's events carry ids lower than those of many transactions
# that commit, and are delivered, before it.  None of them may be skipped:
# an open transaction, one whose events were written in a subtransaction,
# and a prepared transaction all commit after 200 later events went out,
# and each of their events arrives, once.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebhookTest;

my $recv = WebhookTest::Receiver->new;
my $node = new_node('late_commit', conf => qq{
max_prepared_transactions = 4
});

sub q1 { return $node->safe_psql('postgres', $_[0]); }

my $url = $recv->url('/late');
q1(qq{
	SELECT webhook.create_endpoint('late', '$url');
	CREATE TABLE orders (id int PRIMARY KEY, v text);
	SELECT webhook.subscribe('orders', 'late');
});
$recv->secret(q1("SELECT webhook.endpoint_secret('late')"));

# the order ids the receiver has, with how often each came
sub received
{
	my %n;
	$n{ json_decode($_->{body})->{data}{new}{id} }++
	  for @{ $recv->requests('/late') };
	return \%n;
}

# three transactions capture first and stay open
my $open = $node->background_psql('postgres');
$open->query_safe('BEGIN');
$open->query_safe("INSERT INTO orders VALUES (1, 'open')");

my $sub = $node->background_psql('postgres');
$sub->query_safe('BEGIN');
$sub->query_safe('SAVEPOINT s1');
$sub->query_safe("INSERT INTO orders VALUES (2, 'subtransaction')");
$sub->query_safe('RELEASE SAVEPOINT s1');
$sub->query_safe('SAVEPOINT s2');
$sub->query_safe("INSERT INTO orders VALUES (4, 'rolled back subtransaction')");
$sub->query_safe('ROLLBACK TO SAVEPOINT s2');

q1(q{
	BEGIN;
	INSERT INTO orders VALUES (3, 'prepared');
	PREPARE TRANSACTION 'late3';
});

# 200 later transactions commit and are delivered meanwhile
q1("INSERT INTO orders VALUES ($_, 'later')") for 100 .. 299;
ok(wait_until(sub { keys %{ received() } >= 200 }, 120),
	'the 200 later commits are delivered while three earlier captures are open');
ok(wait_until(sub {
	q1(q{SELECT count(*) FROM webhook.events WHERE state = 'delivered'}) == 200 }, 60),
	'and recorded');
my $ids = q1(q{SELECT min(id) || ' ' || max(id) FROM webhook.events});
my ($lo) = split / /, $ids;
ok($lo > 3, "the open transactions hold the lowest event ids (first visible is $lo)");
is(join(',', grep { $_ < 100 } sort { $a <=> $b } keys %{ received() }), '',
	'nothing uncommitted was sent');

# they commit, latest-captured first
q1("COMMIT PREPARED 'late3'");
$sub->query_safe('COMMIT');
$sub->quit;
$open->query_safe('COMMIT');
$open->quit;

ok(wait_until(sub { keys %{ received() } >= 203 }, 60),
	'every late commit is delivered');
my $got = received();
is(join(',', map { "$_=" . ($got->{$_} // 0) } 1, 2, 3),
	'1=1,2=1,3=1', 'each of the late events arrived once');
is(scalar(grep { $got->{$_} != 1 } keys %$got), 0, 'no event arrived twice');
ok(!exists $got->{4}, 'the rolled back subtransaction sent nothing');
ok(wait_until(sub {
	q1(q{SELECT count(*) FROM webhook.events WHERE state = 'delivered'}) == 203 }, 60),
	'all 203 are recorded as delivered');

$node->stop;
$recv->stop;
done_testing();
