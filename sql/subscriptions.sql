-- subscriptions (1.2): create, read, ack, drop, the view, the lazy
-- conversion of old rows, agent channels and NOTIFY, every error
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS foundation;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
DELETE FROM fnd_event_subscriptions;
DELETE FROM fnd_event_channels;

-- 'now' starts after every event stored so far; 'beginning' before all
SELECT fnd_store_event('subs.before', '{"n": 0}') AS before_id \gset
SELECT fnd_subscription_create('all');
SELECT fnd_subscription_create('typed', '{"types": ["subs.a", "subs.b"]}');
SELECT fnd_subscription_create('from_start', '{"types": ["subs.before"]}', 'beginning');
SELECT name, filter, checkpoint >= :before_id AS after_existing, lag_events,
       created_by = current_user AS mine, created_at <= now() AS created
FROM fnd_subscriptions ORDER BY name;
SELECT type, data FROM fnd_subscription_read('from_start') WHERE id = :before_id;
SELECT count(*) AS nothing_yet FROM fnd_subscription_read('all');

-- events after the checkpoint, in id order, filtered; read again until acked
SELECT fnd_store_event('subs.a', '{"n": 1}') AS a1 \gset
SELECT fnd_store_event('subs.c', '{"n": 2}') AS c2 \gset
SELECT fnd_store_event('subs.b', '{"n": 3}') AS b3 \gset
SELECT id - :a1 AS off, type, data, metadata FROM fnd_subscription_read('all');
SELECT id - :a1 AS off, type FROM fnd_subscription_read('typed');
SELECT id - :a1 AS off, type FROM fnd_subscription_read('typed', 1);
SELECT fnd_subscription_ack('typed', :a1);
SELECT id - :a1 AS off, type FROM fnd_subscription_read('typed');
SELECT checkpoint = :a1 AS acked, lag_events FROM fnd_subscriptions WHERE name = 'typed';
-- acking an older id changes nothing; the last one empties the subscription
SELECT fnd_subscription_ack('typed', :a1 - 1);
SELECT checkpoint = :a1 AS unchanged FROM fnd_subscriptions WHERE name = 'typed';
SELECT fnd_subscription_ack('typed', :b3);
SELECT count(*) AS empty FROM fnd_subscription_read('typed');
-- an empty read moves the checkpoint past what it scanned
SELECT fnd_store_event('subs.c', '{"n": 4}') AS c4 \gset
SELECT count(*) AS empty FROM fnd_subscription_read('typed');
SELECT checkpoint >= :c4 AS skipped_nonmatching FROM fnd_subscriptions WHERE name = 'typed';

-- a read-only transaction reads (and leaves the checkpoint alone)
SELECT fnd_store_event('subs.c', '{"n": "ro"}') AS ro \gset
SELECT checkpoint AS cp_before FROM fnd_subscriptions WHERE name = 'typed' \gset
BEGIN READ ONLY;
SELECT count(*) AS empty FROM fnd_subscription_read('typed');
COMMIT;
SELECT checkpoint = :cp_before AS unchanged, :ro > :cp_before AS had_something_to_skip
FROM fnd_subscriptions WHERE name = 'typed';

-- a rolled-back event is never delivered; its id is skipped
BEGIN;
SELECT fnd_store_event('subs.a', '{"n": "rolled back"}') AS rb \gset
ROLLBACK;
SELECT fnd_store_event('subs.a', '{"n": 5}') AS a5 \gset
SELECT data FROM fnd_subscription_read('typed');
SELECT fnd_subscription_ack('typed', :a5);

-- the session's own open transaction holds the horizon: nothing of it is
-- delivered before it commits
BEGIN;
SELECT fnd_store_event('subs.a', '{"n": 6}') AS a6 \gset
SELECT count(*) AS own_open_event_not_delivered FROM fnd_subscription_read('typed');
COMMIT;
SELECT data FROM fnd_subscription_read('typed');

-- lazy conversion: a row written before 1.2 (metadata NULL) reads with
-- agent_context and correlation_id from its data, and filters match them
SELECT fnd_subscription_create('agent7', '{"agent_id": "agent-7"}');
SELECT fnd_subscription_create('corr', '{"correlation_id": "c-1"}');
SELECT fnd_store_event('subs.old', '{"agent_id": "agent-7", "correlation_id": "c-1", "x": 1}') AS old1 \gset
SELECT fnd_store_event('subs.old', '{"agent_id": 7, "correlation_id": ["c-1"]}') AS old2 \gset
SELECT fnd_store_event('subs.new', '{"agent_id": "agent-7"}') AS new3 \gset
UPDATE fnd_events SET metadata = NULL WHERE id IN (:old1, :old2);
UPDATE fnd_events SET agent_context = '{"agent_id": "agent-7"}', correlation_id = 'c-1'
WHERE id = :new3;
SELECT id - :old1 AS off, type, agent_context, correlation_id, metadata
FROM fnd_subscription_read('agent7');
SELECT id - :old1 AS off, type FROM fnd_subscription_read('corr');
SELECT e.agent_context, e.correlation_id, e.metadata
FROM fnd_events r, fnd_event_lazy(r) e WHERE r.id = :old2;
SELECT lag_events FROM fnd_subscriptions WHERE name IN ('agent7', 'corr') ORDER BY name;
UPDATE fnd_events SET metadata = '{}' WHERE metadata IS NULL;

