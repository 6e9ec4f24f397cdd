/*-------------------------------------------------------------------------
 *
 * barrier.h
 *	  The capacity that barriers and consensus rounds share.
 *
 * foundation.max_coordination_objects bounds barriers plus consensus rounds
 * together (SPEC §4).  barrier.c defines the setting and keeps the count;
 * consensus.c reserves a unit before it creates a round and gives it back
 * when it removes one.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_BARRIER_H
#define FND_BARRIER_H

#include "datatype/timestamp.h"

extern int	fnd_max_coordination_objects;

/* Take one unit of capacity; false when barriers + rounds are at the max. */
extern bool fnd_coordination_reserve(void);
/* Give one unit back. */
extern void fnd_coordination_release(void);
/* Units in use, for the views and stats. */
extern uint32 fnd_coordination_in_use(void);

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
