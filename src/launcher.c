/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The supervisor's launcher: one background worker, connected to no
 *	  database, that runs the cluster-wide services and keeps one worker
 *	  per database where foundation is installed.
 *
 * The launcher registers at preload ("foundation supervisor" in
 * pg_stat_activity, also on a hot standby) and restarts one second after
 * it exits.  Its picture of the databases lives in its own memory; after
 * every step it publishes a copy to shared memory for the
 * fnd_database_workers view, fnd_services() and the hooks below.
 *
 * Which databases have the extension.  The launcher can read only shared
 * catalogs, so it cannot see pg_extension.  It learns it in two ways:
 *	- a database it has not checked yet (every database when it starts or
 *	  after a promotion, a new one when pg_database shows it) gets a worker,
 *	  which looks and exits at once, saying "no extension", if it is absent;
 *	- a CREATE EXTENSION foundation that commits asks the launcher (through
 *	  a small request queue) to check that database again.
 * pg_database is read at most once a second (every naptime if longer).
 * Templates and databases that refuse connections get no worker.
 *
 * Workers.  foundation.max_database_workers slots, each a dynamic
 * background worker ("foundation worker") started with the launcher as its
 * notify process, so the postmaster wakes the launcher when one starts or
 * stops.  A worker that ends other than by saying why (an error, SIGTERM)
 * is started again after 1 s, doubling up to 60 s while it keeps failing.
 * When more databases need a worker than there are slots (or than
 * max_worker_processes allows), the rest wait, say so in the view and in
 * fnd_services(), and the log says so once per database.  The database
 * named by foundation.database gets a worker first, and a slot is kept
 * for it while it is without one.
 *
 * Sessions talk to the launcher through this file's shared memory (see
 * hooks.c): CREATE EXTENSION queues a request to check a database, and a
 * DROP DATABASE (or another statement that needs a database alone) marks
 * the database "stepping aside" so no worker starts there until it ends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "supervisor.h"

/* pg_database is read at most this often */
#define FND_SCAN_MIN_MS			1000
/* restart delays after unexpected exits: 1 s, doubling up to 60 s */
#define FND_BACKOFF_FIRST_MS	1000
#define FND_BACKOFF_MAX_MS		60000
/* a worker that ran this long is healthy again: its next failure waits 1 s */
#define FND_HEALTHY_MS			60000
/* how long a new launcher waits for each worker of its predecessor to go */
#define FND_GONE_WAIT_MS		5000
/* a step-aside a crashed session left behind ends by itself after this */
#define FND_ASIDE_MAX_MS		60000
/* a database not checked yet that waits this long for a worker is logged */
#define FND_WAIT_LOG_MS			10000
#define FND_MAX_REQUESTS		32
#define FND_MAX_ASIDE			16

static const char *const fnd_db_state_names[] = {
	"unchecked", "starting", "running", "no extension", "waiting",
	"restarting", "stepping aside", "standby"
};

/* A statement that needs a database alone, for as long as it runs. */
typedef struct FndAside
{
	Oid			dboid;
	int			pid;			/* the session running the statement */
	TimestampTz until;
} FndAside;

typedef struct FndLauncherShared
{
	LWLock		lock;			/* guards everything below */
	int			tranche;
	Latch	   *launcher_latch; /* NULL while no launcher runs */
	bool		recheck_all;	/* requests were lost: check every database */
	int			nrequests;
	Oid			requests[FND_MAX_REQUESTS]; /* CREATE EXTENSION committed here */
	FndAside	aside[FND_MAX_ASIDE];
	int			ndbs;			/* published entries */
	int			unlisted;		/* databases beyond the published capacity */
	int			capacity;
	Size		slot_size;
	Size		slots_offset;
	Size		dbs_offset;
} FndLauncherShared;

/* The launcher's own record of one database. */
typedef struct FndDbLocal
{
	Oid			dboid;			/* hash key */
	FndDbEntry	pub;
	bool		has_extension;	/* a worker found it, or CREATE EXTENSION said so */
	bool		recheck;		/* CREATE EXTENSION committed while a worker
								 * was looking: look again if it found none */
	bool		seen;			/* in the last read of pg_database */
	bool		verify;			/* start no worker before the next read of
								 * pg_database says it still exists */
	bool		gone;			/* dropped or no longer eligible: forget it */
	int			failures;		/* unexpected exits in a row */
	TimestampTz waiting_since;	/* state waiting, for this reason, since */
	bool		wait_logged;	/* the log has said so */
	BackgroundWorkerHandle *handle;
} FndDbLocal;

int			fnd_max_database_workers = 8;

static FndLauncherShared *fnd_launcher = NULL;

/* launcher-local */
static HTAB *fnd_dbs = NULL;
static Oid *fnd_slot_owner = NULL;
static bool fnd_was_standby = false;
static TimestampTz fnd_last_scan = 0;
static TimestampTz fnd_next_scan = 0;
static bool fnd_unlisted_logged = false;


/* ---------------------------------------------------------------------
 * Settings and shared memory
 * ---------------------------------------------------------------------
 */


