#!/usr/bin/env bash
# Stress suite: builds the libpq harness and runs it against the shared test
# instance (PG* environment from scripts/test.sh).  Short by default (make
# test); long with FND_STRESS_LONG=1 (make stress).
set -euo pipefail
cd "$(dirname "$0")"
out=${FND_WORK:-/tmp}/lock_stress
inc=$(pg_config --includedir 2>/dev/null || true)
[ -f "$inc/libpq-fe.h" ] || inc=/usr/include/postgresql
cc -O2 -Wall -Wextra -Werror -o "$out" lock_stress.c -I"$inc" -lpq -lpthread
psql -X -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" \
	-c "CREATE EXTENSION IF NOT EXISTS foundation"
# the checks can fail: a fake overlapping holding must be reported
if LOCK_STRESS_INJECT=1 "$out" 2 1 1 100000 >/dev/null 2>&1; then
	echo "lock stress: the checker did not report an injected violation"
	exit 1
fi
if [ "${FND_STRESS_LONG:-0}" = 1 ]; then
	"$out" 16 120 4 50
else
	"$out" 8 8 3 100
fi
