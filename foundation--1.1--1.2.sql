-- foundation 1.1 -> 1.2: the event store's new columns, agent and
-- correlation queries, online migration of old events and gap-free durable
-- subscriptions (docs/events.md); agent metrics, metric history and alerts
-- (docs/telemetry.md).
--
-- changes: fnd_events, fnd_migration_state, fnd_events_1_2_columns
--   fnd_events gains agent_context, correlation_id and metadata, added
--   without a default and then given one, so the table is not rewritten and
--   rows written before 1.2 keep metadata NULL (read converted, migrated in
--   batches by the supervisor).
--
-- Three parts, each after its marker line: the event store, subscriptions,
-- telemetry and alerts.  One owner (the lead) keeps the script's header and
-- order; each part's author edits only inside their part.
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.2'" to load this file. \quit

-- ==== event store ====
-- (docs/events.md) fnd_events gains agent_context, correlation_id and
-- metadata: added without a default and then given one, so the table is not
-- rewritten; rows written before 1.2 keep metadata NULL.  Every read
-- function returns them converted (fnd_event_lazy); the supervisor's
-- events_migration service converts them in place in batches and then
-- builds the two new indexes concurrently.  A table of at most 1000 rows
-- (a fresh install, a small database) is converted and indexed here.

ALTER TABLE @extschema@.fnd_events
    ADD COLUMN agent_context jsonb,
    ADD COLUMN correlation_id text,
    ADD COLUMN metadata jsonb;
ALTER TABLE @extschema@.fnd_events
    ALTER COLUMN metadata SET DEFAULT '{}';
COMMENT ON COLUMN @extschema@.fnd_events.agent_context IS
'The writing agent: an object with a string agent_id, or NULL (1.2)';
COMMENT ON COLUMN @extschema@.fnd_events.correlation_id IS
'Ties related events together, 1 to 200 bytes, or NULL (1.2)';
COMMENT ON COLUMN @extschema@.fnd_events.metadata IS
'A JSON object about the event (1.2); NULL only on a row written before 1.2 and not yet migrated (read it through fnd_event_lazy)';

-- The 1.2 values a downgrade kept (foundation--1.2--1.1.sql) go back in
-- place: only rows whose values differ from what converting their data
-- gives were kept, so this is one join on the primary key over those rows.
DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_events_1_2_columns') IS NOT NULL THEN
        UPDATE @extschema@.fnd_events e
        SET agent_context = k.agent_context, correlation_id = k.correlation_id,
            metadata = k.metadata
        FROM @extschema@.fnd_events_1_2_columns k
        WHERE e.id OPERATOR(pg_catalog.=) k.id;
        DROP TABLE @extschema@.fnd_events_1_2_columns;
    END IF;
END
$$;

-- The lazy conversion, the one definition every reader uses: a row with
-- metadata NULL (written before 1.2) reads with metadata {} and
-- agent_context / correlation_id taken from its data's agent_id /
-- correlation_id when those are strings; any other row as stored.  Plain
-- SQL of its argument only, without SET: the planner inlines it, so
-- (fnd_event_lazy(e)).* costs a few expressions per row.  A column added
-- to fnd_events later must be added to the ROW here, in order.
CREATE FUNCTION @extschema@.fnd_event_lazy(e @extschema@.fnd_events)
RETURNS @extschema@.fnd_events
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT ROW(e.id, e.type, e.data, e."timestamp",
    CASE WHEN e.metadata IS NOT NULL THEN e.agent_context
         WHEN pg_catalog.jsonb_typeof(e.data OPERATOR(pg_catalog.->) 'agent_id') OPERATOR(pg_catalog.=) 'string'
         THEN pg_catalog.jsonb_build_object('agent_id', e.data OPERATOR(pg_catalog.->) 'agent_id') END,
    CASE WHEN e.metadata IS NOT NULL THEN e.correlation_id
         WHEN pg_catalog.jsonb_typeof(e.data OPERATOR(pg_catalog.->) 'correlation_id') OPERATOR(pg_catalog.=) 'string'
         THEN e.data OPERATOR(pg_catalog.->>) 'correlation_id' END,
    COALESCE(e.metadata, '{}'::pg_catalog.jsonb))::@extschema@.fnd_events
