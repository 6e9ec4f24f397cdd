# Alerts and metric history with the supervisor (1.2), short settings: the
# database's worker evaluates a rule on its own and a LISTEN fnd_alerts
# session hears pending, firing, then resolved, each stored as an event
# too; an agent's health transitions become the gauge
# foundation.agent.healthy{agent_id}, and a rule on it fires; history
# snapshots appear every interval and rows past the retention are pruned;
# metrics, rules and alert states survive a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use FndTest;

my $node = PostgreSQL::Test::Cluster->new('alerts');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.alert_interval = 200
foundation.metric_history_interval = 1
foundation.metric_history_retention = 30
foundation.agent_degraded_after = 2
foundation.agent_unhealthy_after = 600
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

# the listener collects notifications until it has seen $want, or 60 s
my $l = $node->background_psql('postgres');
$l->query_safe('LISTEN fnd_alerts');
my $heard = '';

sub hear { return FndTest::hear($l, \$heard, $_[0]); }

$node->safe_psql('postgres', q{
SELECT fnd_create_agent_alert('{"name": "tap_cpu", "metric": "tap.cpu", "agent_id": "a1",
    "condition": "gt", "threshold": 0.8, "severity": "critical"}');
SELECT fnd_record_agent_metric('a1', 'tap.cpu', 0.5);
});

# the supervisor evaluates on its own: firing, then resolved
$node->safe_psql('postgres', "SELECT fnd_record_agent_metric('a1', 'tap.cpu', 0.9)");
ok(hear(qr/"state": "firing"/),
	'the listener hears the alert firing without anyone evaluating');
like($heard, qr/payload "\{[^}]*"alert": "tap_cpu"/, 'the payload names the alert');
like($heard, qr/"agent_id": "a1"/, 'and the agent');
like($heard, qr/"severity": "critical"/, 'and the severity');
like($heard, qr/"threshold": 0.8/, 'and the threshold');
like($heard, qr/"value": 0.9/, 'and the value');
ok(index($heard, '"state": "pending"') >= 0
	&& index($heard, '"state": "pending"') < index($heard, '"state": "firing"'),
	'pending was announced before firing');
$node->safe_psql('postgres', "SELECT fnd_record_agent_metric('a1', 'tap.cpu', 0.2)");
ok(hear(qr/"state": "resolved"/), 'then resolved, once the value is back under the threshold');
ok(index($heard, '"state": "firing"') < index($heard, '"state": "resolved"'),
	'firing came before resolved');
is($node->safe_psql('postgres',
		"SELECT string_agg(type, ',' ORDER BY id) FROM fnd_events WHERE type LIKE 'alert_%'"),
	'alert_fired,alert_resolved', 'both were stored as events');
is($node->safe_psql('postgres',
		"SELECT string_agg(from_state || '>' || state, ',' ORDER BY id) FROM fnd_alert_history WHERE alert = 'tap_cpu'"),
	'inactive>pending,pending>firing,firing>resolved', 'and in the alert history');
like($node->safe_psql('postgres', "SELECT detail FROM fnd_services() WHERE name = 'alerts'"),
	qr/passes/, 'fnd_services() shows the alerts service at work');

# an agent's health transitions are a gauge, and can be alerted on
$node->safe_psql('postgres', q{
SELECT fnd_register_agent('tap', 'h1', '{}', '{}', '1 hour');
SELECT fnd_create_agent_alert('{"name": "tap_unhealthy", "metric": "foundation.agent.healthy",
    "condition": "lt", "threshold": 1, "severity": "warning"}');
});
ok($node->poll_query_until('postgres',
		"SELECT last = 0.5 FROM fnd_agent_metrics WHERE agent_id = 'h1' AND name = 'foundation.agent.healthy'"),
	'a silent agent turning degraded sets foundation.agent.healthy{agent_id} to 0.5');
ok(hear(qr/"alert": "tap_unhealthy"[^}]*"state": "firing"|"state": "firing"[^}]*"alert": "tap_unhealthy"/),
	'and a rule on the gauge fires for that agent');
$node->safe_psql('postgres', "SELECT fnd_update_agent_health('h1', 'healthy')");
ok($node->poll_query_until('postgres',
		"SELECT last = 1 FROM fnd_agent_metrics WHERE agent_id = 'h1' AND name = 'foundation.agent.healthy'"),
	'reported healthy again: 1');

# history: snapshots every second, one time per snapshot for every series
ok($node->poll_query_until('postgres',
		"SELECT count(DISTINCT ts) >= 3 FROM fnd_metric_history WHERE name = 'tap.cpu'"),
	'snapshots of the series appear at the interval');
is($node->safe_psql('postgres', q{
SELECT bool_and(n = 1) FROM (SELECT ts, count(*) AS n FROM fnd_metric_history
    WHERE name = 'tap.cpu' GROUP BY ts) s}),
	't', 'one row per series per snapshot');
is($node->safe_psql('postgres', q{
SELECT count(*) > 0 FROM fnd_metric_history('tap.cpu', '{"agent_id": "a1"}', now() - interval '1 min')
WHERE last = 0.2}), 't', 'fnd_metric_history() reads them');
# rows past the retention are pruned
$node->safe_psql('postgres', q{
INSERT INTO fnd_metric_history (ts, name, tags, kind, count, last)
SELECT now() - interval '1 hour' - i * interval '1 s', 'tap.old', '{}', 'gauge', 1, i
FROM generate_series(1, 100) i});
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM fnd_metric_history WHERE ts < now() - interval '31 s'"),
	'rows older than the retention are pruned');
is($node->safe_psql('postgres',
		"SELECT count(*) > 0 FROM fnd_metric_history WHERE name = 'tap.cpu'"),
	't', 'recent rows stay');

# a restart keeps metrics, rules and alert states
$node->safe_psql('postgres', q{
SELECT fnd_record_agent_metric('a2', 'tap.req', 42, 'counter');
SELECT fnd_record_agent_metric('a1', 'tap.cpu', 0.95);
});
ok(hear(qr/"state": "firing", "value": 0.95|"value": 0.95[^}]*"state": "firing"|"state": "firing"[^}]*"value": 0.95/),
	'firing again before the restart');
$l->quit;
$node->restart;
is($node->safe_psql('postgres',
		"SELECT last FROM fnd_agent_metrics WHERE agent_id = 'a2' AND name = 'tap.req'"),
	'42', 'an agent counter survives a restart');
is($node->safe_psql('postgres', 'SELECT string_agg(name, \',\' ORDER BY name) FROM fnd_alert_rules'),
	'tap_cpu,tap_unhealthy', 'the rules survive a restart');
is($node->safe_psql('postgres', "SELECT state FROM fnd_alerts WHERE name = 'tap_cpu'"),
	'firing', 'and the firing state');
my $before = $node->safe_psql('postgres', "SELECT count(*) FROM fnd_alert_history WHERE alert = 'tap_cpu'");
$node->safe_psql('postgres', "SELECT fnd_record_agent_metric('a1', 'tap.cpu', 0.1)");
ok($node->poll_query_until('postgres',
		"SELECT state = 'resolved' FROM fnd_alerts WHERE name = 'tap_cpu'"),
	'the supervisor goes on evaluating after the restart');
is($node->safe_psql('postgres', "SELECT count(*) FROM fnd_alert_history WHERE alert = 'tap_cpu'"),
	$before + 1, 'with one transition: the state was not lost');

$node->stop;
done_testing();
