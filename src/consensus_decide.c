/*-------------------------------------------------------------------------
 *
 * consensus_decide.c
 *	  Deciding a consensus round, cancelling it, and recording the decision
 *	  as a consensus_decided event exactly once; sleeping on a round.
 *
 * A round decides as soon as its outcome is certain: "accepted" when the
 * accepts reach the quorum, "rejected" when so many have rejected or
 * abstained that the quorum is out of reach, "timeout" when the deadline
 * passes first, "cancelled" when an administrator cancels it.  A deadline
 * has no timer of its own: whoever looks at the round after it (a vote,
 * fnd_consensus_result, the fnd_consensus view, the supervisor's periodic
 * sweep) decides "timeout", dated at the deadline.  Every decision wakes
 * the round's waiters at once (ConditionVariableBroadcast, under the lock:
 * a spinlock and a SetLatch per waiter).
 *
 * Who writes the event.  The backend that makes the decision inserts the
 * event in its own transaction, with the rights of the owner of the
 * extension's functions (users need no INSERT right on fnd_events, which is
 * written only through functions).  It first "claims" the round
 * (event_writer = this session) and remembers the claim locally; a
 * transaction callback marks the round event_stored when that transaction
 * commits, or drops the claim when it (or the subtransaction that made the
 * insert) aborts.  A decided round that is neither stored nor claimed --
 * its decider's transaction aborted, or was read-only, or ran in another
 * database than the supervisor -- is claimed and written by the next
 * backend of its database that calls any consensus function (a shared
 * counter of unrecorded decisions makes that check free in the common
 * case), and by the supervisor for its own database.  So each decision is
 * stored exactly once as long as transactions that insert it commit or
 * abort normally.  Known gaps: a prepared transaction (2PC) that carries
 * the insert counts as stored at PREPARE and loses the event if it is
 * rolled back later; replacing a decided but unrecorded round writes the
 * old round's event in the replacing transaction, so if that transaction
 * aborts the old decision is only lost from fnd_events (the new round is
 * not transactional and stays).
 *
 * Claims are changed under the exclusive lock; the unrecorded counter is
 * an atomic, exact whenever the lock is not held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "consensus.h"

/* The round this session is registered as sleeping on, if any. */
FndRound   *fnd_round_sleeping = NULL;

static FndClaim fnd_claims[FND_MAX_CLAIMS];
static int	fnd_nclaims = 0;
static bool fnd_callbacks_registered = false;

/*
 * Mark a pending round decided with `status` at `at`: its decision now
 * waits to be recorded, and its waiters wake.  Caller holds the lock
 * exclusively.
 */
static void
fnd_round_mark_decided(FndRound *r, int status, TimestampTz at)
{
	r->status = status;
	r->decided_at = at;
	r->event_stored = false;
	memset(&r->event_writer, 0, sizeof(FndSession));
	pg_atomic_fetch_add_u32(&fnd_consensus_shared->unrecorded, 1);
	ConditionVariableBroadcast(&r->cv);
}

/*
 * Decide the round if its outcome is certain or its deadline has passed.
 * Returns true if this call decided it.  Caller holds the lock exclusively
 * and counts and stores the decision.
 */
bool
fnd_round_decide(FndRound *r, TimestampTz now)
{
	int			voted;

	if (r->status != FND_ROUND_PENDING)
		return false;
	voted = r->accepts + r->rejects + r->abstains;
	if (r->accepts >= r->quorum)
		fnd_round_mark_decided(r, FND_ROUND_ACCEPTED, now);
	else if (r->accepts + (r->nparticipants - voted) < r->quorum)
		fnd_round_mark_decided(r, FND_ROUND_REJECTED, now);
	else if (now >= r->deadline)
		fnd_round_mark_decided(r, FND_ROUND_TIMEOUT, r->deadline);
	else
		return false;
	return true;
}

/*
 * Cancel a pending round: it decides "cancelled", dated now.  Returns false
 * if it had decided already.  Caller holds the lock exclusively, and first
 * lets fnd_round_decide() time out a round past its deadline.
 */
bool
fnd_round_cancel(FndRound *r, TimestampTz now)
{
	if (r->status != FND_ROUND_PENDING)
		return false;
	fnd_round_mark_decided(r, FND_ROUND_CANCELLED, now);
	return true;
}

