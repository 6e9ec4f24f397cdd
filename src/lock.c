/*-------------------------------------------------------------------------
 *
 * lock.c
 *	  Named locks with fencing tokens, FIFO waiters and optional leases.
 *
 * A lock is an entry of one shared table keyed by (database, name)
 * (dbtable.h).  An entry exists exactly while the lock is held; it is
 * removed when the last holder lets go and nobody waits.  Capacity is
 * foundation.max_locks entries, and foundation.max_locks_per_role per role;
 * beyond either fnd_lock_acquire raises FN607 (coordination_full).  An entry
 * counts against its holder's role: a hand-off moves it to the new one.
 *
 * Ownership.  Without a lease a lock belongs to the session that acquired
 * it and is released when that session ends, however it ends
 * (fnd_lock_session_exit).  With a lease it belongs to the acquiring role,
 * survives the session and ends when the lease runs out unless renewed.
 * Expiry is checked on every access to the entry and by the supervisor
 * (fnd_lock_periodic), and a waiter sleeps no longer than the holder's
 * lease, so an expired lock passes to the next waiter promptly.  The
 * supervisor also removes the leased locks of dropped databases.
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
 * (token.c explains why that is crash- and failover-safe).  A new holder
 * takes its token from the block at the moment it becomes holder, under the
 * LWLock -- also when it is handed the lock, so a woken waiter needs no
 * lock at all.  Since the next holder can only be installed after this one
 * lets go, tokens of one name strictly increase in acquisition order.  When
 * the block is used up, reserving the next one (nextval) cannot happen
 * under our LWLock: the holder is then installed with token 0 ("pending":
 * held, but nobody knows a token yet), fetches a token, and stores it.  A
 * pending holding never expires and cannot be released by token; if
 * fetching fails, it is passed on.
 *
 * Locking protocol: the table is split in FND_LOCK_PARTITIONS partitions,
 * as the lock manager's is; the LWLock of a key's partition (FndLockTarget
 * .lock) guards its entry and the fields of the waiter slots queued on it
 * (next, queued, granted, token, session, role, lease_usec).  It is taken
 * exclusively by anything that changes them.  Scans of the whole table
 * (fnd_locks view shared, supervisor and session exit exclusive) take every
 * partition lock in order.  Exception: a woken waiter reads its own granted
 * and token without it (the granter writes token, then a write barrier,
 * then granted), and clears them once it is no longer queued, when nobody
 * else writes them.  The token blocks' and the quota's spinlocks may be
 * taken while holding the LWLock, never the other way round.  No catalog
 * access, nextval or sleep happens under the LWLock, except the role
 * membership check of fnd_role_may_manage, which reads caches.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/backendid.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "dbtable.h"
#include "lock.h"

typedef struct FndLock
{
	FndDbKey	key;			/* hash key: must be first */
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

typedef struct FndLockShared
{
	int			nslots;
	FndLockWaiter waiters[FLEXIBLE_ARRAY_MEMBER];
} FndLockShared;

/* A lock's key with its hash and partition LWLock, computed once. */
typedef struct FndLockTarget
{
	FndDbKey	key;
	uint32		hash;
	LWLock	   *lock;
} FndLockTarget;

/* What fnd_lock_try_take did. */
typedef enum FndLockTake
{
	FND_LOCK_HELD,				/* this session holds it already */
	FND_LOCK_TAKEN,				/* it was free: taken, with a token */
	FND_LOCK_PENDING,			/* taken, but the token must be fetched */
	FND_LOCK_BUSY,				/* held by someone else; not waiting */
	FND_LOCK_QUEUED				/* held by someone else; queued to wait */
} FndLockTake;

/* Partitions of the lock table, each with its LWLock (a power of 2). */
#define FND_LOCK_PARTITIONS	16

static bool fnd_lock_forget(void *entry);

