/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The event store's entry points: fnd_store_event and fnd_store_events
 *	  (checking what callers give), and the C interface of events.h
 *	  (appending and reading back the extension's own events).
 *
 * Every write goes through the one writer, events_writer.c, which also
 * says how rows reach the table and as whom.  Retention is in
 * events_retention.c; the read functions are SQL (events.sql).
 *
 * Reserved types.  Some events are truth the extension reads back: a
 * consensus_decided event is the decision of a round whose slot was reused
 * or lost in a restart.  Anybody may append events, so such types are
 * reserved: fnd_store_event(s) refuse them with FN401 (they stay readable
 * like any other), and only fnd_events_append, which SQL cannot reach,
 * writes them.  Reserved are the types starting with "foundation." (for
 * events later versions add) and the fixed list below (types 1.0 already
 * documents under their own names).  The reservation is not a setting a
 * session could change; it holds because PUBLIC has no INSERT or UPDATE
 * privilege on fnd_events and these are the only SQL-callable writers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "foundation.h"
#include "events.h"
#include "events_writer.h"

/* Reserved: this prefix, and these types. */
#define FND_EVENTS_RESERVED_PREFIX	"foundation."

static const char *const fnd_events_reserved[] = {
	"consensus_decided",		/* consensus.c */
};

bool
fnd_events_type_reserved(const char *type, int len)
{
	int			plen = strlen(FND_EVENTS_RESERVED_PREFIX);
	int			i;

	if (len >= plen && memcmp(type, FND_EVENTS_RESERVED_PREFIX, plen) == 0)
		return true;
	for (i = 0; i < lengthof(fnd_events_reserved); i++)
		if (strlen(fnd_events_reserved[i]) == len &&
			memcmp(type, fnd_events_reserved[i], len) == 0)
			return true;
	return false;
}

/* FN401 for a caller's event of a reserved type. */
static void
fnd_events_refuse_reserved(const char *type, int len, int index)
{
	StringInfoData list;
	int			i;

	initStringInfo(&list);
	for (i = 0; i < lengthof(fnd_events_reserved); i++)
		appendStringInfo(&list, "%s\"%s\"", i > 0 ? ", " : "",
						 fnd_events_reserved[i]);
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_EVENT),
			 index < 0 ?
			 errmsg("event type \"%.*s\" is reserved for the extension", len, type) :
			 errmsg("invalid event at index %d", index),
			 index < 0 ?
			 errdetail("Types starting with \"%s\", and %s, are written only by foundation itself, so that it can trust them.",
					   FND_EVENTS_RESERVED_PREFIX, list.data) :
			 errdetail("Its type \"%.*s\" is reserved for the extension; nothing was stored.",
					   len, type),
			 errhint("Choose another type. Events of reserved types stay readable with fnd_query_events.")));
}

/*
 * The type of an event: 1 to FND_NAME_MAX bytes, and for a caller not a
 * reserved type; FN401 otherwise.  index is the element of a batch, or -1.
 */
static void
fnd_events_check_type(const char *type, int len, int index, bool caller)
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
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("invalid event at index %d", index),
				 errdetail("Its type is %d bytes; a type has 1 to %d bytes.",
						   len, FND_NAME_MAX)));
	}
	if (caller && fnd_events_type_reserved(type, len))
		fnd_events_refuse_reserved(type, len, index);
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
 * fnd_store_event(type text, data jsonb DEFAULT '{}') RETURNS bigint
 */
PG_FUNCTION_INFO_V1(fnd_store_event);

Datum
fnd_store_event(PG_FUNCTION_ARGS)
{
	FndEventRow row;
	int64		id;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event type must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must not be null"),
				 errhint("Pass '{}' for an event without data.")));
	row.type = PG_GETARG_TEXT_PP(0);
	row.data = PG_GETARG_JSONB_P(1);
	fnd_events_check_type(VARDATA_ANY(row.type), VARSIZE_ANY_EXHDR(row.type),
						  -1, true);
	if (!fnd_jsonb_is_object(row.data))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must be a JSON object")));

	fnd_catalog_find(&fnd_events_table, fcinfo->flinfo->fn_oid, false);
	fnd_events_write(1, &row, &id);
	PG_RETURN_INT64(id);
}

/*
 * fnd_store_events(events jsonb) RETURNS SETOF bigint
 *
 * Checks every element first, then stores them all with one call of the
 * writer (all or nothing), which draws the ids in array order.
 */
PG_FUNCTION_INFO_V1(fnd_store_events);

typedef struct FndStoredIds
{
	int64	   *ids;
	uint64		n;
} FndStoredIds;

