# Sessions that end or are cancelled while they take part: a barrier
# arrival is withdrawn when its session exits (normally or terminated), a
# waiter that is cancelled leaves the wait list, and two sessions waiting
# for a consensus result are woken together by the deciding vote.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('barrier_sessions');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
$node->safe_psql('postgres', "SELECT fnd_barrier_create('phase', 2)");

my $view = "SELECT arrived || '/' || waiting FROM fnd_barriers WHERE name = 'phase'";

# an arrival, then a normal exit
my $s1 = $node->background_psql('postgres');
is($s1->query_safe("SELECT fnd_barrier_arrive('phase')"), '1', 'one arrival missing');
is($node->safe_psql('postgres', $view), '1/0', 'the arrival counts');
$s1->quit;
ok($node->poll_query_until('postgres', "SELECT ($view) = '0/0'"),
	'the arrival is withdrawn when the session exits');

# a session waiting in fnd_barrier_sync, terminated
$s1 = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $s1->query_safe('SELECT pg_backend_pid()');
$s1->query_until(qr/syncing/, "\\echo syncing\nSELECT fnd_barrier_sync('phase', 2, '60 s');\n");
ok($node->poll_query_until('postgres', "SELECT ($view) = '1/1'"),
	'the syncing session has arrived and waits');
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid, 10000)"), 't',
	'terminated');
is($node->safe_psql('postgres', $view), '0/0',
	'its arrival is withdrawn and it no longer waits');
eval { $s1->quit; };	# its psql has gone with the connection

# the next arrival does not trip the barrier with the dead party counted
is($node->safe_psql('postgres', "SELECT fnd_barrier_arrive('phase')"), '1',
	'the barrier does not trip with a dead party');
is($node->safe_psql('postgres', "SELECT generation FROM fnd_barriers WHERE name = 'phase'"),
	'1', 'still in generation 1');

# a waiter cancelled with pg_cancel_backend leaves the wait list; the
# withdrawn arrival of its sync does not count
$s1 = $node->background_psql('postgres', on_error_stop => 0);
$pid = $s1->query_safe('SELECT pg_backend_pid()');
$node->safe_psql('postgres', "SELECT fnd_barrier_create('cancel_me', 3)");
$s1->query_until(qr/syncing/, "\\echo syncing\nSELECT fnd_barrier_sync('cancel_me', 3, '60 s');\n");
ok($node->poll_query_until('postgres',
		"SELECT waiting = 1 FROM fnd_barriers WHERE name = 'cancel_me'"), 'waiting');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my ($out, $failed) = $s1->query('SELECT 1');
ok($failed, 'the wait was cancelled');
is($node->safe_psql('postgres', "SELECT arrived || '/' || waiting FROM fnd_barriers WHERE name = 'cancel_me'"),
	'0/0', 'the cancelled sync withdrew its arrival and left the wait list');
is($node->safe_psql('postgres', "SELECT fnd_barrier_remove('cancel_me')"), 't',
	'a barrier nobody waits on can be removed');
$s1->quit;

# two sessions wait for a consensus result; a third casts the deciding vote
$node->safe_psql('postgres', q{
	SELECT fnd_consensus_start('deploy', '{"version": "2.1"}', ARRAY['a', 'b', 'c']);
	SELECT fnd_consensus_vote('deploy', 'a', 'accept');
});
my $w1 = $node->background_psql('postgres');
my $w2 = $node->background_psql('postgres');
$w1->query_until(qr/w1 waits/,
	"\\echo w1 waits\nSELECT fnd_consensus_result('deploy', '60 s') || ' ' || extract(epoch FROM clock_timestamp());\n");
$w2->query_until(qr/w2 waits/,
	"\\echo w2 waits\nSELECT fnd_consensus_result('deploy', '60 s') || ' ' || extract(epoch FROM clock_timestamp());\n");
ok($node->poll_query_until('postgres', "SELECT waiting = 2 FROM fnd_consensus WHERE topic = 'deploy'"),
	'both sessions sleep on the round');
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('deploy')"), 'pending',
	'still pending before the deciding vote');
my $voted = $node->safe_psql('postgres',
	"SELECT fnd_consensus_vote('deploy', 'c', 'accept') || ' ' || extract(epoch FROM clock_timestamp())");
my $r1 = $w1->query_safe("SELECT 'done'");
my $r2 = $w2->query_safe("SELECT 'done'");
my ($v_status, $v_at) = split / /, $voted;
my ($r1_status, $r1_at) = split / /, (split /\n/, $r1)[0];
my ($r2_status, $r2_at) = split / /, (split /\n/, $r2)[0];
is($v_status, 'accepted', 'the vote decides the round');
is($r1_status, 'accepted', 'first waiter sees accepted');
is($r2_status, 'accepted', 'second waiter sees accepted');
cmp_ok($r1_at - $v_at, '<', 1.0, 'first waiter woke right after the vote');
cmp_ok($r2_at - $v_at, '<', 1.0, 'second waiter woke right after the vote');
note(sprintf('wake-up after the vote: %.3f ms and %.3f ms',
	1000 * ($r1_at - $v_at), 1000 * ($r2_at - $v_at)));
is($node->safe_psql('postgres', "SELECT waiting FROM fnd_consensus WHERE topic = 'deploy'"),
	'0', 'nobody waits any more');
$w1->quit;
$w2->quit;

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
