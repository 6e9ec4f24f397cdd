-- Privilege audit (SPEC §2): what a plain role may and may not do.
--
-- Every check is derived from the catalog or guarded by the existence of the
-- function it needs, so the file passes on a partial extension and tests
-- more as subsystems land.  Everything runs in one transaction that is
-- rolled back; shared-memory state made on the way (leased entries of the
-- test roles) is removed explicitly before the end, since it is not
-- transactional.
BEGIN;
SELECT * FROM no_plan();

CREATE ROLE fnd_tap_plain;
CREATE ROLE fnd_tap_other;

-- Run q as role r; return the first column of its first row as text ('' when
-- none), or 'ERROR ' and the SQLSTATE.  The SET ROLE is undone by RESET ROLE,
-- or by the rollback of the block's subtransaction on error.
CREATE FUNCTION pg_temp.as_role(r name, q text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v text;
BEGIN
    BEGIN
        EXECUTE format('SET LOCAL ROLE %I', r);
        EXECUTE q INTO v;
        RESET ROLE;
        RETURN coalesce(v, '');
    EXCEPTION WHEN OTHERS THEN
        RETURN 'ERROR ' || SQLSTATE;
    END;
END $$;

-- The extension's own functions.
CREATE TEMP VIEW ext_funcs AS
SELECT p.oid, p.proname, p.pronargs, p.pronargdefaults, p.proargtypes, p.prosecdef, p.proconfig
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation';

-- A call of f with its required arguments set to harmless sample values.
CREATE FUNCTION pg_temp.sample_call(f oid) RETURNS text
LANGUAGE sql AS $$
SELECT format('SELECT %s(%s)', p.oid::regproc,
    coalesce(string_agg(
        CASE format_type(t, NULL)
            WHEN 'text' THEN quote_literal('fnd_tap_x')
            WHEN 'jsonb' THEN '''1''::jsonb'
            WHEN 'timestamp with time zone' THEN '''-infinity''::timestamptz'
            WHEN 'integer' THEN '1'
            WHEN 'bigint' THEN '1'
            WHEN 'interval' THEN '''1 s''::interval'
            WHEN 'text[]' THEN '''{fnd_tap_x}''::text[]'
            ELSE 'NULL::' || format_type(t, NULL)
        END, ', ' ORDER BY o), ''))
FROM pg_proc p
LEFT JOIN LATERAL unnest((p.proargtypes::oid[])[0:p.pronargs - p.pronargdefaults - 1])
    WITH ORDINALITY u(t, o) ON true
WHERE p.oid = f
GROUP BY p.oid
$$;

-- 1. Administrative functions (SPEC §2: config update and reset, breaker
-- install, reset and remove, event pruning, metric reset, service control;
-- plus fnd_rate_reset, which forgets any role's bucket)
-- are not executable by PUBLIC, and a plain role calling them gets 42501.
CREATE TEMP TABLE admin_names(name name);
INSERT INTO admin_names VALUES
    ('fnd_config_update'), ('fnd_config_reset'), ('fnd_cb_install'),
    ('fnd_cb_reset'), ('fnd_cb_remove'), ('fnd_prune_events'),
    ('fnd_metrics_reset'), ('fnd_rate_reset'), ('fnd_disable_services'),
    ('fnd_enable_services');

SELECT ok(NOT has_function_privilege('fnd_tap_plain', f.oid, 'EXECUTE'),
          f.oid::regprocedure || ' is not executable by a plain role')
FROM ext_funcs f JOIN admin_names a ON a.name = f.proname
ORDER BY f.oid::regprocedure::text;

SELECT is(pg_temp.as_role('fnd_tap_plain', pg_temp.sample_call(f.oid)), 'ERROR 42501',
          f.oid::regprocedure || ' called by a plain role: 42501')
FROM ext_funcs f JOIN admin_names a ON a.name = f.proname
ORDER BY f.oid::regprocedure::text;

SELECT skip(a.name || ' does not exist (yet)', 1)
FROM admin_names a
WHERE NOT EXISTS (SELECT FROM ext_funcs f WHERE f.proname = a.name);

-- 2. No table of the extension is writable directly by a plain role: no
-- INSERT, UPDATE, DELETE or TRUNCATE privilege, and a DELETE is refused.
-- Sequences (fencing tokens, terms, event ids) cannot be set: no UPDATE.
CREATE TEMP VIEW ext_rels AS
SELECT c.oid, c.relname, c.relkind
FROM pg_class c
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation';

SELECT ok(NOT has_table_privilege('fnd_tap_plain', r.oid, priv),
          format('table %s: no %s for a plain role', r.relname, priv))
FROM ext_rels r, unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) priv
WHERE r.relkind IN ('r', 'p')
ORDER BY r.relname, priv;

SELECT is(pg_temp.as_role('fnd_tap_plain', format('DELETE FROM %I', r.relname)), 'ERROR 42501',
          format('table %s: DELETE by a plain role is refused', r.relname))
FROM ext_rels r WHERE r.relkind IN ('r', 'p') ORDER BY r.relname;

SELECT ok(NOT has_sequence_privilege('fnd_tap_plain', s.oid, 'UPDATE'),
          format('sequence %s: no UPDATE (setval) for a plain role', s.relname))
FROM (SELECT c.oid, c.relname FROM pg_class c
      WHERE c.relkind = 'S' AND (c.oid IN (SELECT oid FROM ext_rels)
          OR c.oid IN (SELECT d.objid FROM pg_depend d
                       WHERE d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                         AND d.refobjid IN (SELECT oid FROM ext_rels)))) s
ORDER BY s.relname;

-- 3. Every SECURITY DEFINER function has a fixed search_path that starts
-- with pg_catalog and ends with pg_temp: no schema a user can create
-- objects in is searched before pg_catalog, and pg_temp (which any session
-- can fill) is searched last; left out, pg_temp would be searched first.
SELECT is(count(*)::int, 0, 'every SECURITY DEFINER function sets search_path')
FROM ext_funcs f
WHERE f.prosecdef
  AND NOT EXISTS (SELECT FROM unnest(f.proconfig) c WHERE c LIKE 'search_path=%');

-- Is a proconfig entry 'search_path=...' pinned: pg_catalog first, pg_temp last?
CREATE FUNCTION pg_temp.pinned_path(setting text) RETURNS boolean
LANGUAGE sql AS $$
SELECT p[1] = 'pg_catalog' AND p[cardinality(p)] = 'pg_temp'
FROM (SELECT ARRAY(SELECT btrim(e, ' "')
                   FROM unnest(string_to_array(substr(setting, length('search_path=') + 1), ',')) e)
      AS p) s
$$;

-- the check itself can fail
SELECT ok(pg_temp.pinned_path('search_path=pg_catalog, pg_temp'), 'pinned: pg_catalog, pg_temp');
SELECT ok(pg_temp.pinned_path('search_path="pg_catalog", "pg_temp"'), 'pinned: quoted');
SELECT ok(NOT pg_temp.pinned_path('search_path=pg_catalog'),
          'not pinned: pg_catalog alone (pg_temp is then searched first)');
SELECT ok(NOT pg_temp.pinned_path('search_path=pg_temp, pg_catalog'), 'not pinned: pg_temp first');
SELECT ok(NOT pg_temp.pinned_path('search_path=public, pg_catalog, pg_temp'),
          'not pinned: a user schema first');

SELECT ok(pg_temp.pinned_path(c),
          format('%s: %s has pg_catalog first and pg_temp last', f.oid::regprocedure, c))
FROM ext_funcs f, unnest(f.proconfig) c
WHERE f.prosecdef AND c LIKE 'search_path=%'
ORDER BY f.oid::regprocedure::text;

-- 3b. Every view of the extension is readable by PUBLIC (the README: every
-- fnd_* view is), and a plain role can read it: the functions behind it
-- are executable too.
SELECT ok(has_table_privilege('public', r.oid, 'SELECT'),
          format('view %s is readable by PUBLIC', r.relname))
FROM ext_rels r WHERE r.relkind = 'v' ORDER BY r.relname;

SELECT ok(pg_temp.as_role('fnd_tap_plain', format('SELECT count(*) FROM %I', r.relname)) ~ '^[0-9]+$',
          format('view %s: a plain role reads it', r.relname))
FROM ext_rels r WHERE r.relkind = 'v' ORDER BY r.relname;

-- 4. Another role's leased entries cannot be changed.
-- Registry: fnd_tap_plain registers with a lease (so the entry belongs to
-- the role, not to this session); fnd_tap_other may not touch it.
SELECT CASE WHEN to_regprocedure('fnd_register(text,text,jsonb,interval)') IS NULL
    THEN skip('the registry does not exist yet', 5)
    ELSE collect_tap(
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT fnd_register('fnd_tap', 'owned', '{"a": 1}', '1 min')$q$),
           '', 'a plain role registers a leased entry'),
        is(pg_temp.as_role('fnd_tap_other', $q$SELECT fnd_unregister('fnd_tap', 'owned')$q$),
           'ERROR FN104', 'another role cannot unregister it (FN104)'),
        is(pg_temp.as_role('fnd_tap_other',
               $q$SELECT fnd_update_metadata('fnd_tap', 'owned', '{"b": 2}')$q$),
           'ERROR FN104', 'another role cannot update its metadata (FN104)'),
        is(pg_temp.as_role('fnd_tap_other', $q$SELECT fnd_renew('fnd_tap', 'owned')$q$),
           'ERROR FN104', 'another role cannot renew it (FN104)'),
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT metadata->>'a' || ' ' || owner_role FROM fnd_lookup('fnd_tap', 'owned')$q$),
           '1 fnd_tap_plain', 'the entry and its owner are unchanged'))
