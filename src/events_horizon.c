/*-------------------------------------------------------------------------
 *
 * events_horizon.c
 *	  The gap-free horizon of fnd_events, for durable subscriptions
 *	  (docs/subscriptions.md), and the NOTIFY of agent event channels.
 *
 * Ids come from the identity sequence in the order fnd_store_event is
 * called, not in commit order: an event committed later may have a smaller
 * id than one already visible.  A subscription reader that moved its
 * checkpoint past a visible id would skip the smaller one still coming.
 * So each backend has one slot here, and the one writer (events_writer.c)
 * marks it before it draws the first id of a transaction and records that
 * id right after; the transaction's end (and the session's exit) clears it.
 * The horizon is the smallest id recorded in a slot of this database, or,
 * with no slot set, the next id the sequence hands out: every id below it
 * belongs to a transaction that has ended.
 *
 * The order of the steps is what makes it exact:
 *	 writer: slot := PENDING; barrier; nextval (sequence buffer lock);
 *			 slot := first id; ... commit (visible) ; slot := EMPTY
 *	 reader: P := sequence's last value + 1 (the same buffer lock); barrier;
 *			 scan the slots; then take the snapshot that reads the events.
 * Every id below P was drawn before the reader's lock, so its writer had
 * marked its slot before: the reader either sees the slot (and stays below
 * it) or the slot was already cleared, after the commit was visible, and
 * the reader's later snapshot sees the event.  A slot still PENDING gives
 * no bound: the reader waits a moment for it, then delivers nothing new.
 * With a sequence CACHE above 1 a backend hands out ids from a private
 * block in any order relative to others, so readers refuse such a table.
 *
 * Rules (docs/subscriptions.md): a transaction that stored events cannot be
 * prepared (PREPARE TRANSACTION raises 0A000: a prepared transaction
 * outlives its session, so nothing would clear its slot); on a standby the
 * slots of the primary's writers are not visible, so the horizon (and
 * fnd_subscription_read) raises 25006 there.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/dependency.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/shmem.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "foundation.h"
#include "catalog.h"
#include "events_writer.h"
#include "events_horizon.h"

#define FND_HORIZON_EMPTY	0
#define FND_HORIZON_PENDING 1	/* about to draw; the id is not known yet */
#define FND_HORIZON_SET		2	/* first_id is the transaction's first id */

/* How long a reader waits for a PENDING slot before giving up (µs). */
#define FND_HORIZON_WAIT_US		20000
#define FND_HORIZON_STEP_US		100

/* Notifications are skipped above this use of the notification queue. */
#define FND_HORIZON_QUEUE_LIMIT 0.9

typedef struct FndHorizonSlot
{
	pg_atomic_uint32 state;
	Oid			dbid;			/* written before state leaves EMPTY */
	pg_atomic_uint64 first_id;	/* an int64 id, valid while SET */
} FndHorizonSlot;

/* Databases with agent channels; beyond this many, every database. */
#define FND_HORIZON_CHANNEL_DBS 64

typedef struct FndHorizonShared
{
	/*
	 * The databases where an agent channel was made since the start: their
	 * writers keep the ids they store, for the NOTIFY at commit.  Entries
	 * are added under the mutex and read without it (a reader missing one
	 * being added only announces from its next transaction on).
	 */
	slock_t		channel_mutex;
	bool		channels_everywhere;	/* the list overflowed */
	Oid			channel_dbs[FND_HORIZON_CHANNEL_DBS];
	int			nslots;
	FndHorizonSlot slots[FLEXIBLE_ARRAY_MEMBER];
} FndHorizonShared;

static FndHorizonShared *fnd_horizon = NULL;

/* backend-local */
static int	fnd_horizon_local = FND_HORIZON_EMPTY;	/* our slot, as we set it */
static bool fnd_horizon_callbacks = false;
static SubTransactionId fnd_horizon_subid;	/* the (sub)transaction whose
											 * first event set the mark */
static int64 *fnd_horizon_ids = NULL;	/* ids stored in this transaction, */
static int	fnd_horizon_nids = 0;	/* kept only while channels exist */
static int	fnd_horizon_maxids = 0;

static FndCatalogTable fnd_channels_table = {.relname = "fnd_event_channels"};

