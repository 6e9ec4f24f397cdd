-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- lock: named locks with fencing tokens, FIFO waiters and leases

-- Fencing tokens and election terms are backed by sequences, not only by
-- shared memory: each nextval reserves a block of 1024 tokens (INCREMENT BY
-- must equal FND_TOKEN_BLOCK in src/lock.h) that backends hand out in order
-- from shared memory.  A sequence is WAL-logged before its values are used
-- (and the C code flushes that WAL before a token of the block leaves the
-- server), so after a crash or restart it resumes above every block
-- reserved, and it replicates, so a promoted standby continues above the
-- old primary (given synchronous replication).  Only the extension's C
-- functions call nextval on them.
CREATE SEQUENCE fnd_fencing_seq INCREMENT BY 1024;
COMMENT ON SEQUENCE fnd_fencing_seq IS
'Reserves blocks of 1024 lock fencing tokens (used by fnd_lock_acquire only; never alter or reset it)';
CREATE SEQUENCE fnd_term_seq INCREMENT BY 1024;
COMMENT ON SEQUENCE fnd_term_seq IS
'Reserves blocks of 1024 election terms (used by fnd_elect_leader only; never alter or reset it)';
REVOKE ALL ON SEQUENCE fnd_fencing_seq, fnd_term_seq FROM PUBLIC;
-- pg_dump keeps their position, so a restored database continues above
-- every token and term handed out before the dump
SELECT pg_catalog.pg_extension_config_dump('fnd_fencing_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fnd_term_seq', '');

CREATE FUNCTION fnd_lock_acquire(name text, wait interval DEFAULT '0',
                                 lease interval DEFAULT NULL)
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_lock_acquire';
COMMENT ON FUNCTION fnd_lock_acquire(text, interval, interval) IS
'Acquire the named lock, waiting up to wait (''0'' tries once; waiters are served first come, first served); returns a fencing token that strictly increases per database, or NULL if not acquired in time. Without a lease the lock belongs to the session; with one to the role, until the lease runs out. Re-acquiring a lock the session holds returns the same token';

CREATE FUNCTION fnd_lock_release(name text, token bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_lock_release';
COMMENT ON FUNCTION fnd_lock_release(text, bigint) IS
'Release the named lock and hand it to the next waiter: true if released, false if nobody held it; FN602 if someone else holds it: another session (token NULL), another token, or a role the caller may not act for';

CREATE FUNCTION fnd_lock_renew(name text, token bigint)
RETURNS timestamptz
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_lock_renew';
COMMENT ON FUNCTION fnd_lock_renew(text, bigint) IS
'Restart the lease of a lock held with this fencing token and return the new expiry (NULL for a session-owned lock, which has no lease); FN602 if the lock is no longer held with this token';

CREATE FUNCTION fnd_locks_list(
    OUT name text, OUT token bigint, OUT owner_pid int, OUT owner_role name,
    OUT acquired_at timestamptz, OUT lease_expires_at timestamptz,
    OUT waiters int)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_locks_list';
COMMENT ON FUNCTION fnd_locks_list() IS
'The locks held in this database (backs the fnd_locks view)';

CREATE VIEW fnd_locks AS
    SELECT name, token, owner_pid, owner_role, acquired_at, lease_expires_at,
           waiters
    FROM fnd_locks_list();
COMMENT ON VIEW fnd_locks IS
'Locks held in this database: name, fencing token (NULL for an instant while it is being issued), owner_pid (NULL for a leased lock whose session ended), owner_role, acquired_at, lease_expires_at (NULL without a lease) and the number of waiters';
GRANT SELECT ON fnd_locks TO PUBLIC;
