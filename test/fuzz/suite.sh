#!/usr/bin/env bash
# The fuzz suite: call every function of the extension with hostile
# arguments (fuzz.c) in two databases of its own, then check that the
# server survived and that shared memory went back to how it was.
#
# Run by make test (short: at least 20000 calls) and make fuzz
# (FND_FUZZ_LONG=1: 200000 calls) against the shared instance: PGHOST,
# PGPORT, PGUSER set, PATH has the staged bin directory.
#
#   FND_FUZZ_SEED      seed (default 20261129); the same seed makes the same calls
#   FND_FUZZ_CALLS     number of calls (overrides the short/long default)
#   FND_FUZZ_WORKERS   concurrent worker processes (default 6)
#   FND_FUZZ_INTERRUPT 0 turns off the process that cancels waiting calls and
#                      terminates some of their sessions (default 1)
#
# Violations (exit status 1 when there is any):
#   - a call raised XX000 (internal error) or another XX code, or its
#     connection was lost (other than by the interrupter), or it outlived
#     its 200ms statement_timeout by 15 s
#   - the postmaster restarted (pg_postmaster_start_time() changed)
#   - the server log gained a PANIC, "terminated by signal" or "TRAP:" line
#   - shared-memory state did not go back to its starting occupancy once the
#     fuzz sessions were gone (see the occupancy section below)
set -euo pipefail
cd "$(dirname "$0")"

PG_CONFIG_SYS=${FND_PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
command -v "$PG_CONFIG_SYS" >/dev/null 2>&1 || PG_CONFIG_SYS=pg_config
OUT=${FND_WORK:-${TMPDIR:-/tmp}}/fuzz
mkdir -p "$OUT"
# Databases of their own: the fuzzer calls the admin functions that wipe
# state (fnd_config_reset, fnd_metrics_reset, fnd_prune_events ...).  Two,
# because shared-memory state is per database: the workers are spread over
# both, so scoping and exit cleanup meet entries of another database.
DBS="foundation_fuzz foundation_fuzz2"
ROLE=fnd_fuzz_plain
SEED=${FND_FUZZ_SEED:-20261129}
WORKERS=${FND_FUZZ_WORKERS:-6}
if [ -n "${FND_FUZZ_CALLS:-}" ]; then
	CALLS=$FND_FUZZ_CALLS
elif [ "${FND_FUZZ_LONG:-0}" = 1 ]; then
	CALLS=200000
else
	CALLS=20000
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
VIOLATIONS=0

violation() {
	echo "VIOLATION $*"
	VIOLATIONS=$((VIOLATIONS + 1))
}

cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
	-I"$("$PG_CONFIG_SYS" --includedir)" -o "$OUT/fuzz" fuzz.c \
	-L"$("$PG_CONFIG_SYS" --libdir)" -lpq

# A plain role makes a quarter of the calls, through the privilege checks.
"${PSQL[@]}" -d postgres -c "
	DO \$\$BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
			CREATE ROLE $ROLE LOGIN;
		END IF;
	END\$\$"
CONNINFO=
for db in $DBS; do
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	"${PSQL[@]}" -d "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION foundation" \
		-c "GRANT CREATE ON SCHEMA public TO $ROLE"
	# To check the fuzzer itself: extra SQL run in the fuzz databases, e.g.
	# functions added to the extension that misbehave on purpose.
	if [ -n "${FND_FUZZ_EXTRA_SQL:-}" ]; then
		"${PSQL[@]}" -d "$db" -f "$FND_FUZZ_EXTRA_SQL"
	fi
	CONNINFO="$CONNINFO${CONNINFO:+|}host=${PGHOST:-localhost} port=${PGPORT:-5432} dbname=$db user=${PGUSER:-$(id -un)}"
done

DB=foundation_fuzz
q() { "${PSQL[@]}" -d "$DB" -c "$1"; }

# The extension's views that show shared-memory state (not the catalog of
# error codes), and a count of each, in every fuzz database.
VIEWS=$(q "SELECT c.relname FROM pg_class c
	JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
	WHERE c.relkind = 'v' AND c.relname <> 'fnd_error_codes' ORDER BY 1")
has_func() { [ "$(q "SELECT count(*) FROM pg_proc WHERE proname = '$1'")" != 0 ]; }
has_col() { [ "$(q "SELECT count(*) FROM pg_attribute WHERE attrelid = '$1'::regclass AND attname = '$2' AND NOT attisdropped")" != 0 ]; }
counts() {
	local v
	for DB in $DBS; do
		for v in $VIEWS; do
			if [ "$v" = fnd_metrics ]; then
				# self-instrumentation (foundation.*) counts the checks themselves
				echo "$DB.$v=$(q "SELECT count(*) FROM fnd_metrics WHERE name NOT LIKE 'foundation.%'")"
			else
				echo "$DB.$v=$(q "SELECT count(*) FROM $v")"
			fi
		done
	done
	DB=foundation_fuzz
}

START_TIME=$(q "SELECT pg_postmaster_start_time()")
LOG=${FND_LOG:-}
if [ -z "$LOG" ]; then
	LOG=$(q "SELECT coalesce(pg_current_logfile(), '')")
	if [ -n "$LOG" ] && [ "${LOG#/}" = "$LOG" ]; then
		LOG="$(q "SHOW data_directory")/$LOG"
	fi
	[ -n "$LOG" ] || LOG=${FND_WORK:-}/postgres.log
fi
LOG_OFFSET=0
[ -f "$LOG" ] && LOG_OFFSET=$(stat -c %s "$LOG")
BEFORE=$(counts)
echo "fuzz: views before: $(echo $BEFORE)"

set +e
"$OUT/fuzz" "$CONNINFO" "$ROLE" "$CALLS" "$SEED" "$WORKERS" "$OUT/violations.sql" \
	"${FND_FUZZ_INTERRUPT:-1}" | tee "$OUT/fuzz.txt"
RC=${PIPESTATUS[0]}
set -e
case $RC in
	0) ;;
	1) VIOLATIONS=$((VIOLATIONS + $(sed -n 's/^fuzz: violations: //p' "$OUT/fuzz.txt")))
	   echo "fuzz: reproducers (at most 3 per function and worker) in $OUT/violations.sql:"
	   head -c 20000 "$OUT/violations.sql" ;;
	*) violation "the fuzzer could not run (status $RC)" ;;
