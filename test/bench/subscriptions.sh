# subscriptions (1.2): catch-up of a durable subscription over 1M events,
# and what the gap-free horizon's bookkeeping costs fnd_store_event.
# Sourced by scripts/bench.sh.

# Catch-up: 1M events stored, a subscription from the beginning, then one
# client reads 1000 and acknowledges them per transaction until it has
# caught up (1000 transactions: every event once), in each protocol.
subs_bench_catchup() {
	local p out tps
	bench_sql "DELETE FROM fnd_event_subscriptions WHERE name = 'bench_catchup';
INSERT INTO fnd_events (type, data, metadata)
SELECT 'bench.sub.' || (i % 3), jsonb_build_object('i', i), '{}' FROM generate_series(1, 1000000) i;"
	bench_sql "VACUUM ANALYZE fnd_events;"
	local f
	f=$(bench_script "SELECT fnd_subscription_ack('bench_catchup', max(id)) FROM fnd_subscription_read('bench_catchup', 1000);")
	# one untimed pass first: the first reader of fresh rows pays for
	# bringing them in, which is not the subscription's cost
	for p in warmup $PROTOCOLS; do
		bench_sql "DELETE FROM fnd_event_subscriptions WHERE name = 'bench_catchup';
SELECT fnd_subscription_create('bench_catchup', '{}', 'beginning');
UPDATE fnd_event_subscriptions SET checkpoint = (SELECT min(id) - 1 FROM fnd_events WHERE type LIKE 'bench.sub.%')
WHERE name = 'bench_catchup';"
		if [ "$p" = warmup ]; then
			pgbench -n -M prepared -c 1 -t 1000 -f "$f" >/dev/null 2>&1
			continue
		fi
		out=$(pgbench -n -M "$p" -c 1 -t 1000 -f "$f" 2>&1)
		tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
		left=$(psql -X -At -c "SELECT lag_events FROM fnd_subscriptions WHERE name = 'bench_catchup'")
		printf '%-58s %-8s %9.0f events/s (1000 reads of 1000 with their acks; %s events left)  (goal >= 100000)\n' \
			"subscriptions: catch-up over 1M events, read(name, 1000)" "$p" "$(awk -v t="${tps:-0}" 'BEGIN { print t * 1000 }')" "$left"
	done
	bench_sql "SELECT fnd_subscription_drop('bench_catchup');
DELETE FROM fnd_events WHERE type LIKE 'bench.sub.%';"
}
bench_each "subscriptions: catch-up over 1M events" subs_bench_catchup

# The horizon's bookkeeping: the writer's mark, record and clear, measured
# in one backend (fnd_horizon_bench, a C entry point the extension's SQL
# does not declare), against a one-event fnd_store_event transaction timed
# by pgbench with one client, in each protocol.
subs_bench_horizon() {
	local ns p tps f
	ns=$(psql -X -At -c "CREATE FUNCTION pg_temp.fnd_horizon_bench(int) RETURNS float8 LANGUAGE C AS 'foundation', 'fnd_horizon_bench'" \
		-c "SELECT round(pg_temp.fnd_horizon_bench(1000000)::numeric, 1)" | tail -1)
	f=$(bench_script "SELECT fnd_store_event('bench.horizon', '{\"i\": 1}');")
	for p in $PROTOCOLS; do
		tps=$(bench_once cur "$p" 1 "$f")
		printf '%-58s %-8s %6s ns of %7.0f ns per transaction = %5.2f%%  (goal <= 2%%)\n' \
			"subscriptions: horizon bookkeeping / one-event store" "$p" "$ns" \
			"$(awk -v t="${tps:-0}" 'BEGIN { print (t > 0) ? 1e9 / t : 0 }')" \
			"$(awk -v t="${tps:-0}" -v n="$ns" 'BEGIN { print n * t / 1e7 }')"
	done
	bench_sql "DELETE FROM fnd_events WHERE type = 'bench.horizon';"
}
bench_each "subscriptions: horizon bookkeeping" subs_bench_horizon
