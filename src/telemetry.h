/*-------------------------------------------------------------------------
 *
 * telemetry.h
 *	  Internals shared by the telemetry files: the metric table and its
 *	  entries (telemetry.c), the dump file that keeps them across a clean
 *	  restart (telemetry_file.c) and the Prometheus output (prometheus.c).
 *
 * The self-instrumentation API other subsystems use is in foundation.h;
 * nothing outside the telemetry files includes this header.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_TELEMETRY_H
#define FND_TELEMETRY_H

#include "foundation.h"

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/hsearch.h"

#include "sketch.h"

/* Canonical text of a tag object, NUL included, at most this many bytes. */
#define FND_TAGS_BUFSZ		256

/* The server-wide count of dropped measurements, shown as a series. */
#define FND_DROPPED_NAME	"foundation.telemetry.dropped"

typedef enum FndMetricKind
{
	FND_COUNTER = 1,
	FND_GAUGE = 2,
	FND_HISTOGRAM = 3
} FndMetricKind;

#define FND_KIND_MAX		FND_HISTOGRAM

/* "counter", "gauge", "histogram", indexed by FndMetricKind */
extern const char *const fnd_kind_names[];

/*
 * A series is (database, name, tags).  The database comes first so that
 * the dropped-database sweep (dbtable.c) can read it from any entry.
 * 1.2's per-agent series are ordinary series with an agent_id tag.
 */
typedef struct FndMetricKey
{
	Oid			dbid;
	uint16		name_len;
	uint16		tags_len;		/* 0: no tags */
	char		name[FND_NAME_BUFSZ];
	char		tags[FND_TAGS_BUFSZ];	/* canonical jsonb text, zero-padded */
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
	/*
	 * Changes of the table's structure (insert, remove, sketch pool) in
	 * progress.  Non-zero when the postmaster saves the table means a
	 * backend was stopped in the middle of one (immediate shutdown): the
	 * table may be inconsistent and is not saved.
	 */
	pg_atomic_uint32 changing;
	pg_atomic_uint64 dropped;
	pg_atomic_uint64 last_warning;	/* TimestampTz of the last WARNING */
} FndTelemetryShared;

/* The quantiles every histogram reports. */
#define FND_QUANTILES		4
extern const double fnd_quantiles[FND_QUANTILES];

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
	TimestampTz updated_at;		/* DT_NOBEGIN: none kept */
	double		q[FND_QUANTILES];	/* p50, p90, p95, p99 */
	FndSketch  *sketch;			/* a copy, when asked for (histograms) */
} FndMetricRow;

/* telemetry.c: settings and shared state (NULL without the preload) */
extern int	fnd_max_metrics;
extern int	fnd_max_histograms;
extern bool fnd_telemetry_save;
extern FndTelemetryShared *fnd_tel;
extern HTAB *fnd_metrics_htab;
extern FndSketchSlot *fnd_sketches;

/* telemetry.c: the sketch pool; the table lock held exclusively */
extern int	fnd_sketch_slot_take(void);
extern void fnd_sketch_slot_give(int slot);

/*
 * telemetry.c: copy every series of database dbid (every database when
 * InvalidOid), plus the dropped counter as a last row.  With sketches,
 * histogram rows carry a copy of their sketch (to merge them).
 */
extern FndMetricRow *fnd_telemetry_snapshot(Oid dbid, bool sketches,
											int *nrows);
extern Datum fnd_tags_datum(const FndMetricKey *key);

/*
 * telemetry.c: record one measurement (never raises; a refused one is
 * counted as dropped, with a WARNING for SQL callers).  tags NULL: none.
 */
extern void fnd_telemetry_record(FndMetricKind kind, const char *name,
								 int name_len, Jsonb *tags, double value,
								 bool from_sql);

/* telemetry_file.c: the postmaster saves at exit and loads at creation */
#define FND_TELEMETRY_FILE	"pg_stat/foundation_telemetry.stat"
extern void fnd_telemetry_file_save(int code, Datum arg);
extern void fnd_telemetry_file_load(void);

#endif							/* FND_TELEMETRY_H */
