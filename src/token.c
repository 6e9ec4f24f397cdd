/*-------------------------------------------------------------------------
 *
 * token.c
 *	  Fencing tokens (locks) and election terms: blocks reserved from a
 *	  sequence of the extension, handed out in order from shared memory.
 *
 * Tokens must never be handed out twice, not across a crash, a restart or
 * a failover, and must increase in the order they are handed out.  They
 * are backed by a sequence of the extension, fnd_fencing_seq or
 * fnd_term_seq, with INCREMENT BY FND_TOKEN_BLOCK: each nextval reserves a
 * block of that many tokens, which backends then take from shared memory
 * in order, under a spinlock.  The sequence's state is WAL-logged before a
 * value is used and we flush that WAL before handing out any token of the
 * block (fnd_token_make_durable), so crash recovery resumes above every
 * block ever reserved, and WAL replicates, so a promoted standby continues
 * above the old primary's blocks -- provided it had received that WAL,
 * which only synchronous replication guarantees.  Shared memory alone
 * would restart from zero after a crash; a nextval per token would cost a
 * buffer lock and, every 32 tokens, a WAL flush.
 *
 * The current block of each (database, kind) is kept in one of
 * foundation.max_token_slots slots.  The slot of a dropped database is
 * freed by the supervisor's sweep (or at once when no slot is left): its
 * sequence is gone with it, and any later database has a sequence of its
 * own, so reusing a slot never makes tokens go backwards.  A live
 * database's slot is never taken away: a block fetched before the slot was
 * lost could otherwise be installed after a newer one.
 *
 * Locking protocol: the spinlock mutex guards the slots.  It may be taken
 * while holding the lock table's LWLocks, never the other way round.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "miscadmin.h"
#include "replication/syncrep.h"
#include "storage/bufmgr.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "foundation.h"
#include "lock.h"

/*
 * The block in use of one (database, kind); seqid tells a recreated
 * extension's new sequence from the old one.
 */
typedef struct FndTokenRange
{
	Oid			dbid;			/* InvalidOid: slot unused */
	int			kind;			/* FND_TOKEN_FENCING or FND_TOKEN_TERM */
	Oid			seqid;
	int64		next;			/* next token to hand out */
	int64		limit;			/* first token beyond the block */
} FndTokenRange;

typedef struct FndTokenShared
{
	slock_t		mutex;			/* guards ranges[] */
	int			nslots;
	FndTokenRange ranges[FLEXIBLE_ARRAY_MEMBER];
} FndTokenShared;

static int	fnd_token_slots = 256;
static FndTokenShared *fnd_token_shared = NULL;

/* backend-local */
static XLogRecPtr fnd_token_synced = InvalidXLogRecPtr;
static int	fnd_range_hint[2] = {-1, -1};	/* last slot used, per kind */

void
fnd_token_define_settings(bool preloading)
{
	if (!preloading)
		return;
	DefineCustomIntVariable("foundation.max_token_slots",
							"Maximum number of (database, kind) pairs that keep a block of fencing tokens or election terms.",
							"Each database that uses locks takes one, and one more if it uses elections; a dropped database's slots are freed.",
							&fnd_token_slots,
							256,
							2,
							100000,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);
}

Size
fnd_token_shmem_size(void)
{
	return add_size(offsetof(FndTokenShared, ranges),
					mul_size(sizeof(FndTokenRange), fnd_token_slots));
}

/* Create or attach.  Caller holds AddinShmemInitLock. */
void
fnd_token_shmem_startup(void)
{
	bool		found;

	fnd_token_shared = ShmemInitStruct("foundation token blocks",
									   fnd_token_shmem_size(), &found);
	if (!found)
	{
		memset(fnd_token_shared, 0, fnd_token_shmem_size());
		SpinLockInit(&fnd_token_shared->mutex);
		fnd_token_shared->nslots = fnd_token_slots;
	}
}

