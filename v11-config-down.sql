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
