# Locks, elections and the registry per database:
# - the same names in two databases do not interfere, and each view shows
#   only its own database's entries;
# - a dropped database's leased registry entries, locks and leaderships
#   (here with 100-year leases) are removed by the supervisor, and stop
#   counting against their role's per-role quota;
# - token slots (one per database and kind, foundation.max_token_slots) of
#   dropped databases are freed, so databases can be created, use locks and
#   elections, and be dropped over and over without FN607.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('per_database');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.max_token_slots = 8
});
$node->start;
for my $db ('postgres', 'a', 'b')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db") if $db ne 'postgres';
	$node->safe_psql($db, 'CREATE EXTENSION foundation');
}

sub sqlstate_of
{
	my ($db, $sql) = @_;
	my ($ret, $out, $err) = $node->psql($db, "\\set VERBOSITY sqlstate\n$sql");
	return $err =~ /ERROR:\s+(\w{5})/ ? $1 : 'none';
}

# --- locks: the same name is another lock in another database
my $sa = $node->background_psql('a');
my $sb = $node->background_psql('b');
my $apid = $sa->query_safe('SELECT pg_backend_pid()');
my $bpid = $sb->query_safe('SELECT pg_backend_pid()');
my $ta = $sa->query_safe("SELECT fnd_lock_acquire('same')");
my $tb = $sb->query_safe("SELECT fnd_lock_acquire('same')");
like($ta, qr/^\d+$/, 'database a takes lock "same"');
like($tb, qr/^\d+$/, 'database b takes its own lock "same" at once');
is($node->safe_psql('a', "SELECT string_agg(name || ' ' || owner_pid, ',') FROM fnd_locks"),
	"same $apid", 'fnd_locks in a shows only a\'s holder');
is($node->safe_psql('b', "SELECT string_agg(name || ' ' || owner_pid, ',') FROM fnd_locks"),
	"same $bpid", 'fnd_locks in b shows only b\'s holder');
is($node->safe_psql('a', "SELECT fnd_lock_acquire('same') IS NULL"), 't',
	'in a the lock is busy for another session');
is($sb->query_safe("SELECT fnd_lock_release('same')"), 't', 'b releases its lock');
is($node->safe_psql('a', "SELECT count(*) FROM fnd_locks WHERE name = 'same'"), '1',
	'a\'s lock is still held');
is($node->safe_psql('b', "SELECT fnd_lock_release('same', $ta)"), 'f',
	'b cannot release a\'s lock, even with its token: there is none in b');
is($sa->query_safe("SELECT fnd_lock_release('same')"), 't', 'a releases its lock');

# --- elections: each database's group has its own leader
is($sa->query_safe("SELECT fnd_elect_leader('grp', 'x', NULL)"), 't', 'x leads grp in a');
is($sb->query_safe("SELECT fnd_elect_leader('grp', 'y', NULL)"), 't', 'y leads grp in b');
is($node->safe_psql('a', "SELECT string_agg(\"group\" || ' ' || leader, ',') FROM fnd_leaders"),
	'grp x', 'fnd_leaders in a shows only a\'s leader');
is($node->safe_psql('b', "SELECT leader FROM fnd_leader('grp')"), 'y', 'fnd_leader in b says y');
is($sb->query_safe("SELECT fnd_resign('grp', 'x')"), 'f', 'x does not lead in b');
is($node->safe_psql('a', "SELECT leader FROM fnd_leader('grp')"), 'x', 'x still leads in a');
$sa->query_safe("SELECT fnd_resign('grp', 'x')");
$sb->query_safe("SELECT fnd_resign('grp', 'y')");

# --- registry: the same namespace and name in both databases
$node->safe_psql('a', "SELECT fnd_register('ns', 'svc', '{\"db\": \"a\"}', '1 hour')");
is(sqlstate_of('b', "SELECT fnd_register('ns', 'svc', '{\"db\": \"b\"}', '1 hour')"), 'none',
	'b registers the same name without FN101');
is($node->safe_psql('a', "SELECT metadata->>'db' FROM fnd_lookup('ns', 'svc')"), 'a',
	'a looks up its own entry');
is($node->safe_psql('b', "SELECT metadata->>'db' FROM fnd_lookup('ns', 'svc')"), 'b',
	'b looks up its own entry');
is($node->safe_psql('a', "SELECT string_agg(metadata->>'db', ',') FROM fnd_registry"), 'a',
	'fnd_registry in a shows only a\'s entry');
is($node->safe_psql('b', "SELECT fnd_unregister('ns', 'svc')"), 't', 'b unregisters its entry');
is($node->safe_psql('a', "SELECT count(*) FROM fnd_lookup('ns', 'svc')"), '1',
	'a\'s entry is still there');
is($node->safe_psql('a', "SELECT fnd_registry_stats()->>'entries'"), '1',
	'a counts its own entry');
$node->safe_psql('a', "SELECT fnd_unregister('ns', 'svc')");
$sa->quit;
$sb->quit;

# --- a dropped database's leased entries go, and free their role's quota
$node->safe_psql('postgres', 'CREATE ROLE tenant');
$node->safe_psql('postgres', 'CREATE DATABASE gone');
$node->safe_psql('gone', 'CREATE EXTENSION foundation');
$node->safe_psql('gone', q{
	SET ROLE tenant;
	SELECT fnd_register('ns', 'forever', '{}', '100 years');
	SELECT fnd_lock_acquire('forever', '0', '100 years');
	SELECT fnd_elect_leader('forever', 'me', '100 years');
});
is($node->safe_psql('postgres', "SELECT fnd_registry_stats()->>'entries_all_databases'"), '1',
	'the registry holds gone\'s entry');
