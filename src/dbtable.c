/*-------------------------------------------------------------------------
 *
 * dbtable.c
 *	  Per-database named tables in shared memory (see dbtable.h): used by
 *	  the registry, circuit breakers, rate buckets, locks, elections,
 *	  barriers and consensus rounds (which share one capacity); the metric
 *	  table uses the sweep of dropped databases.
 *
 * Keys are zero-padded names, but hashing and comparing all of their bytes
 * was the largest cost of a lookup: the hash and match functions look at
 * the name's bytes in use only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "dbtable.h"

/* ---------------------------------------------------------------------
 * Keys
 * ---------------------------------------------------------------------
 */

uint32
fnd_dbkey_hash(const void *key, Size keysize)
{
	const FndDbKey *k = (const FndDbKey *) key;

	return hash_bytes((const unsigned char *) k->name, k->len) ^
		murmurhash32((uint32) k->dbid);
}

int
fnd_dbkey_match(const void *a, const void *b, Size keysize)
{
	const FndDbKey *x = (const FndDbKey *) a;
	const FndDbKey *y = (const FndDbKey *) b;

	if (x->dbid != y->dbid || x->len != y->len)
		return 1;
	return memcmp(x->name, y->name, x->len);
}

/* A key for an already-checked name (at most FND_NAME_MAX bytes). */
void
fnd_dbkey_set(FndDbKey *key, Oid dbid, const char *name)
{
	key->dbid = dbid;
	key->charged_role = InvalidOid;
	fnd_copy_name(name, key->name);
	key->len = (uint16) strlen(key->name);
}

/*
 * Argument argno as a key in the current database (FN003 if it is not a
 * usable name, FN001 without shared memory).
 */
void
fnd_dbkey_from_arg(FunctionCallInfo fcinfo, int argno, const char *what,
				   FndDbKey *key)
{
	text	   *t;

	fnd_require_shmem();
	t = fnd_arg_text(fcinfo, argno, what);
	key->dbid = MyDatabaseId;
	key->charged_role = InvalidOid;
	fnd_check_name(t, what, key->name);
	key->len = (uint16) VARSIZE_ANY_EXHDR(t);
}

/* ---------------------------------------------------------------------
 * Settings and shared memory
 * ---------------------------------------------------------------------
 */

/* The table whose size setting sizes t: t, or the one it shares. */
static inline const FndDbTable *
fnd_dbtable_sizer(const FndDbTable *t)
{
	return t->capacity_from != NULL ? t->capacity_from : t;
}

