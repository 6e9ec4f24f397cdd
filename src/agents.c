/*-------------------------------------------------------------------------
 *
 * agents.c
 *	  Agents (1.1): registry entries with capabilities and health.  The
 *	  tables, the settings, registration, health reports, and the
 *	  supervisor's pass that announces health transitions.  Lookups are in
 *	  agents_query.c.
 *
 * An agent is a registry entry (registry.c keeps its lifetime, owner and
 * document) plus an entry of the agent table, keyed by (database, agent
 * id) so that an id is unique across the namespaces of a database.  The
 * capability table indexes agents by capability: each capability's entry
 * heads a list threaded through its agents, so a lookup by capability
 * visits only the agents that have it.
 *
 * Locking protocol:
 *	- One LWLock (ours) guards both tables, every agent entry and every
 *	  capability list.  Lookups take it shared; registration, health reports,
 *	  removals and the supervisor's pass take it exclusively.
 *	- The registry's lock may be taken while ours is held, never the other
 *	  way round: liveness is "the registry entry is still the one we
 *	  registered" (fnd_agent_live_locked).
 *	- No catalog access happens under our lock: the ownership check runs
 *	  after releasing it, and the agent is found again afterwards.
 *
 * Health: reported by fnd_update_agent_health, and worsened by silence
 * (foundation.agent_degraded_after / agent_unhealthy_after) at read time.
 * The supervisor compares each agent's health with the one it announced
 * last and sends NOTIFY fnd_agent_health for each change.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/async.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"

bool		fnd_agent_features = true;
int			fnd_agent_degraded_after = 30;
int			fnd_agent_unhealthy_after = 90;
double		fnd_agent_memory_threshold = 0.85;
double		fnd_agent_cpu_threshold = 0.90;

static bool fnd_agent_forget(void *entry);

FndDbTable	fnd_agent_table = {
	.name = "foundation agents",
	.title = "agent table",
	.noun = "agents",
	.service = &fnd_agents_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(FndAgentEntry),
	.errcode = ERRCODE_FND_REGISTRY_FULL,
	.max_name = "foundation.max_agents",
	.max_desc = "Maximum number of agents, across all databases.",
	.max_default = 10000,
	.full_hint = "Unregister agents, or raise foundation.max_agents (needs a restart).",
	.forget = fnd_agent_forget,
};

/* shares the agent table's lock (first_lwlock 0): one lock guards both */
FndDbTable	fnd_cap_table = {
	.name = "foundation agent capabilities",
	.title = "capability index",
	.noun = "capabilities",
	.service = &fnd_agents_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndDbKey),
	.entrysize = sizeof(FndCapEntry),
	.errcode = ERRCODE_FND_REGISTRY_FULL,
	.max_name = "foundation.max_agent_capabilities",
	.max_desc = "Maximum number of distinct capabilities, summed over databases.",
	.max_default = 4096,
	.full_hint = "Use fewer distinct capabilities, or raise foundation.max_agent_capabilities (needs a restart).",
};

PG_FUNCTION_INFO_V1(fnd_register_agent);
PG_FUNCTION_INFO_V1(fnd_update_agent_health);

/* ---------------------------------------------------------------------
 * settings and service callbacks
 * ---------------------------------------------------------------------
 */

