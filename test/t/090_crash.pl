# Crash safety: with four sessions appending events, (1) kill -9 one backend
# (the postmaster kills the others and reinitialises shared memory) and (2)
# stop the server with pg_ctl stop -m immediate, then start it.  After each:
#   - every event whose insert returned before the crash is there (each
#     writer's psql prints the id it got back; a printed id was committed);
#   - config written before the crash is intact (when config exists);
#   - fencing tokens and election terms keep increasing (when they exist):
#     they come from sequences, which are WAL-logged ahead of use;
#   - the supervisor is back;
#   - shared-memory state (registry, breakers, locks ...) is empty, and
#     usable again;
#   - metrics: a backend crash (kill -9) loses them; an immediate stop keeps
#     them (the postmaster writes them as it exits), as does (3) a clean
#     restart.
# Checks for subsystems that do not exist yet are skipped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

sub has_func
{
	my ($sig) = @_;
	return $node->safe_psql('postgres', "SELECT to_regprocedure('$sig') IS NOT NULL") eq 't';
}

my $has_store = has_func('fnd_store_event(text,jsonb)');
my $has_config = has_func('fnd_config_update(text,jsonb)') && has_func('fnd_config_get(text)');
my $has_lock = has_func('fnd_lock_acquire(text,interval,interval)');
my $has_elect = has_func('fnd_elect_leader(text,text,interval)') && has_func('fnd_leader(text)');
my $has_register = has_func('fnd_register(text,text,jsonb,interval)');
my $has_cb = has_func('fnd_cb_install(text,integer,interval,interval,integer)');
my $has_metric = has_func('fnd_metric_increment(text,double precision,jsonb)');

my $q_supervisor =
  "SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'";
ok($node->poll_query_until('postgres', $q_supervisor), 'the supervisor runs');

# The statement each writer repeats; psql prints the returned id.
my $insert = $has_store
  ? "SELECT fnd_store_event('crash', jsonb_build_object('w', :w, 'r', :r));"
  : "INSERT INTO fnd_events(type, data) VALUES ('crash', jsonb_build_object('w', :w, 'r', :r)) RETURNING id;";
my $script = "$PostgreSQL::Test::Utils::tmp_check/crash_writer.sql";
{
	open(my $fh, '>', $script) or die "cannot write $script: $!";
	print $fh "$insert\n" for 1 .. 100000;
	close($fh);
}

