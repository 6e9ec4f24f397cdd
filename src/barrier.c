/*-------------------------------------------------------------------------
 *
 * barrier.c
 *	  Cyclic barriers across sessions, and the capacity that barriers and
 *	  consensus rounds share (foundation.max_coordination_objects).
 *
 * A barrier has a number of parties and a generation, starting at 1.  Each
 * fnd_barrier_arrive() counts one party in the current generation; the
 * arrival that completes it "trips" the barrier: the generation number
 * goes up by one, the arrival count starts again at zero, and every
 * session sleeping on the barrier's condition variable is woken at once
 * (ConditionVariableBroadcast).  A waiter knows which generation it is
 * waiting for (its own last arrival, remembered per session), so it
 * returns as soon as that generation has tripped, even if later
 * generations have already filled up again.
 *
 * A session is one party: it counts once per generation, and arriving
 * again in the same generation changes nothing (so one session cannot trip
 * a barrier alone by arriving n times).  A session that stands for several
 * parties names them: fnd_barrier_arrive(name, party) counts each party id
 * once per generation.  Party ids are the session's own: the same id from
 * another session is another party.
 *
 * An arrival belongs to the session that made it.  The session remembers
 * its arrivals (barrier incarnation id, generation, count, whether it
 * arrived itself, and the generation each of its party ids arrived in) in
 * local hash tables; when it ends, however it ends, session_exit withdraws
 * the arrivals of generations that have not tripped yet, so a barrier
 * never trips with a dead party counted.  fnd_barrier_sync() also
 * withdraws its own arrival when its wait fails (timeout, cancel), so a
 * retry does not count the caller twice.
 *
 * Locking protocol:
 *	- One LWLock guards the barrier hash table and every field of every
 *	  entry except `waiting`: shared to look up and read, exclusive to
 *	  create, arrive, withdraw and remove.
 *	- `waiting` is an atomic counter of sessions between
 *	  ConditionVariablePrepareToSleep and ConditionVariableCancelSleep on
 *	  the entry's condition variable.  It is incremented with the lock held
 *	  (shared is enough: the entry cannot go away meanwhile) and decremented
 *	  without it, after the sleep is cancelled.  An entry is removed only
 *	  under the exclusive lock with waiting == 0, so no process is ever on
 *	  the wait list of a condition variable that is re-initialised when its
 *	  hash element is reused.
 *	- The broadcast that releases waiters happens after the lock is
 *	  released, so woken waiters do not queue behind the tripping session.
 *	  The element stays valid (hash elements are never returned to the
 *	  operating system); at worst a broadcast wakes the waiters of a
 *	  barrier that replaced it, and they re-check and sleep again.
 *	- The capacity counter is an atomic shared by barriers and consensus
 *	  rounds, changed with compare-and-swap so neither needs the other's
 *	  lock.  When it is at the maximum, creating a barrier evicts a decided
 *	  consensus round (fnd_consensus_give_way), taking the consensus lock
 *	  while holding the barrier lock; consensus code never takes the
 *	  barrier lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "barrier.h"
#include "foundation.h"
#include "dbname.h"

/* A barrier of more parties than this is surely a mistake. */
#define FND_BARRIER_MAX_PARTIES		1000000

typedef struct FndBarrierKey
{
	Oid			dbid;
	char		name[FND_NAME_BUFSZ];
} FndBarrierKey;

typedef struct FndBarrier
{
	FndBarrierKey key;			/* hash key: must be first */
	uint64		id;				/* incarnation: never reused */
	int			parties;
	int			arrived;		/* arrivals in the current generation */
	int64		generation;		/* the generation being filled, from 1 */
	Oid			owner_role;
	TimestampTz created_at;
	TimestampTz tripped_at;		/* 0 until the first trip */
	pg_atomic_uint32 waiting;	/* see the locking protocol */
	ConditionVariable cv;
} FndBarrier;

