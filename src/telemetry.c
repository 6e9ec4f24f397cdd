/*-------------------------------------------------------------------------
 *
 * telemetry.c
 *	  The metric table: shared-memory counters, gauges and histograms, the
 *	  SQL functions that record and read them, and the C API the other
 *	  subsystems use to count their own work.
 *
 * Metrics live in one shared hash table of foundation.max_metrics entries,
 * keyed by (database, name, tags); tags are stored as the canonical text of
 * a flat jsonb object ("" when there are none).  A series is created by its
 * first measurement and keeps that kind (counter, gauge or histogram) until
 * it is reset.  A histogram also owns one fixed-size quantile sketch
 * (sketch.c) from a pool of foundation.max_histograms, so counters and
 * gauges stay small (about 600 bytes) while sketches can be large (6 kB).
 * The dump file is telemetry_file.c, the Prometheus output prometheus.c.
 *
 * Locking protocol (as in pg_stat_statements):
 *	- FndTelemetryShared.lock, shared: look an entry up and update it.
 *	  Exclusive: insert a new entry, remove entries (reset, dropped
 *	  databases).  So the hot path never takes a lock exclusively once its
 *	  series exists.
 *	- FndMetric.mutex (spinlock): guards the entry's counters, timestamp
 *	  and the sketch it owns.  Taken with the LWLock held in either mode.
 *	  key and kind never change while the entry exists, so they are read
 *	  without it.
 *	- FndTelemetryShared.generation changes (under the exclusive lock) each
 *	  time entries are removed.  A backend caches the entries it used last;
 *	  a cached pointer is trusted only while the generation it saw, read
 *	  under the shared lock, is unchanged (entries never move otherwise).
 *	- The free list of sketches (sketch_free, FndSketchSlot.next_free) is
 *	  changed only under the exclusive lock.
 *	- Every change of the table's structure is bracketed by the changing
 *	  counter, so that the postmaster, saving the table after an immediate
 *	  shutdown killed the backends, can tell that one was cut short.
 *	- dropped and last_warning are atomics, touched without any lock.
 *
 * Never fails its caller: a full table, a malformed tag object, an empty or
 * over-long name, NaN or infinity, a negative counter increment, an
 * increment that would overflow a counter to infinity, or a kind
 * that does not match the existing series drops the measurement and counts
 * it in foundation.telemetry.dropped.  SQL callers get a WARNING at most
 * once a minute (server-wide); the C API never reports anything, never
 * raises, and is a no-op without shared memory.  The one error is FN501 for
 * an unknown measurement kind in fnd_telemetry_emit (plus FN001 when the
 * SQL functions are called without shared_preload_libraries).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "dbtable.h"
#include "telemetry.h"

/* How often a SQL caller may see the "dropped" WARNING, server-wide. */
#define FND_DROP_WARN_USEC	(60 * USECS_PER_SEC)

/* Backend-local cache of recently used series. */
#define FND_CACHE_SLOTS		8

const char *const fnd_kind_names[] = {"", "counter", "gauge", "histogram"};
const double fnd_quantiles[FND_QUANTILES] = {0.5, 0.9, 0.95, 0.99};

/* A series the backend used recently (see the locking protocol). */
typedef struct FndCacheSlot
{
	bool		valid;
	uint32		hash;
	uint64		generation;
	FndMetric  *entry;			/* NULL: look it up */
	int			raw_len;		/* bytes of the jsonb tags as passed, 0 = {} */
	char		raw[FND_TAGS_BUFSZ];
	FndMetricKey key;
} FndCacheSlot;

/* settings */
int			fnd_max_metrics = 5000;
int			fnd_max_histograms = 1000;
bool		fnd_telemetry_save = true;

/* shared state, NULL without shared_preload_libraries */
FndTelemetryShared *fnd_tel = NULL;
HTAB	   *fnd_metrics_htab = NULL;
FndSketchSlot *fnd_sketches = NULL;

/* backend-local */
static FndCacheSlot fnd_cache[FND_CACHE_SLOTS];
static int	fnd_cache_next = 0;

/* ---------------------------------------------------------------------
 * Hashing: only the used bytes of the key count.
 * ---------------------------------------------------------------------
 */
static uint32
fnd_metric_hash(const void *key, Size keysize)
{
	const FndMetricKey *k = (const FndMetricKey *) key;
	uint32		h;

	h = hash_bytes_uint32((uint32) k->dbid);
	h = hash_combine(h, hash_bytes((const unsigned char *) k->name, k->name_len));
	if (k->tags_len > 0)
		h = hash_combine(h, hash_bytes((const unsigned char *) k->tags, k->tags_len));
	return h;
}

