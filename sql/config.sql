-- config: paths, leaves and subtrees, fallback, conflicts, reset, privileges
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
SELECT fnd_config_reset();

-- empty store
SELECT fnd_config_get('db') IS NULL AS absent;
SELECT fnd_config_get(), fnd_config_get_all();
SELECT fnd_config_get('db.pool.size', '10'::jsonb) AS fallback;

-- leaves of any jsonb
SELECT fnd_config_update('db.pool.size', '10');
SELECT fnd_config_update('db.pool.timeout', '"5 s"');
SELECT fnd_config_update('db.host', '"localhost"');
SELECT fnd_config_update('db.replicas', '["a", "b"]');
SELECT fnd_config_update('feature_x.enabled', 'true');
SELECT fnd_config_update('nothing', 'null');
SELECT fnd_config_get('db.pool.size') AS leaf, fnd_config_get('db.host') AS host;

-- a prefix assembles its subtree; the whole tree
SELECT fnd_config_get('db.pool') AS pool;
SELECT fnd_config_get('db') AS db;
SELECT fnd_config_get() AS whole;
SELECT fnd_config_get() = fnd_config_get_all() AS same;

-- a stored JSON null is a value, not absence; fallback only when absent
SELECT fnd_config_get('nothing') AS stored_null,
       fnd_config_get('nothing', '1') AS no_fallback,
       fnd_config_get('db.pool.max', '20') AS fallback,
       fnd_config_get('db.pool.size', '20') AS present;
-- a prefix of a word is not a prefix of the path
SELECT fnd_config_get('db.poo') IS NULL AS no_partial_word;

-- overwrite keeps one row, records who and when
SELECT fnd_config_update('db.pool.size', '25');
SELECT path, value, updated_by = session_user AS by_me, updated_at <= now() AND updated_at > now() - interval '1 minute' AS recent
FROM fnd_config WHERE path = 'db.pool.size';

-- a leaf holding an object: paths inside it read into the object
SELECT fnd_config_update('cache', '{"ttl": {"seconds": 30}, "size": 100}');
SELECT fnd_config_get('cache.ttl.seconds') AS inside, fnd_config_get('cache.ttl') AS obj,
       fnd_config_get('cache.nope') IS NULL AS absent_inside;

-- a path is a leaf or a prefix, never both
SELECT fnd_config_update('db.pool.size.min', '1');
SELECT fnd_config_update('db.pool', '{}');
SELECT fnd_config_update('cache.ttl', '5');
SELECT fnd_config_get('db.pool.size') AS unchanged;

-- malformed paths: FN301; NULLs: FN003
\set VERBOSITY sqlstate
SELECT fnd_config_get('DB.pool');
SELECT fnd_config_get('db..pool');
SELECT fnd_config_get('.db');
SELECT fnd_config_get('db.');
SELECT fnd_config_get('');
SELECT fnd_config_get('db.1pool');
SELECT fnd_config_get('db-pool');
SELECT fnd_config_get('db pool');
SELECT fnd_config_get(repeat('a', 201));
SELECT fnd_config_update('Bad', '1');
SELECT fnd_config_reset('bad.');
SELECT fnd_config_get(NULL);
SELECT fnd_config_update(NULL, '1');
SELECT fnd_config_update('db.x', NULL);
SELECT fnd_config_reset(NULL);
\set VERBOSITY default
SELECT fnd_config_update('db-pool', '1');
SELECT fnd_config_get(repeat('a', 200)) IS NULL AS longest_ok;
SELECT fnd_config_get('a1.b_2.c3') IS NULL AS digits_and_underscores_ok;
-- the table refuses a bad path even for its owner
\set VERBOSITY terse
INSERT INTO fnd_config (path, value) VALUES ('Bad.Path', '1');
\set VERBOSITY default

-- reset a leaf, a subtree, absent paths
SELECT fnd_config_reset('db.host');
SELECT fnd_config_get('db.host') IS NULL AS gone, fnd_config_get('db.pool.size') AS kept;
SELECT fnd_config_reset('db.pool');
SELECT fnd_config_get('db') AS db_after;
SELECT fnd_config_reset('db.pool');
SELECT fnd_config_reset('no.such.path');
-- a reset prefix frees the path to become a leaf
SELECT fnd_config_update('db.pool', '{"size": 3}');
SELECT fnd_config_get('db.pool.size') AS via_object;
SELECT count(*) FROM fnd_config;
SELECT fnd_config_reset();
SELECT count(*) AS rows, fnd_config_get() AS whole FROM fnd_config;

