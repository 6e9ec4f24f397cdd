/*-------------------------------------------------------------------------
 *
 * events_migration.c
 *	  The supervisor's "events_migration" service: converts the events
 *	  written before 1.2 in place, in batches, then builds the 1.2 indexes
 *	  concurrently.  Settings foundation.migration_batch_size and
 *	  foundation.migration_max_rows_per_second.
 *
 * The step to 1.2 converts a small table itself; for a bigger one it
 * leaves a row in fnd_migration_state: upto_id, the last id written before
 * the step (every later row is written with metadata).  Each pass, in its
 * own transaction, converts the next batch of ids from next_id on with
 * fnd_event_lazy (the one definition of the conversion, so a row migrated
 * reads exactly as it read before) and advances next_id and rows_done in
 * the same transaction: a restart resumes at next_id, redoing nothing.
 * The UPDATE takes only RowExclusiveLock, which never blocks inserts, and
 * the pass is skipped rather than queued behind a stronger lock (an ALTER
 * TABLE), which would stall every writer queued behind it.  Throttling
 * sleeps between batches, outside any row lock of the table.
 *
 * Then the indexes: CREATE INDEX CONCURRENTLY cannot run in a transaction
 * block, so the pass commits the supervisor's transaction, runs it as a
 * top-level statement (as a session's simple query would) and starts a
 * new transaction for the supervisor to commit.  An index left invalid by
 * an interrupted build is dropped concurrently and built again.  Until the
 * indexes are valid, the queries are correct without them (sequential
 * scans); once both are, the table's catalog is what a fresh install has.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "foundation.h"
#include "events_writer.h"

#define FND_MIGRATION_NAME		"events_1_2"

/* foundation.migration_batch_size, foundation.migration_max_rows_per_second */
static int	fnd_migration_batch_size = 5000;
static int	fnd_migration_max_rate = 50000;

/* The earliest time the next batch may start (throttling). */
static TimestampTz fnd_migration_next_batch = 0;

/* Plans on the state table; the conversion's are on fnd_events. */
static FndCatalogTable fnd_migration_table = {.relname = "fnd_migration_state"};
static FndCatalogTable fnd_migration_events = {.relname = "fnd_events"};

#define FND_MIGRATION_PLAN_READ		0	/* on fnd_migration_table */
#define FND_MIGRATION_PLAN_SAVE		1	/* on fnd_migration_table */
#define FND_MIGRATION_PLAN_BATCH	0	/* on fnd_migration_events */
#define FND_MIGRATION_PLAN_TOTAL	1	/* on fnd_migration_events */

/*
 * The 1.2 indexes, as foundation--1.1--1.2.sql creates them: columns and
 * predicate.  Partial, so that an event without an agent or a correlation
 * id (most 1.0 traffic) adds no entry; a query for one value implies the
 * predicate.
 */
static const struct
{
	const char *name;
	const char *columns;
}			fnd_migration_indexes[] = {
	{"fnd_events_correlation_idx", "(correlation_id, id) WHERE correlation_id IS NOT NULL"},
	{"fnd_events_agent_idx", "((agent_context OPERATOR(pg_catalog.->>) 'agent_id'), id) "
	"WHERE (agent_context OPERATOR(pg_catalog.->>) 'agent_id') IS NOT NULL"},
};

/* The state row, as one pass reads it. */
typedef struct FndMigrationState
{
	char		phase[16];
	bool		paused;
	int64		upto_id;
	int64		next_id;
	int64		rows_done;
	bool		has_total;
	int64		rows_total;
	bool		started;
} FndMigrationState;

/* ---- the state row -------------------------------------------------------- */

/* Read the unfinished migration's row; false if there is none.  In SPI. */
static bool
fnd_migration_read(FndMigrationState *st)
{
	SPIPlanPtr	plan;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	int			rc;

	plan = fnd_catalog_plan(&fnd_migration_table, FND_MIGRATION_PLAN_READ,
							"SELECT phase, paused, upto_id, next_id, rows_done, rows_total, "
							"started_at IS NOT NULL FROM @extschema@.fnd_migration_state "
							"WHERE name OPERATOR(pg_catalog.=) '" FND_MIGRATION_NAME "' "
							"AND phase OPERATOR(pg_catalog.<>) 'done'",
							0, NULL, 0);
	rc = fnd_catalog_execute(&fnd_migration_table, plan, NULL, NULL,
							 true, 1, true);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading fnd_migration_state failed: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	strlcpy(st->phase, TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull)),
			sizeof(st->phase));
	st->paused = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	st->upto_id = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
	st->next_id = DatumGetInt64(SPI_getbinval(tup, desc, 4, &isnull));
	st->rows_done = DatumGetInt64(SPI_getbinval(tup, desc, 5, &isnull));
	st->rows_total = DatumGetInt64(SPI_getbinval(tup, desc, 6, &isnull));
	st->has_total = !isnull;
	st->started = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
	return true;
}

