/*-------------------------------------------------------------------------
 *
 * lock.c
 *	  Named locks with fencing tokens, FIFO waiters and optional leases.
 *
 * A lock is an entry of one shared hash table keyed by (database, name).
 * An entry exists exactly while the lock is held; it is removed when the
 * last holder lets go and nobody waits.  Capacity is foundation.max_locks
 * entries; beyond that fnd_lock_acquire raises FN607 (coordination_full).
 *
 * Ownership.  Without a lease a lock belongs to the session that acquired
 * it and is released when that session ends, however it ends
 * (fnd_lock_session_exit).  With a lease it belongs to the acquiring role,
 * survives the session and ends when the lease runs out unless renewed.
 * Expiry is checked on every access to the entry and by the supervisor
 * (fnd_lock_periodic), and a waiter sleeps no longer than the holder's
 * lease, so an expired lock passes to the next waiter promptly.
 *
 * Waiting is first come, first served, with direct hand-off.  Every backend
 * has a waiter slot (indexed by BackendId) holding a ConditionVariable.  A
 * waiter appends its slot to the lock's queue and sleeps on its own
 * condition variable.  Whoever ends a holding (release, lease expiry, the
 * holder's session exit) makes the head waiter the holder at once, marks
 * its slot granted and signals only that slot: no thundering herd, and
 * nobody can overtake a queued waiter, because a free lock never has a
 * queue.  A waiter that errors out (statement_timeout, pg_cancel_backend)
 * leaves the queue in a PG_CATCH block, and if it had been handed the lock
 * meanwhile passes it on; a waiter whose session dies does the same from
 * the session-exit callback.
 *
 * Fencing tokens come from blocks reserved from the sequence fnd_fencing_seq
 * in the extension's schema (see fnd_next_token for why that is crash- and
 * failover-safe).  A new holder takes its token from the block at the
 * moment it becomes holder, under the LWLock -- also when it is handed the
 * lock, so a woken waiter needs no lock at all.  Since the next holder can
 * only be installed after this one lets go, tokens of one name strictly
 * increase in acquisition order.  When the block is used up, reserving the
 * next one (nextval) cannot happen under our LWLock: the holder is then
 * installed with token 0 ("pending": held, but nobody knows a token yet),
 * fetches a token, and stores it.  A pending holding never expires and
 * cannot be released by token; if fetching fails, it is passed on.
 *
 * Locking protocol: the hash table is split in FND_LOCK_PARTITIONS
 * partitions, as the lock manager's is; the LWLock of a key's partition
 * (fnd_lock_lwlock(key)) guards its entry and the fields of the waiter
 * slots queued on it (next, queued, granted, token, session, role,
 * lease_usec).  It is taken exclusively by anything that changes them.
 * Scans of the whole table (fnd_locks view shared, supervisor and session
 * exit exclusive) take every partition lock in order.  The entry count
 * nlocks is an atomic, so capacity is exact.  Exception:
 * a woken waiter reads its own granted and token without it (the granter
 * writes token, then a write barrier, then granted), and clears them once
 * it is no longer queued, when nobody else writes them.  The spinlock
 * range_mutex guards the token blocks; it may be taken while holding the
 * LWLock, never the other way round.  No catalog access, nextval or sleep
 * happens under the LWLock, except the role membership check of
 * fnd_role_may_manage, which reads caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "replication/syncrep.h"
#include "storage/bufmgr.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "lock.h"

typedef struct FndLockKey
{
	Oid			dbid;
	char		name[FND_NAME_BUFSZ];
} FndLockKey;

typedef struct FndLock
{
	FndLockKey	key;			/* hash key: must be first */
	bool		held;			/* false only while being created or freed */
	int64		token;			/* 0 while the holder fetches its token */
	FndSession	owner;			/* acquiring session; empty once a leased
								 * lock's session has ended */
	Oid			owner_role;
	TimestampTz acquired_at;
	int64		lease_usec;		/* 0: owned by the session */
	TimestampTz lease_expires;	/* 0: no lease, or token still pending */
	int			head;			/* first waiter slot, or -1 */
	int			tail;			/* last waiter slot, or -1 */
	int			nwaiters;
} FndLock;

typedef struct FndLockWaiter
{
	ConditionVariable cv;		/* this backend sleeps here while queued */
	int			next;			/* next slot in the same queue, or -1 */
	bool		queued;
	bool		granted;		/* made holder by a hand-off */
	int64		token;			/* its token, or 0 if the new holder must
								 * fetch one (block used up) */
	FndSession	session;
	Oid			role;
	int64		lease_usec;
} FndLockWaiter;

/*
 * A block of tokens reserved from one database's sequence (see
 * fnd_next_token).  Keyed by (dbid, kind); seqid tells a recreated
 * extension's new sequence from the old one.
 */
typedef struct FndTokenRange
{
	Oid			dbid;			/* InvalidOid: slot unused */
	int			kind;			/* FND_TOKEN_FENCING or FND_TOKEN_TERM */
	Oid			seqid;
	int64		next;			/* next token to hand out */
	int64		limit;			/* first token beyond the block */
} FndTokenRange;