# Start four writers; each is a psql running the script until the crash.
sub start_writers
{
	my ($round) = @_;
	my @w;
	for my $i (1 .. 4)
	{
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start(
			[
				'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-v', "w=$i", '-v', "r=$round",
				'-d', $node->connstr('postgres') . " application_name=crash_w${round}_$i",
				'-f', $script
			],
			'<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout($PostgreSQL::Test::Utils::timeout_default));
		push @w, { h => $h, out => \$out, err => \$err };
	}
	return @w;
}

# Wait for the writers to end (the crash ends them); the ids they printed.
sub writer_ids
{
	my @w = @_;
	my @ids;
	for my $w (@w)
	{
		eval { $w->{h}->finish; };
		push @ids, grep { /^\d+$/ } split /\n/, ${ $w->{out} };
	}
	return @ids;
}

# State before a crash; returns the token and term taken.
sub before_crash
{
	my ($round) = @_;
	my %s;
	if ($has_config)
	{
		$node->safe_psql('postgres',
			"SELECT fnd_config_update('crash.round$round', '{\"n\": $round}')");
	}
	if ($has_lock)
	{
		$s{token} = $node->safe_psql('postgres',
			"SELECT fnd_lock_acquire('crash_lock_$round')");
	}
	if ($has_elect)
	{
		$node->safe_psql('postgres', "SELECT fnd_elect_leader('crash_group', 'c$round', '1 h')");
		$s{term} = $node->safe_psql('postgres', "SELECT term FROM fnd_leader('crash_group')");
	}
	# shared-memory state that would outlive its session: a leased entry,
	# a breaker, a metric
	$node->safe_psql('postgres',
		"SELECT fnd_register('crash', 'leased', '{}', '1 h')") if $has_register;
	$node->safe_psql('postgres', "SELECT fnd_cb_install('crash_cb')") if $has_cb;
	$node->safe_psql('postgres', "SELECT fnd_metric_increment('crash.metric')")
	  if $has_metric;
	return %s;
}

# Checks after the server is back.
sub after_crash
{
	my ($what, $round, %before) = @_;
	my @ids = @{ $before{ids} };

	ok($node->poll_query_until('postgres', 'SELECT true'), "$what: the server accepts connections");
	cmp_ok(scalar(@ids), '>', 0, "$what: the writers had stored events before the crash");
	my $list = join(',', @ids) || '0';
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM fnd_events WHERE id IN ($list) AND type = 'crash'"),
		scalar(@ids), "$what: all " . scalar(@ids) . " events whose insert returned are there");

	# The event store may write rows by a direct path rather than SQL:
	# after recovery the heap and every index must agree (amcheck's
	# heapallindexed: each heap row is in each index), and an index scan
	# must see what a sequential scan sees.
	$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS amcheck');
	is( $node->safe_psql('postgres',
			"SELECT count(bt_index_check(i.indexrelid, true)) = count(*)
			 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
			 WHERE i.indrelid = 'fnd_events'::regclass AND a.amname = 'btree'"),
		't', "$what: every btree index of fnd_events holds every row (amcheck)");
	is( $node->safe_psql('postgres', qq{
			SET enable_seqscan = off; SET enable_bitmapscan = off;
			SELECT count(*) FROM fnd_events WHERE id IN ($list)}),
		scalar(@ids), "$what: an index scan finds them all too");

	if ($has_config)
	{
		for my $r (1 .. $round)
		{
			is($node->safe_psql('postgres', "SELECT fnd_config_get('crash.round$r')->>'n'"),
				$r, "$what: config written before the crash (round $r) is intact");
		}
	}
	else
	{
		SKIP: { skip "$what: config does not exist yet", 1; }
	}

	if ($has_lock)
	{
		my $t = $node->safe_psql('postgres', "SELECT fnd_lock_acquire('crash_lock_$round')");
		cmp_ok($t, '>', $before{token}, "$what: a new fencing token ($t) is above the one before ($before{token})");
	}
	else
	{
		SKIP: { skip "$what: locks do not exist yet", 1; }
	}
	if ($has_elect)
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_leader('crash_group')"),
			'0', "$what: the election state is gone with shared memory");
		$node->safe_psql('postgres', "SELECT fnd_elect_leader('crash_group', 'x$round', '1 s')");
		my $t = $node->safe_psql('postgres', "SELECT term FROM fnd_leader('crash_group')");
		cmp_ok($t, '>', $before{term}, "$what: a new term ($t) is above the one before ($before{term})");
	}
	else
	{
		SKIP: { skip "$what: elections do not exist yet", 2; }
	}

	ok($node->poll_query_until('postgres', $q_supervisor), "$what: the supervisor is back");

	if ($has_register)
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_registry"),
			'0', "$what: the registry is empty (the leased entry went with shared memory)");
		$node->safe_psql('postgres', "SELECT fnd_register('crash', 'leased', '{}', '1 s')");
		is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_lookup('crash', 'leased')"),
			'1', "$what: the registry is usable");
		$node->safe_psql('postgres', "SELECT fnd_unregister('crash', 'leased')");
	}
	if ($has_cb)
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_circuit_breakers"),
			'0', "$what: no breaker survives");
		$node->safe_psql('postgres', "SELECT fnd_cb_install('crash_cb')");
		is($node->safe_psql('postgres', "SELECT fnd_cb_ask('crash_cb')"),
			'ok', "$what: breakers are usable");
		$node->safe_psql('postgres', "SELECT fnd_cb_remove('crash_cb')");
	}
	if ($has_metric && $round == 1)
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_metrics WHERE name = 'crash.metric'"),
			'0', "$what: metrics are gone with shared memory");
	}
	elsif ($has_metric)
	{
		# The postmaster writes the metrics to a file as it exits
		# (foundation.telemetry_save), at an immediate stop too: they come
		# back with the value they had (round 1's increment went with the
		# kill -9, round 2's is kept).
		is($node->safe_psql('postgres',
				"SELECT coalesce(sum(count), 0) FROM fnd_metrics WHERE name = 'crash.metric'"),
			'1', "$what: metrics are kept, as they were");
	}
	if ($has_lock)
	{
		is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_locks"),
			'0', "$what: no lock survives");
	}
}

# 1. kill -9 of one writer's backend
my %b1 = before_crash(1);
my @w = start_writers(1);
ok($node->poll_query_until('postgres',
		"SELECT count(*) >= 200 FROM fnd_events WHERE data->>'r' = '1'"),
	'kill -9: the writers are storing events');
my $victim = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'crash_w1_2'");
like($victim, qr/^\d+$/, 'kill -9: found the victim backend');
my $logpos = -s $node->logfile;
kill 'KILL', $victim;
$b1{ids} = [ writer_ids(@w) ];
ok($node->poll_query_until('postgres', 'SELECT true'), 'kill -9: the server is back');
like(substr(slurp_file($node->logfile), $logpos), qr/terminated by signal 9|all server processes terminated; reinitializing/,
	'kill -9: the postmaster reinitialised after the crash');
after_crash('kill -9', 1, %b1);

# 2. pg_ctl stop -m immediate, then start
my %b2 = before_crash(2);
@w = start_writers(2);
ok($node->poll_query_until('postgres',
		"SELECT count(*) >= 200 FROM fnd_events WHERE data->>'r' = '2'"),
	'immediate stop: the writers are storing events');
$node->stop('immediate');
$b2{ids} = [ writer_ids(@w) ];
$node->start;
after_crash('immediate stop', 2, %b2);

# The first round's events are still there after the second crash too.
my $all = join(',', @{ $b1{ids} }) || '0';
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_events WHERE id IN ($all)"),
	scalar(@{ $b1{ids} }), 'the events of the first crash survived the second');

# 3. A clean restart keeps metrics too.
if ($has_metric)
{
	$node->safe_psql('postgres', "SELECT fnd_metric_increment('crash.metric')");
	$node->restart;
	is($node->safe_psql('postgres',
			"SELECT coalesce(sum(count), 0) FROM fnd_metrics WHERE name = 'crash.metric'"),
		'2', 'clean restart: metrics are kept');
}

$node->stop;
# one kill -9 of a backend (an immediate stop logs no signal), nothing else
FndTest::server_log_ok($node, kills => 1);
done_testing();
