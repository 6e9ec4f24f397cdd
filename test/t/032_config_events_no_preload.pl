# Without shared_preload_libraries the table-backed parts work (SPEC §2):
# config reads and writes, NOTIFY, storing and querying events; only the
# supervisor's retention is absent.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload_ce');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

$node->safe_psql('postgres', q{
SELECT fnd_config_update('db.pool.size', '10');
SELECT fnd_config_update('db.pool.timeout', '"5 s"');});
is($node->safe_psql('postgres', q{SELECT fnd_config_get('db.pool')}),
	'{"size": 10, "timeout": "5 s"}', 'config works without the preload');

my ($ret, $out, $err) = $node->psql('postgres', q{
LISTEN fnd_config;
SELECT fnd_config_update('db.pool.size', '11');
SELECT 1;});
like($err . $out, qr/Asynchronous notification "fnd_config" with payload "\{"op": "update", "path": "db.pool.size"\}"/,
	'NOTIFY fnd_config without the preload');

is($node->safe_psql('postgres', q{
SELECT fnd_store_event('a', '{"x": 1}');
SELECT count(*) FROM fnd_store_events('[{"type": "b"}, {"type": "c"}]');
SELECT string_agg(type, ',' ORDER BY id) FROM fnd_query_events();}),
	"1\n2\na,b,c", 'events work without the preload');

($ret, $out, $err) = $node->psql('postgres', 'SELECT * FROM fnd_services()');
like($err, qr/foundation must be loaded via shared_preload_libraries/,
	'fnd_services() needs the preload (FN001)');

$node->stop;
FndTest::server_log_ok($node);
done_testing();
