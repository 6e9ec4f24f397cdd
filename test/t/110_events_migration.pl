# The 1.2 event store's online migration on a big table: ALTER EXTENSION
# UPDATE from 1.1 to 1.2 under a concurrent inserter (the step rewrites
# nothing; its time and the slowest insert are reported), lazy reads of the
# old rows, the queries correct before the indexes exist, the
# events_migration service converting every old row exactly as the lazy
# read showed it, once (a restart halfway resumes where it stopped), then
# building the indexes concurrently so the table ends as a fresh install's.
#
# FND_MIGRATION_ROWS events (default 200000, about 30 s in make test;
# 1000000 takes about 90 s on the 2-core development machine).
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $rows = $ENV{FND_MIGRATION_ROWS} // 200000;
my $old_third = int($rows / 3);

my $node = PostgreSQL::Test::Cluster->new('events_migration');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.migration_max_rows_per_second = 0
max_wal_size = 4GB
});
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION foundation VERSION '1.1'});

# 1.1 events: a third with string agent_id and correlation_id in data, a
# third with a number as agent_id, a third without either
my $t0 = time;
$node->safe_psql('postgres', qq{
INSERT INTO fnd_events (type, data)
SELECT 'old.' || (i % 4),
       CASE i % 3
       WHEN 0 THEN jsonb_build_object('agent_id', 'agent-' || (i % 100),
                                      'correlation_id', 'c-' || (i % 1000), 'i', i)
       WHEN 1 THEN jsonb_build_object('agent_id', i, 'i', i)
       ELSE jsonb_build_object('i', i) END
FROM generate_series(1, $rows) i;
CREATE TABLE probe (stop boolean, inserts int, worst_ms double precision);
INSERT INTO probe VALUES (false, 0, 0);
VACUUM ANALYZE fnd_events;
});
note(sprintf('loaded %d events in %.1f s', $rows, time - $t0));

# one fnd_store_event per transaction, recording the slowest
sub start_inserter
{
	$node->safe_psql('postgres', 'UPDATE probe SET stop = false, inserts = 0, worst_ms = 0');
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[
			'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d',
			$node->connstr('postgres'), '-c', q{
DO $$
DECLARE
    t0 timestamptz;
    worst double precision := 0;
    n int := 0;
BEGIN
    LOOP
        EXIT WHEN (SELECT stop FROM probe) OR n > 10000000;
        t0 := clock_timestamp();
        PERFORM fnd_store_event('live', jsonb_build_object('agent_id', 'live', 'n', n));
        COMMIT;
        worst := greatest(worst, extract(epoch FROM clock_timestamp() - t0) * 1000);
        n := n + 1;
        UPDATE probe SET inserts = n, worst_ms = worst;
        COMMIT;
    END LOOP;
END $$}
		],
		'>', \$out, '2>', \$err);
	$node->poll_query_until('postgres', 'SELECT inserts >= 20 FROM probe')
	  or die "the inserter did not start: $err";
	return $h;
}

sub stop_inserter
{
	my ($h, $what) = @_;
	$node->safe_psql('postgres', 'UPDATE probe SET stop = true');
	$h->finish;
	is($h->result(0), 0, "$what: the concurrent inserter ran without error");
	my ($n, $worst) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT inserts, round(worst_ms::numeric, 1) FROM probe');
	diag("$what: slowest of $n concurrent fnd_store_event calls: $worst ms");
	return;
}

my $files = q{SELECT string_agg(c.relname || ' ' || c.relfilenode, ', ' ORDER BY c.relname)
FROM pg_class c WHERE c.relname LIKE 'fnd_events%' AND c.relkind IN ('r', 'i')};
my $before = $node->safe_psql('postgres', $files);

# the step, under the inserter
my $ins = start_inserter();
my $step_t0 = time;
$node->safe_psql('postgres', q{ALTER EXTENSION foundation UPDATE TO '1.2'});
my $step_ms = (time - $step_t0) * 1000;
stop_inserter($ins, 'step 1.1 -> 1.2');
diag(sprintf('step 1.1 -> 1.2 on %d events: %.1f ms (measured by the client)', $rows, $step_ms));
is($node->safe_psql('postgres', $files), $before,
	'the step rewrote no table or index of fnd_events (relfilenodes unchanged)');
is($node->safe_psql('postgres', q{SELECT count(*) FROM pg_class
		WHERE relname IN ('fnd_events_agent_idx', 'fnd_events_correlation_idx')}),
	'0', 'a big table gets its indexes from the service, not the step');
is($node->safe_psql('postgres', q{SELECT name || ' ' || state || ' ' || rows_done FROM fnd_migrations}),
	'events_1_2 paused 0', 'the migration is recorded, paused by its rate setting 0');

