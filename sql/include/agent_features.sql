-- Included by the regression tests of the 1.1 and 1.2 functions: turn
-- foundation.agent_features to :want (on or off) for the whole server and
-- wait, at most 5 s, until this session sees it.  The setting is sighup:
-- ALTER SYSTEM and a reload, not SET.
SELECT :'want' = 'on' AS fnd_want_on \gset
\if :fnd_want_on
ALTER SYSTEM RESET foundation.agent_features;
\else
ALTER SYSTEM SET foundation.agent_features = off;
\endif
SELECT pg_reload_conf();
SELECT set_config('fnd_test.want', :'want', false) AS want;
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN current_setting('foundation.agent_features') = current_setting('fnd_test.want');
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
