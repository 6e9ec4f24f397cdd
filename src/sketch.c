/*-------------------------------------------------------------------------
 *
 * sketch.c
 *	  A fixed-size quantile sketch for telemetry histograms, after DDSketch
 *	  (Masson, Rim, Lee: "DDSketch: a fast and fully-mergeable quantile
 *	  sketch with relative-error guarantees", VLDB 2019).
 *
 * Error bound.  With alpha = FND_SKETCH_ALPHA = 0.01 and
 * gamma = (1 + alpha) / (1 - alpha), a positive value x goes to the bucket
 * of key k = ceil(log_gamma(x)), which holds exactly the values in
 * (gamma^(k-1), gamma^k].  A bucket is reported as
 * v = 2 * gamma^k / (gamma + 1); for every x of the bucket
 * |v - x| / x <= (gamma - 1) / (gamma + 1) = alpha.  A quantile is answered
 * with the bucket that holds the value of that rank (the same rank
 * percentile_disc picks), so the estimate is within 1% relative error of
 * the exact percentile_disc, as long as that bucket has not been collapsed.
 * Negative values are kept the same way by their magnitude in a store of
 * their own, and zero has its own count, so the bound holds for every sign.
 *
 * Fixed size.  Each store is a window of FND_SKETCH_*_BUCKETS consecutive
 * keys that slides to follow the data.  Values whose magnitudes span at most
 * gamma^(n - 1) (n buckets: 7.6e8 for positive values, 27000 for negative
 * ones) always fit.  Beyond that the lowest keys (smallest magnitudes) are
 * merged into the lowest bucket of the window: for positive values the high
 * quantiles (the ones latency work cares about) keep the 1% bound and the
 * lowest lose it; for negative values those nearest zero lose it.  Keys of
 * every finite double fit int32; the bound holds for normal doubles (the
 * representative value of a subnormal's bucket is not that precise).
 * A count that would overflow uint32 halves every count instead, which keeps
 * the shape of the distribution.
 *
 * The caller provides the locking: telemetry.c holds the metric's spinlock
 * around fnd_sketch_add, so it is kept short and never allocates or raises.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "utils/float.h"

#include "sketch.h"

/* gamma = (1 + alpha) / (1 - alpha); all in double */
#define FND_SKETCH_GAMMA	((1.0 + FND_SKETCH_ALPHA) / (1.0 - FND_SKETCH_ALPHA))

static double fnd_sketch_inv_log_gamma = 0.0;
static double fnd_sketch_log_gamma = 0.0;
static double fnd_sketch_log_scale = 0.0;	/* log(2 / (gamma + 1)) */

static inline void
fnd_sketch_constants(void)
{
	if (fnd_sketch_log_gamma == 0.0)
	{
		fnd_sketch_log_gamma = log(FND_SKETCH_GAMMA);
		fnd_sketch_inv_log_gamma = 1.0 / fnd_sketch_log_gamma;
		fnd_sketch_log_scale = log(2.0 / (FND_SKETCH_GAMMA + 1.0));
	}
}

/* The key of a positive, finite x; fits int32 for every double. */
static inline int32
fnd_sketch_key(double x)
{
	return (int32) ceil(log(x) * fnd_sketch_inv_log_gamma);
}

/*
 * The value a bucket stands for: within alpha of all its members.  For the
 * top buckets (values near DBL_MAX) gamma^key overflows: there it is
 * computed in log space, and if the value itself overflows, DBL_MAX is
 * nearer than it to every member, so the bound still holds.
 */
static inline double
fnd_sketch_value(int32 key)
{
	double		g = exp((double) key * fnd_sketch_log_gamma);
	double		v;

	if (g < DBL_MAX / 2)
		return 2.0 * g / (FND_SKETCH_GAMMA + 1.0);
	v = exp((double) key * fnd_sketch_log_gamma + fnd_sketch_log_scale);
	return isinf(v) ? DBL_MAX : v;
}

void
fnd_sketch_init(FndSketch *sk)
{
	memset(sk, 0, sizeof(FndSketch));
}

