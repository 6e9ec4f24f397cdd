-- events_12: the 1.2 event store: new columns, writers, lazy reads of old
-- rows, agent and correlation queries and their plans, the migration view,
-- pause/resume and the service converting old rows, errors, privileges
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
SELECT fnd_prune_events('infinity') >= 0 AS emptied;

-- the 1.2 columns, after the 1.0 ones; their indexes (a fresh install has them)
SELECT attname, format_type(atttypid, atttypmod), attnotnull,
       pg_get_expr(adbin, adrelid) AS default
FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
WHERE attrelid = 'fnd_events'::regclass AND attnum > 4 AND NOT attisdropped
ORDER BY attnum;
SELECT pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid = 'fnd_events'::regclass
  AND indexrelid::regclass::text IN ('fnd_events_agent_idx', 'fnd_events_correlation_idx')
ORDER BY 1;
SELECT * FROM fnd_migrations;

-- the 5-argument form; what is left NULL comes from data
SELECT coalesce(max(last), 0) AS fallbacks0 FROM fnd_metrics
WHERE name = 'foundation.events.fallback' \gset
CREATE TEMP TABLE w AS
SELECT fnd_store_event('w.full', '{"x": 1}', '{"agent_id": "ag-1", "role": "r"}',
                       'corr-1', '{"m": true}') AS full_id,
       fnd_store_event('w.two', '{"x": 2}', '{"agent_id": "ag-2"}', 'corr-1') AS two_id,
       fnd_store_event('w.derived', '{"agent_id": "ag-3", "correlation_id": "corr-2"}', NULL) AS derived_id,
       fnd_store_event('w.given_wins', '{"agent_id": "ag-9"}', '{"agent_id": "ag-1"}') AS wins_id,
       fnd_store_event('w.named', data => '{}', agent_context => NULL,
                       metadata => NULL) AS named_id,
       fnd_store_event('w.old_form', '{"agent_id": "ag-4", "correlation_id": 5}') AS old_form_id,
       fnd_store_event('w.one_arg') AS one_arg_id;
SELECT e.type, e.agent_context, e.correlation_id, e.metadata
FROM fnd_events e ORDER BY e.id;

-- every writer took the direct path (no INSERT fallback): the table
-- matches the writer's 1.2 description
SELECT coalesce(max(last), 0) - :fallbacks0 AS fallbacks FROM fnd_metrics
WHERE name = 'foundation.events.fallback';

-- the lazy conversion is inlined into plain expressions of the row
EXPLAIN (COSTS OFF, VERBOSE)
SELECT (fnd_event_lazy(e)).metadata, (fnd_event_lazy(e)).correlation_id FROM fnd_events e;

-- 1.0 calls still resolve to the 1.0 form
SELECT p.oid::regprocedure
FROM pg_proc p WHERE p.proname = 'fnd_store_event' ORDER BY 1;
EXPLAIN (COSTS OFF, VERBOSE) SELECT fnd_store_event('t');
EXPLAIN (COSTS OFF, VERBOSE) SELECT fnd_store_event('t', '{}');

-- a batch with the 1.2 keys (each optional, null allowed)
SELECT count(*) FROM fnd_store_events('[
    {"type": "b.full", "data": {"i": 1}, "agent_context": {"agent_id": "ag-1"},
     "correlation_id": "corr-3", "metadata": {"b": 1}},
    {"type": "b.derived", "data": {"agent_id": "ag-5", "correlation_id": "corr-3"}},
    {"type": "b.nulls", "data": {"agent_id": "ag-6"}, "agent_context": null,
     "correlation_id": null, "metadata": null}]');
SELECT e.type, e.agent_context, e.correlation_id, e.metadata
FROM fnd_events e WHERE e.type LIKE 'b.%' ORDER BY e.id;