static FndDbTable fnd_lock_table = {
	.name = "foundation lock table",
	.title = "lock table",
	.noun = "locks",
	.service = &fnd_lock_service,
	.first_lwlock = 0,
	.partitions = FND_LOCK_PARTITIONS,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(FndLock),
	.errcode = ERRCODE_FND_COORDINATION_FULL,
	.max_name = "foundation.max_locks",
	.max_desc = "Maximum number of locks held at once, over all databases.",
	.max_default = 10000,
	.max_min = 16,
	.full_hint = "Release locks, or raise foundation.max_locks (needs a restart).",
	.quota_name = "foundation.max_locks_per_role",
	.quota_desc = "Maximum number of locks one role may hold at once, over all databases.",
	.forget = fnd_lock_forget,
};

static FndLockShared *fnd_lock_shared = NULL;

/* supervisor: totals since it started, for fnd_services() */
static int	fnd_lock_expired_total = 0;
static int	fnd_lock_slots_freed = 0;

/* backend-local */
static bool fnd_lock_touched = false;	/* ever queued or held anything */
static FndLockTarget fnd_lock_wait_target;	/* the lock we queue for or await */

static void
fnd_lock_target(FndLockTarget *tg)
{
	tg->hash = fnd_dbtable_hash(&fnd_lock_table, &tg->key);
	tg->lock = fnd_dbtable_partition_lock(&fnd_lock_table, tg->hash);
}

/* ---------------------------------------------------------------------
 * Shared memory and settings
 * ---------------------------------------------------------------------
 */
static void
fnd_lock_define_settings(bool preloading)
{
	fnd_dbtable_define(&fnd_lock_table, preloading);
	fnd_token_define_settings(preloading);
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
	return add_size(add_size(fnd_lock_shared_size(),
							 fnd_dbtable_shmem_size(&fnd_lock_table)),
					fnd_token_shmem_size());
}

