/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The event store's write path (fnd_store_event, fnd_store_events, the C
 *	  interface of events.h) and its retention service.
 *
 * Writes.  PUBLIC may append events but has no INSERT privilege on
 * fnd_events: the table is written only through these functions.  They run
 * as the caller; only the insert itself runs as the table's owner, switched
 * in and out around it the way REFRESH MATERIALIZED VIEW switches to the
 * view's owner (with SECURITY_RESTRICTED_OPERATION).  That is narrower than
 * declaring the whole function SECURITY DEFINER, and cheaper: no
 * search_path GUC to save and restore on every call.  The statements are
 * fixed text with every name schema-qualified, so the caller's search_path
 * cannot redirect them.
 *
 * One event (fnd_store_event, fnd_events_append) takes a direct path while
 * the table is as 1.0 made it: a heap insert plus its index entries, as
 * COPY FROM does, with the id from the identity sequence and the
 * timestamp from the clock, exactly what the INSERT would store.  Planning
 * and starting an executor for a one-row INSERT costs more than the insert
 * itself, and this is what lets fnd_store_event keep up with a plain
 * INSERT.  Whenever the table has anything the direct path does not
 * handle (triggers, rules, row security, CHECK constraints, defaults on
 * added columns, ...), it takes the SPI path, which is an ordinary INSERT
 * and so handles everything; fnd_events_direct_eligible says what is
 * handled and is re-evaluated on every relcache invalidation of the table.
 * A version that adds a nullable column without a default keeps the fast
 * path; one that adds a default should teach it that default.
 *
 * The INSERT plans are prepared once per session and kept (SPI_keepplan).
 * They are tied to the OID of the fnd_events table they were made for; a
 * different OID (the extension was dropped and created again) rebuilds them.
 *
 * Retention.  When foundation.event_retention is set, the supervisor's
 * "events" service deletes events older than that, at most
 * FND_EVENTS_PRUNE_BATCH rows per pass, each pass in its own transaction, so
 * no lock or snapshot is held for long.  It never queues behind a lock on
 * the table (which would stall every writer queued behind it): if the table
 * is locked against it, the pass is skipped.
 *
 * No shared memory: everything here lives in the table.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/genam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/primnodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "events.h"

/* Rows the retention service deletes per pass (per transaction). */
#define FND_EVENTS_PRUNE_BATCH	1000

/* foundation.event_retention, in seconds; 0 means keep events forever. */
static int	fnd_event_retention = 0;

/* Cached per session: the table the plans were made for, and the plans. */
static Oid	fnd_events_fn_oid = InvalidOid;	/* function whose schema we use */
static Oid	fnd_events_relid = InvalidOid;
static Oid	fnd_events_owner = InvalidOid;
static Oid	fnd_events_nsp = InvalidOid;
static Oid	fnd_events_seq = InvalidOid;	/* the id column's identity sequence */

/*
 * The direct path (see fnd_events_insert_direct): usable while the table
 * is as simple as 1.0 made it; recomputed whenever its relcache entry is
 * invalidated (a trigger, rule, policy, constraint, column or index added).
 */
static bool fnd_events_direct = false;
static bool fnd_events_direct_valid = false;
static AttrNumber fnd_events_att_id;
static AttrNumber fnd_events_att_type;
static AttrNumber fnd_events_att_data;
static AttrNumber fnd_events_att_ts;
static bool fnd_events_callback_registered = false;
static SPIPlanPtr fnd_events_one_plan = NULL;
static SPIPlanPtr fnd_events_many_plan = NULL;

/* Events the retention service removed since the supervisor started. */
static int64 fnd_events_pruned_total = 0;

/* The schema the extension lives in, or InvalidOid if it is not created. */
static Oid
fnd_events_extension_namespace(void)
{
	Oid			extoid = get_extension_oid("foundation", true);
	Oid			nsp = InvalidOid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(extoid))
		return InvalidOid;
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * Make the cached plans refer to fnd_events in schema nsp: if that table is
 * not the one they were made for, drop them (they are prepared again on
 * first use).  Remember the table's owner.
 */
