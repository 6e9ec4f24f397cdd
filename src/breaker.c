/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  Circuit breakers shared by every session of a database.
 *
 * A breaker follows Erlang fuse's "standard" fuse: it tolerates `tolerance`
 * failures within a sliding `window`; one more opens (blows) it.  Unlike
 * fuse it half-opens by itself: `reset_after` after opening, up to
 * `half_open_calls` trial permits are handed out across all sessions; a
 * success closes the breaker, a failure opens it again for another
 * `reset_after`.  Because the state lives in shared memory, every session
 * and every application instance talking to the database sees one breaker.
 *
 * The open -> half-open transition is lazy: whoever touches the entry after
 * retry_at performs it.  The only periodic work is the supervisor removing
 * the breakers of dropped databases.
 *
 * A trial permit that is never answered (the caller crashed or forgot to
 * report) would keep a half-open breaker shut forever, so permits are a
 * lease: when reset_after has passed since the last permit was granted
 * without a success or a failure, the outstanding permits are forgotten and
 * new trials may start.  So nothing is owned by a session, and the
 * breaker needs no session_exit callback.
 *
 * Locking protocol:
 *	- The breaker lock (our one LWLock) guards the hash table's shape:
 *	  shared to look an entry up or to read BreakerShared.count,
 *	  exclusive to insert or remove an entry and change the count.
 *	- Each entry's spinlock (mutex) guards every field of the entry except
 *	  its key.  It is taken only while the breaker lock is held (in any
 *	  mode), so an entry cannot be removed under a spinlock holder.  Nothing
 *	  is called that could raise an error while a spinlock is held.
 *	- The hot paths (ask, melt, success) therefore take the LWLock shared
 *	  and one spinlock: sessions asking different breakers, or the same one,
 *	  never wait for each other longer than a few instructions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "dbname.h"

PG_FUNCTION_INFO_V1(fnd_cb_install);
PG_FUNCTION_INFO_V1(fnd_cb_ask);
PG_FUNCTION_INFO_V1(fnd_cb_melt);
PG_FUNCTION_INFO_V1(fnd_cb_success);
PG_FUNCTION_INFO_V1(fnd_cb_status);
PG_FUNCTION_INFO_V1(fnd_cb_reset);
PG_FUNCTION_INFO_V1(fnd_cb_remove);
PG_FUNCTION_INFO_V1(fnd_cb_list);
PG_FUNCTION_INFO_V1(fnd_cb_execute);

/*
 * Failures are remembered exactly (their times), like fuse does, in a ring
 * of tolerance + 1 slots; this caps tolerance so an entry stays small.
 */
#define CB_MAX_TOLERANCE	100
#define CB_RING				(CB_MAX_TOLERANCE + 1)

#define CB_CLOSED		0
#define CB_OPEN			1
#define CB_HALF_OPEN	2

static const char *const cb_state_names[] = {"closed", "open", "half_open"};

/* (database, name), hashed and matched by dbname.c */
typedef FndDbNameKey BreakerKey;

typedef struct BreakerEntry
{
	BreakerKey	key;			/* hash key: must be first */
	slock_t		mutex;			/* guards everything below */

	/* settings */
	int			tolerance;
	int			half_open_calls;
	int64		window_us;
	int64		reset_us;

	/* state */
	int			state;
	TimestampTz opened_at;		/* last time it opened; 0 if never */
	TimestampTz retry_at;		/* when open: it half-opens at this time */
	int			permits_out;	/* half-open trial permits not yet answered */
	TimestampTz permits_expire; /* ... forgotten at this time */
	int			ring_head;		/* index of the oldest remembered failure */
	int			ring_count;		/* failures remembered (oldest first) */
	TimestampTz ring[CB_RING];

	/* counters, cumulative since install */
	int64		calls;			/* calls let through */
	int64		failures;		/* melts */
	int64		rejections;		/* calls refused */
} BreakerEntry;

typedef struct BreakerShared
{
	int			count;			/* entries in the table, all databases */
} BreakerShared;

