-- Frozen in foundation--1.0.sql (release 1.0): later versions change these objects in steps foundation--A--B.sql, not here.
-- config: a hierarchical, transactional config store (docs/config.md).
--
-- One row per leaf: path is dotted lower-case words (db.pool.size), value any
-- jsonb.  Reading a prefix assembles its subtree as an object.  A path is
-- either a leaf or a prefix, never both; writers check that under a SHARE ROW
-- EXCLUSIVE lock on the table, which serializes writers (rare, admin) and
-- never blocks readers.  Every committed change sends NOTIFY fnd_config;
-- pg_notify is transactional, so a rolled-back change sends nothing.
--
-- Reads (C, src/config.c) run as the caller (SELECT on fnd_config is granted
-- to PUBLIC; revoke it to keep config private).  Writes are SECURITY DEFINER admin functions,
-- revoked from PUBLIC, with a fixed search_path and qualified names.

CREATE TABLE fnd_config (
    path text COLLATE "C" PRIMARY KEY
        CONSTRAINT fnd_config_path_check
        CHECK (path ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND octet_length(path) <= 200),
    value jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by name NOT NULL DEFAULT session_user
);
COMMENT ON TABLE fnd_config IS
'Config leaves: dotted lower-case path, jsonb value, when and by whom it was last written; write through fnd_config_update and fnd_config_reset';
COMMENT ON COLUMN fnd_config.path IS
'Dotted lower-case words, each [a-z][a-z0-9_]*, at most 200 bytes; C collation, so a subtree is one index range';
SELECT pg_catalog.pg_extension_config_dump('fnd_config', '');
REVOKE ALL ON fnd_config FROM PUBLIC;
GRANT SELECT ON fnd_config TO PUBLIC;

CREATE FUNCTION fnd_config_check_path(path text)
RETURNS text
LANGUAGE C IMMUTABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_config_check_path';
COMMENT ON FUNCTION fnd_config_check_path(text) IS
'Returns path if it is a valid config path (dotted words [a-z][a-z0-9_]*, at most 200 bytes); FN301 otherwise, FN003 if NULL';

CREATE FUNCTION fnd_config_get(path text)
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_config_get';
COMMENT ON FUNCTION fnd_config_get(text) IS
'The value at a config path: a leaf''s value, a prefix''s subtree assembled as an object, a key inside an ancestor leaf''s object, or NULL if absent; FN301 for a malformed path';

CREATE FUNCTION fnd_config_get(path text, fallback jsonb)
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE CALLED ON NULL INPUT
AS 'MODULE_PATHNAME', 'fnd_config_get';
COMMENT ON FUNCTION fnd_config_get(text, jsonb) IS
'The value at a config path, or fallback when nothing is stored there (a stored JSON null is a value, not absence)';

CREATE FUNCTION fnd_config_get()
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_config_get_all';
COMMENT ON FUNCTION fnd_config_get() IS
'The whole config tree as one object ({} when empty)';

CREATE FUNCTION fnd_config_get_all()
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'fnd_config_get_all';
COMMENT ON FUNCTION fnd_config_get_all() IS
'The whole config tree as one object ({} when empty); same as fnd_config_get()';

CREATE FUNCTION fnd_config_update(path text, value jsonb)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    keys text[];
    other text;
    i int;
BEGIN
    PERFORM @extschema@.fnd_config_check_path(path);
    IF value IS NULL THEN
        RAISE EXCEPTION 'config value must not be null'
            USING ERRCODE = 'FN003',
                  HINT = 'Store the JSON null (''null''::jsonb), or remove the path with fnd_config_reset.';
    END IF;

    -- Writers take turns, so two of them cannot create a leaf and a subtree
    -- at the same path at once; readers are not blocked.
    LOCK TABLE @extschema@.fnd_config IN SHARE ROW EXCLUSIVE MODE;

    keys := string_to_array(path, '.');
    FOR i IN 1 .. cardinality(keys) - 1 LOOP
        SELECT c.path INTO other FROM @extschema@.fnd_config c
        WHERE c.path = array_to_string(keys[1:i], '.');
        IF FOUND THEN
            RAISE EXCEPTION 'config path "%" is below the leaf "%"', path, other
                USING ERRCODE = 'FN301',
                      DETAIL = format('"%s" holds a value, so it cannot also be a prefix.', other),
                      HINT = format('Reset "%s" first, or store the value inside its object.', other);
        END IF;
    END LOOP;

    SELECT c.path INTO other FROM @extschema@.fnd_config c
    WHERE c.path >= fnd_config_update.path || '.' AND c.path < fnd_config_update.path || '/'
    ORDER BY c.path LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'config path "%" is a prefix of "%"', path, other
            USING ERRCODE = 'FN301',
                  DETAIL = format('"%s" has a subtree, so it cannot also hold a value.', path),
                  HINT = format('Update its leaves, or remove the subtree with fnd_config_reset(''%s'') first.', path);
    END IF;

    INSERT INTO @extschema@.fnd_config AS c (path, value)
    VALUES (fnd_config_update.path, fnd_config_update.value)
    ON CONFLICT ON CONSTRAINT fnd_config_pkey DO UPDATE
        SET value = excluded.value, updated_at = now(), updated_by = session_user;

    PERFORM pg_notify('fnd_config',
                      jsonb_build_object('path', path, 'op', 'update')::text);
END
$$;
COMMENT ON FUNCTION fnd_config_update(text, jsonb) IS
'Admin: set the value of a config leaf; FN301 if the path is malformed or is both a leaf and a prefix; sends NOTIFY fnd_config {"path", "op": "update"} at commit';
REVOKE ALL ON FUNCTION fnd_config_update(text, jsonb) FROM PUBLIC;

CREATE FUNCTION fnd_config_reset(path text)
RETURNS void
LANGUAGE plpgsql VOLATILE CALLED ON NULL INPUT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM @extschema@.fnd_config_check_path(path);
    DELETE FROM @extschema@.fnd_config c
    WHERE c.path = fnd_config_reset.path
       OR (c.path >= fnd_config_reset.path || '.' AND c.path < fnd_config_reset.path || '/');
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('fnd_config',
                          jsonb_build_object('path', path, 'op', 'reset')::text);
    END IF;
END
$$;
COMMENT ON FUNCTION fnd_config_reset(text) IS
'Admin: remove a config leaf or a whole subtree; sends NOTIFY fnd_config {"path", "op": "reset"} at commit if anything was removed';
REVOKE ALL ON FUNCTION fnd_config_reset(text) FROM PUBLIC;

CREATE FUNCTION fnd_config_reset()
RETURNS void
LANGUAGE plpgsql VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM @extschema@.fnd_config;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM pg_notify('fnd_config', '{"op": "reset", "path": null}');
    END IF;
END
$$;
COMMENT ON FUNCTION fnd_config_reset() IS
'Admin: remove every config value; sends NOTIFY fnd_config {"path": null, "op": "reset"} at commit if anything was removed';
REVOKE ALL ON FUNCTION fnd_config_reset() FROM PUBLIC;