-- agent channels: a NOTIFY per committed matching event, without the data
SELECT fnd_subscribe_to_agent_events('agent-7') AS ch7 \gset
SELECT fnd_subscribe_to_agent_events('agent-7', '{"types": ["subs.x"]}') AS ch7x \gset
SELECT fnd_subscribe_to_agent_events('agent-7') = :'ch7' AS same_channel,
       :'ch7' <> :'ch7x' AS filter_has_own_channel, :'ch7' ~ '^fnd_agent_[0-9a-f]{24}$' AS named;
SELECT agent_id, filter FROM fnd_event_channels ORDER BY filter::text;
-- (NOTIFY itself: test/isolation/specs/subscriptions-notify.spec)
BEGIN;
SELECT fnd_store_event('subs.x', '{"agent_id": "agent-7"}') IS NOT NULL AS stored;
UPDATE fnd_events SET metadata = NULL WHERE type = 'subs.x';
COMMIT;
SELECT fnd_unsubscribe_from_agent_events(:'ch7x') AS removed,
       fnd_unsubscribe_from_agent_events(:'ch7x') AS gone;
UNLISTEN *;

-- errors: nothing changes
\set VERBOSITY sqlstate
SELECT fnd_subscription_create('all');
SELECT fnd_subscription_create(NULL);
SELECT fnd_subscription_create('');
SELECT fnd_subscription_create(repeat('x', 201));
SELECT fnd_subscription_create('bad', NULL);
SELECT fnd_subscription_create('bad', '[]');
SELECT fnd_subscription_create('bad', '{"type": "a"}');
SELECT fnd_subscription_create('bad', '{"types": "a"}');
SELECT fnd_subscription_create('bad', '{"types": []}');
SELECT fnd_subscription_create('bad', '{"types": [1]}');
SELECT fnd_subscription_create('bad', '{"agent_id": 7}');
SELECT fnd_subscription_create('bad', '{"correlation_id": ""}');
SELECT fnd_subscription_create('bad', '{}', 'later');
SELECT fnd_subscription_create('bad', '{}', NULL);
SELECT fnd_subscription_read('nope');
SELECT fnd_subscription_read(NULL);
SELECT fnd_subscription_read('all', 0);
SELECT fnd_subscription_read('all', 10001);
SELECT fnd_subscription_read('all', NULL);
SELECT fnd_subscription_ack('nope', 1);
SELECT fnd_subscription_ack('all', NULL);
SELECT fnd_subscription_ack('all', 9223372036854775807);
SELECT fnd_subscription_drop('nope');
SELECT fnd_subscription_drop(NULL);
SELECT fnd_subscribe_to_agent_events(NULL);
SELECT fnd_subscribe_to_agent_events('');
SELECT fnd_subscribe_to_agent_events('a', '{"agent_id": "b"}');
SELECT fnd_subscribe_to_agent_events('a', NULL);
SELECT count(*) AS unchanged FROM fnd_event_subscriptions;
\set VERBOSITY default
SELECT fnd_subscription_read('nope');
SELECT fnd_subscription_create('bad', '{"types": []}');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT fnd_subscription_read('all');
ROLLBACK;

-- an id sequence with a cache hands out ids out of order: reads refuse
ALTER TABLE fnd_events ALTER COLUMN id SET CACHE 10;
SELECT fnd_subscription_read('all');
ALTER TABLE fnd_events ALTER COLUMN id SET CACHE 1;
SELECT count(*) >= 0 AS reads_again FROM fnd_subscription_read('all');

-- a transaction that stored events cannot be prepared
BEGIN;
SELECT fnd_store_event('subs.2pc') IS NOT NULL AS stored;
PREPARE TRANSACTION 'fnd_subs';
SELECT count(*) AS not_prepared FROM pg_prepared_xacts WHERE gid = 'fnd_subs';

-- another role: FN104 for someone else's subscription; its own works
CREATE ROLE fnd_subs_other;
SET ROLE fnd_subs_other;
\set VERBOSITY sqlstate
SELECT fnd_subscription_read('all');
SELECT fnd_subscription_ack('all', 1);
SELECT fnd_subscription_drop('all');
\set VERBOSITY default
SELECT fnd_subscription_read('all');
SELECT fnd_subscription_create('others');
SELECT count(*) FROM fnd_subscription_read('others');
-- internal helpers are not for PUBLIC; the tables are written only through
-- the functions
\set VERBOSITY sqlstate
SELECT fnd_subscription_horizon();
UPDATE fnd_event_subscriptions SET checkpoint = 0;
INSERT INTO fnd_event_channels VALUES ('x', 'a', '{}', 'x');
\set VERBOSITY default
RESET ROLE;
SELECT name, created_by FROM fnd_subscriptions WHERE name = 'others';
SELECT fnd_subscription_drop('others');
DROP ROLE fnd_subs_other;

-- agent features off: FN002
\getenv abs_srcdir PG_ABS_SRCDIR
\set want off
\i :abs_srcdir/sql/include/agent_features.sql
\set VERBOSITY sqlstate
SELECT fnd_subscription_create('x');
SELECT fnd_subscription_read('all');
SELECT fnd_subscription_ack('all', 1);
SELECT fnd_subscription_drop('all');
SELECT fnd_subscribe_to_agent_events('a');
SELECT fnd_unsubscribe_from_agent_events('a');
\set VERBOSITY default
\set want on
\i :abs_srcdir/sql/include/agent_features.sql

-- drop
SELECT fnd_subscription_drop('all');
SELECT name FROM fnd_subscriptions ORDER BY name;
DELETE FROM fnd_event_subscriptions;
DELETE FROM fnd_event_channels;
