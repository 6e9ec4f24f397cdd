-- foundation 1.0.1 -> 1.0: the self-test's throwaway downgrade (template
-- for a real one).  Installed as foundation--1.0.1--1.0.sql.
--
-- keeps: fnd_selftest_notes, fnd_selftest_events_tag
--   fnd_selftest_notes stays, rows and identity sequence included, outside
--   the extension; the next step up takes it back.  The values of
--   fnd_events.tag move to fnd_selftest_events_tag (id, tag), also left
--   outside the extension, and the next step up puts them back.
-- changes: fnd_events.tag, fnd_selftest_events_tag
--   the column tag leaves fnd_events; its values appear in the side table.
\echo Use "ALTER EXTENSION foundation UPDATE TO '1.0'" to load this file. \quit

CREATE TABLE @extschema@.fnd_selftest_events_tag AS
    SELECT id, tag FROM @extschema@.fnd_events WHERE tag IS NOT NULL;
ALTER TABLE @extschema@.fnd_selftest_events_tag ADD PRIMARY KEY (id);
ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_selftest_events_tag;
ALTER TABLE @extschema@.fnd_events DROP COLUMN tag;

ALTER EXTENSION foundation DROP TABLE @extschema@.fnd_selftest_notes;
ALTER EXTENSION foundation DROP SEQUENCE @extschema@.fnd_selftest_notes_id_seq;

DROP FUNCTION @extschema@.fnd_selftest_note(text);
