-- foundation 1.0 -> 1.1: agents in the registry with health tracking,
-- agent-aware circuit breakers and rate limits (docs/agents.md), per-agent
-- config and config history (docs/config.md).
--
-- changes: fnd_rate_operation_limits, fnd_agent_config, fnd_config_history
--   fnd_rate_operation_limits (per-operation rate limits, user rows) is
--   created empty (the defaults are built in), and fnd_agent_config and
--   fnd_config_history are created, or each is taken back with its rows
--   when a downgrade left it behind.
--
-- Two parts: agents, agent breakers and rate limits first, then per-agent
-- config and history after the marker line below.
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

CREATE FUNCTION @extschema@.fnd_rate_agent_list(
    OUT agent_id text, OUT operation text, OUT hits_in_window double precision,
    OUT "limit" int, OUT per interval, OUT retry_after interval,
    OUT allowed bigint, OUT rejected bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fnd_rate_agent_list'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION @extschema@.fnd_rate_agent_list() IS
'Every agent rate-limit bucket of this database (the rows of the fnd_agent_rate_limits view).';

CREATE VIEW @extschema@.fnd_agent_rate_limits AS
    SELECT * FROM @extschema@.fnd_rate_agent_list() ORDER BY agent_id, operation;
COMMENT ON VIEW @extschema@.fnd_agent_rate_limits IS
'Every agent rate-limit bucket of this database: agent, operation, fill, limit and counters';
GRANT SELECT ON @extschema@.fnd_agent_rate_limits TO PUBLIC;

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

-- ==== per-agent config and history ====

-- ---------------------------------------------------------------------------
-- 1.1 per-agent config and config history (docs/config.md)
--
-- fnd_agent_config holds an agent's overrides, one row per (agent, leaf),
-- with the same path grammar and leaf-or-prefix rule as fnd_config.
-- fnd_config_history gets one row per changed leaf, global or agent, written
-- by a row trigger in the same transaction as the change (so the frozen 1.0
-- writers record history too, and an aborted change leaves no row).  Both
-- tables are user data: dump-marked, and kept (detached) by the downgrade;
-- this step takes them back with their rows.
-- ---------------------------------------------------------------------------

DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_agent_config') IS NULL THEN
        CREATE TABLE @extschema@.fnd_agent_config (
            agent_id text COLLATE "C" NOT NULL
                CONSTRAINT fnd_agent_config_agent_id_check
                CHECK (octet_length(agent_id) BETWEEN 1 AND 200),
            path text COLLATE "C" NOT NULL
                CONSTRAINT fnd_agent_config_path_check
                CHECK (path ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND octet_length(path) <= 200),
            value jsonb NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by name NOT NULL DEFAULT session_user,
            CONSTRAINT fnd_agent_config_pkey PRIMARY KEY (agent_id, path)
        );
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_agent_config;
    END IF;
    IF to_regclass('@extschema@.fnd_config_history') IS NULL THEN
        CREATE TABLE @extschema@.fnd_config_history (
            id bigint GENERATED ALWAYS AS IDENTITY
                CONSTRAINT fnd_config_history_pkey PRIMARY KEY,
            path text COLLATE "C" NOT NULL,
            agent_id text COLLATE "C",
            op text NOT NULL
                CONSTRAINT fnd_config_history_op_check
                CHECK (op IN ('update', 'reset', 'revert')),
            old_value jsonb,
            new_value jsonb,
            changed_by name NOT NULL DEFAULT session_user,
            changed_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX fnd_config_history_changed_at
            ON @extschema@.fnd_config_history (changed_at);
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_config_history;
        ALTER EXTENSION foundation ADD SEQUENCE @extschema@.fnd_config_history_id_seq;
    END IF;
END $$;
COMMENT ON TABLE @extschema@.fnd_agent_config IS
'Per-agent config overrides: one row per (agent id, leaf path); write through fnd_set_agent_config and fnd_reset_agent_config';
COMMENT ON TABLE @extschema@.fnd_config_history IS
'Every change to a config leaf, global (agent_id NULL) or per agent, since 1.1: op update, reset or revert, the value before and after; pruned after foundation.config_history_retention';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_agent_config', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_config_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_config_history_id_seq', '');
REVOKE ALL ON @extschema@.fnd_agent_config FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_agent_config TO PUBLIC;
REVOKE ALL ON @extschema@.fnd_config_history FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_config_history TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_agent_config_check(agent_id text, optional boolean DEFAULT false)
RETURNS text
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_agent_config_check';
COMMENT ON FUNCTION @extschema@.fnd_agent_config_check(text, boolean) IS
'Returns agent_id if it is a valid agent id (1 to 200 bytes, no NUL); FN003 otherwise (NULL allowed when optional); FN002 when foundation.agent_features is off';

-- The role the caller acts as, seen from inside a SECURITY DEFINER
-- function (where current_user is the definer): SET ROLE's role, else the
-- session user.
CREATE FUNCTION @extschema@.fnd_agent_config_caller()
RETURNS name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE current_setting('role') WHEN 'none' THEN session_user
                ELSE current_setting('role')::name END
$$;
COMMENT ON FUNCTION @extschema@.fnd_agent_config_caller() IS
'Internal: the role a caller of the agent config writers acts as (SET ROLE''s role, else the session user)';
REVOKE ALL ON FUNCTION @extschema@.fnd_agent_config_caller() FROM PUBLIC;

-- An admin (EXECUTE on fnd_config_update) may write any agent's config; the
-- owning role of a registered agent may write its own.  The registry's
-- fnd_lookup_agent is looked up by name, so this works before and after the
-- agent registry is installed.
CREATE FUNCTION @extschema@.fnd_agent_config_authorize(agent_id text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller name := @extschema@.fnd_agent_config_caller();
    lookup regprocedure := to_regprocedure('@extschema@.fnd_lookup_agent(text)');
    owner name;
BEGIN
    IF has_function_privilege(caller, '@extschema@.fnd_config_update(text, jsonb)', 'EXECUTE') THEN
        RETURN;
    END IF;
    IF lookup IS NOT NULL THEN
        EXECUTE 'SELECT owner_role FROM @extschema@.fnd_lookup_agent($1)'
            INTO owner USING agent_id;
        IF owner IS NOT NULL AND pg_has_role(caller, owner, 'MEMBER') THEN
            RETURN;
        END IF;
    END IF;
    RAISE EXCEPTION 'role "%" may not change the config of agent "%"', caller, agent_id
        USING ERRCODE = 'FN104',
              DETAIL = CASE WHEN owner IS NULL
                            THEN 'The agent is not registered, so only a config admin may change its config.'
                            ELSE format('The agent belongs to role "%s".', owner) END,
              HINT = 'Act as the agent''s owning role, or be granted EXECUTE on fnd_config_update.';
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_agent_config_authorize(text) IS
'Internal: FN104 unless the caller is a config admin or the owning role of the registered agent';
REVOKE ALL ON FUNCTION @extschema@.fnd_agent_config_authorize(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_set_agent_config(agent_id text, path text, value jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keys text[];
    other text;
    i int;
BEGIN
    PERFORM @extschema@.fnd_agent_config_check(agent_id);
    PERFORM @extschema@.fnd_config_check_path(path);
    IF value IS NULL THEN
        RAISE EXCEPTION 'config value must not be null'
            USING ERRCODE = 'FN003',
                  HINT = 'Store the JSON null (''null''::jsonb), or remove the path with fnd_reset_agent_config.';
    END IF;
    PERFORM @extschema@.fnd_agent_config_authorize(agent_id);

    -- Writers take turns (as for fnd_config), so a leaf and a subtree
    -- cannot appear at one path of one agent at once.
    LOCK TABLE @extschema@.fnd_agent_config IN SHARE ROW EXCLUSIVE MODE;

    keys := string_to_array(path, '.');
    FOR i IN 1 .. cardinality(keys) - 1 LOOP
        SELECT c.path INTO other FROM @extschema@.fnd_agent_config c
        WHERE c.agent_id = fnd_set_agent_config.agent_id
          AND c.path = array_to_string(keys[1:i], '.');
        IF FOUND THEN
            RAISE EXCEPTION 'config path "%" is below the leaf "%"', path, other
                USING ERRCODE = 'FN301',
                      DETAIL = format('"%s" holds a value for agent "%s", so it cannot also be a prefix.', other, agent_id),
                      HINT = format('Reset "%s" first, or store the value inside its object.', other);
        END IF;
    END LOOP;

    SELECT c.path INTO other FROM @extschema@.fnd_agent_config c
    WHERE c.agent_id = fnd_set_agent_config.agent_id
      AND c.path >= fnd_set_agent_config.path || '.' AND c.path < fnd_set_agent_config.path || '/'
    ORDER BY c.path LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'config path "%" is a prefix of "%"', path, other
            USING ERRCODE = 'FN301',
                  DETAIL = format('"%s" has a subtree for agent "%s", so it cannot also hold a value.', path, agent_id),
                  HINT = format('Update its leaves, or remove the subtree with fnd_reset_agent_config first.', path);
    END IF;

    INSERT INTO @extschema@.fnd_agent_config AS c (agent_id, path, value)
    VALUES (fnd_set_agent_config.agent_id, fnd_set_agent_config.path, fnd_set_agent_config.value)
    ON CONFLICT ON CONSTRAINT fnd_agent_config_pkey DO UPDATE
        SET value = excluded.value, updated_at = now(), updated_by = session_user;

    PERFORM pg_notify('fnd_agent_config',
                      jsonb_build_object('agent_id', agent_id, 'path', path, 'op', 'update')::text);
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_set_agent_config(text, text, jsonb) IS
'Set a config leaf for one agent (registered or not yet); the agent''s owning role or a config admin; FN003 bad agent id or NULL value, FN301 bad path or leaf/prefix clash, FN104 not allowed, FN002 agent features off; NOTIFY fnd_agent_config {"agent_id", "path", "op": "update"} at commit';
REVOKE ALL ON FUNCTION @extschema@.fnd_set_agent_config(text, text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.fnd_set_agent_config(text, text, jsonb) TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_reset_agent_config(agent_id text, path text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM @extschema@.fnd_agent_config_check(agent_id);
    IF path IS NOT NULL THEN
        PERFORM @extschema@.fnd_config_check_path(path);
    END IF;
    PERFORM @extschema@.fnd_agent_config_authorize(agent_id);
    DELETE FROM @extschema@.fnd_agent_config c
    WHERE c.agent_id = fnd_reset_agent_config.agent_id
      AND (fnd_reset_agent_config.path IS NULL
           OR c.path = fnd_reset_agent_config.path
           OR (c.path >= fnd_reset_agent_config.path || '.'
               AND c.path < fnd_reset_agent_config.path || '/'));
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('fnd_agent_config',
                          jsonb_build_object('agent_id', agent_id, 'path', path, 'op', 'reset')::text);
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_reset_agent_config(text, text) IS
'Remove one agent''s config leaf or subtree (path NULL: all of it); same rights and errors as fnd_set_agent_config; NOTIFY fnd_agent_config {"agent_id", "path", "op": "reset"} at commit if anything was removed';
REVOKE ALL ON FUNCTION @extschema@.fnd_reset_agent_config(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.fnd_reset_agent_config(text, text) TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_get_agent_config(agent_id text, path text DEFAULT NULL)
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_get_agent_config';
COMMENT ON FUNCTION @extschema@.fnd_get_agent_config(text, text) IS
'One agent''s own config at a path (path NULL: all of it), read like fnd_config_get; NULL if the agent has nothing there';

CREATE FUNCTION @extschema@.fnd_get_effective_config(agent_id text, path text DEFAULT NULL)
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_get_effective_config';
COMMENT ON FUNCTION @extschema@.fnd_get_effective_config(text, text) IS
'The config an agent sees at a path (path NULL: the whole tree): its own values over the global ones, objects merged deeply, a leaf from the agent winning; NULL if neither has it';

-- History.  One row per leaf whose value changed, changed_by being the role the
-- caller acts as (SET ROLE's, else the session user).  fnd_config_revert marks its own
-- changes through a transaction-local setting.  A restore (pg_dump output
-- sets check_function_bodies off) reloads history itself, so nothing is
-- recorded then; nor with foundation.agent_features off, where the 1.0
-- writers behave exactly as at 1.0.
CREATE FUNCTION @extschema@.fnd_config_history_record()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    op text;
    agent text;
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off'
       OR current_setting('check_function_bodies') = 'off' THEN
        RETURN NULL;
    END IF;
    -- a rewrite of the same value (or of updated_at alone) changes nothing
    IF TG_OP = 'UPDATE' AND OLD.value = NEW.value THEN
        RETURN NULL;
    END IF;
    op := CASE WHEN coalesce(current_setting('fnd_config_history.op', true), '') = 'revert'
               THEN 'revert'
               WHEN TG_OP = 'DELETE' THEN 'reset' ELSE 'update' END;
    IF TG_TABLE_NAME = 'fnd_agent_config' THEN
        agent := CASE WHEN TG_OP = 'DELETE' THEN OLD.agent_id ELSE NEW.agent_id END;
    END IF;
    INSERT INTO @extschema@.fnd_config_history (path, agent_id, op, old_value, new_value, changed_by)
    VALUES (CASE WHEN TG_OP = 'DELETE' THEN OLD.path ELSE NEW.path END, agent, op,
            CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.value END,
            CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.value END,
            @extschema@.fnd_agent_config_caller());
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_config_history_record() IS
'Internal trigger: records each change to fnd_config and fnd_agent_config in fnd_config_history';
REVOKE ALL ON FUNCTION @extschema@.fnd_config_history_record() FROM PUBLIC;

CREATE TRIGGER fnd_config_history_record
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.fnd_agent_config
    FOR EACH ROW EXECUTE FUNCTION @extschema@.fnd_config_history_record();

-- The reader is plpgsql behind a SQL wrapper: plpgsql refuses an input
-- and a result column of one name (path, agent_id), SQL does not.
CREATE FUNCTION @extschema@.fnd_config_history_read(p_path text, p_agent_id text, p_max_rows int)
RETURNS SETOF @extschema@.fnd_config_history
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.fnd_agent_config_check(p_agent_id, true);
    IF p_path IS NOT NULL THEN
        PERFORM @extschema@.fnd_config_check_path(p_path);
    END IF;
    IF p_max_rows IS NULL OR p_max_rows < 0 THEN
        RAISE EXCEPTION 'max_rows must be zero or more'
            USING ERRCODE = 'FN003';
    END IF;
    RETURN QUERY
    SELECT h.* FROM @extschema@.fnd_config_history h
    WHERE (p_path IS NULL OR h.path = p_path
           OR (h.path >= p_path || '.' AND h.path < p_path || '/'))
      AND (p_agent_id IS NULL OR h.agent_id = p_agent_id)
    ORDER BY h.id DESC
    LIMIT p_max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_config_history_read(text, text, int) IS
'Internal: the body of fnd_config_history';

CREATE FUNCTION @extschema@.fnd_config_history(path text DEFAULT NULL, agent_id text DEFAULT NULL,
                                               max_rows int DEFAULT 100)
RETURNS TABLE(id bigint, path text, agent_id text, op text, old_value jsonb, new_value jsonb,
              changed_by name, changed_at timestamptz)
LANGUAGE sql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM @extschema@.fnd_config_history_read($1, $2, $3) $$;
COMMENT ON FUNCTION @extschema@.fnd_config_history(text, text, int) IS
'Config changes newest first, at most max_rows: under a path (a leaf or a subtree) and for one agent when given (agent NULL: global and agent changes); runs as the caller; FN301 bad path, FN003 bad agent id or max_rows';

CREATE FUNCTION @extschema@.fnd_config_revert(history_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h @extschema@.fnd_config_history;
BEGIN
    PERFORM @extschema@.fnd_agent_config_check(NULL, true);
    IF history_id IS NULL THEN
        RAISE EXCEPTION 'history id must not be null'
            USING ERRCODE = 'FN003';
    END IF;
    SELECT * INTO h FROM @extschema@.fnd_config_history WHERE id = history_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no config history entry %', history_id
            USING ERRCODE = 'FN003',
                  HINT = 'List entries with fnd_config_history(); old ones are pruned after foundation.config_history_retention.';
    END IF;
    PERFORM set_config('fnd_config_history.op', 'revert', true);
    IF h.agent_id IS NULL AND h.old_value IS NULL THEN
        PERFORM @extschema@.fnd_config_reset(h.path);
    ELSIF h.agent_id IS NULL THEN
        PERFORM @extschema@.fnd_config_update(h.path, h.old_value);
    ELSIF h.old_value IS NULL THEN
        PERFORM @extschema@.fnd_reset_agent_config(h.agent_id, h.path);
    ELSE
        PERFORM @extschema@.fnd_set_agent_config(h.agent_id, h.path, h.old_value);
    END IF;
    PERFORM set_config('fnd_config_history.op', '', true);
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_config_revert(bigint) IS
'Admin: restore the value a config leaf had before the given history entry (removing it if it did not exist); recorded with op revert; FN003 unknown entry';
REVOKE ALL ON FUNCTION @extschema@.fnd_config_revert(bigint) FROM PUBLIC;

-- Last: adding a trigger locks fnd_config against writers (SHARE ROW
-- EXCLUSIVE) until the step commits; readers are not blocked.
CREATE TRIGGER fnd_config_history_record
    AFTER INSERT OR UPDATE OR DELETE ON @extschema@.fnd_config
    FOR EACH ROW EXECUTE FUNCTION @extschema@.fnd_config_history_record();