/* define_settings: the size setting (preloading only) and the quota's */
void
fnd_dbtable_define(FndDbTable *t, bool preloading)
{
	if (preloading && t->capacity_from == NULL)
		DefineCustomIntVariable(t->max_name, t->max_desc, NULL,
								&t->max_entries,
								t->max_default,
								Max(t->max_min, 1),
								10000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	if (t->quota_name != NULL)
		fnd_quota_define_setting(t->quota_name, t->quota_desc, &t->quota_limit);
}

static char *
fnd_dbtable_part_name(const FndDbTable *t, const char *part)
{
	return psprintf("%s %s", t->name, part);
}

Size
fnd_dbtable_shmem_size(const FndDbTable *t)
{
	int			max = fnd_dbtable_sizer(t)->max_entries;
	Size		sz;

	sz = add_size(MAXALIGN(sizeof(FndDbTableShared)),
				  hash_estimate_size(max, t->entrysize));
	if (t->capacity_shared)
		sz = add_size(sz, MAXALIGN(sizeof(FndDbTableShared)));
	if (t->quota_name != NULL)
		sz = add_size(sz, MAXALIGN(fnd_quota_shmem_size(max)));
	return sz;
}

/* A count ("count", or "capacity" when shared), created or attached. */
static FndDbTableShared *
fnd_dbtable_attach_count(const FndDbTable *t, const char *part)
{
	FndDbTableShared *c;
	bool		found;

	c = ShmemInitStruct(fnd_dbtable_part_name(t, part),
						sizeof(FndDbTableShared), &found);
	if (!found)
	{
		pg_atomic_init_u32(&c->count, 0);
		pg_atomic_init_u64(&c->next_id, 1);
	}
	return c;
}

/* shmem_startup: create or attach.  Caller holds AddinShmemInitLock. */
void
fnd_dbtable_startup(FndDbTable *t)
{
	HASHCTL		info;
	int			flags = HASH_ELEM | HASH_FUNCTION | HASH_COMPARE;

	/* by name, so the two tables of one capacity may start in any order */
	Assert(t->capacity_from == NULL || t->capacity_from->capacity_shared);
	t->max_entries = fnd_dbtable_sizer(t)->max_entries;
	t->shared = fnd_dbtable_attach_count(t, "count");
	if (t->capacity_from != NULL || t->capacity_shared)
		t->capacity = fnd_dbtable_attach_count(fnd_dbtable_sizer(t), "capacity");
	else
		t->capacity = t->shared;

	memset(&info, 0, sizeof(info));
	info.keysize = t->keysize;
	info.entrysize = t->entrysize;
	info.hash = fnd_dbkey_hash;
	info.match = fnd_dbkey_match;
	if (t->partitions > 1)
	{
		info.num_partitions = t->partitions;
		flags |= HASH_PARTITION;
	}
	t->htab = ShmemInitHash(t->name, t->max_entries, t->max_entries,
							&info, flags);
	if (t->quota_name != NULL)
		t->quota = fnd_quota_attach(fnd_dbtable_part_name(t, "quota"),
									t->max_entries);
}

/* ---------------------------------------------------------------------
 * Locks
 * ---------------------------------------------------------------------
 */

/* The table's LWLocks, looked up once per backend. */
static inline LWLockPadded *
fnd_dbtable_lwlocks(const FndDbTable *t)
{
	if (t->lwlocks == NULL)
		((FndDbTable *) t)->lwlocks = fnd_lwlocks(t->service) + t->first_lwlock;
	return t->lwlocks;
}

/* The LWLock guarding entries whose key hashes to hash. */
LWLock *
fnd_dbtable_partition_lock(const FndDbTable *t, uint32 hash)
{
	LWLockPadded *locks = fnd_dbtable_lwlocks(t);

	return &locks[t->partitions > 1 ? hash % t->partitions : 0].lock;
}

/* The one LWLock of an unpartitioned table. */
LWLock *
fnd_dbtable_lock(const FndDbTable *t)
{
	Assert(t->partitions <= 1);
	return &fnd_dbtable_lwlocks(t)->lock;
}

/* Every partition's lock, in order (scans of the whole table). */
void
fnd_dbtable_lock_all(const FndDbTable *t, LWLockMode mode)
{
	LWLockPadded *locks = fnd_dbtable_lwlocks(t);
	int			i;

	for (i = 0; i < Max(t->partitions, 1); i++)
		LWLockAcquire(&locks[i].lock, mode);
}

void
fnd_dbtable_unlock_all(const FndDbTable *t)
{
	LWLockPadded *locks = fnd_dbtable_lwlocks(t);
	int			i;

	for (i = Max(t->partitions, 1) - 1; i >= 0; i--)
		LWLockRelease(&locks[i].lock);
}

/* Let go of whatever of the table's locks this backend holds (errors). */
void
fnd_dbtable_release_held(const FndDbTable *t)
{
	LWLockPadded *locks = fnd_dbtable_lwlocks(t);
	int			i;

	for (i = 0; i < Max(t->partitions, 1); i++)
		if (LWLockHeldByMe(&locks[i].lock))
			LWLockRelease(&locks[i].lock);
}

/* ---------------------------------------------------------------------
 * Entries.  Callers hold the key's lock exclusively.
 * ---------------------------------------------------------------------
 */

/*
 * Take one unit of the table's capacity (its own, or the one it shares);
 * false when it is all in use.  A compare-and-swap, so that a failed
 * attempt never holds a unit another backend could have had.
 */
static bool
fnd_dbtable_reserve(FndDbTable *t)
{
	uint32		cur = pg_atomic_read_u32(&t->capacity->count);

	do
	{
		if (cur >= (uint32) t->max_entries)
			return false;
	} while (!pg_atomic_compare_exchange_u32(&t->capacity->count, &cur,
											 cur + 1));
	if (t->capacity != t->shared)
		pg_atomic_fetch_add_u32(&t->shared->count, 1);
	return true;
}

/* Give one unit back (an entry removed, or an insertion that failed). */
static void
fnd_dbtable_unreserve(FndDbTable *t)
{
	pg_atomic_fetch_sub_u32(&t->capacity->count, 1);
	if (t->capacity != t->shared)
		pg_atomic_fetch_sub_u32(&t->shared->count, 1);
}

/* Charge or release one entry of role's (none for InvalidOid). */
static inline void
fnd_dbtable_charge(FndDbTable *t, Oid role, bool add)
{
	if (t->quota == NULL || !OidIsValid(role))
		return;
	if (add)
		(void) fnd_quota_charge(t->quota, role, 0);
	else
		fnd_quota_release(t->quota, role);
}

/*
 * Create the entry for key, charged to role in the quota (if the table
 * has one and role is valid), with everything after the key zeroed.  NULL
 * if the table is full or role is at its quota: then nothing changed, and
 * fnd_dbtable_raise_full says which.  The caller must know key is absent.
 */
void *
fnd_dbtable_insert(FndDbTable *t, const void *key, uint32 hash, Oid role)
{
	FndDbKey   *e;
	bool		found;

	t->quota_refused = false;
	if (t->quota != NULL && OidIsValid(role) &&
		!fnd_quota_charge(t->quota, role, t->quota_limit))
	{
		t->quota_refused = true;
		return NULL;
	}
	/* count first, so capacity is exact across partitions */
	if (!fnd_dbtable_reserve(t))
	{
		fnd_dbtable_charge(t, role, false);
		return NULL;
	}
	e = hash_search_with_hash_value(t->htab, key, hash, HASH_ENTER_NULL,
									&found);
	if (e == NULL)
	{
		fnd_dbtable_unreserve(t);
		fnd_dbtable_charge(t, role, false);
		return NULL;
	}
	Assert(!found);
	memset((char *) e + t->keysize, 0, t->entrysize - t->keysize);
	e->charged_role = role;
	return e;
}

/* fnd_dbtable_insert, raising the capacity error when it fails */
void *
fnd_dbtable_enter(FndDbTable *t, const void *key, uint32 hash, Oid role)
{
	void	   *e = fnd_dbtable_insert(t, key, hash, role);

	if (e == NULL)
		fnd_dbtable_raise_full(t, role);
	return e;
}

/*
 * The last fnd_dbtable_insert failed: release the table's locks and raise
 * the subsystem's *_full error, naming the per-role setting if it was the
 * quota.
 */
void
fnd_dbtable_raise_full(FndDbTable *t, Oid role)
{
	fnd_dbtable_release_held(t);
	if (t->quota_refused)
		ereport(ERROR,
				(errcode(t->errcode),
				 errmsg("too many %s for one role", t->noun),
				 fnd_quota_errdetail(t->quota, role, t->noun, t->quota_name,
									 t->quota_limit),
				 errhint("Release some, or ask a superuser to raise %s.",
						 t->quota_name)));
	ereport(ERROR,
			(errcode(t->errcode),
			 errmsg("%s is full", t->title),
			 errdetail("It holds %d %s across all databases; %s is %d.",
					   t->max_entries, t->noun,
					   fnd_dbtable_sizer(t)->max_name, t->max_entries),
			 errhint("%s", t->full_hint)));
}

/*
 * May role be charged one more entry?  For a caller about to wait for an
 * entry that will be handed to it (fnd_dbtable_recharge does not check);
 * false sets up fnd_dbtable_raise_full.
 */
bool
fnd_dbtable_quota_allows(FndDbTable *t, Oid role)
{
	t->quota_refused = (t->quota != NULL && t->quota_limit > 0 &&
						fnd_quota_used(t->quota, role) >= t->quota_limit);
	return !t->quota_refused;
}

/* Remove an entry (its count and its quota charge). */
void
fnd_dbtable_remove(FndDbTable *t, void *entry)
{
	FndDbKey   *e = (FndDbKey *) entry;
	Oid			role = e->charged_role;

	hash_search(t->htab, entry, HASH_REMOVE, NULL);
	fnd_dbtable_unreserve(t);
	fnd_dbtable_charge(t, role, false);
}

/*
 * The entry now counts against role's quota (no limit check), or against
 * nobody's if role is InvalidOid.
 */
void
fnd_dbtable_recharge(FndDbTable *t, void *entry, Oid role)
{
	FndDbKey   *e = (FndDbKey *) entry;

	if (e->charged_role == role)
		return;
	if (t->quota != NULL && OidIsValid(e->charged_role) && OidIsValid(role))
		fnd_quota_move(t->quota, e->charged_role, role);
	else
	{
		fnd_dbtable_charge(t, e->charged_role, false);
		fnd_dbtable_charge(t, role, true);
	}
	e->charged_role = role;
}

/* This table's entries, all databases. */
int
fnd_dbtable_count(const FndDbTable *t)
{
	return (int) pg_atomic_read_u32(&t->shared->count);
}

/*
 * A number never returned before for this table (from 1, until a restart):
 * tells an entry from a later one under the same key.
 */
uint64
fnd_dbtable_next_id(FndDbTable *t)
{
	return pg_atomic_fetch_add_u64(&t->shared->next_id, 1);
}

/* The capacity in use: the entries of t and of a table sharing it. */
int
fnd_dbtable_capacity_used(const FndDbTable *t)
{
	return (int) pg_atomic_read_u32(&t->capacity->count);
}

/*
 * Visit every entry of every database with all of the table's locks held
 * in mode (LW_EXCLUSIVE if visit may remove the entry it is given).
 * Returns how many visits returned true.
 */
int
fnd_dbtable_scan(FndDbTable *t, LWLockMode mode, FndDbTableVisit visit,
				 void *arg)
{
	HASH_SEQ_STATUS seq;
	void	   *e;
	int			n = 0;

	fnd_dbtable_lock_all(t, mode);
	hash_seq_init(&seq, t->htab);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (visit(e, arg))
			n++;
	fnd_dbtable_unlock_all(t);
	return n;
}

/*
 * Copies of this database's entries, made by copy into an array of rows of
 * rowsize bytes under the table's locks held shared; rows are then built
 * (catalog lookups and all) without them.  Returns the palloc'd array and
 * sets *nrows.
 */
void *
fnd_dbtable_collect(FndDbTable *t, Size rowsize, FndDbTableCopy copy,
					void *arg, int *nrows)
{
	HASH_SEQ_STATUS seq;
	FndDbKey   *e;
	char	   *rows;
	Size		cap = 16;

	*nrows = 0;
	rows = palloc(rowsize * cap);
	fnd_dbtable_lock_all(t, LW_SHARED);
	hash_seq_init(&seq, t->htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->dbid != MyDatabaseId)
			continue;
		if (*nrows == cap)
		{
			cap *= 2;
			rows = repalloc_huge(rows, rowsize * cap);
		}
		if (copy(e, rows + rowsize * *nrows, arg))
			(*nrows)++;
	}
	fnd_dbtable_unlock_all(t);
	return rows;
}

