/*-------------------------------------------------------------------------
 *
 * supervisor.c
 *	  Running the services: one round of periodic work, in the launcher
 *	  (cluster-wide services, uses_tables = false) or in a database's
 *	  worker (table services, uses_tables = true); the worker process; and
 *	  fnd_services().  The launcher itself is in launcher.c.
 *
 * Order.  fnd_service_list is the order: a round walks it front to back,
 * phases never decrease along it, and a service runs only after every
 * service named in its depends_on succeeded in the same round (or had
 * nothing to do: disabled by its setting, or no periodic work).  When one
 * of them failed or was itself skipped, the service is skipped: state
 * "skipped", the detail names the dependency.  A dependency must come
 * earlier in the list and run in the same kind of process.  The list is
 * checked when the library loads, so a wrong order stops the server from
 * starting instead of running silently out of order.
 *
 * Each pass of a service runs in a transaction of its own: an error is
 * caught, recorded as that service's last_error with state "failed", and
 * the others go on.  A service that reports more pending work is called
 * again at once, up to a bound, so batches stay small.
 *
 * Environment.  Every supervisor process pins search_path to
 * "pg_catalog, pg_temp" right after it connects, at the highest priority
 * (as autovacuum pins its own), so no database or role setting (ALTER
 * DATABASE ... SET search_path) can put someone's functions or operators
 * in front of the built-in ones in anything a service runs as superuser.
 *
 * Notifications.  A database's worker sends NOTIFY fnd_services, in its
 * database, when one of its services changes state (running -> failed,
 * failed -> running, -> skipped, ...), with a JSON payload; a first state
 * after the worker starts is sent only if it is failed or skipped.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/async.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "catalog/pg_authid.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "supervisor.h"

/* How many back-to-back passes one service may take in one round. */
#define FND_MAX_PASSES_PER_ROUND	100
/* Services fit in the bit masks below. */
#define FND_MAX_SERVICES			64
#define FND_NOTIFY_CHANNEL			"fnd_services"

#define FND_BIT(i)	(UINT64CONST(1) << (i))

static const char *const fnd_state_names[] = {
	"running", "disabled", "failed", "skipped", "waiting"
};

/* bit j of fnd_deps[i]: service i depends on service j (set at load) */
static uint64 fnd_deps[FND_MAX_SERVICES];

/* Where this process records states, and which services it runs. */
static FndServiceState *fnd_states = NULL;
static bool fnd_here_tables = false;

/* Index of the service whose periodic work is running, for set_detail. */
static int	fnd_current_service = -1;

/* Worker: the state last notified per service (-1: none yet). */
static int	fnd_notified_state[FND_MAX_SERVICES];
static List *fnd_pending_notifies = NIL;	/* in TopMemoryContext */
static char *fnd_here_dbname = NULL;

/* Worker: its slot and assignment. */
static FndWorkerSlot *fnd_my_slot = NULL;
static Oid	fnd_my_dboid = InvalidOid;
static uint32 fnd_my_generation = 0;
static volatile sig_atomic_t fnd_got_sigterm = false;

/* ---------------------------------------------------------------------
 * The service list, checked at load
 * ---------------------------------------------------------------------
 */

static uint64
fnd_parse_depends(int i)
{
	const FndService *svc = fnd_service_list[i];
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	uint64		mask = 0;

	if (svc->depends_on == NULL || svc->depends_on[0] == '\0')
		return 0;
	raw = pstrdup(svc->depends_on);
	if (!SplitIdentifierString(raw, ',', &names))
		elog(ERROR, "foundation service \"%s\" has an invalid depends_on \"%s\"",
			 svc->name, svc->depends_on);
	foreach(lc, names)
	{
		const char *dep = (const char *) lfirst(lc);
		int			j;

		for (j = 0; j < i; j++)
			if (strcmp(fnd_service_list[j]->name, dep) == 0)
				break;
		if (j == i)
			elog(ERROR, "foundation service \"%s\" depends on \"%s\", which is not listed before it",
				 svc->name, dep);
		if (fnd_service_list[j]->uses_tables != svc->uses_tables)
			elog(ERROR, "foundation service \"%s\" depends on \"%s\", which runs in another process",
				 svc->name, dep);
		mask |= FND_BIT(j);
	}
	list_free(names);
	pfree(raw);
	return mask;
}

