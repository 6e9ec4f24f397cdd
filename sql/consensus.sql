-- consensus: majority, explicit quorum, unanimous, early rejection,
-- timeout, votes and their errors, restarting a topic, events, slot reuse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default

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

-- the decisions stored so far, without timestamps
CREATE FUNCTION pg_temp.decided(t text) RETURNS TABLE(outcome text, votes jsonb, quorum int, proposal jsonb)
LANGUAGE sql AS $$
    SELECT data->>'outcome', data->'votes', (data->>'quorum')::int, data->'proposal'
    FROM fnd_events WHERE type = 'consensus_decided' AND data->>'topic' = t ORDER BY id
$$;

-- majority of three: the second accept decides
SELECT fnd_consensus_start('reg_majority', '{"change": "add column"}', ARRAY['a', 'b', 'c']);
SELECT topic, proposal, participants, votes, quorum, unanimous, status,
       deadline - started_at AS timeout, decided_at IS NULL AS undecided
FROM fnd_consensus WHERE topic = 'reg_majority';
SELECT fnd_consensus_result('reg_majority');
SELECT fnd_consensus_vote('reg_majority', 'a', 'accept');
SELECT fnd_consensus_vote('reg_majority', 'b', 'reject');
SELECT fnd_consensus_vote('reg_majority', 'c', 'accept');
SELECT fnd_consensus_result('reg_majority');
SELECT votes, accepts, rejects, abstains, status, decided_at >= started_at AS dated
FROM fnd_consensus WHERE topic = 'reg_majority';
SELECT * FROM pg_temp.decided('reg_majority');
SELECT data ?& ARRAY['topic', 'proposal', 'participants', 'votes', 'outcome', 'decided_at'] AS has_keys,
       (data->>'decided_at')::timestamptz <= "timestamp" AS decided_before_stored
FROM fnd_events WHERE data->>'topic' = 'reg_majority';

-- a vote after the decision is recorded but changes nothing; errors come first
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_majority', 'a', 'reject')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_majority', 'd', 'accept')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_majority', 'a', 'maybe')$$);
SELECT count(*) AS events FROM fnd_events WHERE data->>'topic' = 'reg_majority';

-- explicit quorum 4 of 5: two rejects make it certain to fail
SELECT fnd_consensus_start('reg_quorum', '"v2"', ARRAY['p1', 'p2', 'p3', 'p4', 'p5'], quorum => 4);
SELECT fnd_consensus_vote('reg_quorum', 'p1', 'accept');
SELECT fnd_consensus_vote('reg_quorum', 'p2', 'reject');
SELECT fnd_consensus_vote('reg_quorum', 'p3', 'abstain');
SELECT fnd_consensus_result('reg_quorum');
SELECT outcome, votes, quorum FROM pg_temp.decided('reg_quorum');

-- explicit quorum 2 of 5: two accepts are enough, the others need not vote
SELECT fnd_consensus_start('reg_quorum2', '"v3"', ARRAY['p1', 'p2', 'p3', 'p4', 'p5'], 2);
SELECT fnd_consensus_vote('reg_quorum2', 'p4', 'accept'), fnd_consensus_vote('reg_quorum2', 'p5', 'accept');

-- majority, rejected early: 2 of 3 reject
SELECT fnd_consensus_start('reg_reject', '{}', ARRAY['a', 'b', 'c']);
SELECT fnd_consensus_vote('reg_reject', 'a', 'reject');
SELECT fnd_consensus_vote('reg_reject', 'b', 'abstain');

-- unanimous: everyone must accept; one abstention decides "rejected"
SELECT fnd_consensus_start('reg_unanimous', '[1, 2]', ARRAY['x', 'y', 'z'], unanimous => true);
SELECT quorum, unanimous FROM fnd_consensus WHERE topic = 'reg_unanimous';
SELECT fnd_consensus_vote('reg_unanimous', 'x', 'accept');
SELECT fnd_consensus_vote('reg_unanimous', 'y', 'accept');
SELECT fnd_consensus_vote('reg_unanimous', 'z', 'abstain');
SELECT fnd_consensus_start('reg_unanimous2', '[1, 2]', ARRAY['x', 'y'], unanimous => true);
SELECT fnd_consensus_vote('reg_unanimous2', 'x', 'accept'), fnd_consensus_vote('reg_unanimous2', 'y', 'ACCEPT');

