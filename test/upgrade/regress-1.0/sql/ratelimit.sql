-- ratelimit: GCRA bucket, burst then steady rate
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY sqlstate

SELECT fnd_rate_reset('regress_rl') IS NOT NULL AS clean;

-- a quiet bucket lets exactly `limit` through at once, then refuses
SELECT count(*) FILTER (WHERE ok) AS allowed, count(*) FILTER (WHERE NOT ok) AS refused
FROM (SELECT fnd_rate_check('regress_rl', 5, '10 s') AS ok FROM generate_series(1, 8)) s;
SELECT round(hits_in_window) AS hits, "limit", per,
       retry_after > '1.5 s' AND retry_after <= '2 s' AS retry_about_per_over_limit
FROM fnd_rate_status('regress_rl');
SELECT fnd_rate_check('regress_rl', 5, '10 s') AS still_refused;

-- one hit per per/limit (2 s) after that: no second burst at any edge
SELECT pg_sleep(2.1);
SELECT count(*) FILTER (WHERE ok) AS allowed_after_2s
FROM (SELECT fnd_rate_check('regress_rl', 5, '10 s') AS ok FROM generate_series(1, 5)) s;

-- refused hits are not counted
SELECT allowed, rejected FROM fnd_rate_limits WHERE bucket = 'regress_rl';

-- fnd_rate_require raises FN901, with the retry interval in the detail
\set VERBOSITY terse
DO $$
DECLARE
    d text;
BEGIN
    PERFORM fnd_rate_require('regress_rl', 5, '10 s');
EXCEPTION WHEN SQLSTATE 'FN901' THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'FN901: %', regexp_replace(d, 'retry after .*$', 'retry after X.');
END $$;
\set VERBOSITY sqlstate

-- buckets are independent; a bigger limit on the same bucket applies at once
SELECT fnd_rate_check('regress_rl_other', 1, '1 hour') AS other_first,
       fnd_rate_check('regress_rl_other', 1, '1 hour') AS other_second;
SELECT fnd_rate_check('regress_rl', 100, '10 s') AS raised_limit;
SELECT "limit" FROM fnd_rate_status('regress_rl');

-- unknown bucket: no row
SELECT count(*) AS unknown_rows FROM fnd_rate_status('regress_rl_none');

-- bad arguments: FN003
SELECT fnd_rate_check(NULL, 1, '1 s');
SELECT fnd_rate_check('', 1, '1 s');
SELECT fnd_rate_check('regress_rl_bad', 0, '1 s');
SELECT fnd_rate_check('regress_rl_bad', -1, '1 s');
SELECT fnd_rate_check('regress_rl_bad', 1, '0 s');
SELECT fnd_rate_check('regress_rl_bad', NULL, '1 s');
SELECT fnd_rate_check('regress_rl_bad', 1, NULL);
SELECT count(*) AS bad_created FROM fnd_rate_limits WHERE bucket = 'regress_rl_bad';

-- reset forgets a bucket
SELECT fnd_rate_reset('regress_rl'), fnd_rate_reset('regress_rl_other');
SELECT fnd_rate_reset('regress_rl') AS again;
SELECT fnd_rate_check('regress_rl_other', 1, '1 hour') AS fresh_again;
SELECT fnd_rate_reset('regress_rl_other');

-- a full table (foundation.max_rate_buckets, default 10000) recycles a
-- drained bucket; with none drained, FN902 rate_limits_full
SELECT setting FROM pg_settings WHERE name = 'foundation.max_rate_buckets';
CREATE FUNCTION pg_temp.fill() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    n int := 0;
    d text;
BEGIN
    LOOP
        PERFORM fnd_rate_check('regress_fill_' || n, 1, '1 hour');
        n := n + 1;
        EXIT WHEN n > 20000;
    END LOOP;
    RETURN format('no error after %s buckets', n);
EXCEPTION WHEN SQLSTATE 'FN902' THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN format('FN902 after at most 10000 buckets: %s; %s', n <= 10000, d);
END $$;
SELECT pg_temp.fill();
-- a drained bucket is recycled: a bucket of 1 per 1 ms drains at once
SELECT fnd_rate_reset('regress_fill_0');
SELECT fnd_rate_check('regress_fast', 1000, '1 ms') AS fast;
SELECT fnd_rate_check('regress_fill_0', 1, '1 hour') AS fits_by_recycling;
SELECT count(*) AS fast_recycled FROM fnd_rate_limits WHERE bucket = 'regress_fast';
SELECT count(*) FILTER (WHERE NOT fnd_rate_reset(bucket)) AS not_reset
FROM fnd_rate_limits WHERE bucket LIKE 'regress_fill_%';
SELECT count(*) AS none_left FROM fnd_rate_limits WHERE bucket LIKE 'regress_%';

-- every role may read the view (and use buckets); reset is for admins
CREATE ROLE regress_rl_reader;
SET ROLE regress_rl_reader;
SELECT fnd_rate_check('regress_rl_role', 1, '1 hour') AS plain_role_checks;
SELECT bucket FROM fnd_rate_limits WHERE bucket LIKE 'regress_%';
RESET ROLE;
SELECT fnd_rate_reset('regress_rl_role');
DROP ROLE regress_rl_reader;
