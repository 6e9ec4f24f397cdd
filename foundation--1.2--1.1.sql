-- foundation 1.2 -> 1.1: removes the 1.2 functions and views; the 1.0 and
-- 1.1 functions are untouched.
--
-- keeps: fnd_events_1_2_columns, fnd_event_subscriptions, fnd_event_channels, fnd_metric_history, fnd_alert_rules, fnd_alert_state, fnd_alert_history
--   fnd_events_1_2_columns (id, agent_context, correlation_id, metadata)
--   holds the 1.2 values of the events whose values conversion would not
--   give back, before the columns go; the next step up puts them back and
--   drops it.  The subscription, metric-history and alert tables stay, with
--   their rows and identity sequences, outside the extension; the next step
--   up takes them back.
-- changes: fnd_events, fnd_migration_state, fnd_events_1_2_columns
--
-- Three parts in the reverse order of the step up, each after its marker
-- line: telemetry and alerts, subscriptions, the event store.
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.1'" to load this file. \quit

-- ==== telemetry and alerts ====

-- ---------------------------------------------------------------------------
-- 1.2 -> 1.1: agent metrics, metric history and alerts
--
-- keeps (part): fnd_metric_history, fnd_alert_rules, fnd_alert_state,
--   fnd_alert_history, with their rows and identity sequences, outside the
--   extension; the next step up takes them back.  The supervisor's passes
--   leave a detached table alone.
-- ---------------------------------------------------------------------------

DROP FUNCTION @extschema@.fnd_alert_history(text, int);
DROP VIEW @extschema@.fnd_alerts;
DROP FUNCTION @extschema@.fnd_alerts_evaluate();
DROP FUNCTION @extschema@.fnd_alert_transition(@extschema@.fnd_alert_rules, text, text, text, text, double precision);
DROP FUNCTION @extschema@.fnd_alerts_changes();
DROP FUNCTION @extschema@.fnd_alerts_candidates(bigint[], text[]);
DROP FUNCTION @extschema@.fnd_alerts_store_event(text, jsonb);
DROP FUNCTION @extschema@.fnd_drop_alert(text);
DROP FUNCTION @extschema@.fnd_create_agent_alert(jsonb);
DROP FUNCTION @extschema@.fnd_alert_spec_interval(jsonb, text, boolean);
DROP FUNCTION @extschema@.fnd_alert_spec_text(jsonb, text, boolean, text[]);
DROP FUNCTION @extschema@.fnd_alert_spec_error(text, text);
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_alert_history;
ALTER EXTENSION foundation DROP SEQUENCE @extschema@.fnd_alert_history_id_seq;
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_alert_state;
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_alert_rules;
ALTER EXTENSION foundation DROP SEQUENCE @extschema@.fnd_alert_rules_id_seq;

DROP FUNCTION @extschema@.fnd_metric_rate(text, jsonb, interval);
DROP FUNCTION @extschema@.fnd_metric_rates(text, jsonb, interval);
DROP FUNCTION @extschema@.fnd_metric_history(text, jsonb, timestamptz, timestamptz);
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_metric_history;

DROP FUNCTION @extschema@.fnd_metric_aggregate(text, jsonb);
DROP VIEW @extschema@.fnd_agent_metrics;
DROP FUNCTION @extschema@.fnd_get_agent_metrics(text);
DROP FUNCTION @extschema@.fnd_record_agent_metric(text, text, double precision, text, jsonb);
DROP FUNCTION @extschema@.fnd_telemetry_require_1_2();

-- ==== subscriptions ====

-- ---------------------------------------------------------------------------
-- 1.2 -> 1.1: durable subscriptions
--
-- keeps (part): fnd_event_subscriptions, fnd_event_channels
--   Both stay, with their rows, outside the extension; the next step up
--   takes them back.
-- ---------------------------------------------------------------------------

ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_event_subscriptions;
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_event_channels;