-- deep paths and many keys assemble correctly
SELECT fnd_config_update('a.b.c.d.e', '1');
SELECT fnd_config_update('a.b.c.d.f', '2');
SELECT fnd_config_update('a.b_c', '3');
SELECT fnd_config_update('a.b0', '4');
SELECT fnd_config_update('ab', '5');
SELECT fnd_config_get('a') AS a, fnd_config_get('a.b.c') AS abc;
SELECT fnd_config_get() AS whole;
-- the longest path: 100 one-letter words
SELECT fnd_config_update(rtrim(repeat('w.', 99), '.') || '.z', '"deep"');
SELECT fnd_config_get('w') #> array_fill('w'::text, ARRAY[98]) AS deepest,
       fnd_config_get(rtrim(repeat('w.', 99), '.')) AS parent;
-- inside an ancestor leaf's object: only through objects
SELECT fnd_config_update('obj', '{"n": 1, "arr": [1], "o": {"s": "x"}}');
SELECT fnd_config_get('obj.o.s') AS s, fnd_config_get('obj.n.x') IS NULL AS through_number,
       fnd_config_get('obj.arr.x') IS NULL AS through_array;
-- with a search_path that does not hold the extension
SET search_path = pg_catalog;
SELECT public.fnd_config_get('obj.n') AS n, public.fnd_config_get('a.b.c.d') AS d;
RESET search_path;
SELECT fnd_config_reset();

-- transactional: a rolled-back update leaves nothing
BEGIN;
SELECT fnd_config_update('tx.value', '1');
SELECT fnd_config_get('tx.value') AS inside;
ROLLBACK;
SELECT fnd_config_get('tx.value') IS NULL AS rolled_back;

-- privileges: PUBLIC reads, only admins write; updated_by is the session user
CREATE ROLE fnd_config_reader;
SELECT fnd_config_update('shared.setting', '"v"');
SET ROLE fnd_config_reader;
SELECT fnd_config_get('shared.setting') AS reader_sees;
SELECT fnd_config_update('shared.setting', '"w"');
SELECT fnd_config_reset('shared');
SELECT fnd_config_reset();
INSERT INTO fnd_config (path, value) VALUES ('x', '1');
UPDATE fnd_config SET value = '2';
DELETE FROM fnd_config;
RESET ROLE;
GRANT EXECUTE ON FUNCTION fnd_config_update(text, jsonb) TO fnd_config_reader;
SET ROLE fnd_config_reader;
SELECT fnd_config_update('shared.setting', '"w"');
RESET ROLE;
SELECT path, value, updated_by = session_user AS by_session_user FROM fnd_config WHERE path = 'shared.setting';
SELECT fnd_config_reset();
REVOKE EXECUTE ON FUNCTION fnd_config_update(text, jsonb) FROM fnd_config_reader;
DROP ROLE fnd_config_reader;

-- functions are admin or not as documented (the 1.0 ones, by name: later
-- versions add fnd_config_* functions of their own)
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may
FROM pg_proc p WHERE p.proname IN ('fnd_config_check_path', 'fnd_config_get', 'fnd_config_get_all',
                                   'fnd_config_reset', 'fnd_config_update') ORDER BY p.oid::regprocedure::text;
-- marked for pg_dump (the 1.0 tables, by name)
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS x(oid) JOIN pg_class c ON c.oid = x.oid
WHERE e.extname = 'foundation' AND c.relname IN ('fnd_config', 'fnd_events', 'fnd_events_id_seq') ORDER BY 1;

-- nothing on the caller's search_path runs inside the reads and writes:
-- shadows of the operators their statements use raise if ever resolved
CREATE SCHEMA config_shadow;
CREATE FUNCTION config_shadow.boom(text, text) RETURNS boolean
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a shadowing operator ran'; END $$;
CREATE FUNCTION config_shadow.boom_concat(text, text) RETURNS text
LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'a shadowing operator ran'; END $$;
CREATE OPERATOR config_shadow.= (LEFTARG = text, RIGHTARG = text, FUNCTION = config_shadow.boom);
CREATE OPERATOR config_shadow.>= (LEFTARG = text, RIGHTARG = text, FUNCTION = config_shadow.boom);
CREATE OPERATOR config_shadow.< (LEFTARG = text, RIGHTARG = text, FUNCTION = config_shadow.boom);
CREATE OPERATOR config_shadow.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = config_shadow.boom_concat);
SET search_path = config_shadow, pg_catalog, public;
\set VERBOSITY terse
SELECT 'a'::text = 'a'::text AS shadows_are_live;
\set VERBOSITY default
SELECT fnd_config_update('shadow.leaf', '1');
SELECT fnd_config_update('shadow.obj', '{"k": {"j": 2}}');
SELECT fnd_config_get('shadow.leaf') AS leaf, fnd_config_get('shadow') AS subtree,
       fnd_config_get('shadow.obj.k.j') AS inside, fnd_config_get() AS whole;
SELECT fnd_config_reset('shadow');
SELECT fnd_config_get_all() AS emptied;
RESET search_path;
DROP SCHEMA config_shadow CASCADE;