void
fnd_launcher_define_settings(void)
{
	DefineCustomIntVariable("foundation.max_database_workers",
							"Most databases that have a foundation worker at once.",
							"Each worker is a background process and counts against max_worker_processes, "
							"as does the launcher.",
							&fnd_max_database_workers,
							8,
							0,
							MAX_BACKENDS,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

static int
fnd_published_capacity(void)
{
	return 64 + 4 * fnd_max_database_workers;
}

static Size
fnd_slot_size(void)
{
	return MAXALIGN(add_size(offsetof(FndWorkerSlot, services),
							 mul_size(sizeof(FndServiceState),
									  fnd_service_count)));
}

Size
fnd_launcher_shmem_size(void)
{
	Size		sz = MAXALIGN(sizeof(FndLauncherShared));

	sz = add_size(sz, mul_size(fnd_slot_size(), fnd_max_database_workers));
	sz = add_size(sz, mul_size(sizeof(FndDbEntry), fnd_published_capacity()));
	return sz;
}

/* Caller holds AddinShmemInitLock. */
void
fnd_launcher_shmem_startup(void)
{
	bool		found;

	fnd_launcher = ShmemInitStruct("foundation launcher",
								   fnd_launcher_shmem_size(), &found);
	if (found)
		return;
	memset(fnd_launcher, 0, fnd_launcher_shmem_size());
	fnd_launcher->tranche = LWLockNewTrancheId();
	LWLockInitialize(&fnd_launcher->lock, fnd_launcher->tranche);
	fnd_launcher->capacity = fnd_published_capacity();
	fnd_launcher->slot_size = fnd_slot_size();
	fnd_launcher->slots_offset = MAXALIGN(sizeof(FndLauncherShared));
	fnd_launcher->dbs_offset = fnd_launcher->slots_offset +
		fnd_launcher->slot_size * fnd_max_database_workers;
}

static LWLock *
fnd_launcher_lock(void)
{
	static bool registered = false;

	fnd_require_shmem();
	if (!registered)
	{
		LWLockRegisterTranche(fnd_launcher->tranche, "foundation_launcher");
		registered = true;
	}
	return &fnd_launcher->lock;
}

static FndWorkerSlot *
fnd_slot(int i)
{
	Assert(i >= 0 && i < fnd_max_database_workers);
	return (FndWorkerSlot *) ((char *) fnd_launcher + fnd_launcher->slots_offset +
							  fnd_launcher->slot_size * i);
}

static FndDbEntry *
fnd_published(int i)
{
	return (FndDbEntry *) ((char *) fnd_launcher + fnd_launcher->dbs_offset) + i;
}

/* ---------------------------------------------------------------------
 * The worker's side of a slot
 * ---------------------------------------------------------------------
 */

/*
 * The slot this worker was started for, or NULL if the launcher has given
 * it to another since (a launcher that restarted resets every slot).
 */
FndWorkerSlot *
fnd_worker_slot_attach(int slotno, Oid dboid, uint32 generation)
{
	FndWorkerSlot *slot = NULL;

	if (slotno < 0 || slotno >= fnd_max_database_workers)
		return NULL;
	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	if (fnd_slot(slotno)->dboid == dboid &&
		fnd_slot(slotno)->generation == generation)
		slot = fnd_slot(slotno);
	LWLockRelease(fnd_launcher_lock());
	return slot;
}

/* Is this worker's slot still its own? */
bool
fnd_worker_slot_current(FndWorkerSlot *slot, Oid dboid, uint32 generation)
{
	bool		mine;

	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	mine = slot->dboid == dboid && slot->generation == generation;
	LWLockRelease(fnd_launcher_lock());
	return mine;
}

/* The worker has found the extension and runs: readers may use its states. */
void
fnd_worker_set_running(FndWorkerSlot *slot)
{
	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	slot->pid = MyProcPid;
	if (fnd_launcher->launcher_latch)
		SetLatch(fnd_launcher->launcher_latch);
	LWLockRelease(fnd_launcher_lock());
}

/*
 * The worker is exiting: it no longer runs, so nobody signals its pid
 * (which the kernel may give to another process).
 */
void
fnd_worker_detach(FndWorkerSlot *slot, Oid dboid, uint32 generation)
{
	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	if (slot->dboid == dboid && slot->generation == generation)
		slot->pid = 0;
	LWLockRelease(fnd_launcher_lock());
}

/* Say why this worker ends; the first reason given counts.  Never errors. */
void
fnd_worker_set_exit(FndWorkerSlot *slot, int reason, const char *error)
{
	slock_t    *mutex = fnd_service_mutex();

	SpinLockAcquire(mutex);
	if (slot->exit_reason == FND_EXIT_NONE)
	{
		slot->exit_reason = reason;
		if (error)
			strlcpy(slot->last_error, error, FND_STATUS_TEXT);
	}
	SpinLockRelease(mutex);
}

/* Is a statement waiting for this database to itself? */
bool
fnd_database_stepping_aside(Oid dboid)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		aside = false;
	int			i;

	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	for (i = 0; i < FND_MAX_ASIDE; i++)
	{
		if (fnd_launcher->aside[i].dboid == dboid &&
			fnd_launcher->aside[i].until > now)
			aside = true;
	}
	LWLockRelease(fnd_launcher_lock());
	return aside;
}

/* ---------------------------------------------------------------------
 * For the sessions' hooks (hooks.c): requests and step-asides
 * ---------------------------------------------------------------------
 */

/* Ask the launcher to check a database again.  Never errors. */
void
fnd_launcher_request(Oid dboid)
{
	int			i;

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	for (i = 0; i < fnd_launcher->nrequests; i++)
		if (fnd_launcher->requests[i] == dboid)
			break;
	if (i == fnd_launcher->nrequests)
	{
		if (i < FND_MAX_REQUESTS)
			fnd_launcher->requests[fnd_launcher->nrequests++] = dboid;
		else
			fnd_launcher->recheck_all = true;
	}
	if (fnd_launcher->launcher_latch)
		SetLatch(fnd_launcher->launcher_latch);
	LWLockRelease(fnd_launcher_lock());
}

/*
 * The pid of the worker running in dboid, or 0 when none runs there yet;
 * *assigned says whether a worker slot is given to dboid at all (a worker
 * may be starting).
 */
int
fnd_database_worker(Oid dboid, bool *assigned)
{
	int			pid = 0;
	int			i;

	*assigned = false;
	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	for (i = 0; i < fnd_max_database_workers; i++)
	{
		if (fnd_slot(i)->dboid != dboid)
			continue;
		*assigned = true;
		if (fnd_slot(i)->pid != 0)
			pid = fnd_slot(i)->pid;
	}
	LWLockRelease(fnd_launcher_lock());
	return pid;
}

/* A statement of this session needs dboid alone: start no worker there. */
void
fnd_aside_begin(Oid dboid)
{
	TimestampTz now = GetCurrentTimestamp();
	int			i;
	int			free_entry = -1;

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	for (i = 0; i < FND_MAX_ASIDE; i++)
		if (fnd_launcher->aside[i].until <= now)
			free_entry = i;
	/* all entries taken by live statements: the worker still leaves */
	if (free_entry >= 0)
	{
		fnd_launcher->aside[free_entry].dboid = dboid;
		fnd_launcher->aside[free_entry].pid = MyProcPid;
		fnd_launcher->aside[free_entry].until =
			TimestampTzPlusMilliseconds(now, FND_ASIDE_MAX_MS);
	}
	LWLockRelease(fnd_launcher_lock());
}

/* The statement is over: the launcher may start dboid's worker again. */
void
fnd_aside_end(Oid dboid)
{
	int			i;

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	for (i = 0; i < FND_MAX_ASIDE; i++)
	{
		if (fnd_launcher->aside[i].dboid == dboid &&
			fnd_launcher->aside[i].pid == MyProcPid)
			memset(&fnd_launcher->aside[i], 0, sizeof(FndAside));
	}
	if (fnd_launcher->launcher_latch)
		SetLatch(fnd_launcher->launcher_latch);
	LWLockRelease(fnd_launcher_lock());
}

/* ---------------------------------------------------------------------
 * The launcher's picture of the databases
 * ---------------------------------------------------------------------
 */

static void
fnd_db_set(FndDbLocal *e, int state, const char *detail)
{
	e->pub.state = state;
	strlcpy(e->pub.detail, detail ? detail : "", FND_STATUS_TEXT);
}

/* Read pg_database: add new databases, mark those no longer eligible. */
static void
fnd_read_pg_database(void)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		standby = RecoveryInProgress();

	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		e->seen = false;

	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database db = (Form_pg_database) GETSTRUCT(tup);
		bool		found;

		if (!db->datallowconn || db->datistemplate ||
			database_is_invalid_form(db))
			continue;
		e = hash_search(fnd_dbs, &db->oid, HASH_ENTER, &found);
		if (!found)
		{
			memset(e, 0, sizeof(FndDbLocal));
			e->dboid = db->oid;
			e->pub.dboid = db->oid;
			e->pub.slot = -1;
			if (standby)
				fnd_db_set(e, FND_DB_STANDBY,
						   "server is a hot standby: table services run after promotion");
			else
				fnd_db_set(e, FND_DB_UNCHECKED, "not checked for the extension yet");
		}
		e->pub.datname = db->datname;
		e->seen = true;
		e->gone = false;
		e->verify = false;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

/* Forget databases that are gone; stop their workers first. */
static void
fnd_forget_unseen(void)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;

	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->seen)
			continue;
		e->gone = true;
		if (e->handle)
			TerminateBackgroundWorker(e->handle);
		else
			hash_search(fnd_dbs, &e->dboid, HASH_REMOVE, NULL);
	}
}

