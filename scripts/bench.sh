#!/usr/bin/env bash
# make bench: pgbench scenarios on a private preloaded instance.  Each
# scenario prints its TPS and the ratio to a baseline measured in the same
# run (median of FND_BENCH_RUNS runs of FND_BENCH_SECONDS each), because
# shared machines are noisy, in both pgbench protocols: -M simple (a psql-
# style query: parsed and planned every time) and -M prepared.  Scenarios
# live in test/bench/*.sh; each file is sourced and calls the functions
# below.  Filter with ONLY=word.
#
# Sections: the scenarios; the upgrade steps' timing on 1M events
# (test/upgrade/harness.sh, FND_UPGRADE_ROWS); and the compatibility
# section of scripts/bench-compat.sh (the recorded 1.0 build next to this
# one, every 1.0 scenario on both: FND_BENCH_COMPAT=0 skips it).
#
#   FND_BENCH_RUNS=3  FND_BENCH_SECONDS=5  FND_BENCH_PROTOCOLS="simple prepared"
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/releases.sh"
. "$(dirname "${BASH_SOURCE[0]}")/bench-compat.sh"

MODE=${FND_BENCH_MODE:-all}	# all | compat (make bench-compat)
COMPAT=${FND_BENCH_COMPAT:-1}
[ "$MODE" = compat ] && COMPAT=1

if [ "$(id -u)" -eq 0 ]; then
	fnd_deps
	# git runs here, in the checkout, before the copy without .git
	[ "$COMPAT" = 1 ] && compat_export_as_root
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
PROTOCOLS=${FND_BENCH_PROTOCOLS:-simple prepared}
ONLY=${ONLY:-}

if [ -f "$DATA/postmaster.pid" ] && [ -x "$FND_BIN/pg_ctl" ]; then fnd_pg_stop "$DATA"; fi
compat_stop_old
rm -rf "$W"
mkdir -p "$W/scripts"
fnd_build_and_stage "$STAGE" "${FND_BENCH_CFLAGS:-}"
PORT=$(fnd_free_socket_port "$W" "${FND_BENCH_PORT:-54330}")
fnd_initdb "$DATA" "$W" "$PORT" "" "shared_buffers = 256MB" "synchronous_commit = off" \
	"max_connections = 60"
fnd_pg_start "$DATA" "$LOG"
trap 'fnd_pg_stop "$DATA"; compat_stop_old' EXIT

export PGHOST=$W PGPORT=$PORT PGUSER=$(id -un) PGDATABASE=postgres
export PATH="$FND_BIN:$PATH"
psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION foundation"

# Targets: the instances a scenario's setup runs on and its figures come
# from.  Normally only this build's ("cur"); in the compatibility section
# the recorded 1.0 build's ("old") and this build's ("new").
declare -A HOST=([cur]=$W [new]=$W)
TARGETS=cur
on() { local t=$1; shift; PGHOST=${HOST[$t]} "$@"; }

# bench_sql "SQL" : run SQL once (setup), quietly, on every target
bench_sql() {
	local t
	for t in $TARGETS; do
		on "$t" env PGOPTIONS="-c client_min_messages=warning" \
			psql -X -q -v ON_ERROR_STOP=1 -c "$1" >/dev/null
	done
}

# bench_script "SQL" : a pgbench script file holding SQL
bench_script() {
	local f
	f=$(mktemp "$W/scripts/XXXXXX.sql")
	printf '%s\n' "$1" > "$f"
	echo "$f"
}

