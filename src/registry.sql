-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- registry: named entries in shared memory, owned by a session or leased to a role

CREATE FUNCTION fnd_register(namespace text, name text,
    metadata jsonb DEFAULT '{}', lease interval DEFAULT NULL)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_register';
COMMENT ON FUNCTION fnd_register(text, text, jsonb, interval) IS
'Register namespace/name with metadata merged over {"type": "service", "health": "healthy"}; without a lease the entry belongs to this session, with one to this role until the lease runs out (FN101 if taken, FN103 if full)';

CREATE FUNCTION fnd_lookup(namespace text, name text)
RETURNS TABLE(namespace text, name text, owner_pid int, owner_role name,
    metadata jsonb, registered_at timestamptz, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE ROWS 1
AS 'MODULE_PATHNAME', 'fnd_lookup';
COMMENT ON FUNCTION fnd_lookup(text, text) IS
'The live registry entry namespace/name of this database: zero or one row (owner_pid is NULL for leased entries)';

CREATE FUNCTION fnd_unregister(namespace text, name text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_unregister';
COMMENT ON FUNCTION fnd_unregister(text, text) IS
'Remove a registry entry: true if removed, false if there was none (FN104 if it belongs to another role)';

CREATE FUNCTION fnd_update_metadata(namespace text, name text, metadata jsonb)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_update_metadata';
COMMENT ON FUNCTION fnd_update_metadata(text, text, jsonb) IS
'Replace an entry''s metadata (merged over the basic keys again); FN102 if absent, FN104 if another role''s';

CREATE FUNCTION fnd_renew(namespace text, name text)
RETURNS timestamptz
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_renew';
COMMENT ON FUNCTION fnd_renew(text, text) IS
'Extend a leased entry by its lease length from now; returns the new expiry (FN102 if absent, FN003 if it has no lease, FN104 if another role''s)';

CREATE FUNCTION fnd_list_services(namespace text)
RETURNS TABLE(namespace text, name text, owner_pid int, owner_role name,
    metadata jsonb, registered_at timestamptz, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_list_services';
COMMENT ON FUNCTION fnd_list_services(text) IS
'Every live registry entry of a namespace in this database, ordered by name';

CREATE FUNCTION fnd_find_services_by_metadata(namespace text, filter jsonb)
RETURNS TABLE(namespace text, name text, owner_pid int, owner_role name,
    metadata jsonb, registered_at timestamptz, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_find_services_by_metadata';
COMMENT ON FUNCTION fnd_find_services_by_metadata(text, jsonb) IS
'Live registry entries of a namespace whose metadata contains filter (metadata @> filter), ordered by name; a filter larger than foundation.max_metadata_bytes is FN003';

CREATE FUNCTION fnd_registry_entries()
RETURNS TABLE(namespace text, name text, owner_pid int, owner_role name,
    metadata jsonb, registered_at timestamptz, lease_expires_at timestamptz)
LANGUAGE C STRICT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_registry_entries';
COMMENT ON FUNCTION fnd_registry_entries() IS
'Every live registry entry of this database, ordered by namespace and name (backs the fnd_registry view)';

CREATE VIEW fnd_registry AS
    SELECT namespace, name, owner_pid, owner_role, metadata, registered_at,
           lease_expires_at
    FROM fnd_registry_entries();
COMMENT ON VIEW fnd_registry IS
'Every live registry entry of this database: namespace, name, owning session (NULL when leased), owning role, metadata, registration time, lease expiry';
GRANT SELECT ON fnd_registry TO PUBLIC;

CREATE FUNCTION fnd_registry_stats()
RETURNS jsonb
LANGUAGE C STRICT VOLATILE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_registry_stats';
COMMENT ON FUNCTION fnd_registry_stats() IS
'Registry figures: live entries of this database (leased, session-owned, per namespace, metadata bytes), expired leases not yet swept, and the shared capacity';
