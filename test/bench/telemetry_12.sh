# Telemetry 1.2 benchmarks (sourced by scripts/bench.sh).
#
# 1. fnd_record_agent_metric vs fnd_metric_gauge on the same series shape
#    (one tag, agent_id), in pgbench TPS in both protocols (goal >= 0.95x),
#    and in-backend ns per call.
# 2. One evaluation pass of 1,000 alert rules over 10,000 series (100
#    metrics x 100 agents; each rule has no agent_id, so it reads the 100
#    series of its metric: 100,000 rule x series pairs), timed through
#    fnd_alerts_evaluate() with nothing changing (goal < 50 ms), and the
#    first pass, which fires the ~1% of instances over their threshold.
#    The table must hold 10,000 series more than the default 5,000: the
#    instance restarts with foundation.max_metrics = 20000 (and again
#    without it at the end); the supervisor's own evaluation is off meanwhile.

bench_compare "telemetry 1.2: fnd_record_agent_metric vs fnd_metric_gauge" 1 \
	"SELECT fnd_metric_gauge('bench.g12', random(), '{\"agent_id\": \"agent-1\"}')" \
	"SELECT fnd_record_agent_metric('agent-1', 'bench.ag12', random())" ">= 0.95x"
bench_compare "telemetry 1.2: fnd_record_agent_metric, tags, vs fnd_metric_gauge" 1 \
	"SELECT fnd_metric_gauge('bench.g12t', random(), '{\"agent_id\": \"agent-1\", \"zone\": \"eu\"}')" \
	"SELECT fnd_record_agent_metric('agent-1', 'bench.ag12t', random(), 'gauge', '{\"zone\": \"eu\"}')" ">= 0.95x"
bench_inbackend "telemetry 1.2: in-backend fnd_metric_gauge, agent_id tag" 1000000 \
	"SELECT count(fnd_metric_gauge('bench.inb_g12', g, '{\"agent_id\": \"agent-1\"}')) FROM generate_series(1, :n) g" \
	"SELECT count(g) FROM generate_series(1, :n) g"
bench_inbackend "telemetry 1.2: in-backend fnd_record_agent_metric" 1000000 \
	"SELECT count(fnd_record_agent_metric('agent-1', 'bench.inb_ag12', g)) FROM generate_series(1, :n) g" \
	"SELECT count(g) FROM generate_series(1, :n) g"

alerts_restart() {	# alerts_restart "ALTER SYSTEM ..."...: each, then restart
	local s
	for s in "$@"; do psql -X -q -v ON_ERROR_STOP=1 -c "$s" >/dev/null; done
	fnd_pg_stop "$DATA"
	fnd_pg_start "$DATA" "$LOG"
}

alerts_pass() {
	local i t=() first
	alerts_restart "ALTER SYSTEM SET foundation.max_metrics = 20000" "ALTER SYSTEM SET foundation.alert_interval = 0"
	psql -X -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DELETE FROM fnd_alert_rules;
SELECT setseed(0.42);
SELECT count(fnd_record_agent_metric('agent-' || a, 'bench.al.m' || m, random()))
FROM generate_series(0, 99) m, generate_series(0, 99) a;
SELECT count(fnd_create_agent_alert(jsonb_build_object(
    'name', 'bench_rule_' || r, 'metric', 'bench.al.m' || (r % 100),
    'condition', 'gt', 'threshold', 0.99, 'severity', 'info')))
FROM generate_series(0, 999) r;
SQL
	first=$(psql -X -At -c '\timing on' -c 'SELECT fnd_alerts_evaluate()' |
		awk '/^Time:/ { t = $2 } /^[0-9]+$/ { n = $1 } END { printf "%s ms, %s transitions", t, n }')
	for ((i = 0; i < RUNS; i++)); do
		t+=("$(psql -X -At -c '\timing on' -c 'SELECT fnd_alerts_evaluate()' | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')")
	done
	printf '%-58s %10s ms (median of %d; first pass %s)  (goal < 50 ms)\n' \
		"alerts: evaluation pass, 1,000 rules over 10,000 series" \
		"$(printf '%s\n' "${t[@]}" | median)" "$RUNS" "$first"
	psql -X -q -c "DELETE FROM fnd_alert_rules; DELETE FROM fnd_alert_history; SELECT fnd_metrics_reset(n) FROM (SELECT DISTINCT name FROM fnd_metrics WHERE name LIKE 'bench.al.%') s(n)" >/dev/null
	alerts_restart "ALTER SYSTEM RESET foundation.max_metrics" "ALTER SYSTEM RESET foundation.alert_interval"
}
bench_each "alerts: evaluation pass, 1,000 rules over 10,000 series" alerts_pass
bench_sql "SELECT fnd_metrics_reset(n) FROM unnest('{bench.g12,bench.ag12,bench.g12t,bench.ag12t,bench.inb_g12,bench.inb_ag12}'::text[]) n"