# bench_once TARGET PROTOCOL CLIENTS FILE : TPS of one pgbench run
bench_once() {
	# a scenario whose clients end in errors (a barrier partner gone when
	# the run stops) still reports the TPS of what completed
	{ on "$1" pgbench -n -M "$2" -c "$3" -j "$3" -T "$SECONDS_EACH" -f "$4" 2>/dev/null || true; } |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# bench_pair TA FA TB FB PROTOCOL CLIENTS : "median-A median-B ratio".
# Runs of A and B alternate, so a change of machine load hits both alike;
# the ratio is the median of each adjacent pair's B/A, which follows a
# load that drifts during the runs better than a ratio of medians.
bench_pair() {
	local i a=() b=() r=() x y
	for ((i = 0; i < RUNS; i++)); do
		x=$(bench_once "$1" "$5" "$6" "$2")
		y=$(bench_once "$3" "$5" "$6" "$4")
		a+=("${x:-0}"); b+=("${y:-0}")
		r+=("$(awk -v x="${x:-0}" -v y="${y:-0}" 'BEGIN { print (x > 0) ? y / x : 0 }')")
	done
	echo "$(printf '%s\n' "${a[@]}" | median) $(printf '%s\n' "${b[@]}" | median) $(printf '%s\n' "${r[@]}" | median)"
}

# bench_compare LABEL CLIENTS "BASELINE SQL" "SCENARIO SQL" [GOAL]
# Prints, per protocol, scenario/baseline (median of the runs' ratios) and
# both median TPS figures.
# In the compatibility section: the scenario on this build over the same
# scenario on the 1.0 build (the baseline is not run).
bench_compare() {
	local label=$1 clients=$2 goal=${5:-} bf sf p ab line
	case "$label" in *"$ONLY"*) ;; *) return 0 ;; esac
	bf=$(bench_script "$3")
	sf=$(bench_script "$4")
	# in the compatibility section the baseline does not run: name the
	# scenario only
	if [ -n "$COMPAT_LABEL" ]; then
		goal=">= 0.95x"; label=${label%% vs *}; label=${label%,}
		# a scenario compared with two baselines is measured once here
		local key="$clients $(printf '%s' "$4" | md5sum | cut -c1-32)"
		[ -z "${COMPAT_SEEN[$key]:-}" ] || return 0
		COMPAT_SEEN[$key]=1
	fi
	line=$(printf '%-58s c=%-2d' "$label" "$clients")
	for p in $PROTOCOLS; do
		if [ -n "$COMPAT_LABEL" ]; then
			ab=$(bench_pair old "$sf" new "$sf" "$p" "$clients")
		else
			ab=$(bench_pair cur "$bf" cur "$sf" "$p" "$clients")
		fi
		line+=$(echo "$ab" | awk -v p="$p" '{
			printf "  %-8s %5.2fx (%7.0f / %7.0f tps)", p, $3, $2, $1 }')
	done
	echo "$line${goal:+  (goal $goal)}"
}

# bench_inbackend_once TARGET N SQL BASE_SQL : ns per operation, one run
bench_inbackend_once() {
	local t b
	t=$(on "$1" psql -X -At -c '\timing on' -c "${3//:n/$2}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	b=$(on "$1" psql -X -At -c '\timing on' -c "${4//:n/$2}" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	awk -v t="$t" -v b="$b" -v n="$2" 'BEGIN { printf "%.1f", (t - b) * 1e6 / n }'
}

# bench_cpu_once TARGET N SQL BASE_SQL : ns of the backend's own CPU time
# per operation (utime + stime from /proc/self/stat, in clock ticks, around
# the query), which holds up on a busy machine; resolution one tick
bench_cpu_once() {
	local stat="SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') s"
	local t b
	t=$(on "$1" psql -X -q -At -c "SET jit = off" -c "$stat" -c "${3//:n/$2}" -c "$stat" | awk 'NR == 1 { a = $1 } END { print $1 - a }')
	b=$(on "$1" psql -X -q -At -c "SET jit = off" -c "$stat" -c "${4//:n/$2}" -c "$stat" | awk 'NR == 1 { a = $1 } END { print $1 - a }')
	awk -v t="$t" -v b="$b" -v n="$2" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (t - b) * 1e9 / hz / n }'
}

# bench_ns KIND LABEL N SQL BASE_SQL GOAL: median ns per operation (KIND
# inbackend: wall clock; cpu: the backend's CPU time); in the
# compatibility section the 1.0 build's and this build's, and their ratio
# (1.0's ns over this build's: above 1 is faster)
bench_ns() {
	local kind=$1 label=$2 n=$3 sql=$4 base_sql=$5 goal=${6:-} i t res=() old=() new=()
	case "$label" in *"$ONLY"*) ;; *) return 0 ;; esac
	local what="ns/op"
	[ "$kind" = cpu ] && what="ns/op CPU"
	if [ -n "$COMPAT_LABEL" ]; then
		for ((i = 0; i < RUNS; i++)); do
			old+=("$(bench_${kind}_once old "$n" "$sql" "$base_sql")")
			new+=("$(bench_${kind}_once new "$n" "$sql" "$base_sql")")
		done
		for ((i = 0; i < RUNS; i++)); do
			res+=("$(awk -v o="${old[i]}" -v c="${new[i]}" 'BEGIN { print (c > 0) ? o / c : 0 }')")
		done
		awk -v l="$label" -v o="$(printf '%s\n' "${old[@]}" | median)" \
			-v c="$(printf '%s\n' "${new[@]}" | median)" -v w="$what" -v n="$n" \
			-v r="$(printf '%s\n' "${res[@]}" | median)" 'BEGIN {
			printf "%-58s %10s %s now, %s at 1.0, ratio %5.2fx (N=%d)  (goal >= 0.95x)\n",
				l, c, w, o, r, n }'
		return 0
	fi
	for ((i = 0; i < RUNS; i++)); do
		res+=("$(bench_${kind}_once cur "$n" "$sql" "$base_sql")")
	done
	printf '%-58s %10s %s (median of %d, N=%d)%s\n' "$label" \
		"$(printf '%s\n' "${res[@]}" | median)" "$what" "$RUNS" "$n" "${goal:+  (goal $goal)}"
}

