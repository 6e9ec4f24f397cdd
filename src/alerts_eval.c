/*-------------------------------------------------------------------------
 *
 * alerts_eval.c
 *	  The hot part of an alert evaluation (1.2): every rule against every
 *	  series of its metric, in one pass over one copy of the metric table.
 *
 * fnd_alerts_candidates(active_rules, active_instances) returns the alert
 * instances an evaluation must look at: those whose condition holds now,
 * those of rate rules (their value comes from the history, in SQL), and
 * the active ones passed in (pending or firing, which may be changing to
 * resolved or inactive).  Everything else -- the vast majority when
 * nothing is wrong -- never leaves C, which is what keeps a pass over
 * 1,000 rules and 10,000 series within tens of milliseconds.  The state
 * machine itself is SQL (fnd_alerts_changes in the step).
 *
 * An instance is one series: its name is the series' canonical tag text
 * (the text of fnd_metrics.tags), its agent the tag agent_id.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "telemetry.h"

#define FND_ALERTS_PLAN_RULES	0

/* fields, as the rule table spells them; FND_FIELD_RATE is done in SQL */
typedef enum FndAlertField
{
	FND_FIELD_LAST, FND_FIELD_MEAN, FND_FIELD_COUNT, FND_FIELD_SUM,
	FND_FIELD_MIN, FND_FIELD_MAX, FND_FIELD_P50, FND_FIELD_P90,
	FND_FIELD_P95, FND_FIELD_P99, FND_FIELD_RATE
} FndAlertField;

static const char *const fnd_alert_fields[] = {
	"last", "mean", "count", "sum", "min", "max", "p50", "p90", "p95", "p99",
	"rate", NULL
};
static const char *const fnd_alert_conditions[] = {
	"gt", "ge", "lt", "le", "eq", "ne", NULL
};

typedef struct FndAlertRule
{
	int64		id;
	char	   *metric;
	char	   *agent_id;		/* NULL: every series */
	Jsonb	   *tags;			/* NULL: {} */
	int			field;			/* FndAlertField */
	int			condition;		/* index in fnd_alert_conditions */
	double		threshold;
} FndAlertRule;

/* One series of the copy, its tags parsed on first need. */
typedef struct FndAlertSeries
{
	FndMetricRow *row;
	int			next;			/* next series of the same name, -1: none */
	bool		parsed;
	Jsonb	   *tags;
	char	   *agent_id;		/* NULL: no agent_id tag */
	int			nactive;		/* rules for which this series is active */
	int64	   *active;			/* their ids */
} FndAlertSeries;

typedef struct FndAlertNameEntry
{
	char		name[FND_NAME_BUFSZ];
	int			first;
} FndAlertNameEntry;

/* A series by its instance name (canonical tags), within one name. */
typedef struct FndAlertInstanceKey
{
	char		name[FND_NAME_BUFSZ];
	char		instance[FND_TAGS_BUFSZ];
} FndAlertInstanceKey;

typedef struct FndAlertInstanceEntry
{
	FndAlertInstanceKey key;
	int			series;
} FndAlertInstanceEntry;

static FndCatalogTable fnd_alert_rules_eval_table = {.relname = "fnd_alert_rules"};

static int
fnd_alert_word(const char *const *words, const char *w)
{
	int			i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], w) == 0)
			return i;
	elog(ERROR, "unexpected word \"%s\" in fnd_alert_rules", w);
	return -1;
}

