-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- ratelimit: smooth (GCRA) rate limiting in shared memory, one set per database

CREATE FUNCTION fnd_rate_check(bucket text, "limit" int, per interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fnd_rate_check'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_rate_check(text, int, interval) IS
'One hit against a rate-limit bucket: true, and counted, if it stays within limit hits per period (GCRA: a burst of limit, then one every per/limit); false, and not counted, otherwise. The bucket appears on first use.';

CREATE FUNCTION fnd_rate_require(bucket text, "limit" int, per interval)
RETURNS void
AS 'MODULE_PATHNAME', 'fnd_rate_require'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_rate_require(text, int, interval) IS
'Like fnd_rate_check, but raises FN901 (rate_limited) with the retry interval in the detail instead of returning false.';

CREATE FUNCTION fnd_rate_status(bucket text)
RETURNS TABLE(hits_in_window double precision, "limit" int, per interval,
              retry_after interval)
AS 'MODULE_PATHNAME', 'fnd_rate_status'
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1;
COMMENT ON FUNCTION fnd_rate_status(text) IS
'A rate-limit bucket''s hits in its window (the drained level, fractional), its last limit and period, and how long until one more hit is allowed; no row for an unknown bucket.';

CREATE FUNCTION fnd_rate_reset(bucket text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fnd_rate_reset'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_rate_reset(text) IS
'Forget a rate-limit bucket (its next hit starts from empty); false if there was none. Admin.';
REVOKE ALL ON FUNCTION fnd_rate_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_rate_list(
    OUT bucket text, OUT hits_in_window double precision, OUT "limit" int,
    OUT per interval, OUT retry_after interval, OUT allowed bigint,
    OUT rejected bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fnd_rate_list'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION fnd_rate_list() IS
'Every rate-limit bucket of this database (the rows of the fnd_rate_limits view).';

CREATE VIEW fnd_rate_limits AS
    SELECT * FROM fnd_rate_list() ORDER BY bucket;
COMMENT ON VIEW fnd_rate_limits IS
'Every rate-limit bucket of this database: hits in the window, last limit and period, time until the next hit is allowed, allowed and rejected counters.';
GRANT SELECT ON fnd_rate_limits TO PUBLIC;