static int
fnd_metric_match(const void *key1, const void *key2, Size keysize)
{
	const FndMetricKey *a = (const FndMetricKey *) key1;
	const FndMetricKey *b = (const FndMetricKey *) key2;

	if (a->dbid != b->dbid || a->name_len != b->name_len ||
		a->tags_len != b->tags_len)
		return 1;
	if (memcmp(a->name, b->name, a->name_len) != 0)
		return 1;
	return memcmp(a->tags, b->tags, a->tags_len) != 0;
}

/* ---------------------------------------------------------------------
 * The sketch pool and entry removal (table lock held exclusively)
 * ---------------------------------------------------------------------
 */

/* A free sketch slot, or -1 when every one is in use. */
int
fnd_sketch_slot_take(void)
{
	int			slot = fnd_tel->sketch_free;

	if (slot < 0)
		return -1;
	fnd_tel->sketch_free = fnd_sketches[slot].next_free;
	fnd_tel->sketches_used++;
	return slot;
}

void
fnd_sketch_slot_give(int slot)
{
	fnd_sketches[slot].next_free = fnd_tel->sketch_free;
	fnd_tel->sketch_free = slot;
	fnd_tel->sketches_used--;
}

/*
 * Release what an entry about to be removed holds, and make every cached
 * pointer stale.  The caller has counted the change in fnd_tel->changing.
 */
static void
fnd_metric_forget(FndMetric *e)
{
	if (e->kind == FND_HISTOGRAM && e->sketch >= 0)
		fnd_sketch_slot_give(e->sketch);
	fnd_tel->generation++;
}

/* ---------------------------------------------------------------------
 * Service callbacks
 * ---------------------------------------------------------------------
 */
static void
fnd_telemetry_define_settings(bool preloading)
{
	if (preloading)
		DefineCustomIntVariable("foundation.max_metrics",
								"Maximum number of metric series (database, name, tags) kept in shared memory.",
								"Each series takes about 600 bytes. Measurements of new series beyond it are dropped and counted in foundation.telemetry.dropped.",
								&fnd_max_metrics,
								5000,
								10,
								1000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	if (preloading)
		DefineCustomIntVariable("foundation.max_histograms",
								"Maximum number of histogram series (each has a quantile sketch of about 6 kB).",
								"Counts towards foundation.max_metrics too. Observations of new histogram series beyond it are dropped and counted.",
								&fnd_max_histograms,
								1000,
								10,
								100000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

	DefineCustomBoolVariable("foundation.telemetry_save",
							 "Save metrics across server restarts.",
							 "Written to " FND_TELEMETRY_FILE " when the server stops (also by an immediate stop); a crash of a server process loses them.",
							 &fnd_telemetry_save,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);
}

static Size
fnd_telemetry_struct_size(void)
{
	return add_size(MAXALIGN(sizeof(FndTelemetryShared)),
					mul_size(fnd_max_histograms, sizeof(FndSketchSlot)));
}

static Size
fnd_telemetry_shmem_size(void)
{
	return add_size(fnd_telemetry_struct_size(),
					hash_estimate_size(fnd_max_metrics, sizeof(FndMetric)));
}

/* First creation of the shared struct: empty table, every sketch free. */
static void
fnd_telemetry_shared_init(void)
{
	int			i;

	fnd_tel->lock = &(fnd_lwlocks(&fnd_telemetry_service)[0].lock);
	fnd_tel->generation = 0;
	pg_atomic_init_u32(&fnd_tel->changing, 0);
	pg_atomic_init_u64(&fnd_tel->dropped, 0);
	pg_atomic_init_u64(&fnd_tel->last_warning, 0);
	for (i = 0; i < fnd_max_histograms; i++)
		fnd_sketches[i].next_free = (i + 1 < fnd_max_histograms) ? i + 1 : -1;
	fnd_tel->sketch_free = 0;
	fnd_tel->sketches_used = 0;
}

/* AddinShmemInitLock is held by the caller. */
static void
fnd_telemetry_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	fnd_tel = ShmemInitStruct("foundation telemetry",
							  fnd_telemetry_struct_size(), &found);
	fnd_sketches = (FndSketchSlot *) ((char *) fnd_tel +
									  MAXALIGN(sizeof(FndTelemetryShared)));
	if (!found)
		fnd_telemetry_shared_init();

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndMetricKey);
	info.entrysize = sizeof(FndMetric);
	info.hash = fnd_metric_hash;
	info.match = fnd_metric_match;
	fnd_metrics_htab = ShmemInitHash("foundation telemetry metrics",
									 fnd_max_metrics, fnd_max_metrics,
									 &info,
									 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE);

	/* the postmaster saves the metrics when it shuts down */
	if (!IsUnderPostmaster)
		on_shmem_exit(fnd_telemetry_file_save, (Datum) 0);

	if (!found)
		fnd_telemetry_file_load();
}

