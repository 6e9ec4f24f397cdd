#!/usr/bin/env bash
# The upgrade suite, run by make test against the shared instance (PGHOST,
# PGPORT, psql of the staged install on PATH, FND_STAGE, FND_WORK):
#   1. released scripts are unchanged: every file listed in released.md5
#      has that md5 in the installed extension directory; RELEASES lines
#      are well formed and each names a version whose scripts are listed
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

# RELEASES: "VERSION COMMIT DATE" lines, each version's scripts recorded
while read -r line; do
	case $line in ''|'#'*) continue ;; esac
	if echo "$line" | grep -Eq '^[0-9][0-9.]* [0-9a-f]{40} [0-9]{4}-[0-9]{2}-[0-9]{2}$'; then
		v=${line%% *}
		if grep -Eq "  foundation--([^ ]*--)?$(echo "$v" | sed 's/\./\\./g')\.sql$" released.md5; then
			echo "ok   released: RELEASES line for $v, its scripts in released.md5"
		else
			echo "FAIL released: $v is in RELEASES but none of its scripts is in test/upgrade/released.md5"; status=1
		fi
	else
		echo "FAIL released: RELEASES line '$line' is not 'VERSION COMMIT(40 hex) YYYY-MM-DD'"; status=1
	fi
done < ../../RELEASES

# The data checks compare tables around every step: the workers' own
# writers (metric-history snapshots, alert evaluation, 1.2) pause meanwhile,
# or a snapshot taken between two checks would read as a lost or added row.
workers_write() {
	psql -X -q -d postgres -c "ALTER SYSTEM $1 foundation.metric_history_interval $2" \
		-c "ALTER SYSTEM $1 foundation.alert_interval $2" -c "SELECT pg_reload_conf()" >/dev/null
}
workers_write SET "= 0"
trap 'workers_write RESET ""' EXIT
bash ./harness.sh --extdir "$EXTDIR" --work "${FND_WORK:-/tmp}/upgrade" || status=1
bash ./selftest.sh || status=1
exit $status
