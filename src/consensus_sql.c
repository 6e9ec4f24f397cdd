/*-------------------------------------------------------------------------
 *
 * consensus_sql.c
 *	  The SQL functions of consensus rounds: fnd_consensus_start, _vote,
 *	  _result, _cancel, and fnd_consensus_list behind the fnd_consensus
 *	  view.
 *
 * Each function validates its arguments before it touches shared memory,
 * records decisions nobody has recorded (fnd_consensus_flush, free when
 * there are none), does its work under the consensus lock, and inserts
 * the events of the decisions it claimed after releasing the lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "barrier.h"
#include "consensus.h"

PG_FUNCTION_INFO_V1(fnd_consensus_start);
PG_FUNCTION_INFO_V1(fnd_consensus_vote);
PG_FUNCTION_INFO_V1(fnd_consensus_result);
PG_FUNCTION_INFO_V1(fnd_consensus_cancel);
PG_FUNCTION_INFO_V1(fnd_consensus_list);

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

static void
fnd_require_arg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must not be null", what)));
}

/* ---- fnd_consensus_start ------------------------------------------------ */

/* The validated arguments of fnd_consensus_start. */
typedef struct FndStartArgs
{
	FndRoundKey key;
	FndRoundData *local;		/* the round's value chunk, palloc'd */
	Size		size;
	int			quorum;
	bool		unanimous;
	int64		timeout_us;
} FndStartArgs;

/* The accepts needed: every participant when unanimous, else a majority. */
static int
fnd_start_quorum(FunctionCallInfo fcinfo, int n, bool unanimous)
{
	int			quorum;

	if (unanimous)
	{
		if (!PG_ARGISNULL(3) && PG_GETARG_INT32(3) != n)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("a unanimous round needs every participant"),
					 errdetail("quorum is %d but there are %d participants.",
							   PG_GETARG_INT32(3), n),
					 errhint("Leave quorum NULL when unanimous is true.")));
		return n;
	}
	if (PG_ARGISNULL(3))
		return n / 2 + 1;
	quorum = PG_GETARG_INT32(3);
	if (quorum < 1 || quorum > n)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("quorum must be between 1 and the number of participants (%d)", n),
				 errdetail("The value given is %d.", quorum)));
	return quorum;
}

static void
fnd_start_args(FunctionCallInfo fcinfo, FndStartArgs *a)
{
	Jsonb	   *proposal;
	ArrayType  *participants;

	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &a->key);
	fnd_require_arg(fcinfo, 1, "proposal");
	proposal = PG_GETARG_JSONB_P(1);
	fnd_require_arg(fcinfo, 2, "participants");
	participants = PG_GETARG_ARRAYTYPE_P(2);
	fnd_require_arg(fcinfo, 4, "timeout");
	a->timeout_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(4), "timeout", false);
	fnd_require_arg(fcinfo, 5, "unanimous");
	a->unanimous = PG_GETARG_BOOL(5);

	a->local = fnd_round_build(participants, proposal, &a->size);
	a->quorum = fnd_start_quorum(fcinfo, a->local->nparticipants, a->unanimous);
}

/*
 * Make way for a new round on a topic whose round exists: it must have
 * decided (a pending round is FN003), belong to a role the caller may act
 * for (FN104), and have its decision recorded or recordable by this
 * transaction (whose event JSON is appended to *events).  Frees its value
 * chunk.  Caller holds the lock exclusively.
 */
static void
fnd_start_replace(FndRound *r, const FndEventTarget *t, List **events,
				  int *ndecided)
{
	if (r->status == FND_ROUND_PENDING && fnd_round_decide(r, fnd_now()))
		(*ndecided)++;
	if (r->status == FND_ROUND_PENDING)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("a consensus round on topic \"%s\" is still pending", r->key.topic),
				 errdetail("It decides when its votes make the outcome certain, or times out at %s.",
						   timestamptz_to_str(r->deadline))));
	if (!fnd_role_may_manage(r->owner_role))
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_OWNER),
				 errmsg("the consensus round on topic \"%s\" belongs to another role", r->key.topic),
				 errdetail("Only its creator, a member of that role or a superuser may start a new round on the topic.")));
	if (!r->event_stored)
	{
		if (!fnd_session_is_empty(&r->event_writer) &&
			!fnd_session_is_me(&r->event_writer))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("the decision of the previous round on topic \"%s\" is still being recorded", r->key.topic),
					 errhint("Retry once the transaction that decided it has committed.")));
		if (!t->ok && fnd_session_is_empty(&r->event_writer))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("the decision of the previous round on topic \"%s\" is not recorded yet", r->key.topic),
					 errhint("Start the new round in a read-write transaction, which records it first.")));
		/* we write it (or already are, in this transaction) */
		if (fnd_session_is_empty(&r->event_writer))
			*events = lappend(*events, fnd_round_event_json(r));
		pg_atomic_fetch_sub_u32(&fnd_consensus_shared->unrecorded, 1);
	}
	fnd_round_free_data(r);
}