esac

# The server never restarted, and its log shows no crash.
if [ "$(q "SELECT pg_postmaster_start_time()")" != "$START_TIME" ]; then
	violation "the server restarted during the fuzz run"
fi
if [ -f "$LOG" ]; then
	if tail -c +$((LOG_OFFSET + 1)) "$LOG" | grep -E 'PANIC|terminated by signal|TRAP:'; then
		violation "the server log shows a crash or a failed assertion"
	fi
else
	echo "fuzz: no server log found at '$LOG'; log check skipped"
fi

# Occupancy.  First the fuzz sessions must be gone (their exit cleanup has
# then run).  Then, in each fuzz database:
#  - nothing may still belong to or wait for a session that is gone: no
#    owner_pid of an ended session, no waiters/waiting, no barrier arrivals
#    (an arrival is withdrawn when its session ends);
#  - session-owned and leased state (registry, locks, leaders) goes back to
#    its starting count by itself: the fuzzer only passes leases of at most
#    2 s (or the function's default, 10 s for an election, when it omits
#    them), so waiting out the leases is enough;
#  - state that is persistent by design (breakers, rate buckets, barriers,
#    metrics) is removed with the subsystem's own admin function, and must
#    then be back to its starting count too; a view whose state has no
#    removal function (decided consensus rounds keep their slot until it is
#    needed) is reported, not compared.
deadline=$((SECONDS + 30))
while [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'fnd\_fuzz%'")" != 0 ]; do
	if [ $SECONDS -ge $deadline ]; then
		violation "fuzz sessions still connected 30 s after the run"
		break
	fi
	sleep 0.2
done

# The subsystems' admin removal functions, where they exist.
removal() {
	case $1 in
		fnd_circuit_breakers) has_func fnd_cb_remove && echo "SELECT count(fnd_cb_remove(name)) FROM fnd_circuit_breakers" ;;
		fnd_rate_limits) has_func fnd_rate_reset && echo "SELECT count(fnd_rate_reset(bucket)) FROM fnd_rate_limits" ;;
		fnd_barriers) has_func fnd_barrier_remove && echo "SELECT count(fnd_barrier_remove(name)) FROM fnd_barriers" ;;
		fnd_metrics) has_func fnd_metrics_reset && echo "SELECT fnd_metrics_reset()" ;;
	esac
	return 0
}
uncleanable() {	# state persistent by design, with no admin removal function
	case $1 in
		fnd_registry|fnd_locks|fnd_leaders) return 1 ;;
		*) [ -z "$(removal "$1")" ] ;;
	esac
}

for DB in $DBS; do
	for v in $VIEWS; do
		if has_col "$v" owner_pid; then
			stale=$(q "SELECT count(*) FROM $v WHERE owner_pid IS NOT NULL
				AND owner_pid NOT IN (SELECT pid FROM pg_stat_activity)")
			[ "$stale" = 0 ] || violation "$DB.$v: $stale row(s) still owned by sessions that ended"
		fi
		for col in waiters waiting arrived; do
			if has_col "$v" $col; then
				left=$(q "SELECT count(*) FROM $v WHERE $col > 0")
				[ "$left" = 0 ] || violation "$DB.$v: $left row(s) with $col > 0 after every session ended"
			fi
		done
		sql=$(removal "$v")
		[ -z "$sql" ] || q "$sql" >/dev/null
	done
done
DB=foundation_fuzz

deadline=$((SECONDS + 20))
while :; do
	AFTER=$(counts)
	diff=0
	for line in $BEFORE; do
		v=${line%%=*}
		uncleanable "${v#*.}" && continue
		grep -qx "$line" <<<"$AFTER" || diff=1
	done
	[ $diff = 0 ] && break
	[ $SECONDS -ge $deadline ] && break
	sleep 0.5
done
echo "fuzz: views after:  $(echo $AFTER)"
for line in $BEFORE; do
	v=${line%%=*}
	if uncleanable "${v#*.}"; then
		echo "fuzz: $v not compared (its state is persistent by design and has no removal function)"
	elif ! grep -qx "$line" <<<"$AFTER"; then
		violation "$v: occupancy $(grep "^$v=" <<<"$AFTER") after the run, $line before"
	fi
done
if has_func fnd_registry_stats; then
	for DB in $DBS; do
		n=$(q "SELECT (fnd_registry_stats()->>'entries')::bigint = (SELECT count(*) FROM fnd_registry)")
		[ "$n" = t ] || violation "$DB: fnd_registry_stats() disagrees with the empty fnd_registry: $(q "SELECT fnd_registry_stats()")"
	done
fi

echo "fuzz: total violations: $VIOLATIONS"
[ "$VIOLATIONS" -eq 0 ]