my $quota = q{SET foundation.max_registry_entries_per_role = 1;
	SET foundation.max_locks_per_role = 1;
	SET foundation.max_elections_per_role = 1;
	SET ROLE tenant;};
is(sqlstate_of('postgres', "$quota SELECT fnd_lock_acquire('here', '0', '1 hour')"), 'FN607',
	'tenant\'s lock in gone counts against its quota in every database');
is(sqlstate_of('postgres', "$quota SELECT fnd_register('ns', 'here', '{}', '1 hour')"), 'FN103',
	'so does its registry entry');
is(sqlstate_of('postgres', "$quota SELECT fnd_elect_leader('here', 'me', '1 hour')"), 'FN607',
	'and its leadership');

$node->safe_psql('postgres', 'DROP DATABASE gone');
ok($node->poll_query_until('postgres',
		"SELECT fnd_registry_stats()->>'entries_all_databases' = '0'"),
	'the supervisor removed the dropped database\'s registry entry');
ok($node->poll_query_until('postgres',
		"SELECT detail LIKE '0 locks; 1 removed with dropped databases;%' FROM fnd_services() WHERE name = 'lock'"),
	'and its lock');
ok($node->poll_query_until('postgres',
		"SELECT detail = '0 leaderships; 1 removed with dropped databases' FROM fnd_services() WHERE name = 'election'"),
	'and its leadership');
ok($node->poll_query_until('postgres',
		"SELECT detail LIKE '%; 2 token slots freed' FROM fnd_services() WHERE name = 'lock'"),
	'and its two token slots');
is(sqlstate_of('postgres', "$quota SELECT fnd_lock_acquire('here', '0', '1 hour')"), 'none',
	'tenant may take a lock again');
is(sqlstate_of('postgres', "$quota SELECT fnd_register('ns', 'here', '{}', '1 hour')"), 'none',
	'and register');
is(sqlstate_of('postgres', "$quota SELECT fnd_elect_leader('here', 'me', '1 hour')"), 'none',
	'and lead');
$node->safe_psql('postgres', q{
	SELECT fnd_lock_release('here', token) FROM fnd_locks;
	SELECT fnd_unregister('ns', 'here');
	SELECT fnd_resign('here', 'me');
});

# --- a hand-off moves the lock's quota charge to its new holder
$node->safe_psql('postgres', 'CREATE ROLE tenant2');
my $h = $node->background_psql('postgres');
my $w = $node->background_psql('postgres');
$h->query_safe("$quota SELECT fnd_lock_acquire('handed')");
$w->query_safe('SET foundation.max_locks_per_role = 1; SET ROLE tenant2');
$w->query_until(qr/waiting/, "\\echo waiting\nSELECT fnd_lock_acquire('handed', '60 s');\n");
ok($node->poll_query_until('postgres', "SELECT waiters FROM fnd_locks WHERE name = 'handed'", '1'),
	'tenant2 waits for tenant\'s lock');
is(sqlstate_of('postgres', "$quota SELECT fnd_lock_acquire('mine')"), 'FN607',
	'tenant is at its quota while it holds the lock');
$h->query_safe("SELECT fnd_lock_release('handed')");
ok($node->poll_query_until('postgres',
		"SELECT owner_role = 'tenant2' AND token IS NOT NULL FROM fnd_locks WHERE name = 'handed'"),
	'the release hands the lock to tenant2');
is(sqlstate_of('postgres', "$quota SELECT fnd_lock_acquire('mine')"), 'none',
	'tenant has its quota back');
is(sqlstate_of('postgres', "SET foundation.max_locks_per_role = 1; SET ROLE tenant2; SELECT fnd_lock_acquire('more')"),
	'FN607', 'tenant2 is charged for the lock it was handed');
$w->query_safe("SELECT fnd_lock_release('handed')");
$h->quit;
$w->quit;

# --- token slots: 8 slots; a, b and postgres hold 2 each, so every second
# new database must reuse a dropped one's slots
my $cycles_ok = 0;
for my $i (1 .. 4)
{
	$node->safe_psql('postgres', "CREATE DATABASE c$i");
	$node->safe_psql("c$i", 'CREATE EXTENSION foundation');
	my ($ret, $out, $err) = $node->psql("c$i",
		"SELECT fnd_lock_acquire('x') IS NOT NULL AND fnd_elect_leader('g', 'c', NULL)");
	$cycles_ok++ if $ret == 0 && $out eq 't';
	diag("cycle $i: $err") if $ret != 0;
	$node->safe_psql('postgres', "DROP DATABASE c$i");
}
is($cycles_ok, 4, 'four create/use/drop cycles all got a token and a term');
for my $db ('full1', 'full2')
{
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, 'CREATE EXTENSION foundation');
}
is($node->safe_psql('full1', "SELECT fnd_lock_acquire('x') IS NOT NULL AND fnd_elect_leader('g', 'c', NULL)"),
	't', 'a fourth live database takes the last two slots');
is(sqlstate_of('full2', "SELECT fnd_lock_acquire('x')"), 'FN607',
	'a fifth is refused while all eight slots belong to live databases (FN607)');
my $t2 = $node->safe_psql('a', "SELECT fnd_lock_acquire('after')");
cmp_ok($t2, '>', $ta, 'tokens in a still increase');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
