# One worker per database that has the extension (issue 19): retention runs
# in each of three databases; CREATE EXTENSION in a fourth gets a worker
# within 5 s; more databases than foundation.max_database_workers are
# reported, not hidden; DROP DATABASE (plain, and WITH (FORCE) by a
# non-superuser owner) is not held up by the worker; a terminated worker is
# started again; a LISTEN in a database hears its own worker.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $node = PostgreSQL::Test::Cluster->new('workers');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.event_retention = '1h'
foundation.max_database_workers = 4
max_worker_processes = 12
});
$node->start;
$node->safe_psql('postgres', 'CREATE ROLE owner3 LOGIN CREATEDB');

sub worker_pid
{
	my ($db) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT pid FROM pg_stat_activity
		WHERE backend_type = 'foundation worker' AND datname = '$db'});
}

sub has_worker
{
	my ($db) = @_;
	return $node->poll_query_until('postgres', qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		WHERE backend_type = 'foundation worker' AND datname = '$db'});
}

# ---- three databases with the extension: retention runs in each
for my $db (qw(db1 db2 db3))
{
	$node->safe_psql('postgres',
		"CREATE DATABASE $db" . ($db eq 'db3' ? ' OWNER owner3' : ''));
	$node->safe_psql($db, 'CREATE EXTENSION foundation');
	$node->safe_psql($db, q{
		SELECT count(*) FROM fnd_store_events(
			(SELECT jsonb_agg(jsonb_build_object('type', 'old')) FROM generate_series(1, 10)));
		UPDATE fnd_events SET "timestamp" = now() - interval '2 hours';
		SELECT fnd_store_event('fresh');
	});
}
for my $db (qw(db1 db2 db3))
{
	ok(has_worker($db), "$db has a worker");
	ok($node->poll_query_until($db, q{SELECT count(*) = 0 FROM fnd_events WHERE type = 'old'}),
		"retention ran in $db");
	is($node->safe_psql($db, q{SELECT count(*) FROM fnd_events WHERE type = 'fresh'}),
		'1', "newer events stay in $db");
	ok($node->poll_query_until($db, q{
		SELECT database || ' ' || state || ' ' || (detail LIKE 'last pass removed%')
		FROM fnd_services() WHERE name = 'events'}, "$db running true"),
		"fnd_services() in $db shows its own retention");
}
is($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'foundation worker'"),
	'3', 'no worker in postgres, which has no extension');
ok($node->poll_query_until('db1',
		"SELECT state FROM fnd_database_workers WHERE datname = 'postgres'", 'no extension'),
	'the launcher checked postgres and says why it has no worker');
like($node->safe_psql('db1', q{
	SELECT string_agg(DISTINCT coalesce(database, '-'), ' ' ORDER BY coalesce(database, '-'))
	FROM fnd_services(all_databases => true)}),
	qr/^- db1 db2 db3$/, 'fnd_services(all_databases) lists every database');

# ---- CREATE EXTENSION in a fourth database: a worker within 5 s
$node->safe_psql('postgres', 'CREATE DATABASE db4');
ok($node->poll_query_until('db1',
		"SELECT state FROM fnd_database_workers WHERE datname = 'db4'", 'no extension'),
	'db4 checked: no extension, no worker');
my $t0 = time;
$node->safe_psql('db4', 'CREATE EXTENSION foundation');
ok(has_worker('db4'), 'CREATE EXTENSION in db4 gets it a worker');
my $took = time - $t0;
cmp_ok($took, '<', 5, 'within 5 s');
note sprintf('worker after CREATE EXTENSION: %.2f s', $took);

# ---- a fifth database: more than foundation.max_database_workers (4)
$node->safe_psql('postgres', 'CREATE DATABASE db5');
$node->safe_psql('db5', 'CREATE EXTENSION foundation');
ok($node->poll_query_until('db5', q{
	SELECT state || ': ' || detail FROM fnd_services() WHERE name = 'events'},
	'waiting: no worker: all 4 database workers are in use (foundation.max_database_workers)'),
	'fnd_services() in db5 says it has no worker and why');
is($node->safe_psql('db1', "SELECT state FROM fnd_database_workers WHERE datname = 'db5'"),
	'waiting', 'fnd_database_workers shows db5 waiting');
is(worker_pid('db5'), '', 'db5 has no worker');
like(slurp_file($node->logfile),
	qr/database "db5" has no worker: all 4 database workers are in use/,
	'the log says so');

