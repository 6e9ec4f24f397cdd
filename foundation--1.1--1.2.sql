-- foundation 1.1 -> 1.2: the event store's new columns, agent and
-- correlation queries, online migration of old events and gap-free durable
-- subscriptions (docs/events.md); agent metrics, metric history and alerts
-- (docs/telemetry.md).
--
-- changes: fnd_events, fnd_migration_state, fnd_events_1_2_columns, fnd_event_subscriptions, fnd_event_channels
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

-- ---------------------------------------------------------------------------
-- 1.2 durable subscriptions (docs/subscriptions.md, src/events_horizon.c)
--
-- fnd_event_subscriptions holds each subscription's filter and checkpoint,
-- fnd_event_channels each agent channel's filter.  Both are user data:
-- dump-marked, kept (detached) by the downgrade; this step takes them back
-- with their rows.
-- ---------------------------------------------------------------------------

DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_event_subscriptions') IS NULL THEN
        CREATE TABLE @extschema@.fnd_event_subscriptions (
            name text COLLATE "C" NOT NULL
                CONSTRAINT fnd_event_subscriptions_pkey PRIMARY KEY
                CONSTRAINT fnd_event_subscriptions_name_check
                CHECK (octet_length(name) BETWEEN 1 AND 200),
            filter jsonb NOT NULL DEFAULT '{}',
            checkpoint bigint NOT NULL,
            created_by name NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_event_subscriptions;
    END IF;
    IF to_regclass('@extschema@.fnd_event_channels') IS NULL THEN
        CREATE TABLE @extschema@.fnd_event_channels (
            channel text COLLATE "C" NOT NULL
                CONSTRAINT fnd_event_channels_pkey PRIMARY KEY,
            agent_id text COLLATE "C" NOT NULL
                CONSTRAINT fnd_event_channels_agent_id_check
                CHECK (octet_length(agent_id) BETWEEN 1 AND 200),
            filter jsonb NOT NULL DEFAULT '{}',
            created_by name NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX fnd_event_channels_agent_id
            ON @extschema@.fnd_event_channels (agent_id);
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_event_channels;
    END IF;
END $$;
COMMENT ON TABLE @extschema@.fnd_event_subscriptions IS
'Durable event subscriptions: filter and checkpoint (the last acknowledged event id); write through fnd_subscription_create, _ack and _drop';
COMMENT ON TABLE @extschema@.fnd_event_channels IS
'Agent event channels: each committed event of agent_id matching filter is announced by NOTIFY on channel; made by fnd_subscribe_to_agent_events';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_event_subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_event_channels', '');
REVOKE ALL ON @extschema@.fnd_event_subscriptions FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_event_subscriptions TO PUBLIC;
REVOKE ALL ON @extschema@.fnd_event_channels FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_event_channels TO PUBLIC;

-- The lazy conversion of a row written before 1.2 (metadata IS NULL), the
-- event store's contract: metadata {}, agent_context and correlation_id
-- from the old data's string keys.  The one place subscriptions convert;
-- the event store's fnd_event_lazy replaces it at merge.
CREATE FUNCTION @extschema@.fnd_subscription_lazy(e @extschema@.fnd_events)
RETURNS @extschema@.fnd_events
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN e.metadata IS NOT NULL THEN e
           ELSE jsonb_populate_record(e, jsonb_build_object(
               'metadata', '{}'::jsonb,
               'agent_context', CASE WHEN jsonb_typeof(e.data -> 'agent_id') = 'string'
                                     THEN jsonb_build_object('agent_id', e.data -> 'agent_id') END,
               'correlation_id', CASE WHEN jsonb_typeof(e.data -> 'correlation_id') = 'string'
                                      THEN e.data -> 'correlation_id' END)) END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_lazy(@extschema@.fnd_events) IS
'Internal: an event as 1.2 reads it (a row written before 1.2 converted on read)';

-- Does an event match a filter already checked by fnd_subscription_filter?
CREATE FUNCTION @extschema@.fnd_subscription_match(filter jsonb, type text,
    agent_id text, correlation_id text)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (NOT filter ? 'types' OR filter -> 'types' ? type)
       AND (NOT filter ? 'agent_id' OR filter ->> 'agent_id' = agent_id)
       AND (NOT filter ? 'correlation_id' OR filter ->> 'correlation_id' = correlation_id)
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_match(jsonb, text, text, text) IS
'Internal: true if an event (type, agent id, correlation id) matches a subscription filter';

-- FN002 when off; FN003 unless filter is an object of the known keys.
CREATE FUNCTION @extschema@.fnd_subscription_filter(filter jsonb, keys text[])
RETURNS jsonb
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
BEGIN
    IF coalesce(current_setting('foundation.agent_features', true), 'on') = 'off' THEN
        RAISE EXCEPTION 'agent features are disabled'
            USING ERRCODE = 'FN002', HINT = 'Set foundation.agent_features to on.';
    END IF;
    IF filter IS NULL OR jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION 'a subscription filter must be a JSON object'
            USING ERRCODE = 'FN003',
                  DETAIL = format('Got %s.', coalesce(jsonb_typeof(filter), 'NULL')),
                  HINT = format('Give an object with the keys %s, or ''{}'' for every event.', array_to_string(keys, ', '));
    END IF;
    FOR k, v IN SELECT * FROM jsonb_each(filter) LOOP
        IF NOT k = ANY (keys) THEN
            RAISE EXCEPTION 'unknown subscription filter key "%"', k
                USING ERRCODE = 'FN003',
                      HINT = format('The keys are %s.', array_to_string(keys, ', '));
        ELSIF k = 'types' AND (jsonb_typeof(v) <> 'array' OR jsonb_array_length(v) = 0
              OR EXISTS (SELECT 1 FROM jsonb_array_elements(v) t
                         WHERE jsonb_typeof(t) <> 'string' OR octet_length(t #>> '{}') NOT BETWEEN 1 AND 200)) THEN
            RAISE EXCEPTION 'filter key "types" must be a non-empty array of event types'
                USING ERRCODE = 'FN003', DETAIL = format('Got %s.', v);
        ELSIF k <> 'types' AND (jsonb_typeof(v) <> 'string' OR octet_length(v #>> '{}') NOT BETWEEN 1 AND 200) THEN
            RAISE EXCEPTION 'filter key "%" must be a string of 1 to 200 bytes', k
                USING ERRCODE = 'FN003', DETAIL = format('Got %s.', v);
        END IF;
    END LOOP;
    RETURN filter;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_filter(jsonb, text[]) IS
'Internal: FN002 when foundation.agent_features is off; the filter if it is an object of the given keys, FN003 otherwise';
REVOKE ALL ON FUNCTION @extschema@.fnd_subscription_filter(jsonb, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_subscription_horizon()
RETURNS bigint
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_subscription_horizon';
COMMENT ON FUNCTION @extschema@.fnd_subscription_horizon() IS
'Internal: every event id below this belongs to a transaction that has ended (NULL while a writer is drawing an id); 25006 on a standby';
REVOKE ALL ON FUNCTION @extschema@.fnd_subscription_horizon() FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_subscription_channels_on()
RETURNS void
LANGUAGE C VOLATILE PARALLEL UNSAFE
AS 'MODULE_PATHNAME', 'fnd_subscription_channels_on';
COMMENT ON FUNCTION @extschema@.fnd_subscription_channels_on() IS
'Internal: agent channels exist, writers announce their events at commit';
REVOKE ALL ON FUNCTION @extschema@.fnd_subscription_channels_on() FROM PUBLIC;

-- The subscription name's row, for its owning role (or a member, or a
-- superuser): FN003 bad name, FN404 unknown, FN104 another role's.
CREATE FUNCTION @extschema@.fnd_subscription_get(name text, lock boolean)
RETURNS @extschema@.fnd_event_subscriptions
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller name := @extschema@.fnd_agent_config_caller();
    s @extschema@.fnd_event_subscriptions;
BEGIN
    PERFORM @extschema@.fnd_subscription_filter('{}', '{}');
    IF name IS NULL OR octet_length(name) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'a subscription name must have 1 to 200 bytes'
            USING ERRCODE = 'FN003',
                  DETAIL = format('Got %s.', coalesce(octet_length(name) || ' bytes', 'NULL'));
    END IF;
    IF lock THEN
        SELECT * INTO s FROM @extschema@.fnd_event_subscriptions t
        WHERE t.name = fnd_subscription_get.name FOR UPDATE;
    ELSE
        SELECT * INTO s FROM @extschema@.fnd_event_subscriptions t
        WHERE t.name = fnd_subscription_get.name;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" does not exist', name
            USING ERRCODE = 'FN404',
                  HINT = 'Create it with fnd_subscription_create; SELECT name FROM fnd_subscriptions lists them.';
    END IF;
    IF caller <> s.created_by AND NOT (
           EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = s.created_by)
           AND pg_has_role(caller, s.created_by, 'MEMBER')) THEN
        RAISE EXCEPTION 'subscription "%" belongs to role "%"', name, s.created_by
            USING ERRCODE = 'FN104',
                  HINT = 'Act as its role (SET ROLE), or create a subscription of your own.';
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_get(text, boolean) IS
'Internal: the subscription''s row for its owning role; FN003, FN404, FN104, FN002';
REVOKE ALL ON FUNCTION @extschema@.fnd_subscription_get(text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_subscription_create(name text, filter jsonb DEFAULT '{}',
    start text DEFAULT 'now')
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h bigint := @extschema@.fnd_subscription_horizon();  -- FN001 without the preload
BEGIN
    PERFORM @extschema@.fnd_subscription_filter(filter, '{types,agent_id,correlation_id}');
    IF name IS NULL OR octet_length(name) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'a subscription name must have 1 to 200 bytes'
            USING ERRCODE = 'FN003',
                  DETAIL = format('Got %s.', coalesce(octet_length(name) || ' bytes', 'NULL'));
    END IF;
    IF start IS NULL OR start NOT IN ('now', 'beginning') THEN
        RAISE EXCEPTION 'start must be ''now'' or ''beginning'''
            USING ERRCODE = 'FN003', DETAIL = format('Got %L.', start);
    END IF;
    IF start = 'now' THEN
        -- after every event whose transaction has ended; a writer drawing
        -- an id this instant ends its wait in microseconds
        WHILE h IS NULL LOOP
            h := @extschema@.fnd_subscription_horizon();
        END LOOP;
    ELSE
        h := 1;
    END IF;
    INSERT INTO @extschema@.fnd_event_subscriptions (name, filter, checkpoint, created_by)
    VALUES (name, filter, h - 1, @extschema@.fnd_agent_config_caller())
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'subscription "%" already exists', name
            USING ERRCODE = 'FN405',
                  HINT = 'Choose another name, or drop it first with fnd_subscription_drop.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_create(text, jsonb, text) IS
'Create a durable subscription owned by the caller''s role: filter keys types (array), agent_id, correlation_id; start ''now'' (events stored from here) or ''beginning''. FN405 if the name exists, FN003 bad name, filter or start, FN002 agent features off';

CREATE FUNCTION @extschema@.fnd_subscription_read(name text, max_rows int DEFAULT 100)
RETURNS SETOF @extschema@.fnd_events
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
ROWS 100
AS $$
DECLARE
    -- first: FN001 without the preload, 25006 on a standby
    h bigint := @extschema@.fnd_subscription_horizon();
    s @extschema@.fnd_event_subscriptions;
    v_types text[];
    v_agent text;
    v_corr text;
BEGIN
    s := @extschema@.fnd_subscription_get(name, false);
    IF max_rows IS NULL OR max_rows NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'max_rows must be between 1 and 10000'
            USING ERRCODE = 'FN003', DETAIL = format('Got %s.', coalesce(max_rows::text, 'NULL'));
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'fnd_subscription_read needs a READ COMMITTED transaction'
            USING ERRCODE = '0A000',
                  DETAIL = 'It reads the events with a snapshot taken after it has computed which ids are final; a transaction''s older snapshot could miss one.',
                  HINT = 'Read subscriptions at READ COMMITTED (the default).';
    END IF;
    IF h IS NULL OR h <= s.checkpoint + 1 THEN
        RETURN;
    END IF;
    IF s.filter ? 'types' THEN
        v_types := ARRAY(SELECT jsonb_array_elements_text(s.filter -> 'types'));
    END IF;
    v_agent := s.filter ->> 'agent_id';
    v_corr := s.filter ->> 'correlation_id';
    -- a new statement, so a snapshot taken after the horizon (READ COMMITTED)
    RETURN QUERY
    SELECT (l.e).* FROM (
        SELECT @extschema@.fnd_subscription_lazy(ev) AS e
        FROM @extschema@.fnd_events ev
        WHERE ev.id > s.checkpoint AND ev.id < h
          AND (v_types IS NULL OR ev.type = ANY (v_types))
        ORDER BY ev.id OFFSET 0) l
    WHERE (v_agent IS NULL OR (l.e).agent_context ->> 'agent_id' = v_agent)
      AND (v_corr IS NULL OR (l.e).correlation_id = v_corr)
    LIMIT max_rows;
    IF NOT FOUND AND current_setting('transaction_read_only') = 'off' THEN
        -- nothing below the horizon matches: later reads start from there
        UPDATE @extschema@.fnd_event_subscriptions t SET checkpoint = h - 1
        WHERE t.name = s.name AND t.checkpoint < h - 1;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_read(text, int) IS
'The subscription''s matching events after its checkpoint, in id order, at most max_rows (1 to 10000), never past an event whose transaction is still open; read again until acknowledged. FN404 unknown, FN104 another role''s, FN003 bad arguments, FN002 agent features off, 25006 on a standby, 0A000 above READ COMMITTED';

CREATE FUNCTION @extschema@.fnd_subscription_ack(name text, up_to_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    h bigint := @extschema@.fnd_subscription_horizon();  -- FN001, 25006 first
    s @extschema@.fnd_event_subscriptions;
BEGIN
    s := @extschema@.fnd_subscription_get(name, true);
    IF up_to_id IS NULL THEN
        RAISE EXCEPTION 'up_to_id must not be NULL'
            USING ERRCODE = 'FN003', HINT = 'Give the id of the last event you processed.';
    END IF;
    IF up_to_id <= s.checkpoint THEN
        RETURN;                 -- already acknowledged: at-least-once re-acks
    END IF;
    IF h IS NOT NULL AND up_to_id >= h THEN
        RAISE EXCEPTION 'event % has not been delivered yet', up_to_id
            USING ERRCODE = 'FN003',
                  DETAIL = format('Events from id %s on may still be coming.', h),
                  HINT = 'Acknowledge the id of the last event fnd_subscription_read returned.';
    END IF;
    UPDATE @extschema@.fnd_event_subscriptions t SET checkpoint = up_to_id
    WHERE t.name = s.name;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_ack(text, bigint) IS
'Move the subscription''s checkpoint to up_to_id (an id fnd_subscription_read returned), durably; lower ids are a no-op. FN404, FN104, FN003 (NULL or not delivered yet), FN002';

CREATE FUNCTION @extschema@.fnd_subscription_drop(name text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    s @extschema@.fnd_event_subscriptions;
BEGIN
    s := @extschema@.fnd_subscription_get(name, true);
    DELETE FROM @extschema@.fnd_event_subscriptions t WHERE t.name = s.name;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscription_drop(text) IS
'Remove a subscription of the caller''s role. FN404, FN104, FN003, FN002';

CREATE VIEW @extschema@.fnd_subscriptions AS
SELECT s.name, s.filter, s.checkpoint,
       (SELECT count(*) FROM @extschema@.fnd_events ev,
               LATERAL @extschema@.fnd_subscription_lazy(ev) l
        WHERE ev.id > s.checkpoint
          AND @extschema@.fnd_subscription_match(s.filter, l.type,
                  l.agent_context ->> 'agent_id', l.correlation_id)) AS lag_events,
       s.created_by, s.created_at
FROM @extschema@.fnd_event_subscriptions s;
COMMENT ON VIEW @extschema@.fnd_subscriptions IS
'Every durable subscription: its filter, checkpoint, matching events past the checkpoint, owning role and creation time';
GRANT SELECT ON @extschema@.fnd_subscriptions TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_subscribe_to_agent_events(agent_id text, filter jsonb DEFAULT '{}')
RETURNS text
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ch text;
BEGIN
    PERFORM @extschema@.fnd_subscription_horizon();  -- FN001 without the preload
    PERFORM @extschema@.fnd_subscription_filter(filter, '{types,correlation_id}');
    IF agent_id IS NULL OR octet_length(agent_id) NOT BETWEEN 1 AND 200 THEN
        RAISE EXCEPTION 'an agent id must have 1 to 200 bytes'
            USING ERRCODE = 'FN003',
                  DETAIL = format('Got %s.', coalesce(octet_length(agent_id) || ' bytes', 'NULL'));
    END IF;
    ch := 'fnd_agent_' || left(md5(agent_id || ' ' || filter::text), 24);
    INSERT INTO @extschema@.fnd_event_channels (channel, agent_id, filter, created_by)
    VALUES (ch, agent_id, filter, @extschema@.fnd_agent_config_caller())
    ON CONFLICT DO NOTHING;
    PERFORM @extschema@.fnd_subscription_channels_on();
    RETURN ch;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_subscribe_to_agent_events(text, jsonb) IS
'The channel to LISTEN on for agent_id''s events matching filter (keys types, correlation_id): each committed one is announced with {"id", "type", "agent_id", "correlation_id"}; call it on each connection before LISTEN. A wake-up only: read a durable subscription for the events. FN003, FN002';

CREATE FUNCTION @extschema@.fnd_unsubscribe_from_agent_events(channel text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    caller name := @extschema@.fnd_agent_config_caller();
    c @extschema@.fnd_event_channels;
BEGIN
    PERFORM @extschema@.fnd_subscription_filter('{}', '{}');
    SELECT * INTO c FROM @extschema@.fnd_event_channels t
    WHERE t.channel = fnd_unsubscribe_from_agent_events.channel FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF caller <> c.created_by AND NOT (
           EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolname = c.created_by)
           AND pg_has_role(caller, c.created_by, 'MEMBER')) THEN
        RAISE EXCEPTION 'channel "%" belongs to role "%"', channel, c.created_by
            USING ERRCODE = 'FN104';
    END IF;
    DELETE FROM @extschema@.fnd_event_channels t WHERE t.channel = c.channel;
    RETURN true;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_unsubscribe_from_agent_events(text) IS
'Stop announcing events on a channel made by fnd_subscribe_to_agent_events; false if it does not exist. FN104 another role''s, FN002';


-- ==== telemetry and alerts ====
