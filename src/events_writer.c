/*-------------------------------------------------------------------------
 *
 * events_writer.c
 *	  The one writer into fnd_events.  fnd_store_event(s), the C interface
 *	  of events.h (consensus decisions) and everything a later version adds
 *	  write through fnd_events_write() and nowhere else.
 *
 * The row it writes is described once, in fnd_events_columns: each
 * column's name, type, how its value is produced, NOT NULL and default, in
 * attnum order.  Both paths below follow that description, and a version
 * that adds columns adds them there (and their values to FndEventRow).
 * One library serves every version's table: the live table has either the
 * 1.0 columns or all of them (1.2), and the writer writes the columns it
 * has (fnd_events_live_columns).
 *
 * The direct path.  While the live table matches the description exactly
 * (the same columns with the same types, attnums, NOT NULLs and defaults,
 * no other column but dropped ones after them, and nothing the path cannot
 * reproduce: no triggers, rules, row security, CHECK constraints, generated
 * columns or deferred unique indexes), a row is written the way COPY FROM
 * writes one: a heap insert plus its index entries, with the id drawn from
 * the identity sequence and the timestamp from the clock, exactly what the
 * INSERT statement would store.  Planning
 * and starting an executor for a one-row INSERT costs more than the insert
 * itself; this is what lets fnd_store_event keep up with a plain INSERT.
 * Whether the table matches is decided again after every invalidation of
 * its relcache entry (see catalog.c), so adding a trigger, rule, policy,
 * constraint, column or default switches paths at once, and removing it
 * switches back.
 *
 * The fallback.  Otherwise one INSERT ... SELECT FROM unnest(...) of the
 * described columns whose values the caller gives, prepared once per
 * session and kept: an ordinary INSERT, so it does whatever the table now
 * asks for (runs triggers and rules, checks policies and constraints,
 * fills defaults).  Ids are drawn the same way, so both paths give the same
 * ids in the same order.
 *
 * Both paths write as the table's owner (catalog.c): PUBLIC has no INSERT
 * privilege on fnd_events, which is written only through functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_attribute.h"
#include "catalog/dependency.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "rewrite/rewriteHandler.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "events_writer.h"
#include "events_horizon.h"

/* How the writer produces a column's value. */
typedef enum FndEventsValue
{
	FND_EVENTS_VALUE_ID,		/* drawn from the column's identity sequence */
	FND_EVENTS_VALUE_TYPE,		/* FndEventRow.type */
	FND_EVENTS_VALUE_DATA,		/* FndEventRow.data */
	FND_EVENTS_VALUE_CLOCK,		/* the clock at the insert: the default */
	FND_EVENTS_VALUE_AGENT_CONTEXT, /* FndEventRow.agent_context (1.2) */
	FND_EVENTS_VALUE_CORRELATION_ID,	/* FndEventRow.correlation_id (1.2) */
	FND_EVENTS_VALUE_METADATA	/* FndEventRow.metadata, NULL giving {} (1.2) */
} FndEventsValue;

/* The default a column must have for the direct path. */
typedef enum FndEventsDefault
{
	FND_EVENTS_DEFAULT_NONE,
	FND_EVENTS_DEFAULT_IDENTITY,	/* GENERATED ALWAYS AS IDENTITY */
	FND_EVENTS_DEFAULT_EMPTY_OBJECT,	/* '{}'::jsonb */
	FND_EVENTS_DEFAULT_CLOCK	/* clock_timestamp() */
} FndEventsDefault;

typedef struct FndEventsColumn
{
	const char *name;
	Oid			type;			/* typmod -1, the type's default collation */
	FndEventsValue value;
	bool		not_null;
	FndEventsDefault def;
} FndEventsColumn;

/*
 * fnd_events in attnum order (dropped columns aside): the 1.0 columns of
 * events.sql, then those foundation--1.1--1.2.sql adds.  The same library
 * runs against a 1.0/1.1 table until ALTER EXTENSION UPDATE (and after a
 * downgrade), so the live table may have only the first
 * FND_EVENTS_NCOLUMNS_1_0 of them; both paths then write only those.
 */
