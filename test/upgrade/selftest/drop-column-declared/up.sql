-- changes: fnd_config.updated_by
-- A broken step: loses every value of a 1.0 column and says nothing.
ALTER TABLE @extschema@.fnd_config DROP COLUMN updated_by;