/* ---- shared memory ------------------------------------------------------ */

Size
fnd_horizon_shmem_size(void)
{
	return add_size(offsetof(FndHorizonShared, slots),
					mul_size(sizeof(FndHorizonSlot), MaxBackends));
}

/* Called from the shmem_startup_hook with AddinShmemInitLock held. */
void
fnd_horizon_shmem_startup(void)
{
	bool		found;
	int			i;

	fnd_horizon = ShmemInitStruct("foundation events horizon",
								  fnd_horizon_shmem_size(), &found);
	if (found)
		return;
	SpinLockInit(&fnd_horizon->channel_mutex);
	fnd_horizon->channels_everywhere = false;
	memset(fnd_horizon->channel_dbs, 0, sizeof(fnd_horizon->channel_dbs));
	fnd_horizon->nslots = MaxBackends;
	for (i = 0; i < MaxBackends; i++)
	{
		pg_atomic_init_u32(&fnd_horizon->slots[i].state, FND_HORIZON_EMPTY);
		fnd_horizon->slots[i].dbid = InvalidOid;
		pg_atomic_init_u64(&fnd_horizon->slots[i].first_id, 0);
	}
}

static FndHorizonSlot *
fnd_horizon_my_slot(void)
{
	if (MyBackendId < 1 || MyBackendId > fnd_horizon->nslots)
		elog(ERROR, "backend id %d has no events horizon slot", MyBackendId);
	return &fnd_horizon->slots[MyBackendId - 1];
}

/* ---- the writer's side -------------------------------------------------- */

static void
fnd_horizon_clear(void)
{
	if (fnd_horizon_local != FND_HORIZON_EMPTY && fnd_horizon != NULL)
	{
		/* everything the transaction did is visible (or gone) by now */
		pg_write_barrier();
		pg_atomic_write_u32(&fnd_horizon_my_slot()->state, FND_HORIZON_EMPTY);
	}
	fnd_horizon_local = FND_HORIZON_EMPTY;
	fnd_horizon_ids = NULL;		/* freed with TopTransactionContext */
	fnd_horizon_nids = 0;
	fnd_horizon_maxids = 0;
}

static void fnd_horizon_notify(void);

static void
fnd_horizon_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (fnd_horizon_nids > 0)
				fnd_horizon_notify();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (fnd_horizon_local != FND_HORIZON_EMPTY)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot prepare a transaction that stored events"),
						 errdetail("Durable subscriptions deliver events in id order without gaps, which needs every transaction holding event ids to end with its session."),
						 errhint("Store events outside two-phase transactions, or commit this one directly.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			fnd_horizon_clear();
			break;
		default:
			break;
	}
}

/*
 * The subtransaction that set the mark rolled back: every event of the
 * transaction so far was its own, so none of their ids can ever become
 * visible, and the mark goes (the next event sets it again).  One that
 * commits hands the mark to its parent.
 */
static void
fnd_horizon_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							 SubTransactionId parentSubid, void *arg)
{
	if (fnd_horizon_local == FND_HORIZON_EMPTY || mySubid != fnd_horizon_subid)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		fnd_horizon_subid = parentSubid;
	else if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		pg_write_barrier();
		pg_atomic_write_u32(&fnd_horizon_my_slot()->state, FND_HORIZON_EMPTY);
		fnd_horizon_local = FND_HORIZON_EMPTY;
	}
}

/* on_shmem_exit: a session ending inside a transaction leaves no slot set */
static void
fnd_horizon_exit(int code, Datum arg)
{
	fnd_horizon_clear();
}

/*
 * Before the transaction's first id is drawn: mark our slot, so that no
 * reader can move past an id we are about to hold.
 */
void
fnd_horizon_reserve(void)
{
	FndHorizonSlot *slot;

	if (fnd_horizon_local != FND_HORIZON_EMPTY || fnd_horizon == NULL)
		return;
	if (!fnd_horizon_callbacks)
	{
		RegisterXactCallback(fnd_horizon_xact_callback, NULL);
		RegisterSubXactCallback(fnd_horizon_subxact_callback, NULL);
		on_shmem_exit(fnd_horizon_exit, (Datum) 0);
		fnd_horizon_callbacks = true;
	}
	slot = fnd_horizon_my_slot();
	slot->dbid = MyDatabaseId;
	pg_write_barrier();
	pg_atomic_write_u32(&slot->state, FND_HORIZON_PENDING);
	fnd_horizon_local = FND_HORIZON_PENDING;
	fnd_horizon_subid = GetCurrentSubTransactionId();
	/* the mark must be seen by anyone who sees the sequence move */
	pg_memory_barrier();
}

