-- Free room in every shared table of the extension, measured by filling
-- it: used by suite.sh in a database of its own (foundation_fuzz_probe).
-- fuzz_probe(what) adds entries until the table's "full" error, removes
-- them again (through the subsystem's own release/remove functions, so
-- those are checked too) and returns how many fitted.  A table whose
-- functions or setting do not exist (yet) answers NULL.
--
--   registry      session-owned entries           FN103
--   locks         session-owned locks             FN607
--   elections     session-owned leaderships       FN607
--   breakers      breakers                        FN203
--   buckets       rate buckets, 1 h windows       FN902 (53400 before 1.0 final)
--   coordination  barriers (rounds share them)    FN607
--   metrics       counter series                  (dropped, never an error)
--   histograms    histogram series                (dropped, never an error)
--   value_memory  6000-byte registry documents    FN103

CREATE FUNCTION fuzz_fill(q text, n bigint, full_states text[]) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    done int := 0;
    st text;
BEGIN
    FOR i IN 1 .. n LOOP
        BEGIN
            EXECUTE format(q, i);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
            IF st = ANY (full_states) THEN
                RETURN done;
            END IF;
            RAISE;
        END;
        done := done + 1;
    END LOOP;
    RETURN done;
END $$;

CREATE FUNCTION fuzz_setting(name text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT setting::bigint FROM pg_settings WHERE pg_settings.name = fuzz_setting.name
$$;

CREATE FUNCTION fuzz_probe(what text) RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int;
BEGIN
    CASE what
    WHEN 'registry' THEN
        n := fuzz_fill($q$SELECT fnd_register('fuzz_probe', 'e%s')$q$,
                       fuzz_setting('foundation.max_registry_entries') + 10, '{FN103}');
        PERFORM fnd_unregister(namespace, name) FROM fnd_registry WHERE namespace = 'fuzz_probe';
    WHEN 'value_memory' THEN
        n := fuzz_fill($q$SELECT fnd_register('fuzz_probe_v', 'e%s',
                              jsonb_build_object('pad', repeat('x', 6000)))$q$,
                       fuzz_setting('foundation.value_memory') * 1024 / 6000 + 10, '{FN103}');
        PERFORM fnd_unregister(namespace, name) FROM fnd_registry WHERE namespace = 'fuzz_probe_v';
    WHEN 'locks' THEN
        n := fuzz_fill($q$SELECT fnd_lock_acquire('fuzz_probe.%s')$q$,
                       fuzz_setting('foundation.max_locks') + 10, '{FN607}');
        PERFORM fnd_lock_release(name) FROM fnd_locks WHERE name LIKE 'fuzz\_probe.%';
    WHEN 'elections' THEN
        n := fuzz_fill($q$SELECT fnd_elect_leader('fuzz_probe.%s', 'c', NULL)$q$,
                       fuzz_setting('foundation.max_elections') + 10, '{FN607}');
        PERFORM fnd_resign("group", 'c') FROM fnd_leaders WHERE "group" LIKE 'fuzz\_probe.%';
    WHEN 'breakers' THEN
        n := fuzz_fill($q$SELECT fnd_cb_install('fuzz_probe.%s')$q$,
                       fuzz_setting('foundation.max_circuit_breakers') + 10, '{FN203}');
        PERFORM fnd_cb_remove(name) FROM fnd_circuit_breakers WHERE name LIKE 'fuzz\_probe.%';
    WHEN 'buckets' THEN
        n := fuzz_fill($q$SELECT fnd_rate_check('fuzz_probe.%s', 10, '1 h')$q$,
                       fuzz_setting('foundation.max_rate_buckets') + 10, '{FN902,53400}');
        PERFORM fnd_rate_reset(bucket) FROM fnd_rate_limits WHERE bucket LIKE 'fuzz\_probe.%';
    WHEN 'coordination' THEN
        n := fuzz_fill($q$SELECT fnd_barrier_create('fuzz_probe.%s', 2)$q$,
                       fuzz_setting('foundation.max_coordination_objects') + 10, '{FN607}');
        PERFORM fnd_barrier_remove(name) FROM fnd_barriers WHERE name LIKE 'fuzz\_probe.%';
    WHEN 'metrics' THEN
        PERFORM fnd_metrics_reset();
        PERFORM fuzz_fill($q$SELECT fnd_metric_increment('fuzz_probe.m%s')$q$,
                          fuzz_setting('foundation.max_metrics') + 10, '{}');
        n := (SELECT count(*) FROM fnd_metrics WHERE name LIKE 'fuzz\_probe.m%');
        PERFORM fnd_metrics_reset();
    WHEN 'histograms' THEN
        PERFORM fnd_metrics_reset();
        PERFORM fuzz_fill($q$SELECT fnd_metric_observe('fuzz_probe.h%s', 1)$q$,
                          fuzz_setting('foundation.max_histograms') + 10, '{}');
        n := (SELECT count(*) FROM fnd_metrics WHERE name LIKE 'fuzz\_probe.h%');
        PERFORM fnd_metrics_reset();
    END CASE;
    RETURN n;
EXCEPTION WHEN undefined_function OR undefined_table OR null_value_not_allowed THEN
    RETURN NULL;
END $$;

-- Use every size class of the shared value area once: the DSA area keeps
-- an empty 64 kB block of each size class it has used, so the first use of
-- a class takes room for good.  Registry documents from about 50 bytes to
-- foundation.max_metadata_bytes, 5% apart (size classes are at least 6%
-- apart), registered and unregistered.
CREATE FUNCTION fuzz_warm_up() RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
    n int := 1;
    done int := 0;
BEGIN
    WHILE n < fuzz_setting('foundation.max_metadata_bytes') LOOP
        BEGIN
            PERFORM fnd_register('fuzz_warm_up', 'e' || n,
                                 jsonb_build_object('pad', repeat('x', n)));
            done := done + 1;
        EXCEPTION WHEN SQLSTATE 'FN103' OR SQLSTATE 'FN003' THEN
            NULL;               -- over the document limit
        END;
        n := greatest(n + 1, (n * 1.05)::int);
    END LOOP;
    PERFORM fnd_unregister(namespace, name) FROM fnd_registry WHERE namespace = 'fuzz_warm_up';
    RETURN done;
END $$;
