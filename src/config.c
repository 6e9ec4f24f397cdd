/*-------------------------------------------------------------------------
 *
 * config.c
 *	  The config server's read path: path validation and fnd_config_get,
 *	  which returns a leaf's value or assembles a subtree into one object.
 *
 * The writes (fnd_config_update, fnd_config_reset) are PL/pgSQL in
 * src/config.sql; they call fnd_config_check_path, so the path grammar is
 * written once here (the table's CHECK constraint repeats it as a backstop).
 *
 * Reads run as the caller, under the caller's snapshot, through SPI plans
 * kept for the session by the extension-catalog helper (catalog.c), which
 * also rebuilds them when the extension is created again.  Their text
 * names the schema and every operator (OPERATOR(pg_catalog.=)), so nothing
 * on the caller's search_path is resolved into them.  No shared memory, no
 * locks of our own.
 *
 * Assembly.  fnd_config.path has the C collation, and '.' sorts before
 * every other character a path may contain, so the leaves under any prefix
 * come out of an ordered range scan contiguously.  One pass over them
 * therefore builds the nested object with pushJsonbValue, keeping a stack
 * of the keys of the objects currently open.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "catalog.h"
#include "foundation.h"

/* A path is at most this many bytes, so at most half as many words. */
#define FND_CONFIG_PATH_MAX		FND_NAME_MAX
#define FND_CONFIG_MAX_WORDS	(FND_CONFIG_PATH_MAX / 2 + 1)

/* fnd_config of the extension, and the slots of its kept plans. */
static FndCatalogTable fnd_config_table = {.relname = "fnd_config"};

#define FND_CONFIG_PLAN_LEAF		0
#define FND_CONFIG_PLAN_RANGE		1
#define FND_CONFIG_PLAN_ALL			2
#define FND_CONFIG_PLAN_ANCESTORS	3

/*
 * Check a config path: dotted words, each [a-z][a-z0-9_]*, at most
 * FND_CONFIG_PATH_MAX bytes.  FN301 otherwise.
 */
static void
fnd_config_check(const char *p, int len)
{
	bool		word_start = true;
	int			i;

	if (len > FND_CONFIG_PATH_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_CONFIG_PATH),
				 errmsg("config path is too long"),
				 errdetail("It is %d bytes; the limit is %d bytes.",
						   len, FND_CONFIG_PATH_MAX)));
	for (i = 0; i < len; i++)
	{
		char		c = p[i];

		if (word_start ? (c >= 'a' && c <= 'z') :
			((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			word_start = false;
		else if (c == '.' && !word_start)
			word_start = true;
		else
			break;
	}
	if (i < len || word_start)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_CONFIG_PATH),
				 errmsg("invalid config path \"%.*s\"", len, p),
				 errdetail("A path is dotted words (db.pool.size); each word starts with a lower-case letter, then lower-case letters, digits or underscores.")));
}

static text *
fnd_config_arg_path(FunctionCallInfo fcinfo)
{
	text	   *path;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("config path must not be null")));
	path = PG_GETARG_TEXT_PP(0);
	fnd_config_check(VARDATA_ANY(path), VARSIZE_ANY_EXHDR(path));
	return path;
}

/* A kept plan for a read of fnd_config (see catalog.h); in SPI. */
static SPIPlanPtr
fnd_config_plan(int slot, const char *sql, int nargs, Oid argtype)
{
	Oid			argtypes[2] = {argtype, argtype};

	return fnd_catalog_plan(&fnd_config_table, slot, sql, nargs, argtypes, 0);
}

/* Run a read as the caller: SELECT on fnd_config is the caller's to have. */
static void
fnd_config_run(SPIPlanPtr plan, Datum *values)
{
	int			ret = fnd_catalog_execute(&fnd_config_table, plan, values,
										  NULL, true, 0, false);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading fnd_config failed: %s", SPI_result_code_string(ret));
}

static Jsonb *
fnd_config_value(int row, int col)
{
	bool		isnull;

	return DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[row],
										SPI_tuptable->tupdesc, col, &isnull));
}

static char *
fnd_config_path(int row)
{
	bool		isnull;

	return TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[row],
											 SPI_tuptable->tupdesc, 1, &isnull));
}

static void
fnd_config_push_key(JsonbParseState **st, char *key, int len)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = key;
	k.val.string.len = len;
	pushJsonbValue(st, WJB_KEY, &k);
}

/*
 * Assemble n (path, value) pairs, in path order, into one object; skip bytes
 * of each path are the prefix they share.  The result is allocated in
 * resultcxt.  Shared by the global (here) and per-agent (config_agent.c)
 * readers.
 */
