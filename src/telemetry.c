/*-------------------------------------------------------------------------
 *
 * telemetry.c
 *	  Shared-memory counters, gauges and histograms, their SQL interface,
 *	  the Prometheus text output, and the C API the other subsystems use to
 *	  count their own work.
 *
 * Metrics live in one shared hash table of foundation.max_metrics entries,
 * keyed by (database, name, tags); tags are stored as the canonical text of
 * a flat jsonb object ("" when there are none).  A series is created by its
 * first measurement and keeps that kind (counter, gauge or histogram) until
 * it is reset.  A histogram also owns one fixed-size quantile sketch
 * (sketch.c) from a pool of foundation.max_histograms, so counters and
 * gauges stay small (about 600 bytes) while sketches can be large (6 kB).
 *
 * Locking protocol (as in pg_stat_statements):
 *	- FndTelemetryShared.lock, shared: look an entry up and update it.
 *	  Exclusive: insert a new entry, remove entries (reset).  So the hot path
 *	  never takes a lock exclusively once its series exists.
 *	- FndMetric.mutex (spinlock): guards the entry's counters, timestamp
 *	  and the sketch it owns.  Taken with the LWLock held in either mode.  key and kind
 *	  never change while the entry exists, so they are read without it.
 *	- FndTelemetryShared.generation changes (under the exclusive lock) each
 *	  time entries are removed.  A backend caches the entries it used last;
 *	  a cached pointer is trusted only while the generation it saw, read
 *	  under the shared lock, is unchanged (entries never move otherwise).
 *	- The free list of sketches (sketch_free, FndSketchSlot.next_free) is
 *	  changed only under the exclusive lock.
 *	- dropped and last_warning are atomics, touched without any lock.
 *
 * Never fails its caller: a full table, a malformed tag object, an empty or
 * over-long name, NaN or infinity, a negative counter increment or a kind
 * that does not match the existing series drops the measurement and counts
 * it in foundation.telemetry.dropped.  SQL callers get a WARNING at most
 * once a minute (server-wide); the C API never reports anything, never
 * raises, and is a no-op without shared memory.  The one error is FN501 for
 * an unknown measurement kind in fnd_telemetry_emit (plus FN001 when the
 * SQL functions are called without shared_preload_libraries).
 *
 * Persistence follows pg_stat_statements: the postmaster writes every
 * series to FND_TELEMETRY_FILE from an on_shmem_exit callback at a clean
 * shutdown (when foundation.telemetry_save is on), and reads and removes the
 * file when it creates shared memory, so a crash loses the metrics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "sketch.h"

/* Canonical text of a tag object, NUL included, at most this many bytes. */
#define FND_TAGS_BUFSZ		256

#define FND_TELEMETRY_FILE	"pg_stat/foundation_telemetry.stat"
#define FND_TELEMETRY_MAGIC	0x464e4454	/* "FNDT" */

#define FND_DROPPED_NAME	"foundation.telemetry.dropped"

/* How often a SQL caller may see the "dropped" WARNING, server-wide. */
#define FND_DROP_WARN_USEC	(60 * USECS_PER_SEC)

/* Backend-local cache of recently used series. */
#define FND_CACHE_SLOTS		8

typedef enum FndMetricKind
{
	FND_COUNTER = 1,
	FND_GAUGE = 2,
	FND_HISTOGRAM = 3
} FndMetricKind;

static const char *const fnd_kind_names[] = {"", "counter", "gauge", "histogram"};

typedef struct FndMetricKey
{
	Oid			dbid;
	uint16		name_len;
	uint16		tags_len;		/* 0: no tags */
	char		name[FND_NAME_BUFSZ];
	char		tags[FND_TAGS_BUFSZ];
} FndMetricKey;

typedef struct FndMetric
{
	FndMetricKey key;			/* hash key, must be first */
	int			kind;			/* FndMetricKind, fixed at creation */
	slock_t		mutex;			/* guards everything below */
	int64		count;			/* measurements recorded */
	double		sum;
	double		min;
	double		max;
	double		last;			/* counter: its value; else last value */
	TimestampTz updated_at;
	int			sketch;			/* histograms: index in the sketch pool */
} FndMetric;

