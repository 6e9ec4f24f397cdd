-- The self-test's throwaway version 1.0.1, for scenarios without a fixture
-- of their own: a few more events, stored at 1.0.1.
SET client_min_messages = warning;
SELECT fnd_store_event('at.1.0.1', jsonb_build_object('i', i)) FROM generate_series(1, 10) i;
