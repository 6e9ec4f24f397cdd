#!/usr/bin/env bash
# The fuzz suite: call every function of the extension with hostile
# arguments (fuzz.c) in two databases of its own, then check that the
# server survived and that shared memory went back to how it was.
#
# Run by make test (short: at least 20000 calls) and make fuzz
# (FND_FUZZ_LONG=1: 200000 calls) against the shared instance: PGHOST,
# PGPORT, PGUSER (or libpq's defaults), PATH has the staged bin directory.
#
#   FND_FUZZ_SEED      seed (default 20261129); the same seed makes the same calls
#   FND_FUZZ_CALLS     number of calls (overrides the short/long default)
#   FND_FUZZ_WORKERS   concurrent worker processes (default 6)
#   FND_FUZZ_INTERRUPT 0 turns off the process that cancels waiting calls and
#                      terminates some of their sessions (default 1)
#   FND_FUZZ_SETTLE    seconds to wait for leases, sweeps and exiting
#                      sessions before a difference counts (default 30)
#   FND_FUZZ_EXTRA_SQL a file run in the fuzz databases (functions added to
#                      the extension, to check the fuzzer by hand)
#
# Violations (exit status 1 when there is any):
#   - a call raised XX000 (internal error) or another XX code, ended its
#     session (a FATAL of any SQLSTATE, a lost connection, a session found
#     dead after its last call) other than by the interrupter, or took more
#     than 2 s past its 200 ms statement_timeout
#   - the postmaster restarted (pg_postmaster_start_time() changed)
#   - the server log gained a PANIC, "terminated by signal" or "TRAP:" line
#   - shared memory did not go back (see "Leaks" below)
#
# Leaks.  Nothing is wiped with admin functions before it is compared:
#   - session-owned and leased state (registry, locks, leaders) of the fuzz
#     databases is back to its starting count by itself once the fuzz
#     sessions are gone and their leases (at most 2 s, 10 s for an election
#     that omits it) ran out; no row is owned by an ended session or counts
#     waiters or arrivals; no consensus round is still pending past its
#     deadline;
#   - every shared table keeps the books: its entries visible in some
#     database's view plus the room left in it (measured by filling it, in
#     a database of its own: probe.sql) is the same after the run as before,
#     for the registry, locks, elections, breakers, rate buckets,
#     coordination objects (barriers and consensus rounds), metric and
#     histogram series.  Entries the fuzzer leaves by design (breakers,
#     decided rounds, ...) are visible, so they balance; a slot used by
#     nothing visible does not;
#   - once the fuzz databases are dropped, the supervisor's sweep and the
#     leases give every table its room back (telemetry excepted: series of
#     dropped databases stay, issue 12), and the shared value area
#     (foundation.value_memory: registry documents, consensus proposals)
#     holds as many 6000-byte documents as before.  (The DSA area keeps an
#     empty 64 kB block of each size class it has used, for good: the
#     self-test's calls and fuzz_warm_up use every size class before the
#     baseline is taken.)
#
# Self-tests: first, the fuzzer must report a function that ignores
# statement_timeout and two that end their session (selftest.sql); last,
# the leak checks must report leases held for a minute in a database nobody
# can connect to (invisible) and in a fuzz database (visible).
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
PROBE_DB=foundation_fuzz_probe
SELFTEST_DB=foundation_fuzz_selftest
LEAK_DB=foundation_fuzz_leak
GHOST_DB=foundation_fuzz_ghost
ROLE=fnd_fuzz_plain
SEED=${FND_FUZZ_SEED:-20261129}
WORKERS=${FND_FUZZ_WORKERS:-6}
SETTLE=${FND_FUZZ_SETTLE:-30}
if [ -n "${FND_FUZZ_CALLS:-}" ]; then
	CALLS=$FND_FUZZ_CALLS
elif [ "${FND_FUZZ_LONG:-0}" = 1 ]; then
	CALLS=200000
else
	CALLS=20000
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=error"
VIOLATIONS=0
TABLES="registry locks elections breakers buckets coordination metrics histograms"

