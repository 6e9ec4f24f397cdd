# foundation on a streaming replica, and through a failover
# (docs/neighbours.md):
#   - a hot standby built from a base backup replays events and config, and
#     its read functions work;
#   - every write function fails there with 25006 (read_only_sql_transaction),
#     never an internal error, and leaves nothing behind in shared memory;
#   - the supervisor runs on the standby without an error;
#   - durable subscriptions replicate with their checkpoints; reading one
#     on the standby raises 25006 (the documented standby rule), and after
#     the failover the promoted standby delivers exactly the events after
#     the checkpoint (1.2);
#   - with synchronous replication, fencing tokens and election terms handed
#     out by the old primary right up to its crash (from blocks reserved just
#     before) are all below every one the promoted standby hands out: no
#     block of the old primary is reused;
#   - and why it must be synchronous: an asynchronous standby that missed
#     the old primary's last WAL hands out its tokens again after promotion.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'foundation'
foundation.supervisor_naptime = 100
foundation.event_retention = '1d'
log_line_prefix = '%m [%p] %b %e '
});
$primary->start;
$primary->safe_psql('postgres', q{
CREATE EXTENSION foundation;
SELECT fnd_store_event('order_placed', '{"order": 1}');
SELECT fnd_config_update('app.pool.size', '10');
SELECT fnd_lock_acquire('warmup'), fnd_lock_release('warmup');
SELECT fnd_elect_leader('warmup', 'a', '10 s'), fnd_resign('warmup', 'a');
});
$primary->backup('b1');

my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b1', has_streaming => 1);
$standby->start;
# An asynchronous standby, stopped before the primary's last tokens.
my $lagging = PostgreSQL::Test::Cluster->new('lagging');
$lagging->init_from_backup($primary, 'b1', has_streaming => 1);
$lagging->start;

# Synchronous from here on: a commit, and a token block (see
# fnd_token_make_durable), waits for the standby to flush its WAL.
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby'");
$primary->reload;
ok($primary->poll_query_until('postgres',
		q{SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'standby'}),
	'the standby replicates synchronously');

# ---- events and config replicate; reads work on the standby ----
$primary->safe_psql('postgres', q{
SELECT fnd_store_event('order_placed', '{"order": 2}');
SELECT fnd_store_events('[{"type": "order_shipped", "data": {"order": 1}}]');
SELECT fnd_config_update('app.pool.timeout', '"5 s"');
});
$primary->wait_for_catchup($standby, 'replay');

my $events_q = q{SELECT string_agg(id || ':' || type || ':' || (data->>'order'), ',' ORDER BY id)
	FROM fnd_query_events(max_rows => 100)};
my $on_primary = $primary->safe_psql('postgres', $events_q);
is($standby->safe_psql('postgres', $events_q), $on_primary,
	"fnd_query_events on the standby returns the primary's events ($on_primary)");
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM fnd_query_events('order_placed', after_id => 0)}),
	'2', 'a filtered query works on the standby');
my $last_id = $primary->safe_psql('postgres', q{SELECT max(id) FROM fnd_events});
is($standby->safe_psql('postgres', "SELECT type FROM fnd_get_event($last_id)"),
	'order_shipped', 'fnd_get_event works on the standby');
is($standby->safe_psql('postgres', q{SELECT fnd_config_get('app.pool')}),
	'{"size": 10, "timeout": "5 s"}', 'fnd_config_get reads the replicated config');
is($standby->safe_psql('postgres', q{SELECT fnd_config_get('app.pool.max', '20')}),
	'20', 'fnd_config_get with a fallback works on the standby');

# ---- writes fail with 25006 on the standby, and leave nothing behind ----
my @writes = (
	q{SELECT fnd_store_event('x', '{}')},
	q{SELECT fnd_store_events('[{"type": "x", "data": {}}]')},
	q{SELECT fnd_config_update('app.x', '1')},
	q{SELECT fnd_config_reset('app.pool')},
	q{SELECT fnd_config_reset()},
	q{SELECT fnd_prune_events(now())},
	q{SELECT fnd_lock_acquire('standby-lock')},
	q{SELECT fnd_lock_acquire('standby-lock', wait => '1 s', lease => '1 min')},
	q{SELECT fnd_elect_leader('standby-group', 'a', '10 s')},
	q{SELECT fnd_elect_leader('standby-group', 'a', NULL)});
