/*-------------------------------------------------------------------------
 *
 * dbname.h
 *	  Shared hash tables keyed by (database, name): the key, its hash and
 *	  match functions, and the supervisor's sweep of dropped databases.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_DBNAME_H
#define FND_DBNAME_H

#include "foundation.h"

#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* The key; an entry of such a table must start with it. */
typedef struct FndDbNameKey
{
	Oid			dbid;
	char		name[FND_NAME_BUFSZ];	/* NUL-terminated, zero-padded */
} FndDbNameKey;

extern uint32 fnd_dbname_hash(const void *key, Size keysize);
extern int	fnd_dbname_match(const void *a, const void *b, Size keysize);
extern HTAB *fnd_dbname_table(const char *tabname, int max_entries,
							  Size entrysize);
extern void fnd_dbname_key_from_arg(FunctionCallInfo fcinfo, int argno,
									const char *what, FndDbNameKey *key);
/* release what a doomed entry holds; false keeps it. Lock held exclusively. */
typedef bool (*FndDbNameForget) (void *entry);

extern int	fnd_dbname_sweep_dropped(HTAB *table, LWLock *lock,
									 FndDbNameForget forget);

#endif							/* FND_DBNAME_H */
