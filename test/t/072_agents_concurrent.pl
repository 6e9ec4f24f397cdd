# Health reports, registrations and lookups from truly concurrent sessions
# (the agents-health isolation spec interleaves them one step at a time).
# Two writers report health for the same four agents, each report pairing
# a health with its own resource figures (healthy: memory 0.1, degraded:
# memory 0.6); a churner registers and unregisters agents with the
# capability "transient".  Two readers look agents up by id, by health and
# by capability the whole time and count every row that could only come
# from a torn or stale entry: a health with the other health's figures, a
# by-health row of another health, a by-capability row without the
# capability, a 1.0 document whose health is not one the writers report.
# Each loop raises at its first violation, so a violation fails its psql.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use IPC::Run;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('agents_concurrent');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
max_connections = 20
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');
$node->safe_psql('postgres',
	"SELECT fnd_register_agent('conc', 'conc-' || i, '{inference}', '{}', '1 hour') FROM generate_series(1, 4) i");

my $rounds = 3000;

my $writer = qq{
DO \$\$
BEGIN
    FOR i IN 1..$rounds LOOP
        IF random() < 0.5 THEN
            PERFORM fnd_update_agent_health('conc-' || (1 + i % 4), 'healthy',
                '{"memory": 0.1, "cpu": 0.1}');
        ELSE
            PERFORM fnd_update_agent_health('conc-' || (1 + i % 4), 'degraded',
                '{"memory": 0.6, "cpu": 0.6}');
        END IF;
    END LOOP;
END \$\$;
SELECT 'writer done';
};

my $churner = qq{
DO \$\$
BEGIN
    FOR i IN 1..$rounds LOOP
        PERFORM fnd_register_agent('conc_t', 'tr-' || (i % 16), '{transient,monitoring}', '{}', '1 hour');
        PERFORM fnd_unregister('conc_t', 'tr-' || ((i + 8) % 16));
    END LOOP;
END \$\$;
SELECT 'churner done';
};

my $reader = qq{
DO \$\$
DECLARE
    r record;
    checked bigint := 0;
BEGIN
    FOR i IN 1..$rounds LOOP
        SELECT health, resource_usage FROM fnd_lookup_agent('conc-' || (1 + i % 4)) INTO r;
        IF NOT ((r.health = 'healthy' AND r.resource_usage->>'memory' = '0.1')
             OR (r.health = 'degraded' AND r.resource_usage->>'memory' = '0.6')
             OR (r.health = 'healthy' AND r.resource_usage = '{}')) THEN
            RAISE EXCEPTION 'torn lookup: % %', r.health, r.resource_usage;
        END IF;
        FOR r IN SELECT health, resource_usage FROM fnd_lookup_agents_by_health('degraded', 'conc') LOOP
            IF r.health <> 'degraded' OR r.resource_usage->>'memory' <> '0.6' THEN
                RAISE EXCEPTION 'by-health row of another health: % %', r.health, r.resource_usage;
            END IF;
            checked := checked + 1;
        END LOOP;
        FOR r IN SELECT agent_id, capabilities FROM fnd_lookup_agents_by_capability('transient') LOOP
            IF NOT 'transient' = ANY (r.capabilities) OR r.agent_id NOT LIKE 'tr-%' THEN
                RAISE EXCEPTION 'by-capability row without it: % %', r.agent_id, r.capabilities;
            END IF;
            checked := checked + 1;
        END LOOP;
        SELECT metadata->>'health' AS h FROM fnd_lookup('conc', 'conc-' || (1 + i % 4)) INTO r;
        IF r.h NOT IN ('healthy', 'degraded') THEN
            RAISE EXCEPTION '1.0 document health %', r.h;
        END IF;
        checked := checked + 1;
    END LOOP;
    RAISE NOTICE 'rows checked: %', checked;
END \$\$;
SELECT 'reader done';
};

my @runs;
for my $sql ($writer, $writer, $churner, $reader, $reader)
{
	my %r = (out => '', err => '');
	$r{h} = IPC::Run::start(
		[ 'psql', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1',
			'-d', $node->connstr('postgres'), '-c', $sql ],
		'>', \$r{out}, '2>', \$r{err});
	push @runs, \%r;
}
for my $r (@runs)
{
	$r->{h}->finish;
	$r->{rc} = $r->{h}->result(0);
}

for my $i (0 .. 1)
{
	is($runs[$i]{rc}, 0, "writer $i: $rounds health reports") or diag($runs[$i]{err});
}
is($runs[2]{rc}, 0, "churner: $rounds registrations and unregistrations") or diag($runs[2]{err});
for my $i (3 .. 4)
{
	is($runs[$i]{rc}, 0, "reader " . ($i - 3) . ": no torn or stale row in $rounds rounds of lookups")
	  or diag($runs[$i]{err});
	like($runs[$i]{err}, qr/rows checked: [1-9]/, 'the reader checked rows while the others ran');
}

# afterwards every agent's entry is one a writer made, and the capability
# index lists exactly the registered transient agents
is($node->safe_psql('postgres', qq{
	SELECT count(*) FROM fnd_agents
	WHERE namespace = 'conc' AND NOT (
	    (health = 'healthy' AND resource_usage->>'memory' = '0.1')
	    OR (health = 'degraded' AND resource_usage->>'memory' = '0.6'))}),
	'0', 'every agent ends with a health and figures one report made');
is($node->safe_psql('postgres', qq{
	SELECT (SELECT array_agg(agent_id ORDER BY agent_id) FROM fnd_lookup_agents_by_capability('transient'))
	     IS NOT DISTINCT FROM
	       (SELECT array_agg(agent_id ORDER BY agent_id) FROM fnd_agents WHERE namespace = 'conc_t')}),
	't', 'the capability index lists exactly the registered transient agents');

$node->stop;
done_testing();
