-- 1.2: events that know their agent and correlation, durable gap-free
-- subscriptions, agent metrics and alerts.  Uses the agents of agents.sql.
\echo '== events (1.2): store with agent context and a correlation id, query by either'
SELECT fnd_subscription_drop(name) AS left_over  -- start clean when re-run
FROM fnd_subscriptions WHERE name = 'walk-planner';
SELECT fnd_subscription_create('walk-planner', '{"agent_id": "planner"}');
SELECT fnd_store_event('task_started', '{"task": 7}', '{"agent_id": "planner"}',
                       'walk-job-7') AS id;
SELECT fnd_store_event('task_done', '{"task": 7, "ms": 840}', '{"agent_id": "planner"}',
                       'walk-job-7') AS id;
SELECT fnd_store_event('task_started', '{"task": 8}', '{"agent_id": "trainer"}') AS id;
SELECT type, data FROM fnd_query_by_agent('planner') ORDER BY id DESC LIMIT 2;
SELECT type, agent_context->>'agent_id' AS agent
FROM fnd_get_correlated_events('walk-job-7');
SELECT fnd_get_agent_event_stats('planner') -> 'by_type' AS planner_by_type;

\echo '== durable subscriptions (1.2): read from the checkpoint, ack, read again'
-- never skips an event whose transaction commits late; unacked events come back
SELECT id, type FROM fnd_subscription_read('walk-planner', 10);
SELECT fnd_subscription_ack('walk-planner', max(id))
FROM fnd_subscription_read('walk-planner', 10);
SELECT count(*) AS after_ack FROM fnd_subscription_read('walk-planner', 10);
SELECT name, checkpoint > 0 AS has_checkpoint, lag_events FROM fnd_subscriptions
WHERE name = 'walk-planner';
-- the channel to LISTEN on for a wake-up per committed event of the agent
SELECT fnd_subscribe_to_agent_events('planner') AS listen_on;

\echo '== agent metrics and alerts (1.2)'
SELECT fnd_record_agent_metric('planner', 'walkthrough.queue', 12);
SELECT fnd_record_agent_metric('trainer', 'walkthrough.queue', 55);
SELECT agent_id, name, last FROM fnd_agent_metrics
WHERE name = 'walkthrough.queue' ORDER BY agent_id;
SELECT series, round(mean::numeric, 1) AS mean, max FROM fnd_metric_aggregate('walkthrough.queue');
SELECT fnd_drop_alert('walk-queue-high') AS left_over;
SELECT fnd_create_agent_alert('{"name": "walk-queue-high", "metric": "walkthrough.queue",
    "field": "last", "condition": "gt", "threshold": 50, "severity": "warning"}') > 0 AS created;
-- the worker evaluates every second; evaluate now instead of waiting
SELECT fnd_alerts_evaluate() IS NOT NULL AS evaluated;
SELECT name, instance, state, value FROM fnd_alerts WHERE name = 'walk-queue-high';
SELECT fnd_drop_alert('walk-queue-high') AS dropped;
