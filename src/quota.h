/*-------------------------------------------------------------------------
 *
 * quota.h
 *	  Per-role quotas: how many entries of one kind (registry entries,
 *	  locks, leaderships, ...) each role holds, so that one role cannot
 *	  fill a table that every database shares.
 *
 * One FndQuota counts one kind.  A subsystem that wants a quota:
 *	- defines its setting with fnd_quota_define_setting() (PGC_SUSET, so it
 *	  can also be set per role with ALTER ROLE ... SET; 0 = no limit);
 *	- adds fnd_quota_shmem_size(max) to its shared-memory size and calls
 *	  fnd_quota_attach() from its shmem_startup;
 *	- calls fnd_quota_charge() before it creates an entry for a role (false:
 *	  the role is at its limit; raise the subsystem's *_full code with
 *	  fnd_quota_errdetail()), fnd_quota_release() when the entry goes, and
 *	  fnd_quota_move() when an entry passes to another role.
 * Entries are counted whatever the setting, so lowering it at run time
 * takes effect at once (a role above the new limit keeps what it holds and
 * gets no more).  Tables made with dbtable.h do all of this themselves.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_QUOTA_H
#define FND_QUOTA_H

#include "postgres.h"

typedef struct FndQuota FndQuota;

extern void fnd_quota_define_setting(const char *name, const char *desc,
									 int *limit);
extern Size fnd_quota_shmem_size(int max_entries);
extern FndQuota *fnd_quota_attach(const char *name, int max_entries);

extern bool fnd_quota_charge(FndQuota *q, Oid role, int limit);
extern void fnd_quota_release(FndQuota *q, Oid role);
extern void fnd_quota_move(FndQuota *q, Oid from, Oid to);
extern int	fnd_quota_used(FndQuota *q, Oid role);
extern int	fnd_quota_errdetail(FndQuota *q, Oid role, const char *noun,
								const char *setting, int limit);

#endif							/* FND_QUOTA_H */
