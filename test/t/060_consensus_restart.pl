# Consensus decisions outlive shared memory: a decided round's outcome is
# read from its consensus_decided event after a restart; a round that times
# out while nobody looks is decided and recorded by the supervisor; a round
# still pending at a restart is gone (shared memory is not durable).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('consensus_restart');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

# decided by votes
$node->safe_psql('postgres', q{
	SELECT fnd_consensus_start('schema_v2', '{"ddl": "ALTER TABLE t ADD c int"}', ARRAY['a', 'b', 'c']);
	SELECT fnd_consensus_vote('schema_v2', 'a', 'accept');
	SELECT fnd_consensus_vote('schema_v2', 'b', 'accept');
});
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('schema_v2')"),
	'accepted', 'decided before the restart');

# rejected, in another database
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION foundation');
$node->safe_psql('other', q{
	SELECT fnd_consensus_start('schema_v2', '"other db"', ARRAY['x', 'y']);
	SELECT fnd_consensus_vote('schema_v2', 'x', 'reject');
});
is($node->safe_psql('other', "SELECT fnd_consensus_result('schema_v2')"),
	'rejected', 'the same topic in another database decides on its own');

# a timeout nobody looks at: the supervisor's sweep decides and records it
$node->safe_psql('postgres', q{
	SELECT fnd_consensus_start('unwatched', '{}', ARRAY['a', 'b'], timeout => '200 ms');
});
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM fnd_events
	WHERE type = 'consensus_decided' AND data->>'topic' = 'unwatched' AND data->>'outcome' = 'timeout'
}), 'the supervisor records a timeout nobody looked at');

# pending at the restart
$node->safe_psql('postgres', q{
	SELECT fnd_consensus_start('in_flight', '{}', ARRAY['a', 'b'], timeout => '1 h');
	SELECT fnd_consensus_vote('in_flight', 'a', 'accept');
});

$node->restart;

is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_consensus"), '0',
	'shared memory starts empty after the restart');
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('schema_v2')"),
	'accepted', 'accepted outcome read back from its event after the restart');
is($node->safe_psql('other', "SELECT fnd_consensus_result('schema_v2')"),
	'rejected', 'rejected outcome in the other database after the restart');
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('unwatched', '1 s')"),
	'timeout', 'timeout outcome after the restart, without waiting');
my ($rc, $out, $err) = $node->psql('postgres', "SELECT fnd_consensus_result('in_flight')");
like($err, qr/no consensus round on topic "in_flight"/,
	'a round pending at the restart is gone');
is($node->safe_psql('postgres', q{
	SELECT data->'votes' FROM fnd_events
	WHERE type = 'consensus_decided' AND data->>'topic' = 'schema_v2'
}), '{"a": "accept", "b": "accept"}', 'the event keeps the votes');

# a new round on the topic after the restart, and its result
$node->safe_psql('postgres', q{
	SELECT fnd_consensus_start('schema_v2', '{"ddl": "v3"}', ARRAY['a']);
	SELECT fnd_consensus_vote('schema_v2', 'a', 'reject');
});
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('schema_v2')"),
	'rejected', 'a new round on the topic after the restart');
$node->restart;
is($node->safe_psql('postgres', "SELECT fnd_consensus_result('schema_v2')"),
	'rejected', 'after a second restart the latest decision wins');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM fnd_events WHERE type = 'consensus_decided' AND data->>'topic' = 'schema_v2'
}), '2', 'each decision stored once');

# a dropped database: the supervisor frees its rounds and barriers, and
# the quota they held: per-role quotas count a role's barriers and pending
# rounds in every database
$node->safe_psql('postgres', 'CREATE ROLE tenant');
$node->safe_psql('postgres', 'CREATE DATABASE gone');
$node->safe_psql('gone', 'CREATE EXTENSION foundation');
$node->safe_psql('gone', q{
	SET ROLE tenant;
	SELECT fnd_barrier_create('left_behind', 2);
	SELECT fnd_consensus_start('left_behind', '{}', ARRAY['a', 'b'], timeout => '1 h');
});
my $quota = q{SET foundation.max_barriers_per_role = 1;
	SET foundation.max_consensus_rounds_per_role = 1;
	SET ROLE tenant;};
($rc, $out, $err) = $node->psql('postgres', "$quota SELECT fnd_barrier_create('here', 2)");
like($err, qr/too many barriers for one role/, 'tenant\'s barrier in gone counts in postgres');
($rc, $out, $err) = $node->psql('postgres', "$quota SELECT fnd_consensus_start('here', '{}', ARRAY['a'])");
like($err, qr/too many consensus rounds for one role/, 'so does its pending round');
$node->safe_psql('postgres', 'DROP DATABASE gone');
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 2 FROM fnd_services()
	WHERE (name = 'barrier' AND detail = '0 barriers; 1 removed with dropped databases')
	   OR (name = 'consensus' AND detail LIKE '% consensus rounds; 1 removed with dropped databases')
}), 'the supervisor frees the barriers and rounds of a dropped database');
is($node->psql('postgres', "$quota SELECT fnd_barrier_create('here', 2); SELECT fnd_barrier_remove('here')"),
	0, 'tenant may create a barrier again');
is($node->psql('postgres', "$quota SELECT fnd_consensus_start('here', '{}', ARRAY['a'])"),
	0, 'and start a round');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