static void
fnd_agent_define_settings(bool preloading)
{
	fnd_dbtable_define(&fnd_agent_table, preloading);
	fnd_dbtable_define(&fnd_cap_table, preloading);
	fnd_dbtable_define(&fnd_policy_table, preloading);
	DefineCustomBoolVariable("foundation.agent_features",
							 "Turns the 1.1 agent functions on or off.",
							 "Off: every 1.1 function raises FN002 and health transitions are no longer announced; 1.0 functions are unaffected.",
							 &fnd_agent_features, true, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("foundation.agent_degraded_after",
							"Silence after which an agent reads as degraded.",
							NULL, &fnd_agent_degraded_after, 30, 1, INT_MAX / 1000,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("foundation.agent_unhealthy_after",
							"Silence after which an agent reads as unhealthy.",
							NULL, &fnd_agent_unhealthy_after, 90, 1, INT_MAX / 1000,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomRealVariable("foundation.agent_memory_threshold",
							 "Reported memory use above which fnd_cb_execute_with_agent refuses an agent.",
							 NULL, &fnd_agent_memory_threshold, 0.85, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomRealVariable("foundation.agent_cpu_threshold",
							 "Reported cpu use above which fnd_cb_execute_with_agent refuses an agent.",
							 NULL, &fnd_agent_cpu_threshold, 0.90, 0.0, 1.0,
							 PGC_SUSET, 0, NULL, NULL, NULL);
}

static Size
fnd_agent_shmem_size(void)
{
	return add_size(add_size(fnd_dbtable_shmem_size(&fnd_agent_table),
							 fnd_dbtable_shmem_size(&fnd_cap_table)),
					fnd_dbtable_shmem_size(&fnd_policy_table));
}

static void
fnd_agent_shmem_startup(void)
{
	fnd_dbtable_startup(&fnd_agent_table);
	fnd_dbtable_startup(&fnd_cap_table);
	fnd_dbtable_startup(&fnd_policy_table);
}

/* Sweep of a dropped database: its capability entries go in the same pass. */
static bool
fnd_agent_forget(void *entry)
{
	return true;
}

static bool fnd_agent_periodic(void);

static bool
fnd_agent_enabled(void)
{
	return fnd_agent_features;
}

const FndService fnd_agents_service = {
	.name = "agents",
	.phase = 2,
	.depends_on = "",
	.uses_tables = true,
	.define_settings = fnd_agent_define_settings,
	.shmem_size = fnd_agent_shmem_size,
	.lwlocks = 1,
	.shmem_startup = fnd_agent_shmem_startup,
	.periodic = fnd_agent_periodic,
	.enabled = fnd_agent_enabled,
};

/* ---------------------------------------------------------------------
 * helpers, shared with agents_query.c, breaker_agent.c, ratelimit_agent.c
 * ---------------------------------------------------------------------
 */

static inline LWLock *
fnd_agent_lock(void)
{
	return fnd_dbtable_lock(&fnd_agent_table);
}

/* FN002 when foundation.agent_features is off. */
void
fnd_agent_features_check(void)
{
	if (!fnd_agent_features)
		ereport(ERROR,
				(errcode(ERRCODE_FND_FEATURE_DISABLED),
				 errmsg("agent features are disabled"),
				 errhint("Set foundation.agent_features = on and reload the configuration.")));
}

/* Every 1.1 function starts here: shared memory, then the feature flag. */
void
fnd_agent_require(void)
{
	fnd_require_shmem();
	if (fnd_agent_table.htab == NULL)
		elog(ERROR, "foundation agent shared memory is not initialized");
	fnd_agent_features_check();
}

/*
 * fnd_require_agent_features() RETURNS void (1.2): the flag check of the
 * functions written in SQL, table-backed ones included (no shared memory).
 */
PG_FUNCTION_INFO_V1(fnd_require_agent_features);
Datum
fnd_require_agent_features(PG_FUNCTION_ARGS)
{
	fnd_agent_features_check();
	PG_RETURN_VOID();
}

const char *
fnd_health_name(int health)
{
	switch (health)
	{
		case FND_HEALTH_HEALTHY:
			return "healthy";
		case FND_HEALTH_DEGRADED:
			return "degraded";
		default:
			return "unhealthy";
	}
}

/* The agent's health at now: as reported, or worse after a silence. */
int
fnd_agent_health_at(const FndAgentEntry *e, TimestampTz now)
{
	int64		silent = now - e->last_health_check;
	int			h = e->reported;

	if (silent >= (int64) fnd_agent_unhealthy_after * USECS_PER_SEC)
		h = Max(h, FND_HEALTH_UNHEALTHY);
	else if (silent >= (int64) fnd_agent_degraded_after * USECS_PER_SEC)
		h = Max(h, FND_HEALTH_DEGRADED);
	return h;
}

/*
 * Is e's registry entry still the one it registered?  Caller holds our
 * lock and the registry's (fnd_reg_shared_lock), either mode.
 */
bool
fnd_agent_live_locked(const FndAgentEntry *e, TimestampTz now,
					  FndRegInfo *info, bool with_metadata)
{
	FndRegInfo	local;

	if (info == NULL)
		info = &local;
	return fnd_reg_entry_info_locked(e->key.dbid, e->ns, e->key.name, now,
									 info, with_metadata) &&
		info->registered_at == e->registered_at;
}

void
fnd_agent_key_from_arg(FunctionCallInfo fcinfo, int argno, FndDbKey *key)
{
	fnd_dbkey_from_arg(fcinfo, argno, "agent id", key);
}

void
fnd_agent_not_found(const char *agent_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_FND_AGENT_NOT_FOUND),
			 errmsg("no agent \"%s\"", agent_id),
			 errdetail("No live agent has this id in this database.")));
}

/*
 * Take e out of its capability lists and the table.  Caller holds our lock
 * exclusively.  A list is short to walk: only the agents that have that
 * capability are on it.
 */
static void
fnd_agent_unlink(FndAgentEntry *e)
{
	int			i;

	for (i = 0; i < e->ncaps; i++)
	{
		FndCapEntry *c = e->caps[i];
		FndAgentEntry **pp = &c->head;

		while (*pp != NULL && *pp != e)
		{
			FndAgentEntry *a = *pp;
			int			j;

			for (j = 0; j < a->ncaps && a->caps[j] != c; j++)
				;
			pp = &a->next[j];
		}
		if (*pp == e)
			*pp = e->next[i];
		if (--c->count == 0)
			fnd_dbtable_remove(&fnd_cap_table, c);
	}
	fnd_dbtable_remove(&fnd_agent_table, e);
}

/*
 * The live state of the agent key names, or false.  For the agent-aware
 * breakers and rate limits: one probe under the shared locks.
 */
bool
fnd_agent_state(const FndDbKey *key, FndAgentState *st, bool with_caps)
{
	FndAgentEntry *e;
	FndRegInfo	info;
	TimestampTz now = fnd_now();
	bool		found = false;
	int			i;

	LWLockAcquire(fnd_agent_lock(), LW_SHARED);
	e = fnd_dbtable_find(&fnd_agent_table, key,
						 fnd_dbtable_hash(&fnd_agent_table, key));
	if (e != NULL)
	{
		LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
		found = fnd_agent_live_locked(e, now, &info, false);
		LWLockRelease(fnd_reg_shared_lock());
	}
	if (found)
	{
		st->owner_role = info.owner_role;
		st->health = fnd_agent_health_at(e, now);
		st->memory = e->memory;
		st->cpu = e->cpu;
		st->ncaps = with_caps ? e->ncaps : 0;
		for (i = 0; i < st->ncaps; i++)
			strlcpy(st->caps[i], e->caps[i]->key.name, FND_CAP_MAX + 1);
	}
	LWLockRelease(fnd_agent_lock());
	return found;
}

/* agents.h: for the per-agent config (no catalog access, no error) */
bool
fnd_agent_owner(Oid dbid, const char *agent_id, Oid *owner_role)
{
	FndDbKey	key;
	FndAgentState st;

	if (fnd_agent_table.htab == NULL || strlen(agent_id) > FND_NAME_MAX)
		return false;
	fnd_dbkey_set(&key, dbid, agent_id);
	if (!fnd_agent_state(&key, &st, false))
		return false;
	if (owner_role)
		*owner_role = st.owner_role;
	return true;
}

/* ---------------------------------------------------------------------
 * registration
 * ---------------------------------------------------------------------
 */

/* qsort: capabilities in byte order */
static int
fnd_cap_cmp(const void *a, const void *b)
{
	return strcmp((const char *) a, (const char *) b);
}

/*
 * The capabilities argument, checked (FN003) and sorted into caps; returns
 * how many.
 */
static int
fnd_agent_caps_arg(FunctionCallInfo fcinfo, int argno,
				   char caps[][FND_CAP_MAX + 1])
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (PG_ARGISNULL(argno))
		return 0;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(argno), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	if (n > FND_AGENT_MAX_CAPS)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("too many capabilities"),
				 errdetail("There are %d; an agent may have at most %d.",
						   n, FND_AGENT_MAX_CAPS)));
	for (i = 0; i < n; i++)
	{
		char	   *c = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

		fnd_agent_check_capability(c);
		strlcpy(caps[i], c, FND_CAP_MAX + 1);
	}
	qsort(caps, n, FND_CAP_MAX + 1, fnd_cap_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(caps[i - 1], caps[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("capability \"%s\" is listed twice", caps[i])));
	return n;
}

