/*-------------------------------------------------------------------------
 *
 * fuzz.c
 *	  Call every function of the foundation extension with hostile
 *	  arguments and check that each call ends in a result or an error with
 *	  a SQLSTATE other than XX000 (internal error), that no call outlives
 *	  its statement_timeout (200 ms) by more than SLOW_SLACK (2 s), and that
 *	  no session ends, other than those the interrupter terminates on
 *	  purpose: a FATAL error of any SQLSTATE, a lost connection, or a session
 *	  found dead after its last call is a violation.
 *
 * The functions are discovered from the catalog (pg_proc joined to
 * pg_depend on the extension), so the fuzzer covers whatever subsystems
 * the extension has today.  Arguments are chosen by type (and, for a few
 * well-known argument names such as "query" or "lease", by name) from a
 * pool of plausible values, so calls get past validation and reach the
 * subsystem's state, and a pool of hostile ones: NULL, empty and 1 MB
 * strings, quotes, semicolons, backslashes, format directives, invalid
 * UTF-8, deep and huge jsonb, arrays where objects are expected, negative,
 * zero, huge and month-based intervals, infinite timestamps, NaN and
 * infinite doubles, integer extremes, text[] with NULLs and empties.
 * Values are sent as parameters ($1::type), so quoting is never an issue.
 *
 * The run has two phases, both deterministic for a given seed: a
 * systematic one (every function, every argument position, every value of
 * that position's pools, the other arguments plausible; plus each
 * function with its defaults omitted) and a random one up to the number of
 * calls asked for.  Call i gets its own random stream derived from the
 * seed and i, so a violation's call can be replayed alone.  Calls are
 * spread over worker processes, each with one superuser and one plain-role
 * connection, reconnecting every few hundred calls so that session exit
 * cleanup runs over and over.
 *
 * An interrupter process (INTERRUPT = 1) cancels calls that wait inside the
 * extension and terminates some of their sessions, so that the cleanup of
 * waits and of dying sessions runs under fire.
 *
 * Usage: fuzz CONNINFO[|CONNINFO...] PLAIN_ROLE CALLS SEED WORKERS REPRO_FILE INTERRUPT
 * (several connection strings, one per database, spread the workers over
 * the databases; the functions are listed in the first.)
 * Prints the calls made, the SQLSTATEs seen with counts and the
 * violations; exits 1 when there is a violation, 2 on a setup error.
 *
 *-------------------------------------------------------------------------
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#define MAX_FUNCS		512
#define MAX_ARGS		16
#define MAX_STATES		256
#define MAX_WORKERS		16
#define STATEMENT_TIMEOUT_MS 200	/* set on every fuzz session */
#define SLOW_SLACK		2.0		/* seconds a call may take past that timeout */
#define HANG_SECONDS	15		/* a call this long is cancelled */
#define STR_(x)			#x
#define STR(x)			STR_(x)
#define RECONNECT_EVERY 250

/*
 * One candidate value: its text form (NULL for SQL NULL) and a SQL
 * expression that rebuilds it, for reproducers.  A value with expr is not
 * sent as a parameter: the expression is written into the call (a token
 * or event id read from the extension's own views, so that calls that need
 * a live one get it).
 */
typedef struct Val
{
	const char *txt;
	const char *sql;
	const char *expr;
} Val;

typedef struct Pool
{
	Val		   *v;
	int			n;
} Pool;

/* An argument's two pools: plausible values, and hostile ones. */
typedef struct ArgKind
{
	const char *label;
	Pool		ok;
	Pool		bad;
} ArgKind;

typedef struct Func
{
	char		call[512];		/* schema-qualified, quoted name */
	char		sig[1024];		/* for messages */
	char		kind;			/* 'f' or 'p' */
	int			nargs;
	int			ndefaults;
	char		types[MAX_ARGS][64];
	char		names[MAX_ARGS][64];
	ArgKind    *arg[MAX_ARGS];
} Func;

/* Per-worker results, in memory shared with the parent. */
typedef struct StateCount
{
	char		state[6];
	long		count;
} StateCount;

typedef struct WorkerStats
{
	long		calls;
	long		violations;
	int			nstates;
	StateCount	states[MAX_STATES];
	long		fcalls[MAX_FUNCS];	/* calls per function */
	long		fok[MAX_FUNCS];		/* of which returned a result */
} WorkerStats;

/*
 * Backends the interrupter process terminated on purpose: a worker whose
 * connection ends with 57P01 or is lost accepts it only when its backend
 * is listed here.
 */
#define MAX_TERMINATED	16384
typedef struct Terminated
{
	volatile int stop;			/* set by the parent: workers are done */
	volatile int n;
	volatile int pid[MAX_TERMINATED];
} Terminated;

static Terminated *terminated;

static Func funcs[MAX_FUNCS];
static int	reported[MAX_FUNCS];	/* violations printed per function, per worker */
static int	nfuncs;
/*
 * Connection strings, one per database: workers are spread over them, so
 * per-database scoping and exit cleanup across databases are exercised.
 */
#define MAX_DBS 4
static const char *conninfos[MAX_DBS];
static int	nconninfos;
static const char *conninfo;	/* of this worker (the first in the parent) */
static const char *plain_role;
static FILE *repro;

/* ---------- random numbers: splitmix64, one stream per call ---------- */

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

typedef struct Rng
{
	uint64_t	s;
} Rng;