$$;
COMMENT ON FUNCTION @extschema@.fnd_event_lazy(@extschema@.fnd_events) IS
'An event as 1.2 reads it: a row written before 1.2 (metadata NULL) with metadata {} and agent_context / correlation_id taken from data''s agent_id / correlation_id strings; any other row as stored';

-- The migration's progress, one row per migration; a database converted by
-- the step itself has none.  Written by the supervisor's service and by
-- fnd_migration_pause/resume; dump-marked so a restore continues it.
CREATE TABLE @extschema@.fnd_migration_state (
    name text PRIMARY KEY,
    phase text NOT NULL DEFAULT 'converting'
        CHECK (phase IN ('converting', 'indexing', 'done')),
    paused boolean NOT NULL DEFAULT false,
    upto_id bigint NOT NULL,
    next_id bigint NOT NULL DEFAULT 0,
    rows_done bigint NOT NULL DEFAULT 0,
    rows_total bigint,
    rows_per_second double precision,
    started_at timestamptz,
    finished_at timestamptz
);
COMMENT ON TABLE @extschema@.fnd_migration_state IS
'Progress of the supervisor''s data migrations (fnd_migrations shows it): rows of fnd_events with id below next_id and up to upto_id are converted';
-- readable (the queries look at it as their caller); written only by the
-- service and the admin functions
REVOKE ALL ON @extschema@.fnd_migration_state FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_migration_state TO PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_migration_state', '');

-- A small table (fresh install: empty) is converted and indexed here, in
-- the step; a bigger one is left to the service (CREATE INDEX CONCURRENTLY
-- cannot run in this transaction), which the row below starts.
DO $$
DECLARE
    old bigint;
BEGIN
    -- the whole table counts: the step builds the indexes over all of it
    SELECT pg_catalog.count(*) INTO old FROM (SELECT 1 FROM @extschema@.fnd_events e
        LIMIT 1001) s;
    IF old OPERATOR(pg_catalog.<=) 1000 THEN
        UPDATE @extschema@.fnd_events e
        SET agent_context = (@extschema@.fnd_event_lazy(e)).agent_context,
            correlation_id = (@extschema@.fnd_event_lazy(e)).correlation_id,
            metadata = '{}'
        WHERE e.metadata IS NULL;
        CREATE INDEX fnd_events_correlation_idx
            ON @extschema@.fnd_events (correlation_id, id);
        CREATE INDEX fnd_events_agent_idx
            ON @extschema@.fnd_events ((agent_context OPERATOR(pg_catalog.->>) 'agent_id'), id);
    ELSE
        INSERT INTO @extschema@.fnd_migration_state (name, upto_id)
        SELECT 'events_1_2', pg_catalog.max(e.id) FROM @extschema@.fnd_events e;
    END IF;
END
$$;

CREATE VIEW @extschema@.fnd_migrations AS
SELECT m.name,
       CASE WHEN m.phase OPERATOR(pg_catalog.=) 'done' THEN 'done'
            WHEN m.paused OR pg_catalog.current_setting('foundation.migration_max_rows_per_second', true) OPERATOR(pg_catalog.=) '0'
            THEN 'paused'
            WHEN m.started_at IS NULL THEN 'pending'
            ELSE m.phase END AS state,
       m.rows_done, m.rows_total, m.rows_per_second, m.started_at,
       CASE WHEN m.phase OPERATOR(pg_catalog.=) 'done' THEN m.finished_at
            WHEN m.rows_per_second OPERATOR(pg_catalog.>) 0 AND m.rows_total IS NOT NULL
            THEN pg_catalog.now() OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs =>
                 GREATEST(m.rows_total OPERATOR(pg_catalog.-) m.rows_done, 0)
                 OPERATOR(pg_catalog./) m.rows_per_second) END AS eta,
       (SELECT s.last_error FROM @extschema@.fnd_services() s
        WHERE s.name OPERATOR(pg_catalog.=) 'events_migration'
          AND s.state OPERATOR(pg_catalog.=) 'failed') AS last_error
