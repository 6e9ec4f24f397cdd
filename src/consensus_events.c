/*-------------------------------------------------------------------------
 *
 * consensus_events.c
 *	  Where consensus decisions meet fnd_events: whether this backend may
 *	  record decisions now, recording them, and reading the latest decision
 *	  of a topic back.
 *
 * Every write goes through the event store's one writer (events.h) as a
 * consensus_decided event, a type reserved for the extension: no caller can
 * store one, so a decision read back is one the extension recorded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "consensus.h"
#include "events.h"

/*
 * Can this backend record decisions now?  Not on a standby, not in a
 * read-only or parallel transaction, not without the extension's table.
 * fn_oid, the calling SQL function, finds the table cheaply; InvalidOid
 * (the supervisor) looks the extension up.
 */
FndEventTarget
fnd_event_target(Oid fn_oid)
{
	FndEventTarget t;

	t.fn_oid = fn_oid;
	t.ok = fnd_events_can_append(fn_oid);
	return t;
}

/* A target for reading decisions back: any transaction may read. */
FndEventTarget
fnd_event_lookup(bool for_write)
{
	FndEventTarget t;

	if (for_write)
		return fnd_event_target(InvalidOid);
	t.fn_oid = InvalidOid;
	t.ok = IsTransactionState();
	return t;
}

/* Append the claimed decisions (their event JSON) as consensus_decided. */
void
fnd_consensus_record(const FndEventTarget *t, List *events)
{
	ListCell   *lc;

	Assert(events == NIL || t->ok);
	foreach(lc, events)
	{
		Datum		data = DirectFunctionCall1(jsonb_in,
											   CStringGetDatum(lfirst(lc)));

		(void) fnd_events_append("consensus_decided", DatumGetJsonbP(data));
	}
}

/*
 * The outcome of the latest recorded decision on a topic; NULL if there is
 * none.  Only consensus_decided events count: callers cannot store that type.
 */
char *
fnd_consensus_stored_outcome(const FndEventTarget *t, const char *topic)
{
	Jsonb	   *data;
	JsonbValue *v;

	if (!t->ok)
		return NULL;
	data = fnd_events_latest("consensus_decided", "topic", topic);
	if (data == NULL)
		return NULL;
	v = getKeyJsonValueFromContainer(&data->root, "outcome", 7, NULL);
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}
