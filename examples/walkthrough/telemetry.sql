-- telemetry: counters, gauges and histograms in shared memory, per database
\echo '== telemetry: record metrics (never fails the caller)'
SELECT fnd_metric_increment('walkthrough.orders');                    -- +1
SELECT fnd_metric_increment('walkthrough.orders', 2);                 -- +2
SELECT fnd_metric_increment('walkthrough.http', 1, '{"route": "/pay", "code": 200}');
SELECT fnd_metric_gauge('walkthrough.queue_depth', 17);
-- a histogram: 1000 latencies; quantiles come from a sketch, within 1%
SELECT count(*) AS observed
FROM (SELECT fnd_metric_observe('walkthrough.latency_ms', exp(random() * 5))
      FROM generate_series(1, 1000)) s;
-- the event-shaped API: one call, the kind in the payload
SELECT fnd_telemetry_emit('walkthrough.job', '{"counter": 1}', '{"queue": "mail"}');

\echo '== telemetry: read them back'
SELECT name, tags, kind, count, sum, last FROM fnd_metrics
WHERE name LIKE 'walkthrough.%' AND kind <> 'histogram' ORDER BY name, tags::text;
SELECT name, count, round(min::numeric, 2) AS min, round(p50::numeric, 2) AS p50,
       round(p99::numeric, 2) AS p99, round(max::numeric, 2) AS max
FROM fnd_metrics WHERE name = 'walkthrough.latency_ms';

\echo '== telemetry: the Prometheus text format (two of the series)'
SELECT line FROM regexp_split_to_table(fnd_metrics_prometheus(), E'\n') AS line
WHERE line LIKE '%walkthrough_orders%' OR line LIKE '%walkthrough_http%';

\echo '== telemetry: bad input is dropped and counted, not raised'
SET client_min_messages = error;       -- the drop WARNING, at most once a minute
SELECT fnd_metric_increment('walkthrough.orders', 1, '{"nested": {"no": 1}}');
RESET client_min_messages;
SELECT name, sum AS dropped_so_far FROM fnd_metrics WHERE name = 'foundation.telemetry.dropped';

\echo '== telemetry: the one error: an unknown measurement kind (FN501)'
DO $$
BEGIN
    PERFORM fnd_telemetry_emit('walkthrough.job', '{"timer": 3}');
EXCEPTION WHEN SQLSTATE 'FN501' THEN
    RAISE NOTICE 'FN501: %', SQLERRM;
END $$;

-- clean up (fnd_metrics_reset is for admins; the walkthrough runs as one)
SELECT sum(fnd_metrics_reset(n)) AS series_removed
FROM unnest(ARRAY['walkthrough.orders', 'walkthrough.http', 'walkthrough.queue_depth',
                  'walkthrough.latency_ms', 'walkthrough.job']) n;
