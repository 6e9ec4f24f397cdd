/*-------------------------------------------------------------------------
 *
 * consensus.c
 *	  Consensus rounds that decide once and are stored as events.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_consensus_service = {
	.name = "consensus",
	.phase = 2,
	.depends_on = "events",
};
