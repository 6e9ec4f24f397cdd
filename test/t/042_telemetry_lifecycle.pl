# Telemetry over the life of databases and of the server:
#  - the series of a dropped database are swept by the supervisor, and so
#    are those the saved file brings back after a restart (a file may hold
#    series of a database dropped since: the catalog cannot be read while
#    the postmaster loads it);
#  - an immediate stop keeps the metrics (the postmaster saves them as it
#    exits), a crash of a server process loses them (041 tests the crash);
#  - without the preload, foundation.* settings in postgresql.conf give an
#    ordinary user no WARNING when the library loads.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('telemetry_life');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
my $file = $node->data_dir . '/pg_stat/foundation_telemetry.stat';

# The telemetry service's detail: "412 of 5000 series, 12 of 1000 histograms, 0 dropped".
sub use_is
{
	my ($series, $histograms) = @_;
	return "SELECT detail ~ '^$series of \\d+ series, $histograms of ' FROM fnd_services() WHERE name = 'telemetry'";
}

# The supervisor records a gauge of its own in this database: wait for it,
# so that the table's use is stable from here on.
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM fnd_metrics WHERE name = 'foundation.registry.entries'"),
	'the supervisor has recorded its own series');
my $base = $node->safe_psql('postgres',
	"SELECT count(*) FROM fnd_metrics WHERE name <> 'foundation.telemetry.dropped'");
ok($node->poll_query_until('postgres', use_is($base, 0)),
	"the table holds $base series, no histogram");

# 1. A dropped database's series go while the server runs.
$node->safe_psql('postgres', 'CREATE DATABASE doomed');
$node->safe_psql('doomed', q{
CREATE EXTENSION foundation;
SELECT fnd_metric_observe('doomed.h' || g, g) FROM generate_series(1, 3) g;
SELECT fnd_metric_increment('doomed.c' || g, g, '{"k": "v"}') FROM generate_series(1, 2) g;
});
ok($node->poll_query_until('postgres', use_is($base + 5, 3)),
	'the other database\'s 5 series, 3 of them histograms, are in the table');
$node->safe_psql('postgres', 'DROP DATABASE doomed');
ok($node->poll_query_until('postgres', use_is($base, 0)),
	'dropping the database frees its series and sketches');

# 2. A saved file that holds a series of a database that no longer exists:
# a clean stop saves this database's series; one of them is moved to a
# database OID that is not in pg_database, as a file saved before a DROP
# DATABASE that the supervisor had not swept yet would hold it.
$node->safe_psql('postgres', q{
SELECT fnd_metric_observe('life.hist', 10);
SELECT fnd_metric_increment('life.count', 7);
});
my $oid = $node->safe_psql('postgres',
	"SELECT oid FROM pg_database WHERE datname = 'postgres'");
$node->stop;
ok(-e $file, 'a clean stop saves the metrics');
open(my $fh, '+<:raw', $file) or die "cannot open $file: $!";
my $content = do { local $/; <$fh> };
my ($magic, $entry_size, $entries) = unpack('LLq', $content);
is($entries, $base + 2, 'the file holds every series');
# a key starts with the database OID, the name's and the tags' lengths, the name
my $at = index($content, pack('LSS', $oid, length('life.count'), 0) . 'life.count');
ok($at >= 24, 'found the key of life.count in the file');
seek($fh, $at, 0);
print $fh pack('L', 4000000000);
close($fh);

$node->start;
ok(!-e $file, 'the file is read and removed at start');
ok($node->poll_query_until('postgres', q{
SELECT substring(detail from '^(\d+) of')::int =
       (SELECT count(*) FROM fnd_metrics WHERE name <> 'foundation.telemetry.dropped')
FROM fnd_services() WHERE name = 'telemetry'}),
	'after the restart, every series in the table belongs to a database that exists');
is($node->safe_psql('postgres',
		"SELECT string_agg(name || ' ' || sum, ', ' ORDER BY name) FROM fnd_metrics WHERE name LIKE 'life.%'"),
	'life.hist 10', 'the series of the vanished database is gone, the others are back');

# 3. An immediate stop keeps the metrics.
$node->safe_psql('postgres', q{
SELECT fnd_metrics_reset('life.count');
SELECT fnd_metric_increment('life.count', 5);
SELECT fnd_metric_observe('life.imm', g) FROM generate_series(1, 100) g;
});
my $snapshot = q{SELECT string_agg(format('%s %s %s %s %s', name, kind, count, sum, p99), E'\n' ORDER BY name)
FROM fnd_metrics WHERE name LIKE 'life.%'};
my $before = $node->safe_psql('postgres', $snapshot);
$node->stop('immediate');
ok(-e $file, 'the postmaster saves the metrics at an immediate stop too');
$node->start;
is($node->safe_psql('postgres', $snapshot), $before,
	'after an immediate stop every series is back, unchanged');
$node->stop;

# 4. Without the preload, settings in postgresql.conf stay quiet.
my $plain = PostgreSQL::Test::Cluster->new('telemetry_nopreload');
$plain->init;
$plain->append_conf('postgresql.conf', qq{
foundation.database = 'postgres'
foundation.max_metrics = 100
foundation.max_histograms = 20
foundation.value_memory = '8MB'
foundation.telemetry_save = off
});
$plain->start;
my ($ret, $out, $err) = $plain->psql('postgres', 'CREATE EXTENSION foundation');
is($ret, 0, 'CREATE EXTENSION works without the preload');
unlike($err, qr/WARNING/, 'no WARNING when the superuser creates the extension');
$plain->safe_psql('postgres', 'CREATE ROLE life_user LOGIN');
($ret, $out, $err) = $plain->psql('postgres',
	"SELECT count(*) > 0 FROM fnd_error_codes",
	extra_params => [ '-U', 'life_user' ]);
is($out, 't', 'an ordinary user calls a function of the extension');
unlike($err, qr/WARNING/, 'and sees no WARNING');
($ret, $out, $err) = $plain->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT fnd_metric_increment('x')",
	extra_params => [ '-U', 'life_user' ]);
like($err, qr/FN001/, 'a shared-memory function raises FN001');
unlike($err, qr/WARNING/, 'with no WARNING either');
$plain->stop;
done_testing();