/* FN003 unless c is a lower-case word of at most FND_CAP_MAX bytes. */
void
fnd_agent_check_capability(const char *c)
{
	fnd_agent_check_word(c, "capability");
}

/* The same rule for other words (operations): what names it. */
void
fnd_agent_check_word(const char *c, const char *what)
{
	const char *p;
	bool		ok = (c != NULL && c[0] >= 'a' && c[0] <= 'z' &&
					  strlen(c) <= FND_CAP_MAX);

	for (p = c; ok && *p; p++)
		ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_';
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("invalid %s \"%s\"", what, c ? c : "(null)"),
				 errdetail("This %s must be a lower-case word: a letter, then letters, digits or underscores, at most %d bytes.",
						   what, FND_CAP_MAX)));
}

/* The user's "type": absent means "agent"; FN003 for anything else. */
static const char *
fnd_agent_type(Jsonb *user)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&user->root, "type", 4, NULL);

	if (v == NULL)
		return "agent";
	if (v->type == jbvString && v->val.string.len == 20 &&
		memcmp(v->val.string.val, "coordination_service", 20) == 0)
		return "coordination_service";
	if (v->type == jbvString && v->val.string.len == 5 &&
		memcmp(v->val.string.val, "agent", 5) == 0)
		return "agent";
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_ARGUMENT),
			 errmsg("invalid agent type in metadata"),
			 errdetail("The key \"type\" of an agent's metadata must be \"agent\" or \"coordination_service\".")));
}

