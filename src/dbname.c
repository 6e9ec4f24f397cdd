/*-------------------------------------------------------------------------
 *
 * dbname.c
 *	  Shared hash tables keyed by (database, name), as used by the circuit
 *	  breakers and the rate limiter.
 *
 * Keys are zero-padded names, but hashing and comparing all of their bytes
 * was the largest cost of a lookup: the hash and match functions look at
 * the name's actual bytes only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "utils/syscache.h"

#include "dbname.h"

uint32
fnd_dbname_hash(const void *key, Size keysize)
{
	const FndDbNameKey *k = (const FndDbNameKey *) key;

	return hash_bytes((const unsigned char *) k->name, strlen(k->name)) ^
		murmurhash32((uint32) k->dbid);
}

int
fnd_dbname_match(const void *a, const void *b, Size keysize)
{
	const FndDbNameKey *x = (const FndDbNameKey *) a;
	const FndDbNameKey *y = (const FndDbNameKey *) b;

	if (x->dbid != y->dbid)
		return 1;
	return strcmp(x->name, y->name);
}

/*
 * Create or attach a table of max_entries entries of entrysize bytes, each
 * starting with an FndDbNameKey.  Caller holds AddinShmemInitLock.
 */
HTAB *
fnd_dbname_table(const char *tabname, int max_entries, Size entrysize)
{
	HASHCTL		info;

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndDbNameKey);
	info.entrysize = entrysize;
	info.hash = fnd_dbname_hash;
	info.match = fnd_dbname_match;
	return ShmemInitHash(tabname, max_entries, max_entries, &info,
						 HASH_ELEM | HASH_FUNCTION | HASH_COMPARE);
}

/*
 * Argument argno as a key in the current database (FN003 if it is not a
 * usable name, FN001 without shared memory).
 */
void
fnd_dbname_key_from_arg(FunctionCallInfo fcinfo, int argno, const char *what,
						FndDbNameKey *key)
{
	fnd_require_shmem();
	key->dbid = MyDatabaseId;
	fnd_check_name(fnd_arg_text(fcinfo, argno, what), what, key->name);
}

/*
 * Supervisor: remove the entries of databases that no longer exist, which
 * nobody could reach to remove them, so they don't hold capacity until the
 * next restart.  Works on any shared table whose entries start with their
 * database's OID.  For each such entry, forget (if not NULL) is called
 * under the exclusive lock to release what the entry holds; it returns
 * false to keep the entry for now.  The catalog is read without the lock.
 * Returns how many entries were removed.
 */
int
fnd_dbname_sweep_dropped(HTAB *table, LWLock *lock, FndDbNameForget forget)
{
	HASH_SEQ_STATUS seq;
	void	   *e;
	Oid		   *dbids;
	int			ndb = 0;
	int			maxdb = 16;
	int			ndead = 0;
	int			removed = 0;
	int			i;

	dbids = palloc(sizeof(Oid) * maxdb);
	LWLockAcquire(lock, LW_SHARED);
	hash_seq_init(&seq, table);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		Oid			dbid = *(Oid *) e;

		for (i = 0; i < ndb; i++)
			if (dbids[i] == dbid)
				break;
		if (i < ndb)
			continue;
		if (ndb == maxdb)
		{
			maxdb *= 2;
			dbids = repalloc(dbids, sizeof(Oid) * maxdb);
		}
		dbids[ndb++] = dbid;
	}
	LWLockRelease(lock);

	/* keep only the dropped ones, in place */
	for (i = 0; i < ndb; i++)
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbids[i])))
			dbids[ndead++] = dbids[i];

	if (ndead > 0)
	{
		LWLockAcquire(lock, LW_EXCLUSIVE);
		hash_seq_init(&seq, table);
		while ((e = hash_seq_search(&seq)) != NULL)
		{
			Oid			dbid = *(Oid *) e;

			for (i = 0; i < ndead; i++)
				if (dbids[i] == dbid)
					break;
			if (i == ndead || (forget != NULL && !forget(e)))
				continue;
			/* removing the element just returned is allowed */
			hash_search(table, e, HASH_REMOVE, NULL);
			removed++;
		}
		LWLockRelease(lock);
	}
	pfree(dbids);
	return removed;
}
