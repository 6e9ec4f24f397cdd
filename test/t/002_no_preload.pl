# Without shared_preload_libraries: CREATE EXTENSION works, table-backed
# parts work, shared-memory functions raise FN001 with a hint.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
is($node->safe_psql('postgres',
		"SELECT extversion = default_version FROM pg_extension, pg_available_extensions WHERE extname = 'foundation' AND name = extname"),
	't', 'CREATE EXTENSION works without preload (at the default version)');
is($node->safe_psql('postgres', 'SELECT count(*) > 25 FROM fnd_error_codes'),
	't', 'the error catalog works without preload');

my ($ret, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT * FROM fnd_services()");
like($err, qr/FN001/, 'a shared-memory function raises FN001');
like($err, qr/shared_preload_libraries/, 'its hint names shared_preload_libraries');

# the catch-by-SQLSTATE form users write
is($node->safe_psql('postgres', q{
DO $$ BEGIN PERFORM * FROM fnd_services();
EXCEPTION WHEN SQLSTATE 'FN001' THEN RAISE NOTICE 'ok'; END $$;
SELECT 'caught'}), 'caught', 'FN001 is catchable');

# no supervisor without preload
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'"),
	'0', 'no supervisor without preload');

$node->stop;
FndTest::server_log_ok($node);
done_testing();
