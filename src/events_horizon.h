/*-------------------------------------------------------------------------
 *
 * events_horizon.h
 *	  The gap-free horizon of fnd_events (events_horizon.c): the smallest
 *	  event id still held by a transaction that has not ended.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_EVENTS_HORIZON_H
#define FND_EVENTS_HORIZON_H

#include "postgres.h"

/* foundation.c: shared memory of the horizon's slots */
extern Size fnd_horizon_shmem_size(void);
extern void fnd_horizon_shmem_startup(void);

/*
 * events_writer.c, around the drawing of ids: fnd_horizon_reserve() before
 * the first id of the transaction can exist, fnd_horizon_record() with the
 * ids just drawn.
 */
extern void fnd_horizon_reserve(void);
extern void fnd_horizon_record(int n, const int64 *ids);

#endif							/* FND_EVENTS_HORIZON_H */