violation() {
	echo "VIOLATION $*"
	VIOLATIONS=$((VIOLATIONS + 1))
}

q() { "${PSQL[@]}" -d "$DB" -c "$1"; }
qd() { local db=$1; shift; "${PSQL[@]}" -d "$db" -c "$1"; }

conninfo_of() {
	echo "${PGHOST:+host=$PGHOST }${PGPORT:+port=$PGPORT }dbname=$1 user=${PGUSER:-$(id -un)}"
}

new_db() {	# new_db NAME [extra sql file]
	qd postgres "DROP DATABASE IF EXISTS $1"
	qd postgres "CREATE DATABASE $1"
	qd "$1" "CREATE EXTENSION foundation"
	qd "$1" "GRANT CREATE ON SCHEMA public TO $ROLE"
	if [ -n "${2:-}" ]; then
		"${PSQL[@]}" -d "$1" -f "$2"
	fi
}

# ---------- what shared memory holds ----------

# Entries visible in the views, summed over every database one can connect
# to that has the extension: "table=count" lines, in $TABLES order.  A
# drained rate bucket is room (a full table recycles it), not an entry.
visible() {
	local db t
	declare -A n=()
	for t in $TABLES; do n[$t]=0; done
	for db in $(qd postgres "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1"); do
		while IFS='|' read -r t c; do
			[ -n "$t" ] && n[$t]=$((n[$t] + c))
		done < <("${PSQL[@]}" -d "$db" <<-'EOF'
			SELECT string_agg(format('SELECT %L, count(*) FROM %s', w, src), ' UNION ALL ')
			FROM (VALUES ('registry', 'fnd_registry'), ('locks', 'fnd_locks'),
			             ('elections', 'fnd_leaders'), ('breakers', 'fnd_circuit_breakers'),
			             ('buckets', 'fnd_rate_limits WHERE hits_in_window > 0'),
			             ('buckets', 'fnd_agent_rate_limits WHERE hits_in_window > 0'),
			             ('coordination', 'fnd_barriers'),
			             ('coordination', 'fnd_consensus'), ('metrics', 'fnd_metrics'),
			             ('histograms', 'fnd_metrics WHERE kind = ''histogram''')) v(w, src)
			WHERE to_regclass(split_part(src, ' ', 1)) IS NOT NULL
			HAVING EXISTS (SELECT FROM pg_extension WHERE extname = 'foundation')
			\gexec
		EOF
		)
	done
	for t in $TABLES; do echo "$t=${n[$t]}"; done
}

# Room left in each table ("table=n"; "table=" when it cannot be probed).
room() {	# room TABLE...
	local t
	for t in "$@"; do
		echo "$t=$(qd "$PROBE_DB" "SELECT fuzz_probe('$t')")"
	done
}

# Books of every table: visible entries plus room left.  Room first: an
# entry that ends in between (a lease, a draining bucket) then counts in
# neither, a short count that a second look corrects (books_back polls),
# rather than in both, which would raise the baseline.
books() {
	local v r t
	r=$(room $TABLES)
	v=$(visible)
	for t in $TABLES; do
		local vn rn
		vn=$(sed -n "s/^$t=//p" <<<"$v")
		rn=$(sed -n "s/^$t=//p" <<<"$r")
		if [ -z "$rn" ]; then echo "$t="; else echo "$t=$((vn + rn))"; fi
	done
}

# Tables whose books are short of BEFORE: "table now before" lines.
short_of() {	# short_of BEFORE NOW [TABLE...]
	local before=$1 now=$2 t b n; shift 2
	for t in "$@"; do
		b=$(sed -n "s/^$t=//p" <<<"$before")
		n=$(sed -n "s/^$t=//p" <<<"$now")
		[ -n "$b" ] && [ -n "$n" ] || continue
		[ "$n" -lt "$b" ] && echo "$t $n $b"
	done
	return 0
}

