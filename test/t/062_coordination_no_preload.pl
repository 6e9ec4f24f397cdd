# Without shared_preload_libraries every barrier and consensus function
# raises FN001, and the views do too; nothing crashes.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('coordination_nopreload');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

for my $sql (
	"SELECT fnd_barrier_create('b', 2)",
	"SELECT fnd_barrier_arrive('b')",
	"SELECT fnd_barrier_arrive('b', 'p')",
	"SELECT fnd_barrier_wait('b')",
	"SELECT fnd_barrier_sync('b', 2)",
	"SELECT fnd_barrier_remove('b')",
	"SELECT * FROM fnd_barriers",
	"SELECT fnd_consensus_start('t', '{}', ARRAY['a'])",
	"SELECT fnd_consensus_vote('t', 'a', 'accept')",
	"SELECT fnd_consensus_result('t')",
	"SELECT fnd_consensus_cancel('t')",
	"SELECT * FROM fnd_consensus")
{
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	like($err, qr/FN001/, "FN001: $sql");
}

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
