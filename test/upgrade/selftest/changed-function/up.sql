-- changes: none
-- Changes a 1.0 function (volatility and comment)...
ALTER FUNCTION @extschema@.fnd_prune_events(timestamptz) STABLE;
COMMENT ON FUNCTION @extschema@.fnd_prune_events(timestamptz) IS 'changed by the self-test';
