-- config_events: hierarchical config and the event store, both plain tables.
-- Re-runnable: everything it writes lives under the path "walkthrough" and
-- in events of type "walkthrough.*", removed at the end.

\echo '== config: dotted paths, any jsonb value'
SELECT fnd_config_update('walkthrough.db.pool.size', '10');
SELECT fnd_config_update('walkthrough.db.pool.timeout', '"5 s"');
SELECT fnd_config_update('walkthrough.db.host', '"db1.internal"');

\echo '== a leaf, a subtree assembled as an object, a fallback for what is absent'
SELECT fnd_config_get('walkthrough.db.pool.size') AS leaf,
       fnd_config_get('walkthrough.db.pool') AS subtree,
       fnd_config_get('walkthrough.db.pool.max', '20') AS with_fallback;

\echo '== every committed change is a NOTIFY on channel fnd_config (LISTEN fnd_config to follow)'
LISTEN fnd_config;
SELECT fnd_config_update('walkthrough.db.pool.size', '25');
UNLISTEN fnd_config;

\echo '== the errors you may meet: a bad path, a path that is both a leaf and a prefix'
DO $$
BEGIN
    PERFORM fnd_config_get('Walkthrough.DB');
EXCEPTION WHEN SQLSTATE 'FN301' THEN
    RAISE NOTICE 'FN301: %', SQLERRM;
END $$;
DO $$
BEGIN
    PERFORM fnd_config_update('walkthrough.db.pool', '{"size": 1}');
EXCEPTION WHEN SQLSTATE 'FN301' THEN
    RAISE NOTICE 'FN301: %', SQLERRM;
END $$;

\echo '== events: append one or a batch (all or nothing), read them back in id order'
SELECT fnd_store_event('walkthrough.order.created', '{"order": 17}') AS first_id \gset
SELECT count(*) AS stored FROM fnd_store_events(
    '[{"type": "walkthrough.order.paid", "data": {"order": 17}}, {"type": "walkthrough.order.shipped"}]');
SELECT id - :first_id AS since_first, type, data
FROM fnd_query_events(after_id => :first_id - 1, max_rows => 10)
WHERE type LIKE 'walkthrough.%';
SELECT type, data FROM fnd_get_event(:first_id);

\echo '== a bad element: FN401 names its index, nothing of the batch is stored'
DO $$
BEGIN
    PERFORM fnd_store_events('[{"type": "walkthrough.ok"}, {"type": "walkthrough.bad", "data": [1]}]');
EXCEPTION WHEN SQLSTATE 'FN401' THEN
    RAISE NOTICE 'FN401: %', SQLERRM;
END $$;

\echo '== retention: foundation.event_retention (off by default) prunes in the supervisor'
SELECT name, state, detail FROM fnd_services() WHERE name = 'events';

-- clean up
SELECT fnd_config_reset('walkthrough');
DELETE FROM fnd_events WHERE type LIKE 'walkthrough.%';
