-- foundation 1.1 -> 1.0: removes the agent functions and views; the 1.0
-- functions are untouched.  Agents themselves live in shared memory and
-- stay registered as plain registry entries.
--
-- keeps: fnd_rate_operation_limits
--   It stays, with its rows, outside the extension; the next step up takes
--   it back.
-- changes: none
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.0'" to load this file. \quit

DROP VIEW @extschema@.fnd_agent_circuit_breakers;
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
