/*-------------------------------------------------------------------------
 *
 * ratelimit_agent.c
 *	  Agent-aware rate limits (1.1): a limit per (agent, operation), taken
 *	  from per-operation limits and scaled by the agent's health.
 *
 * The bucket is an ordinary rate-limit bucket (ratelimit.c, same GCRA)
 * named "operation NUL agent id": no 1.0 bucket name holds a NUL, so the
 * two never meet, and fnd_rate_limits (1.0) does not list it.
 *
 * Per-operation limits: built-in defaults (inference 100/min, training
 * 10/min, coordination 1000/min, monitoring 500/min, general 200/min for
 * anything else), overridden by the rows of fnd_rate_operation_limits.
 * Each backend caches that table; a trigger on it sends a relcache
 * invalidation for it, delivered at commit to every backend, which then
 * reads it again on its next call.  So the hot path never runs a query.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"
#include "ratelimit.h"

#define FND_OPLIMITS_TABLE	"fnd_rate_operation_limits"
#define FND_OP_MAX			64

typedef struct FndOpLimit
{
	char		operation[FND_OP_MAX + 1];
	int			limit;
	int64		per_us;
} FndOpLimit;

static const FndOpLimit fnd_op_defaults[] = {
	{"inference", 100, 60 * USECS_PER_SEC},
	{"training", 10, 60 * USECS_PER_SEC},
	{"coordination", 1000, 60 * USECS_PER_SEC},
	{"monitoring", 500, 60 * USECS_PER_SEC},
	{"general", 200, 60 * USECS_PER_SEC},
};

/* backend-local cache of fnd_rate_operation_limits */
static FndOpLimit *fnd_op_rows = NULL;
static int	fnd_op_nrows = 0;
static bool fnd_op_valid = false;
static Oid	fnd_op_relid = InvalidOid;
static bool fnd_op_callback = false;

PG_FUNCTION_INFO_V1(fnd_rate_check_with_agent);
PG_FUNCTION_INFO_V1(fnd_rate_require_with_agent);
PG_FUNCTION_INFO_V1(fnd_rate_set_operation_limit);
PG_FUNCTION_INFO_V1(fnd_rate_operation_limits_changed);

static void
fnd_op_inval(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == fnd_op_relid)
		fnd_op_valid = false;
}

/*
 * Read fnd_rate_operation_limits (in the schema of the calling function)
 * into the cache.
 */
static void
fnd_op_load(Oid nsp)
{
	MemoryContext old;
	StringInfoData q;
	uint64		i;

	if (!fnd_op_callback)
	{
		CacheRegisterRelcacheCallback(fnd_op_inval, (Datum) 0);
		fnd_op_callback = true;
	}
	fnd_op_relid = get_relname_relid(FND_OPLIMITS_TABLE, nsp);
	initStringInfo(&q);
	appendStringInfo(&q, "SELECT operation, \"limit\", (extract(epoch FROM per) * 1000000)::int8 FROM %s.%s",
					 quote_identifier(get_namespace_name(nsp)), FND_OPLIMITS_TABLE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute(q.data, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", FND_OPLIMITS_TABLE);
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (fnd_op_rows)
		pfree(fnd_op_rows);
	fnd_op_rows = palloc0(sizeof(FndOpLimit) * Max(SPI_processed, 1));
	MemoryContextSwitchTo(old);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	d = SPI_tuptable->tupdesc;
		bool		isnull;

		strlcpy(fnd_op_rows[i].operation, SPI_getvalue(t, d, 1), FND_OP_MAX + 1);
		fnd_op_rows[i].limit = DatumGetInt32(SPI_getbinval(t, d, 2, &isnull));
		fnd_op_rows[i].per_us = DatumGetInt64(SPI_getbinval(t, d, 3, &isnull));
	}
	fnd_op_nrows = (int) SPI_processed;
	SPI_finish();
	fnd_op_valid = true;
}

static const FndOpLimit *
fnd_op_find(const FndOpLimit *rows, int n, const char *op)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(rows[i].operation, op) == 0)
			return &rows[i];
	return NULL;
}

/* The limit of an operation: its row, its default, else general's. */
static const FndOpLimit *
fnd_op_limit(FunctionCallInfo fcinfo, const char *op)
{
	const FndOpLimit *l;

	if (!fnd_op_valid)
		fnd_op_load(get_func_namespace(fcinfo->flinfo->fn_oid));
	if ((l = fnd_op_find(fnd_op_rows, fnd_op_nrows, op)) != NULL ||
		(l = fnd_op_find(fnd_op_defaults, lengthof(fnd_op_defaults), op)) != NULL ||
		(l = fnd_op_find(fnd_op_rows, fnd_op_nrows, "general")) != NULL)
		return l;
	return fnd_op_find(fnd_op_defaults, lengthof(fnd_op_defaults), "general");
}