# Poll books (or room, for value_memory) until no table is short of BEFORE
# or SETTLE seconds passed; then a violation per table still short.
books_back() {	# books_back WHAT BEFORE TABLE...
	local what=$1 before=$2 now short deadline=$((SECONDS + SETTLE)); shift 2
	while :; do
		if [ "$*" = value_memory ]; then now=$(room value_memory); else now=$(books); fi
		short=$(short_of "$before" "$now" "$@")
		[ -z "$short" ] && break
		[ $SECONDS -ge $deadline ] && break
		sleep 1
	done
	echo "fuzz: $what: $(echo $(grep -E "^($(echo "$@" | tr ' ' '|'))=" <<<"$now"))"
	while read -r t n b; do
		[ -n "$t" ] || continue
		if [ "$t" = value_memory ]; then
			violation "$what: the value area holds $n documents of 6000 bytes, $b before: value memory leaked"
		else
			violation "$what: $t has room for $((b - n)) fewer entries than before that no view shows (entries + room: $n, before $b)"
		fi
	done <<<"$short"
}

# Session-owned and leased state of the fuzz databases ("db.view=count").
SESSION_VIEWS="fnd_registry fnd_locks fnd_leaders"
owned_counts() {
	local db v
	for db in "$@"; do
		for v in $SESSION_VIEWS; do
			[ "$(qd "$db" "SELECT to_regclass('$v') IS NOT NULL")" = t ] &&
				echo "$db.$v=$(qd "$db" "SELECT count(*) FROM $v")"
		done
	done
	return 0
}

