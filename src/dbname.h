/*-------------------------------------------------------------------------
 *
 * dbname.h
 *	  The sweep of dropped databases for shared hash tables that are not
 *	  (yet) FndDbTables: barriers and consensus rounds.  New tables use
 *	  dbtable.h, which does this and more.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_DBNAME_H
#define FND_DBNAME_H

#include "foundation.h"

#include "storage/lwlock.h"
#include "utils/hsearch.h"

/* release what a doomed entry holds; false keeps it. Lock held exclusively. */
typedef bool (*FndDbNameForget) (void *entry);

/* dbtable.c */
extern int	fnd_dbname_sweep_dropped(HTAB *table, LWLock *lock,
									 FndDbNameForget forget);

#endif							/* FND_DBNAME_H */
