-- agent_config (1.1): per-agent config, the effective config, history,
-- revert, rights and every error
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SELECT fnd_config_reset();
DELETE FROM fnd_agent_config;
DELETE FROM fnd_config_history;

-- an agent's own config: leaves, subtree, inside an ancestor's object, all
SELECT fnd_set_agent_config('agent-1', 'db.pool.size', '50');
SELECT fnd_set_agent_config('agent-1', 'db.pool.timeout', '"9 s"');
SELECT fnd_set_agent_config('agent-1', 'model', '{"name": "m1", "params": {"t": 0.2}}');
SELECT fnd_get_agent_config('agent-1', 'db.pool.size') AS leaf,
       fnd_get_agent_config('agent-1', 'db') AS subtree,
       fnd_get_agent_config('agent-1', 'model.params.t') AS inside;
SELECT fnd_get_agent_config('agent-1') AS whole,
       fnd_get_agent_config('agent-1', NULL) = fnd_get_agent_config('agent-1') AS same;
SELECT fnd_get_agent_config('agent-1', 'nothing') IS NULL AS absent,
       fnd_get_agent_config('agent-2') IS NULL AS other_agent_empty;
-- the global store is not an agent's own config
SELECT fnd_config_update('db.host', '"localhost"');
SELECT fnd_get_agent_config('agent-1', 'db.host') IS NULL AS not_global;

-- effective: agent over global, objects merged deeply, agent leaves win
SELECT fnd_config_update('db.pool.size', '10');
SELECT fnd_config_update('db.pool.min', '2');
SELECT fnd_config_update('model', '{"name": "base", "params": {"t": 0.7, "k": 40}}');
SELECT fnd_config_update('only_global', 'true');
SELECT fnd_get_effective_config('agent-1', 'db.pool.size') AS agent_leaf,
       fnd_get_effective_config('agent-1', 'db.pool.min') AS global_leaf,
       fnd_get_effective_config('agent-2', 'db.pool.size') AS no_override;
SELECT fnd_get_effective_config('agent-1', 'db') AS merged_subtree;
SELECT fnd_get_effective_config('agent-1', 'model') AS merged_inside_leaf_objects;
SELECT fnd_get_effective_config('agent-1', 'model.params') AS merged_inside,
       fnd_get_effective_config('agent-1', 'model.params.k') AS global_inside;
SELECT fnd_get_effective_config('agent-1') AS whole;
SELECT fnd_get_effective_config('agent-2') = fnd_config_get() AS no_overrides_is_global;
SELECT fnd_get_effective_config('agent-1', 'nothing') IS NULL AS neither,
       fnd_get_effective_config('agent-9', 'nothing.deeper') IS NULL AS neither_deep;
-- a leaf wins over an object from the other side, both ways; a JSON null too
SELECT fnd_set_agent_config('agent-2', 'only_global', '{"now": "an object"}');
SELECT fnd_set_agent_config('agent-2', 'db', '"flat"');
SELECT fnd_set_agent_config('agent-2', 'model.name', 'null');
SELECT fnd_get_effective_config('agent-2', 'only_global') AS agent_object_over_leaf,
       fnd_get_effective_config('agent-2', 'db') AS agent_leaf_over_subtree,
       fnd_get_effective_config('agent-2', 'model') AS json_null_wins;
-- an agent's config may be set before the agent exists anywhere
SELECT fnd_set_agent_config('not-yet-registered', 'x', '1');
SELECT fnd_get_effective_config('not-yet-registered', 'x') AS before_registering;

-- errors: agent ids (FN003), paths (FN301, NULL FN003), values, conflicts
\set VERBOSITY sqlstate
SELECT fnd_set_agent_config(NULL, 'x', '1');
SELECT fnd_set_agent_config('', 'x', '1');
SELECT fnd_set_agent_config(repeat('a', 201), 'x', '1');
SELECT fnd_set_agent_config('agent-1', NULL, '1');
SELECT fnd_set_agent_config('agent-1', 'DB.pool', '1');
SELECT fnd_set_agent_config('agent-1', 'db..pool', '1');
SELECT fnd_set_agent_config('agent-1', 'x', NULL);
\set VERBOSITY default
SELECT fnd_set_agent_config('agent-1', 'db.pool.size.min', '1');
SELECT fnd_set_agent_config('agent-1', 'db.pool', '1');
\set VERBOSITY sqlstate
SELECT fnd_get_agent_config(NULL);
SELECT fnd_get_agent_config('agent-1', 'db-pool');
SELECT fnd_get_effective_config('', 'x');
SELECT fnd_get_effective_config('agent-1', 'x.');
SELECT fnd_reset_agent_config(NULL);
SELECT fnd_reset_agent_config('agent-1', '1st');
\set VERBOSITY default
-- nothing changed by the failures
SELECT fnd_get_agent_config('agent-1') AS unchanged;

