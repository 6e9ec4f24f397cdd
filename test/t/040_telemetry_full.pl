# Telemetry with a small table: once foundation.max_metrics series exist,
# measurements of new series are dropped and counted, the caller never gets
# an error, existing series keep working, the server is fine, and the
# WARNING shows up once, not once per drop.  Also: concurrent increments of
# one counter lose nothing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('telemetry_full');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.max_metrics = 10
foundation.max_histograms = 10
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

my $dropped = "SELECT sum::bigint FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped'";

# Other subsystems instrument themselves: the supervisor's registry pass
# records the gauge foundation.registry.entries in this database.  Wait for
# it, so that the series below fill exactly the room that is left.
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM fnd_metrics WHERE name = 'foundation.registry.entries'"),
	'the supervisor has recorded its own series');
my $room = 10 - $node->safe_psql('postgres',
	"SELECT count(*) FROM fnd_metrics WHERE name <> 'foundation.telemetry.dropped'");
cmp_ok($room, '>=', 2, 'room for the test series');

# fill the table
$node->safe_psql('postgres',
	"SELECT fnd_metric_increment('full.c' || g) FROM generate_series(1, $room) g");
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_metrics WHERE name LIKE 'full.%'"),
	$room, 'the remaining series fit');
is($node->safe_psql('postgres', $dropped), '0', 'nothing dropped yet');

# 25 more new series, of each kind: no error, all dropped
my ($ret, $out, $err) = $node->psql('postgres', q{
SELECT fnd_metric_increment('full.more' || g) FROM generate_series(1, 10) g;
SELECT fnd_metric_gauge('full.gauge' || g, g) FROM generate_series(1, 5) g;
SELECT fnd_metric_observe('full.hist' || g, g) FROM generate_series(1, 5) g;
SELECT fnd_telemetry_emit('full.emit' || g, '{"counter": 1}') FROM generate_series(1, 5) g;
SELECT 'still here';
});
is($ret, 0, 'recording into a full table does not fail the caller');
like($out, qr/still here/, 'the session carries on');
is($node->safe_psql('postgres', $dropped), '25', 'each dropped measurement is counted');
is(() = $err =~ /WARNING:  telemetry dropped a measurement/g, 1,
	'one WARNING for 25 drops');
like($err, qr/foundation.max_metrics/, 'the warning names the table limit');
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_metrics WHERE name LIKE 'full.%'"),
	$room, 'no series was added');

# the supervisor shows how full the table is
ok($node->poll_query_until('postgres',
		"SELECT detail = '10 of 10 series, 0 of 10 histograms, 25 dropped' FROM fnd_services() WHERE name = 'telemetry'"),
	'fnd_services() shows the table is full');

# another session: still no new WARNING within the minute, still counted
($ret, $out, $err) = $node->psql('postgres', "SELECT fnd_metric_increment('full.other')");
is($ret, 0, 'another session is not failed either');
unlike($err, qr/WARNING/, 'the warning is rate-limited server-wide');
is($node->safe_psql('postgres', $dropped), '26', 'counted');

# existing series keep working; the dropped counter is in the Prometheus text
$node->safe_psql('postgres', "SELECT fnd_metric_increment('full.c1', 41)");
is($node->safe_psql('postgres', "SELECT sum FROM fnd_metrics WHERE name = 'full.c1'"),
	'42', 'an existing series is still updated');
like($node->safe_psql('postgres', 'SELECT fnd_metrics_prometheus()'),
	qr/^foundation_telemetry_dropped 26$/m, 'the drop count is exported');

# the C API path is exercised by the supervisor and other subsystems; from
# SQL, a different database has its own series but shares the table
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION foundation');
($ret, $out, $err) = $node->psql('other', "SELECT fnd_metric_increment('full.elsewhere')");
is($ret, 0, 'the table is shared by all databases: full there too, no error');
is($node->safe_psql('other', "SELECT count(*) FROM fnd_metrics WHERE name LIKE 'full.%'"),
	'0', 'another database sees none of these series');

# reset frees room
is($node->safe_psql('postgres', "SELECT fnd_metrics_reset('full.c2')"), '1', 'reset one series');
$node->safe_psql('postgres', "SELECT fnd_metric_observe('full.hist_new', 5)");
is($node->safe_psql('postgres', "SELECT count FROM fnd_metrics WHERE name = 'full.hist_new'"),
	'1', 'a new series fits after a reset');

# concurrent increments of one counter: none is lost
$node->safe_psql('postgres', 'SELECT fnd_metrics_reset()');
$node->pgbench('-n -c 4 -j 4 -t 500', 0, [qr{processed: 2000/2000}], [qr{^$}],
	'concurrent increments and observations',
	{ 'tel' => q{SELECT fnd_metric_increment('full.shared'); SELECT fnd_metric_observe('full.shared_h', random() * 100);} });
is($node->safe_psql('postgres',
		"SELECT sum || '/' || count FROM fnd_metrics WHERE name = 'full.shared'"),
	'2000/2000', 'every concurrent increment counted');
is($node->safe_psql('postgres', "SELECT count FROM fnd_metrics WHERE name = 'full.shared_h'"),
	'2000', 'every concurrent observation counted');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server is fine');
$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