static void
fnd_json_timestamp(StringInfo buf, TimestampTz ts)
{
	char		tmp[MAXDATELEN + 1];

	escape_json(buf, JsonEncodeDateTime(tmp, TimestampTzGetDatum(ts),
										TIMESTAMPTZOID, NULL));
}

/* The votes cast so far, as a JSON object {"participant": "vote", ...}. */
void
fnd_round_append_votes(StringInfo buf, FndRoundData *d)
{
	const char *p = fnd_round_names(d);
	bool		first = true;
	int			i;

	appendStringInfoChar(buf, '{');
	for (i = 0; i < d->nparticipants; i++)
	{
		if (d->votes[i] != FND_VOTE_NONE)
		{
			if (!first)
				appendStringInfoString(buf, ", ");
			first = false;
			escape_json(buf, p);
			appendStringInfoString(buf, ": ");
			escape_json(buf, fnd_vote_names[d->votes[i]]);
		}
		p += strlen(p) + 1;
	}
	appendStringInfoChar(buf, '}');
}

/*
 * The consensus_decided event data of a decided round, as JSON text.
 * Caller holds the lock.
 */
char *
fnd_round_event_json(FndRound *r)
{
	FndRoundData *d = fnd_round_data(r);
	StringInfoData buf;
	const char *p;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"topic\": ");
	escape_json(&buf, r->key.topic);
	appendStringInfoString(&buf, ", \"proposal\": ");
	(void) JsonbToCString(&buf, &fnd_round_proposal(d)->root,
						  d->proposal_len);
	appendStringInfoString(&buf, ", \"participants\": [");
	p = fnd_round_names(d);
	for (i = 0; i < d->nparticipants; i++)
	{
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, p);
		p += strlen(p) + 1;
	}
	appendStringInfoString(&buf, "], \"votes\": ");
	fnd_round_append_votes(&buf, d);
	appendStringInfo(&buf, ", \"quorum\": %d, \"unanimous\": %s, \"outcome\": ",
					 r->quorum, r->unanimous ? "true" : "false");
	escape_json(&buf, fnd_round_status_names[r->status]);
	appendStringInfoString(&buf, ", \"started_at\": ");
	fnd_json_timestamp(&buf, r->started_at);
	appendStringInfoString(&buf, ", \"deadline\": ");
	fnd_json_timestamp(&buf, r->deadline);
	appendStringInfoString(&buf, ", \"decided_at\": ");
	fnd_json_timestamp(&buf, r->decided_at);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}


/* ---- recording decisions ------------------------------------------------ */

static void fnd_consensus_xact_callback(XactEvent event, void *arg);
static void fnd_consensus_subxact_callback(SubXactEvent event,
										   SubTransactionId mySubid,
										   SubTransactionId parentSubid,
										   void *arg);

/*
 * Claim a decided, unrecorded round for this transaction and return its
 * event JSON (NULL if it cannot be claimed now).  Caller holds the lock
 * exclusively and inserts the returned JSON after releasing it.
 */
char *
fnd_round_claim(FndRound *r, const FndEventTarget *t)
{
	FndClaim   *c;

	if (!t->ok || r->status == FND_ROUND_PENDING || r->event_stored ||
		!fnd_session_is_empty(&r->event_writer) ||
		r->key.dbid != MyDatabaseId || fnd_nclaims >= FND_MAX_CLAIMS)
		return NULL;

	if (!fnd_callbacks_registered)
	{
		RegisterXactCallback(fnd_consensus_xact_callback, NULL);
		RegisterSubXactCallback(fnd_consensus_subxact_callback, NULL);
		fnd_callbacks_registered = true;
	}
	c = &fnd_claims[fnd_nclaims++];
	c->key = r->key;
	c->round_id = r->round_id;
	c->subid = GetCurrentSubTransactionId();
	fnd_session_self(&r->event_writer);
	return fnd_round_event_json(r);
}

/*
 * Settle claims: committed ones mark their round stored, the others give
 * the round back to whoever looks next.  which < 0 settles all claims,
 * otherwise only those made in subtransaction `which`.
 */
