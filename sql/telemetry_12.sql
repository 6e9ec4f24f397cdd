-- telemetry_12 (1.2): agent metrics, aggregation across agents with merged
-- sketches, metric history and rates
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
-- the supervisor's snapshots would add rows under the test: off while it runs
ALTER SYSTEM SET foundation.metric_history_interval = 0;
ALTER SYSTEM SET foundation.metric_history_retention = 0;
SELECT pg_reload_conf();
DO $$
BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN (SELECT state FROM fnd_services() WHERE name = 'metric_history') = 'disabled';
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT state FROM fnd_services() WHERE name = 'metric_history';
SELECT fnd_metrics_reset(n) FROM unnest('{t12.cpu,t12.req,t12.lat,t12.mix,t12.hist}'::text[]) n;
DELETE FROM fnd_metric_history WHERE name LIKE 't12.%';

-- recording: the series is name{tags, agent_id}; kinds as in 1.0
SELECT fnd_record_agent_metric('a1', 't12.cpu', 0.5);
SELECT fnd_record_agent_metric('a1', 't12.cpu', 0.7);
SELECT fnd_record_agent_metric('a2', 't12.cpu', 0.2, 'gauge', '{"zone": "eu"}');
SELECT fnd_record_agent_metric('a1', 't12.req', 3, 'counter');
SELECT fnd_record_agent_metric('a1', 't12.req', 4, 'counter');
SELECT fnd_record_agent_metric('a1', 't12.lat', 10, 'histogram');
SELECT fnd_record_agent_metric('a1', 't12.lat', 20, 'histogram');
-- a tag named agent_id is the argument's
SELECT fnd_record_agent_metric('a3', 't12.cpu', 0.9, 'gauge', '{"agent_id": "other"}');
-- an unknown agent is allowed, and the series is in fnd_metrics
SELECT name, tags, kind, count, sum, last FROM fnd_metrics WHERE name LIKE 't12.%' ORDER BY name, tags::text;
SELECT agent_id, name, tags, kind, count, last, p50 FROM fnd_agent_metrics WHERE name LIKE 't12.%' ORDER BY agent_id, name;
SELECT name, tags, kind, last FROM fnd_get_agent_metrics('a1') WHERE name LIKE 't12.%';
SELECT count(*) FROM fnd_get_agent_metrics('nobody');
-- and in the Prometheus text, as a label
SELECT line FROM regexp_split_to_table(fnd_metrics_prometheus(), E'\n') line
WHERE line LIKE 't12_cpu%' ORDER BY line;

-- bad words raise FN501; a bad agent id FN003; the rest are counted drops
SELECT fnd_record_agent_metric('a1', 't12.cpu', 1, 'meter');
SELECT fnd_record_agent_metric('a1', 't12.cpu', 1, NULL);
SELECT fnd_record_agent_metric(NULL, 't12.cpu', 1);
SELECT fnd_record_agent_metric('', 't12.cpu', 1);
SELECT fnd_record_agent_metric(repeat('x', 201), 't12.cpu', 1);
SELECT last AS dropped_before FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped' \gset
SET client_min_messages = error;
SELECT fnd_record_agent_metric('a1', 't12.cpu', NULL);
SELECT fnd_record_agent_metric('a1', NULL, 1);
SELECT fnd_record_agent_metric('a1', 't12.cpu', 'NaN');
SELECT fnd_record_agent_metric('a1', 't12.cpu', 1, 'counter');
SELECT fnd_record_agent_metric('a1', 't12.req', -1, 'counter');
SELECT fnd_record_agent_metric('a1', 't12.cpu', 1, 'gauge', '{"nested": {"a": 1}}');
SELECT fnd_record_agent_metric('a1', 't12.cpu', 1, 'gauge', '[1]');
RESET client_min_messages;
SELECT last - :dropped_before AS dropped FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped';
SELECT last FROM fnd_agent_metrics WHERE agent_id = 'a1' AND name = 't12.cpu';

-- aggregation: counters and gauges by their current values (the sum in
-- the order the table is read: rounded)
SELECT series, count, round(sum::numeric, 9) AS sum, min, max, round(mean::numeric, 9) AS mean,
       p50, p90, p95, p99
FROM fnd_metric_aggregate('t12.cpu');
SELECT * FROM fnd_metric_aggregate('t12.cpu', '{"zone": "eu"}');
SELECT * FROM fnd_metric_aggregate('t12.req');
SELECT * FROM fnd_metric_aggregate('t12.nothing');
SELECT fnd_record_agent_metric('a1', 't12.mix', 1, 'counter');
SELECT fnd_record_agent_metric('a2', 't12.mix', 1, 'gauge');
SELECT * FROM fnd_metric_aggregate('t12.mix');
SELECT series FROM fnd_metric_aggregate('t12.mix', '{"agent_id": "a2"}');
SELECT * FROM fnd_metric_aggregate('t12.cpu', '[1]');
SELECT * FROM fnd_metric_aggregate(NULL);

-- histograms: quantiles of the merged sketches within 1% of the exact
-- percentiles of every value, each agent holding another decade (so an
-- average of per-agent quantiles would be far off)
CREATE TEMP TABLE t12_values AS
SELECT 'h' || (i % 4) AS agent,
       ((i * 7919) % 1000 + 1) * power(10, i % 4) / 10.0 AS v
