# Waits sleep rather than poll: a session waiting on a barrier or for a
# consensus result is woken by the event it waits for, not by a timer.  Over
# a 2 s window of waiting, its backend must be woken at most 10 times (its
# voluntary context switches, /proc/<pid>/status) and use under 0.2 s of CPU
# (/proc/<pid>/stat); a wait that polled every 100 ms or faster would show 20
# wake-ups or more.  The bounds are the ones the issue asks for, stated
# generously.  Then: an administrator's fnd_consensus_cancel wakes a waiter
# with "cancelled"; party ids belong to their session.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use POSIX ();
use Test::More;
use Time::HiRes qw(time sleep);

my $node = PostgreSQL::Test::Cluster->new('coordination_waits');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

my $hz = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

# (voluntary context switches, CPU seconds) of a process so far
sub proc_figures
{
	my ($pid) = @_;
	my ($switches) = slurp_file("/proc/$pid/status") =~ /^voluntary_ctxt_switches:\s+(\d+)/m;
	my $stat = slurp_file("/proc/$pid/stat");
	$stat =~ s/^.*\)\s+//s;    # fields after "pid (comm)": state is the first
	my @f = split /\s+/, $stat;
	return ($switches, ($f[11] + $f[12]) / $hz);    # utime, stime
}

# Measure a waiting backend over a 2 s window.
sub measure_wait
{
	my ($pid, $what) = @_;
	my ($s0, $cpu0) = proc_figures($pid);
	my $t0 = time;
	sleep(2);    # the measurement window, not a wait for a condition
	my ($s1, $cpu1) = proc_figures($pid);
	my $window = time - $t0;
	note(sprintf('%s: %d wake-ups and %.3f s CPU in %.2f s of waiting',
		$what, $s1 - $s0, $cpu1 - $cpu0, $window));
	cmp_ok($s1 - $s0, '<=', 10, "$what: woken at most 10 times in 2 s");
	cmp_ok($cpu1 - $cpu0, '<', 0.2, "$what: under 0.2 s of CPU in 2 s");
}

# a session sleeping in fnd_barrier_sync
$node->safe_psql('postgres', "SELECT fnd_barrier_create('sleepy', 2)");
my $w = $node->background_psql('postgres');
my $pid = $w->query_safe('SELECT pg_backend_pid()');
$w->query_until(qr/syncing/, "\\echo syncing\nSELECT fnd_barrier_sync('sleepy', 2, '60 s');\n");
ok($node->poll_query_until('postgres',
		"SELECT waiting = 1 FROM fnd_barriers WHERE name = 'sleepy'"),
	'the barrier waiter sleeps on the barrier');
measure_wait($pid, 'barrier wait');
is($node->safe_psql('postgres', "SELECT fnd_barrier_arrive('sleepy')"), '0',
	'the second arrival trips the barrier');
is((split /\n/, $w->query_safe("SELECT 'done'"))[0], '1',
	'the waiter returns generation 1');

# a session sleeping in fnd_consensus_result; an administrator cancels
# the round and the waiter wakes with "cancelled"
$node->safe_psql('postgres',
	"SELECT fnd_consensus_start('slow', '{}', ARRAY['a', 'b'], timeout => '1 h')");
$w->query_until(qr/waiting/,
	"\\echo waiting\nSELECT fnd_consensus_result('slow', '60 s') || ' ' || extract(epoch FROM clock_timestamp());\n");
ok($node->poll_query_until('postgres',
		"SELECT waiting = 1 FROM fnd_consensus WHERE topic = 'slow'"),
	'the result waiter sleeps on the round');
measure_wait($pid, 'consensus result wait');
my $cancelled = $node->safe_psql('postgres',
	"SELECT fnd_consensus_cancel('slow') || ' ' || extract(epoch FROM clock_timestamp())");
my ($c_ok, $c_at) = split / /, $cancelled;
is($c_ok, 'true', 'the administrator cancels the pending round');
my ($r_status, $r_at) = split / /, (split /\n/, $w->query_safe("SELECT 'done'"))[0];
is($r_status, 'cancelled', 'the waiter wakes with "cancelled"');
cmp_ok($r_at - $c_at, '<', 1.0, 'within a second of the cancel');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM fnd_events
	WHERE type = 'consensus_decided' AND data->>'topic' = 'slow' AND data->>'outcome' = 'cancelled'
}), '1', 'the cancellation is recorded once');
$w->quit;

# party ids are the session's own: the same id from two sessions is two parties
$node->safe_psql('postgres', "SELECT fnd_barrier_create('ids', 2)");
my $b1 = $node->background_psql('postgres');
my $b2 = $node->background_psql('postgres');
is($b1->query_safe("SELECT fnd_barrier_arrive('ids', 'worker')"), '1',
	'first session arrives as party "worker"');
is($b1->query_safe("SELECT fnd_barrier_arrive('ids', 'worker')"), '1',
	'and again: not counted twice');
is($b2->query_safe("SELECT fnd_barrier_arrive('ids', 'worker')"), '0',
	'"worker" of another session is another party: the barrier trips');
is($b1->query_safe("SELECT fnd_barrier_arrive('ids', 'worker')"), '1',
	'the id counts again in the next generation');
$b1->quit;
ok($node->poll_query_until('postgres',
		"SELECT arrived = 0 FROM fnd_barriers WHERE name = 'ids'"),
	'the arrival of a party id is withdrawn when its session ends');
$b2->quit;

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
