-- changes: fnd_events.added_at
-- Adds a column with a volatile default: every row is rewritten.
ALTER TABLE @extschema@.fnd_events ADD COLUMN added_at timestamptz DEFAULT clock_timestamp();
