-- telemetry: counters, gauges, histograms, tags, drops, emit, reset, Prometheus
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY sqlstate
SELECT fnd_metrics_reset() >= 0 AS reset_all;

-- counters: default 1, any non-negative amount
SELECT fnd_metric_increment('tt.requests');
SELECT fnd_metric_increment('tt.requests');
SELECT fnd_metric_increment('tt.requests', 2.5);
SELECT name, tags, kind, count, sum, min, max, last, mean, p50, updated_at IS NOT NULL AS stamped
FROM fnd_metrics WHERE name = 'tt.requests';

-- named arguments
SELECT fnd_metric_increment(name => 'tt.named', by => 2, tags => '{"a": "b"}');
SELECT fnd_metric_observe(value => 3, name => 'tt.named_h');
SELECT name, tags, sum FROM fnd_metrics WHERE name LIKE 'tt.named%' ORDER BY name;

-- tags make separate series; key order does not matter
SELECT fnd_metric_increment('tt.hits', 1, '{"route": "/a", "code": 200}');
SELECT fnd_metric_increment('tt.hits', 1, '{"code": 200, "route": "/a"}');
SELECT fnd_metric_increment('tt.hits', 5, '{"route": "/b", "code": 200}');
SELECT fnd_metric_increment('tt.hits');
SELECT name, tags, count, sum FROM fnd_metrics WHERE name = 'tt.hits' ORDER BY tags::text;

-- gauges: last value wins; min, max and mean of what was set
SELECT fnd_metric_gauge('tt.queue', 10);
SELECT fnd_metric_gauge('tt.queue', -4);
SELECT fnd_metric_gauge('tt.queue', 7);
SELECT fnd_metric_gauge('tt.queue', 3, '{"shard": 1}');
SELECT name, tags, kind, count, sum, min, max, last, mean, p99
FROM fnd_metrics WHERE name = 'tt.queue' ORDER BY tags::text;

-- histograms: exact count/sum/min/max, quantiles within 1%
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.latency', g) FROM generate_series(1, 1000) g) s;
SELECT kind, count, sum, min, max, last, mean,
       abs(p50 - 500) / 500 <= 0.01 AS p50_ok,
       abs(p90 - 900) / 900 <= 0.01 AS p90_ok,
       abs(p95 - 950) / 950 <= 0.01 AS p95_ok,
       abs(p99 - 990) / 990 <= 0.01 AS p99_ok
FROM fnd_metrics WHERE name = 'tt.latency';
-- zero and negative values
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.delta', v)
FROM unnest(ARRAY[-100, -10, 0, 0, 0, 10, 100, 1000, 1000, 1000]::float8[]) v) s;
SELECT count, min, max, p50, abs(p90 - 1000) / 1000 <= 0.01 AS p90_ok
FROM fnd_metrics WHERE name = 'tt.delta';
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.delta2', v)
FROM unnest(ARRAY[-100, -10, -10, 0, 10]::float8[]) v) s;
SELECT abs(p50 - -10) / 10 <= 0.01 AS p50_ok, p90, abs(p95 - 10) / 10 <= 0.01 AS p95_ok
FROM fnd_metrics WHERE name = 'tt.delta2';
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.neg', v) FROM generate_series(-1000, -1) v) s;
SELECT count, min, max, abs(p50 - -500) / 500 <= 0.01 AS p50_ok,
       abs(p99 - -11) / 11 <= 0.01 AS p99_ok
FROM fnd_metrics WHERE name = 'tt.neg';
-- one value far out of range: the lowest buckets merge, the top stays exact
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.wide', v) FROM (VALUES (1e-12), (1e12), (5e11)) s(v)) s;
SELECT count, min, max, abs(p99 - 1e12) / 1e12 <= 0.01 AS p99_ok FROM fnd_metrics WHERE name = 'tt.wide';

