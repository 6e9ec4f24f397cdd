/*-------------------------------------------------------------------------
 *
 * election.c
 *	  Leader election: one leader per (database, group), leased or owned by
 *	  a session, with strictly increasing terms.
 *
 * A group's entry in the shared table (dbtable.h) exists exactly while the
 * group has a leader; capacity is foundation.max_elections groups with a
 * leader at once, and foundation.max_elections_per_role per role (FN607
 * beyond either).  An entry counts against the leadership's owning role.
 *
 * fnd_elect_leader(group, candidate, lease) makes the candidate leader if
 * the group has none, and renews the leadership if the candidate already
 * leads.  Following the session-ownership rule (README, Conventions):
 *	- with a lease (the default, 10 s) the leadership belongs to the calling
 *	  role, survives the session (pooled connections) and ends when the lease
 *	  runs out unless a later call renews it;
 *	- with lease => NULL it belongs to the calling session and ends with it.
 * Either way fnd_resign ends it at once (FN104 for another session's or
 * role's leadership).  Expired leaderships are removed on access and by the
 * supervisor (fnd_election_periodic), which also removes the leaderships of
 * dropped databases.
 *
 * Terms come from the sequence fnd_term_seq (fnd_next_token in token.c: never
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
#include "dbtable.h"
#include "lock.h"

typedef struct FndElection
{
	FndDbKey	key;			/* hash key (name: the group): must be first */
	char		leader[FND_NAME_BUFSZ];
	int64		term;			/* 0 while the leader fetches its term */
	FndSession	owner;			/* electing session; empty once a leased
								 * leadership's session has ended */
	Oid			owner_role;
	int64		lease_usec;		/* 0: owned by the session */
	TimestampTz lease_expires;	/* 0: no lease, or term still pending */
	TimestampTz elected_at;
} FndElection;

static FndDbTable fnd_election_table = {
	.name = "foundation election table",
	.title = "election table",
	.noun = "leaderships",
	.service = &fnd_election_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(FndElection),
	.errcode = ERRCODE_FND_COORDINATION_FULL,
	.max_name = "foundation.max_elections",
	.max_desc = "Maximum number of election groups with a leader at once, over all databases.",
	.max_default = 1000,
	.max_min = 16,
	.full_hint = "Resign leaderships, or raise foundation.max_elections (needs a restart).",
	.quota_name = "foundation.max_elections_per_role",
	.quota_desc = "Maximum number of groups one role may lead at once, over all databases.",
};

static bool fnd_election_touched = false;

static LWLock *
fnd_election_lwlock(void)
{
	return fnd_dbtable_lock(&fnd_election_table);
}

FND_DBTABLE_SETUP_CALLBACKS(fnd_election, fnd_election_table)

/* The group's entry, or NULL.  Caller holds the lock. */
static FndElection *
fnd_election_lookup(const FndDbKey *key)
{
	return fnd_dbtable_find(&fnd_election_table, key,
							fnd_dbtable_hash(&fnd_election_table, key));
}

/* Look a group up, treating a lapsed leadership as gone.  Exclusive lock. */
static FndElection *
fnd_election_find(const FndDbKey *key, TimestampTz now)
{
	FndElection *e = fnd_election_lookup(key);

	if (e != NULL && e->term != 0 && e->lease_expires != 0 &&
		now >= e->lease_expires)
	{
		fnd_telemetry_count("foundation.election.expired", 1);
		fnd_dbtable_remove(&fnd_election_table, e);
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

/*
 * This session is the pending leader of key: fetch a term from the
 * sequence.  If that fails, the pending leadership is removed.
 */
static int64
fnd_election_take_term(FunctionCallInfo fcinfo, const FndDbKey *key)
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
		fnd_dbtable_release_held(&fnd_election_table);
		LWLockAcquire(lock, LW_EXCLUSIVE);
		e = fnd_election_lookup(key);
		if (e != NULL && e->term == 0 && fnd_session_is_me(&e->owner))
			fnd_dbtable_remove(&fnd_election_table, e);
		LWLockRelease(lock);
		PG_RE_THROW();
	}
	PG_END_TRY();

	return term;
}

/*
 * The group has a leader: if it is candidate and the caller may act for it,
 * renew it with this call's lease (which also decides whether the session
 * or the role owns it).  Returns whether candidate leads.  Caller holds the
 * lock exclusively.
 */