/*
 * The registry document of a new agent: the caller's keys, then the agent
 * keys over them.
 */
static Jsonb *
fnd_agent_document(Jsonb *user, char caps[][FND_CAP_MAX + 1], int ncaps,
				   TimestampTz now)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"type\": ");
	escape_json(&buf, fnd_agent_type(user));
	appendStringInfoString(&buf, ", \"health\": \"healthy\", \"agent_context\": {\"capabilities\": [");
	for (i = 0; i < ncaps; i++)
		appendStringInfo(&buf, "%s\"%s\"", i ? ", " : "", caps[i]);
	appendStringInfoString(&buf, "], \"resource_usage\": {}, \"coordination_state\": {}}, \"last_health_check\": ");
	escape_json(&buf, timestamptz_to_str(now));
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
											  JsonbPGetDatum(user),
											  DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data))));
}

/*
 * Make room for key: FN101 if a live agent has the id, else remove a dead
 * one.  Caller holds our lock exclusively; on error it is released.
 */
static void
fnd_agent_claim_id(const FndDbKey *key, uint32 hash, TimestampTz now)
{
	FndAgentEntry *e = fnd_dbtable_find(&fnd_agent_table, key, hash);
	bool		live;
	char		ns[FND_NAME_BUFSZ];

	if (e == NULL)
		return;
	LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
	live = fnd_agent_live_locked(e, now, NULL, false);
	LWLockRelease(fnd_reg_shared_lock());
	if (!live)
	{
		fnd_agent_unlink(e);
		return;
	}
	memcpy(ns, e->ns, FND_NAME_BUFSZ);
	LWLockRelease(fnd_agent_lock());
	ereport(ERROR,
			(errcode(ERRCODE_FND_ALREADY_REGISTERED),
			 errmsg("agent \"%s\" is already registered", key->name),
			 errdetail("It is registered in namespace \"%s\"; an agent id is unique across the namespaces of a database.",
					   ns)));
}

/*
 * Insert the agent entry and link it into its capabilities' lists,
 * creating their index entries.  Caller holds our lock exclusively; on a
 * full table it undoes what it did and raises (the lock is released by the
 * error).
 */
static FndAgentEntry *
fnd_agent_insert(const FndDbKey *key, uint32 hash, const char *ns,
				 char caps[][FND_CAP_MAX + 1], int ncaps)
{
	FndAgentEntry *e;
	int			i;

	e = fnd_dbtable_insert(&fnd_agent_table, key, hash, GetUserId());
	if (e == NULL)
		fnd_dbtable_raise_full(&fnd_agent_table, GetUserId());
	fnd_copy_name(ns, e->ns);
	e->memory = e->cpu = -1;
	for (i = 0; i < ncaps; i++)
	{
		FndDbKey	ckey;
		uint32		chash;
		FndCapEntry *c;

		fnd_dbkey_set(&ckey, key->dbid, caps[i]);
		chash = fnd_dbtable_hash(&fnd_cap_table, &ckey);
		c = fnd_dbtable_find(&fnd_cap_table, &ckey, chash);
		if (c == NULL &&
			(c = fnd_dbtable_insert(&fnd_cap_table, &ckey, chash, GetUserId())) == NULL)
		{
			fnd_agent_unlink(e);
			fnd_dbtable_raise_full(&fnd_cap_table, GetUserId());
		}
		e->caps[i] = c;
		e->next[i] = c->head;
		c->head = e;
		c->count++;
		e->ncaps = i + 1;
	}
	return e;
}

