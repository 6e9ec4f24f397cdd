/*-------------------------------------------------------------------------
 *
 * hooks.c
 *	  What every session does for the supervisor: tell the launcher about
 *	  CREATE and DROP EXTENSION foundation, and make a database's worker
 *	  step aside for statements that need the database alone.
 *
 * CREATE EXTENSION foundation: when its transaction commits, the launcher
 * is asked to start that database's worker (it would otherwise not look
 * again: it checks a database once).  DROP EXTENSION: at commit the worker
 * is woken, sees the extension gone and exits.
 *
 * DROP DATABASE, ALTER DATABASE ... RENAME and ... SET TABLESPACE, and
 * CREATE DATABASE ... TEMPLATE refuse to run while another process is
 * connected to the database: PostgreSQL asks only autovacuum to leave, and
 * fails after 5 s.  WITH (FORCE) sends SIGTERM to every process there,
 * but refuses when the caller may not signal one of them, which a
 * non-superuser owner may not do to our worker (it runs as the bootstrap
 * superuser).  So, when the database's owner (or a superuser) runs one of
 * them, the database is marked "stepping aside" (the launcher starts no
 * worker there until the statement ends, even if it fails), and its worker
 * is sent SIGTERM and waited for, at most 5 s; it exits at once.  Anyone
 * else's statement fails its own permission check and does not disturb
 * the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/utility.h"
#include "utils/acl.h"

#include "supervisor.h"

/* how long a statement that needs a database alone waits for our worker */
#define FND_ASIDE_WAIT_MS		5000

static ProcessUtility_hook_type fnd_prev_utility_hook = NULL;
static bool fnd_extension_created = false;
static bool fnd_extension_dropped = false;
static bool fnd_xact_callback_registered = false;

/* Wake the worker of this database, so it looks for the extension now. */
static void
fnd_wake_worker(Oid dboid)
{
	bool		assigned;
	int			pid = fnd_database_worker(dboid, &assigned);
	PGPROC	   *proc;

	if (pid != 0 && (proc = BackendPidGetProc(pid)) != NULL)
		SetLatch(&proc->procLatch);
}

/*
 * At commit: a created extension gets its worker now; a dropped one's
 * worker is woken to see it gone (it would notice within a naptime), and
 * its consensus rounds go with it: their decisions belong in the dropped
 * fnd_events, not in the table of a later CREATE EXTENSION.
 */
static void
fnd_hooks_xact_callback(XactEvent event, void *arg)
{
	if (!fnd_extension_created && !fnd_extension_dropped)
		return;
	/* before commit, where an error still aborts cleanly */
	if (event == XACT_EVENT_PRE_COMMIT && fnd_extension_dropped)
		fnd_consensus_forget_database(MyDatabaseId);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		if (fnd_extension_created)
			fnd_launcher_request(MyDatabaseId);
		if (fnd_extension_dropped)
			fnd_wake_worker(MyDatabaseId);
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		fnd_extension_created = false;
		fnd_extension_dropped = false;
	}
}

/* Note a CREATE or DROP of foundation, for the commit callback. */
static void
fnd_note_extension_change(Node *parsetree)
{
	bool		dropped = false;

	if (IsA(parsetree, DropStmt) &&
		((DropStmt *) parsetree)->removeType == OBJECT_EXTENSION)
	{
		ListCell   *lc;

		foreach(lc, ((DropStmt *) parsetree)->objects)
			if (strcmp(strVal(lfirst(lc)), "foundation") == 0)
				dropped = true;
	}
	if (!dropped && !(IsA(parsetree, CreateExtensionStmt) &&
					  strcmp(((CreateExtensionStmt *) parsetree)->extname,
							 "foundation") == 0))
		return;
	if (!fnd_xact_callback_registered)
	{
		RegisterXactCallback(fnd_hooks_xact_callback, NULL);
		fnd_xact_callback_registered = true;
	}
	if (dropped)
		fnd_extension_dropped = true;
	else
		fnd_extension_created = true;
}

/* The name of a DefElem option of a statement, or NULL. */
static char *
fnd_option_string(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, name) == 0 && opt->arg != NULL)
			return defGetString(opt);
	}
	return NULL;
}

/*
 * The database this statement needs to itself (no other session
 * connected), or InvalidOid.  Only for its owner: anyone else's statement
 * fails its permission check anyway and must not disturb the worker.
 */
static Oid
fnd_statement_needs_database(Node *parsetree)
{
	const char *dbname = NULL;
	Oid			dboid;

	if (IsA(parsetree, DropdbStmt))
		dbname = ((DropdbStmt *) parsetree)->dbname;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		dbname = ((RenameStmt *) parsetree)->subname;
	else if (IsA(parsetree, AlterDatabaseStmt) &&
			 fnd_option_string(((AlterDatabaseStmt *) parsetree)->options,
							   "tablespace") != NULL)
		dbname = ((AlterDatabaseStmt *) parsetree)->dbname;
	else if (IsA(parsetree, CreatedbStmt))
		dbname = fnd_option_string(((CreatedbStmt *) parsetree)->options,
								   "template");
	if (dbname == NULL)
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || !pg_database_ownercheck(dboid, GetUserId()))
		return InvalidOid;
	return dboid;
}

/*
 * Make dboid's worker leave, and wait until it has left the ProcArray (or
 * the launcher has freed its slot).  A worker still starting sees the
 * step-aside when it connects and leaves by itself.  At most
 * FND_ASIDE_WAIT_MS; in practice milliseconds.
 */
static void
fnd_make_worker_leave(Oid dboid)
{
	int			signalled = 0;
	int			waited;

	for (waited = 0; waited < FND_ASIDE_WAIT_MS; waited += 10)
	{
		bool		assigned;
		int			pid = fnd_database_worker(dboid, &assigned);

		if (!assigned)
			return;
		/* gone from the ProcArray, though the launcher has not noticed yet */
		if (signalled != 0 && BackendPidGetProc(signalled) == NULL)
			return;
		/* the worker dies on SIGTERM at once, like any backend */
		if (pid != 0 && pid != signalled)
		{
			kill(pid, SIGTERM);
			signalled = pid;
		}
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10 * 1000L);
	}
}

static void
fnd_call_utility(PlannedStmt *pstmt, const char *queryString,
				 bool readOnlyTree, ProcessUtilityContext context,
				 ParamListInfo params, QueryEnvironment *queryEnv,
				 DestReceiver *dest, QueryCompletion *qc)
{
	if (fnd_prev_utility_hook)
		fnd_prev_utility_hook(pstmt, queryString, readOnlyTree, context,
							  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

static void
fnd_process_utility(PlannedStmt *pstmt, const char *queryString,
					bool readOnlyTree, ProcessUtilityContext context,
					ParamListInfo params, QueryEnvironment *queryEnv,
					DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			alone = fnd_statement_needs_database(parsetree);

	if (OidIsValid(alone))
	{
		fnd_aside_begin(alone);
		fnd_make_worker_leave(alone);
		PG_TRY();
		{
			fnd_call_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
		}
		PG_FINALLY();
		{
			fnd_aside_end(alone);
		}
		PG_END_TRY();
		return;
	}

	fnd_call_utility(pstmt, queryString, readOnlyTree, context,
					 params, queryEnv, dest, qc);
	fnd_note_extension_change(parsetree);
}

void
fnd_hooks_install(void)
{
	fnd_prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = fnd_process_utility;
}
