-- foundation 1.2 -> 1.1: removes the 1.2 functions and views; the 1.0 and
-- 1.1 functions are untouched.
--
-- keeps: fnd_event_subscriptions, fnd_event_channels
--
-- Three parts in the reverse order of the step up, each after its marker
-- line: telemetry and alerts, subscriptions, the event store.
-- changes: fnd_events
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.1'" to load this file. \quit

-- ==== telemetry and alerts ====

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
DROP FUNCTION @extschema@.fnd_subscription_lazy(@extschema@.fnd_events);


-- ==== event store ====

ALTER TABLE @extschema@.fnd_events
    DROP COLUMN metadata,
    DROP COLUMN correlation_id,
    DROP COLUMN agent_context;