# what the lazy read shows of every old row, before the migration
$node->safe_psql('postgres', q{
CREATE TABLE lazy_snapshot AS
SELECT l.* FROM fnd_events e, LATERAL fnd_event_lazy(e) l WHERE e.metadata IS NULL;
});
# (and the inserter's events written before the step committed)
my $old = $node->safe_psql('postgres', 'SELECT count(*) FROM lazy_snapshot');
is($node->safe_psql('postgres', q{SELECT count(*) FROM lazy_snapshot WHERE type LIKE 'old.%'}),
	$rows, 'every old row has metadata NULL, nothing converted yet');
is($node->safe_psql('postgres', q{SELECT count(*) FROM lazy_snapshot
		WHERE type LIKE 'old.%' AND (agent_context IS NOT NULL OR correlation_id IS NOT NULL)}),
	$old_third, 'the lazy read gives agent_context / correlation_id to the string ones only');
is($node->safe_psql('postgres', q{SELECT count(*) FROM lazy_snapshot
		WHERE type = 'live' AND agent_context = '{"agent_id": "live"}'}),
	$old - $rows, 'and to the events the inserter wrote with the 1.1 table');

# the queries are correct before any row is converted or indexed
my $expect5 = $node->safe_psql('postgres',
	q{SELECT count(*) FROM lazy_snapshot WHERE agent_context->>'agent_id' = 'agent-5'});
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_query_by_agent('agent-5', max_rows => 10000)}),
	$expect5, 'fnd_query_by_agent finds the old rows before the migration');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_get_correlated_events('c-7')}),
	$node->safe_psql('postgres', q{SELECT count(*) FROM lazy_snapshot WHERE correlation_id = 'c-7'}),
	'fnd_get_correlated_events finds them too');

# run the migration at its default rate, under the inserter; restart the
# server halfway
$node->append_conf('postgresql.conf', 'foundation.migration_max_rows_per_second = 50000');
$ins = start_inserter();
my $mig_t0 = time;
$node->reload;
ok($node->poll_query_until('postgres',
		"SELECT rows_done >= $old / 2 FROM fnd_migrations"),
	'the service converts in the background');
stop_inserter($ins, 'first half of the migration');
my ($half, $half_next) = split /\|/, $node->safe_psql('postgres',
	q{SELECT rows_done, next_id FROM fnd_migration_state WHERE name = 'events_1_2'});
$node->stop('fast');
$node->start;
my ($resumed, $resumed_next) = split /\|/, $node->safe_psql('postgres',
	q{SELECT rows_done, next_id FROM fnd_migration_state WHERE name = 'events_1_2'});
cmp_ok($resumed, '>=', $half, 'after a restart the progress is still there');
cmp_ok($resumed_next, '>=', $half_next,
	'and the service resumes after the last converted id, not from the start');
# (a small run may finish in the moment before the stop)
cmp_ok($resumed, '<', $old, 'and the migration was not finished at the restart')
  if $rows >= 200000;

$ins = start_inserter();
ok($node->poll_query_until('postgres', q{SELECT state = 'done' FROM fnd_migrations}),
	'the migration finishes');
my $mig_s = time - $mig_t0;
stop_inserter($ins, 'second half of the migration and the index builds');
diag(sprintf('migration of %d events: %.1f s including a restart', $rows, $mig_s));

is($node->safe_psql('postgres', 'SELECT rows_done = rows_total FROM fnd_migrations'),
	't', 'rows_done reaches rows_total');
is($node->safe_psql('postgres', 'SELECT rows_done FROM fnd_migrations'),
	$old, 'every old row counted once');
is($node->safe_psql('postgres', 'SELECT count(*) FROM fnd_events WHERE metadata IS NULL'),
	'0', 'no row is left unconverted');
is($node->safe_psql('postgres', q{SELECT count(*) FROM lazy_snapshot s JOIN fnd_events e USING (id)
		WHERE (s.*) IS DISTINCT FROM (e.*)}),
	'0', 'every old row is stored exactly as the lazy read showed it');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		  WHERE c.relname IN ('fnd_events_agent_idx', 'fnd_events_correlation_idx') AND i.indisvalid}),
	'2', 'both indexes are built and valid');

# the catalog of fnd_events is a fresh install's
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION foundation');
my $indexes = q{SELECT string_agg(pg_get_indexdef(indexrelid), E'\n' ORDER BY indexrelid::regclass::text)
FROM pg_index WHERE indrelid = 'fnd_events'::regclass};
is($node->safe_psql('postgres', $indexes), $node->safe_psql('fresh', $indexes),
	'the indexes of fnd_events equal a fresh install');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_query_by_agent('agent-5', max_rows => 10000)}),
	$expect5, 'fnd_query_by_agent finds the same rows after the migration');
like($node->safe_psql('postgres',
		q{SELECT detail FROM fnd_services() WHERE name = 'events_migration'}),
	qr/^(done: converted|no migration pending)/, 'fnd_services() shows the service done');
cmp_ok($node->safe_psql('postgres',
		q{SELECT coalesce(max(last), 0) FROM fnd_metrics WHERE name = 'foundation.events.migrated'}),
	'>', 0, 'progress is counted in telemetry');

$node->stop;
FndTest::server_log_ok($node);
done_testing();