static uint64_t
rng_next(Rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

static int
rng_int(Rng *r, int n)
{
	return (int) (rng_next(r) % (uint64_t) n);
}

/* ---------- value pools ---------- */

static char *
xprintf(const char *fmt,...)
{
	va_list		ap;
	char	   *p;

	va_start(ap, fmt);
	if (vasprintf(&p, fmt, ap) < 0)
		abort();
	va_end(ap);
	return p;
}

static char *
repeat_str(const char *unit, int times)
{
	size_t		len = strlen(unit);
	char	   *p = malloc(len * times + 1);

	if (!p)
		abort();
	for (int i = 0; i < times; i++)
		memcpy(p + i * len, unit, len);
	p[len * times] = '\0';
	return p;
}

static void
pool_add(Pool *p, const char *txt, const char *sql)
{
	p->v = realloc(p->v, sizeof(Val) * (p->n + 1));
	if (!p->v)
		abort();
	p->v[p->n].txt = txt;
	p->v[p->n].sql = sql;
	p->v[p->n].expr = NULL;
	p->n++;
}

/* Add literal values; the reproducer form is the quoted literal. */
static void
pool_lits(Pool *p, const char *const *vals)
{
	for (; *vals; vals++)
		pool_add(p, *vals, NULL);
}

static ArgKind k_name, k_query, k_path, k_vote, k_array, k_json, k_interval,
			k_lease, k_int, k_bigint, k_smallint, k_double, k_numeric, k_bool,
			k_timestamp, k_other, k_token, k_event_id;

static void
pool_expr(Pool *p, const char *expr)
{
	pool_add(p, "", expr);
	p->v[p->n - 1].expr = expr;
}

static void
build_pools(void)
{
	/* strings shared by every text-like kind */
	char	   *mb = repeat_str("x", 1024 * 1024);
	char	   *b200 = repeat_str("n", 200);
	char	   *b201 = repeat_str("n", 201);
	char	   *straddle = xprintf("%s\xc3\xa9", repeat_str("a", 199));	/* 201 bytes */
	char	   *mb4 = repeat_str("\xf0\x9f\x98\x80", 50);	/* 200 bytes of emoji */
	const char *hostile_text[] = {
		"", " ", "O'Reilly", "\"quoted\"", "a;b", "'; DROP TABLE fnd_events; --",
		"a\\b", "\\", "\\0", "\\x00", "%s%s%s%n%x", "tab\tnew\nline", "\r\n",
		"\xe5\x90\x8d\xe5\x89\x8d", "\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d\xe2\x80\x8f",
		"e\xcc\x81", "\xef\xbb\xbf", "a.b.c", "NULL", "null", "{}", "[]",
		"\xff\xfe", "\xc3\x28", "\xed\xa0\x80",	/* invalid UTF-8 */
		NULL
	};

	pool_lits(&k_name.bad, hostile_text);
	pool_add(&k_name.bad, b200, "repeat('n', 200)");
	pool_add(&k_name.bad, b201, "repeat('n', 201)");
	pool_add(&k_name.bad, straddle, "repeat('a', 199) || U&'\\00E9'");
	pool_add(&k_name.bad, mb4, "repeat(U&'\\+01F600', 50)");
	pool_add(&k_name.bad, mb, "repeat('x', 1048576)");
	{
		const char *ok[] = {"fz_a", "fz_b", "fz_c", "svc", "n1", "p1", "p2",
		"p3", "g1", "a", NULL};

		pool_lits(&k_name.ok, ok);
	}
	k_name.label = "text";

	/*
	 * Queries for fnd_cb_execute: never anything that changes state
	 * outside the fuzz database's own tables or stops the server, and no
	 * session-level SET (a SET statement_timeout = 0 would outlive the call
	 * and let later waits run on).
	 */
	{
		const char *ok[] = {
			"SELECT 1", "SELECT 1 AS a, 'x' AS b", "SELECT * FROM fnd_events LIMIT 3",
			"SELECT generate_series(1, 10) AS n", "VALUES (1), (NULL)",
			"SELECT '{\"a\": [1, 2]}'::jsonb AS j", "SELECT 'NaN'::float8 AS f",
			NULL
		};
		const char *bad[] = {
			"", " ", ";", "SELECT 1/0", "SELECT", "BEGIN", "COMMIT", "ROLLBACK",
			"SAVEPOINT s", "SELECT pg_sleep(1)", "SELECT * FROM no_such_table",
			"SELECT 1; SELECT 2", "SELECT * FROM pg_authid LIMIT 1",
			"SELECT fnd_lock_acquire('fz_a', '50 ms')",
			"SELECT fnd_barrier_sync('fz_b', 2, '50 ms')",
			"SELECT fnd_register('fz', 'in_cb')",
			"SELECT fnd_consensus_result('fz_a', '50 ms')",
			"SELECT fnd_metric_increment('fz.in_cb')",
			"SELECT x'; DROP TABLE fnd_events; --",
			"SELECT repeat('x', 1048576) AS big",
			"SELECT generate_series(1, 200000) AS n",
			"DO $$BEGIN RAISE EXCEPTION 'boom' USING ERRCODE = 'FN201'; END$$",
			"SELECT fnd_cb_execute('fz_a', 'SELECT 1')",
			"SELECT fnd_cb_execute('fz_a', 'SELECT 1/0')",
			"SELECT ROW(1, 2) AS r, ARRAY[1, NULL] AS a, '\\x00'::bytea AS b",
			"LISTEN fz", "NOTIFY fz", "SET LOCAL work_mem = '64kB'", "COPY fnd_events TO STDOUT",
			"VACUUM", "PREPARE p AS SELECT 1", "EXPLAIN SELECT 1",
			"WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r",
			NULL
		};

		pool_lits(&k_query.ok, ok);
		pool_lits(&k_query.bad, bad);
		pool_lits(&k_query.bad, hostile_text);
		pool_add(&k_query.bad, mb, "repeat('x', 1048576)");
		k_query.label = "query";
	}

	/* config paths */
	{
		const char *ok[] = {"a", "a.b", "db.pool.size", "x.y.z", "fz.one", "fz", NULL};
		const char *bad[] = {"A.B", "..", ".a", "a.", "a..b", "a b", "a-b", "a_b",
		"1.2", "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p", "\xc3\xa9t\xc3\xa9", NULL};
		char	   *deep = xprintf("a%s", repeat_str(".a", 10000));

		pool_lits(&k_path.ok, ok);
		pool_lits(&k_path.bad, bad);
		pool_lits(&k_path.bad, hostile_text);
		pool_add(&k_path.bad, deep, "'a' || repeat('.a', 10000)");
		pool_add(&k_path.bad, repeat_str("a", 300), "repeat('a', 300)");
		k_path.label = "path";
	}

	/* consensus votes and other enum words */
	{
		/* votes are case-insensitive: 'ACCEPT' is a vote like 'accept' */
		const char *ok[] = {"accept", "reject", "abstain", "ACCEPT", "Reject", NULL};
		const char *bad[] = {"accept ", "yes", "", "acc", NULL};

		pool_lits(&k_vote.ok, ok);
		pool_lits(&k_vote.bad, bad);
		pool_lits(&k_vote.bad, hostile_text);
		k_vote.label = "vote";
	}

	/* text[] */
	{
		const char *ok[] = {"{p1,p2,p3}", "{p1,p2}", "{p1}", "{p1,p2,p3,fz_a,fz_b}", NULL};
		const char *bad[] = {"{}", "{NULL}", "{p1,NULL}", "{\"\"}", "{p1,p1,p1}",
			"{\"O'Reilly\",\"a;b\",\"a\\\\b\"}", "{{p1,p2},{p3,p4}}", "[0:1]={p1,p2}",
		"{\"\xe5\x90\x8d\"}", NULL};
		char	   *huge = malloc(10 * 100000 + 3);
		char	   *q = huge;

		*q++ = '{';
		for (int i = 0; i < 100000; i++)
			q += sprintf(q, "%sp%d", i ? "," : "", i);
		*q++ = '}';
		*q = '\0';
		pool_lits(&k_array.ok, ok);
		pool_lits(&k_array.bad, bad);
		pool_add(&k_array.bad, huge,
				 "(SELECT array_agg('p' || i) FROM generate_series(0, 99999) i)::text");
		pool_add(&k_array.bad, xprintf("{%s}", b201), "ARRAY[repeat('n', 201)]::text");
		pool_add(&k_array.bad, xprintf("{%s}", mb), "ARRAY[repeat('x', 1048576)]::text");
		k_array.label = "text[]";
	}

	/* jsonb: every shape some function expects, and the wrong ones */
	{
		const char *ok[] = {
			"{}", "{\"a\": 1}", "{\"zone\": \"eu\", \"health\": \"healthy\"}",
			"{\"type\": \"service\"}", "{\"counter\": 1}", "{\"gauge\": 2.5}",
			"{\"histogram\": 3}", "[{\"type\": \"fz\", \"data\": {}}]",
			"[{\"type\": \"fz\", \"data\": {\"a\": 1}}, {\"type\": \"fz2\"}]",
			"{\"host\": \"h1\"}", "\"s\"", "1", "true", NULL
		};
		const char *bad[] = {
			"null", "[]", "[1, 2]", "[null]", "[{}]", "[{\"type\": null}]",
			"[{\"type\": \"\"}]", "[{\"type\": 1, \"data\": []}]", "[{\"type\": \"fz\", \"data\": 1}]",
			"{\"counter\": \"x\"}", "{\"counter\": 1e1000}", "{\"counter\": -1e308}",
			"{\"gauge\": null}", "{\"histogram\": -1}", "{\"histogram\": 1e-400}",
			"{\"counter\": 1, \"gauge\": 2}", "{\"\": \"\"}", "{\"a\": \"\\u0000\"}",
			"{\"\\u0000\": 1}", "{\"a\": {\"b\": {\"c\": []}}}", "-0", "1e308",
			"\"\\ud83d\\ude00\"", "{\"type\": \"service\", \"health\": 7}",
			"not json", "{", "", NULL
		};
		char	   *deep_arr = xprintf("%s%s", repeat_str("[", 10000), repeat_str("]", 10000));
		char	   *deep_obj = xprintf("%s1%s", repeat_str("{\"a\":", 10000), repeat_str("}", 10000));
		char	   *wide;
		char	   *q;

		/* a ~1 MB object of 50000 keys */
		wide = malloc(50000 * 24 + 3);
		q = wide;
		*q++ = '{';
		for (int i = 0; i < 50000; i++)
			q += sprintf(q, "%s\"k%d\": %d", i ? ", " : "", i, i);
		*q++ = '}';
		*q = '\0';
		pool_lits(&k_json.ok, ok);
		pool_lits(&k_json.bad, bad);
		pool_add(&k_json.bad, deep_arr, "repeat('[', 10000) || repeat(']', 10000)");
		pool_add(&k_json.bad, deep_obj, "repeat('{\"a\":', 10000) || '1' || repeat('}', 10000)");
		pool_add(&k_json.bad, wide,
				 "(SELECT jsonb_object_agg('k' || i, i) FROM generate_series(0, 49999) i)::text");
		pool_add(&k_json.bad, xprintf("{\"big\": \"%s\"}", mb),
				 "jsonb_build_object('big', repeat('x', 1048576))::text");
		pool_add(&k_json.bad, xprintf("[{\"type\": \"%s\"}]", b201),
				 "jsonb_build_array(jsonb_build_object('type', repeat('n', 201)))::text");
		k_json.label = "jsonb";
	}

	/* intervals (waits, timeouts, windows) */
	{
		const char *ok[] = {"1 ms", "10 ms", "50 ms", "1 s", "10 s", "60 s", NULL};
		const char *bad[] = {"-1 s", "0", "-0.000001 s", "0.000001 s", "1000000 years",
			"178000000 years", "-178000000 years", "1 month", "1 mon -30 days",
			"1 day -86400 s", "2147483647 days", "-2147483648 days",
			"2147483647 months", "2562047788 hours", "infinity", "-infinity",
		"99 years", "100 years 1 s", "P1Y", "garbage", NULL};

		pool_lits(&k_interval.ok, ok);
		pool_lits(&k_interval.bad, bad);
		k_interval.label = "interval";
	}

	/*
	 * Leases: only short or invalid values, so every leased entry the fuzzer
	 * creates expires soon after the run, before occupancy is compared
	 * (see suite.sh).
	 * Long leases are ordinary input, not hostile, and the subsystems'
	 * own tests cover them.
	 */
	{
		const char *ok[] = {"2 s", "100 ms", "20 ms", "1 ms", NULL};
		const char *bad[] = {"-1 s", "0", "-0.000001 s", "1000000 years", "178000000 years",
			"-178000000 years", "1 mon -30 days", "1 day -86400 s", "-2147483648 days",
		"2147483647 months", "infinity", "garbage", NULL};

		pool_lits(&k_lease.ok, ok);
		pool_lits(&k_lease.bad, bad);
		k_lease.label = "lease";
	}

	{
		const char *ok[] = {"1", "2", "3", "5", "10", "100", NULL};
		const char *bad[] = {"0", "-1", "2147483647", "-2147483648", "2147483648",
		"1e3", "1.5", "", NULL};

		pool_lits(&k_int.ok, ok);
		pool_lits(&k_int.bad, bad);
		k_int.label = "int";
	}
	{
		const char *ok[] = {"1", "2", "3", "5", "10", "100", NULL};
		const char *bad[] = {"0", "-1", "32767", "-32768", "32768", NULL};

		pool_lits(&k_smallint.ok, ok);
		pool_lits(&k_smallint.bad, bad);
		k_smallint.label = "smallint";
	}
	{
		const char *ok[] = {"1", "2", "3", "5", "10", "100", NULL};
		const char *bad[] = {"0", "-1", "9223372036854775807", "-9223372036854775808",
			"9223372036854775808", "2147483648", "4294967296", NULL};

		pool_lits(&k_bigint.ok, ok);
		pool_lits(&k_bigint.bad, bad);
		k_bigint.label = "bigint";

		/* fencing tokens: live ones from fnd_locks, and made-up ones */
		pool_expr(&k_token.ok, "(SELECT max(token) FROM fnd_locks)");
		pool_expr(&k_token.ok, "(SELECT min(token) FROM fnd_locks)");
		pool_lits(&k_token.ok, ok);
		pool_lits(&k_token.bad, bad);
		k_token.label = "token";

		/* event ids: the latest, and made-up ones */
		pool_expr(&k_event_id.ok, "(SELECT max(id) FROM fnd_events)");
		pool_expr(&k_event_id.ok, "(SELECT max(id) - 5 FROM fnd_events)");
		pool_lits(&k_event_id.ok, ok);
		pool_lits(&k_event_id.bad, bad);
		k_event_id.label = "event id";
	}
	{
		const char *ok[] = {"0", "1", "2.5", "-1", "1000", NULL};
		const char *bad[] = {"NaN", "Infinity", "-Infinity", "1e308", "-1e308",
			"1.7976931348623157e308", "5e-324", "-0", "1e-320", "1e309", NULL};

		pool_lits(&k_double.ok, ok);
		pool_lits(&k_double.bad, bad);
		k_double.label = "double";
	}
	{
		const char *ok[] = {"0", "1", "2.5", NULL};
		const char *bad[] = {"NaN", "Infinity", "-Infinity", "1e1000", "-1e1000",
		"0.0000000000000000000000000000001", NULL};

		pool_lits(&k_numeric.ok, ok);
		pool_lits(&k_numeric.bad, bad);
		k_numeric.label = "numeric";
	}
	{
		const char *ok[] = {"true", "false", NULL};
		const char *bad[] = {"maybe", "", NULL};

		pool_lits(&k_bool.ok, ok);
		pool_lits(&k_bool.bad, bad);
		k_bool.label = "bool";
	}
	{
		const char *ok[] = {"now", "2020-01-01 00:00:00+00", "epoch", NULL};
		const char *bad[] = {"infinity", "-infinity", "294276-12-31 23:59:59+00",
			"4713-11-24 00:00:00+00 BC", "294277-01-01 00:00:00+00", "0001-01-01 BC",
		"2020-02-30", "", NULL};

		pool_lits(&k_timestamp.ok, ok);
		pool_lits(&k_timestamp.bad, bad);
		k_timestamp.label = "timestamp";
	}
	{
		const char *ok[] = {"0", "1", "{}", NULL};
		const char *bad[] = {"", "x", "-1", NULL};

		pool_lits(&k_other.ok, ok);
		pool_lits(&k_other.bad, bad);
		k_other.label = "other";
	}
}

/* The pools an argument draws from, by its type and name. */
static ArgKind *
kind_for(const char *type, const char *name)
{
	if (strcmp(type, "text") == 0 || strcmp(type, "name") == 0 ||
		strncmp(type, "character varying", 17) == 0)
	{
		if (strcmp(name, "query") == 0 || strcmp(name, "sql") == 0)
			return &k_query;
		if (strstr(name, "path") != NULL || strcmp(name, "prefix") == 0)
			return &k_path;
		if (strcmp(name, "vote") == 0)
			return &k_vote;
		return &k_name;
	}
	if (strcmp(type, "text[]") == 0 || strcmp(type, "name[]") == 0)
		return &k_array;
	if (strcmp(type, "jsonb") == 0 || strcmp(type, "json") == 0)
		return &k_json;
	if (strcmp(type, "interval") == 0)
		return strncmp(name, "lease", 5) == 0 || strstr(name, "ttl") != NULL
			? &k_lease : &k_interval;
	if (strcmp(type, "integer") == 0)
		return &k_int;
	if (strcmp(type, "smallint") == 0)
		return &k_smallint;
	if (strcmp(type, "bigint") == 0)
	{
		if (strcmp(name, "token") == 0)
			return &k_token;
		if (strcmp(name, "id") == 0 || strcmp(name, "after_id") == 0)
			return &k_event_id;
		return &k_bigint;
	}
	if (strcmp(type, "double precision") == 0 || strcmp(type, "real") == 0)
		return &k_double;
	if (strcmp(type, "numeric") == 0)
		return &k_numeric;
	if (strcmp(type, "boolean") == 0)
		return &k_bool;
	if (strncmp(type, "timestamp", 9) == 0)
		return &k_timestamp;
	return &k_other;
}

/* ---------- catalog ---------- */

static void
split_tabs(const char *s, char out[][64], int max)
{
	int			i = 0;

	while (i < max)
	{
		const char *tab = strchr(s, '\t');
		size_t		len = tab ? (size_t) (tab - s) : strlen(s);

		if (len > 63)
			len = 63;
		memcpy(out[i], s, len);
		out[i][len] = '\0';
		i++;
		if (!tab)
			break;
		s = tab + 1;
	}
}

static int
load_functions(PGconn *conn)
{
	PGresult   *res;
	const char *q =
		"SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname),"
		"       p.oid::regprocedure::text, p.prokind, p.pronargs, p.pronargdefaults,"
		"       coalesce((SELECT string_agg(format_type(t, NULL), E'\\t' ORDER BY o)"
		"                 FROM unnest(p.proargtypes::oid[]) WITH ORDINALITY u(t, o)), ''),"
		"       coalesce((SELECT string_agg(coalesce(nm, ''), E'\\t' ORDER BY o)"
		"                 FROM unnest(p.proargnames, p.proargmodes) WITH ORDINALITY u(nm, md, o)"
		"                 WHERE md IS NULL OR md IN ('i', 'b', 'v')), '')"
		"  FROM pg_proc p"
		"  JOIN pg_namespace n ON n.oid = p.pronamespace"
		"  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid"
		"       AND d.deptype = 'e'"
		"  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'foundation'"
		" WHERE p.prokind IN ('f', 'p')"
		"   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)"
		"   AND NOT 'internal'::regtype = ANY (p.proargtypes::oid[])"
		" ORDER BY p.proname, p.oid";

	res = PQexec(conn, q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "fuzz: cannot list the extension's functions: %s",
				PQerrorMessage(conn));
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < PQntuples(res) && nfuncs < MAX_FUNCS; i++)
	{
		Func	   *f = &funcs[nfuncs];

		snprintf(f->call, sizeof(f->call), "%s", PQgetvalue(res, i, 0));
		snprintf(f->sig, sizeof(f->sig), "%s", PQgetvalue(res, i, 1));
		f->kind = PQgetvalue(res, i, 2)[0];
		f->nargs = atoi(PQgetvalue(res, i, 3));
		f->ndefaults = atoi(PQgetvalue(res, i, 4));
		if (f->nargs > MAX_ARGS)
			continue;
		memset(f->types, 0, sizeof(f->types));
		memset(f->names, 0, sizeof(f->names));
		if (f->nargs > 0)
		{
			split_tabs(PQgetvalue(res, i, 5), f->types, f->nargs);
			split_tabs(PQgetvalue(res, i, 6), f->names, f->nargs);
		}
		for (int a = 0; a < f->nargs; a++)
			f->arg[a] = kind_for(f->types[a], f->names[a]);
		nfuncs++;
	}
	PQclear(res);
	return nfuncs;
}

