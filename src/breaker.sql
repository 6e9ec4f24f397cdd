-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- breaker: circuit breakers in shared memory, one set per database

CREATE FUNCTION fnd_cb_install(name text, tolerance int DEFAULT 5,
                               "window" interval DEFAULT '60 s',
                               reset_after interval DEFAULT '60 s',
                               half_open_calls int DEFAULT 1)
RETURNS void
AS 'MODULE_PATHNAME', 'fnd_cb_install'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_install(text, int, interval, interval, int) IS
'Create a closed circuit breaker, or change an existing one''s settings (state and counters are kept): tolerate tolerance failures within window, open on one more, half-open after reset_after with half_open_calls trial permits. Admin. FN203 when foundation.max_circuit_breakers are in use.';
REVOKE ALL ON FUNCTION fnd_cb_install(text, int, interval, interval, int) FROM PUBLIC;

CREATE FUNCTION fnd_cb_ask(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'fnd_cb_ask'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_ask(text) IS
'Ask a circuit breaker whether a call may go ahead: ''ok'' (when half-open this takes one of its trial permits) or ''blown''. FN202 if unknown.';

CREATE FUNCTION fnd_cb_melt(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'fnd_cb_melt'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_melt(text) IS
'Record a failed call; returns the breaker''s new state (closed, open or half_open). One failure more than the tolerance within the window opens it; a failure while half-open opens it again.';

CREATE FUNCTION fnd_cb_success(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'fnd_cb_success'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_success(text) IS
'Record a successful call; returns the breaker''s new state. A success while half-open closes the breaker.';

CREATE FUNCTION fnd_cb_execute(name text, query text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'fnd_cb_execute'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_execute(text, text) IS
'Run query through a circuit breaker, as the calling role, in a subtransaction; returns its rows as a jsonb array and records a success. FN201 (with the retry time) when open. A failing query is rolled back, melts the breaker and its error is re-raised with its own SQLSTATE and a context line naming the breaker.';

CREATE FUNCTION fnd_cb_status(name text)
RETURNS TABLE(state text, failures_in_window int, opened_at timestamptz,
              retry_at timestamptz, calls bigint, failures bigint,
              rejections bigint)
AS 'MODULE_PATHNAME', 'fnd_cb_status'
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1;
COMMENT ON FUNCTION fnd_cb_status(text) IS
'State of a circuit breaker (closed, open or half_open), failures in its window, when it last opened and when it retries, and its call, failure and rejection counters. FN202 if unknown.';

CREATE FUNCTION fnd_cb_reset(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'fnd_cb_reset'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_reset(text) IS
'Close a circuit breaker at once and forget its recent failures (counters are kept). Admin. FN202 if unknown.';
REVOKE ALL ON FUNCTION fnd_cb_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_cb_remove(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fnd_cb_remove'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_remove(text) IS
'Remove a circuit breaker; false if there was none. Admin.';
REVOKE ALL ON FUNCTION fnd_cb_remove(text) FROM PUBLIC;

CREATE FUNCTION fnd_cb_list(
    OUT name text, OUT state text, OUT failures_in_window int,
    OUT opened_at timestamptz, OUT retry_at timestamptz, OUT calls bigint,
    OUT failures bigint, OUT rejections bigint, OUT tolerance int,
    OUT "window" interval, OUT reset_after interval, OUT half_open_calls int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fnd_cb_list'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION fnd_cb_list() IS
'Every circuit breaker of this database with its settings, state and counters (the rows of the fnd_circuit_breakers view).';

CREATE VIEW fnd_circuit_breakers AS
    SELECT * FROM fnd_cb_list() ORDER BY name;
COMMENT ON VIEW fnd_circuit_breakers IS
'Every circuit breaker of this database: settings, state (closed, open, half_open), failures in the window, when it opened and retries, and counters.';
GRANT SELECT ON fnd_circuit_breakers TO PUBLIC;
