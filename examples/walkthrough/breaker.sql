-- Circuit breakers and rate limits: shared by every session of a database.
\echo '== circuit breakers: tolerate 2 failures a minute, retry after 0.3 s'
SELECT fnd_cb_remove('walk-payments') AS left_over;  -- start clean when re-run
SELECT fnd_cb_install('walk-payments', tolerance => 2, "window" => '1 min',
                      reset_after => '0.3 s');

-- The manual protocol: ask before calling, then report how it went.
SELECT fnd_cb_ask('walk-payments') AS ask;        -- 'ok': go ahead
SELECT fnd_cb_success('walk-payments') AS state;  -- closed
SELECT fnd_cb_melt('walk-payments') AS state;     -- 1st failure, tolerated
SELECT fnd_cb_melt('walk-payments') AS state;     -- 2nd, tolerated
SELECT fnd_cb_melt('walk-payments') AS state;     -- 3rd: open
SELECT fnd_cb_ask('walk-payments') AS ask;        -- 'blown': don't call

\echo '== an open breaker refuses fnd_cb_execute with FN201 (caught here)'
DO $$
BEGIN
    PERFORM fnd_cb_execute('walk-payments', 'SELECT 1');
EXCEPTION WHEN SQLSTATE 'FN201' THEN
    RAISE NOTICE 'FN201: %', SQLERRM;
END $$;

\echo '== after reset_after it is half-open: one trial call; a success closes it'
SELECT pg_sleep(0.35);
SELECT state FROM fnd_cb_status('walk-payments');
SELECT fnd_cb_execute('walk-payments',
                      $$SELECT 'EUR' AS currency, 42 AS amount$$) AS rows;
SELECT name, state, failures_in_window, calls, failures, rejections
FROM fnd_circuit_breakers WHERE name = 'walk-payments';

\echo '== a failing query is rolled back, melts the breaker, and its error comes back as is'
DO $$
BEGIN
    PERFORM fnd_cb_execute('walk-payments', 'SELECT 1/0');
EXCEPTION WHEN division_by_zero THEN
    RAISE NOTICE '% (SQLSTATE %), failures now %', SQLERRM, SQLSTATE,
        (SELECT failures_in_window FROM fnd_cb_status('walk-payments'));
END $$;
SELECT fnd_cb_remove('walk-payments') AS removed;

\echo '== rate limiter: 3 per second, smooth (a burst of 3, then one every 1/3 s)'
SELECT fnd_rate_check('walk-api', 3, '1 s') AS allowed
FROM generate_series(1, 5);
SELECT round(hits_in_window::numeric, 1) AS hits, "limit", per,
       retry_after > '0' AS must_wait
FROM fnd_rate_status('walk-api');
DO $$
BEGIN
    PERFORM fnd_rate_require('walk-api', 3, '1 s');
EXCEPTION WHEN SQLSTATE 'FN901' THEN
    RAISE NOTICE 'FN901: %', SQLERRM;
END $$;
SELECT fnd_rate_reset('walk-api') AS reset;
