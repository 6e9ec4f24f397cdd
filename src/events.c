/*-------------------------------------------------------------------------
 *
 * events.c
 *	  The event store's entry points: fnd_store_event and fnd_store_events
 *	  (checking what callers give), and the C interface of events.h
 *	  (appending and reading back the extension's own events).
 *
 * Every write goes through the one writer, events_writer.c, which also
 * says how rows reach the table and as whom.  Retention is in
 * events_retention.c, the 1.2 migration of old rows in events_migration.c;
 * the read functions are SQL (events.sql, foundation--1.1--1.2.sql).
 *
 * 1.2 columns.  agent_context (an object with a string agent_id),
 * correlation_id (1 to 200 bytes) and metadata (an object, never NULL once
 * written: NULL marks a row written before 1.2).  Whatever a writer leaves
 * NULL of agent_context and correlation_id is taken from the event's data
 * as fnd_event_lazy reads an old row (data's agent_id and correlation_id,
 * when strings), so an event reads the same whether a 1.0 application
 * wrote it before or after the upgrade.
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
#include "agents.h"
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

/* FN002 when foundation.agent_features (agents.c) is off. */
static void
fnd_events_require_features(void)
{
	if (!fnd_agent_features)
		ereport(ERROR,
				(errcode(ERRCODE_FND_FEATURE_DISABLED),
				 errmsg("agent features are disabled"),
				 errdetail("The event store's 1.2 columns are written only with agent features on."),
				 errhint("Set foundation.agent_features = on and reload the configuration.")));
}

/* FN401 for a bad 1.2 field; index is the element of a batch, or -1. */
static void
fnd_events_bad_field(int index, const char *msg, const char *detail)
{
	if (index < 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("%s", msg),
				 errdetail("%s", detail)));
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_EVENT),
			 errmsg("invalid event at index %d", index),
			 errdetail("%s; nothing was stored.", msg)));
}

/* agent_context: an object whose agent_id is a string of 1 to 200 bytes. */
static void
fnd_events_check_agent_context(Jsonb *ctx, int index)
{
	JsonbValue	buf;
	JsonbValue *v;

	if (!fnd_jsonb_is_object(ctx))
		fnd_events_bad_field(index, "agent_context must be a JSON object",
							 "It holds the agent_id of the agent that wrote the event.");
	v = getKeyJsonValueFromContainer(&ctx->root, "agent_id", 8, &buf);
	if (v == NULL || v->type != jbvString ||
		v->val.string.len == 0 || v->val.string.len > FND_NAME_MAX)
		fnd_events_bad_field(index, "agent_context must have a string agent_id of 1 to 200 bytes",
							 "Pass {\"agent_id\": \"...\"}, or NULL for an event of no agent.");
}

/* correlation_id: 1 to 200 bytes. */
static void
fnd_events_check_correlation_id(int len, int index)
{
	if (len == 0 || len > FND_NAME_MAX)
		fnd_events_bad_field(index, "correlation_id must have 1 to 200 bytes",
							 "Pass NULL for an event without a correlation id.");
}

/*
 * Fill what the writer left NULL of agent_context and correlation_id from
 * data, exactly as fnd_event_lazy reads a row written before 1.2.
 */
static void
fnd_events_derive(FndEventRow *row)
{
	JsonbValue	buf;
	JsonbValue *v;

	if (row->agent_context == NULL)
	{
		v = getKeyJsonValueFromContainer(&row->data->root, "agent_id", 8, &buf);
		if (v != NULL && v->type == jbvString)
		{
			JsonbParseState *state = NULL;
			JsonbValue	key;

			key.type = jbvString;
			key.val.string.val = "agent_id";
			key.val.string.len = 8;
			pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
			pushJsonbValue(&state, WJB_KEY, &key);
			pushJsonbValue(&state, WJB_VALUE, v);
			row->agent_context =
				JsonbValueToJsonb(pushJsonbValue(&state, WJB_END_OBJECT, NULL));
		}
	}
	if (row->correlation_id == NULL)
	{
		v = getKeyJsonValueFromContainer(&row->data->root, "correlation_id", 14, &buf);
		if (v != NULL && v->type == jbvString)
			row->correlation_id = cstring_to_text_with_len(v->val.string.val,
														   v->val.string.len);
	}
}

/* The 1.2 arguments of fnd_store_event, checked, into row. */
static void
fnd_events_args_1_2(FunctionCallInfo fcinfo, FndEventRow *row)
{
	if (!PG_ARGISNULL(2))
	{
		row->agent_context = PG_GETARG_JSONB_P(2);
		fnd_events_check_agent_context(row->agent_context, -1);
	}
	if (!PG_ARGISNULL(3))
	{
		row->correlation_id = PG_GETARG_TEXT_PP(3);
		fnd_events_check_correlation_id(VARSIZE_ANY_EXHDR(row->correlation_id), -1);
	}
	if (!PG_ARGISNULL(4))
	{
		row->metadata = PG_GETARG_JSONB_P(4);
		if (!fnd_jsonb_is_object(row->metadata))
			fnd_events_bad_field(-1, "metadata must be a JSON object",
								 "Pass '{}' (or NULL) for an event without metadata.");
	}
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
	memset(&row, 0, sizeof(row));
	row.type = PG_GETARG_TEXT_PP(0);
	row.data = PG_GETARG_JSONB_P(1);
	fnd_events_check_type(VARDATA_ANY(row.type), VARSIZE_ANY_EXHDR(row.type),
						  -1, true);
	if (!fnd_jsonb_is_object(row.data))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("event data must be a JSON object")));
	if (fcinfo->nargs >= 5)
		fnd_events_args_1_2(fcinfo, &row);
	fnd_events_derive(&row);

	fnd_catalog_find(&fnd_events_table, fcinfo->flinfo->fn_oid, false);
	fnd_events_write(1, &row, &id);
	PG_RETURN_INT64(id);
}

