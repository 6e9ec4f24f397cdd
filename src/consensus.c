/*-------------------------------------------------------------------------
 *
 * consensus.c
 *	  Consensus rounds that decide once and are remembered as events.
 *
 * A round is a proposal (jsonb), a list of participants and a number of
 * accepts needed (the quorum: a majority by default, everyone when
 * unanimous).  Each participant votes accept, reject or abstain, once.
 * The round decides as soon as the outcome is certain: "accepted" when
 * the accepts reach the quorum, "rejected" when so many have rejected or
 * abstained that the quorum is out of reach, "timeout" when the deadline
 * passes first.  A deadline has no timer of its own: whoever looks at the
 * round after it (a vote, fnd_consensus_result, the fnd_consensus view, the
 * supervisor's periodic sweep) decides "timeout", dated at the deadline.
 *
 * Rounds live in a shared hash table keyed by (database, topic); the
 * proposal, participant names and votes live in one chunk of the shared
 * value area.  They count against foundation.max_coordination_objects
 * together with barriers (barrier.c keeps that count).  A decided round
 * keeps its slot until the slot is needed: when the table is full, starting
 * a round reuses the slot of the longest-decided round whose decision is
 * safely stored.  Starting a round on a topic whose round is decided
 * replaces it; on a pending topic it is an error.
 *
 * Every decision is appended to fnd_events as a 'consensus_decided' event
 * with the topic, proposal, participants, votes, quorum and outcome, so it
 * outlives the slot and a restart: fnd_consensus_result() falls back to the
 * latest such event when the topic has no round in shared memory.
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
 * Locking protocol:
 *	- One LWLock guards the round hash table, every field of every round
 *	  except `waiting`, and the round's chunk in the value area.  Every path
 *	  that may decide a round (start, vote, result, the sweeps) takes it
 *	  exclusively, since even a read may find the deadline passed; only the
 *	  view's copy-out, after its own sweep, takes it shared.
 *	- `waiting` counts sessions between ConditionVariablePrepareToSleep and
 *	  ConditionVariableCancelSleep on the round's condition variable
 *	  (incremented under the lock, decremented after the cancel).  A slot
 *	  is reused for another topic only with waiting == 0, so its condition
 *	  variable can be re-initialised safely; a replacement on the same
 *	  topic keeps the condition variable.
 *	- A decision broadcasts the round's condition variable while holding
 *	  the lock (cheap: a spinlock and SetLatch per waiter).
 *	- Claims are changed under the exclusive lock; the unrecorded counter
 *	  is an atomic, exact whenever the lock is not held.
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
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "barrier.h"
#include "foundation.h"
#include "dbname.h"

#define FND_ROUND_PENDING	0
#define FND_ROUND_ACCEPTED	1
#define FND_ROUND_REJECTED	2
#define FND_ROUND_TIMEOUT	3

static const char *const fnd_round_status_names[] = {
	"pending", "accepted", "rejected", "timeout"
};

#define FND_VOTE_NONE		0
#define FND_VOTE_ACCEPT		1
#define FND_VOTE_REJECT		2
#define FND_VOTE_ABSTAIN	3

static const char *const fnd_vote_names[] = {
	NULL, "accept", "reject", "abstain"
};

/* More participants than this is surely a mistake. */
#define FND_CONSENSUS_MAX_PARTICIPANTS	10000
/* Claims one transaction may hold; beyond that, later lookers write. */
#define FND_MAX_CLAIMS		64
/* Unrecorded decisions one call writes on behalf of others. */
#define FND_FLUSH_BATCH		16

typedef struct FndRoundKey
{
	Oid			dbid;
	char		topic[FND_NAME_BUFSZ];
} FndRoundKey;

typedef struct FndRound
{
	FndRoundKey key;			/* hash key: must be first */
	uint64		round_id;		/* never reused, tells replaced rounds apart */
	int			status;
	int			nparticipants;
	int			quorum;			/* accepts needed (n when unanimous) */
	bool		unanimous;
	int			accepts;
	int			rejects;
	int			abstains;
	Oid			owner_role;
	TimestampTz started_at;
	TimestampTz deadline;
	TimestampTz decided_at;		/* 0 while pending */
	dsa_pointer data;			/* FndRoundData in the value area */
	bool		event_stored;	/* decision committed to fnd_events */
	FndSession	event_writer;	/* session whose transaction is writing it */
	pg_atomic_uint32 waiting;
	ConditionVariable cv;
} FndRound;

