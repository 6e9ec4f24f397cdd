-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- telemetry: shared-memory counters, gauges and histograms (docs/telemetry.md)

CREATE FUNCTION fnd_metric_increment(name text, "by" double precision DEFAULT 1,
                                     tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metric_increment';
COMMENT ON FUNCTION fnd_metric_increment(text, double precision, jsonb) IS
'Add "by" (default 1, must not be negative) to the counter name with these tags (a flat JSON object). Never fails: a measurement that cannot be kept is counted in foundation.telemetry.dropped.';

CREATE FUNCTION fnd_metric_gauge(name text, value double precision,
                                 tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metric_gauge';
COMMENT ON FUNCTION fnd_metric_gauge(text, double precision, jsonb) IS
'Set the gauge name with these tags to value (count, sum, min, max and mean of the values set are kept too). Never fails: drops are counted in foundation.telemetry.dropped.';

CREATE FUNCTION fnd_metric_observe(name text, value double precision,
                                   tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metric_observe';
COMMENT ON FUNCTION fnd_metric_observe(text, double precision, jsonb) IS
'Record value in the histogram name with these tags: count, sum, min, max, mean and p50/p90/p95/p99 within 1% relative error. Never fails: drops are counted in foundation.telemetry.dropped.';

CREATE FUNCTION fnd_telemetry_emit(event text, measurements jsonb,
                                   metadata jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_telemetry_emit';
COMMENT ON FUNCTION fnd_telemetry_emit(text, jsonb, jsonb) IS
'Record measurements on the metric named event, metadata being its tags: {"counter": n} adds n, {"gauge": v} sets v, {"histogram": v} observes v. An unknown kind raises FN501 (invalid_metric), before anything is recorded.';

CREATE FUNCTION fnd_metrics_list(
    OUT name text, OUT tags jsonb, OUT kind text, OUT count bigint,
    OUT sum double precision, OUT min double precision, OUT max double precision,
    OUT last double precision, OUT mean double precision,
    OUT p50 double precision, OUT p90 double precision,
    OUT p95 double precision, OUT p99 double precision,
    OUT updated_at timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'fnd_metrics_list';
COMMENT ON FUNCTION fnd_metrics_list() IS
'The rows of the fnd_metrics view: every metric series of the current database, plus the server-wide foundation.telemetry.dropped counter.';

CREATE VIEW fnd_metrics AS
    SELECT name, tags, kind, count, sum, min, max, last, mean,
           p50, p90, p95, p99, updated_at
    FROM fnd_metrics_list();
COMMENT ON VIEW fnd_metrics IS
'Metric series of the current database: kind (counter, gauge, histogram), count of measurements, sum, min, max, last value (a counter''s value), mean, p50..p99 (histograms, within 1% relative error) and the time of the last update. foundation.telemetry.dropped counts measurements that could not be kept.';
GRANT SELECT ON fnd_metrics TO PUBLIC;

CREATE FUNCTION fnd_metrics_reset(name text DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metrics_reset';
COMMENT ON FUNCTION fnd_metrics_reset(text) IS
'Remove the metric series of the current database named name (all of them when NULL; resetting all, or foundation.telemetry.dropped, zeroes the dropped counter). Returns the number of series removed. Administrative.';
REVOKE ALL ON FUNCTION fnd_metrics_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_metrics_prometheus()
RETURNS text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'fnd_metrics_prometheus';
COMMENT ON FUNCTION fnd_metrics_prometheus() IS
'The current database''s metrics in the Prometheus text exposition format (0.0.4): counters, gauges, and histograms as summaries with quantile labels, _sum and _count. Names are sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*, tag names to label names that are valid and unique; a series that cannot appear (names or labels that sanitise alike) is reported by a "# foundation: left out" comment line.';
