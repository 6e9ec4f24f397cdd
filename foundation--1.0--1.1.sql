-- foundation 1.0 -> 1.1: agents in the registry with health tracking,
-- agent-aware circuit breakers and rate limits (docs/agents.md), per-agent
-- config and config history (docs/config.md).
--
-- changes: fnd_rate_operation_limits
--   fnd_rate_operation_limits (per-operation rate limits, user rows) is
--   created empty (the defaults are built in), or taken back with its rows
--   when a downgrade left it behind.
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

-- ---------------------------------------------------------------------------
-- agent-aware circuit breakers (src/breaker_agent.c)
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.fnd_cb_execute_with_agent(name text, agent_id text, query text)
RETURNS jsonb
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_cb_execute_with_agent';
COMMENT ON FUNCTION @extschema@.fnd_cb_execute_with_agent(text, text, text) IS
'Like fnd_cb_execute, through the agent''s own circuit of the breaker (settings: the breaker''s, or the strictest capability policy; tolerance halved while degraded). FN702 before running anything when the agent is unhealthy or over foundation.agent_memory_threshold / agent_cpu_threshold; FN201 when its circuit is open; FN701 unknown agent; FN202 unknown breaker.';

CREATE FUNCTION @extschema@.fnd_cb_set_capability_policy(name text, capability text,
    tolerance int, "window" interval DEFAULT NULL, reset_after interval DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_cb_set_capability_policy';
COMMENT ON FUNCTION @extschema@.fnd_cb_set_capability_policy(text, text, int, interval, interval) IS
'Set the tolerance (and optionally window and reset_after) of the agents'' circuits of a breaker for agents with this capability; an agent''s circuit uses the strictest policy among its capabilities (admin)';
REVOKE ALL ON FUNCTION @extschema@.fnd_cb_set_capability_policy(text, text, int, interval, interval) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_cb_get_agent_status(name text, agent_id text)
RETURNS TABLE(state text, reason text, agent_health text, failures_in_window int,
    opened_at timestamptz, retry_at timestamptz, calls bigint, failures bigint,
    rejections bigint)
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1
AS 'MODULE_PATHNAME', 'fnd_cb_get_agent_status';
COMMENT ON FUNCTION @extschema@.fnd_cb_get_agent_status(text, text) IS
'State of an agent''s circuit of a breaker: open while the agent would be refused; reason NULL, failures, agent_unhealthy or resource_pressure; the agent''s health and the circuit''s counters';

CREATE FUNCTION @extschema@.fnd_cb_reset_agent(name text, agent_id text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_cb_reset_agent';
COMMENT ON FUNCTION @extschema@.fnd_cb_reset_agent(text, text) IS
'Close an agent''s circuit of a breaker, forgetting its failures; counters kept (admin)';
REVOKE ALL ON FUNCTION @extschema@.fnd_cb_reset_agent(text, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_cb_agent_circuits()
RETURNS TABLE(name text, agent_id text, state text, failures_in_window int,
    opened_at timestamptz, retry_at timestamptz, calls bigint, failures bigint,
    rejections bigint, tolerance int, "window" interval, reset_after interval)
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_cb_agent_circuits';
COMMENT ON FUNCTION @extschema@.fnd_cb_agent_circuits() IS
'Every agent circuit of this database (the fnd_agent_circuit_breakers view)';

CREATE VIEW @extschema@.fnd_agent_circuit_breakers AS
    SELECT * FROM @extschema@.fnd_cb_agent_circuits();
COMMENT ON VIEW @extschema@.fnd_agent_circuit_breakers IS
'Every agent circuit of this database: breaker, agent, state, counters and the settings of its last call';
GRANT SELECT ON @extschema@.fnd_agent_circuit_breakers TO PUBLIC;

-- ---------------------------------------------------------------------------
-- agent-aware rate limits (src/ratelimit_agent.c)
-- ---------------------------------------------------------------------------

-- Per-operation limits set by an admin (user data: dump-marked, kept by the
-- downgrade).  Operations without a row use the built-in defaults.
DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_rate_operation_limits') IS NULL THEN
        CREATE TABLE @extschema@.fnd_rate_operation_limits (
            operation text COLLATE "C" PRIMARY KEY
                CONSTRAINT fnd_rate_operation_limits_operation_check
                CHECK (operation ~ '^[a-z][a-z0-9_]*$' AND octet_length(operation) <= 64),
            "limit" int NOT NULL
                CONSTRAINT fnd_rate_operation_limits_limit_check CHECK ("limit" > 0),
            per interval NOT NULL
                CONSTRAINT fnd_rate_operation_limits_per_check CHECK (per > interval '0'),
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by name NOT NULL DEFAULT session_user
        );
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_rate_operation_limits;
    END IF;
END $$;
COMMENT ON TABLE @extschema@.fnd_rate_operation_limits IS
'Per-operation rate limits of fnd_rate_check_with_agent, overriding the built-in defaults (inference 100/min, training 10/min, coordination 1000/min, monitoring 500/min, general 200/min)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_rate_operation_limits', '');
REVOKE ALL ON @extschema@.fnd_rate_operation_limits FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_rate_operation_limits TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_rate_operation_limits_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'fnd_rate_operation_limits_changed';
COMMENT ON FUNCTION @extschema@.fnd_rate_operation_limits_changed() IS
'Internal: tells every backend, at commit, to read fnd_rate_operation_limits again';
REVOKE ALL ON FUNCTION @extschema@.fnd_rate_operation_limits_changed() FROM PUBLIC;
CREATE TRIGGER fnd_rate_operation_limits_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.fnd_rate_operation_limits
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.fnd_rate_operation_limits_changed();

CREATE FUNCTION @extschema@.fnd_rate_check_with_agent(agent_id text, operation text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_rate_check_with_agent';
COMMENT ON FUNCTION @extschema@.fnd_rate_check_with_agent(text, text) IS
'One hit of agent_id doing operation, against a bucket per (agent, operation) with the operation''s limit (fnd_rate_operation_limits, else the defaults), 0.7x for a degraded agent and 0.5x for an unhealthy one (at least 1). FN701 unknown agent.';

CREATE FUNCTION @extschema@.fnd_rate_require_with_agent(agent_id text, operation text)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_rate_require_with_agent';
COMMENT ON FUNCTION @extschema@.fnd_rate_require_with_agent(text, text) IS
'Like fnd_rate_check_with_agent, but raises FN901 (rate_limited) with the limit and the retry interval in the detail instead of returning false.';

CREATE FUNCTION @extschema@.fnd_rate_set_operation_limit(operation text, "limit" int, per interval)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'fnd_rate_set_operation_limit';
COMMENT ON FUNCTION @extschema@.fnd_rate_set_operation_limit(text, int, interval) IS
'Set an operation''s rate limit for fnd_rate_check_with_agent (admin; a row of fnd_rate_operation_limits, seen by every session after commit)';
REVOKE ALL ON FUNCTION @extschema@.fnd_rate_set_operation_limit(text, int, interval) FROM PUBLIC;