typedef struct FndBarrierShared
{
	pg_atomic_uint32 coordination_used; /* barriers + consensus rounds */
	pg_atomic_uint64 next_id;
} FndBarrierShared;

/* A session's arrivals at one barrier (backend-local). */
typedef struct FndArrival
{
	char		name[FND_NAME_BUFSZ];	/* hash key: must be first */
	uint64		id;				/* incarnation of the barrier */
	int64		generation;		/* generation of the last arrival */
	int			count;			/* arrivals in that generation */
	bool		self;			/* the session itself arrived in it */
	HTAB	   *parties;		/* FndPartyArrival by party id, or NULL */
} FndArrival;

/* Where one of the session's party ids last arrived (backend-local). */
typedef struct FndPartyArrival
{
	char		party[FND_NAME_BUFSZ];	/* hash key: must be first */
	uint64		id;				/* incarnation of the barrier */
	int64		generation;
} FndPartyArrival;

/* What one arrival did. */
typedef struct FndArriveResult
{
	int			missing;		/* arrivals still missing; 0 if it tripped */
	int64		generation;		/* the generation arrived in */
	bool		counted;		/* false: a repeat in the same generation */
} FndArriveResult;

int			fnd_max_coordination_objects = 1000;

static FndBarrierShared *fnd_barrier_shared = NULL;
static HTAB *fnd_barrier_hash = NULL;

static HTAB *fnd_arrivals = NULL;
/* The barrier this session is registered as sleeping on, if any. */
static FndBarrier *fnd_barrier_sleeping = NULL;

static void fnd_barrier_define_settings(bool preloading);
static Size fnd_barrier_shmem_size(void);
static void fnd_barrier_shmem_startup(void);
static void fnd_barrier_session_exit(void);
static bool fnd_barrier_periodic(void);

const FndService fnd_barrier_service = {
	.name = "barrier",
	.phase = 1,
	.depends_on = "",
	.define_settings = fnd_barrier_define_settings,
	.shmem_size = fnd_barrier_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_barrier_shmem_startup,
	.periodic = fnd_barrier_periodic,
	.session_exit = fnd_barrier_session_exit,
};

static void
fnd_barrier_define_settings(bool preloading)
{
	if (!preloading)
		return;
	DefineCustomIntVariable("foundation.max_coordination_objects",
							"Maximum number of barriers plus consensus rounds, over all databases.",
							NULL,
							&fnd_max_coordination_objects,
							1000,
							1,
							1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

static Size
fnd_barrier_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(FndBarrierShared)),
					hash_estimate_size(fnd_max_coordination_objects,
									   sizeof(FndBarrier)));
}

static void
fnd_barrier_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	fnd_barrier_shared = ShmemInitStruct("foundation barriers",
										 sizeof(FndBarrierShared), &found);
	if (!found)
	{
		pg_atomic_init_u32(&fnd_barrier_shared->coordination_used, 0);
		pg_atomic_init_u64(&fnd_barrier_shared->next_id, 1);
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndBarrierKey);
	info.entrysize = sizeof(FndBarrier);
	fnd_barrier_hash = ShmemInitHash("foundation barrier table",
									 fnd_max_coordination_objects,
									 fnd_max_coordination_objects,
									 &info, HASH_ELEM | HASH_BLOBS);
}

static LWLock *
fnd_barrier_lock(void)
{
	return &fnd_lwlocks(&fnd_barrier_service)[0].lock;
}

/* ---- shared capacity ---------------------------------------------------- */

bool
fnd_coordination_reserve(void)
{
	uint32		cur = pg_atomic_read_u32(&fnd_barrier_shared->coordination_used);

	for (;;)
	{
		if (cur >= (uint32) fnd_max_coordination_objects)
			return false;
		if (pg_atomic_compare_exchange_u32(&fnd_barrier_shared->coordination_used,
										   &cur, cur + 1))
			return true;
	}
}

void
fnd_coordination_release(void)
{
	pg_atomic_fetch_sub_u32(&fnd_barrier_shared->coordination_used, 1);
}

