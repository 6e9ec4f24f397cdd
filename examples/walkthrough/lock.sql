-- Locks with fencing tokens, and leader election.
-- Everything here belongs to this session and is released at the end.
\echo '== locks: acquire returns a fencing token (NULL if busy)'
SELECT fnd_lock_acquire('walkthrough.report') AS token \gset
SELECT :token > 0 AS got_token;
\echo '   re-acquiring a lock you hold returns the same token'
SELECT fnd_lock_acquire('walkthrough.report') = :token AS same_token;
SELECT name, owner_pid = pg_backend_pid() AS mine, lease_expires_at, waiters
FROM fnd_locks WHERE name LIKE 'walkthrough.%';

\echo '== a write guarded by the token: stale holders change nothing'
CREATE TEMP TABLE walkthrough_report (id int PRIMARY KEY, body text, fence bigint);
INSERT INTO walkthrough_report VALUES (1, 'draft', 0);
UPDATE walkthrough_report SET body = 'final', fence = :token
WHERE id = 1 AND fence < :token;
UPDATE walkthrough_report SET body = 'stale write', fence = :token - 1
WHERE id = 1 AND fence < :token - 1;
SELECT body FROM walkthrough_report;
SELECT fnd_lock_release('walkthrough.report', :token) AS released;
DROP TABLE walkthrough_report;

\echo '== a leased lock: renew it, or it lapses'
SELECT fnd_lock_acquire('walkthrough.leased', '0', '30 s') AS lt \gset
SELECT fnd_lock_renew('walkthrough.leased', :lt) > now() AS renewed;
SELECT fnd_lock_release('walkthrough.leased', :lt) AS released;

\echo '== errors you may meet'
DO $$
BEGIN
    PERFORM fnd_lock_release('walkthrough.report', 1);
    PERFORM fnd_lock_acquire('walkthrough.report');
    PERFORM fnd_lock_renew('walkthrough.report', -1);
EXCEPTION WHEN SQLSTATE 'FN602' THEN
    RAISE NOTICE 'FN602 not_lock_holder: %', SQLERRM;
END $$;
SELECT fnd_lock_release('walkthrough.report');
DO $$
BEGIN
    PERFORM fnd_lock_acquire('');
EXCEPTION WHEN SQLSTATE 'FN003' THEN
    RAISE NOTICE 'FN003 invalid_argument: %', SQLERRM;
END $$;

\echo '== leader election: one leader per group, terms only grow'
SELECT fnd_elect_leader('walkthrough.group', 'alice', NULL) AS alice_leads;
SELECT fnd_elect_leader('walkthrough.group', 'bob', NULL) AS bob_leads;
SELECT leader, term > 0 AS has_term FROM fnd_leader('walkthrough.group');
SELECT term AS t1 FROM fnd_leader('walkthrough.group') \gset
SELECT fnd_resign('walkthrough.group', 'alice') AS alice_resigned;
SELECT fnd_elect_leader('walkthrough.group', 'bob', NULL) AS bob_leads;
SELECT leader, term > :t1 AS higher_term FROM fnd_leader('walkthrough.group');
SELECT fnd_resign('walkthrough.group', 'bob') AS bob_resigned;
