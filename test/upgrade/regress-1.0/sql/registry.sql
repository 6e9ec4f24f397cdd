-- registry: every function, every error code, leases, containment search, stats
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;

-- a session-owned entry: basic metadata merged under what the caller passes
SELECT clock_timestamp() AS before_register \gset
SELECT fnd_register('reg_t', 'api', '{"zone": "eu", "port": 8080}');
SELECT namespace, name, owner_pid = pg_backend_pid() AS mine,
       owner_role = current_user AS my_role, metadata,
       registered_at BETWEEN :'before_register' AND clock_timestamp() AS registered_now,
       lease_expires_at
FROM fnd_lookup('reg_t', 'api');

-- the caller's keys win over the basic ones
SELECT fnd_register('reg_t', 'db', '{"health": "degraded", "type": "database"}');
SELECT metadata FROM fnd_lookup('reg_t', 'db');
-- default metadata is just the basic keys
SELECT fnd_register('reg_t', 'cache');
SELECT metadata FROM fnd_lookup('reg_t', 'cache');

-- called in the target list too
SELECT (fnd_lookup('reg_t', 'api')).name, (fnd_lookup('reg_t', 'api')).metadata->>'zone' AS zone;
SELECT count(*) FROM (SELECT fnd_lookup('reg_t', n) FROM unnest(ARRAY['api', 'nope', 'db']) n) s;
SELECT (l).namespace, (l).name FROM (SELECT fnd_lookup('reg_t', 'db') AS l) s;

-- read functions are parallel safe: run them in a parallel worker
SET force_parallel_mode = on;
EXPLAIN (COSTS OFF) SELECT name FROM fnd_lookup('reg_t', 'api');
SELECT name, metadata->>'zone' AS zone FROM fnd_lookup('reg_t', 'api');
SELECT count(*) FROM fnd_list_services('reg_t');
SELECT (fnd_registry_stats()->>'entries')::int > 0 AS has_entries;
RESET force_parallel_mode;

-- absent names, other namespaces: no row
SELECT count(*) FROM fnd_lookup('reg_t', 'nope');
SELECT count(*) FROM fnd_lookup('reg_other', 'api');

-- taken (FN101); the detail names the holder's pid, so not shown here
\set VERBOSITY terse
SELECT fnd_register('reg_t', 'api');

-- not transactional: a rolled-back registration stays
BEGIN;
SELECT fnd_register('reg_t', 'tx');
ROLLBACK;
SELECT count(*) FROM fnd_lookup('reg_t', 'tx');

-- update replaces the metadata, merged over the basic keys again
SELECT fnd_update_metadata('reg_t', 'api', '{"zone": "us"}');
SELECT metadata FROM fnd_lookup('reg_t', 'api');

-- list, containment search, the view: ordered by name
SELECT name, metadata->>'zone' AS zone FROM fnd_list_services('reg_t');
SELECT name FROM fnd_find_services_by_metadata('reg_t', '{"zone": "us"}');
SELECT name FROM fnd_find_services_by_metadata('reg_t', '{"health": "healthy"}');
SELECT name FROM fnd_find_services_by_metadata('reg_t', '{}');
SELECT fnd_register('reg_t', 'tagged', '{"tags": ["a", "b"], "hw": {"gpu": true, "ram": 64}}');
SELECT name FROM fnd_find_services_by_metadata('reg_t', '{"tags": ["b"]}');
SELECT name FROM fnd_find_services_by_metadata('reg_t', '{"hw": {"gpu": true}}');
SELECT name FROM fnd_find_services_by_metadata('reg_t', '{"hw": {"gpu": false}}');
SELECT count(*) FROM fnd_find_services_by_metadata('reg_other', '{}');
SELECT namespace, name, owner_pid = pg_backend_pid() AS mine FROM fnd_registry
WHERE namespace = 'reg_t';

-- unregister: true once, then false
SELECT fnd_unregister('reg_t', 'tx');
SELECT fnd_unregister('reg_t', 'tx');
SELECT count(*) FROM fnd_lookup('reg_t', 'tx');

-- a leased entry: owned by the role, no owner session, an expiry
SELECT fnd_register('reg_t', 'leased', '{}', '1 hour');
SELECT owner_pid, owner_role = current_user AS my_role,
       lease_expires_at - registered_at AS lease