#define FND_TOKEN_RANGES	256

typedef struct FndLockShared
{
	pg_atomic_uint32 nlocks;	/* entries in the lock table */
	slock_t		range_mutex;	/* guards ranges[] */
	FndTokenRange ranges[FND_TOKEN_RANGES];
	int			nslots;
	FndLockWaiter waiters[FLEXIBLE_ARRAY_MEMBER];
} FndLockShared;

/* Partitions of the lock table, each with its LWLock (a power of 2). */
#define FND_LOCK_PARTITIONS	16

static int	fnd_max_locks = 10000;

static FndLockShared *fnd_lock_shared = NULL;
static HTAB *fnd_lock_htab = NULL;

/* backend-local */
static bool fnd_lock_touched = false;	/* ever queued or held anything */
static FndLockKey fnd_lock_wait_key;	/* the lock we queue for or await */
static XLogRecPtr fnd_token_synced = InvalidXLogRecPtr;
static int	fnd_range_hint[2] = {-1, -1};	/* last slot used, per kind */

/* The partition LWLock that guards key's entry (and its waiters). */
static LWLock *
fnd_lock_lwlock(const FndLockKey *key)
{
	uint32		hash = get_hash_value(fnd_lock_htab, key);

	return &fnd_lwlocks(&fnd_lock_service)[hash % FND_LOCK_PARTITIONS].lock;
}

/* Every partition, in order (scans of the whole table). */
static void
fnd_lock_lwlock_all(LWLockMode mode)
{
	LWLockPadded *locks = fnd_lwlocks(&fnd_lock_service);
	int			i;

	for (i = 0; i < FND_LOCK_PARTITIONS; i++)
		LWLockAcquire(&locks[i].lock, mode);
}

static void
fnd_lock_unlock_all(void)
{
	LWLockPadded *locks = fnd_lwlocks(&fnd_lock_service);
	int			i;

	for (i = FND_LOCK_PARTITIONS - 1; i >= 0; i--)
		LWLockRelease(&locks[i].lock);
}

/* ---------------------------------------------------------------------
 * Shared memory and settings
 * ---------------------------------------------------------------------
 */
static void
fnd_lock_define_settings(bool preloading)
{
	if (!preloading)
		return;
	DefineCustomIntVariable("foundation.max_locks",
							"Maximum number of locks held at once, over all databases.",
							NULL,
							&fnd_max_locks,
							10000,
							16,
							INT_MAX / 2,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

static Size
fnd_lock_shared_size(void)
{
	return MAXALIGN(add_size(offsetof(FndLockShared, waiters),
							 mul_size(sizeof(FndLockWaiter), MaxBackends)));
}

static Size
fnd_lock_shmem_size(void)
{
	return add_size(fnd_lock_shared_size(),
					hash_estimate_size(fnd_max_locks, sizeof(FndLock)));
}

static void
fnd_lock_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	fnd_lock_shared = ShmemInitStruct("foundation locks",
									  fnd_lock_shared_size(), &found);
	if (!found)
	{
		int			i;

		pg_atomic_init_u32(&fnd_lock_shared->nlocks, 0);
		SpinLockInit(&fnd_lock_shared->range_mutex);
		memset(fnd_lock_shared->ranges, 0, sizeof(fnd_lock_shared->ranges));
		fnd_lock_shared->nslots = MaxBackends;
		for (i = 0; i < MaxBackends; i++)
		{
			FndLockWaiter *w = &fnd_lock_shared->waiters[i];

			memset(w, 0, sizeof(*w));
			ConditionVariableInit(&w->cv);
			w->next = -1;
		}
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndLockKey);
	info.entrysize = sizeof(FndLock);
	info.num_partitions = FND_LOCK_PARTITIONS;
	fnd_lock_htab = ShmemInitHash("foundation lock table",
								  fnd_max_locks, fnd_max_locks,
								  &info, HASH_ELEM | HASH_BLOBS | HASH_PARTITION);
}

/* This backend's waiter slot. */
static int
fnd_lock_my_slot(void)
{
	int			slot = MyBackendId - 1;

	if (slot < 0 || slot >= fnd_lock_shared->nslots)
		elog(ERROR, "foundation locks need a backend id");
	return slot;
}

/* ---------------------------------------------------------------------
 * Fencing tokens
 * ---------------------------------------------------------------------
 */

/*
 * Make sure the WAL record that covers the value nextval just returned is
 * flushed (and, with synchronous replication, acknowledged) before any
 * token of its block leaves this server.
 *
 * Why this matters: nextval WAL-logs 32 values ahead and hands out the
 * values in between without logging.  Postgres only flushes that record
 * when the transaction that wrote it commits; a value handed to another
 * session from the same logged range, or to a transaction that is still
 * open or commits asynchronously, could be handed out again after a crash.
 * Sequences are fine with that because their values are only used inside
 * the database; a fencing token is used outside, so we flush up to the
 * sequence page's LSN, which is at or past the record that covers our
 * value.  Most calls find the WAL already flushed and return at once.
 */
static void
fnd_token_make_durable(Oid seqid)
{
	Relation	rel;
	Buffer		buf;
	XLogRecPtr	lsn;

	rel = relation_open(seqid, AccessShareLock);
	buf = ReadBuffer(rel, 0);
	lsn = BufferGetLSNAtomic(buf);
	ReleaseBuffer(buf);
	relation_close(rel, NoLock);

	if (lsn > fnd_token_synced)
	{
		XLogFlush(lsn);
		/* a no-op unless synchronous replication is configured */
		SyncRepWaitForLSN(lsn, false);
		fnd_token_synced = lsn;
	}
}

/*
 * Blocks must not overlap: refuse a sequence whose increment was altered.
 */
static void
fnd_token_check_sequence(Oid seqid, const char *seqname)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		increment;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seqid);
	increment = ((Form_pg_sequence) GETSTRUCT(tup))->seqincrement;
	ReleaseSysCache(tup);
	if (increment != FND_TOKEN_BLOCK)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" must have INCREMENT BY %d", seqname,
						FND_TOKEN_BLOCK),
				 errdetail("Each value reserves a block of that many tokens."),
				 errhint("ALTER SEQUENCE %s INCREMENT BY %d, or reinstall the extension.",
						 seqname, FND_TOKEN_BLOCK)));
}

