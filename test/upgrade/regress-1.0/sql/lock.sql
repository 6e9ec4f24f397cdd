-- lock: acquire, re-acquire, release, renew, leases, the view, every error
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;

-- run a statement, show its SQLSTATE and message instead of failing
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'token [0-9]+', 'token N');
END $$;

-- a free lock is taken at once; the token is positive
SELECT fnd_lock_acquire('lk.a') AS t1 \gset
SELECT :t1 > 0 AS positive_token;
-- re-acquiring a lock this session holds returns the same token
SELECT fnd_lock_acquire('lk.a') = :t1 AS same_token;
SELECT fnd_lock_acquire('lk.a', '5 s') = :t1 AS same_token_with_wait;
SELECT name, token = :t1 AS token_ok, owner_pid = pg_backend_pid() AS mine,
       owner_role = current_user AS role_ok, acquired_at <= clock_timestamp() AS acquired_ok,
       lease_expires_at, waiters
FROM fnd_locks WHERE name LIKE 'lk.%';

-- release: true once, then false; the lock is gone from the view
SELECT fnd_lock_release('lk.a');
SELECT fnd_lock_release('lk.a');
SELECT count(*) FROM fnd_locks WHERE name = 'lk.a';
-- a new holding gets a larger token
SELECT fnd_lock_acquire('lk.a') AS t2 \gset
SELECT :t2 > :t1 AS token_increased;

-- only the matching token releases or renews: FN602 otherwise
SELECT pg_temp.err(format('SELECT fnd_lock_release(%L, %s)', 'lk.a', :t2 + 1000));
SELECT pg_temp.err('SELECT fnd_lock_release(''lk.a'', 0)');
SELECT pg_temp.err(format('SELECT fnd_lock_renew(%L, %s)', 'lk.a', :t1));
-- renewing a session-owned lock checks the token and returns NULL (no lease)
SELECT fnd_lock_renew('lk.a', :t2) IS NULL AS no_lease;
SELECT fnd_lock_release('lk.a', :t2);
-- renewing a lock nobody holds
SELECT pg_temp.err('SELECT fnd_lock_renew(''lk.a'', 1)');

-- a leased lock: expiry shown, renew restarts the lease
SELECT fnd_lock_acquire('lk.leased', '0', '1 hour') AS tl \gset
SELECT lease_expires_at BETWEEN now() + '59 min' AND clock_timestamp() + '1 hour'
       AS lease_ok
FROM fnd_locks WHERE name = 'lk.leased';
SELECT fnd_lock_renew('lk.leased', :tl) >= lease_expires_at AS renewed
FROM fnd_locks WHERE name = 'lk.leased';
-- re-acquiring with a new lease keeps the token and restarts the lease
SELECT fnd_lock_acquire('lk.leased', '0', '2 hours') = :tl AS same_token;
SELECT lease_expires_at > clock_timestamp() + '119 min' AS lease_restarted
FROM fnd_locks WHERE name = 'lk.leased';
SELECT fnd_lock_release('lk.leased', :tl);

-- lease expiry: once the lease has run out the lock is free, the old token
-- is worthless, and the next holder gets a larger token
SELECT fnd_lock_acquire('lk.short', '0', '20 ms') AS ts \gset
SELECT pg_sleep(0.2);
SELECT count(*) AS still_listed FROM fnd_locks WHERE name = 'lk.short';
SELECT pg_temp.err(format('SELECT fnd_lock_renew(%L, %s)', 'lk.short', :ts));
SELECT fnd_lock_release('lk.short', :ts) AS released_expired;
SELECT fnd_lock_acquire('lk.short') > :ts AS larger_token;
SELECT pg_temp.err(format('SELECT fnd_lock_release(%L, %s)', 'lk.short', :ts));
SELECT fnd_lock_release('lk.short');

-- try-lock: a lock held by another session is not acquired, NULL at once.
-- A leased lock survives its session, so take one and reconnect.
SELECT fnd_lock_acquire('lk.busy', '0', '1 hour') AS tb \gset
SELECT pg_backend_pid() AS oldpid \gset
\c
SELECT fnd_lock_acquire('lk.busy') IS NULL AS try_lock_null;
SELECT fnd_lock_acquire('lk.busy', '50 ms') IS NULL AS timed_out_null;
SELECT owner_pid IS NULL AS no_session, token = :tb AS token_ok, waiters
FROM fnd_locks WHERE name = 'lk.busy';
-- without the token, another session may not release it
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'token [0-9]+', 'token N');
END $$;
SELECT pg_temp.err('SELECT fnd_lock_release(''lk.busy'')');
-- with it, it may
SELECT fnd_lock_release('lk.busy', :tb);

