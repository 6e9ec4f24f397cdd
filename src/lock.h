/*-------------------------------------------------------------------------
 *
 * lock.h
 *	  Locks with fencing tokens (lock.c) and leader election (election.c):
 *	  what the two share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_LOCK_H
#define FND_LOCK_H

#include "fmgr.h"

/* Sequences in the extension schema (created by src/lock.sql). */
#define FND_FENCING_SEQ		"fnd_fencing_seq"
#define FND_TERM_SEQ		"fnd_term_seq"

/* lock.c */
extern int64 fnd_next_token(FunctionCallInfo fcinfo, const char *seqname);

#endif							/* FND_LOCK_H */