/*
 * Make sure the WAL record that covers the value nextval just returned is
 * flushed (and, with synchronous replication, acknowledged) before any
 * token of its block leaves this server.
 *
 * Why this matters: nextval WAL-logs 32 values ahead and hands out the
 * values in between without logging.  Postgres only flushes that record
 * when the transaction that wrote it commits; a value handed to another
 * session from the same logged range, or to a transaction that is still
 * open or commits asynchronously, could be handed out again after a crash.
 * Sequences are fine with that because their values are only used inside
 * the database; a fencing token is used outside, so we flush up to the
 * sequence page's LSN, which is at or past the record that covers our
 * value.  Most calls find the WAL already flushed and return at once.
 */
static void
fnd_token_make_durable(Oid seqid)
{
	Relation	rel;
	Buffer		buf;
	XLogRecPtr	lsn;

	rel = relation_open(seqid, AccessShareLock);
	buf = ReadBuffer(rel, 0);
	lsn = BufferGetLSNAtomic(buf);
	ReleaseBuffer(buf);
	relation_close(rel, NoLock);

	if (lsn > fnd_token_synced)
	{
		XLogFlush(lsn);
		/* a no-op unless synchronous replication is configured */
		SyncRepWaitForLSN(lsn, false);
		fnd_token_synced = lsn;
	}
}

/*
 * Blocks must not overlap: refuse a sequence whose increment was altered.
 */
static void
fnd_token_check_sequence(Oid seqid, const char *seqname)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		increment;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seqid);
	increment = ((Form_pg_sequence) GETSTRUCT(tup))->seqincrement;
	ReleaseSysCache(tup);
	if (increment != FND_TOKEN_BLOCK)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("sequence \"%s\" must have INCREMENT BY %d", seqname,
						FND_TOKEN_BLOCK),
				 errdetail("Each value reserves a block of that many tokens."),
				 errhint("ALTER SEQUENCE %s INCREMENT BY %d, or reinstall the extension.",
						 seqname, FND_TOKEN_BLOCK)));
}

/*
 * Take the next token of (dbid, kind) from its reserved block.  Returns
 * false if the block is used up (or there is none yet).  Cheap (one
 * spinlock), so callers may hold the lock table LWLock; it needs no
 * catalog access, so it works for any database (hand-off on session exit
 * or by the supervisor).
 */
bool
fnd_token_take(Oid dbid, int kind, int64 *token)
{
	FndTokenShared *sh = fnd_token_shared;
	bool		ok = false;
	int			i;

	SpinLockAcquire(&sh->mutex);
	/* usually the slot found last time; otherwise scan (short, rare) */
	i = fnd_range_hint[kind];
	if (i < 0 || sh->ranges[i].dbid != dbid || sh->ranges[i].kind != kind)
	{
		for (i = 0; i < sh->nslots; i++)
			if (sh->ranges[i].dbid == dbid && sh->ranges[i].kind == kind)
				break;
	}
	if (i < sh->nslots)
	{
		FndTokenRange *r = &sh->ranges[i];

		fnd_range_hint[kind] = i;
		if (r->next < r->limit)
		{
			*token = r->next++;
			ok = true;
		}
	}
	SpinLockRelease(&sh->mutex);
	return ok;
}

/*
 * Install the block starting at start, unless a newer block is already
 * installed (a concurrent refill won the race: ours is simply skipped, so
 * tokens never go backwards).  Returns false if no slot is free.
 */
static bool
fnd_token_install_range(int kind, Oid seqid, int64 start)
{
	FndTokenShared *sh = fnd_token_shared;
	FndTokenRange *slot = NULL;
	FndTokenRange *free_slot = NULL;
	int			i;

	SpinLockAcquire(&sh->mutex);
	for (i = 0; i < sh->nslots; i++)
	{
		FndTokenRange *r = &sh->ranges[i];

		if (r->dbid == MyDatabaseId && r->kind == kind)
		{
			slot = r;
			break;
		}
		if (r->dbid == InvalidOid && free_slot == NULL)
			free_slot = r;
	}
	if (slot == NULL && free_slot != NULL)
	{
		slot = free_slot;
		slot->dbid = MyDatabaseId;
		slot->kind = kind;
		slot->seqid = InvalidOid;
	}
	if (slot != NULL)
	{
		/* a recreated extension has a new sequence: start over with it */
		if (slot->seqid != seqid)
		{
			slot->seqid = seqid;
			slot->next = slot->limit = 0;
		}
		if (start >= slot->limit)
		{
			slot->next = start;
			slot->limit = start + FND_TOKEN_BLOCK;
		}
	}
	SpinLockRelease(&sh->mutex);
	return slot != NULL;
}