/* ---------- one call ---------- */

typedef struct Call
{
	Func	   *f;
	int			nargs;			/* how many positional arguments are passed */
	const Val  *vals[MAX_ARGS];
	int			plain;			/* run as the plain role */
} Call;

static const Val null_val = {NULL, "NULL", NULL};

static const Val *
pick(Rng *r, Pool *p)
{
	return &p->v[rng_int(r, p->n)];
}

/*
 * A plausible value, half the time one of the pool's first two, so that
 * calls often meet the same names (register then update, acquire then
 * renew, two sessions on one lock).
 */
static const Val *
pick_plausible(Rng *r, Pool *p)
{
	if (p->n > 2 && rng_int(r, 2) == 0)
		return &p->v[rng_int(r, 2)];
	return pick(r, p);
}

/* A plausible value, sometimes a hostile one, sometimes NULL. */
static const Val *
pick_any(Rng *r, ArgKind *k)
{
	int			x = rng_int(r, 100);

	if (x < 8)
		return &null_val;
	if (x < 40 && k->bad.n > 0)
	{
		const Val  *v = pick(r, &k->bad);

		/* big values cost time: keep them to a few percent of calls */
		if (v->txt && strlen(v->txt) > 100000 && rng_int(r, 8) != 0)
			return pick_plausible(r, &k->ok);
		return v;
	}
	return pick_plausible(r, &k->ok);
}

