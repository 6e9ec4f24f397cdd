/*
 * lock_stress.c
 *	  Stress test for foundation locks: N sessions acquire, hold and release
 *	  a few lock names at random (some with leases, some with waits, some
 *	  try-locks) while a killer thread terminates random sessions with
 *	  pg_terminate_backend().  Every acquire and every holding is recorded
 *	  with the server's clock; afterwards the records are checked offline.
 *
 *	  What a record proves.  Each acquire reads the clock just before
 *	  fnd_lock_acquire runs ("before") and just after it returns ("start"),
 *	  in the same statement.  The holding began somewhere in [before, start]
 *	  and a lease starts when its holder takes over, so a leased lock lasts
 *	  at least until before + lease.  The interval a holding is held for
 *	  sure is therefore:
 *	  - released with true:  [start, the clock just before the release];
 *	  - leased, release failed (false or FN602):  [start, before + lease];
 *	  - session-owned, its session killed:  [start, start];
 *	  - leased, its session killed (release outcome unknown):
 *		[start, min(start, before + lease)];
 *	  and empty when its end lies before its start (a lease shorter than
 *	  the acquire took).  The holder may hold longer; never shorter.
 *
 *	  Violations:
 *	  - overlaps: another holding of the name starts inside a held-for-sure
 *		interval;
 *	  - repeated tokens: one token handed out twice (one sequence serves
 *		every name);
 *	  - tokens out of order: a holding that started before another's
 *		acquire began has a token not smaller than that one's;
 *	  - late waiters: an acquire took longer than its wait plus LATE_SLACK;
 *	  - errors: any error other than those of a killed session, including
 *		statement_timeout (set on every session, so a wait that never ends
 *		fails the run instead of hanging it);
 *	  - session locks lost: releasing a session-owned lock while the session
 *		lives returned false or FN602;
 *	  - leases ended early: the release of a leased lock failed (false or
 *		FN602) and had returned before before + lease, i.e. inside the
 *		interval it was held for sure;
 *	  - left held: a stress lock still held after every session ended.
 *
 *	  Prints the operations done and one line "violations: N (overlaps N,
 *	  ...)"; exits 1 if there is any violation, 2 on bad usage.
 *
 *	  LOCK_STRESS_INJECT=KIND adds fake records that break exactly one check
 *	  (KIND: overlap, repeat, disorder, late, lost, early), on a name no
 *	  worker uses, before the checks: test/stress/suite.sh requires each to
 *	  be reported as exactly one violation of its kind.
 *
 *	  usage: lock_stress SESSIONS SECONDS NAMES KILL_INTERVAL_MS
 *	  Connection parameters come from the PG* environment variables.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define LATE_SLACK_US	5000000LL	/* a waiter may overrun its wait by 5 s */
#define STATEMENT_TIMEOUT "15s"		/* > the longest wait + LATE_SLACK_US */

/* how a holding's release ended */
#define REL_TRUE		'r'			/* returned true */
#define REL_FALSE		'f'			/* returned false */
#define REL_NOT_HOLDER	'e'			/* raised FN602 */
#define REL_UNKNOWN		'k'			/* the session was killed first */

typedef struct Holding
{
	int			name;
	long long	token;
	long long	before;			/* server clock, usec, before acquiring */
	long long	start;			/* after fnd_lock_acquire returned */
	long long	lease;			/* usec; 0: session-owned */
	char		outcome;		/* REL_* */
	long long	rel_before;		/* clock before the release (REL_TRUE/FALSE) */
	long long	rel_after;		/* a clock read after a failed release */
} Holding;

/* An acquire that returned (a token or NULL after its wait). */
typedef struct Attempt
{
	long long	before;
	long long	after;
	long long	wait;			/* usec */
} Attempt;