uint32
fnd_coordination_in_use(void)
{
	return pg_atomic_read_u32(&fnd_barrier_shared->coordination_used);
}

/* ---- helpers ------------------------------------------------------------ */

static void
fnd_barrier_key(text *name, FndBarrierKey *key)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	fnd_check_name(name, "barrier name", key->name);
}

static int
fnd_barrier_arg_parties(FunctionCallInfo fcinfo, int argno)
{
	int32		parties;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("parties must not be null")));
	parties = PG_GETARG_INT32(argno);
	if (parties < 1 || parties > FND_BARRIER_MAX_PARTIES)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("parties must be between 1 and %d", FND_BARRIER_MAX_PARTIES),
				 errdetail("The value given is %d.", parties)));
	return parties;
}

static int64
fnd_barrier_arg_timeout(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("timeout must not be null")));
	return fnd_interval_usec(PG_GETARG_INTERVAL_P(argno), "timeout", true);
}

static void
fnd_barrier_not_found(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_ARGUMENT),
			 errmsg("barrier \"%s\" does not exist", name),
			 errhint("Create it with fnd_barrier_create() or use fnd_barrier_sync().")));
}

/*
 * Find the barrier, or create it with the given parties.  An existing
 * barrier with another number of parties is an error.  Caller must hold
 * the barrier lock exclusively; on error the lock is released by the
 * transaction abort.
 */
static FndBarrier *
fnd_barrier_ensure(const FndBarrierKey *key, int parties)
{
	FndBarrier *b;
	bool		found;

	b = hash_search(fnd_barrier_hash, key, HASH_FIND, NULL);
	if (b != NULL)
	{
		if (b->parties != parties)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("barrier \"%s\" already exists with %d parties",
							key->name, b->parties),
					 errdetail("The call asked for %d parties.", parties),
					 errhint("Remove it with fnd_barrier_remove() first, or use another name.")));
		return b;
	}

	while (!fnd_coordination_reserve())
	{
		/* a decided, recorded consensus round gives way */
		if (!fnd_consensus_give_way())
			ereport(ERROR,
					(errcode(ERRCODE_FND_COORDINATION_FULL),
					 errmsg("too many barriers and consensus rounds"),
					 errdetail("The %d slots of foundation.max_coordination_objects are taken by %ld barriers and by consensus rounds that cannot give way (pending, waited on, or decided but not recorded yet).",
							   fnd_max_coordination_objects,
							   hash_get_num_entries(fnd_barrier_hash)),
					 errhint(FND_COORDINATION_FULL_HINT)));
	}

	b = hash_search(fnd_barrier_hash, key, HASH_ENTER_NULL, &found);
	if (b == NULL)
	{
		fnd_coordination_release();
		ereport(ERROR,
				(errcode(ERRCODE_FND_COORDINATION_FULL),
				 errmsg("too many barriers and consensus rounds"),
				 errdetail("The shared barrier table is out of memory.")));
	}
	Assert(!found);
	b->id = pg_atomic_fetch_add_u64(&fnd_barrier_shared->next_id, 1);
	b->parties = parties;
	b->arrived = 0;
	b->generation = 1;
	b->owner_role = GetUserId();
	b->created_at = fnd_now();
	b->tripped_at = 0;
	pg_atomic_init_u32(&b->waiting, 0);
	ConditionVariableInit(&b->cv);
	return b;
}

