# Real concurrent sessions: three waiters are served first come, first
# served, with increasing tokens; a try-lock does not overtake the queue; a
# queued waiter whose session is terminated leaves the queue; a leased
# holder's lapse hands the lock to the head waiter without any release.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('lock_waiters');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
$node->safe_psql('postgres', 'CREATE TABLE served (who text, token bigint, seq serial)');

sub session
{
	my $s = $node->background_psql('postgres');
	my $pid = $s->query_safe('SELECT pg_backend_pid()');
	chomp $pid;
	return ($s, $pid);
}

sub queue_until
{
	my ($name, $n) = @_;
	ok($node->poll_query_until('postgres',
			"SELECT waiters FROM fnd_locks WHERE name = '$name'", $n),
		"$name has $n waiter(s)");
}

sub holder_is
{
	my ($name, $pid, $what) = @_;
	ok($node->poll_query_until('postgres',
			"SELECT owner_pid FROM fnd_locks WHERE name = '$name' AND token IS NOT NULL", $pid),
		$what);
}

# FIFO among three waiters
my ($h, $hpid) = session();
my @w;
my @wpid;
for my $i (0 .. 2) { ($w[$i], $wpid[$i]) = session(); }

$h->query_safe("INSERT INTO served (who, token) SELECT 'h', fnd_lock_acquire('fifo')");
for my $i (0 .. 2)
{
	my $who = 'w' . ($i + 1);
	$w[$i]->query_until(qr/queued/, "\\echo queued\n"
		  . "INSERT INTO served (who, token) SELECT '$who', fnd_lock_acquire('fifo', '60 s');\n");
	queue_until('fifo', $i + 1);
}
is($node->safe_psql('postgres', "SELECT fnd_lock_acquire('fifo') IS NULL"), 't',
	'a try-lock does not overtake the queue');

$h->query_safe("SELECT fnd_lock_release('fifo')");
holder_is('fifo', $wpid[0], 'the first waiter holds the lock after the release');
$w[0]->query_safe("SELECT fnd_lock_release('fifo')");
holder_is('fifo', $wpid[1], 'then the second');
$w[1]->query_safe("SELECT fnd_lock_release('fifo')");
holder_is('fifo', $wpid[2], 'then the third');
$w[2]->query_safe("SELECT fnd_lock_release('fifo')");
is($node->safe_psql('postgres',
		"SELECT string_agg(who, ' ' ORDER BY seq) FROM served"),
	'h w1 w2 w3', 'served in arrival order');
is($node->safe_psql('postgres', q{
		SELECT bool_and(token > prev) FROM (
			SELECT token, lag(token, 1, 0::bigint) OVER (ORDER BY seq) AS prev
			FROM served) s}),
	't', 'tokens increase in acquisition order');

# a queued waiter whose session ends leaves the queue
$h->query_safe("SELECT fnd_lock_acquire('skip')");
$w[0]->query_until(qr/queued/, "\\echo queued\nSELECT fnd_lock_acquire('skip', '60 s');\n");
queue_until('skip', 1);
$w[1]->query_until(qr/queued/, "\\echo queued\nSELECT fnd_lock_acquire('skip', '60 s');\n");
queue_until('skip', 2);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid[0], 60000)");
queue_until('skip', 1);
$h->query_safe("SELECT fnd_lock_release('skip')");
holder_is('skip', $wpid[1], 'the lock skips the terminated waiter');
$w[1]->query_safe("SELECT fnd_lock_release('skip')");

# a leased holder's lapse hands the lock to the head waiter
my $tl = $h->query_safe("SELECT fnd_lock_acquire('lapse', '0', '300 ms')");
chomp $tl;
$w[2]->query_until(qr/queued/, "\\echo queued\n"
	  . "INSERT INTO served (who, token) SELECT 'lapse', fnd_lock_acquire('lapse', '60 s');\n");
holder_is('lapse', $wpid[2], 'the waiter gets the lock when the lease lapses');
cmp_ok($node->safe_psql('postgres', "SELECT token FROM served WHERE who = 'lapse'"),
	'>', $tl, 'with a larger token');
$w[2]->query_safe("SELECT fnd_lock_release('lapse')");
is($node->safe_psql('postgres', "SELECT fnd_lock_release('lapse', $tl)"), 'f',
	'the lapsed token releases nothing');

$_->quit for ($h, $w[1], $w[2]);
eval { $w[0]->quit; };
$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/,
	'no crash in the server log');
done_testing();
