/*-------------------------------------------------------------------------
 *
 * consensus.h
 *	  What the consensus files share (not used outside them, except the
 *	  give-way entry point declared in barrier.h).
 *
 *	  consensus.c			the rounds table: shared memory, a round's value
 *							chunk, slots and their eviction, the supervisor's
 *							work, session exit
 *	  consensus_decide.c	deciding, cancelling, claiming and recording
 *							decisions, sleeping on a round
 *	  consensus_events.c	recording decisions and reading them back,
 *							through the event store's one writer (events.h)
 *	  consensus_sql.c		the SQL functions and the fnd_consensus view
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_CONSENSUS_H
#define FND_CONSENSUS_H

#include "foundation.h"

#include "access/xact.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"

#define FND_ROUND_PENDING	0
#define FND_ROUND_ACCEPTED	1
#define FND_ROUND_REJECTED	2
#define FND_ROUND_TIMEOUT	3
#define FND_ROUND_CANCELLED	4

extern const char *const fnd_round_status_names[];

#define FND_VOTE_NONE		0
#define FND_VOTE_ACCEPT		1
#define FND_VOTE_REJECT		2
#define FND_VOTE_ABSTAIN	3

extern const char *const fnd_vote_names[];

/* More participants than this is surely a mistake. */
#define FND_CONSENSUS_MAX_PARTICIPANTS	10000
/* Claims one transaction may hold; beyond that, later lookers write. */
#define FND_MAX_CLAIMS		64
/* Unrecorded decisions one call writes on behalf of others. */
#define FND_FLUSH_BATCH		16

typedef struct FndRoundKey
{
	Oid			dbid;
	char		topic[FND_NAME_BUFSZ];
} FndRoundKey;

typedef struct FndRound
{
	FndRoundKey key;			/* hash key: must be first */
	uint64		round_id;		/* never reused, tells replaced rounds apart */
	int			status;
	int			nparticipants;
	int			quorum;			/* accepts needed (n when unanimous) */
	bool		unanimous;
	int			accepts;
	int			rejects;
	int			abstains;
	Oid			owner_role;
	TimestampTz started_at;
	TimestampTz deadline;
	TimestampTz decided_at;		/* 0 while pending */
	dsa_pointer data;			/* FndRoundData in the value area */
	Size		data_size;		/* its size, for the value memory count */
	bool		event_stored;	/* decision committed to fnd_events */
	FndSession	event_writer;	/* session whose transaction is writing it */
	pg_atomic_uint32 waiting;
	ConditionVariable cv;
} FndRound;

/*
 * The variable part of a round, in one chunk: the header, then one vote
 * per participant, then the participant names (NUL-terminated, back to
 * back), then (MAXALIGNed) the role each participant names, InvalidOid if
 * it names none, then the proposal (a jsonb varlena, MAXALIGNed).
 */
typedef struct FndRoundData
{
	int			nparticipants;
	Size		names_off;
	Size		roles_off;
	Size		proposal_off;
	Size		proposal_len;
	uint8		votes[FLEXIBLE_ARRAY_MEMBER];
} FndRoundData;

typedef struct FndConsensusShared
{
	pg_atomic_uint64 next_round_id;
	pg_atomic_uint32 unrecorded;	/* decided, event not stored */
	pg_atomic_uint64 value_bytes;	/* value memory held by rounds */
} FndConsensusShared;

/* A decision this backend's transaction is writing to fnd_events. */
typedef struct FndClaim
{
	FndRoundKey key;
	uint64		round_id;
	SubTransactionId subid;
} FndClaim;

/* Whether this backend may record decisions in fnd_events now. */
typedef struct FndEventTarget
{
	bool		ok;
	Oid			fn_oid;			/* the calling SQL function, or InvalidOid */
} FndEventTarget;

/* consensus.c: the rounds table */
extern FndConsensusShared *fnd_consensus_shared;
extern HTAB *fnd_round_hash;

extern LWLock *fnd_consensus_lock(void);
extern FndRoundData *fnd_round_data(FndRound *r);
extern const char *fnd_round_names(FndRoundData *d);
extern Oid *fnd_round_roles(FndRoundData *d);
extern Jsonb *fnd_round_proposal(FndRoundData *d);
extern int	fnd_round_participant(FndRoundData *d, const char *name);
extern FndRoundData *fnd_round_build(ArrayType *participants, Jsonb *proposal,
									 Size *size);
extern dsa_pointer fnd_round_alloc(FndRoundData *local, Size size);
extern void fnd_round_free_data(FndRound *r);
extern bool fnd_round_evict_locked(void);
extern FndRound *fnd_round_new_slot(const FndRoundKey *key);

/* consensus_decide.c: deciding and recording */
extern FndRound *fnd_round_sleeping;

extern bool fnd_round_decide(FndRound *r, TimestampTz now);
extern bool fnd_round_cancel(FndRound *r, TimestampTz now);
extern void fnd_round_append_votes(StringInfo buf, FndRoundData *d);
extern char *fnd_round_event_json(FndRound *r);
extern char *fnd_round_claim(FndRound *r, const FndEventTarget *t);
extern void fnd_claims_settle(bool committed, SubTransactionId which);
extern bool fnd_claims_pending(void);
extern void fnd_consensus_flush(const FndEventTarget *t);
extern List *fnd_consensus_sweep(Oid dbid, const FndEventTarget *t,
								 int *ndecided);
extern void fnd_consensus_count_decided(int n);
extern void fnd_round_sleep_begin(FndRound *r);
extern void fnd_round_sleep_end(void);

/* consensus_events.c: fnd_events */
extern FndEventTarget fnd_event_lookup(bool for_write);
extern FndEventTarget fnd_event_target(Oid fn_oid);
extern void fnd_consensus_record(const FndEventTarget *t, List *events);
extern char *fnd_consensus_stored_outcome(const FndEventTarget *t,
										  const char *topic);

#endif							/* FND_CONSENSUS_H */
