-- foundation 1.1 -> 1.2: the event store's new columns, agent and
-- correlation queries, online migration of old events and gap-free durable
-- subscriptions (docs/events.md); agent metrics, metric history and alerts
-- (docs/telemetry.md).
--
-- changes: fnd_events, fnd_migration_state, fnd_events_1_2_columns, fnd_event_subscriptions, fnd_event_channels, fnd_metric_history, fnd_alert_rules, fnd_alert_state, fnd_alert_history
--   fnd_events gains agent_context, correlation_id and metadata, added
--   without a default and then given one, so the table is not rewritten and
--   rows written before 1.2 keep metadata NULL (read converted, migrated in
--   batches by the supervisor).  fnd_migration_state is created; the values
--   a downgrade kept in fnd_events_1_2_columns go back in place and that
--   table is dropped.  The subscription, metric-history and alert tables
--   are created, or each is taken back with its rows (and identity
--   sequence) when the downgrade to 1.1 left it behind.
--
-- Three parts, each after its marker line: the event store, subscriptions,
-- telemetry and alerts.  One owner (the lead) keeps the script's header and
-- order; each part's author edits only inside their part.
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.2'" to load this file. \quit

-- Shared by the three parts: FN002 when foundation.agent_features is off,
-- for the 1.2 functions written in SQL (no shared memory needed).
CREATE FUNCTION @extschema@.fnd_require_agent_features()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'fnd_require_agent_features';
COMMENT ON FUNCTION @extschema@.fnd_require_agent_features() IS
'Internal: FN002 when foundation.agent_features is off (the 1.2 functions written in SQL start with it)';

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
            ON @extschema@.fnd_events (correlation_id, id)
            WHERE correlation_id IS NOT NULL;
        CREATE INDEX fnd_events_agent_idx
            ON @extschema@.fnd_events ((agent_context OPERATOR(pg_catalog.->>) 'agent_id'), id)
            WHERE (agent_context OPERATOR(pg_catalog.->>) 'agent_id') IS NOT NULL;
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

CREATE FUNCTION @extschema@.fnd_migration_set_paused(name text, paused boolean)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.fnd_require_agent_features();
    UPDATE @extschema@.fnd_migration_state m SET paused = fnd_migration_set_paused.paused
    WHERE m.name = fnd_migration_set_paused.name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no migration named %', coalesce(quote_literal(fnd_migration_set_paused.name), 'NULL')
            USING ERRCODE = 'FN003', HINT = 'SELECT name FROM fnd_migrations lists them.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_migration_set_paused(text, boolean) IS