static void
fnd_scan_databases(TimestampTz now)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		fnd_read_pg_database();
		fnd_forget_unseen();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("foundation supervisor could not read pg_database: %s",
						edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	fnd_last_scan = now;
	fnd_next_scan = TimestampTzPlusMilliseconds(now,
												Max(fnd_supervisor_naptime, FND_SCAN_MIN_MS));
}

/* Requests from CREATE EXTENSION: check those databases again. */
static void
fnd_take_requests(void)
{
	Oid			requests[FND_MAX_REQUESTS];
	int			n;
	bool		all;
	int			i;
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	n = fnd_launcher->nrequests;
	memcpy(requests, fnd_launcher->requests, n * sizeof(Oid));
	all = fnd_launcher->recheck_all;
	fnd_launcher->nrequests = 0;
	fnd_launcher->recheck_all = false;
	LWLockRelease(fnd_launcher_lock());

	for (i = 0; i < n; i++)
	{
		bool		found;

		e = hash_search(fnd_dbs, &requests[i], HASH_ENTER, &found);
		if (!found)
		{
			/* a database newer than our last read: read again soon */
			memset(e, 0, sizeof(FndDbLocal));
			e->dboid = requests[i];
			e->pub.dboid = requests[i];
			e->pub.slot = -1;
			e->verify = true;
			fnd_db_set(e, FND_DB_UNCHECKED, "CREATE EXTENSION committed: starting a worker");
			fnd_next_scan = Min(fnd_next_scan,
								TimestampTzPlusMilliseconds(fnd_last_scan, FND_SCAN_MIN_MS));
		}
		e->has_extension = true;
		if (e->handle != NULL && e->pub.state == FND_DB_STARTING)
			e->recheck = true;
		else if (e->pub.state == FND_DB_NO_EXTENSION)
			fnd_db_set(e, FND_DB_UNCHECKED, "CREATE EXTENSION committed: starting a worker");
	}
	if (!all)
		return;
	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->pub.state == FND_DB_NO_EXTENSION)
			fnd_db_set(e, FND_DB_UNCHECKED, "not checked for the extension yet");
}