/* fnd_dbname_sweep_dropped's callback: the entry will be removed. */
static bool
fnd_telemetry_sweep_forget(void *entry)
{
	pg_atomic_fetch_add_u32(&fnd_tel->changing, 1);
	fnd_metric_forget((FndMetric *) entry);
	return true;
}

/*
 * Supervisor: remove the series of dropped databases (also those the dump
 * file brought back at start, when the catalog could not be read yet), and
 * show how full the table is in fnd_services().detail, so an operator sees
 * foundation.max_metrics coming before measurements drop.
 */
static bool
fnd_telemetry_periodic(void)
{
	char		detail[FND_STATUS_TEXT];
	long		series;
	int			histograms;
	int			removed;

	removed = fnd_dbname_sweep_dropped(fnd_metrics_htab, fnd_tel->lock,
									   fnd_telemetry_sweep_forget);
	if (removed > 0)
		pg_atomic_fetch_sub_u32(&fnd_tel->changing, removed);

	LWLockAcquire(fnd_tel->lock, LW_SHARED);
	series = hash_get_num_entries(fnd_metrics_htab);
	histograms = fnd_tel->sketches_used;
	LWLockRelease(fnd_tel->lock);

	snprintf(detail, sizeof(detail),
			 "%ld of %d series, %d of %d histograms, " UINT64_FORMAT " dropped",
			 series, fnd_max_metrics, histograms, fnd_max_histograms,
			 pg_atomic_read_u64(&fnd_tel->dropped));
	fnd_service_set_detail(detail);
	return false;
}

const FndService fnd_telemetry_service = {
	.name = "telemetry",
	.phase = 0,
	.depends_on = "",
	.define_settings = fnd_telemetry_define_settings,
	.shmem_size = fnd_telemetry_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_telemetry_shmem_startup,
	.periodic = fnd_telemetry_periodic,
};

/* ---------------------------------------------------------------------
 * Recording
 * ---------------------------------------------------------------------
 */

/*
 * Count a dropped measurement.  SQL callers (warn = true) get a WARNING if
 * none was issued server-wide in the last minute.
 */
static void
fnd_telemetry_drop(bool warn, const char *why)
{
	uint64		last;
	TimestampTz now;

	if (fnd_tel == NULL)
		return;
	pg_atomic_fetch_add_u64(&fnd_tel->dropped, 1);
	if (!warn)
		return;

	now = GetCurrentTimestamp();
	last = pg_atomic_read_u64(&fnd_tel->last_warning);
	if (last != 0 && now - (TimestampTz) last < FND_DROP_WARN_USEC)
		return;
	if (!pg_atomic_compare_exchange_u64(&fnd_tel->last_warning, &last,
										(uint64) now))
		return;
	ereport(WARNING,
			(errmsg("telemetry dropped a measurement: %s", why),
			 errdetail("Dropped measurements are counted in the metric \"%s\"; this warning is shown at most once a minute.",
					   FND_DROPPED_NAME),
			 errhint("Check the metric name, value and tags; when the table is full, raise foundation.max_metrics or reset unused series.")));
}

/*
 * Is this jsonb tag argument empty ({} or SQL NULL)?  Checked on the
 * header alone, so the common case never parses anything.
 */
static inline bool
fnd_tags_empty(Jsonb *tags)
{
	return tags == NULL ||
		(JB_ROOT_IS_OBJECT(tags) && JB_ROOT_COUNT(tags) == 0);
}

/*
 * Canonical text of a tag object into dst (FND_TAGS_BUFSZ bytes).  Returns
 * its length, or -1 when tags is not a flat object of scalars or too long.
 * jsonb keeps keys sorted and unique, so equal objects give equal text.
 */
