-- foundation 1.0 -> 1.1: agents in the registry with health tracking,
-- agent-aware circuit breakers and rate limits (docs/agents.md), per-agent
-- config and config history (docs/config.md).
--
-- changes: fnd_rate_operation_limits, fnd_agent_config, fnd_config_history
--   fnd_rate_operation_limits (per-operation rate limits, user rows) is
--   created with the defaults, or taken back with its rows when a downgrade
--   left it behind.  The config part does the same for its two tables.
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.1'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- agents (src/agents.c, src/agents_query.c)
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.fnd_register_agent(namespace text, agent_id text,
    capabilities text[] DEFAULT '{}', metadata jsonb DEFAULT '{}',
    lease interval DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_register_agent';
COMMENT ON FUNCTION @extschema@.fnd_register_agent(text, text, text[], jsonb, interval) IS
'Register an agent: a registry entry namespace/agent_id with the agent metadata (type, health, agent_context with the capabilities, last_health_check) over the caller''s keys; owned like fnd_register''s entries. FN101 if the id is taken in any namespace of this database, FN003 for a bad capability.';

CREATE FUNCTION @extschema@.fnd_lookup_agent(agent_id text)
RETURNS TABLE(namespace text, agent_id text, capabilities text[], health text,
    resource_usage jsonb, coordination_state jsonb, metadata jsonb,
    last_health_check timestamptz, registered_at timestamptz, owner_pid int,
    owner_role name, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE ROWS 1
AS 'MODULE_PATHNAME', 'fnd_lookup_agent';
COMMENT ON FUNCTION @extschema@.fnd_lookup_agent(text) IS
'The live agent agent_id of this database: zero or one row; health includes silence (foundation.agent_degraded_after, agent_unhealthy_after)';

CREATE FUNCTION @extschema@.fnd_lookup_agents_by_capability(capability text,
    namespace text DEFAULT NULL)
RETURNS TABLE(namespace text, agent_id text, capabilities text[], health text,
    resource_usage jsonb, coordination_state jsonb, metadata jsonb,
    last_health_check timestamptz, registered_at timestamptz, owner_pid int,
    owner_role name, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE ROWS 10
AS 'MODULE_PATHNAME', 'fnd_lookup_agents_by_capability';
COMMENT ON FUNCTION @extschema@.fnd_lookup_agents_by_capability(text, text) IS
'The live agents with this capability (optionally in one namespace), through the shared capability index: the cost does not depend on agents without it';

CREATE FUNCTION @extschema@.fnd_lookup_agents_by_health(health text,
    namespace text DEFAULT NULL)
RETURNS TABLE(namespace text, agent_id text, capabilities text[], health text,
    resource_usage jsonb, coordination_state jsonb, metadata jsonb,
    last_health_check timestamptz, registered_at timestamptz, owner_pid int,
    owner_role name, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_lookup_agents_by_health';
COMMENT ON FUNCTION @extschema@.fnd_lookup_agents_by_health(text, text) IS
'The live agents whose health reads as healthy, degraded or unhealthy now (silence included), optionally in one namespace';

CREATE FUNCTION @extschema@.fnd_update_agent_health(agent_id text, health text,
    resource_usage jsonb DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_update_agent_health';
COMMENT ON FUNCTION @extschema@.fnd_update_agent_health(text, text, jsonb) IS
'Report an agent''s health (and resource usage: non-negative numbers, memory and cpu as fractions); also the heartbeat. FN701 unknown agent, FN104 another role''s, FN003 bad words or shapes.';

CREATE FUNCTION @extschema@.fnd_agent_stats(namespace text DEFAULT NULL)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_agent_stats';
COMMENT ON FUNCTION @extschema@.fnd_agent_stats(text) IS
'Counts of this database''s live agents: total, by_health, by_capability, by_namespace';

CREATE FUNCTION @extschema@.fnd_agent_list()
RETURNS TABLE(namespace text, agent_id text, capabilities text[], health text,
    resource_usage jsonb, coordination_state jsonb, metadata jsonb,
    last_health_check timestamptz, registered_at timestamptz, owner_pid int,
    owner_role name, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_agent_list';
COMMENT ON FUNCTION @extschema@.fnd_agent_list() IS
'Every live agent of this database (the fnd_agents view)';

CREATE VIEW @extschema@.fnd_agents AS SELECT * FROM @extschema@.fnd_agent_list();
COMMENT ON VIEW @extschema@.fnd_agents IS
'Every live agent of this database, with its health as it reads now';
GRANT SELECT ON @extschema@.fnd_agents TO PUBLIC;