static void
fnd_events_target(Oid nsp)
{
	Oid			relid = get_relname_relid("fnd_events", nsp);
	HeapTuple	tup;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table fnd_events of extension foundation does not exist")));
	if (relid != fnd_events_relid)
	{
		if (fnd_events_one_plan)
			SPI_freeplan(fnd_events_one_plan);
		if (fnd_events_many_plan)
			SPI_freeplan(fnd_events_many_plan);
		fnd_events_one_plan = NULL;
		fnd_events_many_plan = NULL;
	}

	/* the owner may have changed (ALTER TABLE OWNER): read it each time */
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	fnd_events_owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	fnd_events_seq = getIdentitySequence(relid, get_attnum(relid, "id"), false);
	fnd_events_relid = relid;
	fnd_events_nsp = nsp;
	fnd_events_direct_valid = false;
}

/*
 * May one event be inserted directly into rel, with the same result as the
 * INSERT statement?  Yes while the table has only what 1.0 gave it: plain
 * heap, no triggers, rules, row security, CHECK constraints or generated
 * columns, immediate unique indexes, the "timestamp" default still
 * clock_timestamp(), and any further column nullable without a default (so
 * NULL is what the INSERT would store).  Anything else takes the SPI path.
 */
static bool
fnd_events_direct_eligible(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *indexes;
	ListCell   *lc;
	int			i;
	bool		ok = true;

	fnd_events_att_id = fnd_events_att_type = 0;
	fnd_events_att_data = fnd_events_att_ts = 0;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		rel->rd_rules != NULL || rel->rd_rel->relrowsecurity)
		return false;
	if (desc->constr &&
		(desc->constr->num_check > 0 || desc->constr->has_generated_stored))
		return false;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *name = NameStr(att->attname);

		if (att->attisdropped)
			continue;
		if (att->attgenerated != '\0')
			return false;
		if (strcmp(name, "id") == 0 && att->attidentity == ATTRIBUTE_IDENTITY_ALWAYS)
			fnd_events_att_id = att->attnum;
		else if (strcmp(name, "type") == 0 && att->atttypid == TEXTOID)
			fnd_events_att_type = att->attnum;
		else if (strcmp(name, "data") == 0 && att->atttypid == JSONBOID)
			fnd_events_att_data = att->attnum;
		else if (strcmp(name, "timestamp") == 0 && att->atttypid == TIMESTAMPTZOID)
		{
			Node	   *def = build_column_default(rel, att->attnum);

			if (def == NULL || !IsA(def, FuncExpr) ||
				((FuncExpr *) def)->funcid != F_CLOCK_TIMESTAMP)
				return false;
			fnd_events_att_ts = att->attnum;
		}
		else if (att->attnotnull || att->atthasdef || att->attidentity != '\0')
			return false;
	}
	if (!fnd_events_att_id || !fnd_events_att_type ||
		!fnd_events_att_data || !fnd_events_att_ts)
		return false;

	/* a deferred unique check would need the after-trigger queue */
	indexes = RelationGetIndexList(rel);
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
 * Insert n events the way COPY FROM inserts rows: heap insert plus index
 * entries, without planning or starting an executor for an INSERT
 * statement, which costs more than the insert itself.  Returns false,
 * having done nothing, when the table is not eligible (see above); the
 * caller then takes the SPI path.  The caller checked types and datas and
 * drew the ids from the identity sequence.
 */