/* One sketch of the pool; next_free links the free ones. */
typedef struct FndSketchSlot
{
	int			next_free;
	FndSketch	sketch;
} FndSketchSlot;

typedef struct FndTelemetryShared
{
	LWLock	   *lock;
	uint64		generation;		/* bumped when entries are removed */
	int			sketch_free;	/* head of the free sketch list, -1: none */
	int			sketches_used;	/* histograms in the table */
	pg_atomic_uint64 dropped;
	pg_atomic_uint64 last_warning;	/* TimestampTz of the last WARNING */
} FndTelemetryShared;

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
static int	fnd_max_metrics = 5000;
static int	fnd_max_histograms = 1000;
static bool fnd_telemetry_save = true;

/* shared state, NULL without shared_preload_libraries */
static FndTelemetryShared *fnd_tel = NULL;
static HTAB *fnd_metrics_htab = NULL;
static FndSketchSlot *fnd_sketches = NULL;

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
							 "Save metrics across clean server restarts.",
							 "Written to " FND_TELEMETRY_FILE " at shutdown; a crash loses them.",
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

static void fnd_telemetry_shmem_exit(int code, Datum arg);
static void fnd_telemetry_load(void);

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
	{
		int			i;

		fnd_tel->lock = &(fnd_lwlocks(&fnd_telemetry_service)[0].lock);
		fnd_tel->generation = 0;
		pg_atomic_init_u64(&fnd_tel->dropped, 0);
		pg_atomic_init_u64(&fnd_tel->last_warning, 0);
		for (i = 0; i < fnd_max_histograms; i++)
			fnd_sketches[i].next_free = (i + 1 < fnd_max_histograms) ? i + 1 : -1;
		fnd_tel->sketch_free = 0;
		fnd_tel->sketches_used = 0;
	}

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
		on_shmem_exit(fnd_telemetry_shmem_exit, (Datum) 0);

	if (!found)
		fnd_telemetry_load();
}

/*
 * Supervisor: show how full the table is in fnd_services().detail, so an
 * operator sees foundation.max_metrics coming before measurements drop.
 */
static bool
fnd_telemetry_periodic(void)
{
	char		detail[FND_STATUS_TEXT];
	long		series;
	int			histograms;

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
 * Persistence
 * ---------------------------------------------------------------------
 */
typedef struct FndTelemetryFileHeader
{
	uint32		magic;
	uint32		entry_size;		/* sizes of FndMetric + FndSketch: layout check */
	int64		entries;
	uint64		dropped;
} FndTelemetryFileHeader;

/*
 * on_shmem_exit in the postmaster: write every series to the file.  Not
 * after a crash (code != 0: the postmaster is reinitialising shared memory),
 * and not when foundation.telemetry_save is off.  No locks: every backend
 * has exited.
 */
static void
fnd_telemetry_shmem_exit(int code, Datum arg)
{
	FILE	   *file;
	FndTelemetryFileHeader hdr;
	HASH_SEQ_STATUS scan;
	FndMetric  *e;
	const char *tmpname = FND_TELEMETRY_FILE ".tmp";

	if (code != 0 || fnd_tel == NULL || fnd_metrics_htab == NULL)
		return;
	if (!fnd_telemetry_save)
	{
		unlink(FND_TELEMETRY_FILE);
		return;
	}

	file = AllocateFile(tmpname, PG_BINARY_W);
	if (file == NULL)
		goto error;

	hdr.magic = FND_TELEMETRY_MAGIC;
	hdr.entry_size = sizeof(FndMetric) + sizeof(FndSketch);
	hdr.entries = hash_get_num_entries(fnd_metrics_htab);
	hdr.dropped = pg_atomic_read_u64(&fnd_tel->dropped);
	if (fwrite(&hdr, sizeof(hdr), 1, file) != 1)
		goto error;

	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (fwrite(e, sizeof(FndMetric), 1, file) != 1 ||
			(e->kind == FND_HISTOGRAM &&
			 fwrite(&fnd_sketches[e->sketch].sketch, sizeof(FndSketch), 1, file) != 1))
		{
			hash_seq_term(&scan);
			goto error;
		}
	}

	if (FreeFile(file))
	{
		file = NULL;
		goto error;
	}
	(void) durable_rename(tmpname, FND_TELEMETRY_FILE, LOG);
	return;

error:
	ereport(LOG,
			(errcode_for_file_access(),
			 errmsg("could not write file \"%s\": %m", tmpname)));
	if (file)
		FreeFile(file);
	unlink(tmpname);
}

