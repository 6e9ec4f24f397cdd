# Locks and leader election (sourced by scripts/bench.sh).
#
# Each fnd_lock_acquire takes a fencing token; one in 1024 reserves a new
# block from a sequence (nextval, WAL flush), which
# pg_try_advisory_xact_lock does not do.

# uncontended: acquire + release of a random name in one statement (the
# baseline's transaction-scoped lock is released by its commit)
bench_compare "lock: acquire+release random name vs try_advisory_xact_lock" 1 \
	"SELECT pg_try_advisory_xact_lock((random() * 1e9)::bigint);" \
	"\\set n random(1, 1000000000)
SELECT fnd_lock_acquire('bench.' || :n), fnd_lock_release('bench.' || :n);" "0.9x"
bench_compare "lock: acquire+release random name vs try_advisory_xact_lock" 8 \
	"SELECT pg_try_advisory_xact_lock((random() * 1e9)::bigint);" \
	"\\set n random(1, 1000000000)
SELECT fnd_lock_acquire('bench.' || :n), fnd_lock_release('bench.' || :n);" "0.9x"

# contended: every client takes and releases the same name, waiting
for c in 2 8; do
	bench_compare "lock: one contended name vs pg_advisory_lock+unlock" "$c" \
		"SELECT pg_advisory_lock(42);
SELECT pg_advisory_unlock(42);" \
		"SELECT fnd_lock_acquire('bench.hot', '60 s');
SELECT fnd_lock_release('bench.hot');" "1.0x"
done

# leader election: the leader renewing its lease, vs a trivial statement
bench_sql "SELECT fnd_elect_leader('bench.group', 'leader', '1 hour')"
bench_compare "election: fnd_elect_leader renew vs SELECT 1" 1 \
	"SELECT 1;" \
	"SELECT fnd_elect_leader('bench.group', 'leader', '1 hour');"

# the same work measured inside one backend, free of client round trips
# (the shared machine makes pgbench at one client noisy): ns per operation
# above the baseline's
bench_inbackend "lock: acquire+release in one backend, ns over advisory lock+unlock" 100000 \
	"SELECT count(fnd_lock_acquire('bench.ib.' || g)), count(fnd_lock_release('bench.ib.' || g)) FROM generate_series(1, :n) g" \
	"SELECT count(pg_try_advisory_lock(g)), count(pg_advisory_unlock(g)), count(('bench.ib.' || g) || ('bench.ib.' || g)) FROM generate_series(1, :n) g"
bench_inbackend "election: renew in one backend, ns over SELECT 1" 100000 \
	"SELECT count(fnd_elect_leader('bench.group', 'leader', '1 hour')) FROM generate_series(1, :n) g" \
	"SELECT count(1) FROM generate_series(1, :n) g"
