/*-------------------------------------------------------------------------
 *
 * config_agent.c
 *	  Per-agent config (1.1): the agent id check, fnd_get_agent_config and
 *	  fnd_get_effective_config.  The writers are PL/pgSQL in the 1.1 step.
 *
 * A read is one SPI query over fnd_config and fnd_agent_config together
 * (UNION ALL of plain index scans, source 0 global, 1 agent) that returns
 * every row a read of the path can use from either source: the
 * leaf itself, its ancestors (a value inside an ancestor's object) and its
 * subtree.  Each source's value is then resolved exactly as fnd_config_get
 * resolves it (leaf, else subtree, else inside an ancestor), and the two
 * are merged: objects deeply, anything else from the agent.  One query
 * instead of fnd_config_get's one to three keeps the effective read as cheap
 * as the global one.
 *
 * Reads run as the caller under the caller's snapshot, through plans kept
 * by the extension-catalog helper, schema- and operator-qualified.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "utils/acl.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "catalog.h"
#include "foundation.h"

/* config.c: the path check (FN301, FN003), written once there */
extern Datum fnd_config_check_path(PG_FUNCTION_ARGS);


static FndCatalogTable fnd_agent_config_table = {.relname = "fnd_agent_config"};
static FndCatalogTable fnd_agent_config_global = {.relname = "fnd_config"};

#define FND_AGENT_CONFIG_PLAN_PATH	0
#define FND_AGENT_CONFIG_PLAN_ALL	1

/* Rows of one source, in path order. */
typedef struct FndAgentConfigRows
{
	int			n;
	int			cap;			/* allocated (direct reads) */
	char	  **paths;
	Jsonb	  **values;
} FndAgentConfigRows;

/*
 * FN002 when foundation.agent_features is off.  The setting belongs to the
 * agent registry; read by name so this file builds without it (unset means
 * on).
 */
static void
fnd_agent_config_require_features(void)
{
	const char *v = GetConfigOption("foundation.agent_features", true, false);

	if (v != NULL && strcmp(v, "off") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_FEATURE_DISABLED),
				 errmsg("agent features are disabled"),
				 errhint("Set foundation.agent_features to on.")));
}

/* Check an agent id argument (FN003); NULL only when optional. */
static text *
fnd_agent_config_arg_id(FunctionCallInfo fcinfo, int argno, bool optional)
{
	char		buf[FND_NAME_BUFSZ];
	text	   *id;

	if (PG_ARGISNULL(argno))
	{
		if (optional)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("agent id must not be null")));
	}
	id = PG_GETARG_TEXT_PP(argno);
	fnd_check_name(id, "agent id", buf);
	return id;
}

/*
 * fnd_agent_config_check(agent_id text, optional boolean) RETURNS text
 */
PG_FUNCTION_INFO_V1(fnd_agent_config_check);