/*
 * A new block needs nextval, which a read-only transaction (always, on a hot
 * standby) refuses with an error naming nextval(); say what was refused.
 */
static void
fnd_token_check_writable(int kind)
{
	if (!XactReadOnly)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("cannot issue a new %s in a read-only transaction",
					kind == FND_TOKEN_FENCING ? "fencing token" : "election term"),
			 RecoveryInProgress() ?
			 errdetail("The server is a hot standby: tokens and terms come from a sequence that only the primary advances.") : 0,
			 errhint("Acquire locks and elect leaders on the primary, outside read-only transactions.")));
}

/*
 * Take the next token of (dbid, kind) from its reserved block.  Returns
 * false if the block is used up (or there is none yet).  Cheap (one
 * spinlock), so callers may hold the lock table LWLock; it needs no
 * catalog access, so it works for any database (hand-off on session exit
 * or by the supervisor).
 */
static bool
fnd_token_take(Oid dbid, int kind, int64 *token)
{
	FndLockShared *sh = fnd_lock_shared;
	bool		ok = false;
	int			i;

	SpinLockAcquire(&sh->range_mutex);
	/* usually the slot found last time; otherwise scan (short, rare) */
	i = fnd_range_hint[kind];
	if (i < 0 || sh->ranges[i].dbid != dbid || sh->ranges[i].kind != kind)
	{
		for (i = 0; i < FND_TOKEN_RANGES; i++)
			if (sh->ranges[i].dbid == dbid && sh->ranges[i].kind == kind)
				break;
	}
	if (i < FND_TOKEN_RANGES)
	{
		FndTokenRange *r = &sh->ranges[i];

		fnd_range_hint[kind] = i;
		if (r->next < r->limit)
		{
			*token = r->next++;
			ok = true;
		}
	}
	SpinLockRelease(&sh->range_mutex);
	return ok;
}

/*
 * Install the block starting at start, unless a newer block is already
 * installed (a concurrent refill won the race: ours is simply skipped, so
 * tokens never go backwards).  Returns false if no slot is free.
 */
static bool
fnd_token_install_range(int kind, Oid seqid, int64 start)
{
	FndLockShared *sh = fnd_lock_shared;
	FndTokenRange *slot = NULL;
	FndTokenRange *free_slot = NULL;
	int			i;

	SpinLockAcquire(&sh->range_mutex);
	for (i = 0; i < FND_TOKEN_RANGES; i++)
	{
		FndTokenRange *r = &sh->ranges[i];

		if (r->dbid == MyDatabaseId && r->kind == kind)
		{
			slot = r;
			break;
		}
		if (r->dbid == InvalidOid && free_slot == NULL)
			free_slot = r;
	}
	if (slot == NULL && free_slot != NULL)
	{
		slot = free_slot;
		slot->dbid = MyDatabaseId;
		slot->kind = kind;
		slot->seqid = InvalidOid;
	}
	if (slot != NULL)
	{
		/* a recreated extension has a new sequence: start over with it */
		if (slot->seqid != seqid)
		{
			slot->seqid = seqid;
			slot->next = slot->limit = 0;
		}
		if (start >= slot->limit)
		{
			slot->next = start;
			slot->limit = start + FND_TOKEN_BLOCK;
		}
	}
	SpinLockRelease(&sh->range_mutex);
	return slot != NULL;
}

