/*-------------------------------------------------------------------------
 *
 * consensus.c
 *	  Consensus rounds that decide once and are remembered as events: the
 *	  rounds table.
 *
 * A round is a proposal (jsonb), a list of participants and a number of
 * accepts needed (the quorum: a majority by default, everyone when
 * unanimous).  Each participant votes accept, reject or abstain, once; how
 * a round decides and how its decision is recorded is in
 * consensus_decide.c, the SQL functions in consensus_sql.c.
 *
 * Who may vote as a participant.  A participant that names a role (at the
 * start of the round) may be voted for only by a member of that role; any
 * other participant name is a label handed out by the round's creator, so
 * only a member of the creating role may vote with it.  Superusers may vote
 * as anyone.  The role of each participant is resolved once, at the start.
 *
 * Rounds live in an FndDbTable (dbtable.h) keyed by (database, topic); the
 * proposal, participant names, their roles and the votes live in one chunk
 * of the shared value area.  They count against
 * foundation.max_coordination_objects together with barriers (the round
 * table shares the barrier table's capacity).
 *
 * Per-role quota.  A round counts against its creator's
 * foundation.max_consensus_rounds_per_role while it is pending and until
 * a transaction writes its decision (fnd_round_claim): from then on it can
 * give way, so it holds nothing of the role's.  If that transaction rolls
 * back, the round counts again (without a limit check: the role asked
 * while it existed) until its decision is written.  A round decided in a
 * read-only transaction therefore still counts, so read-only callers cannot
 * pile up rounds beyond the quota.
 *
 * Decided rounds give way.  A decided round whose consensus_decided event
 * is stored is needed only for the fnd_consensus view: when a barrier or a
 * round needs a slot and none is free, or any allocation in the value area
 * fails, the longest-decided such round (of any database, nobody waiting
 * on it) is evicted and its slot and value memory are freed;
 * fnd_consensus_result() then answers from its event.  Pending rounds, and
 * decided rounds whose decision is not recorded yet, are never evicted.
 * Starting a round on a topic whose round is decided replaces it; on a
 * pending topic it is an error.
 *
 * Locking protocol:
 *	- One LWLock guards the round hash table, every field of every round
 *	  except `waiting`, and the round's chunk in the value area.  Every path
 *	  that may decide a round (start, vote, result, cancel, the sweeps)
 *	  takes it exclusively, since even a read may find the deadline passed;
 *	  only the view's copy-out, after its own sweep, takes it shared.
 *	- The barrier lock may be held when this lock is taken (a barrier that
 *	  needs a slot evicts a round), never the other way round.  Nothing
 *	  allocates value memory while holding this lock, since a failed
 *	  allocation evicts rounds under it.
 *	- `waiting` counts sessions between ConditionVariablePrepareToSleep and
 *	  ConditionVariableCancelSleep on the round's condition variable
 *	  (incremented under the lock, decremented after the cancel).  A slot
 *	  is reused for another topic or evicted only with waiting == 0, so its
 *	  condition variable can be re-initialised safely; a replacement on the
 *	  same topic keeps the condition variable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "barrier.h"
#include "consensus.h"

const char *const fnd_round_status_names[] = {
	"pending", "accepted", "rejected", "timeout", "cancelled"
};

const char *const fnd_vote_names[] = {
	NULL, "accept", "reject", "abstain"
};

static bool fnd_round_forget(void *entry);

FndDbTable	fnd_round_table = {
	.name = "foundation consensus table",
	.title = "coordination table",
	.noun = "consensus rounds",
	.service = &fnd_consensus_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(FndRound),
	.errcode = ERRCODE_FND_COORDINATION_FULL,
	.full_hint = FND_COORDINATION_FULL_HINT,
	.quota_name = "foundation.max_consensus_rounds_per_role",
	.quota_desc = "Maximum number of consensus rounds one role may have started and not yet decided and recorded, over all databases.",
	.forget = fnd_round_forget,
	.capacity_from = &fnd_barrier_table,	/* foundation.max_coordination_objects */
};

FndConsensusShared *fnd_consensus_shared = NULL;

static void fnd_consensus_define_settings(bool preloading);
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
	.define_settings = fnd_consensus_define_settings,
	.shmem_size = fnd_consensus_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_consensus_shmem_startup,
	.periodic = fnd_consensus_periodic,
	.session_exit = fnd_consensus_session_exit,
};

static void
fnd_consensus_define_settings(bool preloading)
{
	fnd_dbtable_define(&fnd_round_table, preloading);
}

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
					fnd_dbtable_shmem_size(&fnd_round_table));
}

