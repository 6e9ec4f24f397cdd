/*-------------------------------------------------------------------------
 *
 * agents_query.c
 *	  Agents (1.1): lookups by id, capability and health, the fnd_agents
 *	  view and fnd_agent_stats.
 *
 * Every lookup copies what it needs under the agents' lock and the
 * registry's, both shared (agents.c gives the order), then builds rows
 * without them: role names, arrays and jsonb are made after releasing.
 * A lookup by capability walks only that capability's list.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"

#define FND_AGENT_NCOLS 12

/* A copy of one live agent, made under the locks. */
typedef struct FndAgentRow
{
	char	   *ns;
	char	   *agent_id;
	int			ncaps;
	char	  **caps;
	int			health;
	Jsonb	   *metadata;
	TimestampTz last_health_check;
	TimestampTz registered_at;
	int			pid;
	Oid			owner_role;
	bool		leased;
	TimestampTz expires_at;
} FndAgentRow;

/* What to collect: one id, one capability's list, or every agent. */
typedef struct FndAgentFilter
{
	const FndDbKey *id;			/* by id */
	const FndDbKey *cap;		/* by capability */
	const char *ns;				/* NULL: any namespace */
	int			health;			/* -1: any */
} FndAgentFilter;

PG_FUNCTION_INFO_V1(fnd_lookup_agent);
PG_FUNCTION_INFO_V1(fnd_lookup_agents_by_capability);
PG_FUNCTION_INFO_V1(fnd_lookup_agents_by_health);
PG_FUNCTION_INFO_V1(fnd_agent_list);
PG_FUNCTION_INFO_V1(fnd_agent_stats);

/*
 * Copy e into rows[*n] if it is live and passes the filter.  Caller holds
 * both locks.
 */
static void
fnd_agent_take(const FndAgentEntry *e, const FndAgentFilter *f,
			   TimestampTz now, FndAgentRow *rows, int *n)
{
	FndAgentRow *r = &rows[*n];
	FndRegInfo	info;
	int			i;

	if (e->key.dbid != MyDatabaseId ||
		(f->ns != NULL && strcmp(f->ns, e->ns) != 0))
		return;
	r->health = fnd_agent_health_at(e, now);
	if (f->health >= 0 && r->health != f->health)
		return;
	if (!fnd_agent_live_locked(e, now, &info, true))
		return;
	r->ns = pstrdup(e->ns);
	r->agent_id = pstrdup(e->key.name);
	r->ncaps = e->ncaps;
	r->caps = palloc(sizeof(char *) * Max(e->ncaps, 1));
	for (i = 0; i < e->ncaps; i++)
		r->caps[i] = pstrdup(e->caps[i]->key.name);
	r->metadata = info.metadata;
	r->last_health_check = e->last_health_check;
	r->registered_at = e->registered_at;
	r->pid = info.pid;
	r->owner_role = info.owner_role;
	r->leased = info.leased;
	r->expires_at = info.expires_at;
	(*n)++;
}

/* The agents the filter selects, copied; *n rows. */
static FndAgentRow *
fnd_agent_collect(const FndAgentFilter *f, int *n)
{
	FndAgentRow *rows;
	TimestampTz now = fnd_now();
	LWLock	   *lock = fnd_dbtable_lock(&fnd_agent_table);

	*n = 0;
	LWLockAcquire(lock, LW_SHARED);
	LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
	if (f->id != NULL)
	{
		FndAgentEntry *e = fnd_dbtable_find(&fnd_agent_table, f->id,
											fnd_dbtable_hash(&fnd_agent_table, f->id));

		rows = palloc(sizeof(FndAgentRow));
		if (e != NULL)
			fnd_agent_take(e, f, now, rows, n);
	}
	else if (f->cap != NULL)
	{
		FndCapEntry *c = fnd_dbtable_find(&fnd_cap_table, f->cap,
										  fnd_dbtable_hash(&fnd_cap_table, f->cap));
		FndAgentEntry *e = c ? c->head : NULL;

		rows = palloc(sizeof(FndAgentRow) * Max(c ? c->count : 0, 1));
		while (e != NULL)
		{
			int			j;

			fnd_agent_take(e, f, now, rows, n);
			for (j = 0; j < e->ncaps && e->caps[j] != c; j++)
				;
			e = e->next[j];
		}
	}
	else
	{
		HASH_SEQ_STATUS seq;
		FndAgentEntry *e;

		rows = palloc(sizeof(FndAgentRow) * Max(fnd_dbtable_count(&fnd_agent_table), 1));
		hash_seq_init(&seq, fnd_agent_table.htab);
		while ((e = hash_seq_search(&seq)) != NULL)
			fnd_agent_take(e, f, now, rows, n);
	}
	LWLockRelease(fnd_reg_shared_lock());
	LWLockRelease(lock);
	return rows;
}