static int
fnd_tags_canonical(Jsonb *tags, char *dst, const char **why)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *text;
	int			len;

	if (!JB_ROOT_IS_OBJECT(tags) || JB_ROOT_IS_SCALAR(tags))
	{
		*why = "tags must be a JSON object";
		return -1;
	}
	it = JsonbIteratorInit(&tags->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_VALUE && v.type == jbvBinary)
		{
			*why = "tag values must be strings, numbers, booleans or null";
			return -1;
		}
	}
	text = JsonbToCString(NULL, &tags->root, VARSIZE(tags));
	len = strlen(text);
	if (len >= FND_TAGS_BUFSZ)
	{
		pfree(text);
		*why = "the tag object is too long";
		return -1;
	}
	memset(dst, 0, FND_TAGS_BUFSZ);
	memcpy(dst, text, len);
	pfree(text);
	return len;
}

/*
 * Find (or make) the cache slot for a series.  name is name_len bytes,
 * already checked; tags NULL means none.  Returns NULL (and sets why) when
 * the tags are unusable.
 */
static FndCacheSlot *
fnd_cache_slot(const char *name, int name_len, Jsonb *tags, const char **why)
{
	const char *raw = NULL;
	int			raw_len = 0;
	int			i;
	FndCacheSlot *slot;
	char		canon[FND_TAGS_BUFSZ];
	int			tags_len = 0;

	if (!fnd_tags_empty(tags))
	{
		raw = (const char *) VARDATA(tags);
		raw_len = VARSIZE(tags) - VARHDRSZ;
	}

	for (i = 0; i < FND_CACHE_SLOTS; i++)
	{
		slot = &fnd_cache[i];
		if (slot->valid &&
			slot->key.name_len == name_len &&
			slot->raw_len == raw_len &&
			slot->key.dbid == MyDatabaseId &&
			memcmp(slot->key.name, name, name_len) == 0 &&
			(raw_len == 0 || memcmp(slot->raw, raw, raw_len) == 0))
			return slot;
	}

	/* the dropped counter is global and reported on its own */
	if (name_len == strlen(FND_DROPPED_NAME) &&
		memcmp(name, FND_DROPPED_NAME, name_len) == 0)
	{
		*why = "the name " FND_DROPPED_NAME " is reserved";
		return NULL;
	}

	if (raw_len > 0)
	{
		tags_len = fnd_tags_canonical(tags, canon, why);
		if (tags_len < 0)
			return NULL;
	}

	slot = &fnd_cache[fnd_cache_next];
	fnd_cache_next = (fnd_cache_next + 1) % FND_CACHE_SLOTS;

	memset(&slot->key, 0, sizeof(FndMetricKey));
	slot->key.dbid = MyDatabaseId;
	slot->key.name_len = name_len;
	memcpy(slot->key.name, name, name_len);
	slot->key.tags_len = tags_len;
	if (tags_len > 0)
		memcpy(slot->key.tags, canon, tags_len);
	slot->hash = fnd_metric_hash(&slot->key, sizeof(FndMetricKey));
	slot->entry = NULL;
	slot->generation = 0;

	/* raw jsonb too long to remember: the slot serves this call only */
	if (raw_len < FND_TAGS_BUFSZ)
	{
		slot->raw_len = raw_len;
		if (raw_len > 0)
			memcpy(slot->raw, raw, raw_len);
		slot->valid = true;
	}
	else
		slot->valid = false;
	return slot;
}

/*
 * Recording, step 1: validate the value and the name before anything is
 * looked up.  Returns why the measurement cannot be kept, or NULL.
 */
static inline const char *
fnd_record_check(FndMetricKind kind, const char *name, int name_len,
				 double value)
{
	if (isnan(value) || isinf(value))
		return "the value is NaN or infinite";
	if (kind == FND_COUNTER && value < 0)
		return "a counter cannot decrease";
	if (name_len <= 0 || name_len > FND_NAME_MAX ||
		memchr(name, '\0', name_len) != NULL)
		return "the metric name is empty, longer than 200 bytes or contains a NUL byte";
	return NULL;
}

/*
 * Recording, step 2b: insert the series of slot, the table lock held
 * exclusively.  Returns NULL (and sets why) when the table or the sketch
 * pool is full.
 */
