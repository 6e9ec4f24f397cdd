-- foundation 1.1 -> 1.2: the event store's new columns, agent and
-- correlation queries, online migration of old events and gap-free durable
-- subscriptions (docs/events.md); agent metrics, metric history and alerts
-- (docs/telemetry.md).
--
-- changes: fnd_events, fnd_event_subscriptions, fnd_event_channels
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
