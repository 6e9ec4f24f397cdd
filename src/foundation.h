/*-------------------------------------------------------------------------
 *
 * foundation.h
 *	  Declarations shared by every foundation subsystem: the service
 *	  descriptor, settings, shared-memory helpers, session ownership,
 *	  argument validation and the telemetry API.
 *
 * A subsystem with shared memory, settings or periodic work defines one
 * FndService descriptor in its src/NAME.c; foundation.c lists the
 * descriptors, and everything else (shared-memory sizing and creation,
 * settings, exit cleanup, the supervisor's periodic work, fnd_services())
 * is driven from that list.  Table-only code (config.c) needs none.
 *
 * Versioned entry points.  The SQL of every released version keeps binding
 * the C symbols it named, and a symbol never changes meaning: when a later
 * version changes a function's result shape (columns added to a RETURNS
 * TABLE, say), it binds a new symbol named after that version,
 * fnd_lookup_1_1, and the old fnd_lookup stays.  Both are thin wrappers over
 * one internal function that takes the version and builds the row shape of
 * that version (as pg_stat_statements_1_N wrap pg_stat_statements_internal).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FOUNDATION_H
#define FOUNDATION_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "fmgr.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/dsa.h"
#include "utils/jsonb.h"

#include "errors.h"

/* Names, namespaces, agent ids, topics: at most this many bytes (README). */
#define FND_NAME_MAX		200
/* Room for a name plus its terminating NUL, rounded for alignment. */
#define FND_NAME_BUFSZ		208

/*
 * One service: a subsystem's contract with the core.  Every callback may be
 * NULL.  fnd_service_list (foundation.c) is the order of start-up and of
 * the supervisor's periodic work; phases must not decrease along it (checked
 * at load).  In each round, a service runs only after every service named
 * in depends_on succeeded in that round (or is disabled); otherwise it is
 * skipped and fnd_services() says why.  A dependency must be listed earlier
 * and have the same uses_tables.
 */
typedef struct FndService
{
	const char *name;			/* shown by fnd_services() */
	int			phase;
	const char *depends_on;		/* comma-separated service names, or "" */
	/*
	 * false: cluster-wide shared-memory work, run once by the supervisor's
	 * launcher, which is connected to no database (only shared catalogs
	 * are readable there).  true: run in every database that has the
	 * extension, by that database's worker, on a primary only.
	 */
	bool		uses_tables;

	/* _PG_init: define this subsystem's foundation.* settings */
	void		(*define_settings) (bool preloading);
	/* shmem_request_hook: bytes of shared memory this subsystem needs */
	Size		(*shmem_size) (void);
	/* number of LWLocks this subsystem needs from the "foundation" tranche */
	int			lwlocks;
	/* shmem_startup_hook, AddinShmemInitLock held: create or attach */
	void		(*shmem_startup) (void);
	/*
	 * Supervisor: one pass of periodic work, inside a transaction of its
	 * own.  Return true if more work is pending, so the supervisor calls
	 * again at once (batches stay small).
	 */
	bool		(*periodic) (void);
	/* false when a setting turns the periodic work off */
	bool		(*enabled) (void);
	/*
	 * The calling session is ending (normal exit, FATAL, terminate): release
	 * everything it owns.  Runs from on_shmem_exit, after the transaction is
	 * aborted, with MyProc still valid; must not ereport(ERROR).
	 */
	void		(*session_exit) (void);
} FndService;

/* Descriptors, defined by the subsystems (listed in foundation.c). */
extern const FndService fnd_registry_service;
extern const FndService fnd_breaker_service;
extern const FndService fnd_ratelimit_service;
extern const FndService fnd_events_service;
extern const FndService fnd_events_migration_service;
extern const FndService fnd_telemetry_service;
extern const FndService fnd_lock_service;
extern const FndService fnd_election_service;
extern const FndService fnd_barrier_service;
extern const FndService fnd_consensus_service;
extern const FndService fnd_consensus_record_service;
extern const FndService fnd_agents_service;
extern const FndService fnd_config_history_service;
extern const FndService fnd_metric_history_service;
extern const FndService fnd_alerts_service;

