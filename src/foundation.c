/*-------------------------------------------------------------------------
 *
 * foundation.c
 *	  Module entry point: settings, the list of services, and the hooks
 *	  that size and create shared memory and start the supervisor.
 *
 * A new subsystem is one new row in fnd_service_list plus its own file;
 * nothing else here changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "supervisor.h"
#include "events_horizon.h"

PG_MODULE_MAGIC;

/*
 * Every service, in the order the supervisor runs them: phases ascending,
 * each after those it depends on (checked at load, fnd_services_validate).
 * The launcher runs those with uses_tables = false, each database's worker
 * the others.
 */
const FndService *const fnd_service_list[] = {
	&fnd_telemetry_service,
	&fnd_registry_service,
	&fnd_breaker_service,
	&fnd_ratelimit_service,
	&fnd_lock_service,
	&fnd_election_service,
	&fnd_barrier_service,
	&fnd_consensus_service,
	&fnd_events_service,
	&fnd_events_migration_service,
	&fnd_consensus_record_service,
	&fnd_agents_service,
	&fnd_config_history_service,
	&fnd_metric_history_service,
	&fnd_alerts_service,
};
const int	fnd_service_count = lengthof(fnd_service_list);

/* True in the postmaster and its children when loaded via preload. */
bool		fnd_preloaded = false;

/* Settings of the core; subsystems define their own. */
char	   *fnd_database = NULL;
int			fnd_supervisor_naptime = 1000;
int			fnd_value_memory_kb = 16384;

/* foundation.pooler_mode: what, if anything, shares this server session */
#define FND_POOLER_NONE		0
static int	fnd_pooler_mode = FND_POOLER_NONE;
static const struct config_enum_entry fnd_pooler_modes[] = {
	{"none", FND_POOLER_NONE, false},
	{"session", 1, false},
	{"transaction", 2, false},
	{"statement", 3, false},
	{NULL, 0, false}
};

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

void		_PG_init(void);
static void fnd_shmem_request_hook(void);
static void fnd_shmem_startup_hook(void);

void
_PG_init(void)
{
	int			i;

	fnd_preloaded = process_shared_preload_libraries_in_progress;
	fnd_services_validate();

	if (fnd_preloaded)
	{
		DefineCustomStringVariable("foundation.database",
								   "Database whose worker the supervisor starts first and keeps a worker slot for.",
								   "Table services (event retention) run in every database that has the extension, "
								   "each in its own worker; when more databases need one than "
								   "foundation.max_database_workers, this one is never left out.",
								   &fnd_database,
								   "postgres",
								   PGC_POSTMASTER,
								   0,
								   NULL, NULL, NULL);
		fnd_launcher_define_settings();

		DefineCustomIntVariable("foundation.value_memory",
								"Shared memory for variable-length values (metadata, proposals).",
								NULL,
								&fnd_value_memory_kb,
								16384,
								1024,
								INT_MAX / 1024,
								PGC_POSTMASTER,
								GUC_UNIT_KB,
								NULL, NULL, NULL);
	}

	DefineCustomIntVariable("foundation.supervisor_naptime",
							"Time between two passes of the supervisor's periodic work.",
							NULL,
							&fnd_supervisor_naptime,
							1000,
							10,
							3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomEnumVariable("foundation.pooler_mode",
							 "Pool mode of the connection pooler that shares this server session, or none.",
							 "Set it where the pooler connects (pgbouncer's connect_query, or ALTER ROLE ... SET): "
							 "a session-owned registration, lock or leadership then raises a WARNING.",
							 &fnd_pooler_mode,
							 FND_POOLER_NONE,
							 fnd_pooler_modes,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	for (i = 0; i < fnd_service_count; i++)
	{
		if (fnd_service_list[i]->define_settings)
			fnd_service_list[i]->define_settings(fnd_preloaded);
	}

	if (!fnd_preloaded)
		return;

	/*
	 * Only with the preload, as pg_stat_statements does: without it the
	 * PGC_POSTMASTER settings are not defined, so reserving the prefix would
	 * turn their lines in postgresql.conf into a WARNING for every session
	 * that loads the library.
	 */
	MarkGUCPrefixReserved("foundation");

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = fnd_shmem_request_hook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = fnd_shmem_startup_hook;

	fnd_hooks_install();
	fnd_supervisor_register();
}

static void
fnd_shmem_request_hook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	fnd_shmem_request();
	RequestAddinShmemSpace(fnd_horizon_shmem_size());
}

static void
fnd_shmem_startup_hook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	fnd_shmem_startup();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	fnd_horizon_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Warn that something owned by the session (no lease) is being made while
 * foundation.pooler_mode says a pooler shares this server session: it will
 * belong to the server session, outlive the client's connection and pass to
 * whichever client the pooler serves next.  A warning, not an error, as a
 * session-pooled application may mean it; cheap when the setting is none.
 * fmt and its arguments name the object.
 */
void
fnd_warn_if_pooled(const char *what, const char *fmt,...)
{
	StringInfoData name;

	if (fnd_pooler_mode == FND_POOLER_NONE)
		return;

	initStringInfo(&name);
	for (;;)
	{
		va_list		args;
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&name, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&name, needed);
	}
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("session-owned %s \"%s\" belongs to the server session, not to the pooler's client",
					what, name.data),
			 errdetail("foundation.pooler_mode is \"%s\": the pooler hands this server session to other clients, and what it owns outlives your client's connection.",
					   GetConfigOption("foundation.pooler_mode", false, false)),
			 errhint("Pass a lease (for example lease => '30 s') and renew it, or connect without the pooler.")));
	pfree(name.data);
}

/*
 * fnd_error_codes_list() - the rows of the fnd_error_codes view, straight
 * from FND_ERROR_LIST.  Needs no shared memory.
 */
PG_FUNCTION_INFO_V1(fnd_error_codes_list);

typedef struct FndErrorRow
{
	char		code[6];
	const char *since;			/* NULL: reserved, not raised yet */
	const char *name;
	const char *subsystem;
	const char *meaning;
} FndErrorRow;

#define FND_ERROR_ROW(sym, a, b, c, since, nm, sub, mean) \
	{{'F', 'N', a, b, c, '\0'}, since, nm, sub, mean},

static const FndErrorRow fnd_error_rows[] = {
	FND_ERROR_LIST(FND_ERROR_ROW)
};

Datum
fnd_error_codes_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < lengthof(fnd_error_rows); i++)
	{
		const FndErrorRow *r = &fnd_error_rows[i];
		Datum		values[5];
		bool		nulls[5] = {false, false, false, r->since == NULL, false};

		values[0] = CStringGetTextDatum(r->code);
		values[1] = CStringGetTextDatum(r->name);
		values[2] = CStringGetTextDatum(r->subsystem);
		values[3] = r->since ? CStringGetTextDatum(r->since) : (Datum) 0;
		values[4] = CStringGetTextDatum(r->meaning);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc,
							 values, nulls);
	}

	return (Datum) 0;
}
