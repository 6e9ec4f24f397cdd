# Capacity: every foundation.max_* setting that exists is set small, all at
# once, and each table is filled past its size.  For each known setting:
# the call that does not fit fails with the documented error (telemetry
# instead counts the drop and never fails), the server survives, and once
# space is freed the table works again.  Settings this file does not know
# are started small and otherwise skipped.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('capacity');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
});
$node->start;

# What each known table holds: how to add entry %s (leased where entries
# are owned, so they outlive the psql session that makes them), the
# SQLSTATE of the call that does not fit ('drop' for telemetry: no error,
# a counted drop), and how to free one entry (undef when the subsystem has
# no way to remove an entry).
my %known = (
	'foundation.max_registry_entries' => {
		need => 'fnd_register(text,text,jsonb,interval)',
		add => q{SELECT fnd_register('cap', 'e%s', '{}', '1 h')},
		full => 'FN103',
		free => q{SELECT fnd_unregister('cap', 'e1')},
	},
	'foundation.max_circuit_breakers' => {
		need => 'fnd_cb_install(text,integer,interval,interval,integer)',
		add => q{SELECT fnd_cb_install('cap%s')},
		full => 'FN203',
		free => q{SELECT fnd_cb_remove('cap1')},
	},
	'foundation.max_rate_buckets' => {
		# a drained bucket is recycled when the table is full; these are
		# not drained for an hour, so the table really is full
		need => 'fnd_rate_check(text,integer,interval)',
		add => q{SELECT fnd_rate_check('cap%s', 10, '1 h')},
		full => 'FN902',
		free => q{SELECT fnd_rate_reset('cap1')},
	},
	'foundation.max_locks' => {
		need => 'fnd_lock_acquire(text,interval,interval)',
		add => q{SELECT fnd_lock_acquire('cap%s', '0', '1 h')},
		full => 'FN607',
		free => q{SELECT fnd_lock_release('cap1', (SELECT token FROM fnd_locks WHERE name = 'cap1'))},
	},
	'foundation.max_elections' => {
		need => 'fnd_elect_leader(text,text,interval)',
		add => q{SELECT fnd_elect_leader('cap%s', 'c', '1 h')},
		full => 'FN607',
		free => q{SELECT fnd_resign('cap1', 'c')},
	},
	# barriers and consensus rounds share one table
	'foundation.max_coordination_objects' => {
		need => 'fnd_barrier_create(text,integer)',
		add => q{SELECT fnd_barrier_create('cap%s', 2)},
		full => 'FN607',
		free => q{SELECT fnd_barrier_remove('cap1')},
		also => [
			# a pending round does not fit either
			q{SELECT fnd_consensus_start('cap_round', '{}', '{a,b}', NULL, '1 h')}, 'FN607' ],
	},
	'foundation.max_metrics' => {
		need => 'fnd_metric_increment(text,double precision,jsonb)',
		add => q{SELECT fnd_metric_increment('cap.m%s')},
		full => 'drop',
		free => q{SELECT fnd_metrics_reset()},
	},
	'foundation.max_histograms' => {
		need => 'fnd_metric_observe(text,double precision,jsonb)',
		add => q{SELECT fnd_metric_observe('cap.h%s', 1)},
		full => 'drop',
		free => q{SELECT fnd_metrics_reset()},
	},
);
# Other spellings the subsystems may choose for the same tables.
$known{'foundation.max_rate_limits'} = $known{'foundation.max_rate_buckets'};
$known{'foundation.max_registry'} = $known{'foundation.max_registry_entries'};
$known{'foundation.max_breakers'} = $known{'foundation.max_circuit_breakers'};
$known{'foundation.max_consensus_rounds'} = $known{'foundation.max_consensus'};
$known{'foundation.max_leader_groups'} = $known{'foundation.max_elections'};
$known{'foundation.max_election_groups'} = $known{'foundation.max_elections'};

