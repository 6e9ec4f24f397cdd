# The limits of the launcher's picture: with foundation.max_database_workers
# = 0 no database gets a worker and every one says why; with more databases
# than the list holds (64 + 4 x foundation.max_database_workers), the view
# says how many are not listed and the log says so, never silently.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dblist');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.max_database_workers = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

ok($node->poll_query_until('postgres', q{
	SELECT state || ': ' || detail FROM fnd_services() WHERE name = 'events'},
	'waiting: no worker: all 0 database workers are in use (foundation.max_database_workers)'),
	'with no database workers, the table services say why they do not run');
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'foundation worker'"),
	'0', 'and no worker runs');
ok($node->poll_query_until('postgres',
		"SELECT runs > 3 FROM fnd_services() WHERE name = 'registry'"),
	'the cluster-wide services run all the same');

# 66 more databases: 67 with postgres, the list holds 64
$node->safe_psql('postgres', join("\n", map { "CREATE DATABASE many$_;" } 1 .. 66));
ok($node->poll_query_until('postgres', q{
	SELECT detail FROM fnd_database_workers WHERE state = 'unlisted'},
	'3 more databases are not listed (the list holds 64; those with the extension come first)'),
	'the view says how many databases it does not list');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM fnd_database_workers WHERE datname IS NOT NULL}),
	'64', 'and lists as many as it holds');
is($node->safe_psql('postgres', q{
	SELECT datname FROM fnd_database_workers WHERE datname IS NOT NULL LIMIT 1}),
	'postgres', 'the database with the extension first');

$node->stop;
my $log = slurp_file($node->logfile);
like($log, qr/foundation supervisor lists 64 of 6[5-7] databases in fnd_database_workers/,
	'the log says so');
like($log, qr/foundation supervisor started without database workers/,
	'the log says once that no database gets a worker');
unlike($log, qr/has no worker/, 'not once per database');
unlike($log, qr/PANIC|terminated by signal|TRAP:/, 'no crash in the server log');
done_testing();