/*
 * The variable part of a round, in one chunk: the header, then one vote
 * per participant, then the participant names (NUL-terminated, back to
 * back), then the proposal (a jsonb varlena, MAXALIGNed).
 */
typedef struct FndRoundData
{
	int			nparticipants;
	Size		names_off;
	Size		proposal_off;
	Size		proposal_len;
	uint8		votes[FLEXIBLE_ARRAY_MEMBER];
} FndRoundData;

typedef struct FndConsensusShared
{
	pg_atomic_uint64 next_round_id;
	pg_atomic_uint32 unrecorded;	/* decided, event not stored */
} FndConsensusShared;

/* A decision this backend's transaction is writing to fnd_events. */
typedef struct FndClaim
{
	FndRoundKey key;
	uint64		round_id;
	SubTransactionId subid;
} FndClaim;

/* Where and as whom to write events in this database. */
typedef struct FndEventTarget
{
	bool		ok;
	Oid			nsp;
	Oid			owner;
} FndEventTarget;

static FndConsensusShared *fnd_consensus_shared = NULL;
static HTAB *fnd_round_hash = NULL;

static FndClaim fnd_claims[FND_MAX_CLAIMS];
static int	fnd_nclaims = 0;
static bool fnd_callbacks_registered = false;
/* The round this session is registered as sleeping on, if any. */
static FndRound *fnd_round_sleeping = NULL;

static Size fnd_consensus_shmem_size(void);
static void fnd_consensus_shmem_startup(void);
static bool fnd_consensus_periodic(void);
static bool fnd_consensus_record_periodic(void);
static void fnd_consensus_session_exit(void);

/* timeouts and dropped databases, for every database at once */
const FndService fnd_consensus_service = {
	.name = "consensus",
	.phase = 1,
	.depends_on = "",
	.uses_tables = false,
	.shmem_size = fnd_consensus_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_consensus_shmem_startup,
	.periodic = fnd_consensus_periodic,
	.session_exit = fnd_consensus_session_exit,
};

/* decisions recorded in each database's fnd_events */
const FndService fnd_consensus_record_service = {
	.name = "consensus_record",
	.phase = 2,
	.depends_on = "events",
	.uses_tables = true,
	.periodic = fnd_consensus_record_periodic,
};

static Size
fnd_consensus_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(FndConsensusShared)),
					hash_estimate_size(fnd_max_coordination_objects,
									   sizeof(FndRound)));
}

static void
fnd_consensus_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	fnd_consensus_shared = ShmemInitStruct("foundation consensus",
										   sizeof(FndConsensusShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&fnd_consensus_shared->next_round_id, 1);
		pg_atomic_init_u32(&fnd_consensus_shared->unrecorded, 0);
	}

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndRoundKey);
	info.entrysize = sizeof(FndRound);
	fnd_round_hash = ShmemInitHash("foundation consensus table",
								   fnd_max_coordination_objects,
								   fnd_max_coordination_objects,
								   &info, HASH_ELEM | HASH_BLOBS);
}

static LWLock *
fnd_consensus_lock(void)
{
	return &fnd_lwlocks(&fnd_consensus_service)[0].lock;
}

static FndRoundData *
fnd_round_data(FndRound *r)
{
	return (FndRoundData *) fnd_value_address(r->data);
}

static const char *
fnd_round_names(FndRoundData *d)
{
	return (const char *) d + d->names_off;
}

static Jsonb *
fnd_round_proposal(FndRoundData *d)
{
	return (Jsonb *) ((char *) d + d->proposal_off);
}

/* Index of a participant, or -1. */
static int
fnd_round_participant(FndRoundData *d, const char *name)
{
	const char *p = fnd_round_names(d);
	int			i;

	for (i = 0; i < d->nparticipants; i++)
	{
		if (strcmp(p, name) == 0)
			return i;
		p += strlen(p) + 1;
	}
	return -1;
}

/* ---- deciding ----------------------------------------------------------- */

/*
 * Decide the round if its outcome is certain or its deadline has passed.
 * Returns true if this call decided it.  Caller holds the lock exclusively
 * and broadcasts, counts and stores the decision.
 */
