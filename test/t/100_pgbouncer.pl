# foundation behind pgbouncer in transaction pooling mode: 2 server
# connections shared by up to 20 clients (docs/neighbours.md).
#
# Proves that what is leased (registry entries, locks, leadership) works
# across pooled connections, renewed from another server connection than
# the one that made it (checked by backend pid), that config and events
# work, that durable subscriptions (1.2) read and acknowledge correctly
# from clients served by either server connection, and what is unsafe: a session-owned entry or lock made through the
# pooler belongs to the server connection, outlives its client and passes
# to the next client served by that connection.  foundation.pooler_mode,
# set by pgbouncer's connect_query, makes such calls raise a WARNING.
use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(usleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

# CI installs pgbouncer (Debian package pgbouncer): missing is a failure.
sub find_program
{
	my ($name) = @_;
	foreach my $dir (split(/:/, $ENV{PATH}), qw(/usr/sbin /usr/bin /sbin /bin))
	{
		return "$dir/$name" if -x "$dir/$name";
	}
	return undef;
}
my $pgbouncer = find_program('pgbouncer');
if (!defined $pgbouncer)
{
	fail('pgbouncer not found in PATH or /usr/sbin: install the Debian package "pgbouncer"');
	done_testing();
	exit 1;
}

my $node = PostgreSQL::Test::Cluster->new('main');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
max_connections = 40
});
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION foundation;
CREATE ROLE app LOGIN;
GRANT EXECUTE ON FUNCTION fnd_config_update(text, jsonb) TO app;
});

# ---- foundation.pooler_mode on a direct connection ----
sub warnings_of
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		on_error_die => 1);
	return $err;
}
like(warnings_of(q{SET foundation.pooler_mode = transaction;
	SELECT fnd_register('direct', 'a')}),
	qr/WARNING:  session-owned registry entry "direct\/a" belongs to the server session, not to the pooler's client/,
	'pooler_mode = transaction: a session-owned registration warns');
like(warnings_of(q{SET foundation.pooler_mode = session;
	SELECT fnd_lock_acquire('direct-lock')}),
	qr/WARNING:  session-owned lock "direct-lock" belongs to the server session.*\nDETAIL:  foundation.pooler_mode is "session"/s,
	'pooler_mode = session: a session-owned lock warns, naming the mode');
like(warnings_of(q{SET foundation.pooler_mode = transaction;
	SELECT fnd_elect_leader('direct-group', 'me', NULL)}),
	qr/WARNING:  session-owned leadership of group "direct-group"/,
	'a session-owned leadership warns');
is(warnings_of(q{SET foundation.pooler_mode = transaction;
	SELECT fnd_register('direct', 'b', lease => '30 s');
	SELECT fnd_lock_acquire('direct-lock-2', lease => '30 s');
	SELECT fnd_elect_leader('direct-group-2', 'me', '30 s')}),
	'', 'leased calls do not warn');
is(warnings_of(q{SELECT fnd_register('direct', 'c');
	SELECT fnd_lock_acquire('direct-lock-3')}),
	'', 'pooler_mode none (the default): no warning');
# A session pooler's reset (pgbouncer's server_reset_query, DISCARD ALL)
# does not release what the server session owns either.
is($node->safe_psql('postgres', q{SELECT fnd_register('direct', 'kept');
	SELECT fnd_lock_acquire('kept-lock') IS NOT NULL;
	DISCARD ALL;
	SELECT count(*) FROM fnd_lookup('direct', 'kept');
	SELECT count(*) FROM fnd_locks WHERE name = 'kept-lock' AND owner_pid = pg_backend_pid()}),
	"\nt\n1\n1", 'DISCARD ALL keeps the session\'s registry entry and lock');
my ($ret, $out, $err) = $node->psql('postgres', q{SET foundation.pooler_mode = 'bouncy'});
like($err, qr/invalid value for parameter "foundation.pooler_mode": "bouncy"/,
	'a bad pooler_mode is refused');