static void
fnd_lock_shmem_startup(void)
{
	bool		found;

	fnd_lock_shared = ShmemInitStruct("foundation locks",
									  fnd_lock_shared_size(), &found);
	if (!found)
	{
		int			i;

		fnd_lock_shared->nslots = MaxBackends;
		for (i = 0; i < MaxBackends; i++)
		{
			FndLockWaiter *w = &fnd_lock_shared->waiters[i];

			memset(w, 0, sizeof(*w));
			ConditionVariableInit(&w->cv);
			w->next = -1;
		}
	}
	fnd_dbtable_startup(&fnd_lock_table);
	fnd_token_shmem_startup();
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
 * Queue and hand-off.  Caller holds the entry's partition LWLock
 * exclusively.
 * ---------------------------------------------------------------------
 */

/*
 * The current holding of lk ends: make the head waiter the holder (with a
 * token if the block has one, else pending) and wake it, or free the
 * entry.  Returns false if the entry was removed (lk is then invalid).
 */
static bool
fnd_lock_grant_next(FndLock *lk, TimestampTz now)
{
	FndLockWaiter *w;

	if (lk->head < 0)
	{
		lk->held = false;
		fnd_dbtable_remove(&fnd_lock_table, lk);
		return false;
	}

	w = &fnd_lock_shared->waiters[lk->head];
	lk->head = w->next;
	if (lk->head < 0)
		lk->tail = -1;
	lk->nwaiters--;
	w->next = -1;
	w->queued = false;

	lk->held = true;
	lk->owner = w->session;
	lk->owner_role = w->role;
	fnd_dbtable_recharge(&fnd_lock_table, lk, w->role);
	lk->acquired_at = now;
	lk->lease_usec = w->lease_usec;
	lk->lease_expires = 0;

	/*
	 * Hand the token over too, if the block has one left.  A lease only
	 * starts when the new holder has woken up and takes over (so a slow
	 * wake-up cannot eat it): until then the holding does not expire.
	 */
	if (!fnd_token_take(lk->key.dbid, FND_TOKEN_FENCING, &lk->token))
		lk->token = 0;			/* pending: the new holder fetches one */
	w->token = lk->token;
	/* the waiter may read granted without the LWLock: token first */
	pg_write_barrier();
	w->granted = true;

	ConditionVariableSignal(&w->cv);
	return true;
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
fnd_lock_find(const FndLockTarget *tg, TimestampTz now)
{
	FndLock    *lk = fnd_dbtable_find(&fnd_lock_table, &tg->key, tg->hash);

	if (lk != NULL && !fnd_lock_expire(lk, now))
		lk = NULL;
	return lk;
}

/* Append waiter slot to lk's queue. */
static void
fnd_lock_enqueue(FndLock *lk, int slot, int64 lease_usec)
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
fnd_lock_abandon(const FndLockTarget *tg, int slot)
{
	FndLockWaiter *w = &fnd_lock_shared->waiters[slot];
	TimestampTz now = fnd_now();
	FndLock    *lk = fnd_dbtable_find(&fnd_lock_table, &tg->key, tg->hash);
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
		fnd_dbtable_remove(&fnd_lock_table, lk);
}

/* For catch blocks: leave tg's queue or pass it on, then re-throw. */
static void
fnd_lock_abandon_on_error(const FndLockTarget *tg, int slot)
{
	fnd_dbtable_release_held(&fnd_lock_table);
	LWLockAcquire(tg->lock, LW_EXCLUSIVE);
	fnd_lock_abandon(tg, slot);
	LWLockRelease(tg->lock);
}

/* ---------------------------------------------------------------------
 * Taking, waiting, taking over
 * ---------------------------------------------------------------------
 */

/* lk is free (hence has no queue): this session takes it. */
static FndLockTake
fnd_lock_take_free(FndLock *lk, int64 lease_usec, TimestampTz now,
				   int64 *token)
{
	lk->held = true;
	fnd_session_self(&lk->owner);
	lk->owner_role = GetUserId();
	lk->acquired_at = now;
	lk->lease_usec = lease_usec;
	lk->lease_expires = 0;
	if (!fnd_token_take(MyDatabaseId, FND_TOKEN_FENCING, token))
	{
		/* block used up: hold it with the token pending, fetch one later */
		lk->token = 0;
		return FND_LOCK_PENDING;
	}
	/* the usual case: a token from the block, all under the LWLock */
	lk->token = *token;
	if (lease_usec > 0)
		lk->lease_expires = now + lease_usec;
	return FND_LOCK_TAKEN;
}

/*
 * One look at the lock under its LWLock: take it if free (creating its
 * entry, FN607 when full), queue for it if held and may_wait, or report
 * that it is held.
 */
static FndLockTake
fnd_lock_try_take(const FndLockTarget *tg, int slot, int64 lease_usec,
				  bool may_wait, TimestampTz now, int64 *token)
{
	FndLock    *lk;
	FndLockTake result;

	LWLockAcquire(tg->lock, LW_EXCLUSIVE);
	lk = fnd_lock_find(tg, now);
	if (lk != NULL && lk->held && fnd_session_is_me(&lk->owner))
	{
		/* re-acquiring what we hold: same token, lease restarted if given */
		*token = lk->token;
		if (lease_usec > 0)
		{
			lk->lease_usec = lease_usec;
			lk->lease_expires = now + lease_usec;
		}
		LWLockRelease(tg->lock);
		return FND_LOCK_HELD;
	}

	if (lk == NULL)
	{
		lk = fnd_dbtable_enter(&fnd_lock_table, &tg->key, tg->hash,
							   GetUserId());
		lk->head = lk->tail = -1;
	}
	if (!lk->held)
		result = fnd_lock_take_free(lk, lease_usec, now, token);
	else if (!may_wait)
		result = FND_LOCK_BUSY;
	else if (!fnd_dbtable_quota_allows(&fnd_lock_table, GetUserId()))
		fnd_dbtable_raise_full(&fnd_lock_table, GetUserId());
	else
	{
		fnd_lock_enqueue(lk, slot, lease_usec);
		result = FND_LOCK_QUEUED;
	}
	if (result == FND_LOCK_PENDING || result == FND_LOCK_QUEUED)
		fnd_lock_wait_target = *tg;
	LWLockRelease(tg->lock);
	return result;
}

/*
 * Milliseconds to sleep until wake, rounded up, at most INT_MAX (what a
 * condition variable sleep takes); the caller loops for longer waits.
 */
static long
fnd_lock_sleep_ms(TimestampTz now, TimestampTz wake)
{
	int64		ms = (wake - now + 999) / 1000;

	return (long) Min(ms, (int64) INT_MAX);
}

/*
 * Sleep until this backend is handed the lock it is queued for, or the
 * deadline passes.  Returns true if it got the lock (then w->granted stays
 * set, and w->token is its token or 0 if it must fetch one).
 * On timeout it leaves the queue; on error (cancel, statement_timeout,
 * terminate via ERROR) it leaves the queue or passes the lock on.
 */
static bool
fnd_lock_wait(const FndLockTarget *tg, int slot, TimestampTz deadline)
{
	FndLockWaiter *w = &fnd_lock_shared->waiters[slot];
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

			LWLockAcquire(tg->lock, LW_EXCLUSIVE);
			now = fnd_now();
			/* a lapsed lease of the holder hands the lock on here */
			lk = fnd_lock_find(tg, now);
			if (w->granted)
			{
				got = true;
				LWLockRelease(tg->lock);
				break;
			}
			if (now >= deadline)
			{
				fnd_lock_abandon(tg, slot);
				LWLockRelease(tg->lock);
				break;
			}
			if (lk != NULL && lk->lease_expires != 0 && lk->lease_expires < wake)
				wake = lk->lease_expires;
			LWLockRelease(tg->lock);

			/* wakes on hand-off; checks interrupts (cancel, timeouts) */
			(void) ConditionVariableTimedSleep(&w->cv, fnd_lock_sleep_ms(now, wake),
											   PG_WAIT_EXTENSION);
		}
	}
	PG_CATCH();
	{
		fnd_lock_abandon_on_error(tg, slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ConditionVariableCancelSleep();

	return got;
}

/*
 * This backend is the pending holder of tg: fetch a token and store it,
 * starting the lease if there is one.  If that fails, pass the lock on.
 */
static int64
fnd_lock_fetch_token(FunctionCallInfo fcinfo, const FndLockTarget *tg,
					 int slot)
{
	volatile int64 token = 0;
	FndLock    *lk;
	TimestampTz now;

	PG_TRY();
	{
		token = fnd_next_token(fcinfo, FND_TOKEN_FENCING);
	}
	PG_CATCH();
	{
		fnd_lock_abandon_on_error(tg, slot);
		PG_RE_THROW();
	}
	PG_END_TRY();

	LWLockAcquire(tg->lock, LW_EXCLUSIVE);
	lk = fnd_dbtable_find(&fnd_lock_table, &tg->key, tg->hash);
	if (lk == NULL || !lk->held || lk->token != 0 ||
		!fnd_session_is_me(&lk->owner))
	{
		LWLockRelease(tg->lock);
		elog(ERROR, "foundation lock \"%s\" lost while fetching its token",
			 tg->key.name);
	}
	now = fnd_now();
	lk->token = token;
	lk->acquired_at = now;
	if (lk->lease_usec > 0)
		lk->lease_expires = now + lk->lease_usec;
	LWLockRelease(tg->lock);

	return token;
}

/*
 * We were handed a leased lock with its token: start the lease now.
 */
static void
fnd_lock_start_lease(const FndLockTarget *tg, int64 token)
{
	FndLock    *lk;

	LWLockAcquire(tg->lock, LW_EXCLUSIVE);
	lk = fnd_dbtable_find(&fnd_lock_table, &tg->key, tg->hash);
	if (lk == NULL || !lk->held || lk->token != token ||
		!fnd_session_is_me(&lk->owner))
	{
		/* someone who read the token in fnd_locks released it meanwhile */
		LWLockRelease(tg->lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" was released with its token before this session took over",
						tg->key.name)));
	}
	lk->lease_expires = fnd_now() + lk->lease_usec;
	LWLockRelease(tg->lock);
}