static bool
fnd_round_decide(FndRound *r, TimestampTz now)
{
	int			voted;

	if (r->status != FND_ROUND_PENDING)
		return false;
	voted = r->accepts + r->rejects + r->abstains;
	if (r->accepts >= r->quorum)
	{
		r->status = FND_ROUND_ACCEPTED;
		r->decided_at = now;
	}
	else if (r->accepts + (r->nparticipants - voted) < r->quorum)
	{
		r->status = FND_ROUND_REJECTED;
		r->decided_at = now;
	}
	else if (now >= r->deadline)
	{
		r->status = FND_ROUND_TIMEOUT;
		r->decided_at = r->deadline;
	}
	else
		return false;

	r->event_stored = false;
	memset(&r->event_writer, 0, sizeof(FndSession));
	pg_atomic_fetch_add_u32(&fnd_consensus_shared->unrecorded, 1);
	ConditionVariableBroadcast(&r->cv);
	return true;
}

static void
fnd_json_timestamp(StringInfo buf, TimestampTz ts)
{
	char		tmp[MAXDATELEN + 1];

	escape_json(buf, JsonEncodeDateTime(tmp, TimestampTzGetDatum(ts),
										TIMESTAMPTZOID, NULL));
}

/*
 * The consensus_decided event data of a decided round, as JSON text.
 * Caller holds the lock.
 */
static char *
fnd_round_event_json(FndRound *r)
{
	FndRoundData *d = fnd_round_data(r);
	StringInfoData buf;
	const char *p;
	bool		first;
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
	appendStringInfoString(&buf, "], \"votes\": {");
	p = fnd_round_names(d);
	first = true;
	for (i = 0; i < d->nparticipants; i++)
	{
		if (d->votes[i] != FND_VOTE_NONE)
		{
			if (!first)
				appendStringInfoString(&buf, ", ");
			first = false;
			escape_json(&buf, p);
			appendStringInfoString(&buf, ": ");
			escape_json(&buf, fnd_vote_names[d->votes[i]]);
		}
		p += strlen(p) + 1;
	}
	appendStringInfo(&buf, "}, \"quorum\": %d, \"unanimous\": %s, \"outcome\": ",
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

/* ---- writing events ----------------------------------------------------- */

/*
 * Can this backend write events now, and where?  Not on a standby, not in
 * a read-only or parallel transaction, not without the extension's table.
 */
static FndEventTarget
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
static FndEventTarget
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

static void
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
static char *
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
static void
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
static void
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
	fnd_events_insert(t, events);
}

/*
 * Decide the timeouts of pending rounds past their deadline: of this
 * database (dbid valid) or of all databases (InvalidOid, the supervisor).
 * Claims those of this database; returns their event JSON.
 */
static List *
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

static void
fnd_consensus_count_decided(int n)
{
	if (n > 0)
		fnd_telemetry_count("foundation.consensus.decided", n);
}

/* ---- arguments ---------------------------------------------------------- */

static void
fnd_round_key(text *topic, FndRoundKey *key)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	fnd_check_name(topic, "topic", key->topic);
}

static void
fnd_round_not_found(const char *topic)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_ARGUMENT),
			 errmsg("no consensus round on topic \"%s\"", topic),
			 errhint("Start one with fnd_consensus_start().")));
}

/*
 * Build a round's value chunk from the arguments (validated here, before
 * anything shared is touched).  Returns it palloc'd, with its size.
 */
static FndRoundData *
fnd_round_build(ArrayType *participants, Jsonb *proposal, Size *size)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	Size		names_len = 0;
	Size		sz;
	FndRoundData *d;
	char	   *p;
	char	  **names;

	if (ARR_NDIM(participants) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("participants must be a one-dimensional array")));
	deconstruct_array(participants, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("participants must not be empty")));
	if (n > FND_CONSENSUS_MAX_PARTICIPANTS)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("too many participants"),
				 errdetail("There are %d; the limit is %d.", n,
						   FND_CONSENSUS_MAX_PARTICIPANTS)));

	names = palloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		int			j;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("participants must not contain null")));
		names[i] = palloc(FND_NAME_BUFSZ);
		fnd_check_name(DatumGetTextPP(elems[i]), "participant", names[i]);
		for (j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FND_INVALID_ARGUMENT),
						 errmsg("participant \"%s\" is listed twice", names[i])));
		names_len += strlen(names[i]) + 1;
	}

	sz = offsetof(FndRoundData, votes) + n;
	sz = add_size(sz, names_len);
	sz = MAXALIGN(sz);
	sz = add_size(sz, VARSIZE(proposal));

	d = palloc0(sz);
	d->nparticipants = n;
	d->names_off = offsetof(FndRoundData, votes) + n;
	d->proposal_off = MAXALIGN(d->names_off + names_len);
	d->proposal_len = VARSIZE(proposal);
	p = (char *) d + d->names_off;
	for (i = 0; i < n; i++)
	{
		Size		len = strlen(names[i]) + 1;

		memcpy(p, names[i], len);
		p += len;
	}
	memcpy((char *) d + d->proposal_off, proposal, VARSIZE(proposal));
	*size = sz;
	return d;
}

