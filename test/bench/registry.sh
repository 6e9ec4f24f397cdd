# Registry benchmarks (sourced by scripts/bench.sh).
#
# The register/unregister pair runs first, while the table is empty: the
# lookup scenarios then fill the default-sized table (10000 entries) with
# leased entries (pgbench sessions come and go; session-owned entries would
# leave with the psql that made them).  The in-backend figure subtracts only
# the loop and the name building, so the function-scan machinery of each
# LATERAL call counts as lookup cost.  JIT is off in both queries: its
# compile time is per query, not per lookup, and differs between the two.
# "one column out" shows how much of the gap to SELECT 1 is the output of
# seven columns (two timestamptz and a jsonb to text) rather than the lookup.

bench_compare "registry: fnd_register + fnd_unregister pair vs SELECT 1" 1 \
	"SELECT 1" \
	"SELECT fnd_register('bench_pair', 'c' || :client_id), fnd_unregister('bench_pair', 'c' || :client_id)"
bench_compare "registry: fnd_register + fnd_unregister pair vs SELECT 1" 2 \
	"SELECT 1" \
	"SELECT fnd_register('bench_pair', 'c' || :client_id), fnd_unregister('bench_pair', 'c' || :client_id)"

bench_sql "SELECT fnd_register('bench', 'svc' || i, jsonb_build_object('zone', 'z' || (i % 7), 'port', 8000 + i), '1 day') FROM generate_series(0, 9999) i"
bench_sql "CREATE TABLE IF NOT EXISTS bench_registry (namespace text, name text, metadata jsonb, heartbeat timestamptz, PRIMARY KEY (namespace, name));
	TRUNCATE bench_registry;
	INSERT INTO bench_registry SELECT 'bench', 'svc' || i, jsonb_build_object('zone', 'z' || (i % 7), 'port', 8000 + i), now() FROM generate_series(0, 9999) i"
bench_sql "VACUUM ANALYZE bench_registry"

LOOKUP="\\set r random(0, 9999)
SELECT * FROM fnd_lookup('bench', 'svc' || :r)"
TABLE_LOOKUP="\\set r random(0, 9999)
SELECT * FROM bench_registry WHERE namespace = 'bench' AND name = 'svc' || :r"
RENEW="\\set r random(0, 9999)
SELECT fnd_renew('bench', 'svc' || :r)"
NARROW="\\set r random(0, 9999)
SELECT metadata->>'port' FROM fnd_lookup('bench', 'svc' || :r)"
HEARTBEAT="\\set r random(0, 9999)
UPDATE bench_registry SET heartbeat = clock_timestamp() WHERE namespace = 'bench' AND name = 'svc' || :r"

bench_compare "registry: fnd_lookup (random of 10k) vs SELECT 1" 1 "SELECT 1" "$LOOKUP" ">= 0.95x"
bench_compare "registry: fnd_lookup (random of 10k) vs SELECT 1" 2 "SELECT 1" "$LOOKUP" ">= 0.95x"
bench_compare "registry: fnd_lookup, one column out, vs SELECT 1" 1 "SELECT 1" "$NARROW" ">= 0.95x"
bench_compare "registry: fnd_lookup vs table lookup by primary key" 1 "$TABLE_LOOKUP" "$LOOKUP"
bench_compare "registry: fnd_lookup vs table lookup by primary key" 2 "$TABLE_LOOKUP" "$LOOKUP"
bench_compare "registry: fnd_renew vs table heartbeat UPDATE" 1 "$HEARTBEAT" "$RENEW" ">= 10x"
bench_compare "registry: fnd_renew vs table heartbeat UPDATE" 2 "$HEARTBEAT" "$RENEW" ">= 10x"
bench_compare "registry: fnd_renew vs table heartbeat UPDATE" 8 "$HEARTBEAT" "$RENEW" ">= 10x"

bench_inbackend "registry: fnd_lookup in-backend (10k names)" 1000000 \
	"SET jit = off; SELECT count(*) FROM generate_series(1, :n) i, LATERAL fnd_lookup('bench', 'svc' || (i % 10000))" \
	"SET jit = off; SELECT count('svc' || (i % 10000)) FROM generate_series(1, :n) i" \
	"<= 1000 ns"

# renew against a heartbeat UPDATE without the client round trip, which
# bounds both pgbench ratios above (one statement each)
bench_inbackend "registry: fnd_renew in-backend" 200000 \
	"SET jit = off; SELECT count(fnd_renew('bench', 'svc' || (i % 10000))) FROM generate_series(1, :n) i" \
	"SET jit = off; SELECT count('svc' || (i % 10000)) FROM generate_series(1, :n) i"
bench_inbackend "registry: table heartbeat UPDATE in-backend (compare)" 10000 \
	"DO \$\$ BEGIN FOR i IN 1..:n LOOP UPDATE bench_registry SET heartbeat = clock_timestamp() WHERE namespace = 'bench' AND name = 'svc' || (i % 10000); END LOOP; END \$\$" \
	"DO \$\$ BEGIN FOR i IN 1..:n LOOP PERFORM 'svc' || (i % 10000); END LOOP; END \$\$"

# The figures above are wall-clock time, which on a busy machine includes
# time the backend spent waiting for a CPU.  This one reads the backend's
# own CPU time (bench_cpu in scripts/bench.sh), so it holds up under load.
bench_cpu "registry: fnd_lookup in-backend, CPU time (10k names)" 1000000 \
	"SELECT count(*) FROM generate_series(1, :n) i, LATERAL fnd_lookup('bench', 'svc' || (i % 10000))" \
	"SELECT count('svc' || (i % 10000)) FROM generate_series(1, :n) i" \
	"<= 1000 ns"
