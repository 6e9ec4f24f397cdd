# events and config: the event store's writes against plain INSERTs into an
# identical table, config reads against a primary-key SELECT.  Sourced by
# scripts/bench.sh.

bench_sql "DROP TABLE IF EXISTS bench_events;
CREATE TABLE bench_events (LIKE fnd_events INCLUDING ALL);
SELECT fnd_config_reset('bench');
SELECT fnd_config_update('bench.leaf', '42');
SELECT fnd_config_update(format('bench.sub.k%s', lpad(i::text, 2, '0')), to_jsonb(i))
FROM generate_series(1, 50) i;"

BENCH_BATCH=$(psql -X -At -c "SELECT jsonb_agg(jsonb_build_object('type', 'bench', 'data', jsonb_build_object('i', i)))
FROM generate_series(1, 100) i")

for c in 2 8; do
	bench_compare "fnd_store_event vs one-row INSERT" "$c" \
		"INSERT INTO bench_events (type, data) VALUES ('bench', '{\"i\": 1}')" \
		"SELECT fnd_store_event('bench', '{\"i\": 1}')" ">= 0.95x"
done

bench_compare "fnd_store_events(100) vs INSERT ... SELECT 100 rows" 2 \
	"INSERT INTO bench_events (type, data) SELECT e->>'type', e->'data' FROM jsonb_array_elements('$BENCH_BATCH') e" \
	"SELECT count(*) FROM fnd_store_events('$BENCH_BATCH')" ">= 0.9x"

bench_compare "fnd_config_get(leaf) vs SELECT by primary key" 2 \
	"SELECT value FROM fnd_config WHERE path = 'bench.leaf'" \
	"SELECT fnd_config_get('bench.leaf')"

bench_compare "fnd_config_get(50-key subtree) vs SELECT by primary key" 2 \
	"SELECT value FROM fnd_config WHERE path = 'bench.leaf'" \
	"SELECT fnd_config_get('bench.sub')"

# 1.2: the 5-argument form against a plain INSERT of the same row into an
# equal table (its indexes on agent_id and correlation_id included, and the
# same 100k rows in it, so both inserts maintain indexes of the same size), and
# fnd_query_by_agent against its query by hand, on 100k events of 1000
# agents (a random agent per call)
bench_sql "DROP TABLE IF EXISTS bench_events12;
CREATE TABLE bench_events12 (LIKE fnd_events INCLUDING ALL);
SELECT count(*) FROM fnd_store_events((SELECT jsonb_agg(jsonb_build_object('type', 'bench.q',
    'data', jsonb_build_object('i', i), 'agent_context', jsonb_build_object('agent_id', 'q-' || (i % 1000)),
    'correlation_id', 'qc-' || (i % 5000))) FROM generate_series(1, 100000) i));
INSERT INTO bench_events12 OVERRIDING SYSTEM VALUE SELECT * FROM fnd_events WHERE type = 'bench.q';
ANALYZE fnd_events; ANALYZE bench_events12;"

for c in 2 8; do
	bench_compare "fnd_store_event(5 args) vs one-row INSERT of the same row" "$c" \
		"INSERT INTO bench_events12 (type, data, agent_context, correlation_id, metadata) VALUES ('bench', '{\"i\": 1}', '{\"agent_id\": \"a-1\"}', 'c-1', '{\"k\": 1}')" \
		"SELECT fnd_store_event('bench', '{\"i\": 1}', '{\"agent_id\": \"a-1\"}', 'c-1', '{\"k\": 1}')" ">= 0.9x"
done

bench_compare "fnd_query_by_agent vs the same SELECT by hand" 2 \
	"\\set a random(0, 999)
SELECT * FROM fnd_events e WHERE (e.agent_context ->> 'agent_id') = 'q-' || :a ORDER BY e.id LIMIT 100" \
	"\\set a random(0, 999)
SELECT * FROM fnd_query_by_agent('q-' || :a)" ">= 0.9x"

bench_sql "DROP TABLE bench_events; DROP TABLE bench_events12; SELECT fnd_config_reset('bench');
DELETE FROM fnd_events WHERE type = 'bench.q';"