static int
fnd_agent_row_cmp(const void *a, const void *b)
{
	const FndAgentRow *x = a;
	const FndAgentRow *y = b;
	int			c = strcmp(x->ns, y->ns);

	return c != 0 ? c : strcmp(x->agent_id, y->agent_id);
}

/* A key of the agent_context object of a document, or '{}'. */
static Datum
fnd_agent_context_key(Jsonb *doc, const char *key)
{
	JsonbValue *ctx = getKeyJsonValueFromContainer(&doc->root, "agent_context",
												   13, NULL);
	JsonbValue *v = NULL;

	if (ctx != NULL && ctx->type == jbvBinary)
		v = getKeyJsonValueFromContainer(ctx->val.binary.data, key,
										 strlen(key), NULL);
	if (v == NULL || v->type != jbvBinary)
		return DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"));
	return JsonbPGetDatum(JsonbValueToJsonb(v));
}

/* The document with "health" as it reads now (silence included). */
static Datum
fnd_agent_document_now(const FndAgentRow *r)
{
	char		patch[64];

	snprintf(patch, sizeof(patch), "{\"health\": \"%s\"}",
			 fnd_health_name(r->health));
	return DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(r->metadata),
							   DirectFunctionCall1(jsonb_in, CStringGetDatum(patch)));
}

static void
fnd_agent_values(const FndAgentRow *r, Datum *values, bool *nulls)
{
	Datum	   *caps = palloc(sizeof(Datum) * Max(r->ncaps, 1));
	char	   *role = GetUserNameFromId(r->owner_role, true);
	int			i;

	memset(nulls, 0, sizeof(bool) * FND_AGENT_NCOLS);
	for (i = 0; i < r->ncaps; i++)
		caps[i] = CStringGetTextDatum(r->caps[i]);
	values[0] = CStringGetTextDatum(r->ns);
	values[1] = CStringGetTextDatum(r->agent_id);
	values[2] = PointerGetDatum(construct_array(caps, r->ncaps, TEXTOID, -1,
												false, TYPALIGN_INT));
	values[3] = CStringGetTextDatum(fnd_health_name(r->health));
	values[4] = fnd_agent_context_key(r->metadata, "resource_usage");
	values[5] = fnd_agent_context_key(r->metadata, "coordination_state");
	values[6] = fnd_agent_document_now(r);
	values[7] = TimestampTzGetDatum(r->last_health_check);
	values[8] = TimestampTzGetDatum(r->registered_at);
	values[9] = Int32GetDatum(r->pid);
	nulls[9] = r->leased;
	if (role != NULL)
		values[10] = DirectFunctionCall1(namein, CStringGetDatum(role));
	nulls[10] = (role == NULL);
	values[11] = TimestampTzGetDatum(r->expires_at);
	nulls[11] = !r->leased;
}

