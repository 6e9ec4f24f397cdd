/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registry: named entries owned by a session or, with a lease, by a
 *	  role, each with jsonb metadata; lookups, listings, containment search.
 *
 * State lives in one shared table keyed by (database, namespace, name)
 * (dbtable.h), sized by foundation.max_registry_entries across all
 * databases, with at most foundation.max_registry_entries_per_role entries
 * per owning role.
 * Metadata documents live in the shared value area (shmem.c), as the jsonb
 * varlena the caller's document became after merging it over the basic
 * keys; an entry holds its dsa_pointer and size.  A document is never
 * truncated: one that does not fit is refused.
 *
 * Locking protocol:
 *	- One LWLock (ours, from the "foundation" tranche) guards the hash table,
 *	  every entry in it, FndRegShared and the metadata documents the entries
 *	  point at.
 *	- Readers (fnd_lookup, listings, stats, the supervisor's scan) take it
 *	  shared, so lookups never wait for each other; they copy what they need
 *	  and release it before building result tuples, reading catalogs or
 *	  doing work whose cost the caller controls: a metadata search copies
 *	  the namespace's documents out and tests containment after releasing
 *	  it, checking for interrupts between documents.
 *	- Writers (register, unregister, update, renew, session exit, the sweep)
 *	  take it exclusive.  fnd_register allocates and fills the new metadata
 *	  document before taking it (and frees it again if the name is taken);
 *	  fnd_update_metadata allocates under it, once the entry is known to
 *	  exist.  An old document is freed while the lock is held exclusively,
 *	  so a reader holding it shared never sees freed memory.  Hence the
 *	  value area's own locks may be taken while ours is held, never the
 *	  other way round.
 *	- No catalog access happens under the lock: the ownership check
 *	  (fnd_role_may_manage) runs after releasing it, and the entry is found
 *	  again and re-checked afterwards (fnd_reg_acquire_managed).
 *
 * Lifetimes: an entry without a lease belongs to its session and is
 * removed by fnd_reg_session_exit when that session ends, however it ends.
 * A leased entry belongs to its role, survives its session and is dead once
 * its expiry passes: every access treats it as absent (writers remove it on
 * the spot), and the supervisor's periodic pass sweeps the rest, and the
 * entries of dropped databases.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"
#include "dbtable.h"

/*
 * The key: the namespace, a NUL, then the name (fnd_reg_key), as one name
 * of the dbtable key, so that the table's hash and match apply.  A
 * namespace has no NUL byte, so the split is unambiguous.
 */
typedef struct FndRegKey
{
	FND_DBKEY_FIELDS(2 * FND_NAME_BUFSZ);
} FndRegKey;

typedef struct FndRegEntry
{
	FndRegKey	key;			/* hash key: must be first */
	uint16		nslen;			/* bytes of the namespace in key.name */
	bool		leased;
	Oid			owner_role;
	FndSession	owner;			/* the session that registered it */
	int64		lease_usec;		/* lease length, for fnd_renew */
	TimestampTz registered_at;
	TimestampTz expires_at;		/* leased entries only */
	dsa_pointer metadata;		/* Jsonb in the value area */
	uint32		metadata_size;
} FndRegEntry;

#define FND_REG_NS(k)		((k)->name)
#define FND_REG_NAME(k)		((k)->name + fnd_reg_nslen(k) + 1)

typedef struct FndRegShared
{
	int			nleased;		/* entries with a lease: the sweep's quick exit */
	int64		expired_total;	/* leased entries removed after expiry */
} FndRegShared;

/* A copy of an entry, made under the lock, turned into a row after it. */
typedef struct FndRegRow
{
	char	   *names;			/* namespace, NUL, name; palloc'd */
	int			nslen;
	int			namelen;
	int			pid;
	Oid			owner_role;
	bool		leased;
	TimestampTz registered_at;
	TimestampTz expires_at;
	Jsonb	   *metadata;
} FndRegRow;

#define FND_REG_NCOLS	7

static bool fnd_reg_forget(void *entry);

static FndDbTable fnd_reg_table = {
	.name = "foundation registry entries",
	.title = "registry",
	.noun = "registry entries",
	.service = &fnd_registry_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndRegKey),
	.entrysize = sizeof(FndRegEntry),
	.errcode = ERRCODE_FND_REGISTRY_FULL,
	.max_name = "foundation.max_registry_entries",
	.max_desc = "Maximum number of registry entries, across all databases.",
	.max_default = 10000,
	.full_hint = "Unregister entries, or raise foundation.max_registry_entries (needs a restart).",
	.quota_name = "foundation.max_registry_entries_per_role",
	.quota_desc = "Maximum number of registry entries one role may own, across all databases.",
	.forget = fnd_reg_forget,
};

/* settings */
static int	fnd_max_metadata_bytes = 8192;

/* shared state, set in shmem_startup (inherited by every backend) */
static FndRegShared *fnd_reg_shared = NULL;

/* backend-local */
static bool fnd_reg_owns_session_entries = false;
static Jsonb *fnd_reg_basic = NULL;
static Oid	fnd_reg_role_oid = InvalidOid;
static NameData fnd_reg_role_buf;
static bool fnd_reg_role_callback = false;