static const Val *
pick_ok(Rng *r, ArgKind *k)
{
	return pick_plausible(r, &k->ok);
}

/*
 * The systematic phase: for each function, the call with its defaults
 * omitted, then every argument position with every value of its pools
 * (and NULL), the other arguments plausible.  Item numbers index into
 * this walk; returns false past its end.
 */
static long
systematic_count(void)
{
	long		n = 0;

	for (int i = 0; i < nfuncs; i++)
	{
		n++;
		for (int a = 0; a < funcs[i].nargs; a++)
			n += 1 + funcs[i].arg[a]->ok.n + funcs[i].arg[a]->bad.n;
	}
	return n;
}

static void
make_call(long item, long nsystematic, uint64_t seed, Call *c)
{
	Rng			r = {mix64(seed ^ mix64((uint64_t) item + 1))};

	c->plain = rng_int(&r, 4) == 0;
	if (item < nsystematic)
	{
		long		k = item;

		for (int i = 0; i < nfuncs; i++)
		{
			Func	   *f = &funcs[i];

			c->f = f;
			for (int a = 0; a < f->nargs; a++)
				c->vals[a] = pick_ok(&r, f->arg[a]);
			if (k == 0)
			{
				c->nargs = f->nargs - f->ndefaults;
				return;
			}
			k--;
			c->nargs = f->nargs;
			for (int a = 0; a < f->nargs; a++)
			{
				ArgKind    *ak = f->arg[a];
				long		width = 1 + ak->ok.n + ak->bad.n;

				if (k < width)
				{
					if (k == 0)
						c->vals[a] = &null_val;
					else if (k <= ak->ok.n)
						c->vals[a] = &ak->ok.v[k - 1];
					else
						c->vals[a] = &ak->bad.v[k - 1 - ak->ok.n];
					return;
				}
				k -= width;
			}
		}
		abort();				/* item out of range */
	}

	/* random phase */
	c->f = &funcs[rng_int(&r, nfuncs)];
	c->nargs = c->f->nargs - rng_int(&r, c->f->ndefaults + 1);
	for (int a = 0; a < c->nargs; a++)
		c->vals[a] = pick_any(&r, c->f->arg[a]);
}

