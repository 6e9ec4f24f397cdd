# pg_dump keeps config and events: dump a database holding both, restore it
# into a fresh database (custom format with pg_restore, and plain SQL with
# psql), and find the same rows; events stored after the restore get new
# ids, because the identity sequence's position is dumped too.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'foundation'\n");
$node->start;

$node->safe_psql('postgres', 'CREATE DATABASE src');
$node->safe_psql('src', q{
CREATE EXTENSION foundation;
SELECT fnd_config_update('db.pool.size', '10');
SELECT fnd_config_update('db.pool.timeout', '"5 s"');
SELECT fnd_config_update('feature.flags', '{"beta": true, "list": [1, 2]}');
SELECT fnd_store_event('user.created', '{"user": 1}');
SELECT fnd_store_events('[{"type": "a", "data": {"i": 1}}, {"type": "b"}]');
SELECT fnd_store_event('user.deleted', jsonb_build_object('user', 1, 'why', 'test ''quote'' ' || repeat('x', 3000)));
});
# leave a gap at the end of the id range: store and delete one event
$node->safe_psql('src', q{
SELECT fnd_store_event('to.delete');
DELETE FROM fnd_events WHERE type = 'to.delete';
});

my $q_config = q{SELECT path, value, updated_at, updated_by FROM fnd_config ORDER BY path};
my $q_events = q{SELECT id, type, data, "timestamp" FROM fnd_events ORDER BY id};
my $config = $node->safe_psql('src', $q_config);
my $events = $node->safe_psql('src', $q_events);
my $last_id = $node->safe_psql('src',
	q{SELECT last_value FROM pg_sequences WHERE sequencename = 'fnd_events_id_seq'});
is($node->safe_psql('src', 'SELECT count(*) FROM fnd_config'), '3', 'three config rows');
is($node->safe_psql('src', 'SELECT count(*) FROM fnd_events'), '4', 'four events');

my $dir = PostgreSQL::Test::Utils::tempdir;

# custom format, pg_restore into a fresh database
$node->command_ok(['pg_dump', '-Fc', '-f', "$dir/src.dump", '-d', 'src'], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE dst');
$node->command_ok(['pg_restore', '-d', 'dst', "$dir/src.dump"], 'pg_restore');
is($node->safe_psql('dst', $q_config), $config, 'config rows restored (pg_restore)');
is($node->safe_psql('dst', $q_events), $events, 'events restored (pg_restore)');
my $next = $node->safe_psql('dst', q{SELECT fnd_store_event('after.restore')});
cmp_ok($next, '>', $last_id, 'a new event gets an id after every restored one');
is($node->safe_psql('dst', q{SELECT fnd_config_get('db.pool')}),
	'{"size": 10, "timeout": "5 s"}', 'config reads work after the restore');

# plain SQL through psql
$node->command_ok(['pg_dump', '-f', "$dir/src.sql", '-d', 'src'], 'pg_dump plain');
$node->safe_psql('postgres', 'CREATE DATABASE dst2');
$node->command_ok(['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'dst2', '-f', "$dir/src.sql"],
	'psql restores the plain dump');
is($node->safe_psql('dst2', $q_config), $config, 'config rows restored (psql)');
is($node->safe_psql('dst2', $q_events), $events, 'events restored (psql)');
$next = $node->safe_psql('dst2', q{SELECT fnd_store_event('after.restore')});
cmp_ok($next, '>', $last_id, 'a new event gets an id after every restored one (psql)');

# the restored tables are still extension members with the same grants
is($node->safe_psql('dst2', q{
SELECT string_agg(c.relname, ',' ORDER BY c.relname)
FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
WHERE e.extname = 'foundation' AND c.relname IN ('fnd_config', 'fnd_events', 'fnd_events_id_seq')}),
	'fnd_config,fnd_events,fnd_events_id_seq', 'still marked for dump');
is($node->safe_psql('dst2', q{
SELECT has_table_privilege('public', 'fnd_events', 'SELECT'),
       has_table_privilege('public', 'fnd_events', 'INSERT')}),
	't|f', 'PUBLIC still reads and cannot insert');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