PG_FUNCTION_INFO_V1(fnd_register);
PG_FUNCTION_INFO_V1(fnd_lookup);
PG_FUNCTION_INFO_V1(fnd_unregister);
PG_FUNCTION_INFO_V1(fnd_update_metadata);
PG_FUNCTION_INFO_V1(fnd_renew);
PG_FUNCTION_INFO_V1(fnd_list_services);
PG_FUNCTION_INFO_V1(fnd_find_services_by_metadata);
PG_FUNCTION_INFO_V1(fnd_registry_entries);
PG_FUNCTION_INFO_V1(fnd_registry_stats);

/* ---------------------------------------------------------------------
 * service callbacks
 * ---------------------------------------------------------------------
 */

static void
fnd_reg_define_settings(bool preloading)
{
	fnd_dbtable_define(&fnd_reg_table, preloading);

	DefineCustomIntVariable("foundation.max_metadata_bytes",
							"Largest metadata document a registry entry may hold.",
							"Measured as stored jsonb, basic keys included; larger documents raise FN003.  Also the largest filter fnd_find_services_by_metadata accepts.",
							&fnd_max_metadata_bytes,
							8192,
							64,
							MaxAllocSize / 2,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
}

static Size
fnd_reg_shmem_size(void)
{
	return add_size(MAXALIGN(sizeof(FndRegShared)),
					fnd_dbtable_shmem_size(&fnd_reg_table));
}

static void
fnd_reg_shmem_startup(void)
{
	bool		found;

	fnd_reg_shared = ShmemInitStruct("foundation registry",
									 sizeof(FndRegShared), &found);
	if (!found)
		memset(fnd_reg_shared, 0, sizeof(FndRegShared));
	fnd_dbtable_startup(&fnd_reg_table);
}

/* The namespace's length in a key: the name follows it after a NUL. */
static inline int
fnd_reg_nslen(const FndRegKey *key)
{
	return (int) strlen(key->name);
}

static inline LWLock *
fnd_reg_lock(void)
{
	return fnd_dbtable_lock(&fnd_reg_table);
}

static void
fnd_reg_require(void)
{
	fnd_require_shmem();
	if (fnd_reg_table.htab == NULL)
		elog(ERROR, "foundation registry shared memory is not initialized");
}

static inline FndRegEntry *
fnd_reg_find(const FndRegKey *key)
{
	return fnd_dbtable_find(&fnd_reg_table, key,
							fnd_dbtable_hash(&fnd_reg_table, key));
}

static inline bool
fnd_reg_is_expired(const FndRegEntry *e, TimestampTz now)
{
	return e->leased && e->expires_at <= now;
}

/*
 * Remove an entry and free its metadata.  Caller must hold the registry
 * lock exclusively.
 */
static void
fnd_reg_remove(FndRegEntry *e)
{
	dsa_pointer md = e->metadata;

	if (e->leased)
		fnd_reg_shared->nleased--;
	fnd_dbtable_remove(&fnd_reg_table, e);
	fnd_value_free(md);
}

/*
 * Sweep of a dropped database: release what the entry holds; the sweep
 * removes it.  Caller holds the registry lock exclusively.
 */
static bool
fnd_reg_forget(void *entry)
{
	FndRegEntry *e = (FndRegEntry *) entry;

	if (e->leased)
		fnd_reg_shared->nleased--;
	fnd_value_free(e->metadata);
	return true;
}

/*
 * Remove every expired leased entry; returns how many.  Caller must hold
 * the registry lock exclusively.
 */
static int
fnd_reg_sweep_locked(TimestampTz now)
{
	HASH_SEQ_STATUS status;
	FndRegEntry *e;
	int			removed = 0;

	if (fnd_reg_shared->nleased == 0)
		return 0;
	hash_seq_init(&status, fnd_reg_table.htab);
	while ((e = (FndRegEntry *) hash_seq_search(&status)) != NULL)
	{
		if (fnd_reg_is_expired(e, now))
		{
			fnd_reg_remove(e);
			removed++;
		}
	}
	fnd_reg_shared->expired_total += removed;
	return removed;
}

/* Scan step: has e's lease run out at *arg? */
static bool
fnd_reg_expired_visit(void *entry, void *arg)
{
	return fnd_reg_is_expired((FndRegEntry *) entry, *(TimestampTz *) arg);
}

/*
 * Supervisor: sweep expired leases of every database, and the entries of
 * dropped databases.  A scan under the shared lock finds out whether a
 * lease has run out, so the exclusive lock is taken only when one has.
 */
static bool
fnd_reg_periodic(void)
{
	TimestampTz now = fnd_now();
	int			removed = 0;
	int			dropped;
	int			entries;
	int			leased;
	char		detail[FND_STATUS_TEXT];

	fnd_reg_require();

	/* nleased read without the lock: a hint, the scan decides */
	if (fnd_reg_shared->nleased > 0 &&
		fnd_dbtable_scan(&fnd_reg_table, LW_SHARED, fnd_reg_expired_visit,
						 &now) > 0)
	{
		LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
		removed = fnd_reg_sweep_locked(now);
		LWLockRelease(fnd_reg_lock());
		fnd_telemetry_count("foundation.registry.expirations", removed);
	}

	dropped = fnd_dbtable_sweep_dropped(&fnd_reg_table);

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	entries = fnd_dbtable_count(&fnd_reg_table);
	leased = fnd_reg_shared->nleased;
	LWLockRelease(fnd_reg_lock());

	fnd_telemetry_gauge("foundation.registry.entries", (double) entries);
	snprintf(detail, sizeof(detail),
			 "%d of %d entries, %d leased; last pass removed %d expired, %d of dropped databases",
			 entries, fnd_reg_table.max_entries, leased, removed, dropped);
	fnd_service_set_detail(detail);
	return false;
}

/* Scan step at session exit: remove e if this session owns it unleased. */
static bool
fnd_reg_leave(void *entry, void *arg)
{
	FndRegEntry *e = (FndRegEntry *) entry;

	if (e->leased || !fnd_session_is_me(&e->owner))
		return false;
	fnd_reg_remove(e);
	return true;
}

/*
 * The session is ending: remove the entries it owns without a lease.
 * Cheap for sessions that never registered one.
 */
static void
fnd_reg_session_exit(void)
{
	if (!fnd_reg_owns_session_entries || fnd_reg_table.htab == NULL)
		return;
	fnd_dbtable_scan(&fnd_reg_table, LW_EXCLUSIVE, fnd_reg_leave, NULL);
	fnd_reg_owns_session_entries = false;
}

const FndService fnd_registry_service = {
	.name = "registry",
	.phase = 1,
	.depends_on = "",
	.uses_tables = false,
	.define_settings = fnd_reg_define_settings,
	.shmem_size = fnd_reg_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_reg_shmem_startup,
	.periodic = fnd_reg_periodic,
	.session_exit = fnd_reg_session_exit,
};

/* ---------------------------------------------------------------------
 * helpers
 * ---------------------------------------------------------------------
 */

/*
 * The key of arguments 0 (namespace) and 1 (name).  fnd_check_name writes
 * FND_NAME_BUFSZ zero-padded bytes; the name goes right after the
 * namespace's NUL (at most FND_NAME_MAX + 1 bytes in), so both fit and the
 * name is NUL-terminated.
 */
static void
fnd_reg_key(FunctionCallInfo fcinfo, FndRegKey *key)
{
	text	   *ns = fnd_arg_text(fcinfo, 0, "namespace");
	text	   *nm = fnd_arg_text(fcinfo, 1, "name");
	int			nslen = VARSIZE_ANY_EXHDR(ns);

	key->dbid = MyDatabaseId;
	key->charged_role = InvalidOid;
	fnd_check_name(ns, "namespace", key->name);
	fnd_check_name(nm, "name", key->name + nslen + 1);
	key->len = (uint16) (nslen + 1 + VARSIZE_ANY_EXHDR(nm));
}

static const char *
fnd_reg_jsonb_kind(Jsonb *j)
{
	if (JB_ROOT_IS_SCALAR(j))
		return "scalar";
	if (JB_ROOT_IS_ARRAY(j))
		return "array";
	return "object";
}

/*
 * A jsonb argument that must be an object (metadata, filters).
 */
static Jsonb *
fnd_reg_arg_object(FunctionCallInfo fcinfo, int argno, const char *what)
{
	Jsonb	   *j;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must not be null", what),
				 errhint("Pass '{}' for an empty object.")));
	j = PG_GETARG_JSONB_P(argno);
	if (!JB_ROOT_IS_OBJECT(j))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must be a JSON object", what),
				 errdetail("It is a JSON %s.", fnd_reg_jsonb_kind(j))));
	return j;
}