/* fnd_register(ns, agent_id, document, lease), through its C entry point */
static void
fnd_agent_call_register(FunctionCallInfo fcinfo, Jsonb *doc)
{
	LOCAL_FCINFO(reg, 4);

	InitFunctionCallInfoData(*reg, NULL, 4, InvalidOid, NULL, NULL);
	reg->args[0] = fcinfo->args[0];
	reg->args[1] = fcinfo->args[1];
	reg->args[2].value = JsonbPGetDatum(doc);
	reg->args[2].isnull = false;
	reg->args[3] = fcinfo->args[4];
	fnd_register(reg);
}

/*
 * fnd_register_agent(namespace, agent_id, capabilities text[] DEFAULT '{}',
 *					  metadata jsonb DEFAULT '{}', lease interval DEFAULT NULL)
 *
 * Our lock is held exclusively from the id check until the registry entry
 * exists, so two sessions registering one id in two namespaces cannot both
 * win.  fnd_register does no catalog access.
 */
Datum
fnd_register_agent(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	char		ns[FND_NAME_BUFSZ];
	char		caps[FND_AGENT_MAX_CAPS][FND_CAP_MAX + 1];
	int			ncaps;
	Jsonb	   *doc;
	uint32		hash;
	FndAgentEntry *e;
	FndRegInfo	info;
	TimestampTz now = fnd_now();

	fnd_agent_require();
	fnd_check_name(fnd_arg_text(fcinfo, 0, "namespace"), "namespace", ns);
	fnd_agent_key_from_arg(fcinfo, 1, &key);
	ncaps = fnd_agent_caps_arg(fcinfo, 2, caps);
	if (PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("metadata must not be null"),
				 errhint("Pass '{}' for an empty object.")));
	if (!JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(3)))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("metadata must be a JSON object")));
	doc = fnd_agent_document(PG_GETARG_JSONB_P(3), caps, ncaps, now);

	hash = fnd_dbtable_hash(&fnd_agent_table, &key);
	LWLockAcquire(fnd_agent_lock(), LW_EXCLUSIVE);
	fnd_agent_claim_id(&key, hash, now);
	e = fnd_agent_insert(&key, hash, ns, caps, ncaps);
	PG_TRY();
	{
		fnd_agent_call_register(fcinfo, doc);
	}
	PG_CATCH();
	{
		fnd_agent_unlink(e);
		PG_RE_THROW();
	}
	PG_END_TRY();

	LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
	if (fnd_reg_entry_info_locked(key.dbid, ns, key.name, fnd_now(), &info, false))
		e->registered_at = e->last_health_check = e->doc_at = info.registered_at;
	else
		fnd_agent_unlink(e);	/* unregistered already by another session */
	LWLockRelease(fnd_reg_shared_lock());
	LWLockRelease(fnd_agent_lock());

	fnd_telemetry_count("foundation.agents.registrations", 1);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * health reports
 * ---------------------------------------------------------------------
 */

static int
fnd_health_from_text(text *t)
{
	char	   *h = text_to_cstring(t);

	if (strcmp(h, "healthy") == 0)
		return FND_HEALTH_HEALTHY;
	if (strcmp(h, "degraded") == 0)
		return FND_HEALTH_DEGRADED;
	if (strcmp(h, "unhealthy") == 0)
		return FND_HEALTH_UNHEALTHY;
	ereport(ERROR,
			(errcode(ERRCODE_FND_INVALID_ARGUMENT),
			 errmsg("invalid health \"%s\"", h),
			 errhint("Use \"healthy\", \"degraded\" or \"unhealthy\".")));
}

