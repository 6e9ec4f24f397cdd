/*-------------------------------------------------------------------------
 *
 * lock.c
 *	  Locks with fencing tokens, FIFO waiters and leases.
 *
 * Not yet built: this file holds the service descriptor so the core can
 * list it.  See its issue.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "foundation.h"

const FndService fnd_lock_service = {
	.name = "lock",
	.phase = 1,
	.depends_on = "",
};
