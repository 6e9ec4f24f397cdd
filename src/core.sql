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
    OUT name text, OUT phase int, OUT depends_on text, OUT state text,
    OUT last_run timestamptz, OUT last_error text, OUT runs bigint,
    OUT detail text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_services';
COMMENT ON FUNCTION fnd_services() IS
'The supervisor''s services in phase order: state (running, disabled, failed), last run, last error, passes run and progress detail';