/* Keep the ids for the NOTIFY at commit, while agent channels exist. */
static void
fnd_horizon_track(int n, const int64 *ids)
{
	if (fnd_horizon_nids + n > fnd_horizon_maxids)
	{
		int			want = Max(fnd_horizon_maxids * 2, fnd_horizon_nids + n);

		want = Max(want, 16);
		if (fnd_horizon_ids == NULL)
			fnd_horizon_ids = MemoryContextAlloc(TopTransactionContext,
												 want * sizeof(int64));
		else
			fnd_horizon_ids = repalloc(fnd_horizon_ids, want * sizeof(int64));
		fnd_horizon_maxids = want;
	}
	memcpy(fnd_horizon_ids + fnd_horizon_nids, ids, n * sizeof(int64));
	fnd_horizon_nids += n;
}

/* Has an agent channel been made in this database since the start? */
static bool
fnd_horizon_channels_here(void)
{
	int			i;

	if (fnd_horizon->channels_everywhere)
		return true;
	for (i = 0; i < FND_HORIZON_CHANNEL_DBS; i++)
	{
		Oid			db = fnd_horizon->channel_dbs[i];

		if (db == MyDatabaseId)
			return true;
		if (db == InvalidOid)
			return false;
	}
	return false;
}

/* After the ids are drawn (in increasing order): record the first. */
void
fnd_horizon_record(int n, const int64 *ids)
{
	if (fnd_horizon == NULL || n <= 0)
		return;
	if (fnd_horizon_local == FND_HORIZON_PENDING)
	{
		FndHorizonSlot *slot = fnd_horizon_my_slot();

		pg_atomic_write_u64(&slot->first_id, (uint64) ids[0]);
		pg_write_barrier();
		pg_atomic_write_u32(&slot->state, FND_HORIZON_SET);
		fnd_horizon_local = FND_HORIZON_SET;
	}
	if (fnd_horizon_channels_here())
		fnd_horizon_track(n, ids);
}

/* ---- the reader's side -------------------------------------------------- */

/*
 * The identity sequence of fnd_events, checked: increasing, CACHE 1 (see
 * the header comment).  Sets *start to its first value.
 */
static Oid
fnd_horizon_sequence(Oid relid, int64 *start)
{
	AttrNumber	attnum = get_attnum(relid, "id");
	Oid			seq = InvalidOid;
	HeapTuple	tup;
	Form_pg_sequence form;
	bool		ok;

	if (attnum != InvalidAttrNumber)
		seq = getIdentitySequence(relid, attnum, true);
	if (!OidIsValid(seq))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("column id of fnd_events is not an identity column"),
				 errhint("Restore it with ALTER TABLE fnd_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY.")));
	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seq));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seq);
	form = (Form_pg_sequence) GETSTRUCT(tup);
	ok = form->seqcache == 1 && form->seqincrement > 0;
	*start = form->seqstart;
	ReleaseSysCache(tup);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the id sequence of fnd_events must increase by a positive step with CACHE 1"),
				 errdetail("With a cache, sessions hand out ids from private blocks, so ids no longer follow the order in which they are drawn and no reader can tell which are still coming."),
				 errhint("ALTER TABLE fnd_events ALTER COLUMN id SET CACHE 1.")));
	return seq;
}

/* The next id the sequence hands out: its last value + 1, or its start. */
static int64
fnd_horizon_next_id(Oid seq, Oid owner, int64 start)
{
	LOCAL_FCINFO(fcinfo, 1);
	FndCatalogUser save;
	Datum		last;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = ObjectIdGetDatum(seq);
	fcinfo->args[0].isnull = false;
	fnd_catalog_become(owner, &save);
	/* reads the sequence's page under its buffer lock, as nextval writes */
	last = pg_sequence_last_value(fcinfo);
	fnd_catalog_restore(&save);
	if (fcinfo->isnull)
		return start;
	return DatumGetInt64(last) + 1;
}