static bool
fnd_events_insert_direct(int n, const int64 *ids, const Datum *types,
						 const Datum *datas)
{
	Relation	rel;
	TupleDesc	desc;
	EState	   *estate;
	ResultRelInfo *rri;
	TupleTableSlot *slot;
	List	   *recheck;
	Oid			save_userid;
	int			save_sec;
	int			i;

	rel = table_open(fnd_events_relid, RowExclusiveLock);
	/* opening may have processed an invalidation: decide afresh if so */
	if (!fnd_events_direct_valid)
	{
		fnd_events_direct = fnd_events_direct_eligible(rel);
		fnd_events_direct_valid = true;
	}
	if (!fnd_events_direct)
	{
		table_close(rel, NoLock);
		return false;
	}

	/* as the owner, like the SPI path: index expressions run as the owner */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(fnd_events_owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);

	desc = RelationGetDescr(rel);
	estate = CreateExecutorState();
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	ExecOpenIndices(rri, false);

	slot = ExecInitExtraTupleSlot(estate, desc, table_slot_callbacks(rel));
	for (i = 0; i < n; i++)
	{
		ExecClearTuple(slot);
		memset(slot->tts_isnull, true, desc->natts * sizeof(bool));
		slot->tts_values[fnd_events_att_id - 1] = Int64GetDatum(ids[i]);
		slot->tts_isnull[fnd_events_att_id - 1] = false;
		slot->tts_values[fnd_events_att_type - 1] = types[i];
		slot->tts_isnull[fnd_events_att_type - 1] = false;
		slot->tts_values[fnd_events_att_data - 1] = datas[i];
		slot->tts_isnull[fnd_events_att_data - 1] = false;
		/* clock_timestamp(), the column's default */
		slot->tts_values[fnd_events_att_ts - 1] = TimestampTzGetDatum(GetCurrentTimestamp());
		slot->tts_isnull[fnd_events_att_ts - 1] = false;
		ExecStoreVirtualTuple(slot);

		table_tuple_insert(rel, slot, estate->es_output_cid, 0, NULL);
		recheck = ExecInsertIndexTuples(rri, slot, estate, false, false, NULL, NIL);
		Assert(recheck == NIL); /* only immediate unique indexes */
		list_free(recheck);
		ResetPerTupleExprContext(estate);
	}

	ExecCloseIndices(rri);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	table_close(rel, NoLock);

	SetUserIdAndSecContext(save_userid, save_sec);
	return true;
}

static void
fnd_events_relcache_callback(Datum arg, Oid relid)
{
	/* look the table up again on next use; plans survive if it is the same */
	if (relid == InvalidOid || relid == fnd_events_relid)
	{
		fnd_events_fn_oid = InvalidOid;
		fnd_events_direct_valid = false;
	}
}

/*
 * fnd_events_target for the schema of the calling SQL function.  Cheap when
 * nothing changed since the last call: one comparison.
 */
static Oid
fnd_events_target_fn(FunctionCallInfo fcinfo)
{
	Oid			fn_oid = fcinfo->flinfo->fn_oid;

	if (fn_oid != fnd_events_fn_oid)
	{
		if (!fnd_events_callback_registered)
		{
			CacheRegisterRelcacheCallback(fnd_events_relcache_callback, (Datum) 0);
			fnd_events_callback_registered = true;
		}
		fnd_events_target(get_func_namespace(fn_oid));
		fnd_events_fn_oid = fn_oid;
	}
	return fnd_events_nsp;
}

/* Prepare and keep a plan for an INSERT into nsp.fnd_events.  In SPI. */
static SPIPlanPtr
fnd_events_prepare(Oid nsp, const char *fmt, int nargs, Oid *argtypes)
{
	const char *schema = quote_identifier(get_namespace_name(nsp));
	SPIPlanPtr	plan;

	plan = SPI_prepare(psprintf(fmt, schema), nargs, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

/*
 * Run an INSERT plan as the table's owner, restricted (no temp objects, no
 * SET ROLE from anything it might call).  An error restores the user at
 * (sub)transaction abort.  In SPI.
 */
static void
fnd_events_execute(SPIPlanPtr plan, Datum *values, int expected)
{
	Oid			save_userid;
	int			save_sec;
	int			ret;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(fnd_events_owner,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ret = SPI_execute_plan(plan, values, NULL, false, 0);
	SetUserIdAndSecContext(save_userid, save_sec);
	if (ret != expected)
		elog(ERROR, "inserting into fnd_events failed: %s",
			 SPI_result_code_string(ret));
}

/* The type of an event: 1 to FND_NAME_MAX bytes, else FN401. */
static void
fnd_events_check_type(const char *type, int len, int index)
{
	if (len == 0 || len > FND_NAME_MAX)
	{
		if (index < 0)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg(len == 0 ? "event type must not be empty" :
							"event type is too long"),
					 errdetail("It is %d bytes; a type has 1 to %d bytes.",
							   len, FND_NAME_MAX)));
		else
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg("invalid event at index %d", index),
					 errdetail("Its type is %d bytes; a type has 1 to %d bytes.",
							   len, FND_NAME_MAX)));
	}
}