static void
fnd_round_sleep_begin(FndRound *r)
{
	pg_atomic_fetch_add_u32(&r->waiting, 1);
	fnd_round_sleeping = r;
	fnd_session_track();
	ConditionVariablePrepareToSleep(&r->cv);
}

static void
fnd_round_sleep_end(void)
{
	if (fnd_round_sleeping == NULL)
		return;
	ConditionVariableCancelSleep();
	pg_atomic_fetch_sub_u32(&fnd_round_sleeping->waiting, 1);
	fnd_round_sleeping = NULL;
}

/*
 * The outcome of the latest stored decision on a topic, from fnd_events;
 * NULL if there is none.
 */
static char *
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

/* ---- SQL functions ------------------------------------------------------ */

PG_FUNCTION_INFO_V1(fnd_consensus_start);
PG_FUNCTION_INFO_V1(fnd_consensus_vote);
PG_FUNCTION_INFO_V1(fnd_consensus_result);
PG_FUNCTION_INFO_V1(fnd_consensus_list);

/*
 * fnd_consensus_start(topic text, proposal jsonb, participants text[],
 *		quorum int, timeout interval, unanimous boolean) RETURNS void
 */
Datum
fnd_consensus_start(PG_FUNCTION_ARGS)
{
	FndRoundKey key;
	Jsonb	   *proposal;
	ArrayType  *participants;
	int			quorum;
	int64		timeout_us;
	bool		unanimous;
	FndRoundData *local;
	Size		size;
	dsa_pointer dp;
	LWLock	   *lock;
	FndRound   *r;
	bool		found;
	TimestampTz now;
	FndEventTarget t;
	List	   *events = NIL;
	int			ndecided = 0;

	fnd_require_shmem();
	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &key);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("proposal must not be null")));
	proposal = PG_GETARG_JSONB_P(1);
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("participants must not be null")));
	participants = PG_GETARG_ARRAYTYPE_P(2);
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("timeout must not be null")));
	timeout_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(4), "timeout", false);
	if (PG_ARGISNULL(5))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("unanimous must not be null")));
	unanimous = PG_GETARG_BOOL(5);

	local = fnd_round_build(participants, proposal, &size);
	if (unanimous)
	{
		if (!PG_ARGISNULL(3) && PG_GETARG_INT32(3) != local->nparticipants)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("a unanimous round needs every participant"),
					 errdetail("quorum is %d but there are %d participants.",
							   PG_GETARG_INT32(3), local->nparticipants),
					 errhint("Leave quorum NULL when unanimous is true.")));
		quorum = local->nparticipants;
	}
	else if (PG_ARGISNULL(3))
		quorum = local->nparticipants / 2 + 1;
	else
	{
		quorum = PG_GETARG_INT32(3);
		if (quorum < 1 || quorum > local->nparticipants)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("quorum must be between 1 and the number of participants (%d)",
							local->nparticipants),
					 errdetail("The value given is %d.", quorum)));
	}

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	/* the value chunk first: a full area is an error before any change */
	dp = fnd_value_alloc(size);
	if (!DsaPointerIsValid(dp))
		ereport(ERROR,
				(errcode(ERRCODE_FND_COORDINATION_FULL),
				 errmsg("no shared memory left for the consensus proposal"),
				 errdetail("The proposal and participants take %zu bytes; foundation.value_memory is exhausted.",
						   size),
				 errhint("Raise foundation.value_memory and restart, or use smaller proposals.")));
	memcpy(fnd_value_address(dp), local, size);

	lock = fnd_consensus_lock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = fnd_now();
	r = hash_search(fnd_round_hash, &key, HASH_FIND, NULL);
	if (r != NULL)
	{
		if (r->status == FND_ROUND_PENDING && fnd_round_decide(r, now))
			ndecided++;
		if (r->status == FND_ROUND_PENDING)
		{
			TimestampTz deadline = r->deadline;

			LWLockRelease(lock);
			fnd_value_free(dp);
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("a consensus round on topic \"%s\" is still pending", key.topic),
					 errdetail("It decides when its votes make the outcome certain, or times out at %s.",
							   timestamptz_to_str(deadline))));
		}
		if (!fnd_role_may_manage(r->owner_role))
		{
			LWLockRelease(lock);
			fnd_value_free(dp);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("the consensus round on topic \"%s\" belongs to another role", key.topic),
					 errdetail("Only its creator, a member of that role or a superuser may start a new round on the topic.")));
		}
		if (!r->event_stored)
		{
			if (!fnd_session_is_empty(&r->event_writer) &&
				!fnd_session_is_me(&r->event_writer))
			{
				LWLockRelease(lock);
				fnd_value_free(dp);
				ereport(ERROR,
						(errcode(ERRCODE_FND_INVALID_ARGUMENT),
						 errmsg("the decision of the previous round on topic \"%s\" is still being recorded", key.topic),
						 errhint("Retry once the transaction that decided it has committed.")));
			}
			if (!t.ok && fnd_session_is_empty(&r->event_writer))
			{
				LWLockRelease(lock);
				fnd_value_free(dp);
				ereport(ERROR,
						(errcode(ERRCODE_FND_INVALID_ARGUMENT),
						 errmsg("the decision of the previous round on topic \"%s\" is not recorded yet", key.topic),
						 errhint("Start the new round in a read-write transaction, which records it first.")));
			}
			/* we write it (or already are, in this transaction) */
			if (fnd_session_is_empty(&r->event_writer))
				events = lappend(events, fnd_round_event_json(r));
			pg_atomic_fetch_sub_u32(&fnd_consensus_shared->unrecorded, 1);
		}
		fnd_value_free(r->data);
		found = true;
	}
	else
	{
		if (!fnd_coordination_reserve())
		{
			/* reuse the slot of the longest-decided, stored round */
			HASH_SEQ_STATUS status;
			FndRound   *victim = NULL;
			FndRound   *c;

			hash_seq_init(&status, fnd_round_hash);
			while ((c = hash_seq_search(&status)) != NULL)
			{
				if (c->status != FND_ROUND_PENDING && c->event_stored &&
					pg_atomic_read_u32(&c->waiting) == 0 &&
					(victim == NULL || c->decided_at < victim->decided_at))
					victim = c;
			}
			if (victim == NULL)
			{
				LWLockRelease(lock);
				fnd_value_free(dp);
				ereport(ERROR,
						(errcode(ERRCODE_FND_COORDINATION_FULL),
						 errmsg("too many barriers and consensus rounds"),
						 errdetail("foundation.max_coordination_objects (%d) barriers and undecided consensus rounds exist.",
								   fnd_max_coordination_objects),
						 errhint("Remove unused barriers, wait for rounds to decide, or raise foundation.max_coordination_objects and restart.")));
			}
			fnd_value_free(victim->data);
			hash_search(fnd_round_hash, &victim->key, HASH_REMOVE, NULL);
			/* its unit of capacity passes to the new round */
		}
		r = hash_search(fnd_round_hash, &key, HASH_ENTER_NULL, &found);
		if (r == NULL)
		{
			fnd_coordination_release();
			LWLockRelease(lock);
			fnd_value_free(dp);
			ereport(ERROR,
					(errcode(ERRCODE_FND_COORDINATION_FULL),
					 errmsg("too many barriers and consensus rounds"),
					 errdetail("The shared consensus table is out of memory.")));
		}
		pg_atomic_init_u32(&r->waiting, 0);
		ConditionVariableInit(&r->cv);
	}

	r->round_id = pg_atomic_fetch_add_u64(&fnd_consensus_shared->next_round_id, 1);
	r->status = FND_ROUND_PENDING;
	r->nparticipants = local->nparticipants;
	r->quorum = quorum;
	r->unanimous = unanimous;
	r->accepts = r->rejects = r->abstains = 0;
	r->owner_role = GetUserId();
	r->started_at = now;
	r->deadline = now + timeout_us;
	r->decided_at = 0;
	r->data = dp;
	r->event_stored = false;
	memset(&r->event_writer, 0, sizeof(FndSession));
	if (found)
		ConditionVariableBroadcast(&r->cv);
	LWLockRelease(lock);

	fnd_consensus_count_decided(ndecided);
	fnd_events_insert(&t, events);
	PG_RETURN_VOID();
}

