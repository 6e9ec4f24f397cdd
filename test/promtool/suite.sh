#!/usr/bin/env bash
# The Prometheus output stays valid whatever names and tags were recorded:
# hostile metric names and tags (names that sanitise alike, a summary h and
# a counter h_count, empty and null tag values, tag names that are not
# ASCII, reserved or that sanitise alike, quotes, backslashes, newlines),
# then a few hundred random ones, in a database of their own.  Then
#   - promtool check metrics must parse the output (its exit status 3 only
#     reports style lints, such as a counter without _total: those are the
#     user's names and are accepted; a parse error is exit status 1);
#   - check.pl makes the checks promtool's parser does not (duplicate
#     series, reserved or empty labels, samples outside their family);
#   - every series of fnd_metrics is either in the output or reported by a
#     "# foundation: left out" comment, and the clashes above are reported.
#
# Run by make test against the shared instance: PGHOST, PGPORT, PGUSER set,
# PATH has the staged bin directory.  Needs promtool (Debian package
# prometheus).
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v promtool >/dev/null 2>&1; then
	echo "FAIL: promtool not found: install the Debian package 'prometheus'" \
		"(apt-get install --no-install-recommends prometheus; it belongs in" \
		"FND_PACKAGES in scripts/common.sh)" >&2
	exit 1
fi

OUT=${FND_WORK:-${TMPDIR:-/tmp}}/promtool
mkdir -p "$OUT"
DB=foundation_promtool
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -At)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=error"
FAILED=0

fail() {
	echo "FAIL: $*"
	FAILED=1
}

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION foundation"

# The hostile set: every case of issues 12 and 21, each line one clash.
"${PSQL[@]}" -d "$DB" > /dev/null <<'SQL'
SELECT fnd_metric_observe('h', 1);
SELECT fnd_metric_increment('h_count', 3);                 -- a summary's _count
SELECT fnd_metric_gauge('h_sum', 3);                       -- and its _sum
SELECT fnd_metric_observe('h.count', 2);                   -- sanitises to h_count
SELECT fnd_metric_increment('c');
SELECT fnd_metric_increment('c', 1, '{"a": ""}');          -- same series as c
SELECT fnd_metric_increment('c', 1, '{"a": null}');        -- and again
SELECT fnd_metric_increment('c', 1, '{"a": "x"}');
SELECT fnd_metric_increment('l', 1, '{"é": 1}');           -- would be "__"
SELECT fnd_metric_increment('l', 1, '{"ü": 1, "é": 2, "__x": 3, "tag___": 4, "quantile": 5, "": 6, "9": 7}');
SELECT fnd_metric_increment('ab', 1, '{"a.b": 1, "a_b": 2}');  -- one series, two tags alike
SELECT fnd_metric_increment('ab', 1, '{"a.b": 1}');
SELECT fnd_metric_increment('ab', 1, '{"a_b": 1}');        -- same labels as the one above
SELECT fnd_metric_increment('ab', 1, '{"a_b": "1"}');      -- and again
SELECT fnd_metric_increment('ab', 1, '{"a_b": true}');
SELECT fnd_metric_increment('ab', 1, '{"a_b": "true"}');   -- same as true
SELECT fnd_metric_increment('x.y');
SELECT fnd_metric_gauge('x_y', 1);                          -- same name, other kind
SELECT fnd_metric_increment('x-y', 1, '{"k": 1}');          -- same name, same kind
SELECT fnd_metric_increment('foundation_telemetry_dropped');  -- ours keeps the name
SELECT fnd_metric_increment('__meta');
SELECT fnd_metric_increment('9lives');
SELECT fnd_metric_increment('é.ü');
SELECT fnd_metric_gauge('q', 1, jsonb_build_object('v', E'a"b\\c\nd\re\tf', 'w', '}{,=" '));
SELECT fnd_metric_gauge('q', 2, jsonb_build_object('v', E'a"b\\c\nd\re\tf', 'w', 'other'));
SELECT fnd_metric_gauge(E'n\na\\m"e', 1);
SELECT fnd_metric_observe('s', v, '{"quantile": "0.5"}') FROM generate_series(1, 10) v;
SELECT fnd_metric_gauge('inf', 'Infinity');                 -- dropped: not a sample
SELECT fnd_metric_gauge('big', 1e308), fnd_metric_gauge('big', 1e308);
SELECT fnd_metric_observe('bigh', 1e308), fnd_metric_observe('bigh', 1e308);
SQL

# Random names and tags from pieces that clash, seeded so a failure repeats.
"${PSQL[@]}" -d "$DB" > /dev/null <<'SQL'
SELECT setseed(0.2026);
CREATE TEMP TABLE piece AS
SELECT unnest(ARRAY['a', 'b', '.', '_', '__', 'é', '_count', '_sum', 'quantile',
                    '0', ':', '-', ' ', 'tag_', 'a_b', 'a.b']) AS p;