/*
 * The body of a set-returning SQL function (a view's) that lists this
 * database's entries: rows copied by copy under the locks, then turned
 * into result rows by values without them.
 */
void
fnd_dbtable_list(FunctionCallInfo fcinfo, FndDbTable *t, Size rowsize,
				 FndDbTableCopy copy, void *arg, FndDbTableValues values)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *rows;
	int			nrows;
	int			natts;
	Datum	   *datums;
	bool	   *nulls;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	natts = rsinfo->setDesc->natts;
	datums = palloc(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);

	rows = fnd_dbtable_collect(t, rowsize, copy, arg, &nrows);
	for (i = 0; i < nrows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		memset(nulls, 0, sizeof(bool) * natts);
		values(rows + rowsize * i, datums, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, datums, nulls);
	}
	pfree(rows);
}

/* ---------------------------------------------------------------------
 * The supervisor's sweep of dropped databases
 * ---------------------------------------------------------------------
 */

/*
 * What a sweep works on: a dbtable, or (for tables not yet converted) a
 * bare hash table guarded by one LWLock.
 */
typedef struct FndSweep
{
	FndDbTable *t;
	HTAB	   *htab;
	LWLock	   *lock;
	FndDbTableForget forget;
} FndSweep;

static void
fnd_sweep_lock(const FndSweep *s, LWLockMode mode)
{
	if (s->t != NULL)
		fnd_dbtable_lock_all(s->t, mode);
	else
		LWLockAcquire(s->lock, mode);
}

