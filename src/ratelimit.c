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
 * bucket is drained does fnd_rate_check fail (FN902 rate_limits_full, with
 * a hint naming foundation.max_rate_buckets).  The table itself (key, size
 * setting, count, capacity error, sweep) is an FndDbTable (dbtable.h).
 *
 * Locking protocol (as in breaker.c):
 *	- The rate-limit lock (the table's one LWLock) guards the hash table's
 *	  shape: shared for a lookup, exclusive to insert, recycle or remove an
 *	  entry.  The supervisor removes the buckets of dropped databases.
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

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"
#include "dbtable.h"
#include "ratelimit.h"

PG_FUNCTION_INFO_V1(fnd_rate_check);
PG_FUNCTION_INFO_V1(fnd_rate_require);
PG_FUNCTION_INFO_V1(fnd_rate_status);
PG_FUNCTION_INFO_V1(fnd_rate_reset);
PG_FUNCTION_INFO_V1(fnd_rate_list);
PG_FUNCTION_INFO_V1(fnd_rate_agent_list);

/* Rounding slack when comparing levels, in hits. */
#define RL_EPSILON	1e-9

typedef FndDbKey RateKey;

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

typedef struct RateSnap
{
	char		name[FND_NAME_BUFSZ];
	int			limit;
	int64		per_us;
	double		level;
	int64		allowed;
	int64		rejected;
} RateSnap;

static FndDbTable rl_table = {
	.name = "foundation rate limit table",
	.title = "rate-limit bucket table",
	.noun = "buckets",
	.service = &fnd_ratelimit_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(RateKey),
	.entrysize = sizeof(RateEntry),
	.errcode = ERRCODE_FND_RATE_LIMITS_FULL,
	.max_name = "foundation.max_rate_buckets",
	.max_desc = "Maximum number of rate-limit buckets, across all databases.",
	.max_default = 10000,
	.full_hint = "No bucket has drained, so none could be recycled; raise foundation.max_rate_buckets and restart the server.",
};

FND_DBTABLE_SETUP_CALLBACKS(rl, rl_table)

/*
 * Supervisor: remove the buckets of databases that no longer exist (they
 * would be recycled once drained anyway, but then they'd still show up in
 * counts and cost a scan).
 */
FND_DBTABLE_SWEEP_CALLBACK(rl, rl_table)

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
	return fnd_dbtable_lock(&rl_table);
}

/* The bucket of key, or NULL.  Caller holds the lock. */
static inline RateEntry *
rl_find(const RateKey *key)
{
	return fnd_dbtable_find(&rl_table, key, fnd_dbtable_hash(&rl_table, key));
}

static inline void
rl_key_from_arg(FunctionCallInfo fcinfo, RateKey *key)
{
	fnd_dbkey_from_arg(fcinfo, 0, "bucket name", key);
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
 * A drained bucket to recycle, or NULL.  Caller holds the lock exclusively.
 */
static RateEntry *
rl_drained_bucket(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	RateEntry  *e;

	hash_seq_init(&seq, rl_table.htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		bool		drained;

		SpinLockAcquire(&e->mutex);
		drained = rl_level_at(e, now) <= RL_EPSILON;
		SpinLockRelease(&e->mutex);
		if (drained)
		{
			hash_seq_term(&seq);
			return e;
		}
	}
	return NULL;
}

/*
 * Find or create the bucket for key.  Returns with the LWLock held (shared
 * when the bucket existed, exclusive when it had to be made), or raises
 * FN902 when the table is full and no bucket has drained.
 */
static RateEntry *
rl_find_or_create(const RateKey *key, TimestampTz now)
{
	uint32		hash = fnd_dbtable_hash(&rl_table, key);
	RateEntry  *e;

	LWLockAcquire(rl_lock(), LW_SHARED);
	e = fnd_dbtable_find(&rl_table, key, hash);
	if (e != NULL)
		return e;
	LWLockRelease(rl_lock());

	LWLockAcquire(rl_lock(), LW_EXCLUSIVE);
	e = fnd_dbtable_find(&rl_table, key, hash);
	if (e != NULL)
		return e;				/* someone else made it meanwhile */

	e = fnd_dbtable_insert(&rl_table, key, hash, InvalidOid);
	if (e == NULL)
	{
		/* full: recycle a drained bucket, it holds nothing a new one wouldn't */
		RateEntry  *victim = rl_drained_bucket(now);

		if (victim != NULL)
			fnd_dbtable_remove(&rl_table, victim);
		e = fnd_dbtable_enter(&rl_table, key, hash, InvalidOid);
	}
	SpinLockInit(&e->mutex);
	e->updated = now;
	return e;
}

/*
 * One hit of limit per per_us against bucket key (checked arguments).
 * Returns whether it was allowed; when not, *retry_us says when the next
 * hit would be.  Also the agent-aware limits' hit (ratelimit_agent.c).
 */
bool
fnd_rate_hit(const FndDbKey *key, int limit, int64 per_us, int64 *retry_us)
{
	RateEntry  *e;
	TimestampTz now;
	double		level;
	bool		ok;

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

/*
 * Arguments argno ("limit") and argno + 1 ("per") of a rate function,
 * checked (FN003).
 */
void
fnd_rate_limit_args(FunctionCallInfo fcinfo, int argno, int *limit,
					int64 *per_us)
{
	if (PG_ARGISNULL(argno) || PG_ARGISNULL(argno + 1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("limit and per must not be null")));
	*limit = PG_GETARG_INT32(argno);
	if (*limit < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("limit must be positive"),
				 errdetail("It is %d.", *limit)));
	*per_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(argno + 1), "per", false);
}

