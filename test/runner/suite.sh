#!/usr/bin/env bash
# The runner's own checks (scripts/test.sh), run by make test like any
# test/*/suite.sh:
#   - a selection that matches no test fails at once: non-zero status, says
#     so, and still ends with the totals line;
#   - a suite that runs over its time limit is stopped and fails with its
#     name: here the stress suite with a limit of 3 s, in a runner of its own
#     (FND_TMPDIR: its own build, instance and socket directory).
set -euo pipefail
RUNNER=${FND_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}/scripts/test.sh
OUT=${FND_WORK:-${TMPDIR:-/tmp}}/runner
rm -rf "$OUT"
mkdir -p "$OUT"
failed=0

expect() {	# expect WHAT FILE STATUS-WANTED-NONZERO LINE-PATTERN LAST-LINE
	local what=$1 file=$2 rc=$3 pattern=$4 last=$5
	{ grep -E "$pattern|^---- failed" "$file" || true; tail -n 1 "$file"; } | sed "s/^/  [$what] /"
	if [ "$rc" -eq 0 ]; then
		echo "runner self-test: $what: exit status 0"; failed=1
	fi
	if ! grep -qE "$pattern" "$file"; then
		echo "runner self-test: $what: no line matching '$pattern'"; failed=1
	fi
	if [ "$(tail -n 1 "$file")" != "$last" ]; then
		echo "runner self-test: $what: last line is not '$last'"; failed=1
	fi
}

set +e
# FND_TMPDIR: should the runner go on, it must not clobber the one running this
FND_TMPDIR="$OUT/tmp" ONLY=zz_no_such_test SUITES="regress tap suites" bash "$RUNNER" > "$OUT/empty.txt" 2>&1
rc=$?
set -e
expect "empty selection" "$OUT/empty.txt" $rc \
	"^error: no test matches ONLY='zz_no_such_test'" "0 passed, 1 failed"

set +e
FND_TMPDIR="$OUT/tmp" SUITES=regres bash "$RUNNER" > "$OUT/typo.txt" 2>&1
rc=$?
set -e
expect "unknown suite" "$OUT/typo.txt" $rc "^error: unknown suite 'regres'" "0 passed, 1 failed"

set +e
FND_TMPDIR="$OUT/tmp" FND_SUITE_TIMEOUT=3 SUITES=suites ONLY=stress \
	bash "$RUNNER" > "$OUT/hang.txt" 2>&1
rc=$?
set -e
expect "suite over its limit" "$OUT/hang.txt" $rc \
	"^suite/stress: timed out after 3 s" "0 passed, 1 failed"

if [ "$failed" -ne 0 ]; then
	exit 1
fi
echo "runner self-test: an empty selection, an unknown suite and a suite over its limit all fail, by name"