/* A consistent copy of an entry, taken under its spinlock. */
typedef struct BreakerSnap
{
	int			state;
	int			tolerance;
	int			half_open_calls;
	int64		window_us;
	int64		reset_us;
	int			failures_in_window;
	TimestampTz opened_at;
	TimestampTz retry_at;
	int64		calls;
	int64		failures;
	int64		rejections;
} BreakerSnap;

static int	cb_max_breakers = 1000;
static BreakerShared *cb_shared = NULL;
static HTAB *cb_table = NULL;

static void
cb_define_settings(bool preloading)
{
	if (!preloading)
		return;
	DefineCustomIntVariable("foundation.max_circuit_breakers",
							"Maximum number of circuit breakers, across all databases.",
							NULL,
							&cb_max_breakers,
							1000,
							1,
							1000000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

static Size
cb_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(BreakerShared)),
					hash_estimate_size(cb_max_breakers, sizeof(BreakerEntry)));
}

static void
cb_shmem_startup(void)
{
	bool		found;

	cb_shared = ShmemInitStruct("foundation breakers", sizeof(BreakerShared),
								&found);
	if (!found)
		cb_shared->count = 0;

	cb_table = fnd_dbname_table("foundation breaker table", cb_max_breakers,
								 sizeof(BreakerEntry));
}

static bool cb_periodic(void);

const FndService fnd_breaker_service = {
	.name = "breaker",
	.phase = 1,
	.depends_on = "",
	.define_settings = cb_define_settings,
	.shmem_size = cb_shmem_size,
	.lwlocks = 1,
	.shmem_startup = cb_shmem_startup,
	.periodic = cb_periodic,
};

static inline LWLock *
cb_lock(void)
{
	static LWLock *lock = NULL;

	if (lock == NULL)
		lock = &fnd_lwlocks(&fnd_breaker_service)[0].lock;
	return lock;
}

/*
 * Supervisor: remove the breakers of databases that no longer exist, which
 * nobody could reach to remove them, so they don't hold capacity until the
 * next restart.
 */
static int	cb_swept = 0;

/* Sweep callback: one entry fewer.  Caller holds the lock exclusively. */
static bool
cb_forget(void *entry)
{
	cb_shared->count--;
	return true;
}

static bool
cb_periodic(void)
{
	int			nentries;
	char		detail[64];

	/* the supervisor's total since it started */
	cb_swept += fnd_dbname_sweep_dropped(cb_table, cb_lock(), cb_forget);
	LWLockAcquire(cb_lock(), LW_SHARED);
	nentries = cb_shared->count;
	LWLockRelease(cb_lock());
	snprintf(detail, sizeof(detail), "%d breakers; %d removed with dropped databases",
			 nentries, cb_swept);
	fnd_service_set_detail(detail);
	return false;
}

/* Argument 0 of every breaker function: the name, as a hash key. */
static inline void
cb_key_from_arg(FunctionCallInfo fcinfo, BreakerKey *key)
{
	fnd_dbname_key_from_arg(fcinfo, 0, "breaker name", key);
}

static void cb_not_found(const BreakerKey *key) pg_attribute_noreturn();

static void
cb_not_found(const BreakerKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_BREAKER_NOT_FOUND),
			 errmsg("circuit breaker \"%s\" does not exist", key->name),
			 errhint("Create it with fnd_cb_install().")));
}

/*
 * The following helpers work on an entry whose spinlock the caller holds:
 * no errors, no allocation.
 */

/* Forget failures older than the window. */
static inline void
cb_prune(BreakerEntry *e, TimestampTz now)
{
	while (e->ring_count > 0 && e->ring[e->ring_head] <= now - e->window_us)
	{
		e->ring_head = (e->ring_head + 1) % CB_RING;
		e->ring_count--;
	}
}

/* Apply the time-driven transitions: open -> half-open, lost permits. */
static inline void
cb_advance(BreakerEntry *e, TimestampTz now)
{
	if (e->state == CB_OPEN && now >= e->retry_at)
	{
		e->state = CB_HALF_OPEN;
		e->permits_out = 0;
	}
	if (e->state == CB_HALF_OPEN && e->permits_out > 0 &&
		now >= e->permits_expire)
		e->permits_out = 0;
}

