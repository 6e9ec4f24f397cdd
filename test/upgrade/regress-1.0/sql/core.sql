-- core: create, drop, re-create; the error catalog; services
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS foundation;
CREATE EXTENSION foundation;
RESET client_min_messages;
SELECT extname, extversion, extrelocatable FROM pg_extension WHERE extname = 'foundation';
DROP EXTENSION foundation;
SELECT count(*) FROM pg_extension WHERE extname = 'foundation';
CREATE EXTENSION foundation;
SELECT extversion FROM pg_extension WHERE extname = 'foundation';

-- every code of the README's error table, each once, all of class FN,
-- with the version that raises it first (NULL: reserved, not raised yet)
SELECT code, name, subsystem, since FROM fnd_error_codes ORDER BY code;
SELECT count(*) AS codes, count(DISTINCT code) AS distinct_codes,
       bool_and(code ~ '^FN[0-9]{3}$') AS all_fn,
       bool_and(meaning <> '') AS all_explained,
       bool_and(since IS NULL OR since ~ '^[0-9]+\.[0-9]+$') AS since_versions
FROM fnd_error_codes;
-- what 1.0 does not raise: later versions' codes, and reserved ones, whose
-- meaning says what happens instead
SELECT code, since, (since IS NULL) = (meaning LIKE 'Reserved: %') AS meaning_agrees
FROM fnd_error_codes WHERE since IS DISTINCT FROM '1.0' ORDER BY code;

-- a code is catchable by its SQLSTATE
DO $$
BEGIN
    RAISE SQLSTATE 'FN201' USING MESSAGE = 'test';
EXCEPTION WHEN SQLSTATE 'FN201' THEN
    RAISE NOTICE 'caught FN201';
END $$;

-- services: one row each, in phase order
SELECT name, phase, depends_on FROM fnd_services();
SELECT bool_and(phase >= lag) AS phase_ordered
FROM (SELECT phase, lag(phase, 1, 0) OVER () AS lag FROM fnd_services()) s;

-- settings are reserved under foundation.*
SET foundation.no_such_setting = 1;
SELECT name, boot_val, context FROM pg_settings
WHERE name LIKE 'foundation.%' AND name IN ('foundation.database', 'foundation.supervisor_naptime', 'foundation.value_memory')
ORDER BY name;

-- every function and view of the extension has a comment
SELECT p.proname
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
WHERE obj_description(p.oid, 'pg_proc') IS NULL
UNION ALL
SELECT c.relname
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
WHERE c.relkind IN ('v', 'r') AND obj_description(c.oid, 'pg_class') IS NULL;

-- every view of the extension is readable by PUBLIC, as the README says
SELECT c.relname AS view_not_readable_by_public
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
WHERE c.relkind = 'v' AND NOT has_table_privilege('public', c.oid, 'SELECT')
ORDER BY 1;
SELECT count(*) >= 8 AS views_checked
FROM pg_class c JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
WHERE c.relkind = 'v';
