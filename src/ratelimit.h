/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *	  The rate limiter's hit (ratelimit.c), as the agent-aware limits
 *	  (ratelimit_agent.c) use it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_RATELIMIT_H
#define FND_RATELIMIT_H

#include "dbtable.h"

/* ratelimit.c */
extern void fnd_rate_limit_args(FunctionCallInfo fcinfo, int argno,
								int *limit, int64 *per_us);
extern bool fnd_rate_hit(const FndDbKey *key, int limit, int64 per_us,
						 int64 *retry_us);

#endif							/* FND_RATELIMIT_H */