/*
 * The next fencing token or election term (FND_TOKEN_FENCING or
 * FND_TOKEN_TERM) of this database.
 *
 * Tokens must never be handed out twice, not across a crash, a restart or
 * a failover, and must increase in the order they are handed out.  They
 * are backed by a sequence of the extension, fnd_fencing_seq or
 * fnd_term_seq, with INCREMENT BY FND_TOKEN_BLOCK: each nextval reserves a
 * block of that many tokens, which backends then take from shared memory
 * in order, under a spinlock.  The sequence's state is WAL-logged before a
 * value is used and we flush that WAL before handing out any token of the
 * block (fnd_token_make_durable), so crash recovery resumes above every
 * block ever reserved, and WAL replicates, so a promoted standby continues
 * above the old primary's blocks -- provided it had received that WAL,
 * which only synchronous replication guarantees.  Shared memory alone
 * would restart from zero after a crash; a nextval per token would cost a
 * buffer lock and, every 32 tokens, a WAL flush.
 *
 * The sequence is found, when a block is needed, in the schema of the
 * calling SQL function, i.e. the extension's schema: always right after
 * DROP/CREATE EXTENSION (whose new sequence starts over once the block in
 * use runs out).  Permissions on the
 * sequence are not checked: it is ours, and callers never touch it.
 */
int64
fnd_next_token(FunctionCallInfo fcinfo, int kind)
{
	const char *seqname = (kind == FND_TOKEN_FENCING) ? FND_FENCING_SEQ : FND_TERM_SEQ;
	int64		token;

	while (!fnd_token_take(MyDatabaseId, kind, &token))
	{
		Oid			nsp;
		Oid			seqid;
		int64		start;

		nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
		seqid = OidIsValid(nsp) ? get_relname_relid(seqname, nsp) : InvalidOid;
		if (!OidIsValid(seqid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("sequence \"%s\" of extension foundation does not exist",
							seqname),
					 errhint("Reinstall the extension with DROP EXTENSION and CREATE EXTENSION.")));
		fnd_token_check_sequence(seqid, seqname);
		fnd_token_check_writable(kind);
		start = nextval_internal(seqid, false);
		fnd_token_make_durable(seqid);
		if (!fnd_token_install_range(kind, seqid, start))
			ereport(ERROR,
					(errcode(ERRCODE_FND_COORDINATION_FULL),
					 errmsg("too many databases use foundation locks or elections"),
					 errdetail("Token blocks are kept for at most %d database and sequence pairs.",
							   FND_TOKEN_RANGES)));
	}
	return token;
}

/* ---------------------------------------------------------------------
 * Queue and hand-off.  Caller holds the lock table LWLock exclusively.
 * ---------------------------------------------------------------------
 */

/*
 * The current holding of lk ends: make the head waiter the holder (with a
 * token if the block has one, else pending) and wake it, or free the entry.  Returns false if the entry was
 * removed (lk is then invalid).
 */
static bool
fnd_lock_grant_next(FndLock *lk, TimestampTz now)
{
	if (lk->head >= 0)
	{
		FndLockWaiter *w = &fnd_lock_shared->waiters[lk->head];

		lk->head = w->next;
		if (lk->head < 0)
			lk->tail = -1;
		lk->nwaiters--;
		w->next = -1;
		w->queued = false;

		lk->held = true;
		lk->owner = w->session;
		lk->owner_role = w->role;
		lk->acquired_at = now;
		lk->lease_usec = w->lease_usec;
		lk->lease_expires = 0;
		/*
		 * Hand the token over too, if the block has one left.  A lease only
		 * starts when the new holder has woken up and takes over (so a slow
		 * wake-up cannot eat it): until then the holding does not expire.
		 */
		if (!fnd_token_take(lk->key.dbid, FND_TOKEN_FENCING, &lk->token))
			lk->token = 0;		/* pending: the new holder fetches one */
		w->token = lk->token;
		/* the waiter may read granted without the LWLock: token first */
		pg_write_barrier();
		w->granted = true;

		ConditionVariableSignal(&w->cv);
		return true;
	}

	lk->held = false;
	hash_search(fnd_lock_htab, &lk->key, HASH_REMOVE, NULL);
	pg_atomic_fetch_sub_u32(&fnd_lock_shared->nlocks, 1);
	return false;
}

/*
 * If lk's lease has run out, end that holding.  Returns false if the entry
 * was removed.
 */
static bool
fnd_lock_expire(FndLock *lk, TimestampTz now)
{
	if (lk->held && lk->token != 0 && lk->lease_expires != 0 &&
		now >= lk->lease_expires)
	{
		fnd_telemetry_count("foundation.lock.expired", 1);
		return fnd_lock_grant_next(lk, now);
	}
	return true;
}

/* Look a lock up, treating an expired one as gone.  NULL if absent. */
static FndLock *
fnd_lock_find(const FndLockKey *key, TimestampTz now)
{
	FndLock    *lk = hash_search(fnd_lock_htab, key, HASH_FIND, NULL);

	if (lk != NULL && !fnd_lock_expire(lk, now))
		lk = NULL;
	return lk;
}

