/*
 * lock_stress.c
 *	  Stress test for foundation locks: N sessions acquire, hold and release
 *	  a few lock names at random (some with leases, some with waits, some
 *	  try-locks) while a killer thread terminates random sessions with
 *	  pg_terminate_backend().  Every holding is recorded with the server's
 *	  clock; afterwards the records are checked offline:
 *
 *	  - mutual exclusion: no two holdings of a name provably overlap.  A
 *		holding is known to last from the moment after fnd_lock_acquire
 *		returned (clock_timestamp() evaluated after it) to the moment before
 *		fnd_lock_release ran (clock_timestamp() evaluated before it), and
 *		only if that release succeeded; a session-owned holding whose
 *		session was killed is only known to exist at its start; a leased
 *		holding whose release failed (its lease ran out, maybe even before
 *		acquire returned) is not known to exist at any recorded moment and
 *		is left out of the per-name checks.  Known intervals lie inside the
 *		true ones, so an overlap of known intervals is a real violation,
 *		never a false alarm;
 *	  - tokens are never handed out twice, and increase per name in the
 *		order of acquisition;
 *	  - every acquire returned a token, returned NULL after its wait, or
 *		failed because its session was killed: nobody waited past its wait
 *		(plus a slack) and no other error happened;
 *	  - a session-owned lock is never lost while its session lives;
 *	  - after all sessions are gone, no stress lock is left held.
 *
 *	  Prints the operations done and the violations found; exits 1 if any.
 *
 *	  With LOCK_STRESS_INJECT=1 two fake holdings of one name, with the same
 *	  token and overlapping, are added before the checks, to show they fail.
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

typedef struct Holding
{
	int			name;			/* -1: not known to hold at any moment */
	long long	token;
	long long	start;			/* server clock, usec, just after acquiring */
	long long	end;			/* just before a successful release, or start */
} Holding;

typedef struct Worker
{
	int			id;
	pthread_t	thread;
	volatile int pid;			/* backend pid, 0 while reconnecting */
	unsigned int seed;
	Holding    *holdings;
	int			nholdings;
	int			maxholdings;
	long		acquired;
	long		timeouts;
	long		killed;
	long		releases;
	long		late;			/* acquires that overran their wait */
	long		errors;			/* unexpected errors */
	long		lost;			/* session-owned locks lost while alive */
} Worker;

static int	nsessions;
static int	nseconds;
static int	nnames;
static int	kill_ms;
static volatile int stop_flag = 0;
static Worker *workers;
static long kills_issued = 0;

static double
now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn;

	for (;;)
	{
		conn = PQconnectdb("");
		if (PQstatus(conn) == CONNECTION_OK)
			return conn;
		fprintf(stderr, "connect: %s", PQerrorMessage(conn));
		PQfinish(conn);
		if (stop_flag)
			return NULL;
		usleep(100000);
	}
}

