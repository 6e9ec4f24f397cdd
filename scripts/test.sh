#!/usr/bin/env bash
# make test: build with -Werror and assertions, start a private preloaded
# instance, run every suite, print the totals line "N passed, N failed".
#
# Suites (SUITES="..." picks some, ONLY=word keeps tests whose file name
# contains word):
#   regress    pg_regress on sql/*.sql against expected/*.out
#   isolation  isolation specs in test/isolation/specs
#   pgtap      pgTAP files in test/pgtap, run with pg_prove
#   tap        Perl TAP tests in test/t (PostgreSQL::Test::Cluster), each
#              with servers of its own: restarts, crashes, no preload
#   suites     executables test/*/suite.sh (stress, fuzz, upgrade, runner,
#              ...), run against the shared instance; exit status 0 means
#              passed
#   pgxs       make installcheck (the PGXS wiring: pg_regress and
#              pg_isolation_regress on a temporary preloaded instance, prove)
#              against the staged server, with one test of each kind
# Each test file counts once in the totals.
#
# A selection that matches no test fails at once, before building.  Every
# suite runs under a time limit (generous, so CI stays well under 30
# minutes even if one hangs) and fails with its name when it runs over:
# regress, isolation 600 s each, pgtap 300 s, each TAP file 420 s, each
# test/*/suite.sh 900 s, pgxs 600 s.  FND_SUITE_TIMEOUT=n sets every limit
# to n seconds.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ALL_SUITES="regress isolation pgtap tap suites pgxs"
SUITES=${SUITES:-$ALL_SUITES}
ONLY=${ONLY:-}
PASSED=0
FAILED=0
FAILURES=()

record() {	# record NAME ok|fail
	if [ "$2" = ok ]; then
		PASSED=$((PASSED + 1))
	else
		FAILED=$((FAILED + 1))
		FAILURES+=("$1")
	fi
}

totals() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# Files matching a glob, filtered by ONLY, one per line.
pick() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		case "$(basename "$f")" in *"$ONLY"*) echo "$f" ;; esac
	done
}

