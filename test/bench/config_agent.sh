# config_agent (1.1): the effective config an agent sees against the global
# read it refines.  fnd_get_effective_config reads both tables in one query
# and merges; the goal is >= 0.9x fnd_config_get.  Sourced by
# scripts/bench.sh.

bench_sql "SELECT fnd_config_reset('bench');
SELECT fnd_reset_agent_config('bench-agent');
SELECT fnd_config_update('bench.leaf', '42');
SELECT fnd_config_update(format('bench.sub.k%s', lpad(i::text, 2, '0')), to_jsonb(i))
FROM generate_series(1, 50) i;
SELECT fnd_set_agent_config('bench-agent', 'bench.leaf', '43');
SELECT fnd_set_agent_config('bench-agent', format('bench.sub.k%s', lpad(i::text, 2, '0')), to_jsonb(-i))
FROM generate_series(1, 10) i;
SELECT fnd_set_agent_config(format('other-%s', i), 'bench.leaf', to_jsonb(i))
FROM generate_series(1, 1000) i;"

bench_compare "fnd_get_effective_config(leaf, overridden) vs fnd_config_get(leaf)" 2 \
	"SELECT fnd_config_get('bench.leaf')" \
	"SELECT fnd_get_effective_config('bench-agent', 'bench.leaf')" ">= 0.9x"

bench_compare "fnd_get_effective_config(leaf, global only) vs fnd_config_get(leaf)" 2 \
	"SELECT fnd_config_get('bench.leaf')" \
	"SELECT fnd_get_effective_config('no-overrides', 'bench.leaf')" ">= 0.9x"

bench_compare "fnd_get_effective_config(50-key subtree, 10 overridden) vs fnd_config_get(subtree)" 2 \
	"SELECT fnd_config_get('bench.sub')" \
	"SELECT fnd_get_effective_config('bench-agent', 'bench.sub')" ">= 0.9x"

# in-backend CPU per call (the per-call loop's own cost subtracted), for
# the same reads: the pgbench ratios above include a round trip each
for q in "fnd_config_get('bench.leaf')" "fnd_get_effective_config('bench-agent', 'bench.leaf')" \
	"fnd_get_effective_config('no-overrides', 'bench.leaf')" "fnd_config_get('bench.sub')" \
	"fnd_get_effective_config('bench-agent', 'bench.sub')"; do
	bench_cpu "in-backend $q" 20000 \
		"SELECT count($q) FROM generate_series(1, :n) x" \
		"SELECT count(x) FROM generate_series(1, :n) x"
done

bench_sql "SELECT fnd_reset_agent_config(a) FROM (SELECT DISTINCT agent_id AS a FROM fnd_agent_config
WHERE agent_id = 'bench-agent' OR agent_id LIKE 'other-%') s;
SELECT fnd_config_reset('bench');"