typedef struct Worker
{
	int			id;
	pthread_t	thread;
	volatile int pid;			/* backend pid, 0 while reconnecting */
	unsigned int seed;
	Holding    *holdings;
	long		nholdings;
	long		maxholdings;
	Attempt    *attempts;
	long		nattempts;
	long		maxattempts;
	long		acquired;
	long		timeouts;
	long		killed;
	long		releases;
	long		errors;			/* unexpected errors */
} Worker;

typedef struct Counts
{
	long		overlaps;
	long		repeats;
	long		disorder;
	long		late;
	long		errors;
	long		lost;
	long		early;
	long		leftover;
} Counts;

static int	nsessions;
static int	nseconds;
static int	nnames;
static int	kill_ms;
static volatile int stop_flag = 0;
static Worker *workers;
static long kills_issued = 0;

static void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size);
	if (p == NULL)
	{
		perror("realloc");
		exit(2);
	}
	return p;
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn;

	for (;;)
	{
		conn = PQconnectdb("");
		if (PQstatus(conn) == CONNECTION_OK)
		{
			/* a wait or release that never returns fails instead of hanging */
			PQclear(PQexec(conn, "SET statement_timeout = '" STATEMENT_TIMEOUT "'"));
			return conn;
		}
		fprintf(stderr, "connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		if (stop_flag)
			return NULL;
		usleep(100000);
	}
}

static void
add_holding(Worker *w, const Holding *h)
{
	if (w->nholdings == w->maxholdings)
	{
		w->maxholdings = w->maxholdings ? w->maxholdings * 2 : 1024;
		w->holdings = xrealloc(w->holdings, sizeof(Holding) * w->maxholdings);
	}
	w->holdings[w->nholdings++] = *h;
}

static void
add_attempt(Worker *w, long long before, long long after, long long wait)
{
	if (w->nattempts == w->maxattempts)
	{
		w->maxattempts = w->maxattempts ? w->maxattempts * 2 : 1024;
		w->attempts = xrealloc(w->attempts, sizeof(Attempt) * w->maxattempts);
	}
	w->attempts[w->nattempts].before = before;
	w->attempts[w->nattempts].after = after;
	w->attempts[w->nattempts].wait = wait;
	w->nattempts++;
}

/* Did this result fail because our session was terminated? */
static int
session_gone(PGconn *conn, PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(conn) == CONNECTION_BAD)
		return 1;
	/* 57P01 admin_shutdown: terminating connection due to administrator command */
	return state != NULL && strcmp(state, "57P01") == 0;
}

static int
has_state(PGresult *res, const char *state)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s != NULL && strcmp(s, state) == 0;
}

#define CLOCK_US "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint"

/* the clock before, the token (or NULL), the clock after */
static const char *acquire_sql =
"SELECT b, t, " CLOCK_US " FROM ("
"  SELECT b, fnd_lock_acquire($1, $2::interval, $3::interval) AS t FROM ("
"    SELECT " CLOCK_US " AS b OFFSET 0) s0 OFFSET 0) s1";
/* the clock before, the result, the clock after */
static const char *release_sql =
"SELECT b, r, " CLOCK_US " FROM ("
"  SELECT b, fnd_lock_release($1, $2::bigint) AS r FROM ("
"    SELECT " CLOCK_US " AS b OFFSET 0) s0 OFFSET 0) s1";

static void
drop_connection(Worker *w, PGconn **conn)
{
	PQfinish(*conn);
	*conn = NULL;
	w->pid = 0;
}

/*
 * Release h's lock and record how that ended.  Returns false if the session
 * is gone.
 */
