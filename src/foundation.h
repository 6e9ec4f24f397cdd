/*-------------------------------------------------------------------------
 *
 * foundation.h
 *	  Declarations shared by every foundation subsystem: the service
 *	  descriptor, settings, shared-memory helpers, session ownership,
 *	  argument validation and the telemetry API.
 *
 * A subsystem is one src/NAME.c (with src/NAME.sql for its part of the
 * extension script) that defines one FndService descriptor.  foundation.c
 * lists the descriptors; everything else (shared-memory sizing and creation,
 * settings, exit cleanup, the supervisor's periodic work, fnd_services())
 * is driven from that list.
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

#include "errors.h"

/* Names, namespaces, agent ids, topics: at most this many bytes (SPEC §2). */
#define FND_NAME_MAX		200
/* Room for a name plus its terminating NUL, rounded for alignment. */
#define FND_NAME_BUFSZ		208

/*
 * One service: a subsystem's contract with the core.  Every callback may be
 * NULL.  Phases order start-up and the supervisor's periodic work: lower
 * phases run first, and a service runs after those named in depends_on.
 */
typedef struct FndService
{
	const char *name;			/* shown by fnd_services() */
	int			phase;
	const char *depends_on;		/* comma-separated service names, or "" */
	bool		uses_tables;	/* periodic work needs the extension's tables
								 * in foundation.database and a primary */

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
extern const FndService fnd_telemetry_service;
extern const FndService fnd_lock_service;
extern const FndService fnd_election_service;
extern const FndService fnd_barrier_service;
extern const FndService fnd_consensus_service;
extern const FndService fnd_agents_service;
extern const FndService fnd_config_history_service;

/* foundation.c */
extern const FndService *const fnd_service_list[];
extern const int fnd_service_count;
extern bool fnd_preloaded;
extern char *fnd_database;
extern int	fnd_supervisor_naptime;
extern int	fnd_value_memory_kb;

/* shmem.c */
#define FND_SERVICE_RUNNING		0
#define FND_SERVICE_DISABLED	1
#define FND_SERVICE_FAILED		2

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

/* supervisor.c */
extern void fnd_supervisor_register(void);
extern void fnd_service_set_detail(const char *detail);
extern PGDLLEXPORT void fnd_supervisor_main(Datum arg);

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

#endif							/* FOUNDATION_H */
