/*-------------------------------------------------------------------------
 *
 * breaker.c
 *	  Circuit breakers shared by every session.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_breaker_service = {
	.name = "breaker",
	.phase = 1,
	.depends_on = "",
};