static void
fnd_consensus_shmem_startup(void)
{
	bool		found;

	fnd_consensus_shared = ShmemInitStruct("foundation consensus",
										   sizeof(FndConsensusShared), &found);
	if (!found)
	{
		pg_atomic_init_u32(&fnd_consensus_shared->unrecorded, 0);
		pg_atomic_init_u64(&fnd_consensus_shared->value_bytes, 0);
	}
	fnd_dbtable_startup(&fnd_round_table);
}

LWLock *
fnd_consensus_lock(void)
{
	return fnd_dbtable_lock(&fnd_round_table);
}

/* The round of key, or NULL.  Caller holds the lock. */
FndRound *
fnd_round_lookup(const FndDbKey *key)
{
	return fnd_dbtable_find(&fnd_round_table, key,
							fnd_dbtable_hash(&fnd_round_table, key));
}

/* ---- a round's value chunk ---------------------------------------------- */

FndRoundData *
fnd_round_data(FndRound *r)
{
	return (FndRoundData *) fnd_value_address(r->data);
}

const char *
fnd_round_names(FndRoundData *d)
{
	return (const char *) d + d->names_off;
}

Oid *
fnd_round_roles(FndRoundData *d)
{
	return (Oid *) ((char *) d + d->roles_off);
}

Jsonb *
fnd_round_proposal(FndRoundData *d)
{
	return (Jsonb *) ((char *) d + d->proposal_off);
}

/* Index of a participant, or -1. */
int
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

/*
 * The participant names of a round, validated: a one-dimensional array of
 * distinct, non-null names.  Returns them palloc'd (n of them) and the
 * bytes they take back to back.
 */
static char **
fnd_round_check_participants(ArrayType *participants, int *n_out,
							 Size *names_len)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
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
	*names_len = 0;
	for (i = 0; i < n; i++)
	{
		int			j;

		CHECK_FOR_INTERRUPTS();
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
		*names_len += strlen(names[i]) + 1;
	}
	*n_out = n;
	return names;
}

/* The role a participant name names, or InvalidOid. */
static Oid
fnd_round_participant_role(const char *name)
{
	/* a longer name names no role (and must not match a truncated one) */
	if (strlen(name) >= NAMEDATALEN)
		return InvalidOid;
	return get_role_oid(name, true);
}

/*
 * Build a round's value chunk from the arguments (validated here, before
 * anything shared is touched).  Returns it palloc'd, with its size.
 */
FndRoundData *
fnd_round_build(ArrayType *participants, Jsonb *proposal, Size *size)
{
	int			n;
	int			i;
	Size		names_len;
	Size		sz;
	FndRoundData *d;
	char	   *p;
	char	  **names;
	Oid		   *roles;

	names = fnd_round_check_participants(participants, &n, &names_len);

	sz = offsetof(FndRoundData, votes) + n;
	sz = MAXALIGN(add_size(sz, names_len));
	sz = MAXALIGN(add_size(sz, mul_size(sizeof(Oid), n)));
	sz = add_size(sz, VARSIZE(proposal));

	d = palloc0(sz);
	d->nparticipants = n;
	d->names_off = offsetof(FndRoundData, votes) + n;
	d->roles_off = MAXALIGN(d->names_off + names_len);
	d->proposal_off = MAXALIGN(d->roles_off + sizeof(Oid) * n);
	d->proposal_len = VARSIZE(proposal);
	p = (char *) d + d->names_off;
	roles = fnd_round_roles(d);
	for (i = 0; i < n; i++)
	{
		Size		len = strlen(names[i]) + 1;

		memcpy(p, names[i], len);
		p += len;
		roles[i] = fnd_round_participant_role(names[i]);
	}
	memcpy((char *) d + d->proposal_off, proposal, VARSIZE(proposal));
	*size = sz;
	return d;
}

/* ---- value memory ------------------------------------------------------- */

/*
 * Supervisor: show the value memory that rounds of all databases hold, and
 * how many rounds there are, as gauges of foundation.database (metrics are
 * per database; these figures are server-wide).
 */
static void
fnd_consensus_publish_memory(void)
{
	fnd_telemetry_gauge("foundation.consensus.value_bytes",
						(double) pg_atomic_read_u64(&fnd_consensus_shared->value_bytes));
	fnd_telemetry_gauge("foundation.consensus.rounds",
						(double) fnd_dbtable_count(&fnd_round_table));
}

/*
 * Copy a round's value chunk into the shared value area.  Called without
 * the lock.
 */
dsa_pointer
fnd_round_alloc(FndRoundData *local, Size size)
{
	dsa_pointer dp;

	/* decided rounds give way inside it while the area is full */
	dp = fnd_value_alloc(size);

	if (!DsaPointerIsValid(dp))
		ereport(ERROR,
				(errcode(ERRCODE_FND_COORDINATION_FULL),
				 errmsg("no shared memory left for the consensus proposal"),
				 errdetail("The proposal and participants take %zu bytes; foundation.value_memory is exhausted and no decided round can give way.",
						   size),
				 errhint("Raise foundation.value_memory and restart, or use smaller proposals.")));
	memcpy(fnd_value_address(dp), local, size);
	return dp;
}