/*
 * At shared memory creation (postmaster, AddinShmemInitLock held): read the
 * file a clean shutdown left, then remove it so a later crash cannot bring
 * stale values back.  A bad file is reported and ignored.
 */
static void
fnd_telemetry_load(void)
{
	FILE	   *file;
	FndTelemetryFileHeader hdr;
	FndMetric  *buf;
	FndSketch  *sk;
	int64		i;

	if (!fnd_telemetry_save)
	{
		unlink(FND_TELEMETRY_FILE);
		return;
	}

	file = AllocateFile(FND_TELEMETRY_FILE, PG_BINARY_R);
	if (file == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", FND_TELEMETRY_FILE)));
		return;
	}

	buf = palloc(sizeof(FndMetric));
	sk = palloc(sizeof(FndSketch));
	if (fread(&hdr, sizeof(hdr), 1, file) != 1 ||
		hdr.magic != FND_TELEMETRY_MAGIC ||
		hdr.entry_size != sizeof(FndMetric) + sizeof(FndSketch))
	{
		ereport(LOG,
				(errmsg("ignoring file \"%s\": not a foundation telemetry file of this build",
						FND_TELEMETRY_FILE)));
		goto done;
	}
	pg_atomic_write_u64(&fnd_tel->dropped, hdr.dropped);

	for (i = 0; i < hdr.entries; i++)
	{
		FndMetric  *e;
		bool		found;

		if (fread(buf, sizeof(FndMetric), 1, file) != 1 ||
			(buf->kind == FND_HISTOGRAM &&
			 fread(sk, sizeof(FndSketch), 1, file) != 1))
		{
			ereport(LOG,
					(errmsg("file \"%s\" is truncated; some metrics were not restored",
							FND_TELEMETRY_FILE)));
			break;
		}
		/* foundation.max_metrics or max_histograms may have shrunk since */
		if (hash_get_num_entries(fnd_metrics_htab) >= fnd_max_metrics ||
			(buf->kind == FND_HISTOGRAM && fnd_tel->sketch_free < 0))
		{
			pg_atomic_fetch_add_u64(&fnd_tel->dropped, 1);
			continue;
		}
		e = hash_search(fnd_metrics_htab, &buf->key, HASH_ENTER_NULL, &found);
		if (e == NULL || found)
			continue;
		memcpy(((char *) e) + sizeof(FndMetricKey),
			   ((char *) buf) + sizeof(FndMetricKey),
			   sizeof(FndMetric) - sizeof(FndMetricKey));
		SpinLockInit(&e->mutex);
		if (e->kind == FND_HISTOGRAM)
		{
			e->sketch = fnd_tel->sketch_free;
			fnd_tel->sketch_free = fnd_sketches[e->sketch].next_free;
			memcpy(&fnd_sketches[e->sketch].sketch, sk, sizeof(FndSketch));
			fnd_tel->sketches_used++;
		}
	}

done:
	pfree(sk);
	pfree(buf);
	FreeFile(file);
	unlink(FND_TELEMETRY_FILE);
}

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
 * Record one measurement.  Never raises (except what the jsonb code raises
 * for a corrupt datum); every rejection is a counted drop.
 */
