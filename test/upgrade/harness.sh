#!/usr/bin/env bash
# The version chain's proof (docs/upgrading.md, "The upgrade harness").
#
# Reads the versions from the foundation--*.sql scripts in an installed
# extension directory and the control file's default_version, then checks
# against a running preloaded server (PGHOST, PGPORT, psql on PATH):
#
#   chain    every version between the base script (1.0) and default_version
#            has a step up and a step down to its neighbour, and no other
#            step exists; every step declares "-- changes:", every downgrade
#            "-- keeps:" (the header format is below)
#   catalog  for every version X, a canonical description of every member
#            of the extension (lib/describe.sql) is identical for
#            (a) CREATE EXTENSION ... VERSION 'X', (b) the base updated step
#            by step to X, (c) the latest downgraded step by step to X, and
#            (d) X reached again after the round trip
#   keeps    after each downgrade, the tables left behind outside the
#            extension are exactly those the downgrades walked declared;
#            after the way back up, none is left
#   data     fixtures/X.sql writes version X's user data; before and after
#            every step up and down, row counts, an md5 per column of every
#            table's rows in key order, sequence positions and users' grants
#            on members (lib/snapshot.sql) differ only where the step's
#            "-- changes:" line says; after base -> latest -> base -> latest
#            the data equals what it was at latest the first time
#   regress  the frozen 1.0 regression suite (regress-1.0/) passes on a
#            database created at the base and updated to the latest, and on
#            a fresh install of the latest (one database per test file)
#   timing   on a database holding ROWS events, each step up finishes in
#            under 1 s while a concurrent session stores events with
#            fnd_store_event; its slowest insert must stay under 100 ms;
#            and the step rewrites no table or index (relfilenodes kept)
#
# Step headers, comment lines anywhere in a step script
# (foundation--A--B.sql), names separated by commas or spaces:
#   -- changes: T, T.C, F    the user data this step may change: table T
#                            (rows, columns, appearing or disappearing),
#                            column C of T only, user grants on member F;
#                            "none" when it changes nothing
#   -- keeps: T, ...         downgrades only: tables this step leaves behind,
#                            detached from the extension, with their rows
#                            (the next step up takes them back); "none"
#
# Usage: harness.sh [--checks chain,catalog,keeps,data,regress,timing]
#   [--extdir DIR] [--fixtures DIR] [--regress-dir DIR] [--regress-only WORD]
#   [--rows N] [--work DIR] [--prefix NAME]
# Prints "ok   ..." / "FAIL ..." per check and ends with
# "upgrade harness: N checks, N failed"; exits 1 if any failed.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

EXT=foundation
CHECKS=chain,catalog,keeps,data,regress,timing
EXTDIR=
FIXTURES=$HERE/fixtures
REGRESS_DIR=
REGRESS_ONLY=
ROWS=${FND_UPGRADE_ROWS:-200000}
WORK=${FND_WORK:-${TMPDIR:-/tmp}}/upgrade
PREFIX=fnd_upgrade
while [ $# -gt 0 ]; do
	case $1 in
	--checks) CHECKS=$2; shift 2 ;;
	--extdir) EXTDIR=$2; shift 2 ;;
	--fixtures) FIXTURES=$2; shift 2 ;;
	--regress-dir) REGRESS_DIR=$2; shift 2 ;;
	--regress-only) REGRESS_ONLY=$2; shift 2 ;;
	--rows) ROWS=$2; shift 2 ;;
	--work) WORK=$2; shift 2 ;;
	--prefix) PREFIX=$2; shift 2 ;;
	*) echo "harness.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ -n "$EXTDIR" ] || EXTDIR=$(pg_config --sharedir)/extension
mkdir -p "$WORK"
export PGDATABASE=postgres
QUIET="${PGOPTIONS:-} -c client_min_messages=warning"

NCHECKS=0
NFAILED=0
pass() { NCHECKS=$((NCHECKS + 1)); echo "ok   $*"; }
fail() { NCHECKS=$((NCHECKS + 1)); NFAILED=$((NFAILED + 1)); echo "FAIL $*"; }
note() { echo "     $*"; }
detail() { sed -n "1,${2:-40}p" "$1" | sed 's/^/     | /'; }
want() { case ",$CHECKS," in *",$1,"*) return 0 ;; esac; return 1; }

