-- alerts (1.2): rule specs and their errors, the state machine step by step
-- with fnd_alerts_evaluate(), per-agent instances, rate rules across a
-- counter reset, quantile rules, history, events, rights
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
-- the test evaluates by itself: the supervisor's evaluations and snapshots
-- are turned off while it runs
ALTER SYSTEM SET foundation.alert_interval = 0;
ALTER SYSTEM SET foundation.metric_history_interval = 0;
ALTER SYSTEM SET foundation.metric_history_retention = 0;
SELECT pg_reload_conf();
DO $$
BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN (SELECT count(*) FROM fnd_services()
                   WHERE name IN ('alerts', 'metric_history') AND state = 'disabled') = 2;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT name, state FROM fnd_services() WHERE name IN ('alerts', 'metric_history') ORDER BY name;
SELECT fnd_metrics_reset(n) FROM unnest('{al.cpu,al.req,al.lat,al.mem}'::text[]) n;
DELETE FROM fnd_alert_rules;
DELETE FROM fnd_alert_history;
DELETE FROM fnd_metric_history WHERE name LIKE 'al.%';

-- spec errors: FN003 naming the key, nothing created
SELECT fnd_create_agent_alert(NULL);
SELECT fnd_create_agent_alert('[]');
SELECT fnd_create_agent_alert('{"metric": "al.cpu", "condition": "gt", "threshold": 1}');
SELECT fnd_create_agent_alert('{"name": "x", "condition": "gt", "threshold": 1}');
SELECT fnd_create_agent_alert('{"name": "", "metric": "al.cpu", "condition": "gt", "threshold": 1}');
SELECT fnd_create_agent_alert('{"name": 7, "metric": "al.cpu", "condition": "gt", "threshold": 1}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "threshold": 1}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "above", "threshold": 1}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": "1"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "field": "p42"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "for": "soon"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "for": "-1 min"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "for": 60}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "window": "0 s"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "severity": "fatal"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "agent_id": ""}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "tags": {"a": [1]}}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "tags": "zone"}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "description": 5}');
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1, "labels": {}}');
SELECT count(*) AS no_rules FROM fnd_alert_rules;

-- a rule with for 0: inactive -> pending -> firing in one pass -> resolved
SELECT fnd_create_agent_alert('{"name": "cpu_high", "metric": "al.cpu", "agent_id": "a1",
    "condition": "gt", "threshold": 0.8, "severity": "critical",
    "description": "CPU of a1 above 80%"}') > 0 AS created;
SELECT name, metric, agent_id, tags, field, condition, threshold, "for", "window", severity, description
FROM fnd_alert_rules;
SELECT fnd_create_agent_alert('{"name": "cpu_high", "metric": "al.cpu", "condition": "gt", "threshold": 1}');
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, instance, state, value, severity FROM fnd_alerts;
SELECT fnd_record_agent_metric('a1', 'al.cpu', 0.5);
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, instance, state, value FROM fnd_alerts;
SELECT fnd_record_agent_metric('a1', 'al.cpu', 0.9);
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, instance, state, value, since IS NOT NULL AS since, severity FROM fnd_alerts;
SELECT alert, instance, agent_id, from_state, state, value, threshold, severity
FROM fnd_alert_history ORDER BY id;
-- both transitions of one pass carry one time
SELECT count(DISTINCT ts) AS one_time FROM fnd_alert_history;
-- still true: nothing changes
SELECT fnd_alerts_evaluate() AS changes;
SELECT fnd_record_agent_metric('a1', 'al.cpu', 0.3);
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, instance, state, value FROM fnd_alerts;
SELECT from_state, state, value FROM fnd_alert_history('cpu_high', 1);
-- the firing and the resolution were stored as events
SELECT type, data - 'value' AS data FROM fnd_events
WHERE type IN ('alert_fired', 'alert_resolved') ORDER BY id;
-- true again: pending and firing again
SELECT fnd_record_agent_metric('a1', 'al.cpu', 0.95);
SELECT fnd_alerts_evaluate() AS changes;
SELECT state FROM fnd_alerts WHERE name = 'cpu_high';

-- a rule with "for": pending until the condition has held that long; the
-- test moves the instance's start back instead of waiting
SELECT fnd_create_agent_alert('{"name": "mem_high", "metric": "al.mem",
    "condition": "ge", "threshold": 100, "for": "10 min"}') > 0 AS created;
