/*-------------------------------------------------------------------------
 *
 * alerts.c
 *	  1.2 alerts: the supervisor's "alerts" pass, which runs
 *	  fnd_alerts_evaluate() every foundation.alert_interval, and the
 *	  internal function through which an evaluation stores its
 *	  alert_fired / alert_resolved events with the event store's C API.
 *
 * Rules, instances and the state machine are SQL (the step
 * foundation--1.1--1.2.sql): one set-based query per evaluation reads
 * every rule against every series and returns only the instances whose
 * state changes, so a pass over 1,000 rules and 10,000 series stays in
 * the tens of milliseconds.  The supervisor's pass runs it in its own
 * transaction: the NOTIFYs go out, and the history rows and events are
 * stored, when that transaction commits.  Like the other table services,
 * it acts only while fnd_alert_rules is a member of the extension (a
 * downgrade to 1.1 keeps the table, detached), and not at all while
 * foundation.agent_features is off.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "agents.h"
#include "catalog.h"
#include "events.h"
#include "foundation.h"

#define FND_ALERTS_PLAN_EVALUATE	0

/* foundation.alert_interval, milliseconds; 0: fnd_alerts_evaluate() only */
static int	fnd_alert_interval = 1000;

static TimestampTz fnd_alerts_last = 0;
static int64 fnd_alerts_passes = 0;
static int64 fnd_alerts_transitions = 0;

static FndCatalogTable fnd_alert_rules_table = {.relname = "fnd_alert_rules"};

/*
 * fnd_alerts_store_event(type, data): append an alert event with the event
 * store's C API (events.h), as the extension.  Internal: called by the
 * evaluation for alert_fired and alert_resolved; NULL when this
 * transaction cannot write events (read-only, no fnd_events).
 */
PG_FUNCTION_INFO_V1(fnd_alerts_store_event);
Datum
fnd_alerts_store_event(PG_FUNCTION_ARGS)
{
	char	   *type;

	fnd_require_shmem();
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("alert event type and data must not be null")));
	type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strcmp(type, "alert_fired") != 0 && strcmp(type, "alert_resolved") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("invalid alert event type \"%s\"", type),
				 errdetail("Alert events are alert_fired and alert_resolved.")));
	if (!fnd_events_can_append(fcinfo->flinfo->fn_oid))
		PG_RETURN_NULL();
	PG_RETURN_INT64(fnd_events_append(type, PG_GETARG_JSONB_P(1)));
}

/* Evaluate every rule once; in SPI.  Returns the transitions made. */
static int64
fnd_alerts_run(void)
{
	SPIPlanPtr	plan;
	int			ret;
	bool		isnull;
	Datum		d;

	plan = fnd_catalog_plan(&fnd_alert_rules_table, FND_ALERTS_PLAN_EVALUATE,
							"SELECT @extschema@.fnd_alerts_evaluate()",
							0, NULL, 0);
	ret = fnd_catalog_execute(&fnd_alert_rules_table, plan, NULL, NULL,
							  false, 1, true);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "evaluating alerts failed: %s", SPI_result_code_string(ret));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt32(d);
}

/* One pass, when foundation.alert_interval has passed since the last. */
static bool
fnd_alerts_periodic(void)
{
	TimestampTz now = GetCurrentTimestamp();
	char		detail[FND_STATUS_TEXT];
	int64		n;

	if (fnd_alerts_last != 0 &&
		now - fnd_alerts_last < (int64) fnd_alert_interval * 1000)
		return false;
	if (!fnd_catalog_find(&fnd_alert_rules_table, InvalidOid, true))
		return false;
	/* a table a downgrade left behind is the user's: no 1.2 functions */
	if (!OidIsValid(getExtensionOfObject(RelationRelationId,
										 fnd_alert_rules_table.relid)))
		return false;
	fnd_alerts_last = now;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	n = fnd_alerts_run();
	SPI_finish();

	fnd_alerts_passes++;
	fnd_alerts_transitions += n;
	snprintf(detail, sizeof(detail),
			 "last pass made " INT64_FORMAT " transitions; " INT64_FORMAT " passes, " INT64_FORMAT " transitions since start",
			 n, fnd_alerts_passes, fnd_alerts_transitions);
	fnd_service_set_detail(detail);
	return false;
}

static bool
fnd_alerts_enabled(void)
{
	return fnd_agent_features && fnd_alert_interval > 0;
}

static void
fnd_alerts_define_settings(bool preloading)
{
	DefineCustomIntVariable("foundation.alert_interval",
							"Time between two evaluations of the alert rules by the supervisor; 0 turns them off.",
							"Each database's worker evaluates its rules, from version 1.2; "
							"it wakes every foundation.supervisor_naptime, so a shorter interval acts as that.",
							&fnd_alert_interval,
							1000,
							0,
							INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
}

const FndService fnd_alerts_service = {
	.name = "alerts",
	.phase = 2,
	.depends_on = "",
	.uses_tables = true,
	.define_settings = fnd_alerts_define_settings,
	.periodic = fnd_alerts_periodic,
	.enabled = fnd_alerts_enabled,
};
