#!/usr/bin/env bash
# The upgrade suite, run by make test against the shared instance (PGHOST,
# PGPORT, psql of the staged install on PATH, FND_STAGE, FND_WORK):
#   1. released scripts are unchanged: every file listed in released.md5
#      has that md5 in the installed extension directory
#   2. harness.sh on this build's version chain (every check)
#   3. selftest.sh: the harness passes a good throwaway step and fails each
#      broken one
# FND_UPGRADE_ROWS sets the events the timing checks load (default 200000;
# make bench and docs/upgrading.md use 1000000).  ONLY=upgrade make test
# runs just this suite.
set -euo pipefail
cd "$(dirname "$0")"
EXTDIR=$(pg_config --sharedir)/extension
status=0

released=0
while read -r sum file; do
	case $sum in ''|'#'*) continue ;; esac
	released=$((released + 1))
	if [ "$(md5sum < "$EXTDIR/$file" 2>/dev/null | cut -d' ' -f1)" = "$sum" ]; then
		echo "ok   released: $file is as released"
	else
		echo "FAIL released: $file differs from the released one (a released script is never edited: add a step instead)"
		status=1
	fi
done < released.md5
[ $released -gt 0 ] || echo "     released: no version released yet (released.md5 is empty until the 1.0 freeze)"

bash ./harness.sh --extdir "$EXTDIR" --work "${FND_WORK:-/tmp}/upgrade" || status=1
bash ./selftest.sh || status=1
exit $status
