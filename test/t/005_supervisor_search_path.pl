# Privilege escalation through the supervisor (issue 12): a database owner
# who is not a superuser plants functions and operators that shadow the
# built-in ones in a schema put first on the database's search_path.  Every
# service of the supervisor then runs (retention deleting events, consensus
# recording a decision, the cluster-wide sweeps) as a superuser: none of
# the planted code may run, so the owner stays a plain role and no marker
# row is written.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('search_path');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.event_retention = '1h'
foundation.database = 'shop'
});
$node->start;

# the statements of this test itself must not fall into the trap: every
# session of the test takes this search_path from the client, which wins
# over the database's setting (the supervisor's processes are no clients)
$ENV{PGOPTIONS} = '-c search_path=pg_catalog,public';

$node->safe_psql('postgres', q{
	CREATE ROLE mallory LOGIN;
	CREATE DATABASE shop OWNER mallory;
});
$node->safe_psql('shop', 'CREATE EXTENSION foundation SCHEMA public');

# ---- the trap, planted by the owner
my $plant = q{
CREATE SCHEMA evil;
CREATE TABLE evil.marker (who text, backend text, what text);
GRANT USAGE ON SCHEMA evil TO PUBLIC;
GRANT ALL ON evil.marker TO PUBLIC;
-- written with every name qualified, so it does not call itself
CREATE FUNCTION evil.pwn(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO evil.marker
	SELECT current_user, backend_type, what FROM pg_catalog.pg_stat_activity
	WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid();
	BEGIN
		EXECUTE 'ALTER ROLE mallory SUPERUSER';
	EXCEPTION WHEN OTHERS THEN NULL;
	END;
END $$;
};
my @ops = (
	[ 'eq_int8', '=', 'bigint', 'bigint', 'pg_catalog.int8eq', 'boolean' ],
	[ 'lt_int8', '<', 'bigint', 'bigint', 'pg_catalog.int8lt', 'boolean' ],
	[ 'eq_oid', '=', 'oid', 'oid', 'pg_catalog.oideq', 'boolean' ],
	[ 'eq_text', '=', 'text', 'text', 'pg_catalog.texteq', 'boolean' ],
	[ 'lt_ts', '<', 'timestamptz', 'timestamptz', 'pg_catalog.timestamptz_lt', 'boolean' ],
	[ 'eq_ts', '=', 'timestamptz', 'timestamptz', 'pg_catalog.timestamptz_eq', 'boolean' ],
	[ 'eq_jsonb', '=', 'jsonb', 'jsonb', 'pg_catalog.jsonb_eq', 'boolean' ],
	[ 'contains', '@>', 'jsonb', 'jsonb', 'pg_catalog.jsonb_contains', 'boolean' ],
	[ 'cat_jsonb', '||', 'jsonb', 'jsonb', 'pg_catalog.jsonb_concat', 'jsonb' ],
	[ 'cat_text', '||', 'text', 'text', 'pg_catalog.textcat', 'text' ],
	[ 'field', '->', 'jsonb', 'text', 'pg_catalog.jsonb_object_field', 'jsonb' ],
	[ 'field_text', '->>', 'jsonb', 'text', 'pg_catalog.jsonb_object_field_text', 'text' ]);
for my $op (@ops)
{
	my ($fn, $sym, $l, $r, $real, $ret) = @$op;
	$plant .= qq{
CREATE FUNCTION evil.$fn(a $l, b $r) RETURNS $ret LANGUAGE plpgsql AS \$\$
BEGIN PERFORM evil.pwn('$sym($l, $r)'); RETURN $real(a, b); END \$\$;
CREATE OPERATOR evil.$sym (LEFTARG = $l, RIGHTARG = $r, FUNCTION = evil.$fn);
};
}
$plant .= q{
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION evil.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('clock_timestamp()'); RETURN pg_catalog.clock_timestamp(); END $$;
CREATE FUNCTION evil.jsonb_build_object(a text, b text) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('jsonb_build_object(text, text)'); RETURN pg_catalog.jsonb_build_object(a, b); END $$;
CREATE FUNCTION evil.jsonb_build_object(VARIADIC a text[]) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM evil.pwn('jsonb_build_object(text[])'); RETURN pg_catalog.jsonb_object(a); END $$;
ALTER DATABASE shop SET search_path = evil, pg_catalog, public;
};
{
	# the owner's own sessions: the database's search_path
	local $ENV{PGOPTIONS} = '';
	$node->safe_psql('shop', $plant, extra_params => [ '-U', 'mallory' ]);
	# the trap is armed: in a session of the database, the owner's operators win
	$node->safe_psql('shop', 'SELECT 1::bigint = 2::bigint',
		extra_params => [ '-U', 'mallory' ]);
}
is($node->safe_psql('shop', "SELECT who || ' ' || what FROM evil.marker"),
	'mallory =(bigint, bigint)', 'a session on the database runs the shadowing operator');
$node->safe_psql('shop', "DELETE FROM evil.marker");

# workers connect with the database's settings: restart so every process
# of the supervisor (and any 1.0-style one) has them
$node->restart;
ok($node->poll_query_until('postgres', q{
	SELECT count(*) = 1 FROM pg_stat_activity
	WHERE backend_type = 'foundation worker' AND datname = 'shop'}),
	'shop has its worker');

# ---- work for every service: old events to delete, a round to record
$node->safe_psql('shop', qq{
	SELECT count(*) FROM fnd_store_events(
		(SELECT jsonb_agg(jsonb_build_object('type', 'old', 'data', jsonb_build_object('i', i)))
		 FROM generate_series(1, 50) i));
	UPDATE fnd_events SET "timestamp" = now() - interval '2 hours';
	SELECT fnd_consensus_start('ballot', '{"v": 1}', ARRAY['a', 'b'], timeout => '100 ms');
});
my $runs = $node->safe_psql('shop', qq{
	SELECT string_agg(name || '=' || runs, ',' ORDER BY name) FROM fnd_services()});
my %before = map { split /=/ } split /,/, $runs;

ok($node->poll_query_until('shop', qq{
	SELECT count(*) = 0 FROM fnd_events WHERE type = 'old'}),
	'retention deleted the old events');
ok($node->poll_query_until('shop', qq{
	SELECT count(*) = 1 FROM fnd_events WHERE type = 'consensus_decided'}),
	'the worker recorded the timed-out round');
my $advanced = join(' OR ', map { "(name = '$_' AND runs >= $before{$_} + 3)" } keys %before);
ok($node->poll_query_until('shop', qq{
	SELECT count(*) = ${\ scalar(keys %before)} FROM fnd_services()
	WHERE state IN ('running', 'disabled') AND ($advanced)}),
	'every service ran at least three more times');

# ---- nothing of the owner's ran as the supervisor
is($node->safe_psql('postgres', "SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'"),
	'f', 'the owner is still not a superuser');
is($node->safe_psql('shop', "SELECT count(*) FROM evil.marker"),
	'0', 'no shadowing function or operator ran')
  or diag($node->safe_psql('shop', "SELECT * FROM evil.marker"));
is($node->safe_psql('shop', "SELECT count(*) FROM fnd_services() WHERE state = 'failed'"),
	'0', 'and no service failed');

$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|terminated by signal|TRAP:/,
	'no crash in the server log');
done_testing();