static int
release_holding(Worker *w, PGconn *conn, Holding *h)
{
	char		name[64];
	char		tokbuf[32];
	const char *params[2] = {name, tokbuf};
	PGresult   *res;
	int			alive = 1;

	snprintf(name, sizeof(name), "stress.%d", h->name);
	snprintf(tokbuf, sizeof(tokbuf), "%lld", h->token);
	res = PQexecParams(conn, release_sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		h->outcome = strcmp(PQgetvalue(res, 0, 1), "t") == 0 ? REL_TRUE : REL_FALSE;
		h->rel_before = atoll(PQgetvalue(res, 0, 0));
		h->rel_after = atoll(PQgetvalue(res, 0, 2));
		if (h->outcome == REL_TRUE)
			w->releases++;
	}
	else if (session_gone(conn, res))
	{
		h->outcome = REL_UNKNOWN;
		w->killed++;
		alive = 0;
	}
	else if (has_state(res, "FN602"))
	{
		PGresult   *now;

		/* an upper bound of when FN602 was decided, for "ended early" */
		h->outcome = REL_NOT_HOLDER;
		now = PQexec(conn, "SELECT " CLOCK_US);
		if (PQresultStatus(now) == PGRES_TUPLES_OK)
			h->rel_after = atoll(PQgetvalue(now, 0, 0));
		else
		{
			h->outcome = REL_UNKNOWN;	/* killed before we could tell */
			alive = !session_gone(conn, now);
		}
		PQclear(now);
	}
	else
	{
		w->errors++;
		h->outcome = REL_UNKNOWN;
		fprintf(stderr, "release error: %s", PQerrorMessage(conn));
	}
	PQclear(res);
	return alive;
}

/*
 * One acquire of a random name; on success hold it a while and release it.
 * Returns false if the session is gone.
 */
static int
worker_round(Worker *w, PGconn *conn)
{
	char		name[64];
	char		waitbuf[32];
	char		leasebuf[32];
	const char *params[3] = {name, waitbuf, NULL};
	Holding		h = {0};
	int			wait_ms;
	PGresult   *res;

	h.name = rand_r(&w->seed) % nnames;
	snprintf(name, sizeof(name), "stress.%d", h.name);
	/* a third try-locks, the rest wait up to 300 ms */
	wait_ms = (rand_r(&w->seed) % 3 == 0) ? 0 : rand_r(&w->seed) % 300;
	snprintf(waitbuf, sizeof(waitbuf), "%d ms", wait_ms);
	/* one in five leased, with a lease close to the hold time */
	if (rand_r(&w->seed) % 5 == 0)
	{
		int			lease_ms = 5 + rand_r(&w->seed) % 40;

		snprintf(leasebuf, sizeof(leasebuf), "%d ms", lease_ms);
		params[2] = leasebuf;
		h.lease = lease_ms * 1000LL;
	}

	res = PQexecParams(conn, acquire_sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		int			gone = session_gone(conn, res);

		if (gone)
			w->killed++;
		else
		{
			w->errors++;
			fprintf(stderr, "acquire error: %s", PQerrorMessage(conn));
		}
		PQclear(res);
		return !gone;
	}
	h.before = atoll(PQgetvalue(res, 0, 0));
	h.start = atoll(PQgetvalue(res, 0, 2));
	add_attempt(w, h.before, h.start, wait_ms * 1000LL);
	if (PQgetisnull(res, 0, 1))
	{
		w->timeouts++;
		PQclear(res);
		return 1;
	}
	h.token = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	w->acquired++;

	/* hold for a while */
	usleep((rand_r(&w->seed) % 20) * 1000);

	{
		int			alive = release_holding(w, conn, &h);

		add_holding(w, &h);
		return alive;
	}
}

static void *
worker_main(void *arg)
{
	Worker	   *w = (Worker *) arg;
	PGconn	   *conn = NULL;

	while (!stop_flag)
	{
		if (conn == NULL)
		{
			PGresult   *res;

			conn = connect_db();
			if (conn == NULL)
				break;
			res = PQexec(conn, "SELECT pg_backend_pid()");
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				w->pid = atoi(PQgetvalue(res, 0, 0));
			PQclear(res);
		}
		if (!worker_round(w, conn))
			drop_connection(w, &conn);
	}
	if (conn)
		PQfinish(conn);
	w->pid = 0;
	return NULL;
}

