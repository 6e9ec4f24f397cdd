-- keeps: none
-- changes: fnd_events.added_at
ALTER TABLE @extschema@.fnd_events DROP COLUMN added_at;