static const FndEventsColumn fnd_events_columns[] = {
	{"id", INT8OID, FND_EVENTS_VALUE_ID, true, FND_EVENTS_DEFAULT_IDENTITY},
	{"type", TEXTOID, FND_EVENTS_VALUE_TYPE, true, FND_EVENTS_DEFAULT_NONE},
	{"data", JSONBOID, FND_EVENTS_VALUE_DATA, true, FND_EVENTS_DEFAULT_EMPTY_OBJECT},
	{"timestamp", TIMESTAMPTZOID, FND_EVENTS_VALUE_CLOCK, true, FND_EVENTS_DEFAULT_CLOCK},
	/* 1.2 */
	{"agent_context", JSONBOID, FND_EVENTS_VALUE_AGENT_CONTEXT, false, FND_EVENTS_DEFAULT_NONE},
	{"correlation_id", TEXTOID, FND_EVENTS_VALUE_CORRELATION_ID, false, FND_EVENTS_DEFAULT_NONE},
	{"metadata", JSONBOID, FND_EVENTS_VALUE_METADATA, false, FND_EVENTS_DEFAULT_EMPTY_OBJECT},
};

#define FND_EVENTS_NCOLUMNS ((int) lengthof(fnd_events_columns))
#define FND_EVENTS_NCOLUMNS_1_0 4

/*
 * Recomputed after every invalidation of the table's relcache entry: how
 * many of the described columns the live table has (by name, in order:
 * FND_EVENTS_NCOLUMNS_1_0 or FND_EVENTS_NCOLUMNS), whether the direct path
 * matches it, and there at which position of the tuple descriptor each
 * described column is (a downgrade and upgrade leave dropped columns
 * between them).
 */
static bool fnd_events_shape_known = false;
static bool fnd_events_shape_matches = false;
static int	fnd_events_live_columns = FND_EVENTS_NCOLUMNS_1_0;
static int	fnd_events_attidx[FND_EVENTS_NCOLUMNS];
static Oid	fnd_events_seq = InvalidOid;	/* the id column's sequence */

static void
fnd_events_table_changed(void)
{
	fnd_events_shape_known = false;
	fnd_events_seq = InvalidOid;
}

FndCatalogTable fnd_events_table = {
	.relname = "fnd_events",
	.changed = fnd_events_table_changed,
};

/* ---- does the live table match the description? ------------------------ */

static bool
fnd_events_is_empty_object(Const *c)
{
	Jsonb	   *jb;

	if (c->consttype != JSONBOID || c->constisnull)
		return false;
	jb = DatumGetJsonbP(c->constvalue);
	return JB_ROOT_IS_OBJECT(jb) && !JB_ROOT_IS_SCALAR(jb) &&
		JB_ROOT_COUNT(jb) == 0;
}

static bool
fnd_events_default_matches(Relation rel, Form_pg_attribute att,
						   FndEventsDefault def)
{
	Node	   *expr;

	if (def == FND_EVENTS_DEFAULT_IDENTITY)
		return att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS && !att->atthasdef;
	if (att->attidentity != '\0')
		return false;
	if (def == FND_EVENTS_DEFAULT_NONE)
		return !att->atthasdef;
	if (!att->atthasdef)
		return false;

	expr = build_column_default(rel, att->attnum);
	if (expr == NULL)
		return false;
	if (def == FND_EVENTS_DEFAULT_CLOCK)
		return IsA(expr, FuncExpr) &&
			((FuncExpr *) expr)->funcid == F_CLOCK_TIMESTAMP;
	Assert(def == FND_EVENTS_DEFAULT_EMPTY_OBJECT);
	return IsA(expr, Const) && fnd_events_is_empty_object((Const *) expr);
}