static void
fnd_reg_metadata_too_large(Size size)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_ARGUMENT),
			 errmsg("metadata is too large"),
			 errdetail("It is %zu bytes as stored jsonb; the limit is %d bytes (foundation.max_metadata_bytes).",
					   size, fnd_max_metadata_bytes)));
}

/*
 * The metadata argument merged over the basic keys, checked for shape and
 * size: the document an entry stores.
 */
static Jsonb *
fnd_reg_metadata(FunctionCallInfo fcinfo, int argno)
{
	Jsonb	   *user = fnd_reg_arg_object(fcinfo, argno, "metadata");
	Jsonb	   *merged;

	/* refuse a hopeless document before copying it around */
	if (VARSIZE(user) > (Size) fnd_max_metadata_bytes)
		fnd_reg_metadata_too_large(VARSIZE(user));

	if (fnd_reg_basic == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		fnd_reg_basic = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
														   CStringGetDatum("{\"type\": \"service\", \"health\": \"healthy\"}")));
		MemoryContextSwitchTo(old);
	}
	merged = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
												JsonbPGetDatum(fnd_reg_basic),
												JsonbPGetDatum(user)));
	if (VARSIZE(merged) > (Size) fnd_max_metadata_bytes)
		fnd_reg_metadata_too_large(VARSIZE(merged));
	return merged;
}