-- bad 1.2 values: FN401, nothing stored
SELECT count(*) AS before FROM fnd_events \gset
\set VERBOSITY sqlstate
SELECT fnd_store_event('t', '{}', '[1]');
SELECT fnd_store_event('t', '{}', '"ag"');
SELECT fnd_store_event('t', '{}', '{}');
SELECT fnd_store_event('t', '{}', '{"agent_id": 7}');
SELECT fnd_store_event('t', '{}', '{"agent_id": ""}');
SELECT fnd_store_event('t', '{}', jsonb_build_object('agent_id', repeat('a', 201)));
SELECT fnd_store_event('t', '{}', NULL, '');
SELECT fnd_store_event('t', '{}', NULL, repeat('c', 201));
SELECT fnd_store_event('t', '{}', NULL, NULL, '[]');
SELECT fnd_store_event('t', '{}', NULL, NULL, 'null');
SELECT fnd_store_event('', '{}', '{"agent_id": "a"}');
SELECT fnd_store_event('foundation.x', '{}', '{"agent_id": "a"}');
SELECT fnd_store_event('t', NULL, '{"agent_id": "a"}');
\set VERBOSITY default
SELECT fnd_store_event('t', '{}', '{"agent": "a"}');
SELECT fnd_store_event('t', '{}', NULL, NULL, '[]');
SELECT fnd_store_event('t', '{}', NULL, '');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "t", "agent_context": {"agent_id": 1}}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "t", "agent_context": "ag"}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "t", "correlation_id": 5}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "t", "correlation_id": ""}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "t", "metadata": [1]}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "t", "meta": {}}]');
SELECT count(*) - :before AS stored FROM fnd_events;

-- rows written before 1.2 (metadata NULL, as the 1.1 table had them) read
-- converted through every reader; the table keeps them as they are
INSERT INTO fnd_events (type, data, metadata) VALUES
    ('old.agent', '{"agent_id": "ag-1", "correlation_id": "corr-1", "n": 1}', NULL),
    ('old.nostring', '{"agent_id": 42, "correlation_id": {"x": 1}}', NULL),
    ('old.null', '{"agent_id": null}', NULL),
    ('old.plain', '{"n": 3}', NULL),
    ('old.agent', '{"agent_id": "ag-7"}', NULL);
SELECT type, agent_context, correlation_id, metadata
FROM fnd_events WHERE type LIKE 'old.%' ORDER BY id;
SELECT type, agent_context, correlation_id, metadata
FROM fnd_query_events(type => 'old.agent');
SELECT l.type, l.agent_context, l.correlation_id, l.metadata
FROM fnd_events e, LATERAL fnd_event_lazy(e) l WHERE e.type LIKE 'old.%' ORDER BY e.id;
SELECT (fnd_get_event(id)).agent_context, (fnd_get_event(id)).metadata
FROM fnd_events WHERE type = 'old.nostring';
-- a converted row reads as stored
SELECT fnd_event_lazy(e) IS NOT DISTINCT FROM e AS as_stored
FROM fnd_events e WHERE e.type = 'w.full';

-- the queries see old rows only while a migration is converting them (a
-- paused migration, so the service leaves it); after it, the columns
INSERT INTO fnd_migration_state (name, upto_id, paused)
SELECT 'events_1_2', max(id), true FROM fnd_events;
SELECT name, state, rows_done, rows_total, eta IS NULL AS no_eta FROM fnd_migrations;
SELECT type, agent_context FROM fnd_query_by_agent('ag-1');
SELECT type, correlation_id FROM fnd_get_correlated_events('corr-1');
SELECT fnd_get_agent_event_stats('ag-1') - 'first_event_at' - 'last_event_at';
SELECT type FROM fnd_query_by_agent('ag-7');

-- resume: the service converts them exactly as they read, then finds the
-- indexes valid and finishes
CREATE TEMP TABLE lazy_before AS
SELECT l.* FROM fnd_events e, LATERAL fnd_event_lazy(e) l WHERE e.metadata IS NULL;
SELECT fnd_migration_resume('events_1_2');
DO $$
BEGIN
    FOR i IN 1..600 LOOP
        EXIT WHEN (SELECT state FROM fnd_migrations WHERE name = 'events_1_2') = 'done';
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT name, state, rows_done, rows_total, eta >= started_at AS eta_is_the_end FROM fnd_migrations;
SELECT count(*) AS unconverted FROM fnd_events WHERE metadata IS NULL;
SELECT count(*) AS differ FROM lazy_before b JOIN fnd_events e USING (id)
WHERE (b.*) IS DISTINCT FROM (e.*);
SELECT type FROM fnd_query_by_agent('ag-7');
DELETE FROM fnd_migration_state;