static FndMetric *
fnd_series_create(FndCacheSlot *slot, FndMetricKind kind, double value,
				  TimestampTz now, const char **why)
{
	FndMetric  *e = NULL;
	bool		found;
	int			sketch = -1;

	if (kind == FND_HISTOGRAM && fnd_tel->sketch_free < 0)
	{
		*why = "every histogram sketch is in use (foundation.max_histograms)";
		return NULL;
	}
	*why = "the metric table is full (foundation.max_metrics)";
	if (hash_get_num_entries(fnd_metrics_htab) >= fnd_max_metrics)
		return NULL;

	pg_atomic_fetch_add_u32(&fnd_tel->changing, 1);
	e = hash_search_with_hash_value(fnd_metrics_htab, &slot->key, slot->hash,
									HASH_ENTER_NULL, &found);
	if (e != NULL)
	{
		if (kind == FND_HISTOGRAM)
		{
			sketch = fnd_sketch_slot_take();
			fnd_sketch_init(&fnd_sketches[sketch].sketch);
		}
		e->kind = kind;
		e->sketch = sketch;
		SpinLockInit(&e->mutex);
		e->count = 0;
		e->sum = 0;
		e->min = value;
		e->max = value;
		e->last = 0;
		e->updated_at = now;
	}
	pg_atomic_fetch_sub_u32(&fnd_tel->changing, 1);
	return e;
}

/*
 * Recording, step 2: find or create the series of slot.  Returns it with
 * the table lock held (shared, or exclusive when it was just created), or
 * NULL with the lock released and why set.
 */
static inline FndMetric *
fnd_series_find_or_create(FndCacheSlot *slot, FndMetricKind kind,
						  double value, TimestampTz now, const char **why)
{
	FndMetric  *e;

	LWLockAcquire(fnd_tel->lock, LW_SHARED);
	if (slot->entry != NULL && slot->generation == fnd_tel->generation)
		return slot->entry;

	e = hash_search_with_hash_value(fnd_metrics_htab, &slot->key,
									slot->hash, HASH_FIND, NULL);
	if (e == NULL)
	{
		LWLockRelease(fnd_tel->lock);
		LWLockAcquire(fnd_tel->lock, LW_EXCLUSIVE);
		e = hash_search_with_hash_value(fnd_metrics_htab, &slot->key,
										slot->hash, HASH_FIND, NULL);
		if (e == NULL)
			e = fnd_series_create(slot, kind, value, now, why);
		if (e == NULL)
		{
			LWLockRelease(fnd_tel->lock);
			return NULL;
		}
	}
	slot->entry = e;
	slot->generation = fnd_tel->generation;
	return e;
}

/*
 * Recording, step 3: add the value to the series, the table lock held.
 * Returns why it was refused, or NULL.  An increment that would take a
 * counter to infinity is refused like an infinite value (a counter stuck at
 * +Inf would never move again).  The sum of a gauge's or histogram's values
 * is only a statistic beside the values themselves: it may reach infinity.
 */
static inline const char *
fnd_series_add(FndMetric *e, FndMetricKind kind, double value,
			   TimestampTz now)
{
	double		sum;

	if (e->kind != kind)
		return "the series exists with another kind";

	SpinLockAcquire(&e->mutex);
	sum = e->sum + value;
	if (unlikely(isinf(sum)) && kind == FND_COUNTER)
	{
		SpinLockRelease(&e->mutex);
		return "the counter would overflow to infinity";
	}
	e->count++;
	e->sum = sum;
	e->updated_at = now;
	if (kind == FND_COUNTER)
		e->last = sum;
	else
	{
		e->last = value;
		if (value < e->min)
			e->min = value;
		if (value > e->max)
			e->max = value;
		if (kind == FND_HISTOGRAM)
			fnd_sketch_add(&fnd_sketches[e->sketch].sketch, value);
	}
	SpinLockRelease(&e->mutex);
	return NULL;
}

/*
 * Record one measurement: validate, find or create the series, add.  Never
 * raises (except what the jsonb code raises for a corrupt datum); every
 * rejection is a counted drop.
 */
static void
fnd_record(FndMetricKind kind, const char *name, int name_len, Jsonb *tags,
		   double value, bool from_sql)
{
	FndCacheSlot *slot;
	FndMetric  *e;
	const char *why;
	TimestampTz now;

	if (fnd_tel == NULL)
		return;

	why = fnd_record_check(kind, name, name_len, value);
	if (why != NULL)
	{
		fnd_telemetry_drop(from_sql, why);
		return;
	}
	slot = fnd_cache_slot(name, name_len, tags, &why);
	if (slot == NULL)
	{
		fnd_telemetry_drop(from_sql, why);
		return;
	}

	now = GetCurrentTimestamp();
	e = fnd_series_find_or_create(slot, kind, value, now, &why);
	if (e == NULL)
	{
		fnd_telemetry_drop(from_sql, why);
		return;
	}
	why = fnd_series_add(e, kind, value, now);
	LWLockRelease(fnd_tel->lock);
	if (why != NULL)
		fnd_telemetry_drop(from_sql, why);
}