static bool
fnd_jsonb_is_object(Jsonb *jb)
{
	return JB_ROOT_IS_OBJECT(jb) && !JB_ROOT_IS_SCALAR(jb);
}

static Jsonb *
fnd_empty_object(void)
{
	JsonbValue	v;

	v.type = jbvObject;
	v.val.object.nPairs = 0;
	v.val.object.pairs = NULL;
	return JsonbValueToJsonb(&v);
}

/*
 * Insert one checked event; return its id.  The table is the one in the
 * schema of the calling SQL function, or with fcinfo NULL, the extension's.
 */
static int64
fnd_events_insert_one(FunctionCallInfo fcinfo, text *type, Jsonb *data)
{
	Datum		values[3];
	int64		id;
	Oid			nsp;

	if (fcinfo != NULL)
		nsp = fnd_events_target_fn(fcinfo);
	else
	{
		nsp = fnd_events_extension_namespace();
		if (!OidIsValid(nsp))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("extension foundation is not created in this database")));
		fnd_events_target(nsp);
	}
	/*
	 * The id comes from the identity sequence here rather than through
	 * RETURNING, which costs a projection per call; OVERRIDING SYSTEM VALUE
	 * stores it.  Same values, same order as the column default would give.
	 */
	id = nextval_internal(fnd_events_seq, false);
	values[1] = PointerGetDatum(type);
	values[2] = JsonbPGetDatum(data);
	if (fnd_events_insert_direct(1, &id, &values[1], &values[2]))
	{
		fnd_telemetry_count("foundation.events.stored", 1);
		return id;
	}

	values[0] = Int64GetDatum(id);

	SPI_connect();
	if (fnd_events_one_plan == NULL)
	{
		Oid			argtypes[3] = {INT8OID, TEXTOID, JSONBOID};

		fnd_events_one_plan = fnd_events_prepare(nsp,
												 "INSERT INTO %s.fnd_events (id, type, data) "
												 "OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3)",
												 3, argtypes);
	}
	fnd_events_execute(fnd_events_one_plan, values, SPI_OK_INSERT);
	if (SPI_processed != 1)
		elog(ERROR, "inserting into fnd_events stored " UINT64_FORMAT " rows",
			 SPI_processed);
	SPI_finish();

	fnd_telemetry_count("foundation.events.stored", 1);
	return id;
}

/*
 * fnd_store_event(type text, data jsonb DEFAULT '{}') RETURNS bigint
 */
PG_FUNCTION_INFO_V1(fnd_store_event);

Datum
fnd_store_event(PG_FUNCTION_ARGS)
{
	text	   *type;
	Jsonb	   *data;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event type must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must not be null"),
				 errhint("Pass '{}' for an event without data.")));
	type = PG_GETARG_TEXT_PP(0);
	data = PG_GETARG_JSONB_P(1);
	fnd_events_check_type(VARDATA_ANY(type), VARSIZE_ANY_EXHDR(type), -1);
	if (!fnd_jsonb_is_object(data))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must be a JSON object")));

	PG_RETURN_INT64(fnd_events_insert_one(fcinfo, type, data));
}

/*
 * fnd_store_events(events jsonb) RETURNS SETOF bigint
 *
 * Checks every element first, draws one id per element from the identity
 * sequence (so ids follow array order), then stores them all, directly or
 * with one INSERT ... SELECT FROM unnest(ids, types, datas): all or nothing.
 */