FROM @extschema@.fnd_migration_state m;
COMMENT ON VIEW @extschema@.fnd_migrations IS
'The supervisor''s data migrations: state (pending, converting, indexing, paused, done), rows converted of the total, rate, start, estimated (or actual) end, and the service''s last error';
GRANT SELECT ON @extschema@.fnd_migrations TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_migration_pause(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off' THEN
        RAISE EXCEPTION 'agent features are disabled' USING ERRCODE = 'FN002',
            HINT = 'Set foundation.agent_features = on and reload the configuration.';
    END IF;
    UPDATE @extschema@.fnd_migration_state m SET paused = true
    WHERE m.name = fnd_migration_pause.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no migration named %', coalesce(quote_literal(fnd_migration_pause.name), 'NULL')
            USING ERRCODE = 'FN003', HINT = 'SELECT name FROM fnd_migrations lists them.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_migration_pause(text) IS
'Admin: stop the migration after its current batch (it keeps its progress); FN003 unknown name';
REVOKE ALL ON FUNCTION @extschema@.fnd_migration_pause(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_migration_resume(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off' THEN
        RAISE EXCEPTION 'agent features are disabled' USING ERRCODE = 'FN002',
            HINT = 'Set foundation.agent_features = on and reload the configuration.';
    END IF;
    UPDATE @extschema@.fnd_migration_state m SET paused = false
    WHERE m.name = fnd_migration_resume.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no migration named %', coalesce(quote_literal(fnd_migration_resume.name), 'NULL')
            USING ERRCODE = 'FN003', HINT = 'SELECT name FROM fnd_migrations lists them.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_migration_resume(text) IS
'Admin: let a paused migration continue where it stopped; FN003 unknown name';
REVOKE ALL ON FUNCTION @extschema@.fnd_migration_resume(text) FROM PUBLIC;

-- The 1.0 readers return converted rows (same signatures, same plans).
-- Each names fnd_event_lazy once: (fnd_event_lazy(e)).* would inline it
-- once per column, and these are planned at every call.
CREATE OR REPLACE FUNCTION @extschema@.fnd_get_event(id bigint)
RETURNS @extschema@.fnd_events
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT @extschema@.fnd_event_lazy(e) FROM @extschema@.fnd_events e WHERE e.id OPERATOR(pg_catalog.=) fnd_get_event.id $$;

CREATE OR REPLACE FUNCTION @extschema@.fnd_query_events(
    type text DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    "until" timestamptz DEFAULT NULL,
    after_id bigint DEFAULT NULL,
    max_rows int DEFAULT 100)
RETURNS SETOF @extschema@.fnd_events
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
-- runs as the caller, but resolves nothing on the caller's search_path
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    q text := 'SELECT (s.l).* FROM (SELECT @extschema@.fnd_event_lazy(e) AS l, e.id FROM @extschema@.fnd_events e WHERE true';
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
    q := q || ' ORDER BY e.id LIMIT $5) s ORDER BY s.id';
    RETURN QUERY EXECUTE q USING type, since, "until", after_id, max_rows;
END
$$;

-- 1.2 writers: the 5-argument form (no default for agent_context, so a
-- call with one or two arguments still resolves to the 1.0 form), and
-- fnd_store_events taking the 1.2 keys in each element.
CREATE FUNCTION @extschema@.fnd_store_event(type text, data jsonb,
    agent_context jsonb, correlation_id text DEFAULT NULL,
    metadata jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_store_event_1_2';
COMMENT ON FUNCTION @extschema@.fnd_store_event(text, jsonb, jsonb, text, jsonb) IS
'Append one event with its agent_context (an object with a string agent_id, or NULL), correlation_id (1 to 200 bytes, or NULL) and metadata (an object); what is NULL of the first two is taken from data''s agent_id / correlation_id; FN401 bad event, FN002 agent features off';

CREATE OR REPLACE FUNCTION @extschema@.fnd_store_events(events jsonb)
RETURNS SETOF bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_store_events_1_2';
COMMENT ON FUNCTION @extschema@.fnd_store_events(jsonb) IS
'Append a JSON array of {"type": ..., "data": {...}} events (and, since 1.2, "agent_context", "correlation_id", "metadata"), all or nothing, and return their ids in array order; FN401 names the first bad element (also a reserved type)';

-- Agent and correlation queries.  While the migration still converts old
-- rows, those are matched by their data too (slower, never wrong); after
-- it, and on a fresh install, only the indexed columns.
CREATE FUNCTION @extschema@.fnd_query_by_agent(agent_id text,
    type text DEFAULT NULL, since timestamptz DEFAULT NULL,
    "until" timestamptz DEFAULT NULL, after_id bigint DEFAULT NULL,
    max_rows int DEFAULT 100)
RETURNS SETOF @extschema@.fnd_events
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
-- planned once per session: a custom plan per call would inline
-- fnd_event_lazy again each time, and the generic plan is the right one
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off' THEN
        RAISE EXCEPTION 'agent features are disabled' USING ERRCODE = 'FN002',
            HINT = 'Set foundation.agent_features = on and reload the configuration.';
    END IF;
    IF agent_id IS NULL OR octet_length(agent_id) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'agent_id must have 1 to 200 bytes' USING ERRCODE = 'FN003',
            DETAIL = format('It is %s.', coalesce(octet_length(agent_id) || ' bytes', 'NULL'));
    END IF;
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000' USING ERRCODE = 'FN003',
            DETAIL = format('It is %s.', coalesce(max_rows::text, 'NULL')),
            HINT = 'Page through more events with after_id.';
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.fnd_migration_state m
               WHERE m.name = 'events_1_2' AND m.phase = 'converting') THEN
        RETURN QUERY SELECT (@extschema@.fnd_event_lazy(e)).* FROM @extschema@.fnd_events e
            WHERE ((e.agent_context ->> 'agent_id') = fnd_query_by_agent.agent_id
                   OR (e.metadata IS NULL AND jsonb_typeof(e.data -> 'agent_id') = 'string'
                       AND (e.data ->> 'agent_id') = fnd_query_by_agent.agent_id))
              AND (fnd_query_by_agent.type IS NULL OR e.type = fnd_query_by_agent.type)
              AND (since IS NULL OR e."timestamp" >= since)
              AND ("until" IS NULL OR e."timestamp" < "until")
              AND (after_id IS NULL OR e.id > after_id)
            ORDER BY e.id LIMIT max_rows;
        RETURN;
    END IF;
    RETURN QUERY SELECT (@extschema@.fnd_event_lazy(e)).* FROM @extschema@.fnd_events e
        WHERE (e.agent_context ->> 'agent_id') = fnd_query_by_agent.agent_id
          AND (fnd_query_by_agent.type IS NULL OR e.type = fnd_query_by_agent.type)
          AND (since IS NULL OR e."timestamp" >= since)
          AND ("until" IS NULL OR e."timestamp" < "until")
          AND (after_id IS NULL OR e.id > after_id)
        ORDER BY e.id LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_query_by_agent(text, text, timestamptz, timestamptz, bigint, int) IS
'Events of one agent (agent_context->>''agent_id'', old rows read converted) matching every filter given (type, timestamp >= since, timestamp < until, id > after_id), in id order, at most max_rows (1 to 10000); FN003 bad argument, FN002 agent features off';

CREATE FUNCTION @extschema@.fnd_get_correlated_events(correlation_id text,
    max_rows int DEFAULT 1000)
RETURNS SETOF @extschema@.fnd_events
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
-- planned once per session: a custom plan per call would inline
-- fnd_event_lazy again each time, and the generic plan is the right one
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off' THEN
        RAISE EXCEPTION 'agent features are disabled' USING ERRCODE = 'FN002',
            HINT = 'Set foundation.agent_features = on and reload the configuration.';
    END IF;
    IF correlation_id IS NULL OR octet_length(correlation_id) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'correlation_id must have 1 to 200 bytes' USING ERRCODE = 'FN003',
            DETAIL = format('It is %s.', coalesce(octet_length(correlation_id) || ' bytes', 'NULL'));
    END IF;
    IF max_rows IS NULL OR max_rows < 1 OR max_rows > 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000' USING ERRCODE = 'FN003',
            DETAIL = format('It is %s.', coalesce(max_rows::text, 'NULL'));
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.fnd_migration_state m
               WHERE m.name = 'events_1_2' AND m.phase = 'converting') THEN
        RETURN QUERY SELECT (@extschema@.fnd_event_lazy(e)).* FROM @extschema@.fnd_events e
            WHERE e.correlation_id = fnd_get_correlated_events.correlation_id
               OR (e.metadata IS NULL AND jsonb_typeof(e.data -> 'correlation_id') = 'string'
                   AND (e.data ->> 'correlation_id') = fnd_get_correlated_events.correlation_id)
            ORDER BY e.id LIMIT max_rows;
        RETURN;
    END IF;
    RETURN QUERY SELECT (@extschema@.fnd_event_lazy(e)).* FROM @extschema@.fnd_events e
        WHERE e.correlation_id = fnd_get_correlated_events.correlation_id
        ORDER BY e.id LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_get_correlated_events(text, int) IS
'The events with this correlation_id (old rows read converted), in id order, at most max_rows (1 to 10000); FN003 bad argument, FN002 agent features off';

CREATE FUNCTION @extschema@.fnd_get_agent_event_stats(agent_id text)
RETURNS jsonb
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r jsonb;
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off' THEN
        RAISE EXCEPTION 'agent features are disabled' USING ERRCODE = 'FN002',
            HINT = 'Set foundation.agent_features = on and reload the configuration.';
    END IF;
    IF agent_id IS NULL OR octet_length(agent_id) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'agent_id must have 1 to 200 bytes' USING ERRCODE = 'FN003',
            DETAIL = format('It is %s.', coalesce(octet_length(agent_id) || ' bytes', 'NULL'));
    END IF;
    WITH ev AS (
        SELECT e.type, e."timestamp" FROM @extschema@.fnd_events e
        WHERE (e.agent_context ->> 'agent_id') = fnd_get_agent_event_stats.agent_id
        UNION ALL
        SELECT e.type, e."timestamp" FROM @extschema@.fnd_events e
        WHERE EXISTS (SELECT 1 FROM @extschema@.fnd_migration_state m
                      WHERE m.name = 'events_1_2' AND m.phase = 'converting')
          AND e.metadata IS NULL AND jsonb_typeof(e.data -> 'agent_id') = 'string'
          AND (e.data ->> 'agent_id') = fnd_get_agent_event_stats.agent_id
    ), t AS (
        SELECT ev.type, count(*) AS n FROM ev GROUP BY ev.type
    )
    SELECT jsonb_build_object(
        'agent_id', fnd_get_agent_event_stats.agent_id,
        'total', coalesce((SELECT sum(t.n) FROM t), 0),
        'by_type', coalesce((SELECT jsonb_object_agg(t.type, t.n) FROM t), '{}'),
        'first_event_at', (SELECT min(ev."timestamp") FROM ev),
        'last_event_at', (SELECT max(ev."timestamp") FROM ev))
    INTO r;
    RETURN r;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_get_agent_event_stats(text) IS
'One agent''s events: {"agent_id", "total", "by_type": {type: count}, "first_event_at", "last_event_at"} (old rows read converted); FN003 bad agent_id, FN002 agent features off';


-- ==== subscriptions ====

-- ==== telemetry and alerts ====