# ---- pgbouncer: transaction pooling, 2 server connections, 20 clients ----
# A pseudo-node whose port is pgbouncer's: psql through it goes through the
# pooler, on a unix socket in the test's socket directory.
my $bouncer = PostgreSQL::Test::Cluster->new('bouncer');
my $bdir = $bouncer->basedir;
my $user = 'app';
append_to_file("$bdir/userlist.txt", qq{"$user" ""\n});
append_to_file("$bdir/pgbouncer.ini", sprintf(q{
[databases]
postgres = host=%s port=%d dbname=postgres connect_query='SET foundation.pooler_mode = transaction'

[pgbouncer]
listen_addr =
listen_port = %d
unix_socket_dir = %s
auth_type = trust
auth_file = %s/userlist.txt
pool_mode = transaction
default_pool_size = 2
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 2
max_client_conn = 20
logfile = %s/pgbouncer.log
pidfile = %s/pgbouncer.pid
}, $node->host, $node->port, $bouncer->port, $bouncer->host, $bdir, $bdir, $bdir));

my $bh = IPC::Run::start([ $pgbouncer, "$bdir/pgbouncer.ini" ],
	'<', \undef, '>&', "$bdir/pgbouncer.out", IPC::Run::timeout(120));
END { eval { $bh->kill_kill(grace => 5) } if $bh; }

my @as_app = (extra_params => [ '-U', $user ]);
sub via_pooler
{
	my ($sql) = @_;
	return $bouncer->safe_psql('postgres', $sql, @as_app);
}
my $up = 0;
foreach (1 .. 300)    # 30 s at most
{
	my ($r) = $bouncer->psql('postgres', 'SELECT 1', @as_app);
	if ($r == 0) { $up = 1; last; }
	usleep(100_000);
}
ok($up, 'pgbouncer accepts connections') or diag(slurp_file("$bdir/pgbouncer.out"));

my $server_conns = q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'app'};

# ---- leased state works across server connections ----
# Client A makes leased state inside a transaction it keeps open, so it
# keeps its server connection; client B is then necessarily served by the
# other one.
my $a = $bouncer->background_psql('postgres', @as_app);
$a->query_safe('BEGIN');
my $pid_a = $a->query_safe('SELECT pg_backend_pid()');
$a->query_safe(q{SELECT fnd_register('pool', 'leased-1', '{"zone": "eu"}', lease => '30 s')});
my $token = $a->query_safe(q{SELECT fnd_lock_acquire('job', lease => '30 s')});
is($a->query_safe(q{SELECT fnd_elect_leader('pool-group', 'node-a', '30 s')}),
	't', 'client A: elected with a lease');
is($a->{stderr}, '', 'client A: leased calls raise no warning through the pooler');
my $term = $a->query_safe(q{SELECT term FROM fnd_leader('pool-group')});

my ($pid_b, $renewed, $lock_renewed, $still_leads, $term_b) = split(/\|/, via_pooler(qq{
SELECT pg_backend_pid(),
       fnd_renew('pool', 'leased-1') > now(),
       fnd_lock_renew('job', $token) > now(),
       fnd_elect_leader('pool-group', 'node-a', '30 s'),
       (SELECT term FROM fnd_leader('pool-group'))}));
isnt($pid_b, $pid_a, "client B is served by another server connection (pid $pid_b, not $pid_a)");
is($renewed, 't', 'client B renews the leased registry entry made by client A');
is($lock_renewed, 't', "client B renews the leased lock with its token $token");
is($still_leads, 't', 'client B renews the leadership');
is($term_b, $term, 'renewing the leadership keeps its term');
via_pooler(q{SELECT fnd_update_metadata('pool', 'leased-1', '{"zone": "us"}')});
is(via_pooler(q{SELECT metadata->>'zone', owner_pid IS NULL, owner_role FROM fnd_lookup('pool', 'leased-1')}),
	'us|t|app', 'another client updates the entry; it is owned by the role, not a session');
$a->query_safe('COMMIT');
$a->quit;
is(via_pooler(qq{SELECT fnd_lock_release('job', $token), fnd_resign('pool-group', 'node-a'),
	fnd_unregister('pool', 'leased-1')}),
	't|t|t', 'after client A left, another client releases, resigns and unregisters');

# ---- config and events through the pooler ----
via_pooler(q{SELECT fnd_config_update('app.pool.size', '20')});
is(via_pooler(q{SELECT fnd_config_get('app.pool')}), '{"size": 20}',
	'config written by one client is read by another');
my $ev = via_pooler(q{SELECT fnd_store_event('pooled', '{"n": 1}')});
is(via_pooler(qq{SELECT data->>'n' FROM fnd_get_event($ev)}), '1',
	'an event stored by one client is read by another');