static void
fnd_reg_value_full(Size size)
{
	fnd_telemetry_count("foundation.registry.full", 1);
	ereport(ERROR,
			(errcode(ERRCODE_FND_REGISTRY_FULL),
			 errmsg("registry value memory is full"),
			 errdetail("The shared value area (foundation.value_memory) has no room for %zu more bytes of metadata.",
					   size),
			 errhint("Unregister entries, store smaller metadata, or raise foundation.value_memory (needs a restart).")));
}

/*
 * Copy a document into the value area; InvalidDsaPointer when it does not
 * fit.
 */
static dsa_pointer
fnd_reg_store_metadata(Jsonb *md)
{
	dsa_pointer dp = fnd_value_alloc(VARSIZE(md));

	if (DsaPointerIsValid(dp))
		memcpy(fnd_value_address(dp), md, VARSIZE(md));
	return dp;
}

static char *
fnd_reg_role_string(Oid role)
{
	char	   *name = GetUserNameFromId(role, true);

	return name ? name : psprintf("%u", role);
}

static void
fnd_reg_role_inval(Datum arg, int cacheid, uint32 hashvalue)
{
	fnd_reg_role_oid = InvalidOid;
}

/*
 * The name of a role, through a one-entry cache (an entry's owner is
 * almost always the caller's role), reset when pg_authid changes.
 * Returns NULL if the role no longer exists.
 */
static Name
fnd_reg_role_name(Oid role)
{
	if (role != fnd_reg_role_oid || !OidIsValid(role))
	{
		char	   *name = GetUserNameFromId(role, true);

		if (name == NULL)
			return NULL;
		if (!fnd_reg_role_callback)
		{
			CacheRegisterSyscacheCallback(AUTHOID, fnd_reg_role_inval, (Datum) 0);
			fnd_reg_role_callback = true;
		}
		namestrcpy(&fnd_reg_role_buf, name);
		fnd_reg_role_oid = role;
	}
	return &fnd_reg_role_buf;
}

/*
 * Copy a live entry for output, with its names unless the caller has them
 * already.  Caller holds the lock (either mode).
 */
static void
fnd_reg_copy_row(const FndRegEntry *e, FndRegRow *r, bool with_names)
{
	r->nslen = e->nslen;
	r->namelen = e->key.len - e->nslen - 1;
	r->names = NULL;
	if (with_names)
	{
		r->names = (char *) palloc(e->key.len);
		memcpy(r->names, e->key.name, e->key.len);
	}
	r->pid = e->owner.pid;
	r->owner_role = e->owner_role;
	r->leased = e->leased;
	r->registered_at = e->registered_at;
	r->expires_at = e->expires_at;
	r->metadata = (Jsonb *) palloc(e->metadata_size);
	memcpy(r->metadata, fnd_value_address(e->metadata), e->metadata_size);
}

/* One output row; ns and name are text datums. */
static void
fnd_reg_put_row(Tuplestorestate *ts, TupleDesc desc, Datum ns, Datum name,
				const FndRegRow *r)
{
	Datum		values[FND_REG_NCOLS];
	bool		nulls[FND_REG_NCOLS];
	Name		role;

	memset(nulls, 0, sizeof(nulls));
	values[0] = ns;
	values[1] = name;
	/* a leased entry belongs to its role, not to the session that made it */
	if (r->leased)
		nulls[2] = true;
	else
		values[2] = Int32GetDatum(r->pid);
	role = fnd_reg_role_name(r->owner_role);
	if (role)
		values[3] = NameGetDatum(role);
	else
		nulls[3] = true;
	values[4] = JsonbPGetDatum(r->metadata);
	values[5] = TimestampTzGetDatum(r->registered_at);
	if (r->leased)
		values[6] = TimestampTzGetDatum(r->expires_at);
	else
		nulls[6] = true;
	tuplestore_putvalues(ts, desc, values, nulls);
}

/*
 * Set up materialize mode; returns the descriptor to form rows with.
 *
 * When the caller knows the row type (FROM, and the target list of a query
 * that uses the columns), the rows are formed with its expectedDesc and
 * setDesc stays NULL: the executor then neither checks nor frees a copy,
 * which saves a descriptor copy per call of fnd_lookup.  Otherwise the
 * descriptor comes from pg_proc, as usual.
 */
static TupleDesc
fnd_reg_init_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) &&
		rsinfo->expectedDesc != NULL &&
		(rsinfo->allowedModes & SFRM_Materialize) != 0)
	{
		MemoryContext old;

		old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
		rsinfo->returnMode = SFRM_Materialize;
		rsinfo->setResult =
			tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0,
								  false, work_mem);
		rsinfo->setDesc = NULL;
		MemoryContextSwitchTo(old);
		return rsinfo->expectedDesc;
	}
	InitMaterializedSRF(fcinfo, 0);
	return rsinfo->setDesc;
}