/*
 * A statement that needed a database alone is over: if it was a DROP
 * DATABASE, the next read of pg_database forgets the database; otherwise
 * its worker starts again.
 */
static void
fnd_end_step_asides(void)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;

	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (e->pub.state != FND_DB_STEPPING_ASIDE || e->handle != NULL ||
			fnd_database_stepping_aside(e->dboid))
			continue;
		e->verify = true;
		fnd_db_set(e, FND_DB_UNCHECKED, "checking that the database still exists");
		fnd_next_scan = Min(fnd_next_scan,
							TimestampTzPlusMilliseconds(fnd_last_scan, FND_SCAN_MIN_MS));
	}
}

/* On a standby no worker runs; after a promotion every database is checked. */
static void
fnd_follow_recovery(bool standby)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;

	if (standby == fnd_was_standby)
		return;
	fnd_was_standby = standby;
	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (standby)
			fnd_db_set(e, FND_DB_STANDBY,
					   "server is a hot standby: table services run after promotion");
		else
			fnd_db_set(e, FND_DB_UNCHECKED, "promoted: checking for the extension");
	}
}

/* ---------------------------------------------------------------------
 * Workers: start, follow, restart
 * ---------------------------------------------------------------------
 */

static int
fnd_backoff_ms(int failures)
{
	int			ms = FND_BACKOFF_FIRST_MS;

	while (--failures > 0 && ms < FND_BACKOFF_MAX_MS)
		ms *= 2;
	return Min(ms, FND_BACKOFF_MAX_MS);
}

/* Free a stopped worker's slot; return why it ended, and its last error. */
static int
fnd_release_slot(FndDbLocal *e, char *error)
{
	FndWorkerSlot *slot = fnd_slot(e->pub.slot);
	slock_t    *mutex = fnd_service_mutex();
	int			reason;

	SpinLockAcquire(mutex);
	reason = slot->exit_reason;
	strlcpy(error, slot->last_error, FND_STATUS_TEXT);
	SpinLockRelease(mutex);

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	slot->dboid = InvalidOid;
	slot->pid = 0;
	LWLockRelease(fnd_launcher_lock());

	fnd_slot_owner[e->pub.slot] = InvalidOid;
	e->pub.slot = -1;
	e->pub.pid = 0;
	pfree(e->handle);
	e->handle = NULL;
	return reason;
}

/* Schedule the restart of a worker that ended unexpectedly. */
static void
fnd_schedule_restart(FndDbLocal *e, TimestampTz now, int reason, char *error)
{
	char		detail[FND_STATUS_TEXT];
	int			delay;

	/* maybe the database went away: read pg_database again first */
	e->verify = true;
	fnd_next_scan = Min(fnd_next_scan,
						TimestampTzPlusMilliseconds(fnd_last_scan, FND_SCAN_MIN_MS));
	if (e->pub.started_at != 0 &&
		TimestampDifferenceExceeds(e->pub.started_at, now, FND_HEALTHY_MS))
		e->failures = 0;
	e->failures++;
	e->pub.restarts++;
	delay = fnd_backoff_ms(e->failures);
	e->pub.retry_at = TimestampTzPlusMilliseconds(now, delay);
	e->pub.started_at = 0;

	if (reason == FND_EXIT_TERMINATED)
		strlcpy(error, "terminated by SIGTERM (pg_terminate_backend or DROP DATABASE ... FORCE)",
				FND_STATUS_TEXT);
	else if (error[0] == '\0')
		strlcpy(error, "exited before it could run", FND_STATUS_TEXT);
	strlcpy(e->pub.last_error, error, FND_STATUS_TEXT);
	snprintf(detail, sizeof(detail), "starting again in %d ms (%d failures in a row)",
			 delay, e->failures);
	fnd_db_set(e, FND_DB_RESTARTING, detail);
	ereport(LOG,
			(errmsg("foundation worker for database \"%s\" ended: %s",
					NameStr(e->pub.datname), error),
			 errdetail("The supervisor starts it again in %d ms.", delay)));
}

