-- agents (1.1): registration, lookups by id, capability and health, health
-- reports, silence, ownership, the view, stats, every error code
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'foundation';

-- register: the agent keys over the caller's own
SELECT fnd_register_agent('ag_t', 'planner-1', ARRAY['planning', 'inference'],
                          '{"zone": "eu", "health": "ignored"}');
SELECT namespace, agent_id, capabilities, health, resource_usage,
       coordination_state, metadata->>'type' AS type, metadata->>'zone' AS zone,
       metadata->'agent_context'->'capabilities' AS doc_caps,
       last_health_check = registered_at AS checked_at_registration,
       owner_pid = pg_backend_pid() AS mine, owner_role = current_user AS my_role,
       lease_expires_at
FROM fnd_lookup_agent('planner-1');
-- a 1.0 lookup shows the agent with its enhanced metadata
SELECT name, metadata->>'type' AS type, metadata->>'health' AS health,
       metadata->'agent_context'->'capabilities' AS caps,
       metadata ? 'last_health_check' AS has_check
FROM fnd_lookup('ag_t', 'planner-1');
SELECT count(*) FROM fnd_list_services('ag_t');

-- an id is unique across namespaces: FN101, naming the holder's namespace
\set VERBOSITY sqlstate
SELECT fnd_register_agent('other_ns', 'planner-1');
\set VERBOSITY default
SELECT fnd_register_agent('other_ns', 'planner-1');
-- nothing was registered in the other namespace
SELECT count(*) FROM fnd_lookup('other_ns', 'planner-1');

-- coordination_service type; any other type is refused
SELECT fnd_register_agent('ag_t', 'coord', '{coordination}', '{"type": "coordination_service"}');
SELECT metadata->>'type' FROM fnd_lookup_agent('coord');
SELECT fnd_register_agent('ag_t', 'bad', '{}', '{"type": "service"}');
-- capabilities: lower-case words, at most 64 bytes, at most 32, no repeats
SELECT fnd_register_agent('ag_t', 'bad', ARRAY['Planning']);
SELECT fnd_register_agent('ag_t', 'bad', ARRAY['9lives']);
SELECT fnd_register_agent('ag_t', 'bad', ARRAY['a-b']);
SELECT fnd_register_agent('ag_t', 'bad', ARRAY[NULL]::text[]);
SELECT fnd_register_agent('ag_t', 'bad', ARRAY[repeat('a', 65)]);
SELECT fnd_register_agent('ag_t', 'ok64', ARRAY[repeat('a', 64)]);
SELECT fnd_register_agent('ag_t', 'bad', ARRAY['x', 'x']);
SELECT fnd_register_agent('ag_t', 'bad', (SELECT array_agg('c' || i) FROM generate_series(1, 33) i));
SELECT fnd_register_agent('ag_t', 'ok32', (SELECT array_agg('c' || i) FROM generate_series(1, 32) i));
SELECT fnd_register_agent('ag_t', 'bad', '{}', '[1]');
SELECT fnd_register_agent('ag_t', 'bad', '{}', NULL);
SELECT fnd_register_agent(NULL, 'bad');
SELECT fnd_register_agent('ag_t', '');
SELECT fnd_register_agent('ag_t', repeat('x', 201));
-- none of the refused ones exists
SELECT count(*) FROM fnd_lookup_agent('bad');
SELECT count(*) FROM fnd_lookup('ag_t', 'bad');

-- by capability: only the agents that have it, in (namespace, id) order
SELECT fnd_register_agent('ag_u', 'worker-1', ARRAY['inference']);
SELECT fnd_register_agent('ag_u', 'worker-2', ARRAY['training', 'inference']);
SELECT namespace, agent_id FROM fnd_lookup_agents_by_capability('inference');
SELECT namespace, agent_id FROM fnd_lookup_agents_by_capability('inference', 'ag_u');
SELECT count(*) FROM fnd_lookup_agents_by_capability('nobody_has_this');
SELECT count(*) FROM fnd_lookup_agents_by_capability('c7');
SELECT fnd_lookup_agents_by_capability('Bad');

-- health reports: the heartbeat, resource usage, the document follows
SELECT fnd_update_agent_health('worker-1', 'degraded', '{"memory": 0.5, "cpu": 0.25, "queue": 12}');
SELECT health, resource_usage, metadata->>'health' AS doc_health,
       last_health_check > registered_at AS checked
