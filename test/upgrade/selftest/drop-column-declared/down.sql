-- keeps: none
-- changes: fnd_config.updated_by
-- Puts the column back, so the catalog looks right; the values are gone.
ALTER TABLE @extschema@.fnd_config ADD COLUMN updated_by name NOT NULL DEFAULT session_user;
