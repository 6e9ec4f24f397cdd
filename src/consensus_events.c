/*-------------------------------------------------------------------------
 *
 * consensus_events.c
 *	  Where consensus decisions meet fnd_events: finding the table and its
 *	  owner, inserting consensus_decided events, and reading the latest
 *	  decision of a topic back.
 *
 * These functions are kept together, as they were in consensus.c, because
 * they move to events.c with the one writer into fnd_events; only their
 * linkage changed (they are called from the other consensus files).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "consensus.h"

/* ---- writing events ----------------------------------------------------- */

/*
 * Can this backend write events now, and where?  Not on a standby, not in
 * a read-only or parallel transaction, not without the extension's table.
 */
FndEventTarget
fnd_event_lookup(bool for_write)
{
	FndEventTarget t = {false, InvalidOid, InvalidOid};
	Oid			extoid;
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!IsTransactionState() || IsInParallelMode())
		return t;
	if (for_write && (RecoveryInProgress() || XactReadOnly))
		return t;
	extoid = get_extension_oid("foundation", true);
	if (!OidIsValid(extoid))
		return t;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_oid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(extoid));
	scan = systable_beginscan(rel, ExtensionOidIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		Form_pg_extension ext = (Form_pg_extension) GETSTRUCT(tup);

		t.nsp = ext->extnamespace;
		t.owner = ext->extowner;
		t.ok = OidIsValid(get_relname_relid("fnd_events", t.nsp));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return t;
}

/*
 * The write target, found cheaply from the calling SQL function: it lives
 * in the extension's schema and belongs to the extension's owner (two
 * syscache probes instead of a pg_extension scan on every call).  Without
 * a function (the supervisor), look the extension up.
 */
FndEventTarget
fnd_event_target(Oid fn_oid)
{
	FndEventTarget t = {false, InvalidOid, InvalidOid};
	HeapTuple	tup;
	Form_pg_proc proc;

	if (!OidIsValid(fn_oid))
		return fnd_event_lookup(true);
	if (!IsTransactionState() || IsInParallelMode() ||
		RecoveryInProgress() || XactReadOnly)
		return t;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(tup))
		return fnd_event_lookup(true);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	t.nsp = proc->pronamespace;
	t.owner = proc->proowner;
	ReleaseSysCache(tup);
	t.ok = OidIsValid(get_relname_relid("fnd_events", t.nsp));
	return t;
}

/*
 * Run one statement against fnd_events as the extension owner, with a
 * text parameter.  The statements name every operator and type with its
 * schema, so a caller's search_path cannot substitute its own objects into
 * what runs with the owner's rights; the security-restricted context keeps
 * the statement from changing session state.  Returns SPI's result code; tuples in SPI_tuptable until
 * the caller's SPI_finish (caller must have called SPI_connect).
 */
/* A statement on fnd_events, prepared once per backend and schema. */
typedef struct FndEventPlan
{
	SPIPlanPtr	plan;
	Oid			nsp;
} FndEventPlan;

static FndEventPlan fnd_insert_plan = {NULL, InvalidOid};
static FndEventPlan fnd_select_plan = {NULL, InvalidOid};

static int
fnd_events_exec(const FndEventTarget *t, FndEventPlan *ep, const char *fmt,
				const char *arg, bool read_only, long limit)
{
	Oid			save_userid;
	int			save_sec;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	int			rc;

	values[0] = CStringGetTextDatum(arg);

	/* the transaction's abort restores the user if this fails */
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(t->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (ep->plan == NULL || ep->nsp != t->nsp)
	{
		SPIPlanPtr	plan;

		if (ep->plan != NULL)
		{
			SPI_freeplan(ep->plan);
			ep->plan = NULL;
		}
		/* the plan cache re-plans it if the table is dropped and re-created */
		plan = SPI_prepare(psprintf(fmt, quote_identifier(get_namespace_name(t->nsp))),
						   1, argtypes);
		if (plan == NULL)
			elog(ERROR, "could not prepare a statement on fnd_events: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep a statement on fnd_events");
		ep->plan = plan;
		ep->nsp = t->nsp;
	}
	rc = SPI_execute_plan(ep->plan, values, NULL, read_only, limit);
	SetUserIdAndSecContext(save_userid, save_sec);
	return rc;
}

void
fnd_events_insert(const FndEventTarget *t, List *events)
{
	ListCell   *lc;

	if (events == NIL)
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	foreach(lc, events)
	{
		int			rc;

		rc = fnd_events_exec(t, &fnd_insert_plan,
							 "INSERT INTO %s.fnd_events (type, data)"
							 " VALUES ('consensus_decided', $1::pg_catalog.jsonb)",
							 (const char *) lfirst(lc), false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not store a consensus_decided event: %s",
				 SPI_result_code_string(rc));
	}
	SPI_finish();
}

/*
 * The outcome of the latest stored decision on a topic, from fnd_events;
 * NULL if there is none.
 */
char *
fnd_consensus_stored_outcome(const FndEventTarget *t, const char *topic)
{
	char	   *result = NULL;
	int			rc;

	if (!t->ok)
		return NULL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = fnd_events_exec(t, &fnd_select_plan,
						 "SELECT data OPERATOR(pg_catalog.->>) 'outcome' FROM %s.fnd_events"
						 " WHERE type OPERATOR(pg_catalog.=) 'consensus_decided'"
						 " AND data OPERATOR(pg_catalog.->>) 'topic' OPERATOR(pg_catalog.=) $1"
						 " ORDER BY id DESC LIMIT 1",
						 topic, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read consensus_decided events: %s",
			 SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			result = MemoryContextStrdup(CurTransactionContext, v);
	}
	SPI_finish();
	return result;
}