-- a session-owned lock ends with its session
SELECT fnd_lock_acquire('lk.session') IS NOT NULL AS taken;
SELECT pg_backend_pid() AS oldpid \gset
\c
SELECT set_config('fnd_test.oldpid', :'oldpid', false) IS NOT NULL AS set;
DO $$
BEGIN
    -- wait for the old backend's exit to finish, however long it takes
    WHILE EXISTS (SELECT 1 FROM pg_stat_activity
                  WHERE pid = current_setting('fnd_test.oldpid')::int) LOOP
        PERFORM pg_sleep(0.01);
        -- pg_stat_activity is read once per transaction unless cleared
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
END $$;
SELECT count(*) AS left_over FROM fnd_locks WHERE name = 'lk.session';
SELECT fnd_lock_acquire('lk.session') IS NOT NULL AS free_again;
SELECT fnd_lock_release('lk.session');

-- another role may not release or renew a leased lock even with its token
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'token [0-9]+', 'token N');
END $$;
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fnd_lock_a;
DROP ROLE IF EXISTS regress_fnd_lock_b;
RESET client_min_messages;
CREATE ROLE regress_fnd_lock_a;
CREATE ROLE regress_fnd_lock_b;
SET ROLE regress_fnd_lock_a;
SELECT fnd_lock_acquire('lk.role', '0', '1 hour') AS tr \gset
SET ROLE regress_fnd_lock_b;
SELECT pg_temp.err(format('SELECT fnd_lock_renew(%L, %s)', 'lk.role', :tr));
SELECT pg_temp.err(format('SELECT fnd_lock_release(%L, %s)', 'lk.role', :tr));
SET ROLE regress_fnd_lock_a;
SELECT fnd_lock_release('lk.role', :tr);
RESET ROLE;
DROP ROLE regress_fnd_lock_a;
DROP ROLE regress_fnd_lock_b;

-- a foreign release or renewal answers FN602, whoever else holds the lock;
-- a lock nobody holds releases as false.  One row per situation:
CREATE ROLE regress_fnd_lock_c;
SELECT fnd_lock_acquire('lk.foreign', '0', '1 hour') AS tf \gset
\c
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'token [0-9]+', 'token N');
END $$;
SELECT 'another session, no token' AS caller,
       pg_temp.err('SELECT fnd_lock_release(''lk.foreign'')') AS answer
UNION ALL
SELECT 'a wrong token', pg_temp.err(format('SELECT fnd_lock_release(%L, %s)', 'lk.foreign', :tf + 1))
UNION ALL
SELECT 'renew, a wrong token', pg_temp.err(format('SELECT fnd_lock_renew(%L, %s)', 'lk.foreign', :tf + 1));
SET ROLE regress_fnd_lock_c;
SELECT 'another role, right token' AS caller,
       pg_temp.err(format('SELECT fnd_lock_release(%L, %s)', 'lk.foreign', :tf)) AS answer
UNION ALL
SELECT 'renew, another role', pg_temp.err(format('SELECT fnd_lock_renew(%L, %s)', 'lk.foreign', :tf))
UNION ALL
SELECT 'nobody holds it', fnd_lock_release('lk.nobody')::text;
RESET ROLE;
SELECT fnd_lock_release('lk.foreign', :tf) AS owner_releases;
SELECT fnd_lock_release('lk.foreign', :tf) AS released_twice;
DROP ROLE regress_fnd_lock_c;

-- a wait longer than a condition variable sleep can take (INT_MAX ms, about
-- 25 days) sleeps in steps, and is cancelled by statement_timeout
SELECT fnd_lock_acquire('lk.long', '0', '50 years') AS tlong \gset
\c
SET statement_timeout = '300ms';
SELECT fnd_lock_acquire('lk.long', '30 years');
RESET statement_timeout;
SELECT token = :tlong AS same_holder, waiters FROM fnd_locks WHERE name = 'lk.long';
SELECT fnd_lock_release('lk.long', :tlong);

