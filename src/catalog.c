/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Finding the extension's tables, keeping SPI plans on them and running
 *	  statements as their owner (see catalog.h), for config, events and
 *	  consensus.
 *
 * Where a table is.  The extension's C functions live in the extension's
 * schema, so a table is looked up in the schema of the calling function:
 * two syscache probes, done again only when the function or the table
 * changes.  Without a calling function (the supervisor, another subsystem's
 * C code) the schema comes from pg_extension.
 *
 * When it changes.  One relcache callback, registered once per backend,
 * marks a table stale when its relcache entry is invalidated (ALTER TABLE,
 * a trigger, rule or policy added, ALTER ... OWNER, DROP) or on a cache
 * reset; the next find looks it up again and tells the subsystem through
 * its `changed` callback.  Kept plans survive while the table is the same
 * relation (the plan cache re-plans them after DDL by itself); a different
 * relation (the extension dropped and created again, maybe in another
 * schema) drops them.
 *
 * As whom.  Writes, and reads the extension must trust, run as the table's
 * owner in a security-restricted operation, the way REFRESH MATERIALIZED
 * VIEW runs as the view's owner: the caller needs no privilege on the
 * table, nothing the statement runs may change session state, and a
 * supervisor running as superuser lends its rights to nothing the table's
 * owner defined (triggers, rules).  An error restores the user at
 * (sub)transaction abort.  That is narrower, and cheaper per call, than a
 * SECURITY DEFINER function with its own search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"

/* Every table found so far in this backend, for the relcache callback. */
static FndCatalogTable *fnd_catalog_tables = NULL;
static bool fnd_catalog_callback_registered = false;

/* The schema the extension lives in, or InvalidOid if it is not created. */
Oid
fnd_extension_namespace(void)
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

static void
fnd_catalog_relcache_callback(Datum arg, Oid relid)
{
	FndCatalogTable *t;

	for (t = fnd_catalog_tables; t != NULL; t = t->next)
	{
		if (relid == InvalidOid || relid == t->relid)
		{
			t->valid = false;
			if (t->changed)
				t->changed();
		}
	}
}

static void
fnd_catalog_register(FndCatalogTable *t)
{
	if (t->registered)
		return;
	if (!fnd_catalog_callback_registered)
	{
		CacheRegisterRelcacheCallback(fnd_catalog_relcache_callback, (Datum) 0);
		fnd_catalog_callback_registered = true;
	}
	t->next = fnd_catalog_tables;
	fnd_catalog_tables = t;
	t->registered = true;
}

static void
fnd_catalog_forget_plans(FndCatalogTable *t)
{
	int			i;

	for (i = 0; i < FND_CATALOG_MAX_PLANS; i++)
	{
		if (t->plans[i])
			SPI_freeplan(t->plans[i]);
		t->plans[i] = NULL;
	}
}

/*
 * Point t at its table in the schema of function fn_oid (a function of the
 * extension), or with InvalidOid, in the extension's schema.  Returns false
 * if there is no such table and missing_ok, else raises.  One comparison
 * when nothing changed since the last call.
 */
bool
fnd_catalog_find(FndCatalogTable *t, Oid fn_oid, bool missing_ok)
{
	Oid			nsp;
	Oid			relid;
	HeapTuple	tup;

	if (t->valid && (fn_oid == t->fn_oid || !OidIsValid(fn_oid)))
		return true;
	fnd_catalog_register(t);
	nsp = OidIsValid(fn_oid) ? get_func_namespace(fn_oid) : fnd_extension_namespace();
	if (!OidIsValid(nsp))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension foundation is not created in this database")));
	}
	if (t->valid && nsp == t->nsp)
	{
		/* another function of the same schema: same table */
		t->fn_oid = fn_oid;
		return true;
	}

	relid = get_relname_relid(t->relname, nsp);
	if (!OidIsValid(relid))
	{
		if (missing_ok)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table %s of extension foundation does not exist",
						t->relname)));
	}
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	t->owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);

	if (relid != t->relid)
		fnd_catalog_forget_plans(t);
	t->relid = relid;
	t->nsp = nsp;
	t->fn_oid = fn_oid;
	t->valid = true;
	return true;
}