/* used by agents_query.c too */
int
fnd_health_arg(FunctionCallInfo fcinfo, int argno)
{
	return fnd_health_from_text(fnd_arg_text(fcinfo, argno, "health"));
}

/*
 * The resource_usage argument: an object of non-negative numbers, memory
 * and cpu fractions at most 1 (FN003).  Sets *memory and *cpu (negative
 * when absent).
 */
static void
fnd_agent_check_usage(Jsonb *ru, float4 *memory, float4 *cpu)
{
	JsonbIterator *it;
	JsonbValue	k, v;
	JsonbIteratorToken tok;

	*memory = *cpu = -1;
	if (!JB_ROOT_IS_OBJECT(ru))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("resource_usage must be a JSON object")));
	it = JsonbIteratorInit(&ru->root);
	while ((tok = JsonbIteratorNext(&it, &k, true)) != WJB_DONE)
	{
		double		d;

		if (tok != WJB_KEY)
			continue;
		tok = JsonbIteratorNext(&it, &v, true);
		d = (v.type == jbvNumeric) ?
			DatumGetFloat8(DirectFunctionCall1(numeric_float8,
											   NumericGetDatum(v.val.numeric))) : -1;
		if (v.type != jbvNumeric || d < 0 ||
			(d > 1 && ((k.val.string.len == 6 && memcmp(k.val.string.val, "memory", 6) == 0) ||
					   (k.val.string.len == 3 && memcmp(k.val.string.val, "cpu", 3) == 0))))
			ereport(ERROR,
					(errcode(ERRCODE_FND_INVALID_ARGUMENT),
					 errmsg("invalid resource usage \"%.*s\"",
							k.val.string.len, k.val.string.val),
					 errdetail("Resource usage values are non-negative numbers; memory and cpu are fractions from 0 to 1.")));
		if (k.val.string.len == 6 && memcmp(k.val.string.val, "memory", 6) == 0)
			*memory = (float4) d;
		else if (k.val.string.len == 3 && memcmp(k.val.string.val, "cpu", 3) == 0)
			*cpu = (float4) d;
	}
}

/*
 * Find the live agent key names, owned by a role the current user may act
 * for, and return it with our lock held exclusively.  FN701 if there is
 * none, FN104 (without the lock) if it is someone else's.  Fills *ns and
 * *registered_at.
 */
static FndAgentEntry *
fnd_agent_acquire_managed(const FndDbKey *key, char *ns,
						  TimestampTz *registered_at)
{
	Oid			checked = InvalidOid;

	for (;;)
	{
		FndAgentEntry *e;
		FndRegInfo	info;
		bool		live = false;

		LWLockAcquire(fnd_agent_lock(), LW_EXCLUSIVE);
		e = fnd_dbtable_find(&fnd_agent_table, key,
							 fnd_dbtable_hash(&fnd_agent_table, key));
		if (e != NULL)
		{
			LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
			live = fnd_agent_live_locked(e, fnd_now(), &info, false);
			LWLockRelease(fnd_reg_shared_lock());
		}
		if (!live)
		{
			LWLockRelease(fnd_agent_lock());
			fnd_agent_not_found(key->name);
		}
		memcpy(ns, e->ns, FND_NAME_BUFSZ);
		*registered_at = e->registered_at;
		if (info.owner_role == GetUserId() || info.owner_role == checked)
			return e;
		LWLockRelease(fnd_agent_lock());
		if (!fnd_role_may_manage(info.owner_role))
			ereport(ERROR,
					(errcode(ERRCODE_FND_NOT_OWNER),
					 errmsg("agent \"%s\" belongs to another role", key->name),
					 errdetail("It is owned by role \"%s\".",
							   GetUserNameFromId(info.owner_role, true) ?
							   GetUserNameFromId(info.owner_role, true) : "?"),
					 errhint("Only the owning role, its members and superusers may report an agent's health.")));
		checked = info.owner_role;
	}
}

/*
 * Bring the registry document up to date: health, last_health_check and,
 * when given, resource usage.  The caller holds our lock exclusively, so
 * the document always matches the agent entry.
 */
