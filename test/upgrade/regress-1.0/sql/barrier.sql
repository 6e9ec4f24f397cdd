-- barrier: create, arrive counts, trips and generations, waits, timeouts,
-- withdrawal by fnd_barrier_sync, removal, errors, capacity; a session
-- counts once per generation, or once per party id it names
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default

-- run a statement, show its SQLSTATE and message (and detail) instead of failing
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(d, ''), '');
END $$;

-- a barrier of three: arrivals count down, the third trips generation 1.
-- The session counts once per generation; arriving again changes nothing.
-- It stands for more parties only by naming them (party ids).
SELECT fnd_barrier_create('reg_b3', 3);
SELECT fnd_barrier_create('reg_b3', 3);   -- same parties: nothing to do
SELECT name, parties, arrived, generation, waiting, owner_role = current_user AS mine,
       last_tripped_at IS NULL AS never_tripped
FROM fnd_barriers WHERE name = 'reg_b3';
SELECT fnd_barrier_arrive('reg_b3') AS missing;
SELECT fnd_barrier_arrive('reg_b3') AS missing;   -- again: not counted twice
SELECT fnd_barrier_arrive('reg_b3') AS missing, fnd_barrier_arrive('reg_b3') AS still_missing;
SELECT arrived, generation FROM fnd_barriers WHERE name = 'reg_b3';
SELECT fnd_barrier_arrive('reg_b3', 'p1') AS missing;
SELECT fnd_barrier_arrive('reg_b3', 'p1') AS missing;   -- the same party id again: not counted
SELECT arrived, generation, last_tripped_at IS NULL AS never_tripped FROM fnd_barriers WHERE name = 'reg_b3';
SELECT fnd_barrier_arrive('reg_b3', 'p2') AS missing;
SELECT arrived, generation, last_tripped_at IS NOT NULL AS tripped FROM fnd_barriers WHERE name = 'reg_b3';

-- wait returns the generation of this session's last arrival, which tripped
SELECT fnd_barrier_wait('reg_b3') AS generation;
SELECT fnd_barrier_wait('reg_b3', '0') AS generation;

-- cyclic: the next generation starts empty and trips as generation 2; the
-- session and its party ids count again in it
SELECT fnd_barrier_arrive('reg_b3', 'p1'), fnd_barrier_arrive('reg_b3');
SELECT arrived, generation FROM fnd_barriers WHERE name = 'reg_b3';
-- this session's last arrival is in generation 2, which has not tripped
SELECT pg_temp.try($$SELECT fnd_barrier_wait('reg_b3', '20 ms')$$);
SELECT fnd_barrier_arrive('reg_b3', 'p3') AS missing;
SELECT fnd_barrier_wait('reg_b3') AS generation;
SELECT arrived, generation FROM fnd_barriers WHERE name = 'reg_b3';

-- without an arrival of its own a session waits for the current generation
SELECT fnd_barrier_create('reg_watch', 2);
SELECT pg_temp.try($$SELECT fnd_barrier_wait('reg_watch', '10 ms')$$);

-- sync: creates if absent; with one party every sync trips at once
SELECT fnd_barrier_sync('reg_solo', 1) AS g1, fnd_barrier_sync('reg_solo', 1) AS g2;
SELECT parties, arrived, generation FROM fnd_barriers WHERE name = 'reg_solo';

-- sync timeout: FN603 with the arrival count, and the arrival is withdrawn
SELECT pg_temp.try($$SELECT fnd_barrier_sync('reg_pair', 2, '20 ms')$$);
SELECT arrived, generation FROM fnd_barriers WHERE name = 'reg_pair';
-- an arrival made by fnd_barrier_arrive stays after a failed wait
SELECT fnd_barrier_arrive('reg_pair') AS missing;
SELECT pg_temp.try($$SELECT fnd_barrier_wait('reg_pair', '10 ms')$$);
SELECT arrived FROM fnd_barriers WHERE name = 'reg_pair';
-- a sync by the same session in the same generation does not count it
-- again: it waits, and its failure leaves the earlier arrival in place
SELECT pg_temp.try($$SELECT fnd_barrier_sync('reg_pair', 2, '10 ms')$$);
SELECT arrived FROM fnd_barriers WHERE name = 'reg_pair';
-- another party completes the pair
SELECT fnd_barrier_arrive('reg_pair', 'helper') AS missing;
SELECT fnd_barrier_wait('reg_pair') AS generation;

-- errors
SELECT pg_temp.try($$SELECT fnd_barrier_create(NULL, 2)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_create('', 2)$$);
SELECT pg_temp.try(format('SELECT fnd_barrier_create(%L, 2)', repeat('x', 201)));
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_bad', 0)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_bad', -1)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_bad', NULL)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_b3', 4)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_sync('reg_b3', 2)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_arrive('reg_nope')$$);
SELECT pg_temp.try($$SELECT fnd_barrier_arrive(NULL)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_arrive('reg_b3', NULL)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_arrive('reg_b3', '')$$);
SELECT pg_temp.try(format('SELECT fnd_barrier_arrive(%L, %L)', 'reg_b3', repeat('p', 201)));
SELECT pg_temp.try($$SELECT fnd_barrier_arrive('reg_nope', 'p1')$$);
SELECT arrived, generation FROM fnd_barriers WHERE name = 'reg_b3';
SELECT pg_temp.try($$SELECT fnd_barrier_wait('reg_nope')$$);
SELECT pg_temp.try($$SELECT fnd_barrier_wait('reg_b3', NULL)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_wait('reg_b3', '-1 s')$$);
SELECT pg_temp.try($$SELECT fnd_barrier_sync('reg_b3', 3, '200 years')$$);
SELECT count(*) AS bad_created FROM fnd_barriers WHERE name = 'reg_bad';

