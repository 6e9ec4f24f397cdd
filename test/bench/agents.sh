# Agents benchmarks, 1.1 (sourced by scripts/bench.sh).
#
# 1. fnd_lookup_agents_by_capability with 100 and then 10,000 agents, of
#    which the same 10 have the capability: the backend's CPU time per
#    lookup must stay within 2x (the capability index visits only those 10).
# 2. fnd_update_agent_health vs a table-backed heartbeat UPDATE, both called
#    from the same PL/pgSQL wrapper, in the backend's CPU time (goal >= 10x).
# 3. fnd_cb_execute_with_agent vs fnd_cb_execute, fnd_rate_check_with_agent
#    vs fnd_rate_check, in pgbench TPS in both protocols (goal >= 0.9x).
# Agents are leased (pgbench sessions come and go) and unregistered at the
# end, so that the registry scenarios find the registry empty.

bench_sql "SELECT fnd_register_agent('bench_ag', 'rare' || i, '{rare,inference}', '{}', '1 hour') FROM generate_series(1, 10) i;
	SELECT fnd_register_agent('bench_ag', 'plain' || i, '{inference}', '{}', '1 hour') FROM generate_series(1, 90) i"

# the argument depends on i, so that the function scan runs for every row
AGENT_CAP_SQL="SET jit = off; SELECT count(*) FROM generate_series(1, :n) i, LATERAL fnd_lookup_agents_by_capability(substr('rare' || i, 1, 4)) a"
AGENT_CAP_BASE="SET jit = off; SELECT count(substr('rare' || i, 1, 4)) FROM generate_series(1, :n) i"

agents_capability() {
	local n=50000 small large i s=() l=()
	for ((i = 0; i < RUNS; i++)); do
		s+=("$(bench_cpu_once cur "$n" "$AGENT_CAP_SQL" "$AGENT_CAP_BASE")")
	done
	small=$(printf '%s\n' "${s[@]}" | median)
	bench_sql "SELECT fnd_register_agent('bench_ag', 'more' || i, '{inference}', '{}', '1 hour') FROM generate_series(1, 9900) i"
	for ((i = 0; i < RUNS; i++)); do
		l+=("$(bench_cpu_once cur "$n" "$AGENT_CAP_SQL" "$AGENT_CAP_BASE")")
	done
	large=$(printf '%s\n' "${l[@]}" | median)
	awk -v s="$small" -v l="$large" -v n="$n" 'BEGIN {
		printf "%-58s %10s ns/op CPU at 100 agents, %s at 10,000, ratio %5.2fx (N=%d)  (goal <= 2x)\n",
			"agents: by capability (10 have it), 100 vs 10,000 agents", s, l, (s > 0) ? l / s : 0, n }'
}
bench_each "agents: by capability (10 have it), 100 vs 10,000 agents" agents_capability
bench_sql "SELECT fnd_unregister('bench_ag', 'more' || i) FROM generate_series(1, 9900) i"

bench_sql "CREATE TABLE IF NOT EXISTS bench_agent_hb (agent_id text PRIMARY KEY, health text, heartbeat timestamptz);
	TRUNCATE bench_agent_hb;
	INSERT INTO bench_agent_hb SELECT 'plain' || i, 'healthy', now() FROM generate_series(1, 90) i"
bench_sql "VACUUM ANALYZE bench_agent_hb"
bench_sql "CREATE OR REPLACE FUNCTION bench_hb_table(id text) RETURNS void LANGUAGE plpgsql AS
	\$\$ BEGIN UPDATE bench_agent_hb SET health = 'healthy', heartbeat = clock_timestamp() WHERE agent_id = id; END \$\$;
	CREATE OR REPLACE FUNCTION bench_hb_agent(id text) RETURNS void LANGUAGE plpgsql AS
	\$\$ BEGIN PERFORM fnd_update_agent_health(id, 'healthy'); END \$\$;
	CREATE OR REPLACE FUNCTION bench_hb_none(id text) RETURNS void LANGUAGE plpgsql AS
	\$\$ BEGIN PERFORM id; END \$\$"

agents_heartbeat() {
	local n=100000 i t=() a=() tm am
	for ((i = 0; i < RUNS; i++)); do
		t+=("$(bench_cpu_once cur "$n" "SELECT count(bench_hb_table('plain' || (i % 90 + 1))) FROM generate_series(1, :n) i" "SELECT count(bench_hb_none('plain' || (i % 90 + 1))) FROM generate_series(1, :n) i")")
		a+=("$(bench_cpu_once cur "$n" "SELECT count(bench_hb_agent('plain' || (i % 90 + 1))) FROM generate_series(1, :n) i" "SELECT count(bench_hb_none('plain' || (i % 90 + 1))) FROM generate_series(1, :n) i")")
	done
	tm=$(printf '%s\n' "${t[@]}" | median)
	am=$(printf '%s\n' "${a[@]}" | median)
	awk -v t="$tm" -v a="$am" -v n="$n" 'BEGIN {
		printf "%-58s %10s ns/op CPU, table UPDATE %s, ratio %5.2fx (N=%d)  (goal >= 10x)\n",
			"agents: fnd_update_agent_health vs table heartbeat UPDATE", a, t, (a > 0) ? t / a : 0, n }'
}
bench_each "agents: fnd_update_agent_health vs table heartbeat UPDATE" agents_heartbeat

bench_sql "SELECT fnd_cb_install('bench_agent_cb', 5, '1 minute', '30 s', 1)"
# Both calls take constant arguments: an expression such as 'plain' || :r
# costs the simple protocol an operator lookup per call that the baseline
# does not pay, and that is not the breaker's cost.
bench_compare "agents: fnd_cb_execute_with_agent vs fnd_cb_execute" 1 \
	"SELECT fnd_cb_execute('bench_agent_cb', 'SELECT 1')" \
	"SELECT fnd_cb_execute_with_agent('bench_agent_cb', 'plain1', 'SELECT 1')" ">= 0.9x"
bench_compare "agents: fnd_cb_execute_with_agent vs fnd_cb_execute" 2 \
	"SELECT fnd_cb_execute('bench_agent_cb', 'SELECT 1')" \
	"SELECT fnd_cb_execute_with_agent('bench_agent_cb', 'plain1', 'SELECT 1')" ">= 0.9x"
bench_sql "SELECT fnd_rate_set_operation_limit('bench_op', 1000000000, '1 second')"
bench_compare "agents: fnd_rate_check_with_agent vs fnd_rate_check" 1 \
	"\\set r random(1, 90)
SELECT fnd_rate_check('bench_op' || :r, 1000000000, '1 second')" \
	"\\set r random(1, 90)
SELECT fnd_rate_check_with_agent('plain' || :r, 'bench_op')" ">= 0.9x"
bench_compare "agents: fnd_rate_check_with_agent vs fnd_rate_check" 2 \
	"\\set r random(1, 90)
SELECT fnd_rate_check('bench_op' || :r, 1000000000, '1 second')" \
	"\\set r random(1, 90)
SELECT fnd_rate_check_with_agent('plain' || :r, 'bench_op')" ">= 0.9x"

bench_sql "SELECT fnd_unregister(namespace, agent_id) FROM fnd_agents WHERE namespace = 'bench_ag';
	SELECT fnd_cb_remove('bench_agent_cb');
	DELETE FROM fnd_rate_operation_limits WHERE operation = 'bench_op';
	DROP TABLE bench_agent_hb;
	DROP FUNCTION bench_hb_table(text); DROP FUNCTION bench_hb_agent(text); DROP FUNCTION bench_hb_none(text)"