static void
fnd_agent_refresh_document(const FndDbKey *key, const char *ns,
						   TimestampTz registered_at, int health,
						   TimestampTz at, Jsonb *ru)
{
	FndRegInfo	info;
	bool		found;
	StringInfoData buf;
	Jsonb	   *patch;

	LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
	found = fnd_reg_entry_info_locked(key->dbid, ns, key->name, fnd_now(),
									  &info, true);
	LWLockRelease(fnd_reg_shared_lock());
	if (!found || info.registered_at != registered_at)
		return;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"health\": \"%s\", \"last_health_check\": ",
					 fnd_health_name(health));
	escape_json(&buf, timestamptz_to_str(at));
	appendStringInfoChar(&buf, '}');
	patch = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	if (ru != NULL)
	{
		JsonbValue *ctx = getKeyJsonValueFromContainer(&info.metadata->root,
													   "agent_context", 13, NULL);
		Jsonb	   *c = (ctx && ctx->type == jbvBinary) ? JsonbValueToJsonb(ctx) :
			DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));

		resetStringInfo(&buf);
		appendStringInfoString(&buf, "{\"resource_usage\": ");
		appendStringInfoString(&buf, JsonbToCString(NULL, &ru->root, VARSIZE(ru)));
		appendStringInfoChar(&buf, '}');
		c = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(c),
											   DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data))));
		resetStringInfo(&buf);
		appendStringInfoString(&buf, "{\"agent_context\": ");
		appendStringInfoString(&buf, JsonbToCString(NULL, &c->root, VARSIZE(c)));
		appendStringInfoChar(&buf, '}');
		patch = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat, JsonbPGetDatum(patch),
												   DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data))));
	}
	fnd_reg_entry_set_metadata(key->dbid, ns, key->name, registered_at,
							   DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
																  JsonbPGetDatum(info.metadata),
																  JsonbPGetDatum(patch))));
}

/*
 * fnd_update_agent_health(agent_id, health, resource_usage jsonb DEFAULT
 * NULL) RETURNS void: also the heartbeat.  A change, or the first report
 * in a second, also rewrites the registry document, so that fnd_lookup
 * shows it; other heartbeats touch only the agent entry.
 */
Datum
fnd_update_agent_health(PG_FUNCTION_ARGS)
{
	FndDbKey	key;
	char		ns[FND_NAME_BUFSZ];
	TimestampTz registered_at;
	int			health;
	Jsonb	   *ru = NULL;
	float4		memory = -1,
				cpu = -1;
	FndAgentEntry *e;
	bool		changed;
	TimestampTz now;

	fnd_agent_require();
	fnd_agent_key_from_arg(fcinfo, 0, &key);
	health = fnd_health_arg(fcinfo, 1);
	if (!PG_ARGISNULL(2))
	{
		ru = PG_GETARG_JSONB_P(2);
		fnd_agent_check_usage(ru, &memory, &cpu);
	}

	e = fnd_agent_acquire_managed(&key, ns, &registered_at);
	now = fnd_now();
	/* the document's last_health_check may lag by up to a second */
	changed = (e->reported != health || ru != NULL ||
			   now - e->doc_at >= USECS_PER_SEC);
	e->reported = health;
	e->last_health_check = now;
	if (changed)
		e->doc_at = now;
	if (ru != NULL)
	{
		e->memory = memory;
		e->cpu = cpu;
	}

	/*
	 * The document is rewritten before our lock goes: a lookup (which holds
	 * it shared) sees the entry and the document of the same report, and
	 * two reporters cannot write their documents in the other order.
	 */
	if (changed)
		fnd_agent_refresh_document(&key, ns, registered_at, health, now, ru);
	LWLockRelease(fnd_agent_lock());
	fnd_telemetry_count("foundation.agents.health_reports", 1);
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * the supervisor's pass
 * ---------------------------------------------------------------------
 */

typedef struct FndHealthChange
{
	char		agent_id[FND_NAME_BUFSZ];
	int8		from;
	int8		to;
	bool		silence;
} FndHealthChange;

/*
 * Record, under our lock held exclusively, each health change of this
 * database's live agents since the last pass; count the dead agents of
 * any database.  Returns the changes (palloc'd), *nchanges, *ndead.
 */
static FndHealthChange *
fnd_agent_collect_changes(TimestampTz now, int *nchanges, int *ndead)
{
	HASH_SEQ_STATUS seq;
	FndAgentEntry *e;
	FndHealthChange *ch;
	int			n = 0;
	int			max = Max(fnd_dbtable_count(&fnd_agent_table), 1);

	*ndead = 0;
	ch = palloc(sizeof(FndHealthChange) * max);
	LWLockAcquire(fnd_agent_lock(), LW_EXCLUSIVE);
	LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
	hash_seq_init(&seq, fnd_agent_table.htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		int			h;

		if (!fnd_agent_live_locked(e, now, NULL, false))
		{
			(*ndead)++;
			continue;
		}
		if (e->key.dbid != MyDatabaseId ||
			(h = fnd_agent_health_at(e, now)) == e->announced || n >= max)
			continue;
		strlcpy(ch[n].agent_id, e->key.name, FND_NAME_BUFSZ);
		ch[n].from = e->announced;
		ch[n].to = h;
		ch[n].silence = (h != e->reported);
		e->announced = h;
		n++;
	}
	LWLockRelease(fnd_reg_shared_lock());
	LWLockRelease(fnd_agent_lock());
	*nchanges = n;
	return ch;
}

static bool fnd_agent_gauged = false;	/* supervisor: gauge series exists */

/* Remove the agents whose registry entry is gone, of every database. */
static int
fnd_agent_sweep_dead(TimestampTz now)
{
	HASH_SEQ_STATUS seq;
	FndAgentEntry *e;
	int			removed = 0;

	LWLockAcquire(fnd_agent_lock(), LW_EXCLUSIVE);
	LWLockAcquire(fnd_reg_shared_lock(), LW_SHARED);
	hash_seq_init(&seq, fnd_agent_table.htab);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		if (!fnd_agent_live_locked(e, now, NULL, false))
		{
			fnd_agent_unlink(e);
			removed++;
		}
	}
	LWLockRelease(fnd_reg_shared_lock());
	LWLockRelease(fnd_agent_lock());
	return removed;
}

