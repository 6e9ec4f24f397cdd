/*-------------------------------------------------------------------------
 *
 * breaker_agent.c
 *	  Agent-aware circuit breakers (1.1): a circuit per (breaker, agent),
 *	  capability policies, refusals for unhealthy or overloaded agents.
 *
 * An agent's circuit is a breaker entry (breaker.c) of a table of its own
 * (so it never takes a 1.0 breaker's place), named "breaker NUL agent id".
 * The supervisor removes the circuits whose breaker or agent is gone.  Its settings are
 * computed on every call and travel with it (fnd_breaker_ask_with): the
 * breaker's own, or the strictest (lowest tolerance) capability policy
 * among the agent's capabilities, with the tolerance halved (rounded down)
 * while the agent reads as degraded.
 *
 * Capability policies live in a table of the agents' service (agents.c),
 * guarded by the agents' lock, keyed by (database, "breaker NUL
 * capability").  When no policy exists at all, a call skips the lookup.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "foundation.h"
#include "agents.h"
#include "breaker.h"

typedef struct FndPolicyKey
{
	FND_DBKEY_FIELDS(FND_NAME_BUFSZ + FND_CAP_MAX + 8);
} FndPolicyKey;

typedef struct FndPolicyEntry
{
	FndPolicyKey key;			/* hash key: must be first */
	int			tolerance;
	int64		window_us;		/* 0: the breaker's */
	int64		reset_us;		/* 0: the breaker's */
} FndPolicyEntry;

FndDbTable	fnd_policy_table = {
	.name = "foundation breaker capability policies",
	.title = "capability policy table",
	.noun = "capability policies",
	.service = &fnd_agents_service,
	.first_lwlock = 0,
	.partitions = 1,
	.keysize = sizeof(FndPolicyKey),
	.entrysize = sizeof(FndPolicyEntry),
	.errcode = ERRCODE_FND_BREAKERS_FULL,
	.max_name = "foundation.max_capability_policies",
	.max_desc = "Maximum number of breaker capability policies, across all databases.",
	.max_default = 1000,
	.full_hint = "Raise foundation.max_capability_policies (needs a restart).",
};

PG_FUNCTION_INFO_V1(fnd_cb_set_capability_policy);
PG_FUNCTION_INFO_V1(fnd_cb_execute_with_agent);
PG_FUNCTION_INFO_V1(fnd_cb_get_agent_status);
PG_FUNCTION_INFO_V1(fnd_cb_reset_agent);
PG_FUNCTION_INFO_V1(fnd_cb_agent_circuits);

#define CB_MAX_TOLERANCE	100

static void
fnd_policy_key(FndPolicyKey *k, const char *breaker, const char *cap)
{
	int			blen = strlen(breaker);

	memset(k, 0, sizeof(*k));
	k->dbid = MyDatabaseId;
	memcpy(k->name, breaker, blen);
	strlcpy(k->name + blen + 1, cap, FND_CAP_MAX + 1);
	k->len = blen + 1 + strlen(cap);
}

/* The breaker (argument 0), which must exist: its settings in *s. */
static void
fnd_cb_agent_breaker(FunctionCallInfo fcinfo, FndDbKey *key, BreakerSnap *s)
{
	fnd_breaker_key_from_arg(fcinfo, key);
	if (!fnd_breaker_settings(key, s))
		ereport(ERROR,
				(errcode(ERRCODE_FND_BREAKER_NOT_FOUND),
				 errmsg("circuit breaker \"%s\" does not exist", key->name),
				 errhint("Create it with fnd_cb_install().")));
}

/* The live agent of argument argno, with its capabilities (FN701). */
static void
fnd_cb_agent_arg(FunctionCallInfo fcinfo, int argno, FndDbKey *agent,
				 FndAgentState *st)
{
	/* the capabilities matter only when some policy exists */
	bool		with_caps = fnd_dbtable_count(&fnd_policy_table) > 0;

	fnd_agent_key_from_arg(fcinfo, argno, agent);
	if (!fnd_agent_state(agent, st, with_caps))
		fnd_agent_not_found(agent->name);
}