/* The order is explicit: phases ascending, dependencies before. */
void
fnd_services_validate(void)
{
	int			i;

	if (fnd_service_count > FND_MAX_SERVICES)
		elog(ERROR, "foundation lists %d services; at most %d are supported",
			 fnd_service_count, FND_MAX_SERVICES);
	for (i = 0; i < fnd_service_count; i++)
	{
		const FndService *svc = fnd_service_list[i];

		if (i > 0 && svc->phase < fnd_service_list[i - 1]->phase)
			elog(ERROR, "foundation service \"%s\" (phase %d) is listed after \"%s\" (phase %d)",
				 svc->name, svc->phase, fnd_service_list[i - 1]->name,
				 fnd_service_list[i - 1]->phase);
		fnd_deps[i] = fnd_parse_depends(i);
	}
}

/* ---------------------------------------------------------------------
 * Recording states
 * ---------------------------------------------------------------------
 */

void
fnd_scheduler_init(FndServiceState *states, bool tables)
{
	slock_t    *mutex = fnd_service_mutex();
	int			i;

	fnd_states = states;
	fnd_here_tables = tables;
	SpinLockAcquire(mutex);
	for (i = 0; i < fnd_service_count; i++)
		if (fnd_service_list[i]->uses_tables == tables)
			states[i].detail[0] = '\0';
	SpinLockRelease(mutex);
	for (i = 0; i < FND_MAX_SERVICES; i++)
		fnd_notified_state[i] = -1;
}

/* Queue a NOTIFY for a change of state (workers only). */
static void
fnd_note_transition(int idx, int state, const char *error, const char *detail)
{
	int			before = fnd_notified_state[idx];
	StringInfoData buf;
	MemoryContext old;

	if (!fnd_here_tables || state == before)
		return;
	fnd_notified_state[idx] = state;
	if (before < 0 && state != FND_SERVICE_FAILED && state != FND_SERVICE_SKIPPED)
		return;

	old = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"database\": ");
	escape_json(&buf, fnd_here_dbname ? fnd_here_dbname : "");
	appendStringInfoString(&buf, ", \"service\": ");
	escape_json(&buf, fnd_service_list[idx]->name);
	appendStringInfoString(&buf, ", \"state\": ");
	escape_json(&buf, fnd_state_names[state]);
	if (before >= 0)
	{
		appendStringInfoString(&buf, ", \"previous\": ");
		escape_json(&buf, fnd_state_names[before]);
	}
	if (error)
	{
		appendStringInfoString(&buf, ", \"error\": ");
		escape_json(&buf, error);
	}
	if (detail)
	{
		appendStringInfoString(&buf, ", \"detail\": ");
		escape_json(&buf, detail);
	}
	appendStringInfoChar(&buf, '}');
	fnd_pending_notifies = lappend(fnd_pending_notifies, buf.data);
	MemoryContextSwitchTo(old);
}

static void
fnd_set_state(int idx, int state, const char *error, const char *detail,
			  bool ran)
{
	FndServiceState *st = &fnd_states[idx];
	slock_t    *mutex = fnd_service_mutex();
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(mutex);
	st->state = state;
	if (ran)
	{
		st->last_run = now;
		st->runs++;
	}
	if (error)
		strlcpy(st->last_error, error, FND_STATUS_TEXT);
	if (detail)
		strlcpy(st->detail, detail, FND_STATUS_TEXT);
	SpinLockRelease(mutex);
	fnd_note_transition(idx, state, error, state == FND_SERVICE_SKIPPED ? detail : NULL);
}

/*
 * Called by a service's periodic work to say what it did or how far it got;
 * shown in the detail column of fnd_services().
 */