/*
 * Free the slots of databases that no longer exist; returns how many.
 * Reads the catalog outside the spinlock: a slot is only freed if it still
 * belongs to the same dropped database afterwards.
 */
int
fnd_token_sweep_dropped(void)
{
	FndTokenShared *sh = fnd_token_shared;
	Oid		   *dbids = palloc(sizeof(Oid) * sh->nslots);
	int			freed = 0;
	int			i;

	SpinLockAcquire(&sh->mutex);
	for (i = 0; i < sh->nslots; i++)
		dbids[i] = sh->ranges[i].dbid;
	SpinLockRelease(&sh->mutex);

	for (i = 0; i < sh->nslots; i++)
		if (OidIsValid(dbids[i]) &&
			SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dbids[i])))
			dbids[i] = InvalidOid;

	SpinLockAcquire(&sh->mutex);
	for (i = 0; i < sh->nslots; i++)
	{
		if (OidIsValid(dbids[i]) && sh->ranges[i].dbid == dbids[i])
		{
			memset(&sh->ranges[i], 0, sizeof(FndTokenRange));
			freed++;
		}
	}
	SpinLockRelease(&sh->mutex);
	pfree(dbids);
	return freed;
}

/*
 * A new block needs nextval, which a read-only transaction (always, on a hot
 * standby) refuses with an error naming nextval(); say what was refused.
 */
static void
fnd_token_check_writable(int kind)
{
	if (!XactReadOnly)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
			 errmsg("cannot issue a new %s in a read-only transaction",
					kind == FND_TOKEN_FENCING ? "fencing token" : "election term"),
			 RecoveryInProgress() ?
			 errdetail("The server is a hot standby: tokens and terms come from a sequence that only the primary advances.") : 0,
			 errhint("Acquire locks and elect leaders on the primary, outside read-only transactions.")));
}

/* Reserve a block from seqname (nextval) and install it; FN607 if no slot. */
static void
fnd_token_refill(FunctionCallInfo fcinfo, int kind, const char *seqname)
{
	Oid			nsp;
	Oid			seqid;
	int64		start;

	nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	seqid = OidIsValid(nsp) ? get_relname_relid(seqname, nsp) : InvalidOid;
	if (!OidIsValid(seqid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("sequence \"%s\" of extension foundation does not exist",
						seqname),
				 errhint("Reinstall the extension with DROP EXTENSION and CREATE EXTENSION.")));
	fnd_token_check_sequence(seqid, seqname);
	fnd_token_check_writable(kind);
	start = nextval_internal(seqid, false);
	fnd_token_make_durable(seqid);
	if (fnd_token_install_range(kind, seqid, start))
		return;
	/* no slot free: dropped databases' slots may be waiting for the sweep */
	if (fnd_token_sweep_dropped() > 0 &&
		fnd_token_install_range(kind, seqid, start))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_FND_COORDINATION_FULL),
			 errmsg("too many databases use foundation locks or elections"),
			 errdetail("Token blocks are kept for at most %d database and kind pairs; foundation.max_token_slots is %d.",
					   fnd_token_shared->nslots, fnd_token_shared->nslots),
			 errhint("Raise foundation.max_token_slots (needs a restart).")));
}

/*
 * The next fencing token or election term (FND_TOKEN_FENCING or
 * FND_TOKEN_TERM) of this database.
 *
 * The sequence is found, when a block is needed, in the schema of the
 * calling SQL function, i.e. the extension's schema: always right after
 * DROP/CREATE EXTENSION (whose new sequence starts over once the block in
 * use runs out).  Permissions on the sequence are not checked: it is ours,
 * and callers never touch it.
 */
int64
fnd_next_token(FunctionCallInfo fcinfo, int kind)
{
	const char *seqname = (kind == FND_TOKEN_FENCING) ? FND_FENCING_SEQ : FND_TERM_SEQ;
	int64		token;

	while (!fnd_token_take(MyDatabaseId, kind, &token))
		fnd_token_refill(fcinfo, kind, seqname);
	return token;
}
