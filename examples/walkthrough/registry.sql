-- registry: named entries in shared memory, with jsonb metadata.
-- Everything registered here without a lease belongs to this psql session
-- and disappears when it ends; the leased entry is unregistered at the end,
-- so the tour can be run again.
\echo '== registry: register services (session-owned, gone when this session ends)'
SELECT fnd_register('tour', 'api-1', '{"zone": "eu", "port": 8080}');
SELECT fnd_register('tour', 'api-2', '{"zone": "us", "port": 8080}');
-- basic metadata {"type": "service", "health": "healthy"} is merged under yours
SELECT name, owner_pid = pg_backend_pid() AS mine, metadata
FROM fnd_lookup('tour', 'api-1');

\echo '== registry: a leased entry belongs to the role and outlives the session'
SELECT fnd_register('tour', 'worker', '{"queue": "mail"}', lease => '1 minute');
SELECT name, owner_pid, lease_expires_at > now() AS leased FROM fnd_lookup('tour', 'worker');
-- keep it alive: each renew pushes the expiry one lease length from now
SELECT fnd_renew('tour', 'worker') > now() AS renewed;

\echo '== registry: find by metadata (containment, like jsonb @>), list, update'
SELECT name FROM fnd_find_services_by_metadata('tour', '{"zone": "eu"}');
SELECT fnd_update_metadata('tour', 'api-2', '{"zone": "us", "health": "degraded"}');
SELECT name, metadata->>'health' AS health FROM fnd_list_services('tour');
SELECT fnd_registry_stats()->'namespaces' AS per_namespace;

\echo '== registry: the errors you will meet'
DO $$
BEGIN
    PERFORM fnd_register('tour', 'api-1');
EXCEPTION WHEN SQLSTATE 'FN101' THEN
    RAISE NOTICE 'FN101 already_registered: %', SQLERRM;
END $$;
DO $$
BEGIN
    PERFORM fnd_renew('tour', 'no-such-service');
EXCEPTION WHEN SQLSTATE 'FN102' THEN
    RAISE NOTICE 'FN102 not_registered: %', SQLERRM;
END $$;
DO $$
BEGIN
    PERFORM fnd_register('tour', 'bad', '["not", "an", "object"]');
EXCEPTION WHEN SQLSTATE 'FN003' THEN
    RAISE NOTICE 'FN003 invalid_argument: %', SQLERRM;
END $$;

-- clean up (the session-owned entries would go with the session anyway)
SELECT fnd_unregister('tour', name) FROM fnd_list_services('tour');