static void *
killer_main(void *arg __attribute__((unused)))
{
	PGconn	   *conn = connect_db();
	unsigned int seed = 4242;

	while (conn != NULL && !stop_flag)
	{
		int			victim;
		char		pidbuf[16];
		const char *params[1];
		PGresult   *res;
		int			slept;

		/* sleep in short slices so the end of the run is noticed */
		for (slept = 0; slept < kill_ms && !stop_flag; slept += 10)
			usleep(10000);
		if (stop_flag)
			break;
		victim = workers[rand_r(&seed) % nsessions].pid;
		if (victim == 0)
			continue;
		snprintf(pidbuf, sizeof(pidbuf), "%d", victim);
		params[0] = pidbuf;
		res = PQexecParams(conn, "SELECT pg_terminate_backend($1::int, 10000)",
						   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
			strcmp(PQgetvalue(res, 0, 0), "t") == 0)
			kills_issued++;
		PQclear(res);
	}
	if (conn)
		PQfinish(conn);
	return NULL;
}

/* ---------- the checks ---------- */

/* End of h's held-for-sure interval; it is empty when this is < h->start. */
static long long
sure_end(const Holding *h)
{
	long long	lease_end = h->before + h->lease;

	switch (h->outcome)
	{
		case REL_TRUE:
			return h->rel_before;
		case REL_FALSE:
		case REL_NOT_HOLDER:
			/* a session lock that failed to release is counted as lost */
			return h->lease ? lease_end : h->start;
		default:				/* killed: only known at its start */
			if (h->lease && lease_end < h->start)
				return lease_end;
			return h->start;
	}
}

static int
cmp_token(const void *a, const void *b)
{
	const Holding *x = a;
	const Holding *y = b;

	return x->token < y->token ? -1 : (x->token > y->token);
}

static int
cmp_name_start(const void *a, const void *b)
{
	const Holding *x = a;
	const Holding *y = b;

	if (x->name != y->name)
		return x->name - y->name;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->token < y->token ? -1 : (x->token > y->token);
}

static int
cmp_ptr_before(const void *a, const void *b)
{
	const Holding *x = *(Holding *const *) a;
	const Holding *y = *(Holding *const *) b;

	return x->before < y->before ? -1 : (x->before > y->before);
}

/* Tokens never repeat.  Sorts all by token. */
static long
check_repeats(Holding *all, long n)
{
	long		repeats = 0;

	qsort(all, n, sizeof(Holding), cmp_token);
	for (long i = 1; i < n; i++)
		if (all[i].token == all[i - 1].token)
		{
			repeats++;
			fprintf(stderr, "token %lld handed out twice\n", all[i].token);
		}
	return repeats;
}

/*
 * No holding of a name is granted inside another's held-for-sure interval.
 * A holding is held throughout its own interval when that is not empty, and
 * in any case at its grant, which lies in [before, start]: so holding i
 * meets an earlier j for sure when start_i < end_j and either i's interval
 * is not empty (start_j <= start_i) or i's whole acquire came after j's
 * start (start_j < before_i).  The n holdings of one name, sorted by start.
 */
static long
check_overlaps_one_name(const Holding *h, long n)
{
	long long  *maxend = malloc(sizeof(long long) * (n + 1));	/* over 0..k */
	long		overlaps = 0;

	for (long k = 0; k < n; k++)
	{
		long long	e = sure_end(&h[k]) >= h[k].start ? sure_end(&h[k]) : 0;

		maxend[k] = (k > 0 && maxend[k - 1] > e) ? maxend[k - 1] : e;
	}
	for (long i = 1; i < n; i++)
	{
		long		k = i - 1;	/* the last earlier holding that counts */

		if (sure_end(&h[i]) < h[i].start)
			while (k >= 0 && h[k].start >= h[i].before)
				k--;
		if (k >= 0 && h[i].start < maxend[k])
		{
			overlaps++;
			fprintf(stderr, "stress.%d: token %lld granted by %lld while an earlier holding "
					"was held for sure until %lld\n",
					h[i].name, h[i].token, h[i].start, maxend[k]);
		}
	}
	free(maxend);
	return overlaps;
}