static inline void
cb_open(BreakerEntry *e, TimestampTz now)
{
	e->state = CB_OPEN;
	e->opened_at = now;
	e->retry_at = now + e->reset_us;
	e->permits_out = 0;
}

static inline void
cb_close(BreakerEntry *e)
{
	e->state = CB_CLOSED;
	e->permits_out = 0;
	e->ring_head = 0;
	e->ring_count = 0;
}

/*
 * Ask for a call.  Returns true if allowed; *trial says whether that took a
 * half-open trial permit.  *retry_at gets the time an open breaker
 * half-opens, or 0 when a half-open breaker refuses because its trials are
 * all in flight.
 */
static bool
cb_ask_entry(BreakerEntry *e, TimestampTz now, TimestampTz *retry_at,
			 bool *trial)
{
	bool		ok;

	*trial = false;

	SpinLockAcquire(&e->mutex);
	cb_advance(e, now);
	switch (e->state)
	{
		case CB_CLOSED:
			ok = true;
			break;
		case CB_HALF_OPEN:
			ok = e->permits_out < e->half_open_calls;
			if (ok)
			{
				e->permits_out++;
				e->permits_expire = now + e->reset_us;
				*trial = true;
			}
			break;
		default:
			ok = false;
			break;
	}
	if (ok)
		e->calls++;
	else
		e->rejections++;
	*retry_at = (e->state == CB_OPEN) ? e->retry_at : 0;
	SpinLockRelease(&e->mutex);
	return ok;
}

/* cb_ask_entry on the named breaker (FN202 if there is none). */
static bool
cb_ask_key(const BreakerKey *key, TimestampTz *retry_at, bool *trial)
{
	BreakerEntry *e;
	bool		ok;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = hash_search(cb_table, key, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(cb_lock());
		cb_not_found(key);
	}
	ok = cb_ask_entry(e, fnd_now(), retry_at, trial);
	LWLockRelease(cb_lock());
	return ok;
}

/* Record a failure; returns the new state and whether this one tripped it. */
static int
cb_melt_entry(BreakerEntry *e, TimestampTz now, bool *tripped)
{
	int			state;

	*tripped = false;
	SpinLockAcquire(&e->mutex);
	cb_advance(e, now);
	e->failures++;
	switch (e->state)
	{
		case CB_CLOSED:
			cb_prune(e, now);
			if (e->ring_count == CB_RING)
			{
				/* full ring: the oldest failure no longer matters */
				e->ring_head = (e->ring_head + 1) % CB_RING;
				e->ring_count--;
			}
			e->ring[(e->ring_head + e->ring_count) % CB_RING] = now;
			e->ring_count++;
			if (e->ring_count > e->tolerance)
			{
				cb_open(e, now);
				*tripped = true;
			}
			break;
		case CB_HALF_OPEN:
			/* a failed trial: open again, for another reset_after */
			cb_open(e, now);
			*tripped = true;
			break;
		default:
			/* already open: the failure is counted, the timer stands */
			break;
	}
	state = e->state;
	SpinLockRelease(&e->mutex);
	return state;
}

/*
 * Record a success; returns the new state.  Only a half-open breaker
 * reacts.  may_close is false when the caller knows its call was not a
 * trial (fnd_cb_execute): a call that started before the breaker opened and
 * finished after it half-opened proves nothing about now.
 */
static int
cb_success_entry(BreakerEntry *e, TimestampTz now, bool may_close)
{
	int			state;

	SpinLockAcquire(&e->mutex);
	cb_advance(e, now);
	if (e->state == CB_HALF_OPEN && may_close)
		cb_close(e);
	state = e->state;
	SpinLockRelease(&e->mutex);
	return state;
}

static void
cb_snapshot(BreakerEntry *e, TimestampTz now, BreakerSnap *s)
{
	SpinLockAcquire(&e->mutex);
	cb_advance(e, now);
	cb_prune(e, now);
	s->state = e->state;
	s->tolerance = e->tolerance;
	s->half_open_calls = e->half_open_calls;
	s->window_us = e->window_us;
	s->reset_us = e->reset_us;
	s->failures_in_window = e->ring_count;
	s->opened_at = e->opened_at;
	s->retry_at = e->retry_at;
	s->calls = e->calls;
	s->failures = e->failures;
	s->rejections = e->rejections;
	SpinLockRelease(&e->mutex);
}

