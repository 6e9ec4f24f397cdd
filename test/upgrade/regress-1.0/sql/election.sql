-- election: elect, renew, resign, lease expiry, session ownership, terms
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- no leader yet
SELECT count(*) FROM fnd_leader('el.g');
-- the first candidate wins; a second one does not
SELECT fnd_elect_leader('el.g', 'alice');
SELECT fnd_elect_leader('el.g', 'bob');
SELECT leader, term > 0 AS has_term,
       lease_expires_at BETWEEN now() + '9 s' AND clock_timestamp() + '10 s' AS lease_ok
FROM fnd_leader('el.g');
SELECT term AS term1, lease_expires_at AS exp1 FROM fnd_leader('el.g') \gset
-- the leader's call renews: same term, later expiry
SELECT fnd_elect_leader('el.g', 'alice', '1 hour');
SELECT leader, term = :term1 AS same_term, lease_expires_at > :'exp1' AS renewed
FROM fnd_leader('el.g');

-- resign: only the leader's resignation counts
SELECT fnd_resign('el.g', 'bob');
SELECT fnd_resign('el.g', 'alice');
SELECT fnd_resign('el.g', 'alice');
SELECT count(*) AS leaders FROM fnd_leader('el.g');
-- every new leadership gets a higher term
SELECT fnd_elect_leader('el.g', 'bob');
SELECT leader, term > :term1 AS higher_term FROM fnd_leader('el.g');
SELECT term AS term2 FROM fnd_leader('el.g') \gset
SELECT fnd_resign('el.g', 'bob');
SELECT fnd_elect_leader('el.g', 'alice');
SELECT term > :term2 AS higher_again FROM fnd_leader('el.g');
SELECT fnd_resign('el.g', 'alice');

-- a leader that stops renewing loses leadership when its lease runs out
SELECT fnd_elect_leader('el.lease', 'carol', '200 ms') AS elected,
       (SELECT term FROM fnd_leader('el.lease')) AS term3 \gset
SELECT :'elected' AS elected, :term3 > 0 AS has_term;
SELECT pg_sleep(0.4);
SELECT count(*) AS leaders_after_lapse FROM fnd_leader('el.lease');
SELECT fnd_elect_leader('el.lease', 'dave');
SELECT leader, term > :term3 AS higher_term FROM fnd_leader('el.lease');
SELECT fnd_resign('el.lease', 'dave');

-- lease NULL: the leadership belongs to the session and ends with it
SELECT fnd_elect_leader('el.session', 'erin', NULL);
SELECT leader, lease_expires_at FROM fnd_leader('el.session');
-- the fnd_leaders view lists every led group of this database
SELECT fnd_elect_leader('el.view', 'frank', '1 hour');
SELECT "group", leader, term > 0 AS has_term, owner_pid = pg_backend_pid() AS mine,
       owner_role = current_user AS role_ok, lease_expires_at IS NOT NULL AS leased
FROM fnd_leaders WHERE "group" IN ('el.session', 'el.view') ORDER BY 1;
SELECT fnd_resign('el.view', 'frank');
SELECT count(*) FROM fnd_leaders WHERE "group" = 'el.view';
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
SELECT count(*) AS leaders_after_exit FROM fnd_leader('el.session');

-- a leased leadership survives its session: a new session of the role renews it
SELECT fnd_elect_leader('el.pool', 'frank', '1 hour');
SELECT term AS term4 FROM fnd_leader('el.pool') \gset
\c
SELECT fnd_elect_leader('el.pool', 'frank', '1 hour') AS renewed_from_new_session;
SELECT leader, term = :term4 AS same_term FROM fnd_leader('el.pool');
SELECT fnd_resign('el.pool', 'frank');

CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- another role may neither renew nor resign a leased leadership
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_fnd_el_a;
DROP ROLE IF EXISTS regress_fnd_el_b;
RESET client_min_messages;
CREATE ROLE regress_fnd_el_a;
CREATE ROLE regress_fnd_el_b;
SET ROLE regress_fnd_el_a;
SELECT fnd_elect_leader('el.role', 'gina');
SET ROLE regress_fnd_el_b;
SELECT fnd_elect_leader('el.role', 'gina') AS other_role_renews;
SELECT pg_temp.err('SELECT fnd_resign(''el.role'', ''gina'')');
SET ROLE regress_fnd_el_a;
SELECT fnd_resign('el.role', 'gina');
RESET ROLE;
DROP ROLE regress_fnd_el_a;
DROP ROLE regress_fnd_el_b;

-- per-role quota: foundation.max_elections_per_role (0, the default, means
-- no limit per role); FN607 naming the setting; renewing needs no room
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
SHOW foundation.max_elections_per_role;
CREATE ROLE regress_fnd_el_q;
SET foundation.max_elections_per_role = 1;
SET ROLE regress_fnd_el_q;
SELECT fnd_elect_leader('el.q.1', 'ida', '1 hour') AS first;
SELECT fnd_elect_leader('el.q.1', 'ida', '1 hour') AS renewed;
SELECT pg_temp.errd('SELECT fnd_elect_leader(''el.q.2'', ''ida'', ''1 hour'')');
SELECT count(*) AS no_leader FROM fnd_leader('el.q.2');
SELECT fnd_resign('el.q.1', 'ida');
SELECT fnd_elect_leader('el.q.2', 'ida', '1 hour') AS room_again;
SELECT fnd_resign('el.q.2', 'ida');
RESET ROLE;
RESET foundation.max_elections_per_role;
DROP ROLE regress_fnd_el_q;

-- bad input: FN003
SELECT pg_temp.err('SELECT fnd_elect_leader(NULL, ''x'')');
SELECT pg_temp.err('SELECT fnd_elect_leader(''el.x'', NULL)');
SELECT pg_temp.err('SELECT fnd_elect_leader('''', ''x'')');
SELECT pg_temp.err('SELECT fnd_elect_leader(''el.x'', '''')');
SELECT pg_temp.err(format('SELECT fnd_elect_leader(%L, ''x'')', repeat('g', 201)));
SELECT pg_temp.err('SELECT fnd_elect_leader(''el.x'', ''x'', ''0'')');
SELECT pg_temp.err('SELECT fnd_elect_leader(''el.x'', ''x'', ''-1 s'')');
SELECT pg_temp.err('SELECT * FROM fnd_leader(NULL)');
SELECT pg_temp.err('SELECT fnd_resign(NULL, ''x'')');
SELECT pg_temp.err('SELECT fnd_resign(''el.x'', NULL)');
SELECT count(*) AS no_leader FROM fnd_leader('el.x');

-- capacity: foundation.max_elections, then FN607
SELECT setting FROM pg_settings WHERE name = 'foundation.max_elections';
DO $$
DECLARE
    n int := 0;
BEGIN
    LOOP
        PERFORM fnd_elect_leader('el.cap.' || n, 'c');
        n := n + 1;
        EXIT WHEN n > 5000;
    END LOOP;
    RAISE NOTICE 'no error after % groups', n;
EXCEPTION WHEN SQLSTATE 'FN607' THEN
    RAISE NOTICE 'FN607 after at most 1000 groups: %', n <= 1000;
END $$;
SELECT count(*) FILTER (WHERE fnd_resign('el.cap.' || g, 'c')) > 900 AS resigned_many
FROM generate_series(0, 1000) g;
SELECT count(*) FROM fnd_leader('el.cap.0');
