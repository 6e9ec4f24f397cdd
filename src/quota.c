/*-------------------------------------------------------------------------
 *
 * quota.c
 *	  Per-role counts of one kind of entry, in shared memory (see quota.h).
 *
 * The counts live in an open-addressed table of (role, count) slots with
 * linear probing; a role's slot exists while its count is above zero.  It
 * has at least twice as many slots as the counted table has entries, and
 * every counted entry is charged to exactly one role, so a free slot is
 * always found and probe sequences stay short.
 *
 * Locking protocol: the spinlock mutex guards every slot.  It is held for
 * a few probes only and may be taken while holding any LWLock; nothing
 * that can raise an error runs under it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"

#include "quota.h"

typedef struct FndQuotaSlot
{
	Oid			role;			/* InvalidOid: free */
	int			used;
} FndQuotaSlot;

struct FndQuota
{
	slock_t		mutex;
	uint32		mask;			/* slots - 1 (a power of 2) */
	FndQuotaSlot slots[FLEXIBLE_ARRAY_MEMBER];
};

/*
 * Define a per-role limit.  PGC_SUSET: postgresql.conf, ALTER ROLE ... SET
 * or ALTER DATABASE ... SET by a superuser; the calling session's value
 * applies to the calling role.
 */
void
fnd_quota_define_setting(const char *name, const char *desc, int *limit)
{
	DefineCustomIntVariable(name, desc,
							"0 means no limit per role.",
							limit,
							0,
							0,
							INT_MAX / 2,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}

static uint32
fnd_quota_nslots(int max_entries)
{
	uint32		n = 64;

	while (n < (uint32) max_entries * 2 && n < PG_UINT32_MAX / 4)
		n <<= 1;
	return n;
}

Size
fnd_quota_shmem_size(int max_entries)
{
	return add_size(offsetof(FndQuota, slots),
					mul_size(sizeof(FndQuotaSlot), fnd_quota_nslots(max_entries)));
}

/* Create or attach the counts.  Caller holds AddinShmemInitLock. */
FndQuota *
fnd_quota_attach(const char *name, int max_entries)
{
	bool		found;
	FndQuota   *q;

	q = ShmemInitStruct(name, fnd_quota_shmem_size(max_entries), &found);
	if (!found)
	{
		memset(q, 0, fnd_quota_shmem_size(max_entries));
		SpinLockInit(&q->mutex);
		q->mask = fnd_quota_nslots(max_entries) - 1;
	}
	return q;
}

static inline uint32
fnd_quota_home(const FndQuota *q, Oid role)
{
	return murmurhash32((uint32) role) & q->mask;
}

/*
 * The slot of role, or the free slot where it would go; -1 if neither
 * exists (cannot happen while the table is sized as above).  Caller holds
 * the mutex.
 */
static int
fnd_quota_probe(const FndQuota *q, Oid role)
{
	uint32		i = fnd_quota_home(q, role);
	uint32		n;

	for (n = 0; n <= q->mask; n++, i = (i + 1) & q->mask)
	{
		if (q->slots[i].role == role || q->slots[i].role == InvalidOid)
			return (int) i;
	}
	return -1;
}

/*
 * Empty slot i and shift later members of its probe run back, so that
 * every role stays reachable from its home slot without tombstones.
 * Caller holds the mutex.
 */
static void
fnd_quota_delete(FndQuota *q, uint32 i)
{
	uint32		j = i;

	for (;;)
	{
		uint32		home;

		j = (j + 1) & q->mask;
		if (q->slots[j].role == InvalidOid)
			break;
		home = fnd_quota_home(q, q->slots[j].role);
		/* may slot j's role live in slot i?  (is i in [home, j) cyclically) */
		if (((j - home) & q->mask) >= ((j - i) & q->mask))
		{
			q->slots[i] = q->slots[j];
			i = j;
		}
	}
	q->slots[i].role = InvalidOid;
	q->slots[i].used = 0;
}

/* Add one to role's count, even past any limit.  Caller holds the mutex. */
static void
fnd_quota_add(FndQuota *q, Oid role)
{
	int			i = fnd_quota_probe(q, role);

	Assert(i >= 0);
	if (i < 0)
		return;					/* cannot happen: counted leniently */
	q->slots[i].role = role;
	q->slots[i].used++;
}

/* Take one from role's count.  Caller holds the mutex. */
static void
fnd_quota_sub(FndQuota *q, Oid role)
{
	int			i = fnd_quota_probe(q, role);

	if (i < 0 || q->slots[i].role != role)
		return;
	if (--q->slots[i].used <= 0)
		fnd_quota_delete(q, (uint32) i);
}

/*
 * Count one more entry for role, unless it already holds limit (> 0) or
 * more: then count nothing and return false.
 */
bool
fnd_quota_charge(FndQuota *q, Oid role, int limit)
{
	bool		ok = true;

	SpinLockAcquire(&q->mutex);
	if (limit > 0)
	{
		int			i = fnd_quota_probe(q, role);

		ok = !(i >= 0 && q->slots[i].role == role && q->slots[i].used >= limit);
	}
	if (ok)
		fnd_quota_add(q, role);
	SpinLockRelease(&q->mutex);
	return ok;
}

/* One entry of role's is gone. */
void
fnd_quota_release(FndQuota *q, Oid role)
{
	SpinLockAcquire(&q->mutex);
	fnd_quota_sub(q, role);
	SpinLockRelease(&q->mutex);
}

/*
 * An entry passes from one role to another (a lock handed to a waiter):
 * the new role is charged whatever its limit, since it asked while the
 * entry existed already.
 */
void
fnd_quota_move(FndQuota *q, Oid from, Oid to)
{
	if (from == to)
		return;
	SpinLockAcquire(&q->mutex);
	fnd_quota_sub(q, from);
	fnd_quota_add(q, to);
	SpinLockRelease(&q->mutex);
}

/* How many entries role holds now. */
int
fnd_quota_used(FndQuota *q, Oid role)
{
	int			used = 0;
	int			i;

	SpinLockAcquire(&q->mutex);
	i = fnd_quota_probe(q, role);
	if (i >= 0 && q->slots[i].role == role)
		used = q->slots[i].used;
	SpinLockRelease(&q->mutex);
	return used;
}

/*
 * errdetail() for a refused charge, naming the setting.  Reads the catalog
 * for the role's name: call it with no LWLock held.
 */
int
fnd_quota_errdetail(FndQuota *q, Oid role, const char *noun,
					const char *setting, int limit)
{
	char	   *name = GetUserNameFromId(role, true);

	return errdetail("Role \"%s\" holds %d %s; %s is %d.",
					 name ? name : "?", fnd_quota_used(q, role), noun,
					 setting, limit);
}
