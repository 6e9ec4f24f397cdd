#!/usr/bin/env bash
# Stress suite: builds the libpq harness and runs it against the shared test
# instance (PG* environment from scripts/test.sh).  Short by default (make
# test); long with FND_STRESS_LONG=1 (make stress).
#
# First the checker checks itself: for each kind of violation, a short run
# with fake records that break exactly that check (LOCK_STRESS_INJECT) must
# exit 1 and report exactly one violation, of that kind.  A checker whose
# check is broken, or that fails for another reason, fails the suite.
set -euo pipefail
cd "$(dirname "$0")"
out=${FND_WORK:-/tmp}/lock_stress
inc=$(pg_config --includedir 2>/dev/null || true)
[ -f "$inc/libpq-fe.h" ] || inc=/usr/include/postgresql
cc -O2 -Wall -Wextra -Werror -o "$out" lock_stress.c -I"$inc" -lpq -lpthread
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "CREATE EXTENSION IF NOT EXISTS foundation"

# The violations line with 1 for the given kind and 0 elsewhere.
expected_line() {
	local kind=$1 k line="violations: 1 (" sep=
	for k in overlap:overlaps repeat:"repeated tokens" disorder:"tokens out of order" \
		late:"late waiters" error:errors lost:"session locks lost" \
		early:"leases ended early" leftover:"left held"; do
		line+="$sep${k#*:} $([ "${k%%:*}" = "$kind" ] && echo 1 || echo 0)"
		sep=", "
	done
	echo "$line)"
}

failed=0
for kind in overlap repeat disorder late lost early; do
	want=$(expected_line "$kind")
	set +e
	LOCK_STRESS_INJECT=$kind "$out" 2 1 1 100000 > "$out.$kind.txt" 2>&1
	rc=$?
	set -e
	sed "s/^/  [inject $kind] /" "$out.$kind.txt"
	if [ "$rc" -ne 1 ] || ! grep -qxF "$want" "$out.$kind.txt"; then
		echo "lock stress self-test: injected '$kind' gave exit status $rc, not 1 with the line"
		echo "  $want"
		failed=1
	fi
done
if [ "$failed" -ne 0 ]; then
	exit 1
fi
echo "lock stress self-test: each injected kind of violation was reported, alone"

if [ "${FND_STRESS_LONG:-0}" = 1 ]; then
	"$out" 16 120 4 50
else
	"$out" 8 8 3 100
fi

# Durable subscriptions (subs_stress.c): first its own self-test, as above,
# then the run.
sout=${FND_WORK:-/tmp}/subs_stress
cc -O2 -Wall -Wextra -Werror -o "$sout" subs_stress.c -I"$inc" -lpq -lpthread
for kind in missing duplicate order rollback; do
	case $kind in
	missing) want="missing 1, duplicates 0, out of order 0, redelivery 0, rolled back 0, errors 0" ;;
	duplicate) want="missing 0, duplicates 1, out of order 0, redelivery 0, rolled back 0, errors 0" ;;
	order) want="missing 0, duplicates 0, out of order 1, redelivery 0, rolled back 0, errors 0" ;;
	rollback) want="missing 0, duplicates 0, out of order 0, redelivery 0, rolled back 1, errors 0" ;;
	esac
	set +e
	SUBS_STRESS_INJECT=$kind "$sout" 4 2 > "$sout.$kind.txt" 2>&1
	rc=$?
	set -e
	sed "s/^/  [inject $kind] /" "$sout.$kind.txt"
	if [ "$rc" -ne 1 ] || ! grep -qxF "violations: 1 ($want)" "$sout.$kind.txt"; then
		echo "subscription stress self-test: injected '$kind' gave exit status $rc, not 1 with the line"
		echo "  violations: 1 ($want)"
		exit 1
	fi
done
echo "subscription stress self-test: each injected kind of violation was reported, alone"

if [ "${FND_STRESS_LONG:-0}" = 1 ]; then
	"$sout" 8 60
else
	"$sout" 8 5
fi
