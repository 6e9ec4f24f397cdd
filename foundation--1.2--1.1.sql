-- foundation 1.2 -> 1.1: removes the 1.2 functions and views; the 1.0 and
-- 1.1 functions are untouched.
--
-- keeps: fnd_event_subscriptions, fnd_event_channels, fnd_metric_history, fnd_alert_rules, fnd_alert_state, fnd_alert_history
--
-- Three parts in the reverse order of the step up, each after its marker
-- line: telemetry and alerts, subscriptions, the event store.
-- changes: fnd_events
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
DROP FUNCTION @extschema@.fnd_subscription_lazy(@extschema@.fnd_events);


-- ==== event store ====

ALTER TABLE @extschema@.fnd_events
    DROP COLUMN metadata,
    DROP COLUMN correlation_id,
    DROP COLUMN agent_context;
