-- foundation 1.1 -> 1.2: the event store's new columns, agent and
-- correlation queries, online migration of old events and gap-free durable
-- subscriptions (docs/events.md); agent metrics, metric history and alerts
-- (docs/telemetry.md).
--
-- changes: fnd_events
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