static void
fnd_worker_stopped(FndDbLocal *e, TimestampTz now)
{
	char		error[FND_STATUS_TEXT];
	int			reason = fnd_release_slot(e, error);

	if (e->gone)
		hash_search(fnd_dbs, &e->dboid, HASH_REMOVE, NULL);
	else if (reason == FND_EXIT_NO_EXTENSION && e->recheck)
	{
		/* it looked before a CREATE EXTENSION committed: look again */
		e->recheck = false;
		e->pub.started_at = 0;
		fnd_db_set(e, FND_DB_UNCHECKED, "CREATE EXTENSION committed: starting a worker");
	}
	else if (reason == FND_EXIT_NO_EXTENSION)
	{
		e->has_extension = false;
		e->failures = 0;
		e->pub.started_at = 0;
		fnd_db_set(e, FND_DB_NO_EXTENSION, NULL);
	}
	else if (reason == FND_EXIT_STEP_ASIDE ||
			 fnd_database_stepping_aside(e->dboid))
	{
		e->pub.started_at = 0;
		fnd_db_set(e, FND_DB_STEPPING_ASIDE,
				   "a statement needs the database to itself");
	}
	else
		fnd_schedule_restart(e, now, reason, error);
}

/* Has the worker in e's slot connected and found the extension? */
static bool
fnd_slot_running(FndDbLocal *e)
{
	bool		running;

	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	running = fnd_slot(e->pub.slot)->pid != 0;
	LWLockRelease(fnd_launcher_lock());
	return running;
}

static void
fnd_poll_workers(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;

	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		pid_t		pid;
		BgwHandleStatus status;

		if (e->handle == NULL)
			continue;
		status = GetBackgroundWorkerPid(e->handle, &pid);
		if (status == BGWH_POSTMASTER_DIED)
			proc_exit(1);
		if (status == BGWH_STOPPED)
			fnd_worker_stopped(e, now); /* may remove e: allowed in a scan */
		else if (status == BGWH_STARTED && e->pub.state == FND_DB_STARTING &&
				 fnd_slot_running(e))
		{
			e->pub.pid = pid;
			e->pub.started_at = now;
			e->has_extension = true;
			e->recheck = false;
			fnd_db_set(e, FND_DB_RUNNING, NULL);
		}
	}
}

/* Hand slot slotno to e's database: fresh states, a new generation. */
static FndWorkerExtra
fnd_assign_slot(FndDbLocal *e, int slotno)
{
	FndWorkerSlot *slot = fnd_slot(slotno);
	slock_t    *mutex = fnd_service_mutex();
	FndWorkerExtra extra;
	int			i;

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	slot->dboid = e->dboid;
	slot->generation++;
	slot->pid = 0;
	extra.dboid = e->dboid;
	extra.generation = slot->generation;
	LWLockRelease(fnd_launcher_lock());

	SpinLockAcquire(mutex);
	slot->exit_reason = FND_EXIT_NONE;
	slot->last_error[0] = '\0';
	for (i = 0; i < fnd_service_count; i++)
	{
		memset(&slot->services[i], 0, sizeof(FndServiceState));
		slot->services[i].state = FND_SERVICE_WAITING;
		strlcpy(slot->services[i].detail, "waiting: the worker is starting",
				FND_STATUS_TEXT);
	}
	SpinLockRelease(mutex);
	return extra;
}

static bool
fnd_register_worker(FndDbLocal *e, int slotno)
{
	BackgroundWorker worker;
	FndWorkerExtra extra = fnd_assign_slot(e, slotno);
	MemoryContext old;
	bool		ok;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "foundation", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "fnd_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "foundation worker for database %s",
			 NameStr(e->pub.datname));
	strlcpy(worker.bgw_type, "foundation worker", BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(slotno);
	memcpy(worker.bgw_extra, &extra, sizeof(extra));
	worker.bgw_notify_pid = MyProcPid;

	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &e->handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
		fnd_slot(slotno)->dboid = InvalidOid;
		LWLockRelease(fnd_launcher_lock());
		e->handle = NULL;
		return false;
	}
	fnd_slot_owner[slotno] = e->dboid;
	e->pub.slot = slotno;
	e->pub.generation = extra.generation;
	e->pub.pid = 0;
	fnd_db_set(e, FND_DB_STARTING, e->has_extension ?
			   "worker starting" : "worker starting: checking for the extension");
	return true;
}

static bool fnd_is_priority(const FndDbLocal *e);

/* Does e's database need a worker started now? */
static bool
fnd_needs_worker(FndDbLocal *e, TimestampTz now)
{
	if (e->gone || e->handle != NULL || e->verify)
		return false;
	switch (e->pub.state)
	{
		case FND_DB_UNCHECKED:
		case FND_DB_WAITING:
			return true;
		case FND_DB_RESTARTING:
			return now >= e->pub.retry_at;
		default:
			return false;
	}
}

