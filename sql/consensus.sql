-- consensus: majority, explicit quorum, unanimous, early rejection,
-- timeout, votes and their errors, who may vote as a participant,
-- cancelling, restarting a topic, events, decided rounds giving way
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
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_majority', 'a', ' accept')$$);
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_majority', 'a', 'accepted')$$);
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
-- votes are keywords: their case does not matter
SELECT fnd_consensus_vote('reg_unanimous2', 'x', 'Accept'), fnd_consensus_vote('reg_unanimous2', 'y', 'ACCEPT');
SELECT votes FROM fnd_consensus WHERE topic = 'reg_unanimous2';

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

-- a decision in a read-only transaction cannot be stored there: the next
-- consensus call in this database records it (docs/coordination.md)
SELECT fnd_consensus_start('reg_readonly', '{}', ARRAY['a', 'b']);
BEGIN READ ONLY;
SELECT fnd_consensus_vote('reg_readonly', 'a', 'accept');
SELECT fnd_consensus_vote('reg_readonly', 'b', 'reject');
SELECT fnd_consensus_result('reg_readonly');
SELECT count(*) AS events_in_read_only FROM fnd_events WHERE data->>'topic' = 'reg_readonly';
COMMIT;
SELECT count(*) AS events_after_commit FROM fnd_events WHERE data->>'topic' = 'reg_readonly';
SELECT fnd_consensus_result('reg_readonly');   -- records it, then answers
SELECT outcome, votes FROM pg_temp.decided('reg_readonly');
SELECT fnd_consensus_result('reg_readonly');
SELECT count(*) AS events_later FROM fnd_events WHERE data->>'topic' = 'reg_readonly';

-- who may vote as a participant: a participant that names a role is voted
-- for by members of that role; any other name is a label of the round's
-- creator, voted with by members of the creating role; others get FN104
CREATE ROLE reg_alice;
CREATE ROLE reg_bob;
CREATE ROLE reg_carol;
SELECT fnd_consensus_start('reg_ids', '{}', ARRAY['reg_alice', 'reg_bob', 'planner']);
SET ROLE reg_bob;
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_ids', 'reg_alice', 'accept')$$);
SELECT replace(pg_temp.try($$SELECT fnd_consensus_vote('reg_ids', 'planner', 'accept')$$),
               session_user, '<creator>');
SELECT fnd_consensus_vote('reg_ids', 'reg_bob', 'reject');
RESET ROLE;
SELECT votes, status FROM fnd_consensus WHERE topic = 'reg_ids';
SET ROLE reg_alice;
SELECT fnd_consensus_vote('reg_ids', 'reg_alice', 'accept');
RESET ROLE;
-- the creator (here a superuser, who may act for any role) votes with its label
SELECT fnd_consensus_vote('reg_ids', 'planner', 'accept');
SELECT outcome, votes FROM pg_temp.decided('reg_ids');
-- labels of a round started by reg_bob: reg_carol may not use them until
-- she is a member of reg_bob
SET ROLE reg_bob;
SELECT fnd_consensus_start('reg_labels', '{}', ARRAY['x', 'y']);
SET ROLE reg_carol;
SELECT pg_temp.try($$SELECT fnd_consensus_vote('reg_labels', 'x', 'accept')$$);
RESET ROLE;
GRANT reg_bob TO reg_carol;
SET ROLE reg_carol;
SELECT fnd_consensus_vote('reg_labels', 'x', 'accept');
RESET ROLE;
REVOKE reg_bob FROM reg_carol;
SELECT fnd_consensus_vote('reg_labels', 'y', 'reject');
-- only members of the creating role may replace a decided round: FN104
SET ROLE reg_carol;
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_labels', '{}', ARRAY['x'])$$);
RESET ROLE;
SELECT proposal, status FROM fnd_consensus WHERE topic = 'reg_labels';