-- query filters, paging, limits
SELECT type FROM fnd_query_by_agent('ag-1', type => 'w.full');
SELECT count(*) FROM fnd_query_by_agent('ag-1', since => now() - interval '1 hour', "until" => now() + interval '1 hour');
SELECT count(*) FROM fnd_query_by_agent('ag-1', "until" => '-infinity');
SELECT count(*) FROM fnd_query_by_agent('ag-1', after_id => (SELECT max(id) FROM fnd_events));
SELECT count(*) FROM fnd_query_by_agent('ag-1', max_rows => 1);
SELECT count(*) FROM fnd_query_by_agent('nobody');
SELECT count(*) FROM fnd_get_correlated_events('corr-3', 1);
SELECT fnd_get_agent_event_stats('nobody');
SELECT (fnd_get_agent_event_stats('ag-1')->>'first_event_at')::timestamptz
       <= (fnd_get_agent_event_stats('ag-1')->>'last_event_at')::timestamptz AS ordered;

-- bad arguments: FN003
\set VERBOSITY sqlstate
SELECT * FROM fnd_query_by_agent(NULL);
SELECT * FROM fnd_query_by_agent('');
SELECT * FROM fnd_query_by_agent(repeat('a', 201));
SELECT * FROM fnd_query_by_agent('a', max_rows => 0);
SELECT * FROM fnd_query_by_agent('a', max_rows => 10001);
SELECT * FROM fnd_query_by_agent('a', max_rows => NULL);
SELECT * FROM fnd_get_correlated_events(NULL);
SELECT * FROM fnd_get_correlated_events('');
SELECT * FROM fnd_get_correlated_events('c', 0);
SELECT fnd_get_agent_event_stats(NULL);
SELECT fnd_get_agent_event_stats('');
SELECT fnd_migration_pause('nope');
SELECT fnd_migration_resume(NULL);
\set VERBOSITY default
SELECT * FROM fnd_query_by_agent('');
SELECT fnd_migration_pause('nope');

-- plans: on a table big enough, the queries use the new indexes
SELECT count(*) FROM fnd_store_events((
    SELECT jsonb_agg(jsonb_build_object('type', 'bulk.' || (i % 5),
        'data', jsonb_build_object('i', i),
        'agent_context', jsonb_build_object('agent_id', 'bulk-' || (i % 200)),
        'correlation_id', 'bc-' || (i % 1000)))
    FROM generate_series(1, 20000) i));
ANALYZE fnd_events;
EXPLAIN (COSTS OFF)
SELECT (fnd_event_lazy(e)).* FROM fnd_events e
WHERE (e.agent_context ->> 'agent_id') = 'bulk-7' ORDER BY e.id LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT (fnd_event_lazy(e)).* FROM fnd_events e
WHERE e.correlation_id = 'bc-7' ORDER BY e.id LIMIT 5;
-- and the functions' own plans do (index scans counted in this transaction)
-- (planning may probe an index too: each check is "more than before")
BEGIN;
SELECT pg_stat_get_xact_numscans('fnd_events_agent_idx'::regclass) AS scans \gset
SELECT count(*) FROM fnd_query_by_agent('bulk-7', max_rows => 10);
SELECT pg_stat_get_xact_numscans('fnd_events_agent_idx'::regclass) > :scans AS agent_idx_used;
SELECT pg_stat_get_xact_numscans('fnd_events_agent_idx'::regclass) AS scans \gset
SELECT (fnd_get_agent_event_stats('bulk-7')->>'total')::int AS total;
SELECT pg_stat_get_xact_numscans('fnd_events_agent_idx'::regclass) > :scans AS agent_idx_used;
SELECT pg_stat_get_xact_numscans('fnd_events_correlation_idx'::regclass) AS scans \gset
SELECT count(*) FROM fnd_get_correlated_events('bc-7', 5);
SELECT pg_stat_get_xact_numscans('fnd_events_correlation_idx'::regclass) > :scans AS correlation_idx_used;
COMMIT;

