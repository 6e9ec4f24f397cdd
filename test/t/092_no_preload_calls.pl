# Without shared_preload_libraries, every function of the extension is
# called (found in the catalog, so new subsystems are covered as they land)
# with plausible arguments, with NULL in each position, with all NULLs and
# with its defaults omitted.  Shared-memory functions must raise FN001 (or
# reject their arguments first), table-backed ones work; none may raise an
# internal error or take the backend down (no shared memory to point at).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('nopreload_calls');
$node->init;
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

# One row per call: function, variant, outcome (SQLSTATE or 00000).
$node->safe_psql('postgres', q{
CREATE TABLE calls(func text, variant text, state text);
DO $$
DECLARE
    f record;
    args text[];
    nreq int;
    variants text[][];
    v text;
    st text;
    i int;
    sample text;
BEGIN
    FOR f IN
        SELECT p.oid, p.oid::regprocedure::text AS sig, p.oid::regproc::text AS name,
               p.pronargs, p.pronargdefaults,
               ARRAY(SELECT format_type(t, NULL) FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o) ORDER BY o) AS types
        FROM pg_proc p
        JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
        JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'
        WHERE p.prokind = 'f'
          AND p.prorettype <> 'trigger'::regtype  -- PostgreSQL refuses to call these
        ORDER BY 2
    LOOP
        args := '{}';
        FOR i IN 1 .. f.pronargs LOOP
            sample := CASE f.types[i]
                WHEN 'text' THEN '''np.a'''
                WHEN 'jsonb' THEN '''{}''::jsonb'
                WHEN 'interval' THEN '''1 s''::interval'
                WHEN 'integer' THEN '2'
                WHEN 'bigint' THEN '1::bigint'
                WHEN 'double precision' THEN '1::float8'
                WHEN 'boolean' THEN 'false'
                WHEN 'timestamp with time zone' THEN 'now()'
                WHEN 'text[]' THEN '''{a,b}''::text[]'
                ELSE 'NULL' END;
            args := args || format('%s::%s', sample, f.types[i]);
        END LOOP;
        nreq := f.pronargs - f.pronargdefaults;
        -- the variants: plausible, defaults omitted, NULL in each position, all NULL
        FOR i IN 0 .. f.pronargs + 2 LOOP
            IF i = 0 THEN
                v := array_to_string(args, ', ');
            ELSIF i = 1 THEN
                v := array_to_string(args[1:nreq], ', ');
            ELSIF i = 2 THEN
                v := (SELECT string_agg(format('NULL::%s', t), ', ') FROM unnest(f.types) t);
            ELSE
                v := array_to_string(args[1:i - 3] || format('NULL::%s', f.types[i - 2])
                                     || args[i - 1:f.pronargs], ', ');
            END IF;
            BEGIN
                EXECUTE format('SELECT count(*) FROM (SELECT r::text FROM %s(%s) AS r) s',
                               f.name, coalesce(v, ''));
                st := '00000';
            EXCEPTION WHEN OTHERS THEN
                st := SQLSTATE;
            END;
            INSERT INTO calls VALUES (f.sig, coalesce(v, ''), st);
        END LOOP;
    END LOOP;
END $$});

cmp_ok($node->safe_psql('postgres', 'SELECT count(DISTINCT func) FROM calls'), '>', 1,
	'every function of the extension was called');
is($node->safe_psql('postgres',
		q{SELECT string_agg(func || '(' || variant || '): ' || state, E'\n') FROM calls WHERE state LIKE 'XX%'}),
	'', 'no call raised an internal error');
is($node->safe_psql('postgres', q{
	SELECT string_agg(DISTINCT func, ', ') FROM calls c
	WHERE variant !~ 'NULL'
	  AND NOT EXISTS (SELECT FROM calls c2 WHERE c2.func = c.func AND c2.state IN ('00000', 'FN001'))
	  AND func !~ '^fnd_(config|store|get_event|query_events|prune|error_codes)'}),
	'', 'every shared-memory function answers its plausible call with FN001 (or works)');
note($node->safe_psql('postgres',
	q{SELECT string_agg(state || ' ' || n, ', ') FROM (SELECT state, count(*) n FROM calls GROUP BY 1 ORDER BY 1) s}));

SKIP:
{
	skip 'the event store functions do not exist yet', 1
	  unless $node->safe_psql('postgres',
		"SELECT to_regprocedure('fnd_store_event(text,jsonb)') IS NOT NULL") eq 't';
	like($node->safe_psql('postgres', q{SELECT fnd_store_event('np', '{"a": 1}')}),
		qr/^\d+$/, 'the event store works without preload');
}
SKIP:
{
	skip 'the config functions do not exist yet', 1
	  unless $node->safe_psql('postgres',
		"SELECT to_regprocedure('fnd_config_update(text,jsonb)') IS NOT NULL") eq 't';
	$node->safe_psql('postgres', q{SELECT fnd_config_update('np.value', '7')});
	is($node->safe_psql('postgres', q{SELECT fnd_config_get('np.value')}), '7',
		'config works without preload');
}

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server is up');
$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