-- cancelling: an admin ends a pending round at once; it decides
-- "cancelled", recorded like any other decision
SELECT fnd_consensus_start('reg_cancel', '{"risky": true}', ARRAY['a', 'b', 'c']);
SELECT fnd_consensus_vote('reg_cancel', 'a', 'accept');
SET ROLE reg_alice;
SELECT pg_temp.try($$SELECT fnd_consensus_cancel('reg_cancel')$$);   -- not granted to PUBLIC
RESET ROLE;
SELECT fnd_consensus_cancel('reg_cancel');
SELECT fnd_consensus_result('reg_cancel');
SELECT status, votes, decided_at IS NOT NULL AS dated FROM fnd_consensus WHERE topic = 'reg_cancel';
SELECT outcome, votes FROM pg_temp.decided('reg_cancel');
SELECT fnd_consensus_cancel('reg_cancel');         -- decided already: false
SELECT fnd_consensus_cancel('reg_no_such_topic');  -- no round: false
SELECT fnd_consensus_cancel('reg_majority');       -- decided: false, unchanged
SELECT fnd_consensus_result('reg_majority');
SELECT pg_temp.try($$SELECT fnd_consensus_cancel(NULL)$$);
-- a vote after the cancellation is recorded and changes nothing
SELECT fnd_consensus_vote('reg_cancel', 'b', 'accept');
SELECT accepts, status FROM fnd_consensus WHERE topic = 'reg_cancel';
-- a cancelled round is decided: a new round may replace it
SELECT fnd_consensus_start('reg_cancel', '{"risky": false}', ARRAY['a']);
SELECT fnd_consensus_vote('reg_cancel', 'a', 'accept');
SELECT outcome FROM pg_temp.decided('reg_cancel');

-- per-role quota: foundation.max_consensus_rounds_per_role (0, the
-- default, means no limit per role).  A round counts against its creator
-- while pending and until a transaction records its decision; from then on
-- it can give way, and counts no more.  A role at its limit is refused
-- (FN607, naming the setting) and nothing starts; another role is not.
SHOW foundation.max_consensus_rounds_per_role;
CREATE ROLE reg_q1;
CREATE ROLE reg_q2;
SET foundation.max_consensus_rounds_per_role = 2;
SET ROLE reg_q1;
SELECT fnd_consensus_start('reg_q_a', '{}', ARRAY['x', 'y']);
SELECT fnd_consensus_start('reg_q_b', '{}', ARRAY['x', 'y']);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_q_c', '{}', ARRAY['x'])$$);
SELECT count(*) AS not_started FROM fnd_consensus WHERE topic = 'reg_q_c';
SET ROLE reg_q2;
SELECT fnd_consensus_start('reg_q_other', '{}', ARRAY['x']) AS other_role;
SELECT fnd_consensus_vote('reg_q_other', 'x', 'accept');
-- decided in a read-only transaction, a decision is not recorded: the round
-- still counts there; the next read-write call records it first, and then
-- it no longer counts
SET ROLE reg_q1;
BEGIN READ ONLY;
SELECT fnd_consensus_vote('reg_q_a', 'x', 'reject');
SELECT split_part(pg_temp.try($$SELECT fnd_consensus_start('reg_q_c', '{}', ARRAY['x'])$$), ' / ', 1) AS unrecorded_counts;
COMMIT;
SELECT fnd_consensus_start('reg_q_c', '{}', ARRAY['x']) AS recorded_gives_room;
SELECT outcome FROM pg_temp.decided('reg_q_a');
-- a decision whose transaction rolls back counts again until recorded
BEGIN;
SELECT fnd_consensus_vote('reg_q_b', 'x', 'accept');
SELECT fnd_consensus_vote('reg_q_b', 'y', 'accept');
ROLLBACK;
BEGIN READ ONLY;
SELECT split_part(pg_temp.try($$SELECT fnd_consensus_start('reg_q_d', '{}', ARRAY['x'])$$), ' / ', 1) AS rolled_back_counts;
COMMIT;
SELECT fnd_consensus_result('reg_q_b');   -- records it
SELECT outcome FROM pg_temp.decided('reg_q_b');
-- a new round on a decided topic takes room like any other
SELECT fnd_consensus_start('reg_q_d', '{}', ARRAY['x']);
SELECT pg_temp.try($$SELECT fnd_consensus_start('reg_q_a', '{}', ARRAY['x'])$$);
SELECT fnd_consensus_vote('reg_q_d', 'x', 'accept');
SELECT fnd_consensus_start('reg_q_a', '{"again": true}', ARRAY['x']) AS replaced;
SELECT fnd_consensus_vote('reg_q_a', 'x', 'accept');
SELECT fnd_consensus_vote('reg_q_c', 'x', 'accept');
RESET ROLE;
RESET foundation.max_consensus_rounds_per_role;
SELECT topic, status FROM fnd_consensus WHERE topic LIKE 'reg_q\_%' ORDER BY topic;
DROP ROLE reg_q1;
DROP ROLE reg_q2;

