-- breaker: the state machine, step by step, and argument checks
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY sqlstate

-- closed: tolerance 2 within a long window; the third melt opens it
SELECT fnd_cb_install('regress_cb', 2, '1 hour', '0.5 s', 1);
SELECT state, failures_in_window, opened_at IS NULL AS no_opened_at,
       retry_at IS NULL AS no_retry_at, calls, failures, rejections
FROM fnd_cb_status('regress_cb');
SELECT fnd_cb_ask('regress_cb') AS ask, fnd_cb_success('regress_cb') AS success;
SELECT fnd_cb_melt('regress_cb') AS melt1;
SELECT fnd_cb_melt('regress_cb') AS melt2;
SELECT state, failures_in_window FROM fnd_cb_status('regress_cb');
-- the third melt trips it; asking right away is refused
SELECT fnd_cb_melt('regress_cb') AS melt3, fnd_cb_ask('regress_cb') AS ask;
SELECT state, failures_in_window, calls, failures, rejections,
       retry_at - opened_at = '0.5 s' AS retries_after_reset_after
FROM fnd_cb_status('regress_cb');
SELECT opened_at AS first_opened FROM fnd_cb_status('regress_cb') \gset
-- a melt while open is counted but does not restart the timer
SELECT fnd_cb_melt('regress_cb') AS melt_while_open;
SELECT opened_at = :'first_opened' AS timer_kept, failures
FROM fnd_cb_status('regress_cb');
-- a success while open proves nothing: still open
SELECT fnd_cb_success('regress_cb') AS success_while_open;

-- reset_after elapses: half-open, one trial permit, then refused
SELECT pg_sleep(0.6);
SELECT state FROM fnd_cb_status('regress_cb');
SELECT fnd_cb_ask('regress_cb') AS trial, fnd_cb_ask('regress_cb') AS second;
-- the trial fails: open again, with a new opened_at
SELECT fnd_cb_melt('regress_cb') AS failed_trial, fnd_cb_ask('regress_cb') AS ask;
SELECT state, opened_at > :'first_opened' AS reopened_later,
       retry_at - opened_at = '0.5 s' AS timer_restarted
FROM fnd_cb_status('regress_cb');
-- half-open again; the trial succeeds: closed, failures forgotten
SELECT pg_sleep(0.6);
SELECT fnd_cb_ask('regress_cb') AS trial, fnd_cb_success('regress_cb') AS after_success;
SELECT state, failures_in_window, opened_at IS NULL AS no_opened_at,
       retry_at IS NULL AS no_retry_at, calls, failures, rejections
FROM fnd_cb_status('regress_cb');
SELECT fnd_cb_ask('regress_cb') AS ask;

-- half_open_calls = 2: two trial permits, a third ask is refused
SELECT fnd_cb_install('regress_cb2', 0, '1 hour', '0.3 s', 2);
SELECT fnd_cb_melt('regress_cb2') AS tolerance_zero_trips_at_once;
SELECT pg_sleep(0.35);
SELECT fnd_cb_ask('regress_cb2') AS p1, fnd_cb_ask('regress_cb2') AS p2,
       fnd_cb_ask('regress_cb2') AS p3;
-- one success closes it, whatever the other trial does later
SELECT fnd_cb_success('regress_cb2') AS closed;
SELECT fnd_cb_ask('regress_cb2') AS p4, fnd_cb_ask('regress_cb2') AS p5;

-- a trial permit nobody answers lapses reset_after after it was granted,
-- so a lost caller cannot keep the breaker half-open and shut forever
SELECT fnd_cb_install('regress_cb_lease', 0, '1 hour', '0.3 s', 1);
SELECT fnd_cb_melt('regress_cb_lease') AS tripped;
SELECT pg_sleep(0.35);
SELECT fnd_cb_ask('regress_cb_lease') AS trial, fnd_cb_ask('regress_cb_lease') AS second;
SELECT pg_sleep(0.35);
SELECT fnd_cb_ask('regress_cb_lease') AS after_lapse, fnd_cb_ask('regress_cb_lease') AS again;
SELECT state FROM fnd_cb_status('regress_cb_lease');
SELECT fnd_cb_remove('regress_cb_lease');

-- melts older than the window are forgotten
SELECT fnd_cb_install('regress_cb_window', 2, '0.3 s', '1 hour');
SELECT fnd_cb_melt('regress_cb_window') AS m1, fnd_cb_melt('regress_cb_window') AS m2;
SELECT pg_sleep(0.35);
SELECT failures_in_window AS after_window FROM fnd_cb_status('regress_cb_window');
SELECT fnd_cb_melt('regress_cb_window') AS m3, fnd_cb_melt('regress_cb_window') AS m4;
SELECT failures_in_window FROM fnd_cb_status('regress_cb_window');
SELECT fnd_cb_melt('regress_cb_window') AS m5_trips;