static void
call_sql(const Call *c, char *buf, size_t size)
{
	int			n;

	if (c->f->kind == 'p')
		n = snprintf(buf, size, "CALL %s(", c->f->call);
	else
		n = snprintf(buf, size, "SELECT sum(octet_length(r::text)) FROM %s(", c->f->call);
	for (int a = 0, k = 1; a < c->nargs; a++)
	{
		if (c->vals[a]->expr)
			n += snprintf(buf + n, size - n, "%s%s::%s", a ? ", " : "",
						  c->vals[a]->expr, c->f->types[a]);
		else
			n += snprintf(buf + n, size - n, "%s$%d::%s", a ? ", " : "", k++,
						  c->f->types[a]);
	}
	snprintf(buf + n, size - n, "%s", c->f->kind == 'p' ? ")" : ") AS r");
}

/* A standalone statement reproducing the call, written to the repro file. */
static void
write_repro(PGconn *conn, const Call *c, long item, const char *what,
			const char *detail)
{
	if (!repro)
		return;
	fprintf(repro, "-- item %ld: %s%s: %s\n-- connection: %s\n", item, what,
			c->plain ? " (as the plain role)" : "", detail, conninfo);
	if (c->plain)
		fprintf(repro, "SET ROLE %s;\n", plain_role);
	fprintf(repro, "%s %s(", c->f->kind == 'p' ? "CALL" : "SELECT * FROM", c->f->call);
	for (int a = 0; a < c->nargs; a++)
	{
		const Val  *v = c->vals[a];

		if (a)
			fputs(", ", repro);
		if (!v->txt)
			fputs("NULL", repro);
		else if (v->expr)
			fprintf(repro, "%s /* at the time of the call */", v->expr);
		else if (v->sql)
			fputs(v->sql, repro);
		else
		{
			char	   *lit = conn ? PQescapeLiteral(conn, v->txt, strlen(v->txt)) : NULL;

			if (lit)
			{
				fputs(lit, repro);
				PQfreemem(lit);
			}
			else				/* invalid UTF-8: spell the bytes */
			{
				fputs("convert_from('\\x", repro);
				for (const unsigned char *p = (const unsigned char *) v->txt; *p; p++)
					fprintf(repro, "%02x", *p);
				fputs("'::bytea, 'UTF8')", repro);
			}
		}
		fprintf(repro, "::%s", c->f->types[a]);
	}
	fprintf(repro, ")%s;\n", c->plain ? ";\nRESET ROLE" : "");
	fflush(repro);
}

