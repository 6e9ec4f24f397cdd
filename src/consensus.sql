-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- consensus: rounds that decide once and are stored as consensus_decided
-- events (docs/coordination.md)

CREATE FUNCTION fnd_consensus_start(
    topic text, proposal jsonb, participants text[],
    quorum int DEFAULT NULL, timeout interval DEFAULT '30 s',
    unanimous boolean DEFAULT false)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_start';
COMMENT ON FUNCTION fnd_consensus_start(text, jsonb, text[], int, interval, boolean) IS
'Start a consensus round on topic: quorum accepts decide it (default a majority of participants; every participant when unanimous), it times out after timeout.  A participant that names a role is voted for by members of that role, any other by members of the starting role.  Replaces a decided round on the topic (FN104 if another role started it); FN003 while one is pending, FN607 when full';

CREATE FUNCTION fnd_consensus_vote(topic text, participant text, vote text)
RETURNS text
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_vote';
COMMENT ON FUNCTION fnd_consensus_vote(text, text, text) IS
'Cast participant''s vote (accept, reject or abstain, in any case) and return the round''s status after it (pending, accepted, rejected, timeout, cancelled); FN605 not a participant, FN104 the caller may not vote as it, FN606 already voted, FN003 unknown vote or topic';

CREATE FUNCTION fnd_consensus_result(topic text, wait interval DEFAULT '0')
RETURNS text
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_result';
COMMENT ON FUNCTION fnd_consensus_result(text, interval) IS
'The status of the round on topic (pending, accepted, rejected, timeout, cancelled), after sleeping up to wait for a decision; a topic no longer in shared memory answers from its latest consensus_decided event';

CREATE FUNCTION fnd_consensus_cancel(topic text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_cancel';
COMMENT ON FUNCTION fnd_consensus_cancel(text) IS
'Admin: decide the pending round on topic as cancelled, waking its waiters; the decision is recorded like any other.  False if the topic has no pending round';
REVOKE ALL ON FUNCTION fnd_consensus_cancel(text) FROM PUBLIC;

CREATE FUNCTION fnd_consensus_list(
    OUT topic text, OUT proposal jsonb, OUT participants text[],
    OUT votes jsonb, OUT accepts int, OUT rejects int, OUT abstains int,
    OUT quorum int, OUT unanimous boolean, OUT status text,
    OUT started_at timestamptz, OUT deadline timestamptz,
    OUT decided_at timestamptz, OUT waiting int)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_list';
COMMENT ON FUNCTION fnd_consensus_list() IS
'The consensus rounds of this database in shared memory (backs the fnd_consensus view)';

CREATE VIEW fnd_consensus AS
    SELECT topic, proposal, participants, votes, accepts, rejects, abstains,
           quorum, unanimous, status, started_at, deadline, decided_at, waiting
    FROM fnd_consensus_list();
COMMENT ON VIEW fnd_consensus IS
'Consensus rounds of this database in shared memory (decided and recorded rounds give way when room is needed): proposal, participants, votes so far, accepts needed (quorum), status, deadline, decision time and sessions waiting for the result';
GRANT SELECT ON fnd_consensus TO PUBLIC;

-- fnd_consensus_result() falls back to the latest decision of a topic
CREATE INDEX fnd_events_consensus_topic ON fnd_events ((data->>'topic'), id)
    WHERE type = 'consensus_decided';