void
fnd_claims_settle(bool committed, SubTransactionId which)
{
	LWLock	   *lock = fnd_consensus_lock();
	int			i;
	int			kept = 0;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	for (i = 0; i < fnd_nclaims; i++)
	{
		FndClaim   *c = &fnd_claims[i];
		FndRound   *r;

		if (which != InvalidSubTransactionId && c->subid != which)
		{
			fnd_claims[kept++] = *c;
			continue;
		}
		r = hash_search(fnd_round_hash, &c->key, HASH_FIND, NULL);
		if (r == NULL || r->round_id != c->round_id ||
			!fnd_session_is_me(&r->event_writer))
			continue;
		memset(&r->event_writer, 0, sizeof(FndSession));
		if (committed && !r->event_stored)
		{
			r->event_stored = true;
			pg_atomic_fetch_sub_u32(&fnd_consensus_shared->unrecorded, 1);
		}
	}
	fnd_nclaims = kept;
	LWLockRelease(lock);
}

/* Does this transaction still hold claims (session exit settles them)? */
bool
fnd_claims_pending(void)
{
	return fnd_nclaims > 0;
}

static void
fnd_consensus_xact_callback(XactEvent event, void *arg)
{
	if (fnd_nclaims == 0)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			fnd_claims_settle(true, InvalidSubTransactionId);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			fnd_claims_settle(false, InvalidSubTransactionId);
			break;
		default:
			break;
	}
}

static void
fnd_consensus_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							   SubTransactionId parentSubid, void *arg)
{
	int			i;

	if (fnd_nclaims == 0)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* the insert now belongs to the parent */
		for (i = 0; i < fnd_nclaims; i++)
			if (fnd_claims[i].subid == mySubid)
				fnd_claims[i].subid = parentSubid;
	}
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		fnd_claims_settle(false, mySubid);
}

/*
 * Write the unrecorded decisions of this database that nobody is writing,
 * a few at a time.  Free when there are none.
 */
void
fnd_consensus_flush(const FndEventTarget *t)
{
	LWLock	   *lock;
	HASH_SEQ_STATUS status;
	FndRound   *r;
	List	   *events = NIL;

	if (!t->ok || pg_atomic_read_u32(&fnd_consensus_shared->unrecorded) == 0)
		return;
	lock = fnd_consensus_lock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	hash_seq_init(&status, fnd_round_hash);
	while ((r = hash_seq_search(&status)) != NULL)
	{
		char	   *json;

		if (list_length(events) >= FND_FLUSH_BATCH)
		{
			hash_seq_term(&status);
			break;
		}
		json = fnd_round_claim(r, t);
		if (json)
			events = lappend(events, json);
	}
	LWLockRelease(lock);
	fnd_consensus_record(t, events);
}

/*
 * Decide the timeouts of pending rounds past their deadline: of this
 * database (dbid valid) or of all databases (InvalidOid, the supervisor).
 * Claims those of this database; returns their event JSON.
 */
List *
fnd_consensus_sweep(Oid dbid, const FndEventTarget *t, int *ndecided)
{
	LWLock	   *lock = fnd_consensus_lock();
	HASH_SEQ_STATUS status;
	FndRound   *r;
	List	   *events = NIL;
	TimestampTz now = fnd_now();

	*ndecided = 0;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	hash_seq_init(&status, fnd_round_hash);
	while ((r = hash_seq_search(&status)) != NULL)
	{
		if (OidIsValid(dbid) && r->key.dbid != dbid)
			continue;
		if (r->status == FND_ROUND_PENDING && fnd_round_decide(r, now))
		{
			char	   *json = fnd_round_claim(r, t);

			(*ndecided)++;
			if (json)
				events = lappend(events, json);
		}
	}
	LWLockRelease(lock);
	return events;
}

void
fnd_consensus_count_decided(int n)
{
	if (n > 0)
		fnd_telemetry_count("foundation.consensus.decided", n);
}

/* ---- sleeping on a round ------------------------------------------------ */

void
fnd_round_sleep_begin(FndRound *r)
{
	pg_atomic_fetch_add_u32(&r->waiting, 1);
	fnd_round_sleeping = r;
	fnd_session_track();
	ConditionVariablePrepareToSleep(&r->cv);
}

void
fnd_round_sleep_end(void)
{
	if (fnd_round_sleeping == NULL)
		return;
	ConditionVariableCancelSleep();
	pg_atomic_fetch_sub_u32(&fnd_round_sleeping->waiting, 1);
	fnd_round_sleeping = NULL;
}