/*
 * This backend holds tg, handed over with a token or pending (ours or
 * handed): the token, after starting the lease or fetching a token.
 */
static int64
fnd_lock_take_over(FunctionCallInfo fcinfo, const FndLockTarget *tg,
				   int slot, int64 lease_usec)
{
	FndLockWaiter *w = &fnd_lock_shared->waiters[slot];
	int64		token;

	pg_read_barrier();
	if (w->granted && w->token != 0)
	{
		token = w->token;
		if (lease_usec > 0)
			fnd_lock_start_lease(tg, token);
	}
	else
		token = fnd_lock_fetch_token(fcinfo, tg, slot);
	/* only this backend writes these while it is not queued */
	w->granted = false;
	w->token = 0;
	return token;
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/* Argument 0, the lock's name, as a target in this database. */
static void
fnd_lock_target_from_arg(FunctionCallInfo fcinfo, FndLockTarget *tg)
{
	fnd_dbkey_from_arg(fcinfo, 0, "lock name", &tg->key);
	fnd_lock_target(tg);
}

/* Validated arguments of fnd_lock_acquire. */
static void
fnd_lock_acquire_args(FunctionCallInfo fcinfo, FndLockTarget *tg,
					  int64 *wait_usec, int64 *lease_usec)
{
	fnd_lock_target_from_arg(fcinfo, tg);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("wait must not be null"),
				 errhint("Use '0' to try once without waiting.")));
	*wait_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(1), "wait", true);
	*lease_usec = 0;
	if (!PG_ARGISNULL(2))
		*lease_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(2), "lease", false);
	else
		fnd_warn_if_pooled("lock", "%s", tg->key.name);
}