# ---- 20 clients on 2 server connections ----
# Each client registers a leased entry, then renews it, stores an event and
# reads config in separate transactions, which the pooler spreads over its
# 2 server connections.
my @clients;
foreach my $i (1 .. 20)
{
	my $sql = qq{SELECT fnd_register('pool', 'client-$i', lease => '60 s');\n};
	$sql .= qq{SELECT fnd_renew('pool', 'client-$i') IS NOT NULL;
SELECT fnd_store_event('pooled_client', jsonb_build_object('client', $i, 'pid', pg_backend_pid()));
SELECT fnd_config_get('app.pool.size');\n} x 5;
	my ($o, $e) = ('', '');
	push @clients, {
		out => \$o, err => \$e,
		h => IPC::Run::start(
			[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-U', $user,
			  '-d', $bouncer->connstr('postgres') ],
			'<', \$sql, '>', \$o, '2>', \$e,
			IPC::Run::timeout(60)) };
}
my $clients_ok = 0;
foreach my $c (@clients)
{
	my $fine = eval { $c->{h}->finish };
	$clients_ok++ if $fine && ${ $c->{err} } eq '';
	diag("client: ${ $c->{err} }") if ${ $c->{err} } ne '';
}
is($clients_ok, 20, '20 clients ran their transactions through the pooler');
is($node->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE owner_pid IS NULL AND owner_role = 'app'
	                          AND lease_expires_at > now())
	FROM fnd_registry WHERE namespace = 'pool' AND name LIKE 'client-%'}),
	'20', '20 leased entries, owned by the role');
my ($events, $pids) = split(/\|/, $node->safe_psql('postgres', q{
	SELECT count(*), count(DISTINCT data->>'pid') FROM fnd_events WHERE type = 'pooled_client'}));
is($events, 100, 'every event of the 20 clients is stored');
cmp_ok($pids, '<=', 2, "the events came from at most 2 server connections ($pids)");
cmp_ok($node->safe_psql('postgres', $server_conns), '<=', 2,
	'pgbouncer holds at most 2 server connections');

# ---- unsafe: session-owned state belongs to the server connection ----
my ($x_out, $x_err) = ('', '');
$bouncer->psql('postgres', q{SELECT pg_backend_pid();
	SELECT fnd_register('pool', 'session-owned');
	SELECT fnd_lock_acquire('x-lock')},
	stdout => \$x_out, stderr => \$x_err, on_error_die => 1, @as_app);
my ($pid_x, $token_x) = grep { $_ ne '' } split(/\n/, $x_out);
like($x_err, qr/WARNING:  session-owned registry entry "pool\/session-owned" belongs to the server session, not to the pooler's client.*WARNING:  session-owned lock "x-lock"/s,
	'through the pooler (connect_query sets foundation.pooler_mode) both calls warn');

# Client X has disconnected; its server connection has not.
is($node->safe_psql('postgres', qq{
	SELECT (SELECT owner_pid FROM fnd_lookup('pool', 'session-owned')),
	       (SELECT owner_pid FROM fnd_locks WHERE name = 'x-lock'),
	       (SELECT count(*) FROM pg_stat_activity WHERE pid = $pid_x)}),
	"$pid_x|$pid_x|1",
	'after client X disconnected, its entry and lock are still owned by the live server connection');

# Hold both server connections in open transactions, then free the one
# that made X's entry: the next client is necessarily served by it.
my @z = map { $bouncer->background_psql('postgres', @as_app) } 1 .. 2;
my %z_pid;
foreach my $z (@z)
{
	$z->query_safe('BEGIN');
	$z_pid{$z} = $z->query_safe('SELECT pg_backend_pid()');
}
my ($z_x) = grep { $z_pid{$_} == $pid_x } @z;
ok(defined $z_x, 'one of two clients in a transaction holds client X\'s server connection');
$z_x->query_safe('COMMIT') if $z_x;
my ($pid_y, $owner_y, $token_y) = split(/\|/, via_pooler(q{
SELECT pg_backend_pid(),
       (SELECT owner_pid FROM fnd_lookup('pool', 'session-owned')),
       fnd_lock_acquire('x-lock')}));
is($pid_y, $pid_x, 'client Y is served by the server connection that made X\'s entry');
is($owner_y, $pid_x, 'client Y\'s session owns the entry client X registered');
is($token_y, $token_x,
	"client Y \"re-acquires\" client X's lock and gets X's token $token_x: two clients think they hold it");