FROM fnd_lookup_agent('worker-1');
SELECT metadata->>'health' AS health, metadata->'agent_context'->'resource_usage' AS usage
FROM fnd_lookup('ag_u', 'worker-1');
SELECT agent_id FROM fnd_lookup_agents_by_health('degraded');
SELECT agent_id FROM fnd_lookup_agents_by_health('healthy', 'ag_u');
SELECT fnd_update_agent_health('worker-1', 'healthy');
SELECT health, resource_usage FROM fnd_lookup_agent('worker-1');
-- bad words and shapes: FN003, nothing changed
SELECT fnd_update_agent_health('worker-1', 'sick');
SELECT fnd_update_agent_health('worker-1', 'healthy', '[1]');
SELECT fnd_update_agent_health('worker-1', 'healthy', '{"memory": 1.5}');
SELECT fnd_update_agent_health('worker-1', 'healthy', '{"cpu": -0.1}');
SELECT fnd_update_agent_health('worker-1', 'healthy', '{"disk": "full"}');
SELECT fnd_update_agent_health('worker-1', 'healthy', '{"gpu_hours": 7}');
SELECT resource_usage FROM fnd_lookup_agent('worker-1');
SELECT fnd_lookup_agents_by_health('sick');
-- unknown agent: FN701
\set VERBOSITY sqlstate
SELECT fnd_update_agent_health('nobody', 'healthy');
\set VERBOSITY default
SELECT count(*) FROM fnd_lookup_agent('nobody');

-- silence: exact at read time (the setting is read when the row is made)
SET foundation.agent_degraded_after = '1s';
SET foundation.agent_unhealthy_after = '2s';
SELECT fnd_update_agent_health('coord', 'healthy');
SELECT health FROM fnd_lookup_agent('coord');
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT health FROM fnd_lookup_agent('coord')) = 'unhealthy';
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT health, metadata->>'health' AS doc_health,
       clock_timestamp() - last_health_check >= interval '2s' AS silent_long_enough
FROM fnd_lookup_agent('coord');
SELECT agent_id FROM fnd_lookup_agents_by_health('unhealthy', 'ag_t') WHERE agent_id = 'coord';
SELECT fnd_update_agent_health('coord', 'healthy');
SELECT health FROM fnd_lookup_agent('coord');
RESET foundation.agent_degraded_after;
RESET foundation.agent_unhealthy_after;

-- another role's agent: FN104; an agent of this role's leased entry
CREATE ROLE fnd_agents_other;
GRANT USAGE ON SCHEMA public TO fnd_agents_other;
SET ROLE fnd_agents_other;
SELECT fnd_update_agent_health('worker-1', 'unhealthy');
SELECT fnd_register_agent('ag_o', 'leased-1', '{inference}', '{}', '1 hour');
SELECT owner_pid, owner_role, lease_expires_at > now() AS leased FROM fnd_lookup_agent('leased-1');
RESET ROLE;
SELECT health FROM fnd_lookup_agent('worker-1');
-- a superuser may act for any role
SELECT fnd_update_agent_health('leased-1', 'degraded');
SELECT health FROM fnd_lookup_agent('leased-1');

-- the view and the stats
SELECT namespace, agent_id, capabilities, health FROM fnd_agents ORDER BY 1, 2;
SELECT fnd_agent_stats() - 'by_capability' AS stats;
SELECT fnd_agent_stats()->'by_capability'->'inference' AS inference;
SELECT fnd_agent_stats('ag_u');
SELECT fnd_agent_stats('no_such_ns');

-- an unregistered agent is gone; its id may be taken again elsewhere
SELECT fnd_unregister('ag_u', 'worker-2');
SELECT count(*) FROM fnd_lookup_agent('worker-2');
SELECT agent_id FROM fnd_lookup_agents_by_capability('training');
SELECT fnd_register_agent('ag_v', 'worker-2', '{training}');
SELECT namespace FROM fnd_lookup_agents_by_capability('training');

-- the feature flag: off, every 1.1 function raises FN002; 1.0 ones work
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
\set VERBOSITY sqlstate
SELECT fnd_lookup_agent('worker-1');
\set VERBOSITY default
SELECT fnd_register_agent('ag_t', 'x');
SELECT fnd_update_agent_health('worker-1', 'healthy');
SELECT fnd_lookup_agents_by_capability('inference');
SELECT fnd_lookup_agents_by_health('healthy');
SELECT fnd_agent_stats();
SELECT * FROM fnd_agents;
SELECT name FROM fnd_lookup('ag_u', 'worker-1');
\set want on
\i :abs_srcdir/sql/include/agent_features.sql
SELECT count(*) FROM fnd_agents;

-- clean up
SELECT fnd_unregister(namespace, agent_id) FROM fnd_agents ORDER BY 1;
DROP OWNED BY fnd_agents_other;
DROP ROLE fnd_agents_other;