/* Collect, sort and return the rows as the function's result set. */
static Datum
fnd_agent_emit(FunctionCallInfo fcinfo, const FndAgentFilter *f)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndAgentRow *rows;
	int			n;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	rows = fnd_agent_collect(f, &n);
	qsort(rows, n, sizeof(FndAgentRow), fnd_agent_row_cmp);
	for (i = 0; i < n; i++)
	{
		Datum		values[FND_AGENT_NCOLS];
		bool		nulls[FND_AGENT_NCOLS];

		fnd_agent_values(&rows[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The optional namespace argument, checked, or NULL. */
static char *
fnd_agent_ns_arg(FunctionCallInfo fcinfo, int argno, char *buf)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	fnd_check_name(PG_GETARG_TEXT_PP(argno), "namespace", buf);
	return buf;
}

/* fnd_lookup_agent(agent_id) RETURNS TABLE(...): zero or one row */
Datum
fnd_lookup_agent(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	FndAgentFilter f = {.id = &key, .health = -1};

	fnd_agent_require();
	fnd_agent_key_from_arg(fcinfo, 0, &key);
	return fnd_agent_emit(fcinfo, &f);
}

/* fnd_lookup_agents_by_capability(capability, namespace DEFAULT NULL) */
Datum
fnd_lookup_agents_by_capability(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	char		ns[FND_NAME_BUFSZ];
	FndAgentFilter f = {.cap = &key, .health = -1};
	char	   *cap;

	fnd_agent_require();
	cap = text_to_cstring(fnd_arg_text(fcinfo, 0, "capability"));
	fnd_agent_check_capability(cap);
	fnd_dbkey_set(&key, MyDatabaseId, cap);
	f.ns = fnd_agent_ns_arg(fcinfo, 1, ns);
	return fnd_agent_emit(fcinfo, &f);
}

/* fnd_lookup_agents_by_health(health, namespace DEFAULT NULL) */
Datum
fnd_lookup_agents_by_health(PG_FUNCTION_ARGS)
{
	char		ns[FND_NAME_BUFSZ];
	FndAgentFilter f = {0};

	fnd_agent_require();
	f.health = fnd_health_arg(fcinfo, 0);
	f.ns = fnd_agent_ns_arg(fcinfo, 1, ns);
	return fnd_agent_emit(fcinfo, &f);
}

/* fnd_agent_list(): every agent of this database (the fnd_agents view) */
Datum
fnd_agent_list(PG_FUNCTION_ARGS)
{
	FndAgentFilter f = {.health = -1};

	fnd_agent_require();
	return fnd_agent_emit(fcinfo, &f);
}

/* Append "key": count pairs of a sorted list of names, counting runs. */
static void
fnd_agent_append_counts(StringInfo buf, const char *title, char **names, int n)
{
	int			i = 0;
	bool		first = true;

	qsort(names, n, sizeof(char *), pg_qsort_strcmp);
	appendStringInfo(buf, ", \"%s\": {", title);
	while (i < n)
	{
		int			j = i;

		while (j < n && strcmp(names[j], names[i]) == 0)
			j++;
		if (!first)
			appendStringInfoString(buf, ", ");
		escape_json(buf, names[i]);
		appendStringInfo(buf, ": %d", j - i);
		first = false;
		i = j;
	}
	appendStringInfoChar(buf, '}');
}

/*
 * fnd_agent_stats(namespace DEFAULT NULL) RETURNS jsonb:
 * {"total", "by_health", "by_capability", "by_namespace"}
 */
Datum
fnd_agent_stats(PG_FUNCTION_ARGS)
{
	char		nsbuf[FND_NAME_BUFSZ];
	FndAgentFilter f = {.health = -1};
	FndAgentRow *rows;
	int			n, i, j, ncap = 0;
	int			by_health[3] = {0, 0, 0};
	char	  **caps, **nss;
	StringInfoData buf;

	fnd_agent_require();
	f.ns = fnd_agent_ns_arg(fcinfo, 0, nsbuf);
	rows = fnd_agent_collect(&f, &n);
	caps = palloc(sizeof(char *) * Max(n * FND_AGENT_MAX_CAPS, 1));
	nss = palloc(sizeof(char *) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		by_health[rows[i].health]++;
		nss[i] = rows[i].ns;
		for (j = 0; j < rows[i].ncaps; j++)
			caps[ncap++] = rows[i].caps[j];
	}
	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"total\": %d, \"by_health\": {\"healthy\": %d, \"degraded\": %d, \"unhealthy\": %d}",
					 n, by_health[0], by_health[1], by_health[2]);
	fnd_agent_append_counts(&buf, "by_capability", caps, ncap);
	fnd_agent_append_counts(&buf, "by_namespace", nss, n);
	appendStringInfoChar(&buf, '}');
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}
