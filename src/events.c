/*-------------------------------------------------------------------------
 *
 * events.c
 *	  Event store retention: prunes old events in small batches.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_events_service = {
	.name = "events",
	.phase = 2,
	.depends_on = "",
};