# the harness's own sessions are quiet; pg_regress's keep their notices
pq() { PGOPTIONS=$QUIET psql -X "$@"; }
q() { pq -q -v ON_ERROR_STOP=1 "$@"; }
qa() { pq -q -At -v ON_ERROR_STOP=1 "$@"; }
dbname() { echo "${PREFIX}_$(echo "$1" | tr -c 'a-zA-Z0-9\n' '_')"; }
newdb() { q -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }
dropdb_() { q -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

# ---- the chain ---------------------------------------------------------

CHAIN=()	# base .. default_version, in order
BASE=
LATEST=
step_script() { echo "$EXTDIR/$EXT--$1--$2.sql"; }

# header_items FILE KEY: the names on the file's "-- KEY:" lines, one per
# line ("none" dropped); fails when there is no such line
header_items() {
	grep -Eq "^--[[:space:]]*$2:" "$1" || return 1
	grep -E "^--[[:space:]]*$2:" "$1" | sed -E "s/^--[[:space:]]*$2://" |
		tr ', \t' '\n\n\n' | sed '/^$/d; /^none$/d'
}

read_chain() {
	local control=$EXTDIR/$EXT.control f rest full=() all=() v prev
	LATEST=$(sed -n "s/^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$control")
	[ -n "$LATEST" ] || { fail "chain: no default_version in $control"; return 1; }
	for f in "$EXTDIR/$EXT"--*.sql; do
		[ -e "$f" ] || continue
		rest=$(basename "$f" .sql); rest=${rest#"$EXT"--}
		case $rest in
		*--*) all+=("${rest%%--*}" "${rest#*--}") ;;
		*) full+=("$rest"); all+=("$rest") ;;
		esac
	done
	[ ${#full[@]} -gt 0 ] || { fail "chain: no install script $EXT--X.sql in $EXTDIR"; return 1; }
	BASE=$(printf '%s\n' "${full[@]}" | sort -V | head -n 1)
	mapfile -t CHAIN < <(printf '%s\n' "${all[@]}" "$LATEST" | sort -V -u)
	local ok=1 i
	for v in "${CHAIN[@]}"; do
		if [ "$(printf '%s\n' "$v" "$LATEST" | sort -V | tail -n 1)" != "$LATEST" ]; then
			fail "chain: version $v is beyond default_version $LATEST"; ok=0
		fi
		if [ "$(printf '%s\n' "$v" "$BASE" | sort -V | head -n 1)" != "$BASE" ]; then
			fail "chain: version $v is below the base $BASE"; ok=0
		fi
	done
	for ((i = 1; i < ${#CHAIN[@]}; i++)); do
		prev=${CHAIN[i - 1]}; v=${CHAIN[i]}
		[ -f "$(step_script "$prev" "$v")" ] || { fail "chain: no step up $EXT--$prev--$v.sql"; ok=0; }
		[ -f "$(step_script "$v" "$prev")" ] || { fail "chain: no step down $EXT--$v--$prev.sql"; ok=0; }
	done
	# only neighbours: a shortcut would make ALTER EXTENSION skip steps
	for f in "$EXTDIR/$EXT"--*--*.sql; do
		[ -e "$f" ] || continue
		rest=$(basename "$f" .sql); rest=${rest#"$EXT"--}
		local a=${rest%%--*} b=${rest#*--} found=0
		for ((i = 1; i < ${#CHAIN[@]}; i++)); do
			if { [ "$a" = "${CHAIN[i - 1]}" ] && [ "$b" = "${CHAIN[i]}" ]; } ||
				{ [ "$b" = "${CHAIN[i - 1]}" ] && [ "$a" = "${CHAIN[i]}" ]; }; then
				found=1
			fi
		done
		[ $found = 1 ] || { fail "chain: $(basename "$f") is not a step between neighbours"; ok=0; }
		if [ $found = 1 ] && ! header_items "$f" changes >/dev/null; then
			fail "chain: $(basename "$f") has no '-- changes:' line"; ok=0
		fi
		if [ $found = 1 ] && [ "$(printf '%s\n' "$a" "$b" | sort -V | tail -n 1)" = "$a" ] &&
			! header_items "$f" keeps >/dev/null; then
			fail "chain: downgrade $(basename "$f") has no '-- keeps:' line"; ok=0
		fi
	done
	for v in "${full[@]}"; do
		[ "$v" = "$BASE" ] || note "chain: $EXT--$v.sql is a second install script (the catalog check compares it with the chain)"
	done
	[ $ok = 1 ] || return 1
	pass "chain: ${CHAIN[*]} (base $BASE, default_version $LATEST), a step up and down between each pair, headers present"
}

# ---- catalog -----------------------------------------------------------

describe() { qa -v ext="$EXT" -d "$1" -f "$HERE/lib/describe.sql" > "$2"; }

fresh_catalogs() {
	local v db
	mkdir -p "$WORK/catalog"
	for v in "${CHAIN[@]}"; do
		db=$(dbname "fresh_$v")
		newdb "$db"
		q -d "$db" -c "CREATE EXTENSION $EXT VERSION '$v'"
		describe "$db" "$WORK/catalog/fresh-$v.txt"
		dropdb_ "$db"
	done
}

# check_catalog DB VERSION HOW: DB's description against a fresh VERSION
check_catalog() {
	local db=$1 v=$2 how=$3 out
	want catalog || return 0
	out=$WORK/catalog/$(echo "$how" | tr -c 'a-zA-Z0-9.\n' '-')-$v.txt
	describe "$db" "$out"
	if diff -u "$WORK/catalog/fresh-$v.txt" "$out" > "$out.diff"; then
		pass "catalog $v: $how equals a fresh install ($(wc -l < "$out") lines)"
	else
		fail "catalog $v: $how differs from a fresh install (diff: $out.diff)"
		detail "$out.diff"
	fi
}

# ---- keeps -------------------------------------------------------------

# tables outside the system schemas that are not members of the extension
detached() {
	qa -d "$1" -c "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
		  AND n.nspname NOT LIKE 'pg\\_%'
		  AND NOT EXISTS (SELECT FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
		                  WHERE e.extname = '$EXT' AND d.refclassid = 'pg_extension'::regclass
		                    AND d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
		ORDER BY 1"
}

check_keeps() {	# check_keeps DB VERSION EXPECTED-NAMES(newline list) HOW
	want keeps || return 0
	local got want_
	got=$(detached "$1" | sort -u | xargs)
	want_=$(printf '%s\n' "$3" | sed '/^$/d' | sort -u | xargs)
	if [ "$got" = "$want_" ]; then
		pass "keeps $2: $4: tables left outside the extension: ${got:-none}"
	else
		fail "keeps $2: $4: tables left outside the extension are '${got:-none}', the downgrades declared '${want_:-none}'"
	fi
}

# ---- data --------------------------------------------------------------

snapshot() {
	pq -q -At -F $'\n' -v ON_ERROR_STOP=1 -v ext="$EXT" -d "$1" \
		-f "$HERE/lib/snapshot.sql" | sed '/^$/d' | LC_ALL=C sort > "$2"
}

# allowed LINE DECLARED: is this snapshot line covered by a declared name?
# Lines: "data public.t | rows: N", "data public.t | column c: md5",
# "data public.s | state: ...", "grant public.f(args) | function acl: ...",
# "grant public.t.c | column acl: ...".
allowed() {
	local line=$1 declared=$2 obj col= name
	obj=${line#* }; obj=${obj%% | *}
	case $line in
	*"| column acl:"*) col=${obj##*.}; obj=${obj%.*} ;;
	*"| column "*) col=${line#*| column }; col=${col%%: *} ;;
	esac
	name=${obj%%(*}; name=${name##*.}
	grep -qxF "$name" <<<"$declared" && return 0
	[ -n "$col" ] && grep -qxF "$name.$col" <<<"$declared" && return 0
	return 1
}

# check_data LABEL BEFORE AFTER DECLARED
check_data() {
	want data || return 0
	local label=$1 before=$2 after=$3 declared=$4 bad=$WORK/data/$(echo "$1" | tr -c 'a-zA-Z0-9.\n' '-').bad line
	: > "$bad"
	while IFS= read -r line; do
		[ -n "$line" ] || continue
		allowed "${line:1}" "$declared" || echo "$line" >> "$bad"
	done < <(diff "$before" "$after" | grep -E '^[<>] ' | sed 's/^\(.\) /\1/')
	local n changed
	n=$(grep -c '| rows:' "$after" || true)
	changed=$(diff "$before" "$after" | grep -cE '^[<>] ' || true)
	if [ -s "$bad" ]; then
		fail "data $label: changes the step does not declare (< before, > after; declared: $(echo ${declared:-none}))"
		detail "$bad"
	else
		pass "data $label: $n tables, $changed differing lines, all declared ($(echo ${declared:-none}))"
	fi
}

fixture() {	# fixture DB VERSION
	local f=$FIXTURES/$2.sql
	if [ -f "$f" ]; then
		if q -d "$1" -f "$f" > "$WORK/data/fixture-$2.out" 2>&1; then
			pass "data $2: fixture $(basename "$f") loaded"
		else
			fail "data $2: fixture $f failed"; detail "$WORK/data/fixture-$2.out"
		fi
	else
		fail "data $2: no fixture $f (every version writes its user data)"
	fi
}

# step DB FROM TO: ALTER EXTENSION to a neighbour, checking data around it
step() {
	local db=$1 from=$2 to=$3 how=$4 script declared
	script=$(step_script "$from" "$to")
	declared=$(header_items "$script" changes || true)
	snapshot "$db" "$WORK/data/before.txt"
	if ! q -d "$db" -c "ALTER EXTENSION $EXT UPDATE TO '$to'" > "$WORK/data/alter.out" 2>&1; then
		fail "step $from -> $to ($how): ALTER EXTENSION failed"; detail "$WORK/data/alter.out"
		return 1
	fi
	snapshot "$db" "$WORK/data/after.txt"
	check_data "$from -> $to ($how)" "$WORK/data/before.txt" "$WORK/data/after.txt" "$declared"
}

walk() {
	local db i v prev kept=
	db=$(dbname chain)
	mkdir -p "$WORK/data"
	newdb "$db"
	q -d "$db" -c "CREATE EXTENSION $EXT VERSION '$BASE'"
	want data && fixture "$db" "$BASE"
	check_catalog "$db" "$BASE" "$BASE holding its fixture's data"
	for ((i = 1; i < ${#CHAIN[@]}; i++)); do
		prev=${CHAIN[i - 1]}; v=${CHAIN[i]}
		step "$db" "$prev" "$v" "up" || return 0
		check_catalog "$db" "$v" "$BASE updated to $v"
		want data && fixture "$db" "$v"
	done
	snapshot "$db" "$WORK/data/latest-first.txt"
	[ ${#CHAIN[@]} -gt 1 ] || note "only $BASE exists: no steps to walk yet"
	for ((i = ${#CHAIN[@]} - 1; i > 0; i--)); do
		prev=${CHAIN[i - 1]}; v=${CHAIN[i]}
		step "$db" "$v" "$prev" "down" || return 0
		check_catalog "$db" "$prev" "$LATEST downgraded to $prev"
		kept=$(printf '%s\n%s\n' "$kept" "$(header_items "$(step_script "$v" "$prev")" keeps || true)")
		check_keeps "$db" "$prev" "$kept" "$LATEST downgraded to $prev"
	done
	for ((i = 1; i < ${#CHAIN[@]}; i++)); do
		prev=${CHAIN[i - 1]}; v=${CHAIN[i]}
		step "$db" "$prev" "$v" "up again" || return 0
		check_catalog "$db" "$v" "$LATEST to $BASE and back to $v"
	done
	if [ ${#CHAIN[@]} -gt 1 ]; then
		check_keeps "$db" "$LATEST" "" "after the round trip"
		if want data; then
			snapshot "$db" "$WORK/data/latest-again.txt"
			if diff -u "$WORK/data/latest-first.txt" "$WORK/data/latest-again.txt" > "$WORK/data/roundtrip.diff"; then
				pass "data round trip $BASE -> $LATEST -> $BASE -> $LATEST with every version's fixture: every table, column, sequence and grant as at $LATEST the first time ($(grep -c '| rows:' "$WORK/data/latest-first.txt") tables)"
			else
				fail "data round trip $BASE -> $LATEST -> $BASE -> $LATEST with every version's fixture: user data differs from the first time at $LATEST"
				detail "$WORK/data/roundtrip.diff"
			fi
		fi
	fi
	dropdb_ "$db"
}

# The base's data alone, up to the latest and back: every step down must
# undo its step up, so the base's data comes back exactly (tables the
# downgrades keep aside), and the way up again gives the latest's again.
# This catches a loss that a step's header declares as a change.
roundtrip_base() {
	local db i kept= f
	[ ${#CHAIN[@]} -gt 1 ] || return 0
	db=$(dbname roundtrip)
	newdb "$db"
	q -d "$db" -c "CREATE EXTENSION $EXT VERSION '$BASE'"
	q -d "$db" -f "$FIXTURES/$BASE.sql" > /dev/null 2>&1 || true
	snapshot "$db" "$WORK/data/base-first.txt"
	for ((i = 1; i < ${#CHAIN[@]}; i++)); do
		q -d "$db" -c "ALTER EXTENSION $EXT UPDATE TO '${CHAIN[i]}'"
	done
	snapshot "$db" "$WORK/data/base-latest-first.txt"
	for ((i = ${#CHAIN[@]} - 1; i > 0; i--)); do
		q -d "$db" -c "ALTER EXTENSION $EXT UPDATE TO '${CHAIN[i - 1]}'"
		kept=$(printf '%s\n%s\n' "$kept" "$(header_items "$(step_script "${CHAIN[i]}" "${CHAIN[i - 1]}")" keeps || true)")
	done
	snapshot "$db" "$WORK/data/base-again.txt"
	# the kept tables are the downgrades' to leave; the keeps check counts them
	for f in base-first base-again; do
		grep -vE "^data [^ ]*\.($(printf '%s\n' "$kept" | sed '/^$/d' | paste -sd '|' | grep . || echo '-'))( |:)" \
			"$WORK/data/$f.txt" > "$WORK/data/$f.cmp" || true
	done
	if diff -u "$WORK/data/base-first.cmp" "$WORK/data/base-again.cmp" > "$WORK/data/roundtrip-base.diff"; then
		pass "data round trip $BASE -> $LATEST -> $BASE: the $BASE data as it was ($(grep -c '| rows:' "$WORK/data/base-first.cmp") tables)"
	else
		fail "data round trip $BASE -> $LATEST -> $BASE: the $BASE data differs from before the way up"
		detail "$WORK/data/roundtrip-base.diff"
	fi
	for ((i = 1; i < ${#CHAIN[@]}; i++)); do
		q -d "$db" -c "ALTER EXTENSION $EXT UPDATE TO '${CHAIN[i]}'"
	done
	snapshot "$db" "$WORK/data/base-latest-again.txt"
	if diff -u "$WORK/data/base-latest-first.txt" "$WORK/data/base-latest-again.txt" > "$WORK/data/roundtrip-base2.diff"; then
		pass "data round trip $BASE -> $LATEST -> $BASE -> $LATEST: the $BASE data at $LATEST as the first time"
	else
		fail "data round trip $BASE -> $LATEST -> $BASE -> $LATEST: the $BASE data at $LATEST differs from the first time"
		detail "$WORK/data/roundtrip-base2.diff"
	fi
	dropdb_ "$db"
}

# ---- regress -----------------------------------------------------------

regress() {
	local dir=$REGRESS_DIR pgxs tests=() f t how db out
	if [ -z "$dir" ]; then
		if [ -d "$HERE/regress-1.0/sql" ]; then
			dir=$HERE/regress-1.0
		elif grep -Eq "^1\.0[[:space:]]" "$HERE/../../RELEASES" 2>/dev/null; then
			fail "regress: 1.0 is released (RELEASES) but test/upgrade/regress-1.0 is missing: run test/upgrade/freeze-regress.sh"
			return 0
		else
			dir=$HERE/../..
			note "regress: 1.0 is not frozen yet: running the current sql/ and expected/ (test/upgrade/freeze-regress.sh copies them at the freeze)"
		fi
	fi
	# alternative expected files of the frozen suite must say why they exist
	for f in "$dir"/expected/*_[0-9].out; do
		[ -e "$f" ] || continue
		if grep -Eq "^expected/$(basename "$f")[[:space:]]" "$dir/VARIANTS" 2>/dev/null; then
			pass "regress: variant $(basename "$f") is listed in VARIANTS"
		else
			fail "regress: variant $(basename "$f") is not listed in $dir/VARIANTS"
		fi
	done
	pgxs=$(dirname "$(pg_config --pgxs)")/../..
	for f in "$dir"/sql/*.sql; do
		t=$(basename "$f" .sql)
		case $t in *"$REGRESS_ONLY"*) tests+=("$t") ;; esac
	done
	[ ${#tests[@]} -gt 0 ] || { fail "regress: no tests in $dir/sql"; return 0; }
	local hows=("updated") 
	[ "$BASE" = "$LATEST" ] && note "regress: base and latest are both $BASE: one run covers both" ||
		hows+=("fresh")
	for how in "${hows[@]}"; do
		out=$WORK/regress-$how
		rm -rf "$out"; mkdir -p "$out"
		local failed=()
		for t in "${tests[@]}"; do
			db=$(dbname "regress_$t")
			newdb "$db"
			if [ "$how" = updated ]; then
				q -d "$db" -c "CREATE EXTENSION $EXT VERSION '$BASE'" -c "ALTER EXTENSION $EXT UPDATE"
			else
				q -d "$db" -c "CREATE EXTENSION $EXT"
			fi
			mkdir -p "$out/$t"
			"$pgxs/src/test/regress/pg_regress" --inputdir="$dir" --outputdir="$out/$t" \
				--bindir="$(dirname "$(command -v psql)")" --use-existing --dbname="$db" \
				"$t" > "$out/$t/out.txt" 2>&1 || true
			if ! grep -qE "^(test |     )? *$t +\.\.\. ok" "$out/$t/out.txt"; then
				failed+=("$t")
				cat "$out/$t/out.txt" "$out/$t/regression.diffs" >> "$out/regression.diffs" 2>/dev/null || true
			fi
			dropdb_ "$db"
		done
		local what="a database created at $BASE and updated to $LATEST"
		[ "$how" = fresh ] && what="a fresh $LATEST install"
		[ "$BASE" = "$LATEST" ] && what="$LATEST"
		if [ ${#failed[@]} -eq 0 ]; then
			pass "regress: the frozen 1.0 suite (${#tests[@]} files from ${dir#"$HERE/"}) passes on $what"
		else
			fail "regress: the frozen 1.0 suite fails on $what: ${failed[*]} (diffs: $out/regression.diffs)"
			[ -f "$out/regression.diffs" ] && detail "$out/regression.diffs" 60
		fi
	done
}

# ---- timing ------------------------------------------------------------

# timing_step DB FROM TO: time one step while a session stores events
timing_step() {
	local db=$1 from=$2 to=$3 ms worst n i started=0
	q -d "$db" -c "TRUNCATE fnd_upgrade_probe; INSERT INTO fnd_upgrade_probe VALUES (false, 0, NULL)"
	# one insert per transaction, as an application does; the slowest
	# one is the longest any lock of the step blocked fnd_store_event
	q -d "$db" -c "
DO \$\$
DECLARE
    t0 timestamptz;
    worst double precision := 0;
    n int := 0;
    deadline timestamptz := clock_timestamp() + interval '120 s';
BEGIN
    LOOP
        EXIT WHEN (SELECT stop FROM fnd_upgrade_probe) OR clock_timestamp() > deadline;
        t0 := clock_timestamp();
        PERFORM fnd_store_event('upgrade.probe', jsonb_build_object('n', n));
        COMMIT;
        worst := greatest(worst, extract(epoch FROM clock_timestamp() - t0) * 1000);
        n := n + 1;
        UPDATE fnd_upgrade_probe SET inserts = n, worst_ms = worst;
        COMMIT;
    END LOOP;
END \$\$" > "$WORK/timing-inserter.out" 2>&1 &
	local pid=$!
	for ((i = 0; i < 300; i++)); do
		[ "$(qa -d "$db" -c "SELECT inserts >= 20 FROM fnd_upgrade_probe")" = t ] && { started=1; break; }
		sleep 0.1
	done
	[ $started = 1 ] || { fail "timing $from -> $to: the inserter did not start"; kill "$pid" 2>/dev/null; wait "$pid" || true; return 0; }
	local files="SELECT c.oid::regclass::text || ' ' || c.relfilenode FROM pg_class c
		WHERE c.relkind IN ('r', 'p', 'i', 't') AND c.relnamespace <> 'pg_catalog'::regnamespace
		  AND c.relpersistence = 'p' ORDER BY 1"
	qa -d "$db" -c "$files" | LC_ALL=C sort > "$WORK/timing-files-before.txt"
	ms=$(pq -q -At -v ON_ERROR_STOP=1 -d "$db" -c '\timing on' \
		-c "ALTER EXTENSION $EXT UPDATE TO '$to'" 2>"$WORK/timing-alter.err" |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
	# let the inserter run on briefly past the step, then stop it
	sleep 0.2
	q -d "$db" -c "UPDATE fnd_upgrade_probe SET stop = true"
	wait "$pid" || { fail "timing $from -> $to: the inserter failed"; detail "$WORK/timing-inserter.out"; }
	[ -n "$ms" ] || { fail "timing $from -> $to: ALTER EXTENSION failed"; detail "$WORK/timing-alter.err"; return 0; }
	read -r worst n < <(qa -F ' ' -d "$db" -c "SELECT round(worst_ms::numeric, 1), inserts FROM fnd_upgrade_probe")
	# a rewrite (new relfilenode) of a table or index that existed before
	# the step costs time proportional to the data: never in a step
	qa -d "$db" -c "$files" | LC_ALL=C sort > "$WORK/timing-files-after.txt"
	local rewritten
	rewritten=$(LC_ALL=C join "$WORK/timing-files-before.txt" "$WORK/timing-files-after.txt" |
		awk '$2 != $3 && $1 !~ /^pg_toast/ { print $1 }' | xargs)
	if [ -n "$rewritten" ]; then
		fail "timing $from -> $to: the step rewrote $rewritten (new relfilenode; add columns without a volatile default, build indexes from a service)"
	else
		pass "timing $from -> $to: no table or index rewritten"
	fi
	local figure="on $ROWS events: step $ms ms, slowest of $n concurrent fnd_store_event calls $worst ms"
	if awk -v m="$ms" -v w="$worst" 'BEGIN { exit !(m < 1000 && w < 100) }'; then
		pass "timing $from -> $to $figure (limits 1000 ms, 100 ms)"
	else
		fail "timing $from -> $to $figure (limits 1000 ms, 100 ms)"
	fi
}

timing() {
	local db i t0 t1
	db=$(dbname timing)
	if [ ${#CHAIN[@]} -lt 2 ]; then
		note "timing: only $BASE exists: no step to time yet"
		return 0
	fi
	newdb "$db"
	q -d "$db" -c "CREATE EXTENSION $EXT VERSION '$BASE'"
	t0=$(date +%s.%N)
	q -d "$db" -c "INSERT INTO fnd_events (type, data)
		SELECT 'load.' || (i % 10), jsonb_build_object('i', i, 'agent_id', 'agent-' || (i % 100), 'payload', repeat('x', 40))
		FROM generate_series(1, $ROWS) i" -c "VACUUM ANALYZE fnd_events" \
		-c "CREATE UNLOGGED TABLE fnd_upgrade_probe (stop boolean, inserts int, worst_ms double precision)"
	t1=$(date +%s.%N)
	note "timing: $ROWS events loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
	for ((i = 1; i < ${#CHAIN[@]}; i++)); do
		timing_step "$db" "${CHAIN[i - 1]}" "${CHAIN[i]}"
	done
	dropdb_ "$db"
}

# ---- main --------------------------------------------------------------

echo "upgrade harness: extension directory $EXTDIR, checks $CHECKS"
if read_chain; then
	if want catalog; then fresh_catalogs; fi
	if want catalog || want data || want keeps; then walk; fi
	if want data; then roundtrip_base; fi
	if want regress; then regress; fi
	if want timing; then timing; fi
fi
echo "upgrade harness: $NCHECKS checks, $NFAILED failed"
[ "$NFAILED" -eq 0 ]
