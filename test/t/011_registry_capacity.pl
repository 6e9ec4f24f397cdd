# Registry capacity: with a small foundation.max_registry_entries the table
# fills up and fnd_register raises FN103 while the server stays fine;
# unregistering frees room.  Likewise when the shared value area is
# exhausted by large metadata.  An expired lease makes room by itself.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('registry_capacity');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.max_registry_entries = 8
foundation.value_memory = '1MB'
foundation.max_metadata_bytes = '450kB'
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

# Value memory: 1 MB holds exactly two documents of 400 kB.  A large value
# takes whole 4 kB pages (98 for one of these) and the area's own books
# (its header, page map and a 64 kB block of span records) take less than
# 100 kB: two fit with about 150 kB to spare, a third would need 1.2 MB.
my $doc = sub { "jsonb_build_object('blob', repeat('$_[0]', $_[1]))" };
my $stored = 0;
my $last_err = '';
for my $i (1 .. 4)
{
	($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\nSELECT fnd_register('big', 'b$i', " . $doc->('x', 400000) . ", '1 hour')");
	if ($ret == 0) { $stored++; } else { $last_err = $err; last; }
}
is($stored, 2, 'exactly two documents of 400 kB fit in 1 MB of value memory');
like($last_err, qr/FN103/, 'value memory exhausted: FN103');
like($last_err, qr/foundation\.value_memory/, 'the detail names foundation.value_memory');
is($node->safe_psql('postgres',
		"SELECT string_agg(length(metadata->>'blob')::text, ',') FROM fnd_registry WHERE namespace = 'big'"),
	'400000,400000', 'stored documents are whole');

# an update that does not fit (the new document is stored before the old
# one is freed: 390 kB more do not fit in the 150 kB left) changes nothing
($ret, $out, $err) = $node->psql('postgres',
	"SELECT fnd_update_metadata('big', 'b1', " . $doc->('y', 390000) . ")");
isnt($ret, 0, 'an update that does not fit fails');
like($err, qr/value memory is full/, 'with "value memory is full"');
is($node->safe_psql('postgres', "SELECT left(metadata->>'blob', 1) FROM fnd_lookup('big', 'b1')"),
	'x', 'and the old document is intact');

# once b2 is gone, the same update fits, and replaces the document
$node->safe_psql('postgres', "SELECT fnd_unregister('big', 'b2')");
$node->safe_psql('postgres', "SELECT fnd_update_metadata('big', 'b1', " . $doc->('y', 390000) . ")");
is($node->safe_psql('postgres', "SELECT left(metadata->>'blob', 1) || length(metadata->>'blob') FROM fnd_lookup('big', 'b1')"),
	'y390000', 'an update that fits replaces the document');

# the old document's memory is free again: another 390 kB fits
my $big = $doc->('x', 390000);
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
	'1', 'twenty unregister/register rounds of 390 kB still fit');

$node->stop;
FndTest::server_log_ok($node);
done_testing();
