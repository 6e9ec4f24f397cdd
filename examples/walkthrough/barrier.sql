-- barrier and consensus: a short tour (re-runnable)
\echo '== barriers: workers start a phase together'
-- A barrier of three parties.  Creating it again with the same parties is a
-- no-op, so every worker may call it.
SELECT fnd_barrier_create('walkthrough_phase', 3);
-- Each worker would call fnd_barrier_sync('walkthrough_phase', 3), which
-- arrives and sleeps until the third party arrives.  Here one session plays
-- all three parties with fnd_barrier_arrive(name, party): each party id
-- counts once per generation; it returns how many are still missing.
SELECT fnd_barrier_arrive('walkthrough_phase', 'worker-1') AS missing;
SELECT fnd_barrier_arrive('walkthrough_phase', 'worker-1') AS missing_again;  -- counted once
SELECT fnd_barrier_arrive('walkthrough_phase', 'worker-2') AS missing;
SELECT name, parties, arrived, generation, waiting FROM fnd_barriers
WHERE name = 'walkthrough_phase';
-- the third arrival trips generation 1; the next generation starts empty
SELECT fnd_barrier_arrive('walkthrough_phase', 'worker-3') AS missing;
SELECT fnd_barrier_wait('walkthrough_phase') AS tripped_generation;
SELECT name, parties, arrived, generation FROM fnd_barriers
WHERE name = 'walkthrough_phase';
-- A party that waits too long gets FN603 with the arrival count; a failed
-- sync withdraws its own arrival, so retrying does not count it twice.
DO $$
DECLARE
    detail text;
BEGIN
    PERFORM fnd_barrier_sync('walkthrough_phase', 3, '50 ms');
EXCEPTION WHEN SQLSTATE 'FN603' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'FN603 barrier_timeout: %', detail;
END $$;
SELECT fnd_barrier_remove('walkthrough_phase') AS removed;

\echo '== consensus: agents approve a schema change by vote'
-- Three agents; a majority (2) of accepts decides.  Starting a round on a
-- topic whose last round is decided replaces it.
SELECT fnd_consensus_start('walkthrough.schema_change',
                           '{"ddl": "ALTER TABLE orders ADD COLUMN note text"}',
                           ARRAY['planner', 'reviewer', 'dba'],
                           timeout => '1 min');
SELECT fnd_consensus_vote('walkthrough.schema_change', 'planner', 'accept') AS status;
SELECT fnd_consensus_vote('walkthrough.schema_change', 'reviewer', 'accept') AS status;
-- An agent would block here until the round decides:
SELECT fnd_consensus_result('walkthrough.schema_change', '5 s') AS result;
SELECT topic, votes, quorum, status FROM fnd_consensus
WHERE topic = 'walkthrough.schema_change';
-- Only participants vote, once each.
DO $$
BEGIN
    PERFORM fnd_consensus_vote('walkthrough.schema_change', 'intern', 'accept');
EXCEPTION WHEN SQLSTATE 'FN605' THEN
    RAISE NOTICE 'FN605 not_a_participant: %', SQLERRM;
END $$;
DO $$
BEGIN
    PERFORM fnd_consensus_vote('walkthrough.schema_change', 'planner', 'reject');
EXCEPTION WHEN SQLSTATE 'FN606' THEN
    RAISE NOTICE 'FN606 already_voted: %', SQLERRM;
END $$;
-- The decision is also an event, so it survives restarts.
SELECT data->>'outcome' AS outcome, data->'votes' AS votes
FROM fnd_events
WHERE type = 'consensus_decided' AND data->>'topic' = 'walkthrough.schema_change'
ORDER BY id DESC LIMIT 1;