suite_dirs() {	# the test/*/suite.sh of the selection, one per line
	local f
	for f in "$FND_SRC"/test/*/suite.sh; do
		[ -e "$f" ] || continue
		case "$(basename "$(dirname "$f")")" in *"$ONLY"*) echo "$f" ;; esac
	done
}

# How many tests SUITE selects.
selected() {
	case $1 in
		regress) pick "$FND_SRC"/sql/*.sql | wc -l ;;
		isolation) pick "$FND_SRC"/test/isolation/specs/*.spec | wc -l ;;
		pgtap) pick "$FND_SRC"/test/pgtap/*.sql | wc -l ;;
		tap) pick "$FND_SRC"/test/t/*.pl | wc -l ;;
		suites) suite_dirs | wc -l ;;
		pgxs) case installcheck in *"$ONLY"*) echo 1 ;; *) echo 0 ;; esac ;;
	esac
}

# The selection is checked first: a typo must not pass as "0 failed".
n_selected=0
for s in $SUITES; do
	case " $ALL_SUITES " in
		*" $s "*) n_selected=$((n_selected + $(selected "$s"))) ;;
		*) echo "error: unknown suite '$s' in SUITES (known: $ALL_SUITES)" >&2
		   record "SUITES=$SUITES" fail; totals; exit 1 ;;
	esac
done
if [ "$n_selected" -eq 0 ]; then
	echo "error: no test matches ONLY='$ONLY' in SUITES='$SUITES'" >&2
	record "selection" fail
	totals
	exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
	fnd_deps
	fnd_drop_root test.sh "$@"
fi
fnd_deps

FND_BASE=$(fnd_base_for "$(id -un)")
W=$FND_BASE/test
STAGE=$W/install
FND_BIN=$(fnd_stage_bin "$STAGE")
PGXS_DIR=$(fnd_stage_pgxs "$STAGE")
DATA=$W/data
LOG=$W/postgres.log

if [ -f "$DATA/postmaster.pid" ] && [ -x "$FND_BIN/pg_ctl" ]; then fnd_pg_stop "$DATA"; fi
rm -rf "$W"
mkdir -p "$W"
# the instance listens on a unix socket in $W only; its port names the
# socket file there
PORT=$(fnd_free_socket_port "$W" "${FND_TEST_PORT:-54320}")

fnd_build_and_stage "$STAGE" "${FND_TEST_CFLAGS--DUSE_ASSERT_CHECKING}"

fnd_log "starting a private instance in $DATA (socket $W, port $PORT)"
fnd_initdb "$DATA" "$W" "$PORT" "" "fsync = off" "foundation.supervisor_naptime = 200"
fnd_pg_start "$DATA" "$LOG"

export PGHOST=$W PGPORT=$PORT PGUSER=$(id -un) PGDATABASE=postgres
export PATH="$FND_BIN:$PATH"
export FND_WORK=$W FND_STAGE=$STAGE FND_BIN FND_SRC
PSQL=("$FND_BIN/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION foundation"

limit() {	# limit DEFAULT: the time limit of a suite, in seconds
	echo "${FND_SUITE_TIMEOUT:-$1}"
}

# run_limited NAME SECONDS OUTPUT CMD...: run CMD with its output in OUTPUT;
# past SECONDS it is stopped (with everything it started), and OUTPUT and
# the log say "NAME: timed out after SECONDS s".  Returns CMD's status, 124
# when it ran over.
run_limited() {
	local name=$1 secs=$2 out=$3 rc=0; shift 3
	fnd_limited "$secs" "$@" > "$out" 2>&1 || rc=$?
	if [ "$rc" -eq 124 ]; then
		echo "$name: timed out after $secs s" >> "$out"
		fnd_log "$name: timed out after $secs s"
	fi
	return "$rc"
}

# record_limited NAME STATUS: one test that ran under run_limited.
record_limited() {
	case $2 in
		0) record "$1" ok ;;
		124) record "$1 (timed out)" fail ;;
		*) record "$1" fail ;;
	esac
}

# A run of several tests that ran over: the tests it did not finish fail
# (count_regress, count_prove), and the run fails with its name.
record_overrun() {	# record_overrun NAME STATUS
	[ "$2" -ne 124 ] || record "$1 (timed out)" fail
}

# pg_regress/pg_isolation_regress print "name ... ok"; anything else for a
# test (FAILED, a missing expected file, a crash) is a failure.
count_regress() {	# count_regress SUITE OUTPUT NAMES...
	local suite=$1 out=$2 name; shift 2
	for name in "$@"; do
		if grep -qE "^(test |     )? *$name +\.\.\. ok" "$out"; then
			record "$suite/$name" ok
		else
			record "$suite/$name" fail
		fi
	done
}

suite_regress() {
	local tests=() f
	while IFS= read -r f; do tests+=("$(basename "$f" .sql)"); done < <(pick "$FND_SRC"/sql/*.sql)
	[ ${#tests[@]} -gt 0 ] || return 0
	fnd_log "regress: ${#tests[@]} tests"
	mkdir -p "$W/regress"
	local rc=0
	run_limited regress "$(limit 600)" "$W/regress/out.txt" \
		"$PGXS_DIR/src/test/regress/pg_regress" --inputdir="$FND_SRC" \
		--outputdir="$W/regress" --bindir="$FND_BIN" \
		--host="$PGHOST" --port="$PGPORT" --dbname=contrib_regression \
		"${tests[@]}" || rc=$?
	cat "$W/regress/out.txt"
	count_regress regress "$W/regress/out.txt" "${tests[@]}"
	record_overrun regress "$rc"
	[ -s "$W/regress/regression.diffs" ] && cat "$W/regress/regression.diffs"
	return 0
}

suite_isolation() {
	local specs=() f
	while IFS= read -r f; do specs+=("$(basename "$f" .spec)"); done < <(pick "$FND_SRC"/test/isolation/specs/*.spec)
	[ ${#specs[@]} -gt 0 ] || return 0
	fnd_log "isolation: ${#specs[@]} specs"
	mkdir -p "$W/isolation"
	"${PSQL[@]}" -c "DROP DATABASE IF EXISTS isolation_regression" \
		-c "CREATE DATABASE isolation_regression"
	"${PSQL[@]}" -d isolation_regression -c "CREATE EXTENSION foundation"
	local rc=0
	run_limited isolation "$(limit 600)" "$W/isolation/out.txt" \
		"$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
		--inputdir="$FND_SRC/test/isolation" --outputdir="$W/isolation" \
		--bindir="$FND_BIN" --host="$PGHOST" --port="$PGPORT" \
		--dbname=isolation_regression --use-existing \
		"${specs[@]}" || rc=$?
	cat "$W/isolation/out.txt"
	count_regress isolation "$W/isolation/out.txt" "${specs[@]}"
	record_overrun isolation "$rc"
	[ -s "$W/isolation/regression.diffs" ] && cat "$W/isolation/regression.diffs"
	return 0
}

# pg_prove and prove print "file .. ok" per passing file.
count_prove() {	# count_prove SUITE OUTPUT FILES...
	local suite=$1 out=$2 f; shift 2
	for f in "$@"; do
		if grep -qE "^$(basename "$f")[ .]+ok" "$out"; then
			record "$suite/$(basename "$f")" ok
		else
			record "$suite/$(basename "$f")" fail
		fi
	done
}

suite_pgtap() {
	local files=() f
	while IFS= read -r f; do files+=("$f"); done < <(pick "$FND_SRC"/test/pgtap/*.sql)
	[ ${#files[@]} -gt 0 ] || return 0
	fnd_log "pgtap: ${#files[@]} files"
	"${PSQL[@]}" -c "DROP DATABASE IF EXISTS foundation_tap" -c "CREATE DATABASE foundation_tap"
	"${PSQL[@]}" -d foundation_tap -c "CREATE EXTENSION pgtap" -c "CREATE EXTENSION foundation"
	local rc=0
	run_limited pgtap "$(limit 300)" "$W/pgtap.txt" \
		env -C "$FND_SRC/test/pgtap" pg_prove -d foundation_tap "${files[@]##*/}" || rc=$?
	cat "$W/pgtap.txt"
	count_prove pgtap "$W/pgtap.txt" "${files[@]}"
	record_overrun pgtap "$rc"
}

