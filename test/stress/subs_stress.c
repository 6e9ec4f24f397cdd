/*
 * subs_stress.c
 *	  Stress test for durable event subscriptions (docs/subscriptions.md):
 *	  WRITERS sessions store events in transactions of every shape while
 *	  two readers follow two subscriptions with different filters; at the
 *	  end each reader must have processed every committed matching event,
 *	  in id order, exactly once, and never a rolled-back one.
 *
 *	  Writers, each transaction one of:
 *	  - one event, committed;
 *	  - 2 to 5 events (some through one fnd_store_events batch), committed;
 *	  - 1 to 3 events, rolled back;
 *	  - "early xid": the transaction first writes an unrelated row (so its
 *		xid is older than those of transactions that store after it), holds
 *		it for a random 0-40 ms, stores 1 to 3 events, holds again, then
 *		commits or (one in three) rolls back.
 *	  Event types are stress.a, stress.b, stress.c at random; a writer knows
 *	  each id it stored and whether its transaction committed.
 *
 *	  Readers: subscription stress_ab (types a, b) and stress_bc (b, c),
 *	  both created 'now' before the writers start.  Each read takes 1 to 200
 *	  rows; the reader processes a random prefix of them (usually all) and
 *	  acknowledges the last one processed.  Checks on every read:
 *	  - order: ids rise, and the first is above the acknowledged id;
 *	  - redelivery: the first row of a read is the first row left
 *		unprocessed by the previous read (at-least-once: what was not
 *		acknowledged comes back first, nothing is skipped).
 *	  After the writers stop, each reader reads until it gets nothing.
 *	  Then offline, per reader:
 *	  - missing: a committed matching event never processed;
 *	  - duplicates: an event processed twice;
 *	  - rolled back: a processed event whose transaction rolled back (or
 *		that no writer stored);
 *	  - errors: any SQL error.
 *
 *	  Prints the work done and "violations: N (missing N, duplicates N,
 *	  out of order N, redelivery N, rolled back N, errors N)"; exits 1 on
 *	  any violation, 2 on bad usage.  SUBS_STRESS_INJECT=KIND (missing,
 *	  duplicate, rollback, order) corrupts reader stress_ab's record after
 *	  the run, so that exactly one violation of that kind must be reported
 *	  (test/stress/suite.sh checks it).
 *
 *	  usage: subs_stress WRITERS SECONDS
 *	  Connection parameters come from the PG* environment variables.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define STATEMENT_TIMEOUT "30s"
#define NTYPES 3
static const char *const type_names[NTYPES] = {"stress.a", "stress.b", "stress.c"};

typedef struct Event
{
	long long	id;
	int			type;
	int			committed;
} Event;

typedef struct IdList
{
	long long  *v;
	int			n;
	int			cap;
} IdList;

typedef struct Writer
{
	int			no;
	Event	   *ev;
	int			n;
	int			cap;
	long		txns;
	long		errors;
} Writer;

typedef struct Reader
{
	const char *name;
	int			types[NTYPES];	/* 1 if the filter has the type */
	IdList		done;			/* processed, in order */
	long		reads;
	long		order;
	long		redelivery;
	long		errors;
} Reader;

static volatile int writers_running = 1;
static time_t deadline;

static void
die(const char *msg, PGconn *conn)
{
	fprintf(stderr, "subs_stress: %s: %s\n", msg, conn ? PQerrorMessage(conn) : "");
	exit(2);
}

static PGconn *
connect_db(void)
{
	PGconn	   *conn = PQconnectdb("");

	if (PQstatus(conn) != CONNECTION_OK)
		die("connection failed", conn);
	PQclear(PQexec(conn, "SET statement_timeout = '" STATEMENT_TIMEOUT "'"));
	return conn;
}

static void
push_id(IdList *l, long long id)
{
	if (l->n == l->cap)
	{
		l->cap = l->cap ? l->cap * 2 : 1024;
		l->v = realloc(l->v, l->cap * sizeof(long long));
	}
	l->v[l->n++] = id;
}

