-- events: store, batch, get, query, prune, errors, privileges
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
SELECT fnd_prune_events('infinity') >= 0 AS emptied;

-- the table keeps exactly the SPEC shape
SELECT attname, format_type(atttypid, atttypmod), attnotnull, attidentity,
       pg_get_expr(adbin, adrelid) AS default
FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum
WHERE attrelid = 'fnd_events'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY attnum;
SELECT indexrelid::regclass, pg_get_indexdef(indexrelid) FROM pg_index
WHERE indrelid = 'fnd_events'::regclass ORDER BY indexrelid::regclass::text;

-- store one: ids increase; default data is {}
CREATE TEMP TABLE ids AS
SELECT fnd_store_event('user.created', '{"user": 1}') AS a,
       fnd_store_event('user.created') AS b;
SELECT b > a AS increasing FROM ids;
SELECT e.type, e.data, e."timestamp" <= clock_timestamp() AS ts_ok
FROM ids, fnd_get_event(ids.a) e;
SELECT (fnd_get_event(b)).data FROM ids;
SELECT b = (SELECT max(id) FROM fnd_events) AS returned_id_is_the_row FROM ids;
SELECT (fnd_get_event(-1)).id IS NULL AS absent;

-- bad events: FN401, nothing stored
SELECT count(*) AS before FROM fnd_events \gset
\set VERBOSITY sqlstate
SELECT fnd_store_event('', '{}');
SELECT fnd_store_event(repeat('x', 201), '{}');
SELECT fnd_store_event(NULL, '{}');
SELECT fnd_store_event('t', NULL);
SELECT fnd_store_event('t', '[1]');
SELECT fnd_store_event('t', '1');
SELECT fnd_store_event('t', 'null');
SELECT fnd_store_event('t', '"s"');
\set VERBOSITY default
SELECT fnd_store_event('', '{}');
SELECT fnd_store_event(repeat('x', 201), '{}');
SELECT fnd_store_event('t', '[1]');
SELECT fnd_store_event(repeat('é', 100), '{}') > 0 AS multibyte_200_bytes_ok;
SELECT fnd_store_event(repeat('é', 101), '{}');
SELECT count(*) - :before AS stored FROM fnd_events;

-- a batch: ids in array order, data optional
SELECT count(*) AS before FROM fnd_events \gset
CREATE TEMP TABLE batch_ids AS
SELECT * FROM fnd_store_events('[{"type": "b1", "data": {"i": 1}}, {"type": "b2"}, {"type": "b3", "data": {"i": 3}}]')
    WITH ORDINALITY AS s(id, ord);
-- each returned id is the row of the element at that position
SELECT s.ord, e.type, e.data FROM batch_ids s JOIN fnd_events e USING (id) ORDER BY s.ord;
SELECT array_agg(id ORDER BY ord) = array_agg(id ORDER BY id) AS ascending,
       max(id) = (SELECT max(id) FROM fnd_events) AS newest FROM batch_ids;
SELECT type, data FROM fnd_events WHERE type IN ('b1', 'b2', 'b3') ORDER BY id;
SELECT count(*) AS empty_batch FROM fnd_store_events('[]');
SELECT count(*) - :before AS stored FROM fnd_events;

-- a bad element anywhere: FN401 naming its index, nothing stored
SELECT count(*) AS before FROM fnd_events \gset
SELECT fnd_store_events('[{"type": "ok"}, {"type": ""}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "ok"}, {"data": {}}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": 7}]');
SELECT fnd_store_events('[{"type": "ok", "data": [1]}]');
SELECT fnd_store_events('[{"type": "ok"}, "ok"]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "ok", "payload": {}}]');
SELECT fnd_store_events(jsonb_build_array(jsonb_build_object('type', 'ok'), jsonb_build_object('type', repeat('x', 201))));
SELECT fnd_store_events('{"type": "ok"}');
SELECT fnd_store_events('3');
SELECT fnd_store_events(NULL);
\set VERBOSITY sqlstate
SELECT fnd_store_events('[{"type": "ok"}, {"type": ""}]');
\set VERBOSITY default
SELECT count(*) - :before AS stored FROM fnd_events;
-- a big batch
CREATE TEMP TABLE bulk_ids AS
SELECT * FROM fnd_store_events(
    (SELECT jsonb_agg(jsonb_build_object('type', 'bulk', 'data', jsonb_build_object('i', i))) FROM generate_series(1, 1000) i))
    WITH ORDINALITY AS s(id, ord);
