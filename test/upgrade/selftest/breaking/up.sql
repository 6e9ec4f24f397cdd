-- changes: none
-- A breaking change: fnd_config_get(path) stops finding anything.
CREATE OR REPLACE FUNCTION @extschema@.fnd_config_get(path text)
RETURNS jsonb LANGUAGE sql STABLE AS $$ SELECT NULL::jsonb $$;