foreach my $sql (@writes)
{
	my ($ret, $out, $err) = $standby->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	my ($code, $msg) = $err =~ /ERROR:  ([0-9A-Z]{5}): ([^\n]*)/;
	is($code // "none: $err", '25006', "on the standby: $sql fails with 25006 ("
		  . ($msg // '') . ')');
	# tokens and terms: the error says what was refused, not nextval()
	like($err, qr/cannot issue a new (fencing token|election term) in a read-only transaction\n.*DETAIL:  The server is a hot standby/s,
		'  and says that a token or term cannot be issued on a standby')
	  if $sql =~ /fnd_lock_acquire|fnd_elect_leader/;
}
is($standby->safe_psql('postgres',
		q{SELECT (SELECT count(*) FROM fnd_locks) + (SELECT count(*) FROM fnd_leaders)}),
	'0', 'the refused acquisitions left no lock and no leader behind');
is($standby->safe_psql('postgres', $events_q), $on_primary, 'and no event changed');

# Shared-memory state is the standby's own and works there.
$standby->safe_psql('postgres', q{SELECT fnd_register('standby', 'reader-1', lease => '1 min')});
is($standby->safe_psql('postgres', q{SELECT count(*) FROM fnd_registry WHERE namespace = 'standby'}),
	'1', 'the registry works on the standby');
is($primary->safe_psql('postgres', q{SELECT count(*) FROM fnd_registry WHERE namespace = 'standby'}),
	'0', 'and stays on the standby');

# ---- the supervisor on the standby ----
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'foundation supervisor'}),
	'the supervisor runs on the standby');
ok($standby->poll_query_until('postgres',
		q{SELECT bool_and(runs >= 3) FROM fnd_services() WHERE state = 'running'}),
	'its services have run several passes');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM fnd_services() WHERE state = 'failed' OR last_error IS NOT NULL}),
	'0', 'no service failed or reported an error on the standby');

# ---- 1.2 (issue 16): durable subscriptions on the replica ----
# A subscription created, read and acknowledged on the primary replicates
# with its checkpoint.  The standby rule (docs/subscriptions.md): a standby
# cannot see which event ids the primary's open transactions hold, so
# fnd_subscription_read (and _ack, _create) raise 25006 there, with a
# clear message; fnd_query_events(after_id => checkpoint) is the read-only
# way, without the gap-free guarantee.  After the failover below, the
# promoted standby delivers exactly the events after the checkpoint.
$primary->safe_psql('postgres', q{
SELECT fnd_subscription_create('replicated', '{"types": ["replica.sub"]}');
SELECT fnd_store_event('replica.sub', jsonb_build_object('n', i)) FROM generate_series(1, 5) i;
SELECT fnd_subscription_ack('replicated', (SELECT max(id) FROM fnd_subscription_read('replicated', 3)));
});
my $sub_q = q{SELECT name, filter, checkpoint FROM fnd_subscriptions WHERE name = 'replicated'};
my $sub_primary = $primary->safe_psql('postgres', $sub_q);
$primary->wait_for_catchup($standby, 'replay');
is($standby->safe_psql('postgres', $sub_q), $sub_primary,
	'the subscription and its checkpoint replicate');