-- reset: a leaf, a subtree, everything of one agent; others untouched
SELECT fnd_reset_agent_config('agent-1', 'db.pool.timeout');
SELECT fnd_get_agent_config('agent-1', 'db') AS after_leaf_reset;
SELECT fnd_reset_agent_config('agent-1', 'db');
SELECT fnd_get_agent_config('agent-1', 'db') IS NULL AS subtree_gone,
       fnd_get_effective_config('agent-1', 'db.pool.size') AS global_again;
SELECT fnd_reset_agent_config('agent-1', 'nothing');
SELECT fnd_reset_agent_config('agent-1');
SELECT fnd_get_agent_config('agent-1') IS NULL AS all_gone,
       fnd_get_agent_config('agent-2') IS NOT NULL AS other_kept;

-- history: every change, global (1.0 writers) and agent, newest first; a
-- write of the same value is no change
DELETE FROM fnd_config_history;
SELECT fnd_config_update('svc.timeout', '5');
SELECT fnd_config_update('svc.timeout', '7');
SELECT fnd_set_agent_config('agent-3', 'svc.timeout', '30');
SELECT fnd_set_agent_config('agent-3', 'svc.timeout', '31');
SELECT fnd_set_agent_config('agent-3', 'svc.timeout', '31');
UPDATE fnd_agent_config SET updated_at = now() - interval '1 day';
SELECT fnd_reset_agent_config('agent-3', 'svc');
SELECT fnd_config_reset('svc.timeout');
SELECT path, agent_id, op, old_value, new_value, changed_by = session_user AS by_me
FROM fnd_config_history() ORDER BY id;
SELECT array_agg(id ORDER BY id DESC) = array_agg(id) AS newest_first
FROM (SELECT id FROM fnd_config_history()) h;
SELECT count(*) AS under_svc FROM fnd_config_history('svc');
SELECT count(*) AS agent_3 FROM fnd_config_history(NULL, 'agent-3');
SELECT count(*) AS leaf_agent_3 FROM fnd_config_history('svc.timeout', 'agent-3');
SELECT count(*) AS other_path FROM fnd_config_history('svc.timeou');
SELECT op, new_value FROM fnd_config_history(max_rows => 2);
SELECT count(*) AS zero_rows FROM fnd_config_history(max_rows => 0);
\set VERBOSITY sqlstate
SELECT * FROM fnd_config_history('Bad');
SELECT * FROM fnd_config_history(NULL, '');
SELECT * FROM fnd_config_history(NULL, NULL, -1);
\set VERBOSITY default
-- a change rolled back leaves no history row
BEGIN;
SELECT fnd_config_update('svc.rolled_back', '1');
SELECT fnd_set_agent_config('agent-3', 'svc.rolled_back', '1');
SELECT count(*) AS inside, bool_and(changed_at = now()) AS same_transaction
FROM fnd_config_history('svc.rolled_back');
ROLLBACK;
SELECT count(*) AS after_rollback FROM fnd_config_history('svc.rolled_back');

-- a restore (pg_dump output sets check_function_bodies off) reloads the
-- history itself: its config rows are not recorded again
SET check_function_bodies = off;
SELECT fnd_config_update('svc.restored', '1');
RESET check_function_bodies;
SELECT count(*) AS restore_not_recorded FROM fnd_config_history('svc.restored');

-- revert: restores the value before the entry, and is itself recorded
SELECT fnd_config_revert((SELECT id FROM fnd_config_history('svc.timeout')
                          WHERE agent_id IS NULL AND op = 'update' AND new_value = '7'));
SELECT fnd_config_get('svc.timeout') AS global_back_to_5;
SELECT fnd_config_revert((SELECT id FROM fnd_config_history(NULL, 'agent-3')
                          WHERE op = 'update' AND new_value = '31'));
SELECT fnd_get_agent_config('agent-3', 'svc.timeout') AS agent_back_to_30;
SELECT fnd_config_revert((SELECT id FROM fnd_config_history(NULL, 'agent-3')
                          WHERE op = 'update' AND old_value IS NULL));
SELECT fnd_get_agent_config('agent-3') IS NULL AS creation_reverted;
SELECT path, agent_id, op, old_value, new_value FROM fnd_config_history(max_rows => 3);
\set VERBOSITY sqlstate
SELECT fnd_config_revert(-1);
SELECT fnd_config_revert(NULL);
\set VERBOSITY default