/* ---------- workers ---------- */

/* Notices (and the FATAL of a session the interrupter ends) are not news. */
static void
quiet(void *arg, const char *message)
{
}

/* Print a violation, at most three per function and worker. */
static int
should_report(const Call *c)
{
	int			i = c->f - funcs;

	if (reported[i] >= 3)
		return 0;
	reported[i]++;
	return 1;
}

static PGconn *
connect_as(const char *role)
{
	char		ci[1024];
	PGconn	   *conn = NULL;
	PGresult   *res;

	/* after a crash the postmaster needs a moment: retry for a while */
	for (int attempt = 0; attempt < 120; attempt++)
	{
		snprintf(ci, sizeof(ci), "%s%s%s application_name=fnd_fuzz", conninfo,
				 role ? " user=" : "", role ? role : "");
		conn = PQconnectdb(ci);
		if (PQstatus(conn) == CONNECTION_OK)
			break;
		PQfinish(conn);
		conn = NULL;
		usleep(500000);
	}
	if (!conn)
		return NULL;
	PQsetNoticeProcessor(conn, quiet, NULL);
	res = PQexec(conn, "SET statement_timeout = '" STR(STATEMENT_TIMEOUT_MS) "ms';"
				 " SET lock_timeout = '100ms';"
				 " SET idle_in_transaction_session_timeout = '5s';"
				 " SET client_min_messages = error");
	PQclear(res);
	return conn;
}

static void
count_state_n(WorkerStats *ws, const char *state, long n)
{
	for (int i = 0; i < ws->nstates; i++)
		if (strcmp(ws->states[i].state, state) == 0)
		{
			ws->states[i].count += n;
			return;
		}
	if (ws->nstates < MAX_STATES)
	{
		snprintf(ws->states[ws->nstates].state, 6, "%s", state);
		ws->states[ws->nstates].count = n;
		ws->nstates++;
	}
}

static void
count_state(WorkerStats *ws, const char *state)
{
	count_state_n(ws, state, 1);
}

static double
now_sec(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec + tv.tv_usec / 1e6;
}

/*
 * Send one call and wait for its end, at most HANG_SECONDS.  Returns the
 * result, or NULL with *hung set when the call did not end in time (it is
 * then cancelled) or the connection broke.
 */
static PGresult *
run_call(PGconn *conn, const char *sql, const Call *c, int *hung)
{
	const char *params[MAX_ARGS];
	PGresult   *res = NULL;
	PGresult   *r;
	double		deadline = now_sec() + HANG_SECONDS;
	int			cancelled = 0;
	int			nparams = 0;

	*hung = 0;

	for (int a = 0; a < c->nargs; a++)
		if (!c->vals[a]->expr)
			params[nparams++] = c->vals[a]->txt;
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		return NULL;
	for (;;)
	{
		struct pollfd pfd = {PQsocket(conn), POLLIN, 0};

		if (!PQconsumeInput(conn) || !PQisBusy(conn))
		{
			while ((r = PQgetResult(conn)) != NULL)
			{
				/*
				 * Keep the last result, but not libpq's own "connection
				 * closed" over the server's error (a FATAL) that came first.
				 */
				if (res && PQresultErrorField(res, PG_DIAG_SQLSTATE) &&
					!PQresultErrorField(r, PG_DIAG_SQLSTATE))
				{
					PQclear(r);
					continue;
				}
				if (res)
					PQclear(res);
				res = r;
			}
			return res;
		}
		if (poll(&pfd, 1, 200) < 0 && errno != EINTR)
			break;
		if (now_sec() > deadline && !cancelled)
		{
			PGcancel   *cn = PQgetCancel(conn);
			char		err[256];

			*hung = 1;
			cancelled = 1;
			if (cn)
			{
				PQcancel(cn, err, sizeof(err));
				PQfreeCancel(cn);
			}
			deadline = now_sec() + HANG_SECONDS;
		}
		else if (now_sec() > deadline)
			return NULL;		/* not even a cancel ends it */
	}
	return NULL;
}

static int
was_terminated(int pid)
{
	int			n = terminated->n;

	__sync_synchronize();
	for (int i = 0; i < n && i < MAX_TERMINATED; i++)
		if (terminated->pid[i] == pid)
			return 1;
	return 0;
}

/*
 * The interrupter: while the workers run, cancel calls that wait inside the
 * extension (and sometimes any running call), and now and then terminate
 * such a session, so that the wait and exit cleanup paths run under fire:
 * a waiter leaving a lock queue, a barrier arrival withdrawn by a dying
 * session.  Cancels reach an idle session harmlessly; terminations only go
 * to sessions seen waiting, and are recorded first so the worker knows.
 */
