/*-------------------------------------------------------------------------
 *
 * events.h
 *	  The event store's C interface, for subsystems that record events
 *	  (consensus decisions) from C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_EVENTS_H
#define FND_EVENTS_H

#include "utils/jsonb.h"

/*
 * Append one event to fnd_events of the extension in the current database
 * and return its id.  type must be 1 to 200 bytes and data a JSON object
 * (NULL means {}), else FN401.  Must be called inside a transaction; the
 * row is written as the table's owner, so the caller needs no privilege on
 * the table.  Transactional like any insert.
 */
extern int64 fnd_events_append(const char *type, Jsonb *data);

#endif							/* FND_EVENTS_H */