FROM fnd_lookup('reg_t', 'leased');
SELECT lease_expires_at AS first_expiry FROM fnd_lookup('reg_t', 'leased') \gset
SELECT fnd_renew('reg_t', 'leased') > :'first_expiry' AS renewed_later,
       fnd_renew('reg_t', 'leased') - clock_timestamp() BETWEEN '59 min' AND '1 hour' AS about_an_hour;
SELECT lease_expires_at > :'first_expiry' AS stored FROM fnd_lookup('reg_t', 'leased');

-- lease expiry: a 0.2 s lease, then let 0.3 s of time pass
SELECT fnd_register('reg_t', 'short', '{"v": 1}', '0.2 s');
SELECT count(*) FROM fnd_lookup('reg_t', 'short');
SELECT pg_sleep(0.3);
SELECT count(*) FROM fnd_lookup('reg_t', 'short');
SELECT count(*) FROM fnd_registry WHERE name = 'short';
SELECT count(*) FROM fnd_list_services('reg_t') WHERE name = 'short';
\set VERBOSITY sqlstate
SELECT fnd_renew('reg_t', 'short');
\set VERBOSITY terse
SELECT fnd_unregister('reg_t', 'short');
-- the name is free again
SELECT fnd_register('reg_t', 'short', '{"v": 2}');
SELECT metadata->>'v' AS v, lease_expires_at IS NULL AS session_owned FROM fnd_lookup('reg_t', 'short');

-- stats: this database's entries, per namespace
SELECT fnd_register('reg_u', 'one');
SELECT s->'entries' AS entries, s->'leased' AS leased,
       s->'session_owned' AS session_owned, s->'namespaces' AS namespaces,
       s->'capacity' AS capacity, s->'max_metadata_bytes' AS max_metadata_bytes,
       (s->>'metadata_bytes')::int > 0 AS has_bytes,
       (s->>'entries_all_databases')::int >= (s->>'entries')::int AS all_dbs
FROM fnd_registry_stats() s;

-- every error code, by SQLSTATE
\set VERBOSITY sqlstate
-- FN101 taken
SELECT fnd_register('reg_t', 'api');
SELECT fnd_register('reg_t', 'leased');
-- FN102 not registered
SELECT fnd_update_metadata('reg_t', 'nope', '{}');
SELECT fnd_renew('reg_t', 'nope');
-- FN003 bad input
SELECT fnd_register('', 'x');
SELECT fnd_register('reg_t', '');
SELECT fnd_register('reg_t', repeat('x', 201));
SELECT fnd_register(repeat('x', 201), 'x');
SELECT fnd_register(NULL, 'x');
SELECT fnd_register('reg_t', NULL);
SELECT fnd_register('reg_t', 'x', NULL);
SELECT fnd_register('reg_t', 'x', '[1, 2]');
SELECT fnd_register('reg_t', 'x', '"text"');
SELECT fnd_register('reg_t', 'x', '{}', '0 s');
SELECT fnd_register('reg_t', 'x', '{}', '-1 s');
SELECT fnd_renew('reg_t', 'api');
SELECT fnd_update_metadata('reg_t', 'api', '[]');
SELECT * FROM fnd_lookup('reg_t', NULL);
SELECT * FROM fnd_lookup('', 'api');
SELECT * FROM fnd_list_services(NULL);
SELECT * FROM fnd_find_services_by_metadata('reg_t', NULL);
SELECT * FROM fnd_find_services_by_metadata('reg_t', '["zone"]');
SELECT fnd_unregister('reg_t', repeat('x', 201));
-- a 200-byte name is fine
SELECT fnd_register('reg_t', repeat('x', 200));
SELECT fnd_unregister('reg_t', repeat('x', 200));
-- nothing was registered by the failures above
SELECT count(*) FROM fnd_lookup('reg_t', 'x');

