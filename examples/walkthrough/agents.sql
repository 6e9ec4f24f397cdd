-- Agents (1.1): registry entries with capabilities and health; breakers and
-- rate limits that know which agent is calling.
\echo '== agents: register two, each with capabilities (ids are unique per database)'
SELECT fnd_unregister(namespace, agent_id) AS left_over  -- start clean when re-run
FROM fnd_agents WHERE namespace = 'walk-agents';
SELECT fnd_register_agent('walk-agents', 'planner', '{planning,inference}',
                          '{"model": "small"}', lease => '10 min');
SELECT fnd_register_agent('walk-agents', 'trainer', '{training}',
                          lease => '10 min');
SELECT namespace, agent_id, capabilities, health FROM fnd_agents
WHERE namespace = 'walk-agents';

\echo '== find agents by capability (a shared-memory index) and report health'
SELECT agent_id FROM fnd_lookup_agents_by_capability('inference');
SELECT fnd_update_agent_health('planner', 'degraded', '{"memory": 0.62, "cpu": 0.4}');
SELECT agent_id, health, resource_usage FROM fnd_lookup_agent('planner');
-- the 1.0 registry shows the same entry with the enhanced metadata
SELECT metadata->>'type' AS type, metadata->>'health' AS health,
       metadata->'agent_context'->'capabilities' AS capabilities
FROM fnd_lookup('walk-agents', 'planner');
SELECT fnd_agent_stats('walk-agents') AS stats;

\echo '== an agent-aware breaker: one circuit per agent; unhealthy agents are refused (FN702)'
SELECT fnd_cb_remove('walk-models') AS left_over;
SELECT fnd_cb_install('walk-models', tolerance => 3, "window" => '1 min',
                      reset_after => '30 s');
SELECT fnd_cb_execute_with_agent('walk-models', 'planner', $$SELECT 'ok' AS answer$$) AS rows;
SELECT state, reason, agent_health, calls FROM fnd_cb_get_agent_status('walk-models', 'planner');
SELECT fnd_update_agent_health('trainer', 'unhealthy');
DO $$
BEGIN
    PERFORM fnd_cb_execute_with_agent('walk-models', 'trainer', 'SELECT 1');
EXCEPTION WHEN SQLSTATE 'FN702' THEN
    RAISE NOTICE 'FN702: %', SQLERRM;
END $$;

\echo '== agent-aware rate limits: training is 10/min, halved for an unhealthy agent'
SELECT count(*) FILTER (WHERE ok) AS allowed, count(*) FILTER (WHERE NOT ok) AS refused
FROM (SELECT fnd_rate_check_with_agent('trainer', 'training') AS ok
      FROM generate_series(1, 8)) s;

SELECT fnd_cb_remove('walk-models') AS removed;