/* This session's arrival record for a barrier name, created if absent. */
static FndArrival *
fnd_barrier_my_arrival(const char *name, bool create)
{
	FndArrival *a;
	bool		found;

	if (fnd_arrivals == NULL)
	{
		HASHCTL		info;

		if (!create)
			return NULL;
		memset(&info, 0, sizeof(info));
		info.keysize = FND_NAME_BUFSZ;
		info.entrysize = sizeof(FndArrival);
		info.hcxt = TopMemoryContext;
		fnd_arrivals = hash_create("foundation barrier arrivals", 16, &info,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	a = hash_search(fnd_arrivals, name, create ? HASH_ENTER : HASH_FIND, &found);
	if (create && !found)
	{
		a->id = 0;
		a->generation = 0;
		a->count = 0;
		a->self = false;
		a->parties = NULL;
	}
	return a;
}

/* The record of one of this session's party ids at a barrier, created. */
static FndPartyArrival *
fnd_barrier_my_party(FndArrival *a, const char *party)
{
	FndPartyArrival *pa;
	bool		found;

	if (a->parties == NULL)
	{
		HASHCTL		info;

		memset(&info, 0, sizeof(info));
		info.keysize = FND_NAME_BUFSZ;
		info.entrysize = sizeof(FndPartyArrival);
		info.hcxt = TopMemoryContext;
		a->parties = hash_create("foundation barrier party arrivals", 16,
								 &info, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	pa = hash_search(a->parties, party, HASH_ENTER, &found);
	if (!found)
	{
		pa->id = 0;
		pa->generation = 0;
	}
	return pa;
}

/*
 * Forget the party ids whose arrivals have tripped (or whose barrier is
 * gone), so a session that uses new ids in every generation does not
 * accumulate them.
 */
static void
fnd_barrier_prune_parties(FndArrival *a)
{
	HASH_SEQ_STATUS status;
	FndPartyArrival *pa;

	if (a->parties == NULL)
		return;
	hash_seq_init(&status, a->parties);
	while ((pa = hash_seq_search(&status)) != NULL)
	{
		if (pa->id != a->id || pa->generation != a->generation)
			hash_search(a->parties, pa->party, HASH_REMOVE, NULL);
	}
}

/*
 * Count the arrival in the barrier's current generation, unless this
 * session (pa == NULL) or this party id (pa) has already arrived in it.
 * Trips the barrier when it completes.  Never raises: the local records
 * exist already.  Caller holds the barrier lock exclusively and
 * broadcasts if res->missing == 0 and res->counted.
 */
static void
fnd_barrier_count(FndBarrier *b, FndArrival *a, FndPartyArrival *pa,
				  FndArriveResult *res)
{
	if (a->id != b->id || a->generation != b->generation)
	{
		/* the session's earlier arrivals have tripped */
		a->id = b->id;
		a->generation = b->generation;
		a->count = 0;
		a->self = false;
	}
	res->generation = b->generation;
	if (pa != NULL)
		res->counted = !(pa->id == b->id && pa->generation == b->generation);
	else
		res->counted = !a->self;
	if (!res->counted)
	{
		res->missing = b->parties - b->arrived;
		return;
	}
	if (pa != NULL)
	{
		pa->id = b->id;
		pa->generation = b->generation;
	}
	else
		a->self = true;
	a->count++;
	b->arrived++;
	res->missing = b->parties - b->arrived;
	if (res->missing <= 0)
	{
		b->generation++;
		b->arrived = 0;
		b->tripped_at = fnd_now();
		res->missing = 0;
	}
}

/*
 * Arrive at a barrier as this session (party == NULL) or as one of its
 * party ids.  If parties > 0 the barrier is created when absent
 * (fnd_barrier_sync).  A repeated arrival in the same generation counts
 * nothing and reports the arrivals still missing.
 */
static void
fnd_barrier_arrive_internal(const FndBarrierKey *key, int parties,
							const char *party, FndArriveResult *res)
{
	LWLock	   *lock = fnd_barrier_lock();
	FndArrival *a;
	FndPartyArrival *pa = NULL;
	FndBarrier *b;

	/*
	 * Make the local records first: once the shared count includes us, no
	 * error may stop us from remembering it (it must be withdrawable).
	 */
	a = fnd_barrier_my_arrival(key->name, true);
	if (party != NULL)
		pa = fnd_barrier_my_party(a, party);
	fnd_session_track();

	LWLockAcquire(lock, LW_EXCLUSIVE);
	if (parties > 0)
		b = fnd_barrier_ensure(key, parties);
	else
	{
		b = hash_search(fnd_barrier_hash, key, HASH_FIND, NULL);
		if (b == NULL)
		{
			LWLockRelease(lock);
			fnd_barrier_not_found(key->name);
		}
	}
	fnd_barrier_count(b, a, pa, res);
	LWLockRelease(lock);

	if (res->counted && res->missing == 0)
	{
		ConditionVariableBroadcast(&b->cv);
		fnd_telemetry_count("foundation.barrier.trips", 1);
	}
	if (a->parties != NULL && hash_get_num_entries(a->parties) > a->count)
		fnd_barrier_prune_parties(a);
}

/*
 * Take back up to n arrivals this session made in a generation that has
 * not tripped (n < 0: all of them).  Never raises an error: also used at
 * session exit.
 */
static void
fnd_barrier_withdraw(FndArrival *a, int n)
{
	LWLock	   *lock = fnd_barrier_lock();
	FndBarrierKey key;
	FndBarrier *b;

	if (a->count <= 0)
		return;
	if (n < 0 || n > a->count)
		n = a->count;

	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	memcpy(key.name, a->name, FND_NAME_BUFSZ);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	b = hash_search(fnd_barrier_hash, &key, HASH_FIND, NULL);
	if (b != NULL && b->id == a->id && b->generation == a->generation)
		b->arrived -= Min(n, b->arrived);
	LWLockRelease(lock);
	a->count -= n;
}

/* Leave the wait list of the barrier we slept on, if any. */
static void
fnd_barrier_stop_sleeping(void)
{
	if (fnd_barrier_sleeping == NULL)
		return;
	ConditionVariableCancelSleep();
	pg_atomic_fetch_sub_u32(&fnd_barrier_sleeping->waiting, 1);
	fnd_barrier_sleeping = NULL;
}

/* A wait on a barrier, between its looks at the barrier. */
typedef struct FndBarrierWait
{
	uint64		id;				/* incarnation waited on; 0 before the first look */
	int64		target;			/* generation waited for */
	int			arrived;		/* as last seen, for the timeout's detail */
	int			parties;
	FndBarrier *b;
} FndBarrierWait;

/*
 * One look at the barrier, under the shared lock: true if the awaited
 * generation has tripped.  The first look fixes the barrier and the
 * generation (this session's last arrival, else the current one) and
 * registers the session as sleeping on the barrier, so it cannot be
 * removed meanwhile.
 */
static bool
fnd_barrier_wait_look(const FndBarrierKey *key, FndBarrierWait *w)
{
	LWLock	   *lock = fnd_barrier_lock();
	FndBarrier *b;

	LWLockAcquire(lock, LW_SHARED);
	b = hash_search(fnd_barrier_hash, key, HASH_FIND, NULL);
	if (w->id == 0)
	{
		FndArrival *a;

		if (b == NULL)
		{
			LWLockRelease(lock);
			fnd_barrier_not_found(key->name);
		}
		w->id = b->id;
		a = fnd_barrier_my_arrival(key->name, false);
		w->target = (a != NULL && a->id == b->id) ? a->generation : b->generation;
	}
	/* while we are registered as waiting, nobody can remove it */
	if (b == NULL || b->id != w->id)
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("barrier \"%s\" was removed", key->name)));
	}
	if (b->generation > w->target)
	{
		LWLockRelease(lock);
		return true;
	}
	w->arrived = b->arrived;
	w->parties = b->parties;
	w->b = b;
	if (fnd_barrier_sleeping == NULL)
	{
		pg_atomic_fetch_add_u32(&b->waiting, 1);
		fnd_barrier_sleeping = b;
		fnd_session_track();
		ConditionVariablePrepareToSleep(&b->cv);
	}
	LWLockRelease(lock);
	return false;
}

/*
 * Sleep until the generation this session last arrived in has tripped (or,
 * without an arrival in this barrier, the generation current at the call).
 * Returns that generation; FN603 after timeout_us.  Errors (timeout,
 * cancel, statement_timeout) leave the session off the wait list.
 */
static int64
fnd_barrier_wait_internal(const FndBarrierKey *key, int64 timeout_us)
{
	LWLock	   *lock = fnd_barrier_lock();
	TimestampTz deadline = fnd_now() + timeout_us;
	FndBarrierWait w;
	volatile bool tripped = false;

	memset(&w, 0, sizeof(w));
	PG_TRY();
	{
		for (;;)
		{
			TimestampTz now;

			if (fnd_barrier_wait_look(key, &w))
			{
				tripped = true;
				break;
			}
			now = fnd_now();
			if (now >= deadline)
				break;
			(void) ConditionVariableTimedSleep(&w.b->cv,
											   fnd_sleep_ms(deadline, now),
											   PG_WAIT_EXTENSION);
		}
	}
	PG_CATCH();
	{
		if (LWLockHeldByMe(lock))
			LWLockRelease(lock);
		fnd_barrier_stop_sleeping();
		PG_RE_THROW();
	}
	PG_END_TRY();
	fnd_barrier_stop_sleeping();

	if (!tripped)
	{
		fnd_telemetry_count("foundation.barrier.timeouts", 1);
		ereport(ERROR,
				(errcode(ERRCODE_FND_BARRIER_TIMEOUT),
				 errmsg("barrier \"%s\" did not trip before the timeout", key->name),
				 errdetail("%d of %d parties had arrived in generation " INT64_FORMAT ".",
						   w.arrived, w.parties, w.target)));
	}
	return w.target;
}

/* ---- SQL functions ------------------------------------------------------ */

PG_FUNCTION_INFO_V1(fnd_barrier_create);
PG_FUNCTION_INFO_V1(fnd_barrier_arrive);
PG_FUNCTION_INFO_V1(fnd_barrier_arrive_party);
PG_FUNCTION_INFO_V1(fnd_barrier_wait);
PG_FUNCTION_INFO_V1(fnd_barrier_sync);
PG_FUNCTION_INFO_V1(fnd_barrier_remove);
PG_FUNCTION_INFO_V1(fnd_barriers_list);

/*
 * fnd_barrier_create(name text, parties int) RETURNS void
 *
 * Creating a barrier that exists with the same parties does nothing, so
 * every worker may call it; with other parties it is FN003.
 */
Datum
fnd_barrier_create(PG_FUNCTION_ARGS)
{
	FndBarrierKey key;
	int			parties;
	LWLock	   *lock;

	fnd_require_shmem();
	fnd_barrier_key(fnd_arg_text(fcinfo, 0, "barrier name"), &key);
	parties = fnd_barrier_arg_parties(fcinfo, 1);

	lock = fnd_barrier_lock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	(void) fnd_barrier_ensure(&key, parties);
	LWLockRelease(lock);
	PG_RETURN_VOID();
}

/*
 * fnd_barrier_arrive(name text) RETURNS int: arrivals still missing.  The
 * session counts once per generation; arriving again changes nothing.
 */
Datum
fnd_barrier_arrive(PG_FUNCTION_ARGS)
{
	FndBarrierKey key;
	FndArriveResult res;

	fnd_require_shmem();
	fnd_barrier_key(fnd_arg_text(fcinfo, 0, "barrier name"), &key);
	fnd_barrier_arrive_internal(&key, 0, NULL, &res);
	PG_RETURN_INT32(res.missing);
}

/*
 * fnd_barrier_arrive(name text, party text) RETURNS int: arrive as one of
 * the parties this session stands for; each party id counts once per
 * generation.
 */
Datum
fnd_barrier_arrive_party(PG_FUNCTION_ARGS)
{
	FndBarrierKey key;
	char		party[FND_NAME_BUFSZ];
	FndArriveResult res;

	fnd_require_shmem();
	fnd_barrier_key(fnd_arg_text(fcinfo, 0, "barrier name"), &key);
	fnd_check_name(fnd_arg_text(fcinfo, 1, "party"), "party", party);
	fnd_barrier_arrive_internal(&key, 0, party, &res);
	PG_RETURN_INT32(res.missing);
}

/* fnd_barrier_wait(name text, timeout interval) RETURNS bigint */
Datum
fnd_barrier_wait(PG_FUNCTION_ARGS)
{
	FndBarrierKey key;
	int64		timeout_us;

	fnd_require_shmem();
	fnd_barrier_key(fnd_arg_text(fcinfo, 0, "barrier name"), &key);
	timeout_us = fnd_barrier_arg_timeout(fcinfo, 1);
	PG_RETURN_INT64(fnd_barrier_wait_internal(&key, timeout_us));
}

/*
 * fnd_barrier_sync(name text, parties int, timeout interval) RETURNS bigint
 *
 * Create if absent, arrive, wait.  If the wait fails, the arrival it made
 * is withdrawn (unless its generation tripped meanwhile), so the call is
 * all or nothing and a retry does not count the caller twice.
 */
Datum
fnd_barrier_sync(PG_FUNCTION_ARGS)
{
	FndBarrierKey key;
	int			parties;
	int64		timeout_us;
	FndArriveResult res;
	int64		result;

	fnd_require_shmem();
	fnd_barrier_key(fnd_arg_text(fcinfo, 0, "barrier name"), &key);
	parties = fnd_barrier_arg_parties(fcinfo, 1);
	timeout_us = fnd_barrier_arg_timeout(fcinfo, 2);

	fnd_barrier_arrive_internal(&key, parties, NULL, &res);
	if (res.missing == 0)
		PG_RETURN_INT64(res.generation);

	PG_TRY();
	{
		result = fnd_barrier_wait_internal(&key, timeout_us);
	}
	PG_CATCH();
	{
		FndArrival *a = fnd_barrier_my_arrival(key.name, false);

		/* only the arrival this call made (an earlier one stays) */
		if (res.counted && a != NULL && a->generation == res.generation &&
			a->self)
		{
			a->self = false;
			fnd_barrier_withdraw(a, 1);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	PG_RETURN_INT64(result);
}

/*
 * fnd_barrier_remove(name text) RETURNS boolean
 *
 * False if absent.  Only the creating role (or a member, or a superuser)
 * may remove a barrier, and not while sessions wait on it.
 */
Datum
fnd_barrier_remove(PG_FUNCTION_ARGS)
{
	FndBarrierKey key;
	FndBarrier *b;
	LWLock	   *lock;
	uint32		waiting;

	fnd_require_shmem();
	fnd_barrier_key(fnd_arg_text(fcinfo, 0, "barrier name"), &key);

	lock = fnd_barrier_lock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	b = hash_search(fnd_barrier_hash, &key, HASH_FIND, NULL);
	if (b == NULL)
	{
		LWLockRelease(lock);
		PG_RETURN_BOOL(false);
	}
	if (!fnd_role_may_manage(b->owner_role))
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_OWNER),
				 errmsg("barrier \"%s\" belongs to another role", key.name),
				 errdetail("Only its creator, a member of that role or a superuser may remove it.")));
	}
	waiting = pg_atomic_read_u32(&b->waiting);
	if (waiting > 0)
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("barrier \"%s\" has waiting sessions", key.name),
				 errdetail_plural("%u session is waiting on it.",
								  "%u sessions are waiting on it.",
								  waiting, waiting),
				 errhint("Remove it once its waiters have been released or have given up.")));
	}
	hash_search(fnd_barrier_hash, &key, HASH_REMOVE, NULL);
	fnd_coordination_release();
	LWLockRelease(lock);
	PG_RETURN_BOOL(true);
}