static bool
fnd_election_renew(FndElection *e, const char *candidate, int64 lease_usec,
				   TimestampTz now)
{
	if (strcmp(e->leader, candidate) != 0 || !fnd_election_is_mine(e))
		return false;
	e->lease_usec = lease_usec;
	e->lease_expires = lease_usec > 0 ? now + lease_usec : 0;
	if (lease_usec == 0)
		fnd_session_self(&e->owner);
	e->owner_role = GetUserId();
	fnd_dbtable_recharge(&fnd_election_table, e, e->owner_role);
	return true;
}

/*
 * The group has no leader: install candidate with term 0 (pending).
 * FN607 when the table or the role's quota is full.  Caller holds the lock
 * exclusively.
 */
static void
fnd_election_install(const FndDbKey *key, const char *candidate,
					 int64 lease_usec, TimestampTz now)
{
	FndElection *e;

	e = fnd_dbtable_enter(&fnd_election_table, key,
						  fnd_dbtable_hash(&fnd_election_table, key),
						  GetUserId());
	memcpy(e->leader, candidate, FND_NAME_BUFSZ);
	e->term = 0;
	fnd_session_self(&e->owner);
	e->owner_role = GetUserId();
	e->lease_usec = lease_usec;
	e->lease_expires = 0;
	e->elected_at = now;
}

/* We are the pending leader of key and have a term: store it. */
static void
fnd_election_start_term(const FndDbKey *key, int64 term, int64 lease_usec)
{
	LWLock	   *lock = fnd_election_lwlock();
	FndElection *e;
	TimestampTz now;

	LWLockAcquire(lock, LW_EXCLUSIVE);
	e = fnd_election_lookup(key);
	if (e == NULL || e->term != 0 || !fnd_session_is_me(&e->owner))
	{
		LWLockRelease(lock);
		elog(ERROR, "foundation election \"%s\" lost while fetching its term",
			 key->name);
	}
	now = fnd_now();
	e->term = term;
	e->elected_at = now;
	if (lease_usec > 0)
		e->lease_expires = now + lease_usec;
	LWLockRelease(lock);
}

/*
 * fnd_elect_leader("group" text, candidate text,
 *					lease interval DEFAULT '10 s') RETURNS boolean
 */
PG_FUNCTION_INFO_V1(fnd_elect_leader);

Datum
fnd_elect_leader(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	char		candidate[FND_NAME_BUFSZ];
	int64		lease_usec = 0;
	LWLock	   *lock;
	FndElection *e;
	TimestampTz now;

	fnd_dbkey_from_arg(fcinfo, 0, "group", &key);
	fnd_check_name(fnd_arg_text(fcinfo, 1, "candidate"), "candidate", candidate);
	if (!PG_ARGISNULL(2))
		lease_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(2), "lease", false);
	else
		fnd_warn_if_pooled("leadership of group", "%s", key.name);

	fnd_session_track();
	fnd_election_touched = true;

	lock = fnd_election_lwlock();
	LWLockAcquire(lock, LW_EXCLUSIVE);
	now = fnd_now();
	e = fnd_election_find(&key, now);
	if (e != NULL)
	{
		bool		leads = fnd_election_renew(e, candidate, lease_usec, now);

		LWLockRelease(lock);
		if (leads)
			fnd_telemetry_count("foundation.election.renewed", 1);
		PG_RETURN_BOOL(leads);
	}
	fnd_election_install(&key, candidate, lease_usec, now);
	LWLockRelease(lock);

	fnd_election_start_term(&key, fnd_election_take_term(fcinfo, &key),
							lease_usec);
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
	FndDbKey	key;
	FndElection *e;
	FndElection copy;
	bool		have = false;
	TimestampTz now;

	fnd_dbkey_from_arg(fcinfo, 0, "group", &key);
	InitMaterializedSRF(fcinfo, 0);

	LWLockAcquire(fnd_election_lwlock(), LW_SHARED);
	now = fnd_now();
	e = fnd_election_lookup(&key);
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