SELECT fnd_record_agent_metric('m1', 'al.mem', 120);
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, instance, state, value FROM fnd_alerts WHERE name = 'mem_high';
SELECT fnd_alerts_evaluate() AS changes;
SELECT state FROM fnd_alerts WHERE name = 'mem_high';
UPDATE fnd_alert_state SET since = since - interval '9 min'
WHERE rule_id = (SELECT id FROM fnd_alert_rules WHERE name = 'mem_high');
SELECT fnd_alerts_evaluate() AS changes;
SELECT state FROM fnd_alerts WHERE name = 'mem_high';
UPDATE fnd_alert_state SET since = since - interval '1 min'
WHERE rule_id = (SELECT id FROM fnd_alert_rules WHERE name = 'mem_high');
-- (the pending row of the history moves back with it)
UPDATE fnd_alert_history SET ts = ts - interval '10 min'
WHERE alert = 'mem_high' AND state = 'pending';
SELECT fnd_alerts_evaluate() AS changes;
SELECT state FROM fnd_alerts WHERE name = 'mem_high';
-- the history's times show how long it was pending
SELECT h2.ts - h1.ts >= interval '10 min' AS pending_for_10_min
FROM fnd_alert_history h1, fnd_alert_history h2
WHERE h1.alert = 'mem_high' AND h1.state = 'pending'
  AND h2.alert = 'mem_high' AND h2.state = 'firing';
-- pending, then false: back to inactive (no resolution, no event)
SELECT fnd_record_agent_metric('m2', 'al.mem', 150);
SELECT fnd_alerts_evaluate() AS changes;
SELECT fnd_record_agent_metric('m2', 'al.mem', 50);
SELECT fnd_alerts_evaluate() AS changes;
SELECT instance, from_state, state FROM fnd_alert_history
WHERE alert = 'mem_high' AND instance LIKE '%m2%' ORDER BY id;
SELECT instance, state FROM fnd_alerts WHERE name = 'mem_high' ORDER BY instance;

-- per-agent instances: a rule without agent_id fires per series
SELECT fnd_create_agent_alert('{"name": "cpu_any", "metric": "al.cpu", "tags": {"zone": "eu"},
    "condition": "ge", "threshold": 0.7}') > 0 AS created;
SELECT fnd_record_agent_metric('e1', 'al.cpu', 0.75, 'gauge', '{"zone": "eu"}');
SELECT fnd_record_agent_metric('e2', 'al.cpu', 0.10, 'gauge', '{"zone": "eu"}');
SELECT fnd_record_agent_metric('e3', 'al.cpu', 0.70, 'gauge', '{"zone": "eu"}');
SELECT fnd_record_agent_metric('u1', 'al.cpu', 0.99, 'gauge', '{"zone": "us"}');
SELECT fnd_alerts_evaluate() AS changes;
SELECT instance, state, value FROM fnd_alerts WHERE name = 'cpu_any' ORDER BY instance;
SELECT agent_id, state FROM fnd_alert_history WHERE alert = 'cpu_any' ORDER BY agent_id, id;
SELECT fnd_record_agent_metric('e1', 'al.cpu', 0.2, 'gauge', '{"zone": "eu"}');
SELECT fnd_alerts_evaluate() AS changes;
SELECT instance, state FROM fnd_alerts WHERE name = 'cpu_any' ORDER BY instance;

-- a rate rule across a counter reset: 100 -> 160, reset, 30 now
SELECT fnd_create_agent_alert('{"name": "req_rate", "metric": "al.req", "field": "rate",
    "window": "5 min", "condition": "gt", "threshold": 0.5}') > 0 AS created;
INSERT INTO fnd_metric_history (ts, name, tags, kind, count, sum, last)
VALUES (now() - interval '120 s', 'al.req', '{"agent_id": "r1"}', 'counter', 2, 100, 100),
       (now() - interval '60 s', 'al.req', '{"agent_id": "r1"}', 'counter', 3, 160, 160);
SELECT fnd_record_agent_metric('r1', 'al.req', 30, 'counter');
SELECT fnd_alerts_evaluate() AS changes;
SELECT instance, state, round(value::numeric, 3) AS rate FROM fnd_alerts WHERE name = 'req_rate';
-- the reset is counted: 0.75 is not below 0.5 (last minus first, 30 - 100,
-- would be negative and fire)
SELECT fnd_drop_alert('req_rate');
SELECT fnd_create_agent_alert('{"name": "req_slow", "metric": "al.req", "field": "rate",
    "condition": "lt", "threshold": 0.5}') > 0 AS created;