static void
interrupter(uint64_t seed)
{
	PGconn	   *conn = NULL;
	Rng			r = {mix64(seed ^ 0x1234567ULL)};
	char		q[256];

	while (!terminated->stop)
	{
		PGresult   *res;
		int			x = rng_int(&r, 100);

		if (!conn)
		{
			char		ci[1024];

			snprintf(ci, sizeof(ci), "%s application_name=fnd_fuzz_interrupter", conninfo);
			conn = PQconnectdb(ci);
			if (PQstatus(conn) != CONNECTION_OK)
			{
				PQfinish(conn);
				conn = NULL;
				usleep(200000);
				continue;
			}
			/* sessions may end between the look-up and the signal */
			PQclear(PQexec(conn, "SET client_min_messages = error"));
		}
		usleep(20000 + rng_int(&r, 30000));
		snprintf(q, sizeof(q),
				 "SELECT pid FROM pg_stat_activity WHERE application_name = 'fnd_fuzz'"
				 " AND state = 'active' %s ORDER BY random() LIMIT 1",
				 x < 80 ? "AND wait_event_type = 'Extension'" : "");
		res = PQexec(conn, q);
		if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		{
			int			pid = atoi(PQgetvalue(res, 0, 0));
			int			terminate = x < 15;

			PQclear(res);
			if (terminate && terminated->n < MAX_TERMINATED)
			{
				terminated->pid[terminated->n] = pid;
				__sync_synchronize();
				terminated->n++;
				__sync_synchronize();
			}
			snprintf(q, sizeof(q), "SELECT %s(%d)",
					 terminate ? "pg_terminate_backend" : "pg_cancel_backend", pid);
			res = PQexec(conn, q);
		}
		PQclear(res);
		if (PQstatus(conn) != CONNECTION_OK)
		{
			PQfinish(conn);
			conn = NULL;
		}
	}
	if (conn)
		PQfinish(conn);
}

/* Count a violation of c; print it and write a reproducer at most 3 times. */
static void
violation(WorkerStats *ws, PGconn *conn, const Call *c, long item,
		  const char *kind, const char *what, const char *detail)
{
	ws->violations++;
	count_state(ws, kind);
	if (should_report(c))
	{
		printf("VIOLATION item %ld: %s %s%s%s\n", item, c->f->sig, what,
			   detail[0] ? ": " : "", detail);
		write_repro(conn, c, item, kind, detail[0] ? detail : what);
	}
}

/*
 * Did the call end its session?  A FATAL or PANIC error, no result at all,
 * or a connection that is no longer usable.
 */
static int
session_ended(PGconn *conn, PGresult *res)
{
	const char *sev = res ? PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED) : NULL;

	return res == NULL || PQstatus(conn) != CONNECTION_OK ||
		(sev != NULL && (strcmp(sev, "FATAL") == 0 || strcmp(sev, "PANIC") == 0));
}

/*
 * Judge one call's outcome.  Returns false when the session is gone (ended
 * or abandoned after a hang), so the caller reconnects.
 */
static int
judge_call(WorkerStats *ws, PGconn *conn, int bpid, const Call *c, long item,
		   PGresult *res, int hung, double secs)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	char		detail[512];
	int			ended = session_ended(conn, res);

	/* the interrupter ended this session on purpose */
	if (ended && !hung && (st == NULL || strcmp(st, "57P01") == 0) &&
		was_terminated(bpid))
	{
		count_state(ws, "TERM");
		return 0;
	}
	ws->fcalls[c->f - funcs]++;
	if (hung)
		violation(ws, conn, c, item, "HANG", "did not end", "it was cancelled after "
				  STR(HANG_SECONDS) " s, its statement_timeout is " STR(STATEMENT_TIMEOUT_MS) " ms");
	else if (secs > STATEMENT_TIMEOUT_MS / 1000.0 + SLOW_SLACK)
	{
		snprintf(detail, sizeof(detail), "it took %.1f s, its statement_timeout is "
				 STR(STATEMENT_TIMEOUT_MS) " ms", secs);
		violation(ws, conn, c, item, "SLOW", "outlived its statement_timeout", detail);
	}

	if (res && (PQresultStatus(res) == PGRES_TUPLES_OK ||
				PQresultStatus(res) == PGRES_COMMAND_OK))
	{
		count_state(ws, "00000");
		ws->fok[c->f - funcs]++;
	}
	else if (st != NULL && !ended)
	{
		count_state(ws, st);
		/* internal errors, data corruption */
		if (strncmp(st, "XX", 2) == 0)
			violation(ws, conn, c, item, st, "raised", msg ? msg : "");
	}
	else if (st != NULL)
	{
		/* a FATAL of any SQLSTATE ends a session nobody meant to end */
		count_state(ws, st);
		snprintf(detail, sizeof(detail), "%s %s: %s",
				 PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED), st, msg ? msg : "");
		violation(ws, conn, c, item, "FATAL", "ended its session", detail);
	}
	else if (!hung)
	{
		/* no SQLSTATE: the connection broke, the backend died */
		snprintf(detail, sizeof(detail), "%s", PQerrorMessage(conn));
		detail[strcspn(detail, "\n")] = '\0';
		violation(ws, conn, c, item, "LOST", "lost the connection", detail);
	}
	return !ended && !hung;
}

/*
 * After a worker's last call its sessions must still be there (a call may
 * leave something behind that ends the session later, e.g. a timeout).
 */
static void
check_alive(WorkerStats *ws, PGconn *conn, int bpid, const Call *last, long item)
{
	PGresult   *res = PQexec(conn, "SELECT 1");

	/* an error that leaves the session usable (a cancel) is no death */
	if (session_ended(conn, res) && !was_terminated(bpid))
	{
		const char *st = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		char		detail[512];

		snprintf(detail, sizeof(detail), "%s %s", st ? st : "no SQLSTATE",
				 PQerrorMessage(conn));
		detail[strcspn(detail, "\n")] = '\0';
		violation(ws, conn, last, item, "LOST",
				  "was the last call of a session found dead after it", detail);
	}
	PQclear(res);
}