/* foundation.c */
extern const FndService *const fnd_service_list[];
extern const int fnd_service_count;
extern bool fnd_preloaded;
extern char *fnd_database;
extern int	fnd_supervisor_naptime;
extern int	fnd_value_memory_kb;
extern void fnd_warn_if_pooled(const char *what, const char *fmt,...) pg_attribute_printf(2, 3);

/* shmem.c */
#define FND_SERVICE_RUNNING		0	/* its last pass succeeded */
#define FND_SERVICE_DISABLED	1	/* turned off by a setting */
#define FND_SERVICE_FAILED		2	/* its last pass raised an error */
#define FND_SERVICE_SKIPPED		3	/* a dependency did not succeed */
#define FND_SERVICE_WAITING		4	/* nothing runs it here yet (no worker) */

#define FND_STATUS_TEXT			256

/* What fnd_services() shows of one service; guarded by fnd_service_mutex. */
typedef struct FndServiceState
{
	int			state;
	TimestampTz last_run;
	int64		runs;
	char		last_error[FND_STATUS_TEXT];
	char		detail[FND_STATUS_TEXT];
} FndServiceState;

extern FndServiceState *fnd_service_states(void);
extern slock_t *fnd_service_mutex(void);
extern void fnd_shmem_request(void);
extern void fnd_shmem_startup(void);
extern void fnd_require_shmem(void);
extern LWLockPadded *fnd_lwlocks(const FndService *svc);
extern dsa_pointer fnd_value_alloc(Size size);
extern void fnd_value_free(dsa_pointer dp);
extern void *fnd_value_address(dsa_pointer dp);
/* consensus.c: evict a decided, recorded round to free its slot and value
 * memory; false if none can give way */
extern bool fnd_consensus_give_way(void);
/* consensus.c: DROP EXTENSION forgets the database's rounds */
extern void fnd_consensus_forget_database(Oid dbid);

/* supervisor.c, launcher.c: the launcher and one worker per database */
extern void fnd_supervisor_register(void);
extern void fnd_service_set_detail(const char *detail);
extern PGDLLEXPORT void fnd_supervisor_main(Datum arg);
extern PGDLLEXPORT void fnd_worker_main(Datum arg);
extern bool fnd_in_home_database(void);

/* config.c: (path, value) pairs in path order as one nested object */
extern Jsonb *fnd_config_tree(int n, char *const *paths, Jsonb *const *values,
							  int skip, MemoryContext resultcxt);

/* owner.c: a session is (pid, backend start time), never a bare pid */
typedef struct FndSession
{
	int			pid;
	TimestampTz started;
} FndSession;

extern void fnd_session_self(FndSession *s);
extern bool fnd_session_is_me(const FndSession *s);
extern bool fnd_session_is_empty(const FndSession *s);
extern void fnd_session_track(void);
extern bool fnd_role_may_manage(Oid owner_role);

/* names.c: argument validation, all failures are FN003 */
extern text *fnd_arg_text(FunctionCallInfo fcinfo, int argno, const char *what);
extern void fnd_check_name(text *t, const char *what, char *dst);
extern void fnd_copy_name(const char *src, char *dst);
extern int64 fnd_interval_usec(const Interval *iv, const char *what,
							   bool allow_zero);
extern Interval *fnd_usec_interval(int64 usec);
extern TimestampTz fnd_now(void);

/*
 * telemetry.c: the self-instrumentation API.  Cheap, never raises, and a
 * no-op when shared memory is absent or the metric table is full.
 */
extern void fnd_telemetry_count(const char *name, double by);
extern void fnd_telemetry_gauge(const char *name, double value);
extern void fnd_telemetry_observe(const char *name, double value);
/* telemetry_agent.c (1.2): the gauge name{agent_id}, same rules */
extern void fnd_telemetry_agent_gauge(const char *name, const char *agent_id,
									  double value);

#endif							/* FOUNDATION_H */