-- each decision is stored once (a topic has one event per round)
SELECT data->>'topic' AS topic, count(*) FROM fnd_events
WHERE type = 'consensus_decided' GROUP BY 1, data->>'started_at' HAVING count(*) > 1;

-- decided rounds give way: fill the capacity with barriers; once no slot
-- is free, each new barrier evicts the longest-decided round whose
-- decision is recorded (of any database), until only barriers and rounds
-- that cannot give way (pending ones here) are left
SELECT count(*) FILTER (WHERE status <> 'pending') > 0 AS some_decided,
       count(*) FILTER (WHERE status = 'pending') AS pending
FROM fnd_consensus;
DO $$
BEGIN
    FOR i IN 1..2000 LOOP
        PERFORM fnd_barrier_create('reg_fill_' || i, 2);
    END LOOP;
EXCEPTION WHEN SQLSTATE 'FN607' THEN
    RAISE NOTICE 'FN607 once no decided round was left: %',
        NOT EXISTS (SELECT 1 FROM fnd_consensus WHERE status <> 'pending');
END $$;
SELECT count(*) FILTER (WHERE status <> 'pending') AS decided,
       count(*) FILTER (WHERE status = 'pending') AS pending
FROM fnd_consensus;
-- an evicted round still answers from its event
SELECT fnd_consensus_result('reg_quorum');
SELECT fnd_consensus_result('reg_quorum', '1 s');
SELECT fnd_consensus_result('reg_cancel');
-- a pending round is never evicted: nothing can give way now
SELECT split_part(pg_temp.try($$SELECT fnd_barrier_create('reg_one_more', 2)$$), ' / ', 1);
SELECT split_part(pg_temp.try($$SELECT fnd_consensus_start('reg_one_more', '{}', ARRAY['a'])$$), ' / ', 1);
-- free some barrier slots and fill them with pending rounds
SELECT count(*) FILTER (WHERE NOT fnd_barrier_remove(name)) AS not_removed
FROM fnd_barriers WHERE name LIKE 'reg_fill_%' AND substr(name, 10)::int % 2 = 0;
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
    RAISE NOTICE 'FN607 with only pending rounds and barriers: %',
        NOT EXISTS (SELECT 1 FROM fnd_consensus WHERE status <> 'pending') AND n > 0;
END $$;
-- the pending rounds decide when they are voted on, and then give way to barriers
SELECT count(*) FILTER (WHERE fnd_consensus_vote(topic, 'a', 'reject') <> 'rejected') AS not_decided
FROM fnd_consensus WHERE topic LIKE 'reg_pending_%';
SELECT count(*) AS rounds_before FROM fnd_consensus \gset
SELECT fnd_barrier_create('reg_one_more', 2);
SELECT count(*) = :rounds_before - 1 AS one_round_gave_way FROM fnd_consensus;
SELECT count(*) FILTER (WHERE NOT fnd_barrier_remove(name)) AS not_removed
FROM fnd_barriers WHERE name LIKE 'reg_fill_%' OR name = 'reg_one_more';
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
DROP ROLE reg_alice;
DROP ROLE reg_bob;
DROP ROLE reg_carol;

-- DROP EXTENSION takes this database's rounds along: a later CREATE
-- EXTENSION starts with none, and no old decision is written into its table
SELECT fnd_consensus_start('reg_dropped', '{}', ARRAY['a', 'b']);
BEGIN READ ONLY;
SELECT fnd_consensus_vote('reg_dropped', 'a', 'accept');
SELECT fnd_consensus_vote('reg_dropped', 'b', 'accept');
COMMIT;
SET client_min_messages = warning;
DROP EXTENSION foundation;
CREATE EXTENSION foundation;
RESET client_min_messages;
SELECT count(*) AS rounds_after_recreate FROM fnd_consensus WHERE topic = 'reg_dropped';
SELECT fnd_consensus_result('reg_dropped');
SELECT count(*) AS decisions_in_new_table FROM fnd_events WHERE type = 'consensus_decided';
