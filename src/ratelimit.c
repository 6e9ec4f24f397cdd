/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *	  Rate limiter with a smooth window, shared by every session.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_ratelimit_service = {
	.name = "ratelimit",
	.phase = 1,
	.depends_on = "",
};