-- re-install changes settings and keeps state and counters
SELECT fnd_cb_install('regress_cb_window', 10, '1 hour', '2 hours', 3);
SELECT b.state, b.failures, b.tolerance, b."window", b.reset_after, b.half_open_calls,
       b.retry_at - b.opened_at = '1 hour' AS old_timer_kept
FROM fnd_circuit_breakers b WHERE name = 'regress_cb_window';

-- reset closes it at once and keeps the counters
SELECT fnd_cb_reset('regress_cb_window');
SELECT state, failures_in_window, failures FROM fnd_cb_status('regress_cb_window');
SELECT fnd_cb_ask('regress_cb_window');

-- the view lists this database's breakers
SELECT name, state, tolerance, "window", reset_after, half_open_calls
FROM fnd_circuit_breakers WHERE name LIKE 'regress_cb%';

-- unknown breakers: FN202
SELECT fnd_cb_ask('regress_no_such');
SELECT fnd_cb_melt('regress_no_such');
SELECT fnd_cb_success('regress_no_such');
SELECT * FROM fnd_cb_status('regress_no_such');
SELECT fnd_cb_reset('regress_no_such');
SELECT fnd_cb_execute('regress_no_such', 'SELECT 1');
SELECT fnd_cb_remove('regress_no_such') AS removed_nothing;

-- bad arguments: FN003, nothing created
SELECT fnd_cb_install(NULL);
SELECT fnd_cb_install('');
SELECT fnd_cb_install(repeat('x', 201));
SELECT fnd_cb_install('regress_bad', -1);
SELECT fnd_cb_install('regress_bad', 101);
SELECT fnd_cb_install('regress_bad', 1, '0 s');
SELECT fnd_cb_install('regress_bad', 1, '-1 s');
SELECT fnd_cb_install('regress_bad', 1, '1 s', '0 s');
SELECT fnd_cb_install('regress_bad', 1, '1 s', '1 s', 0);
SELECT fnd_cb_install('regress_bad', NULL);
SELECT fnd_cb_ask(NULL);
SELECT fnd_cb_execute('regress_cb', NULL);
SELECT count(*) AS bad_created FROM fnd_circuit_breakers WHERE name = 'regress_bad';
-- a 200-byte name is fine
SELECT fnd_cb_install(repeat('x', 200));
SELECT fnd_cb_remove(repeat('x', 200));

-- FN203: fill the table (foundation.max_circuit_breakers, default 1000)
SHOW foundation.max_circuit_breakers;
\set VERBOSITY terse
DO $$
DECLARE
    i int := 0;
BEGIN
    LOOP
        i := i + 1;
        PERFORM fnd_cb_install('regress_fill_' || i);
        EXIT WHEN i > 2000;
    END LOOP;
    RAISE NOTICE 'no error after % breakers', i;
EXCEPTION WHEN SQLSTATE 'FN203' THEN
    RAISE NOTICE 'FN203 raised';
END $$;
\set VERBOSITY sqlstate
-- the failed DO rolled nothing back (shared memory is not transactional),
-- so the table is full now: a new one fails, an existing one re-installs
SELECT fnd_cb_install('regress_one_more');
SELECT fnd_cb_install('regress_fill_1', 3);
SELECT count(*) > 900 AS filled FROM fnd_circuit_breakers WHERE name LIKE 'regress_fill_%';
SELECT count(*) FILTER (WHERE NOT fnd_cb_remove(name)) AS not_removed
FROM fnd_circuit_breakers WHERE name LIKE 'regress_fill_%';
SELECT fnd_cb_install('regress_one_more');
SELECT fnd_cb_remove('regress_one_more');

-- privileges: install, reset and remove are for admins only
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p
WHERE p.proname LIKE 'fnd\_cb\_%' OR p.proname LIKE 'fnd\_rate\_%'
ORDER BY 1;

-- every role may read the view
CREATE ROLE regress_cb_reader;
SET ROLE regress_cb_reader;
SELECT name, state FROM fnd_circuit_breakers WHERE name LIKE 'regress_cb%' ORDER BY name;
RESET ROLE;
DROP ROLE regress_cb_reader;

SELECT fnd_cb_remove('regress_cb'), fnd_cb_remove('regress_cb2'),
       fnd_cb_remove('regress_cb_window');
SELECT fnd_cb_remove('regress_cb') AS again;