static void
worker(int w, int nworkers, long ncalls, long nsystematic, uint64_t seed,
	   WorkerStats *ws)
{
	PGconn	   *conn[2] = {NULL, NULL};
	int			used[2] = {0, 0};
	int			bpid[2] = {0, 0};	/* backend pids (libpq forgets on loss) */
	Call		last[2];			/* each session's last call */
	long		last_item[2] = {-1, -1};
	char		sql[4096];

	for (long item = w; item < ncalls; item += nworkers)
	{
		Call		c;
		PGresult   *res;
		int			hung;
		int			which;
		double		t0;

		make_call(item, nsystematic, seed, &c);
		which = c.plain;
		if (conn[which] && used[which] >= RECONNECT_EVERY)
		{
			check_alive(ws, conn[which], bpid[which], &last[which], last_item[which]);
			PQfinish(conn[which]);
			conn[which] = NULL;
		}
		if (!conn[which])
		{
			conn[which] = connect_as(which ? plain_role : NULL);
			used[which] = 0;
			bpid[which] = conn[which] ? PQbackendPID(conn[which]) : 0;
			if (!conn[which])
			{
				fprintf(stdout, "VIOLATION worker %d: cannot connect any more\n", w);
				ws->violations++;
				return;
			}
		}
		used[which]++;
		call_sql(&c, sql, sizeof(sql));
		t0 = now_sec();
		res = run_call(conn[which], sql, &c, &hung);
		ws->calls++;
		last[which] = c;
		last_item[which] = item;
		if (!judge_call(ws, conn[which], bpid[which], &c, item, res, hung, now_sec() - t0))
		{
			PQfinish(conn[which]);
			conn[which] = NULL;
		}
		if (res)
			PQclear(res);
		fflush(stdout);
	}
	for (int i = 0; i < 2; i++)
		if (conn[i])
		{
			check_alive(ws, conn[i], bpid[i], &last[i], last_item[i]);
			PQfinish(conn[i]);
		}
}

static int
cmp_state(const void *a, const void *b)
{
	return strcmp(((const StateCount *) a)->state, ((const StateCount *) b)->state);
}

int
main(int argc, char **argv)
{
	long		ncalls;
	uint64_t	seed;
	int			nworkers;
	long		nsystematic;
	PGconn	   *conn;
	WorkerStats *stats;
	WorkerStats total = {0};
	double		t0 = now_sec();
	int			interrupt;
	pid_t		ipid = 0;

	if (argc != 8)
	{
		fprintf(stderr, "usage: fuzz CONNINFO PLAIN_ROLE CALLS SEED WORKERS REPRO_FILE INTERRUPT\n");
		return 2;
	}
	interrupt = atoi(argv[7]);
	{
		char	   *list = strdup(argv[1]);

		for (char *tok = strtok(list, "|"); tok && nconninfos < MAX_DBS; tok = strtok(NULL, "|"))
			conninfos[nconninfos++] = tok;
		if (nconninfos == 0)
			return 2;
		conninfo = conninfos[0];
	}
	plain_role = argv[2];
	ncalls = atol(argv[3]);
	seed = strtoull(argv[4], NULL, 10);
	nworkers = atoi(argv[5]);
	if (nworkers < 1 || nworkers > MAX_WORKERS)
		nworkers = 4;
	repro = fopen(argv[6], "w");
	setvbuf(stdout, NULL, _IOLBF, 0);

	build_pools();
	conn = PQconnectdb(conninfo);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "fuzz: cannot connect: %s", PQerrorMessage(conn));
		return 2;
	}
	if (load_functions(conn) <= 0)
	{
		fprintf(stderr, "fuzz: no functions to call\n");
		return 2;
	}
	nsystematic = systematic_count();
	if (ncalls < nsystematic)
		ncalls = nsystematic;
	printf("fuzz: %d functions, %ld systematic calls, %ld calls in all, seed %llu, %d workers\n",
		   nfuncs, nsystematic, ncalls, (unsigned long long) seed, nworkers);

	stats = mmap(NULL, sizeof(WorkerStats) * nworkers, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	terminated = mmap(NULL, sizeof(Terminated), PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED || terminated == MAP_FAILED)
		return 2;
	memset(terminated, 0, sizeof(Terminated));
	memset(stats, 0, sizeof(WorkerStats) * nworkers);
	fflush(NULL);
	for (int w = 0; w < nworkers; w++)
	{
		pid_t		pid = fork();

		if (pid == 0)
		{
			PQfinish(conn);		/* the parent's; a child never uses it */
			conninfo = conninfos[w % nconninfos];
			worker(w, nworkers, ncalls, nsystematic, seed, &stats[w]);
			fflush(NULL);
			_exit(0);
		}
		if (pid < 0)
			return 2;
	}
	if (interrupt)
	{
		ipid = fork();
		if (ipid == 0)
		{
			PQfinish(conn);
			interrupter(seed);
			_exit(0);
		}
	}
	for (int w = 0; w < nworkers; w++)
	{
		int			status;
		pid_t		pid = wait(&status);

		if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		{
			printf("VIOLATION a worker process failed\n");
			total.violations++;
		}
		if (pid == ipid)		/* the interrupter does not count */
			w--;
	}
	terminated->stop = 1;
	if (ipid > 0)
		waitpid(ipid, NULL, 0);
	PQfinish(conn);

	for (int w = 0; w < nworkers; w++)
	{
		total.calls += stats[w].calls;
		total.violations += stats[w].violations;
		for (int i = 0; i < stats[w].nstates; i++)
			count_state_n(&total, stats[w].states[i].state,
						  stats[w].states[i].count);
	}
	qsort(total.states, total.nstates, sizeof(StateCount), cmp_state);
	printf("fuzz: calls made: %ld in %.1f s\n", total.calls, now_sec() - t0);
	printf("fuzz: distinct SQLSTATEs: %d\n", total.nstates);
	for (int i = 0; i < total.nstates; i++)
		printf("  %s %ld\n", total.states[i].state, total.states[i].count);
	for (int i = 0; i < nfuncs; i++)
	{
		for (int w = 0; w < nworkers; w++)
		{
			total.fcalls[i] += stats[w].fcalls[i];
			total.fok[i] += stats[w].fok[i];
		}
		if (total.fok[i] == 0)
			printf("fuzz: note: %s never returned a result in %ld calls\n",
				   funcs[i].sig, total.fcalls[i]);
	}
	printf("fuzz: violations: %ld\n", total.violations);
	if (repro)
		fclose(repro);
	return total.violations > 0 ? 1 : 0;
}
