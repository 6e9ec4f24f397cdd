/*-------------------------------------------------------------------------
 *
 * events.h
 *	  The event store's C interface, for subsystems that record events
 *	  (consensus decisions) from C and read their own events back.
 *
 * Reserved types.  Types starting with "foundation." and the types listed
 * in events.c (consensus_decided) are written only by the extension: the
 * SQL functions refuse them to callers (FN401), PUBLIC cannot write the
 * table, and only this interface may append them.  So a subsystem that
 * reads its reserved events back as truth (fnd_events_latest) reads only
 * what the extension wrote, or the table's owner.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_EVENTS_H
#define FND_EVENTS_H

#include "utils/jsonb.h"

/* Is this type (len bytes) reserved for the extension's own events? */
extern bool fnd_events_type_reserved(const char *type, int len);

/*
 * May this backend append events now: in a transaction that may write (not
 * read-only, not parallel, not on a standby), in a database where the
 * extension's fnd_events exists?  fn_oid, a function of the extension,
 * finds the table cheaply; InvalidOid looks the extension up.
 */
extern bool fnd_events_can_append(Oid fn_oid);

/*
 * Append one event to fnd_events of the extension in the current database
 * and return its id.  type must be 1 to 200 bytes and data a JSON object
 * (NULL means {}), else FN401; reserved types are allowed (this is the
 * extension writing).  Must be called inside a transaction that may write;
 * the row is written as the table's owner, so the caller needs no
 * privilege on the table.  Transactional like any insert.
 */
extern int64 fnd_events_append(const char *type, Jsonb *data);

/*
 * The data of the latest event of reserved type `type` whose data->>key
 * equals value, or NULL if there is none (or no extension).  Read as the
 * table's owner, with the caller's snapshot; the result is allocated in
 * the caller's memory context.
 */
extern Jsonb *fnd_events_latest(const char *type, const char *key,
								const char *value);

#endif							/* FND_EVENTS_H */
