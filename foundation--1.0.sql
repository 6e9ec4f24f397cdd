/* foundation 1.0, released and frozen: never edit this file; every change is a new step foundation--A--B.sql with its downgrade (docs/upgrading.md) */
\echo Use "CREATE EXTENSION foundation" to load this file. \quit

-- core: error catalog and services

CREATE FUNCTION fnd_error_codes_list(
    OUT code text, OUT name text, OUT subsystem text, OUT since text,
    OUT meaning text)
RETURNS SETOF record
LANGUAGE C STRICT IMMUTABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_error_codes_list';
COMMENT ON FUNCTION fnd_error_codes_list() IS
'Every SQLSTATE of class FN, raised or reserved (backs the fnd_error_codes view)';

CREATE VIEW fnd_error_codes AS
    SELECT code, name, subsystem, since, meaning FROM fnd_error_codes_list();
COMMENT ON VIEW fnd_error_codes IS
'Every SQLSTATE of class FN: code, name, subsystem, the version from which foundation raises it (NULL: reserved, raised by no version yet) and meaning';
GRANT SELECT ON fnd_error_codes TO PUBLIC;

CREATE FUNCTION fnd_services(
    all_databases boolean DEFAULT false,
    OUT database text, OUT name text, OUT phase int, OUT depends_on text,
    OUT state text, OUT last_run timestamptz, OUT last_error text,
    OUT runs bigint, OUT detail text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_services';
COMMENT ON FUNCTION fnd_services(boolean) IS
'The supervisor''s services in run order: cluster-wide ones (database NULL) and this database''s table services (all_databases: every database''s), with state (running, disabled, failed, skipped, waiting), last run, last error, passes run and progress detail';

CREATE FUNCTION fnd_database_workers_list(
    OUT datname name, OUT pid int, OUT state text, OUT started_at timestamptz,
    OUT restarts int, OUT last_error text, OUT detail text)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_database_workers_list';
COMMENT ON FUNCTION fnd_database_workers_list() IS
'The supervisor''s picture of every database (backs the fnd_database_workers view)';

CREATE VIEW fnd_database_workers AS
    SELECT datname, pid, state, started_at, restarts, last_error, detail
    FROM fnd_database_workers_list();
COMMENT ON VIEW fnd_database_workers IS
'One row per database the supervisor knows: its worker''s pid, state (running, starting, waiting, restarting, no extension, stepping aside, standby, unchecked), start, restarts, last error and why';
GRANT SELECT ON fnd_database_workers TO PUBLIC;

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

-- breaker: circuit breakers in shared memory, one set per database

CREATE FUNCTION fnd_cb_install(name text, tolerance int DEFAULT 5,
                               "window" interval DEFAULT '60 s',
                               reset_after interval DEFAULT '60 s',
                               half_open_calls int DEFAULT 1)
RETURNS void
AS 'MODULE_PATHNAME', 'fnd_cb_install'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_install(text, int, interval, interval, int) IS
'Create a closed circuit breaker, or change an existing one''s settings (state and counters are kept): tolerate tolerance failures within window, open on one more, half-open after reset_after with half_open_calls trial permits. Admin. FN203 when foundation.max_circuit_breakers are in use.';
REVOKE ALL ON FUNCTION fnd_cb_install(text, int, interval, interval, int) FROM PUBLIC;

CREATE FUNCTION fnd_cb_ask(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'fnd_cb_ask'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_ask(text) IS
'Ask a circuit breaker whether a call may go ahead: ''ok'' (when half-open this takes one of its trial permits) or ''blown''. FN202 if unknown.';

CREATE FUNCTION fnd_cb_melt(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'fnd_cb_melt'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_melt(text) IS
'Record a failed call; returns the breaker''s new state (closed, open or half_open). One failure more than the tolerance within the window opens it; a failure while half-open opens it again.';

CREATE FUNCTION fnd_cb_success(name text)
RETURNS text
AS 'MODULE_PATHNAME', 'fnd_cb_success'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_success(text) IS
'Record a successful call; returns the breaker''s new state. A success while half-open closes the breaker.';

CREATE FUNCTION fnd_cb_execute(name text, query text)
RETURNS jsonb
AS 'MODULE_PATHNAME', 'fnd_cb_execute'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_execute(text, text) IS
'Run query through a circuit breaker, as the calling role, in a subtransaction; returns its rows as a jsonb array and records a success. FN201 (with the retry time) when open. A failing query is rolled back, melts the breaker and its error is re-raised with its own SQLSTATE and a context line naming the breaker.';

CREATE FUNCTION fnd_cb_status(name text)
RETURNS TABLE(state text, failures_in_window int, opened_at timestamptz,
              retry_at timestamptz, calls bigint, failures bigint,
              rejections bigint)
AS 'MODULE_PATHNAME', 'fnd_cb_status'
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1;
COMMENT ON FUNCTION fnd_cb_status(text) IS
'State of a circuit breaker (closed, open or half_open), failures in its window, when it last opened and when it retries, and its call, failure and rejection counters. FN202 if unknown.';

CREATE FUNCTION fnd_cb_reset(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'fnd_cb_reset'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_reset(text) IS
'Close a circuit breaker at once and forget its recent failures (counters are kept). Admin. FN202 if unknown.';
REVOKE ALL ON FUNCTION fnd_cb_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_cb_remove(name text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fnd_cb_remove'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_cb_remove(text) IS
'Remove a circuit breaker; false if there was none. Admin.';
REVOKE ALL ON FUNCTION fnd_cb_remove(text) FROM PUBLIC;

CREATE FUNCTION fnd_cb_list(
    OUT name text, OUT state text, OUT failures_in_window int,
    OUT opened_at timestamptz, OUT retry_at timestamptz, OUT calls bigint,
    OUT failures bigint, OUT rejections bigint, OUT tolerance int,
    OUT "window" interval, OUT reset_after interval, OUT half_open_calls int)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fnd_cb_list'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION fnd_cb_list() IS
'Every circuit breaker of this database with its settings, state and counters (the rows of the fnd_circuit_breakers view).';

CREATE VIEW fnd_circuit_breakers AS
    SELECT * FROM fnd_cb_list() ORDER BY name;
COMMENT ON VIEW fnd_circuit_breakers IS
'Every circuit breaker of this database: settings, state (closed, open, half_open), failures in the window, when it opened and retries, and counters.';
GRANT SELECT ON fnd_circuit_breakers TO PUBLIC;

-- ratelimit: smooth (GCRA) rate limiting in shared memory, one set per database

CREATE FUNCTION fnd_rate_check(bucket text, "limit" int, per interval)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fnd_rate_check'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_rate_check(text, int, interval) IS
'One hit against a rate-limit bucket: true, and counted, if it stays within limit hits per period (GCRA: a burst of limit, then one every per/limit); false, and not counted, otherwise. The bucket appears on first use.';

CREATE FUNCTION fnd_rate_require(bucket text, "limit" int, per interval)
RETURNS void
AS 'MODULE_PATHNAME', 'fnd_rate_require'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_rate_require(text, int, interval) IS
'Like fnd_rate_check, but raises FN901 (rate_limited) with the retry interval in the detail instead of returning false.';

CREATE FUNCTION fnd_rate_status(bucket text)
RETURNS TABLE(hits_in_window double precision, "limit" int, per interval,
              retry_after interval)
AS 'MODULE_PATHNAME', 'fnd_rate_status'
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1;
COMMENT ON FUNCTION fnd_rate_status(text) IS
'A rate-limit bucket''s hits in its window (the drained level, fractional), its last limit and period, and how long until one more hit is allowed; no row for an unknown bucket.';

CREATE FUNCTION fnd_rate_reset(bucket text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'fnd_rate_reset'
LANGUAGE C CALLED ON NULL INPUT VOLATILE;
COMMENT ON FUNCTION fnd_rate_reset(text) IS
'Forget a rate-limit bucket (its next hit starts from empty); false if there was none. Admin.';
REVOKE ALL ON FUNCTION fnd_rate_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_rate_list(
    OUT bucket text, OUT hits_in_window double precision, OUT "limit" int,
    OUT per interval, OUT retry_after interval, OUT allowed bigint,
    OUT rejected bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'fnd_rate_list'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION fnd_rate_list() IS
'Every rate-limit bucket of this database (the rows of the fnd_rate_limits view).';

CREATE VIEW fnd_rate_limits AS
    SELECT * FROM fnd_rate_list() ORDER BY bucket;
COMMENT ON VIEW fnd_rate_limits IS
'Every rate-limit bucket of this database: hits in the window, last limit and period, time until the next hit is allowed, allowed and rejected counters.';
GRANT SELECT ON fnd_rate_limits TO PUBLIC;

-- config: a hierarchical, transactional config store (docs/config.md).
--
-- One row per leaf: path is dotted lower-case words (db.pool.size), value any
-- jsonb.  Reading a prefix assembles its subtree as an object.  A path is
-- either a leaf or a prefix, never both; writers check that under a SHARE ROW
-- EXCLUSIVE lock on the table, which serializes writers (rare, admin) and
-- never blocks readers.  Every committed change sends NOTIFY fnd_config;
-- pg_notify is transactional, so a rolled-back change sends nothing.
--
-- Reads (C, src/config.c) run as the caller (SELECT on fnd_config is granted
-- to PUBLIC; revoke it to keep config private).  Writes are SECURITY DEFINER admin functions,
-- revoked from PUBLIC, with a fixed search_path and qualified names.

CREATE TABLE fnd_config (
    path text COLLATE "C" PRIMARY KEY
        CONSTRAINT fnd_config_path_check
        CHECK (path ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND octet_length(path) <= 200),
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE fnd_config IS
'Config leaves: dotted lower-case path, jsonb value, when and by whom it was last written; write through fnd_config_update and fnd_config_reset';
COMMENT ON COLUMN fnd_config.path IS
'Dotted lower-case words, each [a-z][a-z0-9_]*, at most 200 bytes; C collation, so a subtree is one index range';
SELECT pg_catalog.pg_extension_config_dump('fnd_config', '');
REVOKE ALL ON fnd_config FROM PUBLIC;
GRANT SELECT ON fnd_config TO PUBLIC;

CREATE FUNCTION fnd_config_check_path(path text)
RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_config_check_path';
COMMENT ON FUNCTION fnd_config_check_path(text) IS
'Returns path if it is a valid config path (dotted words [a-z][a-z0-9_]*, at most 200 bytes); FN301 otherwise, FN003 if NULL';

CREATE FUNCTION fnd_config_get(path text)
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_config_get';
COMMENT ON FUNCTION fnd_config_get(text) IS
'The value at a config path: a leaf''s value, a prefix''s subtree assembled as an object, a key inside an ancestor leaf''s object, or NULL if absent; FN301 for a malformed path';

CREATE FUNCTION fnd_config_get(path text, fallback jsonb)
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_config_get';
COMMENT ON FUNCTION fnd_config_get(text, jsonb) IS
'The value at a config path, or fallback when nothing is stored there (a stored JSON null is a value, not absence)';

CREATE FUNCTION fnd_config_get()
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_config_get_all';
COMMENT ON FUNCTION fnd_config_get() IS
'The whole config tree as one object ({} when empty)';

CREATE FUNCTION fnd_config_get_all()
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_config_get_all';
COMMENT ON FUNCTION fnd_config_get_all() IS
'The whole config tree as one object ({} when empty); same as fnd_config_get()';

CREATE FUNCTION fnd_config_update(path text, value jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keys text[];
    other text;
    i int;
BEGIN
    PERFORM @extschema@.fnd_config_check_path(path);
    IF value IS NULL THEN
        RAISE EXCEPTION 'config value must not be null'
            USING ERRCODE = 'FN003',
                  HINT = 'Store the JSON null (''null''::jsonb), or remove the path with fnd_config_reset.';
    END IF;

    -- Writers take turns, so two of them cannot create a leaf and a subtree
    -- at the same path at once; readers are not blocked.
    LOCK TABLE @extschema@.fnd_config IN SHARE ROW EXCLUSIVE MODE;

    keys := string_to_array(path, '.');
    FOR i IN 1 .. cardinality(keys) - 1 LOOP
        SELECT c.path INTO other FROM @extschema@.fnd_config c
        WHERE c.path = array_to_string(keys[1:i], '.');
        IF FOUND THEN
            RAISE EXCEPTION 'config path "%" is below the leaf "%"', path, other
                USING ERRCODE = 'FN301',
                      DETAIL = format('"%s" holds a value, so it cannot also be a prefix.', other),
                      HINT = format('Reset "%s" first, or store the value inside its object.', other);
        END IF;
    END LOOP;

    SELECT c.path INTO other FROM @extschema@.fnd_config c
    WHERE c.path >= fnd_config_update.path || '.' AND c.path < fnd_config_update.path || '/'
    ORDER BY c.path LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'config path "%" is a prefix of "%"', path, other
            USING ERRCODE = 'FN301',
                  DETAIL = format('"%s" has a subtree, so it cannot also hold a value.', path),
                  HINT = format('Update its leaves, or remove the subtree with fnd_config_reset(''%s'') first.', path);
    END IF;

    INSERT INTO @extschema@.fnd_config AS c (path, value)
    VALUES (fnd_config_update.path, fnd_config_update.value)
    ON CONFLICT ON CONSTRAINT fnd_config_pkey DO UPDATE
        SET value = excluded.value, updated_at = now(), updated_by = session_user;

    PERFORM pg_notify('fnd_config',
                      jsonb_build_object('path', path, 'op', 'update')::text);
END
$$;
COMMENT ON FUNCTION fnd_config_update(text, jsonb) IS
'Admin: set the value of a config leaf; FN301 if the path is malformed or is both a leaf and a prefix; sends NOTIFY fnd_config {"path", "op": "update"} at commit';
REVOKE ALL ON FUNCTION fnd_config_update(text, jsonb) FROM PUBLIC;

CREATE FUNCTION fnd_config_reset(path text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM @extschema@.fnd_config_check_path(path);
    DELETE FROM @extschema@.fnd_config c
    WHERE c.path = fnd_config_reset.path
       OR (c.path >= fnd_config_reset.path || '.' AND c.path < fnd_config_reset.path || '/');
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('fnd_config',
                          jsonb_build_object('path', path, 'op', 'reset')::text);
    END IF;
END
$$;
COMMENT ON FUNCTION fnd_config_reset(text) IS
'Admin: remove a config leaf or a whole subtree; sends NOTIFY fnd_config {"path", "op": "reset"} at commit if anything was removed';
REVOKE ALL ON FUNCTION fnd_config_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_config_reset()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM @extschema@.fnd_config;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('fnd_config', '{"op": "reset", "path": null}');
    END IF;
END
$$;
COMMENT ON FUNCTION fnd_config_reset() IS
'Admin: remove every config value; sends NOTIFY fnd_config {"path": null, "op": "reset"} at commit if anything was removed';
REVOKE ALL ON FUNCTION fnd_config_reset() FROM PUBLIC;

-- events: the event store (docs/events.md).
--
-- fnd_events keeps exactly the 1.0 shape (id, type, data, timestamp); 1.2
-- adds columns in place, and describes them to the writer
-- (src/events_writer.c).  Writes go through the functions only: PUBLIC has
-- SELECT on the table and may append with fnd_store_event(s), which run as
-- the caller except for the insert itself, done as the table's owner;
-- pruning is an admin function.  Types starting with "foundation." and
-- consensus_decided are reserved: only the extension writes them (FN401 for
-- callers), so it can trust them when it reads them back.  The
-- supervisor's "events" service deletes events older than
-- foundation.event_retention in batches.

CREATE TABLE fnd_events (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    "timestamp" timestamptz NOT NULL DEFAULT clock_timestamp()
);
COMMENT ON TABLE fnd_events IS
'Durable, append-only events: id, type, data (a JSON object) and timestamp';
COMMENT ON COLUMN fnd_events.id IS 'Increases with every stored event; fnd_query_events returns events in id order';
COMMENT ON COLUMN fnd_events.type IS 'Event type, 1 to 200 bytes';
COMMENT ON COLUMN fnd_events.data IS 'Event payload, always a JSON object';
COMMENT ON COLUMN fnd_events."timestamp" IS 'Wall-clock time of the insert (clock_timestamp())';

-- fnd_query_events(type => ...) in id order, and after_id paging per type.
CREATE INDEX fnd_events_type_idx ON fnd_events (type, id);
-- fnd_query_events(since/until), fnd_prune_events and retention.
CREATE INDEX fnd_events_timestamp_idx ON fnd_events ("timestamp");

-- pg_dump keeps the rows, and the identity sequence's position so that
-- events stored after a restore do not reuse restored ids.
SELECT pg_catalog.pg_extension_config_dump('fnd_events', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('@extschema@.fnd_events', 'id')::regclass, '');

REVOKE ALL ON fnd_events FROM PUBLIC;
GRANT SELECT ON fnd_events TO PUBLIC;

CREATE FUNCTION fnd_store_event(type text, data jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_store_event';
COMMENT ON FUNCTION fnd_store_event(text, jsonb) IS
'Append one event and return its id; FN401 if the type is empty, over 200 bytes, NULL or reserved (foundation.*, consensus_decided), or data is not a JSON object';

CREATE FUNCTION fnd_store_events(events jsonb)
RETURNS SETOF bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_store_events';
COMMENT ON FUNCTION fnd_store_events(jsonb) IS
'Append a JSON array of {"type": ..., "data": {...}} events, all or nothing, and return their ids in array order; FN401 names the first bad element (also a reserved type)';

CREATE FUNCTION fnd_get_event(id bigint)
RETURNS fnd_events
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT e.* FROM @extschema@.fnd_events e WHERE e.id OPERATOR(pg_catalog.=) fnd_get_event.id $$;
COMMENT ON FUNCTION fnd_get_event(bigint) IS
'The event with this id, or NULL';

CREATE FUNCTION fnd_query_events(
    type text DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    "until" timestamptz DEFAULT NULL,
    after_id bigint DEFAULT NULL,
    max_rows int DEFAULT 100)
RETURNS SETOF fnd_events
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
-- runs as the caller, but resolves nothing on the caller's search_path
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := 'SELECT e.* FROM @extschema@.fnd_events e WHERE true';
BEGIN
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000'
            USING ERRCODE = 'FN003',
                  DETAIL = format('It is %s.', coalesce(max_rows::text, 'NULL')),
                  HINT = 'Page through more events with after_id.';
    END IF;
    -- Only the filters given, so each query gets the plan its filters need.
    IF type IS NOT NULL THEN
        q := q || ' AND e.type = $1';
    END IF;
    IF since IS NOT NULL THEN
        q := q || ' AND e."timestamp" >= $2';
    END IF;
    IF "until" IS NOT NULL THEN
        q := q || ' AND e."timestamp" < $3';
    END IF;
    IF after_id IS NOT NULL THEN
        q := q || ' AND e.id > $4';
    END IF;
    q := q || ' ORDER BY e.id LIMIT $5';
    RETURN QUERY EXECUTE q USING type, since, "until", after_id, max_rows;
END
$$;
COMMENT ON FUNCTION fnd_query_events(text, timestamptz, timestamptz, bigint, int) IS
'Events matching every filter given (type, timestamp >= since, timestamp < until, id > after_id), in id order, at most max_rows (1 to 10000, FN003 otherwise)';

CREATE FUNCTION fnd_prune_events(before timestamptz)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    IF before IS NULL THEN
        RAISE EXCEPTION 'before must not be null'
            USING ERRCODE = 'FN003';
    END IF;
    DELETE FROM @extschema@.fnd_events e WHERE e."timestamp" < before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION fnd_prune_events(timestamptz) IS
'Admin: delete the events whose timestamp is before the given time, return how many';
REVOKE ALL ON FUNCTION fnd_prune_events(timestamptz) FROM PUBLIC;

-- telemetry: shared-memory counters, gauges and histograms (docs/telemetry.md)

CREATE FUNCTION fnd_metric_increment(name text, "by" double precision DEFAULT 1,
                                     tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metric_increment';
COMMENT ON FUNCTION fnd_metric_increment(text, double precision, jsonb) IS
'Add "by" (default 1, must not be negative) to the counter name with these tags (a flat JSON object). Never fails: a measurement that cannot be kept is counted in foundation.telemetry.dropped.';

CREATE FUNCTION fnd_metric_gauge(name text, value double precision,
                                 tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metric_gauge';
COMMENT ON FUNCTION fnd_metric_gauge(text, double precision, jsonb) IS
'Set the gauge name with these tags to value (count, sum, min, max and mean of the values set are kept too). Never fails: drops are counted in foundation.telemetry.dropped.';

CREATE FUNCTION fnd_metric_observe(name text, value double precision,
                                   tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metric_observe';
COMMENT ON FUNCTION fnd_metric_observe(text, double precision, jsonb) IS
'Record value in the histogram name with these tags: count, sum, min, max, mean and p50/p90/p95/p99 within 1% relative error. Never fails: drops are counted in foundation.telemetry.dropped.';

CREATE FUNCTION fnd_telemetry_emit(event text, measurements jsonb,
                                   metadata jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_telemetry_emit';
COMMENT ON FUNCTION fnd_telemetry_emit(text, jsonb, jsonb) IS
'Record measurements on the metric named event, metadata being its tags: {"counter": n} adds n, {"gauge": v} sets v, {"histogram": v} observes v. An unknown kind raises FN501 (invalid_metric), before anything is recorded.';

CREATE FUNCTION fnd_metrics_list(
    OUT name text, OUT tags jsonb, OUT kind text, OUT count bigint,
    OUT sum double precision, OUT min double precision, OUT max double precision,
    OUT last double precision, OUT mean double precision,
    OUT p50 double precision, OUT p90 double precision,
    OUT p95 double precision, OUT p99 double precision,
    OUT updated_at timestamptz)
RETURNS SETOF record
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'fnd_metrics_list';
COMMENT ON FUNCTION fnd_metrics_list() IS
'The rows of the fnd_metrics view: every metric series of the current database, plus the server-wide foundation.telemetry.dropped counter.';

CREATE VIEW fnd_metrics AS
    SELECT name, tags, kind, count, sum, min, max, last, mean,
           p50, p90, p95, p99, updated_at
    FROM fnd_metrics_list();
COMMENT ON VIEW fnd_metrics IS
'Metric series of the current database: kind (counter, gauge, histogram), count of measurements, sum, min, max, last value (a counter''s value), mean, p50..p99 (histograms, within 1% relative error) and the time of the last update. foundation.telemetry.dropped counts measurements that could not be kept.';
GRANT SELECT ON fnd_metrics TO PUBLIC;

CREATE FUNCTION fnd_metrics_reset(name text DEFAULT NULL)
RETURNS bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_metrics_reset';
COMMENT ON FUNCTION fnd_metrics_reset(text) IS
'Remove the metric series of the current database named name (all of them when NULL; resetting all, or foundation.telemetry.dropped, zeroes the dropped counter). Returns the number of series removed. Administrative.';
REVOKE ALL ON FUNCTION fnd_metrics_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_metrics_prometheus()
RETURNS text
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'fnd_metrics_prometheus';
COMMENT ON FUNCTION fnd_metrics_prometheus() IS
'The current database''s metrics in the Prometheus text exposition format (0.0.4): counters, gauges, and histograms as summaries with quantile labels, _sum and _count. Names are sanitised to [a-zA-Z_:][a-zA-Z0-9_:]*, tag names to label names that are valid and unique; a series that cannot appear (names or labels that sanitise alike) is reported by a "# foundation: left out" comment line.';

-- lock: named locks with fencing tokens, FIFO waiters and leases

-- Fencing tokens and election terms are backed by sequences, not only by
-- shared memory: each nextval reserves a block of 1024 tokens (INCREMENT BY
-- must equal FND_TOKEN_BLOCK in src/lock.h) that backends hand out in order
-- from shared memory.  A sequence is WAL-logged before its values are used
-- (and the C code flushes that WAL before a token of the block leaves the
-- server), so after a crash or restart it resumes above every block
-- reserved, and it replicates, so a promoted standby continues above the
-- old primary (given synchronous replication).  Only the extension's C
-- functions call nextval on them.
CREATE SEQUENCE fnd_fencing_seq INCREMENT BY 1024;
COMMENT ON SEQUENCE fnd_fencing_seq IS
'Reserves blocks of 1024 lock fencing tokens (used by fnd_lock_acquire only; never alter or reset it)';
CREATE SEQUENCE fnd_term_seq INCREMENT BY 1024;
COMMENT ON SEQUENCE fnd_term_seq IS
'Reserves blocks of 1024 election terms (used by fnd_elect_leader only; never alter or reset it)';
REVOKE ALL ON SEQUENCE fnd_fencing_seq, fnd_term_seq FROM PUBLIC;
-- pg_dump keeps their position, so a restored database continues above
-- every token and term handed out before the dump
SELECT pg_catalog.pg_extension_config_dump('fnd_fencing_seq', '');
SELECT pg_catalog.pg_extension_config_dump('fnd_term_seq', '');

CREATE FUNCTION fnd_lock_acquire(name text, wait interval DEFAULT '0',
                                 lease interval DEFAULT NULL)
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_lock_acquire';
COMMENT ON FUNCTION fnd_lock_acquire(text, interval, interval) IS
'Acquire the named lock, waiting up to wait (''0'' tries once; waiters are served first come, first served); returns a fencing token that strictly increases per database, or NULL if not acquired in time. Without a lease the lock belongs to the session; with one to the role, until the lease runs out. Re-acquiring a lock the session holds returns the same token';

CREATE FUNCTION fnd_lock_release(name text, token bigint DEFAULT NULL)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_lock_release';
COMMENT ON FUNCTION fnd_lock_release(text, bigint) IS
'Release the named lock and hand it to the next waiter: true if released, false if nobody held it; FN602 if someone else holds it: another session (token NULL), another token, or a role the caller may not act for';

CREATE FUNCTION fnd_lock_renew(name text, token bigint)
RETURNS timestamptz
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_lock_renew';
COMMENT ON FUNCTION fnd_lock_renew(text, bigint) IS
'Restart the lease of a lock held with this fencing token and return the new expiry (NULL for a session-owned lock, which has no lease); FN602 if the lock is no longer held with this token';

CREATE FUNCTION fnd_locks_list(
    OUT name text, OUT token bigint, OUT owner_pid int, OUT owner_role name,
    OUT acquired_at timestamptz, OUT lease_expires_at timestamptz,
    OUT waiters int)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_locks_list';
COMMENT ON FUNCTION fnd_locks_list() IS
'The locks held in this database (backs the fnd_locks view)';

CREATE VIEW fnd_locks AS
    SELECT name, token, owner_pid, owner_role, acquired_at, lease_expires_at,
           waiters
    FROM fnd_locks_list();
COMMENT ON VIEW fnd_locks IS
'Locks held in this database: name, fencing token (NULL for an instant while it is being issued), owner_pid (NULL for a leased lock whose session ended), owner_role, acquired_at, lease_expires_at (NULL without a lease) and the number of waiters';
GRANT SELECT ON fnd_locks TO PUBLIC;

-- election: leader election with leases and strictly increasing terms

CREATE FUNCTION fnd_elect_leader("group" text, candidate text,
                                 lease interval DEFAULT '10 s')
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_elect_leader';
COMMENT ON FUNCTION fnd_elect_leader(text, text, interval) IS
'Stand for leader of the group: true if candidate leads after the call (elected with a new, higher term if the group had no leader; a leader''s call renews its lease). With a lease the leadership belongs to the role and ends when the lease runs out; with lease NULL it belongs to the session and ends with it';

CREATE FUNCTION fnd_leader("group" text)
RETURNS TABLE(leader text, term bigint, lease_expires_at timestamptz)
LANGUAGE C CALLED ON NULL INPUT VOLATILE ROWS 1
AS 'MODULE_PATHNAME', 'fnd_leader';
COMMENT ON FUNCTION fnd_leader(text) IS
'The group''s current leader, its term (terms strictly increase per database) and lease expiry (NULL for a session-owned leadership); no row if the group has no leader';

CREATE FUNCTION fnd_resign("group" text, candidate text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_resign';
COMMENT ON FUNCTION fnd_resign(text, text) IS
'End candidate''s leadership of the group at once: true if it led, false if it did not; FN104 if it leads for another session or role';

CREATE FUNCTION fnd_leaders_list(
    OUT "group" text, OUT leader text, OUT term bigint, OUT owner_pid int,
    OUT owner_role oid, OUT elected_at timestamptz,
    OUT lease_expires_at timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_leaders_list';
COMMENT ON FUNCTION fnd_leaders_list() IS
'Every group of this database that has a leader (backs the fnd_leaders view)';

CREATE VIEW fnd_leaders AS
    SELECT l."group", l.leader, l.term, l.owner_pid,
           r.rolname AS owner_role, l.elected_at, l.lease_expires_at
    FROM fnd_leaders_list() l LEFT JOIN pg_catalog.pg_roles r ON r.oid = l.owner_role;
COMMENT ON VIEW fnd_leaders IS
'Leaders of this database: group, leader, term, owning session (NULL once a leased leadership''s session has ended), owning role, when elected, lease expiry (NULL when owned by a session)';
GRANT SELECT ON fnd_leaders TO PUBLIC;

-- barrier: cyclic barriers in shared memory (docs/coordination.md)

CREATE FUNCTION fnd_barrier_create(name text, parties int)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_create';
COMMENT ON FUNCTION fnd_barrier_create(text, int) IS
'Create a cyclic barrier of parties sessions in this database; does nothing if it exists with the same parties (FN003 with other parties, FN607 when full)';

CREATE FUNCTION fnd_barrier_arrive(name text)
RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_arrive';
COMMENT ON FUNCTION fnd_barrier_arrive(text) IS
'Count this session once in the barrier''s current generation (arriving again in the same generation counts nothing) and return the arrivals still missing (0: this arrival tripped it); withdrawn if the session ends before the barrier trips';

CREATE FUNCTION fnd_barrier_arrive(name text, party text)
RETURNS int
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_arrive_party';
COMMENT ON FUNCTION fnd_barrier_arrive(text, text) IS
'Count one of the parties this session stands for: each party id counts once per generation (ids are this session''s own); returns the arrivals still missing; withdrawn if the session ends before the barrier trips';

CREATE FUNCTION fnd_barrier_wait(name text, timeout interval DEFAULT '10 s')
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_wait';
COMMENT ON FUNCTION fnd_barrier_wait(text, interval) IS
'Sleep until the generation of this session''s last arrival has tripped (without an arrival: the current generation) and return that generation; FN603 after timeout, with the arrival count in the detail';

CREATE FUNCTION fnd_barrier_sync(name text, parties int, timeout interval DEFAULT '10 s')
RETURNS bigint
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_sync';
COMMENT ON FUNCTION fnd_barrier_sync(text, int, interval) IS
'Create the barrier if absent, arrive (unless this session has already arrived in the current generation) and wait; returns the generation that tripped.  On FN603 or cancel the arrival it made is withdrawn, so a retry does not count twice';

CREATE FUNCTION fnd_barrier_remove(name text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barrier_remove';
COMMENT ON FUNCTION fnd_barrier_remove(text) IS
'Remove a barrier (false if absent); only members of its creating role may (FN104), and not while sessions wait on it (FN003)';

CREATE FUNCTION fnd_barriers_list(
    OUT name text, OUT parties int, OUT arrived int, OUT generation bigint,
    OUT waiting int, OUT owner_role name, OUT created_at timestamptz,
    OUT last_tripped_at timestamptz)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_barriers_list';
COMMENT ON FUNCTION fnd_barriers_list() IS
'The barriers of this database (backs the fnd_barriers view)';

CREATE VIEW fnd_barriers AS
    SELECT name, parties, arrived, generation, waiting, owner_role,
           created_at, last_tripped_at
    FROM fnd_barriers_list();
COMMENT ON VIEW fnd_barriers IS
'Barriers of this database: parties, arrivals in the current generation, the generation being filled (1 before the first trip), sessions waiting, creator, creation and last trip time';
GRANT SELECT ON fnd_barriers TO PUBLIC;

-- consensus: rounds that decide once and are stored as consensus_decided
-- events (docs/coordination.md)

CREATE FUNCTION fnd_consensus_start(
    topic text, proposal jsonb, participants text[],
    quorum int DEFAULT NULL, timeout interval DEFAULT '30 s',
    unanimous boolean DEFAULT false)
RETURNS void
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_start';
COMMENT ON FUNCTION fnd_consensus_start(text, jsonb, text[], int, interval, boolean) IS
'Start a consensus round on topic: quorum accepts decide it (default a majority of participants; every participant when unanimous), it times out after timeout.  A participant that names a role is voted for by members of that role, any other by members of the starting role.  Replaces a decided round on the topic (FN104 if another role started it); FN003 while one is pending, FN607 when full';

CREATE FUNCTION fnd_consensus_vote(topic text, participant text, vote text)
RETURNS text
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_vote';
COMMENT ON FUNCTION fnd_consensus_vote(text, text, text) IS
'Cast participant''s vote (accept, reject or abstain, in any case) and return the round''s status after it (pending, accepted, rejected, timeout, cancelled); FN605 not a participant, FN104 the caller may not vote as it, FN606 already voted, FN003 unknown vote or topic';

CREATE FUNCTION fnd_consensus_result(topic text, wait interval DEFAULT '0')
RETURNS text
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_result';
COMMENT ON FUNCTION fnd_consensus_result(text, interval) IS
'The status of the round on topic (pending, accepted, rejected, timeout, cancelled), after sleeping up to wait for a decision; a topic no longer in shared memory answers from its latest consensus_decided event';

CREATE FUNCTION fnd_consensus_cancel(topic text)
RETURNS boolean
LANGUAGE C CALLED ON NULL INPUT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_cancel';
COMMENT ON FUNCTION fnd_consensus_cancel(text) IS
'Admin: decide the pending round on topic as cancelled, waking its waiters; the decision is recorded like any other.  False if the topic has no pending round';
REVOKE ALL ON FUNCTION fnd_consensus_cancel(text) FROM PUBLIC;

CREATE FUNCTION fnd_consensus_list(
    OUT topic text, OUT proposal jsonb, OUT participants text[],
    OUT votes jsonb, OUT accepts int, OUT rejects int, OUT abstains int,
    OUT quorum int, OUT unanimous boolean, OUT status text,
    OUT started_at timestamptz, OUT deadline timestamptz,
    OUT decided_at timestamptz, OUT waiting int)
RETURNS SETOF record
LANGUAGE C STRICT VOLATILE
AS 'MODULE_PATHNAME', 'fnd_consensus_list';
COMMENT ON FUNCTION fnd_consensus_list() IS
'The consensus rounds of this database in shared memory (backs the fnd_consensus view)';

CREATE VIEW fnd_consensus AS
    SELECT topic, proposal, participants, votes, accepts, rejects, abstains,
           quorum, unanimous, status, started_at, deadline, decided_at, waiting
    FROM fnd_consensus_list();
COMMENT ON VIEW fnd_consensus IS
'Consensus rounds of this database in shared memory (decided and recorded rounds give way when room is needed): proposal, participants, votes so far, accepts needed (quorum), status, deadline, decision time and sessions waiting for the result';
GRANT SELECT ON fnd_consensus TO PUBLIC;

-- fnd_consensus_result() falls back to the latest decision of a topic
CREATE INDEX fnd_events_consensus_topic ON fnd_events ((data->>'topic'), id)
    WHERE type = 'consensus_decided';