static void
fnd_reg_not_registered(const FndRegKey *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_NOT_REGISTERED),
			 errmsg("no registry entry \"%s\" in namespace \"%s\"",
					FND_REG_NAME(key), FND_REG_NS(key)),
			 errdetail("Nothing live is registered under this name in this database; a leased entry whose lease ran out is gone.")));
}

/*
 * Take the registry lock exclusively and return the live entry for key,
 * after checking that the current user may manage it, or NULL if there is
 * none.  Either way the caller then holds the lock exclusively.  Raises
 * FN104 (without the lock) for someone else's entry.  The privilege check
 * may read catalogs, so it is done without the lock and the entry is
 * looked up again afterwards.
 */
static FndRegEntry *
fnd_reg_acquire_managed(const FndRegKey *key)
{
	Oid			me = GetUserId();
	Oid			checked = InvalidOid;

	for (;;)
	{
		FndRegEntry *e;
		Oid			role;

		LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
		e = fnd_reg_find(key);
		if (e != NULL && fnd_reg_is_expired(e, fnd_now()))
		{
			fnd_reg_remove(e);
			fnd_reg_shared->expired_total++;
			e = NULL;
		}
		if (e == NULL || e->owner_role == me ||
			(OidIsValid(checked) && e->owner_role == checked))
			return e;

		role = e->owner_role;
		LWLockRelease(fnd_reg_lock());
		if (!fnd_role_may_manage(role))
			ereport(ERROR,
					(errcode(ERRCODE_FND_NOT_OWNER),
					 errmsg("registry entry \"%s\" in namespace \"%s\" belongs to another role",
							FND_REG_NAME(key), FND_REG_NS(key)),
					 errdetail("It is owned by role \"%s\".", fnd_reg_role_string(role)),
					 errhint("Only the owning role, its members and superusers may unregister, update or renew an entry.")));
		checked = role;
	}
}

/* ---------------------------------------------------------------------
 * SQL functions
 * ---------------------------------------------------------------------
 */

/*
 * fnd_register found a live entry under key: FN101, after freeing the
 * document it had stored and releasing the lock.
 */
static void
fnd_reg_conflict(const FndRegEntry *e, const FndRegKey *key, dsa_pointer dp)
{
	bool		other_leased = e->leased;
	int			other_pid = e->owner.pid;
	TimestampTz other_expiry = e->expires_at;

	fnd_value_free(dp);
	LWLockRelease(fnd_reg_lock());
	fnd_telemetry_count("foundation.registry.conflicts", 1);
	ereport(ERROR,
			(errcode(ERRCODE_FND_ALREADY_REGISTERED),
			 errmsg("name \"%s\" is already registered in namespace \"%s\"",
					FND_REG_NAME(key), FND_REG_NS(key)),
			 other_leased ?
			 errdetail("It is leased until %s.", timestamptz_to_str(other_expiry)) :
			 errdetail("It is held by the session with pid %d.", other_pid)));
}

/*
 * Create the entry for key, owned by the current role; when the table or
 * the role's quota is full, expired leases make room before we give up
 * (FN103, after freeing dp).  Caller holds the lock exclusively.
 */
static FndRegEntry *
fnd_reg_insert(const FndRegKey *key, TimestampTz now, dsa_pointer dp)
{
	uint32		hash = fnd_dbtable_hash(&fnd_reg_table, key);
	FndRegEntry *e;

	e = fnd_dbtable_insert(&fnd_reg_table, key, hash, GetUserId());
	if (e == NULL && fnd_reg_sweep_locked(now) > 0)
		e = fnd_dbtable_insert(&fnd_reg_table, key, hash, GetUserId());
	if (e == NULL)
	{
		fnd_value_free(dp);
		fnd_telemetry_count("foundation.registry.full", 1);
		fnd_dbtable_raise_full(&fnd_reg_table, GetUserId());
	}
	return e;
}

/*
 * fnd_register(namespace, name, metadata jsonb DEFAULT '{}',
 *				lease interval DEFAULT NULL) RETURNS void
 */
Datum
fnd_register(PG_FUNCTION_ARGS)
{
	FndRegKey	key;
	Jsonb	   *md;
	bool		leased = !PG_ARGISNULL(3);
	int64		lease_usec = 0;
	dsa_pointer dp;
	FndRegEntry *e;
	TimestampTz now;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);
	md = fnd_reg_metadata(fcinfo, 2);
	if (leased)
		lease_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(3), "lease", false);

	/* before allocating: nothing below may fail while dp could leak */
	if (!leased)
	{
		fnd_warn_if_pooled("registry entry", "%s/%s",
						   FND_REG_NS(&key), FND_REG_NAME(&key));
		fnd_session_track();
		fnd_reg_owns_session_entries = true;
	}
	dp = fnd_reg_store_metadata(md);
	if (!DsaPointerIsValid(dp))
		fnd_reg_value_full(VARSIZE(md));

	LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
	now = fnd_now();
	e = fnd_reg_find(&key);
	if (e != NULL && fnd_reg_is_expired(e, now))
	{
		fnd_reg_remove(e);
		fnd_reg_shared->expired_total++;
		e = NULL;
	}
	if (e != NULL)
		fnd_reg_conflict(e, &key, dp);

	e = fnd_reg_insert(&key, now, dp);
	e->nslen = (uint16) fnd_reg_nslen(&key);
	fnd_session_self(&e->owner);
	e->owner_role = GetUserId();
	e->leased = leased;
	e->lease_usec = lease_usec;
	e->registered_at = now;
	e->expires_at = leased ? now + lease_usec : 0;
	e->metadata = dp;
	e->metadata_size = VARSIZE(md);
	if (leased)
		fnd_reg_shared->nleased++;
	LWLockRelease(fnd_reg_lock());

	fnd_telemetry_count("foundation.registry.registrations", 1);
	PG_RETURN_VOID();
}

