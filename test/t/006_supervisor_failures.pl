# Failures of the supervisor and what they cost:
# - a failing service is shown "failed" with its last_error while every
#   other service keeps running; a service that depends on it is "skipped"
#   and says why; both recover when the cause goes;
# - SIGTERM (pg_terminate_backend) ends one launcher or worker: it comes
#   back and shared memory is kept;
# - SIGKILL of any supervisor process is a crash for PostgreSQL: every
#   process is restarted and shared memory is created anew (empty).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('failures');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.event_retention = '1h'
restart_after_crash = on
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION foundation');

my $q_launcher = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'";
my $q_worker = "SELECT pid FROM pg_stat_activity WHERE backend_type = 'foundation worker' AND datname = 'postgres'";
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_worker) s"), 'worker runs');

sub runs
{
	my ($name) = @_;
	return $node->safe_psql('postgres', "SELECT runs FROM fnd_services() WHERE name = '$name'");
}

# ---- one service fails (test-only: a trigger refuses the deletes of
# retention), the others keep running
$node->safe_psql('postgres', q{
	CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'boom'; END$$;
	CREATE TRIGGER boom BEFORE DELETE ON fnd_events FOR EACH ROW EXECUTE FUNCTION boom();
	SELECT fnd_store_event('old');
	UPDATE fnd_events SET "timestamp" = now() - interval '2 hours';
});
ok($node->poll_query_until('postgres', q{
	SELECT state || ' ' || last_error FROM fnd_services() WHERE name = 'events'}, 'failed boom'),
	'the failing service is "failed" with its last_error');
ok($node->poll_query_until('postgres', q{
	SELECT state || ': ' || detail FROM fnd_services() WHERE name = 'consensus_record'},
	'skipped: skipped: "events", which it depends on, did not succeed in this round'),
	'the service that depends on it is skipped and says why');
my %before = map { $_ => runs($_) } qw(events lock registry telemetry);
ok($node->poll_query_until('postgres', qq{
	SELECT bool_and(runs >= CASE name WHEN 'events' THEN $before{events}
		WHEN 'lock' THEN $before{lock} WHEN 'registry' THEN $before{registry}
		ELSE $before{telemetry} END + 3)
	FROM fnd_services() WHERE name IN ('events', 'lock', 'registry', 'telemetry')}),
	'the others keep running (and the failing one keeps being tried)');
is($node->safe_psql('postgres', q{
	SELECT count(*) FROM fnd_services()
	WHERE name NOT IN ('events', 'consensus_record') AND state <> 'running'}),
	'0', 'every other service is running');
like(slurp_file($node->logfile), qr/foundation service "events" failed: boom/,
	'the log says which service failed and why');

# the cause goes: both run again
$node->safe_psql('postgres', 'DROP TRIGGER boom ON fnd_events');
ok($node->poll_query_until('postgres', q{
	SELECT string_agg(name || ' ' || state, ', ' ORDER BY name)
	FROM fnd_services() WHERE name IN ('events', 'consensus_record')},
	'consensus_record running, events running'),
	'both recover');
is($node->safe_psql('postgres', q{
	SELECT coalesce(detail, '') FROM fnd_services() WHERE name = 'consensus_record'}),
	'', 'the skip reason is gone');
is($node->safe_psql('postgres', "SELECT last_error FROM fnd_services() WHERE name = 'events'"),
	'boom', 'last_error keeps the last error raised');

# ---- SIGTERM: one process ends and comes back, shared memory stays
$node->safe_psql('postgres', q{SELECT fnd_register('canary', 'a', '{}', interval '1 hour')});
my $canary = q{SELECT count(*) FROM fnd_registry WHERE namespace = 'canary'};

my $wpid = $node->safe_psql('postgres', $q_worker);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM ($q_worker) s WHERE pid <> $wpid"),
	'SIGTERM to the worker: it is started again');
is($node->safe_psql('postgres', $canary), '1', 'shared memory is kept');

my $lpid = $node->safe_psql('postgres', $q_launcher);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($lpid)");
ok($node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM ($q_launcher) s WHERE pid <> $lpid"),
	'SIGTERM to the launcher: the postmaster starts it again');
ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($q_worker) s"),
	'with a worker for the database');
is($node->safe_psql('postgres', $canary), '1', 'shared memory is kept');
unlike(slurp_file($node->logfile), qr/terminated by signal/,
	'SIGTERM is no crash: nothing was terminated by a signal');

# ---- SIGKILL: PostgreSQL restarts every process and shared memory
for my $who ([ 'worker', $q_worker ], [ 'launcher', $q_launcher ])
{
	my ($name, $query) = @$who;
	$node->safe_psql('postgres', q{SELECT fnd_register('canary', 'b', '{}', interval '1 hour')})
	  if $node->safe_psql('postgres', $canary) eq '0';
	my $pid = $node->safe_psql('postgres', $query);
	ok($pid =~ /^\d+$/, "found the $name");
	kill 'KILL', $pid;
	ok($node->poll_query_until('postgres', "SELECT count(*) = 1 FROM ($query) s WHERE pid <> $pid"),
		"SIGKILL to the $name: it is back after the restart");
	is($node->safe_psql('postgres', $canary), '0',
		"SIGKILL to the $name empties shared memory (all processes restarted)");
}

$node->stop;
my $log = slurp_file($node->logfile);
my @killed = $log =~ /terminated by signal (\d+)/g;
is(join(',', @killed), '9,9', 'exactly the two deliberate kills, by signal 9');
like($log, qr/all server processes terminated; reinitializing/,
	'and PostgreSQL reinitialized after each');
unlike($log, qr/PANIC|TRAP:/, 'no other crash');
done_testing();