-- privileges: PUBLIC reads and writes through the functions; the
-- migration controls are the admin's
CREATE ROLE fnd_ev12_plain;
SET ROLE fnd_ev12_plain;
SELECT fnd_store_event('p.t', '{}', '{"agent_id": "p-1"}') > 0 AS stored;
SELECT count(*) FROM fnd_query_by_agent('p-1');
SELECT count(*) FROM fnd_migration_state;
SELECT count(*) >= 0 AS readable FROM fnd_migrations;
\set VERBOSITY sqlstate
SELECT fnd_migration_pause('events_1_2');
SELECT fnd_migration_resume('events_1_2');
UPDATE fnd_migration_state SET paused = true;
\set VERBOSITY default
RESET ROLE;
DROP ROLE fnd_ev12_plain;
SELECT p.oid::regprocedure, has_function_privilege('public', p.oid, 'EXECUTE') AS public
FROM pg_proc p
WHERE p.proname IN ('fnd_event_lazy', 'fnd_query_by_agent', 'fnd_get_correlated_events',
                    'fnd_get_agent_event_stats', 'fnd_migration_pause', 'fnd_migration_resume')
ORDER BY p.oid::regprocedure::text;

-- settings
SELECT name, setting, unit, context FROM pg_settings
WHERE name IN ('foundation.migration_batch_size', 'foundation.migration_max_rows_per_second')
ORDER BY name;

-- agent features off: FN002 from the 1.2 functions; the 1.0 ones as before
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
\set VERBOSITY sqlstate
SELECT fnd_store_event('t', '{}', '{"agent_id": "a"}');
SELECT fnd_store_events('[{"type": "t", "correlation_id": "c"}]');
SELECT * FROM fnd_query_by_agent('a');
SELECT * FROM fnd_get_correlated_events('c');
SELECT fnd_get_agent_event_stats('a');
SELECT fnd_migration_pause('events_1_2');
\set VERBOSITY default
SELECT fnd_store_event('off.t', '{"agent_id": "a"}') > 0 AS old_form_works;
SELECT count(*) FROM fnd_store_events('[{"type": "off.t"}]');
\set want on
\i :abs_srcdir/sql/include/agent_features.sql

-- a round trip 1.2 -> 1.1 -> 1.2: the 1.2 values survive (kept aside,
-- then put back), and the writer keeps its direct path on a table whose
-- dropped columns lie between the live ones
SELECT fnd_prune_events('infinity') > 0 AS cleaned;
SELECT coalesce(max(last), 0) AS fallbacks0 FROM fnd_metrics
WHERE name = 'foundation.events.fallback' \gset
SELECT fnd_store_event('rt.given', '{"agent_id": "x"}', '{"agent_id": "rt-1"}', 'rt-c', '{"m": 1}') > 0 AS stored;
SELECT fnd_store_event('rt.derived', '{"agent_id": "rt-2"}') > 0 AS stored;
CREATE TEMP TABLE rt_before AS SELECT * FROM fnd_events;
SET client_min_messages = warning;
ALTER EXTENSION foundation UPDATE TO '1.1';
RESET client_min_messages;
SELECT agent_context, correlation_id, metadata FROM fnd_events_1_2_columns
WHERE id IN (SELECT id FROM rt_before) ORDER BY id;
SELECT fnd_store_event('rt.at_1_1', '{"agent_id": "rt-3"}') > 0 AS stored_at_1_1;
SET client_min_messages = warning;
ALTER EXTENSION foundation UPDATE TO '1.2';
RESET client_min_messages;
SELECT to_regclass('fnd_events_1_2_columns') IS NULL AS side_table_gone;
SELECT count(*) AS differ FROM rt_before b JOIN fnd_events e USING (id)
WHERE (b.*) IS DISTINCT FROM (e.*);
SELECT type, agent_context, correlation_id, metadata FROM fnd_events ORDER BY id;
SELECT fnd_store_event('rt.at_1_2', '{}', '{"agent_id": "rt-4"}', 'rt-c') > 0 AS stored_at_1_2;
SELECT type FROM fnd_get_correlated_events('rt-c');
SELECT coalesce(max(last), 0) - :fallbacks0 AS fallbacks FROM fnd_metrics
WHERE name = 'foundation.events.fallback';
SELECT fnd_prune_events('infinity') > 0 AS cleaned;