/* Free a round's value chunk.  Caller holds the lock exclusively. */
void
fnd_round_free_data(FndRound *r)
{
	fnd_value_free(r->data);
	r->data = InvalidDsaPointer;
	pg_atomic_fetch_sub_u64(&fnd_consensus_shared->value_bytes, r->data_size);
	r->data_size = 0;
}

/* ---- slots -------------------------------------------------------------- */

/*
 * Evict the longest-decided round whose decision is stored and on which
 * nobody waits, of any database: its value memory and its unit of
 * capacity are freed.  False if there is none.  Caller holds the lock
 * exclusively.
 */
bool
fnd_round_evict_locked(void)
{
	HASH_SEQ_STATUS status;
	FndRound   *victim = NULL;
	FndRound   *c;

	hash_seq_init(&status, fnd_round_table.htab);
	while ((c = hash_seq_search(&status)) != NULL)
	{
		if (c->status != FND_ROUND_PENDING && c->event_stored &&
			pg_atomic_read_u32(&c->waiting) == 0 &&
			(victim == NULL || c->decided_at < victim->decided_at))
			victim = c;
	}
	if (victim == NULL)
		return false;
	fnd_round_free_data(victim);
	fnd_dbtable_remove(&fnd_round_table, victim);
	fnd_telemetry_count("foundation.consensus.evicted", 1);
	return true;
}

/*
 * Evict one decided and recorded round to make room (foundation.h): for a
 * barrier or round that needs a slot, and for any allocation in the value
 * area that failed.  Takes the lock; false if there is nothing to evict,
 * or if this backend already holds the lock (it cannot wait for itself).
 */
bool
fnd_consensus_give_way(void)
{
	LWLock	   *lock;
	bool		evicted;

	if (fnd_round_table.htab == NULL)
		return false;
	lock = fnd_consensus_lock();
	if (LWLockHeldByMe(lock))
		return false;
	LWLockAcquire(lock, LW_EXCLUSIVE);
	evicted = fnd_round_evict_locked();
	LWLockRelease(lock);
	return evicted;
}

/*
 * A new slot for a topic that has none, charged to the calling role: a
 * unit of capacity (evicting decided rounds while there is none) and a
 * hash entry with its waiting count and condition variable initialised.
 * FN607 when the role is at its quota or nothing can give way.  Caller
 * holds the lock exclusively.
 */
FndRound *
fnd_round_new_slot(const FndDbKey *key)
{
	FndRound   *r;

	r = fnd_coordination_insert(&fnd_round_table, key,
								fnd_round_evict_locked);
	r->data = InvalidDsaPointer;
	r->data_size = 0;
	pg_atomic_init_u32(&r->waiting, 0);
	ConditionVariableInit(&r->cv);
	return r;
}

/* ---- dropped databases, the supervisor, session exit -------------------- */

/*
 * The sweep of dropped databases: their rounds' decisions can no longer be
 * recorded or read, and they hold capacity (and, while unrecorded, make
 * every consensus call look for unrecorded rounds).  Releases a round's
 * value memory and bookkeeping; the sweep removes it.
 */
static bool
fnd_round_forget(void *entry)
{
	FndRound   *r = (FndRound *) entry;

	if (pg_atomic_read_u32(&r->waiting) != 0)
		return false;
	if (r->status != FND_ROUND_PENDING && !r->event_stored)
		pg_atomic_fetch_sub_u32(&fnd_consensus_shared->unrecorded, 1);
	fnd_round_free_data(r);
	return true;
}

/*
 * The extension is being dropped in database dbid: forget its rounds (those
 * with waiters stay until the waiters leave; the sweep of a dropped
 * database or their own deadline ends them).
 */
void
fnd_consensus_forget_database(Oid dbid)
{
	if (fnd_consensus_shared == NULL)
		return;
	(void) fnd_dbtable_forget_database(&fnd_round_table, dbid);
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
	FndEventTarget none = {false, InvalidOid};
	int			ndecided;

	/* no target: decides without claiming, so returns no events */
	(void) fnd_consensus_sweep(InvalidOid, &none, &ndecided);
	fnd_consensus_count_decided(ndecided);
	fnd_dbtable_sweep_dropped(&fnd_round_table);
	fnd_dbtable_report(&fnd_round_table, NULL);
	fnd_consensus_publish_memory();
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
	if (fnd_claims_pending() && fnd_round_table.htab != NULL)
		fnd_claims_settle(false, InvalidSubTransactionId);
}
