# The supervisor: a launcher ("foundation supervisor", connected to no
# database) that starts with the server, comes back after
# pg_terminate_backend and after a restart, and keeps one "foundation
# worker" in each database that has the extension; fnd_services() reports
# both.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('supervisor');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;

my $q_pid = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'";
my $q_worker = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'foundation worker' AND datname = 'postgres'";

ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_pid) s"),
	'launcher appears in pg_stat_activity with its backend_type');
is($node->safe_psql('postgres',
		"SELECT datname IS NULL FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'"),
	't', 'the launcher is connected to no database');
my $pid = $node->safe_psql('postgres', $q_pid);
is($node->safe_psql('postgres', "SELECT count(*) FROM ($q_worker) s"), '0',
	'no worker in a database without the extension');

$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_worker) s"),
	'CREATE EXTENSION gets the database a worker');
ok($node->poll_query_until('postgres',
		"SELECT bool_and(state IN ('running', 'disabled') AND runs > 0) FROM fnd_services()"),
	'every service is running (or disabled by its setting)');
is($node->safe_psql('postgres', q{
	SELECT string_agg(name || ':' || coalesce(database, '-'), ' ' ORDER BY name)
	FROM fnd_services() WHERE name IN ('events', 'consensus', 'consensus_record', 'lock')}),
	'consensus:- consensus_record:postgres events:postgres lock:-',
	'table services belong to this database, shared-memory services to none');
ok($node->poll_query_until('postgres', q{
	SELECT state || ' ' || (pid IS NOT NULL) || ' ' || restarts
	FROM fnd_database_workers WHERE datname = 'postgres'}, 'running true 0'),
	'fnd_database_workers shows the worker');

# terminated: the postmaster starts the launcher again (bgw_restart_time 1 s);
# the new launcher starts the database's worker afresh
my $wpid = $node->safe_psql('postgres', $q_worker);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $start = time;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM ($q_pid) s WHERE pid <> $pid"),
	'launcher is back after pg_terminate_backend');
cmp_ok(time - $start, '<=', 5, 'within 5 seconds');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM ($q_worker) s WHERE pid <> $wpid"),
	'and the database worker with it');

# a server restart brings both back
$node->restart;
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_pid) s"),
	'launcher is back after a restart');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_worker) s"),
	'worker is back after a restart');

# SIGHUP reloads settings without restarting anything
$pid = $node->safe_psql('postgres', $q_pid);
$wpid = $node->safe_psql('postgres', $q_worker);
$node->append_conf('postgresql.conf', "foundation.supervisor_naptime = 150\n");
$node->reload;
ok($node->poll_query_until('postgres',
		"SELECT setting = '150' FROM pg_settings WHERE name = 'foundation.supervisor_naptime'"),
	'reload applies the new naptime');
is($node->safe_psql('postgres', $q_pid), $pid, 'reload does not restart the launcher');
is($node->safe_psql('postgres', $q_worker), $wpid, 'nor the worker');

# DROP EXTENSION: the worker leaves; CREATE EXTENSION: it comes back
$node->safe_psql('postgres', 'DROP EXTENSION foundation');
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM ($q_worker) s"),
	'DROP EXTENSION ends the worker');
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_worker) s"),
	'CREATE EXTENSION starts it again');
ok($node->poll_query_until('postgres',
		"SELECT state || ' ' || restarts FROM fnd_database_workers WHERE datname = 'postgres'",
		'running 0'),
	'leaving on DROP EXTENSION is not counted as a restart');
ok($node->poll_query_until('postgres',
		"SELECT bool_and(state IN ('running', 'disabled') AND runs > 0) FROM fnd_services()"),
	'its services run again');
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_services() WHERE state = 'failed'"),
	'0', 'no service failed');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:|foundation service .* failed/,
	'no crash in the server log');
done_testing();