/* The circuit of (breaker, agent): "breaker NUL agent id". */
static void
fnd_cb_circuit_key(const FndDbKey *breaker, const FndDbKey *agent,
				   FndDbKey *circuit)
{
	if (breaker->len + 1 + agent->len > FND_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("breaker name and agent id are too long for an agent circuit"),
				 errdetail("Together they may have at most %d bytes.", FND_NAME_MAX - 1)));
	memset(circuit, 0, sizeof(*circuit));
	circuit->dbid = MyDatabaseId;
	memcpy(circuit->name, breaker->name, breaker->len);
	memcpy(circuit->name + breaker->len + 1, agent->name, agent->len);
	circuit->len = breaker->len + 1 + agent->len;
}

/*
 * The settings of the agent's circuit: the breaker's, or the strictest
 * policy of the agent's capabilities; halved tolerance when degraded.
 */
static void
fnd_cb_agent_settings(const FndDbKey *breaker, const FndAgentState *st,
					  BreakerSnap *s)
{
	int			i;

	if (fnd_dbtable_count(&fnd_policy_table) > 0 && st->ncaps > 0)
	{
		const FndPolicyEntry *best = NULL;
		FndPolicyEntry chosen;

		LWLockAcquire(fnd_dbtable_lock(&fnd_policy_table), LW_SHARED);
		for (i = 0; i < st->ncaps; i++)
		{
			FndPolicyKey k;
			FndPolicyEntry *p;

			fnd_policy_key(&k, breaker->name, st->caps[i]);
			p = fnd_dbtable_find(&fnd_policy_table, &k,
								 fnd_dbtable_hash(&fnd_policy_table, &k));
			if (p != NULL && (best == NULL || p->tolerance < best->tolerance))
				best = p;
		}
		if (best != NULL)
			chosen = *best;
		LWLockRelease(fnd_dbtable_lock(&fnd_policy_table));
		if (best != NULL)
		{
			s->tolerance = chosen.tolerance;
			if (chosen.window_us > 0)
				s->window_us = chosen.window_us;
			if (chosen.reset_us > 0)
				s->reset_us = chosen.reset_us;
		}
	}
	if (st->health == FND_HEALTH_DEGRADED)
		s->tolerance /= 2;
}

/* Why the agent would be refused before its query runs, or NULL. */
static const char *
fnd_cb_agent_refusal(const FndAgentState *st)
{
	if (st->health == FND_HEALTH_UNHEALTHY)
		return "agent_unhealthy";
	if (st->memory > fnd_agent_memory_threshold ||
		st->cpu > fnd_agent_cpu_threshold)
		return "resource_pressure";
	return NULL;
}

static void
fnd_cb_refuse_agent(const char *breaker, const char *agent,
					const FndAgentState *st, const char *reason)
{
	fnd_telemetry_count("foundation.breaker.agent_refusals", 1);
	if (strcmp(reason, "agent_unhealthy") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_AGENT_UNHEALTHY),
				 errmsg("agent \"%s\" is unhealthy", agent),
				 errdetail("Reason: agent_unhealthy. Circuit breaker \"%s\" refuses calls for an unhealthy agent.",
						   breaker)));
	ereport(ERROR,
			(errcode(ERRCODE_FND_AGENT_UNHEALTHY),
			 errmsg("agent \"%s\" is under resource pressure", agent),
			 errdetail("Reason: resource_pressure. It reported memory %.2f (threshold %.2f) and cpu %.2f (threshold %.2f).",
					   st->memory, fnd_agent_memory_threshold,
					   st->cpu, fnd_agent_cpu_threshold)));
}

