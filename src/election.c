/*-------------------------------------------------------------------------
 *
 * election.c
 *	  Leader election: one leader per (database, group), leased or owned by
 *	  a session, with strictly increasing terms.
 *
 * A group's entry in the shared hash table exists exactly while the group
 * has a leader; capacity is foundation.max_elections groups with a leader
 * at once (FN607 beyond).
 *
 * fnd_elect_leader(group, candidate, lease) makes the candidate leader if
 * the group has none, and renews the leadership if the candidate already
 * leads.  Following SPEC §2 (session ownership):
 *	- with a lease (the default, 10 s) the leadership belongs to the calling
 *	  role, survives the session (pooled connections) and ends when the lease
 *	  runs out unless a later call renews it;
 *	- with lease => NULL it belongs to the calling session and ends with it.
 * Either way fnd_resign ends it at once.  Expired leaderships are removed on
 * access and by the supervisor (fnd_election_periodic).
 *
 * Terms come from the sequence fnd_term_seq (fnd_next_token in lock.c: never
 * handed out twice, not across a crash or a failover with synchronous
 * replication).  As for locks, a new leader is installed with term 0
 * ("pending"), fetches nextval outside the LWLock, then stores the term.  A
 * later leader can only be installed after this leadership ends, which is
 * after its nextval, so terms strictly increase per group.  A pending
 * leadership does not expire; if nextval fails it is removed.
 *
 * Locking protocol: the single LWLock fnd_lwlocks(&fnd_election_service)[0]
 * guards the hash table, exclusive for changes, shared for fnd_leader().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "lock.h"

typedef struct FndElectionKey
{
	Oid			dbid;
	char		group[FND_NAME_BUFSZ];
} FndElectionKey;

typedef struct FndElection
{
	FndElectionKey key;			/* hash key: must be first */
	char		leader[FND_NAME_BUFSZ];
	int64		term;			/* 0 while the leader fetches its term */
	FndSession	owner;			/* electing session; empty once a leased
								 * leadership's session has ended */
	Oid			owner_role;
	int64		lease_usec;		/* 0: owned by the session */
	TimestampTz lease_expires;	/* 0: no lease, or term still pending */
	TimestampTz elected_at;
} FndElection;

static int	fnd_max_elections = 1000;
static HTAB *fnd_election_htab = NULL;
static bool fnd_election_touched = false;

static LWLock *
fnd_election_lwlock(void)
{
	return &fnd_lwlocks(&fnd_election_service)[0].lock;
}

static void
fnd_election_define_settings(bool preloading)
{
	if (!preloading)
		return;
	DefineCustomIntVariable("foundation.max_elections",
							"Maximum number of election groups with a leader at once, over all databases.",
							NULL,
							&fnd_max_elections,
							1000,
							16,
							INT_MAX / 2,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

static Size
fnd_election_shmem_size(void)
{
	return hash_estimate_size(fnd_max_elections, sizeof(FndElection));
}

static void
fnd_election_shmem_startup(void)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndElectionKey);
	info.entrysize = sizeof(FndElection);
	fnd_election_htab = ShmemInitHash("foundation election table",
									  fnd_max_elections, fnd_max_elections,
									  &info, HASH_ELEM | HASH_BLOBS);
}

/* Look a group up, treating a lapsed leadership as gone.  Exclusive lock. */
static FndElection *
fnd_election_find(const FndElectionKey *key, TimestampTz now)
{
	FndElection *e = hash_search(fnd_election_htab, key, HASH_FIND, NULL);

	if (e != NULL && e->term != 0 && e->lease_expires != 0 &&
		now >= e->lease_expires)
	{
		fnd_telemetry_count("foundation.election.expired", 1);
		hash_search(fnd_election_htab, key, HASH_REMOVE, NULL);
		e = NULL;
	}
	return e;
}

/* May the caller renew or resign e's leadership? */
static bool
fnd_election_is_mine(const FndElection *e)
{
	if (e->term == 0)
		return false;			/* someone is being elected right now */
	if (e->lease_usec == 0)
		return fnd_session_is_me(&e->owner);
	return e->owner_role == GetUserId() || fnd_role_may_manage(e->owner_role);
}

static void
fnd_election_key(FunctionCallInfo fcinfo, FndElectionKey *key)
{
	memset(key, 0, sizeof(*key));
	key->dbid = MyDatabaseId;
	fnd_check_name(fnd_arg_text(fcinfo, 0, "group"), "group", key->group);
}

/*
 * This session is the pending leader of key: fetch a term from the
 * sequence.  If that fails, the pending leadership is removed.
 */
