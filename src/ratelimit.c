/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Rate limiter with a smooth window, shared by every session.
 *
 * Each bucket is a GCRA meter in its leaky-bucket form: a level, in hits,
 * that drains continuously at `limit` per `per` and rises by one for every
 * hit let through.  A hit is allowed when the level after it would not
 * exceed `limit`.  So a quiet bucket lets exactly `limit` hits through at
 * once, then one every per/limit: there are no window edges where twice the
 * limit can pass, as with fixed windows.  Refused hits are not counted.
 *
 * The limit travels with every call (fnd_rate_check(bucket, limit, per));
 * the bucket remembers the last one, for fnd_rate_status.  A caller that
 * changes the limit keeps the level it has.
 *
 * A bucket whose level has drained to zero is indistinguishable from a new
 * one, so when the table is full such a bucket is recycled.  Only when no
 * bucket is drained does fnd_rate_check fail (53400, with a hint naming
 * foundation.max_rate_buckets).
 *
 * Locking protocol (as in breaker.c):
 *	- The rate-limit lock (our one LWLock) guards the hash table's shape:
 *	  shared for a lookup or to read RateShared.count, exclusive to
 *	  insert, recycle or remove an entry and change the count.  The
 *	  supervisor removes the buckets of dropped databases.
 *	- Each entry's spinlock guards its fields except the key; it is taken
 *	  only while the LWLock is held in some mode.  Nothing that can raise
 *	  an error runs under a spinlock.
 *	- The hot path, an existing bucket, takes the LWLock shared and one
 *	  spinlock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "dbname.h"

PG_FUNCTION_INFO_V1(fnd_rate_check);
PG_FUNCTION_INFO_V1(fnd_rate_require);
PG_FUNCTION_INFO_V1(fnd_rate_status);
PG_FUNCTION_INFO_V1(fnd_rate_reset);
PG_FUNCTION_INFO_V1(fnd_rate_list);

/* Rounding slack when comparing levels, in hits. */
#define RL_EPSILON	1e-9

/* (database, name), hashed and matched by dbname.c */
typedef FndDbNameKey RateKey;

typedef struct RateEntry
{
	RateKey		key;			/* hash key: must be first */
	slock_t		mutex;			/* guards everything below */
	int			limit;			/* last limit given */
	int64		per_us;			/* last period given */
	double		level;			/* hits in the window at `updated` */
	TimestampTz updated;
	int64		allowed;		/* counters since the bucket appeared */
	int64		rejected;
} RateEntry;

typedef struct RateShared
{
	int			count;
} RateShared;

typedef struct RateSnap
{
	char		name[FND_NAME_BUFSZ];
	int			limit;
	int64		per_us;
	double		level;
	int64		allowed;
	int64		rejected;
} RateSnap;

static int	rl_max_buckets = 10000;
static RateShared *rl_shared = NULL;
static HTAB *rl_table = NULL;

static void
rl_define_settings(bool preloading)
{
	if (!preloading)
		return;
	DefineCustomIntVariable("foundation.max_rate_buckets",
							"Maximum number of rate-limit buckets, across all databases.",
							"Drained buckets are recycled when the table is full.",
							&rl_max_buckets,
							10000,
							1,
							10000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

static Size
rl_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(RateShared)),
					hash_estimate_size(rl_max_buckets, sizeof(RateEntry)));
}

static void
rl_shmem_startup(void)
{
	bool		found;

	rl_shared = ShmemInitStruct("foundation rate limits", sizeof(RateShared),
								&found);
	if (!found)
		rl_shared->count = 0;

	rl_table = fnd_dbname_table("foundation rate limit table", rl_max_buckets,
								 sizeof(RateEntry));
}

static bool rl_periodic(void);

const FndService fnd_ratelimit_service = {
	.name = "ratelimit",
	.phase = 1,
	.depends_on = "",
	.define_settings = rl_define_settings,
	.shmem_size = rl_shmem_size,
	.lwlocks = 1,
	.shmem_startup = rl_shmem_startup,
	.periodic = rl_periodic,
};

static inline LWLock *
rl_lock(void)
{
	static LWLock *lock = NULL;

	if (lock == NULL)
		lock = &fnd_lwlocks(&fnd_ratelimit_service)[0].lock;
	return lock;
}

/*
 * Supervisor: remove the buckets of databases that no longer exist (they
 * would be recycled once drained anyway, but then they'd still show up in
 * counts and cost a scan).
 */
static int	rl_swept = 0;

/* Sweep callback: one entry fewer.  Caller holds the lock exclusively. */
static bool
rl_forget(void *entry)
{
	rl_shared->count--;
	return true;
}

