/*-------------------------------------------------------------------------
 *
 * cb_execute.c
 *	  fnd_cb_execute: run a query through a circuit breaker (breaker.c).
 *
 * The breaker is asked first; the query runs with SPI, as the calling
 * role, in a subtransaction; its outcome is reported to the breaker.  The
 * rows come back as a jsonb array, built with a check for interrupts per
 * row, since a query may return any number of them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "breaker.h"

PG_FUNCTION_INFO_V1(fnd_cb_execute);

/*
 * fnd_cb_execute keeps the plans of the last few queries it ran in this
 * backend: parsing and planning were most of the cost of protecting a short
 * query.  Saved plans are revalidated by the plan cache after DDL and
 * search_path changes, and privileges are checked at each execution, so a
 * cached plan behaves like a fresh one.
 *
 * Only single statements are cached (a string without ';'): SPI_prepare
 * analyses every statement of a string before running any, whereas
 * SPI_execute analyses each just before running it, so a string like
 * "CREATE TABLE t ...; INSERT INTO t ..." only works unprepared.  Only the
 * outermost fnd_cb_execute uses the cache, so a nested call can never evict
 * a plan that is running.
 */
#define CB_PLAN_SLOTS	16

typedef struct CbPlanSlot
{
	char	   *query;			/* in TopMemoryContext; NULL if free */
	SPIPlanPtr	plan;			/* kept with SPI_keepplan */
	uint64		last_used;
} CbPlanSlot;

static CbPlanSlot cb_plans[CB_PLAN_SLOTS];
static uint64 cb_plan_clock = 0;
static int	cb_execute_depth = 0;

/* Run query through SPI (connected), from a cached plan when possible. */
static int
cb_run_query(const char *query, bool use_cache)
{
	SPIPlanPtr	plan;
	int			victim = 0;
	int			i;

	if (!use_cache || strchr(query, ';') != NULL)
		return SPI_execute(query, false, 0);

	for (i = 0; i < CB_PLAN_SLOTS; i++)
	{
		if (cb_plans[i].query != NULL && strcmp(cb_plans[i].query, query) == 0)
		{
			cb_plans[i].last_used = ++cb_plan_clock;
			return SPI_execute_plan(cb_plans[i].plan, NULL, NULL, false, 0);
		}
		if (cb_plans[i].query == NULL)
			victim = i;
		else if (cb_plans[victim].query != NULL &&
				 cb_plans[i].last_used < cb_plans[victim].last_used)
			victim = i;
	}

	plan = SPI_prepare(query, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) == 0)
	{
		char	   *copy = MemoryContextStrdup(TopMemoryContext, query);

		if (cb_plans[victim].query != NULL)
		{
			SPI_freeplan(cb_plans[victim].plan);
			pfree(cb_plans[victim].query);
		}
		cb_plans[victim].query = copy;
		cb_plans[victim].plan = plan;
		cb_plans[victim].last_used = ++cb_plan_clock;
	}
	return SPI_execute_plan(plan, NULL, NULL, false, 0);
}

/* Error context line added to any error raised by a protected query. */
static void
cb_execute_context(void *arg)
{
	errcontext("circuit breaker \"%s\"", (const char *) arg);
}

/*
 * Rows of the last SPI result as a jsonb array of objects, built in the
 * current memory context.  to_jsonb() learns its argument's type from the
 * call expression, so it gets a minimal one saying "record".
 */
static Jsonb *
cb_rows_to_jsonb(SPITupleTable *tuptable, uint64 nrows)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	uint64		i;

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	if (tuptable != NULL && nrows > 0)
	{
		FmgrInfo	flinfo;
		TupleDesc	tupdesc = CreateTupleDescCopy(tuptable->tupdesc);
		FuncExpr   *expr;

		BlessTupleDesc(tupdesc);
		fmgr_info(F_TO_JSONB, &flinfo);
		expr = makeFuncExpr(F_TO_JSONB, JSONBOID,
							list_make1(makeNullConst(RECORDOID, -1, InvalidOid)),
							InvalidOid, InvalidOid, COERCE_EXPLICIT_CALL);
		fmgr_info_set_expr((Node *) expr, &flinfo);

		for (i = 0; i < nrows; i++)
		{
			HeapTupleHeader td;
			Jsonb	   *row;
			JsonbValue	v;

			CHECK_FOR_INTERRUPTS();

			td = DatumGetHeapTupleHeader(heap_copy_tuple_as_datum(tuptable->vals[i],
																  tupdesc));
			row = DatumGetJsonbP(FunctionCall1(&flinfo, PointerGetDatum(td)));
			v.type = jbvBinary;
			v.val.binary.data = &row->root;
			v.val.binary.len = VARSIZE(row) - VARHDRSZ;
			pushJsonbValue(&state, WJB_ELEM, &v);
		}
	}
	res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * Ask the breaker for one call; when refused, FN201 saying when it
 * retries.  Returns whether the call took a half-open trial permit.
 */
