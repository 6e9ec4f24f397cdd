-- agent-aware circuit breakers (1.1): a circuit per (breaker, agent),
-- capability policies, degraded halving, FN702 refusals, status, reset, view
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;

SELECT fnd_cb_install('ab_svc', 2, '1 minute', '1 hour', 1);
SELECT fnd_register_agent('ab_t', 'ab-1', '{inference}');
SELECT fnd_register_agent('ab_t', 'ab-2', '{inference}');
CREATE TABLE ab_log (n int);

-- a successful call returns the rows, like fnd_cb_execute
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', 'SELECT 1 AS one, ''x'' AS s');
-- one agent's failures open only its circuit: tolerance 2, the third opens it
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', 'SELECT 1/0');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', 'SELECT 1/0');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', 'SELECT 1/0');
\set VERBOSITY sqlstate
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', 'INSERT INTO ab_log VALUES (1)');
\set VERBOSITY default
SELECT count(*) AS nothing_ran FROM ab_log;
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'INSERT INTO ab_log VALUES (2) RETURNING n');
-- the 1.0 breaker itself is untouched
SELECT state, failures_in_window, calls FROM fnd_cb_status('ab_svc');
SELECT name FROM fnd_circuit_breakers WHERE name = 'ab_svc';
SELECT state, reason, agent_health, failures_in_window, opened_at IS NOT NULL AS opened,
       retry_at > now() AS later, calls, failures, rejections
FROM fnd_cb_get_agent_status('ab_svc', 'ab-1');
SELECT state, reason, failures_in_window, calls FROM fnd_cb_get_agent_status('ab_svc', 'ab-2');
SELECT name, agent_id, state, tolerance, "window", reset_after
FROM fnd_agent_circuit_breakers ORDER BY agent_id;

-- reset closes it again
SELECT fnd_cb_reset_agent('ab_svc', 'ab-1');
SELECT state, reason, failures_in_window, calls, failures FROM fnd_cb_get_agent_status('ab_svc', 'ab-1');

-- a capability policy: the strictest among the agent's capabilities wins
SELECT fnd_register_agent('ab_t', 'ab-3', '{inference,training}');
SELECT fnd_cb_set_capability_policy('ab_svc', 'inference', 5);
SELECT fnd_cb_set_capability_policy('ab_svc', 'training', 0, '10 minutes');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-3', 'SELECT 1/0');
SELECT state, failures_in_window FROM fnd_cb_get_agent_status('ab_svc', 'ab-3');
SELECT tolerance, "window" FROM fnd_agent_circuit_breakers WHERE agent_id = 'ab-3';
-- ab-2 has only inference: tolerance 5
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'SELECT 1');
SELECT tolerance, "window" FROM fnd_agent_circuit_breakers WHERE agent_id = 'ab-2';
-- degraded: tolerance halved (5 -> 2)
SELECT fnd_update_agent_health('ab-2', 'degraded');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'SELECT 1');
SELECT tolerance FROM fnd_agent_circuit_breakers WHERE agent_id = 'ab-2';
SELECT state, reason, agent_health FROM fnd_cb_get_agent_status('ab_svc', 'ab-2');

-- unhealthy: FN702 before anything runs
SELECT fnd_update_agent_health('ab-2', 'unhealthy');
\set VERBOSITY sqlstate
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'INSERT INTO ab_log VALUES (3)');
\set VERBOSITY default
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'INSERT INTO ab_log VALUES (3)');
-- both refusals are counted in the circuit's rejections, not as calls
SELECT state, reason, agent_health, calls, rejections FROM fnd_cb_get_agent_status('ab_svc', 'ab-2');
-- resource pressure: memory or cpu above the thresholds
SELECT fnd_update_agent_health('ab-2', 'healthy', '{"memory": 0.9, "cpu": 0.1}');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'INSERT INTO ab_log VALUES (4)');
SELECT state, reason, calls, rejections FROM fnd_cb_get_agent_status('ab_svc', 'ab-2');
SET foundation.agent_memory_threshold = 0.95;
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'SELECT 5 AS five');
SELECT fnd_update_agent_health('ab-2', 'healthy', '{"memory": 0.1, "cpu": 0.95}');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-2', 'INSERT INTO ab_log VALUES (6)');
RESET foundation.agent_memory_threshold;
SELECT n FROM ab_log ORDER BY n;

-- errors: unknown breaker FN202, unknown agent FN701, bad arguments FN003
\set VERBOSITY sqlstate
SELECT fnd_cb_execute_with_agent('no_such', 'ab-1', 'SELECT 1');
SELECT fnd_cb_execute_with_agent('ab_svc', 'nobody', 'SELECT 1');
SELECT fnd_cb_get_agent_status('ab_svc', 'nobody');
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', NULL);
SELECT fnd_cb_set_capability_policy('ab_svc', 'Bad', 1);
SELECT fnd_cb_set_capability_policy('ab_svc', 'x', -1);
SELECT fnd_cb_set_capability_policy('ab_svc', 'x', 101);
SELECT fnd_cb_set_capability_policy('ab_svc', 'x', 1, '0');
SELECT fnd_cb_set_capability_policy('no_such', 'x', 1);
SELECT fnd_cb_reset_agent('no_such', 'ab-1');
\set VERBOSITY default

-- admin functions are not for everyone
CREATE ROLE fnd_ab_plain;
SET ROLE fnd_ab_plain;
SELECT fnd_cb_set_capability_policy('ab_svc', 'x', 1);
SELECT fnd_cb_reset_agent('ab_svc', 'ab-1');
RESET ROLE;
DROP ROLE fnd_ab_plain;

-- flag off: FN002
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
\set VERBOSITY sqlstate
SELECT fnd_cb_execute_with_agent('ab_svc', 'ab-1', 'SELECT 1');
SELECT fnd_cb_get_agent_status('ab_svc', 'ab-1');
SELECT fnd_cb_reset_agent('ab_svc', 'ab-1');
SELECT fnd_cb_set_capability_policy('ab_svc', 'x', 1);
SELECT * FROM fnd_agent_circuit_breakers;
\set VERBOSITY default
SELECT fnd_cb_execute('ab_svc', 'SELECT 7 AS seven');
\set want on
\i :abs_srcdir/sql/include/agent_features.sql

-- clean up
DROP TABLE ab_log;
SELECT fnd_unregister(namespace, agent_id) FROM fnd_agents WHERE namespace = 'ab_t';
SELECT fnd_cb_remove('ab_svc');