/*
 * The smallest id recorded in a slot of this database, bounded by bound;
 * false if a slot is still PENDING.
 */
static bool
fnd_horizon_scan(int64 *bound)
{
	int			i;

	for (i = 0; i < fnd_horizon->nslots; i++)
	{
		FndHorizonSlot *slot = &fnd_horizon->slots[i];
		uint32		state = pg_atomic_read_u32(&slot->state);
		int64		first;

		if (state == FND_HORIZON_EMPTY)
			continue;
		pg_read_barrier();
		if (slot->dbid != MyDatabaseId)
			continue;
		if (state == FND_HORIZON_PENDING)
			return false;
		first = (int64) pg_atomic_read_u64(&slot->first_id);
		if (first < *bound)
			*bound = first;
	}
	return true;
}

/*
 * fnd_subscription_horizon() RETURNS bigint: every event id below it
 * belongs to a transaction that has ended; NULL when a writer is drawing
 * an id right now and did not finish within FND_HORIZON_WAIT_US.  The
 * caller reads the events with a snapshot taken after this returns.
 */
PG_FUNCTION_INFO_V1(fnd_subscription_horizon);

Datum
fnd_subscription_horizon(PG_FUNCTION_ARGS)
{
	Oid			seq;
	int64		start;
	int			waited;

	fnd_require_shmem();
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("durable subscriptions are read on the primary"),
				 errdetail("A standby cannot see which event ids the primary's open transactions hold, so it cannot tell which events are still coming."),
				 errhint("Read and acknowledge subscriptions on the primary; on a standby use fnd_query_events with after_id.")));
	fnd_catalog_find(&fnd_events_table, fcinfo->flinfo->fn_oid, false);
	seq = fnd_horizon_sequence(fnd_events_table.relid, &start);

	for (waited = 0;; waited += FND_HORIZON_STEP_US)
	{
		int64		bound = fnd_horizon_next_id(seq, fnd_events_table.owner,
												start);

		pg_memory_barrier();
		if (fnd_horizon_scan(&bound))
			PG_RETURN_INT64(bound);
		if (waited >= FND_HORIZON_WAIT_US)
			PG_RETURN_NULL();
		CHECK_FOR_INTERRUPTS();
		pg_usleep(FND_HORIZON_STEP_US);
	}
}

/*
 * fnd_subscription_channels_on() - an agent channel exists in this
 * database: its writers keep the ids they store for the NOTIFY at commit.
 * Stays on until restart (a listener calls fnd_subscribe_to_agent_events on
 * each connection).
 */
PG_FUNCTION_INFO_V1(fnd_subscription_channels_on);

Datum
fnd_subscription_channels_on(PG_FUNCTION_ARGS)
{
	int			i;

	fnd_require_shmem();
	if (fnd_horizon_channels_here())
		PG_RETURN_VOID();
	SpinLockAcquire(&fnd_horizon->channel_mutex);
	for (i = 0; i < FND_HORIZON_CHANNEL_DBS; i++)
		if (fnd_horizon->channel_dbs[i] == InvalidOid ||
			fnd_horizon->channel_dbs[i] == MyDatabaseId)
			break;
	if (i < FND_HORIZON_CHANNEL_DBS)
		fnd_horizon->channel_dbs[i] = MyDatabaseId;
	else
		fnd_horizon->channels_everywhere = true;
	SpinLockRelease(&fnd_horizon->channel_mutex);
	PG_RETURN_VOID();
}

/* ---- NOTIFY of agent channels, at commit ------------------------------ */

/* Is fnd_subscription_match(jsonb, text, text, text) in schema nsp? */
static bool
fnd_horizon_match_exists(Oid nsp)
{
	Oid			args[4] = {JSONBOID, TEXTOID, TEXTOID, TEXTOID};

	return OidIsValid(GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
									  CStringGetDatum("fnd_subscription_match"),
									  PointerGetDatum(buildoidvector(args, 4)),
									  ObjectIdGetDatum(nsp)));
}

