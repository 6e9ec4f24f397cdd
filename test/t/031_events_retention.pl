# Event retention: with foundation.event_retention set, the supervisor's
# "events" service deletes older events by itself, in batches, shows its
# progress in fnd_services(), keeps newer events, and skips a pass instead
# of queueing behind a lock on the table.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('retention');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

my $q_svc = q{SELECT state FROM fnd_services() WHERE name = 'events'};
ok($node->poll_query_until('postgres', "$q_svc", 'disabled'),
	'retention off by default: the service is disabled');

# 2500 old events (timestamps moved back by the owner) and 10 fresh ones
$node->safe_psql('postgres', q{
SELECT count(*) FROM fnd_store_events(
    (SELECT jsonb_agg(jsonb_build_object('type', 'old', 'data', jsonb_build_object('i', i)))
     FROM generate_series(1, 2500) i));
UPDATE fnd_events SET "timestamp" = now() - interval '2 hours';
SELECT count(*) FROM fnd_store_events(
    (SELECT jsonb_agg(jsonb_build_object('type', 'fresh')) FROM generate_series(1, 10)));
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM fnd_events'), '2510', 'stored');

$node->safe_psql('postgres', q{ALTER SYSTEM SET foundation.event_retention = '1h'});
$node->reload;
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM fnd_events WHERE type = 'old'}),
	'events older than the retention disappear without a manual call');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_events WHERE type = 'fresh'}),
	'10', 'newer events stay');
ok($node->poll_query_until('postgres',
		q{SELECT detail LIKE '%2500 since start' FROM fnd_services() WHERE name = 'events'}),
	'progress shows in fnd_services().detail');
is($node->safe_psql('postgres', $q_svc), 'running', 'the service is running');
# a tiny retention: a new event goes by itself
$node->safe_psql('postgres', q{ALTER SYSTEM SET foundation.event_retention = '1s'});
$node->reload;
my $id = $node->safe_psql('postgres', q{SELECT fnd_store_event('short.lived')});
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_events WHERE id = $id"),
	'with retention 1s an event disappears on its own');

# a lock on the table: the service skips its pass instead of queueing (a
# queued DELETE would stall every writer behind it)
my $locker = $node->background_psql('postgres');
$locker->query_safe('BEGIN; LOCK TABLE fnd_events IN ACCESS EXCLUSIVE MODE;');
ok($node->poll_query_until('postgres',
		q{SELECT detail LIKE 'skipped%' FROM fnd_services() WHERE name = 'events'}),
	'a locked table makes the service skip, not wait');
is($node->safe_psql('postgres',
		q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
		  WHERE NOT l.granted AND a.backend_type = 'foundation supervisor'}),
	'0', 'the supervisor is not waiting for a lock');
$locker->query_safe('COMMIT;');
$locker->quit;
ok($node->poll_query_until('postgres',
		q{SELECT detail LIKE 'last pass%' FROM fnd_services() WHERE name = 'events'}),
	'passes resume once the lock is gone');

# off again: disabled, nothing more is deleted
$node->safe_psql('postgres', q{ALTER SYSTEM RESET foundation.event_retention});
$node->reload;
ok($node->poll_query_until('postgres', "$q_svc", 'disabled'), 'disabled again when reset');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
