/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registry: named entries owned by a session or, with a lease, by a
 *	  role, each with jsonb metadata; lookups, listings, containment search.
 *
 * State lives in one shared hash table keyed by (database, namespace,
 * name), sized by foundation.max_registry_entries across all databases.
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
 *	  and release it before building result tuples or reading catalogs.
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
 * the spot), and the supervisor's periodic pass sweeps the rest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "common/hashfn.h"
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

/*
 * One entry.  The whole struct is dynahash's key (keysize == entrysize):
 * its identity is (dbid, namespace, name), the only fields fnd_reg_hash and
 * fnd_reg_match read, and HASH_ENTER copies an entry built by the caller in
 * one go.  Fixed fields come first and the names last, so a lookup of a
 * short name touches the first two cache lines of the entry only.
 */
typedef struct FndRegEntry
{
	Oid			dbid;
	uint16		nslen;
	uint16		namelen;
	bool		leased;
	Oid			owner_role;
	FndSession	owner;			/* the session that registered it */
	int64		lease_usec;		/* lease length, for fnd_renew */
	TimestampTz registered_at;
	TimestampTz expires_at;		/* leased entries only */
	dsa_pointer metadata;		/* Jsonb in the value area */
	uint32		metadata_size;
	/* the namespace, then the name, zero-padded: see fnd_reg_key() */
	char		names[2 * FND_NAME_BUFSZ];
} FndRegEntry;

#define FND_REG_NS(e)		((e)->names)
#define FND_REG_NAME(e)		((e)->names + (e)->nslen)

typedef struct FndRegShared
{
	int			nleased;		/* entries with a lease: the sweep's quick exit */
	int64		expired_total;	/* leased entries removed after expiry */
} FndRegShared;

/* A copy of an entry, made under the lock, turned into a row after it. */
typedef struct FndRegRow
{
	char	   *names;			/* namespace then name, palloc'd */
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

/* settings */
static int	fnd_max_registry_entries = 10000;
static int	fnd_max_metadata_bytes = 8192;

/* shared state, set in shmem_startup (inherited by every backend) */
static FndRegShared *fnd_reg_shared = NULL;
static HTAB *fnd_reg_table = NULL;

/* backend-local */
static LWLock *fnd_reg_lock_ptr = NULL;
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
	if (preloading)
		DefineCustomIntVariable("foundation.max_registry_entries",
								"Maximum number of registry entries, across all databases.",
								"When the registry is full, fnd_register raises FN103.",
								&fnd_max_registry_entries,
								10000,
								1,
								10000000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);

	DefineCustomIntVariable("foundation.max_metadata_bytes",
							"Largest metadata document a registry entry may hold.",
							"Measured as stored jsonb, basic keys included; larger documents raise FN003.",
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
					hash_estimate_size(fnd_max_registry_entries,
									   sizeof(FndRegEntry)));
}

/*
 * Hash only the bytes in use: keys are mostly padding, and a lookup
 * hashes one key per call.
 */
static uint32
fnd_reg_hash(const void *key, Size keysize)
{
	const FndRegEntry *k = (const FndRegEntry *) key;
	uint32		h;

	h = hash_bytes_uint32((uint32) k->dbid ^ ((uint32) k->nslen << 16));
	return hash_combine(h, hash_bytes((const unsigned char *) k->names,
									  k->nslen + k->namelen));
}

/* 0 when the keys are equal, as dynahash wants */
static int
fnd_reg_match(const void *key1, const void *key2, Size keysize)
{
	const FndRegEntry *a = (const FndRegEntry *) key1;
	const FndRegEntry *b = (const FndRegEntry *) key2;

	if (a->dbid != b->dbid || a->nslen != b->nslen || a->namelen != b->namelen)
		return 1;
	return memcmp(a->names, b->names, a->nslen + a->namelen) != 0;
}

