#!/usr/bin/env bash
# The docs suite: every ```sql block of README.md that is a runnable example
# (the five-minute tour) runs without error in a fresh database, so does
# examples/walkthrough.sql (twice: it is re-runnable), every
# docs/*.md link in the README points at a file that exists, and
# docs/reference.md names every setting, error code and admin function.
#
# Run by make test against the shared instance (PGHOST, PGPORT, PGUSER set,
# psql on PATH).  A block is runnable when its first line is a comment
# ("-- ..."); signature blocks in the reference files start with a name.
set -euo pipefail
cd "$(dirname "$0")/../.."

DB=foundation_docs
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
fail=0

# Links first: a renamed doc must not leave the README pointing nowhere.
for link in $(grep -o '](docs/[^)]*)' README.md | sed 's/^](//; s/)$//' | sort -u); do
	if [ ! -f "$link" ]; then
		echo "README links to a missing file: $link"
		fail=1
	fi
done

blocks=$(mktemp -d)
trap 'rm -rf "$blocks"' EXIT
awk -v dir="$blocks" '
	/^```sql$/ { n++; inblock = 1; first = 1; next }
	/^```$/ && inblock { inblock = 0; next }
	inblock {
		if (first && $0 !~ /^--/) { skip[n] = 1 }
		first = 0
		if (!skip[n]) print > (dir "/" n ".sql")
	}' README.md
count=$(ls "$blocks" | wc -l)
if [ "$count" -eq 0 ]; then
	echo "no runnable sql block found in README.md"
	exit 1
fi

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION foundation"
for f in "$blocks"/*.sql; do
	if "${PSQL[@]}" -d "$DB" -f "$f" >/dev/null; then
		echo "README block $(basename "$f" .sql): ok"
	else
		echo "README block $(basename "$f" .sql): FAILED"
		fail=1
	fi
done
# examples/walkthrough.sql (what make run shows a newcomer) runs without
# error, twice: every part promises it can be run again.
for run in 1 2; do
	if (cd examples && "${PSQL[@]}" -d "$DB" -f walkthrough.sql >/dev/null 2>&1); then
		echo "walkthrough, run $run: ok"
	else
		echo "walkthrough, run $run: FAILED:"
		(cd examples && "${PSQL[@]}" -d "$DB" -f walkthrough.sql 2>&1 >/dev/null | tail -n 5)
		fail=1
	fi
done
# The reference names every setting, every error code and every function
# revoked from PUBLIC (the admin functions whose GRANTs it shows).
missing() {	# missing WHAT QUERY: each value the query returns must be in the file
	local what=$1 v
	while IFS= read -r v; do
		[ -n "$v" ] || continue
		if ! grep -qF -- "$v" docs/reference.md; then
			echo "docs/reference.md does not mention the $what $v"
			fail=1
		fi
	done < <("${PSQL[@]}" -d "$DB" -Atc "$2")
}
missing setting "SELECT name FROM pg_settings WHERE name LIKE 'foundation.%'"
missing "error code" "SELECT code FROM fnd_error_codes"
missing "admin function" "
	SELECT DISTINCT p.proname FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
	WHERE d.deptype = 'e' AND d.classid = 'pg_proc'::regclass
	  AND NOT has_function_privilege('public', p.oid, 'EXECUTE')"
"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
exit $fail
