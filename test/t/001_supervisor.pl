# The supervisor worker: starts with the server, comes back after
# pg_terminate_backend and after a restart, reports its services.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('supervisor');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;

my $q_pid = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'";

ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_pid) s"),
	'supervisor appears in pg_stat_activity with its backend_type');
my $pid = $node->safe_psql('postgres', $q_pid);

$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
ok($node->poll_query_until('postgres',
		"SELECT bool_and(state IN ('running', 'disabled') AND runs > 0 OR last_run IS NULL AND state = 'running') FROM fnd_services()"),
	'every service is running (or disabled by its setting)');
ok($node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM fnd_services() WHERE last_run IS NOT NULL"),
	'the supervisor has run periodic work');

# terminated: the postmaster starts it again (bgw_restart_time = 1 s)
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $start = time;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM ($q_pid) s WHERE pid <> $pid"),
	'supervisor is back after pg_terminate_backend');
cmp_ok(time - $start, '<=', 5, 'within 5 seconds');

# a server restart brings it back too
$node->restart;
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_pid) s"),
	'supervisor is back after a restart');

# SIGHUP reloads its settings without restarting it
$pid = $node->safe_psql('postgres', $q_pid);
$node->append_conf('postgresql.conf', "foundation.supervisor_naptime = 150\n");
$node->reload;
ok($node->poll_query_until('postgres',
		"SELECT setting = '150' FROM pg_settings WHERE name = 'foundation.supervisor_naptime'"),
	'reload applies the new naptime');
is($node->safe_psql('postgres', $q_pid), $pid, 'reload does not restart the supervisor');

# a database without the extension: the supervisor waits quietly
$node->safe_psql('postgres', 'DROP EXTENSION foundation');
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_services() WHERE state = 'failed'"),
	'0', 'no service failed');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