/* Read every rule (the table's checks guarantee their words). */
static FndAlertRule *
fnd_alert_rules_load(int *nrules)
{
	SPIPlanPtr	plan;
	FndAlertRule *rules;
	MemoryContext callercxt = CurrentMemoryContext;
	int			ret;
	uint64		i;

	if (!fnd_catalog_find(&fnd_alert_rules_eval_table, InvalidOid, false))
		elog(ERROR, "fnd_alert_rules not found");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = fnd_catalog_plan(&fnd_alert_rules_eval_table, FND_ALERTS_PLAN_RULES,
							"SELECT id, metric, agent_id, tags, field, condition, threshold "
							"FROM @extschema@.fnd_alert_rules",
							0, NULL, 0);
	ret = fnd_catalog_execute(&fnd_alert_rules_eval_table, plan, NULL, NULL,
							  true, 0, true);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading fnd_alert_rules failed: %s", SPI_result_code_string(ret));

	rules = MemoryContextAllocZero(callercxt, sizeof(FndAlertRule) * (SPI_processed + 1));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		FndAlertRule *r = &rules[i];
		MemoryContext old;
		bool		isnull;
		Datum		d;

		old = MemoryContextSwitchTo(callercxt);
		r->id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		r->metric = SPI_getvalue(tup, desc, 2);
		r->agent_id = SPI_getvalue(tup, desc, 3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		r->tags = DatumGetJsonbPCopy(d);
		if (JB_ROOT_COUNT(r->tags) == 0)
			r->tags = NULL;
		r->field = fnd_alert_word(fnd_alert_fields, SPI_getvalue(tup, desc, 5));
		r->condition = fnd_alert_word(fnd_alert_conditions, SPI_getvalue(tup, desc, 6));
		r->threshold = DatumGetFloat8(SPI_getbinval(tup, desc, 7, &isnull));
		MemoryContextSwitchTo(old);
	}
	*nrules = (int) SPI_processed;
	SPI_finish();
	return rules;
}

