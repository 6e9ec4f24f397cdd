#!/usr/bin/env bash
# make bench-compat (and the last section of make bench): the SPEC's "a 1.0
# operation is at most 5% slower at the latest version", measured side by
# side.  Builds the recorded 1.0 commit into a second staged install beside
# this build, starts both (two sockets), and runs every 1.0 scenario (the
# test/bench/*.sh files of that commit) alternately on both: this build at
# its latest version against the 1.0 build at 1.0.  Prints each ratio,
# this build over the 1.0 build, in both pgbench protocols (goal >= 0.95x).
#
# Which commit: FND_COMPAT_COMMIT (any git revision) if set, else the 1.0
# line of RELEASES, else (before the 1.0 freeze) HEAD, said so loudly.
#
# Run directly, this file runs scripts/bench.sh in compatibility mode;
# bench.sh sources it for the compat_* functions.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	FND_BENCH_MODE=compat exec bash "$(dirname "$0")/bench.sh" "$@"
fi

COMPAT_VERSION=1.0

# compat_resolve DIR: "COMMIT DESCRIPTION" of the build to compare against
compat_resolve() {
	local dir=$1 rev desc c
	if [ -n "${FND_COMPAT_COMMIT:-}" ]; then
		rev=$FND_COMPAT_COMMIT; desc="FND_COMPAT_COMMIT=$FND_COMPAT_COMMIT"
	elif c=$(fnd_release_commit "$COMPAT_VERSION"); then
		rev=$c; desc="$COMPAT_VERSION as recorded in RELEASES"
	else
		rev=HEAD
		desc="HEAD: RELEASES has no $COMPAT_VERSION line yet (1.0 is not frozen), so this compares the last commit with the working tree; set FND_COMPAT_COMMIT to pick another"
	fi
	c=$(git -C "$dir" rev-parse --verify -q "$rev^{commit}" 2>/dev/null) ||
		{ fnd_log "bench-compat: $rev is not a commit of $dir"; return 1; }
	echo "$c $desc"
}

# compat_export DIR TARFILE: the tree of the chosen commit, as a tar file
compat_export() {
	local dir=$1 tar=$2 res
	res=$(compat_resolve "$dir") || return 1
	git -C "$dir" archive --format=tar -o "$tar" "${res%% *}" || return 1
	FND_COMPAT_TAR=$tar
	FND_COMPAT_DESC="${res%% *} (${res#* })"
	export FND_COMPAT_TAR FND_COMPAT_DESC
}

# As root, in the checkout (git needs the .git the copy for postgres lacks).
compat_export_as_root() {
	local base
	base=$(fnd_base_for postgres)
	mkdir -p "$base"
	chown postgres: "$base"
	# git refuses a repository owned by someone else unless told it is safe
	git config --global --get-all safe.directory 2>/dev/null | grep -qxF "$FND_SRC" ||
		export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0="$FND_SRC"
	if compat_export "$FND_SRC" "$base/compat-src.tar"; then
		chown postgres: "$base/compat-src.tar"
	else
		fnd_log "bench-compat: no $COMPAT_VERSION tree to build; the compatibility section will be skipped"
	fi
}

compat_stop_old() {
	local d
	for d in old new; do
		[ -n "${W:-}" ] && [ -f "$W/$d/data/postmaster.pid" ] &&
			"$W/$d/install/usr/lib/postgresql/$FND_PGVER/bin/pg_ctl" -D "$W/$d/data" -w -m fast stop >/dev/null 2>&1
	done
	return 0
}

# compat_instance NAME STAGE: a fresh instance of that staged build in
# $W/NAME, its socket in $W/NAME, with the bench instance's settings
compat_instance() {
	local name=$1 stage=$2 d=$W/$1
	local FND_BIN
	FND_BIN=$(fnd_stage_bin "$stage")
	mkdir -p "$d"
	# the bench instance's port: each instance has a socket directory of its own
	fnd_initdb "$d/data" "$d" "$PORT" "" "shared_buffers = 256MB" "synchronous_commit = off" \
		"max_connections = 60"
	fnd_pg_start "$d/data" "$d/postgres.log"
	HOST[$name]=$d
	PGHOST=$d psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION foundation"
}

compat_section() {
	echo "-- compatibility: every $COMPAT_VERSION scenario, this build vs the $COMPAT_VERSION build, alternately"
	if [ -z "${FND_COMPAT_TAR:-}" ]; then
		compat_export "${FND_ORIG_SRC:-$FND_SRC}" "$W/compat-src.tar" ||
			{ echo "   skipped: no git history to build $COMPAT_VERSION from (set FND_COMPAT_COMMIT in a git checkout)"; return 0; }
	fi
	echo "   $COMPAT_VERSION build: $FND_COMPAT_DESC"
	rm -rf "$W/old" "$W/new"
	mkdir -p "$W/old/src"
	tar -C "$W/old/src" -xf "$FND_COMPAT_TAR"
	(FND_SRC=$W/old/src; fnd_build_and_stage "$W/old/install" "${FND_BENCH_CFLAGS:-}") ||
		{ echo "   skipped: the $COMPAT_VERSION build failed"; return 0; }
	# the scenarios' leftovers (a full registry, a grown event table) must
	# not weigh on one side only: both instances start empty
	fnd_pg_stop "$DATA"
	compat_instance old "$W/old/install"
	mkdir -p "$W/new"
	ln -s "$STAGE" "$W/new/install"
	compat_instance new "$STAGE"
	echo "   this build at $(PGHOST=${HOST[new]} psql -X -At -c "SELECT extversion FROM pg_extension WHERE extname = 'foundation'"), the $COMPAT_VERSION build at $(PGHOST=${HOST[old]} psql -X -At -c "SELECT extversion FROM pg_extension WHERE extname = 'foundation'"); ratio = this build / $COMPAT_VERSION build"
	local saved_targets=$TARGETS saved_host=$PGHOST f
	TARGETS="old new"
	COMPAT_LABEL=1
	export PGHOST=${HOST[new]}
	for f in "$W"/old/src/test/bench/*.sh; do
		[ -e "$f" ] || continue
		echo "-- compat: $(basename "$f" .sh)"
		. "$f"
	done
	COMPAT_LABEL=
	TARGETS=$saved_targets
	PGHOST=$saved_host
	compat_stop_old
}