static text *
cb_state_text(int state)
{
	return cstring_to_text(cb_state_names[state]);
}

/* Validated settings of fnd_cb_install. */
static void
cb_install_args(FunctionCallInfo fcinfo, int *tolerance, int64 *window_us,
				int64 *reset_us, int *half_open_calls)
{
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3) || PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("breaker settings must not be null")));
	*tolerance = PG_GETARG_INT32(1);
	if (*tolerance < 0 || *tolerance > CB_MAX_TOLERANCE)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("tolerance must be between 0 and %d", CB_MAX_TOLERANCE),
				 errdetail("It is %d.", *tolerance)));
	*window_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(2), "window", false);
	*reset_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(3), "reset_after", false);
	*half_open_calls = PG_GETARG_INT32(4);
	if (*half_open_calls < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("half_open_calls must be positive"),
				 errdetail("It is %d.", *half_open_calls)));
}

/*
 * fnd_cb_install(name, tolerance, window, reset_after, half_open_calls)
 * Create a closed breaker, or change an existing one's settings keeping its
 * state and counters.
 */
Datum
fnd_cb_install(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	BreakerEntry *e;
	int			tolerance;
	int			half_open_calls;
	int64		window_us;
	int64		reset_us;
	bool		found;

	cb_key_from_arg(fcinfo, &key);
	cb_install_args(fcinfo, &tolerance, &window_us, &reset_us, &half_open_calls);

	LWLockAcquire(cb_lock(), LW_EXCLUSIVE);
	e = hash_search(cb_table, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		if (cb_shared->count >= cb_max_breakers)
		{
			LWLockRelease(cb_lock());
			ereport(ERROR,
					(errcode(ERRCODE_FND_BREAKERS_FULL),
					 errmsg("too many circuit breakers"),
					 errdetail("All %d breakers allowed by foundation.max_circuit_breakers are in use.",
							   cb_max_breakers),
					 errhint("Remove unused breakers with fnd_cb_remove(), or raise foundation.max_circuit_breakers and restart the server.")));
		}
		e = hash_search(cb_table, &key, HASH_ENTER_NULL, &found);
		if (e == NULL)
		{
			LWLockRelease(cb_lock());
			ereport(ERROR,
					(errcode(ERRCODE_FND_BREAKERS_FULL),
					 errmsg("too many circuit breakers"),
					 errdetail("Shared memory for breakers is exhausted.")));
		}
		cb_shared->count++;
		/* everything but the key starts at zero: closed, no failures */
		memset((char *) e + sizeof(BreakerKey), 0,
			   sizeof(BreakerEntry) - sizeof(BreakerKey));
		SpinLockInit(&e->mutex);
		e->state = CB_CLOSED;
	}

	SpinLockAcquire(&e->mutex);
	e->tolerance = tolerance;
	e->window_us = window_us;
	e->reset_us = reset_us;
	e->half_open_calls = half_open_calls;
	SpinLockRelease(&e->mutex);
	LWLockRelease(cb_lock());

	PG_RETURN_VOID();
}

/* fnd_cb_ask(name) -> 'ok' or 'blown' */
Datum
fnd_cb_ask(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	TimestampTz retry_at;
	bool		ok;
	bool		trial;

	cb_key_from_arg(fcinfo, &key);

	ok = cb_ask_key(&key, &retry_at, &trial);
	if (!ok)
		fnd_telemetry_count("foundation.breaker.rejections", 1);
	PG_RETURN_TEXT_P(cstring_to_text(ok ? "ok" : "blown"));
}

/* Melt the named breaker; returns the new state, -1 if it does not exist. */
static int
cb_melt_key(const BreakerKey *key)
{
	BreakerEntry *e;
	bool		tripped = false;
	int			state = -1;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = hash_search(cb_table, key, HASH_FIND, NULL);
	if (e != NULL)
		state = cb_melt_entry(e, fnd_now(), &tripped);
	LWLockRelease(cb_lock());

	if (tripped)
		fnd_telemetry_count("foundation.breaker.trips", 1);
	return state;
}