static bool
fnd_events_column_matches(Relation rel, Form_pg_attribute att,
						  const FndEventsColumn *col)
{
	if (att->attisdropped || att->attgenerated != '\0' ||
		strcmp(NameStr(att->attname), col->name) != 0 ||
		att->atttypid != col->type || att->atttypmod != -1 ||
		att->attcollation != get_typcollation(col->type) ||
		att->attnotnull != col->not_null)
		return false;
	return fnd_events_default_matches(rel, att, col->def);
}

/* A deferred unique or exclusion check would need the after-trigger queue. */
static bool
fnd_events_indexes_immediate(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		ok = true;

	foreach(lc, indexes)
	{
		Relation	ind = index_open(lfirst_oid(lc), AccessShareLock);

		if (!ind->rd_index->indimmediate)
			ok = false;
		index_close(ind, AccessShareLock);
	}
	list_free(indexes);
	return ok;
}

/*
 * How many of the described columns the live table has: the 1.2 ones count
 * only if the table has the first of them (by name).  The fallback names
 * the given columns among those.
 */
static int
fnd_events_count_live_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped &&
			strcmp(NameStr(att->attname),
				   fnd_events_columns[FND_EVENTS_NCOLUMNS_1_0].name) == 0)
			return FND_EVENTS_NCOLUMNS;
	}
	return FND_EVENTS_NCOLUMNS_1_0;
}

/*
 * May rows go into rel directly, with the same result as the INSERT?  Only
 * if its live columns are, in order, the first fnd_events_live_columns of
 * fnd_events_columns exactly (recording where each is), and it has nothing
 * else that an INSERT would run or check.
 */
static bool
fnd_events_matches_description(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			c = 0;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		rel->rd_rules != NULL || rel->rd_rel->relrowsecurity ||
		rel->rd_rel->relforcerowsecurity)
		return false;
	if (desc->constr &&
		(desc->constr->num_check > 0 || desc->constr->has_generated_stored))
		return false;
	/* columns added later and dropped again leave only their attnums */
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (c >= fnd_events_live_columns ||
			!fnd_events_column_matches(rel, att, &fnd_events_columns[c]))
			return false;
		fnd_events_attidx[c++] = i;
	}
	if (c != fnd_events_live_columns)
		return false;
	return fnd_events_indexes_immediate(rel);
}

/* ---- values ------------------------------------------------------------- */

/* '{}', built once per session. */
static Jsonb *
fnd_events_empty_object(void)
{
	static Jsonb *empty = NULL;

	if (empty == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);
		JsonbValue	v;

		v.type = jbvObject;
		v.val.object.nPairs = 0;
		v.val.object.pairs = NULL;
		empty = JsonbValueToJsonb(&v);
		MemoryContextSwitchTo(oldcxt);
	}
	return empty;
}

/* The value the description says column col of row gets. */
static Datum
fnd_events_value(const FndEventsColumn *col, const FndEventRow *row,
				 int64 id, bool *isnull)
{
	*isnull = false;
	switch (col->value)
	{
		case FND_EVENTS_VALUE_ID:
			return Int64GetDatum(id);
		case FND_EVENTS_VALUE_TYPE:
			return PointerGetDatum(row->type);
		case FND_EVENTS_VALUE_DATA:
			return JsonbPGetDatum(row->data);
		case FND_EVENTS_VALUE_CLOCK:
			/* clock_timestamp(), the column's default */
			return TimestampTzGetDatum(GetCurrentTimestamp());
		case FND_EVENTS_VALUE_AGENT_CONTEXT:
			*isnull = row->agent_context == NULL;
			return PointerGetDatum(row->agent_context);
		case FND_EVENTS_VALUE_CORRELATION_ID:
			*isnull = row->correlation_id == NULL;
			return PointerGetDatum(row->correlation_id);
		case FND_EVENTS_VALUE_METADATA:
			/* never NULL: NULL metadata marks a row written before 1.2 */
			if (row->metadata == NULL)
				return JsonbPGetDatum(fnd_events_empty_object());
			return JsonbPGetDatum(row->metadata);
	}
	elog(ERROR, "unknown value source %d for column %s of fnd_events",
		 (int) col->value, col->name);
	return (Datum) 0;
}