/* fnd_lock_wait, counted and timed in telemetry */
static bool
fnd_lock_wait_counted(const FndLockTarget *tg, int slot, TimestampTz start,
					  int64 wait_usec)
{
	bool		got;

	fnd_telemetry_count("foundation.lock.waits", 1);
	got = fnd_lock_wait(tg, slot, start + wait_usec);
	fnd_telemetry_observe("foundation.lock.wait_ms",
						  (double) (fnd_now() - start) / 1000.0);
	if (!got)
		fnd_telemetry_count("foundation.lock.timeouts", 1);
	return got;
}

/*
 * fnd_lock_acquire(name text, wait interval DEFAULT '0',
 *					lease interval DEFAULT NULL) RETURNS bigint
 */
PG_FUNCTION_INFO_V1(fnd_lock_acquire);

Datum
fnd_lock_acquire(PG_FUNCTION_ARGS)
{
	FndLockTarget tg;
	int64		wait_usec;
	int64		lease_usec;
	TimestampTz start;
	int			slot;
	int64		token = 0;

	fnd_lock_acquire_args(fcinfo, &tg, &wait_usec, &lease_usec);
	slot = fnd_lock_my_slot();
	/* before owning anything, so the session's exit releases it */
	fnd_session_track();
	fnd_lock_touched = true;

	start = fnd_now();
	switch (fnd_lock_try_take(&tg, slot, lease_usec, wait_usec > 0, start,
							  &token))
	{
		case FND_LOCK_HELD:
			PG_RETURN_INT64(token);
		case FND_LOCK_TAKEN:
			break;
		case FND_LOCK_BUSY:
			fnd_telemetry_count("foundation.lock.busy", 1);
			PG_RETURN_NULL();
		case FND_LOCK_QUEUED:
			if (!fnd_lock_wait_counted(&tg, slot, start, wait_usec))
				PG_RETURN_NULL();
			/* FALLTHROUGH */
		case FND_LOCK_PENDING:
			token = fnd_lock_take_over(fcinfo, &tg, slot, lease_usec);
			break;
	}
	fnd_telemetry_count("foundation.lock.acquired", 1);
	PG_RETURN_INT64(token);
}