/* Fill a round's slot with a new pending round.  Lock held exclusively. */
static void
fnd_round_init(FndRound *r, const FndStartArgs *a, dsa_pointer dp)
{
	TimestampTz now = fnd_now();

	r->round_id = pg_atomic_fetch_add_u64(&fnd_consensus_shared->next_round_id, 1);
	r->status = FND_ROUND_PENDING;
	r->nparticipants = a->local->nparticipants;
	r->quorum = a->quorum;
	r->unanimous = a->unanimous;
	r->accepts = r->rejects = r->abstains = 0;
	r->owner_role = GetUserId();
	r->started_at = now;
	r->deadline = now + a->timeout_us;
	r->decided_at = 0;
	r->data = dp;
	r->data_size = a->size;
	r->event_stored = false;
	memset(&r->event_writer, 0, sizeof(FndSession));
	pg_atomic_fetch_add_u64(&fnd_consensus_shared->value_bytes, a->size);
}

/*
 * fnd_consensus_start(topic text, proposal jsonb, participants text[],
 *		quorum int, timeout interval, unanimous boolean) RETURNS void
 *
 * Steps: validate and build the round's value chunk; copy it into the
 * value area (a full area is FN607 before any change); under the lock,
 * replace the topic's decided round or take a new slot; fill it in.
 */
Datum
fnd_consensus_start(PG_FUNCTION_ARGS)
{
	FndStartArgs a;
	FndEventTarget t;
	dsa_pointer dp;
	LWLock	   *lock = NULL;
	List	   *volatile events = NIL;
	volatile int ndecided = 0;

	fnd_require_shmem();
	fnd_start_args(fcinfo, &a);
	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	dp = fnd_round_alloc(a.local, a.size);
	lock = fnd_consensus_lock();
	PG_TRY();
	{
		FndRound   *r;
		List	   *ev = NIL;
		int			nd = 0;
		bool		replaced;

		LWLockAcquire(lock, LW_EXCLUSIVE);
		r = hash_search(fnd_round_hash, &a.key, HASH_FIND, NULL);
		replaced = (r != NULL);
		if (replaced)
			fnd_start_replace(r, &t, &ev, &nd);
		else
			r = fnd_round_new_slot(&a.key);
		fnd_round_init(r, &a, dp);
		if (replaced)
			ConditionVariableBroadcast(&r->cv);
		LWLockRelease(lock);
		events = ev;
		ndecided = nd;
	}
	PG_CATCH();
	{
		/* nothing after fnd_round_init can fail: the chunk is still ours */
		if (LWLockHeldByMe(lock))
			LWLockRelease(lock);
		fnd_value_free(dp);
		PG_RE_THROW();
	}
	PG_END_TRY();

	fnd_consensus_count_decided(ndecided);
	fnd_consensus_record(&t, events);
	PG_RETURN_VOID();
}

/* ---- fnd_consensus_vote ------------------------------------------------- */

/* accept, reject or abstain, in any case; FN003 for another word. */
static int
fnd_vote_word(text *arg)
{
	char	   *word = text_to_cstring(arg);
	int			i;

	for (i = FND_VOTE_ACCEPT; i <= FND_VOTE_ABSTAIN; i++)
		if (pg_strcasecmp(word, fnd_vote_names[i]) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_ARGUMENT),
			 errmsg("unknown vote \"%s\"", word),
			 errhint("A vote is accept, reject or abstain.")));
	return FND_VOTE_NONE;		/* keep the compiler quiet */
}

/* Who may vote as a participant of a round, as seen at one moment. */
typedef struct FndVoter
{
	uint64		round_id;
	Oid			role;			/* the role the participant names, or 0 */
	Oid			owner_role;		/* the round's creator */
} FndVoter;