DROP FUNCTION @extschema@.fnd_unsubscribe_from_agent_events(text);
DROP FUNCTION @extschema@.fnd_subscribe_to_agent_events(text, jsonb);
DROP VIEW @extschema@.fnd_subscriptions;
DROP FUNCTION @extschema@.fnd_subscription_drop(text);
DROP FUNCTION @extschema@.fnd_subscription_ack(text, bigint);
DROP FUNCTION @extschema@.fnd_subscription_read(text, int);
DROP FUNCTION @extschema@.fnd_subscription_create(text, jsonb, text);
DROP FUNCTION @extschema@.fnd_subscription_get(text, boolean);
DROP FUNCTION @extschema@.fnd_subscription_channels_on();
DROP FUNCTION @extschema@.fnd_subscription_horizon();
DROP FUNCTION @extschema@.fnd_subscription_filter(jsonb, text[]);
DROP FUNCTION @extschema@.fnd_subscription_match(jsonb, text, text, text);


-- ==== event store ====
-- The 1.2 functions and views go, the 1.0 readers and fnd_store_events get
-- their 1.0 definitions back, and the three columns are dropped after the
-- values a conversion could not give back are kept in
-- fnd_events_1_2_columns (detached, keyed by event id): rows whose
-- agent_context, correlation_id or metadata differ from what converting
-- their data gives.  The other rows read the same after the next step up
-- (converted again by the step or the migration service).
DROP FUNCTION @extschema@.fnd_get_agent_event_stats(text);
DROP FUNCTION @extschema@.fnd_get_correlated_events(text, int);
DROP FUNCTION @extschema@.fnd_query_by_agent(text, text, timestamptz, timestamptz, bigint, int);
DROP FUNCTION @extschema@.fnd_store_event(text, jsonb, jsonb, text, jsonb);
DROP FUNCTION @extschema@.fnd_migration_resume(text);
DROP FUNCTION @extschema@.fnd_migration_set_paused(text, boolean);
DROP FUNCTION @extschema@.fnd_migration_pause(text);
DROP VIEW @extschema@.fnd_migrations;
-- detached first: that also removes its dump mark
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_migration_state;
DROP TABLE @extschema@.fnd_migration_state;

CREATE OR REPLACE FUNCTION @extschema@.fnd_store_events(events jsonb)
RETURNS SETOF bigint
LANGUAGE C VOLATILE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_store_events';
COMMENT ON FUNCTION @extschema@.fnd_store_events(jsonb) IS
'Append a JSON array of {"type": ..., "data": {...}} events, all or nothing, and return their ids in array order; FN401 names the first bad element (also a reserved type)';

CREATE TABLE @extschema@.fnd_events_1_2_columns (
    id bigint PRIMARY KEY,
    agent_context jsonb,
    correlation_id text,
    metadata jsonb
);
COMMENT ON TABLE @extschema@.fnd_events_1_2_columns IS
'Kept by the downgrade from 1.2: the 1.2 columns of the events whose values conversion would not give back; the next step up to 1.2 puts them back and drops this table';
INSERT INTO @extschema@.fnd_events_1_2_columns
SELECT e.id, e.agent_context, e.correlation_id, e.metadata
FROM @extschema@.fnd_events e
WHERE e.metadata IS NOT NULL
  AND (e.metadata OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb
       OR e.agent_context IS DISTINCT FROM (@extschema@.fnd_event_lazy(ROW(e.id, e.type, e.data, e."timestamp", NULL, NULL, NULL)::@extschema@.fnd_events)).agent_context
       OR e.correlation_id IS DISTINCT FROM (@extschema@.fnd_event_lazy(ROW(e.id, e.type, e.data, e."timestamp", NULL, NULL, NULL)::@extschema@.fnd_events)).correlation_id);
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_events_1_2_columns;

CREATE OR REPLACE FUNCTION @extschema@.fnd_get_event(id bigint)
RETURNS @extschema@.fnd_events
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT e.* FROM @extschema@.fnd_events e WHERE e.id OPERATOR(pg_catalog.=) fnd_get_event.id $$;

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

DROP FUNCTION @extschema@.fnd_event_lazy(@extschema@.fnd_events);
-- the indexes on these columns go with them
ALTER TABLE @extschema@.fnd_events
    DROP COLUMN metadata,
    DROP COLUMN correlation_id,
    DROP COLUMN agent_context;

-- shared by the three parts, dropped last
DROP FUNCTION @extschema@.fnd_require_agent_features();