static int
cb_success_key(const BreakerKey *key, bool may_close)
{
	BreakerEntry *e;
	int			state = -1;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = hash_search(cb_table, key, HASH_FIND, NULL);
	if (e != NULL)
		state = cb_success_entry(e, fnd_now(), may_close);
	LWLockRelease(cb_lock());
	return state;
}

/* fnd_cb_melt(name) -> new state */
Datum
fnd_cb_melt(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	int			state;

	cb_key_from_arg(fcinfo, &key);
	state = cb_melt_key(&key);
	if (state < 0)
		cb_not_found(&key);
	PG_RETURN_TEXT_P(cb_state_text(state));
}

/* fnd_cb_success(name) -> new state */
Datum
fnd_cb_success(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	int			state;

	cb_key_from_arg(fcinfo, &key);
	state = cb_success_key(&key, true);
	if (state < 0)
		cb_not_found(&key);
	PG_RETURN_TEXT_P(cb_state_text(state));
}

static void
cb_snap_values(const BreakerSnap *s, Datum *values, bool *nulls)
{
	/* state, failures_in_window, opened_at, retry_at, calls, failures, rejections */
	values[0] = PointerGetDatum(cb_state_text(s->state));
	values[1] = Int32GetDatum(s->failures_in_window);
	/* opened_at and retry_at describe the current outage only */
	values[2] = TimestampTzGetDatum(s->opened_at);
	nulls[2] = (s->state == CB_CLOSED);
	values[3] = TimestampTzGetDatum(s->retry_at);
	nulls[3] = (s->state == CB_CLOSED);
	values[4] = Int64GetDatum(s->calls);
	values[5] = Int64GetDatum(s->failures);
	values[6] = Int64GetDatum(s->rejections);
}

/* fnd_cb_status(name) -> one row (a set, as SPEC's RETURNS TABLE says) */
Datum
fnd_cb_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	BreakerKey	key;
	BreakerEntry *e;
	BreakerSnap snap;
	Datum		values[7];
	bool		nulls[7] = {0};

	cb_key_from_arg(fcinfo, &key);
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = hash_search(cb_table, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(cb_lock());
		cb_not_found(&key);
	}
	cb_snapshot(e, fnd_now(), &snap);
	LWLockRelease(cb_lock());

	cb_snap_values(&snap, values, nulls);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* fnd_cb_reset(name): closed, failures forgotten; counters kept */
Datum
fnd_cb_reset(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	BreakerEntry *e;

	cb_key_from_arg(fcinfo, &key);
	LWLockAcquire(cb_lock(), LW_SHARED);
	e = hash_search(cb_table, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(cb_lock());
		cb_not_found(&key);
	}
	SpinLockAcquire(&e->mutex);
	cb_close(e);
	SpinLockRelease(&e->mutex);
	LWLockRelease(cb_lock());
	PG_RETURN_VOID();
}

/* fnd_cb_remove(name) -> false if there was no such breaker */
Datum
fnd_cb_remove(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	bool		found;

	cb_key_from_arg(fcinfo, &key);
	LWLockAcquire(cb_lock(), LW_EXCLUSIVE);
	hash_search(cb_table, &key, HASH_REMOVE, &found);
	if (found)
		cb_shared->count--;
	LWLockRelease(cb_lock());
	PG_RETURN_BOOL(found);
}

/*
 * fnd_cb_list() -> every breaker of this database, for the
 * fnd_circuit_breakers view.  Copies under the lock, then builds tuples.
 */
