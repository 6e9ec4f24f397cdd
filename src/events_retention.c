/*-------------------------------------------------------------------------
 *
 * events_retention.c
 *	  The event store's service: foundation.event_retention and the
 *	  supervisor's "events" pass that deletes older events.
 *
 * When foundation.event_retention is set, the supervisor's "events"
 * service deletes events older than that, at most FND_EVENTS_PRUNE_BATCH
 * rows per pass, each pass in its own transaction, so no lock or snapshot
 * is held for long.  It never queues behind a lock on the table (which
 * would stall every writer queued behind it): if the table is locked
 * against it, the pass is skipped.  The DELETE runs as the table's owner
 * (catalog.c), not as the supervisor's superuser, and names every object
 * and operator with its schema.
 *
 * No shared memory: everything here lives in the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/pg_type.h"
#include "storage/lmgr.h"
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "events_writer.h"

/* Rows the retention service deletes per pass (per transaction). */
#define FND_EVENTS_PRUNE_BATCH	1000

/* foundation.event_retention, in seconds; 0 means keep events forever. */
static int	fnd_event_retention = 0;

/* Events the retention service removed since the supervisor started. */
static int64 fnd_events_pruned_total = 0;

/*
 * Retention: one pass deletes at most FND_EVENTS_PRUNE_BATCH events older
 * than foundation.event_retention, oldest first.  Runs in the supervisor's
 * transaction; returns true when a full batch went, so more may remain.
 */
static bool
fnd_events_periodic(void)
{
	TimestampTz cutoff;
	char		detail[FND_STATUS_TEXT];
	uint64		n;

	if (fnd_event_retention <= 0)
		return false;
	cutoff = GetCurrentTimestamp() - (TimestampTz) fnd_event_retention * USECS_PER_SEC;

	if (!fnd_catalog_find(&fnd_events_table, InvalidOid, true))
		return false;

	/*
	 * Never wait in the lock queue: a pass stuck behind an ALTER TABLE would
	 * hold up every writer that queues behind it.  Skip and try next time.
	 */
	if (!ConditionalLockRelationOid(fnd_events_table.relid, RowExclusiveLock))
	{
		fnd_service_set_detail("skipped a pass: fnd_events is locked by another session");
		return false;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = fnd_catalog_prune(&fnd_events_table, FND_EVENTS_PLAN_PRUNE, "id",
						  "\"timestamp\"", FND_EVENTS_PRUNE_BATCH, cutoff);
	SPI_finish();

	fnd_events_pruned_total += n;
	snprintf(detail, sizeof(detail),
			 "last pass removed " UINT64_FORMAT " events older than %s; " INT64_FORMAT " since start",
			 n, timestamptz_to_str(cutoff), fnd_events_pruned_total);
	fnd_service_set_detail(detail);
	if (n > 0)
		fnd_telemetry_count("foundation.events.pruned", n);

	return n == FND_EVENTS_PRUNE_BATCH;
}

static bool
fnd_events_enabled(void)
{
	return fnd_event_retention > 0;
}

static void
fnd_events_define_settings(bool preloading)
{
	DefineCustomIntVariable("foundation.event_retention",
							"Age past which the supervisor deletes events; 0 keeps them forever.",
							"Deleted in batches of 1000 rows, oldest first, in foundation.database.",
							&fnd_event_retention,
							0,
							0,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

const FndService fnd_events_service = {
	.name = "events",
	.phase = 2,
	.depends_on = "",
	.uses_tables = true,
	.define_settings = fnd_events_define_settings,
	.periodic = fnd_events_periodic,
	.enabled = fnd_events_enabled,
};