END;

SELECT CASE WHEN to_regprocedure('fnd_unregister(text,text)') IS NULL
    THEN skip('the registry does not exist yet', 1)
    ELSE is(pg_temp.as_role('fnd_tap_plain', $q$SELECT fnd_unregister('fnd_tap', 'owned')$q$),
            'true', 'its owner removes it')
END;

-- Locks: a leased lock of fnd_tap_plain can be neither released nor renewed
-- by fnd_tap_other, even with the right token.
SELECT CASE WHEN to_regprocedure('fnd_lock_acquire(text,interval,interval)') IS NULL
    THEN skip('locks do not exist yet', 1)
    ELSE ok(set_config('fnd_tap.token', pg_temp.as_role('fnd_tap_plain',
                $q$SELECT fnd_lock_acquire('fnd_tap_lock', '0', '1 min')$q$), false) ~ '^[0-9]+$',
            'a plain role takes a leased lock and gets a token')
END;

SELECT CASE WHEN to_regprocedure('fnd_lock_release(text,bigint)') IS NULL
    THEN skip('locks do not exist yet', 6)
    ELSE collect_tap(
        is(pg_temp.as_role('fnd_tap_other', format(
               'SELECT fnd_lock_release(%L, %s)', 'fnd_tap_lock', current_setting('fnd_tap.token'))),
           'ERROR FN602', 'another role cannot release it, even with its token (FN602)'),
        is(pg_temp.as_role('fnd_tap_other', format(
               'SELECT fnd_lock_renew(%L, %s)', 'fnd_tap_lock', current_setting('fnd_tap.token'))),
           'ERROR FN602', 'another role cannot renew it (FN602)'),
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT token || ' ' || owner_role FROM fnd_locks WHERE name = 'fnd_tap_lock'$q$),
           current_setting('fnd_tap.token') || ' fnd_tap_plain',
           'the lock is still held by its owner with the same token'),
        is(pg_temp.as_role('fnd_tap_plain', format(
               'SELECT fnd_lock_release(%L, %s)', 'fnd_tap_lock', current_setting('fnd_tap.token'))),
           'true', 'its owner releases it'),
        -- a lock nobody holds: false, for anyone
        is(pg_temp.as_role('fnd_tap_other', format(
               'SELECT fnd_lock_release(%L, %s)', 'fnd_tap_lock', current_setting('fnd_tap.token'))),
           'false', 'released, it is held by nobody: another role''s release returns false'),
        is(pg_temp.as_role('fnd_tap_plain', format(
               'SELECT fnd_lock_release(%L, %s)', 'fnd_tap_lock', current_setting('fnd_tap.token'))),
           'false', 'and so does its former owner''s'))