/*
 * fnd_barriers_list() - the rows of the fnd_barriers view: the barriers of
 * the current database.
 */
typedef struct FndBarrierRow
{
	char		name[FND_NAME_BUFSZ];
	int			parties;
	int			arrived;
	int64		generation;
	int			waiting;
	Oid			owner_role;
	TimestampTz created_at;
	TimestampTz tripped_at;
} FndBarrierRow;

/* Copy the barriers of this database out, under the shared lock. */
static FndBarrierRow *
fnd_barrier_copy_rows(int *nrows_out)
{
	LWLock	   *lock = fnd_barrier_lock();
	HASH_SEQ_STATUS status;
	FndBarrier *b;
	FndBarrierRow *rows;
	int			nrows = 0;
	int			maxrows = 16;

	rows = palloc(sizeof(FndBarrierRow) * maxrows);
	LWLockAcquire(lock, LW_SHARED);
	hash_seq_init(&status, fnd_barrier_hash);
	while ((b = hash_seq_search(&status)) != NULL)
	{
		FndBarrierRow *r;

		if (b->key.dbid != MyDatabaseId)
			continue;
		if (nrows == maxrows)
		{
			maxrows *= 2;
			rows = repalloc(rows, sizeof(FndBarrierRow) * maxrows);
		}
		r = &rows[nrows++];
		memcpy(r->name, b->key.name, FND_NAME_BUFSZ);
		r->parties = b->parties;
		r->arrived = b->arrived;
		r->generation = b->generation;
		r->waiting = (int) pg_atomic_read_u32(&b->waiting);
		r->owner_role = b->owner_role;
		r->created_at = b->created_at;
		r->tripped_at = b->tripped_at;
	}
	LWLockRelease(lock);
	*nrows_out = nrows;
	return rows;
}