/*
 * fnd_consensus_vote(topic text, participant text, vote text) RETURNS text
 *
 * Records the vote and returns the round's status after it.  A vote after
 * the round has decided is still recorded (it shows in fnd_consensus) but
 * cannot change the outcome.
 */
Datum
fnd_consensus_vote(PG_FUNCTION_ARGS)
{
	FndRoundKey key;
	char		participant[FND_NAME_BUFSZ];
	char	   *word;
	int			vote = FND_VOTE_NONE;
	int			i;
	LWLock	   *lock;
	FndRound   *r;
	FndRoundData *d;
	int			idx;
	int			status;
	int			ndecided = 0;
	FndEventTarget t;
	List	   *events = NIL;
	char	   *json;

	fnd_require_shmem();
	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &key);
	fnd_check_name(fnd_arg_text(fcinfo, 1, "participant"), "participant",
				   participant);
	word = text_to_cstring(fnd_arg_text(fcinfo, 2, "vote"));
	for (i = FND_VOTE_ACCEPT; i <= FND_VOTE_ABSTAIN; i++)
		if (pg_strcasecmp(word, fnd_vote_names[i]) == 0)
			vote = i;
	if (vote == FND_VOTE_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("unknown vote \"%s\"", word),
				 errhint("A vote is accept, reject or abstain.")));

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	lock = fnd_consensus_lock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	r = hash_search(fnd_round_hash, &key, HASH_FIND, NULL);
	if (r == NULL)
	{
		LWLockRelease(lock);
		fnd_round_not_found(key.topic);
	}
	d = fnd_round_data(r);
	idx = fnd_round_participant(d, participant);
	if (idx < 0)
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_A_PARTICIPANT),
				 errmsg("\"%s\" is not a participant of the consensus round on topic \"%s\"",
						participant, key.topic)));
	}
	if (d->votes[idx] != FND_VOTE_NONE)
	{
		const char *before = fnd_vote_names[d->votes[idx]];

		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_ALREADY_VOTED),
				 errmsg("\"%s\" has already voted in the consensus round on topic \"%s\"",
						participant, key.topic),
				 errdetail("Its vote was %s.", before)));
	}

	/* a round past its deadline times out before this vote counts */
	if (fnd_round_decide(r, fnd_now()))
		ndecided++;
	d->votes[idx] = vote;
	if (vote == FND_VOTE_ACCEPT)
		r->accepts++;
	else if (vote == FND_VOTE_REJECT)
		r->rejects++;
	else
		r->abstains++;
	if (fnd_round_decide(r, fnd_now()))
		ndecided++;
	status = r->status;
	if ((json = fnd_round_claim(r, &t)) != NULL)
		events = lappend(events, json);
	LWLockRelease(lock);

	fnd_consensus_count_decided(ndecided);
	fnd_events_insert(&t, events);
	PG_RETURN_TEXT_P(cstring_to_text(fnd_round_status_names[status]));
}

