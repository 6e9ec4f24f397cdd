#!/usr/bin/env bash
# make run: build, install into a staged server, start (or restart) a
# private Postgres with foundation preloaded, create the extension, run
# examples/walkthrough.sql and say how to connect.  make stop: stop it.
# The instance and its data stay between runs: on an existing instance the
# extension is updated (ALTER EXTENSION foundation UPDATE), never re-created.
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
. "$(dirname "${BASH_SOURCE[0]}")/releases.sh"

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
EXTDIR=$("$FND_BIN/pg_config" --sharedir)/extension
SUMS=$DATA/foundation.scripts.md5	# the scripts as of the last create/update

run_sql() { "${PSQL[@]}" -q -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "$1"; }

# The script that defines version $1 here: its step up, or the base script.
run_defining_script() {
	local s
	s=$(cd "$EXTDIR" && ls foundation--*--"$1".sql 2>/dev/null | head -n 1)
	[ -n "$s" ] || s=foundation--$1.sql
	echo "$s"
}

# Versions from the base up to $1, oldest first, from the scripts' names.
run_chain_to() {
	(cd "$EXTDIR" && ls foundation--*.sql) | sed 's/^foundation--//; s/\.sql$//' |
		tr -s '-' '\n' | sort -V -u | awk -v top="$1" '{ print } $0 == top { exit }'
}

# An unreleased version's scripts may change between runs while its number
# stays.  Then walk down below the lowest changed version (downgrades keep
# every row) and let the update below run the changed steps again.  The
# base version has no step below it: before its release (1.0 before the
# freeze) its changed script is only reported, unless FND_RUN_RECREATE=1.
run_reapply_changed() {
	local installed=$1 v prev= script changed= below=
	[ -f "$SUMS" ] || return 0
	for v in $(run_chain_to "$installed"); do
		script=$(run_defining_script "$v")
		if [ -f "$EXTDIR/$script" ] && grep -q " $script\$" "$SUMS" &&
			[ "$(grep " $script\$" "$SUMS" | cut -d' ' -f1)" != "$(md5sum < "$EXTDIR/$script" | cut -d' ' -f1)" ]; then
			changed=$v; below=$prev; break
		fi
		prev=$v
	done
	[ -n "$changed" ] || return 0
	if fnd_is_released "$changed"; then
		fnd_log "warning: $script of the released version $changed differs from what this instance ran; a released script must never change (test/upgrade/released.md5)"
		return 0
	fi
	if [ -n "$below" ]; then
		fnd_log "the unreleased step to $changed changed since this instance ran it: down to $below and up again (downgrades keep every row)"
		run_sql "ALTER EXTENSION foundation UPDATE TO '$below'"
	elif [ "${FND_RUN_RECREATE:-0}" = 1 ]; then
		fnd_log "FND_RUN_RECREATE=1: re-creating the extension ($changed's script changed); its tables start empty"
		run_sql "DROP EXTENSION foundation CASCADE"
	else
		fnd_log "the unreleased $changed's script changed since this instance created the extension; keeping it and its data as they are (FND_RUN_RECREATE=1 make run re-creates it, emptying its tables)"
		RUN_STALE=1	# keep the old sums: the next run sees the change too
	fi
}

run_update_extension() {
	local installed now
	installed=$("${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'foundation'")
	if [ -z "$installed" ]; then
		run_sql "CREATE EXTENSION foundation"
	else
		run_reapply_changed "$installed"
		if [ -z "$("${PSQL[@]}" -Atc "SELECT 1 FROM pg_extension WHERE extname = 'foundation'")" ]; then
			run_sql "CREATE EXTENSION foundation"
		else
			run_sql "ALTER EXTENSION foundation UPDATE"
		fi
	fi
	now=$("${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'foundation'")
	if [ -n "$installed" ] && [ "$installed" != "$now" ]; then
		fnd_log "foundation updated from $installed to $now (data kept)"
	fi
	[ "${RUN_STALE:-0}" = 1 ] || (cd "$EXTDIR" && md5sum foundation--*.sql) | sed 's/  / /' > "$SUMS"
}

# The extension keeps its data across runs: an existing one is updated
# with ALTER EXTENSION, never dropped (docs/upgrading.md).
run_update_extension
fnd_log "running examples/walkthrough.sql"
(cd "$FND_SRC/examples" && "${PSQL[@]}" -v ON_ERROR_STOP=1 -f walkthrough.sql)

cat <<MSG

foundation $( "${PSQL[@]}" -Atc "SELECT extversion FROM pg_extension WHERE extname = 'foundation'") is running on port $PORT (log: $LOG).
Connect with:
    psql -h localhost -p $PORT -U $(id -un) postgres
Stop it with: make stop
MSG
