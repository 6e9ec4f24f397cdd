-- breaker_execute: SQL through a breaker
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY sqlstate

SELECT fnd_cb_install('regress_exec', 1, '1 hour', '1 hour');
CREATE TABLE regress_cb_t (i int PRIMARY KEY, note text);

-- rows come back as a jsonb array of objects
SELECT fnd_cb_execute('regress_exec', 'SELECT 1 AS a, ''x'' AS b UNION ALL SELECT 2, NULL ORDER BY 1');
SELECT fnd_cb_execute('regress_exec', 'SELECT 1 WHERE false') AS no_rows;
SELECT fnd_cb_execute('regress_exec', $$SELECT now() - now() AS d, '{"k": [1]}'::jsonb AS j, ARRAY[1,2] AS arr$$);
-- writes: the rows of RETURNING, or an empty array without it
SELECT fnd_cb_execute('regress_exec', $$INSERT INTO regress_cb_t VALUES (1, 'kept') RETURNING *$$);
SELECT fnd_cb_execute('regress_exec', $$UPDATE regress_cb_t SET note = 'kept too'$$) AS no_returning;
SELECT * FROM regress_cb_t;
SELECT state, calls, failures FROM fnd_cb_status('regress_exec');

-- a division by zero comes back as itself, 22012, with the breaker named
\set VERBOSITY default
SELECT fnd_cb_execute('regress_exec', 'SELECT 1/0');
\set VERBOSITY sqlstate
SELECT state, failures_in_window, failures FROM fnd_cb_status('regress_exec');

-- nothing the failed query did stays, and the caller's transaction goes on
\set VERBOSITY terse
BEGIN;
INSERT INTO regress_cb_t VALUES (10, 'outer, before');
DO $$
BEGIN
    PERFORM fnd_cb_execute('regress_exec',
        $q$INSERT INTO regress_cb_t VALUES (2, 'must vanish'); SELECT 1/0$q$);
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE 'caught %: %', SQLSTATE, SQLERRM;
END $$;
INSERT INTO regress_cb_t VALUES (11, 'outer, after');
COMMIT;
SELECT * FROM regress_cb_t ORDER BY i;

-- that was the second failure within the window (tolerance 1): open
SELECT state, failures FROM fnd_cb_status('regress_exec');
-- FN201 while open; the detail says when it retries
DO $$
DECLARE
    d text;
BEGIN
    PERFORM fnd_cb_execute('regress_exec', 'SELECT 1');
EXCEPTION WHEN SQLSTATE 'FN201' THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'FN201, detail names the retry time: %',
        d = format('It retries at %s.', (SELECT retry_at FROM fnd_cb_status('regress_exec')));
END $$;
\set VERBOSITY sqlstate
SELECT fnd_cb_execute('regress_exec', 'SELECT 1');
SELECT rejections FROM fnd_cb_status('regress_exec');

-- other errors keep their SQLSTATE too, and each melts the breaker: its
-- failures go up by one (the first in the window, then the second opens it)
SELECT fnd_cb_reset('regress_exec');
SELECT failures AS failures_before FROM fnd_cb_status('regress_exec') \gset
SELECT fnd_cb_execute('regress_exec', 'SELECT * FROM regress_no_such_table');
SELECT state, failures_in_window, failures - :failures_before AS new_failures
FROM fnd_cb_status('regress_exec');
SELECT fnd_cb_execute('regress_exec', $$INSERT INTO regress_cb_t VALUES (1, 'dup')$$);
SELECT state, failures_in_window, failures - :failures_before AS new_failures
FROM fnd_cb_status('regress_exec');
SELECT fnd_cb_reset('regress_exec');
SELECT fnd_cb_execute('regress_exec', 'SELEC 1');
SELECT state, failures_in_window, failures - :failures_before AS new_failures
FROM fnd_cb_status('regress_exec');
SELECT fnd_cb_reset('regress_exec');

-- statement_timeout inside the protected query melts it too, and cancels
SET statement_timeout = '100ms';
SELECT fnd_cb_execute('regress_exec', 'SELECT pg_sleep(5)');
RESET statement_timeout;
SELECT state, failures_in_window FROM fnd_cb_status('regress_exec');
SELECT fnd_cb_reset('regress_exec');

