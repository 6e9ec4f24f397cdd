/*-------------------------------------------------------------------------
 *
 * telemetry_agent.c
 *	  1.2 agent metrics: fnd_record_agent_metric (a measurement of a series
 *	  tagged with agent_id), fnd_metric_aggregate (one row across the series
 *	  of a name, histogram quantiles from the merged sketches), the C API
 *	  agents.c uses to gauge health, and the feature check of the 1.2
 *	  telemetry functions written in SQL.
 *
 * An agent's series is an ordinary series whose tags carry "agent_id", so
 * it shows in fnd_metrics, in the Prometheus text (as a label) and in the
 * saved file like any other.  Recording goes through telemetry.c's
 * fnd_record and keeps its rule: a measurement that cannot be kept is a
 * counted drop.  Only argument shapes raise: a kind that is not one of the
 * three words (FN501) and a missing or over-long agent id (FN003).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "agents.h"
#include "telemetry.h"

/*
 * The tag object of the last call, with agent_id added: most callers
 * record for one agent with the same tags again and again, and the
 * metric cache (telemetry.c) recognises a series by its tags' bytes.
 */
typedef struct FndAgentTagsCache
{
	int			agent_len;
	int			raw_len;		/* bytes of the caller's tags, 0: none */
	char		agent[FND_NAME_BUFSZ];
	char		raw[FND_TAGS_BUFSZ];
	Jsonb	   *merged;			/* in TopMemoryContext */
} FndAgentTagsCache;

static FndAgentTagsCache fnd_agent_tags_cache;

/* FN001 without the preload, FN002 with the agent features off. */
static void
fnd_telemetry_agent_require(void)
{
	fnd_require_shmem();
	fnd_agent_features_check();
}

PG_FUNCTION_INFO_V1(fnd_telemetry_require_1_2);
Datum
fnd_telemetry_require_1_2(PG_FUNCTION_ARGS)
{
	fnd_telemetry_agent_require();
	PG_RETURN_VOID();
}

/* counter, gauge or histogram; FN501 otherwise. */
static FndMetricKind
fnd_agent_metric_kind(FunctionCallInfo fcinfo, int argno)
{
	text	   *t;
	int			len,
				k;

	/* compared in place: this is on every call's path */
	if (!PG_ARGISNULL(argno))
	{
		t = PG_GETARG_TEXT_PP(argno);
		len = VARSIZE_ANY_EXHDR(t);
		for (k = 1; k <= FND_KIND_MAX; k++)
			if (len == strlen(fnd_kind_names[k]) &&
				memcmp(VARDATA_ANY(t), fnd_kind_names[k], len) == 0)
				return (FndMetricKind) k;
	}
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_METRIC),
			 errmsg("invalid metric kind"),
			 errdetail("kind must be counter, gauge or histogram."),
			 errhint("counter adds the value, gauge sets it, histogram observes it.")));
	return FND_GAUGE;			/* keep the compiler quiet */
}

/*
 * tags (NULL: none) with "agent_id": agent added, replacing a key of that
 * name.  Tags that are not an object are returned as they are, for
 * fnd_record to refuse (and count).
 */
static Jsonb *
fnd_agent_tags_build(const char *agent, int agent_len, Jsonb *tags)
{
	JsonbParseState *st = NULL;
	JsonbValue	k,
				v;
	JsonbValue *res;

	if (tags != NULL && (!JB_ROOT_IS_OBJECT(tags) || JB_ROOT_IS_SCALAR(tags)))
		return tags;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (tags != NULL)
	{
		JsonbIterator *it = JsonbIteratorInit(&tags->root);
		JsonbIteratorToken tok;
		bool		skip = false;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				skip = (v.val.string.len == 8 &&
						memcmp(v.val.string.val, "agent_id", 8) == 0);
				if (!skip)
					pushJsonbValue(&st, WJB_KEY, &v);
			}
			else if (tok == WJB_VALUE && !skip)
				pushJsonbValue(&st, WJB_VALUE, &v);
		}
	}
	k.type = jbvString;
	k.val.string.val = "agent_id";
	k.val.string.len = 8;
	pushJsonbValue(&st, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) agent;
	v.val.string.len = agent_len;
	pushJsonbValue(&st, WJB_VALUE, &v);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* The merged tags for (agent, tags), from the one-entry cache when equal. */
