/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shared segment: per-service state, LWLocks, and the bounded area
 *	  for variable-length values.
 *
 * Space is asked for once, in shmem_request_hook, as the sum of what every
 * service declares, plus the core segment.  The core segment holds:
 *
 *	- the supervisor's view of each cluster-wide service (FndServiceState,
 *	  written by the launcher), guarded by a spinlock because it is a few
 *	  hundred bytes copied in and out; the same spinlock guards the states
 *	  the database workers write into their slots (launcher.c, which keeps
 *	  its own part of the segment: worker slots and the picture of the
 *	  databases);
 *	- a DSA area created in place, foundation.value_memory bytes long, for
 *	  values whose size varies (jsonb metadata, proposals).  Its size limit
 *	  equals its in-place size, so it never grows into DSM segments and a
 *	  full area is a clean allocation failure the caller turns into its
 *	  subsystem's *_full error.  Nothing is ever truncated.
 *
 * LWLocks come from one named tranche, "foundation"; each service gets the
 * slice it asked for through FndService.lwlocks (fnd_lwlocks()).
 *
 * Each backend attaches to the DSA area lazily, the first time it needs a
 * value, and keeps the mapping for its lifetime.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/memutils.h"

#include "supervisor.h"

#define FND_TRANCHE_NAME	"foundation"
#define FND_VALUE_TRANCHE	"foundation_values"

typedef struct FndShared
{
	int			value_tranche;	/* tranche id of the DSA area's locks */
	slock_t		service_mutex;	/* guards services[] */
	Size		value_size;		/* bytes of the in-place DSA area */
	Size		value_offset;	/* offset of the area from this struct */
	FndServiceState services[FLEXIBLE_ARRAY_MEMBER];
} FndShared;

static FndShared *fnd_shared = NULL;

/* backend-local */
static dsa_area *fnd_values = NULL;
static LWLockPadded *fnd_lock_base = NULL;

static Size
fnd_core_header_size(void)
{
	return MAXALIGN(add_size(offsetof(FndShared, services),
							 mul_size(sizeof(FndServiceState),
									  fnd_service_count)));
}

static Size
fnd_value_area_size(void)
{
	Size		sz = (Size) fnd_value_memory_kb * 1024;

	return Max(sz, dsa_minimum_size());
}

static int
fnd_total_lwlocks(void)
{
	int			n = 0;
	int			i;

	for (i = 0; i < fnd_service_count; i++)
		n += fnd_service_list[i]->lwlocks;
	return n;
}

void
fnd_shmem_request(void)
{
	Size		sz;
	int			i;
	int			nlocks;

	sz = add_size(fnd_core_header_size(), fnd_value_area_size());
	sz = add_size(sz, fnd_launcher_shmem_size());
	for (i = 0; i < fnd_service_count; i++)
	{
		if (fnd_service_list[i]->shmem_size)
			sz = add_size(sz, fnd_service_list[i]->shmem_size());
	}
	RequestAddinShmemSpace(sz);

	nlocks = fnd_total_lwlocks();
	if (nlocks > 0)
		RequestNamedLWLockTranche(FND_TRANCHE_NAME, nlocks);
}

/*
 * Create or attach the core segment, then let every service create its own.
 * Runs in the postmaster (and in EXEC_BACKEND children).
 */
void
fnd_shmem_startup(void)
{
	bool		found;
	int			i;

	fnd_values = NULL;
	fnd_lock_base = NULL;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);

	fnd_shared = ShmemInitStruct("foundation core",
								 add_size(fnd_core_header_size(),
										  fnd_value_area_size()),
								 &found);
	if (!found)
	{
		dsa_area   *area;

		memset(fnd_shared, 0, fnd_core_header_size());
		SpinLockInit(&fnd_shared->service_mutex);
		fnd_shared->value_tranche = LWLockNewTrancheId();
		fnd_shared->value_size = fnd_value_area_size();
		fnd_shared->value_offset = fnd_core_header_size();

		area = dsa_create_in_place((char *) fnd_shared + fnd_shared->value_offset,
								   fnd_shared->value_size,
								   fnd_shared->value_tranche,
								   NULL);
		dsa_set_size_limit(area, fnd_shared->value_size);
		/* the postmaster keeps no mapping; backends attach on first use */
		dsa_detach(area);
	}

	fnd_launcher_shmem_startup();
	for (i = 0; i < fnd_service_count; i++)
	{
		if (fnd_service_list[i]->shmem_startup)
			fnd_service_list[i]->shmem_startup();
	}

	LWLockRelease(AddinShmemInitLock);
}

/*
 * Raise FN001 unless the shared state exists.  Every SQL function that
 * touches shared memory calls this first.
 */
void
fnd_require_shmem(void)
{
	if (fnd_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FND_NOT_PRELOADED),
				 errmsg("foundation must be loaded via shared_preload_libraries"),
				 errdetail("This function keeps its state in shared memory, which is only set up at server start."),
				 errhint("Add 'foundation' to shared_preload_libraries in postgresql.conf and restart the server.")));
}

FndServiceState *
fnd_service_states(void)
{
	fnd_require_shmem();
	return fnd_shared->services;
}

slock_t *
fnd_service_mutex(void)
{
	fnd_require_shmem();
	return &fnd_shared->service_mutex;
}

/*
 * The LWLocks a service asked for, in one array of svc->lwlocks entries.
 */
LWLockPadded *
fnd_lwlocks(const FndService *svc)
{
	int			offset = 0;
	int			i;

	if (fnd_lock_base == NULL)
		fnd_lock_base = GetNamedLWLockTranche(FND_TRANCHE_NAME);

	for (i = 0; i < fnd_service_count; i++)
	{
		if (fnd_service_list[i] == svc)
			return fnd_lock_base + offset;
		offset += fnd_service_list[i]->lwlocks;
	}
	elog(ERROR, "foundation service \"%s\" is not in the service list",
		 svc->name);
	return NULL;				/* keep compiler quiet */
}

static dsa_area *
fnd_value_area(void)
{
	if (fnd_values == NULL)
	{
		MemoryContext old;

		fnd_require_shmem();
		LWLockRegisterTranche(fnd_shared->value_tranche, FND_VALUE_TRANCHE);
		old = MemoryContextSwitchTo(TopMemoryContext);
		fnd_values = dsa_attach_in_place((char *) fnd_shared + fnd_shared->value_offset,
										 NULL);
		dsa_pin_mapping(fnd_values);
		MemoryContextSwitchTo(old);
	}
	return fnd_values;
}

/*
 * Allocate size bytes of shared value memory.  While the area is full,
 * decided consensus rounds give way (their decisions are stored events).
 * Returns InvalidDsaPointer when nothing more can be freed; the caller
 * raises its subsystem's *_full error.  Must not be called with the
 * consensus lock held.
 */
dsa_pointer
fnd_value_alloc(Size size)
{
	dsa_pointer dp;

	do
		dp = dsa_allocate_extended(fnd_value_area(), size, DSA_ALLOC_NO_OOM);
	while (!DsaPointerIsValid(dp) && fnd_consensus_give_way());
	return dp;
}

void
fnd_value_free(dsa_pointer dp)
{
	if (DsaPointerIsValid(dp))
		dsa_free(fnd_value_area(), dp);
}

void *
fnd_value_address(dsa_pointer dp)
{
	if (!DsaPointerIsValid(dp))
		return NULL;
	return dsa_get_address(fnd_value_area(), dp);
}