PG_FUNCTION_INFO_V1(fnd_store_events);

typedef struct FndStoredIds
{
	int64	   *ids;
	uint64		n;
} FndStoredIds;

static FndStoredIds *
fnd_events_store_array(FunctionCallInfo fcinfo, Jsonb *jb, MemoryContext resultcxt)
{
	Oid			nsp;
	int			n;
	int			i;
	Datum	   *types;
	Datum	   *datas;
	Datum		values[3];
	FndStoredIds *out;
	Jsonb	   *empty = NULL;

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("events must be a JSON array"),
				 errdetail("Pass an array of {\"type\": ..., \"data\": {...}} objects.")));
	n = JB_ROOT_COUNT(jb);

	out = MemoryContextAllocZero(resultcxt, sizeof(FndStoredIds));
	if (n == 0)
		return out;

	types = palloc(n * sizeof(Datum));
	datas = palloc(n * sizeof(Datum));
	for (i = 0; i < n; i++)
	{
		JsonbValue *elem = getIthJsonbValueFromContainer(&jb->root, i);
		JsonbContainer *obj;
		JsonbValue	tbuf;
		JsonbValue	dbuf;
		JsonbValue *tv;
		JsonbValue *dv;
		int			known = 1;

		if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg("invalid event at index %d", i),
					 errdetail("An event is a JSON object with a \"type\" and an optional \"data\"; nothing was stored.")));
		obj = elem->val.binary.data;

		tv = getKeyJsonValueFromContainer(obj, "type", 4, &tbuf);
		if (tv == NULL || tv->type != jbvString)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg("invalid event at index %d", i),
					 errdetail("Its \"type\" is missing or not a string; nothing was stored.")));
		fnd_events_check_type(tv->val.string.val, tv->val.string.len, i);
		types[i] = PointerGetDatum(cstring_to_text_with_len(tv->val.string.val,
															tv->val.string.len));

		dv = getKeyJsonValueFromContainer(obj, "data", 4, &dbuf);
		if (dv == NULL)
		{
			if (empty == NULL)
				empty = fnd_empty_object();
			datas[i] = JsonbPGetDatum(empty);
		}
		else
		{
			known++;
			if (dv->type != jbvBinary || !JsonContainerIsObject(dv->val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_FND_INVALID_EVENT),
						 errmsg("invalid event at index %d", i),
						 errdetail("Its \"data\" is not a JSON object; nothing was stored.")));
			datas[i] = JsonbPGetDatum(JsonbValueToJsonb(dv));
		}

		/* a misspelt key ("typ", "payload") is a mistake, not extra data */
		if (JsonContainerSize(obj) != known)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg("invalid event at index %d", i),
					 errdetail("An event has only the keys \"type\" and \"data\"; nothing was stored.")));
	}

	nsp = fnd_events_target_fn(fcinfo);

	/* the direct path when the table allows it, as for one event */
	out->ids = MemoryContextAlloc(resultcxt, sizeof(int64) * n);
	for (i = 0; i < n; i++)
		out->ids[i] = nextval_internal(fnd_events_seq, false);
	if (fnd_events_insert_direct(n, out->ids, types, datas))
	{
		out->n = n;
		fnd_telemetry_count("foundation.events.stored", n);
		return out;
	}
	/* otherwise one INSERT ... SELECT, with the ids already drawn */
	{
		Datum	   *iddatums = palloc(n * sizeof(Datum));

		for (i = 0; i < n; i++)
			iddatums[i] = Int64GetDatum(out->ids[i]);
		values[0] = PointerGetDatum(construct_array(iddatums, n, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	}
	values[1] = PointerGetDatum(construct_array(types, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	values[2] = PointerGetDatum(construct_array(datas, n, JSONBOID, -1, false,
												TYPALIGN_INT));

	SPI_connect();
	if (fnd_events_many_plan == NULL)
	{
		Oid			argtypes[3] = {INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID};

		fnd_events_many_plan = fnd_events_prepare(nsp,
												  "INSERT INTO %s.fnd_events (id, type, data) OVERRIDING SYSTEM VALUE "
												  "SELECT u.i, u.t, u.d FROM ROWS FROM (pg_catalog.unnest($1), "
												  "pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(i, t, d)",
												  3, argtypes);
	}
	fnd_events_execute(fnd_events_many_plan, values, SPI_OK_INSERT);
	if (SPI_processed != (uint64) n)
		elog(ERROR, "inserting into fnd_events stored " UINT64_FORMAT " of %d rows",
			 SPI_processed, n);
	out->n = n;
	SPI_finish();

	fnd_telemetry_count("foundation.events.stored", n);
	return out;
}

Datum
fnd_store_events(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	FndStoredIds *stored;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcxt;

		funcctx = SRF_FIRSTCALL_INIT();
		if (PG_ARGISNULL(0))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg("events must not be null")));
		oldcxt = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		stored = fnd_events_store_array(fcinfo, PG_GETARG_JSONB_P(0),
										funcctx->multi_call_memory_ctx);
		MemoryContextSwitchTo(oldcxt);
		funcctx->user_fctx = stored;
	}

	funcctx = SRF_PERCALL_SETUP();
	stored = (FndStoredIds *) funcctx->user_fctx;
	if (funcctx->call_cntr < stored->n)
	{
		/* fetch first: SRF_RETURN_NEXT advances call_cntr before its value */
		Datum		id = Int64GetDatum(stored->ids[funcctx->call_cntr]);

		SRF_RETURN_NEXT(funcctx, id);
	}
	SRF_RETURN_DONE(funcctx);
}