SELECT count(*), bool_and((e.data->>'i')::int = s.ord) AS ids_match_elements
FROM bulk_ids s JOIN fnd_events e USING (id);
SELECT count(*), min((data->>'i')::int), max((data->>'i')::int),
       bool_and((data->>'i')::int = rn) AS in_order
FROM (SELECT data, row_number() OVER (ORDER BY id) AS rn FROM fnd_events WHERE type = 'bulk') s;

-- transactional: rolled back events are gone
SELECT count(*) AS before FROM fnd_events \gset
BEGIN;
SELECT fnd_store_event('rolled.back') > 0 AS stored;
SELECT count(*) FROM fnd_store_events('[{"type": "rolled.back"}]');
ROLLBACK;
SELECT count(*) - :before AS stored FROM fnd_events;

-- query: filters combine, id order, max_rows bounded
SELECT fnd_prune_events('infinity') > 0 AS pruned_all;
SELECT count(*) FROM fnd_events;
CREATE TEMP TABLE q AS
SELECT fnd_store_event(CASE WHEN i % 2 = 0 THEN 'even' ELSE 'odd' END, jsonb_build_object('i', i)) AS id, i
FROM generate_series(1, 20) i;
-- give them known timestamps (as the owner; PUBLIC cannot UPDATE)
UPDATE fnd_events SET "timestamp" = '2026-01-01 00:00:00+00'::timestamptz + (data->>'i')::int * interval '1 hour';
SELECT array_agg((data->>'i')::int) FROM fnd_query_events();
SELECT array_agg((data->>'i')::int) FROM fnd_query_events('even');
SELECT array_agg((data->>'i')::int) FROM fnd_query_events(type => 'odd', max_rows => 3);
SELECT array_agg((data->>'i')::int) FROM fnd_query_events(since => '2026-01-01 05:00+00', "until" => '2026-01-01 09:00+00');
SELECT array_agg((data->>'i')::int) FROM fnd_query_events('odd', since => '2026-01-01 05:00+00', "until" => '2026-01-01 09:00+00');
SELECT array_agg((data->>'i')::int) FROM q, fnd_query_events(after_id => q.id) WHERE q.i = 15;
SELECT array_agg((data->>'i')::int) FROM q, fnd_query_events('even', after_id => q.id, max_rows => 2) WHERE q.i = 10;
SELECT count(*) FROM fnd_query_events('none');
SELECT count(*) FROM fnd_query_events(max_rows => 10000);
SELECT count(*) FROM fnd_query_events(max_rows => 1);
-- in id order even when timestamps disagree with ids
UPDATE fnd_events SET "timestamp" = '2026-01-02 00:00:00+00'::timestamptz - (data->>'i')::int * interval '1 hour';
SELECT array_agg((data->>'i')::int) FROM fnd_query_events(since => '2026-01-01 00:00+00', max_rows => 5);
SELECT fnd_query_events(max_rows => 0);
SELECT fnd_query_events(max_rows => 10001);
SELECT fnd_query_events(max_rows => NULL);
\set VERBOSITY sqlstate
SELECT fnd_query_events(max_rows => -1);
\set VERBOSITY default