static Jsonb *
fnd_agent_tags(const char *agent, int agent_len, Jsonb *tags)
{
	FndAgentTagsCache *c = &fnd_agent_tags_cache;
	const char *raw = NULL;
	int			raw_len = 0;
	Jsonb	   *merged;
	MemoryContext old;

	if (tags != NULL && !(JB_ROOT_IS_OBJECT(tags) && JB_ROOT_COUNT(tags) == 0))
	{
		raw = (const char *) VARDATA(tags);
		raw_len = VARSIZE(tags) - VARHDRSZ;
	}
	else
		tags = NULL;

	if (c->merged != NULL && c->agent_len == agent_len &&
		c->raw_len == raw_len &&
		memcmp(c->agent, agent, agent_len) == 0 &&
		(raw_len == 0 || memcmp(c->raw, raw, raw_len) == 0))
		return c->merged;

	merged = fnd_agent_tags_build(agent, agent_len, tags);
	if (raw_len >= FND_TAGS_BUFSZ || merged == tags)
		return merged;			/* too long to remember, or refused later */

	old = MemoryContextSwitchTo(TopMemoryContext);
	if (c->merged != NULL)
		pfree(c->merged);
	c->merged = (Jsonb *) palloc(VARSIZE(merged));
	memcpy(c->merged, merged, VARSIZE(merged));
	MemoryContextSwitchTo(old);
	c->agent_len = agent_len;
	memcpy(c->agent, agent, agent_len);
	c->raw_len = raw_len;
	if (raw_len > 0)
		memcpy(c->raw, raw, raw_len);
	return c->merged;
}

/*
 * fnd_record_agent_metric(agent_id, name, value, kind, tags): the series
 * name{tags, agent_id}.  An agent need not be registered (metrics may
 * arrive first).
 */
PG_FUNCTION_INFO_V1(fnd_record_agent_metric);
Datum
fnd_record_agent_metric(PG_FUNCTION_ARGS)
{
	text	   *agent;
	text	   *name;
	FndMetricKind kind;
	int			agent_len;

	fnd_telemetry_agent_require();
	kind = fnd_agent_metric_kind(fcinfo, 3);
	agent = PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0);
	agent_len = agent ? VARSIZE_ANY_EXHDR(agent) : 0;
	if (agent == NULL || agent_len < 1 || agent_len > FND_NAME_MAX ||
		memchr(VARDATA_ANY(agent), '\0', agent_len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("invalid agent_id"),
				 errdetail("An agent id is 1 to %d bytes.", FND_NAME_MAX)));

	/* a NULL name or value is a counted drop, as in 1.0 */
	name = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	fnd_telemetry_record(kind,
						 name ? VARDATA_ANY(name) : "",
						 name ? VARSIZE_ANY_EXHDR(name) : 0,
						 fnd_agent_tags(VARDATA_ANY(agent), agent_len,
										PG_ARGISNULL(4) ? NULL : PG_GETARG_JSONB_P(4)),
						 PG_ARGISNULL(2) ? get_float8_nan() : PG_GETARG_FLOAT8(2),
						 true);
	PG_RETURN_VOID();
}

/*
 * The C API for agents.c: set the gauge name{agent_id} of the current
 * database.  Silent, never raises past what the jsonb code may raise for
 * memory, a no-op without shared memory.
 */
void
fnd_telemetry_agent_gauge(const char *name, const char *agent_id,
						  double value)
{
	int			len;

	if (fnd_tel == NULL || name == NULL || agent_id == NULL)
		return;
	len = strlen(agent_id);
	if (len < 1 || len > FND_NAME_MAX)
		return;
	fnd_telemetry_record(FND_GAUGE, name, strlen(name),
						 fnd_agent_tags_build(agent_id, len, NULL), value,
						 false);
}

/* ---------------------------------------------------------------------
 * fnd_metric_aggregate
 * ---------------------------------------------------------------------
 */

