-- telemetry accuracy: 100k values of a skewed distribution, sketch quantiles
-- against percentile_disc over the same values (all within 1% relative error)
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
SELECT setseed(0.42);
CREATE TEMP TABLE acc AS SELECT exp(random() * 10) AS v FROM generate_series(1, 100000);
SELECT fnd_metrics_reset('tt.acc') >= 0 AS clean;
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.acc', v) FROM acc) s;
WITH exact AS (
    SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY v) AS p50,
           percentile_disc(0.9) WITHIN GROUP (ORDER BY v) AS p90,
           percentile_disc(0.95) WITHIN GROUP (ORDER BY v) AS p95,
           percentile_disc(0.99) WITHIN GROUP (ORDER BY v) AS p99,
           count(*) AS n, min(v) AS mn, max(v) AS mx, sum(v) AS total
    FROM acc)
SELECT m.count = e.n AS count_ok,
       m.min = e.mn AS min_ok,
       m.max = e.mx AS max_ok,
       abs(m.sum - e.total) / e.total < 1e-9 AS sum_ok,
       abs(m.p50 - e.p50) / e.p50 <= 0.01 AS p50_ok,
       abs(m.p90 - e.p90) / e.p90 <= 0.01 AS p90_ok,
       abs(m.p95 - e.p95) / e.p95 <= 0.01 AS p95_ok,
       abs(m.p99 - e.p99) / e.p99 <= 0.01 AS p99_ok
FROM fnd_metrics m, exact e WHERE m.name = 'tt.acc';
-- the same for values between -1 and 1 around zero, and a latency-like shape
CREATE TEMP TABLE acc2 AS
SELECT CASE WHEN random() < 0.3 THEN -exp(random() * 5) WHEN random() < 0.1 THEN 0
            ELSE 0.001 * exp(random() * 12) END AS v
FROM generate_series(1, 50000);
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.acc2', v) FROM acc2) s;
SELECT bool_and(q.est IS NOT NULL AND abs(q.est - q.exact) <= 0.01 * abs(q.exact)) AS all_within_1pct, count(q.est) AS estimates
FROM (
    SELECT unnest(ARRAY[m.p50, m.p90, m.p95, m.p99]) AS est,
           unnest(ARRAY[percentile_disc(0.5) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.9) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.95) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.99) WITHIN GROUP (ORDER BY v)]) AS exact
    FROM acc2, fnd_metrics m WHERE m.name = 'tt.acc2' GROUP BY m.p50, m.p90, m.p95, m.p99) q;
-- falling values (the bucket window slides down), in insertion order
CREATE TEMP TABLE acc3 AS SELECT g, 1e6 / g::float8 AS v FROM generate_series(1, 100000) g;
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.acc3', v) FROM acc3 ORDER BY g) s;
SELECT bool_and(q.est IS NOT NULL AND abs(q.est - q.exact) <= 0.01 * abs(q.exact)) AS all_within_1pct, count(q.est) AS estimates
FROM (
    SELECT unnest(ARRAY[m.p50, m.p90, m.p95, m.p99]) AS est,
           unnest(ARRAY[percentile_disc(0.5) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.9) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.95) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.99) WITHIN GROUP (ORDER BY v)]) AS exact
    FROM acc3, fnd_metrics m WHERE m.name = 'tt.acc3' GROUP BY m.p50, m.p90, m.p95, m.p99) q;
-- a range wider than the sketch (1e-9 .. 1e9): the lowest buckets merge,
-- the high quantiles keep the 1% bound
CREATE TEMP TABLE acc4 AS SELECT 10 ^ (random() * 18 - 9) AS v FROM generate_series(1, 50000);
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.acc4', v) FROM acc4) s;
SELECT bool_and(q.est IS NOT NULL AND abs(q.est - q.exact) <= 0.01 * abs(q.exact)) AS high_quantiles_within_1pct, count(q.est) AS estimates
FROM (
    SELECT unnest(ARRAY[m.p90, m.p95, m.p99]) AS est,
           unnest(ARRAY[percentile_disc(0.9) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.95) WITHIN GROUP (ORDER BY v),
                        percentile_disc(0.99) WITHIN GROUP (ORDER BY v)]) AS exact
    FROM acc4, fnd_metrics m WHERE m.name = 'tt.acc4' GROUP BY m.p90, m.p95, m.p99) q;