-- prune: counts what it removed
SELECT fnd_prune_events('2026-01-01 12:00+00') AS before_noon;
SELECT fnd_prune_events('2026-01-01 12:00+00') AS again;
SELECT count(*) AS left FROM fnd_events;
SELECT fnd_prune_events('-infinity') AS none;
SELECT fnd_prune_events(NULL);
SELECT fnd_prune_events('infinity') AS rest;

-- privileges: PUBLIC appends and reads through the functions, never writes the table
CREATE ROLE fnd_events_app;
SET ROLE fnd_events_app;
SELECT fnd_store_event('app.event', '{"by": "app"}') > 0 AS app_stored;
SELECT count(*) FROM fnd_store_events('[{"type": "app.event"}, {"type": "app.event"}]');
SELECT count(*) FROM fnd_query_events('app.event');
SELECT count(*) FROM fnd_events WHERE type = 'app.event';
SELECT (fnd_get_event(max(id))).type FROM fnd_events;
INSERT INTO fnd_events (type) VALUES ('direct');
UPDATE fnd_events SET data = '{}';
DELETE FROM fnd_events;
SELECT fnd_prune_events('infinity');
-- the search_path cannot redirect the insert
CREATE TEMP TABLE fnd_events (id bigint, type text, data jsonb, "timestamp" timestamptz);
SET search_path = pg_temp, public;
SELECT fnd_store_event('app.event') > 0 AS stored_in_the_real_table;
SELECT count(*) AS temp_rows FROM pg_temp.fnd_events;
RESET search_path;
DROP TABLE pg_temp.fnd_events;
RESET ROLE;
SELECT count(*) AS real_rows FROM fnd_events WHERE type = 'app.event';
SELECT current_user = session_user AS role_restored;
DROP ROLE fnd_events_app;
SELECT fnd_prune_events('infinity') AS cleaned;

-- a table changed after 1.0 still gets exactly what an INSERT would store:
-- while it differs from the writer's description (a trigger, rule, row
-- security, CHECK, another column or default) the direct path steps aside
-- for an INSERT, and takes over again once the change is undone.  Which path
-- stored an event shows in foundation.events.fallback, and in the effect.
CREATE FUNCTION pg_temp.fallbacks() RETURNS bigint LANGUAGE sql SET search_path FROM CURRENT AS $$
    SELECT coalesce((SELECT sum FROM fnd_metrics WHERE name = 'foundation.events.fallback'), 0)::bigint
