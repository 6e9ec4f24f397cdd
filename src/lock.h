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

/*
 * Sequences in the extension schema (created by src/lock.sql).  Their
 * INCREMENT BY must equal FND_TOKEN_BLOCK: each nextval reserves a block.
 */
#define FND_FENCING_SEQ		"fnd_fencing_seq"
#define FND_TERM_SEQ		"fnd_term_seq"
#define FND_TOKEN_BLOCK		1024

#define FND_TOKEN_FENCING	0
#define FND_TOKEN_TERM		1

/* lock.c */
extern int64 fnd_next_token(FunctionCallInfo fcinfo, int kind);

#endif							/* FND_LOCK_H */
