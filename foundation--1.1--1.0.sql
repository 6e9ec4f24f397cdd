-- foundation 1.1 -> 1.0: removes the agent, per-agent config and history
-- functions and views; the 1.0 functions are untouched.  Agents themselves
-- live in shared memory and stay registered as plain registry entries.
--
-- keeps: fnd_rate_operation_limits, fnd_agent_config, fnd_config_history
--   All three stay, with their rows (and the history's identity sequence),
--   outside the extension; the next step up takes them back.
--
-- Two parts: agents first, then per-agent config and history after the
-- marker line below.
-- changes: none
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.0'" to load this file. \quit

DROP VIEW @extschema@.fnd_agent_circuit_breakers;
DROP VIEW @extschema@.fnd_agent_rate_limits;
DROP FUNCTION @extschema@.fnd_rate_agent_list();
DROP FUNCTION @extschema@.fnd_cb_agent_circuits();
DROP FUNCTION @extschema@.fnd_cb_reset_agent(text, text);
DROP FUNCTION @extschema@.fnd_cb_get_agent_status(text, text);
DROP FUNCTION @extschema@.fnd_cb_set_capability_policy(text, text, int, interval, interval);
DROP FUNCTION @extschema@.fnd_cb_execute_with_agent(text, text, text);
DROP FUNCTION @extschema@.fnd_rate_set_operation_limit(text, int, interval);
DROP FUNCTION @extschema@.fnd_rate_require_with_agent(text, text);
DROP FUNCTION @extschema@.fnd_rate_check_with_agent(text, text);
DROP TRIGGER fnd_rate_operation_limits_changed ON @extschema@.fnd_rate_operation_limits;
DROP FUNCTION @extschema@.fnd_rate_operation_limits_changed();
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_rate_operation_limits;

DROP VIEW @extschema@.fnd_agents;
DROP FUNCTION @extschema@.fnd_agent_list();
DROP FUNCTION @extschema@.fnd_agent_stats(text);
DROP FUNCTION @extschema@.fnd_update_agent_health(text, text, jsonb);
DROP FUNCTION @extschema@.fnd_lookup_agents_by_health(text, text);
DROP FUNCTION @extschema@.fnd_lookup_agents_by_capability(text, text);
DROP FUNCTION @extschema@.fnd_lookup_agent(text);
DROP FUNCTION @extschema@.fnd_register_agent(text, text, text[], jsonb, interval);

-- ==== per-agent config and history ====

-- ---------------------------------------------------------------------------
-- 1.1 -> 1.0: per-agent config and config history
--
-- keeps (part): fnd_agent_config, fnd_config_history
--   Both stay, with their rows and the history's identity sequence, outside
--   the extension; the next step up takes them back.  The history trigger
--   goes first, so from here fnd_config's writers behave exactly as at 1.0.
-- ---------------------------------------------------------------------------

DROP TRIGGER fnd_config_history_record ON @extschema@.fnd_config;
DROP TRIGGER fnd_config_history_record ON @extschema@.fnd_agent_config;

ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_agent_config;
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_config_history;
ALTER EXTENSION foundation DROP SEQUENCE @extschema@.fnd_config_history_id_seq;

DROP FUNCTION @extschema@.fnd_config_revert(bigint);
DROP FUNCTION @extschema@.fnd_config_history(text, text, int);
DROP FUNCTION @extschema@.fnd_config_history_read(text, text, int);
DROP FUNCTION @extschema@.fnd_config_history_record();
DROP FUNCTION @extschema@.fnd_get_effective_config(text, text);
DROP FUNCTION @extschema@.fnd_get_agent_config(text, text);
DROP FUNCTION @extschema@.fnd_reset_agent_config(text, text);
DROP FUNCTION @extschema@.fnd_set_agent_config(text, text, jsonb);
DROP FUNCTION @extschema@.fnd_agent_config_authorize(text);
DROP FUNCTION @extschema@.fnd_agent_config_caller();
DROP FUNCTION @extschema@.fnd_agent_config_check(text, boolean);