/*
 * Per name: a holding that started (acquire returned) before another's
 * acquire began got the smaller token.  The n holdings of one name, sorted
 * by start.
 */
static long
check_order_one_name(const Holding *h, long n)
{
	const Holding **by_before = malloc(sizeof(Holding *) * (n + 1));
	long		disorder = 0;
	long		a = 0;
	long long	maxtok = -1;

	for (long i = 0; i < n; i++)
		by_before[i] = &h[i];
	qsort(by_before, n, sizeof(Holding *), cmp_ptr_before);
	for (long i = 0; i < n; i++)
	{
		const Holding *b = by_before[i];

		/* every holding that started before b's acquire began */
		for (; a < n && h[a].start < b->before; a++)
			if (h[a].token > maxtok)
				maxtok = h[a].token;
		if (maxtok >= b->token)
		{
			disorder++;
			fprintf(stderr, "stress.%d: token %lld acquired after token %lld\n",
					b->name, b->token, maxtok);
		}
	}
	free(by_before);
	return disorder;
}

/* Run the per-name checks over all, sorted by name, then start. */
static void
check_per_name(const Holding *all, long n, Counts *c)
{
	long		first = 0;

	for (long i = 1; i <= n; i++)
		if (i == n || all[i].name != all[first].name)
		{
			c->overlaps += check_overlaps_one_name(all + first, i - first);
			c->disorder += check_order_one_name(all + first, i - first);
			first = i;
		}
}

/* Failed releases: of a live session's lock, or inside a lease. */
static void
check_releases(const Holding *all, long n, Counts *c)
{
	for (long i = 0; i < n; i++)
	{
		const Holding *h = &all[i];

		if (h->outcome != REL_FALSE && h->outcome != REL_NOT_HOLDER)
			continue;
		if (h->lease == 0)
		{
			c->lost++;
			fprintf(stderr, "stress.%d: session lock with token %lld lost: release %s\n",
					h->name, h->token, h->outcome == REL_FALSE ? "returned false" : "raised FN602");
		}
		else if (h->rel_after < h->before + h->lease)
		{
			c->early++;
			fprintf(stderr, "stress.%d: lease of token %lld ended early: release %s "
					"%lld us before the lease could end\n", h->name, h->token,
					h->outcome == REL_FALSE ? "returned false" : "raised FN602",
					h->before + h->lease - h->rel_after);
		}
	}
}

static long
check_late(const Attempt *at, long n)
{
	long		late = 0;

	for (long i = 0; i < n; i++)
		if (at[i].after - at[i].before > at[i].wait + LATE_SLACK_US)
		{
			late++;
			fprintf(stderr, "an acquire with a wait of %lld ms took %lld ms\n",
					at[i].wait / 1000, (at[i].after - at[i].before) / 1000);
		}
	return late;
}

/* Nothing is left held once every session is gone: the count, or -1. */
static long
check_leftover(void)
{
	PGconn	   *conn = connect_db();
	long		leftover = -1;

	if (conn == NULL)
		return -1;
	for (int i = 0; i < 100; i++)
	{
		PGresult   *res = PQexec(conn, "SELECT count(*) FROM fnd_locks WHERE name LIKE 'stress.%' "
								 "AND (lease_expires_at IS NULL OR lease_expires_at > clock_timestamp())");

		if (PQresultStatus(res) == PGRES_TUPLES_OK)
			leftover = atol(PQgetvalue(res, 0, 0));
		PQclear(res);
		if (leftover == 0)
			break;
		usleep(100000);			/* exiting backends may still be cleaning up */
	}
	PQfinish(conn);
	if (leftover != 0)
		fprintf(stderr, "%ld stress locks left held after all sessions ended\n", leftover);
	return leftover;
}