/*
 * fnd_consensus_result(topic text, wait interval) RETURNS text
 *
 * The round's status, after waiting up to `wait` for it to decide (on the
 * round's condition variable, never polling).  A topic without a round in
 * shared memory answers from its latest consensus_decided event.
 */
Datum
fnd_consensus_result(PG_FUNCTION_ARGS)
{
	FndRoundKey key;
	int64		wait_us;
	TimestampTz wait_end;
	LWLock	   *lock;
	FndEventTarget t;
	List	   *volatile events = NIL;
	volatile int ndecided = 0;
	volatile int status = -1;
	volatile bool in_shmem = true;

	fnd_require_shmem();
	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &key);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("wait must not be null")));
	wait_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(1), "wait", true);
	wait_end = fnd_now() + wait_us;

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	lock = fnd_consensus_lock();
	PG_TRY();
	{
		for (;;)
		{
			FndRound   *r;
			TimestampTz now;
			TimestampTz until;
			char	   *json;

			LWLockAcquire(lock, LW_EXCLUSIVE);
			r = hash_search(fnd_round_hash, &key, HASH_FIND, NULL);
			if (r == NULL)
			{
				/* cannot happen while we are registered as waiting */
				Assert(fnd_round_sleeping == NULL);
				LWLockRelease(lock);
				in_shmem = false;
				break;
			}
			now = fnd_now();
			if (fnd_round_decide(r, now))
				ndecided++;
			/*
			 * Record the decision if nobody has (e.g. the supervisor,
			 * connected to another database, decided the timeout).
			 */
			if ((json = fnd_round_claim(r, &t)) != NULL)
				events = lappend(events, json);
			status = r->status;
			if (status != FND_ROUND_PENDING || now >= wait_end)
			{
				LWLockRelease(lock);
				break;
			}
			until = Min(wait_end, r->deadline);
			if (fnd_round_sleeping == NULL)
				fnd_round_sleep_begin(r);
			LWLockRelease(lock);

			(void) ConditionVariableTimedSleep(&r->cv,
											   fnd_sleep_ms(until, now),
											   PG_WAIT_EXTENSION);
		}
	}
	PG_CATCH();
	{
		if (LWLockHeldByMe(lock))
			LWLockRelease(lock);
		fnd_round_sleep_end();
		PG_RE_THROW();
	}
	PG_END_TRY();
	fnd_round_sleep_end();

	fnd_consensus_count_decided(ndecided);
	fnd_events_insert(&t, events);

	if (!in_shmem)
	{
		FndEventTarget src = t.ok ? t : fnd_event_lookup(false);
		char	   *outcome = fnd_consensus_stored_outcome(&src, key.topic);

		if (outcome == NULL)
			fnd_round_not_found(key.topic);
		PG_RETURN_TEXT_P(cstring_to_text(outcome));
	}
	PG_RETURN_TEXT_P(cstring_to_text(fnd_round_status_names[status]));
}