/* For the 1.2 agent metrics (telemetry_agent.c): fnd_record with tags. */
void
fnd_telemetry_record(FndMetricKind kind, const char *name, int name_len,
					 Jsonb *tags, double value, bool from_sql)
{
	fnd_record(kind, name, name_len, tags, value, from_sql);
}

/*
 * The C API: current database, no tags, silent.  Usable by any process with
 * a PGPROC (backends, background workers); a no-op elsewhere (the
 * postmaster) and without shared memory.  Must not be called while holding
 * a spinlock (it takes an LWLock).
 */
#define FND_C_API_READY(name) (fnd_tel != NULL && MyProc != NULL && (name) != NULL)

void
fnd_telemetry_count(const char *name, double by)
{
	if (FND_C_API_READY(name))
		fnd_record(FND_COUNTER, name, strlen(name), NULL, by, false);
}

void
fnd_telemetry_gauge(const char *name, double value)
{
	if (FND_C_API_READY(name))
		fnd_record(FND_GAUGE, name, strlen(name), NULL, value, false);
}

void
fnd_telemetry_observe(const char *name, double value)
{
	if (FND_C_API_READY(name))
		fnd_record(FND_HISTOGRAM, name, strlen(name), NULL, value, false);
}

/* ---------------------------------------------------------------------
 * SQL: recording
 * ---------------------------------------------------------------------
 */

/* Shared by the three recording functions: (name, value, tags). */
static void
fnd_record_sql(FunctionCallInfo fcinfo, FndMetricKind kind)
{
	text	   *name;
	Jsonb	   *tags = NULL;

	fnd_require_shmem();

	if (PG_ARGISNULL(0))
	{
		fnd_telemetry_drop(true, "the metric name is null");
		return;
	}
	if (PG_ARGISNULL(1))
	{
		fnd_telemetry_drop(true, "the value is null");
		return;
	}
	name = PG_GETARG_TEXT_PP(0);
	if (!PG_ARGISNULL(2))
		tags = PG_GETARG_JSONB_P(2);

	fnd_record(kind, VARDATA_ANY(name), VARSIZE_ANY_EXHDR(name), tags,
			   PG_GETARG_FLOAT8(1), true);
}

PG_FUNCTION_INFO_V1(fnd_metric_increment);
Datum
fnd_metric_increment(PG_FUNCTION_ARGS)
{
	fnd_record_sql(fcinfo, FND_COUNTER);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fnd_metric_gauge);
Datum
fnd_metric_gauge(PG_FUNCTION_ARGS)
{
	fnd_record_sql(fcinfo, FND_GAUGE);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(fnd_metric_observe);
Datum
fnd_metric_observe(PG_FUNCTION_ARGS)
{
	fnd_record_sql(fcinfo, FND_HISTOGRAM);
	PG_RETURN_VOID();
}

static FndMetricKind
fnd_kind_from_word(const char *w, int len)
{
	if (len == 7 && memcmp(w, "counter", 7) == 0)
		return FND_COUNTER;
	if (len == 5 && memcmp(w, "gauge", 5) == 0)
		return FND_GAUGE;
	if (len == 9 && memcmp(w, "histogram", 9) == 0)
		return FND_HISTOGRAM;
	return 0;
}

/*
 * fnd_telemetry_emit(event, measurements, metadata): every key of
 * measurements is a kind applied to the metric named event, metadata being
 * its tags.  All kinds are checked before anything is recorded.
 */
PG_FUNCTION_INFO_V1(fnd_telemetry_emit);
Datum
fnd_telemetry_emit(PG_FUNCTION_ARGS)
{
	text	   *event = NULL;
	Jsonb	   *meas;
	Jsonb	   *meta = NULL;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			pass;

	fnd_require_shmem();

	if (PG_ARGISNULL(1))
	{
		fnd_telemetry_drop(true, "the measurements are null");
		PG_RETURN_VOID();
	}
	meas = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(meas) || JB_ROOT_IS_SCALAR(meas))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_METRIC),
				 errmsg("measurements must be a JSON object"),
				 errdetail("Its keys are measurement kinds: \"counter\", \"gauge\" or \"histogram\".")));

	/* pass 0 checks every kind, pass 1 records */
	for (pass = 0; pass < 2; pass++)
	{
		FndMetricKind kind = 0;

		if (pass == 1)
		{
			if (PG_ARGISNULL(0))
			{
				fnd_telemetry_drop(true, "the event name is null");
				PG_RETURN_VOID();
			}
			event = PG_GETARG_TEXT_PP(0);
			if (!PG_ARGISNULL(2))
				meta = PG_GETARG_JSONB_P(2);
		}

		it = JsonbIteratorInit(&meas->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				kind = fnd_kind_from_word(v.val.string.val, v.val.string.len);
				if (kind == 0)
					ereport(ERROR,
							(errcode(ERRCODE_FND_INVALID_METRIC),
							 errmsg("unknown measurement kind \"%.*s\"",
									v.val.string.len, v.val.string.val),
							 errdetail("The kinds are \"counter\", \"gauge\" and \"histogram\".")));
			}
			else if (tok == WJB_VALUE && pass == 1)
			{
				double		d;

				if (v.type != jbvNumeric)
				{
					fnd_telemetry_drop(true, "a measurement value is not a number");
					continue;
				}
				d = DatumGetFloat8(DirectFunctionCall1(numeric_float8_no_overflow,
													   NumericGetDatum(v.val.numeric)));
				fnd_record(kind, VARDATA_ANY(event), VARSIZE_ANY_EXHDR(event),
						   meta, d, true);
			}
		}
	}
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * SQL: reading
 * ---------------------------------------------------------------------
 */