/*
 * The channels' matching events of those this transaction stored: one
 * NOTIFY each, {"id", "type", "agent_id", "correlation_id"}.  Skipped (and
 * counted) when the notification queue is over 90% full, so a slow
 * listener never makes a commit fail or wait.
 */
static void
fnd_horizon_notify(void)
{
	const char *nsp;
	char	   *sql;
	Datum	   *elems;
	Datum		arg;
	Oid			argtype = INT8ARRAYOID;
	uint64		i;
	int			rc;

	/* a database stepped down below 1.2 keeps the table, not the functions */
	if (!fnd_catalog_find(&fnd_channels_table, InvalidOid, true) ||
		!fnd_horizon_match_exists(fnd_channels_table.nsp))
		return;
	nsp = quote_identifier(get_namespace_name(fnd_channels_table.nsp));
	sql = psprintf("SELECT c.channel, pg_catalog.jsonb_build_object('id', e.id, 'type', e.type, "
				   "'agent_id', e.agent_context OPERATOR(pg_catalog.->>) 'agent_id', "
				   "'correlation_id', e.correlation_id)::pg_catalog.text, "
				   "pg_catalog.pg_notification_queue_usage() OPERATOR(pg_catalog.>) %g "
				   "FROM (SELECT (%s.fnd_event_lazy(r)).* FROM %s.fnd_events r "
				   "      WHERE r.id OPERATOR(pg_catalog.=) ANY ($1)) e "
				   "JOIN %s.fnd_event_channels c "
				   "  ON c.agent_id OPERATOR(pg_catalog.=) (e.agent_context OPERATOR(pg_catalog.->>) 'agent_id') "
				   " AND %s.fnd_subscription_match(c.filter, e.type, c.agent_id, e.correlation_id) "
				   "ORDER BY e.id, c.channel",
				   FND_HORIZON_QUEUE_LIMIT, nsp, nsp, nsp, nsp);
	elems = palloc(fnd_horizon_nids * sizeof(Datum));
	for (i = 0; i < (uint64) fnd_horizon_nids; i++)
		elems[i] = Int64GetDatum(fnd_horizon_ids[i]);
	arg = PointerGetDatum(construct_array(elems, fnd_horizon_nids, INT8OID,
										  sizeof(int64), FLOAT8PASSBYVAL,
										  TYPALIGN_DOUBLE));
	fnd_horizon_nids = 0;		/* once, even if this fails */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* at pre-commit no portal is left to hold a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());
	rc = SPI_execute_with_args(sql, 1, &argtype, &arg, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the events to announce failed: %s",
			 SPI_result_code_string(rc));
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		full = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));

		if (full)
		{
			fnd_telemetry_count("foundation.events.notify_skipped",
								(double) (SPI_processed - i));
			break;
		}
		Async_Notify(SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2));
		fnd_telemetry_count("foundation.events.notified", 1);
	}
	PopActiveSnapshot();
	SPI_finish();
}

/* ---- benchmark ------------------------------------------------------------ */

/*
 * fnd_horizon_bench(n int) RETURNS float8: nanoseconds one transaction's
 * bookkeeping costs the writer (mark, record, clear), the mean of n
 * cycles.  Not declared by the extension's SQL: test/bench/subscriptions.sh
 * declares it to print the cost beside fnd_store_event's.  Refuses inside a
 * transaction that stored events (it would clear their mark).
 */
PG_FUNCTION_INFO_V1(fnd_horizon_bench);

Datum
fnd_horizon_bench(PG_FUNCTION_ARGS)
{
	int32		n = PG_GETARG_INT32(0);
	instr_time	start;
	instr_time	elapsed;
	int64		id = PG_INT64_MAX;	/* no reader waits for it */
	int32		i;

	fnd_require_shmem();
	if (n < 1)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("n must be at least 1")));
	if (fnd_horizon_local != FND_HORIZON_EMPTY)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("this transaction stored events")));
	INSTR_TIME_SET_CURRENT(start);
	for (i = 0; i < n; i++)
	{
		fnd_horizon_reserve();
		fnd_horizon_record(1, &id);
		fnd_horizon_xact_callback(XACT_EVENT_COMMIT, NULL);
	}
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	PG_RETURN_FLOAT8(INSTR_TIME_GET_DOUBLE(elapsed) * 1e9 / n);
}
