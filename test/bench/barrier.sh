# Barriers and consensus rounds (sourced by scripts/bench.sh).
#
# 1. A barrier of two parties synced back to back by two clients: each
#    pgbench transaction is one fnd_barrier_sync, so round trips per second
#    are half the TPS; the baseline is two clients doing SELECT 1.
# 2. Wake-up latency: two sessions sync N times in a PL/pgSQL loop and
#    record when each called and returned; per generation, the time from
#    the last arrival to the last release (goal < 1 ms).
# 3. Consensus start + vote + result on a one-participant round (each
#    decision also inserts its consensus_decided event), against the same
#    three round trips doing SELECT 1, an INSERT into fnd_events, SELECT 1.

bench_sql "SELECT fnd_barrier_create('bench_pair', 2)"
# '1 s': when pgbench stops, the client whose partner has finished gives up
# after a second instead of ten
bench_compare "barrier: sync, 2 parties back to back (tps = 2 x trips)" 2 \
	"SELECT 1" \
	"SELECT fnd_barrier_sync('bench_pair', 2, '1 s')" \
	"trips/s = tps/2, vs SELECT 1 pairs"

barrier_latency() {
	lat_n=${FND_BENCH_LATENCY_N:-2000}
	bench_sql "SET client_min_messages = warning; DROP TABLE IF EXISTS bench_barrier_lat; CREATE UNLOGGED TABLE bench_barrier_lat (party int, generation bigint, arrived timestamptz, released timestamptz); SELECT fnd_barrier_create('bench_lat', 2)"
	for party in 1 2; do
		psql -X -q -v ON_ERROR_STOP=1 -c "
DO \$\$
DECLARE
    g bigint[] := '{}';
    a timestamptz[] := '{}';
    r timestamptz[] := '{}';
    t timestamptz;
BEGIN
    FOR i IN 1..$lat_n LOOP
        t := clock_timestamp();
        g := g || fnd_barrier_sync('bench_lat', 2, '10 s');
        a := a || t;
        r := r || clock_timestamp();
    END LOOP;
    INSERT INTO bench_barrier_lat
    SELECT $party, x.g, x.a, x.r FROM unnest(g, a, r) AS x(g, a, r);
END \$\$;" >/dev/null &
	done
	wait
	psql -X -At -c "
WITH gen AS (
    SELECT generation, extract(epoch FROM max(released) - max(arrived)) * 1000 AS ms
    FROM bench_barrier_lat GROUP BY generation HAVING count(*) = 2
)
SELECT format('%-58s %7s ms median, %7s ms p90, %7s ms p99 (N=%s)  (goal < 1 ms)',
              'barrier: last arrival -> all released',
              round(percentile_cont(0.5) WITHIN GROUP (ORDER BY ms)::numeric, 3),
              round(percentile_cont(0.9) WITHIN GROUP (ORDER BY ms)::numeric, 3),
              round(percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)::numeric, 3),
              count(*))
FROM gen"
	bench_sql "DROP TABLE bench_barrier_lat; SELECT fnd_barrier_remove('bench_lat')"
}
bench_each "barrier: wake-up latency" barrier_latency

bench_compare "barrier.sh: consensus start+vote+result (1 participant)" 1 \
	"SELECT 1;
INSERT INTO fnd_events (type, data) VALUES ('bench', '{}');
SELECT 1;" \
	"SELECT fnd_consensus_start('bench_' || :client_id, '{}', ARRAY['a']);
SELECT fnd_consensus_vote('bench_' || :client_id, 'a', 'accept');
SELECT fnd_consensus_result('bench_' || :client_id);" \
	"throughput"
bench_compare "barrier.sh: consensus start+vote+result (1 participant)" 2 \
	"SELECT 1;
INSERT INTO fnd_events (type, data) VALUES ('bench', '{}');
SELECT 1;" \
	"SELECT fnd_consensus_start('bench_' || :client_id, '{}', ARRAY['a']);
SELECT fnd_consensus_vote('bench_' || :client_id, 'a', 'accept');
SELECT fnd_consensus_result('bench_' || :client_id);" \
	"throughput"
bench_sql "SELECT fnd_barrier_remove('bench_pair')"