'Internal: the body of fnd_migration_pause and fnd_migration_resume';
REVOKE ALL ON FUNCTION @extschema@.fnd_migration_set_paused(text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_migration_pause(name text)
RETURNS void
LANGUAGE sql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.fnd_migration_set_paused(name, true) $$;
COMMENT ON FUNCTION @extschema@.fnd_migration_pause(text) IS
'Admin: stop the migration after its current batch (it keeps its progress); FN003 unknown name';
REVOKE ALL ON FUNCTION @extschema@.fnd_migration_pause(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_migration_resume(name text)
RETURNS void
LANGUAGE sql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ SELECT @extschema@.fnd_migration_set_paused(name, false) $$;
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
    PERFORM @extschema@.fnd_require_agent_features();
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
    PERFORM @extschema@.fnd_require_agent_features();
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
    PERFORM @extschema@.fnd_require_agent_features();
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
    PERFORM @extschema@.fnd_require_agent_features();
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
        SELECT @extschema@.fnd_event_lazy(ev) AS e
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
               LATERAL @extschema@.fnd_event_lazy(ev) l
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

-- ---------------------------------------------------------------------------
-- 1.2 agent metrics, metric history and alerts (docs/telemetry.md;
-- src/telemetry_agent.c, src/metric_history.c, src/alerts.c)
--
-- Agent metrics are series tagged with agent_id in the 1.0 metric table.
-- fnd_metric_history (snapshots), fnd_alert_rules, fnd_alert_state (each
-- instance's state) and fnd_alert_history (its transitions) are user data:
-- dump-marked, kept (detached) by the downgrade, and taken back here with
-- their rows.
-- ---------------------------------------------------------------------------

CREATE FUNCTION @extschema@.fnd_telemetry_require_1_2()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'fnd_telemetry_require_1_2';
COMMENT ON FUNCTION @extschema@.fnd_telemetry_require_1_2() IS
'Internal: FN002 when foundation.agent_features is off (the 1.2 telemetry functions written in SQL start with it)';

CREATE FUNCTION @extschema@.fnd_record_agent_metric(agent_id text, name text,
    value double precision, kind text DEFAULT 'gauge', tags jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_record_agent_metric';
COMMENT ON FUNCTION @extschema@.fnd_record_agent_metric(text, text, double precision, text, jsonb) IS
'Record value on the series name{tags, agent_id}: kind counter adds, gauge sets, histogram observes. The agent need not be registered. FN501 for another kind, FN003 for a missing agent id; otherwise never fails: drops are counted in foundation.telemetry.dropped.';

CREATE FUNCTION @extschema@.fnd_get_agent_metrics(agent_id text)
RETURNS SETOF @extschema@.fnd_metrics
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    RETURN QUERY
        SELECT m.* FROM @extschema@.fnd_metrics m
        WHERE m.tags OPERATOR(pg_catalog.->>) 'agent_id' = fnd_get_agent_metrics.agent_id
        ORDER BY m.name, m.tags;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_get_agent_metrics(text) IS
'The metric series of one agent (tag agent_id), in the row shape of fnd_metrics';

CREATE VIEW @extschema@.fnd_agent_metrics AS
    SELECT m.tags OPERATOR(pg_catalog.->>) 'agent_id' AS agent_id, m.name,
           m.tags OPERATOR(pg_catalog.-) 'agent_id'::text AS tags, m.kind,
           m.count, m.sum, m.min, m.max, m.last, m.mean,
           m.p50, m.p90, m.p95, m.p99, m.updated_at
    FROM @extschema@.fnd_metrics_list() m
    WHERE m.tags OPERATOR(pg_catalog.?) 'agent_id';
COMMENT ON VIEW @extschema@.fnd_agent_metrics IS
'Metric series of agents (those with an agent_id tag), agent_id as its own column and the other tags in tags';
GRANT SELECT ON @extschema@.fnd_agent_metrics TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_metric_aggregate(name text, tags jsonb DEFAULT '{}')
RETURNS TABLE(series int, count bigint, sum double precision,
    min double precision, max double precision, mean double precision,
    p50 double precision, p90 double precision, p95 double precision,
    p99 double precision)
LANGUAGE C VOLATILE CALLED ON NULL INPUT ROWS 1
AS 'MODULE_PATHNAME', 'fnd_metric_aggregate';
COMMENT ON FUNCTION @extschema@.fnd_metric_aggregate(text, jsonb) IS
'One row across the series of name whose tags contain tags (e.g. every agent): histograms by their observations, quantiles from the merged sketches (within 1%); counters and gauges by their current values. FN003 when the series have different kinds.';

-- The history: one row per series per snapshot, written by the supervisor.
DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_metric_history') IS NULL THEN
        CREATE TABLE @extschema@.fnd_metric_history (
            ts timestamptz NOT NULL,
            name text COLLATE "C" NOT NULL,
            tags jsonb NOT NULL DEFAULT '{}',
            kind text NOT NULL
                CONSTRAINT fnd_metric_history_kind_check
                CHECK (kind IN ('counter', 'gauge', 'histogram')),
            count bigint NOT NULL,
            sum double precision,
            min double precision,
            max double precision,
            last double precision,
            p50 double precision,
            p90 double precision,
            p95 double precision,
            p99 double precision,
            CONSTRAINT fnd_metric_history_pkey PRIMARY KEY (name, tags, ts)
        );
        CREATE INDEX fnd_metric_history_ts ON @extschema@.fnd_metric_history (ts);
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_metric_history;
    END IF;
END $$;
COMMENT ON TABLE @extschema@.fnd_metric_history IS
'Every metric series of this database, snapshotted by the supervisor every foundation.metric_history_interval (the columns of fnd_metrics at time ts); pruned after foundation.metric_history_retention';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_metric_history', '');
REVOKE ALL ON @extschema@.fnd_metric_history FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_metric_history TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_metric_history(name text, tags jsonb DEFAULT '{}',
    since timestamptz DEFAULT now() - interval '1 hour',
    "until" timestamptz DEFAULT now())
RETURNS SETOF @extschema@.fnd_metric_history
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    RETURN QUERY
        SELECT h.* FROM @extschema@.fnd_metric_history h
        WHERE h.name = fnd_metric_history.name
          AND h.tags @> coalesce(fnd_metric_history.tags, '{}')
          AND h.ts >= coalesce(since, '-infinity')
          AND h.ts <= coalesce("until", 'infinity')
        ORDER BY h.ts, h.tags;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_metric_history(text, jsonb, timestamptz, timestamptz) IS
'The history rows of the series of name whose tags contain tags, between since and until, oldest first';

-- Per series: the counter's increase over the window per second, from the
-- history rows in the window and the live value now; a value below the
-- previous one is a reset (the counter started again from 0).
CREATE FUNCTION @extschema@.fnd_metric_rates(name text, tags jsonb, over interval)
RETURNS TABLE(tags jsonb, rate double precision)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s AS (
        SELECT h.tags, h.ts, h.last AS v FROM @extschema@.fnd_metric_history h
        WHERE h.name = $1 AND h.tags @> $2 AND h.kind = 'counter'
          AND h.ts >= now() - $3 AND h.ts < now()
        UNION ALL
        SELECT m.tags, now(), m.last FROM @extschema@.fnd_metrics_list() m
        WHERE m.name = $1 AND m.tags @> $2 AND m.kind = 'counter'
    ), d AS (
        SELECT s.tags, s.ts, s.v, lag(s.v) OVER w AS pv FROM s
        WINDOW w AS (PARTITION BY s.tags ORDER BY s.ts)
    )
    SELECT d.tags,
           sum(CASE WHEN d.pv IS NULL THEN 0 WHEN d.v >= d.pv THEN d.v - d.pv ELSE d.v END)
           / extract(epoch FROM max(d.ts) - min(d.ts))::double precision
    FROM d GROUP BY d.tags HAVING max(d.ts) > min(d.ts)
$$;
COMMENT ON FUNCTION @extschema@.fnd_metric_rates(text, jsonb, interval) IS
'Internal: per counter series of name whose tags contain tags, its increase per second over the window (history and live value; resets handled)';

CREATE FUNCTION @extschema@.fnd_metric_rate(name text, tags jsonb DEFAULT '{}',
    over interval DEFAULT '5 min')
RETURNS double precision
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r double precision;
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    IF over IS NULL OR over <= interval '0' THEN
        RAISE EXCEPTION 'over must be a positive interval'
            USING ERRCODE = 'FN003';
    END IF;
    SELECT sum(x.rate) INTO r
    FROM @extschema@.fnd_metric_rates(name, coalesce(tags, '{}'), over) x;
    RETURN r;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_metric_rate(text, jsonb, interval) IS
'Per-second increase of the counter series of name whose tags contain tags, summed, over the window (history rows and the live value; counter resets handled); NULL without two samples of a series';

-- Alert rules, one row per rule (fnd_create_agent_alert checks the spec).
DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_alert_rules') IS NULL THEN
        CREATE TABLE @extschema@.fnd_alert_rules (
            id bigint GENERATED ALWAYS AS IDENTITY
                CONSTRAINT fnd_alert_rules_pkey PRIMARY KEY,
            name text COLLATE "C" NOT NULL
                CONSTRAINT fnd_alert_rules_name_key UNIQUE,
            metric text COLLATE "C" NOT NULL,
            agent_id text COLLATE "C",
            tags jsonb NOT NULL DEFAULT '{}',
            field text NOT NULL
                CONSTRAINT fnd_alert_rules_field_check
                CHECK (field IN ('last', 'mean', 'count', 'sum', 'min', 'max',
                                 'p50', 'p90', 'p95', 'p99', 'rate')),
            condition text NOT NULL
                CONSTRAINT fnd_alert_rules_condition_check
                CHECK (condition IN ('gt', 'ge', 'lt', 'le', 'eq', 'ne')),
            threshold double precision NOT NULL,
            "for" interval NOT NULL DEFAULT '0',
            "window" interval NOT NULL DEFAULT '5 min',
            severity text NOT NULL DEFAULT 'warning'
                CONSTRAINT fnd_alert_rules_severity_check
                CHECK (severity IN ('info', 'warning', 'critical')),
            description text,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by name NOT NULL DEFAULT session_user
        );
        CREATE TABLE @extschema@.fnd_alert_state (
            rule_id bigint NOT NULL
                CONSTRAINT fnd_alert_state_rule_id_fkey
                REFERENCES @extschema@.fnd_alert_rules (id) ON DELETE CASCADE,
            instance text COLLATE "C" NOT NULL,
            agent_id text COLLATE "C",
            state text NOT NULL
                CONSTRAINT fnd_alert_state_state_check
                CHECK (state IN ('pending', 'firing', 'resolved')),
            value double precision,
            since timestamptz NOT NULL,
            CONSTRAINT fnd_alert_state_pkey PRIMARY KEY (rule_id, instance)
        );
        CREATE TABLE @extschema@.fnd_alert_history (
            id bigint GENERATED ALWAYS AS IDENTITY
                CONSTRAINT fnd_alert_history_pkey PRIMARY KEY,
            ts timestamptz NOT NULL DEFAULT now(),
            rule_id bigint NOT NULL,
            alert text COLLATE "C" NOT NULL,
            instance text COLLATE "C" NOT NULL,
            agent_id text COLLATE "C",
            from_state text NOT NULL,
            state text NOT NULL,
            value double precision,
            threshold double precision NOT NULL,
            severity text NOT NULL
        );
        CREATE INDEX fnd_alert_history_alert ON @extschema@.fnd_alert_history (alert, id);
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_alert_rules;
        ALTER EXTENSION foundation ADD SEQUENCE @extschema@.fnd_alert_rules_id_seq;
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_alert_state;
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_alert_history;
        ALTER EXTENSION foundation ADD SEQUENCE @extschema@.fnd_alert_history_id_seq;
    END IF;
END $$;
COMMENT ON TABLE @extschema@.fnd_alert_rules IS
'Alert rules: a condition on a field of a metric''s series (one instance per matching series), firing after it held for "for"; write through fnd_create_agent_alert and fnd_drop_alert';
COMMENT ON TABLE @extschema@.fnd_alert_state IS
'The state of each alert instance that is not inactive: pending, firing or resolved, since when, the value then';
COMMENT ON TABLE @extschema@.fnd_alert_history IS
'Every state change of an alert instance: from and to state, the value and the threshold';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_alert_rules', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_alert_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_alert_state', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_alert_history', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_alert_history_id_seq', '');
REVOKE ALL ON @extschema@.fnd_alert_rules FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_alert_rules TO PUBLIC;
REVOKE ALL ON @extschema@.fnd_alert_state FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_alert_state TO PUBLIC;
REVOKE ALL ON @extschema@.fnd_alert_history FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_alert_history TO PUBLIC;

-- FN003 naming the key of a bad spec.
CREATE FUNCTION @extschema@.fnd_alert_spec_error(key text, must text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- like every function of the extension: FN001 without the preload
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    RAISE EXCEPTION 'invalid alert spec: "%" %', key, must
        USING ERRCODE = 'FN003',
              HINT = 'Keys: name, metric, agent_id, tags, field, condition, threshold, for, window, severity, description.';
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_alert_spec_error(text, text) IS
'Internal: raises FN003 for a bad key of an alert spec';
REVOKE ALL ON FUNCTION @extschema@.fnd_alert_spec_error(text, text) FROM PUBLIC;

-- A string key of the spec (1 to 200 bytes), NULL when absent and optional.
CREATE FUNCTION @extschema@.fnd_alert_spec_text(spec jsonb, key text, required boolean,
    words text[] DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v jsonb := spec -> key;
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    IF v IS NULL OR v = 'null' THEN
        IF required THEN
            PERFORM @extschema@.fnd_alert_spec_error(key, 'is required');
        END IF;
        RETURN NULL;
    END IF;
    IF jsonb_typeof(v) <> 'string' OR octet_length(v #>> '{}') NOT BETWEEN 1 AND 200 THEN
        PERFORM @extschema@.fnd_alert_spec_error(key, 'must be a string of 1 to 200 bytes');
    END IF;
    IF words IS NOT NULL AND NOT (v #>> '{}') = ANY (words) THEN
        PERFORM @extschema@.fnd_alert_spec_error(key, 'must be one of ' || array_to_string(words, ', '));
    END IF;
    RETURN v #>> '{}';
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_alert_spec_text(jsonb, text, boolean, text[]) IS
'Internal: a string key of an alert spec, checked (FN003 naming the key)';
REVOKE ALL ON FUNCTION @extschema@.fnd_alert_spec_text(jsonb, text, boolean, text[]) FROM PUBLIC;

-- An interval key of the spec: a string such as '5 min' (NULL when absent).
CREATE FUNCTION @extschema@.fnd_alert_spec_interval(spec jsonb, key text, positive boolean)
RETURNS interval
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v text;
    i interval;
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    IF spec -> key IS NULL OR spec -> key = 'null' THEN
        RETURN NULL;
    END IF;
    IF jsonb_typeof(spec -> key) <> 'string' OR octet_length(spec ->> key) > 200 THEN
        PERFORM @extschema@.fnd_alert_spec_error(key, 'must be an interval such as ''30 s''');
    END IF;
    v := spec ->> key;
    BEGIN
        i := v::interval;
    EXCEPTION WHEN invalid_datetime_format OR datetime_field_overflow OR interval_field_overflow THEN
        PERFORM @extschema@.fnd_alert_spec_error(key, 'must be an interval such as ''30 s''');
    END;
    IF i < interval '0' OR (positive AND i = interval '0') THEN
        PERFORM @extschema@.fnd_alert_spec_error(key,
            CASE WHEN positive THEN 'must be a positive interval' ELSE 'must not be negative' END);
    END IF;
    RETURN i;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_alert_spec_interval(jsonb, text, boolean) IS
'Internal: an interval key of an alert spec, checked (FN003 naming the key)';
REVOKE ALL ON FUNCTION @extschema@.fnd_alert_spec_interval(jsonb, text, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_create_agent_alert(spec jsonb)
RETURNS bigint
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    k text;
    v jsonb;
    r @extschema@.fnd_alert_rules;
    new_id bigint;
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    IF spec IS NULL OR jsonb_typeof(spec) <> 'object' THEN
        RAISE EXCEPTION 'invalid alert spec: it must be a JSON object'
            USING ERRCODE = 'FN003';
    END IF;
    FOR k IN SELECT jsonb_object_keys(spec) LOOP
        IF NOT k = ANY ('{name,metric,agent_id,tags,field,condition,threshold,for,window,severity,description}'::text[]) THEN
            PERFORM @extschema@.fnd_alert_spec_error(k, 'is not a key of an alert spec');
        END IF;
    END LOOP;
    r.name := @extschema@.fnd_alert_spec_text(spec, 'name', true);
    r.metric := @extschema@.fnd_alert_spec_text(spec, 'metric', true);
    r.agent_id := @extschema@.fnd_alert_spec_text(spec, 'agent_id', false);
    v := spec -> 'tags';
    IF v IS NOT NULL AND v <> 'null' THEN
        IF jsonb_typeof(v) <> 'object' OR EXISTS (
                SELECT FROM jsonb_each(v) e WHERE jsonb_typeof(e.value) IN ('object', 'array')) THEN
            PERFORM @extschema@.fnd_alert_spec_error('tags', 'must be a flat JSON object of scalars');
        END IF;
        r.tags := v;
    END IF;
    r.field := coalesce(@extschema@.fnd_alert_spec_text(spec, 'field', false,
        '{last,mean,count,sum,min,max,p50,p90,p95,p99,rate}'), 'last');
    r.condition := @extschema@.fnd_alert_spec_text(spec, 'condition', true,
        '{gt,ge,lt,le,eq,ne}');
    v := spec -> 'threshold';
    IF v IS NULL OR jsonb_typeof(v) <> 'number' THEN
        PERFORM @extschema@.fnd_alert_spec_error('threshold', 'must be a number');
    END IF;
    BEGIN
        r.threshold := v::double precision;
    EXCEPTION WHEN numeric_value_out_of_range THEN
        PERFORM @extschema@.fnd_alert_spec_error('threshold', 'must be a number');
    END;
    r."for" := @extschema@.fnd_alert_spec_interval(spec, 'for', false);
    r."window" := @extschema@.fnd_alert_spec_interval(spec, 'window', true);
    r.severity := coalesce(@extschema@.fnd_alert_spec_text(spec, 'severity', false,
        '{info,warning,critical}'), 'warning');
    v := spec -> 'description';
    IF v IS NOT NULL AND v <> 'null' THEN
        IF jsonb_typeof(v) <> 'string' THEN
            PERFORM @extschema@.fnd_alert_spec_error('description', 'must be a string');
        END IF;
        r.description := v #>> '{}';
    END IF;

    INSERT INTO @extschema@.fnd_alert_rules (name, metric, agent_id, tags, field,
        condition, threshold, "for", "window", severity, description)
    VALUES (r.name, r.metric, r.agent_id, coalesce(r.tags, '{}'), r.field,
        r.condition, r.threshold, coalesce(r."for", '0'), coalesce(r."window", '5 min'),
        r.severity, r.description)
    ON CONFLICT ON CONSTRAINT fnd_alert_rules_name_key DO NOTHING
    RETURNING id INTO new_id;
    IF new_id IS NULL THEN
        PERFORM @extschema@.fnd_alert_spec_error('name', format('must be unique: alert %s exists', quote_literal(r.name)));
    END IF;
    RETURN new_id;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_create_agent_alert(jsonb) IS
'Create an alert rule from a spec (name, metric, agent_id, tags, field, condition, threshold, for, window, severity, description) and return its id (admin). FN003 naming the key of a bad spec.';
REVOKE ALL ON FUNCTION @extschema@.fnd_create_agent_alert(jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_drop_alert(name text)
RETURNS boolean
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    DELETE FROM @extschema@.fnd_alert_rules r WHERE r.name = fnd_drop_alert.name;
    RETURN FOUND;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_drop_alert(text) IS
'Drop an alert rule and the state of its instances (its history stays); false if there is none (admin)';
REVOKE ALL ON FUNCTION @extschema@.fnd_drop_alert(text) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_alerts_store_event(type text, data jsonb)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'fnd_alerts_store_event';
COMMENT ON FUNCTION @extschema@.fnd_alerts_store_event(text, jsonb) IS
'Internal: store an alert_fired or alert_resolved event through the event store''s C interface; NULL when this transaction cannot write events';
REVOKE ALL ON FUNCTION @extschema@.fnd_alerts_store_event(text, jsonb) FROM PUBLIC;

-- The instances whose state changes now.  fnd_alerts_candidates (C) reads
-- every rule against every series of its metric (one instance per series
-- whose tags contain the rule's, and whose agent_id is the rule's when it
-- names one) and returns only the instances whose condition holds, those
-- of rate rules, and the active ones; rates and the state machine are
-- done here.  Only changes come out, so a pass writes nothing when nothing
-- changes.
CREATE FUNCTION @extschema@.fnd_alerts_candidates(active_rules bigint[],
    active_instances text[])
RETURNS TABLE(rule_id bigint, instance text, agent_id text,
    value double precision, cond boolean, rate boolean)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'fnd_alerts_candidates';
COMMENT ON FUNCTION @extschema@.fnd_alerts_candidates(bigint[], text[]) IS
'Internal: the alert instances an evaluation looks at (condition true, rate rules, or active)';
REVOKE ALL ON FUNCTION @extschema@.fnd_alerts_candidates(bigint[], text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_alerts_changes()
RETURNS TABLE(rule_id bigint, instance text, agent_id text, from_state text,
    to_state text, value double precision, since timestamptz)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
-- compiling this plan would cost more than running it (the estimates of
-- the rate subplans are far above jit_above_cost)
SET jit = off
AS $$
    WITH s AS MATERIALIZED (
        SELECT * FROM @extschema@.fnd_alert_state
    ), c0 AS MATERIALIZED (
        SELECT * FROM @extschema@.fnd_alerts_candidates(
            ARRAY(SELECT s.rule_id FROM s WHERE s.state IN ('pending', 'firing') ORDER BY s.rule_id, s.instance),
            ARRAY(SELECT s.instance FROM s WHERE s.state IN ('pending', 'firing') ORDER BY s.rule_id, s.instance))
    ), c AS (
        SELECT c0.rule_id, c0.instance, c0.agent_id, x.value,
               CASE WHEN NOT c0.rate THEN c0.cond
                    ELSE coalesce(CASE r.condition
                        WHEN 'gt' THEN x.value > r.threshold
                        WHEN 'ge' THEN x.value >= r.threshold
                        WHEN 'lt' THEN x.value < r.threshold
                        WHEN 'le' THEN x.value <= r.threshold
                        WHEN 'eq' THEN x.value = r.threshold
                        WHEN 'ne' THEN x.value <> r.threshold END, false) END AS cond
        FROM c0 JOIN @extschema@.fnd_alert_rules r ON r.id = c0.rule_id,
        LATERAL (SELECT CASE WHEN NOT c0.rate THEN c0.value
                        ELSE (SELECT q.rate FROM @extschema@.fnd_metric_rates(r.metric, c0.instance::jsonb, r."window") q
                              WHERE q.tags = c0.instance::jsonb) END AS value) x
    ), j AS (
        SELECT coalesce(c.rule_id, s.rule_id) AS rule_id,
               coalesce(c.instance, s.instance) AS instance,
               coalesce(c.agent_id, s.agent_id) AS agent_id,
               s.state, s.since, c.value, coalesce(c.cond, false) AS cond
        FROM c FULL JOIN s ON s.rule_id = c.rule_id AND s.instance = c.instance
        WHERE c.cond OR s.state IN ('pending', 'firing')
    )
    SELECT j.rule_id, j.instance, j.agent_id,
           coalesce(j.state, 'inactive'),
           CASE WHEN NOT j.cond THEN CASE j.state WHEN 'firing' THEN 'resolved' ELSE 'inactive' END
                WHEN j.state = 'pending' THEN 'firing'
                ELSE 'pending' END,
           j.value, j.since
    FROM j JOIN @extschema@.fnd_alert_rules r ON r.id = j.rule_id
    WHERE NOT j.cond
       OR j.state IS NULL OR j.state = 'resolved'
       OR (j.state = 'pending' AND now() - j.since >= r."for")
    ORDER BY j.rule_id, j.instance
$$;
COMMENT ON FUNCTION @extschema@.fnd_alerts_changes() IS
'Internal: the alert instances whose state changes now (from_state, to_state, value)';
REVOKE ALL ON FUNCTION @extschema@.fnd_alerts_changes() FROM PUBLIC;

-- One transition: the state row, a history row, NOTIFY fnd_alerts, and the
-- alert_fired / alert_resolved event.
CREATE FUNCTION @extschema@.fnd_alert_transition(r @extschema@.fnd_alert_rules,
    instance text, agent_id text, from_state text, to_state text,
    value double precision)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    payload jsonb;
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    IF to_state = 'inactive' THEN
        DELETE FROM @extschema@.fnd_alert_state s
        WHERE s.rule_id = r.id AND s.instance = fnd_alert_transition.instance;
    ELSE
        INSERT INTO @extschema@.fnd_alert_state AS s (rule_id, instance, agent_id, state, value, since)
        VALUES (r.id, instance, agent_id, to_state, value, now())
        ON CONFLICT ON CONSTRAINT fnd_alert_state_pkey DO UPDATE
            SET state = excluded.state, value = excluded.value, since = excluded.since,
                agent_id = excluded.agent_id;
    END IF;
    INSERT INTO @extschema@.fnd_alert_history (rule_id, alert, instance, agent_id,
        from_state, state, value, threshold, severity)
    VALUES (r.id, r.name, instance, agent_id, from_state, to_state, value,
        r.threshold, r.severity);
    payload := jsonb_build_object('alert', r.name, 'instance', instance,
        'state', to_state, 'value', value, 'threshold', r.threshold,
        'severity', r.severity, 'agent_id', agent_id);
    PERFORM pg_notify('fnd_alerts', payload::text);
    IF to_state IN ('firing', 'resolved') THEN
        PERFORM @extschema@.fnd_alerts_store_event(
            CASE to_state WHEN 'firing' THEN 'alert_fired' ELSE 'alert_resolved' END,
            payload || jsonb_build_object('metric', r.metric, 'field', r.field,
                                          'condition', r.condition));
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_alert_transition(@extschema@.fnd_alert_rules, text, text, text, text, double precision) IS
'Internal: write one alert instance''s state change (state, history, NOTIFY fnd_alerts, event)';
REVOKE ALL ON FUNCTION @extschema@.fnd_alert_transition(@extschema@.fnd_alert_rules, text, text, text, text, double precision) FROM PUBLIC;

CREATE FUNCTION @extschema@.fnd_alerts_evaluate()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ch record;
    r @extschema@.fnd_alert_rules;
    n integer := 0;
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    -- one evaluation at a time: the supervisor's and an admin's
    PERFORM pg_advisory_xact_lock('@extschema@.fnd_alert_state'::regclass::oid::bigint);
    FOR ch IN SELECT * FROM @extschema@.fnd_alerts_changes() LOOP
        SELECT * INTO r FROM @extschema@.fnd_alert_rules WHERE id = ch.rule_id;
        PERFORM @extschema@.fnd_alert_transition(r, ch.instance, ch.agent_id,
            ch.from_state, ch.to_state, ch.value);
        n := n + 1;
        -- "for" 0: pending and firing in one pass
        IF ch.to_state = 'pending' AND r."for" = interval '0' THEN
            PERFORM @extschema@.fnd_alert_transition(r, ch.instance, ch.agent_id,
                'pending', 'firing', ch.value);
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_alerts_evaluate() IS
'Evaluate every alert rule now (as the supervisor does every foundation.alert_interval); returns the number of state changes (admin)';
REVOKE ALL ON FUNCTION @extschema@.fnd_alerts_evaluate() FROM PUBLIC;

CREATE VIEW @extschema@.fnd_alerts AS
    SELECT r.id, r.name, s.instance, coalesce(s.state, 'inactive') AS state,
           s.value, s.since, r.severity
    FROM @extschema@.fnd_alert_rules r
    LEFT JOIN @extschema@.fnd_alert_state s ON s.rule_id = r.id;
COMMENT ON VIEW @extschema@.fnd_alerts IS
'Every alert rule with its instances: state (pending, firing, resolved; inactive for a rule without any), the value when that state began, since when, severity';
GRANT SELECT ON @extschema@.fnd_alerts TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_alert_history(name text DEFAULT NULL, max_rows int DEFAULT 100)
RETURNS SETOF @extschema@.fnd_alert_history
LANGUAGE plpgsql STABLE CALLED ON NULL INPUT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM @extschema@.fnd_telemetry_require_1_2();
    IF max_rows IS NULL OR max_rows < 0 THEN
        RAISE EXCEPTION 'max_rows must not be negative'
            USING ERRCODE = 'FN003';
    END IF;
    RETURN QUERY
        SELECT h.* FROM @extschema@.fnd_alert_history h
        WHERE fnd_alert_history.name IS NULL OR h.alert = fnd_alert_history.name
        ORDER BY h.id DESC LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION @extschema@.fnd_alert_history(text, int) IS
'The latest state changes of alert instances (of one alert when name is given), newest first';