-- statement_timeout interrupts a wait (and the sync's arrival is withdrawn)
SET statement_timeout = '30ms';
DO $$
BEGIN
    PERFORM fnd_barrier_sync('reg_pair', 2, '10 s');
EXCEPTION WHEN query_canceled THEN
    RAISE NOTICE 'canceled: %', SQLERRM;
END $$;
RESET statement_timeout;
SELECT arrived, waiting FROM fnd_barriers WHERE name = 'reg_pair';

-- only the creating role may remove a barrier
CREATE ROLE reg_barrier_other;
SET ROLE reg_barrier_other;
SELECT pg_temp.try($$SELECT fnd_barrier_remove('reg_b3')$$);
SELECT fnd_barrier_sync('reg_other', 1);
RESET ROLE;
SELECT fnd_barrier_remove('reg_other');   -- a superuser may
DROP ROLE reg_barrier_other;

-- per-role quota: foundation.max_barriers_per_role (0, the default, means
-- no limit per role).  A barrier counts against its creator until it is
-- removed; a role at its limit is refused (FN607, naming the setting) and
-- nothing is created; another role is not; removing one makes room.
SHOW foundation.max_barriers_per_role;
CREATE ROLE reg_barrier_q1;
CREATE ROLE reg_barrier_q2;
SET foundation.max_barriers_per_role = 2;
SET ROLE reg_barrier_q1;
SELECT fnd_barrier_create('reg_q1_a', 2), fnd_barrier_create('reg_q1_b', 2);
SELECT fnd_barrier_create('reg_q1_a', 2) AS exists_needs_no_room;
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_q1_c', 2)$$);
SELECT pg_temp.try($$SELECT fnd_barrier_sync('reg_q1_c', 1)$$);
SELECT count(*) AS not_created FROM fnd_barriers WHERE name = 'reg_q1_c';
SET ROLE reg_barrier_q2;
SELECT fnd_barrier_create('reg_q2_a', 2) AS other_role;
SET ROLE reg_barrier_q1;
SELECT fnd_barrier_remove('reg_q1_a');
SELECT fnd_barrier_sync('reg_q1_c', 1) AS room_again;
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_q1_d', 2)$$);
-- a superuser's removal frees the creator's room too
RESET ROLE;
SELECT fnd_barrier_remove('reg_q1_b');
SET ROLE reg_barrier_q1;
SELECT fnd_barrier_create('reg_q1_d', 2) AS room_after_admin_removal;
RESET ROLE;
RESET foundation.max_barriers_per_role;
SET ROLE reg_barrier_q1;
SELECT fnd_barrier_create('reg_q1_e', 2) AS no_limit_again;
RESET ROLE;
SELECT name, owner_role FROM fnd_barriers WHERE name LIKE 'reg_q_\_%' ORDER BY name;
SELECT count(*) FILTER (WHERE fnd_barrier_remove(name)) AS removed
FROM fnd_barriers WHERE name LIKE 'reg_q_\_%';
DROP ROLE reg_barrier_q1;
DROP ROLE reg_barrier_q2;

-- capacity: barriers and consensus rounds share foundation.max_coordination_objects
SELECT setting AS max_coordination_objects FROM pg_settings
WHERE name = 'foundation.max_coordination_objects';
DO $$
DECLARE
    n int := 0;
BEGIN
    FOR i IN 1..2000 LOOP
        PERFORM fnd_barrier_create('reg_fill_' || i, 2);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'never full';
EXCEPTION WHEN SQLSTATE 'FN607' THEN
    RAISE NOTICE 'FN607 after at most 1000 barriers: %', n BETWEEN 1 AND 1000;
END $$;
-- barriers are not transactional: those created before FN607 stay
SELECT count(*) > 0 AS some_filled FROM fnd_barriers WHERE name LIKE 'reg_fill_%';
SELECT count(*) FILTER (WHERE NOT fnd_barrier_remove(name)) AS not_removed
FROM fnd_barriers WHERE name LIKE 'reg_fill_%';
SELECT pg_temp.try($$SELECT fnd_barrier_create('reg_after_full', 2)$$);

-- remove
SELECT fnd_barrier_remove('reg_b3'), fnd_barrier_remove('reg_b3');
SELECT count(*) FILTER (WHERE fnd_barrier_remove(name)) AS removed
FROM fnd_barriers WHERE name LIKE 'reg_%';
SELECT count(*) AS left_over FROM fnd_barriers;
