-- snapshot.sql: the user data of a database, one line per fact, sorted:
--   data <table> | rows: N
--   data <table> | column <name>: md5 of its values in key order
--   data <sequence> | state: last_value is_called
--   data <table> | sequence of column <name>: the same, for an identity
--                         or serial column's sequence
-- for every table and sequence outside the system schemas (extension
-- members and tables a downgrade left behind alike).  Values are hashed
-- column by column, so a step that adds a column changes only that
-- column's line, and the harness can tell a declared change from loss.
--   grant <member> | <kind> acl: the privileges a user changed on a
--                         member of the extension or a member table's
--                         column (where they differ from what the
--                         extension's scripts set, see describe.sql)
-- Rows are ordered by the primary key, else by the whole row's text.
-- Run with psql -X -At -F '<newline>' -v ext=NAME, then sort.
\set ON_ERROR_STOP 1
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;

WITH member AS (
    SELECT d.classid, d.objid, 0 AS objsubid, (pg_identify_object(d.classid, d.objid, 0)).*
    FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid AND e.extname = :'ext'
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
),
live(classid, objid, objsubid, type, identity, acl, owner, deftype) AS (
    SELECT m.classid, m.objid, 0, m.type, m.identity, p.proacl, p.proowner, 'f'::"char"
    FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    UNION ALL
    SELECT m.classid, m.objid, 0, m.type, m.identity, c.relacl, c.relowner,
           (CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char"
    FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    UNION ALL
    SELECT m.classid, m.objid, a.attnum, 'column', m.identity || '.' || a.attname,
           a.attacl, NULL, NULL
    FROM member m JOIN pg_attribute a ON m.classid = 'pg_class'::regclass AND a.attrelid = m.objid
        AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT m.classid, m.objid, 0, m.type, m.identity, t.typacl, t.typowner, 'T'::"char"
    FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
),
compared AS (
    SELECT l.type, l.identity,
           (SELECT string_agg(a::text, ' ' ORDER BY a::text)
            FROM unnest(coalesce(l.acl, CASE WHEN l.owner IS NOT NULL THEN acldefault(l.deftype, l.owner) END)) a) AS now,
           coalesce((SELECT string_agg(a::text, ' ' ORDER BY a::text)
                     FROM pg_init_privs ip, unnest(ip.initprivs) a
                     WHERE ip.classoid = l.classid AND ip.objoid = l.objid AND ip.objsubid = l.objsubid),
                    (SELECT string_agg(a::text, ' ' ORDER BY a::text)
                     FROM unnest(CASE WHEN l.owner IS NOT NULL THEN acldefault(l.deftype, l.owner) END) a)) AS ext
    FROM live l
)
SELECT format('grant %s | %s acl: %s', identity, type, coalesce(now, '-'))
FROM compared WHERE now IS DISTINCT FROM ext;

WITH rel AS (
    SELECT c.oid, c.relkind, format('%I.%I', n.nspname, c.relname) AS qname,
           -- a sequence owned by a column is reported under its table
           (SELECT format('%I.%I | sequence of column %s', tn.nspname, t.relname, a.attname)
            FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
            JOIN pg_namespace tn ON tn.oid = t.relnamespace
            JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
            WHERE c.relkind = 'S' AND d.classid = 'pg_class'::regclass AND d.objid = c.oid
              AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) AS owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'S')
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
),
keyorder AS (
    SELECT r.oid,
           coalesce((SELECT string_agg(format('t.%I', a.attname), ', ' ORDER BY k.ord)
                     FROM pg_index i
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                     WHERE i.indrelid = r.oid AND i.indisprimary),
                    't::text COLLATE "C"') AS keys
    FROM rel r WHERE r.relkind <> 'S'
)
SELECT CASE WHEN r.relkind = 'S' THEN
           format($q$SELECT format('data %%s: %%s %%s', %L, last_value, is_called) FROM %s$q$,
                  coalesce(r.owner, r.qname || ' | state'), r.qname)
       ELSE
           format($q$SELECT format('data %%s | rows: %%s', %L, count(*)) %s FROM %s t$q$,
                  r.qname,
                  (SELECT string_agg(format($c$, format('data %%s | column %%s: %%s', %L, %L, md5(coalesce(string_agg(coalesce(t.%I::text, '\N'), E'\n' ORDER BY %s), '')))$c$,
                                            r.qname, a.attname, a.attname, k.keys), '' ORDER BY a.attnum)
                   FROM pg_attribute a
                   WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped),
                  r.qname)
       END
FROM rel r LEFT JOIN keyorder k ON k.oid = r.oid
ORDER BY r.qname
\gexec
