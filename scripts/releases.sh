#!/usr/bin/env bash
# The reader of RELEASES (sourced by run.sh, bench-compat.sh and
# test/upgrade/freeze.sh).  RELEASES holds one line per released version:
#   VERSION COMMIT DATE        e.g. 1.0 3f1c...e9 2026-12-01
# with '#' comments and blank lines ignored.

FND_RELEASES_FILE=${FND_RELEASES_FILE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/RELEASES}

# fnd_releases: "VERSION COMMIT DATE" lines, oldest first
fnd_releases() {
	[ -f "$FND_RELEASES_FILE" ] || return 0
	awk '!/^[[:space:]]*(#|$)/ && NF >= 3 { print $1, $2, $3 }' "$FND_RELEASES_FILE"
}

# fnd_release_commit VERSION: its commit, or nothing (status 1)
fnd_release_commit() {
	local c
	c=$(fnd_releases | awk -v v="$1" '$1 == v { print $2 }' | tail -n 1)
	[ -n "$c" ] || return 1
	echo "$c"
}

# fnd_is_released VERSION
fnd_is_released() { fnd_release_commit "$1" >/dev/null; }
