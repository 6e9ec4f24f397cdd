/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  Session identity and the cleanup that runs when a session ends.
 *
 * A session is (pid, backend start time): a pid that the kernel reuses
 * never inherits what an earlier session owned.  The first time a session
 * comes to own something in shared memory it calls fnd_session_track(),
 * which registers one on_shmem_exit callback.  That callback asks every
 * service to release what this session owns.  It runs on normal exit,
 * pg_terminate_backend() and FATAL alike, after the transaction has been
 * aborted (so no LWLock is held) and before the PGPROC is released (so
 * LWLocks and condition variables still work).  A hard crash of a backend
 * makes the postmaster reinitialise shared memory, so nothing survives that.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "foundation.h"

static bool fnd_exit_registered = false;

void
fnd_session_self(FndSession *s)
{
	s->pid = MyProcPid;
	s->started = MyStartTimestamp;
}

bool
fnd_session_is_me(const FndSession *s)
{
	return s->pid == MyProcPid && s->started == MyStartTimestamp;
}

bool
fnd_session_is_empty(const FndSession *s)
{
	return s->pid == 0;
}

static void
fnd_session_exit(int code, Datum arg)
{
	int			i;

	for (i = 0; i < fnd_service_count; i++)
	{
		if (fnd_service_list[i]->session_exit)
			fnd_service_list[i]->session_exit();
	}
}

/*
 * Make sure this session's shared-memory belongings are released when it
 * ends.  Cheap after the first call.
 */
void
fnd_session_track(void)
{
	if (fnd_exit_registered)
		return;
	on_shmem_exit(fnd_session_exit, (Datum) 0);
	fnd_exit_registered = true;
}

/*
 * May the current user update or remove an entry created by owner_role?
 * The role itself, any member of it, and superusers may.
 */
bool
fnd_role_may_manage(Oid owner_role)
{
	return has_privs_of_role(GetUserId(), owner_role);
}