static void
fnd_record(FndMetricKind kind, const char *name, int name_len, Jsonb *tags,
		   double value, bool from_sql)
{
	FndCacheSlot *slot;
	FndMetric  *e;
	const char *why = NULL;
	TimestampTz now;

	if (fnd_tel == NULL)
		return;

	if (isnan(value) || isinf(value))
	{
		fnd_telemetry_drop(from_sql, "the value is NaN or infinite");
		return;
	}
	if (kind == FND_COUNTER && value < 0)
	{
		fnd_telemetry_drop(from_sql, "a counter cannot decrease");
		return;
	}
	if (name_len <= 0 || name_len > FND_NAME_MAX ||
		memchr(name, '\0', name_len) != NULL)
	{
		fnd_telemetry_drop(from_sql, "the metric name is empty, longer than 200 bytes or contains a NUL byte");
		return;
	}

	slot = fnd_cache_slot(name, name_len, tags, &why);
	if (slot == NULL)
	{
		fnd_telemetry_drop(from_sql, why);
		return;
	}

	now = GetCurrentTimestamp();

	LWLockAcquire(fnd_tel->lock, LW_SHARED);
	if (slot->entry != NULL && slot->generation == fnd_tel->generation)
		e = slot->entry;
	else
		e = hash_search_with_hash_value(fnd_metrics_htab, &slot->key,
										slot->hash, HASH_FIND, NULL);
	if (e == NULL)
	{
		bool		found;

		LWLockRelease(fnd_tel->lock);
		LWLockAcquire(fnd_tel->lock, LW_EXCLUSIVE);
		e = hash_search_with_hash_value(fnd_metrics_htab, &slot->key,
										slot->hash, HASH_FIND, NULL);
		if (e == NULL)
		{
			if (kind == FND_HISTOGRAM && fnd_tel->sketch_free < 0)
			{
				LWLockRelease(fnd_tel->lock);
				fnd_telemetry_drop(from_sql, "every histogram sketch is in use (foundation.max_histograms)");
				return;
			}
			if (hash_get_num_entries(fnd_metrics_htab) >= fnd_max_metrics ||
				(e = hash_search_with_hash_value(fnd_metrics_htab, &slot->key,
												 slot->hash, HASH_ENTER_NULL,
												 &found)) == NULL)
			{
				LWLockRelease(fnd_tel->lock);
				fnd_telemetry_drop(from_sql, "the metric table is full (foundation.max_metrics)");
				return;
			}
			e->kind = kind;
			e->sketch = -1;
			SpinLockInit(&e->mutex);
			e->count = 0;
			e->sum = 0;
			e->min = value;
			e->max = value;
			e->last = 0;
			e->updated_at = now;
			if (kind == FND_HISTOGRAM)
			{
				e->sketch = fnd_tel->sketch_free;
				fnd_tel->sketch_free = fnd_sketches[e->sketch].next_free;
				fnd_tel->sketches_used++;
				fnd_sketch_init(&fnd_sketches[e->sketch].sketch);
			}
		}
	}
	slot->entry = e;
	slot->generation = fnd_tel->generation;

	if (e->kind != kind)
	{
		LWLockRelease(fnd_tel->lock);
		fnd_telemetry_drop(from_sql, "the series exists with another kind");
		return;
	}

	SpinLockAcquire(&e->mutex);
	e->count++;
	e->sum += value;
	e->updated_at = now;
	if (kind == FND_COUNTER)
		e->last = e->sum;
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

	LWLockRelease(fnd_tel->lock);
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

/* A consistent copy of one series, for output. */
typedef struct FndMetricRow
{
	FndMetricKey key;
	int			kind;
	int64		count;
	double		sum;
	double		min;
	double		max;
	double		last;
	TimestampTz updated_at;
	double		q[4];			/* p50, p90, p95, p99 */
} FndMetricRow;

static const double fnd_quantiles[4] = {0.5, 0.9, 0.95, 0.99};
static const char *const fnd_quantile_labels[4] = {"0.5", "0.9", "0.95", "0.99"};

/*
 * Copy every series of the current database (in foundation.database also
 * those of no database, which the supervisor's launcher records), plus the
 * global dropped counter as a last row.  Each entry is copied under its
 * spinlock; the quantiles are computed from the copy, outside any lock.
 */
static FndMetricRow *
fnd_snapshot(int *nrows)
{
	FndMetricRow *rows;
	FndMetric  *copy = palloc(sizeof(FndMetric));
	FndSketch  *sk = palloc(sizeof(FndSketch));
	HASH_SEQ_STATUS scan;
	FndMetric  *e;
	int			n = 0;
	int			cap;
	FndMetricRow *r;
	int			i;
	bool		home = fnd_in_home_database();

	LWLockAcquire(fnd_tel->lock, LW_SHARED);
	cap = hash_get_num_entries(fnd_metrics_htab) + 1;
	rows = palloc(sizeof(FndMetricRow) * cap);
	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId && (OidIsValid(e->key.dbid) || !home))
			continue;
		SpinLockAcquire(&e->mutex);
		memcpy(copy, e, sizeof(FndMetric));
		if (e->kind == FND_HISTOGRAM)
			memcpy(sk, &fnd_sketches[e->sketch].sketch, sizeof(FndSketch));
		SpinLockRelease(&e->mutex);

		r = &rows[n++];
		r->key = copy->key;
		r->kind = copy->kind;
		r->count = copy->count;
		r->sum = copy->sum;
		r->min = copy->min;
		r->max = copy->max;
		r->last = copy->last;
		r->updated_at = copy->updated_at;
		for (i = 0; i < 4; i++)
		{
			if (copy->kind == FND_HISTOGRAM)
			{
				double		qv = fnd_sketch_quantile(sk, fnd_quantiles[i]);

				/* the exact extremes are known: never report beyond them */
				r->q[i] = Min(Max(qv, copy->min), copy->max);
			}
			else
				r->q[i] = 0;
		}
	}
	LWLockRelease(fnd_tel->lock);
	pfree(copy);
	pfree(sk);

	r = &rows[n++];
	memset(r, 0, sizeof(FndMetricRow));
	r->key.dbid = MyDatabaseId;
	r->key.name_len = strlen(FND_DROPPED_NAME);
	memcpy(r->key.name, FND_DROPPED_NAME, r->key.name_len);
	r->kind = FND_COUNTER;
	r->count = (int64) pg_atomic_read_u64(&fnd_tel->dropped);
	r->sum = (double) r->count;
	r->last = r->sum;
	r->updated_at = DT_NOBEGIN;	/* no timestamp kept */

	*nrows = n;
	return rows;
}