/* One row of the fnd_consensus view, copied out under the lock. */
typedef struct FndRoundRow
{
	char		topic[FND_NAME_BUFSZ];
	FndRoundData *data;			/* palloc'd copy */
	Size		size;
	int			status;
	int			quorum;
	bool		unanimous;
	int			accepts;
	int			rejects;
	int			abstains;
	int			waiting;
	TimestampTz started_at;
	TimestampTz deadline;
	TimestampTz decided_at;
} FndRoundRow;

/*
 * fnd_consensus_list() - the rows of the fnd_consensus view: the rounds of
 * this database.  Decides (and records) the timeouts it sees.
 */
Datum
fnd_consensus_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndEventTarget t;
	List	   *events;
	int			ndecided;
	LWLock	   *lock;
	HASH_SEQ_STATUS status;
	FndRound   *r;
	FndRoundRow *rows;
	int			nrows = 0;
	int			maxrows = 16;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);
	events = fnd_consensus_sweep(MyDatabaseId, &t, &ndecided);
	fnd_consensus_count_decided(ndecided);
	fnd_events_insert(&t, events);

	rows = palloc(sizeof(FndRoundRow) * maxrows);
	lock = fnd_consensus_lock();
	LWLockAcquire(lock, LW_SHARED);
	hash_seq_init(&status, fnd_round_hash);
	while ((r = hash_seq_search(&status)) != NULL)
	{
		FndRoundRow *row;
		FndRoundData *d;

		if (r->key.dbid != MyDatabaseId)
			continue;
		if (nrows == maxrows)
		{
			maxrows *= 2;
			rows = repalloc(rows, sizeof(FndRoundRow) * maxrows);
		}
		row = &rows[nrows++];
		d = fnd_round_data(r);
		memcpy(row->topic, r->key.topic, FND_NAME_BUFSZ);
		row->size = d->proposal_off + d->proposal_len;
		row->data = palloc(row->size);
		memcpy(row->data, d, row->size);
		row->status = r->status;
		row->quorum = r->quorum;
		row->unanimous = r->unanimous;
		row->accepts = r->accepts;
		row->rejects = r->rejects;
		row->abstains = r->abstains;
		row->waiting = (int) pg_atomic_read_u32(&r->waiting);
		row->started_at = r->started_at;
		row->deadline = r->deadline;
		row->decided_at = r->decided_at;
	}
	LWLockRelease(lock);

	for (i = 0; i < nrows; i++)
	{
		FndRoundRow *row = &rows[i];
		FndRoundData *d = row->data;
		Datum		values[14];
		bool		nulls[14];
		Datum	   *names;
		const char *p;
		StringInfoData votes;
		bool		first = true;
		int			j;
		Jsonb	   *prop;

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(row->topic);
		prop = palloc(d->proposal_len);
		memcpy(prop, fnd_round_proposal(d), d->proposal_len);
		values[1] = JsonbPGetDatum(prop);

		names = palloc(sizeof(Datum) * d->nparticipants);
		initStringInfo(&votes);
		appendStringInfoChar(&votes, '{');
		p = fnd_round_names(d);
		for (j = 0; j < d->nparticipants; j++)
		{
			names[j] = CStringGetTextDatum(p);
			if (d->votes[j] != FND_VOTE_NONE)
			{
				if (!first)
					appendStringInfoString(&votes, ", ");
				first = false;
				escape_json(&votes, p);
				appendStringInfoString(&votes, ": ");
				escape_json(&votes, fnd_vote_names[d->votes[j]]);
			}
			p += strlen(p) + 1;
		}
		appendStringInfoChar(&votes, '}');
		values[2] = PointerGetDatum(construct_array(names, d->nparticipants,
													TEXTOID, -1, false,
													TYPALIGN_INT));
		values[3] = DirectFunctionCall1(jsonb_in, CStringGetDatum(votes.data));
		values[4] = Int32GetDatum(row->accepts);
		values[5] = Int32GetDatum(row->rejects);
		values[6] = Int32GetDatum(row->abstains);
		values[7] = Int32GetDatum(row->quorum);
		values[8] = BoolGetDatum(row->unanimous);
		values[9] = CStringGetTextDatum(fnd_round_status_names[row->status]);
		values[10] = TimestampTzGetDatum(row->started_at);
		values[11] = TimestampTzGetDatum(row->deadline);
		if (row->decided_at != 0)
			values[12] = TimestampTzGetDatum(row->decided_at);
		else
			nulls[12] = true;
		values[13] = Int32GetDatum(row->waiting);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Remove the rounds of databases that have been dropped: their decisions
 * can no longer be recorded or read, and they hold capacity (and, while
 * unrecorded, make every consensus call look for unrecorded rounds).
 */
/* Sweep callback: release a round's value memory, slot and bookkeeping. */
static bool
fnd_round_forget(void *entry)
{
	FndRound   *r = (FndRound *) entry;

	if (pg_atomic_read_u32(&r->waiting) != 0)
		return false;
	if (r->status != FND_ROUND_PENDING && !r->event_stored)
		pg_atomic_fetch_sub_u32(&fnd_consensus_shared->unrecorded, 1);
	fnd_value_free(r->data);
	fnd_coordination_release();
	return true;
}

static void
fnd_consensus_forget_dropped(void)
{
	int			removed;

	removed = fnd_dbname_sweep_dropped(fnd_round_hash, fnd_consensus_lock(),
									   fnd_round_forget);
	if (removed > 0)
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "removed %d rounds of dropped databases", removed);
		fnd_service_set_detail(msg);
	}
}