/* Run sql; true if it succeeded.  Counts and prints a failure. */
static int
run(PGconn *conn, const char *sql, long *errors, PGresult **out)
{
	PGresult   *res = PQexec(conn, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		(*errors)++;
		fprintf(stderr, "subs_stress: error in \"%.80s\": %s", sql, PQerrorMessage(conn));
		PQclear(res);
		if (out)
			*out = NULL;
		return 0;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 1;
}

static void
hold(unsigned *seed, int max_ms)
{
	usleep((rand_r(seed) % (max_ms + 1)) * 1000);
}

/* Store k events in the open transaction, as one batch or one by one. */
static int
store_events(PGconn *conn, Writer *w, unsigned *seed, int k, int *first)
{
	char		sql[2048];
	int			types[8];
	int			i;
	PGresult   *res;

	*first = w->n;
	for (i = 0; i < k; i++)
		types[i] = rand_r(seed) % NTYPES;
	if (k > 1 && rand_r(seed) % 2)
	{
		int			len = snprintf(sql, sizeof(sql), "SELECT * FROM fnd_store_events('[");

		for (i = 0; i < k; i++)
			len += snprintf(sql + len, sizeof(sql) - len, "%s{\"type\": \"%s\", \"data\": {\"w\": %d}}",
							i ? ", " : "", type_names[types[i]], w->no);
		snprintf(sql + len, sizeof(sql) - len, "]')");
		if (!run(conn, sql, &w->errors, &res))
			return 0;
	}
	else
	{
		int			len = snprintf(sql, sizeof(sql), "SELECT * FROM (VALUES ");

		for (i = 0; i < k; i++)
			len += snprintf(sql + len, sizeof(sql) - len, "%s(%d, fnd_store_event('%s', '{\"w\": %d}'))",
							i ? ", " : "", i, type_names[types[i]], w->no);
		snprintf(sql + len, sizeof(sql) - len, ") v(o, id) ORDER BY o");
		if (!run(conn, sql, &w->errors, &res))
			return 0;
	}
	for (i = 0; i < PQntuples(res); i++)
	{
		if (w->n == w->cap)
		{
			w->cap = w->cap ? w->cap * 2 : 1024;
			w->ev = realloc(w->ev, w->cap * sizeof(Event));
		}
		w->ev[w->n].id = atoll(PQgetvalue(res, i, PQnfields(res) - 1));
		w->ev[w->n].type = types[i];
		w->ev[w->n].committed = 0;
		w->n++;
	}
	PQclear(res);
	return 1;
}

static void
end_txn(PGconn *conn, Writer *w, int first, int commit)
{
	int			i;

	if (!run(conn, commit ? "COMMIT" : "ROLLBACK", &w->errors, NULL))
		commit = 0;				/* a failed COMMIT rolled back */
	for (i = first; i < w->n; i++)
		w->ev[i].committed = commit;
	w->txns++;
}

static void *
writer_main(void *arg)
{
	Writer	   *w = arg;
	PGconn	   *conn = connect_db();
	unsigned	seed = (unsigned) time(NULL) * 31 + w->no;
	int			first;

	while (time(NULL) < deadline)
	{
		int			kind = rand_r(&seed) % 4;

		if (!run(conn, "BEGIN", &w->errors, NULL))
			break;
		if (kind == 3)
		{
			/* an early xid, held, then events, held again */
			run(conn, "INSERT INTO subs_stress_other VALUES (1)", &w->errors, NULL);
			hold(&seed, 40);
			if (!store_events(conn, w, &seed, 1 + rand_r(&seed) % 3, &first))
			{
				end_txn(conn, w, w->n, 0);
				continue;
			}
			hold(&seed, 40);
			end_txn(conn, w, first, rand_r(&seed) % 3 != 0);
			continue;
		}
		if (!store_events(conn, w, &seed,
						  kind == 0 ? 1 : kind == 1 ? 2 + rand_r(&seed) % 4 : 1 + rand_r(&seed) % 3,
						  &first))
		{
			end_txn(conn, w, w->n, 0);
			continue;
		}
		end_txn(conn, w, first, kind != 2);
	}
	PQfinish(conn);
	return NULL;
}

/* One read: check, process a prefix, acknowledge.  Returns rows read. */
static int
reader_step(PGconn *conn, Reader *r, unsigned *seed, long long *acked,
			long long *expect_first)
{
	char		sql[256];
	PGresult   *res;
	int			n;
	int			k;
	int			i;
	long long	prev = *acked;

	snprintf(sql, sizeof(sql), "SELECT id FROM fnd_subscription_read('%s', %d)",
			 r->name, 1 + rand_r(seed) % 200);
	if (!run(conn, sql, &r->errors, &res))
		return 0;
	r->reads++;
	n = PQntuples(res);
	for (i = 0; i < n; i++)
	{
		long long	id = atoll(PQgetvalue(res, i, 0));

		if (id <= prev)
		{
			r->order++;
			fprintf(stderr, "subs_stress: %s: id %lld after %lld\n", r->name, id, prev);
		}
		if (i == 0 && *expect_first > 0 && id != *expect_first)
		{
			r->redelivery++;
			fprintf(stderr, "subs_stress: %s: read began at %lld, not at the unprocessed %lld\n",
					r->name, id, *expect_first);
		}
		prev = id;
	}
	if (n == 0)
	{
		PQclear(res);
		return 0;
	}
	/* usually everything; sometimes only a prefix, the rest comes back */
	k = rand_r(seed) % 4 == 0 ? 1 + rand_r(seed) % n : n;
	for (i = 0; i < k; i++)
		push_id(&r->done, atoll(PQgetvalue(res, i, 0)));
	*expect_first = k < n ? atoll(PQgetvalue(res, k, 0)) : 0;
	*acked = atoll(PQgetvalue(res, k - 1, 0));
	PQclear(res);
	snprintf(sql, sizeof(sql), "SELECT fnd_subscription_ack('%s', %lld)", r->name, *acked);
	run(conn, sql, &r->errors, NULL);
	return n;
}

static void *
reader_main(void *arg)
{
	Reader	   *r = arg;
	PGconn	   *conn = connect_db();
	unsigned	seed = (unsigned) time(NULL) * 17 + r->name[8];
	long long	acked = 0;
	long long	expect_first = 0;
	int			empty = 0;

	/* the checkpoint the subscription was created with */
	{
		char		sql[256];
		PGresult   *res;

		snprintf(sql, sizeof(sql), "SELECT checkpoint FROM fnd_subscriptions WHERE name = '%s'", r->name);
		if (run(conn, sql, &r->errors, &res))
		{
			acked = atoll(PQgetvalue(res, 0, 0));
			PQclear(res);
		}
	}
	/* during the run, then until two reads in a row find nothing */
	while (writers_running || empty < 2)
	{
		if (reader_step(conn, r, &seed, &acked, &expect_first) == 0)
		{
			if (!writers_running)
				empty++;
			usleep(2000);
		}
		else
			empty = 0;
	}
	PQfinish(conn);
	return NULL;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long	x = *(const long long *) a;
	long long	y = *(const long long *) b;

	return x < y ? -1 : x > y;
}

static int
cmp_ev(const void *a, const void *b)
{
	return cmp_ll(&((const Event *) a)->id, &((const Event *) b)->id);
}

/* Compare what r processed with what the writers committed. */
static void
check_reader(Reader *r, Event *all, int nall, long long start,
			 long *missing, long *dups, long *rolled)
{
	long long  *got = malloc((r->done.n + 1) * sizeof(long long));
	int			i;
	int			j = 0;

	memcpy(got, r->done.v, r->done.n * sizeof(long long));
	for (i = 1; i < r->done.n; i++)
		if (got[i] < got[i - 1])
		{
			r->order++;
			fprintf(stderr, "subs_stress: %s: processed %lld after %lld\n", r->name, got[i], got[i - 1]);
		}
	qsort(got, r->done.n, sizeof(long long), cmp_ll);
	for (i = 1; i < r->done.n; i++)
		if (got[i] == got[i - 1])
		{
			(*dups)++;
			fprintf(stderr, "subs_stress: %s: event %lld processed twice\n", r->name, got[i]);
		}
	for (i = 0; i < nall; i++)
	{
		int			want = all[i].committed && r->types[all[i].type] && all[i].id > start;
		int			have;

		while (j < r->done.n && got[j] < all[i].id)
		{
			(*rolled)++;
			fprintf(stderr, "subs_stress: %s: processed %lld, which no writer stored\n", r->name, got[j]);
			j++;
		}
		have = j < r->done.n && got[j] == all[i].id;
		while (j < r->done.n && got[j] == all[i].id)
			j++;
		if (want && !have)
		{
			(*missing)++;
			fprintf(stderr, "subs_stress: %s: committed event %lld (%s) never processed\n",
					r->name, all[i].id, type_names[all[i].type]);
		}
		if (have && !all[i].committed)
		{
			(*rolled)++;
			fprintf(stderr, "subs_stress: %s: processed rolled-back event %lld\n", r->name, all[i].id);
		}
	}
	for (; j < r->done.n; j++)
	{
		(*rolled)++;
		fprintf(stderr, "subs_stress: %s: processed %lld, which no writer stored\n", r->name, got[j]);
	}
	free(got);
}

static void
insert_at(IdList *l, int at, long long id)
{
	push_id(l, 0);
	memmove(l->v + at + 1, l->v + at, (l->n - 1 - at) * sizeof(long long));
	l->v[at] = id;
}

/* Corrupt reader r's record so that exactly one violation of kind shows. */
static void
inject(Reader *r, const char *kind, Event *all, int nall)
{
	int			i;
	int			at;

	if (r->done.n < 3)
		return;
	if (strcmp(kind, "missing") == 0)
	{
		memmove(r->done.v + 1, r->done.v + 2, (r->done.n - 2) * sizeof(long long));
		r->done.n--;
	}
	else if (strcmp(kind, "duplicate") == 0)
		insert_at(&r->done, 1, r->done.v[1]);
	else if (strcmp(kind, "order") == 0)
	{
		long long	t = r->done.v[0];

		r->done.v[0] = r->done.v[1];
		r->done.v[1] = t;
	}
	else if (strcmp(kind, "rollback") == 0)
	{
		for (i = nall - 1; i >= 0; i--)
			if (!all[i].committed && r->types[all[i].type])
				break;
		if (i < 0)
			return;
		for (at = 0; at < r->done.n && r->done.v[at] < all[i].id; at++)
			;
		insert_at(&r->done, at, all[i].id);
	}
}

int
main(int argc, char **argv)
{
	int			nwriters;
	int			seconds;
	Writer	   *w;
	Reader		readers[2] = {
		{.name = "stress_ab", .types = {1, 1, 0}},
		{.name = "stress_bc", .types = {0, 1, 1}},
	};
	long long	start[2];
	pthread_t  *wt;
	pthread_t	rt[2];
	PGconn	   *conn;
	PGresult   *res;
	Event	   *all;
	int			nall = 0;
	int			ncommitted = 0;
	long		txns = 0;
	long		missing = 0,
				dups = 0,
				order = 0,
				redelivery = 0,
				rolled = 0,
				errors = 0;
	long		total;
	const char *inj = getenv("SUBS_STRESS_INJECT");
	int			i;

	if (argc != 3 || (nwriters = atoi(argv[1])) < 1 || (seconds = atoi(argv[2])) < 1)
	{
		fprintf(stderr, "usage: subs_stress WRITERS SECONDS\n");
		return 2;
	}
	conn = connect_db();
	PQclear(PQexec(conn, "SET client_min_messages = warning"));
	res = PQexec(conn,
				 "CREATE TABLE IF NOT EXISTS subs_stress_other (x int);"
				 "DELETE FROM fnd_event_subscriptions WHERE name IN ('stress_ab', 'stress_bc');"
				 "SELECT fnd_subscription_create('stress_ab', '{\"types\": [\"stress.a\", \"stress.b\"]}');"
				 "SELECT fnd_subscription_create('stress_bc', '{\"types\": [\"stress.b\", \"stress.c\"]}');");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		die("setup failed", conn);
	PQclear(res);
	for (i = 0; i < 2; i++)
	{
		char		sql[128];

		snprintf(sql, sizeof(sql), "SELECT checkpoint FROM fnd_subscriptions WHERE name = '%s'", readers[i].name);
		res = PQexec(conn, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
			die("no subscription", conn);
		start[i] = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
	}

	deadline = time(NULL) + seconds;
	w = calloc(nwriters, sizeof(Writer));
	wt = calloc(nwriters, sizeof(pthread_t));
	for (i = 0; i < 2; i++)
		pthread_create(&rt[i], NULL, reader_main, &readers[i]);
	for (i = 0; i < nwriters; i++)
	{
		w[i].no = i;
		pthread_create(&wt[i], NULL, writer_main, &w[i]);
	}
	for (i = 0; i < nwriters; i++)
		pthread_join(wt[i], NULL);
	writers_running = 0;
	for (i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);

	for (i = 0; i < nwriters; i++)
		nall += w[i].n;
	all = malloc((nall + 1) * sizeof(Event));
	nall = 0;
	for (i = 0; i < nwriters; i++)
	{
		memcpy(all + nall, w[i].ev, w[i].n * sizeof(Event));
		nall += w[i].n;
		txns += w[i].txns;
		errors += w[i].errors;
	}
	qsort(all, nall, sizeof(Event), cmp_ev);
	for (i = 0; i < nall; i++)
		ncommitted += all[i].committed;

	if (inj)
		inject(&readers[0], inj, all, nall);
	for (i = 0; i < 2; i++)
	{
		check_reader(&readers[i], all, nall, start[i], &missing, &dups, &rolled);
		order += readers[i].order;
		redelivery += readers[i].redelivery;
		errors += readers[i].errors;
	}

	res = PQexec(conn, "SELECT fnd_subscription_drop('stress_ab'), fnd_subscription_drop('stress_bc');"
				 "DELETE FROM fnd_events WHERE type LIKE 'stress.%'; DROP TABLE subs_stress_other");
	PQclear(res);
	PQfinish(conn);

	printf("%d writers, %d s: %ld transactions, %d events stored, %d committed, %d rolled back\n",
		   nwriters, seconds, txns, nall, ncommitted, nall - ncommitted);
	for (i = 0; i < 2; i++)
		printf("reader %s: %d events processed in %ld reads\n",
			   readers[i].name, readers[i].done.n, readers[i].reads);
	total = missing + dups + order + redelivery + rolled + errors;
	printf("violations: %ld (missing %ld, duplicates %ld, out of order %ld, redelivery %ld, rolled back %ld, errors %ld)\n",
		   total, missing, dups, order, redelivery, rolled, errors);
	return total ? 1 : 0;
}