static Datum
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
	rows = fnd_snapshot(&n);

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
		for (j = 0; j < 4; j++)
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
	int			name_len = 0;
	HASH_SEQ_STATUS scan;
	FndMetric  *e;
	int64		removed = 0;
	bool		home;

	fnd_require_shmem();
	if (!all)
	{
		fnd_check_name(PG_GETARG_TEXT_PP(0), "metric name", name);
		name_len = strlen(name);
	}
	home = fnd_in_home_database();

	LWLockAcquire(fnd_tel->lock, LW_EXCLUSIVE);
	hash_seq_init(&scan, fnd_metrics_htab);
	while ((e = hash_seq_search(&scan)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId && (OidIsValid(e->key.dbid) || !home))
			continue;
		if (!all && (e->key.name_len != name_len ||
					 memcmp(e->key.name, name, name_len) != 0))
			continue;
		if (e->kind == FND_HISTOGRAM)
		{
			fnd_sketches[e->sketch].next_free = fnd_tel->sketch_free;
			fnd_tel->sketch_free = e->sketch;
			fnd_tel->sketches_used--;
		}
		hash_search(fnd_metrics_htab, &e->key, HASH_REMOVE, NULL);
		removed++;
	}
	fnd_tel->generation++;
	LWLockRelease(fnd_tel->lock);

	if (all || strcmp(name, FND_DROPPED_NAME) == 0)
		pg_atomic_write_u64(&fnd_tel->dropped, 0);

	PG_RETURN_INT64(removed);
}

/* ---------------------------------------------------------------------
 * Prometheus text exposition format (version 0.0.4)
 * ---------------------------------------------------------------------
 */

