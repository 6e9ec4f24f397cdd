/*-------------------------------------------------------------------------
 *
 * config_history.c
 *	  The config history's retention (1.1): foundation.config_history_retention
 *	  and the supervisor's "config_history" pass that deletes older rows.
 *
 * History rows are written by a trigger of the 1.1 step (same transaction
 * as the change).  This service deletes those older than the retention, at
 * most FND_CONFIG_HISTORY_PRUNE_BATCH per pass, each pass in its own
 * transaction, never queuing behind a lock on the table.  It acts only
 * while fnd_config_history is a member of the extension: after a downgrade
 * to 1.0 the table is kept but detached, and 1.0 never pruned it.  The
 * DELETE runs as the table's owner (catalog.c), schema- and
 * operator-qualified, like the events' retention.
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

#include "catalog.h"
#include "foundation.h"

#define FND_CONFIG_HISTORY_PRUNE_BATCH	1000
#define FND_CONFIG_HISTORY_PLAN_PRUNE	0

/* foundation.config_history_retention, in seconds; 0 keeps history forever. */
static int	fnd_config_history_retention = 30 * 24 * 3600;

static int64 fnd_config_history_pruned_total = 0;

static FndCatalogTable fnd_config_history_table = {.relname = "fnd_config_history"};

/*
 * One pass: delete at most a batch of history rows older than the
 * retention.  Returns true when a full batch went, so more may remain.
 */
static bool
fnd_config_history_periodic(void)
{
	TimestampTz cutoff;
	char		detail[FND_STATUS_TEXT];
	uint64		n;

	if (fnd_config_history_retention <= 0)
		return false;
	cutoff = GetCurrentTimestamp() -
		(TimestampTz) fnd_config_history_retention * USECS_PER_SEC;

	if (!fnd_catalog_find(&fnd_config_history_table, InvalidOid, true))
		return false;
	/* a table a downgrade left behind is the user's, not ours to prune */
	if (!OidIsValid(getExtensionOfObject(RelationRelationId,
										 fnd_config_history_table.relid)))
		return false;
	if (!ConditionalLockRelationOid(fnd_config_history_table.relid, RowExclusiveLock))
	{
		fnd_service_set_detail("skipped a pass: fnd_config_history is locked by another session");
		return false;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = fnd_catalog_prune(&fnd_config_history_table, FND_CONFIG_HISTORY_PLAN_PRUNE,
						  "id", "changed_at", FND_CONFIG_HISTORY_PRUNE_BATCH, cutoff);
	SPI_finish();

	fnd_config_history_pruned_total += n;
	snprintf(detail, sizeof(detail),
			 "last pass removed " UINT64_FORMAT " history rows older than %s; " INT64_FORMAT " since start",
			 n, timestamptz_to_str(cutoff), fnd_config_history_pruned_total);
	fnd_service_set_detail(detail);
	return n == FND_CONFIG_HISTORY_PRUNE_BATCH;
}

static bool
fnd_config_history_enabled(void)
{
	return fnd_config_history_retention > 0;
}

static void
fnd_config_history_define_settings(bool preloading)
{
	DefineCustomIntVariable("foundation.config_history_retention",
							"Age past which the supervisor deletes config history rows; 0 keeps them forever.",
							"Deleted in batches of 1000 rows, oldest first, in foundation.database, from version 1.1.",
							&fnd_config_history_retention,
							30 * 24 * 3600,
							0,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

const FndService fnd_config_history_service = {
	.name = "config_history",
	.phase = 2,
	.depends_on = "",
	.uses_tables = true,
	.define_settings = fnd_config_history_define_settings,
	.periodic = fnd_config_history_periodic,
	.enabled = fnd_config_history_enabled,
};
