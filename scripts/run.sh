#!/usr/bin/env bash
# make run: build, install into a staged server, start (or restart) a
# private Postgres with foundation preloaded, create the extension, run
# examples/walkthrough.sql and say how to connect.  make stop: stop it.
# The instance and its data stay between runs.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [ "$(id -u)" -eq 0 ]; then
	fnd_deps
	fnd_drop_root run.sh "$@"
fi
fnd_deps

FND_BASE=$(fnd_base_for "$(id -un)")
RUN=$FND_BASE/run
STAGE=$RUN/install
FND_BIN=$(fnd_stage_bin "$STAGE")
DATA=$RUN/data
LOG=$RUN/postgres.log
mkdir -p "$RUN"

if [ "${1:-}" = "--stop" ]; then
	if [ -x "$FND_BIN/pg_ctl" ]; then fnd_pg_stop "$DATA"; fi
	echo "foundation instance stopped (data kept in $DATA)"
	exit 0
fi

# stop before restaging: the running server's binaries are replaced
if [ -x "$FND_BIN/pg_ctl" ]; then fnd_pg_stop "$DATA"; fi
fnd_build_and_stage "$STAGE"

if [ -f "$DATA/PG_VERSION" ]; then
	PORT=$(sed -n 's/^port = \([0-9]*\)$/\1/p' "$DATA/postgresql.conf" | tail -n 1)
	fnd_log "reusing the instance in $DATA"
else
	PORT=$(fnd_free_port "${FND_PORT:-55432}")
	fnd_log "creating an instance in $DATA on port $PORT"
	fnd_initdb "$DATA" "$RUN" "$PORT" "localhost"
fi
fnd_pg_start "$DATA" "$LOG"

PSQL=("$FND_BIN/psql" -X -h "$RUN" -p "$PORT" -d postgres)

# An unreleased version's script changes during development while its
# version number stays: re-create the extension when the script this
# instance was set up with differs from the one just built.
SCRIPT_SUM=$(cat "$FND_SRC"/foundation--*.sql | md5sum | cut -c1-32)
if [ "$(cat "$DATA/foundation.script.md5" 2>/dev/null)" != "$SCRIPT_SUM" ] &&
	[ "$("${PSQL[@]}" -Atc "SELECT count(*) FROM pg_extension WHERE extname = 'foundation'")" = 1 ]; then
	fnd_log "the extension's SQL changed since this instance created it: re-creating it (its tables start empty)"
	"${PSQL[@]}" -q -v ON_ERROR_STOP=1 \
		-c "SET client_min_messages = warning; DROP EXTENSION IF EXISTS foundation CASCADE;"
fi
"${PSQL[@]}" -q -v ON_ERROR_STOP=1 \
	-c "SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS foundation;"
echo "$SCRIPT_SUM" > "$DATA/foundation.script.md5"

fnd_log "running examples/walkthrough.sql"
(cd "$FND_SRC/examples" && "${PSQL[@]}" -v ON_ERROR_STOP=1 -f walkthrough.sql)

cat <<MSG

foundation $( "${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'foundation'") is running on port $PORT (log: $LOG).
Connect with:
    psql -h localhost -p $PORT -U $(id -un) postgres
Stop it with: make stop
MSG