/*
 * Save the progress of one pass: the phase, next_id, rows_done (and
 * rows_total, the rate, start and finish times as given).  In SPI.
 */
static void
fnd_migration_save(const FndMigrationState *st, double rate)
{
	Oid			argtypes[5] = {TEXTOID, INT8OID, INT8OID, INT8OID, FLOAT8OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	SPIPlanPtr	plan;
	int			rc;

	values[0] = CStringGetTextDatum(st->phase);
	values[1] = Int64GetDatum(st->next_id);
	values[2] = Int64GetDatum(st->rows_done);
	values[3] = Int64GetDatum(st->rows_total);
	if (!st->has_total)
		nulls[3] = 'n';
	values[4] = Float8GetDatum(rate);
	if (rate < 0)
		nulls[4] = 'n';
	plan = fnd_catalog_plan(&fnd_migration_table, FND_MIGRATION_PLAN_SAVE,
							"UPDATE @extschema@.fnd_migration_state SET phase = $1, "
							"next_id = $2, rows_done = $3, rows_total = $4, "
							"rows_per_second = COALESCE($5, rows_per_second), "
							"started_at = COALESCE(started_at, pg_catalog.now()), "
							"finished_at = CASE WHEN $1 OPERATOR(pg_catalog.=) 'done' "
							"THEN pg_catalog.now() END "
							"WHERE name OPERATOR(pg_catalog.=) '" FND_MIGRATION_NAME "'",
							5, argtypes, 0);
	rc = fnd_catalog_execute(&fnd_migration_table, plan, values, nulls,
							 false, 0, true);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "updating fnd_migration_state failed: %s",
			 SPI_result_code_string(rc));
}

/* rows_total: the old rows still to convert when the migration starts. */
static int64
fnd_migration_count(const FndMigrationState *st)
{
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		values[2];
	SPIPlanPtr	plan;
	bool		isnull;
	int			rc;

	values[0] = Int64GetDatum(st->next_id);
	values[1] = Int64GetDatum(st->upto_id);
	plan = fnd_catalog_plan(&fnd_migration_events, FND_MIGRATION_PLAN_TOTAL,
							"SELECT pg_catalog.count(*) FROM @extschema@.fnd_events e "
							"WHERE e.id OPERATOR(pg_catalog.>=) $1 AND e.id OPERATOR(pg_catalog.<=) $2 "
							"AND e.metadata IS NULL",
							2, argtypes, 0);
	rc = fnd_catalog_execute(&fnd_migration_events, plan, values, NULL,
							 true, 1, true);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "counting fnd_events failed: %s", SPI_result_code_string(rc));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
}

/* ---- converting --------------------------------------------------------- */

/*
 * Convert the next batch: the first batch_size ids from next_id up to
 * upto_id.  Sets *last_id to the batch's highest id (0 when the range is
 * exhausted) and returns the rows converted.  In SPI.
 */
static int64
fnd_migration_batch(const FndMigrationState *st, int64 *last_id)
{
	Oid			argtypes[3] = {INT8OID, INT8OID, INT4OID};
	Datum		values[3];
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;
	int			rc;

	values[0] = Int64GetDatum(st->next_id);
	values[1] = Int64GetDatum(st->upto_id);
	values[2] = Int32GetDatum(fnd_migration_batch_size);
	plan = fnd_catalog_plan(&fnd_migration_events, FND_MIGRATION_PLAN_BATCH,
							"WITH b AS (SELECT e.id FROM @extschema@.fnd_events e "
							"WHERE e.id OPERATOR(pg_catalog.>=) $1 AND e.id OPERATOR(pg_catalog.<=) $2 "
							"ORDER BY e.id LIMIT $3), "
							"u AS (UPDATE @extschema@.fnd_events e SET "
							"agent_context = (@extschema@.fnd_event_lazy(e)).agent_context, "
							"correlation_id = (@extschema@.fnd_event_lazy(e)).correlation_id, "
							"metadata = '{}'::pg_catalog.jsonb "
							"FROM b WHERE e.id OPERATOR(pg_catalog.=) b.id AND e.metadata IS NULL "
							"RETURNING 1) "
							"SELECT (SELECT pg_catalog.max(b.id) FROM b), "
							"(SELECT pg_catalog.count(*) FROM u)",
							3, argtypes, 0);
	rc = fnd_catalog_execute(&fnd_migration_events, plan, values, NULL,
							 false, 0, true);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "converting fnd_events failed: %s", SPI_result_code_string(rc));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	*last_id = isnull ? 0 : DatumGetInt64(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	return DatumGetInt64(d);
}

