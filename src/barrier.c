/*-------------------------------------------------------------------------
 *
 * barrier.c
 *	  Cyclic barriers across sessions.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_barrier_service = {
	.name = "barrier",
	.phase = 1,
	.depends_on = "",
};