/* Does the statement give this column, or leave it to its default? */
static bool
fnd_events_given(const FndEventsColumn *col)
{
	return col->value != FND_EVENTS_VALUE_CLOCK;
}

/* Draw n ids from the id column's identity sequence, in order. */
static void
fnd_events_draw_ids(Relation rel, int n, int64 *ids)
{
	int			i;

	if (!OidIsValid(fnd_events_seq))
	{
		Oid			relid = RelationGetRelid(rel);
		AttrNumber	attnum = get_attnum(relid, fnd_events_columns[0].name);

		Assert(fnd_events_columns[0].value == FND_EVENTS_VALUE_ID);
		if (attnum != InvalidAttrNumber)
			fnd_events_seq = getIdentitySequence(relid, attnum, true);
		if (!OidIsValid(fnd_events_seq))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column id of fnd_events is not an identity column"),
					 errhint("Restore it with ALTER TABLE fnd_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY.")));
	}
	/* the same values, in the same order, as the column default would give */
	for (i = 0; i < n; i++)
		ids[i] = nextval_internal(fnd_events_seq, false);
}

/* ---- the direct path ------------------------------------------------------ */

/* Insert the rows into rel (which matches the description) as COPY does. */
static void
fnd_events_insert_direct(Relation rel, int n, const FndEventRow *rows,
						 const int64 *ids)
{
	FndCatalogUser save;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	int			i;
	int			c;

	/* as the owner, like the fallback: index expressions run as the owner */
	fnd_catalog_become(rel->rd_rel->relowner, &save);

	estate = CreateExecutorState();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);
	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel),
								  table_slot_callbacks(rel));

	for (i = 0; i < n; i++)
	{
		List	   *recheck;

		ExecClearTuple(slot);
		/* dropped columns stay NULL; the others are where matching found */
		for (c = 0; c < slot->tts_tupleDescriptor->natts; c++)
			slot->tts_isnull[c] = true;
		for (c = 0; c < fnd_events_live_columns; c++)
		{
			int			a = fnd_events_attidx[c];

			slot->tts_values[a] = fnd_events_value(&fnd_events_columns[c],
												   &rows[i], ids[i],
												   &slot->tts_isnull[a]);
		}
		ExecStoreVirtualTuple(slot);

		table_tuple_insert(rel, slot, estate->es_output_cid, 0, NULL);
		recheck = ExecInsertIndexTuples(rri, slot, estate, false, false,
										NULL, NIL);
		Assert(recheck == NIL); /* only immediate unique indexes */
		list_free(recheck);
		ResetPerTupleExprContext(estate);
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	fnd_catalog_restore(&save);
}

/* ---- the fallback ----------------------------------------------------------- */

/*
 * INSERT INTO fnd_events (<given columns>) OVERRIDING SYSTEM VALUE
 * SELECT ... FROM ROWS FROM (unnest($1), unnest($2), ...), built once from
 * the description for each shape of the live table (ncolumns).
 */
static const char *
fnd_events_insert_sql(int ncolumns)
{
	static char *sqls[2] = {NULL, NULL};
	int			shape = ncolumns == FND_EVENTS_NCOLUMNS ? 1 : 0;
	char	   *sql = sqls[shape];
	StringInfoData cols;
	StringInfoData unnests;
	StringInfoData aliases;
	int			k = 0;
	int			c;

	if (sql != NULL)
		return sql;
	initStringInfo(&cols);
	initStringInfo(&unnests);
	initStringInfo(&aliases);
	for (c = 0; c < ncolumns; c++)
	{
		const char *sep = k > 0 ? ", " : "";

		if (!fnd_events_given(&fnd_events_columns[c]))
			continue;
		k++;
		appendStringInfo(&cols, "%s%s", sep,
						 quote_identifier(fnd_events_columns[c].name));
		appendStringInfo(&unnests, "%spg_catalog.unnest($%d)", sep, k);
		appendStringInfo(&aliases, "%sc%d", sep, k);
	}
	sql = MemoryContextStrdup(TopMemoryContext,
							  psprintf("INSERT INTO @extschema@.fnd_events (%s) OVERRIDING SYSTEM VALUE "
									   "SELECT * FROM ROWS FROM (%s) AS u(%s)",
									   cols.data, unnests.data, aliases.data));
	sqls[shape] = sql;
	return sql;
}