SELECT fnd_alerts_evaluate() AS changes;
SELECT state FROM fnd_alerts WHERE name = 'req_slow';

-- a quantile rule on each agent's histogram
SELECT fnd_create_agent_alert('{"name": "lat_p99", "metric": "al.lat", "field": "p99",
    "condition": "gt", "threshold": 500, "severity": "info"}') > 0 AS created;
SELECT count(fnd_record_agent_metric('q1', 'al.lat', i, 'histogram')) FROM generate_series(1, 1000) i;
SELECT count(fnd_record_agent_metric('q2', 'al.lat', i / 10.0, 'histogram')) FROM generate_series(1, 1000) i;
SELECT fnd_alerts_evaluate() AS changes;
SELECT instance, state, round(value::numeric, -1) AS p99 FROM fnd_alerts WHERE name = 'lat_p99' ORDER BY instance;
-- other fields: count, mean, max
SELECT fnd_create_agent_alert('{"name": "lat_count", "metric": "al.lat", "agent_id": "q2",
    "field": "count", "condition": "eq", "threshold": 1000}') > 0 AS created;
SELECT fnd_create_agent_alert('{"name": "lat_mean", "metric": "al.lat", "agent_id": "q2",
    "field": "mean", "condition": "le", "threshold": 50.05}') > 0 AS created;
SELECT fnd_create_agent_alert('{"name": "lat_max", "metric": "al.lat", "agent_id": "q1",
    "field": "max", "condition": "ne", "threshold": 1000}') > 0 AS created;
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, state, value FROM fnd_alerts WHERE name IN ('lat_count', 'lat_mean', 'lat_max') ORDER BY name;

-- a series that disappears resolves its firing instances
SELECT fnd_metrics_reset('al.lat');
SELECT fnd_alerts_evaluate() AS changes;
SELECT name, state, value FROM fnd_alerts WHERE name LIKE 'lat_%' ORDER BY name, instance;

-- the history function: newest first, per alert, bounded
SELECT alert, from_state, state FROM fnd_alert_history('mem_high', 2);
SELECT count(*) FROM fnd_alert_history();
SELECT count(*) FROM fnd_alert_history('nothing');
SELECT * FROM fnd_alert_history(NULL, -1);

-- dropping: the rule and its instances go, the history stays
SELECT fnd_drop_alert('cpu_any');
SELECT fnd_drop_alert('cpu_any');
SELECT fnd_drop_alert(NULL);
SELECT count(*) FROM fnd_alerts WHERE name = 'cpu_any';
SELECT count(*) > 0 AS history_kept FROM fnd_alert_history('cpu_any');

-- rights: PUBLIC reads; creating, dropping and evaluating are admin
CREATE ROLE fnd_al_plain;
SET ROLE fnd_al_plain;
SELECT count(*) > 0 AS reads FROM fnd_alerts;
SELECT count(*) > 0 AS reads_history FROM fnd_alert_history();
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1}');
SELECT fnd_drop_alert('cpu_high');
SELECT fnd_alerts_evaluate();
INSERT INTO fnd_alert_rules (name, metric, field, condition, threshold) VALUES ('x', 'y', 'last', 'gt', 1);
RESET ROLE;
DROP ROLE fnd_al_plain;

-- flag off: FN002
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
\set VERBOSITY sqlstate
SELECT fnd_create_agent_alert('{"name": "x", "metric": "al.cpu", "condition": "gt", "threshold": 1}');
SELECT fnd_drop_alert('cpu_high');
SELECT fnd_alerts_evaluate();
SELECT fnd_alert_history();
\set VERBOSITY default
\set want on
\i :abs_srcdir/sql/include/agent_features.sql

-- clean up
DELETE FROM fnd_alert_rules;
DELETE FROM fnd_alert_history;
DELETE FROM fnd_metric_history WHERE name LIKE 'al.%';
SELECT fnd_metrics_reset(n) FROM unnest('{al.cpu,al.req,al.lat,al.mem}'::text[]) n;
ALTER SYSTEM RESET foundation.alert_interval;
ALTER SYSTEM RESET foundation.metric_history_interval;
ALTER SYSTEM RESET foundation.metric_history_retention;
SELECT pg_reload_conf();
