-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- core: error catalog and services

CREATE FUNCTION fnd_error_codes_list(
    OUT code text, OUT name text, OUT subsystem text, OUT since text,
    OUT meaning text)
RETURNS SETOF record
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_error_codes_list';
COMMENT ON FUNCTION fnd_error_codes_list() IS
'Every SQLSTATE of class FN, raised or reserved (backs the fnd_error_codes view)';

CREATE VIEW fnd_error_codes AS
    SELECT code, name, subsystem, since, meaning FROM fnd_error_codes_list();
COMMENT ON VIEW fnd_error_codes IS
'Every SQLSTATE of class FN: code, name, subsystem, the version from which foundation raises it (NULL: reserved, raised by no version yet) and meaning';
GRANT SELECT ON fnd_error_codes TO PUBLIC;

CREATE FUNCTION fnd_services(
    all_databases boolean DEFAULT false,
    OUT database text, OUT name text, OUT phase int, OUT depends_on text,
    OUT state text, OUT last_run timestamptz, OUT last_error text,
    OUT runs bigint, OUT detail text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_services';
COMMENT ON FUNCTION fnd_services(boolean) IS
'The supervisor''s services in run order: cluster-wide ones (database NULL) and this database''s table services (all_databases: every database''s), with state (running, disabled, failed, skipped, waiting), last run, last error, passes run and progress detail';

CREATE FUNCTION fnd_database_workers_list(
    OUT datname name, OUT pid int, OUT state text, OUT started_at timestamptz,
    OUT restarts int, OUT last_error text, OUT detail text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_database_workers_list';
COMMENT ON FUNCTION fnd_database_workers_list() IS
'The supervisor''s picture of every database (backs the fnd_database_workers view)';

CREATE VIEW fnd_database_workers AS
    SELECT datname, pid, state, started_at, restarts, last_error, detail
    FROM fnd_database_workers_list();
COMMENT ON VIEW fnd_database_workers IS
'One row per database the supervisor knows: its worker''s pid, state (running, starting, waiting, restarting, no extension, stepping aside, standby, unchecked), start, restarts, last error and why';
GRANT SELECT ON fnd_database_workers TO PUBLIC;