/*
 * fnd_cb_execute_with_agent(name, agent_id, query) -> jsonb: fnd_cb_execute
 * through the agent's own circuit of the breaker.
 */
Datum
fnd_cb_execute_with_agent(PG_FUNCTION_ARGS)
{
	FndDbKey	breaker;
	FndDbKey	agent;
	FndDbKey	circuit;
	BreakerSnap s;
	FndAgentState st;
	const char *reason;
	char	   *query;
	TimestampTz retry_at;
	bool		trial;

	fnd_agent_require();
	fnd_cb_agent_breaker(fcinfo, &breaker, &s);
	fnd_cb_agent_arg(fcinfo, 1, &agent, &st);
	query = text_to_cstring(fnd_arg_text(fcinfo, 2, "query"));
	fnd_cb_agent_settings(&breaker, &st, &s);
	fnd_cb_circuit_key(&breaker, &agent, &circuit);
	if ((reason = fnd_cb_agent_refusal(&st)) != NULL)
	{
		fnd_breaker_refuse_circuit(&circuit, &s);
		fnd_cb_refuse_agent(breaker.name, agent.name, &st, reason);
	}

	if (!fnd_breaker_ask_with(&circuit, &s, &retry_at, &trial))
	{
		fnd_telemetry_count("foundation.breaker.rejections", 1);
		ereport(ERROR,
				(errcode(ERRCODE_FND_CIRCUIT_OPEN),
				 errmsg("circuit breaker \"%s\" is open for agent \"%s\"",
						breaker.name, agent.name),
				 retry_at != 0 ?
				 errdetail("It retries at %s.",
						   DatumGetCString(DirectFunctionCall1(timestamptz_out,
															   TimestampTzGetDatum(retry_at)))) :
				 errdetail("It is half-open and all of its trial calls are in flight.")));
	}
	PG_RETURN_JSONB_P(fnd_cb_run_protected(&circuit, query, trial,
										   psprintf("%s\" for agent \"%s",
													breaker.name, agent.name),
										   true));
}

/*
 * fnd_cb_set_capability_policy(name, capability, tolerance, window DEFAULT
 * NULL, reset_after DEFAULT NULL) (admin): NULL intervals mean the
 * breaker's own.
 */
Datum
fnd_cb_set_capability_policy(PG_FUNCTION_ARGS)
{
	FndDbKey	breaker;
	BreakerSnap s;
	char	   *cap;
	FndPolicyKey k;
	FndPolicyEntry *p;
	int			tolerance;
	int64		window_us = 0,
				reset_us = 0;

	fnd_agent_require();
	fnd_cb_agent_breaker(fcinfo, &breaker, &s);
	cap = text_to_cstring(fnd_arg_text(fcinfo, 1, "capability"));
	fnd_agent_check_capability(cap);
	if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 0 ||
		PG_GETARG_INT32(2) > CB_MAX_TOLERANCE)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("tolerance must be between 0 and %d", CB_MAX_TOLERANCE)));
	tolerance = PG_GETARG_INT32(2);
	if (!PG_ARGISNULL(3))
		window_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(3), "window", false);
	if (!PG_ARGISNULL(4))
		reset_us = fnd_interval_usec(PG_GETARG_INTERVAL_P(4), "reset_after", false);

	fnd_policy_key(&k, breaker.name, cap);
	LWLockAcquire(fnd_dbtable_lock(&fnd_policy_table), LW_EXCLUSIVE);
	p = fnd_dbtable_find(&fnd_policy_table, &k,
						 fnd_dbtable_hash(&fnd_policy_table, &k));
	if (p == NULL)
		p = fnd_dbtable_enter(&fnd_policy_table, &k,
							  fnd_dbtable_hash(&fnd_policy_table, &k), GetUserId());
	p->tolerance = tolerance;
	p->window_us = window_us;
	p->reset_us = reset_us;
	LWLockRelease(fnd_dbtable_lock(&fnd_policy_table));
	PG_RETURN_VOID();
}