void
fnd_service_set_detail(const char *detail)
{
	slock_t    *mutex;

	if (fnd_current_service < 0 || fnd_states == NULL)
		return;
	mutex = fnd_service_mutex();
	SpinLockAcquire(mutex);
	strlcpy(fnd_states[fnd_current_service].detail, detail, FND_STATUS_TEXT);
	SpinLockRelease(mutex);
}

/* Send the queued notifications in a transaction of their own. */
static void
fnd_send_notifications(MemoryContext loopcxt)
{
	ListCell   *lc;

	if (fnd_pending_notifies == NIL)
		return;
	PG_TRY();
	{
		StartTransactionCommand();
		foreach(lc, fnd_pending_notifies)
			Async_Notify(FND_NOTIFY_CHANNEL, (const char *) lfirst(lc));
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(loopcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		ereport(LOG,
				(errmsg("foundation could not notify %s: %s",
						FND_NOTIFY_CHANNEL, edata->message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	list_free_deep(fnd_pending_notifies);
	fnd_pending_notifies = NIL;
}

/* ---------------------------------------------------------------------
 * A round
 * ---------------------------------------------------------------------
 */

/*
 * One pass of one service in its own transaction.  Returns true if the
 * service has more work pending; sets *failed if it raised an error, which
 * is caught and recorded.
 */
static bool
fnd_run_service_once(int idx, MemoryContext loopcxt, bool *failed)
{
	const FndService *svc = fnd_service_list[idx];
	volatile bool more = false;

	fnd_current_service = idx;
	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, svc->name);
		more = svc->periodic();
		PopActiveSnapshot();
		CommitTransactionCommand();
		fnd_set_state(idx, FND_SERVICE_RUNNING, NULL, NULL, true);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(loopcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		fnd_set_state(idx, FND_SERVICE_FAILED, edata->message, NULL, true);
		ereport(LOG,
				(errmsg("foundation service \"%s\" failed: %s",
						svc->name, edata->message)));
		FreeErrorData(edata);
		more = false;
		*failed = true;
	}
	PG_END_TRY();
	fnd_current_service = -1;
	pgstat_report_activity(STATE_IDLE, NULL);
	return more;
}

/* Run a service's passes for this round; true if none failed. */
static bool
fnd_run_service(int idx, MemoryContext loopcxt)
{
	FndServiceState *st = &fnd_states[idx];
	slock_t    *mutex = fnd_service_mutex();
	bool		failed = false;
	int			passes = 0;

	/* a detail saying why it did not run is no longer true */
	SpinLockAcquire(mutex);
	if (st->state == FND_SERVICE_SKIPPED || st->state == FND_SERVICE_WAITING)
		st->detail[0] = '\0';
	SpinLockRelease(mutex);

	while (fnd_run_service_once(idx, loopcxt, &failed) &&
		   ++passes < FND_MAX_PASSES_PER_ROUND)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
			break;
	}
	return !failed;
}

/* A dependency did not succeed in this round: say which, and skip. */
static void
fnd_skip(int idx, uint64 unmet)
{
	char		detail[FND_STATUS_TEXT];
	int			j = 0;

	while (!(unmet & FND_BIT(j)))
		j++;
	snprintf(detail, sizeof(detail),
			 "skipped: \"%s\", which it depends on, did not succeed in this round",
			 fnd_service_list[j]->name);
	fnd_set_state(idx, FND_SERVICE_SKIPPED, NULL, detail, false);
}

/* One round of the services that run in this process, in list order. */
void
fnd_services_round(MemoryContext loopcxt)
{
	uint64		ok = 0;			/* bit i: service i succeeded this round */
	int			i;

	for (i = 0; i < fnd_service_count; i++)
	{
		const FndService *svc = fnd_service_list[i];

		if (svc->uses_tables != fnd_here_tables)
			continue;
		CHECK_FOR_INTERRUPTS();

		if (svc->periodic == NULL)
		{
			fnd_set_state(i, FND_SERVICE_RUNNING, NULL, NULL, true);
			ok |= FND_BIT(i);
		}
		else if (svc->enabled && !svc->enabled())
		{
			fnd_set_state(i, FND_SERVICE_DISABLED, NULL, NULL, true);
			ok |= FND_BIT(i);
		}
		else if ((fnd_deps[i] & ~ok) != 0)
			fnd_skip(i, fnd_deps[i] & ~ok);
		else if (fnd_run_service(i, loopcxt))
			ok |= FND_BIT(i);
		MemoryContextReset(loopcxt);
	}
	fnd_send_notifications(loopcxt);
}

/*
 * Pin what a database or role setting could use to run someone's code in
 * a supervisor process.
 */
void
fnd_pin_environment(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp",
					PGC_SUSET, PGC_S_OVERRIDE);
}

/* ---------------------------------------------------------------------
 * The per-database worker
 * ---------------------------------------------------------------------
 */

static void
fnd_worker_sigterm(SIGNAL_ARGS)
{
	fnd_got_sigterm = true;
	die(postgres_signal_arg);
}

/* Leaving: say why unless already said, and stop advertising our pid. */
static void
fnd_worker_on_exit(int code, Datum arg)
{
	fnd_worker_set_exit(fnd_my_slot,
						fnd_got_sigterm ? FND_EXIT_TERMINATED : FND_EXIT_ERROR,
						NULL);
	fnd_worker_detach(fnd_my_slot, fnd_my_dboid, fnd_my_generation);
}

static void
fnd_worker_exit(int reason)
{
	fnd_worker_set_exit(fnd_my_slot, reason, NULL);
	proc_exit(0);
}

/* Does the extension exist in the database we are connected to? */
static bool
fnd_extension_exists(void)
{
	bool		exists;

	StartTransactionCommand();
	exists = OidIsValid(get_extension_oid("foundation", true));
	CommitTransactionCommand();
	return exists;
}

/* Should this worker go?  Exits if so. */
static void
fnd_worker_check(void)
{
	/* a launcher that restarted has given our slot away */
	if (!fnd_worker_slot_current(fnd_my_slot, fnd_my_dboid, fnd_my_generation))
		proc_exit(0);
	if (fnd_database_stepping_aside(MyDatabaseId))
		fnd_worker_exit(FND_EXIT_STEP_ASIDE);
	if (!fnd_extension_exists())
		fnd_worker_exit(FND_EXIT_NO_EXTENSION);
}

static void
fnd_worker_loop(MemoryContext loopcxt)
{
	for (;;)
	{
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		fnd_worker_check();

		MemoryContextSwitchTo(loopcxt);
		fnd_services_round(loopcxt);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loopcxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 fnd_supervisor_naptime,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* An error outside any service ends the worker: record it first. */
static void
fnd_worker_run(MemoryContext loopcxt)
{
	PG_TRY();
	{
		fnd_worker_loop(loopcxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(loopcxt);
		edata = CopyErrorData();
		fnd_worker_set_exit(fnd_my_slot, FND_EXIT_ERROR, edata->message);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

void
fnd_worker_main(Datum arg)
{
	int			slotno = DatumGetInt32(arg);
	FndWorkerExtra extra;
	MemoryContext loopcxt;

	memcpy(&extra, MyBgworkerEntry->bgw_extra, sizeof(extra));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, fnd_worker_sigterm);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnectionByOid(extra.dboid, InvalidOid, 0);
	fnd_pin_environment();

	fnd_my_slot = fnd_worker_slot_attach(slotno, extra.dboid, extra.generation);
	if (fnd_my_slot == NULL)
		proc_exit(0);			/* the launcher gave the slot to another */
	fnd_my_dboid = extra.dboid;
	fnd_my_generation = extra.generation;
	before_shmem_exit(fnd_worker_on_exit, (Datum) 0);

	fnd_worker_check();
	StartTransactionCommand();
	fnd_here_dbname = MemoryContextStrdup(TopMemoryContext,
										  get_database_name(MyDatabaseId));
	CommitTransactionCommand();
	fnd_scheduler_init(fnd_my_slot->services, FND_HERE_DATABASE);
	fnd_worker_set_running(fnd_my_slot);

	loopcxt = AllocSetContextCreate(TopMemoryContext,
									"foundation worker",
									ALLOCSET_DEFAULT_SIZES);
	fnd_worker_run(loopcxt);
}

/* ---------------------------------------------------------------------
 * fnd_services()
 * ---------------------------------------------------------------------
 */

static void
fnd_service_row(ReturnSetInfo *rsinfo, const char *dbname, int idx,
				const FndServiceState *st, bool hide_error)
{
	const FndService *svc = fnd_service_list[idx];
	Datum		values[9];
	bool		nulls[9];

	memset(nulls, 0, sizeof(nulls));
	nulls[0] = dbname == NULL;
	if (dbname)
		values[0] = CStringGetTextDatum(dbname);
	values[1] = CStringGetTextDatum(svc->name);
	values[2] = Int32GetDatum(svc->phase);
	values[3] = CStringGetTextDatum(svc->depends_on ? svc->depends_on : "");
	values[4] = CStringGetTextDatum(fnd_state_names[st->state]);
	nulls[5] = st->last_run == 0;
	values[5] = TimestampTzGetDatum(st->last_run);
	nulls[6] = st->last_error[0] == '\0' || hide_error;
	if (!nulls[6])
		values[6] = CStringGetTextDatum(st->last_error);
	values[7] = Int64GetDatum(st->runs);
	nulls[8] = st->detail[0] == '\0';
	if (!nulls[8])
		values[8] = CStringGetTextDatum(st->detail);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The states of the table services of dboid: its worker's, or "waiting"
 * with the reason no worker runs there.
 */
static FndServiceState *
fnd_database_states(Oid dboid)
{
	FndServiceState *states = palloc0(sizeof(FndServiceState) * fnd_service_count);
	char		why[FND_STATUS_TEXT];
	int			i;

	if (fnd_database_services(dboid, states, why, sizeof(why)))
		return states;
	for (i = 0; i < fnd_service_count; i++)
	{
		states[i].state = FND_SERVICE_WAITING;
		strlcpy(states[i].detail, why, FND_STATUS_TEXT);
	}
	return states;
}

/* Rows for every database with the extension other than this one. */
static void
fnd_services_elsewhere(ReturnSetInfo *rsinfo)
{
	bool		see_all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);
	FndDbEntry *dbs;
	int			n = fnd_published_copy(&dbs);
	int			d;
	int			i;

	for (d = 0; d < n; d++)
	{
		FndServiceState *states;

		if (dbs[d].dboid == MyDatabaseId || dbs[d].state == FND_DB_NO_EXTENSION)
			continue;
		states = fnd_database_states(dbs[d].dboid);
		for (i = 0; i < fnd_service_count; i++)
			if (fnd_service_list[i]->uses_tables)
				fnd_service_row(rsinfo, NameStr(dbs[d].datname), i, &states[i],
								!see_all);
	}
}

/*
 * fnd_services(all_databases) - one row per service, in list order:
 * cluster-wide services (database NULL, run by the launcher) and this
 * database's table services (run by its worker); with all_databases, the
 * table services of every other database with the extension too.
 */
PG_FUNCTION_INFO_V1(fnd_services);

Datum
fnd_services(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		all_databases = PG_GETARG_BOOL(0);
	FndServiceState *shared;
	FndServiceState *global;
	FndServiceState *here;
	slock_t    *mutex;
	const char *dbname;
	int			i;

	fnd_require_shmem();
	InitMaterializedSRF(fcinfo, 0);

	global = palloc(sizeof(FndServiceState) * fnd_service_count);
	shared = fnd_service_states();
	mutex = fnd_service_mutex();
	SpinLockAcquire(mutex);
	memcpy(global, shared, sizeof(FndServiceState) * fnd_service_count);
	SpinLockRelease(mutex);
	here = fnd_database_states(MyDatabaseId);
	dbname = get_database_name(MyDatabaseId);

	for (i = 0; i < fnd_service_count; i++)
	{
		if (fnd_service_list[i]->uses_tables)
			fnd_service_row(rsinfo, dbname, i, &here[i], false);
		else
			fnd_service_row(rsinfo, NULL, i, &global[i], false);
	}
	if (all_databases)
		fnd_services_elsewhere(rsinfo);
	return (Datum) 0;
}
