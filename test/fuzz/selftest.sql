-- The fuzzer's self-test (suite.sh): three functions added to the extension
-- that misbehave on purpose, so that the fuzzer finds them among the
-- extension's functions and must report each, once.

-- Ignores statement_timeout: catches the cancel and goes on for 3 s.
CREATE FUNCTION fnd_zz_selftest_slow() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    WHILE clock_timestamp() < t0 + interval '3 s' LOOP
        BEGIN
            PERFORM pg_sleep(0.05);
        EXCEPTION WHEN query_canceled THEN
            NULL;
        END;
    END LOOP;
END $$;
ALTER EXTENSION foundation ADD FUNCTION fnd_zz_selftest_slow();

-- Ends its session with a FATAL (57P05, idle-session timeout) just after
-- it returns.  Sorted first, so its session has more calls to make.
CREATE FUNCTION fnd_aa_selftest_fatal() RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('idle_session_timeout', '1', false);
$$;
ALTER EXTENSION foundation ADD FUNCTION fnd_aa_selftest_fatal();

-- Ends its own session at once: FATAL 57P01, though nobody meant to.
CREATE FUNCTION fnd_ab_selftest_terminate() RETURNS boolean
LANGUAGE sql AS $$
    SELECT pg_terminate_backend(pg_backend_pid());
$$;
ALTER EXTENSION foundation ADD FUNCTION fnd_ab_selftest_terminate();