-- timeout: decided at the deadline by whoever looks; the wait ends there
SELECT fnd_consensus_start('reg_timeout', '{"slow": true}', ARRAY['a', 'b', 'c'], timeout => '20 ms');
SELECT fnd_consensus_vote('reg_timeout', 'a', 'accept');
SELECT fnd_consensus_result('reg_timeout', '10 s');
SELECT status, decided_at = deadline AS decided_at_deadline FROM fnd_consensus WHERE topic = 'reg_timeout';
SELECT outcome, votes FROM pg_temp.decided('reg_timeout');
-- a vote after the deadline is recorded, the status stays timeout
SELECT fnd_consensus_vote('reg_timeout', 'b', 'accept');
SELECT votes, status FROM fnd_consensus WHERE topic = 'reg_timeout';
-- result(wait) on a pending round gives up at the end of the wait
SELECT fnd_consensus_start('reg_wait', '{}', ARRAY['a', 'b'], timeout => '1 h');
SELECT fnd_consensus_result('reg_wait', '20 ms');

-- statement_timeout interrupts a wait for the result; the session leaves the wait list
SET statement_timeout = '30ms';
DO $$
BEGIN
    PERFORM fnd_consensus_result('reg_wait', '10 s');
EXCEPTION WHEN query_canceled THEN
    RAISE NOTICE 'canceled: %', SQLERRM;
END $$;
RESET statement_timeout;
SELECT status, waiting FROM fnd_consensus WHERE topic = 'reg_wait';

-- restarting a topic: pending is an error, decided is replaced
SELECT split_part(pg_temp.try($$SELECT fnd_consensus_start('reg_wait', '{}', ARRAY['a'])$$), ' / ', 1);
SELECT fnd_consensus_start('reg_majority', '{"change": "drop column"}', ARRAY['a', 'b']);
SELECT proposal, votes, status FROM fnd_consensus WHERE topic = 'reg_majority';
SELECT fnd_consensus_vote('reg_majority', 'a', 'accept');
SELECT fnd_consensus_vote('reg_majority', 'b', 'accept');
SELECT outcome, proposal FROM pg_temp.decided('reg_majority');

-- argument errors
SELECT pg_temp.try($$SELECT fnd_consensus_start(NULL, '{}', ARRAY['a'])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('', '{}', ARRAY['a'])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', NULL, ARRAY['a'])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', NULL)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', '{}')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', NULL])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'a'])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', ''])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY[['a', 'b'], ['c', 'd']])$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'b'], 0)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'b'], 3)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'b'], 1, unanimous => true)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'b'], timeout => '0')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'b'], timeout => NULL)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_bad', '{}', ARRAY['a', 'b'], unanimous => NULL)$$);
SELECT count(*) AS bad_started FROM fnd_consensus WHERE topic = 'reg_bad';
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_nope', 'a', 'accept')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_wait', NULL, 'accept')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_wait', 'a', NULL)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_result('reg_nope')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_result('reg_wait', NULL)$$);
SELECT pg_temp.try($$SELECT fnd_consensus_result('reg_wait', '-1 s')$$);

-- a decision in a transaction that rolls back is recorded by the next caller
SELECT fnd_consensus_start('reg_rollback', '{}', ARRAY['a']);
BEGIN;
SELECT fnd_consensus_vote('reg_rollback', 'a', 'accept');
ROLLBACK;
SELECT count(*) AS events_after_rollback FROM fnd_events WHERE data->>'topic' = 'reg_rollback';
SELECT fnd_consensus_result('reg_rollback');
SELECT outcome FROM pg_temp.decided('reg_rollback');
-- a decision whose subtransaction rolls back, likewise
SELECT fnd_consensus_start('reg_subxact', '{}', ARRAY['a']);
BEGIN;
SAVEPOINT s;
SELECT fnd_consensus_vote('reg_subxact', 'a', 'reject');
ROLLBACK TO SAVEPOINT s;
SELECT count(*) AS events_in_xact FROM fnd_events WHERE data->>'topic' = 'reg_subxact';
COMMIT;
SELECT count(*) >= 0 AS looked FROM fnd_consensus;   -- any consensus call records it
SELECT outcome FROM pg_temp.decided('reg_subxact');