/* The operation argument: a lower-case word (FN003). */
static char *
fnd_op_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *op = text_to_cstring(fnd_arg_text(fcinfo, argno, "operation"));

	fnd_agent_check_word(op, "operation");
	return op;
}

/*
 * One hit of agent (argument 0) doing operation (argument 1).  Returns
 * whether allowed; fills the limit applied and the retry time.
 */
static bool
fnd_rate_agent_hit(FunctionCallInfo fcinfo, int *limit, int64 *per_us,
				   int64 *retry_us)
{
	FndDbKey	agent;
	FndDbKey	bucket;
	FndAgentState st;
	const FndOpLimit *l;
	char	   *op;
	int			oplen;
	int			idlen;

	fnd_agent_require();
	fnd_agent_key_from_arg(fcinfo, 0, &agent);
	op = fnd_op_arg(fcinfo, 1);
	if (!fnd_agent_state(&agent, &st, false))
		fnd_agent_not_found(agent.name);
	l = fnd_op_limit(fcinfo, op);

	*limit = l->limit;
	if (st.health == FND_HEALTH_DEGRADED)
		*limit = Max(1, (int) (l->limit * 0.7));
	else if (st.health == FND_HEALTH_UNHEALTHY)
		*limit = Max(1, l->limit / 2);
	*per_us = l->per_us;

	oplen = strlen(op);
	idlen = agent.len;
	if (oplen + 1 + idlen >= FND_NAME_BUFSZ)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("agent id and operation are too long for a rate-limit bucket"),
				 errdetail("Together they may have at most %d bytes.", FND_NAME_BUFSZ - 2)));
	memset(&bucket, 0, sizeof(bucket));
	bucket.dbid = MyDatabaseId;
	memcpy(bucket.name, op, oplen);
	memcpy(bucket.name + oplen + 1, agent.name, idlen);
	bucket.len = oplen + 1 + idlen;
	return fnd_rate_hit(&bucket, *limit, *per_us, retry_us);
}

/* fnd_rate_check_with_agent(agent_id, operation) RETURNS boolean */
Datum
fnd_rate_check_with_agent(PG_FUNCTION_ARGS)
{
	int			limit;
	int64		per_us;
	int64		retry_us;

	PG_RETURN_BOOL(fnd_rate_agent_hit(fcinfo, &limit, &per_us, &retry_us));
}

/* fnd_rate_require_with_agent(agent_id, operation): FN901 when refused */
Datum
fnd_rate_require_with_agent(PG_FUNCTION_ARGS)
{
	int			limit;
	int64		per_us;
	int64		retry_us;

	if (!fnd_rate_agent_hit(fcinfo, &limit, &per_us, &retry_us))
		ereport(ERROR,
				(errcode(ERRCODE_FND_RATE_LIMITED),
				 errmsg("rate limit of agent \"%s\" for operation \"%s\" exceeded",
						text_to_cstring(PG_GETARG_TEXT_PP(0)),
						text_to_cstring(PG_GETARG_TEXT_PP(1))),
				 errdetail("The limit is %d per %s; retry after %s.", limit,
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(fnd_usec_interval(per_us)))),
						   DatumGetCString(DirectFunctionCall1(interval_out,
															   IntervalPGetDatum(fnd_usec_interval(retry_us)))))));
	PG_RETURN_VOID();
}

/*
 * fnd_rate_set_operation_limit(operation, limit, per) RETURNS void (admin):
 * upsert the operation's row; transactional, seen by every backend after
 * commit.
 */
Datum
fnd_rate_set_operation_limit(PG_FUNCTION_ARGS)
{
	char	   *op;
	int			limit;
	int64		per_us;
	Datum		args[3];
	StringInfoData q;
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);

	fnd_agent_require();
	op = fnd_op_arg(fcinfo, 0);
	fnd_rate_limit_args(fcinfo, 1, &limit, &per_us);

	initStringInfo(&q);
	appendStringInfo(&q, "INSERT INTO %s.%s AS o (operation, \"limit\", per) VALUES ($1, $2, $3) "
					 "ON CONFLICT (operation) DO UPDATE SET \"limit\" = excluded.\"limit\", per = excluded.per, "
					 "updated_at = now(), updated_by = session_user",
					 quote_identifier(get_namespace_name(nsp)), FND_OPLIMITS_TABLE);
	args[0] = CStringGetTextDatum(op);
	args[1] = Int32GetDatum(limit);
	args[2] = PG_GETARG_DATUM(2);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args(q.data, 3, (Oid[]) {TEXTOID, INT4OID, INTERVALOID},
							  args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not write %s", FND_OPLIMITS_TABLE);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Statement trigger on fnd_rate_operation_limits: every backend's cache of
 * it is stale once this transaction commits.
 */
Datum
fnd_rate_operation_limits_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("fnd_rate_operation_limits_changed() is a trigger function")));
	CacheInvalidateRelcache(td->tg_relation);
	return PointerGetDatum(NULL);
}