static bool
rl_periodic(void)
{
	int			nentries;
	char		detail[64];

	/* the supervisor's total since it started */
	rl_swept += fnd_dbname_sweep_dropped(rl_table, rl_lock(), rl_forget);
	LWLockAcquire(rl_lock(), LW_SHARED);
	nentries = rl_shared->count;
	LWLockRelease(rl_lock());
	snprintf(detail, sizeof(detail), "%d buckets; %d removed with dropped databases",
			 nentries, rl_swept);
	fnd_service_set_detail(detail);
	return false;
}

static inline void
rl_key_from_arg(FunctionCallInfo fcinfo, RateKey *key)
{
	fnd_dbname_key_from_arg(fcinfo, 0, "bucket name", key);
}

/* The level of e drained to `now`.  Caller holds e's spinlock. */
static inline double
rl_level_at(const RateEntry *e, TimestampTz now)
{
	double		level = e->level;

	if (now > e->updated && e->per_us > 0)
	{
		level -= (double) (now - e->updated) * e->limit / (double) e->per_us;
		if (level < 0)
			level = 0;
	}
	return level;
}

/* Time until a level lets one more hit through, in microseconds. */
static int64
rl_retry_after_us(double level, int limit, int64 per_us)
{
	double		excess = level + 1.0 - limit;

	if (excess <= RL_EPSILON)
		return 0;
	return (int64) ceil(excess * (double) per_us / limit);
}

/*
 * Find or create the bucket for key.  Returns with the LWLock held (shared
 * when the bucket existed, exclusive when it had to be made), or raises.
 */
static RateEntry *
rl_find_or_create(const RateKey *key, TimestampTz now)
{
	RateEntry  *e;
	bool		found;

	LWLockAcquire(rl_lock(), LW_SHARED);
	e = hash_search(rl_table, key, HASH_FIND, NULL);
	if (e != NULL)
		return e;
	LWLockRelease(rl_lock());

	LWLockAcquire(rl_lock(), LW_EXCLUSIVE);
	e = hash_search(rl_table, key, HASH_FIND, NULL);
	if (e != NULL)
		return e;				/* someone else made it meanwhile */

	if (rl_shared->count >= rl_max_buckets)
	{
		/* recycle a drained bucket: it holds nothing a new one wouldn't */
		HASH_SEQ_STATUS seq;
		RateEntry  *victim;
		RateKey		vkey;
		bool		drained = false;

		hash_seq_init(&seq, rl_table);
		while ((victim = hash_seq_search(&seq)) != NULL)
		{
			SpinLockAcquire(&victim->mutex);
			drained = rl_level_at(victim, now) <= RL_EPSILON;
			SpinLockRelease(&victim->mutex);
			if (drained)
			{
				hash_seq_term(&seq);
				break;
			}
		}
		if (!drained)
		{
			LWLockRelease(rl_lock());
			ereport(ERROR,
					(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
					 errmsg("too many rate-limit buckets"),
					 errdetail("All %d buckets allowed by foundation.max_rate_buckets are in use and none has drained.",
							   rl_max_buckets),
					 errhint("Raise foundation.max_rate_buckets and restart the server.")));
		}
		memcpy(&vkey, &victim->key, sizeof(RateKey));
		hash_search(rl_table, &vkey, HASH_REMOVE, NULL);
		rl_shared->count--;
	}

	e = hash_search(rl_table, key, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		LWLockRelease(rl_lock());
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many rate-limit buckets"),
				 errdetail("Shared memory for rate-limit buckets is exhausted.")));
	}
	rl_shared->count++;
	memset((char *) e + sizeof(RateKey), 0, sizeof(RateEntry) - sizeof(RateKey));
	SpinLockInit(&e->mutex);
	e->updated = now;
	return e;
}

/*
 * One hit against bucket key.  Returns whether it was allowed; when not,
 * *retry_us says when the next hit would be.
 */
static bool
rl_hit(FunctionCallInfo fcinfo, RateKey *key, int64 *retry_us)
{
	int			limit;
	int64		per_us;
	RateEntry  *e;
	TimestampTz now;
	double		level;
	bool		ok;

	rl_key_from_arg(fcinfo, key);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("limit and per must not be null")));
	limit = PG_GETARG_INT32(1);
	if (limit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("limit must be positive"),
				 errdetail("It is %d.", limit)));
	per_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(2), "per", false);

	now = fnd_now();
	e = rl_find_or_create(key, now);

	SpinLockAcquire(&e->mutex);
	/* drain at the rate in force until now, then take the caller's */
	level = rl_level_at(e, now);
	e->limit = limit;
	e->per_us = per_us;
	ok = (level + 1.0 <= limit + RL_EPSILON);
	if (ok)
	{
		level += 1.0;
		e->allowed++;
	}
	else
		e->rejected++;
	/* only move forward: a clock step back must not refill the bucket */
	if (now >= e->updated)
	{
		e->level = level;
		e->updated = now;
	}
	else if (ok)
		e->level += 1.0;
	*retry_us = ok ? 0 : rl_retry_after_us(level, limit, per_us);
	SpinLockRelease(&e->mutex);
	LWLockRelease(rl_lock());

	if (!ok)
		fnd_telemetry_count("foundation.ratelimit.rejections", 1);
	return ok;
}

