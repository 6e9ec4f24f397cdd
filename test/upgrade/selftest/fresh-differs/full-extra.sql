
-- the self-test's foundation--1.0.1.sql is the 1.0 script plus this line,
-- which the step 1.0 -> 1.0.1 lacks
COMMENT ON FUNCTION @extschema@.fnd_prune_events(timestamptz) IS 'only in the install script';
