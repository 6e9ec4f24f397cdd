# Telemetry: recording a metric should cost a caller next to nothing.
# Sourced by scripts/bench.sh (bench_sql, bench_compare, bench_inbackend).
bench_sql "DROP TABLE IF EXISTS bench_metrics;
CREATE TABLE bench_metrics (name text, value double precision, tags jsonb DEFAULT '{}', at timestamptz DEFAULT now())"

bench_compare "telemetry: fnd_metric_increment vs SELECT 1" 1 \
	"SELECT 1" "SELECT fnd_metric_increment('bench.requests')" ">= 0.95x"
bench_compare "telemetry: fnd_metric_observe vs SELECT 1" 1 \
	"SELECT 1" "SELECT fnd_metric_observe('bench.latency', random() * 100)" ">= 0.95x"
bench_compare "telemetry: fnd_metric_increment, tags, vs SELECT 1" 1 \
	"SELECT 1" "SELECT fnd_metric_increment('bench.hits', 1, '{\"route\": \"/a\", \"code\": 200}')" ">= 0.95x"
bench_compare "telemetry: increment, 2 clients, one series, vs SELECT 1" 2 \
	"SELECT 1" "SELECT fnd_metric_increment('bench.requests')" ">= 0.95x"
bench_compare "telemetry: fnd_metric_increment vs INSERT into a table" 1 \
	"INSERT INTO bench_metrics (name, value) VALUES ('bench.requests', 1)" \
	"SELECT fnd_metric_increment('bench.requests')" "> 1x"
bench_compare "telemetry: fnd_metric_observe vs INSERT into a table" 1 \
	"INSERT INTO bench_metrics (name, value) VALUES ('bench.latency', random() * 100)" \
	"SELECT fnd_metric_observe('bench.latency', random() * 100)" "> 1x"

bench_inbackend "telemetry: in-backend fnd_metric_increment" 1000000 \
	"SELECT count(fnd_metric_increment('bench.inb')) FROM generate_series(1, :n)" \
	"SELECT count(g) FROM generate_series(1, :n) g" "<= 300 ns"
bench_inbackend "telemetry: in-backend fnd_metric_increment with tags" 1000000 \
	"SELECT count(fnd_metric_increment('bench.inb_tags', 1, '{\"route\": \"/a\"}')) FROM generate_series(1, :n)" \
	"SELECT count(g) FROM generate_series(1, :n) g"
bench_inbackend "telemetry: in-backend fnd_metric_observe" 1000000 \
	"SELECT count(fnd_metric_observe('bench.inb_h', g)) FROM generate_series(1, :n) g" \
	"SELECT count(g) FROM generate_series(1, :n) g"
bench_inbackend "telemetry: in-backend INSERT into a table (reference)" 100000 \
	"INSERT INTO bench_metrics (name, value) SELECT 'bench.inb', 1 FROM generate_series(1, :n)" \
	"SELECT count(g) FROM generate_series(1, :n) g"
bench_sql "DROP TABLE bench_metrics; SELECT fnd_metrics_reset()"
