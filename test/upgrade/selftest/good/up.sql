-- foundation 1.0 -> 1.0.1: a throwaway step of the harness's self-test
-- (test/upgrade/selftest.sh), written the way a real step is written, so
-- it doubles as the template for one.  Installed only into the self-test's
-- temporary copy of the extension directory, as foundation--1.0--1.0.1.sql.
--
-- changes: fnd_events.tag, fnd_selftest_notes, fnd_selftest_events_tag
--   fnd_events gains the nullable column tag: no default, so no rewrite,
--   and the ACCESS EXCLUSIVE lock lasts only for the catalog change.
--   fnd_selftest_notes (user rows) is created; when a downgrade left it
--   behind, it is taken back with its rows instead.  Tag values a downgrade
--   saved in fnd_selftest_events_tag are put back, and that table dropped.
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.0.1'" to load this file. \quit

-- CREATE TABLE IF NOT EXISTS refuses a table that is not a member, so a
-- table a downgrade kept is found and added back explicitly, with its
-- identity sequence, dump marks and privileges.
DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_selftest_notes') IS NULL THEN
        CREATE TABLE @extschema@.fnd_selftest_notes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            note text NOT NULL,
            at timestamptz NOT NULL DEFAULT now()
        );
    ELSE
        ALTER EXTENSION foundation ADD TABLE @extschema@.fnd_selftest_notes;
        ALTER EXTENSION foundation ADD SEQUENCE @extschema@.fnd_selftest_notes_id_seq;
    END IF;
END $$;
COMMENT ON TABLE @extschema@.fnd_selftest_notes IS 'Notes (self-test table)';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_selftest_notes', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.fnd_selftest_notes_id_seq', '');
REVOKE ALL ON @extschema@.fnd_selftest_notes FROM PUBLIC;
GRANT SELECT ON @extschema@.fnd_selftest_notes TO PUBLIC;

CREATE FUNCTION @extschema@.fnd_selftest_note(note text)
RETURNS bigint
LANGUAGE sql VOLATILE STRICT
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$ INSERT INTO @extschema@.fnd_selftest_notes (note) VALUES (note) RETURNING id $$;
COMMENT ON FUNCTION @extschema@.fnd_selftest_note(text) IS 'Add a note (self-test function)';
REVOKE ALL ON FUNCTION @extschema@.fnd_selftest_note(text) FROM PUBLIC;

-- Last, because its ACCESS EXCLUSIVE lock on fnd_events lasts until the
-- whole ALTER EXTENSION commits: everything after it would block writers.
ALTER TABLE @extschema@.fnd_events ADD COLUMN tag text;
COMMENT ON COLUMN @extschema@.fnd_events.tag IS 'A label (self-test column)';
DO $$
BEGIN
    IF to_regclass('@extschema@.fnd_selftest_events_tag') IS NOT NULL THEN
        UPDATE @extschema@.fnd_events e SET tag = s.tag
        FROM @extschema@.fnd_selftest_events_tag s WHERE s.id = e.id;
        DROP TABLE @extschema@.fnd_selftest_events_tag;
    END IF;
END $$;
