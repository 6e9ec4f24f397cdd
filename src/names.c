/*-------------------------------------------------------------------------
 *
 * names.c
 *	  Validation of the arguments every subsystem takes: names, intervals.
 *	  Every failure is FN003 (invalid_argument) and happens before any
 *	  state is touched, so bad input changes nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "foundation.h"

/*
 * Fetch a text argument that must not be NULL.  For functions declared
 * CALLED ON NULL INPUT, so a NULL gets an error instead of a silent NULL.
 */
text *
fnd_arg_text(FunctionCallInfo fcinfo, int argno, const char *what)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must not be null", what)));
	return PG_GETARG_TEXT_PP(argno);
}

/*
 * Check that t is a usable name (1 to FND_NAME_MAX bytes, no NUL) and copy
 * it, NUL-terminated and zero-padded, into dst of FND_NAME_BUFSZ bytes.
 * Zero padding lets callers use the buffer as a HASH_BLOBS key.
 */
void
fnd_check_name(text *t, const char *what, char *dst)
{
	int			len = VARSIZE_ANY_EXHDR(t);
	const char *p = VARDATA_ANY(t);

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must not be empty", what)));
	if (len > FND_NAME_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s is too long", what),
				 errdetail("It is %d bytes; the limit is %d bytes.",
						   len, FND_NAME_MAX)));
	if (memchr(p, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must not contain a NUL byte", what)));

	memset(dst, 0, FND_NAME_BUFSZ);
	memcpy(dst, p, len);
}

/* Copy an already-checked C-string name into a zero-padded key buffer. */
void
fnd_copy_name(const char *src, char *dst)
{
	memset(dst, 0, FND_NAME_BUFSZ);
	strlcpy(dst, src, FND_NAME_BUFSZ);
}

/*
 * An interval as microseconds.  A month counts as 30 days, as in interval
 * comparison.  Negative values, zero (unless allow_zero) and values too
 * large to add to a timestamp are FN003.
 */
int64
fnd_interval_usec(const Interval *iv, const char *what, bool allow_zero)
{
	int64		usec;
	int64		days;

	/* days and months combined, then to microseconds, all overflow-checked */
	if (pg_mul_s64_overflow((int64) iv->month, DAYS_PER_MONTH, &days) ||
		pg_add_s64_overflow(days, (int64) iv->day, &days) ||
		pg_mul_s64_overflow(days, USECS_PER_DAY, &usec) ||
		pg_add_s64_overflow(usec, iv->time, &usec) ||
		usec > (int64) 100 * 365 * USECS_PER_DAY)
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s is out of range", what),
				 errdetail("The limit is 100 years.")));

	if (usec < 0 || (usec == 0 && !allow_zero))
		ereport(ERROR,
				(errcode(ERRCODE_FND_INVALID_ARGUMENT),
				 errmsg("%s must be %s", what,
						allow_zero ? "zero or positive" : "positive")));
	return usec;
}

/* Microseconds as an interval (time part only, like clock arithmetic). */
Interval *
fnd_usec_interval(int64 usec)
{
	Interval   *iv = (Interval *) palloc0(sizeof(Interval));

	iv->time = usec;
	return iv;
}

/*
 * The wall clock, for leases and deadlines: not transaction time, which
 * stands still inside a long transaction.
 */
TimestampTz
fnd_now(void)
{
	return GetCurrentTimestamp();
}