/*
 * Move the window of a store so that it starts at new_lo.  Keys below
 * new_lo are merged into the bucket of new_lo.  The caller guarantees that
 * kmax < new_lo + n, so no key falls off the top.
 */
static void
fnd_store_rebase(FndSketchStore *st, uint32 *counts, int n, int32 new_lo)
{
	uint32		tmp[FND_SKETCH_POS_BUCKETS];
	int32		k;

	Assert(n <= FND_SKETCH_POS_BUCKETS);
	Assert(st->kmax < new_lo + n);
	memset(tmp, 0, sizeof(uint32) * n);
	for (k = st->kmin; k <= st->kmax; k++)
	{
		uint32		c = counts[k - st->lo];
		int32		nk = Max(k, new_lo);
		uint32	   *slot = &tmp[nk - new_lo];

		if (c == 0)
			continue;
		/* merged counts saturate rather than wrap */
		*slot = (*slot > PG_UINT32_MAX - c) ? PG_UINT32_MAX : *slot + c;
	}
	memcpy(counts, tmp, sizeof(uint32) * n);
	st->lo = new_lo;
	st->kmin = Max(st->kmin, new_lo);
}

/* Halve every count (rounding up, so no non-empty bucket empties). */
static void
fnd_sketch_halve(FndSketch *sk)
{
	int			i;

	sk->pos.total = 0;
	for (i = 0; i < FND_SKETCH_POS_BUCKETS; i++)
	{
		sk->pos_counts[i] = (sk->pos_counts[i] + 1) / 2;
		sk->pos.total += sk->pos_counts[i];
	}
	sk->neg.total = 0;
	for (i = 0; i < FND_SKETCH_NEG_BUCKETS; i++)
	{
		sk->neg_counts[i] = (sk->neg_counts[i] + 1) / 2;
		sk->neg.total += sk->neg_counts[i];
	}
	sk->zero_count = (sk->zero_count + 1) / 2;
}

/*
 * Make room in a store's window for key k and return the key it counts as
 * (k itself, or the lowest bucket when k is below what the window can
 * reach).
 */
static inline int32
fnd_store_place(FndSketchStore *st, uint32 *counts, int n, int32 k)
{
	if (st->total == 0)
	{
		/* start with the key in the middle: data may move either way */
		memset(counts, 0, sizeof(uint32) * n);
		st->lo = k - n / 2;
		st->kmin = st->kmax = k;
	}
	else if (k < st->lo)
	{
		/*
		 * Slide down as far as the highest key allows (leaving the most room
		 * below, so a falling series rebases rarely), then merge what is
		 * still below the window into its lowest bucket.
		 */
		int32		new_lo = st->kmax - n + 1;

		if (new_lo < st->lo)
			fnd_store_rebase(st, counts, n, new_lo);
		if (k < st->lo)
			k = st->lo;
	}
	else if (k >= st->lo + n)
	{
		/*
		 * Slide up: the lowest key goes to the bottom (the most room above),
		 * unless k is too far from it, then the lowest keys merge.
		 */
		fnd_store_rebase(st, counts, n, Max(st->kmin, k - n + 1));
	}
	return k;
}

/* Add one value of key k to a store; returns false if a count is full. */
static bool
fnd_store_add(FndSketchStore *st, uint32 *counts, int n, int32 k)
{
	k = fnd_store_place(st, counts, n, k);
	if (counts[k - st->lo] == PG_UINT32_MAX)
		return false;
	counts[k - st->lo]++;
	st->total++;
	st->kmin = Min(st->kmin, k);
	st->kmax = Max(st->kmax, k);
	return true;
}

/*
 * Add a finite value (the caller filters NaN and infinities).
 */
void
fnd_sketch_add(FndSketch *sk, double x)
{
	bool		ok;

	fnd_sketch_constants();
	if (x == 0.0)
	{
		sk->zero_count++;
		return;
	}
	for (;;)
	{
		if (x > 0.0)
			ok = fnd_store_add(&sk->pos, sk->pos_counts,
							   FND_SKETCH_POS_BUCKETS, fnd_sketch_key(x));
		else
			ok = fnd_store_add(&sk->neg, sk->neg_counts,
							   FND_SKETCH_NEG_BUCKETS, fnd_sketch_key(-x));
		if (ok)
			return;
		fnd_sketch_halve(sk);
	}
}

