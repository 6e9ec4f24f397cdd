/*-------------------------------------------------------------------------
 *
 * breaker.h
 *	  Circuit breakers: the breaker state (breaker.c) as fnd_cb_execute
 *	  (cb_execute.c) uses it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_BREAKER_H
#define FND_BREAKER_H

#include "dbtable.h"
#include "utils/jsonb.h"

/* A consistent copy of an entry, taken under its spinlock. */
typedef struct BreakerSnap
{
	int			state;
	int			tolerance;
	int			half_open_calls;
	int64		window_us;
	int64		reset_us;
	int			failures_in_window;
	TimestampTz opened_at;
	TimestampTz retry_at;
	int64		calls;
	int64		failures;
	int64		rejections;
} BreakerSnap;

/* An agent's circuit, listed by fnd_breaker_agent_circuits. */
typedef struct FndCircuitRow
{
	char		name[FND_NAME_BUFSZ];	/* breaker NUL agent id */
	int			len;
	BreakerSnap snap;
} FndCircuitRow;

/* breaker.c */
extern void fnd_breaker_key_from_arg(FunctionCallInfo fcinfo, FndDbKey *key);
extern bool fnd_breaker_ask(const FndDbKey *key, TimestampTz *retry_at,
							bool *trial);
extern int	fnd_breaker_melt(const FndDbKey *key);
extern int	fnd_breaker_success(const FndDbKey *key, bool may_close);
extern bool fnd_breaker_settings(const FndDbKey *key, BreakerSnap *s);
extern bool fnd_breaker_ask_with(const FndDbKey *key, const BreakerSnap *s,
								 TimestampTz *retry_at, bool *trial);
extern void fnd_breaker_refuse_circuit(const FndDbKey *key, const BreakerSnap *s);
extern int	fnd_breaker_melt_circuit(const FndDbKey *key);
extern int	fnd_breaker_success_circuit(const FndDbKey *key, bool may_close);
extern bool fnd_breaker_snapshot(const FndDbKey *key, BreakerSnap *s);
extern bool fnd_breaker_close(const FndDbKey *key);
extern const char *fnd_breaker_state_name(int state);
extern FndCircuitRow *fnd_breaker_agent_circuits(int *n);

/* cb_execute.c */
extern Jsonb *fnd_cb_run_protected(const FndDbKey *key, const char *query,
								   bool trial, const char *context,
								   bool agent_circuit);

#endif							/* FND_BREAKER_H */