/* Remove waiter slot from lk's queue. */
static void
fnd_lock_dequeue(FndLock *lk, int slot)
{
	FndLockWaiter *waiters = fnd_lock_shared->waiters;
	int			prev = -1;
	int			cur = lk->head;

	while (cur >= 0 && cur != slot)
	{
		prev = cur;
		cur = waiters[cur].next;
	}
	if (cur < 0)
		return;
	if (prev < 0)
		lk->head = waiters[cur].next;
	else
		waiters[prev].next = waiters[cur].next;
	if (lk->tail == cur)
		lk->tail = prev;
	waiters[cur].next = -1;
	waiters[cur].queued = false;
	lk->nwaiters--;
}

/*
 * This backend gives up on a lock it was queued for, was handed, or holds
 * without a token yet: leave the queue, or pass the lock on.
 */
static void
fnd_lock_abandon(const FndLockKey *key, int slot)
{
	FndLockWaiter *w = &fnd_lock_shared->waiters[slot];
	TimestampTz now = fnd_now();
	FndLock    *lk = hash_search(fnd_lock_htab, key, HASH_FIND, NULL);
	bool		was_granted = w->granted;

	if (lk != NULL && w->queued)
		fnd_lock_dequeue(lk, slot);
	w->queued = false;
	w->next = -1;
	w->granted = false;
	w->token = 0;

	if (lk == NULL)
		return;
	/* handed to us (token or not) or still pending: pass it on */
	if (lk->held && fnd_session_is_me(&lk->owner) &&
		(was_granted || lk->token == 0))
		fnd_lock_grant_next(lk, now);
	else if (!lk->held && lk->head < 0)
	{
		hash_search(fnd_lock_htab, key, HASH_REMOVE, NULL);
		pg_atomic_fetch_sub_u32(&fnd_lock_shared->nlocks, 1);
	}
}

/* For catch blocks: let go of a partition LWLock the error left held. */
static void
fnd_lock_release_lwlock(void)
{
	LWLockPadded *locks = fnd_lwlocks(&fnd_lock_service);
	int			i;

	for (i = 0; i < FND_LOCK_PARTITIONS; i++)
		if (LWLockHeldByMe(&locks[i].lock))
			LWLockRelease(&locks[i].lock);
}

/* ---------------------------------------------------------------------
 * Waiting
 * ---------------------------------------------------------------------
 */

/*
 * Sleep until this backend is handed the lock it is queued for, or the
 * deadline passes.  Returns true if it got the lock (then w->granted stays
 * set, and w->token is its token or 0 if it must fetch one).
 * On timeout it leaves the queue; on error (cancel, statement_timeout,
 * terminate via ERROR) it leaves the queue or passes the lock on.
 */
static bool
fnd_lock_wait(const FndLockKey *key, int slot, TimestampTz deadline)
{
	FndLockWaiter *w = &fnd_lock_shared->waiters[slot];
	LWLock	   *lock = fnd_lock_lwlock(key);
	volatile bool got = false;

	ConditionVariablePrepareToSleep(&w->cv);
	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now;
			TimestampTz wake = deadline;
			FndLock    *lk;

			/* handed over while we slept?  (set under the LWLock) */
			pg_read_barrier();
			if (w->granted)
			{
				got = true;
				break;
			}

			LWLockAcquire(lock, LW_EXCLUSIVE);
			now = fnd_now();
			/* a lapsed lease of the holder hands the lock on here */
			lk = fnd_lock_find(key, now);
			if (w->granted)
			{
				got = true;
				LWLockRelease(lock);
				break;
			}
			if (now >= deadline)
			{
				fnd_lock_abandon(key, slot);
				LWLockRelease(lock);
				break;
			}
			if (lk != NULL && lk->lease_expires != 0 && lk->lease_expires < wake)
				wake = lk->lease_expires;
			LWLockRelease(lock);

			/* wakes on hand-off; checks interrupts (cancel, timeouts) */
			(void) ConditionVariableTimedSleep(&w->cv,
											   (long) ((wake - now + 999) / 1000),
											   PG_WAIT_EXTENSION);
		}
	}
	PG_CATCH();
	{
		fnd_lock_release_lwlock();
		LWLockAcquire(lock, LW_EXCLUSIVE);
		fnd_lock_abandon(key, slot);
		LWLockRelease(lock);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ConditionVariableCancelSleep();

	return got;
}

/*
 * This backend is the pending holder of key: fetch a token and store it,
 * starting the lease if there is one.  If that fails, pass the lock on.
 */
static int64
fnd_lock_take_token(FunctionCallInfo fcinfo, const FndLockKey *key, int slot)
{
	LWLock	   *lock = fnd_lock_lwlock(key);
	volatile int64 token = 0;
	FndLock    *lk;
	TimestampTz now;

	PG_TRY();
	{
		token = fnd_next_token(fcinfo, FND_TOKEN_FENCING);
	}
	PG_CATCH();
	{
		fnd_lock_release_lwlock();
		LWLockAcquire(lock, LW_EXCLUSIVE);
		fnd_lock_abandon(key, slot);
		LWLockRelease(lock);
		PG_RE_THROW();
	}
	PG_END_TRY();

	LWLockAcquire(lock, LW_EXCLUSIVE);
	lk = hash_search(fnd_lock_htab, key, HASH_FIND, NULL);
	if (lk == NULL || !lk->held || lk->token != 0 ||
		!fnd_session_is_me(&lk->owner))
	{
		LWLockRelease(lock);
		elog(ERROR, "foundation lock \"%s\" lost while fetching its token",
			 key->name);
	}
	now = fnd_now();
	lk->token = token;
	lk->acquired_at = now;
	if (lk->lease_usec > 0)
		lk->lease_expires = now + lk->lease_usec;
	LWLockRelease(lock);

	return token;
}