/* A metric name: [a-zA-Z_:][a-zA-Z0-9_:]*, anything else becomes '_'. */
static void
fnd_prom_name(StringInfo out, const char *s, int len)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9'))
			appendStringInfoChar(out, c);
		else if (i == 0 && c >= '0' && c <= '9')
		{
			appendStringInfoChar(out, '_');
			appendStringInfoChar(out, c);
		}
		else
			appendStringInfoChar(out, '_');
	}
}

/*
 * A label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__" (reserved)
 * and not "quantile" (summaries use it): those get a "tag_" prefix.
 */
static void
fnd_prom_label_name(StringInfo out, const char *s, int len)
{
	int			i;

	if ((len >= 2 && s[0] == '_' && s[1] == '_') ||
		(len == 8 && memcmp(s, "quantile", 8) == 0) ||
		len == 0)
		appendStringInfoString(out, "tag_");
	for (i = 0; i < len; i++)
	{
		char		c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			(i > 0 && c >= '0' && c <= '9'))
			appendStringInfoChar(out, c);
		else if (i == 0 && c >= '0' && c <= '9')
		{
			appendStringInfoChar(out, '_');
			appendStringInfoChar(out, c);
		}
		else
			appendStringInfoChar(out, '_');
	}
}

/*
 * Escape text for the exposition format: backslash and newline always, the
 * double quote too in label values (HELP text keeps it).
 */
static void
fnd_prom_escape(StringInfo out, const char *s, int len, bool label)
{
	int			i;

	for (i = 0; i < len; i++)
	{
		if (s[i] == '\\')
			appendStringInfoString(out, "\\\\");
		else if (s[i] == '"' && label)
			appendStringInfoString(out, "\\\"");
		else if (s[i] == '\n')
			appendStringInfoString(out, "\\n");
		else
			appendStringInfoChar(out, s[i]);
	}
}

static void
fnd_prom_value(StringInfo out, double d)
{
	if (isnan(d))
		appendStringInfoString(out, "NaN");
	else if (isinf(d))
		appendStringInfoString(out, d > 0 ? "+Inf" : "-Inf");
	else
	{
		char		buf[64];

		snprintf(buf, sizeof(buf), "%.17g", d);
		appendStringInfoString(out, buf);
	}
}

/*
 * The label list of a series, without braces: tag="value",... with label
 * names sanitised; a later tag whose sanitised name repeats is left out.
 */
static char *
fnd_prom_labels(const FndMetricKey *key)
{
	StringInfoData buf;
	List	   *seen = NIL;
	Jsonb	   *jb;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *label = NULL;

	initStringInfo(&buf);
	if (key->tags_len == 0)
		return buf.data;

	jb = DatumGetJsonbP(fnd_tags_datum(key));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			StringInfoData ln;
			ListCell   *lc;

			initStringInfo(&ln);
			fnd_prom_label_name(&ln, v.val.string.val, v.val.string.len);
			label = ln.data;
			foreach(lc, seen)
			{
				if (strcmp((char *) lfirst(lc), label) == 0)
				{
					label = NULL;
					break;
				}
			}
			if (label)
				seen = lappend(seen, label);
		}
		else if (tok == WJB_VALUE && label != NULL)
		{
			if (buf.len > 0)
				appendStringInfoChar(&buf, ',');
			appendStringInfo(&buf, "%s=\"", label);
			switch (v.type)
			{
				case jbvString:
					fnd_prom_escape(&buf, v.val.string.val, v.val.string.len, true);
					break;
				case jbvNumeric:
					{
						char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
																			NumericGetDatum(v.val.numeric)));

						fnd_prom_escape(&buf, s, strlen(s), true);
					}
					break;
				case jbvBool:
					appendStringInfoString(&buf, v.val.boolean ? "true" : "false");
					break;
				default:
					break;		/* null: empty value */
			}
			appendStringInfoChar(&buf, '"');
		}
	}
	return buf.data;
}

typedef struct FndPromSeries
{
	FndMetricRow *row;
	char	   *name;			/* sanitised */
	char	   *labels;			/* without braces */
} FndPromSeries;

