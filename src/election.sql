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
'End candidate''s leadership of the group at once: true if it led, false if it did not; FN602 if it leads for another session or role';
