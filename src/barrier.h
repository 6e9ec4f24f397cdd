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

extern int	fnd_max_coordination_objects;

/* Take one unit of capacity; false when barriers + rounds are at the max. */
extern bool fnd_coordination_reserve(void);
/* Give one unit back. */
extern void fnd_coordination_release(void);
/* Units in use, for the views and stats. */
extern uint32 fnd_coordination_in_use(void);

#endif							/* FND_BARRIER_H */