Datum
fnd_agent_config_check(PG_FUNCTION_ARGS)
{
	bool		optional = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	text	   *id;

	fnd_agent_config_require_features();
	id = fnd_agent_config_arg_id(fcinfo, 0, optional);
	if (id == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(id);
}

static void
fnd_agent_config_binary(JsonbValue *v, Jsonb *j)
{
	v->type = jbvBinary;
	v->val.binary.data = &j->root;
	v->val.binary.len = VARSIZE(j) - VARHDRSZ;
}

/*
 * Assemble rows [from, to) of r, in path order, into one object; skip bytes
 * of each path are the prefix they share.
 */
static Jsonb *
fnd_agent_config_assemble(FndAgentConfigRows *r, int from, int to, int skip)
{
	return fnd_config_tree(to - from, r->paths + from, r->values + from, skip,
						   CurrentMemoryContext);
}

/* The value at key path rest (dotted) inside the object j, or NULL. */
static Jsonb *
fnd_agent_config_inside(Jsonb *j, const char *rest)
{
	JsonbValue	cur;

	fnd_agent_config_binary(&cur, j);
	for (;;)
	{
		const char *dot = strchr(rest, '.');
		int			klen = dot ? dot - rest : strlen(rest);
		JsonbValue *next;

		if (cur.type != jbvBinary || !JsonContainerIsObject(cur.val.binary.data))
			return NULL;
		next = getKeyJsonValueFromContainer(cur.val.binary.data, rest, klen, NULL);
		if (next == NULL)
			return NULL;
		cur = *next;
		if (dot == NULL)
			break;
		rest = dot + 1;
	}
	return JsonbValueToJsonb(&cur);
}

/*
 * Resolve one source's rows for path (NULL: the whole tree) as
 * fnd_config_get does: the leaf, else the subtree, else a value inside the
 * longest ancestor leaf.  NULL when the source has nothing there.
 */
static Jsonb *
fnd_agent_config_resolve(FndAgentConfigRows *r, const char *path)
{
	int			len;
	int			i;
	int			first = -1;
	int			last = -1;
	int			ancestor = -1;

	if (r->n == 0)
		return NULL;
	if (path == NULL)
		return fnd_agent_config_assemble(r, 0, r->n, 0);
	len = strlen(path);
	for (i = 0; i < r->n; i++)
	{
		const char *p = r->paths[i];
		int			plen = strlen(p);

		if (plen == len && memcmp(p, path, len) == 0)
			return DatumGetJsonbPCopy(PointerGetDatum(r->values[i]));
		if (plen > len && p[len] == '.' && memcmp(p, path, len) == 0)
		{
			if (first < 0)
				first = i;
			last = i + 1;
		}
		else if (plen < len && path[plen] == '.' && memcmp(p, path, plen) == 0 &&
				 (ancestor < 0 || plen > (int) strlen(r->paths[ancestor])))
			ancestor = i;
	}
	if (first >= 0)
		return fnd_agent_config_assemble(r, first, last, len + 1);
	if (ancestor >= 0)
		return fnd_agent_config_inside(r->values[ancestor],
									   path + strlen(r->paths[ancestor]) + 1);
	return NULL;
}

/*
 * Push the deep merge of base and over (over wins at leaves) into st; returns
 * what the last push returned (the finished value at the outermost level).
 */
static JsonbValue *
fnd_agent_config_merge_into(JsonbParseState **st, JsonbValue *base,
							JsonbValue *over, JsonbIteratorToken tok)
{
	JsonbIterator *it;
	JsonbValue	k;
	JsonbValue	v;
	JsonbIteratorToken r;

	if (base == NULL || over->type != jbvBinary || base->type != jbvBinary ||
		!JsonContainerIsObject(over->val.binary.data) ||
		!JsonContainerIsObject(base->val.binary.data))
		return pushJsonbValue(st, tok, over);

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	/* the base's keys, merged with the override's where both have them */
	it = JsonbIteratorInit(base->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		JsonbValue *o;

		if (r != WJB_KEY)
			continue;
		r = JsonbIteratorNext(&it, &v, true);
		o = getKeyJsonValueFromContainer(over->val.binary.data,
										 k.val.string.val, k.val.string.len, NULL);
		pushJsonbValue(st, WJB_KEY, &k);
		if (o == NULL)
			pushJsonbValue(st, WJB_VALUE, &v);
		else
		{
			JsonbValue	bv = v;

			fnd_agent_config_merge_into(st, &bv, o, WJB_VALUE);
		}
	}
	/* the override's keys the base lacks */
	it = JsonbIteratorInit(over->val.binary.data);
	while ((r = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		if (r != WJB_KEY)
			continue;
		r = JsonbIteratorNext(&it, &v, true);
		if (getKeyJsonValueFromContainer(base->val.binary.data,
										 k.val.string.val, k.val.string.len, NULL) != NULL)
			continue;
		pushJsonbValue(st, WJB_KEY, &k);
		pushJsonbValue(st, WJB_VALUE, &v);
	}
	return pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* The agent's value over the global one; either may be NULL. */
static Jsonb *
fnd_agent_config_merge(Jsonb *global, Jsonb *agent)
{
	JsonbParseState *st = NULL;
	JsonbValue	g;
	JsonbValue	a;

	if (agent == NULL)
		return global;
	if (global == NULL || !JB_ROOT_IS_OBJECT(global) || !JB_ROOT_IS_OBJECT(agent))
		return agent;
	fnd_agent_config_binary(&g, global);
	fnd_agent_config_binary(&a, agent);
	return JsonbValueToJsonb(fnd_agent_config_merge_into(&st, &g, &a, WJB_VALUE));
}

/*
 * Put one source's rows in path order: byte order, as the C collation of
 * the path columns.  A handful of rows, except for whole-tree reads; the
 * statement leaves the order to us so that its plan needs no sort.
 */
static void
fnd_agent_config_sort(FndAgentConfigRows *r)
{
	int			i;

	for (i = 1; i < r->n; i++)
	{
		char	   *p = r->paths[i];
		Jsonb	   *v = r->values[i];
		int			j = i;

		while (j > 0 && strcmp(r->paths[j - 1], p) > 0)
		{
			r->paths[j] = r->paths[j - 1];
			r->values[j] = r->values[j - 1];
			j--;
		}
		r->paths[j] = p;
		r->values[j] = v;
	}
}

/*
 * Fetch the rows a read of path can use (path NULL: every row), from the
 * global table when with_global, and from the agent's; in SPI.  Rows are
 * copied into the caller's context, per source.
 */
static void
fnd_agent_config_fetch(text *agent, text *path, bool with_global,
					   FndAgentConfigRows *rows, MemoryContext cxt)
{
	Oid			argtypes[5] = {TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	Datum		values[5];
	SPIPlanPtr	plan;
	uint64		i;
	int			ret;
	MemoryContext old;

	if (path == NULL)
	{
		values[0] = PointerGetDatum(agent);
		values[1] = BoolGetDatum(with_global);
		argtypes[0] = TEXTOID;
		argtypes[1] = BOOLOID;
		plan = fnd_catalog_plan(&fnd_agent_config_table, FND_AGENT_CONFIG_PLAN_ALL,
								"SELECT 0, path, value FROM @extschema@.fnd_config WHERE $2 "
								"UNION ALL SELECT 1, path, value FROM @extschema@.fnd_agent_config "
								"WHERE agent_id OPERATOR(pg_catalog.=) $1 ORDER BY 1, 2",
								2, argtypes, CURSOR_OPT_GENERIC_PLAN);
	}
	else
	{
		int			len = VARSIZE_ANY_EXHDR(path);
		char	   *p = text_to_cstring(path);
		Datum	   *keys = palloc(sizeof(Datum) * (len / 2 + 2));
		int			n = 0;
		int			j;

		/* the path and each of its ancestors */
		for (j = 0; j < len; j++)
			if (p[j] == '.')
				keys[n++] = PointerGetDatum(cstring_to_text_with_len(p, j));
		keys[n++] = PointerGetDatum(path);
		values[0] = PointerGetDatum(construct_array(keys, n, TEXTOID, -1, false,
													TYPALIGN_INT));
		/* the subtree: [path + ".", path + "/"), '/' being the byte after '.' */
		values[1] = CStringGetTextDatum(psprintf("%s.", p));
		values[2] = CStringGetTextDatum(psprintf("%s/", p));
		values[3] = PointerGetDatum(agent);
		values[4] = BoolGetDatum(with_global);
		plan = fnd_catalog_plan(&fnd_agent_config_table, FND_AGENT_CONFIG_PLAN_PATH,
								"SELECT 0, path, value FROM @extschema@.fnd_config "
								"WHERE $5 AND path OPERATOR(pg_catalog.=) ANY ($1) "
								"UNION ALL SELECT 0, path, value FROM @extschema@.fnd_config "
								"WHERE $5 AND path OPERATOR(pg_catalog.>=) $2 AND path OPERATOR(pg_catalog.<) $3 "
								"UNION ALL SELECT 1, path, value FROM @extschema@.fnd_agent_config "
								"WHERE agent_id OPERATOR(pg_catalog.=) $4 AND path OPERATOR(pg_catalog.=) ANY ($1) "
								"UNION ALL SELECT 1, path, value FROM @extschema@.fnd_agent_config "
								"WHERE agent_id OPERATOR(pg_catalog.=) $4 "
								"AND path OPERATOR(pg_catalog.>=) $2 AND path OPERATOR(pg_catalog.<) $3",
								5, argtypes, CURSOR_OPT_GENERIC_PLAN);
	}
	ret = fnd_catalog_execute(&fnd_agent_config_table, plan, values, NULL,
							  true, 0, false);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading fnd_agent_config failed: %s", SPI_result_code_string(ret));

	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < 2; i++)
	{
		rows[i].n = 0;
		rows[i].paths = palloc(sizeof(char *) * (SPI_processed + 1));
		rows[i].values = palloc(sizeof(Jsonb *) * (SPI_processed + 1));
	}
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		int			src = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		FndAgentConfigRows *r = &rows[src == 0 ? 0 : 1];

		r->paths[r->n] = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
		r->values[r->n] = DatumGetJsonbPCopy(SPI_getbinval(tup, desc, 3, &isnull));
		r->n++;
	}
	MemoryContextSwitchTo(old);
	for (i = 0; i < 2; i++)
		fnd_agent_config_sort(&rows[i]);
}


/*
 * The direct read.  Planning and executing even a kept SPI plan of four
 * index scans costs several times fnd_config_get's single probe, so a path
 * read walks the primary keys itself, for each source as few probes as
 * fnd_config_get makes (see fnd_agent_config_scan_source), under
 * the caller's snapshot, after the caller's SELECT privilege is checked as
 * the executor would.  Tables with row-level security enabled go through
 * SPI instead, so their policies apply.
 */
typedef struct FndAgentConfigScan
{
	Relation	rel;
	Relation	idx;
	TupleTableSlot *slot;
	AttrNumber	path_att;		/* in the table */
	AttrNumber	value_att;
	AttrNumber	idx_path_att;	/* in the primary key */
	Datum		agent;			/* (Datum) 0 for fnd_config */
	Snapshot	snapshot;		/* the caller's */
} FndAgentConfigScan;

static void
fnd_agent_config_open(FndAgentConfigScan *sc, Oid relid, Datum agent)
{
	Oid			idxid;

	sc->rel = table_open(relid, AccessShareLock);
	idxid = RelationGetPrimaryKeyIndex(sc->rel);
	if (!OidIsValid(idxid))
		elog(ERROR, "table \"%s\" has no primary key", RelationGetRelationName(sc->rel));
	sc->idx = index_open(idxid, AccessShareLock);
	sc->slot = table_slot_create(sc->rel, NULL);
	sc->path_att = get_attnum(relid, "path");
	sc->value_att = get_attnum(relid, "value");
	sc->agent = agent;
	sc->idx_path_att = agent ? 2 : 1;
	/* the statement's snapshot, as SPI would use; a fresh one outside any */
	sc->snapshot = ActiveSnapshotSet() ? GetActiveSnapshot() : GetTransactionSnapshot();
}

static void
fnd_agent_config_close(FndAgentConfigScan *sc)
{
	ExecDropSingleTupleTableSlot(sc->slot);
	index_close(sc->idx, AccessShareLock);
	table_close(sc->rel, AccessShareLock);
}

static void
fnd_agent_config_key(ScanKey k, AttrNumber att, StrategyNumber strat,
					 RegProcedure proc, Datum arg)
{
	ScanKeyEntryInitialize(k, 0, att, strat, InvalidOid, C_COLLATION_OID,
						   proc, arg);
}

/* Append the rows matching path (strategy strat) and below hi if given. */
static void
fnd_agent_config_scan(FndAgentConfigScan *sc, StrategyNumber strat,
					  Datum path, Datum hi, FndAgentConfigRows *r)
{
	ScanKeyData keys[3];
	int			n = 0;
	IndexScanDesc scan;

	if (sc->agent)
		fnd_agent_config_key(&keys[n++], 1, BTEqualStrategyNumber, F_TEXTEQ, sc->agent);
	fnd_agent_config_key(&keys[n++], sc->idx_path_att, strat,
						 strat == BTEqualStrategyNumber ? F_TEXTEQ : F_TEXT_GE, path);
	if (hi)
		fnd_agent_config_key(&keys[n++], sc->idx_path_att, BTLessStrategyNumber,
							 F_TEXT_LT, hi);
	scan = index_beginscan(sc->rel, sc->idx, sc->snapshot, n, 0);
	index_rescan(scan, keys, n, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, sc->slot))
	{
		bool		isnull;

		CHECK_FOR_INTERRUPTS();
		if (r->n >= r->cap)
		{
			r->cap *= 2;
			r->paths = repalloc(r->paths, sizeof(char *) * r->cap);
			r->values = repalloc(r->values, sizeof(Jsonb *) * r->cap);
		}
		r->paths[r->n] = TextDatumGetCString(slot_getattr(sc->slot, sc->path_att, &isnull));
		r->values[r->n] = DatumGetJsonbPCopy(slot_getattr(sc->slot, sc->value_att, &isnull));
		r->n++;
	}
	index_endscan(scan);
}

/*
 * One source's rows for a read of path, in fnd_config_get's order and
 * stopping at the first that exists (a path is a leaf or a prefix, never
 * both, and nothing lies below a leaf): the leaf itself, else its subtree,
 * else the nearest ancestor leaf.  A leaf read is one probe.
 */
static void
fnd_agent_config_scan_source(Oid relid, Datum agent, text *path,
							 FndAgentConfigRows *r)
{
	FndAgentConfigScan sc;
	int			len = VARSIZE_ANY_EXHDR(path);
	char	   *p = text_to_cstring(path);
	int			j;

	r->n = 0;
	r->cap = 8;
	r->paths = palloc(sizeof(char *) * r->cap);
	r->values = palloc(sizeof(Jsonb *) * r->cap);
	fnd_agent_config_open(&sc, relid, agent);
	fnd_agent_config_scan(&sc, BTEqualStrategyNumber, PointerGetDatum(path),
						  (Datum) 0, r);
	if (r->n == 0)
		fnd_agent_config_scan(&sc, BTGreaterEqualStrategyNumber,
							  CStringGetTextDatum(psprintf("%s.", p)),
							  CStringGetTextDatum(psprintf("%s/", p)), r);
	for (j = len - 1; r->n == 0 && j > 0; j--)
		if (p[j] == '.')
			fnd_agent_config_scan(&sc, BTEqualStrategyNumber,
								  PointerGetDatum(cstring_to_text_with_len(p, j)),
								  (Datum) 0, r);
	fnd_agent_config_close(&sc);
	fnd_agent_config_sort(r);
}

/* The caller may read the table directly: SELECT granted, no row security. */
static bool
fnd_agent_config_direct_ok(Oid relid)
{
	AclResult	acl = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (acl != ACLCHECK_OK)
		aclcheck_error(acl, OBJECT_TABLE, get_rel_name(relid));
	return check_enable_rls(relid, InvalidOid, false) != RLS_ENABLED;
}

/* The shared body of the two readers. */
static Datum
fnd_agent_config_read(FunctionCallInfo fcinfo, bool effective)
{
	text	   *agent;
	text	   *path = NULL;
	char	   *cpath = NULL;
	FndAgentConfigRows rows[2];
	MemoryContext cxt = CurrentMemoryContext;
	Jsonb	   *out;

	fnd_agent_config_require_features();
	agent = fnd_agent_config_arg_id(fcinfo, 0, false);
	if (!PG_ARGISNULL(1))
	{
		path = PG_GETARG_TEXT_PP(1);
		cpath = TextDatumGetCString(DirectFunctionCall1(fnd_config_check_path,
														PointerGetDatum(path)));
	}

	fnd_catalog_find(&fnd_agent_config_table, fcinfo->flinfo->fn_oid, false);
	fnd_catalog_find(&fnd_agent_config_global, fcinfo->flinfo->fn_oid, false);
	if (path != NULL &&
		fnd_agent_config_direct_ok(fnd_agent_config_table.relid) &&
		(!effective || fnd_agent_config_direct_ok(fnd_agent_config_global.relid)))
	{
		rows[0].n = 0;
		if (effective)
			fnd_agent_config_scan_source(fnd_agent_config_global.relid, (Datum) 0,
										 path, &rows[0]);
		fnd_agent_config_scan_source(fnd_agent_config_table.relid,
									 PointerGetDatum(agent), path, &rows[1]);
	}
	else
	{
		SPI_connect();
		fnd_agent_config_fetch(agent, path, effective, rows, cxt);
		SPI_finish();
	}

	out = fnd_agent_config_resolve(&rows[1], cpath);
	if (effective)
		out = fnd_agent_config_merge(fnd_agent_config_resolve(&rows[0], cpath), out);
	if (out == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(out);
}

/*
 * fnd_get_agent_config(agent_id text, path text DEFAULT NULL) RETURNS jsonb
 */
PG_FUNCTION_INFO_V1(fnd_get_agent_config);

Datum
fnd_get_agent_config(PG_FUNCTION_ARGS)
{
	return fnd_agent_config_read(fcinfo, false);
}

/*
 * fnd_get_effective_config(agent_id text, path text DEFAULT NULL) RETURNS jsonb
 */
PG_FUNCTION_INFO_V1(fnd_get_effective_config);

Datum
fnd_get_effective_config(PG_FUNCTION_ARGS)
{
	return fnd_agent_config_read(fcinfo, true);
}