/* foundation.database first, then databases known to have the extension. */
static int
fnd_priority_cmp(const void *a, const void *b)
{
	const FndDbLocal *x = *(FndDbLocal *const *) a;
	const FndDbLocal *y = *(FndDbLocal *const *) b;
	bool		xp = fnd_is_priority(x);
	bool		yp = fnd_is_priority(y);

	if (xp != yp)
		return xp ? -1 : 1;
	if (x->has_extension != y->has_extension)
		return x->has_extension ? -1 : 1;
	if (x->dboid != y->dboid)
		return x->dboid < y->dboid ? -1 : 1;
	return 0;
}

/* A database gets no worker: say so, in the log once per reason. */
static void
fnd_set_waiting(FndDbLocal *e, TimestampTz now, const char *why,
				const char *hint)
{
	char		detail[FND_STATUS_TEXT];

	/* not checked yet: it may well have no extension, say so */
	snprintf(detail, sizeof(detail), "%s%s",
			 e->has_extension ? "" : "not checked for the extension yet: ", why);
	if (e->pub.state != FND_DB_WAITING || strcmp(e->pub.detail, detail) != 0)
	{
		e->waiting_since = now;
		e->wait_logged = false;
	}
	fnd_db_set(e, FND_DB_WAITING, detail);

	/*
	 * Once per wait; for a database not checked yet only when the wait
	 * lasts, not while a crowd of new databases takes turns at the start.
	 */
	if (!e->wait_logged && fnd_max_database_workers > 0 &&
		(e->has_extension ||
		 TimestampDifferenceExceeds(e->waiting_since, now, FND_WAIT_LOG_MS)))
	{
		e->wait_logged = true;
		ereport(LOG,
				(errmsg("foundation database \"%s\" has no worker: %s",
						NameStr(e->pub.datname), detail),
				 errhint("%s", hint)));
	}
}

static bool
fnd_is_priority(const FndDbLocal *e)
{
	return fnd_database != NULL &&
		strcmp(NameStr(e->pub.datname), fnd_database) == 0;
}

/*
 * Is foundation.database without a worker for now (restarting, stepping
 * aside) although it may have the extension?  Then one slot stays free.
 */
static bool
fnd_priority_needs_slot(void)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;
	bool		needs = false;

	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (fnd_is_priority(e) && !e->gone && e->handle == NULL &&
			e->pub.state != FND_DB_NO_EXTENSION)
			needs = true;
	return needs;
}

static void
fnd_start_workers(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;
	FndDbLocal **cand;
	int			ncand = 0;
	int			nfree = 0;
	int			slotno = 0;
	int			i;

	cand = palloc(sizeof(FndDbLocal *) * (hash_get_num_entries(fnd_dbs) + 1));
	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (fnd_needs_worker(e, now))
			cand[ncand++] = e;
	if (ncand > 1)
		qsort(cand, ncand, sizeof(FndDbLocal *), fnd_priority_cmp);
	for (i = 0; i < fnd_max_database_workers; i++)
		if (!OidIsValid(fnd_slot_owner[i]))
			nfree++;
	if (fnd_priority_needs_slot())
		nfree--;

	for (i = 0; i < ncand; i++)
	{
		char		why[FND_STATUS_TEXT];

		e = cand[i];
		while (slotno < fnd_max_database_workers &&
			   OidIsValid(fnd_slot_owner[slotno]))
			slotno++;
		if (slotno >= fnd_max_database_workers ||
			(nfree <= 0 && !fnd_is_priority(e)))
		{
			snprintf(why, sizeof(why),
					 "all %d database workers are in use (foundation.max_database_workers)",
					 fnd_max_database_workers);
			fnd_set_waiting(e, now, why,
							"Raise foundation.max_database_workers, and max_worker_processes with it.");
			continue;
		}
		/* foundation.database takes the slot kept for it */
		if (!fnd_is_priority(e))
			nfree--;
		if (!fnd_register_worker(e, slotno))
			fnd_set_waiting(e, now, "no background worker slot is free (max_worker_processes)",
							"Raise max_worker_processes.");
	}
	pfree(cand);
}

/* With the extension, not checked yet, without: the order of the list. */
static int
fnd_publish_rank(const FndDbLocal *e)
{
	if (e->has_extension)
		return 0;
	return e->pub.state == FND_DB_NO_EXTENSION ? 2 : 1;
}

static int
fnd_publish_cmp(const void *a, const void *b)
{
	const FndDbLocal *x = *(FndDbLocal *const *) a;
	const FndDbLocal *y = *(FndDbLocal *const *) b;

	if (fnd_publish_rank(x) != fnd_publish_rank(y))
		return fnd_publish_rank(x) - fnd_publish_rank(y);
	return strcmp(NameStr(x->pub.datname), NameStr(y->pub.datname));
}