Jsonb *
fnd_config_tree(int n, char *const *paths, Jsonb *const *values, int skip,
				MemoryContext resultcxt)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	char	   *open[FND_CONFIG_MAX_WORDS];
	int			openlen[FND_CONFIG_MAX_WORDS];
	int			depth = 0;
	int			row;
	MemoryContext oldcxt;
	Jsonb	   *out;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (row = 0; row < n; row++)
	{
		char	   *path = paths[row];
		char	   *words[FND_CONFIG_MAX_WORDS];
		int			lens[FND_CONFIG_MAX_WORDS];
		int			nwords = 0;
		int			common = 0;
		char	   *p;
		JsonbValue	v;

		/* split the path below the prefix into words (paths are checked) */
		if ((int) strlen(path) <= skip)
			continue;			/* cannot happen: the scan is below prefix */
		p = path + skip;
		for (;;)
		{
			char	   *dot = strchr(p, '.');

			if (nwords >= FND_CONFIG_MAX_WORDS)
				elog(ERROR, "config path \"%s\" has too many words", path);
			words[nwords] = p;
			lens[nwords] = dot ? dot - p : strlen(p);
			nwords++;
			if (dot == NULL)
				break;
			p = dot + 1;
		}

		/* close the objects this path is not in, open those it is in */
		while (common < depth && common < nwords - 1 &&
			   openlen[common] == lens[common] &&
			   memcmp(open[common], words[common], lens[common]) == 0)
			common++;
		for (; depth > common; depth--)
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		for (; depth < nwords - 1; depth++)
		{
			fnd_config_push_key(&st, words[depth], lens[depth]);
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			open[depth] = words[depth];
			openlen[depth] = lens[depth];
		}

		fnd_config_push_key(&st, words[nwords - 1], lens[nwords - 1]);
		v.type = jbvBinary;
		v.val.binary.data = &values[row]->root;
		v.val.binary.len = VARSIZE(values[row]) - VARHDRSZ;
		pushJsonbValue(&st, WJB_VALUE, &v);
	}
	for (; depth > 0; depth--)
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);

	oldcxt = MemoryContextSwitchTo(resultcxt);
	out = JsonbValueToJsonb(res);
	MemoryContextSwitchTo(oldcxt);
	return out;
}

/* The rows of SPI_tuptable (path, value) as one object.  In SPI. */
static Jsonb *
fnd_config_assemble(int skip, MemoryContext resultcxt)
{
	int			n = (int) SPI_processed;
	char	  **paths = palloc(sizeof(char *) * Max(n, 1));
	Jsonb	  **values = palloc(sizeof(Jsonb *) * Max(n, 1));
	int			row;

	for (row = 0; row < n; row++)
	{
		paths[row] = fnd_config_path(row);
		values[row] = fnd_config_value(row, 2);
	}
	return fnd_config_tree(n, paths, values, skip, resultcxt);
}

/*
 * The subtree under prefix (NULL prefix: the whole tree) as one object, or
 * NULL when it has no leaves.  In SPI.
 */
static Jsonb *
fnd_config_subtree(text *prefix, MemoryContext resultcxt)
{
	if (prefix == NULL)
	{
		fnd_config_run(fnd_config_plan(FND_CONFIG_PLAN_ALL,
									   "SELECT path, value FROM @extschema@.fnd_config ORDER BY path",
									   0, InvalidOid),
					   NULL);
		if (SPI_processed == 0)
			return NULL;
		return fnd_config_assemble(0, resultcxt);
	}
	else
	{
		int			len = VARSIZE_ANY_EXHDR(prefix);
		char	   *lo = palloc(len + 2);
		char	   *hi = palloc(len + 2);
		Datum		values[2];

		/* [prefix + ".", prefix + "/"): '/' is the byte after '.' */
		memcpy(lo, VARDATA_ANY(prefix), len);
		memcpy(hi, VARDATA_ANY(prefix), len);
		lo[len] = '.';
		hi[len] = '/';
		lo[len + 1] = hi[len + 1] = '\0';
		values[0] = CStringGetTextDatum(lo);
		values[1] = CStringGetTextDatum(hi);
		fnd_config_run(fnd_config_plan(FND_CONFIG_PLAN_RANGE,
									   "SELECT path, value FROM @extschema@.fnd_config "
									   "WHERE path OPERATOR(pg_catalog.>=) $1 "
									   "AND path OPERATOR(pg_catalog.<) $2 ORDER BY path",
									   2, TEXTOID),
					   values);
		if (SPI_processed == 0)
			return NULL;
		return fnd_config_assemble(len + 1, resultcxt);
	}
}

/*
 * A path inside the object value of an ancestor leaf ("db" holds
 * {"pool": {"size": 5}}, read "db.pool.size"), or NULL.  In SPI.
 */