foreach my $sql (q{SELECT * FROM fnd_subscription_read('replicated')},
	q{SELECT fnd_subscription_ack('replicated', 1)},
	q{SELECT fnd_subscription_create('on-standby')})
{
	my ($ret, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	like($err, qr/ERROR:  25006: /, "on the standby, 25006: $sql");
}
my ($r, $o, $read_err) = $standby->psql('postgres', q{SELECT * FROM fnd_subscription_read('replicated')});
like($read_err, qr/durable subscriptions are read on the primary.*HINT:  .*fnd_query_events with after_id/s,
	'the standby read error says why and names the read-only way');
is($standby->safe_psql('postgres', q{SELECT string_agg(data->>'n', ',' ORDER BY id)
	FROM fnd_query_events('replica.sub', after_id => (SELECT checkpoint FROM fnd_subscriptions WHERE name = 'replicated'))}),
	'4,5', 'read-only on the standby: fnd_query_events after the checkpoint');

# ---- failover: tokens and terms keep increasing ----
# The asynchronous standby stops receiving here.
$primary->wait_for_catchup($lagging, 'replay');
$lagging->stop;

# Use up the current blocks so that the old primary reserves fresh ones
# right before the crash (the first since the base backup's checkpoint, so
# nextval WAL-logs them), then hold locks and a leadership from them.
# With the synchronous standby down, the first token of a new block does
# not leave the primary: the call waits for the standby (SyncRep), holding
# its lock with no token yet, and goes on once the standby is back.
$standby->stop;
my $holder = $primary->background_psql('postgres');
$holder->query_until(qr/burning/, q{\echo burning
DO $$
BEGIN
    FOR i IN 1..1100 LOOP
        PERFORM fnd_lock_acquire('burn');
        PERFORM fnd_lock_release('burn');
        PERFORM fnd_elect_leader('burn', 'a', '10 s');
        PERFORM fnd_resign('burn', 'a');
    END LOOP;
END $$;
});
ok($primary->poll_query_until('postgres', q{SELECT wait_event = 'SyncRep' FROM pg_stat_activity
		WHERE query LIKE 'DO%' AND pid <> pg_backend_pid()}),
	'with the standby down, a new block waits for the standby before its first token is handed out');
is($primary->safe_psql('postgres', q{SELECT token IS NULL FROM fnd_locks WHERE name = 'burn'}),
	't', 'meanwhile the lock is held with no token');
$standby->start;
$holder->query_safe('SELECT 1');    # returns once the DO block has
my @tokens_before = map { $holder->query_safe("SELECT fnd_lock_acquire('before-$_')") } 1 .. 3;
$holder->query_safe(q{SELECT fnd_elect_leader('failover', 'old-primary', '1 min')});
my $term_before = $holder->query_safe(q{SELECT term FROM fnd_leader('failover')});
my ($max_token) = sort { $b <=> $a } @tokens_before;
cmp_ok($max_token, '>', 1024, "the old primary's tokens come from a block reserved just now (@tokens_before)");
cmp_ok($term_before, '>', 1024, "its term too ($term_before)");
# blocks of 1024 start at 1, 1025, 2049, ...
my $token_block_end = int(($max_token - 1) / 1024) * 1024 + 1024;
my $term_block_end = int(($term_before - 1) / 1024) * 1024 + 1024;

# Two subscription events committed (synchronously) right before the crash.
$holder->query_safe(q{SELECT fnd_store_event('replica.sub', jsonb_build_object('n', i)) FROM generate_series(6, 7) i});
# The old primary dies at once: no clean shutdown, no catch-up wait.
$primary->stop('immediate');
eval { $holder->quit };
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');

my $token_after = $standby->safe_psql('postgres', q{SELECT fnd_lock_acquire('after-1')});
cmp_ok($token_after, '>', $max_token,
	"a token after promotion ($token_after) is above every token before it ($max_token)");
cmp_ok($token_after, '>', $token_block_end,
	"and above the old primary's whole block (up to $token_block_end): the block is not reused");
my $token_after2 = $standby->safe_psql('postgres', q{SELECT fnd_lock_acquire('after-2')});
cmp_ok($token_after2, '>', $token_after, 'tokens keep increasing on the new primary');
is($standby->safe_psql('postgres', q{SELECT fnd_elect_leader('failover', 'new-primary', '1 min')}),
	't', 'the old leadership is gone: a new leader is elected');
my $term_after = $standby->safe_psql('postgres', q{SELECT term FROM fnd_leader('failover')});
cmp_ok($term_after, '>', $term_block_end,
	"its term ($term_after) is above the old primary's ($term_before) and its whole block (up to $term_block_end)");

# Writes work on the new primary, after the replicated events.
my $new_id = $standby->safe_psql('postgres', q{SELECT fnd_store_event('after_failover', '{}')});
cmp_ok($new_id, '>', $last_id, 'events can be stored after promotion, with higher ids');

# The subscription on the new primary: the unacknowledged events stored
# before the failover (4, 5, and two stored right before the crash, below),
# then the new ones, each once, in id order; the checkpoint goes on.
is($standby->safe_psql('postgres', q{SELECT string_agg(data->>'n', ',' ORDER BY id) FROM fnd_subscription_read('replicated')}),
	'4,5,6,7', 'after promotion the subscription delivers exactly the unacknowledged events');
$standby->safe_psql('postgres', q{
SELECT fnd_subscription_ack('replicated', (SELECT max(id) FROM fnd_subscription_read('replicated')));
SELECT fnd_store_event('replica.sub', '{"n": 8}');
});
is($standby->safe_psql('postgres', q{SELECT string_agg(data->>'n', ',' ORDER BY id) FROM fnd_subscription_read('replicated')}),
	'8', 'and then what the new primary stores, after its checkpoint');
ok($standby->poll_query_until('postgres',
		q{SELECT count(*) = 0 FROM fnd_services() WHERE detail LIKE 'skipped%'}),
	'after promotion the supervisor runs its table services');

# Asynchronous: the lagging standby, promoted, hands out the old primary's
# tokens again.  This is why docs/neighbours.md requires synchronous
# replication for failover.
$lagging->start;
$lagging->promote;
my $token_lagging = $lagging->safe_psql('postgres', q{SELECT fnd_lock_acquire('after-async')});
cmp_ok($token_lagging, '<=', $max_token,
	"UNSAFE with asynchronous replication: a standby that missed the last WAL issues token $token_lagging, "
	  . "which the old primary had already handed out (it reached $max_token)");
$lagging->stop;

$standby->stop;
my $standby_log = slurp_file($standby->logfile);
unlike($standby_log, qr/foundation supervisor (?!57P01)\S+ (ERROR|FATAL|PANIC)/,
	"the supervisor logged no error on the standby or after promotion");
foreach my $n ([ 'primary', $primary ], [ 'standby', $standby ])
{
	my $log = slurp_file($n->[1]->logfile);
	unlike($log, qr/ XX000 |PANIC|TRAP:|terminated by signal/,
		"$n->[0] log: no internal error (XX000) and no crash");
}
done_testing();
