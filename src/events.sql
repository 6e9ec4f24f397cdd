-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
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