/*
 * We were handed a leased lock with its token: start the lease now.
 */
static void
fnd_lock_start_lease(const FndLockKey *key, int64 token)
{
	LWLock	   *lock = fnd_lock_lwlock(key);
	FndLock    *lk;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	lk = hash_search(fnd_lock_htab, key, HASH_FIND, NULL);
	if (lk == NULL || !lk->held || lk->token != token ||
		!fnd_session_is_me(&lk->owner))
	{
		/* someone who read the token in fnd_locks released it meanwhile */
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" was released with its token before this session took over",
						key->name)));
	}
	lk->lease_expires = fnd_now() + lk->lease_usec;
	LWLockRelease(lock);
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

static void
fnd_lock_key(FunctionCallInfo fcinfo, FndLockKey *key)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	fnd_check_name(fnd_arg_text(fcinfo, 0, "lock name"), "lock name",
				   key->name);
}

/*
 * fnd_lock_acquire(name text, wait interval DEFAULT '0',
 *					lease interval DEFAULT NULL) RETURNS bigint
 */
PG_FUNCTION_INFO_V1(fnd_lock_acquire);

Datum
fnd_lock_acquire(PG_FUNCTION_ARGS)
{
	FndLockKey	key;
	int64		wait_usec;
	int64		lease_usec = 0;
	LWLock	   *lock;
	FndLock    *lk;
	TimestampTz now;
	int			slot;
	bool		got = false;
	int64		token;

	fnd_require_shmem();
	fnd_lock_key(fcinfo, &key);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("wait must not be null"),
				 errhint("Use '0' to try once without waiting.")));
	wait_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(1), "wait", true);
	if (!PG_ARGISNULL(2))
		lease_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(2), "lease", false);
	else
		fnd_warn_if_pooled("lock", "%s", key.name);

	slot = fnd_lock_my_slot();
	/* before owning anything, so the session's exit releases it */
	fnd_session_track();
	fnd_lock_touched = true;

	lock = fnd_lock_lwlock(&key);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = fnd_now();
	lk = fnd_lock_find(&key, now);

	if (lk != NULL && lk->held && fnd_session_is_me(&lk->owner))
	{
		/* re-acquiring what we hold: same token, lease restarted if given */
		token = lk->token;
		if (lease_usec > 0)
		{
			lk->lease_usec = lease_usec;
			lk->lease_expires = now + lease_usec;
		}
		LWLockRelease(lock);
		PG_RETURN_INT64(token);
	}

	if (lk == NULL)
	{
		bool		found;

		/* count first, so capacity is exact across partitions */
		if (pg_atomic_fetch_add_u32(&fnd_lock_shared->nlocks, 1) >= (uint32) fnd_max_locks ||
			(lk = hash_search(fnd_lock_htab, &key, HASH_ENTER_NULL, &found)) == NULL)
		{
			pg_atomic_fetch_sub_u32(&fnd_lock_shared->nlocks, 1);
			LWLockRelease(lock);
			ereport(ERROR,
					(errcode(ERRCODE_FND_COORDINATION_FULL),
					 errmsg("too many locks are held"),
					 errdetail("All %d lock slots are in use.", fnd_max_locks),
					 errhint("Raise foundation.max_locks (needs a restart), or release locks.")));
		}
		lk->head = lk->tail = -1;
		lk->nwaiters = 0;
		lk->held = false;
	}

	memcpy(&fnd_lock_wait_key, &key, sizeof(key));
	if (!lk->held)
	{
		/* free (hence no queue): take it */
		lk->held = true;
		fnd_session_self(&lk->owner);
		lk->owner_role = GetUserId();
		lk->acquired_at = now;
		lk->lease_usec = lease_usec;
		lk->lease_expires = 0;
		if (fnd_token_take(MyDatabaseId, FND_TOKEN_FENCING, &token))
		{
			/* the usual case: a token from the block, all under the LWLock */
			lk->token = token;
			if (lease_usec > 0)
				lk->lease_expires = now + lease_usec;
			LWLockRelease(lock);
			fnd_telemetry_count("foundation.lock.acquired", 1);
			PG_RETURN_INT64(token);
		}
		/* block used up: hold it with the token pending, fetch one below */
		lk->token = 0;
		got = true;
	}
	else if (wait_usec == 0)
	{
		LWLockRelease(lock);
		fnd_telemetry_count("foundation.lock.busy", 1);
		PG_RETURN_NULL();
	}
	else
	{
		FndLockWaiter *w = &fnd_lock_shared->waiters[slot];

		fnd_session_self(&w->session);
		w->role = GetUserId();
		w->lease_usec = lease_usec;
		w->granted = false;
		w->token = 0;
		w->queued = true;
		w->next = -1;
		if (lk->tail >= 0)
			fnd_lock_shared->waiters[lk->tail].next = slot;
		else
			lk->head = slot;
		lk->tail = slot;
		lk->nwaiters++;
	}
	LWLockRelease(lock);

	if (!got)
	{
		TimestampTz start = now;

		fnd_telemetry_count("foundation.lock.waits", 1);
		got = fnd_lock_wait(&key, slot, now + wait_usec);
		fnd_telemetry_observe("foundation.lock.wait_ms",
							  (double) (fnd_now() - start) / 1000.0);
		if (!got)
		{
			fnd_telemetry_count("foundation.lock.timeouts", 1);
			PG_RETURN_NULL();
		}
	}

	{
		FndLockWaiter *w = &fnd_lock_shared->waiters[slot];

		/* handed over with a token, or pending (ours or handed) */
		pg_read_barrier();
		if (w->granted && w->token != 0)
		{
			token = w->token;
			if (lease_usec > 0)
				fnd_lock_start_lease(&key, token);
		}
		else
			token = fnd_lock_take_token(fcinfo, &key, slot);
		/* only this backend writes these while it is not queued */
		w->granted = false;
		w->token = 0;
	}
	fnd_telemetry_count("foundation.lock.acquired", 1);
	PG_RETURN_INT64(token);
}