/* A live leadership of this database, for fnd_leaders_list. */
static bool
fnd_election_copy_row(const void *entry, void *row, void *arg)
{
	const FndElection *e = (const FndElection *) entry;
	TimestampTz now = *(TimestampTz *) arg;

	if (e->term == 0 || (e->lease_expires != 0 && now >= e->lease_expires))
		return false;
	memcpy(row, e, sizeof(FndElection));
	return true;
}

/* group, leader, term, owner_pid, owner_role, elected_at, lease_expires_at */
static void
fnd_election_row_values(const void *row, Datum *values, bool *nulls)
{
	const FndElection *e = (const FndElection *) row;

	values[0] = CStringGetTextDatum(e->key.name);
	values[1] = CStringGetTextDatum(e->leader);
	values[2] = Int64GetDatum(e->term);
	values[3] = Int32GetDatum(e->owner.pid);
	nulls[3] = fnd_session_is_empty(&e->owner);
	values[4] = ObjectIdGetDatum(e->owner_role);
	values[5] = TimestampTzGetDatum(e->elected_at);
	values[6] = TimestampTzGetDatum(e->lease_expires);
	nulls[6] = (e->lease_expires == 0);
}

/*
 * fnd_leaders_list() - every group of this database that has a leader,
 * behind the fnd_leaders view.
 */
PG_FUNCTION_INFO_V1(fnd_leaders_list);

Datum
fnd_leaders_list(PG_FUNCTION_ARGS)
{
	TimestampTz now = fnd_now();

	fnd_dbtable_list(fcinfo, &fnd_election_table, sizeof(FndElection),
					 fnd_election_copy_row, &now, fnd_election_row_values);
	return (Datum) 0;
}

/*
 * fnd_resign("group" text, candidate text) RETURNS boolean
 * True if candidate led the group and no longer does; false if it did not
 * lead.  FN104 if it leads for another session or role.
 */
PG_FUNCTION_INFO_V1(fnd_resign);

Datum
fnd_resign(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	char		candidate[FND_NAME_BUFSZ];
	LWLock	   *lock;
	FndElection *e;

	fnd_dbkey_from_arg(fcinfo, 0, "group", &key);
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
				(errcode(ERRCODE_FND_NOT_OWNER),
				 errmsg("candidate \"%s\" leads group \"%s\" for another %s",
						candidate, key.name, by_session ? "session" : "role"),
				 errdetail("Only the session that holds a session-owned leadership, or the role that holds a leased one, may resign it.")));
	}
	fnd_dbtable_remove(&fnd_election_table, e);
	LWLockRelease(lock);

	fnd_telemetry_count("foundation.election.resigned", 1);
	PG_RETURN_BOOL(true);
}

/* Scan step: end a leadership whose lease ran out at *arg. */
static bool
fnd_election_expire(void *entry, void *arg)
{
	FndElection *e = (FndElection *) entry;

	if (e->term == 0 || e->lease_expires == 0 ||
		*(TimestampTz *) arg < e->lease_expires)
		return false;
	fnd_telemetry_count("foundation.election.expired", 1);
	fnd_dbtable_remove(&fnd_election_table, e);
	return true;
}

/*
 * Supervisor: remove leaderships whose lease ran out, and those of dropped
 * databases.
 */
static bool
fnd_election_periodic(void)
{
	TimestampTz now = fnd_now();

	fnd_dbtable_scan(&fnd_election_table, LW_EXCLUSIVE, fnd_election_expire,
					 &now);
	fnd_dbtable_sweep_dropped(&fnd_election_table);
	fnd_dbtable_report(&fnd_election_table, NULL);
	return false;
}

/*
 * Scan step at session exit: this session's session-owned leadership (or
 * one still fetching its term) ends; a leased one stays with its role.
 */
static bool
fnd_election_leave(void *entry, void *arg)
{
	FndElection *e = (FndElection *) entry;

	if (!fnd_session_is_me(&e->owner))
		return false;
	if (e->lease_usec == 0 || e->term == 0)
		fnd_dbtable_remove(&fnd_election_table, e);
	else
		memset(&e->owner, 0, sizeof(e->owner));
	return true;
}

/* The session ends: see fnd_election_leave. */
static void
fnd_election_session_exit(void)
{
	if (!fnd_election_touched || fnd_election_table.htab == NULL)
		return;
	fnd_dbtable_scan(&fnd_election_table, LW_EXCLUSIVE, fnd_election_leave,
					 NULL);
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
