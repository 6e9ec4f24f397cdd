# Telemetry persistence: metrics survive a clean restart with
# foundation.telemetry_save on (the default), not after a crash, and not
# with the setting off.  Without preload the SQL functions raise FN001.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('telemetry_restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

my $snapshot = q{SELECT string_agg(format('%s %s %s %s %s %s %s %s %s', name, tags, kind, count, sum, last, p50, p99, updated_at), E'\n' ORDER BY name, tags::text)
FROM fnd_metrics WHERE name LIKE 'rs.%'};
my $file = $node->data_dir . '/pg_stat/foundation_telemetry.stat';

$node->safe_psql('postgres', q{
SELECT fnd_metric_increment('rs.count', 3, '{"k": "v"}');
SELECT fnd_metric_increment('rs.count', 4, '{"k": "v"}');
SELECT fnd_metric_gauge('rs.gauge', -2.5);
SELECT count(*) FROM (SELECT fnd_metric_observe('rs.hist', g) FROM generate_series(1, 1000) g) s;
SELECT fnd_metric_increment('rs.bad', 'NaN');
});
my $before = $node->safe_psql('postgres', $snapshot);
like($before, qr/rs\.count \{"k": "v"\} counter 2 7 7/, 'a counter with tags');
like($before, qr/rs\.hist \{\} histogram 1000 500500/, 'a histogram');

$node->restart;
ok(!-e $file, 'the save file is read and removed at start');
is($node->safe_psql('postgres', $snapshot), $before,
	'every series survives a clean restart, unchanged');
is($node->safe_psql('postgres', "SELECT sum FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped'"),
	'1', 'the dropped counter survives too');
$node->safe_psql('postgres', "SELECT fnd_metric_increment('rs.count', 1, '{\"k\": \"v\"}')");
is($node->safe_psql('postgres', "SELECT sum FROM fnd_metrics WHERE name = 'rs.count'"),
	'8', 'a restored counter keeps counting');

# a crash (any backend killed by SIGKILL): shared memory is rebuilt, no file
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'");
ok($pid =~ /^\d+$/, 'found a backend to kill');
kill 'KILL', $pid;
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_metrics WHERE name LIKE 'rs.%'"),
	'a crash loses the metrics, by design');
is($node->safe_psql('postgres', "SELECT sum FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped'"),
	'0', 'and the dropped counter');

# a clean stop after the crash saves again
$node->safe_psql('postgres', "SELECT fnd_metric_increment('rs.after_crash')");
$node->restart;
is($node->safe_psql('postgres', "SELECT count FROM fnd_metrics WHERE name = 'rs.after_crash'"),
	'1', 'saved again at the next clean restart');

# foundation.telemetry_save = off (a reload is enough): nothing kept
$node->append_conf('postgresql.conf', "foundation.telemetry_save = off\n");
$node->reload;
ok($node->poll_query_until('postgres',
		"SELECT setting = 'off' FROM pg_settings WHERE name = 'foundation.telemetry_save'"),
	'save turned off by a reload');
$node->safe_psql('postgres', "SELECT fnd_metric_increment('rs.unsaved')");
$node->stop;
ok(!-e $file, 'nothing written at shutdown with save off');
$node->start;
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_metrics WHERE name LIKE 'rs.%'"),
	'0', 'with save off nothing survives a restart');

# without preload: FN001 from every SQL function of telemetry
$node->stop;
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->start;
for my $sql ("SELECT fnd_metric_increment('x')", "SELECT fnd_metric_gauge('x', 1)",
	"SELECT fnd_metric_observe('x', 1)", "SELECT fnd_telemetry_emit('x', '{\"counter\": 1}')",
	'SELECT * FROM fnd_metrics', 'SELECT fnd_metrics_reset()', 'SELECT fnd_metrics_prometheus()')
{
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	like($err, qr/FN001/, "without preload: $sql raises FN001");
}
$node->stop;
# one kill -9 (the supervisor), and nothing else
FndTest::server_log_ok($node, kills => 1);
done_testing();