/*
 * Check that the caller may act on lk as its holder: by session (token
 * NULL) or by token plus role.  Raises FN602 otherwise: whoever else holds
 * the lock, a lock held under another token is not the caller's.
 */
static void
fnd_lock_check_holder(FndLock *lk, bool has_token, int64 token)
{
	if (!has_token)
	{
		if (!fnd_session_is_me(&lk->owner))
		{
			fnd_dbtable_release_held(&fnd_lock_table);
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
		fnd_dbtable_release_held(&fnd_lock_table);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" is not held with fencing token " INT64_FORMAT,
						lk->key.name, token),
				 errdetail("It is held with another token: the lease ran out and someone else acquired it, or the token is wrong.")));
	}
	if (lk->owner_role != GetUserId() && !fnd_role_may_manage(lk->owner_role))
	{
		fnd_dbtable_release_held(&fnd_lock_table);
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
	FndLockTarget tg;
	FndLock    *lk;
	TimestampTz now;

	fnd_lock_target_from_arg(fcinfo, &tg);

	LWLockAcquire(tg.lock, LW_EXCLUSIVE);
	now = fnd_now();
	lk = fnd_lock_find(&tg, now);
	if (lk == NULL || !lk->held)
	{
		LWLockRelease(tg.lock);
		PG_RETURN_BOOL(false);
	}
	fnd_lock_check_holder(lk, !PG_ARGISNULL(1),
						  PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1));
	fnd_lock_grant_next(lk, now);
	LWLockRelease(tg.lock);

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
	FndLockTarget tg;
	FndLock    *lk;
	TimestampTz now;
	TimestampTz expires;
	int64		token;

	fnd_lock_target_from_arg(fcinfo, &tg);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("token must not be null")));
	token = PG_GETARG_INT64(1);

	LWLockAcquire(tg.lock, LW_EXCLUSIVE);
	now = fnd_now();
	lk = fnd_lock_find(&tg, now);
	if (lk == NULL || !lk->held)
	{
		LWLockRelease(tg.lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("lock \"%s\" is not held", tg.key.name),
				 errdetail("Its lease ran out or it was released; acquire it again to get a new token.")));
	}
	fnd_lock_check_holder(lk, true, token);
	if (lk->lease_usec == 0)
	{
		LWLockRelease(tg.lock);
		PG_RETURN_NULL();
	}
	expires = lk->lease_expires = now + lk->lease_usec;
	LWLockRelease(tg.lock);

	PG_RETURN_TIMESTAMPTZ(expires);
}

/* A lock of this database held now, for fnd_locks_list. */
static bool
fnd_lock_copy_row(const void *entry, void *row, void *arg)
{
	const FndLock *lk = (const FndLock *) entry;
	TimestampTz now = *(TimestampTz *) arg;

	if (!lk->held || (lk->lease_expires != 0 && now >= lk->lease_expires))
		return false;			/* expired: as good as released */
	memcpy(row, lk, sizeof(FndLock));
	return true;
}

/* name, token, owner_pid, owner_role, acquired_at, lease_expires_at, waiters */
static void
fnd_lock_row_values(const void *row, Datum *values, bool *nulls)
{
	const FndLock *lk = (const FndLock *) row;
	char	   *role = GetUserNameFromId(lk->owner_role, true);

	values[0] = CStringGetTextDatum(lk->key.name);
	values[1] = Int64GetDatum(lk->token);
	nulls[1] = (lk->token == 0);
	values[2] = Int32GetDatum(lk->owner.pid);
	nulls[2] = fnd_session_is_empty(&lk->owner);
	if (role != NULL)
		values[3] = DirectFunctionCall1(namein, CStringGetDatum(role));
	else
		nulls[3] = true;
	values[4] = TimestampTzGetDatum(lk->acquired_at);
	values[5] = TimestampTzGetDatum(lk->lease_expires);
	nulls[5] = (lk->lease_expires == 0);
	values[6] = Int32GetDatum(lk->nwaiters);
}