static bool
cb_execute_ask(const FndDbKey *key)
{
	TimestampTz retry_at;
	bool		trial;

	if (fnd_breaker_ask(key, &retry_at, &trial))
		return trial;

	fnd_telemetry_count("foundation.breaker.rejections", 1);
	if (retry_at != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_CIRCUIT_OPEN),
				 errmsg("circuit breaker \"%s\" is open", key->name),
				 errdetail("It retries at %s.",
						   DatumGetCString(DirectFunctionCall1(timestamptz_out,
															   TimestampTzGetDatum(retry_at))))));
	ereport(ERROR,
			(errcode(ERRCODE_FND_CIRCUIT_OPEN),
			 errmsg("circuit breaker \"%s\" is open", key->name),
			 errdetail("It is half-open and all of its trial calls are in flight.")));
	return false;				/* keep compiler quiet */
}

/*
 * Run query with SPI (connected by the caller), as the calling role, and
 * return its rows as jsonb in callcxt.  Transaction control and COPY to
 * the client are refused (0A000).
 */
static Jsonb *
cb_execute_query(const char *query, MemoryContext callcxt)
{
	int			rc;

	rc = cb_run_query(query, cb_execute_depth++ == 0);
	cb_execute_depth--;
	if (rc == SPI_ERROR_TRANSACTION || rc == SPI_ERROR_COPY)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("fnd_cb_execute cannot run %s",
						rc == SPI_ERROR_COPY ? "COPY to or from the client" :
						"transaction control statements"),
				 errdetail("The protected query runs in a subtransaction of the caller's transaction.")));
	if (rc < 0)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(rc));

	/* the result must outlive SPI and the subtransaction */
	MemoryContextSwitchTo(callcxt);
	return cb_rows_to_jsonb(SPI_tuptable, SPI_processed);
}

/*
 * Run query with SPI, as the calling role, inside a subtransaction, the
 * call already let through by the circuit key (trial: with a half-open
 * permit): success records a success and returns the rows; an error rolls
 * the subtransaction back (nothing the query did stays), melts the circuit
 * and is re-raised as it was, SQLSTATE and all, with a context line naming
 * context.  Also the body of fnd_cb_execute_with_agent (breaker_agent.c),
 * with agent_circuit: key is then an agent's circuit.
 */
Jsonb *
fnd_cb_run_protected(const FndDbKey *key, const char *query, bool trial,
					 const char *context, bool agent_circuit)
{
	MemoryContext callcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorContextCallback errcb;
	int			depth;
	Jsonb	   *volatile result = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(callcxt);

	depth = cb_execute_depth;
	errcb.callback = cb_execute_context;
	errcb.arg = unconstify(char *, context);
	errcb.previous = error_context_stack;

	/* PG_TRY restores error_context_stack when it catches */
	PG_TRY();
	{
		error_context_stack = &errcb;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		result = cb_execute_query(query, callcxt);
		SPI_finish();
		error_context_stack = errcb.previous;

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(callcxt);
		edata = CopyErrorData();
		FlushErrorState();
		cb_execute_depth = depth;

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(callcxt);
		CurrentResourceOwner = oldowner;

		if (agent_circuit)
			fnd_breaker_melt_circuit(key);
		else
			fnd_breaker_melt(key);
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (agent_circuit)
		fnd_breaker_success_circuit(key, trial);
	else
		fnd_breaker_success(key, trial);
	return result;
}

/*
 * fnd_cb_execute(name, query) -> jsonb array of the query's rows
 *
 * Ask the breaker; when refused, FN201 saying when it retries.  Otherwise
 * run the query protected (fnd_cb_run_protected).
 */
Datum
fnd_cb_execute(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	bool		trial;
	char	   *query;

	fnd_breaker_key_from_arg(fcinfo, &key);
	query = text_to_cstring(fnd_arg_text(fcinfo, 1, "query"));
	trial = cb_execute_ask(&key);
	PG_RETURN_JSONB_P(fnd_cb_run_protected(&key, query, trial, key.name, false));
}