Datum
fnd_cb_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	BreakerEntry *e;
	typedef struct
	{
		char		name[FND_NAME_BUFSZ];
		BreakerSnap snap;
	} Row;
	Row		   *rows;
	int			n = 0;
	int			cap;
	int			i;
	TimestampTz now;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	now = fnd_now();

	/* copy under the lock (palloc is fine under an LWLock), build after */
	LWLockAcquire(cb_lock(), LW_SHARED);
	cap = Max(cb_shared->count, 1);
	rows = palloc(sizeof(Row) * cap);
	hash_seq_init(&seq, cb_table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId || n >= cap)
			continue;
		memcpy(rows[n].name, e->key.name, FND_NAME_BUFSZ);
		cb_snapshot(e, now, &rows[n].snap);
		n++;
	}
	LWLockRelease(cb_lock());

	for (i = 0; i < n; i++)
	{
		Datum		values[12];
		bool		nulls[12] = {0};
		BreakerSnap *s = &rows[i].snap;

		/* name, the fnd_cb_status columns, then the settings */
		values[0] = CStringGetTextDatum(rows[i].name);
		cb_snap_values(s, values + 1, nulls + 1);
		values[8] = Int32GetDatum(s->tolerance);
		values[9] = IntervalPGetDatum(fnd_usec_interval(s->window_us));
		values[10] = IntervalPGetDatum(fnd_usec_interval(s->reset_us));
		values[11] = Int32GetDatum(s->half_open_calls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * fnd_cb_execute keeps the plans of the last few queries it ran in this
 * backend: parsing and planning were most of the cost of protecting a short
 * query.  Saved plans are revalidated by the plan cache after DDL and
 * search_path changes, and privileges are checked at each execution, so a
 * cached plan behaves like a fresh one.
 *
 * Only single statements are cached (a string without ';'): SPI_prepare
 * analyses every statement of a string before running any, whereas
 * SPI_execute analyses each just before running it, so a string like
 * "CREATE TABLE t ...; INSERT INTO t ..." only works unprepared.  Only the
 * outermost fnd_cb_execute uses the cache, so a nested call can never evict
 * a plan that is running.
 */
#define CB_PLAN_SLOTS	16

typedef struct CbPlanSlot
{
	char	   *query;			/* in TopMemoryContext; NULL if free */
	SPIPlanPtr	plan;			/* kept with SPI_keepplan */
	uint64		last_used;
} CbPlanSlot;

static CbPlanSlot cb_plans[CB_PLAN_SLOTS];
static uint64 cb_plan_clock = 0;
static int	cb_execute_depth = 0;

/* Run query through SPI (connected), from a cached plan when possible. */
static int
cb_run_query(const char *query, bool use_cache)
{
	SPIPlanPtr	plan;
	int			victim = 0;
	int			i;

	if (!use_cache || strchr(query, ';') != NULL)
		return SPI_execute(query, false, 0);

	for (i = 0; i < CB_PLAN_SLOTS; i++)
	{
		if (cb_plans[i].query != NULL && strcmp(cb_plans[i].query, query) == 0)
		{
			cb_plans[i].last_used = ++cb_plan_clock;
			return SPI_execute_plan(cb_plans[i].plan, NULL, NULL, false, 0);
		}
		if (cb_plans[i].query == NULL)
			victim = i;
		else if (cb_plans[victim].query != NULL &&
				 cb_plans[i].last_used < cb_plans[victim].last_used)
			victim = i;
	}

	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) == 0)
	{
		char	   *copy = MemoryContextStrdup(TopMemoryContext, query);

		if (cb_plans[victim].query != NULL)
		{
			SPI_freeplan(cb_plans[victim].plan);
			pfree(cb_plans[victim].query);
		}
		cb_plans[victim].query = copy;
		cb_plans[victim].plan = plan;
		cb_plans[victim].last_used = ++cb_plan_clock;
	}
	return SPI_execute_plan(plan, NULL, NULL, false, 0);
}

/* Error context line added to any error raised by a protected query. */
static void
cb_execute_context(void *arg)
{
	errcontext("circuit breaker \"%s\"", (const char *) arg);
}

/*
 * Rows of the last SPI result as a jsonb array of objects, built in the
 * current memory context.  to_jsonb() learns its argument's type from the
 * call expression, so it gets a minimal one saying "record".
 */