static int
fnd_prom_cmp(const void *a, const void *b)
{
	const FndPromSeries *x = (const FndPromSeries *) a;
	const FndPromSeries *y = (const FndPromSeries *) b;
	int			c;

	c = strcmp(x->name, y->name);
	if (c != 0)
		return c;
	c = strcmp(x->labels, y->labels);
	if (c != 0)
		return c;
	/* ties (names that sanitise alike): the original name decides */
	return strcmp(x->row->key.name, y->row->key.name);
}

/* One sample line: name[suffix]{labels[,extra]} value */
static void
fnd_prom_sample(StringInfo out, const char *name, const char *suffix,
				const char *labels, const char *extra, double value)
{
	appendStringInfoString(out, name);
	appendStringInfoString(out, suffix);
	if (labels[0] != '\0' || extra != NULL)
	{
		appendStringInfoChar(out, '{');
		appendStringInfoString(out, labels);
		if (extra != NULL)
		{
			if (labels[0] != '\0')
				appendStringInfoChar(out, ',');
			appendStringInfoString(out, extra);
		}
		appendStringInfoChar(out, '}');
	}
	appendStringInfoChar(out, ' ');
	fnd_prom_value(out, value);
	appendStringInfoChar(out, '\n');
}

/*
 * fnd_metrics_prometheus(): the current database's series.  Series are
 * grouped by sanitised name, each group with one HELP and one TYPE line.
 * Counters and gauges are samples, histograms summaries (quantile labels,
 * _sum and _count).  Where two names sanitise to the same one, a series
 * whose kind or label set clashes with the first is left out, so the output
 * always parses.
 */
PG_FUNCTION_INFO_V1(fnd_metrics_prometheus);
Datum
fnd_metrics_prometheus(PG_FUNCTION_ARGS)
{
	FndMetricRow *rows;
	FndPromSeries *ser;
	int			n;
	int			i;
	StringInfoData out;
	const char *group = NULL;
	int			group_kind = 0;
	const FndPromSeries *prev = NULL;

	fnd_require_shmem();
	rows = fnd_snapshot(&n);
	ser = palloc(sizeof(FndPromSeries) * n);
	for (i = 0; i < n; i++)
	{
		StringInfoData nm;

		initStringInfo(&nm);
		fnd_prom_name(&nm, rows[i].key.name, rows[i].key.name_len);
		ser[i].row = &rows[i];
		ser[i].name = nm.data;
		ser[i].labels = fnd_prom_labels(&rows[i].key);
	}
	qsort(ser, n, sizeof(FndPromSeries), fnd_prom_cmp);

	initStringInfo(&out);
	for (i = 0; i < n; i++)
	{
		FndPromSeries *s = &ser[i];
		FndMetricRow *r = s->row;

		if (group == NULL || strcmp(group, s->name) != 0)
		{
			group = s->name;
			group_kind = r->kind;
			prev = NULL;
			appendStringInfo(&out, "# HELP %s foundation %s ", s->name,
							 fnd_kind_names[r->kind]);
			fnd_prom_escape(&out, r->key.name, r->key.name_len, false);
			appendStringInfoChar(&out, '\n');
			appendStringInfo(&out, "# TYPE %s %s\n", s->name,
							 r->kind == FND_HISTOGRAM ? "summary" : fnd_kind_names[r->kind]);
		}
		else if (r->kind != group_kind ||
				 (prev != NULL && strcmp(prev->labels, s->labels) == 0))
			continue;
		prev = s;

		if (r->kind == FND_COUNTER)
			fnd_prom_sample(&out, s->name, "", s->labels, NULL, r->sum);
		else if (r->kind == FND_GAUGE)
			fnd_prom_sample(&out, s->name, "", s->labels, NULL, r->last);
		else
		{
			int			j;

			for (j = 0; j < 4; j++)
			{
				char		extra[32];

				snprintf(extra, sizeof(extra), "quantile=\"%s\"", fnd_quantile_labels[j]);
				fnd_prom_sample(&out, s->name, "", s->labels, extra, r->q[j]);
			}
			fnd_prom_sample(&out, s->name, "_sum", s->labels, NULL, r->sum);
			fnd_prom_sample(&out, s->name, "_count", s->labels, NULL, (double) r->count);
		}
	}

	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}