/* The series of the copy, chained by name in a local hash table. */
static HTAB *
fnd_alert_series_index(FndMetricRow *rows, int n, FndAlertSeries *series)
{
	HASHCTL		ctl;
	HTAB	   *names;
	int			i;

	ctl.keysize = FND_NAME_BUFSZ;
	ctl.entrysize = sizeof(FndAlertNameEntry);
	ctl.hcxt = CurrentMemoryContext;
	names = hash_create("foundation alert names", Max(n, 16), &ctl,
						HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	for (i = n - 1; i >= 0; i--)
	{
		FndAlertNameEntry *e;
		bool		found;

		series[i].row = &rows[i];
		series[i].parsed = false;
		series[i].nactive = 0;
		series[i].active = NULL;
		e = hash_search(names, rows[i].key.name, HASH_ENTER, &found);
		series[i].next = found ? e->first : -1;
		e->first = i;
	}
	return names;
}

/* Parse a series' tags and find its agent_id, once. */
static void
fnd_alert_series_parse(FndAlertSeries *s)
{
	JsonbValue	k;
	JsonbValue *v;

	if (s->parsed)
		return;
	s->parsed = true;
	s->tags = DatumGetJsonbP(fnd_tags_datum(&s->row->key));
	s->agent_id = NULL;
	k.type = jbvString;
	k.val.string.val = "agent_id";
	k.val.string.len = 8;
	v = findJsonbValueFromContainer(&s->tags->root, JB_FOBJECT, &k);
	if (v != NULL && v->type == jbvString)
		s->agent_id = pnstrdup(v->val.string.val, v->val.string.len);
}

/* The field's value for a series; false when it has none (NULL). */
static bool
fnd_alert_value(const FndMetricRow *r, int field, double *value)
{
	bool		counter = (r->kind == FND_COUNTER);

	switch (field)
	{
		case FND_FIELD_LAST:
			*value = r->last;
			return true;
		case FND_FIELD_MEAN:
			*value = r->count > 0 ? r->sum / r->count : 0;
			return !counter && r->count > 0;
		case FND_FIELD_COUNT:
			*value = (double) r->count;
			return true;
		case FND_FIELD_SUM:
			*value = r->sum;
			return true;
		case FND_FIELD_MIN:
			*value = r->min;
			return !counter;
		case FND_FIELD_MAX:
			*value = r->max;
			return !counter;
		default:
			if (r->kind != FND_HISTOGRAM)
				return false;
			*value = r->q[field - FND_FIELD_P50];
			return true;
	}
}

static bool
fnd_alert_holds(int condition, double v, double t)
{
	switch (condition)
	{
		case 0:
			return v > t;
		case 1:
			return v >= t;
		case 2:
			return v < t;
		case 3:
			return v <= t;
		case 4:
			return v == t;
		default:
			return v != t;
	}
}

/*
 * Mark the active instances passed in (rule ids and instance names, in
 * pairs) on their series, so that the scan looks an instance up only where
 * a series has one: the common case costs one comparison.
 */
static void
fnd_alert_mark_active(ArrayType *rules, ArrayType *instances,
					  const FndAlertRule *rule_list, int nrules,
					  FndAlertSeries *series, int nseries)
{
	HASHCTL		ctl;
	HTAB	   *ids;
	HTAB	   *by_instance;
	Datum	   *rd,
			   *id;
	bool	   *rn,
			   *inul;
	int			nr,
				ni,
				i;

	if (rules == NULL || instances == NULL)
		return;
	deconstruct_array(rules, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE, &rd, &rn, &nr);
	deconstruct_array(instances, TEXTOID, -1, false, TYPALIGN_INT, &id, &inul, &ni);
	if (Min(nr, ni) == 0)
		return;

	/* rule id -> its metric */
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(int64) + sizeof(char *);
	ctl.hcxt = CurrentMemoryContext;
	ids = hash_create("foundation alert rules", Max(nrules, 16), &ctl,
					  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < nrules; i++)
	{
		char	  **metric = (char **) ((char *) hash_search(ids, &rule_list[i].id,
															  HASH_ENTER, NULL) + sizeof(int64));

		*metric = rule_list[i].metric;
	}
	/* (name, instance) -> series */
	ctl.keysize = sizeof(FndAlertInstanceKey);
	ctl.entrysize = sizeof(FndAlertInstanceEntry);
	by_instance = hash_create("foundation alert instances", Max(nseries, 16), &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	for (i = 0; i < nseries; i++)
	{
		FndAlertInstanceKey key;
		FndAlertInstanceEntry *e;

		memset(&key, 0, sizeof(key));
		memcpy(key.name, series[i].row->key.name, series[i].row->key.name_len);
		strlcpy(key.instance, series[i].row->key.tags_len > 0 ? series[i].row->key.tags : "{}",
				sizeof(key.instance));
		e = hash_search(by_instance, &key, HASH_ENTER, NULL);
		e->series = i;
	}

	for (i = 0; i < Min(nr, ni); i++)
	{
		FndAlertInstanceKey key;
		FndAlertInstanceEntry *e;
		FndAlertSeries *s;
		char	  **metric;
		int64		rule_id;
		text	   *t;

		if (rn[i] || inul[i])
			continue;
		rule_id = DatumGetInt64(rd[i]);
		t = DatumGetTextPP(id[i]);
		metric = (char **) hash_search(ids, &rule_id, HASH_FIND, NULL);
		if (metric == NULL || VARSIZE_ANY_EXHDR(t) >= FND_TAGS_BUFSZ)
			continue;
		metric = (char **) ((char *) metric + sizeof(int64));
		if (strlen(*metric) >= FND_NAME_BUFSZ)
			continue;
		memset(&key, 0, sizeof(key));
		strlcpy(key.name, *metric, sizeof(key.name));
		memcpy(key.instance, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
		e = hash_search(by_instance, &key, HASH_FIND, NULL);
		if (e == NULL)
			continue;			/* the series is gone: SQL resolves it */
		s = &series[e->series];
		s->active = s->nactive == 0 ? palloc(sizeof(int64) * 4) :
			((s->nactive & (s->nactive - 1)) == 0 && s->nactive >= 4) ?
			repalloc(s->active, sizeof(int64) * s->nactive * 2) : s->active;
		s->active[s->nactive++] = rule_id;
	}
}

/* Is rule_id one of the series' active rules? */
static inline bool
fnd_alert_is_active(const FndAlertSeries *s, int64 rule_id)
{
	int			i;

	for (i = 0; i < s->nactive; i++)
		if (s->active[i] == rule_id)
			return true;
	return false;
}

/* Does series s belong to rule r (agent and tags)? */
static bool
fnd_alert_series_matches(const FndAlertRule *r, FndAlertSeries *s)
{
	if (r->agent_id == NULL && r->tags == NULL)
		return true;
	fnd_alert_series_parse(s);
	if (r->agent_id != NULL &&
		(s->agent_id == NULL || strcmp(s->agent_id, r->agent_id) != 0))
		return false;
	if (r->tags != NULL &&
		!DatumGetBool(DirectFunctionCall2(jsonb_contains, JsonbPGetDatum(s->tags),
										  JsonbPGetDatum(r->tags))))
		return false;
	return true;
}

/* Emit one candidate row. */
static void
fnd_alert_emit(ReturnSetInfo *rsinfo, const FndAlertRule *r, FndAlertSeries *s,
			   const char *instance, bool has_value, double value, bool cond)
{
	Datum		values[6];
	bool		nulls[6] = {0};

	fnd_alert_series_parse(s);
	values[0] = Int64GetDatum(r->id);
	values[1] = CStringGetTextDatum(instance);
	values[2] = s->agent_id ? CStringGetTextDatum(s->agent_id) : (Datum) 0;
	nulls[2] = (s->agent_id == NULL);
	values[3] = Float8GetDatum(value);
	nulls[3] = !has_value;
	values[4] = BoolGetDatum(cond);
	nulls[4] = (r->field == FND_FIELD_RATE);
	values[5] = BoolGetDatum(r->field == FND_FIELD_RATE);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* One rule against the series of its metric. */
static void
fnd_alert_rule_scan(ReturnSetInfo *rsinfo, const FndAlertRule *r,
					FndAlertSeries *series, HTAB *names)
{
	FndAlertNameEntry *e;
	int			i;

	if (strlen(r->metric) >= FND_NAME_BUFSZ)
		return;
	e = hash_search(names, r->metric, HASH_FIND, NULL);
	for (i = e ? e->first : -1; i >= 0; i = series[i].next)
	{
		FndAlertSeries *s = &series[i];
		const char *instance = s->row->key.tags_len > 0 ? s->row->key.tags : "{}";
		double		value = 0;
		bool		has_value = false;
		bool		cond = false;

		if (!fnd_alert_series_matches(r, s))
			continue;
		if (r->field != FND_FIELD_RATE)
		{
			has_value = fnd_alert_value(s->row, r->field, &value);
			cond = has_value && fnd_alert_holds(r->condition, value, r->threshold);
		}
		if (!cond && r->field != FND_FIELD_RATE && !fnd_alert_is_active(s, r->id))
			continue;
		fnd_alert_emit(rsinfo, r, s, instance, has_value, value, cond);
	}
}

/*
 * fnd_alerts_candidates(active_rules bigint[], active_instances text[])
 * RETURNS TABLE(rule_id, instance, agent_id, value, cond, rate)
 */
PG_FUNCTION_INFO_V1(fnd_alerts_candidates);
Datum
fnd_alerts_candidates(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndMetricRow *rows;
	FndAlertSeries *series;
	FndAlertRule *rules;
	HTAB	   *names;
	int			nrows,
				nrules,
				i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	rules = fnd_alert_rules_load(&nrules);
	if (nrules == 0)
		return (Datum) 0;
	rows = fnd_telemetry_snapshot(MyDatabaseId, false, &nrows);
	series = palloc(sizeof(FndAlertSeries) * Max(nrows, 1));
	names = fnd_alert_series_index(rows, nrows, series);
	fnd_alert_mark_active(PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0),
						  PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1),
						  rules, nrules, series, nrows);
	for (i = 0; i < nrules; i++)
		fnd_alert_rule_scan(rsinfo, &rules[i], series, names);
	return (Datum) 0;
}