static Jsonb *
fnd_config_inside_ancestor(text *path, MemoryContext resultcxt)
{
	int			len = VARSIZE_ANY_EXHDR(path);
	char	   *p = text_to_cstring(path);
	Datum	   *prefixes;
	int			n = 0;
	int			i;
	int			best = -1;
	int			bestlen = 0;
	Datum		values[1];
	Jsonb	   *value;
	JsonbValue	cur;
	char	   *key;

	prefixes = palloc(sizeof(Datum) * (len / 2 + 1));
	for (i = 0; i < len; i++)
		if (p[i] == '.')
			prefixes[n++] = PointerGetDatum(cstring_to_text_with_len(p, i));
	if (n == 0)
		return NULL;
	values[0] = PointerGetDatum(construct_array(prefixes, n, TEXTOID, -1, false,
												TYPALIGN_INT));
	fnd_config_run(fnd_config_plan(FND_CONFIG_PLAN_ANCESTORS,
								   "SELECT path, value FROM @extschema@.fnd_config "
								   "WHERE path OPERATOR(pg_catalog.=) ANY ($1)",
								   1, TEXTARRAYOID),
				   values);
	/* writers allow one at most; take the longest if someone forced more */
	for (i = 0; i < (int) SPI_processed; i++)
	{
		int			l = strlen(fnd_config_path(i));

		if (l > bestlen)
		{
			best = i;
			bestlen = l;
		}
	}
	if (best < 0)
		return NULL;

	value = fnd_config_value(best, 2);
	cur.type = jbvBinary;
	cur.val.binary.data = &value->root;
	cur.val.binary.len = VARSIZE(value) - VARHDRSZ;
	key = p + bestlen + 1;
	for (;;)
	{
		char	   *dot = strchr(key, '.');
		int			klen = dot ? dot - key : strlen(key);
		JsonbValue *next;

		if (cur.type != jbvBinary || !JsonContainerIsObject(cur.val.binary.data))
			return NULL;
		next = getKeyJsonValueFromContainer(cur.val.binary.data, key, klen, NULL);
		if (next == NULL)
			return NULL;
		cur = *next;
		if (dot == NULL)
			break;
		key = dot + 1;
	}

	{
		MemoryContext oldcxt = MemoryContextSwitchTo(resultcxt);
		Jsonb	   *out = JsonbValueToJsonb(&cur);

		MemoryContextSwitchTo(oldcxt);
		return out;
	}
}

/*
 * fnd_config_get(path text) RETURNS jsonb
 * fnd_config_get(path text, fallback jsonb) RETURNS jsonb
 */
PG_FUNCTION_INFO_V1(fnd_config_get);

Datum
fnd_config_get(PG_FUNCTION_ARGS)
{
	text	   *path = fnd_config_arg_path(fcinfo);
	MemoryContext callercxt = CurrentMemoryContext;
	Jsonb	   *out = NULL;
	Datum		values[1];

	fnd_catalog_find(&fnd_config_table, fcinfo->flinfo->fn_oid, false);
	SPI_connect();

	/* a leaf: one index probe */
	values[0] = PointerGetDatum(path);
	fnd_config_run(fnd_config_plan(FND_CONFIG_PLAN_LEAF,
								   "SELECT value FROM @extschema@.fnd_config "
								   "WHERE path OPERATOR(pg_catalog.=) $1",
								   1, TEXTOID),
				   values);
	if (SPI_processed > 0)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

		out = DatumGetJsonbPCopy(PointerGetDatum(fnd_config_value(0, 1)));
		MemoryContextSwitchTo(oldcxt);
	}
	/* a prefix: its subtree */
	if (out == NULL)
		out = fnd_config_subtree(path, callercxt);
	/* inside an ancestor leaf's object */
	if (out == NULL)
		out = fnd_config_inside_ancestor(path, callercxt);

	SPI_finish();

	if (out != NULL)
		PG_RETURN_JSONB_P(out);
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	PG_RETURN_NULL();
}

/*
 * fnd_config_get() and fnd_config_get_all() RETURNS jsonb: the whole tree.
 */
PG_FUNCTION_INFO_V1(fnd_config_get_all);

Datum
fnd_config_get_all(PG_FUNCTION_ARGS)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Jsonb	   *out;

	fnd_catalog_find(&fnd_config_table, fcinfo->flinfo->fn_oid, false);
	SPI_connect();
	out = fnd_config_subtree(NULL, callercxt);
	SPI_finish();
	if (out == NULL)
	{
		JsonbValue	empty;

		empty.type = jbvObject;
		empty.val.object.nPairs = 0;
		empty.val.object.pairs = NULL;
		out = JsonbValueToJsonb(&empty);
	}
	PG_RETURN_JSONB_P(out);
}

/*
 * fnd_config_check_path(path text) RETURNS text: the path if valid.
 */
PG_FUNCTION_INFO_V1(fnd_config_check_path);

Datum
fnd_config_check_path(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(fnd_config_arg_path(fcinfo));
}