-- each decision is stored once
SELECT data->>'topic' AS topic, count(*) FROM fnd_events
WHERE type = 'consensus_decided' GROUP BY 1 HAVING count(*) > 1;

-- slot reuse: fill the capacity with barriers; a new round takes the slot
-- of the longest-decided round, whose result still reads from its event
DO $$
BEGIN
    FOR i IN 1..2000 LOOP
        PERFORM fnd_barrier_create('reg_fill_' || i, 2);
    END LOOP;
EXCEPTION WHEN SQLSTATE 'FN607' THEN
    NULL;
END $$;
-- (the longest-decided round may be in another database: start rounds
-- until reg_quorum, decided early in this file, has given up its slot)
DO $$
DECLARE
    n int := 0;
BEGIN
    WHILE EXISTS (SELECT 1 FROM fnd_consensus WHERE topic = 'reg_quorum') AND n < 100 LOOP
        PERFORM fnd_consensus_start('reg_new_' || n, '{}', ARRAY['a']);
        n := n + 1;
    END LOOP;
    RAISE NOTICE 'reg_quorum left shared memory: %',
        NOT EXISTS (SELECT 1 FROM fnd_consensus WHERE topic = 'reg_quorum');
END $$;
SELECT fnd_consensus_result('reg_quorum');
SELECT fnd_consensus_result('reg_quorum', '1 s');
-- a pending round is never evicted: when nothing decided remains, FN607
DO $$
DECLARE
    n int := 0;
BEGIN
    LOOP
        PERFORM fnd_consensus_start('reg_pending_' || n, '{}', ARRAY['a']);
        n := n + 1;
        EXIT WHEN n > 2000;
    END LOOP;
EXCEPTION WHEN SQLSTATE 'FN607' THEN
    RAISE NOTICE 'FN607 once no decided round was left: %',
        NOT EXISTS (SELECT 1 FROM fnd_consensus WHERE status <> 'pending');
END $$;
SELECT count(*) FILTER (WHERE NOT fnd_barrier_remove(name)) AS not_removed
FROM fnd_barriers WHERE name LIKE 'reg_fill_%';
-- the pending rounds decide (and free their slots) when they are voted on
SELECT count(*) FILTER (WHERE fnd_consensus_vote(topic, 'a', 'reject') <> 'rejected') AS not_decided
FROM fnd_consensus WHERE topic LIKE 'reg_pending_%' OR topic LIKE 'reg_new_%';
SELECT fnd_consensus_vote('reg_wait', 'a', 'reject');
SELECT count(*) AS pending_left FROM fnd_consensus WHERE status = 'pending';

-- a role without rights on fnd_events starts and decides a round; the
-- event is written with the extension owner's rights, and a search_path
-- with look-alike operators cannot change what runs with those rights
CREATE ROLE reg_voter;
CREATE SCHEMA reg_evil AUTHORIZATION reg_voter;
SET ROLE reg_voter;
CREATE FUNCTION reg_evil.arrow(jsonb, text) RETURNS text LANGUAGE sql AS $$ SELECT 'hacked' $$;
CREATE OPERATOR reg_evil.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = reg_evil.arrow);
SET search_path = reg_evil, pg_catalog, public;
SELECT '{"a": 1}'::jsonb ->> 'a' AS look_alike;
SELECT fnd_consensus_start('reg_by_voter', '{}', ARRAY['v']);
SELECT fnd_consensus_vote('reg_by_voter', 'v', 'accept');
SELECT fnd_consensus_result('reg_quorum') AS from_event;
RESET search_path;
RESET ROLE;
SELECT outcome FROM pg_temp.decided('reg_by_voter');
SET client_min_messages = warning;
DROP SCHEMA reg_evil CASCADE;
RESET client_min_messages;
DROP ROLE reg_voter;
