-- agent-aware rate limits (1.1): per-operation defaults and overrides,
-- health scaling, FN901, FN701, the operation-limits table
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;

SELECT fnd_register_agent('rl_t', 'rl-a', '{inference}');
SELECT fnd_register_agent('rl_t', 'rl-b', '{inference}');

-- training: 10 per minute, then refused; another agent has its own bucket
SELECT count(*) FILTER (WHERE ok) AS allowed, count(*) FILTER (WHERE NOT ok) AS refused
FROM (SELECT fnd_rate_check_with_agent('rl-a', 'training') AS ok FROM generate_series(1, 15)) s;
SELECT fnd_rate_check_with_agent('rl-b', 'training');
-- agents' buckets are not 1.0 buckets: the 1.0 view does not list them
SELECT count(*) FROM fnd_rate_limits WHERE bucket LIKE 'training%';
-- an unknown operation is "general": 200 per minute
SELECT count(*) FILTER (WHERE ok) AS allowed
FROM (SELECT fnd_rate_check_with_agent('rl-a', 'summarize') AS ok FROM generate_series(1, 210)) s;
-- the other defaults
SELECT count(*) FILTER (WHERE ok) AS inference
FROM (SELECT fnd_rate_check_with_agent('rl-a', 'inference') AS ok FROM generate_series(1, 105)) s;
SELECT count(*) FILTER (WHERE ok) AS monitoring
FROM (SELECT fnd_rate_check_with_agent('rl-a', 'monitoring') AS ok FROM generate_series(1, 505)) s;
SELECT count(*) FILTER (WHERE ok) AS coordination
FROM (SELECT fnd_rate_check_with_agent('rl-a', 'coordination') AS ok FROM generate_series(1, 1005)) s;

-- FN901 with the limit and the retry time (a few seconds: 60 s / 10)
DO $$
DECLARE
    st text; msg text; det text;
BEGIN
    PERFORM fnd_rate_require_with_agent('rl-a', 'training');
    RAISE NOTICE 'not refused';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RAISE NOTICE '% % / %', st, msg,
        regexp_replace(det, 'retry after @ [0-9.]+ secs', 'retry after @ N secs');
END $$;
SELECT fnd_rate_require_with_agent('rl-b', 'training');

-- health scales the limit: degraded 0.7x, unhealthy 0.5x (rounded down)
SELECT fnd_register_agent('rl_t', 'rl-d', '{}');
SELECT fnd_update_agent_health('rl-d', 'degraded');
SELECT count(*) FILTER (WHERE ok) AS degraded_training
FROM (SELECT fnd_rate_check_with_agent('rl-d', 'training') AS ok FROM generate_series(1, 15)) s;
SELECT fnd_register_agent('rl_t', 'rl-u', '{}');
SELECT fnd_update_agent_health('rl-u', 'unhealthy');
SELECT count(*) FILTER (WHERE ok) AS unhealthy_training
FROM (SELECT fnd_rate_check_with_agent('rl-u', 'training') AS ok FROM generate_series(1, 15)) s;

-- an admin changes an operation's limit: a row, seen at once
SELECT fnd_rate_set_operation_limit('batch', 3, '1 hour');
SELECT operation, "limit", per, updated_by = session_user AS by_me FROM fnd_rate_operation_limits;
SELECT count(*) FILTER (WHERE ok) AS batch
FROM (SELECT fnd_rate_check_with_agent('rl-b', 'batch') AS ok FROM generate_series(1, 5)) s;
SELECT fnd_rate_set_operation_limit('batch', 4, '1 hour');
SELECT "limit" FROM fnd_rate_operation_limits WHERE operation = 'batch';
-- an override of general applies to unknown operations
SELECT fnd_rate_set_operation_limit('general', 2, '1 hour');
SELECT count(*) FILTER (WHERE ok) AS other
FROM (SELECT fnd_rate_check_with_agent('rl-b', 'other') AS ok FROM generate_series(1, 5)) s;
-- a change rolled back is not seen
BEGIN;
SELECT fnd_rate_set_operation_limit('rollback_op', 1, '1 hour');
ROLLBACK;
SELECT count(*) FROM fnd_rate_operation_limits WHERE operation = 'rollback_op';
SELECT count(*) FILTER (WHERE ok) AS rollback_op
FROM (SELECT fnd_rate_check_with_agent('rl-b', 'rollback_op') AS ok FROM generate_series(1, 5)) s;
-- a plain DELETE (by an admin) is seen too
DELETE FROM fnd_rate_operation_limits WHERE operation = 'general';
SELECT count(*) FILTER (WHERE ok) AS other_after_delete
FROM (SELECT fnd_rate_check_with_agent('rl-b', 'other2') AS ok FROM generate_series(1, 5)) s;

-- bad input: FN003, nothing written
SELECT fnd_rate_set_operation_limit('Bad', 1, '1 minute');
SELECT fnd_rate_set_operation_limit('x', 0, '1 minute');
SELECT fnd_rate_set_operation_limit('x', 1, '0');
SELECT fnd_rate_set_operation_limit('x', NULL, '1 minute');
SELECT fnd_rate_check_with_agent('rl-a', 'No');
SELECT fnd_rate_check_with_agent('rl-a', NULL);
SELECT count(*) FROM fnd_rate_operation_limits WHERE operation = 'x';
-- unknown agent: FN701
\set VERBOSITY sqlstate
SELECT fnd_rate_check_with_agent('nobody', 'inference');
\set VERBOSITY default

-- admin only: a plain role may not change limits nor write the table
CREATE ROLE fnd_rl_plain;
SET ROLE fnd_rl_plain;
SELECT fnd_rate_set_operation_limit('batch', 100, '1 second');
DELETE FROM fnd_rate_operation_limits;
RESET ROLE;
SELECT count(*) FROM fnd_rate_operation_limits;

-- the 1.0 functions are untouched: a bucket named like an agent's is its own
SELECT fnd_rate_check('training', 1, '1 hour'), fnd_rate_check('training', 1, '1 hour');

-- flag off: FN002
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
SELECT fnd_rate_check_with_agent('rl-a', 'inference');
SELECT fnd_rate_require_with_agent('rl-a', 'inference');
SELECT fnd_rate_set_operation_limit('batch', 100, '1 second');
SELECT fnd_rate_check('flag_off', 1, '1 hour');
\set want on
\i :abs_srcdir/sql/include/agent_features.sql

-- clean up
DELETE FROM fnd_rate_operation_limits;
SELECT fnd_unregister(namespace, agent_id) FROM fnd_agents WHERE namespace = 'rl_t';
DROP ROLE fnd_rl_plain;

-- every agent bucket has a row in fnd_agent_rate_limits, none in fnd_rate_limits
SELECT count(*) > 0 AS agent_buckets_listed FROM fnd_agent_rate_limits;
SELECT count(*) AS agent_buckets_in_1_0_view FROM fnd_rate_limits WHERE bucket LIKE '%inference%';
SELECT bool_and(agent_id IS NOT NULL AND operation IS NOT NULL AND allowed + rejected > 0) AS rows_complete
FROM fnd_agent_rate_limits;