/* ---------- self-test: records that break exactly one check ---------- */

#define INJECT_TOKEN 9000000000000000000LL

static Holding
fake(int name, long long token, long long before, long long start,
	 char outcome, long long rel_before)
{
	Holding		h = {name, token, before, start, 0, outcome, rel_before, rel_before};

	return h;
}

/*
 * Add the fake records for kind to all (room for two) and at (room for
 * one).  Returns false for an unknown kind.
 */
static int
inject(const char *kind, Holding *all, long *n, Attempt *at, long *nat)
{
	int			x = nnames;		/* a name no worker uses */

	if (strcmp(kind, "overlap") == 0)
	{
		/* the second starts inside the first; tokens distinct, increasing */
		all[(*n)++] = fake(x, INJECT_TOKEN, 900, 1000, REL_TRUE, 3000);
		all[(*n)++] = fake(x, INJECT_TOKEN + 1, 1900, 2000, REL_TRUE, 4000);
	}
	else if (strcmp(kind, "repeat") == 0)
	{
		/* one token on two names, one after the other */
		all[(*n)++] = fake(x, INJECT_TOKEN, 900, 1000, REL_TRUE, 2000);
		all[(*n)++] = fake(x + 1, INJECT_TOKEN, 2900, 3000, REL_TRUE, 4000);
	}
	else if (strcmp(kind, "disorder") == 0)
	{
		/* one after the other, the later with the smaller token */
		all[(*n)++] = fake(x, INJECT_TOKEN + 1, 900, 1000, REL_TRUE, 2000);
		all[(*n)++] = fake(x, INJECT_TOKEN, 2900, 3000, REL_TRUE, 4000);
	}
	else if (strcmp(kind, "late") == 0)
	{
		/* a 100 ms wait that took 1 s more than the slack */
		at[*nat].before = 0;
		at[*nat].wait = 100000;
		at[*nat].after = at[*nat].wait + LATE_SLACK_US + 1000000;
		(*nat)++;
	}
	else if (strcmp(kind, "lost") == 0)
		all[(*n)++] = fake(x, INJECT_TOKEN, 900, 1000, REL_FALSE, 2000);
	else if (strcmp(kind, "early") == 0)
	{
		/* a 1 s lease whose release raised FN602 after 2 ms */
		Holding		h = fake(x, INJECT_TOKEN, 900, 1000, REL_NOT_HOLDER, 2000);

		h.lease = 1000000;
		h.rel_after = 2900;
		all[(*n)++] = h;
	}
	else
		return 0;
	return 1;
}

/* ---------- main ---------- */

static void
start_threads(pthread_t *killer)
{
	workers = calloc(nsessions, sizeof(Worker));
	if (workers == NULL)
		exit(2);
	for (int i = 0; i < nsessions; i++)
	{
		workers[i].id = i;
		workers[i].seed = 1000 + i;
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}
	pthread_create(killer, NULL, killer_main, NULL);
}

/* Every worker's holdings and attempts in two arrays, with room to inject. */
static void
gather(Holding **all, long *nall, Attempt **at, long *nat)
{
	long		nh = 0;
	long		na = 0;

	for (int i = 0; i < nsessions; i++)
	{
		nh += workers[i].nholdings;
		na += workers[i].nattempts;
	}
	*all = xrealloc(NULL, sizeof(Holding) * (nh + 2));
	*at = xrealloc(NULL, sizeof(Attempt) * (na + 1));
	*nall = 0;
	*nat = 0;
	for (int i = 0; i < nsessions; i++)
	{
		memcpy(*all + *nall, workers[i].holdings, sizeof(Holding) * workers[i].nholdings);
		*nall += workers[i].nholdings;
		memcpy(*at + *nat, workers[i].attempts, sizeof(Attempt) * workers[i].nattempts);
		*nat += workers[i].nattempts;
	}
}

