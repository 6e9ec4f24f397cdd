-- describe.sql: a canonical description of every member of the extension
-- (pg_depend deptype 'e'), one line per (object, property), sorted, so two
-- databases can be compared with diff.  Run with psql -X -At -v ext=NAME.
--
-- Nothing here depends on OIDs, attribute numbers, creation order or the
-- order in which grants were made: columns are numbered by position among
-- the live ones, ACLs are sorted item by item with NULL read as the
-- default, dump marks are sorted by table.  Only what a user, pg_dump or
-- the planner can see is described.
\set ON_ERROR_STOP 1
WITH ext AS (
    SELECT oid, extname, extnamespace, extrelocatable, extversion, extconfig, extcondition
    FROM pg_extension WHERE extname = :'ext'
),
member AS (
    SELECT d.classid, d.objid, (pg_identify_object(d.classid, d.objid, 0)).*
    FROM pg_depend d JOIN ext ON d.refobjid = ext.oid
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
),
-- The extension's own privileges on each member: what its scripts granted
-- (pg_init_privs, which CREATE/ALTER EXTENSION record), else the owner's
-- defaults.  A user's later GRANT or REVOKE is user data, not catalog:
-- snapshot.sql records it and the data check wants it kept.
extacl(classid, objid, objsubid, txt) AS (
    SELECT ip.classoid, ip.objoid, ip.objsubid,
           (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(ip.initprivs) a)
    FROM pg_init_privs ip
),
defacl(classid, objid, txt) AS (
    SELECT 'pg_proc'::regclass::oid, p.oid,
           (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(acldefault('f', p.proowner)) a)
    FROM pg_proc p
    UNION ALL
    SELECT 'pg_class'::regclass::oid, c.oid,
           (SELECT string_agg(a::text, ' ' ORDER BY a::text)
            FROM unnest(acldefault((CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END)::"char", c.relowner)) a)
    FROM pg_class c
    UNION ALL
    SELECT 'pg_type'::regclass::oid, t.oid,
           (SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(acldefault('T', t.typowner)) a)
    FROM pg_type t
),
-- every member: its kind, identity and owner
base(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'member', 'yes' FROM member m
    UNION ALL
    SELECT m.type, m.identity, 'privileges',
           coalesce((SELECT x.txt FROM extacl x
                     WHERE x.classid = m.classid AND x.objid = m.objid AND x.objsubid = 0),
                    (SELECT d.txt FROM defacl d WHERE d.classid = m.classid AND d.objid = m.objid))
    FROM member m
    UNION ALL
    SELECT m.type, m.identity, 'comment', obj_description(m.objid, m.classid::regclass::text)
    FROM member m
),
func(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, x.prop, x.val
    FROM member m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    CROSS JOIN LATERAL (VALUES
        ('definition', CASE WHEN p.prokind = 'a' THEN NULL ELSE pg_get_functiondef(p.oid) END),
        ('kind', p.prokind::text),
        ('volatility', p.provolatile::text),
        ('strict', p.proisstrict::text),
        ('security definer', p.prosecdef::text),
        ('leakproof', p.proleakproof::text),
        ('parallel', p.proparallel::text),
        ('cost, rows', p.procost || ', ' || p.prorows),
        ('config', array_to_string(p.proconfig, ' ')),
        ('result', pg_get_function_result(p.oid)),
        ('arguments', pg_get_function_arguments(p.oid)),
        ('owner', pg_get_userbyid(p.proowner)::text)
    ) AS x(prop, val)
),
rel(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, x.prop, x.val
    FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    CROSS JOIN LATERAL (VALUES
        ('relkind', c.relkind::text),
        ('persistence', c.relpersistence::text),
        ('options', array_to_string(c.reloptions, ' ')),
        ('row security', c.relrowsecurity || ' force ' || c.relforcerowsecurity),
        ('replica identity', c.relreplident::text),
        ('owner', pg_get_userbyid(c.relowner)::text),
        ('view definition', CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END),
        ('dump mark', (SELECT 'condition ' || quote_literal(coalesce(e.extcondition[i], ''))
                       FROM ext e, generate_subscripts(e.extconfig, 1) i
                       WHERE e.extconfig[i] = c.oid))
    ) AS x(prop, val)
),
col(kind, ident, prop, val) AS (
    SELECT m.type, m.identity,
           format('column %s %s', lpad(row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum)::text, 3, '0'), a.attname),
           concat_ws(' ',
               format_type(a.atttypid, a.atttypmod),
               CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                    THEN 'collate ' || (SELECT quote_ident(collname) FROM pg_collation WHERE oid = a.attcollation) END,
               CASE WHEN a.attnotnull THEN 'not null' END,
               CASE WHEN a.atthasdef THEN
                   CASE WHEN a.attgenerated = 's' THEN 'generated always as ' ELSE 'default ' END
                   || (SELECT pg_get_expr(ad.adbin, ad.adrelid) FROM pg_attrdef ad
                       WHERE ad.adrelid = c.oid AND ad.adnum = a.attnum) END,
               CASE a.attidentity WHEN 'a' THEN 'identity always' WHEN 'd' THEN 'identity by default' END,
               CASE WHEN a.attstattarget >= 0 THEN 'statistics ' || a.attstattarget END,
               CASE WHEN a.attstorage <> t.typstorage THEN 'storage ' || a.attstorage::text END,
               CASE WHEN a.attcompression <> '' THEN 'compression ' || a.attcompression::text END,
               (SELECT 'privileges ' || x.txt FROM extacl x
                WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid AND x.objsubid = a.attnum),
               CASE WHEN col_description(c.oid, a.attnum) IS NOT NULL THEN
                   'comment ' || quote_literal(col_description(c.oid, a.attnum)) END)
    FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    WHERE c.relkind <> 'S'
),
-- identity and serial sequences belong to their table, not to the extension
ownedseq(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'owned sequence for ' || a.attname,
           format('%s start %s increment %s min %s max %s cache %s cycle %s',
                  format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                  s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
           || coalesce(' dump mark ' || (SELECT quote_literal(coalesce(e.extcondition[i], ''))
                                         FROM ext e, generate_subscripts(e.extconfig, 1) i
                                         WHERE e.extconfig[i] = d.objid), '')
    FROM member m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
    JOIN pg_depend d ON d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
        AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_sequence s ON s.seqrelid = d.objid
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.refobjsubid
),
seq(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'sequence',
           format('%s start %s increment %s min %s max %s cache %s cycle %s',
                  format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement,
                  s.seqmin, s.seqmax, s.seqcache, s.seqcycle)
    FROM member m JOIN pg_sequence s ON m.classid = 'pg_class'::regclass AND s.seqrelid = m.objid
),
con(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'constraint ' || co.conname,
           pg_get_constraintdef(co.oid, true)
           || CASE WHEN co.condeferrable THEN ' deferrable' ELSE '' END
           || coalesce(' comment ' || quote_literal(obj_description(co.oid, 'pg_constraint')), '')
    FROM member m JOIN pg_constraint co ON m.classid = 'pg_class'::regclass AND co.conrelid = m.objid
),
idx(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'index ' || ic.relname,
           pg_get_indexdef(i.indexrelid)
           || CASE WHEN NOT i.indisvalid THEN ' INVALID' ELSE '' END
           || CASE WHEN i.indisclustered THEN ' CLUSTERED' ELSE '' END
           || coalesce(' comment ' || quote_literal(obj_description(ic.oid, 'pg_class')), '')
    FROM member m JOIN pg_index i ON m.classid = 'pg_class'::regclass AND i.indrelid = m.objid
    JOIN pg_class ic ON ic.oid = i.indexrelid
),
trg(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'trigger ' || tg.tgname,
           pg_get_triggerdef(tg.oid, true) || ' enabled ' || tg.tgenabled::text
    FROM member m JOIN pg_trigger tg ON m.classid = 'pg_class'::regclass AND tg.tgrelid = m.objid
    WHERE NOT tg.tgisinternal
),
rul(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'rule ' || r.rulename, pg_get_ruledef(r.oid, true)
    FROM member m JOIN pg_rewrite r ON m.classid = 'pg_class'::regclass AND r.ev_class = m.objid
    WHERE r.rulename <> '_RETURN'
),
pol(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, 'policy ' || p.polname,
           format('for %s %s to %s using (%s) with check (%s)', p.polcmd::text,
                  CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END,
                  (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END, ',' ORDER BY 1)
                   FROM unnest(p.polroles) r),
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    FROM member m JOIN pg_policy p ON m.classid = 'pg_class'::regclass AND p.polrelid = m.objid
),
typ(kind, ident, prop, val) AS (
    SELECT m.type, m.identity, x.prop, x.val
    FROM member m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
    CROSS JOIN LATERAL (VALUES
        ('typtype', t.typtype::text),
        ('owner', pg_get_userbyid(t.typowner)::text),
        ('enum labels', (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                         FROM pg_enum e WHERE e.enumtypid = t.oid)),
        ('domain', CASE WHEN t.typtype = 'd' THEN
                     concat_ws(' ', format_type(t.typbasetype, t.typtypmod),
                               CASE WHEN t.typnotnull THEN 'not null' END,
                               'default ' || t.typdefault,
                               (SELECT string_agg(pg_get_constraintdef(co.oid, true), ' ' ORDER BY co.conname)
                                FROM pg_constraint co WHERE co.contypid = t.oid)) END),
        ('attributes', CASE WHEN t.typtype = 'c' THEN
                     (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                      FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) END),
        ('range', (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid))
    ) AS x(prop, val)
),
extension(kind, ident, prop, val) AS (
    SELECT 'extension', e.extname::text, x.prop, x.val
    FROM ext e CROSS JOIN LATERAL (VALUES
        ('schema', e.extnamespace::regnamespace::text),
        ('relocatable', e.extrelocatable::text),
        ('version', e.extversion),
        ('dump marks', (SELECT count(*)::text FROM unnest(e.extconfig)))
    ) AS x(prop, val)
)
SELECT format('%s %s | %s: %s', kind, ident, prop, coalesce(val, '-'))
FROM (
    SELECT * FROM base UNION ALL SELECT * FROM func UNION ALL SELECT * FROM rel
    UNION ALL SELECT * FROM col UNION ALL SELECT * FROM ownedseq
    UNION ALL SELECT * FROM seq UNION ALL SELECT * FROM con
    UNION ALL SELECT * FROM idx UNION ALL SELECT * FROM trg
    UNION ALL SELECT * FROM rul UNION ALL SELECT * FROM pol
    UNION ALL SELECT * FROM typ UNION ALL SELECT * FROM extension
) d
ORDER BY kind COLLATE "C", ident COLLATE "C", prop COLLATE "C";