static int64
fnd_election_take_term(FunctionCallInfo fcinfo, const FndElectionKey *key)
{
	LWLock	   *lock = fnd_election_lwlock();
	volatile int64 term = 0;
	FndElection *e;

	PG_TRY();
	{
		term = fnd_next_token(fcinfo, FND_TOKEN_TERM);
	}
	PG_CATCH();
	{
		if (LWLockHeldByMe(lock))
			LWLockRelease(lock);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		e = hash_search(fnd_election_htab, key, HASH_FIND, NULL);
		if (e != NULL && e->term == 0 && fnd_session_is_me(&e->owner))
			hash_search(fnd_election_htab, key, HASH_REMOVE, NULL);
		LWLockRelease(lock);
		PG_RE_THROW();
	}
	PG_END_TRY();

	return term;
}

/*
 * fnd_elect_leader("group" text, candidate text,
 *					lease interval DEFAULT '10 s') RETURNS boolean
 */
PG_FUNCTION_INFO_V1(fnd_elect_leader);

Datum
fnd_elect_leader(PG_FUNCTION_ARGS)
{
	FndElectionKey key;
	char		candidate[FND_NAME_BUFSZ];
	int64		lease_usec = 0;
	LWLock	   *lock;
	FndElection *e;
	TimestampTz now;
	bool		found;
	int64		term;

	fnd_require_shmem();
	fnd_election_key(fcinfo, &key);
	fnd_check_name(fnd_arg_text(fcinfo, 1, "candidate"), "candidate", candidate);
	if (!PG_ARGISNULL(2))
		lease_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(2), "lease", false);
	else
		fnd_warn_if_pooled("leadership of group", "%s", key.group);

	fnd_session_track();
	fnd_election_touched = true;

	lock = fnd_election_lwlock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = fnd_now();
	e = fnd_election_find(&key, now);
	if (e != NULL)
	{
		bool		leads = (strcmp(e->leader, candidate) == 0 &&
							 fnd_election_is_mine(e));

		if (leads)
		{
			/* the leader's call renews; this call's lease decides the kind */
			e->lease_usec = lease_usec;
			e->lease_expires = lease_usec > 0 ? now + lease_usec : 0;
			if (lease_usec == 0)
				fnd_session_self(&e->owner);
			e->owner_role = GetUserId();
		}
		LWLockRelease(lock);
		if (leads)
			fnd_telemetry_count("foundation.election.renewed", 1);
		PG_RETURN_BOOL(leads);
	}

	if (hash_get_num_entries(fnd_election_htab) >= fnd_max_elections ||
		(e = hash_search(fnd_election_htab, &key, HASH_ENTER_NULL, &found)) == NULL)
	{
		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_COORDINATION_FULL),
				 errmsg("too many election groups have a leader"),
				 errdetail("All %d election slots are in use.", fnd_max_elections),
				 errhint("Raise foundation.max_elections (needs a restart), or resign leaderships.")));
	}
	memcpy(e->leader, candidate, FND_NAME_BUFSZ);
	e->term = 0;
	fnd_session_self(&e->owner);
	e->owner_role = GetUserId();
	e->lease_usec = lease_usec;
	e->lease_expires = 0;
	e->elected_at = now;
	LWLockRelease(lock);

	term = fnd_election_take_term(fcinfo, &key);

	LWLockAcquire(lock, LW_EXCLUSIVE);
	e = hash_search(fnd_election_htab, &key, HASH_FIND, NULL);
	if (e == NULL || e->term != 0 || !fnd_session_is_me(&e->owner))
	{
		LWLockRelease(lock);
		elog(ERROR, "foundation election \"%s\" lost while fetching its term",
			 key.group);
	}
	now = fnd_now();
	e->term = term;
	e->elected_at = now;
	if (lease_usec > 0)
		e->lease_expires = now + lease_usec;
	LWLockRelease(lock);

	fnd_telemetry_count("foundation.election.elected", 1);
	PG_RETURN_BOOL(true);
}

/*
 * fnd_leader("group" text) RETURNS TABLE(leader text, term bigint,
 *										 lease_expires_at timestamptz)
 * Zero rows when the group has no leader.
 */
PG_FUNCTION_INFO_V1(fnd_leader);