$_->quit foreach @z;

# ---- 1.2 (issue 16): durable subscriptions through the pooler ----
# A subscription made through the pooler; events stored by many clients
# (some in multi-event transactions, one rolled back); read and
# acknowledged in turns from clients held on each of the two server
# connections (pids compared), then by ordinary pooled clients: every
# committed event exactly once, in id order, nothing rolled back.
via_pooler(q{SELECT fnd_subscription_create('pooled', '{"types": ["pooled.sub"]}')});
my @stored;
foreach my $i (1 .. 12)
{
	my $sql = $i % 4 == 0
	  ? qq{BEGIN; SELECT fnd_store_event('pooled.sub', '{"i": $i}'); SELECT fnd_store_event('pooled.sub', '{"i": $i, "second": true}'); COMMIT;}
	  : qq{SELECT fnd_store_event('pooled.sub', '{"i": $i}')};
	push @stored, grep { /^\d+$/ } split(/\n/, via_pooler($sql));
}
via_pooler(q{BEGIN; SELECT fnd_store_event('pooled.sub', '{"rolled_back": true}'); ROLLBACK;});
is(scalar(@stored), 15, '15 events stored by 12 pooled clients');

my @held = map { $bouncer->background_psql('postgres', @as_app) } 1 .. 2;
my @held_pid;
foreach my $h (@held)
{
	$h->query_safe('BEGIN');
	push @held_pid, $h->query_safe('SELECT pg_backend_pid()');
}
isnt($held_pid[0], $held_pid[1], 'two clients hold the two server connections');
my @delivered;
# read 4 and acknowledge them, alternating server connections
foreach my $round (0 .. 1)
{
	foreach my $h (@held)
	{
		my $ids = $h->query_safe(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM fnd_subscription_read('pooled', 4)});
		my @ids = split(/,/, $ids // '');
		push @delivered, @ids;
		$h->query_safe("SELECT fnd_subscription_ack('pooled', $ids[-1])") if @ids;
		$h->query_safe('COMMIT; BEGIN');
	}
}
$_->query_safe('COMMIT') foreach @held;
$_->quit foreach @held;
is(scalar(@delivered), 15, 'the two server connections read and acknowledged 15 events in turns');
# an unacknowledged read comes back: read 3 without ack, then read and ack
my $peek = via_pooler(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM fnd_subscription_read('pooled', 3)});
is($peek, '', 'nothing left after the acks');
via_pooler(q{SELECT fnd_store_event('pooled.sub', '{"late": 1}'); SELECT fnd_store_event('pooled.sub', '{"late": 2}')});
my $first = via_pooler(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM fnd_subscription_read('pooled', 1)});
my $again = via_pooler(q{SELECT string_agg(id::text, ',' ORDER BY id) FROM fnd_subscription_read('pooled')});
like($again, qr/^\Q$first\E,\d+$/, 'an unacknowledged event is read again, by another pooled client, then the next');
my @late = split(/,/, $again);
via_pooler("SELECT fnd_subscription_ack('pooled', $late[-1])");
push @stored, grep { /^\d+$/ } split(/\n/, $node->safe_psql('postgres',
	q{SELECT id FROM fnd_events WHERE type = 'pooled.sub' AND data ? 'late' ORDER BY id}));
push @delivered, @late;
is(join(',', @delivered), join(",", sort { $::a <=> $::b } @stored),
	'every committed event delivered exactly once, in id order, none rolled back');
is(via_pooler(q{SELECT checkpoint = (SELECT max(id) FROM fnd_events WHERE type = 'pooled.sub')
	FROM fnd_subscriptions WHERE name = 'pooled'}), 't', 'the checkpoint is the last event');
via_pooler(q{SELECT fnd_subscription_drop('pooled')});

cmp_ok($node->safe_psql('postgres', $server_conns), '<=', 2,
	'still at most 2 server connections');

# ---- stop ----
$bh->signal('TERM');
my $stopped = eval { $bh->finish; 1 };
ok($stopped, 'pgbouncer stopped');
diag("pgbouncer log:\n" . slurp_file("$bdir/pgbouncer.log"))
  if !Test::More->builder->is_passing && -f "$bdir/pgbouncer.log";
$node->stop;
unlike(slurp_file($node->logfile), qr/PANIC|TRAP:|terminated by signal/, 'server log is clean');
done_testing();