/*
 * Supervisor: announce health changes (NOTIFY fnd_agent_health, sent when
 * the pass's transaction commits), sweep dead agents and dropped databases.
 */
static bool
fnd_agent_periodic(void)
{
	TimestampTz now = fnd_now();
	FndHealthChange *ch;
	int			n,
				dead,
				removed = 0,
				i;
	char		detail[FND_STATUS_TEXT];

	if (fnd_agent_table.htab == NULL || !fnd_agent_features)
		return false;
	ch = fnd_agent_collect_changes(now, &n, &dead);
	for (i = 0; i < n; i++)
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfoString(&buf, "{\"agent_id\": ");
		escape_json(&buf, ch[i].agent_id);
		appendStringInfo(&buf, ", \"from\": \"%s\", \"to\": \"%s\", \"reason\": \"%s\"}",
						 fnd_health_name(ch[i].from), fnd_health_name(ch[i].to),
						 ch[i].silence ? "silence" : "reported");
		Async_Notify("fnd_agent_health", buf.data);
		/* 1.2: alertable as foundation.agent.healthy{agent_id} */
		fnd_telemetry_agent_gauge("foundation.agent.healthy", ch[i].agent_id,
								  ch[i].to == FND_HEALTH_HEALTHY ? 1.0 :
								  ch[i].to == FND_HEALTH_DEGRADED ? 0.5 : 0.0);
	}
	if (n > 0)
		fnd_telemetry_count("foundation.agents.health_transitions", n);
	if (dead > 0)
		removed = fnd_agent_sweep_dead(now);
	fnd_dbtable_sweep_dropped(&fnd_agent_table);
	fnd_dbtable_sweep_dropped(&fnd_cap_table);
	fnd_dbtable_sweep_dropped(&fnd_policy_table);
	/* no series until agents are used: 1.0 users see no new metric */
	if (fnd_dbtable_count(&fnd_agent_table) > 0 || fnd_agent_gauged)
	{
		fnd_telemetry_gauge("foundation.agents.count",
							(double) fnd_dbtable_count(&fnd_agent_table));
		fnd_agent_gauged = true;
	}
	snprintf(detail, sizeof(detail),
			 "%d of %d agents, %d capabilities; last pass announced %d changes, removed %d dead",
			 fnd_dbtable_count(&fnd_agent_table), fnd_agent_table.max_entries,
			 fnd_dbtable_count(&fnd_cap_table), n, removed);
	fnd_service_set_detail(detail);
	return false;
}