-- a call that was not a trial does not close a half-open breaker: this one
-- started while closed, tripped it and outlived reset_after
SELECT fnd_cb_install('regress_exec_slow', 0, '1 hour', '0.3 s');
SELECT fnd_cb_execute('regress_exec_slow',
    $$SELECT fnd_cb_melt('regress_exec_slow') AS tripped, pg_sleep(0.35)::text AS slept$$);
SELECT state FROM fnd_cb_status('regress_exec_slow');
-- a real trial through fnd_cb_execute does close it
SELECT fnd_cb_execute('regress_exec_slow', 'SELECT 1 AS trial');
SELECT state FROM fnd_cb_status('regress_exec_slow');
SELECT fnd_cb_remove('regress_exec_slow');

-- the query runs as the caller: a role without rights on the table gets 42501
CREATE ROLE regress_cb_user;
SET ROLE regress_cb_user;
SELECT fnd_cb_execute('regress_exec', 'SELECT * FROM regress_cb_t');
SELECT fnd_cb_execute('regress_exec', 'SELECT current_user AS who');
-- and admin functions are not theirs
SELECT fnd_cb_install('regress_exec');
SELECT fnd_cb_reset('regress_exec');
SELECT fnd_cb_remove('regress_exec');
-- the public ones are
SELECT fnd_cb_ask('regress_exec'), fnd_cb_success('regress_exec');
RESET ROLE;
SELECT state, failures_in_window FROM fnd_cb_status('regress_exec');

-- plans are cached per backend, but a cached plan behaves like a fresh one:
-- it follows DDL, search_path and the current role's privileges
SELECT fnd_cb_reset('regress_exec');
SELECT fnd_cb_execute('regress_exec', 'SELECT count(*) AS n FROM regress_cb_t');
ALTER TABLE regress_cb_t RENAME TO regress_cb_t_old;
SELECT fnd_cb_execute('regress_exec', 'SELECT count(*) AS n FROM regress_cb_t');
SELECT state, failures_in_window FROM fnd_cb_status('regress_exec');
SELECT fnd_cb_reset('regress_exec');
CREATE TABLE regress_cb_t (i int);
SELECT fnd_cb_execute('regress_exec', 'SELECT count(*) AS n FROM regress_cb_t');
CREATE SCHEMA regress_cb_s;
CREATE TABLE regress_cb_s.regress_cb_t (i int);
INSERT INTO regress_cb_s.regress_cb_t VALUES (1), (2), (3), (4), (5);
SET search_path = regress_cb_s, public;
SELECT fnd_cb_execute('regress_exec', 'SELECT count(*) AS n FROM regress_cb_t');
RESET search_path;
SET ROLE regress_cb_user;
SELECT fnd_cb_execute('regress_exec', 'SELECT count(*) AS n FROM regress_cb_t');
RESET ROLE;
SET client_min_messages = warning;
DROP SCHEMA regress_cb_s CASCADE;
RESET client_min_messages;
DROP TABLE regress_cb_t_old;
SELECT fnd_cb_reset('regress_exec');
-- several statements in one string run one after the other
SELECT fnd_cb_execute('regress_exec',
    'CREATE TEMP TABLE regress_cb_tmp (i int); INSERT INTO regress_cb_tmp VALUES (5); SELECT * FROM regress_cb_tmp');
-- nested breakers
SELECT fnd_cb_execute('regress_exec',
    $$SELECT fnd_cb_execute('regress_exec', 'SELECT 2 AS two') AS inner$$);
SELECT state, failures_in_window FROM fnd_cb_status('regress_exec');

DROP ROLE regress_cb_user;
DROP TABLE regress_cb_t;
SELECT fnd_cb_remove('regress_exec');

-- transaction control and client COPY cannot run in the subtransaction:
-- a clear 0A000, not an internal error; each is a failure like any other
SELECT fnd_cb_install('regress_txn', 100);
\set VERBOSITY default
SELECT fnd_cb_execute('regress_txn', 'COMMIT');
\set VERBOSITY sqlstate
SELECT failures_in_window, failures FROM fnd_cb_status('regress_txn');
SELECT fnd_cb_execute('regress_txn', 'SAVEPOINT s');
SELECT failures_in_window, failures FROM fnd_cb_status('regress_txn');
SELECT fnd_cb_execute('regress_txn', 'COPY (SELECT 1) TO STDOUT');
SELECT failures_in_window, failures FROM fnd_cb_status('regress_txn');
SELECT fnd_cb_remove('regress_txn');