/*
 * How many holdings the per-name checks see held for a while, and how many
 * of those are leased: a check over nothing proves nothing.
 */
static void
report_coverage(const Holding *all, long n)
{
	long		sure = 0;
	long		leased = 0;
	long		lapsed = 0;

	for (long i = 0; i < n; i++)
	{
		if (all[i].lease && (all[i].outcome == REL_FALSE || all[i].outcome == REL_NOT_HOLDER))
			lapsed++;
		if (sure_end(&all[i]) > all[i].start)
		{
			sure++;
			if (all[i].lease)
				leased++;
		}
	}
	printf("lock stress: %ld holdings, %ld held for sure for a while (%ld of them leased); "
		   "%ld leases lapsed before their release\n", n, sure, leased, lapsed);
}

static void
report(const Counts *c)
{
	long		acquired = 0, timeouts = 0, killed = 0, releases = 0;
	long		violations;

	for (int i = 0; i < nsessions; i++)
	{
		acquired += workers[i].acquired;
		timeouts += workers[i].timeouts;
		killed += workers[i].killed;
		releases += workers[i].releases;
	}
	violations = c->overlaps + c->repeats + c->disorder + c->late + c->errors +
		c->lost + c->early + (c->leftover != 0);
	printf("lock stress: %d sessions, %d s, %d names: %ld ops (%ld acquired, %ld released, "
		   "%ld timed out, %ld interrupted by %ld kills)\n",
		   nsessions, nseconds, nnames, acquired + timeouts + killed + releases,
		   acquired, releases, timeouts, killed, kills_issued);
	printf("violations: %ld (overlaps %ld, repeated tokens %ld, tokens out of order %ld, "
		   "late waiters %ld, errors %ld, session locks lost %ld, leases ended early %ld, "
		   "left held %ld)\n",
		   violations, c->overlaps, c->repeats, c->disorder, c->late, c->errors,
		   c->lost, c->early, c->leftover < 0 ? 1 : c->leftover);
}

int
main(int argc, char **argv)
{
	pthread_t	killer;
	Holding    *all;
	Attempt    *at;
	long		nall;
	long		nat;
	Counts		c = {0};
	const char *kind = getenv("LOCK_STRESS_INJECT");

	if (argc != 5)
	{
		fprintf(stderr, "usage: %s SESSIONS SECONDS NAMES KILL_INTERVAL_MS\n", argv[0]);
		return 2;
	}
	nsessions = atoi(argv[1]);
	nseconds = atoi(argv[2]);
	nnames = atoi(argv[3]);
	kill_ms = atoi(argv[4]);
	if (nsessions < 1 || nseconds < 1 || nnames < 1 || kill_ms < 1)
	{
		fprintf(stderr, "arguments must be positive\n");
		return 2;
	}

	start_threads(&killer);
	sleep(nseconds);
	stop_flag = 1;
	pthread_join(killer, NULL);
	for (int i = 0; i < nsessions; i++)
	{
		pthread_join(workers[i].thread, NULL);
		c.errors += workers[i].errors;
	}

	gather(&all, &nall, &at, &nat);
	if (kind != NULL && !inject(kind, all, &nall, at, &nat))
	{
		fprintf(stderr, "LOCK_STRESS_INJECT: unknown kind \"%s\"\n", kind);
		return 2;
	}
	c.repeats = check_repeats(all, nall);
	qsort(all, nall, sizeof(Holding), cmp_name_start);
	check_per_name(all, nall, &c);
	check_releases(all, nall, &c);
	c.late = check_late(at, nat);
	c.leftover = check_leftover();
	report_coverage(all, nall);
	report(&c);
	return (c.overlaps + c.repeats + c.disorder + c.late + c.errors + c.lost +
			c.early == 0 && c.leftover == 0) ? 0 : 1;
}