static void
fnd_sweep_unlock(const FndSweep *s)
{
	if (s->t != NULL)
		fnd_dbtable_unlock_all(s->t);
	else
		LWLockRelease(s->lock);
}

static bool
fnd_oid_in(const Oid *oids, int n, Oid oid)
{
	int			i;

	for (i = 0; i < n; i++)
		if (oids[i] == oid)
			return true;
	return false;
}

/*
 * The distinct databases of the table's entries that no longer exist.
 * The catalog is read without the table's lock.
 */
static Oid *
fnd_sweep_dropped_dbids(const FndSweep *s, int *ndead)
{
	HASH_SEQ_STATUS seq;
	void	   *e;
	Oid		   *dbids;
	int			ndb = 0;
	int			maxdb = 16;
	int			i;

	dbids = palloc(sizeof(Oid) * maxdb);
	fnd_sweep_lock(s, LW_SHARED);
	hash_seq_init(&seq, s->htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Oid			dbid = *(Oid *) e;

		if (fnd_oid_in(dbids, ndb, dbid))
			continue;
		if (ndb == maxdb)
		{
			maxdb *= 2;
			dbids = repalloc(dbids, sizeof(Oid) * maxdb);
		}
		dbids[ndb++] = dbid;
	}
	fnd_sweep_unlock(s);

	/* keep only the dropped ones, in place (0 is no database: the launcher's) */
	*ndead = 0;
	for (i = 0; i < ndb; i++)
		if (OidIsValid(dbids[i]) &&
			!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbids[i])))
			dbids[(*ndead)++] = dbids[i];
	return dbids;
}

