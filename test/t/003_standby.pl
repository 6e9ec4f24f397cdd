# On a hot standby the supervisor runs its shared-memory services, skips
# those that write tables, and raises no error; after promotion it does
# everything.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.event_retention = '1d'
});
$primary->start;
$primary->safe_psql('postgres', 'CREATE EXTENSION foundation');
$primary->backup('b1');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;
$primary->wait_for_catchup($standby);

my $q_sup = "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'";
ok($standby->poll_query_until('postgres', $q_sup), 'supervisor runs on the standby');
ok($standby->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM fnd_services() WHERE detail LIKE 'skipped: server is a hot standby%'"),
	'table services are skipped on the standby');
is($standby->safe_psql('postgres', "SELECT count(*) FROM fnd_services() WHERE state = 'failed'"),
	'0', 'no service failed on the standby');

$standby->promote;
ok($standby->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_services() WHERE detail LIKE 'skipped%'"),
	'after promotion no service is skipped');
ok($standby->poll_query_until('postgres', $q_sup), 'supervisor still runs after promotion');

$standby->stop;
$primary->stop;
unlike(slurp_file($standby->logfile), qr/PANIC|terminated by signal|TRAP:|foundation service .* failed/,
	'standby log is clean');
done_testing();