/* One row across series, built up series by series. */
typedef struct FndAggregate
{
	int			series;
	int			kind;
	int64		count;
	double		sum;
	double		min;
	double		max;
	FndSketch  *sketch;			/* histograms: the merge */
} FndAggregate;

/* Does row r belong to the aggregate of name with tags filter? */
static bool
fnd_aggregate_matches(const FndMetricRow *r, const char *name, int name_len,
					  Jsonb *filter)
{
	if (r->key.name_len != name_len ||
		memcmp(r->key.name, name, name_len) != 0)
		return false;
	if (filter == NULL)
		return true;
	return DatumGetBool(DirectFunctionCall2(jsonb_contains,
											fnd_tags_datum(&r->key),
											JsonbPGetDatum(filter)));
}

/*
 * Add one series: a histogram brings its observations (and sketch), a
 * counter or gauge its current value.
 */
static void
fnd_aggregate_add(FndAggregate *a, const FndMetricRow *r)
{
	double		lo = r->kind == FND_HISTOGRAM ? r->min : r->last;
	double		hi = r->kind == FND_HISTOGRAM ? r->max : r->last;

	if (a->series > 0 && a->kind != r->kind)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("series of metric \"%.*s\" have different kinds",
						r->key.name_len, r->key.name),
				 /* in kind order: the series come in no fixed order */
				 errdetail("Found a %s and a %s.",
						   fnd_kind_names[Min(a->kind, r->kind)],
						   fnd_kind_names[Max(a->kind, r->kind)]),
				 errhint("Pass tags that select series of one kind.")));
	if (a->series == 0 || lo < a->min)
		a->min = lo;
	if (a->series == 0 || hi > a->max)
		a->max = hi;
	a->series++;
	a->kind = r->kind;
	a->count += r->count;
	a->sum += r->kind == FND_HISTOGRAM ? r->sum : r->last;
	if (r->kind == FND_HISTOGRAM && r->sketch != NULL)
	{
		if (a->sketch == NULL)
		{
			a->sketch = palloc(sizeof(FndSketch));
			fnd_sketch_init(a->sketch);
		}
		fnd_sketch_merge(a->sketch, r->sketch);
	}
}

PG_FUNCTION_INFO_V1(fnd_metric_aggregate);
Datum
fnd_metric_aggregate(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	FndAggregate a = {0};
	FndMetricRow *rows;
	Jsonb	   *filter = NULL;
	text	   *name;
	Datum		values[10];
	bool		nulls[10] = {0};
	int			n,
				i;

	fnd_telemetry_agent_require();
	name = fnd_arg_text(fcinfo, 0, "name");
	if (!PG_ARGISNULL(1))
	{
		filter = PG_GETARG_JSONB_P(1);
		if (!JB_ROOT_IS_OBJECT(filter) || JB_ROOT_IS_SCALAR(filter))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("tags must be a JSON object")));
		if (JB_ROOT_COUNT(filter) == 0)
			filter = NULL;
	}
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	rows = fnd_telemetry_snapshot(MyDatabaseId, true, &n);
	for (i = 0; i < n; i++)
		if (fnd_aggregate_matches(&rows[i], VARDATA_ANY(name),
								  VARSIZE_ANY_EXHDR(name), filter))
			fnd_aggregate_add(&a, &rows[i]);

	values[0] = Int32GetDatum(a.series);
	values[1] = Int64GetDatum(a.count);
	values[2] = Float8GetDatum(a.sum);
	values[3] = Float8GetDatum(a.min);
	values[4] = Float8GetDatum(a.max);
	values[5] = Float8GetDatum(a.kind == FND_HISTOGRAM ?
							   (a.count > 0 ? a.sum / a.count : 0) :
							   (a.series > 0 ? a.sum / a.series : 0));
	for (i = 2; i < 6; i++)
		nulls[i] = (a.series == 0);
	for (i = 0; i < FND_QUANTILES; i++)
	{
		nulls[6 + i] = (a.sketch == NULL);
		if (a.sketch != NULL)
			values[6 + i] = Float8GetDatum(Min(Max(fnd_sketch_quantile(a.sketch, fnd_quantiles[i]),
												   a.min), a.max));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc),
													  values, nulls)));
}
