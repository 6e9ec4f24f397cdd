-- foundation 1.1 -> 1.2: the event store's new columns, agent and
-- correlation queries, online migration of old events and gap-free durable
-- subscriptions (docs/events.md); agent metrics, metric history and alerts
-- (docs/telemetry.md).
--
-- changes: fnd_events, fnd_metric_history, fnd_alert_rules, fnd_alert_state, fnd_alert_history
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

ALTER TABLE @extschema@.fnd_events
    ADD COLUMN agent_context jsonb,
    ADD COLUMN correlation_id text,
    ADD COLUMN metadata jsonb;
ALTER TABLE @extschema@.fnd_events
    ALTER COLUMN metadata SET DEFAULT '{}';

-- ==== subscriptions ====

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
