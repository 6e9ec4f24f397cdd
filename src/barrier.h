/*-------------------------------------------------------------------------
 *
 * barrier.h
 *	  The capacity that barriers and consensus rounds share.
 *
 * foundation.max_coordination_objects bounds barriers plus consensus rounds
 * together (docs/coordination.md).  barrier.c defines the setting and keeps
 * the count; consensus.c reserves a unit before it creates a round and
 * gives it back when it removes one.  Decided rounds whose decision is
 * recorded give way: when no unit is free, a barrier or a round evicts the
 * longest-decided one (fnd_consensus_give_way), which also frees its value
 * memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_BARRIER_H
#define FND_BARRIER_H

#include "datatype/timestamp.h"

#include "foundation.h"

extern int	fnd_max_coordination_objects;

/* Take one unit of capacity; false when barriers + rounds are at the max. */
extern bool fnd_coordination_reserve(void);
/* Give one unit back. */
extern void fnd_coordination_release(void);
/* Units in use, for the views and stats. */
extern uint32 fnd_coordination_in_use(void);

/*
 * fnd_consensus_give_way() (foundation.h) takes the consensus lock: callers
 * may hold the barrier lock, never the consensus lock.
 */

/* The hint of every FN607 about barriers and consensus rounds. */
#define FND_COORDINATION_FULL_HINT \
	"Remove unused barriers with fnd_barrier_remove(), let pending consensus rounds decide (an administrator can end one with fnd_consensus_cancel()), or raise foundation.max_coordination_objects and restart."

/*
 * Milliseconds to sleep until `until`, rounded up so the sleeper wakes at or
 * after it, and capped at an hour: the latch wait takes an int, and the
 * callers loop and re-check anyway.
 */
static inline long
fnd_sleep_ms(TimestampTz until, TimestampTz now)
{
	int64		ms = (until - now + 999) / 1000;

	return (long) Min(Max(ms, 1), (int64) 3600 * 1000);
}

#endif							/* FND_BARRIER_H */