END;

-- Leader election: fnd_tap_plain's candidacy cannot be resigned by
-- fnd_tap_other.
SELECT CASE WHEN to_regprocedure('fnd_elect_leader(text,text,interval)') IS NULL
        OR to_regprocedure('fnd_resign(text,text)') IS NULL
    THEN skip('leader election does not exist yet', 4)
    ELSE collect_tap(
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT fnd_elect_leader('fnd_tap_group', 'cand_a', '1 min')$q$),
           'true', 'a plain role becomes leader'),
        is(pg_temp.as_role('fnd_tap_other', $q$SELECT fnd_resign('fnd_tap_group', 'cand_a')$q$),
           'ERROR FN104', 'another role cannot resign its candidacy (FN104)'),
        is(pg_temp.as_role('fnd_tap_plain', $q$SELECT leader FROM fnd_leader('fnd_tap_group')$q$),
           'cand_a', 'it still leads'),
        is(pg_temp.as_role('fnd_tap_plain', $q$SELECT fnd_resign('fnd_tap_group', 'cand_a')$q$),
           'true', 'its owner resigns'))
END;

-- Barriers: another role cannot remove fnd_tap_plain's barrier.
SELECT CASE WHEN to_regprocedure('fnd_barrier_create(text,integer)') IS NULL
        OR to_regprocedure('fnd_barrier_remove(text)') IS NULL
    THEN skip('barriers do not exist yet', 4)
    ELSE collect_tap(
        is(pg_temp.as_role('fnd_tap_plain', $q$SELECT fnd_barrier_create('fnd_tap_barrier', 2)$q$),
           '', 'a plain role creates a barrier'),
        is(pg_temp.as_role('fnd_tap_other', $q$SELECT fnd_barrier_remove('fnd_tap_barrier')$q$),
           'ERROR FN104', 'another role cannot remove it (FN104)'),
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT count(*) FROM fnd_barriers WHERE name = 'fnd_tap_barrier'$q$),
           '1', 'it is still there'),
        is(pg_temp.as_role('fnd_tap_plain', $q$SELECT fnd_barrier_remove('fnd_tap_barrier')$q$),
           'true', 'its owner removes it'))