/*
 * fnd_lookup(namespace, name) RETURNS TABLE(...): zero or one row.  The hot
 * path: one hash probe under the shared lock, one copy of the document.
 */
Datum
fnd_lookup(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndRegKey	key;
	FndRegEntry *e;
	FndRegRow	row;
	bool		found = false;
	TupleDesc	desc;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);
	desc = fnd_reg_init_srf(fcinfo);

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	e = fnd_reg_find(&key);
	if (e != NULL && !(e->leased && e->expires_at <= fnd_now()))
	{
		fnd_reg_copy_row(e, &row, false);
		found = true;
	}
	LWLockRelease(fnd_reg_lock());

	/* the arguments are the names: no need to build them again */
	if (found)
		fnd_reg_put_row(rsinfo->setResult, desc,
						PG_GETARG_DATUM(0), PG_GETARG_DATUM(1), &row);
	fnd_telemetry_count("foundation.registry.lookups", 1);
	return (Datum) 0;
}

/* fnd_unregister(namespace, name) RETURNS boolean */
Datum
fnd_unregister(PG_FUNCTION_ARGS)
{
	FndRegKey	key;
	FndRegEntry *e;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);

	e = fnd_reg_acquire_managed(&key);
	if (e == NULL)
	{
		LWLockRelease(fnd_reg_lock());
		PG_RETURN_BOOL(false);
	}
	fnd_reg_remove(e);
	LWLockRelease(fnd_reg_lock());

	fnd_telemetry_count("foundation.registry.unregistrations", 1);
	PG_RETURN_BOOL(true);
}

/* fnd_update_metadata(namespace, name, metadata jsonb) RETURNS void */
Datum
fnd_update_metadata(PG_FUNCTION_ARGS)
{
	FndRegKey	key;
	Jsonb	   *md;
	dsa_pointer dp;
	FndRegEntry *e;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);
	md = fnd_reg_metadata(fcinfo, 2);

	e = fnd_reg_acquire_managed(&key);
	if (e == NULL)
	{
		LWLockRelease(fnd_reg_lock());
		fnd_reg_not_registered(&key);
	}
	/* allocated under our lock (registry lock before value-area locks) */
	dp = fnd_reg_store_metadata(md);
	if (!DsaPointerIsValid(dp))
	{
		LWLockRelease(fnd_reg_lock());
		fnd_reg_value_full(VARSIZE(md));
	}
	fnd_value_free(e->metadata);
	e->metadata = dp;
	e->metadata_size = VARSIZE(md);
	LWLockRelease(fnd_reg_lock());

	fnd_telemetry_count("foundation.registry.metadata_updates", 1);
	PG_RETURN_VOID();
}

/* fnd_renew(namespace, name) RETURNS timestamptz: the new expiry */
Datum
fnd_renew(PG_FUNCTION_ARGS)
{
	FndRegKey	key;
	FndRegEntry *e;
	TimestampTz expiry;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);

	e = fnd_reg_acquire_managed(&key);
	if (e == NULL)
	{
		LWLockRelease(fnd_reg_lock());
		fnd_reg_not_registered(&key);
	}
	if (!e->leased)
	{
		LWLockRelease(fnd_reg_lock());
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("registry entry \"%s\" in namespace \"%s\" has no lease",
						FND_REG_NAME(&key), FND_REG_NS(&key)),
				 errdetail("It belongs to its session and lives as long as that session does."),
				 errhint("Register it with a lease to renew it.")));
	}
	expiry = fnd_now() + e->lease_usec;
	e->expires_at = expiry;
	LWLockRelease(fnd_reg_lock());

	fnd_telemetry_count("foundation.registry.renewals", 1);
	PG_RETURN_TIMESTAMPTZ(expiry);
}

static int
fnd_reg_row_cmp(const void *a, const void *b)
{
	const FndRegRow *ra = (const FndRegRow *) a;
	const FndRegRow *rb = (const FndRegRow *) b;
	int			c;

	c = memcmp(ra->names, rb->names, Min(ra->nslen, rb->nslen));
	if (c == 0)
		c = ra->nslen - rb->nslen;
	if (c == 0)
		c = memcmp(ra->names + ra->nslen + 1, rb->names + rb->nslen + 1,
				   Min(ra->namelen, rb->namelen));
	if (c == 0)
		c = ra->namelen - rb->namelen;
	return c;
}

