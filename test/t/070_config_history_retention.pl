# Config history retention (1.1): the supervisor's "config_history" service
# deletes history rows older than foundation.config_history_retention
# (default 30 days) by itself, keeps newer ones, and leaves alone a history
# table that a downgrade to 1.0 detached from the extension.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('config_history');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;
$node->safe_psql('postgres', q{CREATE EXTENSION foundation VERSION '1.1'});

is($node->safe_psql('postgres', 'SHOW foundation.config_history_retention'), '30d',
	'default retention 30 days');
ok($node->poll_query_until('postgres',
		q{SELECT state = 'running' FROM fnd_services() WHERE name = 'config_history'}),
	'the service runs');

# 1500 changes (more than one batch) back-dated 40 days, 5 fresh ones
$node->safe_psql('postgres', q{
SELECT fnd_set_agent_config('a' || (i % 10), 'k' || i, to_jsonb(i)) FROM generate_series(1, 1500) i;
UPDATE fnd_config_history SET changed_at = now() - interval '40 days';
SELECT fnd_config_update('fresh.k' || i, to_jsonb(i)) FROM generate_series(1, 5) i;
});
ok($node->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM fnd_config_history WHERE changed_at < now() - interval '30 days'}),
	'rows older than the retention disappear without a manual call');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_config_history}), '5',
	'newer rows stay');
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_agent_config}), '1500',
	'the config itself is untouched');

# a short retention takes fresh rows too
$node->safe_psql('postgres', q{ALTER SYSTEM SET foundation.config_history_retention = '1s'});
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM fnd_config_history}),
	'with retention 1s the rows go on their own');

# at 1.0 the table is kept, detached, and no longer pruned
$node->safe_psql('postgres', q{
ALTER EXTENSION foundation UPDATE TO '1.0';
INSERT INTO fnd_config_history (path, op, new_value, changed_at)
VALUES ('kept.row', 'update', '1', now() - interval '1 year');
});
# let several passes go by: the service must keep skipping the table
$node->safe_psql('postgres', q{SELECT pg_sleep(1)});
is($node->safe_psql('postgres', q{SELECT count(*) FROM fnd_config_history}), '1',
	'a detached history table is not pruned');
$node->safe_psql('postgres', q{ALTER EXTENSION foundation UPDATE TO '1.1'});
ok($node->poll_query_until('postgres', q{SELECT count(*) = 0 FROM fnd_config_history}),
	'taken back at 1.1, it is pruned again');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
