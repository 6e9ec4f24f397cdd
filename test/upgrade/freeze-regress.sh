#!/usr/bin/env bash
# Freeze the 1.0 regression suite: copy sql/*.sql and expected/*.out, as
# they are now, to test/upgrade/regress-1.0/.  Run once, at the 1.0 freeze
# (test/upgrade/freeze.sh does).  From then on the copy is never edited:
# the harness runs it on 1.0 updated to the latest version and on a fresh
# latest install, while sql/ and expected/ move on with each version.
# A later version whose additions change a frozen output (a new error code
# in the catalog listing, a new service) adds an alternative expected file
# regress-1.0/expected/NAME_1.out (pg_regress accepts the closest one) and
# says why in regress-1.0/VARIANTS; it never edits NAME.out.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=test/upgrade/regress-1.0
if [ -d "$dest" ] && [ "${1:-}" != --force ]; then
	echo "freeze-regress: $dest exists (1.0's suite is frozen); --force replaces it" >&2
	exit 1
fi
rm -rf "$dest"
mkdir -p "$dest/sql" "$dest/expected"
cp sql/*.sql "$dest/sql/"
cp expected/*.out "$dest/expected/"
cat > "$dest/VARIANTS" <<'TXT'
# Alternative expected files of the frozen 1.0 suite, one line each:
#   expected/NAME_N.out  version  why the output differs (additions only)
TXT
echo "freeze-regress: copied $(ls "$dest/sql" | wc -l) tests and $(ls "$dest/expected" | wc -l) expected files to $dest"
