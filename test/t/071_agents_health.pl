# Agents' health over time, with short settings: a silent agent goes
# healthy -> degraded -> unhealthy and a listener on fnd_agent_health
# receives each transition, in order, with its reason; a report brings it
# back (reason "reported"); the transitions are counted in telemetry.  A
# leased agent survives the session that registered it.  With
# foundation.agent_features off nothing is announced and 1.1 functions
# raise FN002; turned on again, the change that happened meanwhile is
# announced once (from whatever was announced last: the agent may already
# have been announced degraded before the flag went off).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;

my $node = PostgreSQL::Test::Cluster->new('agents_health');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.agent_degraded_after = 2
foundation.agent_unhealthy_after = 4
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

# a leased agent, registered by a session that then ends
my $s = $node->background_psql('postgres');
$s->query_safe("SELECT fnd_register_agent('tap', 'tap-1', '{inference}', '{}', '1 hour')");
$s->quit;
is($node->safe_psql('postgres', "SELECT health FROM fnd_lookup_agent('tap-1')"),
	'healthy', 'a leased agent survives the session that registered it');

# the listener collects notifications until it has seen $want, or 60 s
my $l = $node->background_psql('postgres');
$l->query_safe('LISTEN fnd_agent_health');
my $heard = '';

sub hear { return FndTest::hear($l, \$heard, $_[0]); }

my $re_degraded = qr/payload "\{"agent_id": "tap-1", "from": "healthy", "to": "degraded", "reason": "silence"\}"/;
my $re_unhealthy = qr/payload "\{"agent_id": "tap-1", "from": "degraded", "to": "unhealthy", "reason": "silence"\}"/;
$l->query_safe("SELECT fnd_update_agent_health('tap-1', 'healthy')");
ok(hear($re_unhealthy), 'silence: the listener hears the agent become unhealthy');
like($heard, $re_degraded, 'it heard degraded first');
ok(index($heard, 'from": "healthy') < index($heard, 'from": "degraded'),
	'healthy -> degraded came before degraded -> unhealthy');
is($node->safe_psql('postgres', "SELECT health FROM fnd_lookup_agent('tap-1')"),
	'unhealthy', 'the lookup agrees');

# a report brings it back, announced with reason "reported"
$node->safe_psql('postgres', "SELECT fnd_update_agent_health('tap-1', 'healthy')");
ok(hear(qr/"from": "unhealthy", "to": "healthy", "reason": "reported"/),
	'the recovery is announced as reported');
ok($node->poll_query_until('postgres',
		"SELECT sum >= 3 FROM fnd_metrics WHERE name = 'foundation.agents.health_transitions'"),
	'transitions are counted in telemetry');

# flag off: FN002, no announcements while the agent goes silent
$node->safe_psql('postgres', "SELECT fnd_update_agent_health('tap-1', 'healthy')");
my $last_report = $node->safe_psql('postgres', 'SELECT clock_timestamp()');
$node->append_conf('postgresql.conf', 'foundation.agent_features = off');
$node->reload;
ok($node->poll_query_until('postgres',
		"SELECT state = 'disabled' FROM fnd_services() WHERE name = 'agents'"),
	'the agents service is disabled');
# what the supervisor announced before it stopped reaches the listener now
$l->query_safe('SELECT 1');
$l->query_safe('SELECT 1');
my ($ret, $out, $err) = $node->psql('postgres', "SELECT fnd_lookup_agent('tap-1')");
like($err, qr/agent features are disabled/, 'a 1.1 function raises FN002');
like($err, qr/foundation.agent_features/, 'the hint names the setting');
is($node->safe_psql('postgres', "SELECT (metadata->>'last_health_check')::timestamptz >= '$last_report'::timestamptz - interval '1 s' FROM fnd_lookup('tap', 'tap-1')"),
	't', '1.0 functions still show the agent, and its last report within a second');
# wait (bounded) until the agent has been silent past unhealthy_after
ok($node->poll_query_until('postgres',
		"SELECT clock_timestamp() > '$last_report'::timestamptz + interval '5 s'"),
	'the agent has been silent past unhealthy_after');
$heard = '';
$heard .= $l->query_safe('SELECT 1');
unlike($heard, qr/tap-1/, 'nothing announced while the flag is off');

# flag on: the change that happened meanwhile is announced, once
$node->adjust_conf('postgresql.conf', 'foundation.agent_features', 'on');
$node->reload;
ok(hear(qr/"to": "unhealthy", "reason": "silence"/),
	'turned on again, the change to unhealthy is announced');
is(() = $heard =~ /agent_id": "tap-1"/g, 1, 'once');

$l->quit;
$node->stop;
done_testing();
