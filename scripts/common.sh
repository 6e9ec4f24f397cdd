#!/usr/bin/env bash
# Shared by make run, make test and make bench.
#
# Postgres refuses to run as root, so as root these scripts install the
# Debian packages they need, copy the source tree to a directory the
# postgres user owns and re-run themselves there as postgres.  Everything
# after the package step runs unprivileged.
#
# Nothing is installed into the system's Postgres: each script installs the
# extension into a staged copy of the server (the same binaries, relocated
# under $FND_BASE/<purpose>/install), so several checkouts can build and
# test side by side without touching each other or the system.

set -euo pipefail

FND_PGVER=15
FND_SYS_LIB=/usr/lib/postgresql/$FND_PGVER
FND_SYS_SHARE=/usr/share/postgresql/$FND_PGVER
FND_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

FND_PACKAGES="postgresql-$FND_PGVER postgresql-client-$FND_PGVER
	postgresql-server-dev-$FND_PGVER postgresql-$FND_PGVER-pgtap
	libtap-parser-sourcehandler-pgtap-perl libipc-run-perl libpq-dev gcc make
	prometheus prometheus-postgres-exporter pgbouncer"

fnd_log() { printf '==> %s\n' "$*" >&2; }
fnd_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Install missing Debian packages (as root), or say which line to run.
fnd_deps() {
	local missing=() p
	for p in $FND_PACKAGES; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -eq 0 ]; then
		fnd_log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	else
		fnd_die "missing Debian packages; run: sudo apt-get install -y ${missing[*]}"
	fi
}

# The per-checkout work directory, owned by the user who runs Postgres.
fnd_base_for() {
	local user=$1 hash
	hash=$(printf "%s" "${FND_ORIG_SRC:-$FND_SRC}" | md5sum | cut -c1-8)
	echo "${FND_TMPDIR:-/tmp}/foundation-$user-$hash"
}

# As root: copy the tree to postgres's work directory and re-run the calling
# script there as postgres.  Returns only when not root.
fnd_drop_root() {
	local script=$1; shift
	[ "$(id -u)" -ne 0 ] && return 0
	id postgres >/dev/null 2>&1 || fnd_die "no postgres user (is postgresql-$FND_PGVER installed?)"
	local base; base=$(fnd_base_for postgres)
	# one copy per script, so make run does not pull the tree from under a
	# make test that is running
	local copy=$base/src-${script%.sh}
	mkdir -p "$base"
	chown postgres: "$base"
	rm -rf "$copy"
	runuser -u postgres -- mkdir -p "$copy"
	tar -C "$FND_SRC" --exclude=./.git -cf - . |
		runuser -u postgres -- tar -C "$copy" -xf -
	exec runuser -u postgres -- env FND_ORIG_SRC="$FND_SRC" \
		bash "$copy/scripts/$script" "$@"
}

# Build with warnings as errors and install into a staged server at $1.
fnd_build_and_stage() {
	local stage=$1 cflags=${2:-}
	fnd_log "building (warnings are errors${cflags:+, $cflags})"
	make -C "$FND_SRC" -s clean >/dev/null 2>&1 || true
	make -C "$FND_SRC" -s PG_CONFIG="$FND_SYS_LIB/bin/pg_config" \
		FND_CFLAGS="$cflags" >/dev/null
	rm -rf "$stage"
	mkdir -p "$stage/usr/lib/postgresql" "$stage/usr/share/postgresql"
	cp -a "$FND_SYS_LIB" "$stage/usr/lib/postgresql/"
	cp -a "$FND_SYS_SHARE" "$stage/usr/share/postgresql/"
	make -C "$FND_SRC" -s PG_CONFIG="$FND_SYS_LIB/bin/pg_config" \
		DESTDIR="$stage" install >/dev/null
}

fnd_stage_bin() { echo "$1/usr/lib/postgresql/$FND_PGVER/bin"; }
fnd_stage_pgxs() { echo "$1/usr/lib/postgresql/$FND_PGVER/lib/pgxs"; }

# fnd_initdb DATADIR SOCKDIR PORT LISTEN [extra conf lines...]
fnd_initdb() {
	local data=$1 sock=$2 port=$3 listen=$4; shift 4
	"$FND_BIN/initdb" -D "$data" -A trust -E UTF8 --locale=C.UTF-8 \
		--no-sync >/dev/null
	{
		echo "# foundation private instance"
		echo "shared_preload_libraries = 'foundation'"
		echo "port = $port"
		echo "listen_addresses = '$listen'"
		echo "unix_socket_directories = '$sock'"
		echo "max_connections = 120"
		echo "max_worker_processes = 16"
		echo "log_line_prefix = '%m [%p] %b '"
		echo "lc_messages = 'C'"
		local line
		for line in "$@"; do echo "$line"; done
	} >> "$data/postgresql.conf"
}

fnd_pg_start() {
	local data=$1 log=$2
	"$FND_BIN/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null ||
		{ tail -n 30 "$log" >&2; fnd_die "postgres did not start"; }
}

fnd_pg_stop() {
	local data=$1
	[ -f "$data/postmaster.pid" ] || return 0
	"$FND_BIN/pg_ctl" -D "$data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
}

# A TCP port on localhost that nothing listens on, starting at $1.
fnd_free_port() {
	local port=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# A port for an instance that listens only on a unix socket in DIR: the
# port names the socket file (DIR/.s.PGSQL.PORT), so it must not be taken
# there; nothing may listen on it over TCP either, in case listen_addresses
# is turned on.  Starts at $2.
fnd_free_socket_port() {
	local dir=$1 port=$2
	while [ -e "$dir/.s.PGSQL.$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		port=$((port + 1))
	done
	echo "$port"
}

# fnd_limited SECONDS CMD...: run CMD; past SECONDS stop it and everything
# it started (TERM, then KILL 30 s later) and return 124.
fnd_limited() {
	local secs=$1; shift
	timeout --kill-after=30 "$secs" "$@"
}