SELECT m.min = (SELECT min(v) FROM acc4) AS min_exact, m.max = (SELECT max(v) FROM acc4) AS max_exact
FROM fnd_metrics m WHERE m.name = 'tt.acc4';
-- the documented range limits (docs/telemetry.md, "Accuracy"): every quantile
-- within 1% for positive values spanning a factor of 7.6e8 (1 us to 760 s)
-- and negative ones a factor of 27 000, and for magnitudes from the
-- smallest normal double (2.2e-308) to the largest (1.8e308).  Each set puts
-- a quantile at the end of its range that merges first (the smallest
-- magnitudes) or in the top bucket, and is recorded in rising and in falling
-- order (the window slides both ways).
CREATE TEMP TABLE lim (set text, g int, v float8);
INSERT INTO lim
SELECT 'pos', g, CASE WHEN g <= 5000 THEN 1e-6 WHEN g <= 9000 THEN 1.5e-6
                      WHEN g < 10000 THEN 760 * exp(-(10000 - g) / 100.0) ELSE 760 END
FROM generate_series(1, 10000) g;
INSERT INTO lim
SELECT 'neg', g, CASE WHEN g = 1 THEN -2.7 WHEN g <= 1000 THEN -2.7 * exp(-g / 150.0)
                      WHEN g <= 5000 THEN -3e-4 WHEN g <= 9000 THEN -1.5e-4
                      WHEN g < 9900 THEN -1.2e-4 ELSE -1e-4 END
FROM generate_series(1, 10000) g;
INSERT INTO lim
SELECT 'huge', g, CASE WHEN g <= 5000 THEN 1e300 WHEN g < 9900 THEN 1e307 * (g - 4999) / 500.0
                       WHEN g < 10000 THEN 1.7645e308 ELSE 1.7976931348623157e308 END
FROM generate_series(1, 10000) g;
INSERT INTO lim
SELECT 'tiny', g, CASE WHEN g <= 5000 THEN 2.2250738585072014e-308
                       WHEN g < 9900 THEN 2.2250738585072014e-308 * (1 + (g - 5000) / 100.0)
                       ELSE 1e-299 END
FROM generate_series(1, 10000) g;
INSERT INTO lim
SELECT 'neghuge', g, CASE WHEN g = 1 THEN -1.7976931348623157e308 WHEN g <= 5000 THEN -1.7645e308
                          WHEN g < 9900 THEN -1e308 * 100 / g ELSE -1e304 END
FROM generate_series(1, 10000) g;
SELECT set, min(v), max(v), max(abs(v)) / min(abs(v)) AS span,
       percentile_disc(0.5) WITHIN GROUP (ORDER BY v) AS p50,
       percentile_disc(0.9) WITHIN GROUP (ORDER BY v) AS p90,
       percentile_disc(0.95) WITHIN GROUP (ORDER BY v) AS p95,
       percentile_disc(0.99) WITHIN GROUP (ORDER BY v) AS p99
FROM lim GROUP BY set ORDER BY set;
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.lim.up.' || set, v) FROM lim ORDER BY set, v, g) s;
SELECT count(*) FROM (SELECT fnd_metric_observe('tt.lim.down.' || set, v) FROM lim ORDER BY set, v DESC, g) s;
WITH exact AS (
    SELECT set, ARRAY[percentile_disc(0.5) WITHIN GROUP (ORDER BY v),
                      percentile_disc(0.9) WITHIN GROUP (ORDER BY v),
                      percentile_disc(0.95) WITHIN GROUP (ORDER BY v),
                      percentile_disc(0.99) WITHIN GROUP (ORDER BY v)] AS q,
           count(*) AS n, min(v) AS mn, max(v) AS mx
    FROM lim GROUP BY set)
SELECT m.name,
       m.count = e.n AND m.min = e.mn AND m.max = e.mx AS exact_stats,
       bool_and(est IS NOT NULL AND abs(est - ex) <= 0.01 * abs(ex)) AS all_within_1pct,
       count(est) AS estimates
FROM fnd_metrics m
JOIN exact e ON m.name IN ('tt.lim.up.' || e.set, 'tt.lim.down.' || e.set)
CROSS JOIN LATERAL unnest(ARRAY[m.p50, m.p90, m.p95, m.p99], e.q) AS u(est, ex)
GROUP BY m.name, m.count, e.n, m.min, e.mn, m.max, e.mx
ORDER BY m.name;
SELECT fnd_metrics_reset('tt.acc') + fnd_metrics_reset('tt.acc2') +
       fnd_metrics_reset('tt.acc3') + fnd_metrics_reset('tt.acc4') AS removed;
SELECT sum(fnd_metrics_reset(name)) AS removed FROM (SELECT DISTINCT name FROM fnd_metrics WHERE name LIKE 'tt.lim.%') s;