# Each TAP file on its own, so a hung one is named and stopped.
suite_tap() {
	local files=() f
	while IFS= read -r f; do files+=("$f"); done < <(pick "$FND_SRC"/test/t/*.pl)
	[ ${#files[@]} -gt 0 ] || return 0
	fnd_log "tap: ${#files[@]} files"
	mkdir -p "$W/tap"
	: > "$W/tap.txt"
	for f in "${files[@]}"; do
		local rc=0 out=$W/tap/${f##*/}.txt
		run_limited "tap/${f##*/}" "$(limit 420)" "$out" \
			env -C "$FND_SRC/test/t" TESTDIR="$W/tap" \
			PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			PGHOST= PGPORT= PGUSER= PGDATABASE= \
			prove -I "$PGXS_DIR/src/test/perl" "${f##*/}" || rc=$?
		tee -a "$W/tap.txt" < "$out"
		# prove's status and its "file .. ok" line must agree
		if [ "$rc" -eq 0 ] && ! grep -qE "^${f##*/}[ .]+ok" "$out"; then rc=1; fi
		record_limited "tap/${f##*/}" "$rc"
	done
	if grep -qE 'Failed|Dubious|timed out' "$W/tap.txt"; then
		for f in "$W"/tap/tmp_check/log/regress_log_*; do
			[ -f "$f" ] || continue
			echo "---- tail of $f"; tail -n 40 "$f"
		done
	fi
}

suite_suites() {
	local f name
	while IFS= read -r f; do
		name=$(basename "$(dirname "$f")")
		fnd_log "suite $name"
		local rc=0
		run_limited "suite/$name" "$(limit 900)" "$W/suite-$name.txt" \
			env -C "$(dirname "$f")" bash ./suite.sh || rc=$?
		cat "$W/suite-$name.txt"
		record_limited "suite/$name" "$rc"
	done < <(suite_dirs)
}

# The PGXS targets (see the Makefile) against the staged server, with one
# test of each kind: they must keep working for those who build against a
# server of their own.
suite_pgxs() {
	[ "$(selected pgxs)" -gt 0 ] || return 0
	fnd_log "pgxs: make installcheck (one regress test, one spec, one TAP file)"
	local rc=0
	run_limited pgxs/installcheck "$(limit 600)" "$W/pgxs.txt" \
		env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
		make -C "$FND_SRC" installcheck PG_CONFIG="$FND_BIN/pg_config" \
		REGRESS=core ISOLATION=lock-handoff PROVE_TESTS=test/t/002_no_preload.pl || rc=$?
	cat "$W/pgxs.txt"
	record_limited pgxs/installcheck "$rc"
}

for s in $SUITES; do
	"suite_$s"
done

# The server must have survived everything above.
if ! "${PSQL[@]}" -Atc "SELECT 1" >/dev/null 2>&1; then
	record "server-alive" fail
fi
if grep -E 'PANIC|terminated by signal|TRAP:' "$LOG" >/dev/null; then
	echo "---- the server log shows a crash:"
	grep -E 'PANIC|terminated by signal|TRAP:' "$LOG"
	record "server-log-clean" fail
fi

if [ "$FAILED" -gt 0 ]; then
	echo "---- failed: ${FAILURES[*]}"
	echo "---- tail of the server log ($LOG)"
	tail -n 40 "$LOG"
fi
fnd_pg_stop "$DATA"
totals