/*
 * Supervisor, cluster-wide (its launcher, connected to no database): time
 * out the rounds of every database whose deadline has passed, waking their
 * waiters, and forget the rounds of dropped databases.  Each database's
 * worker records that database's decisions (fnd_consensus_record_periodic).
 */
static bool
fnd_consensus_periodic(void)
{
	FndEventTarget none = {false, InvalidOid, InvalidOid};
	int			ndecided;

	/* no target: decides without claiming, so returns no events */
	(void) fnd_consensus_sweep(InvalidOid, &none, &ndecided);
	fnd_consensus_count_decided(ndecided);
	fnd_consensus_forget_dropped();
	return false;
}

/* Supervisor, in each database's worker: record the decisions nobody has. */
static bool
fnd_consensus_record_periodic(void)
{
	FndEventTarget t = fnd_event_target(InvalidOid);

	fnd_consensus_flush(&t);
	return false;
}

/*
 * Session exit: leave any wait list.  Claims were settled by the abort
 * callback before this runs; drop any left over so no round stays claimed
 * by a dead session.
 */
static void
fnd_consensus_session_exit(void)
{
	fnd_round_sleep_end();
	if (fnd_nclaims > 0 && fnd_round_hash != NULL)
		fnd_claims_settle(false, InvalidSubTransactionId);
}
