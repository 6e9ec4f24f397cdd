# Decided consensus rounds give way.  With foundation.max_coordination_objects
# = 20 and foundation.value_memory = 1MB: more decided rounds than slots
# still start (each evicts the longest-decided one, whose result then reads
# from its event); barriers still get slots (they evict decided rounds too);
# rounds whose proposals together exceed the value memory still start, and
# the memory of evicted rounds returns (the foundation.consensus.value_bytes
# gauge, published by the supervisor); registry metadata gets room from
# decided rounds.  FN607 comes only when barriers and rounds that cannot
# give way fill the table, with a hint that names every way out.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('coordination_capacity');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.max_coordination_objects = 20
foundation.value_memory = 1MB
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

my $in_view = 'SELECT count(*) FROM fnd_consensus';
my $gauge = q{SELECT coalesce(max(last), -1)::bigint FROM fnd_metrics
	WHERE name = 'foundation.consensus.value_bytes'};

# Start and decide rounds r<from>..r<to>, each in its own transactions
# (a decision is recorded, and its round evictable, once committed).
sub decide_rounds
{
	my ($from, $to, $proposal) = @_;
	my $sql = '';
	for my $i ($from .. $to)
	{
		$sql .= "SELECT fnd_consensus_start('r$i', $proposal, ARRAY['a']);\n";
		$sql .= "SELECT fnd_consensus_vote('r$i', 'a', 'accept');\n";
	}
	return $node->psql('postgres', $sql, on_error_stop => 1);
}

# 1. more decided rounds than slots
my ($rc, $out, $err) = decide_rounds(1, 50, q{'{"n": 1}'});
is($rc, 0, '50 decided rounds start in a table of 20 slots') or diag($err);
is($node->safe_psql('postgres', $in_view), '20', 'the table holds the latest 20');
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('r1')"), 'accepted',
	'an evicted round answers from its event');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM fnd_events WHERE type = 'consensus_decided' AND data->>'outcome' = 'accepted'
}), '50', 'every decision is stored once');

# 2. barriers take the slots of decided rounds
($rc, $out, $err) = $node->psql('postgres',
	"SELECT fnd_barrier_create('b' || i, 2) FROM generate_series(1, 20) i");
is($rc, 0, 'twenty barriers get slots held by decided rounds') or diag($err);
is($node->safe_psql('postgres', $in_view), '0', 'every decided round gave way');
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('r50')"), 'accepted',
	'the last round answers from its event too');
is($node->safe_psql('postgres', q{
	SELECT last FROM fnd_metrics WHERE name = 'foundation.consensus.evicted'
}), '50', 'foundation.consensus.evicted counts 50 evictions');
($rc, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\nSELECT fnd_barrier_create('b21', 2)");
like($err, qr/FN607/, 'a barrier beyond the table is FN607');
like($err, qr/taken by 20 barriers/, 'the detail counts the barriers');
like($err, qr/fnd_barrier_remove\(\).*fnd_consensus_cancel\(\).*max_coordination_objects/s,
	'the hint names every way out');
($rc, $out, $err) = $node->psql('postgres', "SELECT fnd_consensus_start('r51', '{}', ARRAY['a'])");
like($err, qr/too many barriers and consensus rounds/, 'so is a round');

# pending rounds never give way
$node->safe_psql('postgres', "SELECT fnd_barrier_remove('b' || i) FROM generate_series(1, 20) i");
$node->safe_psql('postgres',
	"SELECT fnd_consensus_start('p' || i, '{}', ARRAY['a'], timeout => '1 h') FROM generate_series(1, 20) i");
($rc, $out, $err) = $node->psql('postgres', "SELECT fnd_barrier_create('b1', 2)");
like($err, qr/too many barriers and consensus rounds/, 'pending rounds are not evicted');
$node->safe_psql('postgres',
	"SELECT fnd_consensus_cancel('p' || i) FROM generate_series(1, 20) i");
is($node->safe_psql('postgres', "SELECT fnd_barrier_create('b1', 2)"), '',
	'once cancelled (decided and recorded) they give way');
$node->safe_psql('postgres', "SELECT fnd_barrier_remove('b1')");

# 3. value memory: proposals of 200 kB, five times the 1MB area in all
my $big = q{jsonb_build_object('pad', repeat('x', 200000))};
($rc, $out, $err) = decide_rounds(101, 125, $big);
is($rc, 0, '25 rounds of 200 kB start in 1MB of value memory') or diag($err);
cmp_ok($node->safe_psql('postgres', $in_view), '<=', 5, 'at most five fit at once');
ok($node->poll_query_until('postgres', "SELECT ($gauge) BETWEEN 200000 AND 1048576"),
	'value_bytes shows the proposals held, within the area');
($rc, $out, $err) = $node->psql('postgres',
	"SELECT fnd_barrier_create('b' || i, 2) FROM generate_series(1, 20) i");
is($rc, 0, 'barriers evict the big rounds') or diag($err);
ok($node->poll_query_until('postgres', "SELECT ($gauge) = 0"),
	'and their value memory returns: value_bytes is 0');
$node->safe_psql('postgres', "SELECT fnd_barrier_remove('b' || i) FROM generate_series(1, 20) i");

# 4. other users of the value area get room from decided rounds
($rc, $out, $err) = decide_rounds(201, 204, $big);
is($rc, 0, 'four rounds of 200 kB fill most of the area');
($rc, $out, $err) = $node->psql('postgres', q{
	SELECT fnd_register('cap', 's' || i, jsonb_build_object('pad', repeat('y', 7000)))
	FROM generate_series(1, 60) i});
is($rc, 0, '420 kB of registry metadata fit: decided rounds gave way') or diag($err);
cmp_ok($node->safe_psql('postgres', $in_view), '<', 4, 'some of the rounds were evicted');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