CREATE TEMP TABLE val AS
SELECT unnest(ARRAY['""', 'null', '"x"', '1', '"1"', 'true', '"true"',
                    '"a\"b"', '"back\\slash"', '"new\nline"', '"é"']) AS v;
CREATE TEMP TABLE r AS
SELECT g, (SELECT string_agg(p, '') FROM (SELECT p FROM piece ORDER BY random() + g * 0 LIMIT 1 + (random() * 3)::int) s) AS name,
       (random() * 3)::int AS kind,
       (SELECT coalesce(jsonb_object_agg(k, v::jsonb), '{}')
        FROM (SELECT (SELECT string_agg(p, '') FROM (SELECT p FROM piece ORDER BY random() + g * 0 + i * 0 LIMIT 1 + (random() * 2)::int) s2) AS k,
                     (SELECT v FROM val ORDER BY random() + g * 0 + i * 0 LIMIT 1) AS v
              FROM generate_series(1, (random() * 3)::int) i) t) AS tags
FROM generate_series(1, 400) g;
SELECT count(*) FROM (
    SELECT CASE kind WHEN 0 THEN fnd_metric_increment(name, 1, tags)
                     WHEN 1 THEN fnd_metric_gauge(name, g, tags)
                     ELSE fnd_metric_observe(name, g, tags) END
    FROM r ORDER BY g) s;
SQL

"${PSQL[@]}" -d "$DB" -c "SELECT fnd_metrics_prometheus()" > "$OUT/metrics.prom"
TOTAL=$("${PSQL[@]}" -d "$DB" -c "SELECT count(*) FROM fnd_metrics")
echo "$TOTAL series recorded; output: $(wc -l < "$OUT/metrics.prom") lines in $OUT/metrics.prom"

# promtool: exit 0, or 3 for lints only
set +e
promtool check metrics < "$OUT/metrics.prom" > "$OUT/promtool.txt" 2>&1
RC=$?
set -e
echo "promtool check metrics: exit status $RC ($(wc -l < "$OUT/promtool.txt") lines of lints)"
if [ "$RC" -ne 0 ] && { [ "$RC" -ne 3 ] || grep -q 'error while linting' "$OUT/promtool.txt"; }; then
	fail "promtool does not accept the output:"
	cat "$OUT/promtool.txt"
fi

# the strict checks
if ! perl check.pl "$OUT/metrics.prom" > "$OUT/check.txt"; then
	fail "check.pl:"
	head -n 40 "$OUT/check.txt"
fi
read -r _ WRITTEN _ LEFT_OUT < <(tail -n 1 "$OUT/check.txt")
echo "$WRITTEN series written, $LEFT_OUT left out"
if [ "$((WRITTEN + LEFT_OUT))" -ne "$TOTAL" ]; then
	fail "$TOTAL series in fnd_metrics, but $WRITTEN written and $LEFT_OUT reported as left out"
fi

# the clashes of the hostile set are reported, with the expected winner
for expect in \
	'left out counter "h_count" {}: its Prometheus name is taken by the samples of "h"' \
	'left out gauge "h_sum" {}: its Prometheus name is taken by the samples of "h"' \
	'left out histogram "h.count" {}: its Prometheus name is taken by the samples of "h"' \
	'left out counter "c" {"a": ""}: its labels are those of the series with tags {}' \
	'left out counter "c" {"a": null}: its labels are those of the series with tags {}' \
	'left out counter "ab" {"a.b": 1}: its labels are those of the series with tags {"a_b": "1"}' \
	'left out counter "ab" {"a_b": 1}: its labels are those of the series with tags {"a_b": "1"}' \
	'left out counter "ab" {"a_b": true}: its labels are those of the series with tags {"a_b": "true"}' \
	'left out counter "x.y" {}: its Prometheus name is that of "x_y"' \
	'left out counter "x-y" {"k": 1}: its Prometheus name is that of "x_y"' \
	'left out counter "foundation_telemetry_dropped" {}: its Prometheus name is that of "foundation.telemetry.dropped"'
do
	grep -qxF "# foundation: $expect" "$OUT/metrics.prom" || fail "not reported: $expect"
done
grep -q '^ab{a_b="2",a_b_2="1"} 1$' "$OUT/metrics.prom" || fail "the two tags that sanitise alike are not both labels"
grep -q '^c 1$' "$OUT/metrics.prom" || fail "the series without labels is not kept"
grep -q '^foundation_telemetry_dropped ' "$OUT/metrics.prom" || fail "the dropped counter is not in the output"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
if [ "$FAILED" -ne 0 ]; then
	exit 1
fi
echo "promtool suite passed"