/* Which entries fnd_reg_copy_rows copies. */
typedef struct FndRegWanted
{
	const char *ns;				/* only this namespace, or NULL */
	int			nslen;
	TimestampTz now;
} FndRegWanted;

static bool
fnd_reg_copy_wanted(const void *entry, void *row, void *arg)
{
	const FndRegEntry *e = (const FndRegEntry *) entry;
	FndRegWanted *w = (FndRegWanted *) arg;

	if (fnd_reg_is_expired(e, w->now))
		return false;
	if (w->ns != NULL &&
		(e->nslen != w->nslen || memcmp(FND_REG_NS(&e->key), w->ns, w->nslen) != 0))
		return false;
	fnd_reg_copy_row(e, (FndRegRow *) row, true);
	return true;
}

/*
 * Copies of every live entry of this database, optionally only of one
 * namespace, made under the shared lock.  Copying is bounded by the value
 * memory; anything whose cost the caller controls is done afterwards.
 */
static FndRegRow *
fnd_reg_copy_rows(const char *ns, int nslen, int *nrows)
{
	FndRegWanted w = {ns, nslen, fnd_now()};

	return fnd_dbtable_collect(&fnd_reg_table, sizeof(FndRegRow),
							   fnd_reg_copy_wanted, &w, nrows);
}

/*
 * Keep the rows whose metadata contains filter, in place; returns how many.
 * Without any lock, and interruptible between documents: a large filter
 * against large documents may take long.
 */
static int
fnd_reg_filter_rows(FndRegRow *rows, int nrows, Jsonb *filter)
{
	int			kept = 0;
	int			i;

	for (i = 0; i < nrows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (DatumGetBool(DirectFunctionCall2(jsonb_contains,
											 JsonbPGetDatum(rows[i].metadata),
											 JsonbPGetDatum(filter))))
			rows[kept++] = rows[i];
		else
		{
			pfree(rows[i].metadata);
			pfree(rows[i].names);
		}
	}
	return kept;
}

/*
 * Rows for every live entry of this database, optionally only of one
 * namespace and only those whose metadata contains filter; sorted by
 * namespace and name (byte order).
 */
static void
fnd_reg_emit_list(FunctionCallInfo fcinfo, const char *ns, int nslen,
				  Jsonb *filter)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndRegRow  *rows;
	TupleDesc	desc;
	int			nrows;
	int			i;

	desc = fnd_reg_init_srf(fcinfo);
	rows = fnd_reg_copy_rows(ns, nslen, &nrows);
	if (filter != NULL)
		nrows = fnd_reg_filter_rows(rows, nrows, filter);

	qsort(rows, nrows, sizeof(FndRegRow), fnd_reg_row_cmp);
	for (i = 0; i < nrows; i++)
	{
		CHECK_FOR_INTERRUPTS();
		fnd_reg_put_row(rsinfo->setResult, desc,
						PointerGetDatum(cstring_to_text_with_len(rows[i].names,
																 rows[i].nslen)),
						PointerGetDatum(cstring_to_text_with_len(rows[i].names + rows[i].nslen + 1,
																 rows[i].namelen)),
						&rows[i]);
	}
}

/* fnd_list_services(namespace) RETURNS SETOF the lookup row */
Datum
fnd_list_services(PG_FUNCTION_ARGS)
{
	char		ns[FND_NAME_BUFSZ];

	fnd_reg_require();
	fnd_check_name(fnd_arg_text(fcinfo, 0, "namespace"), "namespace", ns);
	fnd_reg_emit_list(fcinfo, ns, strlen(ns), NULL);
	return (Datum) 0;
}

/* fnd_find_services_by_metadata(namespace, filter jsonb): metadata @> filter */
Datum
fnd_find_services_by_metadata(PG_FUNCTION_ARGS)
{
	char		ns[FND_NAME_BUFSZ];
	Jsonb	   *filter;

	fnd_reg_require();
	fnd_check_name(fnd_arg_text(fcinfo, 0, "namespace"), "namespace", ns);
	filter = fnd_reg_arg_object(fcinfo, 1, "filter");
	/* bounded like documents, so one containment test stays short */
	if (VARSIZE(filter) > (Size) fnd_max_metadata_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("filter is too large"),
				 errdetail("It is %zu bytes as jsonb; the limit is %d bytes (foundation.max_metadata_bytes).",
						   (Size) VARSIZE(filter), fnd_max_metadata_bytes)));
	fnd_reg_emit_list(fcinfo, ns, strlen(ns), filter);
	return (Datum) 0;
}

/* fnd_registry_entries(): every live entry of this database (the view) */
Datum
fnd_registry_entries(PG_FUNCTION_ARGS)
{
	fnd_reg_require();
	fnd_reg_emit_list(fcinfo, NULL, 0, NULL);
	return (Datum) 0;
}

static int
fnd_reg_cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/*
 * fnd_registry_stats() RETURNS jsonb: this database's live entries, leased
 * and session-owned, per namespace; the shared capacity and what all
 * databases use of it; expired leases not yet swept.
 */