Datum
fnd_barriers_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndBarrierRow *rows;
	int			nrows;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	/* copy out under the lock, build tuples after releasing it */
	rows = fnd_barrier_copy_rows(&nrows);
	for (i = 0; i < nrows; i++)
	{
		FndBarrierRow *r = &rows[i];
		Datum		values[8];
		bool		nulls[8];
		char	   *role;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(r->name);
		values[1] = Int32GetDatum(r->parties);
		values[2] = Int32GetDatum(r->arrived);
		values[3] = Int64GetDatum(r->generation);
		values[4] = Int32GetDatum(r->waiting);
		role = GetUserNameFromId(r->owner_role, true);
		if (role)
		{
			NameData   *n = palloc0(sizeof(NameData));

			namestrcpy(n, role);
			values[5] = NameGetDatum(n);
		}
		else
			nulls[5] = true;
		values[6] = TimestampTzGetDatum(r->created_at);
		if (r->tripped_at != 0)
			values[7] = TimestampTzGetDatum(r->tripped_at);
		else
			nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Session exit: leave any wait list, then withdraw the arrivals of
 * generations that have not tripped.  Cheap when the session never touched
 * a barrier.
 */
static void
fnd_barrier_session_exit(void)
{
	HASH_SEQ_STATUS status;
	FndArrival *a;

	fnd_barrier_stop_sleeping();
	if (fnd_arrivals == NULL || fnd_barrier_hash == NULL)
		return;
	hash_seq_init(&status, fnd_arrivals);
	while ((a = hash_seq_search(&status)) != NULL)
	{
		if (a->count > 0)
			fnd_barrier_withdraw(a, -1);
	}
}

/*
 * Supervisor: remove the barriers of databases that have been dropped
 * (nobody can reach them any more, and they hold capacity).  The database
 * list is read without the lock; the removal re-checks under it.
 */
/* Sweep callback: a barrier nobody waits on gives back its slot. */
static bool
fnd_barrier_forget(void *entry)
{
	FndBarrier *b = (FndBarrier *) entry;

	if (pg_atomic_read_u32(&b->waiting) != 0)
		return false;
	fnd_coordination_release();
	return true;
}

static bool
fnd_barrier_periodic(void)
{
	int			removed;

	removed = fnd_dbname_sweep_dropped(fnd_barrier_hash, fnd_barrier_lock(),
									   fnd_barrier_forget);
	if (removed > 0)
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "removed %d barriers of dropped databases", removed);
		fnd_service_set_detail(msg);
	}
	return false;
}
