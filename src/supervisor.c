/*-------------------------------------------------------------------------
 *
 * supervisor.c
 *	  The supervisor background worker and fnd_services().
 *
 * One worker, registered while preloading, connects to foundation.database
 * and every foundation.supervisor_naptime runs each service's periodic work
 * in the order of fnd_service_list (phase order).  Each pass of each
 * service runs in a transaction of its own: an error in one service is
 * caught, recorded as that service's last_error with state "failed", and
 * the others go on.  A service that reports more pending work is called
 * again at once, up to a bound, so batches stay small.
 *
 * Services that use tables run only when the extension exists in
 * foundation.database and the server is not a hot standby; shared-memory
 * services (lease expiry) run regardless, since their state spans databases.
 *
 * SIGHUP reloads settings; SIGTERM exits (the postmaster restarts the
 * worker after bgw_restart_time, as it does after a crash).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "foundation.h"

/* How many back-to-back passes one service may take in one round. */
#define FND_MAX_PASSES_PER_ROUND	100

/* Index of the service whose periodic work is running, for set_detail. */
static int	fnd_current_service = -1;

void
fnd_supervisor_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* on a hot standby too: shared-memory services work there, table ones wait */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 1;
	strlcpy(worker.bgw_library_name, "foundation", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "fnd_supervisor_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "foundation supervisor", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "foundation supervisor", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

static void
fnd_set_state(int idx, int state, const char *error, bool ran)
{
	FndServiceState *st = &fnd_service_states()[idx];
	slock_t    *mutex = fnd_service_mutex();

	SpinLockAcquire(mutex);
	st->state = state;
	if (ran)
	{
		st->last_run = GetCurrentTimestamp();
		st->runs++;
	}
	if (error)
		strlcpy(st->last_error, error, FND_STATUS_TEXT);
	SpinLockRelease(mutex);
}

/*
 * Called by a service's periodic work to say what it did or how far it got;
 * shown in the detail column of fnd_services().
 */
void
fnd_service_set_detail(const char *detail)
{
	FndServiceState *st;
	slock_t    *mutex;

	if (fnd_current_service < 0)
		return;
	st = &fnd_service_states()[fnd_current_service];
	mutex = fnd_service_mutex();
	SpinLockAcquire(mutex);
	strlcpy(st->detail, detail, FND_STATUS_TEXT);
	SpinLockRelease(mutex);
}

/*
 * One pass of one service in its own transaction.  Returns true if the
 * service has more work pending.  Errors are caught and recorded.
 */
static bool
fnd_run_service_once(int idx, MemoryContext loopcxt)
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
		fnd_set_state(idx, FND_SERVICE_RUNNING, NULL, true);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(loopcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		fnd_set_state(idx, FND_SERVICE_FAILED, edata->message, true);
		ereport(LOG,
				(errmsg("foundation service \"%s\" failed: %s",
						svc->name, edata->message)));
		FreeErrorData(edata);
		more = false;
	}
	PG_END_TRY();
	fnd_current_service = -1;
	pgstat_report_activity(STATE_IDLE, NULL);
	return more;
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

static void
fnd_supervisor_round(MemoryContext loopcxt)
{
	bool		have_tables = false;
	bool		standby = RecoveryInProgress();
	int			i;

	if (!standby)
		have_tables = fnd_extension_exists();

	for (i = 0; i < fnd_service_count; i++)
	{
		const FndService *svc = fnd_service_list[i];
		int			passes = 0;

		CHECK_FOR_INTERRUPTS();

		if (svc->periodic == NULL)
		{
			fnd_set_state(i, FND_SERVICE_RUNNING, NULL, true);
			continue;
		}
		if (svc->enabled && !svc->enabled())
		{
			fnd_set_state(i, FND_SERVICE_DISABLED, NULL, true);
			continue;
		}
		if (svc->uses_tables && !have_tables)
		{
			fnd_current_service = i;
			fnd_service_set_detail(standby ?
								   "skipped: server is a hot standby" :
								   "waiting: extension not created in foundation.database");
			fnd_current_service = -1;
			fnd_set_state(i, FND_SERVICE_RUNNING, NULL, true);
			continue;
		}

		while (fnd_run_service_once(i, loopcxt) &&
			   ++passes < FND_MAX_PASSES_PER_ROUND)
		{
			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
				break;
		}
		MemoryContextReset(loopcxt);
	}
}

void
fnd_supervisor_main(Datum arg)
{
	MemoryContext loopcxt;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(fnd_database, NULL, 0);

	loopcxt = AllocSetContextCreate(TopMemoryContext,
									"foundation supervisor",
									ALLOCSET_DEFAULT_SIZES);

	ereport(LOG,
			(errmsg("foundation supervisor started in database \"%s\"",
					fnd_database)));

	for (;;)
	{
		CHECK_FOR_INTERRUPTS();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextSwitchTo(loopcxt);
		fnd_supervisor_round(loopcxt);
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loopcxt);

		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 fnd_supervisor_naptime,
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/*
 * fnd_services() - one row per service: name, phase, depends_on, state,
 * last_run, last_error, runs, detail.
 */
PG_FUNCTION_INFO_V1(fnd_services);

Datum
fnd_services(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndServiceState *states;
	slock_t    *mutex;
	int			i;

	fnd_require_shmem();
	states = fnd_service_states();
	mutex = fnd_service_mutex();

	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < fnd_service_count; i++)
	{
		const FndService *svc = fnd_service_list[i];
		FndServiceState st;
		Datum		values[8];
		bool		nulls[8];
		static const char *const state_names[] = {"running", "disabled", "failed"};

		SpinLockAcquire(mutex);
		st = states[i];
		SpinLockRelease(mutex);

		memset(nulls, 0, sizeof(nulls));
		values[0] = CStringGetTextDatum(svc->name);
		values[1] = Int32GetDatum(svc->phase);
		values[2] = CStringGetTextDatum(svc->depends_on ? svc->depends_on : "");
		values[3] = CStringGetTextDatum(state_names[st.state]);
		if (st.last_run != 0)
			values[4] = TimestampTzGetDatum(st.last_run);
		else
			nulls[4] = true;
		if (st.last_error[0] != '\0')
			values[5] = CStringGetTextDatum(st.last_error);
		else
			nulls[5] = true;
		values[6] = Int64GetDatum(st.runs);
		if (st.detail[0] != '\0')
			values[7] = CStringGetTextDatum(st.detail);
		else
			nulls[7] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}

	return (Datum) 0;
}