# ---- DROP DATABASE ... WITH (FORCE) by a non-superuser owner: at once
my $pid3 = worker_pid('db3');
ok($pid3 =~ /^\d+$/, 'db3 has a worker before the drop');
$t0 = time;
my ($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE db3 WITH (FORCE)',
	extra_params => [ '-U', 'owner3' ]);
$took = time - $t0;
is($ret, 0, 'DROP DATABASE db3 WITH (FORCE) by its owner succeeds') or diag $err;
# PostgreSQL gives other sessions 5 s to leave before it gives up
cmp_ok($took, '<', 3, 'at once');
note sprintf('DROP DATABASE WITH (FORCE): %.2f s', $took);
ok(has_worker('db5'), 'the freed worker slot goes to the waiting database');
ok($node->poll_query_until('db1',
		"SELECT count(*) = 0 FROM fnd_database_workers WHERE datname = 'db3'"),
	'the dropped database leaves the picture');

# ---- a plain DROP DATABASE of a database with a worker
ok(worker_pid('db2') =~ /^\d+$/, 'db2 has a worker before the drop');
$t0 = time;
($ret, $out, $err) = $node->psql('postgres', 'DROP DATABASE db2');
$took = time - $t0;
is($ret, 0, 'plain DROP DATABASE succeeds: the worker steps aside') or diag $err;
cmp_ok($took, '<', 3, 'without waiting for it');
note sprintf('plain DROP DATABASE: %.2f s', $took);

# ---- a terminated worker is started again
my $pid1 = worker_pid('db1');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)");
ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'foundation worker' AND datname = 'db1' AND pid <> $pid1}),
	'a terminated worker comes back');
ok($node->poll_query_until('db1', q{
	SELECT state || ' ' || restarts || ' ' || (last_error LIKE 'terminated by SIGTERM%')
	FROM fnd_database_workers WHERE datname = 'db1'}, 'running 1 true'),
	'counted as a restart, with the reason');
# again at once: the delay doubles
$pid1 = worker_pid('db1');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid1)");
ok($node->poll_query_until('db1', q{
	SELECT state || ' ' || restarts FROM fnd_database_workers WHERE datname = 'db1'}, 'running 2'),
	'a second failure in a row: started again');
like(slurp_file($node->logfile),
	qr/foundation worker for database "db1" ended: terminated by SIGTERM.*\n.*The supervisor starts it again in 2000 ms/,
	'after a doubled delay (backoff)');

# ---- LISTEN in a database other than foundation.database hears its worker
my $listener = $node->background_psql('db4');
$listener->query_safe('LISTEN fnd_services');
my $other = $node->background_psql('db1');
$other->query_safe('LISTEN fnd_services');
# test-only: make retention fail in db4 (a trigger that refuses deletes)
$node->safe_psql('db4', q{
	CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'boom'; END$$;
	CREATE TRIGGER boom BEFORE DELETE ON fnd_events FOR EACH ROW EXECUTE FUNCTION boom();
	SELECT fnd_store_event('old');
	UPDATE fnd_events SET "timestamp" = now() - interval '2 hours' WHERE type = 'old';
});
my $heard = '';
for (my $i = 0; $i < 100 && $heard !~ /"state": "failed"/; $i++)
{
	$heard .= $listener->query_safe('SELECT pg_sleep(0.1)');
}
my $pid4 = worker_pid('db4');
like($heard,
	qr/Asynchronous notification "fnd_services" with payload "\{"database": "db4", "service": "events", "state": "failed", "previous": "running", "error": "boom"\}" received from server process with PID $pid4/,
	'the LISTEN in db4 hears its worker: events failed');
unlike($other->query_safe('SELECT 1'), qr/db4/, 'a LISTEN in db1 does not');
$listener->quit;
$other->quit;

# ---- the other statements that need a database alone
($ret, $out, $err) = $node->psql('postgres', 'ALTER DATABASE db4 RENAME TO db4r');
is($ret, 0, 'ALTER DATABASE ... RENAME of a database with a worker succeeds') or diag $err;
($ret, $out, $err) = $node->psql('postgres', 'CREATE DATABASE db6 TEMPLATE db4r');
is($ret, 0, 'CREATE DATABASE ... TEMPLATE of a database with a worker succeeds') or diag $err;
ok(has_worker('db4r'), 'the renamed database gets its worker back');
ok(has_worker('db6'), 'the copy has the extension too, and a worker (a slot was free)');

$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/PANIC|terminated by signal|TRAP:/, 'no crash in the server log');
done_testing();