Datum
fnd_registry_stats(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS status;
	FndRegEntry *e;
	TimestampTz now;
	char	  **names;
	int			nnames = 0;
	int			maxnames = 16;
	long		all_entries;
	int			leased = 0;
	int			expired = 0;
	int64		metadata_bytes = 0;
	int64		expired_total;
	StringInfoData buf;
	int			i;

	fnd_reg_require();
	names = (char **) palloc(maxnames * sizeof(char *));

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	now = fnd_now();
	all_entries = fnd_dbtable_count(&fnd_reg_table);
	expired_total = fnd_reg_shared->expired_total;
	hash_seq_init(&status, fnd_reg_table.htab);
	while ((e = (FndRegEntry *) hash_seq_search(&status)) != NULL)
	{
		if (e->key.dbid != MyDatabaseId)
			continue;
		if (fnd_reg_is_expired(e, now))
		{
			expired++;
			continue;
		}
		if (e->leased)
			leased++;
		metadata_bytes += e->metadata_size;
		if (nnames == maxnames)
		{
			maxnames *= 2;
			names = (char **) repalloc(names, maxnames * sizeof(char *));
		}
		names[nnames++] = pnstrdup(FND_REG_NS(&e->key), e->nslen);
	}
	LWLockRelease(fnd_reg_lock());

	qsort(names, nnames, sizeof(char *), fnd_reg_cstring_cmp);

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "{\"entries\": %d, \"leased\": %d, \"session_owned\": %d, "
					 "\"expired_unswept\": %d, \"metadata_bytes\": " INT64_FORMAT ", "
					 "\"capacity\": %d, \"entries_all_databases\": %ld, "
					 "\"expired_total\": " INT64_FORMAT ", "
					 "\"max_metadata_bytes\": %d, \"namespaces\": {",
					 nnames, leased, nnames - leased, expired, metadata_bytes,
					 fnd_reg_table.max_entries, all_entries, expired_total,
					 fnd_max_metadata_bytes);
	for (i = 0; i < nnames;)
	{
		int			j = i;

		CHECK_FOR_INTERRUPTS();
		while (j < nnames && strcmp(names[j], names[i]) == 0)
			j++;
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, names[i]);
		appendStringInfo(&buf, ": %d", j - i);
		i = j;
	}
	appendStringInfoString(&buf, "}}");

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* ---------------------------------------------------------------------
 * for agents.c (1.1): an agent is a registry entry (agents.h)
 * ---------------------------------------------------------------------
 */

static void
fnd_reg_key_set(FndRegKey *key, Oid dbid, const char *ns, const char *name)
{
	int			nslen = strlen(ns);

	memset(key, 0, sizeof(*key));
	key->dbid = dbid;
	fnd_copy_name(ns, key->name);
	fnd_copy_name(name, key->name + nslen + 1);
	key->len = (uint16) (nslen + 1 + strlen(name));
}

LWLock *
fnd_reg_shared_lock(void)
{
	fnd_reg_require();
	return fnd_reg_lock();
}

/*
 * The live entry (ns, name) of database dbid, with a copy of its document
 * when asked; false if there is none.  Caller holds the registry lock
 * (fnd_reg_shared_lock) in either mode.
 */
bool
fnd_reg_entry_info_locked(Oid dbid, const char *ns, const char *name,
						  TimestampTz now, FndRegInfo *info,
						  bool with_metadata)
{
	FndRegKey	key;
	FndRegEntry *e;

	fnd_reg_key_set(&key, dbid, ns, name);
	e = fnd_reg_find(&key);
	if (e == NULL || fnd_reg_is_expired(e, now))
		return false;
	info->registered_at = e->registered_at;
	info->owner_role = e->owner_role;
	info->pid = e->owner.pid;
	info->leased = e->leased;
	info->expires_at = e->expires_at;
	info->metadata = NULL;
	if (with_metadata)
	{
		info->metadata = (Jsonb *) palloc(e->metadata_size);
		memcpy(info->metadata, fnd_value_address(e->metadata),
			   e->metadata_size);
	}
	return true;
}

/*
 * Replace the document of the live entry (ns, name) registered at
 * registered_at; false if it is gone.  The caller checked ownership.
 * Raises FN103 when the value area is full.
 */
bool
fnd_reg_entry_set_metadata(Oid dbid, const char *ns, const char *name,
						   TimestampTz registered_at, Jsonb *md)
{
	FndRegKey	key;
	FndRegEntry *e;
	dsa_pointer dp;

	fnd_reg_require();
	fnd_reg_key_set(&key, dbid, ns, name);
	LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
	e = fnd_reg_find(&key);
	if (e == NULL || fnd_reg_is_expired(e, fnd_now()) ||
		e->registered_at != registered_at)
	{
		LWLockRelease(fnd_reg_lock());
		return false;
	}
	dp = fnd_reg_store_metadata(md);
	if (!DsaPointerIsValid(dp))
	{
		LWLockRelease(fnd_reg_lock());
		fnd_reg_value_full(VARSIZE(md));
	}
	fnd_value_free(e->metadata);
	e->metadata = dp;
	e->metadata_size = VARSIZE(md);
	LWLockRelease(fnd_reg_lock());
	return true;
}