$$;
CREATE FUNCTION pg_temp.path_of(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before bigint := pg_temp.fallbacks();
BEGIN
    EXECUTE stmt;
    -- pinned: it also runs below under a search_path full of traps
    RETURN CASE WHEN pg_temp.fallbacks() OPERATOR(pg_catalog.>) before THEN 'insert' ELSE 'direct' END;
END $$;
SELECT pg_temp.path_of($$SELECT fnd_store_event('as.made')$$) AS fresh_table;
SELECT pg_temp.path_of($$SELECT fnd_store_events('[{"type": "as.made"}]')$$) AS fresh_table_batch;

-- a trigger fires, for one event and for a batch; dropped, it is direct again
CREATE FUNCTION events_test_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE 'trigger saw % %', NEW.type, NEW.data;
    RETURN NEW;
END $$;
CREATE TRIGGER events_test BEFORE INSERT ON fnd_events FOR EACH ROW EXECUTE FUNCTION events_test_trigger();
SELECT pg_temp.path_of($$SELECT fnd_store_event('with.trigger', '{"t": 1}')$$) AS with_trigger;
CREATE TEMP TABLE trigger_ids AS
SELECT * FROM fnd_store_events('[{"type": "with.trigger.b1"}, {"type": "with.trigger.b2", "data": {"t": 2}}]')
    WITH ORDINALITY AS s(id, ord);
SELECT s.ord, e.type, e.data FROM trigger_ids s JOIN fnd_events e USING (id) ORDER BY s.ord;
DROP TRIGGER events_test ON fnd_events;
DROP FUNCTION events_test_trigger();
SELECT pg_temp.path_of($$SELECT fnd_store_event('no.trigger')$$) AS trigger_dropped;

-- a rule's side effect happens; dropped, it does not, and the path is direct
CREATE TABLE events_rule_log (type text);
CREATE RULE events_test_rule AS ON INSERT TO fnd_events DO ALSO INSERT INTO events_rule_log VALUES (NEW.type);
SELECT pg_temp.path_of($$SELECT fnd_store_event('with.rule')$$) AS with_rule;
SELECT pg_temp.path_of($$SELECT fnd_store_events('[{"type": "with.rule.b1"}, {"type": "with.rule.b2"}]')$$) AS with_rule_batch;
DROP RULE events_test_rule ON fnd_events;
SELECT pg_temp.path_of($$SELECT fnd_store_event('no.rule')$$) AS rule_dropped;
SELECT type FROM events_rule_log ORDER BY type;
DROP TABLE events_rule_log;

-- row security refuses a row its policy forbids (with an owner that does
-- not bypass it: superusers always do); disabled, the path is direct again
SELECT relowner::regrole AS events_owner FROM pg_class WHERE oid = 'fnd_events'::regclass \gset
CREATE ROLE fnd_events_rls_owner;
ALTER TABLE fnd_events OWNER TO fnd_events_rls_owner;
SELECT pg_temp.path_of($$SELECT fnd_store_event('other.owner')$$) AS other_owner;
ALTER TABLE fnd_events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY events_test_read ON fnd_events FOR SELECT USING (true);
CREATE POLICY events_test_write ON fnd_events FOR INSERT WITH CHECK (type <> 'refused.by.policy');
SELECT pg_temp.path_of($$SELECT fnd_store_event('allowed.by.policy')$$) AS with_row_security;
\set VERBOSITY terse
SELECT fnd_store_event('refused.by.policy');
SELECT fnd_store_events('[{"type": "ok.by.policy"}, {"type": "refused.by.policy"}]');
\set VERBOSITY default
DROP POLICY events_test_write ON fnd_events;
DROP POLICY events_test_read ON fnd_events;
ALTER TABLE fnd_events NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
SELECT pg_temp.path_of($$SELECT fnd_store_event('refused.by.policy')$$) AS row_security_off;
ALTER TABLE fnd_events OWNER TO :"events_owner";
DROP ROLE fnd_events_rls_owner;
SELECT count(*) AS refused_stored FROM fnd_events WHERE type = 'refused.by.policy';

-- another column: its default is filled; a nullable one is NULL; dropped
-- again (leaving only their attnums), the path is direct
ALTER TABLE fnd_events ADD COLUMN extra_null text, ADD COLUMN extra_default text DEFAULT 'dflt';
SELECT pg_temp.path_of($$SELECT fnd_store_event('with.columns')$$) AS with_columns;
SELECT count(*) FROM fnd_store_events('[{"type": "with.columns"}]');
SELECT type, extra_null, extra_default FROM fnd_events WHERE type = 'with.columns';
ALTER TABLE fnd_events DROP COLUMN extra_default;
SELECT pg_temp.path_of($$SELECT fnd_store_event('with.nullable')$$) AS with_nullable;
SELECT type, extra_null FROM fnd_events WHERE type = 'with.nullable';
ALTER TABLE fnd_events DROP COLUMN extra_null;
SELECT pg_temp.path_of($$SELECT fnd_store_event('columns.dropped')$$) AS columns_dropped;

-- a CHECK refuses; dropped, the same type is stored directly
ALTER TABLE fnd_events ADD CONSTRAINT events_test_check CHECK (type <> 'forbidden');
\set VERBOSITY terse
SELECT fnd_store_event('forbidden');
\set VERBOSITY default
ALTER TABLE fnd_events DROP CONSTRAINT events_test_check;
SELECT pg_temp.path_of($$SELECT fnd_store_event('forbidden')$$) AS check_dropped;

-- another default for a described column: the INSERT applies it
ALTER TABLE fnd_events ALTER COLUMN "timestamp" SET DEFAULT '2000-01-01 00:00+00';
SELECT pg_temp.path_of($$SELECT fnd_store_event('old.default')$$) AS other_default;
SELECT "timestamp" FROM fnd_events WHERE type = 'old.default';
ALTER TABLE fnd_events ALTER COLUMN "timestamp" SET DEFAULT clock_timestamp();
SELECT pg_temp.path_of($$SELECT fnd_store_event('clock.default')$$) AS default_restored;
SELECT "timestamp" > '2000-01-02' AS clock FROM fnd_events WHERE type = 'clock.default';
ALTER TABLE fnd_events ALTER COLUMN data SET DEFAULT '{"d": 1}';
SELECT pg_temp.path_of($$SELECT fnd_store_event('data.default')$$) AS data_default;
ALTER TABLE fnd_events ALTER COLUMN data SET DEFAULT '{}';
SELECT pg_temp.path_of($$SELECT fnd_store_event('data.default.restored')$$) AS data_default_restored;
SELECT string_agg(type, ',' ORDER BY id) FROM fnd_events;
SELECT fnd_prune_events('infinity') AS cleaned;

-- dropping and re-creating the extension in this session: cached plans follow
SELECT fnd_store_event('before.recreate') > 0;
SET client_min_messages = warning;
DROP EXTENSION foundation;
CREATE EXTENSION foundation;
RESET client_min_messages;
SELECT fnd_store_event('after.recreate') = 1 AS fresh_table;
SELECT type FROM fnd_events;
SELECT fnd_prune_events('infinity');

-- functions: who may call them
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p WHERE p.proname ~ '^fnd_(store|get|query|prune)_event' ORDER BY p.oid::regprocedure::text;
SELECT name, setting, unit, context FROM pg_settings WHERE name = 'foundation.event_retention';
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
WHERE e.extname = 'foundation' AND c.relname ~ '^fnd_events' ORDER BY 1;

-- the direct insert path keeps partial indexes (consensus's topic index)
-- right: a decided round writes its consensus_decided event through it
SELECT pg_temp.fallbacks() AS fallbacks_before \gset
SELECT fnd_consensus_start('events-idx-check', '{}', ARRAY['a']);
SELECT fnd_consensus_vote('events-idx-check', 'a', 'accept');
SELECT pg_temp.fallbacks() - :fallbacks_before AS written_by_insert;
SELECT fnd_store_event('other', '{"topic": "events-idx-check"}') > 0 AS stored;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM fnd_events
WHERE type = 'consensus_decided' AND data->>'topic' = 'events-idx-check';
SELECT data->>'outcome' AS outcome FROM fnd_events
WHERE type = 'consensus_decided' AND data->>'topic' = 'events-idx-check';
RESET enable_seqscan;
RESET enable_bitmapscan;

-- reserved types: only the extension writes consensus_decided and
-- foundation.*, so a decision cannot be forged.  Callers get FN401 from
-- both functions, and PUBLIC cannot write the table at all.
CREATE ROLE fnd_events_forger;
SET ROLE fnd_events_forger;
SELECT count(*) AS before FROM fnd_events \gset
\set VERBOSITY sqlstate
SELECT fnd_store_event('consensus_decided', '{"topic": "never-started", "outcome": "accepted"}');
SELECT fnd_store_event('foundation.anything', '{}');
SELECT fnd_store_events('[{"type": "consensus_decided", "data": {"topic": "never-started", "outcome": "accepted"}}]');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "foundation.x"}]');
INSERT INTO fnd_events (type, data) VALUES ('consensus_decided', '{"topic": "never-started", "outcome": "accepted"}');
UPDATE fnd_events SET type = 'consensus_decided', data = '{"topic": "never-started", "outcome": "accepted"}';
\set VERBOSITY default
SELECT fnd_store_event('consensus_decided', '{"topic": "never-started", "outcome": "accepted"}');
SELECT fnd_store_events('[{"type": "ok"}, {"type": "consensus_decided", "data": {"topic": "never-started", "outcome": "accepted"}}]');
SELECT count(*) - :before AS stored FROM fnd_events;
-- the round that was never started reads as documented, not as accepted
SELECT fnd_consensus_result('never-started');
-- near misses are ordinary types
SELECT count(*) FROM fnd_store_events('[{"type": "consensus_decided_copy"}, {"type": "Consensus_Decided"},
                                        {"type": "foundation"}, {"type": "foundationx.y"}]') AS ordinary;