/*
 * C interface (events.h): append one event from another subsystem.
 */
int64
fnd_events_append(const char *type, Jsonb *data)
{
	int			len = strlen(type);

	fnd_events_check_type(type, len, -1);
	if (data == NULL)
		data = fnd_empty_object();
	else if (!fnd_jsonb_is_object(data))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must be a JSON object")));
	return fnd_events_insert_one(NULL, cstring_to_text_with_len(type, len), data);
}

/*
 * Retention: one pass deletes at most FND_EVENTS_PRUNE_BATCH events older
 * than foundation.event_retention, oldest first.  Runs in the supervisor's
 * transaction; returns true when a full batch went, so more may remain.
 */
static bool
fnd_events_periodic(void)
{
	TimestampTz cutoff;
	Oid			nsp;
	Oid			relid;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	const char *schema;
	char		detail[FND_STATUS_TEXT];
	int			ret;
	uint64		n;

	if (fnd_event_retention <= 0)
		return false;
	cutoff = GetCurrentTimestamp() - (TimestampTz) fnd_event_retention * USECS_PER_SEC;

	nsp = fnd_events_extension_namespace();
	relid = OidIsValid(nsp) ? get_relname_relid("fnd_events", nsp) : InvalidOid;
	if (!OidIsValid(relid))
		return false;

	/*
	 * Never wait in the lock queue: a pass stuck behind an ALTER TABLE would
	 * hold up every writer that queues behind it.  Skip and try next time.
	 */
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
	{
		fnd_service_set_detail("skipped a pass: fnd_events is locked by another session");
		return false;
	}

	schema = quote_identifier(get_namespace_name(nsp));
	values[0] = TimestampTzGetDatum(cutoff);
	SPI_connect();
	/* operators named with their schema: immune to any search_path */
	ret = SPI_execute_with_args(psprintf("DELETE FROM %s.fnd_events WHERE id OPERATOR(pg_catalog.=) ANY "
										 "(SELECT id FROM %s.fnd_events "
										 "WHERE \"timestamp\" OPERATOR(pg_catalog.<) $1 "
										 "ORDER BY \"timestamp\" LIMIT %d)",
										 schema, schema, FND_EVENTS_PRUNE_BATCH),
								1, argtypes, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "pruning fnd_events failed: %s", SPI_result_code_string(ret));
	n = SPI_processed;
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