/*
 * Find the round and the participant (FN003, FN605) and copy out who may
 * vote as it, under the shared lock: the privilege check that follows
 * reads the catalogs, which must not happen under an LWLock.
 */
static void
fnd_vote_lookup(const FndRoundKey *key, const char *participant,
				FndVoter *v)
{
	LWLock	   *lock = fnd_consensus_lock();
	FndRound   *r;
	FndRoundData *d;
	int			idx;

	LWLockAcquire(lock, LW_SHARED);
	r = hash_search(fnd_round_hash, key, HASH_FIND, NULL);
	if (r == NULL)
	{
		LWLockRelease(lock);
		fnd_round_not_found(key->topic);
	}
	d = fnd_round_data(r);
	idx = fnd_round_participant(d, participant);
	if (idx < 0)
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_A_PARTICIPANT),
				 errmsg("\"%s\" is not a participant of the consensus round on topic \"%s\"",
						participant, key->topic)));
	}
	v->round_id = r->round_id;
	v->role = fnd_round_roles(d)[idx];
	v->owner_role = r->owner_role;
	LWLockRelease(lock);
}

/*
 * May the current user vote as this participant?  As a participant that
 * names a role: if it is a member of that role.  As any other name (a
 * label the round's creator handed out): if it is a member of the
 * creating role.  FN104 otherwise.
 */
static void
fnd_vote_check_identity(const FndRoundKey *key, const char *participant,
						const FndVoter *v)
{
	if (OidIsValid(v->role))
	{
		if (!has_privs_of_role(GetUserId(), v->role))
			ereport(ERROR,
					(errcode(ERRCODE_FND_NOT_OWNER),
					 errmsg("only members of role \"%s\" may vote as that participant of the consensus round on topic \"%s\"",
							participant, key->topic),
					 errdetail("The participant names a role, and the current user \"%s\" is not a member of it.",
							   GetUserNameFromId(GetUserId(), false))));
		return;
	}
	if (!has_privs_of_role(GetUserId(), v->owner_role))
	{
		char	   *owner = GetUserNameFromId(v->owner_role, true);

		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_OWNER),
				 errmsg("only members of role \"%s\", which started the consensus round on topic \"%s\", may vote as participant \"%s\"",
						owner ? owner : "(dropped)", key->topic, participant),
				 errdetail("\"%s\" names no role, so it is a label given out by the round's creator.",
						   participant),
				 errhint("Start the round with role names as participants to let members of those roles vote.")));
	}
}

/*
 * Count a vote in the round (FN606 if the participant has voted) and
 * decide it if the outcome is now certain.  A round past its deadline
 * times out before the vote counts; a vote after the decision is recorded
 * but changes nothing.  Returns the status.  Lock held exclusively.
 */
static int
fnd_vote_record(FndRound *r, const char *participant, int vote, int *ndecided)
{
	FndRoundData *d = fnd_round_data(r);
	int			idx = fnd_round_participant(d, participant);

	Assert(idx >= 0);
	if (d->votes[idx] != FND_VOTE_NONE)
		ereport(ERROR,
				(errcode(ERRCODE_FND_ALREADY_VOTED),
				 errmsg("\"%s\" has already voted in the consensus round on topic \"%s\"",
						participant, r->key.topic),
				 errdetail("Its vote was %s.", fnd_vote_names[d->votes[idx]])));

	if (fnd_round_decide(r, fnd_now()))
		(*ndecided)++;
	d->votes[idx] = vote;
	if (vote == FND_VOTE_ACCEPT)
		r->accepts++;
	else if (vote == FND_VOTE_REJECT)
		r->rejects++;
	else
		r->abstains++;
	if (fnd_round_decide(r, fnd_now()))
		(*ndecided)++;
	return r->status;
}

/*
 * fnd_consensus_vote(topic text, participant text, vote text) RETURNS text
 *
 * Steps: validate; find the round and check the caller may vote as the
 * participant; under the exclusive lock, on the same round, count the
 * vote, decide, claim the decision; record it.
 */