/* Copy the picture to shared memory, as much as fits. */
static void
fnd_publish(void)
{
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;
	FndDbLocal **all;
	int			n = 0;
	int			i;

	all = palloc(sizeof(FndDbLocal *) * (hash_get_num_entries(fnd_dbs) + 1));
	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (!e->gone && NameStr(e->pub.datname)[0] != '\0')
			all[n++] = e;
	if (n > 1)
		qsort(all, n, sizeof(FndDbLocal *), fnd_publish_cmp);

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	for (i = 0; i < n && i < fnd_launcher->capacity; i++)
		*fnd_published(i) = all[i]->pub;
	fnd_launcher->ndbs = i;
	fnd_launcher->unlisted = n - i;
	LWLockRelease(fnd_launcher_lock());
	pfree(all);

	if (n > i && !fnd_unlisted_logged)
		ereport(LOG,
				(errmsg("foundation supervisor lists %d of %d databases in fnd_database_workers",
						i, n),
				 errdetail("Those with the extension come first.")));
	fnd_unlisted_logged = n > i;
}

/* ---------------------------------------------------------------------
 * The launcher process
 * ---------------------------------------------------------------------
 */

void
fnd_supervisor_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* on a hot standby too: shared-memory services work there */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "foundation", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "fnd_supervisor_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "foundation supervisor", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "foundation supervisor", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

static void
fnd_launcher_detach(int code, Datum arg)
{
	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	fnd_launcher->launcher_latch = NULL;
	LWLockRelease(fnd_launcher_lock());
}

/* Wait until pid has left the ProcArray, at most FND_GONE_WAIT_MS. */
static void
fnd_wait_gone(int pid)
{
	int			waited;

	for (waited = 0; waited < FND_GONE_WAIT_MS; waited += 10)
	{
		if (BackendPidGetProc(pid) == NULL)
			return;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(10 * 1000L);
	}
}

/*
 * A launcher that starts while workers of its predecessor still run (it
 * was terminated, not crashed) has no handles for them: stop them and
 * start afresh.  A new generation in every slot turns away workers of the
 * predecessor that have not connected yet.
 */
static void
fnd_launcher_startup(void)
{
	HASHCTL		ctl;
	int			pids[FND_MAX_ASIDE];
	int			npids = 0;
	int			i;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(FndDbLocal);
	fnd_dbs = hash_create("foundation databases", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS);
	fnd_slot_owner = MemoryContextAllocZero(TopMemoryContext,
											sizeof(Oid) * Max(fnd_max_database_workers, 1));

	LWLockAcquire(fnd_launcher_lock(), LW_EXCLUSIVE);
	for (i = 0; i < fnd_max_database_workers; i++)
	{
		FndWorkerSlot *slot = fnd_slot(i);

		if (slot->pid != 0 && npids < FND_MAX_ASIDE)
			pids[npids++] = slot->pid;
		if (slot->pid != 0)
			kill(slot->pid, SIGTERM);
		slot->dboid = InvalidOid;
		slot->pid = 0;
		slot->generation++;
	}
	fnd_launcher->launcher_latch = MyLatch;
	LWLockRelease(fnd_launcher_lock());
	on_shmem_exit(fnd_launcher_detach, (Datum) 0);

	for (i = 0; i < npids; i++)
		fnd_wait_gone(pids[i]);
	fnd_was_standby = RecoveryInProgress();
}

/* One step: requests, pg_database, workers, then publish. */
static void
fnd_launcher_step(TimestampTz now)
{
	bool		standby = RecoveryInProgress();

	fnd_follow_recovery(standby);
	fnd_take_requests();
	fnd_end_step_asides();
	if (now >= fnd_next_scan)
		fnd_scan_databases(now);
	fnd_poll_workers(now);
	if (!standby)
		fnd_start_workers(now);
	fnd_publish();
}

/* Milliseconds until the next thing to do: a round, a scan, a restart. */
static long
fnd_launcher_timeout(TimestampTz next_round)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = Min(next_round, fnd_next_scan);
	HASH_SEQ_STATUS seq;
	FndDbLocal *e;

	hash_seq_init(&seq, fnd_dbs);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->pub.state == FND_DB_RESTARTING && e->handle == NULL)
			next = Min(next, e->pub.retry_at);
	/* at least 10 ms: never spin */
	return Max(TimestampDifferenceMilliseconds(now, next), 10);
}