/*
 * Remove the entries of databases that no longer exist, which nobody could
 * reach to remove them, so they don't hold capacity until the next
 * restart.  forget (if not NULL) releases what an entry holds, under the
 * exclusive lock, and returns false to keep the entry for now.
 */
static int	fnd_sweep_remove(const FndSweep *s, const Oid *dead, int ndead);

static int
fnd_sweep(const FndSweep *s)
{
	Oid		   *dead;
	int			ndead;
	int			removed;

	dead = fnd_sweep_dropped_dbids(s, &ndead);
	removed = fnd_sweep_remove(s, dead, ndead);
	pfree(dead);
	return removed;
}

/* Remove the entries of the ndead databases in dead; how many went. */
static int
fnd_sweep_remove(const FndSweep *s, const Oid *dead, int ndead)
{
	HASH_SEQ_STATUS seq;
	void	   *e;
	int			removed = 0;

	if (ndead > 0)
	{
		fnd_sweep_lock(s, LW_EXCLUSIVE);
		hash_seq_init(&seq, s->htab);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			if (!fnd_oid_in(dead, ndead, *(Oid *) e) ||
				(s->forget != NULL && !s->forget(e)))
				continue;
			/* removing the element just returned is allowed */
			if (s->t != NULL)
				fnd_dbtable_remove(s->t, e);
			else
				hash_search(s->htab, e, HASH_REMOVE, NULL);
			removed++;
		}
		fnd_sweep_unlock(s);
	}
	return removed;
}

/* periodic: sweep the table; returns how many entries were removed */
int
fnd_dbtable_sweep_dropped(FndDbTable *t)
{
	FndSweep	s = {t, t->htab, NULL, t->forget};
	int			removed = fnd_sweep(&s);

	/* the supervisor's total since it started */
	t->swept += removed;
	return removed;
}

/*
 * Remove the entries of database dbid, whose extension is being dropped
 * (forget may keep some, as in the sweep).  Returns how many went.
 */
int
fnd_dbtable_forget_database(FndDbTable *t, Oid dbid)
{
	FndSweep	s = {t, t->htab, NULL, t->forget};

	return fnd_sweep_remove(&s, &dbid, 1);
}

/*
 * periodic: the service's detail line, "N things; M removed with dropped
 * databases", then "; " and more if not NULL.
 */
void
fnd_dbtable_report(const FndDbTable *t, const char *more)
{
	char		detail[FND_STATUS_TEXT];

	snprintf(detail, sizeof(detail), "%d %s; %d removed with dropped databases%s%s",
			 fnd_dbtable_count(t), t->noun, t->swept,
			 more ? "; " : "", more ? more : "");
	fnd_service_set_detail(detail);
}

/*
 * The same sweep for a table that is not an FndDbTable: entries start with
 * their database's OID, one LWLock guards the table.  Returns how many
 * entries were removed.
 */
int
fnd_dbname_sweep_dropped(HTAB *table, LWLock *lock, FndDbTableForget forget)
{
	FndSweep	s = {NULL, table, lock, forget};

	return fnd_sweep(&s);
}