static void
fnd_reg_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	fnd_reg_shared = ShmemInitStruct("foundation registry",
									 sizeof(FndRegShared), &found);
	if (!found)
		memset(fnd_reg_shared, 0, sizeof(FndRegShared));

	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(FndRegEntry);
	info.entrysize = sizeof(FndRegEntry);
	info.hash = fnd_reg_hash;
	info.match = fnd_reg_match;
	fnd_reg_table = ShmemInitHash("foundation registry entries",
								  fnd_max_registry_entries,
								  fnd_max_registry_entries,
								  &info,
								  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE);
}

static LWLock *
fnd_reg_lock(void)
{
	if (fnd_reg_lock_ptr == NULL)
		fnd_reg_lock_ptr = &fnd_lwlocks(&fnd_registry_service)[0].lock;
	return fnd_reg_lock_ptr;
}

static void
fnd_reg_require(void)
{
	fnd_require_shmem();
	if (fnd_reg_table == NULL)
		elog(ERROR, "foundation registry shared memory is not initialized");
	(void) fnd_reg_lock();
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
	hash_search(fnd_reg_table, e, HASH_REMOVE, NULL);
	fnd_value_free(md);
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
	hash_seq_init(&status, fnd_reg_table);
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

/*
 * Supervisor: sweep expired leases of every database.  A scan under the
 * shared lock finds out whether there is anything to do, so the exclusive
 * lock is taken only when a lease has actually run out.
 */
static bool
fnd_reg_periodic(void)
{
	HASH_SEQ_STATUS status;
	FndRegEntry *e;
	TimestampTz now = fnd_now();
	int			expired = 0;
	int			removed = 0;
	long		entries;
	int			leased;
	char		detail[FND_STATUS_TEXT];

	fnd_reg_require();

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	if (fnd_reg_shared->nleased > 0)
	{
		hash_seq_init(&status, fnd_reg_table);
		while ((e = (FndRegEntry *) hash_seq_search(&status)) != NULL)
		{
			if (fnd_reg_is_expired(e, now))
				expired++;
		}
	}
	LWLockRelease(fnd_reg_lock());

	if (expired > 0)
	{
		LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
		removed = fnd_reg_sweep_locked(now);
		LWLockRelease(fnd_reg_lock());
		fnd_telemetry_count("foundation.registry.expirations", removed);
	}

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	entries = hash_get_num_entries(fnd_reg_table);
	leased = fnd_reg_shared->nleased;
	LWLockRelease(fnd_reg_lock());

	fnd_telemetry_gauge("foundation.registry.entries", (double) entries);
	snprintf(detail, sizeof(detail),
			 "%ld of %d entries, %d leased; last pass removed %d expired",
			 entries, fnd_max_registry_entries, leased, removed);
	fnd_service_set_detail(detail);
	return false;
}

/*
 * The session is ending: remove the entries it owns without a lease.
 * Cheap for sessions that never registered one.
 */
static void
fnd_reg_session_exit(void)
{
	HASH_SEQ_STATUS status;
	FndRegEntry *e;

	if (!fnd_reg_owns_session_entries || fnd_reg_table == NULL)
		return;

	LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
	hash_seq_init(&status, fnd_reg_table);
	while ((e = (FndRegEntry *) hash_seq_search(&status)) != NULL)
	{
		if (!e->leased && fnd_session_is_me(&e->owner))
			fnd_reg_remove(e);
	}
	LWLockRelease(fnd_reg_lock());
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
 * Fill the identity of key from arguments 0 (namespace) and 1 (name).
 * fnd_check_name writes FND_NAME_BUFSZ zero-padded bytes; the name goes
 * right after the namespace (at most FND_NAME_MAX bytes), so both fit in
 * names[] and the name is NUL-terminated.
 */
static void
fnd_reg_key(FunctionCallInfo fcinfo, FndRegEntry *key)
{
	text	   *ns = fnd_arg_text(fcinfo, 0, "namespace");
	text	   *nm = fnd_arg_text(fcinfo, 1, "name");

	key->dbid = MyDatabaseId;
	fnd_check_name(ns, "namespace", key->names);
	key->nslen = (uint16) VARSIZE_ANY_EXHDR(ns);
	fnd_check_name(nm, "name", key->names + key->nslen);
	key->namelen = (uint16) VARSIZE_ANY_EXHDR(nm);
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
	r->namelen = e->namelen;
	r->names = NULL;
	if (with_names)
	{
		r->names = (char *) palloc(e->nslen + e->namelen);
		memcpy(r->names, e->names, e->nslen + e->namelen);
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
fnd_reg_not_registered(const FndRegEntry *key)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_NOT_REGISTERED),
			 errmsg("no registry entry \"%s\" in namespace \"%.*s\"",
					FND_REG_NAME(key), key->nslen, FND_REG_NS(key)),
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
fnd_reg_acquire_managed(const FndRegEntry *key)
{
	Oid			me = GetUserId();
	Oid			checked = InvalidOid;

	for (;;)
	{
		FndRegEntry *e;
		Oid			role;

		LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
		e = (FndRegEntry *) hash_search(fnd_reg_table, key, HASH_FIND, NULL);
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
					 errmsg("registry entry \"%s\" in namespace \"%.*s\" belongs to another role",
							FND_REG_NAME(key), key->nslen, FND_REG_NS(key)),
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
 * fnd_register(namespace, name, metadata jsonb DEFAULT '{}',
 *				lease interval DEFAULT NULL) RETURNS void
 */
Datum
fnd_register(PG_FUNCTION_ARGS)
{
	FndRegEntry key;
	Jsonb	   *md;
	bool		leased = !PG_ARGISNULL(3);
	int64		lease_usec = 0;
	dsa_pointer dp;
	FndRegEntry *e;
	bool		found;
	TimestampTz now;
	long		nentries;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);
	md = fnd_reg_metadata(fcinfo, 2);
	if (leased)
		lease_usec = fnd_interval_usec(PG_GETARG_INTERVAL_P(3), "lease", false);

	/* before allocating: nothing below may fail while dp could leak */
	if (!leased)
	{
		fnd_warn_if_pooled("registry entry", "%.*s/%s", (int) key.nslen,
						   FND_REG_NS(&key), FND_REG_NAME(&key));
		fnd_session_track();
		fnd_reg_owns_session_entries = true;
	}
	dp = fnd_reg_store_metadata(md);
	if (!DsaPointerIsValid(dp))
		fnd_reg_value_full(VARSIZE(md));

	LWLockAcquire(fnd_reg_lock(), LW_EXCLUSIVE);
	now = fnd_now();
	e = (FndRegEntry *) hash_search(fnd_reg_table, &key, HASH_FIND, NULL);
	if (e != NULL && fnd_reg_is_expired(e, now))
	{
		fnd_reg_remove(e);
		fnd_reg_shared->expired_total++;
		e = NULL;
	}
	if (e != NULL)
	{
		bool		other_leased = e->leased;
		int			other_pid = e->owner.pid;
		TimestampTz other_expiry = e->expires_at;

		fnd_value_free(dp);
		LWLockRelease(fnd_reg_lock());
		fnd_telemetry_count("foundation.registry.conflicts", 1);
		ereport(ERROR,
				(errcode(ERRCODE_FND_ALREADY_REGISTERED),
				 errmsg("name \"%s\" is already registered in namespace \"%.*s\"",
						FND_REG_NAME(&key), key.nslen, FND_REG_NS(&key)),
				 other_leased ?
				 errdetail("It is leased until %s.", timestamptz_to_str(other_expiry)) :
				 errdetail("It is held by the session with pid %d.", other_pid)));
	}

	/* full: expired leases make room before we give up */
	nentries = hash_get_num_entries(fnd_reg_table);
	if (nentries >= fnd_max_registry_entries)
	{
		fnd_reg_sweep_locked(now);
		nentries = hash_get_num_entries(fnd_reg_table);
	}
	e = NULL;
	if (nentries < fnd_max_registry_entries)
		e = (FndRegEntry *) hash_search(fnd_reg_table, &key, HASH_ENTER_NULL, &found);
	if (e == NULL)
	{
		fnd_value_free(dp);
		LWLockRelease(fnd_reg_lock());
		fnd_telemetry_count("foundation.registry.full", 1);
		ereport(ERROR,
				(errcode(ERRCODE_FND_REGISTRY_FULL),
				 errmsg("registry is full"),
				 errdetail("It holds %ld entries across all databases; foundation.max_registry_entries is %d.",
						   nentries, fnd_max_registry_entries),
				 errhint("Unregister entries, or raise foundation.max_registry_entries (needs a restart).")));
	}

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
	FndRegEntry key;
	FndRegEntry *e;
	FndRegRow	row;
	bool		found = false;
	TupleDesc	desc;

	fnd_reg_require();
	fnd_reg_key(fcinfo, &key);
	desc = fnd_reg_init_srf(fcinfo);

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	e = (FndRegEntry *) hash_search(fnd_reg_table, &key, HASH_FIND, NULL);
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
	FndRegEntry key;
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
	FndRegEntry key;
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
	FndRegEntry key;
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
				 errmsg("registry entry \"%s\" in namespace \"%.*s\" has no lease",
						FND_REG_NAME(&key), key.nslen, FND_REG_NS(&key)),
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
		c = memcmp(ra->names + ra->nslen, rb->names + rb->nslen,
				   Min(ra->namelen, rb->namelen));
	if (c == 0)
		c = ra->namelen - rb->namelen;
	return c;
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
	HASH_SEQ_STATUS status;
	FndRegEntry *e;
	FndRegRow  *rows;
	TupleDesc	desc;
	int			nrows = 0;
	int			maxrows = 16;
	TimestampTz now;
	int			i;

	desc = fnd_reg_init_srf(fcinfo);
	rows = (FndRegRow *) palloc(maxrows * sizeof(FndRegRow));

	LWLockAcquire(fnd_reg_lock(), LW_SHARED);
	now = fnd_now();
	hash_seq_init(&status, fnd_reg_table);
	while ((e = (FndRegEntry *) hash_seq_search(&status)) != NULL)
	{
		if (e->dbid != MyDatabaseId || fnd_reg_is_expired(e, now))
			continue;
		if (ns != NULL &&
			(e->nslen != nslen || memcmp(FND_REG_NS(e), ns, nslen) != 0))
			continue;
		if (filter != NULL &&
			!DatumGetBool(DirectFunctionCall2(jsonb_contains,
											  PointerGetDatum(fnd_value_address(e->metadata)),
											  JsonbPGetDatum(filter))))
			continue;
		if (nrows == maxrows)
		{
			maxrows *= 2;
			rows = (FndRegRow *) repalloc(rows, maxrows * sizeof(FndRegRow));
		}
		fnd_reg_copy_row(e, &rows[nrows++], true);
	}
	LWLockRelease(fnd_reg_lock());

	qsort(rows, nrows, sizeof(FndRegRow), fnd_reg_row_cmp);
	for (i = 0; i < nrows; i++)
		fnd_reg_put_row(rsinfo->setResult, desc,
						PointerGetDatum(cstring_to_text_with_len(rows[i].names,
																 rows[i].nslen)),
						PointerGetDatum(cstring_to_text_with_len(rows[i].names + rows[i].nslen,
																 rows[i].namelen)),
						&rows[i]);
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
	all_entries = hash_get_num_entries(fnd_reg_table);
	expired_total = fnd_reg_shared->expired_total;
	hash_seq_init(&status, fnd_reg_table);
	while ((e = (FndRegEntry *) hash_seq_search(&status)) != NULL)
	{
		if (e->dbid != MyDatabaseId)
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
		names[nnames++] = pnstrdup(FND_REG_NS(e), e->nslen);
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
					 fnd_max_registry_entries, all_entries, expired_total,
					 fnd_max_metadata_bytes);
	for (i = 0; i < nnames;)
	{
		int			j = i;

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