/*
 * Copy one entry into a row (and its sketch into sk), under the entry's
 * spinlock; the caller holds the table lock.
 */
static void
fnd_metric_copy(FndMetric *e, FndMetricRow *r, FndSketch *sk)
{
	SpinLockAcquire(&e->mutex);
	r->key = e->key;
	r->kind = e->kind;
	r->count = e->count;
	r->sum = e->sum;
	r->min = e->min;
	r->max = e->max;
	r->last = e->last;
	r->updated_at = e->updated_at;
	if (e->kind == FND_HISTOGRAM)
		memcpy(sk, &fnd_sketches[e->sketch].sketch, sizeof(FndSketch));
	SpinLockRelease(&e->mutex);
}

/* A row's quantiles, from its sketch's copy. */
static void
fnd_metric_quantiles(FndMetricRow *r, const FndSketch *sk)
{
	int			i;

	for (i = 0; i < FND_QUANTILES; i++)
	{
		if (r->kind == FND_HISTOGRAM)
		{
			double		qv = fnd_sketch_quantile(sk, fnd_quantiles[i]);

			/* the exact extremes are known: never report beyond them */
			r->q[i] = Min(Max(qv, r->min), r->max);
		}
		else
			r->q[i] = 0;
	}
}

/* The server-wide dropped counter, as a row of database dbid. */
static void
fnd_dropped_row(FndMetricRow *r, Oid dbid)
{
	memset(r, 0, sizeof(FndMetricRow));
	r->key.dbid = dbid;
	r->key.name_len = strlen(FND_DROPPED_NAME);
	memcpy(r->key.name, FND_DROPPED_NAME, r->key.name_len);
	r->kind = FND_COUNTER;
	r->count = (int64) pg_atomic_read_u64(&fnd_tel->dropped);
	r->sum = (double) r->count;
	r->last = r->sum;
	r->updated_at = DT_NOBEGIN;	/* no timestamp kept */
}

/*
 * The launcher, connected to no database, records its series under
 * database 0; they show (and reset) in foundation.database, its home.
 * Whether dbid is that home: catalog access, so call it before any LWLock.
 */
static bool
fnd_telemetry_home(Oid dbid)
{
	return OidIsValid(dbid) && dbid == MyDatabaseId && fnd_in_home_database();
}

/* Does a series of database series_db show in database dbid's view? */
static inline bool
fnd_telemetry_shown_in(Oid series_db, Oid dbid, bool home)
{
	return series_db == dbid || (home && !OidIsValid(series_db));
}

/*
 * Copy every series of database dbid (of every database when InvalidOid),
 * plus the global dropped counter as a last row.  Each entry is copied
 * under its spinlock, its quantiles computed from the copy.  With
 * sketches, each histogram row keeps its sketch's copy (1.2 merges them).
 */