-- reserved events stay readable
SELECT type, data->>'outcome' AS outcome FROM fnd_query_events('consensus_decided')
WHERE data->>'topic' = 'events-idx-check';
RESET ROLE;
DROP ROLE fnd_events_forger;
SELECT has_table_privilege('public', 'fnd_events', 'INSERT') AS public_insert,
       has_table_privilege('public', 'fnd_events', 'UPDATE') AS public_update,
       has_any_column_privilege('public', 'fnd_events', 'INSERT') AS public_column_insert,
       has_any_column_privilege('public', 'fnd_events', 'UPDATE') AS public_column_update;

-- nothing on the caller's search_path runs inside the event store: shadows
-- of every operator its statements use raise if they are ever resolved
CREATE SCHEMA events_shadow;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['text', 'bigint', 'integer', 'timestamptz'] LOOP
        EXECUTE format('CREATE FUNCTION events_shadow.boom(%s, %s) RETURNS boolean LANGUAGE plpgsql '
                       'AS $b$ BEGIN RAISE EXCEPTION ''a shadowing operator ran''; END $b$', t, t);
    END LOOP;
END $$;
CREATE FUNCTION events_shadow.boom_arrow(jsonb, text) RETURNS text
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a shadowing operator ran'; END $$;
CREATE OPERATOR events_shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.> (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.< (LEFTARG = integer, RIGHTARG = integer, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.> (LEFTARG = integer, RIGHTARG = integer, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.>= (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = events_shadow.boom);
CREATE OPERATOR events_shadow.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = events_shadow.boom_arrow);
SET search_path = events_shadow, pg_catalog, public;
-- (the shadows are live: a plain comparison here runs one)
SELECT 'a'::text = 'a'::text;
SELECT fnd_store_event('shadowed', '{"i": 1}') AS shadowed_id \gset
SELECT count(*) FROM fnd_store_events('[{"type": "shadowed"}]');
SELECT (fnd_get_event(:shadowed_id)).data;
SELECT count(*) FROM fnd_query_events('shadowed', since => '-infinity', "until" => 'infinity', after_id => 0);
SELECT fnd_consensus_result('never-started-either');
RESET search_path;
-- and through the INSERT path (a trigger takes it there)
CREATE FUNCTION events_keep() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER events_keep BEFORE INSERT ON fnd_events FOR EACH ROW EXECUTE FUNCTION events_keep();
SET search_path = events_shadow, pg_catalog, public;
SELECT pg_temp.path_of($$SELECT fnd_store_event('shadowed.insert')$$) AS shadowed_path;
SELECT count(*) FROM fnd_store_events('[{"type": "shadowed.insert"}, {"type": "shadowed.insert"}]');
RESET search_path;
DROP TRIGGER events_keep ON fnd_events;
DROP FUNCTION events_keep();
SELECT type, count(*) FROM fnd_events WHERE type LIKE 'shadowed%' GROUP BY type ORDER BY type;
DROP SCHEMA events_shadow CASCADE;
SELECT fnd_prune_events('infinity') > 0 AS cleaned;