/* One array parameter: column col of every row. */
static Datum
fnd_events_column_array(const FndEventsColumn *col, int n,
						const FndEventRow *rows, const int64 *ids)
{
	Datum	   *elems = palloc(n * sizeof(Datum));
	bool	   *nulls = palloc(n * sizeof(bool));
	int			lbound = 1;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			i;

	for (i = 0; i < n; i++)
		elems[i] = fnd_events_value(col, &rows[i], ids[i], &nulls[i]);
	get_typlenbyvalalign(col->type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, &n, &lbound,
											  col->type, typlen, typbyval,
											  typalign));
}

/* Insert the rows with the kept INSERT statement, as the table's owner. */
static void
fnd_events_insert_spi(Relation rel, int n, const FndEventRow *rows,
					  const int64 *ids)
{
	FndCatalogUser save;
	Datum		values[FND_EVENTS_NCOLUMNS];
	Oid			argtypes[FND_EVENTS_NCOLUMNS];
	int			nargs = 0;
	int			c;
	SPIPlanPtr	plan;
	int			rc;

	for (c = 0; c < fnd_events_live_columns; c++)
	{
		const FndEventsColumn *col = &fnd_events_columns[c];

		if (!fnd_events_given(col))
			continue;
		values[nargs] = fnd_events_column_array(col, n, rows, ids);
		argtypes[nargs] = get_array_type(col->type);
		nargs++;
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = fnd_catalog_plan(&fnd_events_table,
							fnd_events_live_columns == FND_EVENTS_NCOLUMNS ?
							FND_EVENTS_PLAN_INSERT_1_2 : FND_EVENTS_PLAN_INSERT,
							fnd_events_insert_sql(fnd_events_live_columns),
							nargs, argtypes, 0);
	fnd_catalog_become(rel->rd_rel->relowner, &save);
	rc = fnd_catalog_execute(&fnd_events_table, plan, values, NULL,
							 false, 0, false);
	fnd_catalog_restore(&save);
	if (rc != SPI_OK_INSERT || SPI_processed != (uint64) n)
		elog(ERROR, "inserting into fnd_events stored " UINT64_FORMAT " of %d rows: %s",
			 SPI_processed, n, SPI_result_code_string(rc));
	SPI_finish();
}

/* ---- the writer ------------------------------------------------------------ */

void
fnd_events_write(int n, const FndEventRow *rows, int64 *ids)
{
	Relation	rel;
	bool		direct;

	Assert(OidIsValid(fnd_events_table.relid));
	if (n <= 0)
		return;
	/* what an INSERT would say; nextval() would refuse less clearly */
	PreventCommandIfReadOnly("INSERT");
	PreventCommandIfParallelMode("INSERT");

	/* opening processes pending invalidations: the shape check is current */
	rel = table_open(fnd_events_table.relid, RowExclusiveLock);
	if (!fnd_events_shape_known)
	{
		fnd_events_live_columns = fnd_events_count_live_columns(rel);
		fnd_events_shape_matches = fnd_events_matches_description(rel);
		fnd_events_shape_known = true;
	}
	direct = fnd_events_shape_matches;

	fnd_horizon_reserve();		/* before an id exists: gap-free readers */
	fnd_events_draw_ids(rel, n, ids);
	fnd_horizon_record(n, ids);
	if (direct)
		fnd_events_insert_direct(rel, n, rows, ids);
	else
		fnd_events_insert_spi(rel, n, rows, ids);
	table_close(rel, NoLock);

	fnd_telemetry_count("foundation.events.stored", n);
	if (!direct)
		fnd_telemetry_count("foundation.events.fallback", n);
}