# Every foundation.max_* setting, and a small value for each (its minimum,
# but at least 8).
my %size;
for my $row (split /\n/, $node->safe_psql('postgres',
		"SELECT name, greatest(coalesce(min_val::int, 8), 8) FROM pg_settings
		 WHERE name LIKE 'foundation.max\\_%' AND vartype = 'integer'
		   AND context = 'postmaster' ORDER BY name"))
{
	my ($name, $n) = split /\|/, $row;
	$size{$name} = $n;
}
note('settings: ' . join(', ', map { "$_ = $size{$_}" } sort keys %size));
$node->append_conf('postgresql.conf', join('', map { "$_ = $size{$_}\n" } sort keys %size));
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
for my $name (sort keys %size)
{
	is($node->safe_psql('postgres', "SHOW $name"), $size{$name}, "$name is $size{$name}");
}

# Add entries 1..limit, stopping at the first error: "successes sqlstate".
$node->safe_psql('postgres', q{
CREATE FUNCTION cap_fill(q text, n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    done int := 0;
BEGIN
    FOR i IN 1 .. n LOOP
        BEGIN
            EXECUTE format(q, i);
            done := done + 1;
        EXCEPTION WHEN OTHERS THEN
            RETURN done || ' ' || SQLSTATE;
        END;
    END LOOP;
    RETURN done || ' none';
END $$});

for my $name (sort keys %size)
{
	my $k = $known{$name};
	my $n = $size{$name};
  SKIP:
	{
		skip "$name: no fill test for this setting", 4 unless $k;
		skip "$name: its functions do not exist yet", 4
		  unless $node->safe_psql('postgres', "SELECT to_regprocedure('$k->{need}') IS NOT NULL") eq 't';

		my $add = $k->{add};
		my ($done, $state) = split / /,
		  $node->safe_psql('postgres', "SELECT cap_fill(\$q\$$add\$q\$, $n + 5)");
		if ($k->{full} eq 'drop')
		{
			is($state, 'none', "$name: telemetry never fails its caller when full");
			ok($node->safe_psql('postgres',
					"SELECT coalesce(sum(count), 0) > 0 FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped'") eq 't',
				"$name: the drops are counted in foundation.telemetry.dropped");
		}
		else
		{
			# the table starts empty: exactly its size fits
			is($done, $n, "$name: exactly $n entries fit");
			like($state, qr/^\Q$k->{full}\E/, "$name: the next one fails with $k->{full} (got $state)");
			if (my $also = $k->{also})
			{
				my (undef, $st) = split / /, $node->safe_psql('postgres',
					"SELECT cap_fill(\$q\$$also->[0]\$q\$, 1)");
				is($st, $also->[1], "$name: $also->[0] fails with $also->[1] too");
			}
		}
		is($node->safe_psql('postgres', 'SELECT 1'), '1', "$name: the server survived");
		if ($k->{free})
		{
			$node->safe_psql('postgres', $k->{free});
			my $again = sprintf($add, 1000);
			my ($d2) = split / /,
			  $node->safe_psql('postgres', "SELECT cap_fill(\$q\$$again\$q\$, 1)");
			is($d2, '1', "$name: after freeing one, a new entry fits again");
		}
		else
		{
			skip "$name: no function frees an entry", 1;
		}
	}
}

ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'"),
	'the supervisor still runs');
$node->stop;
FndTest::server_log_ok($node);

# The shared value area (foundation.value_memory) is one pool for every
# subsystem's variable-length values: registry metadata and consensus
# proposals.  Filled by one subsystem, the others fail cleanly too, and all
# work again once it is freed.
SKIP:
{
	my $vnode = PostgreSQL::Test::Cluster->new('capacity_values');
	$vnode->init;
	$vnode->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.value_memory = 1024
});
	$vnode->start;
	$vnode->safe_psql('postgres', 'CREATE EXTENSION foundation');
	skip 'the registry does not exist yet', 6
	  unless $vnode->safe_psql('postgres',
		"SELECT to_regprocedure('fnd_register(text,text,jsonb,interval)') IS NOT NULL") eq 't';

	# entries with about 4 kB of metadata each, leased so they outlive the session
	my $fill = q{
DO $$
DECLARE
    n int := 0;
BEGIN
    FOR i IN 1 .. 2000 LOOP
        BEGIN
            PERFORM fnd_register('values', 'e' || i,
                jsonb_build_object('pad', repeat('x', 4000)), '1 h');
            n := n + 1;
        EXCEPTION WHEN SQLSTATE 'FN103' THEN
            RAISE NOTICE 'full after %', n;
            RETURN;
        END;
    END LOOP;
    RAISE NOTICE 'never full after %', n;
END $$};
	my ($ret, $out, $err) = $vnode->psql('postgres', $fill);
	like($err, qr/full after \d+/, 'registry metadata fills the 1 MB value area: FN103');
	my ($n) = $err =~ /full after (\d+)/;
	$n //= 0;
	cmp_ok($n, '>', 10, "some entries fit first ($n)");

	my $has_consensus = $vnode->safe_psql('postgres',
		"SELECT to_regprocedure('fnd_consensus_start(text,jsonb,text[],integer,interval,boolean)') IS NOT NULL") eq 't';
	my $start = q{SELECT fnd_consensus_start('values_round', jsonb_build_object('pad', repeat('y', 8000)), '{a,b}')};
	if ($has_consensus)
	{
		($ret, $out, $err) = $vnode->psql('postgres', "\\set VERBOSITY verbose\n$start");
		like($err, qr/FN607/, 'a consensus proposal then fails cleanly too (FN607)');
	}
	else
	{
		SKIP: { skip 'consensus does not exist yet', 1; }
	}

	$vnode->safe_psql('postgres',
		"SELECT count(fnd_unregister(namespace, name)) FROM fnd_registry WHERE namespace = 'values'");
	is($vnode->safe_psql('postgres', "SELECT count(*) FROM fnd_registry"), '0',
		'every entry unregistered');
	($ret, $out, $err) = $vnode->psql('postgres', $fill);
	my ($n2) = $err =~ /full after (\d+)/;
	$n2 //= 0;
	is($n2, $n, "the freed memory is reused: as many entries fit again ($n)");
	if ($has_consensus)
	{
		$vnode->safe_psql('postgres',
			"SELECT count(fnd_unregister(namespace, name)) FROM fnd_registry WHERE namespace = 'values'");
		$vnode->safe_psql('postgres', $start);
		is($vnode->safe_psql('postgres',
				"SELECT count(*) FROM fnd_consensus WHERE topic = 'values_round'"),
			'1', 'and a consensus round fits again');
	}
	else
	{
		SKIP: { skip 'consensus does not exist yet', 1; }
	}
	$vnode->stop;
	FndTest::server_log_ok($vnode);
}
done_testing();
