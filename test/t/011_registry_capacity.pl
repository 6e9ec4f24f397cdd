# Registry capacity: with a small foundation.max_registry_entries the table
# fills up and fnd_register raises FN103 while the server stays fine;
# unregistering frees room.  Likewise when the shared value area is
# exhausted by large metadata.  An expired lease makes room by itself.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('registry_capacity');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.max_registry_entries = 8
foundation.value_memory = '1MB'
foundation.max_metadata_bytes = '300kB'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

# fill the table with leased entries (they outlive the psql sessions)
$node->safe_psql('postgres',
	"SELECT fnd_register('cap', 'e' || i, '{}', '1 hour') FROM generate_series(1, 8) i");
is($node->safe_psql('postgres', "SELECT fnd_registry_stats()->>'entries'"),
	'8', 'eight entries registered');

my ($ret, $out, $err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSELECT fnd_register('cap', 'e9', '{}', '1 hour')");
isnt($ret, 0, 'the ninth registration fails');
like($err, qr/FN103/, 'with FN103');
like($err, qr/foundation\.max_registry_entries is 8/, 'the detail names the limit');
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_lookup('cap', 'e9')"),
	'0', 'nothing half-registered');

# the server is fine: reads and other work go on
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_registry"), '8', 'lookups still work');
is($node->safe_psql('postgres', "SELECT metadata->>'type' FROM fnd_lookup('cap', 'e3')"),
	'service', 'an existing entry reads back');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server answers');

# unregistering frees room
is($node->safe_psql('postgres', "SELECT fnd_unregister('cap', 'e1')"), 't', 'unregister one');
$node->safe_psql('postgres', "SELECT fnd_register('cap', 'e9', '{}', '1 hour')");
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_lookup('cap', 'e9')"),
	'1', 'the freed slot is used');

# an expired lease makes room for a new registration by itself
$node->safe_psql('postgres', "SELECT fnd_unregister('cap', 'e2')");
$node->safe_psql('postgres', "SELECT fnd_register('cap', 'brief', '{}', '2s')");
($ret, $out, $err) = $node->psql('postgres', "SELECT fnd_register('cap', 'x', '{}', '1 hour')");
like($err, qr/registry is full/, 'full again');
# wait until the brief lease has run out (time has to pass)
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_lookup('cap', 'brief')"), 'the brief lease ran out');
$node->safe_psql('postgres', "SELECT fnd_register('cap', 'x', '{}', '1 hour')");
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_lookup('cap', 'x')"),
	'1', 'the expired slot was reused');

# empty the table
$node->safe_psql('postgres',
	"SELECT fnd_unregister(namespace, name) FROM fnd_registry");
is($node->safe_psql('postgres', "SELECT fnd_registry_stats()->>'entries_all_databases'"),
	'0', 'table empty');

# value memory: 1 MB holds only a few 250 kB documents
my $big = "jsonb_build_object('blob', repeat('x', 250000))";
my $stored = 0;
my $last_err = '';
for my $i (1 .. 8)
{
	($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT fnd_register('big', 'b$i', $big, '1 hour')");
	if ($ret == 0) { $stored++; } else { $last_err = $err; last; }
}
cmp_ok($stored, '>=', 1, "some large documents fit ($stored)");
cmp_ok($stored, '<', 8, 'but not all of them');
like($last_err, qr/FN103/, 'value memory exhausted: FN103');
like($last_err, qr/foundation\.value_memory/, 'the detail names foundation.value_memory');
is($node->safe_psql('postgres',
		"SELECT bool_and(length(metadata->>'blob') = 250000) FROM fnd_registry WHERE namespace = 'big'"),
	't', 'stored documents are whole');

# an update that does not fit leaves the old document in place
($ret, $out, $err) = $node->psql('postgres',
	"SELECT fnd_update_metadata('big', 'b1', jsonb_build_object('blob', repeat('y', 290000)))");
if ($ret != 0)
{
	like($err, qr/value memory is full/, 'an update that does not fit fails');
	is($node->safe_psql('postgres', "SELECT left(metadata->>'blob', 1) FROM fnd_lookup('big', 'b1')"),
		'x', 'and the old document is intact');
}
else
{
	pass('the update fitted');
	is($node->safe_psql('postgres', "SELECT left(metadata->>'blob', 1) FROM fnd_lookup('big', 'b1')"),
		'y', 'and replaced the document');
}

# freeing one makes room for another
$node->safe_psql('postgres', "SELECT fnd_unregister('big', 'b2')");
$node->safe_psql('postgres', "SELECT fnd_register('big', 'again', $big, '1 hour')");
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_lookup('big', 'again')"),
	'1', 'freed value memory is reused');

# over and over: no leak of value memory
for my $round (1 .. 20)
{
	$node->safe_psql('postgres', "SELECT fnd_unregister('big', 'again')");
	$node->safe_psql('postgres', "SELECT fnd_register('big', 'again', $big, '1 hour')");
}
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_lookup('big', 'again')"),
	'1', 'twenty unregister/register rounds of 250 kB still fit');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