/* Wait until the rate allows the next batch (at most a second). */
static void
fnd_migration_throttle(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		ms;

	if (fnd_migration_next_batch <= now)
		return;
	ms = Min((fnd_migration_next_batch - now) / 1000 + 1, 1000);
	(void) WaitLatch(MyLatch, WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, ms,
					 PG_WAIT_EXTENSION);
	CHECK_FOR_INTERRUPTS();
}

/* One batch of the conversion phase; true if more remains. */
static bool
fnd_migration_convert(FndMigrationState *st)
{
	TimestampTz start = GetCurrentTimestamp();
	char		detail[FND_STATUS_TEXT];
	int64		last_id;
	int64		n;
	double		secs;

	if (!st->has_total)
	{
		st->rows_total = st->rows_done + fnd_migration_count(st);
		st->has_total = true;
	}
	n = fnd_migration_batch(st, &last_id);
	if (last_id == 0)
	{
		/* every old row is converted: the indexes are next */
		strlcpy(st->phase, "indexing", sizeof(st->phase));
		fnd_migration_save(st, -1);
		fnd_service_set_detail("converted every old event; building the indexes next");
		return true;
	}
	st->next_id = last_id + 1;
	st->rows_done += n;
	/* rows that arrived converted (restored by the step) were counted */
	if (st->rows_done > st->rows_total)
		st->rows_total = st->rows_done;

	/* the next batch starts no earlier than this batch's share of a second */
	fnd_migration_next_batch = start +
		(TimestampTz) ((double) Max(n, 1) * USECS_PER_SEC / fnd_migration_max_rate);
	secs = (double) (Max(fnd_migration_next_batch, GetCurrentTimestamp()) - start) / USECS_PER_SEC;
	fnd_migration_save(st, secs > 0 ? n / secs : -1);
	if (n > 0)
		fnd_telemetry_count("foundation.events.migrated", n);

	snprintf(detail, sizeof(detail),
			 "converted " INT64_FORMAT " of " INT64_FORMAT " old events (up to id " INT64_FORMAT ")",
			 st->rows_done, st->rows_total, last_id);
	fnd_service_set_detail(detail);
	return true;
}

/* ---- indexing ------------------------------------------------------------ */

/*
 * Run one utility statement top-level, in a transaction of its own.  The
 * parse tree lives in a context of its own, as a simple query's lives in
 * MessageContext: CREATE INDEX CONCURRENTLY commits and starts transactions
 * while it still reads it.
 */
static void
fnd_migration_run_toplevel(const char *sql)
{
	MemoryContext stmtcxt;
	List	   *raw;
	RawStmt    *rs;
	PlannedStmt *ps;

	stmtcxt = AllocSetContextCreate(TopMemoryContext, "foundation migration statement",
									ALLOCSET_DEFAULT_SIZES);
	StartTransactionCommand();
	MemoryContextSwitchTo(stmtcxt);
	raw = pg_parse_query(sql);
	rs = linitial_node(RawStmt, raw);
	ps = makeNode(PlannedStmt);
	ps->commandType = CMD_UTILITY;
	ps->canSetTag = true;
	ps->utilityStmt = rs->stmt;
	ps->stmt_location = rs->stmt_location;
	ps->stmt_len = rs->stmt_len;
	/* as a portal would: CREATE INDEX CONCURRENTLY pops it itself */
	PushActiveSnapshot(GetTransactionSnapshot());
	ProcessUtility(ps, sql, false, PROCESS_UTILITY_TOPLEVEL, NULL, NULL,
				   None_Receiver, NULL);
	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextDelete(stmtcxt);
}

