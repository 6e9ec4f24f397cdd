#!/usr/bin/env bash
# make bench: pgbench scenarios on a private preloaded instance.  Each
# scenario prints its TPS and the ratio to a baseline measured in the same
# run (median of FND_BENCH_RUNS runs of FND_BENCH_SECONDS each), because
# shared machines are noisy.  Scenarios live in test/bench/*.sh; each file
# is sourced and calls the functions below.  Filter with ONLY=word.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "$(id -u)" -eq 0 ]; then
	fnd_deps
	fnd_drop_root bench.sh "$@"
fi
fnd_deps

FND_BASE=$(fnd_base_for "$(id -un)")
W=$FND_BASE/bench
STAGE=$W/install
FND_BIN=$(fnd_stage_bin "$STAGE")
DATA=$W/data
LOG=$W/postgres.log
RUNS=${FND_BENCH_RUNS:-3}
SECONDS_EACH=${FND_BENCH_SECONDS:-5}
ONLY=${ONLY:-}

if [ -f "$DATA/postmaster.pid" ] && [ -x "$FND_BIN/pg_ctl" ]; then fnd_pg_stop "$DATA"; fi
rm -rf "$W"
mkdir -p "$W/scripts"
fnd_build_and_stage "$STAGE" "${FND_BENCH_CFLAGS:-}"
PORT=$(fnd_free_socket_port "$W" "${FND_BENCH_PORT:-54330}")
fnd_initdb "$DATA" "$W" "$PORT" "" "shared_buffers = 256MB" "synchronous_commit = off" \
	"max_connections = 60"
fnd_pg_start "$DATA" "$LOG"
trap 'fnd_pg_stop "$DATA"' EXIT

export PGHOST=$W PGPORT=$PORT PGUSER=$(id -un) PGDATABASE=postgres
export PATH="$FND_BIN:$PATH"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION foundation"

# bench_sql "SQL" : run SQL once (setup), quietly
bench_sql() { psql -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null; }

# bench_script "SQL" : a pgbench script file holding SQL
bench_script() {
	local f
	f=$(mktemp "$W/scripts/XXXXXX.sql")
	printf '%s\n' "$1" > "$f"
	echo "$f"
}

# bench_once CLIENTS FILE : TPS of one pgbench run
bench_once() {
	# a scenario whose clients end in errors (a barrier partner gone when
	# the run stops) still reports the TPS of what completed
	{ pgbench -n -M prepared -c "$1" -j "$1" -T "$SECONDS_EACH" -f "$2" 2>/dev/null || true; } |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# bench_compare LABEL CLIENTS "BASELINE SQL" "SCENARIO SQL" [GOAL]
# Prints both median TPS figures and scenario/baseline.  Baseline and
# scenario runs alternate, so a change of machine load hits both alike.
bench_compare() {
	local label=$1 clients=$2 goal=${5:-}
	case "$label" in *"$ONLY"*) ;; *) return 0 ;; esac
	local bf sf i base=() tps=()
	bf=$(bench_script "$3")
	sf=$(bench_script "$4")
	for ((i = 0; i < RUNS; i++)); do
		base+=("$(bench_once "$clients" "$bf")")
		tps+=("$(bench_once "$clients" "$sf")")
	done
	awk -v l="$label" -v c="$clients" -v g="$goal" \
		-v b="$(printf '%s\n' "${base[@]}" | median)" \
		-v t="$(printf '%s\n' "${tps[@]}" | median)" 'BEGIN {
		r = (b > 0) ? t / b : 0;
		printf "%-58s c=%-2d %10.0f tps  baseline %10.0f tps  ratio %5.2fx%s\n",
			l, c, t, b, r, (g != "" ? "  (goal " g ")" : "") }'
}

# bench_inbackend LABEL N "SQL WITH :n" "BASELINE SQL WITH :n" [GOAL]
# Runs a query that does N operations in one backend, minus a baseline
# query of the same shape, and prints nanoseconds per operation (median).
bench_inbackend() {
	local label=$1 n=$2 sql=$3 base_sql=$4 goal=${5:-}
	case "$label" in *"$ONLY"*) ;; *) return 0 ;; esac
	local i t b res=()
	for ((i = 0; i < RUNS; i++)); do
		t=$(psql -X -At -c '\timing on' -c "${sql//:n/$n}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		b=$(psql -X -At -c '\timing on' -c "${base_sql//:n/$n}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
		res+=("$(awk -v t="$t" -v b="$b" -v n="$n" 'BEGIN { printf "%.1f", (t - b) * 1e6 / n }')")
	done
	printf '%-58s %10s ns/op (median of %d, N=%d)%s\n' "$label" \
		"$(printf '%s\n' "${res[@]}" | median)" \
		"$RUNS" "$n" "${goal:+  (goal $goal)}"
}

echo "foundation benchmarks: $RUNS runs x ${SECONDS_EACH}s each, median; $(nproc) cores"
bench_compare "baseline sanity: SELECT 1 vs SELECT 1" 1 "SELECT 1" "SELECT 1" "1.00x"
# one scenario's failure must not hide the others' figures
set +e
for f in "$FND_SRC"/test/bench/*.sh; do
	[ -e "$f" ] || continue
	echo "-- $(basename "$f" .sh)"
	. "$f"
done
