/*-------------------------------------------------------------------------
 *
 * dbtable.h
 *	  A per-database named table in shared memory: the (database, name)
 *	  key and its hash, the size setting, the entry count and the capacity
 *	  error, an optional per-role quota, the LWLocks (one, or one per
 *	  partition) and the supervisor's sweep of dropped databases.
 *
 * A subsystem describes its table in a static FndDbTable and calls, from
 * its service callbacks:
 *
 *	static FndDbTable my_table = {
 *		.name = "foundation widgets", .title = "widget table",
 *		.noun = "widgets",
 *		.service = &fnd_widget_service, .partitions = 1,
 *		.keysize = sizeof(FndDbKey), .entrysize = sizeof(Widget),
 *		.errcode = ERRCODE_FND_WIDGETS_FULL,
 *		.max_name = "foundation.max_widgets", .max_default = 1000,
 *		.max_desc = "Maximum number of widgets, across all databases.",
 *		.full_hint = "Remove widgets, or raise foundation.max_widgets (needs a restart).",
 *	};
 *	define_settings:	fnd_dbtable_define(&my_table, preloading);
 *	shmem_size:			return fnd_dbtable_shmem_size(&my_table);
 *	lwlocks:			my_table.partitions
 *	shmem_startup:		fnd_dbtable_startup(&my_table);
 *	periodic:			fnd_dbtable_sweep_dropped(&my_table);
 *						fnd_dbtable_report(&my_table, NULL);
 *
 * and keeps only its own state and rules.  An entry starts with its key:
 * an FndDbKey, or a struct declared with FND_DBKEY_FIELDS(n) for names
 * longer than FND_NAME_BUFSZ (the registry's namespace plus name).  Only
 * dbid, len and the first len bytes of name are its identity.
 *
 * Locking protocol: the table's LWLocks are the service's, from
 * first_lwlock on: with partitions > 1 the lock of a key's partition
 * (fnd_dbtable_partition_lock) guards its entries, and whole-table scans
 * take them all in order (fnd_dbtable_lock_all).  Insertions and removals
 * need the lock exclusively; the count is an atomic, so capacity is exact
 * across partitions.  The quota's spinlock may be taken under them.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_DBTABLE_H
#define FND_DBTABLE_H

#include "foundation.h"

#include "port/atomics.h"
#include "storage/lwlock.h"
#include "utils/hsearch.h"

#include "quota.h"

/*
 * Key fields: the database, the role charged for the entry in the table's
 * quota (not part of the identity; set by fnd_dbtable_insert), the name's
 * length and the name, NUL-terminated and zero-padded.
 */
#define FND_DBKEY_FIELDS(namebytes) \
	Oid			dbid; \
	Oid			charged_role; \
	uint16		len; \
	char		name[namebytes]

typedef struct FndDbKey
{
	FND_DBKEY_FIELDS(FND_NAME_BUFSZ);
} FndDbKey;

/* release what a doomed entry holds; false keeps it. Locks held exclusively */
typedef bool (*FndDbTableForget) (void *entry);

typedef struct FndDbTableShared
{
	pg_atomic_uint32 count;		/* entries, all databases */
} FndDbTableShared;

typedef struct FndDbTable
{
	/* described by the subsystem */
	const char *name;			/* shared-memory name */
	const char *title;			/* for "%s is full": "circuit breaker table" */
	const char *noun;			/* plural, for messages: "breakers" */
	const FndService *service;	/* whose LWLocks guard the table */
	int			first_lwlock;	/* index of the first in its slice */
	int			partitions;		/* 1, or a power of 2 */
	Size		keysize;
	Size		entrysize;
	int			errcode;		/* the subsystem's *_full SQLSTATE */
	const char *max_name;		/* the size setting, PGC_POSTMASTER */
	const char *max_desc;
	int			max_default;
	int			max_min;		/* 0 means 1 */
	const char *full_hint;
	const char *quota_name;		/* per-role setting, or NULL for none */
	const char *quota_desc;
	FndDbTableForget forget;	/* may be NULL */

	/* kept by dbtable.c */
	int			max_entries;	/* the size setting's value */
	int			quota_limit;	/* the per-role setting's value */
	HTAB	   *htab;
	FndDbTableShared *shared;
	FndQuota   *quota;
	LWLockPadded *lwlocks;		/* backend-local: the service's, from first */
	int			swept;			/* supervisor: removed with dropped dbs */
	bool		quota_refused;	/* why the last fnd_dbtable_insert failed */
} FndDbTable;

/* service callbacks */
extern void fnd_dbtable_define(FndDbTable *t, bool preloading);
extern Size fnd_dbtable_shmem_size(const FndDbTable *t);
extern void fnd_dbtable_startup(FndDbTable *t);
extern int	fnd_dbtable_sweep_dropped(FndDbTable *t);
extern void fnd_dbtable_report(const FndDbTable *t, const char *more);

/* keys */
extern uint32 fnd_dbkey_hash(const void *key, Size keysize);
extern int	fnd_dbkey_match(const void *a, const void *b, Size keysize);
extern void fnd_dbkey_set(FndDbKey *key, Oid dbid, const char *name);
extern void fnd_dbkey_from_arg(FunctionCallInfo fcinfo, int argno,
							   const char *what, FndDbKey *key);

/* locks */
extern LWLock *fnd_dbtable_partition_lock(const FndDbTable *t, uint32 hash);
extern LWLock *fnd_dbtable_lock(const FndDbTable *t);
extern void fnd_dbtable_lock_all(const FndDbTable *t, LWLockMode mode);
extern void fnd_dbtable_unlock_all(const FndDbTable *t);
extern void fnd_dbtable_release_held(const FndDbTable *t);

/* entries */
static inline uint32
fnd_dbtable_hash(const FndDbTable *t, const void *key)
{
	return get_hash_value(t->htab, key);
}

static inline void *
fnd_dbtable_find(const FndDbTable *t, const void *key, uint32 hash)
{
	return hash_search_with_hash_value(t->htab, key, hash, HASH_FIND, NULL);
}

extern void *fnd_dbtable_insert(FndDbTable *t, const void *key, uint32 hash,
								Oid role);
extern void *fnd_dbtable_enter(FndDbTable *t, const void *key, uint32 hash,
							   Oid role);
extern bool fnd_dbtable_quota_allows(FndDbTable *t, Oid role);
extern void fnd_dbtable_raise_full(FndDbTable *t, Oid role) pg_attribute_noreturn();
extern void fnd_dbtable_remove(FndDbTable *t, void *entry);
extern void fnd_dbtable_recharge(FndDbTable *t, void *entry, Oid role);
extern int	fnd_dbtable_count(const FndDbTable *t);

#endif							/* FND_DBTABLE_H */
