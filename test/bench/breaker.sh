# Circuit breakers and rate limiter: the hot paths against SELECT 1.
# Sourced by scripts/bench.sh.
bench_sql "SELECT fnd_cb_install('bench_cb', 5, '60 s', '60 s')"
bench_sql "SELECT fnd_cb_install('bench_cb_exec', 5, '60 s', '60 s')"

bench_compare "breaker: fnd_cb_ask vs SELECT 1" 1 \
	"SELECT 1" "SELECT fnd_cb_ask('bench_cb')" ">= 0.95x"
bench_compare "breaker: fnd_cb_ask, one shared breaker vs SELECT 1" 2 \
	"SELECT 1" "SELECT fnd_cb_ask('bench_cb')" ">= 0.95x"
# a bucket that never refuses, so every call takes the full path
bench_compare "ratelimit: fnd_rate_check vs SELECT 1" 1 \
	"SELECT 1" "SELECT fnd_rate_check('bench_rl', 1000000000, '1 s')" ">= 0.95x"
bench_compare "ratelimit: fnd_rate_check, one shared bucket vs SELECT 1" 2 \
	"SELECT 1" "SELECT fnd_rate_check('bench_rl', 1000000000, '1 s')" ">= 0.95x"
bench_compare "breaker: fnd_cb_execute(name, 'SELECT 1') vs SELECT 1" 1 \
	"SELECT 1" "SELECT fnd_cb_execute('bench_cb_exec', 'SELECT 1')"

bench_inbackend "breaker: in-backend fnd_cb_ask" 1000000 \
	"SELECT count(fnd_cb_ask('bench_cb')) FROM generate_series(1, :n)" \
	"SELECT count(length('bench_cb')) FROM generate_series(1, :n)" "<= 500 ns"
bench_inbackend "ratelimit: in-backend fnd_rate_check" 1000000 \
	"SELECT count(fnd_rate_check('bench_rl', 1000000000, '1 s')) FROM generate_series(1, :n)" \
	"SELECT count(length('bench_rl')) FROM generate_series(1, :n)"
bench_inbackend "breaker: in-backend fnd_cb_execute(name, 'SELECT 1')" 20000 \
	"SELECT count(fnd_cb_execute('bench_cb_exec', 'SELECT 1')) FROM generate_series(1, :n)" \
	"SELECT count(length('bench_cb_exec')) FROM generate_series(1, :n)"
