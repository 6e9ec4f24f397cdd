# Registry lifetimes with real sessions: a session-owned entry vanishes
# when its session ends (normal exit, pg_terminate_backend, FATAL); a
# leased entry survives its session, is renewed by another session of the
# role, and once its lease runs out is swept by the supervisor without any
# other access; nothing survives a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('registry_sessions');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

sub present
{
	my ($name) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM fnd_lookup('sess', '$name')");
}

# normal exit
my $s = $node->background_psql('postgres');
$s->query_safe("SELECT fnd_register('sess', 'normal')");
my $pid = $s->query_safe("SELECT pg_backend_pid()");
is(present('normal'), '1', 'entry visible to another session while its session lives');
is($node->safe_psql('postgres', "SELECT owner_pid FROM fnd_lookup('sess', 'normal')"),
	$pid, 'owner_pid is the registering session');
$s->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_lookup('sess', 'normal')"),
	'entry gone after a normal exit');

# pg_terminate_backend
$s = $node->background_psql('postgres');
$s->query_safe("SELECT fnd_register('sess', 'terminated')");
$pid = $s->query_safe("SELECT pg_backend_pid()");
is(present('terminated'), '1', 'second entry registered');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_lookup('sess', 'terminated')"),
	'entry gone after pg_terminate_backend');
$s->{run}->kill_kill;

# FATAL: idle_session_timeout ends the session from the inside
$s = $node->background_psql('postgres', on_error_stop => 0);
$s->query_safe("SELECT fnd_register('sess', 'fatal')");
$pid = $s->query_safe("SELECT pg_backend_pid()");
is(present('fatal'), '1', 'third entry registered');
$s->query_safe("SET idle_session_timeout = '100ms'");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the idle session was ended by FATAL');
is(present('fatal'), '0', 'entry gone after FATAL');
$s->{run}->kill_kill;
ok($node->log_contains('terminating connection due to idle-session timeout'),
	'the log shows the FATAL');

# the name of an ended session is free for someone else
$node->safe_psql('postgres', "SELECT fnd_register('sess', 'terminated', lease => '1 hour')");
is(present('terminated'), '1', 'a freed name can be registered again');

# leased: survives its session, renewable and removable by the role
$s = $node->background_psql('postgres');
$s->query_safe("SELECT fnd_register('sess', 'leased', '{\"v\": 1}', '1 hour')");
$pid = $s->query_safe("SELECT pg_backend_pid()");
my $expiry = $node->safe_psql('postgres',
	"SELECT lease_expires_at FROM fnd_lookup('sess', 'leased')");
$s->quit;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid"),
	'the leasing session has ended');
is($node->safe_psql('postgres',
		"SELECT owner_pid IS NULL AND metadata->>'v' = '1' FROM fnd_lookup('sess', 'leased')"),
	't', 'leased entry survives the end of its session');
is($node->safe_psql('postgres',
		"SELECT fnd_renew('sess', 'leased') > '$expiry'"),
	't', 'another session of the role renews it');

# supervisor sweep: a short lease nobody touches disappears from the table
my $before = $node->safe_psql('postgres',
	"SELECT fnd_registry_stats()->>'expired_total'");
$node->safe_psql('postgres', "SELECT fnd_register('sess', 'short', '{}', '300ms')");
ok($node->poll_query_until('postgres', qq{
	SELECT (s->>'expired_total')::int > $before AND (s->>'expired_unswept')::int = 0
	FROM fnd_registry_stats() s}),
	'the supervisor swept the expired lease');
like($node->safe_psql('postgres',
		"SELECT detail FROM fnd_services() WHERE name = 'registry'"),
	qr/entries, \d+ leased/, 'fnd_services shows the registry detail');
is(present('short'), '0', 'the swept entry is gone');
is(present('leased'), '1', 'the long lease is still there');
is($node->safe_psql('postgres', "SELECT fnd_unregister('sess', 'leased')"),
	't', 'and can be unregistered by its role');

# shared memory does not survive a restart
$node->restart;
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_registry"),
	'0', 'the registry is empty after a restart');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