/*
 * fnd_cb_get_agent_status(name, agent_id) -> one row: the circuit's state
 * (open while the agent would be refused), why, the agent's health, and
 * the circuit's counters (zero before its first call).
 */
Datum
fnd_cb_get_agent_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndDbKey	breaker;
	FndDbKey	agent;
	FndDbKey	circuit;
	BreakerSnap s;
	FndAgentState st;
	const char *reason;
	Datum		values[9];
	bool		nulls[9] = {0};

	fnd_agent_require();
	fnd_cb_agent_breaker(fcinfo, &breaker, &s);
	fnd_cb_agent_arg(fcinfo, 1, &agent, &st);
	fnd_cb_circuit_key(&breaker, &agent, &circuit);
	InitMaterializedSRF(fcinfo, 0);

	if (!fnd_breaker_snapshot(&circuit, &s))
		memset(&s, 0, sizeof(s));	/* closed, never called */
	reason = fnd_cb_agent_refusal(&st);
	if (reason == NULL && s.state != 0)
		reason = "failures";
	values[0] = CStringGetTextDatum(reason && s.state == 0 ? "open" :
									fnd_breaker_state_name(s.state));
	values[1] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[1] = (reason == NULL);
	values[2] = CStringGetTextDatum(fnd_health_name(st.health));
	values[3] = Int32GetDatum(s.failures_in_window);
	values[4] = TimestampTzGetDatum(s.opened_at);
	nulls[4] = (s.state == 0);
	values[5] = TimestampTzGetDatum(s.retry_at);
	nulls[5] = (s.state == 0);
	values[6] = Int64GetDatum(s.calls);
	values[7] = Int64GetDatum(s.failures);
	values[8] = Int64GetDatum(s.rejections);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* fnd_cb_reset_agent(name, agent_id) (admin): close the agent's circuit */
Datum
fnd_cb_reset_agent(PG_FUNCTION_ARGS)
{
	FndDbKey	breaker;
	FndDbKey	agent;
	FndDbKey	circuit;
	BreakerSnap s;

	fnd_agent_require();
	fnd_cb_agent_breaker(fcinfo, &breaker, &s);
	fnd_agent_key_from_arg(fcinfo, 1, &agent);
	fnd_cb_circuit_key(&breaker, &agent, &circuit);
	fnd_breaker_close(&circuit);
	PG_RETURN_VOID();
}

/*
 * fnd_cb_agent_circuits() -> every agent circuit of this database (the
 * fnd_agent_circuit_breakers view).
 */
Datum
fnd_cb_agent_circuits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	FndCircuitRow *rows;
	int			n, i;

	fnd_agent_require();
	InitMaterializedSRF(fcinfo, 0);
	rows = fnd_breaker_agent_circuits(&n);
	for (i = 0; i < n; i++)
	{
		const BreakerSnap *s = &rows[i].snap;
		Datum		values[12];
		bool		nulls[12] = {0};

		values[0] = CStringGetTextDatum(rows[i].name);
		values[1] = CStringGetTextDatum(rows[i].name + strlen(rows[i].name) + 1);
		values[2] = CStringGetTextDatum(fnd_breaker_state_name(s->state));
		values[3] = Int32GetDatum(s->failures_in_window);
		values[4] = TimestampTzGetDatum(s->opened_at);
		nulls[4] = (s->state == 0);
		values[5] = TimestampTzGetDatum(s->retry_at);
		nulls[5] = (s->state == 0);
		values[6] = Int64GetDatum(s->calls);
		values[7] = Int64GetDatum(s->failures);
		values[8] = Int64GetDatum(s->rejections);
		values[9] = Int32GetDatum(s->tolerance);
		values[10] = IntervalPGetDatum(fnd_usec_interval(s->window_us));
		values[11] = IntervalPGetDatum(fnd_usec_interval(s->reset_us));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