# What must hold in a fuzz database once its sessions are gone.
settled_checks() {	# settled_checks DB...
	local db v col n
	for db in "$@"; do
		for v in $(qd "$db" "SELECT c.relname FROM pg_class c
				JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
				JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
				WHERE c.relkind = 'v' ORDER BY 1"); do
			for col in owner_pid waiters waiting arrived; do
				[ "$(qd "$db" "SELECT count(*) FROM pg_attribute WHERE attrelid = '$v'::regclass
					AND attname = '$col' AND NOT attisdropped")" = 1 ] || continue
				if [ $col = owner_pid ]; then
					n=$(qd "$db" "SELECT count(*) FROM $v WHERE owner_pid IS NOT NULL
						AND owner_pid NOT IN (SELECT pid FROM pg_stat_activity)")
					[ "$n" = 0 ] || violation "$db.$v: $n row(s) still owned by sessions that ended"
				else
					n=$(qd "$db" "SELECT count(*) FROM $v WHERE $col > 0")
					[ "$n" = 0 ] || violation "$db.$v: $n row(s) with $col > 0 after every session ended"
				fi
			done
		done
		if [ "$(qd "$db" "SELECT to_regclass('fnd_consensus') IS NOT NULL")" = t ]; then
			# the supervisor decides a round whose deadline passed (a pass every 200 ms)
			local deadline=$((SECONDS + 10))
			while n=$(qd "$db" "SELECT count(*) FROM fnd_consensus WHERE status = 'pending'
					AND deadline < clock_timestamp() - interval '2 s'"); [ "$n" != 0 ]; do
				[ $SECONDS -ge $deadline ] && break
				sleep 0.5
			done
			[ "$n" = 0 ] || violation "$db.fnd_consensus: $n round(s) still pending 2 s past their deadline"
		fi
		if [ "$(qd "$db" "SELECT to_regprocedure('fnd_registry_stats()') IS NOT NULL")" = t ]; then
			n=$(qd "$db" "SELECT (fnd_registry_stats()->>'entries')::bigint = (SELECT count(*) FROM fnd_registry)")
			[ "$n" = t ] || violation "$db: fnd_registry_stats() disagrees with fnd_registry: $(qd "$db" "SELECT fnd_registry_stats()")"
		fi
	done
}

# Poll until the session-owned and leased state is back to BEFORE.
owned_back() {	# owned_back BEFORE DB...
	local before=$1 now line deadline=$((SECONDS + SETTLE)); shift
	while :; do
		now=$(owned_counts "$@")
		[ "$now" = "$before" ] && break
		[ $SECONDS -ge $deadline ] && break
		sleep 0.5
	done
	echo "fuzz: session-owned and leased state after: $(echo $now)"
	for line in $before; do
		grep -qx "$line" <<<"$now" ||
			violation "${line%%=*}: $(grep "^${line%%=*}=" <<<"$now" | sed 's/.*=//') row(s) after the run, ${line#*=} before"
	done
}

sessions_gone() {
	local deadline=$((SECONDS + SETTLE))
	while [ "$(qd postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'fnd\_fuzz%'")" != 0 ]; do
		if [ $SECONDS -ge $deadline ]; then
			violation "fuzz sessions still connected $SETTLE s after the run"
			break
		fi
		sleep 0.2
	done
}

# ---------- setup ----------

cc -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
	-I"$("$PG_CONFIG_SYS" --includedir)" -o "$OUT/fuzz" fuzz.c \
	-L"$("$PG_CONFIG_SYS" --libdir)" -lpq

# A plain role makes a quarter of the calls, through the privilege checks.
qd postgres "
	DO \$\$BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
			CREATE ROLE $ROLE LOGIN;
		END IF;
	END\$\$"
new_db "$PROBE_DB" probe.sql

START_TIME=$(qd postgres "SELECT pg_postmaster_start_time()")
LOG=${FND_LOG:-}
if [ -z "$LOG" ]; then
	LOG=$(qd postgres "SELECT coalesce(pg_current_logfile(), '')")
	if [ -n "$LOG" ] && [ "${LOG#/}" = "$LOG" ]; then
		LOG="$(qd postgres "SHOW data_directory")/$LOG"
	fi
	[ -n "$LOG" ] || LOG=${FND_WORK:-}/postgres.log
fi
LOG_OFFSET=0
[ -f "$LOG" ] && LOG_OFFSET=$(stat -c %s "$LOG")

# ---------- self-test 1: the fuzzer reports what it claims to ----------

new_db "$SELFTEST_DB" selftest.sql
set +e
"$OUT/fuzz" "$(conninfo_of "$SELFTEST_DB")" "$ROLE" 1 "$SEED" 4 "$OUT/selftest.sql" 0 \
	> "$OUT/selftest.txt" 2>&1
RC=$?
set -e
grep -E '^(VIOLATION|fuzz: violations)' "$OUT/selftest.txt" | sed 's/^/  [self-test] /'
# a session that ends reports "ended its session: FATAL <SQLSTATE>", or, when
# the client finds the socket closed before it reads the FATAL, "lost the
# connection"; an idle-session timeout may also end a session after its last call
ENDED='(ended its session: FATAL 57P0[15]|lost the connection|was the last call of a session found dead)'
if [ "$RC" != 1 ] || ! grep -qx 'fuzz: violations: 3' "$OUT/selftest.txt" ||
	! grep -q '^VIOLATION item [0-9]*: fnd_zz_selftest_slow() outlived its statement_timeout' "$OUT/selftest.txt" ||
	! grep -qE "^VIOLATION item [0-9]*: fnd_ab_selftest_terminate\(\) $ENDED" "$OUT/selftest.txt" ||
	[ "$(grep -cE "^VIOLATION item [0-9]*: .*$ENDED" "$OUT/selftest.txt")" != 2 ]; then
	violation "fuzzer self-test: expected exit status 1 and exactly 3 violations (a call past statement_timeout, two sessions ended); got status $RC"
	cat "$OUT/selftest.txt"
fi
echo "fuzz: self-test: a slow call and two sessions ended were reported (status $RC)"

# The self-test database stays until the end: what its calls left is then
# settled (its leases run out first) and in view, not swept while the
# books are kept.  Its calls also warmed the value area up: the DSA area
# keeps an empty 64 kB block of each size class it has used, so the first
# use of a size class takes room for good; the run below uses the same
# sizes.
settled_checks "$SELFTEST_DB"
owned_back "$(owned_counts "$SELFTEST_DB" | sed 's/=.*/=0/')" "$SELFTEST_DB"
qd "$PROBE_DB" "SELECT fuzz_warm_up()" >/dev/null

# ---------- the run ----------

CONNINFO=
for db in $DBS; do
	new_db "$db" "${FND_FUZZ_EXTRA_SQL:-}"
	CONNINFO="$CONNINFO${CONNINFO:+|}$(conninfo_of "$db")"
done

OWNED_BEFORE=$(owned_counts $DBS)
BOOKS_BEFORE=$(books)
VALUES_BEFORE=$(room value_memory)
echo "fuzz: session-owned and leased state before: $(echo $OWNED_BEFORE)"
echo "fuzz: entries + room before: $(echo $BOOKS_BEFORE) $VALUES_BEFORE"

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
if [ "$(qd postgres "SELECT pg_postmaster_start_time()")" != "$START_TIME" ]; then
	violation "the server restarted during the fuzz run"
fi

sessions_gone
settled_checks $DBS
owned_back "$OWNED_BEFORE" $DBS
books_back "entries + room after the run" "$BOOKS_BEFORE" $TABLES
for db in $DBS; do qd postgres "DROP DATABASE $db"; done
books_back "entries + room once the fuzz databases are dropped" "$BOOKS_BEFORE" \
	registry locks elections breakers buckets coordination
books_back "room in the value area once the fuzz databases are dropped" "$VALUES_BEFORE" value_memory

# ---------- self-test 2: the leak checks see leaks ----------
#
# Leases of a minute: a lock and 20 registry documents of 6000 bytes in a
# database nobody
# can connect to (no view shows them: the books are short), and a registry
# entry in a fuzz database (its count is not back).
new_db "$LEAK_DB"
new_db "$GHOST_DB"
OWNED_BEFORE=$(owned_counts "$LEAK_DB")
BOOKS_BEFORE=$(books)
VALUES_BEFORE=$(room value_memory)
qd "$GHOST_DB" "SELECT fnd_lock_acquire('fuzz_selftest', '0', '1 min'),
	count(fnd_register('fuzz_selftest', 'e' || i, jsonb_build_object('pad', repeat('x', 6000)), '1 min'))
	FROM generate_series(1, 20) i" >/dev/null
qd postgres "ALTER DATABASE $GHOST_DB ALLOW_CONNECTIONS false"
qd "$LEAK_DB" "SELECT fnd_register('fuzz_selftest', 'visible', '{}', '1 min')"
REAL_VIOLATIONS=$VIOLATIONS
VIOLATIONS=0
LEAKS=$(SETTLE=2
	owned_back "$OWNED_BEFORE" "$LEAK_DB"
	# (not telemetry: the ghost database's own calls add series no view shows)
	books_back "self-test" "$BOOKS_BEFORE" registry locks elections breakers buckets coordination
	books_back "self-test" "$VALUES_BEFORE" value_memory)
echo "$LEAKS" | sed 's/^/  [self-test] /'
qd postgres "DROP DATABASE $GHOST_DB"
qd postgres "DROP DATABASE $LEAK_DB"
qd postgres "DROP DATABASE $SELFTEST_DB"
VIOLATIONS=$REAL_VIOLATIONS
for want in "^VIOLATION $LEAK_DB.fnd_registry: 1 row\(s\) after the run, 0 before" \
	"^VIOLATION self-test: registry has room for 20 fewer entries" \
	"^VIOLATION self-test: locks has room for 1 fewer entries" \
	"^VIOLATION self-test: the value area holds [0-9]+ documents of 6000 bytes"; do
	grep -qE "$want" <<<"$LEAKS" || violation "leak self-test: no line matching '$want'"
done
[ "$(grep -c '^VIOLATION' <<<"$LEAKS")" = 4 ] ||
	violation "leak self-test: expected exactly 4 violations"
echo "fuzz: self-test: the leaks were reported"

if [ -f "$LOG" ]; then
	if tail -c +$((LOG_OFFSET + 1)) "$LOG" | grep -E 'PANIC|terminated by signal|TRAP:'; then
		violation "the server log shows a crash or a failed assertion"
	fi
else
	echo "fuzz: no server log found at '$LOG'; log check skipped"
fi

echo "fuzz: total violations: $VIOLATIONS"
[ "$VIOLATIONS" -eq 0 ]