Datum
fnd_consensus_vote(PG_FUNCTION_ARGS)
{
	FndRoundKey key;
	char		participant[FND_NAME_BUFSZ];
	int			vote;
	LWLock	   *lock;
	FndRound   *r;
	FndVoter	v;
	int			status;
	int			ndecided = 0;
	FndEventTarget t;
	List	   *events = NIL;
	char	   *json;

	fnd_require_shmem();
	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &key);
	fnd_check_name(fnd_arg_text(fcinfo, 1, "participant"), "participant",
				   participant);
	vote = fnd_vote_word(fnd_arg_text(fcinfo, 2, "vote"));

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	lock = fnd_consensus_lock();
	for (;;)
	{
		fnd_vote_lookup(&key, participant, &v);
		fnd_vote_check_identity(&key, participant, &v);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		r = hash_search(fnd_round_hash, &key, HASH_FIND, NULL);
		if (r != NULL && r->round_id == v.round_id)
			break;
		/* replaced or evicted since we looked: look again */
		LWLockRelease(lock);
	}
	status = fnd_vote_record(r, participant, vote, &ndecided);
	if ((json = fnd_round_claim(r, &t)) != NULL)
		events = lappend(events, json);
	LWLockRelease(lock);

	fnd_consensus_count_decided(ndecided);
	fnd_consensus_record(&t, events);
	PG_RETURN_TEXT_P(cstring_to_text(fnd_round_status_names[status]));
}

/* ---- fnd_consensus_result ----------------------------------------------- */

/*
 * Wait until the round decides or wait_end passes, on the round's
 * condition variable.  Returns its status, or -1 if the topic has no
 * round in shared memory.  Claims the decision if nobody has recorded it
 * (e.g. the supervisor, connected to another database, decided a
 * timeout); its JSON goes to *events.
 */
static int
fnd_result_wait(const FndRoundKey *key, TimestampTz wait_end,
				const FndEventTarget *t, List **events, int *ndecided)
{
	LWLock	   *lock = fnd_consensus_lock();
	List	   *volatile ev = NIL;
	volatile int nd = 0;
	volatile int status = -1;

	PG_TRY();
	{
		for (;;)
		{
			FndRound   *r;
			TimestampTz now;
			char	   *json;

			LWLockAcquire(lock, LW_EXCLUSIVE);
			r = hash_search(fnd_round_hash, key, HASH_FIND, NULL);
			if (r == NULL)
			{
				/* cannot happen while we are registered as waiting */
				Assert(fnd_round_sleeping == NULL);
				LWLockRelease(lock);
				status = -1;
				break;
			}
			now = fnd_now();
			if (fnd_round_decide(r, now))
				nd++;
			if ((json = fnd_round_claim(r, t)) != NULL)
				ev = lappend(ev, json);
			status = r->status;
			if (status != FND_ROUND_PENDING || now >= wait_end)
			{
				LWLockRelease(lock);
				break;
			}
			if (fnd_round_sleeping == NULL)
				fnd_round_sleep_begin(r);
			LWLockRelease(lock);

			(void) ConditionVariableTimedSleep(&r->cv,
											   fnd_sleep_ms(Min(wait_end, r->deadline), now),
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
	*events = ev;
	*ndecided = nd;
	return status;
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
	FndEventTarget t;
	List	   *events;
	int			ndecided;
	int			status;

	fnd_require_shmem();
	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &key);
	fnd_require_arg(fcinfo, 1, "wait");
	wait_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(1), "wait", true);

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	status = fnd_result_wait(&key, fnd_now() + wait_us, &t, &events, &ndecided);
	fnd_consensus_count_decided(ndecided);
	fnd_consensus_record(&t, events);

	if (status < 0)
	{
		FndEventTarget src = t.ok ? t : fnd_event_lookup(false);
		char	   *outcome = fnd_consensus_stored_outcome(&src, key.topic);

		if (outcome == NULL)
			fnd_round_not_found(key.topic);
		PG_RETURN_TEXT_P(cstring_to_text(outcome));
	}
	PG_RETURN_TEXT_P(cstring_to_text(fnd_round_status_names[status]));
}

/* ---- fnd_consensus_cancel ----------------------------------------------- */

/*
 * fnd_consensus_cancel(topic text) RETURNS boolean
 *
 * Admin (EXECUTE is revoked from PUBLIC): a pending round decides
 * "cancelled" at once, its waiters wake with that answer and the decision
 * is recorded like any other.  False if the topic has no round in shared
 * memory or its round has decided (a round past its deadline times out
 * instead).
 */
Datum
fnd_consensus_cancel(PG_FUNCTION_ARGS)
{
	FndRoundKey key;
	LWLock	   *lock;
	FndRound   *r;
	FndEventTarget t;
	List	   *events = NIL;
	int			ndecided = 0;
	bool		cancelled = false;
	char	   *json;

	fnd_require_shmem();
	fnd_round_key(fnd_arg_text(fcinfo, 0, "topic"), &key);
	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);

	lock = fnd_consensus_lock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	r = hash_search(fnd_round_hash, &key, HASH_FIND, NULL);
	if (r != NULL)
	{
		TimestampTz now = fnd_now();

		if (fnd_round_decide(r, now))
			ndecided++;
		else if ((cancelled = fnd_round_cancel(r, now)))
			ndecided++;
		if ((json = fnd_round_claim(r, &t)) != NULL)
			events = lappend(events, json);
	}
	LWLockRelease(lock);

	fnd_consensus_count_decided(ndecided);
	fnd_consensus_record(&t, events);
	PG_RETURN_BOOL(cancelled);
}