-- metadata over foundation.max_metadata_bytes: FN003, the limit in the detail
\set VERBOSITY default
SELECT fnd_register('reg_t', 'big', jsonb_build_object('blob', repeat('x', 9000)));
SET foundation.max_metadata_bytes = 100;
SELECT fnd_update_metadata('reg_t', 'api', jsonb_build_object('blob', repeat('x', 80)));
SELECT fnd_register('reg_t', 'small', jsonb_build_object('blob', repeat('x', 10)));
RESET foundation.max_metadata_bytes;
-- a large document under the limit is stored whole, never truncated
SELECT fnd_update_metadata('reg_t', 'api', jsonb_build_object('blob', repeat('y', 8000)));
SELECT length(metadata->>'blob') AS blob_length, metadata->>'type' AS type
FROM fnd_lookup('reg_t', 'api');
\set VERBOSITY sqlstate

-- FN104: another role may not unregister, update or renew
CREATE ROLE regress_reg_other;
CREATE ROLE regress_reg_member;
SET ROLE regress_reg_other;
SELECT fnd_unregister('reg_t', 'api');
SELECT fnd_update_metadata('reg_t', 'api', '{}');
SELECT fnd_renew('reg_t', 'leased');
-- but it may read, and register its own
SELECT count(*) FROM fnd_lookup('reg_t', 'api');
SELECT fnd_register('reg_t', 'theirs', '{}', '1 hour');
SELECT owner_role FROM fnd_lookup('reg_t', 'theirs');
RESET ROLE;
-- a member of the owning role may manage it
GRANT regress_reg_other TO regress_reg_member;
SET ROLE regress_reg_member;
SELECT fnd_renew('reg_t', 'theirs') > now() AS renewed;
SELECT fnd_update_metadata('reg_t', 'theirs', '{"by": "member"}');
RESET ROLE;
-- and so may a superuser
SELECT metadata->>'by' AS by FROM fnd_lookup('reg_t', 'theirs');
SELECT fnd_unregister('reg_t', 'theirs');
-- the entries of the failed attempts are untouched
SELECT name FROM fnd_list_services('reg_t');
DROP ROLE regress_reg_member;
DROP ROLE regress_reg_other;

-- a search filter is bounded like a document (foundation.max_metadata_bytes)
\set VERBOSITY default
SELECT count(*) FROM fnd_find_services_by_metadata('reg_t',
    jsonb_build_object('blob', repeat('x', 9000)));
\set VERBOSITY sqlstate

-- per-role quota: foundation.max_registry_entries_per_role (0, the default,
-- means no limit per role); FN103 naming the setting, counted per owning
-- role across namespaces and kinds of ownership, freed by unregistering
CREATE FUNCTION pg_temp.errd(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
    RETURN SQLSTATE || ': ' || SQLERRM || E'\n' || d;
END $$;
SHOW foundation.max_registry_entries_per_role;
CREATE ROLE regress_reg_quota;
CREATE ROLE regress_reg_free;
SET foundation.max_registry_entries_per_role = 2;
SET ROLE regress_reg_quota;
SELECT fnd_register('reg_q', 'a', '{}', '1 hour');
SELECT fnd_register('reg_u', 'b');
SELECT pg_temp.errd($$SELECT fnd_register('reg_q', 'c', '{}', '1 hour')$$);
SELECT count(*) AS nothing_half_registered FROM fnd_lookup('reg_q', 'c');
SELECT fnd_unregister('reg_u', 'b');
SELECT fnd_register('reg_q', 'c', '{}', '1 hour') AS room_again;
-- full again, for a session-owned entry too
SELECT fnd_register('reg_q', 'd');
-- another role is not affected
SET ROLE regress_reg_free;
SELECT fnd_register('reg_q', 'other', '{}', '1 hour');
SELECT fnd_unregister('reg_q', 'other');
RESET ROLE;
RESET foundation.max_registry_entries_per_role;
SET ROLE regress_reg_quota;
SELECT fnd_register('reg_q', 'd') AS no_limit_after_reset;
RESET ROLE;
SELECT count(*) FILTER (WHERE fnd_unregister(namespace, name)) AS removed
FROM fnd_registry WHERE namespace = 'reg_q';
DROP ROLE regress_reg_quota;
DROP ROLE regress_reg_free;

-- clean up
SELECT count(*) FILTER (WHERE fnd_unregister(namespace, name)) AS removed
FROM fnd_registry WHERE namespace IN ('reg_t', 'reg_u');
SELECT count(*) FROM fnd_registry WHERE namespace IN ('reg_t', 'reg_u');
SELECT fnd_registry_stats()->'namespaces' AS namespaces;
