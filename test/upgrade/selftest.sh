#!/usr/bin/env bash
# The harness must be able to fail: run it on throwaway versions and check
# that it passes a good step and catches each kind of broken one.
#
# Copies the staged install (FND_STAGE, hard links where possible) to a
# temporary directory, keeps only the base script foundation--1.0.sql in
# its extension directory, sets default_version to a throwaway 1.0.1 and
# starts a private preloaded instance on it.  Then, for each scenario
# selftest/NAME/ (up.sql and down.sql become foundation--1.0--1.0.1.sql and
# foundation--1.0.1--1.0.sql), runs harness.sh and checks its output
# against selftest/NAME/expect:
#   checks=LIST        the harness checks to run
#   rows=N             events for the timing check (else FND_UPGRADE_ROWS)
#   from=SCENARIO      start from that scenario's scripts and fixture
#   edit_up=SED        sed program applied to the step up (edit_down: down)
#   no_down=1          no step down
#   full_extra=FILE    also install foundation--1.0.1.sql: the 1.0 script
#                      with FILE appended
#   regress_only=WORD  frozen 1.0 regression files to run
#   +TEXT              some output line starts with TEXT
#   -TEXT              no output line starts with TEXT
# The fixture for 1.0.1 is NAME/fixture.sql, else selftest/fixture.sql.
#
# Usage: selftest.sh [SCENARIO...]  (all by default); FND_SELFTEST_KEEP=1
# keeps the temporary directory.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
EXT=foundation
: "${FND_STAGE:?FND_STAGE must name the staged install (set by make test)}"
ROWS=${FND_UPGRADE_ROWS:-200000}

T=$(mktemp -d "${FND_WORK:-${TMPDIR:-/tmp}}/upgrade-selftest.XXXXXX")
cp -al "$FND_STAGE" "$T/stage" 2>/dev/null || { rm -rf "$T/stage"; cp -a "$FND_STAGE" "$T/stage"; }
BIN=$(dirname "$(find "$T/stage" -path '*/bin/pg_ctl' | head -n 1)")
EXTDIR=$("$BIN/pg_config" --sharedir)/extension
DATA=$T/data

cleanup() {
	"$BIN/pg_ctl" -D "$DATA" -w -m immediate stop >/dev/null 2>&1 || true
	[ "${FND_SELFTEST_KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT

# The extension directory holds hard links into the real stage: remove a
# file before writing one of the same name.
BASE_SCRIPT=$EXTDIR/$EXT--1.0.sql
[ -f "$BASE_SCRIPT" ] || { echo "FAIL selftest: no $BASE_SCRIPT"; exit 1; }
cp "$BASE_SCRIPT" "$T/base.sql"
for f in "$EXTDIR/$EXT"--*.sql; do rm -f "$f"; done
cp "$T/base.sql" "$BASE_SCRIPT"
sed "s/^default_version.*/default_version = '1.0.1'/" "$EXTDIR/$EXT.control" > "$T/control"
rm -f "$EXTDIR/$EXT.control"
cp "$T/control" "$EXTDIR/$EXT.control"

# its own socket directory: any port number is free there
PORT=$(( ${PGPORT:-54320} + 1 ))
"$BIN/initdb" -D "$DATA" -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
cat >> "$DATA/postgresql.conf" <<EOF
shared_preload_libraries = 'foundation'
port = $PORT
listen_addresses = ''
unix_socket_directories = '$T'
max_connections = 40
fsync = off
lc_messages = 'C'
EOF
"$BIN/pg_ctl" -D "$DATA" -l "$T/postgres.log" -w -t 60 start >/dev/null
export PATH="$BIN:$PATH" PGHOST=$T PGPORT=$PORT PGDATABASE=postgres

NFAIL=0
NOK=0
conf() { sed -n "s/^$1=//p" "$2" | head -n 1; }

# install SCENARIO-DIR: its scripts into the extension directory, its
# fixtures into $T/fixtures
install_scenario() {
	local dir=$1 src expect=$1/expect edit
	rm -f "$EXTDIR/$EXT--1.0--1.0.1.sql" "$EXTDIR/$EXT--1.0.1--1.0.sql" "$EXTDIR/$EXT--1.0.1.sql"
	src=$dir
	[ -n "$(conf from "$expect")" ] && src=$HERE/selftest/$(conf from "$expect")
	edit=$(conf edit_up "$expect"); sed "${edit:-}" "$src/up.sql" > "$EXTDIR/$EXT--1.0--1.0.1.sql"
	if [ "$(conf no_down "$expect")" != 1 ]; then
		edit=$(conf edit_down "$expect"); sed "${edit:-}" "$src/down.sql" > "$EXTDIR/$EXT--1.0.1--1.0.sql"
	fi
	if [ -n "$(conf full_extra "$expect")" ]; then
		cat "$T/base.sql" "$dir/$(conf full_extra "$expect")" > "$EXTDIR/$EXT--1.0.1.sql"
	fi
	rm -rf "$T/fixtures"; mkdir -p "$T/fixtures"
	cp "$HERE/fixtures/1.0.sql" "$T/fixtures/1.0.sql"
	if [ -f "$src/fixture.sql" ]; then
		cp "$src/fixture.sql" "$T/fixtures/1.0.1.sql"
	else
		cp "$HERE/selftest/fixture.sql" "$T/fixtures/1.0.1.sql"
	fi
}

run_scenario() {
	local dir=$1 name expect out line text ok=1
	name=$(basename "$dir"); expect=$dir/expect; out=$T/$name.out
	install_scenario "$dir"
	local args=(--extdir "$EXTDIR" --fixtures "$T/fixtures" --work "$T/work-$name"
		--prefix fnd_selftest --checks "$(conf checks "$expect")"
		--rows "$(conf rows "$expect" | grep . || echo "$ROWS")")
	[ -n "$(conf regress_only "$expect")" ] && args+=(--regress-only "$(conf regress_only "$expect")")
	bash "$HERE/harness.sh" "${args[@]}" > "$out" 2>&1 || true
	while IFS= read -r line; do
		text=${line:1}
		case $line in
		+*) if grep -qF -- "$text" <(cut -c1-${#text} "$out"); then :; else
			echo "FAIL selftest $name: expected a line starting '$text'"; ok=0; fi ;;
		-*) if grep -qF -- "$text" <(cut -c1-${#text} "$out"); then
			echo "FAIL selftest $name: expected no line starting '$text'"; ok=0; fi ;;
		esac
	done < <(grep -E '^[+-]' "$expect")
	if [ $ok = 1 ]; then
		NOK=$((NOK + 1))
		echo "ok   selftest $name: $(sed -n 's/^# //p' "$expect" | head -n 1)"
		grep -E '^(ok   timing|FAIL timing)' "$out" | sed 's/^/     /' || true
	else
		NFAIL=$((NFAIL + 1))
		sed 's/^/     | /' "$out"
	fi
}

scenarios=()
if [ $# -gt 0 ]; then
	for s in "$@"; do scenarios+=("$HERE/selftest/$s"); done
else
	for d in "$HERE"/selftest/*/; do [ -f "$d/expect" ] && scenarios+=("${d%/}"); done
fi
for d in "${scenarios[@]}"; do
	run_scenario "$d"
done
if grep -E 'PANIC|terminated by signal|TRAP:' "$T/postgres.log"; then
	echo "FAIL selftest: the self-test's server crashed"; NFAIL=$((NFAIL + 1))
fi
echo "upgrade self-test: $((NOK + NFAIL)) scenarios, $NFAIL failed"
[ "$NFAIL" -eq 0 ]