-- per-role quota: foundation.max_locks_per_role (0, the default, means no
-- limit per role); FN607 naming the setting; waiting counts too.  lk.q.busy
-- is held by another session (leased, and this session reconnects).
SELECT fnd_lock_acquire('lk.q.busy', '0', '1 hour') AS tq \gset
\c
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'token [0-9]+', 'token N');
END $$;
CREATE FUNCTION pg_temp.errd(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || E'\n' || d;
END $$;
SHOW foundation.max_locks_per_role;
CREATE ROLE regress_fnd_lock_q;
SET foundation.max_locks_per_role = 2;
SET ROLE regress_fnd_lock_q;
SELECT fnd_lock_acquire('lk.q.1') IS NOT NULL AS first,
       fnd_lock_acquire('lk.q.2', '0', '1 hour') IS NOT NULL AS second;
SELECT fnd_lock_acquire('lk.q.1') IS NOT NULL AS reacquire_needs_no_room;
SELECT pg_temp.errd('SELECT fnd_lock_acquire(''lk.q.3'')');
SELECT pg_temp.errd('SELECT fnd_lock_acquire(''lk.q.busy'', ''1 s'')');
-- a try-lock of a held lock needs no room: it is just busy
SELECT fnd_lock_acquire('lk.q.busy') IS NULL AS busy;
SELECT fnd_lock_release('lk.q.1');
SELECT fnd_lock_acquire('lk.q.3') IS NOT NULL AS room_again;
RESET ROLE;
SELECT fnd_lock_acquire('lk.q.other') IS NOT NULL AS other_role_unaffected;
SELECT bool_and(fnd_lock_release(name, token)) AS released
FROM fnd_locks WHERE name LIKE 'lk.q.%';
RESET foundation.max_locks_per_role;
DROP ROLE regress_fnd_lock_q;

-- bad input: FN003, nothing changes
SELECT pg_temp.err('SELECT fnd_lock_acquire(NULL)');
SELECT pg_temp.err('SELECT fnd_lock_acquire('''')');
SELECT pg_temp.err(format('SELECT fnd_lock_acquire(%L)', repeat('x', 201)));
SELECT fnd_lock_acquire(repeat('x', 200)) IS NOT NULL AS max_length_ok;
SELECT fnd_lock_release(repeat('x', 200));
SELECT pg_temp.err('SELECT fnd_lock_acquire(''lk.x'', NULL)');
SELECT pg_temp.err('SELECT fnd_lock_acquire(''lk.x'', ''-1 s'')');
SELECT pg_temp.err('SELECT fnd_lock_acquire(''lk.x'', ''0'', ''0'')');
SELECT pg_temp.err('SELECT fnd_lock_acquire(''lk.x'', ''0'', ''-5 s'')');
SELECT pg_temp.err('SELECT fnd_lock_acquire(''lk.x'', ''1000 years'')');
SELECT pg_temp.err('SELECT fnd_lock_release(NULL)');
SELECT pg_temp.err('SELECT fnd_lock_renew(''lk.x'', NULL)');
SELECT pg_temp.err('SELECT fnd_lock_renew(NULL, 1)');
SELECT count(*) AS nothing_held FROM fnd_locks WHERE name LIKE 'lk.%';

-- capacity: foundation.max_locks, then FN607 coordination_full
SELECT setting FROM pg_settings WHERE name = 'foundation.max_locks';
DO $$
DECLARE
    n int := 0;
BEGIN
    LOOP
        PERFORM fnd_lock_acquire('lk.cap.' || n);
        n := n + 1;
        EXIT WHEN n > 20000;
    END LOOP;
    RAISE NOTICE 'no error after % locks', n;
EXCEPTION WHEN SQLSTATE 'FN607' THEN
    RAISE NOTICE 'FN607 after at most 10000 locks: %', n <= 10000;
END $$;
-- the DO block's failure does not undo the locks (not transactional)
SELECT count(*) > 9000 AS many_held FROM fnd_locks WHERE name LIKE 'lk.cap.%';
SELECT bool_and(fnd_lock_release(name)) AS all_released
FROM fnd_locks WHERE name LIKE 'lk.cap.%';
SELECT count(*) AS none_left FROM fnd_locks WHERE name LIKE 'lk.%';

-- tokens come from blocks of 1024 reserved from the extension's sequence
SELECT fnd_lock_acquire('lk.seq') AS t3 \gset
SELECT :t3 >= last_value AND :t3 < last_value + 1024 AS from_latest_block
FROM fnd_fencing_seq;
SELECT fnd_lock_release('lk.seq');
-- the blocks must not overlap: an altered increment is refused
ALTER SEQUENCE fnd_fencing_seq INCREMENT BY 1;
SELECT pg_temp.err('SELECT max(fnd_lock_acquire(''lk.inc.'' || g)) FROM generate_series(1, 1100) g');
ALTER SEQUENCE fnd_fencing_seq INCREMENT BY 1024;
SELECT count(*) > 0 AS some_taken FROM fnd_locks WHERE name LIKE 'lk.inc.%';
SELECT bool_and(fnd_lock_release(name)) FROM fnd_locks WHERE name LIKE 'lk.inc.%';