/* 1 valid, 0 absent, -1 present but invalid (an interrupted build). */
static int
fnd_migration_index_state(Oid nsp, const char *name)
{
	Oid			indexoid = get_relname_relid(name, nsp);
	HeapTuple	tup;
	bool		valid;

	if (!OidIsValid(indexoid))
		return 0;
	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
	if (!HeapTupleIsValid(tup))
		return 0;
	valid = ((Form_pg_index) GETSTRUCT(tup))->indisvalid;
	ReleaseSysCache(tup);
	return valid ? 1 : -1;
}

/*
 * The statement that brings the next index closer to valid, or NULL when
 * both are valid.  In the supervisor's transaction.
 */
static char *
fnd_migration_next_index_sql(void)
{
	Oid			nsp = fnd_migration_events.nsp;
	const char *schema = quote_identifier(get_namespace_name(nsp));
	int			i;

	for (i = 0; i < lengthof(fnd_migration_indexes); i++)
	{
		const char *name = fnd_migration_indexes[i].name;
		int			state = fnd_migration_index_state(nsp, name);

		if (state < 0)
			return psprintf("DROP INDEX CONCURRENTLY %s.%s", schema, name);
		if (state == 0)
			return psprintf("CREATE INDEX CONCURRENTLY %s ON %s.fnd_events %s",
							name, schema, fnd_migration_indexes[i].columns);
	}
	return NULL;
}

/*
 * One step of the indexing phase: drop an invalid index or build a
 * missing one, outside the supervisor's transaction; or, with both valid,
 * mark the migration done.  Returns true if more remains.
 */
static bool
fnd_migration_build_index(FndMigrationState *st)
{
	char	   *sql = fnd_migration_next_index_sql();
	char		detail[FND_STATUS_TEXT];

	if (sql == NULL)
	{
		strlcpy(st->phase, "done", sizeof(st->phase));
		fnd_migration_save(st, -1);
		snprintf(detail, sizeof(detail),
				 "done: converted " INT64_FORMAT " old events and built the indexes",
				 st->rows_done);
		fnd_service_set_detail(detail);
		return false;
	}
	snprintf(detail, sizeof(detail), "running: %s", sql);
	fnd_service_set_detail(detail);

	/* leave the supervisor's transaction, run the statement, come back */
	sql = MemoryContextStrdup(TopMemoryContext, sql);
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	fnd_migration_run_toplevel(sql);
	pfree(sql);
	fnd_telemetry_count("foundation.events.migration_index_steps", 1);
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	return true;
}

/* ---- the service ----------------------------------------------------------- */

/*
 * One pass: a batch of the conversion, or a step of the indexing, of the
 * migration recorded in fnd_migration_state; nothing when there is none
 * (a database not at 1.2, or converted by the step itself).
 */
static bool
fnd_migration_periodic(void)
{
	FndMigrationState st;
	bool		more;

	if (!fnd_catalog_find(&fnd_migration_table, InvalidOid, true) ||
		!fnd_catalog_find(&fnd_migration_events, InvalidOid, true))
		return false;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!fnd_migration_read(&st))
	{
		SPI_finish();
		fnd_service_set_detail("no migration pending");
		return false;
	}
	if (st.paused)
	{
		SPI_finish();
		fnd_service_set_detail("paused (fnd_migration_resume continues it)");
		return false;
	}

	if (strcmp(st.phase, "converting") == 0)
	{
		/* never queue behind a stronger lock: writers would queue behind us */
		if (!ConditionalLockRelationOid(fnd_migration_events.relid, RowExclusiveLock))
		{
			SPI_finish();
			fnd_service_set_detail("skipped a pass: fnd_events is locked by another session");
			return false;
		}
		fnd_migration_throttle();
		more = fnd_migration_convert(&st);
	}
	else
		more = fnd_migration_build_index(&st);
	SPI_finish();
	return more;
}

static bool
fnd_migration_enabled(void)
{
	return fnd_migration_max_rate > 0;
}

static void
fnd_migration_define_settings(bool preloading)
{
	DefineCustomIntVariable("foundation.migration_batch_size",
							"Rows the events_migration service converts per transaction.",
							NULL,
							&fnd_migration_batch_size,
							5000,
							1,
							1000000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("foundation.migration_max_rows_per_second",
							"Most rows per second the events_migration service converts; 0 pauses it.",
							NULL,
							&fnd_migration_max_rate,
							50000,
							0,
							INT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
}

const FndService fnd_events_migration_service = {
	.name = "events_migration",
	.phase = 2,
	.depends_on = "",
	.uses_tables = true,
	.define_settings = fnd_migration_define_settings,
	.periodic = fnd_migration_periodic,
	.enabled = fnd_migration_enabled,
};