/*
 * Check that the caller may act on lk as its holder: by session (token
 * NULL) or by token plus role.  Raises FN602 otherwise.
 */
static void
fnd_lock_check_holder(FndLock *lk, bool has_token, int64 token)
{
	if (!has_token)
	{
		if (!fnd_session_is_me(&lk->owner))
		{
			LWLockRelease(fnd_lock_lwlock(&lk->key));
			ereport(ERROR,
					(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
					 errmsg("lock \"%s\" is not held by this session",
							lk->key.name),
					 errhint("Pass the fencing token to act on a leased lock from another session.")));
		}
		return;
	}
	/* a pending holding (token 0) cannot be acted on by token */
	if (lk->token == 0 || lk->token != token)
	{
		LWLockRelease(fnd_lock_lwlock(&lk->key));
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" is not held with fencing token " INT64_FORMAT,
						lk->key.name, token),
				 errdetail("It is held with another token: the lease ran out and someone else acquired it, or the token is wrong.")));
	}
	if (lk->owner_role != GetUserId() && !fnd_role_may_manage(lk->owner_role))
	{
		LWLockRelease(fnd_lock_lwlock(&lk->key));
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" belongs to another role", lk->key.name),
				 errdetail("Only the role that acquired it, its members and superusers may release or renew it.")));
	}
}

/*
 * fnd_lock_release(name text, token bigint DEFAULT NULL) RETURNS boolean
 */
PG_FUNCTION_INFO_V1(fnd_lock_release);

Datum
fnd_lock_release(PG_FUNCTION_ARGS)
{
	FndLockKey	key;
	LWLock	   *lock;
	FndLock    *lk;
	TimestampTz now;

	fnd_require_shmem();
	fnd_lock_key(fcinfo, &key);

	lock = fnd_lock_lwlock(&key);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = fnd_now();
	lk = fnd_lock_find(&key, now);
	if (lk == NULL || !lk->held)
	{
		LWLockRelease(lock);
		PG_RETURN_BOOL(false);
	}
	fnd_lock_check_holder(lk, !PG_ARGISNULL(1),
						  PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1));
	fnd_lock_grant_next(lk, now);
	LWLockRelease(lock);

	fnd_telemetry_count("foundation.lock.released", 1);
	PG_RETURN_BOOL(true);
}

/*
 * fnd_lock_renew(name text, token bigint) RETURNS timestamptz
 *
 * Restarts a leased lock's lease; returns the new expiry.  A session-owned
 * lock has no lease: renewing it checks the token and returns NULL.
 */
PG_FUNCTION_INFO_V1(fnd_lock_renew);

Datum
fnd_lock_renew(PG_FUNCTION_ARGS)
{
	FndLockKey	key;
	LWLock	   *lock;
	FndLock    *lk;
	TimestampTz now;
	TimestampTz expires;
	int64		token;

	fnd_require_shmem();
	fnd_lock_key(fcinfo, &key);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("token must not be null")));
	token = PG_GETARG_INT64(1);

	lock = fnd_lock_lwlock(&key);
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = fnd_now();
	lk = fnd_lock_find(&key, now);
	if (lk == NULL || !lk->held)
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" is not held", key.name),
				 errdetail("Its lease ran out or it was released; acquire it again to get a new token.")));
	}
	fnd_lock_check_holder(lk, true, token);
	if (lk->lease_usec == 0)
	{
		LWLockRelease(lock);
		PG_RETURN_NULL();
	}
	expires = lk->lease_expires = now + lk->lease_usec;
	LWLockRelease(lock);

	PG_RETURN_TIMESTAMPTZ(expires);
}

