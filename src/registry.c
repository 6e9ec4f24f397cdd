/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  Registry: session-owned and leased named entries with jsonb metadata.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_registry_service = {
	.name = "registry",
	.phase = 1,
	.depends_on = "",
};