/* Element i of the batch as a row; FN401 naming i if it is not an event. */
static void
fnd_events_parse_element(JsonbValue *elem, int i, FndEventRow *row,
						 Jsonb **empty)
{
	JsonbContainer *obj;
	JsonbValue	buf;
	JsonbValue *v;
	int			known = 1;

	if (elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("invalid event at index %d", i),
				 errdetail("An event is a JSON object with a \"type\" and an optional \"data\"; nothing was stored.")));
	obj = elem->val.binary.data;

	v = getKeyJsonValueFromContainer(obj, "type", 4, &buf);
	if (v == NULL || v->type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("invalid event at index %d", i),
				 errdetail("Its \"type\" is missing or not a string; nothing was stored.")));
	fnd_events_check_type(v->val.string.val, v->val.string.len, i, true);
	row->type = cstring_to_text_with_len(v->val.string.val, v->val.string.len);

	v = getKeyJsonValueFromContainer(obj, "data", 4, &buf);
	if (v == NULL)
	{
		if (*empty == NULL)
			*empty = fnd_empty_object();
		row->data = *empty;
	}
	else
	{
		known++;
		if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_EVENT),
					 errmsg("invalid event at index %d", i),
					 errdetail("Its \"data\" is not a JSON object; nothing was stored.")));
		row->data = JsonbValueToJsonb(v);
	}

	/* a misspelt key ("typ", "payload") is a mistake, not extra data */
	if (JsonContainerSize(obj) != known)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("invalid event at index %d", i),
				 errdetail("An event has only the keys \"type\" and \"data\"; nothing was stored.")));
}

/* The batch as rows, every element checked; *n is their count. */
static FndEventRow *
fnd_events_parse_array(Jsonb *jb, int *n)
{
	FndEventRow *rows;
	Jsonb	   *empty = NULL;
	int			i;

	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("events must be a JSON array"),
				 errdetail("Pass an array of {\"type\": ..., \"data\": {...}} objects.")));
	*n = JB_ROOT_COUNT(jb);
	rows = palloc(Max(*n, 1) * sizeof(FndEventRow));
	for (i = 0; i < *n; i++)
		fnd_events_parse_element(getIthJsonbValueFromContainer(&jb->root, i),
								 i, &rows[i], &empty);
	return rows;
}

/* Check and store the batch; the ids are allocated in resultcxt. */
static FndStoredIds *
fnd_events_store_array(FunctionCallInfo fcinfo, Jsonb *jb,
					   MemoryContext resultcxt)
{
	FndStoredIds *out = MemoryContextAllocZero(resultcxt, sizeof(FndStoredIds));
	FndEventRow *rows;
	int			n;

	rows = fnd_events_parse_array(jb, &n);
	if (n == 0)
		return out;
	out->ids = MemoryContextAlloc(resultcxt, sizeof(int64) * n);
	fnd_catalog_find(&fnd_events_table, fcinfo->flinfo->fn_oid, false);
	fnd_events_write(n, rows, out->ids);
	out->n = n;
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

/* ---- C interface (events.h) ------------------------------------------- */

bool
fnd_events_can_append(Oid fn_oid)
{
	if (!IsTransactionState() || IsInParallelMode() ||
		RecoveryInProgress() || XactReadOnly)
		return false;
	return fnd_catalog_find(&fnd_events_table, fn_oid, true);
}

int64
fnd_events_append(const char *type, Jsonb *data)
{
	FndEventRow row;
	int			len = strlen(type);
	int64		id;

	fnd_events_check_type(type, len, -1, false);
	if (data == NULL)
		data = fnd_empty_object();
	else if (!fnd_jsonb_is_object(data))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must be a JSON object")));
	row.type = cstring_to_text_with_len(type, len);
	row.data = data;
	fnd_catalog_find(&fnd_events_table, InvalidOid, false);
	fnd_events_write(1, &row, &id);
	return id;
}

Jsonb *
fnd_events_latest(const char *type, const char *key, const char *value)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Oid			argtypes[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	Jsonb	   *out = NULL;
	int			rc;

	/* only reserved types are truth: anybody may write the others */
	if (!fnd_events_type_reserved(type, strlen(type)))
		elog(ERROR, "event type \"%s\" is not reserved", type);
	if (!fnd_catalog_find(&fnd_events_table, InvalidOid, true))
		return NULL;

	values[0] = CStringGetTextDatum(type);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(value);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* planned with its values, so it can use a partial expression index */
	plan = fnd_catalog_plan(&fnd_events_table, FND_EVENTS_PLAN_LATEST,
							"SELECT e.data FROM @extschema@.fnd_events e"
							" WHERE e.type OPERATOR(pg_catalog.=) $1"
							" AND e.data OPERATOR(pg_catalog.->>) $2 OPERATOR(pg_catalog.=) $3"
							" ORDER BY e.id DESC LIMIT 1",
							3, argtypes, CURSOR_OPT_CUSTOM_PLAN);
	rc = fnd_catalog_execute(&fnd_events_table, plan, values, NULL,
							 true, 1, true);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading fnd_events failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

			out = DatumGetJsonbPCopy(d);
			MemoryContextSwitchTo(oldcxt);
		}
	}
	SPI_finish();
	return out;
}
