# Without shared_preload_libraries: every registry function and the view
# raise FN001 with the hint, and nothing crashes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('registry_nopreload');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

for my $call (
	"SELECT fnd_register('ns', 'a')",
	"SELECT * FROM fnd_lookup('ns', 'a')",
	"SELECT fnd_unregister('ns', 'a')",
	"SELECT fnd_update_metadata('ns', 'a', '{}')",
	"SELECT fnd_renew('ns', 'a')",
	"SELECT * FROM fnd_list_services('ns')",
	"SELECT * FROM fnd_find_services_by_metadata('ns', '{}')",
	"SELECT * FROM fnd_registry",
	"SELECT fnd_registry_stats()")
{
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$call");
	like($err, qr/FN001.*\n(.*\n)*HINT:.*shared_preload_libraries/, "$call raises FN001 with the hint");
}

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
