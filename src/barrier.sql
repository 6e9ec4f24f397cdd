-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- barrier: cyclic barriers in shared memory (docs/coordination.md)

CREATE FUNCTION fnd_barrier_create(name text, parties int)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_create';
COMMENT ON FUNCTION fnd_barrier_create(text, int) IS
'Create a cyclic barrier of parties sessions in this database; does nothing if it exists with the same parties (FN003 with other parties, FN607 when full)';

CREATE FUNCTION fnd_barrier_arrive(name text)
RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_arrive';
COMMENT ON FUNCTION fnd_barrier_arrive(text) IS
'Count this session once in the barrier''s current generation (arriving again in the same generation counts nothing) and return the arrivals still missing (0: this arrival tripped it); withdrawn if the session ends before the barrier trips';

CREATE FUNCTION fnd_barrier_arrive(name text, party text)
RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_arrive_party';
COMMENT ON FUNCTION fnd_barrier_arrive(text, text) IS
'Count one of the parties this session stands for: each party id counts once per generation (ids are this session''s own); returns the arrivals still missing; withdrawn if the session ends before the barrier trips';

CREATE FUNCTION fnd_barrier_wait(name text, timeout interval DEFAULT '10 s')
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_wait';
COMMENT ON FUNCTION fnd_barrier_wait(text, interval) IS
'Sleep until the generation of this session''s last arrival has tripped (without an arrival: the current generation) and return that generation; FN603 after timeout, with the arrival count in the detail';

CREATE FUNCTION fnd_barrier_sync(name text, parties int, timeout interval DEFAULT '10 s')
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_sync';
COMMENT ON FUNCTION fnd_barrier_sync(text, int, interval) IS
'Create the barrier if absent, arrive (unless this session has already arrived in the current generation) and wait; returns the generation that tripped.  On FN603 or cancel the arrival it made is withdrawn, so a retry does not count twice';

CREATE FUNCTION fnd_barrier_remove(name text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_remove';
COMMENT ON FUNCTION fnd_barrier_remove(text) IS
'Remove a barrier (false if absent); only members of its creating role may (FN104), and not while sessions wait on it (FN003)';

CREATE FUNCTION fnd_barriers_list(
    OUT name text, OUT parties int, OUT arrived int, OUT generation bigint,
    OUT waiting int, OUT owner_role name, OUT created_at timestamptz,
    OUT last_tripped_at timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barriers_list';
COMMENT ON FUNCTION fnd_barriers_list() IS
'The barriers of this database (backs the fnd_barriers view)';

CREATE VIEW fnd_barriers AS
    SELECT name, parties, arrived, generation, waiting, owner_role,
           created_at, last_tripped_at
    FROM fnd_barriers_list();
COMMENT ON VIEW fnd_barriers IS
'Barriers of this database: parties, arrivals in the current generation, the generation being filled (1 before the first trip), sessions waiting, creator, creation and last trip time';
GRANT SELECT ON fnd_barriers TO PUBLIC;
