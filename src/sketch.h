/*-------------------------------------------------------------------------
 *
 * sketch.h
 *	  A fixed-size quantile sketch (DDSketch-style logarithmic buckets) for
 *	  telemetry histograms.
 *
 * See sketch.c for the error bound and the collapsing rule.
 *
 *-------------------------------------------------------------------------
 */
#ifndef FND_SKETCH_H
#define FND_SKETCH_H

#include "postgres.h"

/* Relative accuracy of every quantile estimate (see sketch.c). */
#define FND_SKETCH_ALPHA		0.01

/*
 * Buckets for positive and for negative values.  Buckets of ratio
 * gamma = 1.0202: 1024 cover a factor of gamma^1023 = 7.7e8 (say 1 us to
 * 760 s) at full accuracy, 512 a factor of gamma^511 = 27000; beyond that
 * the lowest buckets are merged (see sketch.c).  A sketch takes about 6 kB.
 *
 * Sketches of one shape merge bucket by bucket (DDSketch is fully
 * mergeable): 1.2's aggregation across agents adds the counts of equal keys
 * (telemetry.h's snapshot copies each histogram's sketch for that).
 */
#define FND_SKETCH_POS_BUCKETS	1024
#define FND_SKETCH_NEG_BUCKETS	512

/* One store: counts[i] is the number of values whose key is lo + i. */
typedef struct FndSketchStore
{
	int32		lo;				/* key of counts[0] */
	int32		kmin;			/* lowest non-empty key (when total > 0) */
	int32		kmax;			/* highest non-empty key (when total > 0) */
	int32		pad;
	uint64		total;			/* sum of counts[] */
} FndSketchStore;

typedef struct FndSketch
{
	uint64		zero_count;		/* values equal to zero */
	FndSketchStore pos;			/* positive values, by key of x */
	FndSketchStore neg;			/* negative values, by key of -x */
	uint32		pos_counts[FND_SKETCH_POS_BUCKETS];
	uint32		neg_counts[FND_SKETCH_NEG_BUCKETS];
} FndSketch;

extern void fnd_sketch_init(FndSketch *sk);
extern void fnd_sketch_add(FndSketch *sk, double x);
extern bool fnd_sketch_valid(const FndSketch *sk);
extern uint64 fnd_sketch_count(const FndSketch *sk);
extern double fnd_sketch_quantile(const FndSketch *sk, double q);
extern void fnd_sketch_merge(FndSketch *dst, const FndSketch *src);

#endif							/* FND_SKETCH_H */
