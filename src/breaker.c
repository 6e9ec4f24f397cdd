/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  Circuit breakers shared by every session of a database: their state
 *	  and the SQL functions that ask, report and manage it (fnd_cb_execute
 *	  is in cb_execute.c).
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
 * the breakers of dropped databases.  The table itself (key, size setting,
 * count, capacity error FN203, sweep) is an FndDbTable (dbtable.h).
 *
 * A trial permit that is never answered (the caller crashed or forgot to
 * report) would keep a half-open breaker shut forever, so permits are a
 * lease: when reset_after has passed since the last permit was granted
 * without a success or a failure, the outstanding permits are forgotten and
 * new trials may start.  So nothing is owned by a session, and the
 * breaker needs no session_exit callback.
 *
 * Locking protocol:
 *	- The breaker lock (the table's one LWLock) guards the hash table's
 *	  shape: shared to look an entry up, exclusive to insert or remove one.
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

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"
#include "breaker.h"

PG_FUNCTION_INFO_V1(fnd_cb_install);
PG_FUNCTION_INFO_V1(fnd_cb_ask);
PG_FUNCTION_INFO_V1(fnd_cb_melt);
PG_FUNCTION_INFO_V1(fnd_cb_success);
PG_FUNCTION_INFO_V1(fnd_cb_status);
PG_FUNCTION_INFO_V1(fnd_cb_reset);
PG_FUNCTION_INFO_V1(fnd_cb_remove);
PG_FUNCTION_INFO_V1(fnd_cb_list);

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

typedef struct BreakerEntry
{
	FndDbKey	key;			/* hash key: must be first */
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


static FndDbTable cb_table = {
	.name = "foundation breaker table",
	.title = "circuit breaker table",
	.noun = "breakers",
	.service = &fnd_breaker_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(BreakerEntry),
	.errcode = ERRCODE_FND_BREAKERS_FULL,
	.max_name = "foundation.max_circuit_breakers",
	.max_desc = "Maximum number of circuit breakers, across all databases.",
	.max_default = 1000,
	.full_hint = "Remove unused breakers with fnd_cb_remove(), or raise foundation.max_circuit_breakers and restart the server.",
};

/*
 * The agents' circuits (breaker_agent.c, 1.1): entries of their own table,
 * with their own lock, so that they never take a 1.0 breaker's place.
 */
static FndDbTable cb_agent_table = {
	.name = "foundation agent circuit table",
	.title = "agent circuit table",
	.noun = "agent circuits",
	.service = &fnd_breaker_service,
	.first_lwlock = 1,
	.partitions = 1,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(BreakerEntry),
	.errcode = ERRCODE_FND_BREAKERS_FULL,
	.max_name = "foundation.max_agent_circuits",
	.max_desc = "Maximum number of agent circuits (breaker, agent), across all databases.",
	.max_default = 10000,
	.full_hint = "Remove breakers or agents, or raise foundation.max_agent_circuits and restart the server.",
};

static void
cb_define_settings(bool preloading)
{
	fnd_dbtable_define(&cb_table, preloading);
	fnd_dbtable_define(&cb_agent_table, preloading);
}

static Size
cb_shmem_size(void)
{
	return add_size(fnd_dbtable_shmem_size(&cb_table),
					fnd_dbtable_shmem_size(&cb_agent_table));
}

static void
cb_shmem_startup(void)
{
	fnd_dbtable_startup(&cb_table);
	fnd_dbtable_startup(&cb_agent_table);
}

static int	cb_sweep_agent_circuits(void);

/*
 * Supervisor: remove the breakers of dropped databases, and the agent
 * circuits whose breaker or agent is gone.
 */
static bool
cb_periodic(void)
{
	fnd_dbtable_sweep_dropped(&cb_table);
	fnd_dbtable_sweep_dropped(&cb_agent_table);
	cb_sweep_agent_circuits();
	fnd_dbtable_report(&cb_table, NULL);
	return false;
}

const FndService fnd_breaker_service = {
	.name = "breaker",
	.phase = 1,
	.depends_on = "",
	.define_settings = cb_define_settings,
	.shmem_size = cb_shmem_size,
	.lwlocks = 2,
	.shmem_startup = cb_shmem_startup,
	.periodic = cb_periodic,
};

static inline LWLock *
cb_lock(void)
{
	return fnd_dbtable_lock(&cb_table);
}

/* Argument 0 of every breaker function: the name, as a hash key. */
void
fnd_breaker_key_from_arg(FunctionCallInfo fcinfo, FndDbKey *key)
{
	fnd_dbkey_from_arg(fcinfo, 0, "breaker name", key);
}

/* The breaker of key, or NULL.  Caller holds the breaker lock. */
static inline BreakerEntry *
cb_find(const FndDbKey *key)
{
	return fnd_dbtable_find(&cb_table, key, fnd_dbtable_hash(&cb_table, key));
}

static void cb_not_found(const FndDbKey *key) pg_attribute_noreturn();

static void
cb_not_found(const FndDbKey *key)
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
bool
fnd_breaker_ask(const FndDbKey *key, TimestampTz *retry_at, bool *trial)
{
	BreakerEntry *e;
	bool		ok;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = cb_find(key);
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
	FndDbKey	key;
	BreakerEntry *e;
	int			tolerance;
	int			half_open_calls;
	int64		window_us;
	int64		reset_us;

	fnd_breaker_key_from_arg(fcinfo, &key);
	cb_install_args(fcinfo, &tolerance, &window_us, &reset_us, &half_open_calls);

	LWLockAcquire(cb_lock(), LW_EXCLUSIVE);
	e = cb_find(&key);
	if (e == NULL)
	{
		/* everything but the key starts at zero: closed, no failures */
		e = fnd_dbtable_enter(&cb_table, &key, fnd_dbtable_hash(&cb_table, &key),
							  GetUserId());
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
	FndDbKey	key;
	TimestampTz retry_at;
	bool		ok;
	bool		trial;

	fnd_breaker_key_from_arg(fcinfo, &key);

	ok = fnd_breaker_ask(&key, &retry_at, &trial);
	if (!ok)
		fnd_telemetry_count("foundation.breaker.rejections", 1);
	PG_RETURN_TEXT_P(cstring_to_text(ok ? "ok" : "blown"));
}

/* Melt the named breaker; returns the new state, -1 if it does not exist. */
int
fnd_breaker_melt(const FndDbKey *key)
{
	BreakerEntry *e;
	bool		tripped = false;
	int			state = -1;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = cb_find(key);
	if (e != NULL)
		state = cb_melt_entry(e, fnd_now(), &tripped);
	LWLockRelease(cb_lock());

	if (tripped)
		fnd_telemetry_count("foundation.breaker.trips", 1);
	return state;
}

int
fnd_breaker_success(const FndDbKey *key, bool may_close)
{
	BreakerEntry *e;
	int			state = -1;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = cb_find(key);
	if (e != NULL)
		state = cb_success_entry(e, fnd_now(), may_close);
	LWLockRelease(cb_lock());
	return state;
}

/* fnd_cb_melt(name) -> new state */
Datum
fnd_cb_melt(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	int			state;

	fnd_breaker_key_from_arg(fcinfo, &key);
	state = fnd_breaker_melt(&key);
	if (state < 0)
		cb_not_found(&key);
	PG_RETURN_TEXT_P(cb_state_text(state));
}

/* fnd_cb_success(name) -> new state */
Datum
fnd_cb_success(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	int			state;

	fnd_breaker_key_from_arg(fcinfo, &key);
	state = fnd_breaker_success(&key, true);
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

/* fnd_cb_status(name) -> one row (a set: RETURNS TABLE, docs/breakers.md) */
Datum
fnd_cb_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndDbKey	key;
	BreakerEntry *e;
	BreakerSnap snap;
	Datum		values[7];
	bool		nulls[7] = {0};

	fnd_breaker_key_from_arg(fcinfo, &key);
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = cb_find(&key);
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
	FndDbKey	key;
	BreakerEntry *e;

	fnd_breaker_key_from_arg(fcinfo, &key);
	LWLockAcquire(cb_lock(), LW_SHARED);
	e = cb_find(&key);
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
	FndDbKey	key;
	BreakerEntry *e;
	bool		found;

	fnd_breaker_key_from_arg(fcinfo, &key);
	LWLockAcquire(cb_lock(), LW_EXCLUSIVE);
	e = cb_find(&key);
	found = (e != NULL);
	if (found)
		fnd_dbtable_remove(&cb_table, e);
	LWLockRelease(cb_lock());
	PG_RETURN_BOOL(found);
}

/* A row of fnd_cb_list, copied under the breaker lock. */
typedef struct BreakerRow
{
	char		name[FND_NAME_BUFSZ];
	BreakerSnap snap;
} BreakerRow;

static bool
cb_copy_row(const void *entry, void *row, void *arg)
{
	BreakerEntry *e = (BreakerEntry *) entry;
	BreakerRow *r = (BreakerRow *) row;

	memcpy(r->name, e->key.name, FND_NAME_BUFSZ);
	cb_snapshot(e, *(TimestampTz *) arg, &r->snap);
	return true;
}

/* name, the fnd_cb_status columns, then the settings */
static void
cb_row_values(const void *row, Datum *values, bool *nulls)
{
	const BreakerRow *r = (const BreakerRow *) row;
	const BreakerSnap *s = &r->snap;

	values[0] = CStringGetTextDatum(r->name);
	cb_snap_values(s, values + 1, nulls + 1);
	values[8] = Int32GetDatum(s->tolerance);
	values[9] = IntervalPGetDatum(fnd_usec_interval(s->window_us));
	values[10] = IntervalPGetDatum(fnd_usec_interval(s->reset_us));
	values[11] = Int32GetDatum(s->half_open_calls);
}

/*
 * fnd_cb_list() -> every breaker of this database, for the
 * fnd_circuit_breakers view.
 */
Datum
fnd_cb_list(PG_FUNCTION_ARGS)
{
	TimestampTz now = fnd_now();

	fnd_dbtable_list(fcinfo, &cb_table, sizeof(BreakerRow), cb_copy_row,
					 &now, cb_row_values);
	return (Datum) 0;
}


/* ---------------------------------------------------------------------
 * for the agents' circuits (breaker_agent.c, 1.1)
 * ---------------------------------------------------------------------
 */

static inline LWLock *
cb_agent_lock(void)
{
	return fnd_dbtable_lock(&cb_agent_table);
}

/* The settings of the named breaker; false if there is none. */
bool
fnd_breaker_settings(const FndDbKey *key, BreakerSnap *s)
{
	BreakerEntry *e;

	LWLockAcquire(cb_lock(), LW_SHARED);
	e = cb_find(key);
	if (e != NULL)
		cb_snapshot(e, fnd_now(), s);
	LWLockRelease(cb_lock());
	return e != NULL;
}

/*
 * The agent circuit key, entered closed if new, with settings *s (they
 * follow the agent's health and capabilities, so each call sets them).
 * Returns with cb_agent_lock held in some mode: the caller releases it.
 */
static BreakerEntry *
cb_agent_entry(const FndDbKey *key, const BreakerSnap *s)
{
	uint32		hash = fnd_dbtable_hash(&cb_agent_table, key);
	BreakerEntry *e;

	LWLockAcquire(cb_agent_lock(), LW_SHARED);
	e = fnd_dbtable_find(&cb_agent_table, key, hash);
	if (e == NULL)
	{
		LWLockRelease(cb_agent_lock());
		LWLockAcquire(cb_agent_lock(), LW_EXCLUSIVE);
		e = fnd_dbtable_find(&cb_agent_table, key, hash);
		if (e == NULL)
		{
			e = fnd_dbtable_enter(&cb_agent_table, key, hash, GetUserId());
			SpinLockInit(&e->mutex);
			e->state = CB_CLOSED;
		}
	}
	SpinLockAcquire(&e->mutex);
	e->tolerance = s->tolerance;
	e->window_us = s->window_us;
	e->reset_us = s->reset_us;
	e->half_open_calls = s->half_open_calls;
	SpinLockRelease(&e->mutex);
	return e;
}

/*
 * Ask the circuit key (an agent's), created closed on first use, after
 * giving it the settings in s (they travel with every call, as a rate
 * limit does).  FN203 when the table is full.
 */
bool
fnd_breaker_ask_with(const FndDbKey *key, const BreakerSnap *s,
					 TimestampTz *retry_at, bool *trial)
{
	bool		ok;

	ok = cb_ask_entry(cb_agent_entry(key, s), fnd_now(), retry_at, trial);
	LWLockRelease(cb_agent_lock());
	return ok;
}

/*
 * Count a call to the agent circuit key (settings *s) refused before it was
 * asked, because the agent is unhealthy or under resource pressure: the
 * circuit's rejections tell every refusal, whatever its reason.
 */
void
fnd_breaker_refuse_circuit(const FndDbKey *key, const BreakerSnap *s)
{
	BreakerEntry *e = cb_agent_entry(key, s);

	SpinLockAcquire(&e->mutex);
	e->rejections++;
	SpinLockRelease(&e->mutex);
	LWLockRelease(cb_agent_lock());
}

/* fnd_breaker_melt for the agent circuit key; -1 if there is none. */
int
fnd_breaker_melt_circuit(const FndDbKey *key)
{
	BreakerEntry *e;
	bool		tripped = false;
	int			state = -1;

	LWLockAcquire(cb_agent_lock(), LW_SHARED);
	e = fnd_dbtable_find(&cb_agent_table, key,
						 fnd_dbtable_hash(&cb_agent_table, key));
	if (e != NULL)
		state = cb_melt_entry(e, fnd_now(), &tripped);
	LWLockRelease(cb_agent_lock());
	if (tripped)
		fnd_telemetry_count("foundation.breaker.agent_trips", 1);
	return state;
}

/* fnd_breaker_success for the agent circuit key; -1 if there is none. */
int
fnd_breaker_success_circuit(const FndDbKey *key, bool may_close)
{
	BreakerEntry *e;
	int			state = -1;

	LWLockAcquire(cb_agent_lock(), LW_SHARED);
	e = fnd_dbtable_find(&cb_agent_table, key,
						 fnd_dbtable_hash(&cb_agent_table, key));
	if (e != NULL)
		state = cb_success_entry(e, fnd_now(), may_close);
	LWLockRelease(cb_agent_lock());
	return state;
}

/* A snapshot of the circuit key; false if there is none. */
bool
fnd_breaker_snapshot(const FndDbKey *key, BreakerSnap *s)
{
	BreakerEntry *e;

	LWLockAcquire(cb_agent_lock(), LW_SHARED);
	e = fnd_dbtable_find(&cb_agent_table, key,
						 fnd_dbtable_hash(&cb_agent_table, key));
	if (e != NULL)
		cb_snapshot(e, fnd_now(), s);
	LWLockRelease(cb_agent_lock());
	return e != NULL;
}

/* Close the circuit key, forgetting its failures; false if none. */
bool
fnd_breaker_close(const FndDbKey *key)
{
	BreakerEntry *e;

	LWLockAcquire(cb_agent_lock(), LW_SHARED);
	e = fnd_dbtable_find(&cb_agent_table, key,
						 fnd_dbtable_hash(&cb_agent_table, key));
	if (e != NULL)
	{
		SpinLockAcquire(&e->mutex);
		cb_close(e);
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(cb_agent_lock());
	return e != NULL;
}

const char *
fnd_breaker_state_name(int state)
{
	return cb_state_names[state];
}

/* Copy step of fnd_breaker_agent_circuits: agents' circuits only. */
static bool
cb_copy_circuit(const void *entry, void *row, void *arg)
{
	BreakerEntry *e = (BreakerEntry *) entry;
	FndCircuitRow *r = (FndCircuitRow *) row;

	memcpy(r->name, e->key.name, sizeof(r->name));
	r->len = e->key.len;
	cb_snapshot(e, *(TimestampTz *) arg, &r->snap);
	return true;
}

/* Every agent circuit of this database, copied; *n of them. */
FndCircuitRow *
fnd_breaker_agent_circuits(int *n)
{
	TimestampTz now = fnd_now();

	return fnd_dbtable_collect(&cb_agent_table, sizeof(FndCircuitRow),
							   cb_copy_circuit, &now, n);
}

/*
 * Scan step: is the agent circuit e an orphan (its breaker removed, its
 * agent gone)?  Then remove it.  Caller holds the agent circuit lock
 * exclusively and the breaker lock shared.
 */
static bool
cb_orphan_visit(void *entry, void *arg)
{
	BreakerEntry *e = (BreakerEntry *) entry;
	FndDbKey	parent;
	const char *agent = e->key.name + strlen(e->key.name) + 1;

	fnd_dbkey_set(&parent, e->key.dbid, e->key.name);
	if (cb_find(&parent) != NULL && fnd_agent_owner(e->key.dbid, agent, NULL))
		return false;
	fnd_dbtable_remove(&cb_agent_table, e);
	return true;
}

/*
 * Remove orphaned agent circuits; returns how many.  Lock order: the
 * breaker lock, the agent circuit lock, then the agents' (through
 * fnd_agent_owner); nothing takes them the other way round.
 */
static int
cb_sweep_agent_circuits(void)
{
	int			removed;

	if (fnd_dbtable_count(&cb_agent_table) == 0)
		return 0;
	LWLockAcquire(cb_lock(), LW_SHARED);
	removed = fnd_dbtable_scan(&cb_agent_table, LW_EXCLUSIVE,
							   cb_orphan_visit, NULL);
	LWLockRelease(cb_lock());
	return removed;
}
