# Circuit breakers and rate buckets: capacity limits (FN203, bucket
# recycling), per-database scope, real concurrency through pgbench (no lost
# counter updates, exactly half_open_calls permits among many sessions at
# once), state gone after a restart, no preload -> FN001.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('breaker');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.max_circuit_breakers = 3
foundation.max_rate_buckets = 2
foundation.supervisor_naptime = 100
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
$node->safe_psql('postgres', 'CREATE DATABASE other');
$node->safe_psql('other', 'CREATE EXTENSION foundation');

sub sqlstate_of
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY sqlstate\n$sql");
	return $err =~ /ERROR:\s+(\w{5})/ ? $1 : 'none';
}

# --- FN203 with a small foundation.max_circuit_breakers
$node->safe_psql('postgres', "SELECT fnd_cb_install('b' || i) FROM generate_series(1, 3) i");
is(sqlstate_of('postgres', "SELECT fnd_cb_install('b4')"), 'FN203',
	'the fourth breaker is refused with FN203');
is(sqlstate_of('other', "SELECT fnd_cb_install('b1')"), 'FN203',
	'the capacity is shared by all databases');
is(sqlstate_of('postgres', "SELECT fnd_cb_install('b1', 7)"), 'none',
	're-installing an existing breaker needs no room');
$node->safe_psql('postgres', "SELECT fnd_cb_remove('b3')");
is(sqlstate_of('other', "SELECT fnd_cb_install('b1', 2)"), 'none',
	'after a removal there is room again');

# --- per database: the same name is another breaker elsewhere
$node->safe_psql('other', "SELECT fnd_cb_melt('b1'), fnd_cb_melt('b1'), fnd_cb_melt('b1')");
is($node->safe_psql('other', "SELECT state FROM fnd_cb_status('b1')"), 'open',
	'b1 in database other is open');
is($node->safe_psql('postgres', "SELECT state || ' ' || failures FROM fnd_cb_status('b1')"),
	'closed 0', 'b1 in database postgres is untouched');
is($node->safe_psql('postgres', "SELECT string_agg(name, ',' ORDER BY name) FROM fnd_circuit_breakers"),
	'b1,b2', 'the view shows only this database');
$node->safe_psql('other', "SELECT fnd_cb_remove('b1')");
$node->safe_psql('postgres', "SELECT fnd_cb_remove('b1'), fnd_cb_remove('b2')");

# --- a dropped database's breakers and buckets are swept by the supervisor
$node->safe_psql('postgres', 'CREATE DATABASE gone');
$node->safe_psql('gone', 'CREATE EXTENSION foundation');
$node->safe_psql('gone', "SELECT fnd_cb_install('g' || i) FROM generate_series(1, 3) i");
$node->safe_psql('gone', "SELECT fnd_rate_check('g', 1, '1 hour')");
is(sqlstate_of('postgres', "SELECT fnd_cb_install('after_drop')"), 'FN203',
	'database gone holds all breakers');
$node->safe_psql('postgres', 'DROP DATABASE gone');
ok($node->poll_query_until('postgres',
		"SELECT detail = '0 breakers; 3 removed with dropped databases' FROM fnd_services() WHERE name = 'breaker'"),
	'the supervisor removed the dropped database\'s breakers');
ok($node->poll_query_until('postgres',
		"SELECT detail = '0 buckets; 1 removed with dropped databases' FROM fnd_services() WHERE name = 'ratelimit'"),
	'and its rate buckets');
is(sqlstate_of('postgres', "SELECT fnd_cb_install('after_drop')"), 'none',
	'their capacity is free again');
$node->safe_psql('postgres', "SELECT fnd_cb_remove('after_drop')");

# --- concurrent melts and asks: no lost updates under the entry spinlock
$node->safe_psql('postgres', "SELECT fnd_cb_install('m', 100, '1 hour', '1 hour')");
my $dir = PostgreSQL::Test::Utils::tempdir;
open my $fh, '>', "$dir/melt.sql" or die;
print $fh "SELECT fnd_cb_melt('m');\nSELECT fnd_cb_ask('m');\n";
close $fh;
$node->command_ok([ 'pgbench', '-n', '-c', '8', '-j', '4', '-t', '50', '-f', "$dir/melt.sql", 'postgres' ],
	'pgbench melts and asks from 8 sessions');
is($node->safe_psql('postgres',
		"SELECT state, failures, calls + rejections FROM fnd_cb_status('m')"),
	'open|400|400', 'every melt and ask of 8 concurrent sessions was counted; it tripped');
# tolerance 100: exactly the asks made before the 101st melt were let through
cmp_ok($node->safe_psql('postgres', "SELECT calls FROM fnd_cb_status('m')"), '<=', 101,
	'no call let through after the trip');