/* ---- the fnd_consensus view --------------------------------------------- */

/* One row of the fnd_consensus view, copied out under the lock. */
typedef struct FndRoundRow
{
	char		topic[FND_NAME_BUFSZ];
	FndRoundData *data;			/* palloc'd copy */
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

/* Copy the rounds of this database out, under the shared lock. */
static FndRoundRow *
fnd_consensus_copy_rows(int *nrows_out)
{
	LWLock	   *lock = fnd_consensus_lock();
	HASH_SEQ_STATUS status;
	FndRound   *r;
	FndRoundRow *rows;
	int			nrows = 0;
	int			maxrows = 16;

	rows = palloc(sizeof(FndRoundRow) * maxrows);
	LWLockAcquire(lock, LW_SHARED);
	hash_seq_init(&status, fnd_round_hash);
	while ((r = hash_seq_search(&status)) != NULL)
	{
		FndRoundRow *row;

		if (r->key.dbid != MyDatabaseId)
			continue;
		if (nrows == maxrows)
		{
			maxrows *= 2;
			rows = repalloc(rows, sizeof(FndRoundRow) * maxrows);
		}
		row = &rows[nrows++];
		memcpy(row->topic, r->key.topic, FND_NAME_BUFSZ);
		row->data = palloc(r->data_size);
		memcpy(row->data, fnd_round_data(r), r->data_size);
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
	*nrows_out = nrows;
	return rows;
}

/* The participants array and the votes object of one row. */
static void
fnd_round_row_votes(FndRoundData *d, Datum *participants, Datum *votes)
{
	Datum	   *names = palloc(sizeof(Datum) * d->nparticipants);
	StringInfoData buf;
	const char *p = fnd_round_names(d);
	int			j;

	for (j = 0; j < d->nparticipants; j++)
	{
		names[j] = CStringGetTextDatum(p);
		p += strlen(p) + 1;
	}
	*participants = PointerGetDatum(construct_array(names, d->nparticipants,
													TEXTOID, -1, false,
													TYPALIGN_INT));
	initStringInfo(&buf);
	fnd_round_append_votes(&buf, d);
	*votes = DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data));
}

static void
fnd_round_row_values(FndRoundRow *row, Datum *values, bool *nulls)
{
	FndRoundData *d = row->data;
	Jsonb	   *prop;

	values[0] = CStringGetTextDatum(row->topic);
	prop = palloc(d->proposal_len);
	memcpy(prop, fnd_round_proposal(d), d->proposal_len);
	values[1] = JsonbPGetDatum(prop);
	fnd_round_row_votes(d, &values[2], &values[3]);
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
}

/*
 * fnd_consensus_list() - the rows of the fnd_consensus view: the rounds of
 * this database.  Decides (and records) the timeouts it sees first.
 */
Datum
fnd_consensus_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndEventTarget t;
	List	   *events;
	int			ndecided;
	FndRoundRow *rows;
	int			nrows;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	t = fnd_event_target(fcinfo->flinfo->fn_oid);
	fnd_consensus_flush(&t);
	events = fnd_consensus_sweep(MyDatabaseId, &t, &ndecided);
	fnd_consensus_count_decided(ndecided);
	fnd_consensus_record(&t, events);

	rows = fnd_consensus_copy_rows(&nrows);
	for (i = 0; i < nrows; i++)
	{
		Datum		values[14];
		bool		nulls[14];

		memset(nulls, 0, sizeof(nulls));
		fnd_round_row_values(&rows[i], values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