/*
 * The kept plan in t's slot, prepared from sql on first use: every
 * @extschema@ in sql becomes the table's schema, quoted.  In SPI.
 * cursor_options as for SPI_prepare_cursor (CURSOR_OPT_CUSTOM_PLAN to plan
 * each execution with its values, e.g. to match a partial index).
 */
SPIPlanPtr
fnd_catalog_plan(FndCatalogTable *t, int slot, const char *sql,
				 int nargs, Oid *argtypes, int cursor_options)
{
	static const char token[] = "@extschema@";
	StringInfoData buf;
	const char *schema;
	const char *p;
	SPIPlanPtr	plan;

	Assert(OidIsValid(t->nsp) && slot >= 0 && slot < FND_CATALOG_MAX_PLANS);
	if (t->plans[slot] != NULL)
		return t->plans[slot];

	schema = quote_identifier(get_namespace_name(t->nsp));
	initStringInfo(&buf);
	while ((p = strstr(sql, token)) != NULL)
	{
		appendBinaryStringInfo(&buf, sql, p - sql);
		appendStringInfoString(&buf, schema);
		sql = p + strlen(token);
	}
	appendStringInfoString(&buf, sql);

	plan = SPI_prepare_cursor(buf.data, nargs, argtypes, cursor_options);
	if (plan == NULL)
		elog(ERROR, "could not prepare a statement on %s: %s",
			 t->relname, SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep a statement on %s", t->relname);
	t->plans[slot] = plan;
	return plan;
}

/* Act as owner, restricted, until fnd_catalog_restore(save). */
void
fnd_catalog_become(Oid owner, FndCatalogUser *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(owner, save->sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

void
fnd_catalog_restore(const FndCatalogUser *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/*
 * Execute a plan of t (as its owner if as_owner, else as the caller) and
 * return SPI's result code; rows stay in SPI_tuptable until SPI_finish.
 */
int
fnd_catalog_execute(FndCatalogTable *t, SPIPlanPtr plan, Datum *values,
					const char *nulls, bool read_only, long limit,
					bool as_owner)
{
	FndCatalogUser save;
	int			rc;

	if (as_owner)
		fnd_catalog_become(t->owner, &save);
	rc = SPI_execute_plan(plan, values, nulls, read_only, limit);
	if (as_owner)
		fnd_catalog_restore(&save);
	return rc;
}

/*
 * The retention services' pass: delete at most batch rows of t whose
 * timecol (a quoted column name) is before cutoff, oldest first, each named
 * by key (a unique column, or ctid), with the plan kept in slot.  In SPI;
 * returns the rows deleted.
 */
uint64
fnd_catalog_prune(FndCatalogTable *t, int slot, const char *key,
				  const char *timecol, int batch, TimestampTz cutoff)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	SPIPlanPtr	plan;
	int			ret;

	values[0] = TimestampTzGetDatum(cutoff);
	plan = fnd_catalog_plan(t, slot,
							psprintf("DELETE FROM @extschema@.%s "
									 "WHERE %s OPERATOR(pg_catalog.=) ANY (ARRAY("
									 "SELECT %s FROM @extschema@.%s "
									 "WHERE %s OPERATOR(pg_catalog.<) $1 "
									 "ORDER BY %s LIMIT %d))",
									 t->relname, key, key, t->relname,
									 timecol, timecol, batch),
							1, argtypes, 0);
	ret = fnd_catalog_execute(t, plan, values, NULL, false, 0, true);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "pruning %s failed: %s", t->relname,
			 SPI_result_code_string(ret));
	return SPI_processed;
}
