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
#   suites     executables test/*/suite.sh (stress, fuzz, dump, ...), run
#              against the shared instance; exit status 0 means passed
# Each test file counts once in the totals.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "$(id -u)" -eq 0 ]; then
	fnd_deps
	fnd_drop_root test.sh "$@"
fi
fnd_deps

SUITES=${SUITES:-regress isolation pgtap tap suites}
ONLY=${ONLY:-}
FND_BASE=$(fnd_base_for "$(id -un)")
W=$FND_BASE/test
STAGE=$W/install
FND_BIN=$(fnd_stage_bin "$STAGE")
PGXS_DIR=$(fnd_stage_pgxs "$STAGE")
DATA=$W/data
LOG=$W/postgres.log
PORT=5432
PASSED=0
FAILED=0
FAILURES=()

if [ -f "$DATA/postmaster.pid" ] && [ -x "$FND_BIN/pg_ctl" ]; then fnd_pg_stop "$DATA"; fi
rm -rf "$W"
mkdir -p "$W"

fnd_build_and_stage "$STAGE" "${FND_TEST_CFLAGS--DUSE_ASSERT_CHECKING}"

fnd_log "starting a private instance in $DATA"
fnd_initdb "$DATA" "$W" "$PORT" "" "fsync = off" "foundation.supervisor_naptime = 200"
fnd_pg_start "$DATA" "$LOG"

export PGHOST=$W PGPORT=$PORT PGUSER=$(id -un) PGDATABASE=postgres
export PATH="$FND_BIN:$PATH"
export FND_WORK=$W FND_STAGE=$STAGE FND_BIN FND_SRC
PSQL=("$FND_BIN/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION foundation"

record() {	# record NAME ok|fail
	if [ "$2" = ok ]; then
		PASSED=$((PASSED + 1))
	else
		FAILED=$((FAILED + 1))
		FAILURES+=("$1")
	fi
}

# Files matching a glob, filtered by ONLY, one per line.
pick() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || continue
		case "$(basename "$f")" in *"$ONLY"*) echo "$f" ;; esac
	done
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
	"$PGXS_DIR/src/test/regress/pg_regress" --inputdir="$FND_SRC" \
		--outputdir="$W/regress" --bindir="$FND_BIN" \
		--host="$PGHOST" --port="$PGPORT" --dbname=contrib_regression \
		"${tests[@]}" > "$W/regress/out.txt" 2>&1 || true
	cat "$W/regress/out.txt"
	count_regress regress "$W/regress/out.txt" "${tests[@]}"
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
	"$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
		--inputdir="$FND_SRC/test/isolation" --outputdir="$W/isolation" \
		--bindir="$FND_BIN" --host="$PGHOST" --port="$PGPORT" \
		--dbname=isolation_regression --use-existing \
		"${specs[@]}" > "$W/isolation/out.txt" 2>&1 || true
	cat "$W/isolation/out.txt"
	count_regress isolation "$W/isolation/out.txt" "${specs[@]}"
	[ -s "$W/isolation/regression.diffs" ] && cat "$W/isolation/regression.diffs"
	return 0
}

# pg_prove and prove print "file .. ok" per passing file.
count_prove() {	# count_prove SUITE OUTPUT FILES...
	local out=$2 f; shift 2
	for f in "$@"; do
		if grep -qE "^$(basename "$f")[ .]+ok" "$out"; then
			record "$SUITE/$(basename "$f")" ok
		else
			record "$SUITE/$(basename "$f")" fail
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
	(cd "$FND_SRC/test/pgtap" && pg_prove -d foundation_tap "${files[@]##*/}") \
		> "$W/pgtap.txt" 2>&1 || true
	cat "$W/pgtap.txt"
	SUITE=pgtap count_prove pgtap "$W/pgtap.txt" "${files[@]}"
}

suite_tap() {
	local files=() f
	while IFS= read -r f; do files+=("$f"); done < <(pick "$FND_SRC"/test/t/*.pl)
	[ ${#files[@]} -gt 0 ] || return 0
	fnd_log "tap: ${#files[@]} files"
	mkdir -p "$W/tap"
	(cd "$FND_SRC/test/t" &&
		TESTDIR="$W/tap" PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
		PGHOST= PGPORT= PGUSER= PGDATABASE= \
		prove -I "$PGXS_DIR/src/test/perl" "${files[@]##*/}") \
		> "$W/tap.txt" 2>&1 || true
	cat "$W/tap.txt"
	SUITE=tap count_prove tap "$W/tap.txt" "${files[@]}"
	if grep -qE 'Failed|Dubious' "$W/tap.txt"; then
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
		case "$name" in *"$ONLY"*) ;; *) continue ;; esac
		fnd_log "suite $name"
		if (cd "$(dirname "$f")" && bash ./suite.sh) > "$W/suite-$name.txt" 2>&1; then
			cat "$W/suite-$name.txt"; record "suite/$name" ok
		else
			cat "$W/suite-$name.txt"; record "suite/$name" fail
		fi
	done < <(ls "$FND_SRC"/test/*/suite.sh 2>/dev/null)
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
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
