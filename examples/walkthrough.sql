-- foundation walkthrough: what `make run` shows a newcomer.
-- Each subsystem adds its part below; every part can be run again.
\set ON_ERROR_STOP on
\pset pager off
\echo '== error catalog: every SQLSTATE foundation raises'
SELECT code, name, subsystem FROM fnd_error_codes ORDER BY code LIMIT 5;
\echo '== services the supervisor runs (database NULL: cluster-wide), and its workers'
SELECT database, name, phase, state FROM fnd_services();
SELECT datname, state, restarts FROM fnd_database_workers;
\ir walkthrough/registry.sql
\ir walkthrough/breaker.sql
\ir walkthrough/config_events.sql
\ir walkthrough/telemetry.sql
\ir walkthrough/lock.sql
\ir walkthrough/barrier.sql
\ir walkthrough/agents.sql
\ir walkthrough/v12.sql
