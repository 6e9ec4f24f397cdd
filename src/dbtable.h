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
 *	FND_DBTABLE_SETUP_CALLBACKS(widget, my_table)
 *	FND_DBTABLE_SWEEP_CALLBACK(widget, my_table)
 *	const FndService fnd_widget_service = {
 *		.name = "widget", .phase = 1, .depends_on = "",
 *		.define_settings = widget_define_settings,
 *		.shmem_size = widget_shmem_size, .lwlocks = 1,
 *		.shmem_startup = widget_shmem_startup, .periodic = widget_periodic,
 *	};
 *
 * (or calls fnd_dbtable_define, _shmem_size, _startup, _sweep_dropped and
 * _report from callbacks of its own), and keeps only its own state and
 * rules: find, insert, remove and recharge entries under the key's lock,
 * return this database's entries as a set (a view) with fnd_dbtable_list
 * (or copy them with fnd_dbtable_collect), walk them all (expiry, session
 * exit) with fnd_dbtable_scan.  An entry starts with its key:
 * an FndDbKey, or a struct declared with FND_DBKEY_FIELDS(n) for names
 * longer than FND_NAME_BUFSZ (the registry's namespace plus name).  Only
 * dbid, len and the first len bytes of name are its identity.
 *
 * Two tables may share one capacity (barriers and consensus rounds): the
 * first sets capacity_shared, the second names the first in capacity_from
 * and has no size setting of its own.  Each keeps its own count, and
 * fnd_dbtable_insert fails when the two together are at the setting.
 *
 * An entry charged to InvalidOid counts against no role's quota (a decided
 * consensus round, which may give way to others): fnd_dbtable_recharge to
 * InvalidOid stops charging an entry, and back to a role charges it again.
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

/*
 * fnd_dbtable_scan: look at one entry (of any database) with the table's
 * locks held in the scan's mode; may remove it when exclusive.  Returns
 * whether it counts.
 */
typedef bool (*FndDbTableVisit) (void *entry, void *arg);

/*
 * fnd_dbtable_collect: copy one entry of this database into row, under the
 * table's locks held shared (so: no catalog access, no errors but out of
 * memory); false skips it.
 */
typedef bool (*FndDbTableCopy) (const void *entry, void *row, void *arg);

/*
 * fnd_dbtable_list: fill one result row (nulls start all false) from a
 * row fnd_dbtable_collect made; no table lock is held.
 */
typedef void (*FndDbTableValues) (const void *row, Datum *values, bool *nulls);

typedef struct FndDbTableShared
{
	pg_atomic_uint32 count;		/* entries, all databases */
	pg_atomic_uint64 next_id;	/* fnd_dbtable_next_id */
} FndDbTableShared;

typedef struct FndDbTable FndDbTable;

struct FndDbTable
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
	bool		capacity_shared;	/* another table's capacity_from is this */
	const FndDbTable *capacity_from;	/* shares that table's size setting
										 * and capacity (max_* unused), or
										 * NULL */

	/* kept by dbtable.c */
	int			max_entries;	/* the size setting's value */
	int			quota_limit;	/* the per-role setting's value */
	HTAB	   *htab;
	FndDbTableShared *shared;
	FndDbTableShared *capacity; /* shared, or the count of both tables */
	FndQuota   *quota;
	LWLockPadded *lwlocks;		/* backend-local: the service's, from first */
	int			swept;			/* supervisor: removed with dropped dbs */
	bool		quota_refused;	/* why the last fnd_dbtable_insert failed */
};

/* service callbacks */
extern void fnd_dbtable_define(FndDbTable *t, bool preloading);
extern Size fnd_dbtable_shmem_size(const FndDbTable *t);
extern void fnd_dbtable_startup(FndDbTable *t);
extern int	fnd_dbtable_sweep_dropped(FndDbTable *t);
extern int	fnd_dbtable_forget_database(FndDbTable *t, Oid dbid);
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
extern uint64 fnd_dbtable_next_id(FndDbTable *t);
extern int	fnd_dbtable_capacity_used(const FndDbTable *t);
extern int	fnd_dbtable_scan(FndDbTable *t, LWLockMode mode,
							 FndDbTableVisit visit, void *arg);
extern void *fnd_dbtable_collect(FndDbTable *t, Size rowsize,
								 FndDbTableCopy copy, void *arg, int *nrows);
extern void fnd_dbtable_list(FunctionCallInfo fcinfo, FndDbTable *t,
							 Size rowsize, FndDbTableCopy copy, void *arg,
							 FndDbTableValues values);

/*
 * The sweep of dropped databases for a shared hash table that is not an
 * FndDbTable (the metric table): entries start with their database's OID,
 * one LWLock guards the table, forget as for FndDbTable.
 */
extern int	fnd_dbname_sweep_dropped(HTAB *table, LWLock *lock,
									 FndDbTableForget forget);

/*
 * The service callbacks of a table that needs nothing else at start-up:
 * defines prefix_define_settings, prefix_shmem_size and
 * prefix_shmem_startup for the FndService descriptor.
 */
#define FND_DBTABLE_SETUP_CALLBACKS(prefix, table) \
static void \
prefix##_define_settings(bool preloading) \
{ \
	fnd_dbtable_define(&(table), preloading); \
} \
static Size \
prefix##_shmem_size(void) \
{ \
	return fnd_dbtable_shmem_size(&(table)); \
} \
static void \
prefix##_shmem_startup(void) \
{ \
	fnd_dbtable_startup(&(table)); \
}

/*
 * The supervisor's periodic work of a table that has nothing else to do:
 * defines prefix_periodic, which removes the entries of dropped databases
 * and reports "N <noun>; M removed with dropped databases".
 */
#define FND_DBTABLE_SWEEP_CALLBACK(prefix, table) \
static bool \
prefix##_periodic(void) \
{ \
	fnd_dbtable_sweep_dropped(&(table)); \
	fnd_dbtable_report(&(table), NULL); \
	return false; \
}

#endif							/* FND_DBTABLE_H */