FROM generate_series(1, 100000) i;
SELECT count(fnd_record_agent_metric(agent, 't12.hist', v, 'histogram')) FROM t12_values;
WITH agg AS (SELECT * FROM fnd_metric_aggregate('t12.hist')),
exact AS (
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY v) AS p50,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY v) AS p90,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY v) AS p95,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY v) AS p99,
           min(v) AS min, max(v) AS max, sum(v) AS sum
    FROM t12_values)
SELECT agg.series, agg.count, agg.min = exact.min AS min_exact,
       agg.max = exact.max AS max_exact,
       abs(agg.sum - exact.sum) / exact.sum < 1e-9 AS sum_exact,
       abs(agg.p50 - exact.p50) / exact.p50 <= 0.01 AS p50_1pct,
       abs(agg.p90 - exact.p90) / exact.p90 <= 0.01 AS p90_1pct,
       abs(agg.p95 - exact.p95) / exact.p95 <= 0.01 AS p95_1pct,
       abs(agg.p99 - exact.p99) / exact.p99 <= 0.01 AS p99_1pct
FROM agg, exact;
-- one agent's share, through the tag filter
WITH agg AS (SELECT * FROM fnd_metric_aggregate('t12.hist', '{"agent_id": "h2"}')),
exact AS (SELECT percentile_disc(0.99) WITHIN GROUP (ORDER BY v) AS p99
          FROM t12_values WHERE agent = 'h2')
SELECT agg.series, agg.count, abs(agg.p99 - exact.p99) / exact.p99 <= 0.01 AS p99_1pct
FROM agg, exact;
-- the mean of the per-agent p50s is not the p50 of all values
SELECT round((SELECT avg(p50) FROM fnd_agent_metrics WHERE name = 't12.hist')::numeric, 1) AS mean_of_p50s,
       round((SELECT p50 FROM fnd_metric_aggregate('t12.hist'))::numeric, 1) AS merged_p50;

-- history: rows as the supervisor writes them, read back by name and tags
INSERT INTO fnd_metric_history (ts, name, tags, kind, count, sum, last)
VALUES (now() - interval '2 hours', 't12.req', '{"agent_id": "a1"}', 'counter', 1, 50, 50),
       (now() - interval '120 s', 't12.req', '{"agent_id": "a1"}', 'counter', 2, 100, 100),
       (now() - interval '60 s', 't12.req', '{"agent_id": "a1"}', 'counter', 3, 160, 160),
       (now() - interval '60 s', 't12.req', '{"agent_id": "a2"}', 'counter', 1, 10, 10);
SELECT name, tags, last FROM fnd_metric_history('t12.req');
SELECT name, tags, last FROM fnd_metric_history('t12.req', '{"agent_id": "a1"}', now() - interval '3 hours');
SELECT count(*) FROM fnd_metric_history('t12.req', '{}', now() - interval '3 hours', now() - interval '90 s');
SELECT count(*) FROM fnd_metric_history('t12.nothing');

-- rates: a1 went 100 -> 160, was reset, and counts 30 now: (60 + 30) over
-- 120 s; a2 went 10 -> 7 (a reset: 7 counted) over 60 s
SELECT fnd_metrics_reset('t12.req');
SELECT fnd_record_agent_metric('a1', 't12.req', 30, 'counter');
SELECT fnd_record_agent_metric('a2', 't12.req', 7, 'counter');
SELECT round(fnd_metric_rate('t12.req', '{"agent_id": "a1"}')::numeric, 3) AS a1_rate;
SELECT round(fnd_metric_rate('t12.req', '{"agent_id": "a2"}')::numeric, 3) AS a2_rate;
SELECT round(fnd_metric_rate('t12.req')::numeric, 3) AS both;
-- a window holding one sample: no rate
SELECT fnd_metric_rate('t12.req', '{"agent_id": "a1"}', '10 s') IS NULL AS no_rate;
SELECT fnd_metric_rate('t12.nothing') IS NULL AS no_series;
SELECT fnd_metric_rate('t12.req', '{}', '0 s');
SELECT fnd_metric_rate('t12.req', '{}', NULL);

-- privileges: PUBLIC records and reads; the history is read-only to it
CREATE ROLE fnd_t12_plain;
SET ROLE fnd_t12_plain;
SELECT fnd_record_agent_metric('a9', 't12.cpu', 0.1);
SELECT count(*) > 0 AS reads FROM fnd_agent_metrics;
SELECT count(*) >= 0 AS reads_history FROM fnd_metric_history('t12.req');
SELECT series FROM fnd_metric_aggregate('t12.cpu');
DELETE FROM fnd_metric_history;
RESET ROLE;
DROP ROLE fnd_t12_plain;

-- flag off: FN002 from every 1.2 telemetry function
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
\set VERBOSITY sqlstate
SELECT fnd_record_agent_metric('a1', 't12.cpu', 1);
SELECT fnd_get_agent_metrics('a1');
SELECT fnd_metric_aggregate('t12.cpu');
SELECT fnd_metric_history('t12.req');
SELECT fnd_metric_rate('t12.req');
\set VERBOSITY default
-- 1.0 telemetry is unaffected
SELECT fnd_metric_gauge('t12.cpu', 1);
\set want on
\i :abs_srcdir/sql/include/agent_features.sql

-- clean up
SELECT fnd_metrics_reset(n) FROM unnest('{t12.cpu,t12.req,t12.lat,t12.mix,t12.hist}'::text[]) n;
DELETE FROM fnd_metric_history WHERE name LIKE 't12.%';
ALTER SYSTEM RESET foundation.metric_history_interval;
ALTER SYSTEM RESET foundation.metric_history_retention;
SELECT pg_reload_conf();