static Jsonb *
cb_rows_to_jsonb(SPITupleTable *tuptable, uint64 nrows)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	uint64		i;

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	if (tuptable != NULL && nrows > 0)
	{
		FmgrInfo	flinfo;
		TupleDesc	tupdesc = CreateTupleDescCopy(tuptable->tupdesc);
		FuncExpr   *expr;

		BlessTupleDesc(tupdesc);
		fmgr_info(F_TO_JSONB, &flinfo);
		expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
							list_make1(makeNullConst(RECORDOID, -1, InvalidOid)),
							InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		fmgr_info_set_expr((Node *) expr, &flinfo);

		for (i = 0; i < nrows; i++)
		{
			HeapTupleHeader td;
			Jsonb	   *row;
			JsonbValue	v;

			/* as many rows as the query returned: statement_timeout applies */
			CHECK_FOR_INTERRUPTS();
			td = DatumGetHeapTupleHeader(heap_copy_tuple_as_datum(tuptable->vals[i],
																  tupdesc));
			row = DatumGetJsonbP(FunctionCall1(&flinfo, PointerGetDatum(td)));
			v.type = jbvBinary;
			v.val.binary.data = &row->root;
			v.val.binary.len = VARSIZE(row) - VARHDRSZ;
			pushJsonbValue(&state, WJB_ELEM, &v);
		}
	}
	res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * fnd_cb_execute(name, query) -> jsonb array of the query's rows
 *
 * Ask the breaker; when refused, FN201 saying when it retries.  Otherwise
 * run the query with SPI, as the calling role, inside a subtransaction:
 * success records a success and returns the rows; an error rolls the
 * subtransaction back (nothing the query did stays), melts the breaker and
 * is re-raised as it was, SQLSTATE and all, with a context line naming the
 * breaker.
 */
Datum
fnd_cb_execute(PG_FUNCTION_ARGS)
{
	BreakerKey	key;
	TimestampTz retry_at;
	bool		ok;
	bool		trial;
	char	   *query;
	MemoryContext callcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorContextCallback errcb;
	int			depth;
	Jsonb	   *volatile result = NULL;

	cb_key_from_arg(fcinfo, &key);
	query = text_to_cstring(fnd_arg_text(fcinfo, 1, "query"));

	ok = cb_ask_key(&key, &retry_at, &trial);
	if (!ok)
	{
		fnd_telemetry_count("foundation.breaker.rejections", 1);
		if (retry_at != 0)
			ereport(ERROR,
					(errcode(ERRCODE_FND_CIRCUIT_OPEN),
					 errmsg("circuit breaker \"%s\" is open", key.name),
					 errdetail("It retries at %s.",
							   DatumGetCString(DirectFunctionCall1(timestamptz_out,
																   TimestampTzGetDatum(retry_at))))));
		else
			ereport(ERROR,
					(errcode(ERRCODE_FND_CIRCUIT_OPEN),
					 errmsg("circuit breaker \"%s\" is open", key.name),
					 errdetail("It is half-open and all of its trial calls are in flight.")));
	}

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(callcxt);

	depth = cb_execute_depth;
	errcb.callback = cb_execute_context;
	errcb.arg = key.name;
	errcb.previous = error_context_stack;

	/* PG_TRY restores error_context_stack when it catches */
	PG_TRY();
	{
		int			rc;

		error_context_stack = &errcb;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = cb_run_query(query, cb_execute_depth++ == 0);
		cb_execute_depth--;
		if (rc == SPI_ERROR_TRANSACTION || rc == SPI_ERROR_COPY)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("fnd_cb_execute cannot run %s",
							rc == SPI_ERROR_COPY ? "COPY to or from the client" :
							"transaction control statements"),
					 errdetail("The protected query runs in a subtransaction of the caller's transaction.")));
		if (rc < 0)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));

		/* the result must outlive SPI and the subtransaction */
		MemoryContextSwitchTo(callcxt);
		result = cb_rows_to_jsonb(SPI_tuptable, SPI_processed);

		SPI_finish();
		error_context_stack = errcb.previous;

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(callcxt);
		edata = CopyErrorData();
		FlushErrorState();
		cb_execute_depth = depth;

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;

		cb_melt_key(&key);
		ReThrowError(edata);
	}
	PG_END_TRY();

	cb_success_key(&key, trial);
	PG_RETURN_JSONB_P(result);
}
