/*-------------------------------------------------------------------------
 *
 * election.c
 *	  Leader election with leases and strictly increasing terms.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_election_service = {
	.name = "election",
	.phase = 1,
	.depends_on = "lock",
};