-- never fails its caller: each of these is dropped and counted, no error
SELECT fnd_metric_increment('tt.big', 1e308);
SET client_min_messages = error;
CREATE TEMP TABLE dropped0 AS SELECT sum AS n FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped';
SELECT fnd_metric_increment('tt.bad', 1, '[1, 2]');             -- not an object
SELECT fnd_metric_increment('tt.bad', 1, '{"a": {"b": 1}}');    -- nested
SELECT fnd_metric_increment('tt.bad', 1, '{"a": [1]}');         -- array value
SELECT fnd_metric_increment('tt.bad', 1, '"scalar"');           -- scalar
SELECT fnd_metric_increment('tt.bad', 'NaN');
SELECT fnd_metric_gauge('tt.bad', 'Infinity');
SELECT fnd_metric_observe('tt.bad', '-Infinity');
SELECT fnd_metric_increment('tt.bad', -1);                      -- counters only go up
SELECT fnd_metric_increment(NULL);
SELECT fnd_metric_increment('');
SELECT fnd_metric_increment(repeat('x', 201));
SELECT fnd_metric_gauge('tt.bad', NULL);
SELECT fnd_metric_increment('tt.queue');                        -- a gauge already
SELECT fnd_metric_observe('tt.requests', 1);                    -- a counter already
SELECT fnd_metric_increment('foundation.telemetry.dropped');    -- reserved
SELECT fnd_metric_increment('tt.bad', 1, jsonb_build_object('k', repeat('v', 300))); -- tags too long
SELECT fnd_metric_increment('tt.big', 1e308);                   -- would overflow to +Inf
RESET client_min_messages;
SELECT (SELECT sum FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped') - n AS dropped_now
FROM dropped0;
SELECT count(*) AS bad_series FROM fnd_metrics WHERE name = 'tt.bad';
SELECT count, sum FROM fnd_metrics WHERE name = 'tt.queue' AND tags = '{}';
-- the counter that would have overflowed keeps its value and keeps counting
SELECT count, sum FROM fnd_metrics WHERE name = 'tt.big';
SELECT fnd_metric_increment('tt.big', 1e307);
SELECT count, sum FROM fnd_metrics WHERE name = 'tt.big';
-- a gauge's or a histogram's values are kept when their sum overflows
SELECT fnd_metric_gauge('tt.big_g', 1e308), fnd_metric_gauge('tt.big_g', 1e308);
SELECT fnd_metric_observe('tt.big_h', 1.7e308), fnd_metric_observe('tt.big_h', 1.7e308);
SELECT name, count, sum, last, mean, abs(p99 - 1.7e308) / 1.7e308 <= 0.01 AS p99_ok
FROM fnd_metrics WHERE name LIKE 'tt.big\__' ORDER BY name;
-- a 200-byte name and NULL tags are fine
SELECT fnd_metric_increment(repeat('y', 200), 1, NULL);
SELECT count FROM fnd_metrics WHERE name = repeat('y', 200);

-- fnd_telemetry_emit: each kind, metadata as tags
SELECT fnd_telemetry_emit('tt.job', '{"counter": 3}', '{"queue": "mail"}');
SELECT fnd_telemetry_emit('tt.job', '{"counter": 2}', '{"queue": "mail"}');
SELECT fnd_telemetry_emit('tt.job_depth', '{"gauge": 42}');
SELECT fnd_telemetry_emit('tt.job_ms', '{"histogram": 12.5}', '{"queue": "mail"}');
SELECT fnd_telemetry_emit('tt.job_ms', '{"histogram": 37.5}', '{"queue": "mail"}');
SELECT name, tags, kind, count, sum, last FROM fnd_metrics
WHERE name LIKE 'tt.job%' ORDER BY name;
-- unknown kinds are FN501, and nothing of that call is recorded
SELECT fnd_telemetry_emit('tt.job_x', '{"gauge": 1, "timer": 5}');
SELECT fnd_telemetry_emit('tt.job_x', '[1]');
SELECT fnd_telemetry_emit('tt.job_x', '5');
\set VERBOSITY terse
DO $$
BEGIN
    PERFORM fnd_telemetry_emit('tt.job_x', '{"meter": 1}');
EXCEPTION WHEN SQLSTATE 'FN501' THEN
    RAISE NOTICE 'caught % (%)', SQLSTATE, SQLERRM;
END $$;
\set VERBOSITY sqlstate
SELECT count(*) AS job_x_series FROM fnd_metrics WHERE name = 'tt.job_x';
SELECT fnd_telemetry_emit('tt.job_y', '{}');   -- nothing to record
SELECT count(*) AS job_y_series FROM fnd_metrics WHERE name = 'tt.job_y';

-- Prometheus text format, parsed back
SELECT fnd_metric_increment('tt.http-requests', 4, '{"path": "/a\"b\\c", "9x": "n\nl", "__meta": "m"}');
SELECT fnd_metric_observe('9tt.size', 100, '{"quantile": "q"}');
-- names and label names that sanitise alike: the output stays valid
SELECT fnd_metric_increment('tt.clash');
SELECT fnd_metric_gauge('tt_clash', 5);
SELECT fnd_metric_increment('tt.labels', 1, '{"a.b": 1, "a_b": 2}');
-- a summary and a counter named like its _count; a series with no labels
-- and ones with empty labels; tags that become equal labels; tag names
-- that are not ASCII or are reserved
SELECT fnd_metric_observe('tt.h', 1);
SELECT fnd_metric_increment('tt.h_count', 3);
SELECT fnd_metric_increment('tt.c', 1);
SELECT fnd_metric_increment('tt.c', 2, '{"a": ""}');
SELECT fnd_metric_increment('tt.c', 4, '{"a": null}');
SELECT fnd_metric_increment('tt.c', 8, '{"a": "x"}');
SELECT fnd_metric_increment('tt.ab', 1, '{"a.b": 1}');
SELECT fnd_metric_increment('tt.ab', 2, '{"a_b": 1}');
SELECT fnd_metric_increment('tt.ab', 4, '{"a_b": "1"}');
SELECT fnd_metric_gauge('tt.u', 1, '{"é": "x", "ü": "y", "__": "z", "tag___": "w", "quantile": 1}');
CREATE TEMP TABLE prom AS
SELECT line, n FROM regexp_split_to_table(fnd_metrics_prometheus(), E'\n') WITH ORDINALITY s(line, n)
WHERE line <> '';
-- every line is a comment or a well-formed sample
SELECT count(*) FILTER (WHERE line !~ '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* '
         AND line !~ '^# foundation: left out '
         AND line !~ '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfNa]+$') AS malformed,
       count(*) FILTER (WHERE line ~ '^# TYPE') = count(DISTINCT substring(line from '^# TYPE (\S+)')) AS one_type_per_name
FROM prom;
SELECT line FROM prom WHERE line ~ '^# TYPE tt_' OR line ~ '^# TYPE _9tt' ORDER BY line;
SELECT line FROM prom WHERE line ~ '^(tt_|_9tt_)' ORDER BY line;
SELECT line FROM prom WHERE line ~ 'tt_clash|tt_labels' ORDER BY n;
SELECT line FROM prom WHERE line ~ '(tt_h|tt_c|tt_ab|tt_u)\M|left out' ORDER BY n;
-- no label name is reserved, and every series left out is reported
SELECT count(*) FILTER (WHERE line ~ '[{,]__') AS reserved_labels,
       count(*) FILTER (WHERE line ~ '^# foundation: left out ') AS left_out
FROM prom;
-- the values read back equal the view's
WITH s AS (
    SELECT substring(line from '^(\S+?)(?:\{|\s)') AS metric,
           substring(line from '\{(.*)\}') AS labels,
           substring(line from ' (\S+)$')::float8 AS value
    FROM prom WHERE line !~ '^#')
SELECT (SELECT value FROM s WHERE metric = 'tt_requests') = (SELECT sum FROM fnd_metrics WHERE name = 'tt.requests') AS counter_ok,
       (SELECT value FROM s WHERE metric = 'tt_queue' AND labels IS NULL) = 7 AS gauge_ok,
       (SELECT value FROM s WHERE metric = 'tt_latency_count') = 1000 AS count_ok,
       (SELECT value FROM s WHERE metric = 'tt_latency_sum') = 500500 AS sum_ok,
       (SELECT value FROM s WHERE metric = 'tt_latency' AND labels = 'quantile="0.99"') = (SELECT p99 FROM fnd_metrics WHERE name = 'tt.latency') AS quantile_ok,
       (SELECT value FROM s WHERE metric = 'foundation_telemetry_dropped') = (SELECT sum FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped') AS dropped_ok;

-- reset: by name, then everything; admin only
SELECT fnd_metrics_reset('tt.hits') AS removed;
SELECT count(*) FROM fnd_metrics WHERE name = 'tt.hits';
SELECT fnd_metric_increment('tt.hits');
SELECT count, sum FROM fnd_metrics WHERE name = 'tt.hits';
SELECT fnd_metrics_reset('');
SELECT fnd_metrics_reset() > 10 AS removed_all;
SELECT name, sum FROM fnd_metrics;
SELECT has_function_privilege('public', 'fnd_metrics_reset(text)', 'execute') AS public_may_reset,
       has_function_privilege('public', 'fnd_metric_increment(text, float8, jsonb)', 'execute') AS public_may_record,
       has_function_privilege('public', 'fnd_metrics_prometheus()', 'execute') AS public_may_scrape;
CREATE ROLE regress_fnd_tel_user;
SET ROLE regress_fnd_tel_user;
SELECT fnd_metric_increment('tt.by_user');
SELECT name, count FROM fnd_metrics WHERE name = 'tt.by_user';
SELECT fnd_metrics_prometheus() LIKE '%tt_by_user 1%' AS scraped;
SELECT fnd_metrics_reset();
RESET ROLE;
DROP ROLE regress_fnd_tel_user;
SELECT fnd_metrics_reset() AS removed;