$node->safe_psql('postgres', "SELECT fnd_cb_remove('m')");

# --- half-open: 16 sessions ask at once, exactly half_open_calls get a permit
$node->safe_psql('postgres', "SELECT fnd_cb_install('h', 0, '1 hour', '0.2 s', 3)");
$node->safe_psql('postgres', "SELECT fnd_cb_melt('h')");
usleep(300_000);	# reset_after genuinely elapses
# a long reset_after from now on, so no trial permit lapses during the run
$node->safe_psql('postgres', "SELECT fnd_cb_install('h', 0, '1 hour', '1 hour', 3)");
is($node->safe_psql('postgres', "SELECT state FROM fnd_cb_status('h')"), 'half_open',
	'h is half-open');
$node->safe_psql('postgres', 'CREATE TABLE asks (answer text)');
open $fh, '>', "$dir/ask.sql" or die;
print $fh "INSERT INTO asks SELECT fnd_cb_ask('h');\n";
close $fh;
$node->command_ok([ 'pgbench', '-n', '-c', '16', '-j', '4', '-t', '10', '-f', "$dir/ask.sql", 'postgres' ],
	'pgbench asks from 16 sessions');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE answer = 'ok') || '/' || count(*) FROM asks"),
	'3/160', 'exactly half_open_calls = 3 of 160 concurrent asks got a trial permit');
is($node->safe_psql('postgres', "SELECT calls || ' ' || rejections FROM fnd_cb_status('h')"),
	'3 157', 'counters agree');

# --- a bucket shared by 8 concurrent sessions lets exactly `limit` through
$node->safe_psql('postgres', 'CREATE TABLE hits (ok boolean)');
open $fh, '>', "$dir/hit.sql" or die;
print $fh "INSERT INTO hits SELECT fnd_rate_check('shared', 50, '1 hour');\n";
close $fh;
$node->command_ok([ 'pgbench', '-n', '-c', '8', '-j', '4', '-t', '25', '-f', "$dir/hit.sql", 'postgres' ],
	'pgbench: 200 hits on one bucket from 8 sessions');
is($node->safe_psql('postgres',
		"SELECT count(*) FILTER (WHERE ok) || '/' || count(*) FROM hits"),
	'50/200', 'exactly limit = 50 of 200 concurrent hits were allowed');
is($node->safe_psql('postgres',
		"SELECT allowed || ' ' || rejected FROM fnd_rate_limits WHERE bucket = 'shared'"),
	'50 150', 'the bucket counted them all');
$node->safe_psql('postgres', "SELECT fnd_rate_reset('shared')");

# --- rate buckets: a full table recycles a drained bucket, else FN902
$node->safe_psql('postgres', "SELECT fnd_rate_check('r1', 1, '1 hour')");
# 1000 per millisecond: drained a microsecond after its hit
$node->safe_psql('postgres', "SELECT fnd_rate_check('r2', 1000, '1 ms')");
usleep(10_000);
is($node->safe_psql('postgres', "SELECT fnd_rate_check('r3', 1, '1 hour')"), 't',
	'a third bucket takes the place of the drained one');
is($node->safe_psql('postgres', "SELECT string_agg(bucket, ',' ORDER BY bucket) FROM fnd_rate_limits"),
	'r1,r3', 'the drained bucket was recycled, the busy one kept');
is(sqlstate_of('postgres', "SELECT fnd_rate_check('r4', 1, '1 hour')"), 'FN902',
	'no drained bucket left: FN902');
is($node->safe_psql('postgres', "SELECT fnd_rate_check('r1', 1, '1 hour')"), 'f',
	'the busy bucket kept its hits');

# --- shared memory does not survive a restart
$node->restart;
is($node->safe_psql('postgres',
		"SELECT (SELECT count(*) FROM fnd_circuit_breakers) + (SELECT count(*) FROM fnd_rate_limits)"),
	'0', 'breakers and buckets are gone after a restart');
is(sqlstate_of('postgres', "SELECT fnd_cb_ask('h')"), 'FN202', 'asking a vanished breaker: FN202');

# --- without preload: FN001
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''\n");
$node->restart;
is(sqlstate_of('postgres', "SELECT fnd_cb_install('x')"), 'FN001', 'fnd_cb_install without preload: FN001');
is(sqlstate_of('postgres', "SELECT fnd_rate_check('x', 1, '1 s')"), 'FN001', 'fnd_rate_check without preload: FN001');
is(sqlstate_of('postgres', "SELECT * FROM fnd_circuit_breakers"), 'FN001', 'the view without preload: FN001');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