/*
 * fnd_store_event(type text, data jsonb, agent_context jsonb,
 *				   correlation_id text DEFAULT NULL,
 *				   metadata jsonb DEFAULT '{}') RETURNS bigint	(1.2)
 *
 * The 1.0 function's checks, then the 1.2 arguments'; FN002 with agent
 * features off.
 */
PG_FUNCTION_INFO_V1(fnd_store_event_1_2);

Datum
fnd_store_event_1_2(PG_FUNCTION_ARGS)
{
	fnd_events_require_features();
	return fnd_store_event(fcinfo);
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

/*
 * The 1.2 keys of element i (agent_context, correlation_id, metadata), each
 * optional and may be null; returns how many keys it had.
 */
static int
fnd_events_parse_element_1_2(JsonbContainer *obj, int i, FndEventRow *row)
{
	JsonbValue	buf;
	JsonbValue *v;
	int			known = 0;

	v = getKeyJsonValueFromContainer(obj, "agent_context", 13, &buf);
	if (v != NULL)
	{
		known++;
		if (v->type != jbvNull)
		{
			if (v->type != jbvBinary)
				fnd_events_bad_field(i, "agent_context must be a JSON object", "");
			row->agent_context = JsonbValueToJsonb(v);
			fnd_events_check_agent_context(row->agent_context, i);
		}
	}
	v = getKeyJsonValueFromContainer(obj, "correlation_id", 14, &buf);
	if (v != NULL)
	{
		known++;
		if (v->type != jbvNull)
		{
			if (v->type != jbvString)
				fnd_events_bad_field(i, "correlation_id must be a string", "");
			fnd_events_check_correlation_id(v->val.string.len, i);
			row->correlation_id = cstring_to_text_with_len(v->val.string.val,
														   v->val.string.len);
		}
	}
	v = getKeyJsonValueFromContainer(obj, "metadata", 8, &buf);
	if (v != NULL)
	{
		known++;
		if (v->type != jbvNull)
		{
			if (v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				fnd_events_bad_field(i, "metadata must be a JSON object", "");
			row->metadata = JsonbValueToJsonb(v);
		}
	}
	if (known > 0)
		fnd_events_require_features();
	return known;
}

/*
 * Element i of the batch as a row; FN401 naming i if it is not an event.
 * v1_2: the element may also have the 1.2 keys.
 */
static void
fnd_events_parse_element(JsonbValue *elem, int i, FndEventRow *row,
						 Jsonb **empty, bool v1_2)
{
	JsonbContainer *obj;
	JsonbValue	buf;
	JsonbValue *v;
	int			known = 1;

	memset(row, 0, sizeof(*row));

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
	if (v1_2)
		known += fnd_events_parse_element_1_2(obj, i, row);

	/* a misspelt key ("typ", "payload") is a mistake, not extra data */
	if (JsonContainerSize(obj) != known)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_EVENT),
				 errmsg("invalid event at index %d", i),
				 errdetail("An event has only the keys \"type\" and \"data\"; nothing was stored."),
				 v1_2 ?
				 errhint("Since 1.2 it may also have \"agent_context\", \"correlation_id\" and \"metadata\".") : 0));
	fnd_events_derive(row);
}

/* The batch as rows, every element checked; *n is their count. */
static FndEventRow *
fnd_events_parse_array(Jsonb *jb, int *n, bool v1_2)
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
								 i, &rows[i], &empty, v1_2);
	return rows;
}

/* Check and store the batch; the ids are allocated in resultcxt. */
static FndStoredIds *
fnd_events_store_array(FunctionCallInfo fcinfo, Jsonb *jb,
					   MemoryContext resultcxt, bool v1_2)
{
	FndStoredIds *out = MemoryContextAllocZero(resultcxt, sizeof(FndStoredIds));
	FndEventRow *rows;
	int			n;

	rows = fnd_events_parse_array(jb, &n, v1_2);
	if (n == 0)
		return out;
	out->ids = MemoryContextAlloc(resultcxt, sizeof(int64) * n);
	fnd_catalog_find(&fnd_events_table, fcinfo->flinfo->fn_oid, false);
	fnd_events_write(n, rows, out->ids);
	out->n = n;
	return out;
}

/*
 * fnd_store_events(events jsonb) RETURNS SETOF bigint, for 1.0 (elements
 * with type and data) and 1.2 (also agent_context, correlation_id,
 * metadata): one SRF over the version's parser.
 */
static Datum
fnd_store_events_internal(FunctionCallInfo fcinfo, bool v1_2)
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
										funcctx->multi_call_memory_ctx, v1_2);
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

Datum
fnd_store_events(PG_FUNCTION_ARGS)
{
	return fnd_store_events_internal(fcinfo, false);
}

PG_FUNCTION_INFO_V1(fnd_store_events_1_2);

Datum
fnd_store_events_1_2(PG_FUNCTION_ARGS)
{
	return fnd_store_events_internal(fcinfo, true);
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
	memset(&row, 0, sizeof(row));
	row.type = cstring_to_text_with_len(type, len);
	row.data = data;
	fnd_events_derive(&row);
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