/* fnd_rate_check(bucket, limit, per) -> true (and counted) if allowed */
Datum
fnd_rate_check(PG_FUNCTION_ARGS)
{
	RateKey		key;
	int64		retry_us;

	PG_RETURN_BOOL(rl_hit(fcinfo, &key, &retry_us));
}

/* fnd_rate_require(bucket, limit, per): like check, FN901 when refused */
Datum
fnd_rate_require(PG_FUNCTION_ARGS)
{
	RateKey		key;
	int64		retry_us;

	if (!rl_hit(fcinfo, &key, &retry_us))
	{
		char	   *retry;

		retry = DatumGetCString(DirectFunctionCall1(interval_out,
													IntervalPGetDatum(fnd_usec_interval(retry_us))));
		ereport(ERROR,
				(errcode(ERRCODE_FND_RATE_LIMITED),
				 errmsg("rate limit of bucket \"%s\" exceeded", key.name),
				 errdetail("The limit is %d per %s; retry after %s.",
						   PG_GETARG_INT32(1),
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   PG_GETARG_DATUM(2))),
						   retry)));
	}
	PG_RETURN_VOID();
}

static void
rl_snapshot(RateEntry *e, TimestampTz now, RateSnap *s)
{
	SpinLockAcquire(&e->mutex);
	s->limit = e->limit;
	s->per_us = e->per_us;
	s->level = rl_level_at(e, now);
	s->allowed = e->allowed;
	s->rejected = e->rejected;
	SpinLockRelease(&e->mutex);
}

/* hits_in_window, limit, per, retry_after */
static void
rl_snap_values(const RateSnap *s, Datum *values, bool *nulls)
{
	/* the level is exact up to float rounding; show whole-hit noise as such */
	double		level = round(s->level * 1e6) / 1e6;

	values[0] = Float8GetDatum(level);
	values[1] = Int32GetDatum(s->limit);
	values[2] = IntervalPGetDatum(fnd_usec_interval(s->per_us));
	values[3] = IntervalPGetDatum(fnd_usec_interval(rl_retry_after_us(s->level,
																	  s->limit,
																	  s->per_us)));
}

/* fnd_rate_status(bucket) -> one row, or none for an unknown bucket */
Datum
fnd_rate_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RateKey		key;
	RateEntry  *e;
	RateSnap	snap;
	bool		found = false;

	rl_key_from_arg(fcinfo, &key);
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(rl_lock(), LW_SHARED);
	e = hash_search(rl_table, &key, HASH_FIND, NULL);
	if (e != NULL)
	{
		rl_snapshot(e, fnd_now(), &snap);
		found = true;
	}
	LWLockRelease(rl_lock());

	if (found)
	{
		Datum		values[4];
		bool		nulls[4] = {0};

		rl_snap_values(&snap, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* fnd_rate_reset(bucket) -> false if there was no such bucket */
Datum
fnd_rate_reset(PG_FUNCTION_ARGS)
{
	RateKey		key;
	bool		found;

	rl_key_from_arg(fcinfo, &key);
	LWLockAcquire(rl_lock(), LW_EXCLUSIVE);
	hash_search(rl_table, &key, HASH_REMOVE, &found);
	if (found)
		rl_shared->count--;
	LWLockRelease(rl_lock());
	PG_RETURN_BOOL(found);
}

/* fnd_rate_list() -> every bucket of this database, for fnd_rate_limits */
Datum
fnd_rate_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	RateEntry  *e;
	RateSnap   *rows;
	int			n = 0;
	int			cap;
	int			i;
	TimestampTz now;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	now = fnd_now();

	/* copy under the lock (palloc is fine under an LWLock), build after */
	LWLockAcquire(rl_lock(), LW_SHARED);
	cap = Max(rl_shared->count, 1);
	rows = palloc(sizeof(RateSnap) * cap);
	hash_seq_init(&seq, rl_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId || n >= cap)
			continue;
		memcpy(rows[n].name, e->key.name, FND_NAME_BUFSZ);
		rl_snapshot(e, now, &rows[n]);
		n++;
	}
	LWLockRelease(rl_lock());

	for (i = 0; i < n; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {0};

		values[0] = CStringGetTextDatum(rows[i].name);
		rl_snap_values(&rows[i], values + 1, nulls + 1);
		values[5] = Int64GetDatum(rows[i].allowed);
		values[6] = Int64GetDatum(rows[i].rejected);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