/* fnd_locks_list() - the rows of the fnd_locks view, for this database */
PG_FUNCTION_INFO_V1(fnd_locks_list);

Datum
fnd_locks_list(PG_FUNCTION_ARGS)
{
	TimestampTz now = fnd_now();

	fnd_dbtable_list(fcinfo, &fnd_lock_table, sizeof(FndLock),
					 fnd_lock_copy_row, &now, fnd_lock_row_values);
	return (Datum) 0;
}

/* ---------------------------------------------------------------------
 * Service callbacks
 * ---------------------------------------------------------------------
 */

/*
 * Sweep of a dropped database's locks: only leased holdings can be left
 * (its sessions have ended), and nobody can wait for them.
 */
static bool
fnd_lock_forget(void *entry)
{
	return ((FndLock *) entry)->head < 0;
}

/* Scan step: end a holding whose lease ran out at *arg. */
static bool
fnd_lock_expire_visit(void *entry, void *arg)
{
	FndLock    *lk = (FndLock *) entry;

	if (!lk->held || lk->token == 0 || lk->lease_expires == 0 ||
		*(TimestampTz *) arg < lk->lease_expires)
		return false;
	/* removing the current entry during a scan is allowed */
	(void) fnd_lock_expire(lk, *(TimestampTz *) arg);
	return true;
}

/*
 * Supervisor: end every lapsed lease, handing each lock to its next
 * waiter; remove the locks and token blocks of dropped databases.
 */
static bool
fnd_lock_periodic(void)
{
	TimestampTz now = fnd_now();
	char		more[96];

	fnd_lock_expired_total += fnd_dbtable_scan(&fnd_lock_table, LW_EXCLUSIVE,
											   fnd_lock_expire_visit, &now);
	fnd_dbtable_sweep_dropped(&fnd_lock_table);
	fnd_lock_slots_freed += fnd_token_sweep_dropped();
	snprintf(more, sizeof(more), "%d leases expired; %d token slots freed",
			 fnd_lock_expired_total, fnd_lock_slots_freed);
	fnd_dbtable_report(&fnd_lock_table, more);
	return false;
}

/*
 * Scan step at session exit: pass on what this session holds by session
 * (and any lock it was handed but has no token for); leased locks stay with
 * their role until the lease runs out.
 */
static bool
fnd_lock_leave(void *entry, void *arg)
{
	FndLock    *lk = (FndLock *) entry;

	if (!lk->held || !fnd_session_is_me(&lk->owner))
		return false;
	/* session-owned, pending, or handed over with its lease not started */
	if (lk->lease_usec == 0 || lk->token == 0 || lk->lease_expires == 0)
		(void) fnd_lock_grant_next(lk, *(TimestampTz *) arg);
	else
		memset(&lk->owner, 0, sizeof(lk->owner));
	return true;
}

/*
 * The session ends: leave any queue (or pass on a lock handed to us while
 * we were leaving it), then see fnd_lock_leave.
 */
static void
fnd_lock_session_exit(void)
{
	FndLockWaiter *w;
	TimestampTz now;
	int			slot;

	if (!fnd_lock_touched || fnd_lock_shared == NULL)
		return;
	slot = MyBackendId - 1;
	if (slot < 0 || slot >= fnd_lock_shared->nslots)
		return;

	/* the only lock we can be queued for or handed is the last we awaited */
	w = &fnd_lock_shared->waiters[slot];
	if (fnd_lock_wait_target.lock != NULL)
	{
		LWLockAcquire(fnd_lock_wait_target.lock, LW_EXCLUSIVE);
		if (w->queued || w->granted)
			fnd_lock_abandon(&fnd_lock_wait_target, slot);
		LWLockRelease(fnd_lock_wait_target.lock);
	}

	now = fnd_now();
	fnd_dbtable_scan(&fnd_lock_table, LW_EXCLUSIVE, fnd_lock_leave, &now);
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
