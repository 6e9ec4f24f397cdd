/*-------------------------------------------------------------------------
 *
 * lock.h
 *	  Locks with fencing tokens (lock.c) and leader election (election.c):
 *	  what the two share, the token blocks (token.c).
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

/* token.c */
extern void fnd_token_define_settings(bool preloading);
extern Size fnd_token_shmem_size(void);
extern void fnd_token_shmem_startup(void);
extern bool fnd_token_take(Oid dbid, int kind, int64 *token);
extern int64 fnd_next_token(FunctionCallInfo fcinfo, int kind);
extern int	fnd_token_sweep_dropped(void);

#endif							/* FND_LOCK_H */
