-- foundation 1.2 -> 1.1: removes the 1.2 functions and views; the 1.0 and
-- 1.1 functions are untouched.
--
-- keeps: none
--
-- Three parts in the reverse order of the step up, each after its marker
-- line: telemetry and alerts, subscriptions, the event store.
-- changes: fnd_events
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.1'" to load this file. \quit

-- ==== telemetry and alerts ====

-- ==== subscriptions ====

-- ==== event store ====

ALTER TABLE @extschema@.fnd_events
    DROP COLUMN metadata,
    DROP COLUMN correlation_id,
    DROP COLUMN agent_context;
