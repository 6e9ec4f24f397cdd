# Fencing tokens and election terms after a clean restart and after a crash
# restart (kill -9 of a backend) are larger than any handed out before,
# including tokens handed out inside a transaction that never committed.
# Shared-memory state (held locks, leaders) is gone after either.  A
# pg_dump/restore round trip keeps tokens and terms growing too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lock_restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

sub max_token
{
	# many tokens at once, so several sequence WAL records are involved
	return $node->safe_psql('postgres', q{
		SELECT max(t) FROM (
			SELECT fnd_lock_acquire('r.' || g) AS t FROM generate_series(1, 100) g) s});
}

sub new_term
{
	my ($group) = @_;
	$node->safe_psql('postgres',
		"SELECT fnd_elect_leader('$group', 'c', '1 hour')");
	return $node->safe_psql('postgres', "SELECT term FROM fnd_leader('$group')");
}

my $t1 = max_token();
my $e1 = new_term('g1');
ok($t1 > 0 && $e1 > 0, "tokens ($t1) and terms ($e1) before restart");

# a leased lock and a leader survive sessions but not a restart
$node->safe_psql('postgres', "SELECT fnd_lock_acquire('r.leased', '0', '1 hour')");
my $t1b = $node->safe_psql('postgres', "SELECT token FROM fnd_locks WHERE name = 'r.leased'");

$node->restart;
is($node->safe_psql('postgres', 'SELECT count(*) FROM fnd_locks'), '0',
	'no lock survives a restart');
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_leader('g1')"), '0',
	'no leader survives a restart');
my $t2 = max_token();
my $e2 = new_term('g1');
cmp_ok($t2, '>', $t1b, "tokens after a restart ($t2) are larger than before ($t1b)");
cmp_ok($e2, '>', $e1, "terms after a restart ($e2) are larger than before ($e1)");

# Tokens handed out in a transaction that is still open, with asynchronous
# commit, when the server crashes: the WAL that covers them must already
# be on disk.
my $bg = $node->background_psql('postgres');
$bg->query_safe('SET synchronous_commit = off');
$bg->query_safe('BEGIN');
my $t3 = $bg->query_safe(q{
	SELECT max(t) FROM (
		SELECT fnd_lock_acquire('open.' || g) AS t FROM generate_series(1, 100) g) s});
chomp $t3;
$bg->query_safe("SELECT fnd_elect_leader('g2', 'c', NULL)");
my $e3 = $bg->query_safe("SELECT term FROM fnd_leader('g2')");
chomp $e3;
cmp_ok($t3, '>', $t2, "tokens in the open transaction ($t3)");

# crash: kill -9 a backend; the postmaster reinitialises and recovers
my $victim = $bg->query_safe('SELECT pg_backend_pid()');
chomp $victim;
my $log_offset = -s $node->logfile;
kill 'KILL', $victim;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server is back after the crash');
eval { $bg->quit; };

is($node->safe_psql('postgres', 'SELECT count(*) FROM fnd_locks'), '0',
	'no lock survives a crash');
my $t4 = max_token();
my $e4 = new_term('g2');
cmp_ok($t4, '>', $t3, "tokens after a crash ($t4) are larger than any before ($t3)");
cmp_ok($e4, '>', $e3, "terms after a crash ($e4) are larger than any before ($e3)");

# and a second crash right after, without any commit in between
$bg = $node->background_psql('postgres');
$bg->query_safe('SET synchronous_commit = off');
$bg->query_safe('BEGIN');
my $t5 = $bg->query_safe("SELECT fnd_lock_acquire('once')");
chomp $t5;
$victim = $bg->query_safe('SELECT pg_backend_pid()');
chomp $victim;
$log_offset = -s $node->logfile;
kill 'KILL', $victim;
$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_offset);
ok($node->poll_query_until('postgres', 'SELECT 1', '1'), 'server is back after the second crash');
eval { $bg->quit; };
my $t6 = $node->safe_psql('postgres', "SELECT fnd_lock_acquire('once')");
cmp_ok($t6, '>', $t5, "a token after the second crash ($t6) is larger than the last one ($t5)");

# pg_dump keeps the sequences' position: a restored database continues above
my $dumpfile = $node->basedir . '/lock.dump.sql';
$node->safe_psql('postgres', "SELECT fnd_elect_leader('g3', 'c', '1 hour')");
my $e7 = $node->safe_psql('postgres', "SELECT term FROM fnd_leader('g3')");
$node->command_ok([ 'pg_dump', '-f', $dumpfile, '-d', $node->connstr('postgres') ],
	'pg_dump');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', $dumpfile,
		'-d', $node->connstr('restored') ], 'restore');
my $t7 = $node->safe_psql('restored', "SELECT fnd_lock_acquire('after.restore')");
cmp_ok($t7, '>', $t6, "a token in the restored database ($t7) is larger than before the dump ($t6)");
$node->safe_psql('restored', "SELECT fnd_elect_leader('g3', 'c', '1 hour')");
cmp_ok($node->safe_psql('restored', "SELECT term FROM fnd_leader('g3')"), '>', $e7,
	'so is a term');

$node->stop;
# two kill -9 of a backend, and nothing else
FndTest::server_log_ok($node, kills => 2);
done_testing();