/*
 * Add c values of key k to a store (merging): the window slides as for one
 * value, and a count that would overflow saturates (a merge cannot halve
 * the source, and a bucket of 4e9 values keeps the shape near enough).
 */
static void
fnd_store_add_n(FndSketchStore *st, uint32 *counts, int n, int32 k, uint32 c)
{
	uint32	   *slot;

	if (c == 0)
		return;
	k = fnd_store_place(st, counts, n, k);
	slot = &counts[k - st->lo];
	*slot = (*slot > PG_UINT32_MAX - c) ? PG_UINT32_MAX : *slot + c;
	st->total += c;
	st->kmin = Min(st->kmin, k);
	st->kmax = Max(st->kmax, k);
}

/*
 * Merge src into dst, bucket by bucket: both use the same keys (one gamma),
 * so the merged sketch answers every quantile of the union of their values
 * with the same 1% bound (DDSketch is fully mergeable).  Keys are added
 * from the highest magnitude down, so a window that must slide keeps the
 * high keys and merges only the lowest, as fnd_sketch_add does.
 */
void
fnd_sketch_merge(FndSketch *dst, const FndSketch *src)
{
	int32		k;

	if (src->pos.total > 0)
		for (k = src->pos.kmax; k >= src->pos.kmin; k--)
			fnd_store_add_n(&dst->pos, dst->pos_counts, FND_SKETCH_POS_BUCKETS,
							k, src->pos_counts[k - src->pos.lo]);
	if (src->neg.total > 0)
		for (k = src->neg.kmax; k >= src->neg.kmin; k--)
			fnd_store_add_n(&dst->neg, dst->neg_counts, FND_SKETCH_NEG_BUCKETS,
							k, src->neg_counts[k - src->neg.lo]);
	dst->zero_count += src->zero_count;
}

/* Is a store's window consistent with its counts' array of n buckets? */
static bool
fnd_store_valid(const FndSketchStore *st, int n)
{
	if (st->total == 0)
		return true;
	return st->kmin <= st->kmax && st->kmin >= st->lo &&
		(int64) st->kmax < (int64) st->lo + n;
}

/*
 * Can quantiles be read from this sketch without leaving its arrays?  For
 * sketches read back from a file: every sketch this code built passes.
 */
bool
fnd_sketch_valid(const FndSketch *sk)
{
	return fnd_store_valid(&sk->pos, FND_SKETCH_POS_BUCKETS) &&
		fnd_store_valid(&sk->neg, FND_SKETCH_NEG_BUCKETS);
}

uint64
fnd_sketch_count(const FndSketch *sk)
{
	return sk->pos.total + sk->neg.total + sk->zero_count;
}

/*
 * The q-quantile (0 <= q <= 1): the bucket holding the value of rank
 * ceil(q * n) (1-based), the value percentile_disc(q) returns.  NaN when
 * the sketch is empty.
 */
double
fnd_sketch_quantile(const FndSketch *sk, double q)
{
	uint64		n = fnd_sketch_count(sk);
	uint64		rank;
	uint64		seen = 0;
	int32		k;

	if (n == 0)
		return get_float8_nan();
	fnd_sketch_constants();

	q = Min(Max(q, 0.0), 1.0);
	rank = (uint64) ceil(q * (double) n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;

	/* most negative first: highest magnitude key of the negative store */
	if (sk->neg.total > 0)
	{
		for (k = sk->neg.kmax; k >= sk->neg.kmin; k--)
		{
			seen += sk->neg_counts[k - sk->neg.lo];
			if (seen >= rank)
				return -fnd_sketch_value(k);
		}
	}
	seen += sk->zero_count;
	if (seen >= rank)
		return 0.0;
	if (sk->pos.total > 0)
	{
		for (k = sk->pos.kmin; k <= sk->pos.kmax; k++)
		{
			seen += sk->pos_counts[k - sk->pos.lo];
			if (seen >= rank)
				return fnd_sketch_value(k);
		}
		return fnd_sketch_value(sk->pos.kmax);
	}
	return 0.0;
}
