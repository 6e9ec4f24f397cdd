-- The reference step's fixture for version 1.0.1: notes, and tags on events old
-- and new.  Run by the harness after the step up to 1.0.1.
SET client_min_messages = warning;
SELECT fnd_selftest_note('note ' || i) FROM generate_series(1, 30) i;
UPDATE fnd_events SET tag = 'old-' || (id % 5) WHERE type = 'agent.step';
SELECT fnd_store_event('tagged', jsonb_build_object('i', i)) FROM generate_series(1, 20) i;
UPDATE fnd_events SET tag = 'new' WHERE type = 'tagged';