END;

-- 5. fnd_cb_execute runs the query as its caller: it cannot read what the
-- caller cannot, nor call an admin function for it.
CREATE TABLE fnd_tap_secret(x int);
INSERT INTO fnd_tap_secret VALUES (42);

SELECT CASE WHEN to_regprocedure('fnd_cb_execute(text,text)') IS NULL
        OR to_regprocedure('fnd_cb_install(text,integer,interval,interval,integer)') IS NULL
    THEN skip('circuit breakers do not exist yet', 5)
    ELSE collect_tap(
        is(pg_temp.as_role(session_user, $q$SELECT fnd_cb_install('fnd_tap_cb', 100)$q$),
           '', 'the superuser installs a breaker'),
        ok(NOT (SELECT prosecdef FROM pg_proc WHERE oid = to_regprocedure('fnd_cb_execute(text,text)')),
           'fnd_cb_execute is not SECURITY DEFINER'),
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT fnd_cb_execute('fnd_tap_cb', 'SELECT x FROM fnd_tap_secret')$q$),
           'ERROR 42501', 'a plain role cannot read a table it has no rights on through it'),
        is(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT fnd_cb_execute('fnd_tap_cb', 'SELECT 1 AS one')::text$q$),
           '[{"one": 1}]', 'but can run what it may run'),
        ok(pg_temp.as_role('fnd_tap_plain',
               $q$SELECT fnd_cb_execute('fnd_tap_cb', 'SELECT fnd_cb_remove(''fnd_tap_cb'')')$q$)
           = 'ERROR 42501', 'nor call an admin function through it'))
END;

SELECT CASE WHEN to_regprocedure('fnd_cb_remove(text)') IS NULL
    THEN skip('circuit breakers do not exist yet', 1)
    ELSE is(pg_temp.as_role(session_user, $q$SELECT fnd_cb_remove('fnd_tap_cb')$q$),
            'true', 'the breaker is removed')
END;

SELECT * FROM finish();
ROLLBACK;
