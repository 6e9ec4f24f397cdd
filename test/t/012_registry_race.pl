# Registry under real concurrency: twelve sessions released at the same
# instant race to register one name, exactly one wins and the others get
# FN101 while the winner still holds it; then eight sessions hammer a small
# set of names with register/lookup/update/renew/unregister for a few
# seconds, and afterwards every session-owned entry is gone and the
# counters agree.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;

my $node = PostgreSQL::Test::Cluster->new('registry_race');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
$node->safe_psql('postgres', 'CREATE TABLE race_result (pid int, outcome text)');

my $clients = 12;
my $dir = PostgreSQL::Test::Utils::tempdir;

sub start_pgbench
{
	my ($script, @opts) = @_;
	my $file = "$dir/script_" . int(rand(1e9)) . '.sql';
	open my $fh, '>', $file or die;
	print $fh $script;
	close $fh;
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'pgbench', '-n', '-h', $node->host, '-p', $node->port, @opts,
		  '-f', $file, 'postgres' ],
		'>', \$out, '2>', \$err);
	return ($h, \$out, \$err);
}

# the gate: every client waits on lock 1, registers, then waits on lock 2
my $gate = $node->background_psql('postgres');
$gate->query_safe('SELECT pg_advisory_lock(1), pg_advisory_lock(2)');

my ($h, $out, $err) = start_pgbench(<<'EOS', '-c', $clients, '-j', 4, '-t', 1);
SELECT pg_advisory_lock_shared(1);
DO $$ BEGIN PERFORM fnd_register('race', 'one', jsonb_build_object('pid', pg_backend_pid())); INSERT INTO race_result VALUES (pg_backend_pid(), 'won'); EXCEPTION WHEN SQLSTATE 'FN101' THEN INSERT INTO race_result VALUES (pg_backend_pid(), 'lost'); END $$;
SELECT pg_advisory_lock_shared(2);
EOS

ok($node->poll_query_until('postgres', qq{
	SELECT count(*) = $clients FROM pg_locks
	WHERE locktype = 'advisory' AND objid = 1 AND NOT granted}),
	"all $clients clients wait at the gate");
$gate->query_safe('SELECT pg_advisory_unlock(1)');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = $clients FROM race_result"),
	'every client has tried');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE outcome = 'won') || ' ' || count(*) FILTER (WHERE outcome = 'lost') FROM race_result"),
	'1 ' . ($clients - 1), 'exactly one won, the others got FN101');
is($node->safe_psql('postgres', qq{
	SELECT (metadata->>'pid')::int = owner_pid AND owner_pid = r.pid
	FROM fnd_lookup('race', 'one'), race_result r WHERE r.outcome = 'won'}),
	't', 'the winner holds the name');
$gate->query_safe('SELECT pg_advisory_unlock(2)');
$h->finish;
is($h->result(0), 0, 'pgbench finished cleanly') or diag($$err);
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_lookup('race', 'one')"),
	'the name is free once the winner has gone');
$gate->quit;

# a few seconds of mixed traffic on 16 names
$node->safe_psql('postgres',
	"SELECT fnd_register('mixed', 'leased' || i, '{}', '1 hour') FROM generate_series(1, 4) i");
($h, $out, $err) = start_pgbench(<<'EOS', '-c', 8, '-j', 4, '-T', 3);
\set n random(1, 16)
\set l random(1, 4)
DO $$ BEGIN PERFORM fnd_register('mixed', 's' || :n, jsonb_build_object('n', :n)); EXCEPTION WHEN SQLSTATE 'FN101' THEN NULL; END $$;
SELECT count(*) FROM fnd_lookup('mixed', 's' || :n);
DO $$ BEGIN PERFORM fnd_update_metadata('mixed', 's' || :n, jsonb_build_object('n', :n, 'u', repeat('x', :n * 100))); EXCEPTION WHEN SQLSTATE 'FN102' THEN NULL; END $$;
SELECT fnd_renew('mixed', 'leased' || :l);
SELECT count(*) FROM fnd_find_services_by_metadata('mixed', jsonb_build_object('n', :n));
SELECT fnd_unregister('mixed', 's' || :n);
EOS
$h->finish;
is($h->result(0), 0, 'mixed traffic ran without unexpected errors') or diag($$err);
like($$out, qr/actually processed: [1-9]/, 'pgbench processed transactions');
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_registry WHERE namespace = 'mixed' AND owner_pid IS NOT NULL"),
	'all session-owned entries are gone after the sessions');
is($node->safe_psql('postgres', q{
	SELECT (s->>'entries')::int = 4 AND (s->>'leased')::int = 4
	   AND (s->>'entries_all_databases')::int = 4
	FROM fnd_registry_stats() s}),
	't', 'only the four leased entries remain, and the counters agree');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
