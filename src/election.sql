-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- election: leader election with leases and strictly increasing terms

CREATE FUNCTION fnd_elect_leader("group" text, candidate text,
                                 lease interval DEFAULT '10 s')
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_elect_leader';
COMMENT ON FUNCTION fnd_elect_leader(text, text, interval) IS
'Stand for leader of the group: true if candidate leads after the call (elected with a new, higher term if the group had no leader; a leader''s call renews its lease). With a lease the leadership belongs to the role and ends when the lease runs out; with lease NULL it belongs to the session and ends with it';

CREATE FUNCTION fnd_leader("group" text)
RETURNS TABLE(leader text, term bigint, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1
AS 'MODULE_PATHNAME', 'fnd_leader';
COMMENT ON FUNCTION fnd_leader(text) IS
'The group''s current leader, its term (terms strictly increase per database) and lease expiry (NULL for a session-owned leadership); no row if the group has no leader';

CREATE FUNCTION fnd_resign("group" text, candidate text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_resign';
COMMENT ON FUNCTION fnd_resign(text, text) IS
'End candidate''s leadership of the group at once: true if it led, false if it did not; FN104 if it leads for another session or role';

CREATE FUNCTION fnd_leaders_list(
    OUT "group" text, OUT leader text, OUT term bigint, OUT owner_pid int,
    OUT owner_role oid, OUT elected_at timestamptz,
    OUT lease_expires_at timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_leaders_list';
COMMENT ON FUNCTION fnd_leaders_list() IS
'Every group of this database that has a leader (backs the fnd_leaders view)';

CREATE VIEW fnd_leaders AS
    SELECT l."group", l.leader, l.term, l.owner_pid,
           r.rolname AS owner_role, l.elected_at, l.lease_expires_at
    FROM fnd_leaders_list() l LEFT JOIN pg_catalog.pg_roles r ON r.oid = l.owner_role;
COMMENT ON VIEW fnd_leaders IS
'Leaders of this database: group, leader, term, owning session (NULL once a leased leadership''s session has ended), owning role, when elected, lease expiry (NULL when owned by a session)';
GRANT SELECT ON fnd_leaders TO PUBLIC;
