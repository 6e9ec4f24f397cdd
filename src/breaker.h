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

/* breaker.c */
extern void fnd_breaker_key_from_arg(FunctionCallInfo fcinfo, FndDbKey *key);
extern bool fnd_breaker_ask(const FndDbKey *key, TimestampTz *retry_at,
							bool *trial);
extern int	fnd_breaker_melt(const FndDbKey *key);
extern int	fnd_breaker_success(const FndDbKey *key, bool may_close);

#endif							/* FND_BREAKER_H */
