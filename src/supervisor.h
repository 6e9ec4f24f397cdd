/*-------------------------------------------------------------------------
 *
 * supervisor.h
 *	  The supervisor's parts, shared by launcher.c (the launcher process and
 *	  its picture of every database), supervisor.c (running services, the
 *	  per-database worker, fnd_services()) and hooks.c (what sessions tell
 *	  the launcher).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_SUPERVISOR_H
#define FND_SUPERVISOR_H

#include "foundation.h"

#include "nodes/pg_list.h"

/* Where a round of services runs: the launcher or a database's worker. */
#define FND_HERE_LAUNCHER	false
#define FND_HERE_DATABASE	true

/* Why a database's worker ended; written by the worker, read by the launcher. */
#define FND_EXIT_NONE			0	/* never connected, or died before saying */
#define FND_EXIT_NO_EXTENSION	1	/* foundation is not (or no longer) there */
#define FND_EXIT_STEP_ASIDE		2	/* a statement needs the database alone */
#define FND_EXIT_TERMINATED		3	/* SIGTERM: pg_terminate_backend, FORCE */
#define FND_EXIT_ERROR			4	/* an error outside any service */

/* States of a database in the launcher's picture (fnd_database_workers) */
#define FND_DB_UNCHECKED		0
#define FND_DB_STARTING			1
#define FND_DB_RUNNING			2
#define FND_DB_NO_EXTENSION		3
#define FND_DB_WAITING			4
#define FND_DB_RESTARTING		5
#define FND_DB_STEPPING_ASIDE	6
#define FND_DB_STANDBY			7

/*
 * One worker slot: foundation.max_database_workers of them.  The launcher
 * assigns dboid and generation; the worker sets pid once it runs.  Those
 * three are guarded by the launcher lock; exit_reason, last_error and
 * services[] by fnd_service_mutex().
 */
typedef struct FndWorkerSlot
{
	Oid			dboid;			/* InvalidOid: free */
	uint32		generation;		/* tells a stale worker from the current one */
	int			pid;			/* set by the worker once it runs */
	int			exit_reason;	/* FND_EXIT_* */
	char		last_error[FND_STATUS_TEXT];
	FndServiceState services[FLEXIBLE_ARRAY_MEMBER];	/* by service index */
} FndWorkerSlot;

/* What a worker finds in bgw_extra: its assignment. */
typedef struct FndWorkerExtra
{
	Oid			dboid;
	uint32		generation;
} FndWorkerExtra;

/* One database as the launcher publishes it. */
typedef struct FndDbEntry
{
	Oid			dboid;
	NameData	datname;
	int			state;			/* FND_DB_* */
	int			slot;			/* worker slot, or -1 */
	uint32		generation;		/* of that slot's assignment */
	int			pid;
	int			restarts;
	TimestampTz started_at;
	TimestampTz retry_at;
	char		last_error[FND_STATUS_TEXT];
	char		detail[FND_STATUS_TEXT];
} FndDbEntry;

/* launcher.c */
extern int	fnd_max_database_workers;
extern void fnd_launcher_define_settings(void);
extern Size fnd_launcher_shmem_size(void);
extern void fnd_launcher_shmem_startup(void);
extern FndWorkerSlot *fnd_worker_slot_attach(int slotno, Oid dboid,
											 uint32 generation);
extern bool fnd_worker_slot_current(FndWorkerSlot *slot, Oid dboid,
									uint32 generation);
extern void fnd_worker_set_running(FndWorkerSlot *slot);
extern void fnd_worker_detach(FndWorkerSlot *slot, Oid dboid,
							  uint32 generation);
extern void fnd_worker_set_exit(FndWorkerSlot *slot, int reason,
								const char *error);
extern bool fnd_database_stepping_aside(Oid dboid);
extern void fnd_launcher_request(Oid dboid);
extern int	fnd_database_worker(Oid dboid, bool *assigned);
extern void fnd_aside_begin(Oid dboid);
extern void fnd_aside_end(Oid dboid);
extern int	fnd_published_copy(FndDbEntry **out);
extern bool fnd_database_services(Oid dboid, FndServiceState *states,
								  char *why, Size whylen);

/* hooks.c */
extern void fnd_hooks_install(void);

/* supervisor.c */
extern void fnd_services_validate(void);
extern void fnd_scheduler_init(FndServiceState *states, bool tables);
extern void fnd_services_round(MemoryContext loopcxt);
extern void fnd_pin_environment(void);

#endif							/* FND_SUPERVISOR_H */
