/*-------------------------------------------------------------------------
 *
 * metric_history.c
 *	  1.2 metric history: the supervisor's "metric_history" pass, which
 *	  every foundation.metric_history_interval copies every series of the
 *	  database (the rows of fnd_metrics) into fnd_metric_history, and
 *	  deletes rows older than foundation.metric_history_retention.
 *
 * The snapshot is one INSERT ... SELECT from fnd_metrics_list(), all rows
 * stamped with one time, so a chart reads one row per series per
 * snapshot.  Rows are deleted in batches of FND_METRIC_HISTORY_PRUNE_BATCH,
 * oldest first, each pass in its own transaction, never queuing behind a
 * lock on the table.  Like config_history.c, the pass acts only while the
 * table is a member of the extension: a downgrade to 1.1 keeps it,
 * detached, as the user's, and 1.1 neither writes nor prunes it.  The
 * statements run as the table's owner (catalog.c), fully qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "agents.h"
#include "catalog.h"
#include "foundation.h"

#define FND_METRIC_HISTORY_PRUNE_BATCH	5000
#define FND_METRIC_HISTORY_PLAN_SNAPSHOT	0
#define FND_METRIC_HISTORY_PLAN_PRUNE		1

/* foundation.metric_history_interval, seconds; 0: no snapshots */
static int	fnd_metric_history_interval = 60;

/* foundation.metric_history_retention, seconds; 0: keep forever */
static int	fnd_metric_history_retention = 7 * 24 * 3600;

/* This worker's last snapshot; 0 at start: the first comes an interval later */
static TimestampTz fnd_metric_history_last = 0;
static int64 fnd_metric_history_rows_total = 0;
static int64 fnd_metric_history_pruned_total = 0;

static FndCatalogTable fnd_metric_history_table = {.relname = "fnd_metric_history"};

/* Copy every series into the history at ts; in SPI.  Returns the rows. */
static uint64
fnd_metric_history_snapshot(TimestampTz ts)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	int			ret;

	values[0] = TimestampTzGetDatum(ts);
	plan = fnd_catalog_plan(&fnd_metric_history_table, FND_METRIC_HISTORY_PLAN_SNAPSHOT,
							"INSERT INTO @extschema@.fnd_metric_history "
							"(ts, name, tags, kind, count, sum, min, max, last, p50, p90, p95, p99) "
							"SELECT $1, m.name, m.tags, m.kind, m.count, m.sum, m.min, m.max, "
							"m.last, m.p50, m.p90, m.p95, m.p99 "
							"FROM @extschema@.fnd_metrics_list() m "
							"ON CONFLICT DO NOTHING",
							1, argtypes, 0);
	ret = fnd_catalog_execute(&fnd_metric_history_table, plan, values, NULL,
							  false, 0, true);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "writing fnd_metric_history failed: %s",
			 SPI_result_code_string(ret));
	return SPI_processed;
}

/* Is the extension's fnd_metric_history there and ours to write? */
static bool
fnd_metric_history_usable(void)
{
	if (!fnd_catalog_find(&fnd_metric_history_table, InvalidOid, true))
		return false;
	/* a table a downgrade left behind is the user's */
	return OidIsValid(getExtensionOfObject(RelationRelationId,
										   fnd_metric_history_table.relid));
}

/*
 * One pass: a snapshot when an interval has passed since the last one,
 * then at most a batch of rows past the retention.  Returns true when a
 * full batch went, so more may remain.
 */
static bool
fnd_metric_history_periodic(void)
{
	TimestampTz now = GetCurrentTimestamp();
	char		detail[FND_STATUS_TEXT];
	uint64		rows = 0,
				pruned = 0;
	bool		snap;

	if (fnd_metric_history_last == 0)
		fnd_metric_history_last = now;
	snap = fnd_metric_history_interval > 0 &&
		now - fnd_metric_history_last >= (int64) fnd_metric_history_interval * USECS_PER_SEC;
	if (!snap && fnd_metric_history_retention <= 0)
		return false;
	if (!fnd_metric_history_usable())
		return false;
	if (!ConditionalLockRelationOid(fnd_metric_history_table.relid, RowExclusiveLock))
	{
		fnd_service_set_detail("skipped a pass: fnd_metric_history is locked by another session");
		return false;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (snap)
	{
		rows = fnd_metric_history_snapshot(now);
		fnd_metric_history_last = now;
		fnd_metric_history_rows_total += rows;
	}
	if (fnd_metric_history_retention > 0)
		pruned = fnd_catalog_prune(&fnd_metric_history_table,
								   FND_METRIC_HISTORY_PLAN_PRUNE, "ctid", "ts",
								   FND_METRIC_HISTORY_PRUNE_BATCH,
								   now - (TimestampTz) fnd_metric_history_retention * USECS_PER_SEC);
	SPI_finish();

	fnd_metric_history_pruned_total += pruned;
	snprintf(detail, sizeof(detail),
			 "last snapshot at %s; " INT64_FORMAT " rows written, " INT64_FORMAT " pruned since start",
			 timestamptz_to_str(fnd_metric_history_last),
			 fnd_metric_history_rows_total, fnd_metric_history_pruned_total);
	fnd_service_set_detail(detail);
	return pruned == FND_METRIC_HISTORY_PRUNE_BATCH;
}

static bool
fnd_metric_history_enabled(void)
{
	return fnd_agent_features &&
		(fnd_metric_history_interval > 0 || fnd_metric_history_retention > 0);
}

static void
fnd_metric_history_define_settings(bool preloading)
{
	DefineCustomIntVariable("foundation.metric_history_interval",
							"Time between two snapshots of every metric series into fnd_metric_history; 0 turns them off.",
							"Taken by each database's supervisor worker, from version 1.2.",
							&fnd_metric_history_interval,
							60,
							0,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("foundation.metric_history_retention",
							"Age past which the supervisor deletes fnd_metric_history rows; 0 keeps them forever.",
							"Deleted in batches of 5000 rows, oldest first, from version 1.2.",
							&fnd_metric_history_retention,
							7 * 24 * 3600,
							0,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

const FndService fnd_metric_history_service = {
	.name = "metric_history",
	.phase = 2,
	.depends_on = "",
	.uses_tables = true,
	.define_settings = fnd_metric_history_define_settings,
	.periodic = fnd_metric_history_periodic,
	.enabled = fnd_metric_history_enabled,
};
