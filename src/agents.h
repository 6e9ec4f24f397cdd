/*-------------------------------------------------------------------------
 *
 * agents.h
 *	  Agents (1.1): registry entries with enhanced metadata, capabilities
 *	  and health, in shared memory (agents.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_AGENTS_H
#define FND_AGENTS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "storage/lwlock.h"
#include "utils/jsonb.h"

/*
 * True when a live agent with this id exists in database dbid; then
 * *owner_role (if not NULL) is set to the role that owns it (the role of
 * the registering session, or the lease's role).  Takes the registry's
 * lock shared; no catalog access; safe in any backend attached to the
 * extension's shared memory.
 */
extern bool fnd_agent_owner(Oid dbid, const char *agent_id, Oid *owner_role);

/*
 * registry.c, for agents.c: an agent is a registry entry; agents.c keeps its
 * own table (id, capabilities, health) and reads the entry's lifetime and
 * document from the registry.  Lock order: the agents' lock, then the
 * registry's.
 */
typedef struct FndRegInfo
{
	TimestampTz registered_at;	/* with (database, namespace, name): identity */
	Oid			owner_role;
	int			pid;			/* the registering session */
	bool		leased;
	TimestampTz expires_at;		/* leased entries only */
	Jsonb	   *metadata;		/* palloc'd copy, when asked for */
} FndRegInfo;

extern Datum fnd_register(PG_FUNCTION_ARGS);
extern LWLock *fnd_reg_shared_lock(void);
extern bool fnd_reg_entry_info_locked(Oid dbid, const char *ns,
									  const char *name, TimestampTz now,
									  FndRegInfo *info, bool with_metadata);
extern bool fnd_reg_entry_set_metadata(Oid dbid, const char *ns,
									   const char *name,
									   TimestampTz registered_at, Jsonb *md);

/* ---- the rest is for the agents' own files ---- */

#include "dbtable.h"

#define FND_AGENT_MAX_CAPS	32	/* capabilities per agent */
#define FND_CAP_MAX			64	/* bytes of one capability */

#define FND_HEALTH_HEALTHY		0
#define FND_HEALTH_DEGRADED		1
#define FND_HEALTH_UNHEALTHY	2

struct FndAgentEntry;

/* One capability of one database: the head of the list of its agents. */
typedef struct FndCapEntry
{
	FndDbKey	key;			/* hash key: must be first */
	struct FndAgentEntry *head;
	int			count;
} FndCapEntry;

/*
 * One agent, keyed by (database, agent id).  Its registry entry is
 * (database, ns, agent id) registered at registered_at; once that entry is
 * gone (unregistered, session ended, lease ran out) the agent is dead,
 * treated as absent, and removed by the next writer or the supervisor.
 * caps[i] is the i-th capability's index entry, next[i] the following
 * agent in that capability's list: shared memory is at the same address in
 * every backend, and dynahash never moves an entry.
 */
typedef struct FndAgentEntry
{
	FndDbKey	key;			/* hash key: must be first */
	char		ns[FND_NAME_BUFSZ];
	TimestampTz registered_at;
	TimestampTz last_health_check;
	TimestampTz doc_at;			/* last_health_check as the document has it */
	int8		reported;		/* FND_HEALTH_*, as last reported */
	int8		announced;		/* as last announced by the supervisor */
	float4		memory;			/* reported fractions; negative: not given */
	float4		cpu;
	uint8		ncaps;
	FndCapEntry *caps[FND_AGENT_MAX_CAPS];
	struct FndAgentEntry *next[FND_AGENT_MAX_CAPS];
} FndAgentEntry;

/* agents.c */
extern bool fnd_agent_features;
extern int	fnd_agent_degraded_after;
extern int	fnd_agent_unhealthy_after;
extern double fnd_agent_memory_threshold;
extern double fnd_agent_cpu_threshold;
extern FndDbTable fnd_agent_table;
extern FndDbTable fnd_cap_table;
extern FndDbTable fnd_policy_table;	/* breaker_agent.c */
extern void fnd_agent_features_check(void);
extern void fnd_agent_require(void);
extern const char *fnd_health_name(int health);
extern int	fnd_agent_health_at(const FndAgentEntry *e, TimestampTz now);
extern bool fnd_agent_live_locked(const FndAgentEntry *e, TimestampTz now,
								  FndRegInfo *info, bool with_metadata);
extern void fnd_agent_key_from_arg(FunctionCallInfo fcinfo, int argno,
								   FndDbKey *key);
extern int	fnd_health_arg(FunctionCallInfo fcinfo, int argno);
extern void fnd_agent_check_capability(const char *c);
extern void fnd_agent_check_word(const char *c, const char *what);
extern void fnd_agent_not_found(const char *agent_id) pg_attribute_noreturn();

/* The state of one live agent, copied under the locks. */
typedef struct FndAgentState
{
	Oid			owner_role;
	int			health;			/* effective, at the time of the copy */
	float4		memory;
	float4		cpu;
	int			ncaps;
	char		caps[FND_AGENT_MAX_CAPS][FND_CAP_MAX + 1];
} FndAgentState;

extern bool fnd_agent_state(const FndDbKey *key, FndAgentState *st,
							bool with_caps);

#endif							/* FND_AGENTS_H */