static void
add_holding(Worker *w, int name, long long token, long long start, long long end)
{
	if (w->nholdings == w->maxholdings)
	{
		w->maxholdings = w->maxholdings ? w->maxholdings * 2 : 1024;
		w->holdings = realloc(w->holdings, sizeof(Holding) * w->maxholdings);
		if (w->holdings == NULL)
		{
			perror("realloc");
			exit(2);
		}
	}
	w->holdings[w->nholdings].name = name;
	w->holdings[w->nholdings].token = token;
	w->holdings[w->nholdings].start = start;
	w->holdings[w->nholdings].end = end;
	w->nholdings++;
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

static const char *acquire_sql =
"SELECT t, (extract(epoch FROM clock_timestamp()) * 1000000)::bigint "
"FROM (SELECT fnd_lock_acquire($1, $2::interval, $3::interval) AS t OFFSET 0) s";
static const char *release_sql =
"SELECT ts, fnd_lock_release($1, $2::bigint) "
"FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS ts OFFSET 0) s";

static void *
worker_main(void *arg)
{
	Worker	   *w = (Worker *) arg;
	PGconn	   *conn = NULL;

	while (!stop_flag)
	{
		char		name[64];
		char		waitbuf[32];
		char		leasebuf[32];
		const char *params[3];
		int			n = rand_r(&w->seed) % nnames;
		int			wait_ms;
		int			lease_ms = 0;
		double		t0;
		PGresult   *res;
		long long	token;
		long long	start;
		char		tokbuf[32];

		if (conn == NULL)
		{
			conn = connect_db();
			if (conn == NULL)
				break;
			res = PQexec(conn, "SELECT pg_backend_pid()");
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				w->pid = atoi(PQgetvalue(res, 0, 0));
			PQclear(res);
		}

		snprintf(name, sizeof(name), "stress.%d", n);
		/* a third try-locks, the rest wait up to 300 ms */
		wait_ms = (rand_r(&w->seed) % 3 == 0) ? 0 : rand_r(&w->seed) % 300;
		snprintf(waitbuf, sizeof(waitbuf), "%d ms", wait_ms);
		/* one in five leased, with a lease close to the hold time */
		if (rand_r(&w->seed) % 5 == 0)
			lease_ms = 5 + rand_r(&w->seed) % 40;
		snprintf(leasebuf, sizeof(leasebuf), "%d ms", lease_ms);
		params[0] = name;
		params[1] = waitbuf;
		params[2] = lease_ms ? leasebuf : NULL;

		t0 = now_sec();
		res = PQexecParams(conn, acquire_sql, 3, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			if (session_gone(conn, res))
				w->killed++;
			else
			{
				w->errors++;
				fprintf(stderr, "acquire error: %s", PQerrorMessage(conn));
			}
			PQclear(res);
			PQfinish(conn);
			conn = NULL;
			w->pid = 0;
			continue;
		}
		/* served or timed out, within its wait plus a generous slack */
		if (now_sec() - t0 > wait_ms / 1000.0 + 5.0)
			w->late++;
		if (PQgetisnull(res, 0, 0))
		{
			w->timeouts++;
			PQclear(res);
			continue;
		}
		token = atoll(PQgetvalue(res, 0, 0));
		start = atoll(PQgetvalue(res, 0, 1));
		PQclear(res);
		w->acquired++;

		/* hold for a while */
		usleep((rand_r(&w->seed) % 20) * 1000);

		snprintf(tokbuf, sizeof(tokbuf), "%lld", token);
		params[1] = tokbuf;
		res = PQexecParams(conn, release_sql, 2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) == PGRES_TUPLES_OK &&
			strcmp(PQgetvalue(res, 0, 1), "t") == 0)
		{
			add_holding(w, n, token, start, atoll(PQgetvalue(res, 0, 0)));
			w->releases++;
			PQclear(res);
			continue;
		}
		/*
		 * A session lock is known to be held at its start; a leased one whose
		 * release failed may have lapsed before acquire returned.
		 */
		add_holding(w, lease_ms ? -1 : n, token, start, start);
		if (PQresultStatus(res) != PGRES_TUPLES_OK && session_gone(conn, res))
		{
			w->killed++;
			PQclear(res);
			PQfinish(conn);
			conn = NULL;
			w->pid = 0;
			continue;
		}
		if (lease_ms == 0)
		{
			/* released false, or FN602: a session lock lost while alive */
			w->lost++;
			fprintf(stderr, "session lock %s token %lld lost: %s\n", name, token,
					PQresultStatus(res) == PGRES_TUPLES_OK ? "release returned false" :
					PQerrorMessage(conn));
		}
		else if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			/* a lapsed lease may be re-acquired by someone else: FN602 */
			if (state == NULL || strcmp(state, "FN602") != 0)
			{
				w->errors++;
				fprintf(stderr, "release error: %s", PQerrorMessage(conn));
			}
		}
		PQclear(res);
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

static int
cmp_start(const void *a, const void *b)
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
cmp_token(const void *a, const void *b)
{
	const Holding *x = a;
	const Holding *y = b;

	return x->token < y->token ? -1 : (x->token > y->token);
}

int
main(int argc, char **argv)
{
	pthread_t	killer;
	Holding    *all;
	long		nall = 0;
	long		i;
	long		overlaps = 0;
	long		repeats = 0;
	long		disorder = 0;
	long		acquired = 0, timeouts = 0, killed = 0, releases = 0;
	long		late = 0, errors = 0, lost = 0;
	long		leftover = -1;
	long		violations;
	PGconn	   *conn;
	PGresult   *res;

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

	workers = calloc(nsessions, sizeof(Worker));
	for (i = 0; i < nsessions; i++)
	{
		workers[i].id = i;
		workers[i].seed = 1000 + i;
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	}
	pthread_create(&killer, NULL, killer_main, NULL);
	sleep(nseconds);
	stop_flag = 1;
	pthread_join(killer, NULL);
	for (i = 0; i < nsessions; i++)
		pthread_join(workers[i].thread, NULL);

	for (i = 0; i < nsessions; i++)
	{
		nall += workers[i].nholdings;
		acquired += workers[i].acquired;
		timeouts += workers[i].timeouts;
		killed += workers[i].killed;
		releases += workers[i].releases;
		late += workers[i].late;
		errors += workers[i].errors;
		lost += workers[i].lost;
	}
	all = malloc(sizeof(Holding) * (nall + 2));
	nall = 0;
	for (i = 0; i < nsessions; i++)
	{
		memcpy(all + nall, workers[i].holdings, sizeof(Holding) * workers[i].nholdings);
		nall += workers[i].nholdings;
	}

	if (getenv("LOCK_STRESS_INJECT") != NULL)
	{
		/* two holdings of one name with one token, the second inside the first */
		all[nall].name = 0;
		all[nall].token = 1;
		all[nall].start = 1000;
		all[nall].end = 3000;
		all[nall + 1] = all[nall];
		all[nall + 1].start = 2000;
		nall += 2;
	}

	/* tokens never repeat (one sequence serves every name) */
	qsort(all, nall, sizeof(Holding), cmp_token);
	for (i = 1; i < nall; i++)
		if (all[i].token == all[i - 1].token)
		{
			repeats++;
			fprintf(stderr, "token %lld handed out twice\n", all[i].token);
		}

	/* per name, in order of acquisition: no overlap, tokens increase */
	qsort(all, nall, sizeof(Holding), cmp_start);
	for (i = 1; i < nall; i++)
	{
		long		j;
		long long	maxend = 0;

		if (all[i].name < 0 || all[i].name != all[i - 1].name)
			continue;
		if (all[i].token <= all[i - 1].token)
		{
			disorder++;
			fprintf(stderr, "stress.%d: token %lld acquired after %lld\n",
					all[i].name, all[i].token, all[i - 1].token);
		}
		/* latest known end among earlier holdings of this name */
		for (j = i - 1; j >= 0 && all[j].name == all[i].name; j--)
			if (all[j].end > maxend)
				maxend = all[j].end;
		if (all[i].start < maxend)
		{
			overlaps++;
			fprintf(stderr, "stress.%d: token %lld acquired while an earlier holding still held it\n",
					all[i].name, all[i].token);
		}
	}

	/* nothing is left held once every session is gone */
	conn = connect_db();
	if (conn != NULL)
	{
		for (i = 0; i < 100; i++)
		{
			res = PQexec(conn, "SELECT count(*) FROM fnd_locks WHERE name LIKE 'stress.%' "
						 "AND (lease_expires_at IS NULL OR lease_expires_at > clock_timestamp())");
			if (PQresultStatus(res) == PGRES_TUPLES_OK)
				leftover = atol(PQgetvalue(res, 0, 0));
			PQclear(res);
			if (leftover == 0)
				break;
			usleep(100000);		/* exiting backends may still be cleaning up */
		}
		PQfinish(conn);
	}
	if (leftover != 0)
		fprintf(stderr, "%ld stress locks left held after all sessions ended\n", leftover);

	violations = overlaps + repeats + disorder + late + errors + lost + (leftover != 0);
	printf("lock stress: %d sessions, %d s, %d names: %ld ops (%ld acquired, %ld released, "
		   "%ld timed out, %ld interrupted by %ld kills)\n",
		   nsessions, nseconds, nnames, acquired + timeouts + killed + releases,
		   acquired, releases, timeouts, killed, kills_issued);
	printf("violations: %ld (overlaps %ld, repeated tokens %ld, tokens out of order %ld, "
		   "late waiters %ld, errors %ld, session locks lost %ld, left held %ld)\n",
		   violations, overlaps, repeats, disorder, late, errors, lost,
		   leftover < 0 ? 0 : leftover);
	return violations == 0 ? 0 : 1;
}