/* One hit of the arguments (bucket, limit, per), checked. */
static inline bool
rl_hit(FunctionCallInfo fcinfo, RateKey *key, int64 *retry_us)
{
	int			limit;
	int64		per_us;

	rl_key_from_arg(fcinfo, key);
	fnd_rate_limit_args(fcinfo, 1, &limit, &per_us);
	return fnd_rate_hit(key, limit, per_us, retry_us);
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
	e = rl_find(&key);
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
	RateEntry  *e;
	bool		found;

	rl_key_from_arg(fcinfo, &key);
	LWLockAcquire(rl_lock(), LW_EXCLUSIVE);
	e = rl_find(&key);
	found = (e != NULL);
	if (found)
		fnd_dbtable_remove(&rl_table, e);
	LWLockRelease(rl_lock());
	PG_RETURN_BOOL(found);
}

/* What a listing wants: 1.0 buckets, or agents' buckets (1.1). */
typedef struct RateListing
{
	TimestampTz now;
	bool		agents;
} RateListing;

static bool
rl_copy_row(const void *entry, void *row, void *arg)
{
	RateEntry  *e = (RateEntry *) entry;
	RateSnap   *r = (RateSnap *) row;
	const RateListing *want = (const RateListing *) arg;

	/* an agent's bucket is "operation NUL agent id" (1.1) */
	if ((strlen(e->key.name) < e->key.len) != want->agents)
		return false;
	memcpy(r->name, e->key.name, FND_NAME_BUFSZ);
	rl_snapshot(e, want->now, r);
	return true;
}

/* bucket, the fnd_rate_status columns, allowed, rejected */
static void
rl_row_values(const void *row, Datum *values, bool *nulls)
{
	const RateSnap *r = (const RateSnap *) row;

	values[0] = CStringGetTextDatum(r->name);
	rl_snap_values(r, values + 1, nulls + 1);
	values[5] = Int64GetDatum(r->allowed);
	values[6] = Int64GetDatum(r->rejected);
}

/* agent_id, operation, the fnd_rate_status columns, allowed, rejected */
static void
rl_agent_row_values(const void *row, Datum *values, bool *nulls)
{
	const RateSnap *r = (const RateSnap *) row;
	const char *operation = r->name;

	values[0] = CStringGetTextDatum(operation + strlen(operation) + 1);
	values[1] = CStringGetTextDatum(operation);
	rl_snap_values(r, values + 2, nulls + 2);
	values[6] = Int64GetDatum(r->allowed);
	values[7] = Int64GetDatum(r->rejected);
}

/* fnd_rate_list() -> every bucket of this database, for fnd_rate_limits */
Datum
fnd_rate_list(PG_FUNCTION_ARGS)
{
	RateListing want = {fnd_now(), false};

	fnd_dbtable_list(fcinfo, &rl_table, sizeof(RateSnap), rl_copy_row,
					 &want, rl_row_values);
	return (Datum) 0;
}

/* fnd_rate_agent_list() -> every agent bucket, for fnd_agent_rate_limits (1.1) */
Datum
fnd_rate_agent_list(PG_FUNCTION_ARGS)
{
	RateListing want = {fnd_now(), true};

	fnd_agent_require();
	fnd_dbtable_list(fcinfo, &rl_table, sizeof(RateSnap), rl_copy_row,
					 &want, rl_agent_row_values);
	return (Datum) 0;
}