FndMetricRow *
fnd_telemetry_snapshot(Oid dbid, bool sketches, int *nrows)
{
	FndMetricRow *rows;
	FndSketch  *sk = palloc(sizeof(FndSketch));
	HASH_SEQ_STATUS scan;
	FndMetric  *e;
	int			n = 0;
	bool		home = fnd_telemetry_home(dbid);

	LWLockAcquire(fnd_tel->lock, LW_SHARED);
	rows = palloc(sizeof(FndMetricRow) * (hash_get_num_entries(fnd_metrics_htab) + 1));
	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		FndMetricRow *r;

		if (OidIsValid(dbid) && !fnd_telemetry_shown_in(e->key.dbid, dbid, home))
			continue;
		r = &rows[n++];
		fnd_metric_copy(e, r, sk);
		fnd_metric_quantiles(r, sk);
		r->sketch = NULL;
		if (sketches && r->kind == FND_HISTOGRAM)
		{
			r->sketch = sk;
			sk = palloc(sizeof(FndSketch));
		}
	}
	LWLockRelease(fnd_tel->lock);
	pfree(sk);

	fnd_dropped_row(&rows[n++], OidIsValid(dbid) ? dbid : MyDatabaseId);
	*nrows = n;
	return rows;
}

Datum
fnd_tags_datum(const FndMetricKey *key)
{
	return DirectFunctionCall1(jsonb_in,
							   CStringGetDatum(key->tags_len > 0 ? key->tags : "{}"));
}

PG_FUNCTION_INFO_V1(fnd_metrics_list);
Datum
fnd_metrics_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndMetricRow *rows;
	int			n;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	rows = fnd_telemetry_snapshot(MyDatabaseId, false, &n);

	for (i = 0; i < n; i++)
	{
		FndMetricRow *r = &rows[i];
		Datum		values[14];
		bool		nulls[14];
		int			j;
		bool		counter = (r->kind == FND_COUNTER);

		memset(nulls, 0, sizeof(nulls));
		values[0] = PointerGetDatum(cstring_to_text_with_len(r->key.name,
															 r->key.name_len));
		values[1] = fnd_tags_datum(&r->key);
		values[2] = CStringGetTextDatum(fnd_kind_names[r->kind]);
		values[3] = Int64GetDatum(r->count);
		values[4] = Float8GetDatum(r->sum);
		values[5] = Float8GetDatum(r->min);
		nulls[5] = counter;
		values[6] = Float8GetDatum(r->max);
		nulls[6] = counter;
		values[7] = Float8GetDatum(r->last);
		values[8] = Float8GetDatum(r->count > 0 ? r->sum / r->count : 0);
		nulls[8] = counter || r->count == 0;
		for (j = 0; j < FND_QUANTILES; j++)
		{
			values[9 + j] = Float8GetDatum(r->q[j]);
			nulls[9 + j] = (r->kind != FND_HISTOGRAM);
		}
		values[13] = TimestampTzGetDatum(r->updated_at);
		nulls[13] = (r->updated_at == DT_NOBEGIN);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Remove the series of the current database named name (every one when
 * name is NULL).  Returns how many were removed.
 */
static int64
fnd_metrics_remove(const char *name)
{
	int			name_len = name ? strlen(name) : 0;
	HASH_SEQ_STATUS scan;
	FndMetric  *e;
	int64		removed = 0;
	bool		home = fnd_telemetry_home(MyDatabaseId);

	LWLockAcquire(fnd_tel->lock, LW_EXCLUSIVE);
	pg_atomic_fetch_add_u32(&fnd_tel->changing, 1);
	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (!fnd_telemetry_shown_in(e->key.dbid, MyDatabaseId, home))
			continue;
		if (name != NULL && (e->key.name_len != name_len ||
							 memcmp(e->key.name, name, name_len) != 0))
			continue;
		fnd_metric_forget(e);
		/* removing the element just returned is allowed */
		hash_search(fnd_metrics_htab, &e->key, HASH_REMOVE, NULL);
		removed++;
	}
	pg_atomic_fetch_sub_u32(&fnd_tel->changing, 1);
	LWLockRelease(fnd_tel->lock);
	return removed;
}

/*
 * fnd_metrics_reset(name): remove the series of the current database with
 * this name (all series when NULL).  Resetting all, or the name
 * foundation.telemetry.dropped, also zeroes the dropped counter.  Returns
 * the number of series removed.
 */
PG_FUNCTION_INFO_V1(fnd_metrics_reset);
Datum
fnd_metrics_reset(PG_FUNCTION_ARGS)
{
	char		name[FND_NAME_BUFSZ];
	bool		all = PG_ARGISNULL(0);
	int64		removed;

	fnd_require_shmem();
	if (!all)
		fnd_check_name(PG_GETARG_TEXT_PP(0), "metric name", name);

	removed = fnd_metrics_remove(all ? NULL : name);

	if (all || strcmp(name, FND_DROPPED_NAME) == 0)
		pg_atomic_write_u64(&fnd_tel->dropped, 0);

	PG_RETURN_INT64(removed);
}