# bench_inbackend LABEL N "SQL WITH :n" "BASELINE SQL WITH :n" [GOAL]
# Runs a query that does N operations in one backend, minus a baseline
# query of the same shape, and prints nanoseconds per operation (median).
bench_inbackend() { bench_ns inbackend "$@"; }

# bench_cpu LABEL N "SQL WITH :n" "BASELINE SQL WITH :n" [GOAL]: the same
# in the backend's CPU time
bench_cpu() { bench_ns cpu "$@"; }

# bench_each LABEL FUNCTION: a measurement of its own (FUNCTION prints its
# figures, using psql on PGHOST), run once; in the compatibility section
# on the 1.0 build, then on this build
bench_each() {
	local label=$1 fn=$2 t
	case "$label" in *"$ONLY"*) ;; *) return 0 ;; esac
	if [ -n "$COMPAT_LABEL" ]; then
		for t in old new; do
			printf '  [%s]\n' "$([ $t = old ] && echo "1.0 build" || echo "this build")"
			TARGETS=$t PGHOST=${HOST[$t]} "$fn"
		done
	else
		"$fn"
	fi
}

COMPAT_LABEL=
declare -A COMPAT_SEEN=()
# one scenario's failure must not hide the others' figures
set +e
if [ "$MODE" != compat ]; then
	echo "foundation benchmarks: $RUNS runs x ${SECONDS_EACH}s each, median; protocols: $PROTOCOLS; $(nproc) cores"
	bench_compare "baseline sanity: SELECT 1 vs SELECT 1" 1 "SELECT 1" "SELECT 1" "1.00x"
	for f in "$FND_SRC"/test/bench/*.sh; do
		[ -e "$f" ] || continue
		echo "-- $(basename "$f" .sh)"
		. "$f"
	done
	case "upgrade" in *"$ONLY"*)
		echo "-- upgrade steps on ${FND_UPGRADE_ROWS:-1000000} events (test/upgrade/harness.sh --checks timing)"
		FND_UPGRADE_ROWS=${FND_UPGRADE_ROWS:-1000000} FND_WORK=$W \
			bash "$FND_SRC/test/upgrade/harness.sh" --checks timing --work "$W/upgrade" | grep -v '^upgrade harness'
		if ! ls "$("$FND_BIN/pg_config" --sharedir)"/extension/foundation--*--*.sql >/dev/null 2>&1; then
			echo "   (no real step yet: the self-test's reference step, test/upgrade/selftest/good)"
			FND_UPGRADE_ROWS=${FND_UPGRADE_ROWS:-1000000} FND_STAGE=$STAGE FND_WORK=$W \
				bash "$FND_SRC/test/upgrade/selftest.sh" good | grep -E 'timing' | sed 's/^ *//'
		fi
		;;
	esac
fi
[ "$COMPAT" = 1 ] && compat_section
exit 0