/*
 * fnd_locks_list() - the rows of the fnd_locks view, for this database:
 * name, token, owner_pid, owner_role, acquired_at, lease_expires_at, waiters.
 */
PG_FUNCTION_INFO_V1(fnd_locks_list);

Datum
fnd_locks_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	FndLock    *lk;
	FndLock    *rows;
	int			nrows = 0;
	int			maxrows;
	TimestampTz now;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	/* copy under the lock, build tuples (catalog lookups) after */
	fnd_lock_lwlock_all(LW_SHARED);
	maxrows = (int) hash_get_num_entries(fnd_lock_htab);
	rows = palloc(sizeof(FndLock) * Max(maxrows, 1));
	now = fnd_now();
	hash_seq_init(&status, fnd_lock_htab);
	while ((lk = hash_seq_search(&status)) != NULL)
	{
		if (lk->key.dbid != MyDatabaseId || !lk->held)
			continue;
		if (lk->lease_expires != 0 && now >= lk->lease_expires)
			continue;			/* expired: as good as released */
		if (nrows < maxrows)
			rows[nrows++] = *lk;
	}
	fnd_lock_unlock_all();

	for (i = 0; i < nrows; i++)
	{
		Datum		values[7];
		bool		nulls[7];
		char	   *role;

		memset(nulls, 0, sizeof(nulls));
		lk = &rows[i];
		values[0] = CStringGetTextDatum(lk->key.name);
		values[1] = Int64GetDatum(lk->token);
		nulls[1] = (lk->token == 0);
		values[2] = Int32GetDatum(lk->owner.pid);
		nulls[2] = fnd_session_is_empty(&lk->owner);
		role = GetUserNameFromId(lk->owner_role, true);
		if (role != NULL)
			values[3] = DirectFunctionCall1(namein, CStringGetDatum(role));
		else
			nulls[3] = true;
		values[4] = TimestampTzGetDatum(lk->acquired_at);
		values[5] = TimestampTzGetDatum(lk->lease_expires);
		nulls[5] = (lk->lease_expires == 0);
		values[6] = Int32GetDatum(lk->nwaiters);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Service callbacks
 * ---------------------------------------------------------------------
 */

/* Supervisor: end every lapsed lease, handing each lock to its next waiter. */
static bool
fnd_lock_periodic(void)
{
	HASH_SEQ_STATUS status;
	FndLock    *lk;
	TimestampTz now = fnd_now();
	int			expired = 0;

	fnd_lock_lwlock_all(LW_EXCLUSIVE);
	hash_seq_init(&status, fnd_lock_htab);
	while ((lk = hash_seq_search(&status)) != NULL)
	{
		if (lk->held && lk->token != 0 && lk->lease_expires != 0 &&
			now >= lk->lease_expires)
		{
			expired++;
			/* removing the current entry during a scan is allowed */
			(void) fnd_lock_expire(lk, now);
		}
	}
	fnd_lock_unlock_all();

	if (expired > 0)
	{
		char		detail[64];

		snprintf(detail, sizeof(detail), "%d lock leases expired in the last pass",
				 expired);
		fnd_service_set_detail(detail);
	}
	return false;
}

/*
 * The session ends: leave any queue, pass on what it holds by session (and
 * any lock it was handed but has no token for).  Leased locks stay with
 * their role until the lease runs out.
 */
static void
fnd_lock_session_exit(void)
{
	HASH_SEQ_STATUS status;
	FndLock    *lk;
	TimestampTz now;
	int			slot;

	if (!fnd_lock_touched || fnd_lock_shared == NULL)
		return;
	slot = MyBackendId - 1;
	if (slot < 0 || slot >= fnd_lock_shared->nslots)
		return;

	fnd_lock_lwlock_all(LW_EXCLUSIVE);
	now = fnd_now();
	if (fnd_lock_shared->waiters[slot].queued ||
		fnd_lock_shared->waiters[slot].granted)
		fnd_lock_abandon(&fnd_lock_wait_key, slot);

	hash_seq_init(&status, fnd_lock_htab);
	while ((lk = hash_seq_search(&status)) != NULL)
	{
		if (!lk->held || !fnd_session_is_me(&lk->owner))
			continue;
		/* session-owned, pending, or handed over with its lease not started */
		if (lk->lease_usec == 0 || lk->token == 0 || lk->lease_expires == 0)
			(void) fnd_lock_grant_next(lk, now);
		else
			memset(&lk->owner, 0, sizeof(lk->owner));
	}
	fnd_lock_unlock_all();
	fnd_lock_touched = false;
}

const FndService fnd_lock_service = {
	.name = "lock",
	.phase = 1,
	.depends_on = "",
	.uses_tables = false,
	.define_settings = fnd_lock_define_settings,
	.shmem_size = fnd_lock_shmem_size,
	.lwlocks = FND_LOCK_PARTITIONS,
	.shmem_startup = fnd_lock_shmem_startup,
	.periodic = fnd_lock_periodic,
	.session_exit = fnd_lock_session_exit,
};