Datum
fnd_leader(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndElectionKey key;
	FndElection *e;
	FndElection copy;
	bool		have = false;
	TimestampTz now;

	fnd_require_shmem();
	fnd_election_key(fcinfo, &key);
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(fnd_election_lwlock(), LW_SHARED);
	now = fnd_now();
	e = hash_search(fnd_election_htab, &key, HASH_FIND, NULL);
	if (e != NULL && !(e->lease_expires != 0 && now >= e->lease_expires))
	{
		copy = *e;
		have = true;
	}
	LWLockRelease(fnd_election_lwlock());

	if (have)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(copy.leader);
		values[1] = Int64GetDatum(copy.term);
		nulls[1] = (copy.term == 0);
		values[2] = TimestampTzGetDatum(copy.lease_expires);
		nulls[2] = (copy.lease_expires == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * fnd_leaders_list() - every group of this database that has a leader,
 * behind the fnd_leaders view.  Rows are copied under the shared lock and
 * built after it is released.
 */
PG_FUNCTION_INFO_V1(fnd_leaders_list);

Datum
fnd_leaders_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS status;
	FndElection *e;
	FndElection *rows;
	int			nrows = 0;
	int			i;
	TimestampTz now;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	rows = palloc(sizeof(FndElection) * fnd_max_elections);
	LWLockAcquire(fnd_election_lwlock(), LW_SHARED);
	now = fnd_now();
	hash_seq_init(&status, fnd_election_htab);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId || e->term == 0 ||
			(e->lease_expires != 0 && now >= e->lease_expires))
			continue;
		if (nrows < fnd_max_elections)
			rows[nrows++] = *e;
	}
	LWLockRelease(fnd_election_lwlock());

	for (i = 0; i < nrows; i++)
	{
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(rows[i].key.group);
		values[1] = CStringGetTextDatum(rows[i].leader);
		values[2] = Int64GetDatum(rows[i].term);
		values[3] = Int32GetDatum(rows[i].owner.pid);
		nulls[3] = fnd_session_is_empty(&rows[i].owner);
		values[4] = ObjectIdGetDatum(rows[i].owner_role);
		values[5] = TimestampTzGetDatum(rows[i].elected_at);
		values[6] = TimestampTzGetDatum(rows[i].lease_expires);
		nulls[6] = (rows[i].lease_expires == 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	pfree(rows);
	return (Datum) 0;
}

/*
 * fnd_resign("group" text, candidate text) RETURNS boolean
 * True if candidate led the group and no longer does; false if it did not
 * lead.  FN602 if it leads for another session or role.
 */
PG_FUNCTION_INFO_V1(fnd_resign);

Datum
fnd_resign(PG_FUNCTION_ARGS)
{
	FndElectionKey key;
	char		candidate[FND_NAME_BUFSZ];
	LWLock	   *lock;
	FndElection *e;

	fnd_require_shmem();
	fnd_election_key(fcinfo, &key);
	fnd_check_name(fnd_arg_text(fcinfo, 1, "candidate"), "candidate", candidate);

	lock = fnd_election_lwlock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	e = fnd_election_find(&key, fnd_now());
	if (e == NULL || strcmp(e->leader, candidate) != 0)
	{
		LWLockRelease(lock);
		PG_RETURN_BOOL(false);
	}
	if (!fnd_election_is_mine(e))
	{
		bool		by_session = (e->lease_usec == 0);

		LWLockRelease(lock);
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_LOCK_HOLDER),
				 errmsg("candidate \"%s\" leads group \"%s\" for another %s",
						candidate, key.group, by_session ? "session" : "role"),
				 errdetail("Only the session that holds a session-owned leadership, or the role that holds a leased one, may resign it.")));
	}
	hash_search(fnd_election_htab, &key, HASH_REMOVE, NULL);
	LWLockRelease(lock);

	fnd_telemetry_count("foundation.election.resigned", 1);
	PG_RETURN_BOOL(true);
}

/* Supervisor: remove leaderships whose lease ran out. */
static bool
fnd_election_periodic(void)
{
	HASH_SEQ_STATUS status;
	FndElection *e;
	TimestampTz now = fnd_now();

	LWLockAcquire(fnd_election_lwlock(), LW_EXCLUSIVE);
	hash_seq_init(&status, fnd_election_htab);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->term != 0 && e->lease_expires != 0 && now >= e->lease_expires)
		{
			fnd_telemetry_count("foundation.election.expired", 1);
			hash_search(fnd_election_htab, &e->key, HASH_REMOVE, NULL);
		}
	}
	LWLockRelease(fnd_election_lwlock());
	return false;
}

/*
 * The session ends: its session-owned leaderships (and one still fetching
 * its term) end with it; leased ones stay with their role.
 */
static void
fnd_election_session_exit(void)
{
	HASH_SEQ_STATUS status;
	FndElection *e;

	if (!fnd_election_touched || fnd_election_htab == NULL)
		return;

	LWLockAcquire(fnd_election_lwlock(), LW_EXCLUSIVE);
	hash_seq_init(&status, fnd_election_htab);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (!fnd_session_is_me(&e->owner))
			continue;
		if (e->lease_usec == 0 || e->term == 0)
			hash_search(fnd_election_htab, &e->key, HASH_REMOVE, NULL);
		else
			memset(&e->owner, 0, sizeof(e->owner));
	}
	LWLockRelease(fnd_election_lwlock());
	fnd_election_touched = false;
}

const FndService fnd_election_service = {
	.name = "election",
	.phase = 1,
	.depends_on = "lock",
	.uses_tables = false,
	.define_settings = fnd_election_define_settings,
	.shmem_size = fnd_election_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_election_shmem_startup,
	.periodic = fnd_election_periodic,
	.session_exit = fnd_election_session_exit,
};