void
fnd_supervisor_main(Datum arg)
{
	MemoryContext loopcxt;
	TimestampTz next_round = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	/* no database: the launcher reads only shared catalogs */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	fnd_pin_environment();
	fnd_launcher_startup();
	fnd_scheduler_init(fnd_service_states(), FND_HERE_LAUNCHER);

	loopcxt = AllocSetContextCreate(TopMemoryContext,
									"foundation supervisor",
									ALLOCSET_DEFAULT_SIZES);
	if (fnd_max_database_workers > 0)
		ereport(LOG,
				(errmsg("foundation supervisor started"),
				 errdetail("Up to %d database workers (foundation.max_database_workers).",
						   fnd_max_database_workers)));
	else
		ereport(LOG,
				(errmsg("foundation supervisor started without database workers"),
				 errdetail("foundation.max_database_workers is 0: no database runs its table services (event retention, recording consensus decisions).")));

	for (;;)
	{
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		now = GetCurrentTimestamp();
		MemoryContextSwitchTo(loopcxt);
		if (now >= next_round)
		{
			fnd_services_round(loopcxt);
			next_round = TimestampTzPlusMilliseconds(now, fnd_supervisor_naptime);
		}
		fnd_launcher_step(GetCurrentTimestamp());
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loopcxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 fnd_launcher_timeout(next_round),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* ---------------------------------------------------------------------
 * Readers: fnd_services(), fnd_database_workers
 * ---------------------------------------------------------------------
 */

/* Databases the launcher knows but could not publish. */
static int
fnd_unlisted(void)
{
	int			n;

	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	n = fnd_launcher->unlisted;
	LWLockRelease(fnd_launcher_lock());
	return n;
}

/* A palloc'd copy of the published picture; returns the count. */
int
fnd_published_copy(FndDbEntry **out)
{
	int			n;

	LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
	n = fnd_launcher->ndbs;
	*out = palloc(sizeof(FndDbEntry) * Max(n, 1));
	memcpy(*out, fnd_published(0), sizeof(FndDbEntry) * n);
	LWLockRelease(fnd_launcher_lock());
	return n;
}

/*
 * The service states of dboid's worker, copied into states, when one runs
 * there; otherwise false, with why nothing runs in why.
 */
bool
fnd_database_services(Oid dboid, FndServiceState *states, char *why, Size whylen)
{
	FndDbEntry *dbs;
	int			n = fnd_published_copy(&dbs);
	int			i;

	for (i = 0; i < n; i++)
	{
		FndWorkerSlot *slot;
		bool		live;

		if (dbs[i].dboid != dboid)
			continue;
		if (dbs[i].state == FND_DB_STANDBY)
			break;
		if (dbs[i].slot >= 0)
		{
			slot = fnd_slot(dbs[i].slot);
			LWLockAcquire(fnd_launcher_lock(), LW_SHARED);
			live = slot->dboid == dboid && slot->pid != 0 &&
				slot->generation == dbs[i].generation;
			if (live)
			{
				SpinLockAcquire(fnd_service_mutex());
				memcpy(states, slot->services, sizeof(FndServiceState) * fnd_service_count);
				SpinLockRelease(fnd_service_mutex());
			}
			LWLockRelease(fnd_launcher_lock());
			if (live)
				return true;
		}
		snprintf(why, whylen, "no worker: %s",
				 dbs[i].detail[0] ? dbs[i].detail : fnd_db_state_names[dbs[i].state]);
		return false;
	}
	if (RecoveryInProgress())
		strlcpy(why, "skipped: server is a hot standby; table services run after promotion",
				whylen);
	else if (fnd_unlisted() > 0)
		snprintf(why, whylen, "no worker: the supervisor's list of databases is full (%d not listed)",
				 fnd_unlisted());
	else
		strlcpy(why, "no worker: the supervisor has not seen this database yet", whylen);
	return false;
}

/*
 * Is this session in foundation.database?  What the launcher records for
 * no database in particular (its services' metric series) shows there,
 * where the single supervisor of earlier builds ran.  Needs a transaction.
 */
bool
fnd_in_home_database(void)
{
	return fnd_database != NULL && OidIsValid(MyDatabaseId) &&
		get_database_oid(fnd_database, true) == MyDatabaseId;
}

/* More databases than the list holds: one last row says how many. */
static void
fnd_unlisted_row(ReturnSetInfo *rsinfo)
{
	Datum		values[7];
	bool		nulls[7] = {true, true, false, true, true, true, false};
	int			n = fnd_unlisted();

	if (n == 0)
		return;
	values[2] = CStringGetTextDatum("unlisted");
	values[4] = Int32GetDatum(0);
	nulls[4] = false;
	values[6] = CStringGetTextDatum(psprintf("%d more databases are not listed (the list holds %d; those with the extension come first)",
											 n, fnd_published_capacity()));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * fnd_database_workers_list() - the launcher's picture: one row per
 * database it knows, those with the extension first.  Another database's
 * last error is shown to roles with pg_read_all_stats only, as
 * pg_stat_activity does for queries.
 */
PG_FUNCTION_INFO_V1(fnd_database_workers_list);

Datum
fnd_database_workers_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndDbEntry *dbs;
	bool		see_all;
	int			n;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);
	see_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	n = fnd_published_copy(&dbs);

	for (i = 0; i < n; i++)
	{
		FndDbEntry *d = &dbs[i];
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		values[0] = NameGetDatum(&d->datname);
		values[1] = Int32GetDatum(d->pid);
		nulls[1] = d->pid == 0;
		values[2] = CStringGetTextDatum(fnd_db_state_names[d->state]);
		values[3] = TimestampTzGetDatum(d->started_at);
		nulls[3] = d->started_at == 0;
		values[4] = Int32GetDatum(d->restarts);
		nulls[5] = d->last_error[0] == '\0' ||
			(!see_all && d->dboid != MyDatabaseId);
		if (!nulls[5])
			values[5] = CStringGetTextDatum(d->last_error);
		nulls[6] = d->detail[0] == '\0';
		if (!nulls[6])
			values[6] = CStringGetTextDatum(d->detail);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	fnd_unlisted_row(rsinfo);
	return (Datum) 0;
}