-- rights: a plain role reads but may not write an unregistered agent's
-- config (FN104) nor revert (PostgreSQL's own 42501); a config admin may
CREATE ROLE fnd_agentcfg_plain;
CREATE ROLE fnd_agentcfg_admin;
GRANT EXECUTE ON FUNCTION fnd_config_update(text, jsonb) TO fnd_agentcfg_admin;
SET ROLE fnd_agentcfg_plain;
SELECT fnd_get_effective_config('agent-2', 'db') AS plain_reads;
SELECT fnd_set_agent_config('agent-2', 'x', '1');
\set VERBOSITY sqlstate
SELECT fnd_reset_agent_config('agent-2');
SELECT fnd_config_revert(1);
\set VERBOSITY default
RESET ROLE;
SET ROLE fnd_agentcfg_admin;
SELECT fnd_set_agent_config('agent-2', 'x', '1');
SELECT fnd_reset_agent_config('agent-2', 'x');
RESET ROLE;
SELECT changed_by, op FROM fnd_config_history(NULL, 'agent-2', 2);
-- reads run as the caller: without SELECT on the table PostgreSQL refuses
-- (42501); with row security on, its policies apply
REVOKE SELECT ON fnd_agent_config FROM PUBLIC;
SET ROLE fnd_agentcfg_plain;
\set VERBOSITY sqlstate
SELECT fnd_get_effective_config('agent-2', 'db');
SELECT fnd_get_agent_config('agent-2');
\set VERBOSITY default
RESET ROLE;
GRANT SELECT ON fnd_agent_config TO PUBLIC;
ALTER TABLE fnd_agent_config ENABLE ROW LEVEL SECURITY;
CREATE POLICY hide_agent_2 ON fnd_agent_config USING (agent_id <> 'agent-2');
SET ROLE fnd_agentcfg_plain;
SELECT fnd_get_effective_config('agent-2', 'db') AS policy_hides_override,
       fnd_get_effective_config('agent-2', 'db.pool.size') AS policy_hides_leaf,
       fnd_get_agent_config('agent-2', 'only_global') IS NULL AS policy_hides_own;
RESET ROLE;
SELECT fnd_get_effective_config('agent-2', 'db') AS owner_bypasses_policy;
DROP POLICY hide_agent_2 ON fnd_agent_config;
ALTER TABLE fnd_agent_config DISABLE ROW LEVEL SECURITY;
SELECT count(*) AS plain_wrote_nothing FROM fnd_config_history() WHERE changed_by = 'fnd_agentcfg_plain';

-- the owning role of a registered agent may write its config, another may
-- not (a stand-in for the registry's fnd_lookup_agent where it is absent)
CREATE ROLE fnd_agentcfg_owner;
DO $$
BEGIN
    IF to_regprocedure('fnd_lookup_agent(text)') IS NULL THEN
        CREATE FUNCTION fnd_lookup_agent(agent_id text)
        RETURNS TABLE(owner_role name) LANGUAGE sql
        AS $f$ SELECT 'fnd_agentcfg_owner'::name WHERE $1 = 'owned-agent' $f$;
    ELSE
        SET ROLE fnd_agentcfg_owner;
        PERFORM fnd_register_agent('agentcfg', 'owned-agent', lease => '1 hour');
        RESET ROLE;
    END IF;
END $$;
SET ROLE fnd_agentcfg_owner;
SELECT fnd_set_agent_config('owned-agent', 'mode', '"fast"');
SELECT fnd_set_agent_config('agent-2', 'mode', '"fast"');
RESET ROLE;
SET ROLE fnd_agentcfg_plain;
SELECT fnd_set_agent_config('owned-agent', 'mode', '"slow"');
RESET ROLE;
SELECT fnd_get_agent_config('owned-agent') AS owner_wrote;

-- flag off: every 1.1 config function raises FN002, and a change made by
-- the 1.0 writers is not recorded in the history (1.0 behaviour)
SELECT count(*) AS history_before FROM fnd_config_history \gset
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
SELECT current_setting('foundation.agent_features') AS agent_features;
\set VERBOSITY sqlstate
SELECT fnd_set_agent_config('agent-2', 'mode', '"off"');
SELECT fnd_get_agent_config('agent-2');
SELECT fnd_reset_agent_config('agent-2');
SELECT fnd_get_effective_config('agent-2');
SELECT * FROM fnd_config_history();
SELECT fnd_config_revert(1);
\set VERBOSITY default
SELECT fnd_config_update('flag_off.note', '"not recorded"');
SELECT fnd_config_get('flag_off.note') AS written_by_1_0;
SELECT count(*) - :history_before AS new_history_rows FROM fnd_config_history;
\set want on
\i :abs_srcdir/sql/include/agent_features.sql
SELECT current_setting('foundation.agent_features') AS agent_features;
SELECT fnd_config_reset('flag_off.note');
SELECT count(*) - :history_before AS new_history_rows_flag_on FROM fnd_config_history;

-- clean up
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_proc WHERE proname = 'fnd_lookup_agent' AND prorettype = 'record'::regtype
               AND NOT EXISTS (SELECT FROM pg_depend WHERE objid = pg_proc.oid AND deptype = 'e')) THEN
        DROP FUNCTION fnd_lookup_agent(text);
    ELSE
        PERFORM fnd_unregister('agentcfg', 'owned-agent');
    END IF;
END $$;
SELECT fnd_reset_agent_config(a) FROM (SELECT DISTINCT agent_id AS a FROM fnd_agent_config) s;
SELECT fnd_config_reset();
DELETE FROM fnd_config_history;
REVOKE EXECUTE ON FUNCTION fnd_config_update(text, jsonb) FROM fnd_agentcfg_admin;
DROP ROLE fnd_agentcfg_plain;
DROP ROLE fnd_agentcfg_admin;
DROP ROLE fnd_agentcfg_owner;
