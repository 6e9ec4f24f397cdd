/*-------------------------------------------------------------------------
 *
 * events_writer.h
 *	  The one writer into fnd_events (events_writer.c), for the event
 *	  store's own files.  Other subsystems use events.h.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_EVENTS_WRITER_H
#define FND_EVENTS_WRITER_H

#include "utils/jsonb.h"

#include "catalog.h"

/*
 * One event as handed to the writer, checked by the caller (a type of 1 to
 * FND_NAME_MAX bytes, data a JSON object); the writer adds the id and the
 * timestamp.  A version that adds columns adds their values here and their
 * description in events_writer.c (1.2: agent_context, correlation_id,
 * metadata, NULL for SQL NULL).
 */
typedef struct FndEventRow
{
	text	   *type;
	Jsonb	   *data;
	Jsonb	   *agent_context;	/* 1.2; NULL: SQL NULL */
	text	   *correlation_id; /* 1.2; NULL: SQL NULL */
	Jsonb	   *metadata;		/* 1.2; NULL: the column's default, {} */
} FndEventRow;

/* fnd_events of the extension, and the slots of its kept plans. */
extern FndCatalogTable fnd_events_table;

#define FND_EVENTS_PLAN_INSERT	0	/* events_writer.c: the fallback INSERT */
#define FND_EVENTS_PLAN_LATEST	1	/* events.c: read back a reserved event */
#define FND_EVENTS_PLAN_PRUNE	2	/* events_retention.c */
#define FND_EVENTS_PLAN_INSERT_1_2	3	/* the fallback INSERT, 1.2 columns */

/*
 * Store n rows, all or nothing, and set ids[i] to the id of rows[i] (ids
 * follow the order of rows).  The caller found fnd_events_table.  Counts
 * foundation.events.stored, and foundation.events.fallback for rows the
 * direct path could not take.
 */
extern void fnd_events_write(int n, const FndEventRow *rows, int64 *ids);

#endif							/* FND_EVENTS_WRITER_H */
