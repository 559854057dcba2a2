/*-------------------------------------------------------------------------
 *
 * sketch_core.h
 *	  DDSketch percentile sketch: state, arithmetic and the stored encoding.
 *
 * Pure C99 (plus the __int128 extension): no PostgreSQL headers, no stdio,
 * no abort().  Every function that can fail returns a SketchError and sets
 * a static message; memory comes from a caller-supplied allocator.  This
 * lets a fuzz target link sketch_core.c on its own.
 *
 * Must never: include PostgreSQL headers, allocate with malloc directly,
 * or trust a byte of encoded input before checking it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SKETCH_CORE_H
#define SKETCH_CORE_H

#include <stddef.h>
#include <stdint.h>

/*
 * At most this many non-empty buckets in a stored sketch; when one more
 * fills, the lowest non-empty bucket folds into the next one up.
 */
#define SKETCH_MAX_BUCKETS		2048
/* First byte of every encoded sketch: 2 is written, 1 is still read. */
#define SKETCH_FORMAT_VERSION	2
#define SKETCH_FORMAT_V1		1
/* Allowed relative accuracy (alpha). */
#define SKETCH_MIN_ALPHA		0.0001
#define SKETCH_MAX_ALPHA		0.1
/* Largest value accepted (seconds: about 31.7 million years). */
#define SKETCH_MAX_VALUE		1e15
/* Most values one sketch counts (so that sketch_count fits a bigint). */
#define SKETCH_MAX_COUNT		INT64_MAX
/* Upper bound of the encoded size of any valid sketch, in bytes. */
#define SKETCH_MAX_ENCODED		(96 + SKETCH_MAX_BUCKETS * 20)
/* Room for sketch_sum_format's output, with its terminating NUL. */
#define SKETCH_SUM_TEXT_LEN		112

/*
 * The exact sum is a fixed-point number in units of 2^-64 (seconds, for
 * response times): each value is rounded to the nearest unit (ties away
 * from zero) before it is added.  Integer addition is associative, so the
 * sum does not depend on the order of values or merges.  192 bits: the
 * largest possible sum, SKETCH_MAX_COUNT values of SKETCH_MAX_VALUE, is
 * below 2^177, so a sum of accepted values never overflows.
 */
__extension__ typedef unsigned __int128 sketch_u128;

typedef struct SketchSum
{
	uint64_t	w[3];			/* little-endian words: w[0] is the fraction */
} SketchSum;

typedef enum SketchError
{
	SKETCH_OK = 0,
	SKETCH_ERR_VALUE,			/* negative, NaN or infinite value */
	SKETCH_ERR_RANGE,			/* value too large */
	SKETCH_ERR_COUNT,			/* more than SKETCH_MAX_COUNT values */
	SKETCH_ERR_ALPHA,			/* relative accuracy out of range */
	SKETCH_ERR_ALPHA_MISMATCH,	/* merging sketches of different alpha */
	SKETCH_ERR_QUANTILE,		/* quantile outside [0, 1] or NaN */
	SKETCH_ERR_FORMAT,			/* malformed or inconsistent encoding */
	SKETCH_ERR_NOMEM			/* the allocator returned NULL */
} SketchError;

/* Memory for bucket arrays.  free may be NULL (memory reclaimed later). */
typedef struct SketchAllocator
{
	void	   *(*alloc) (void *ctx, size_t size);
	void		(*free) (void *ctx, void *ptr);
	void	   *ctx;
} SketchAllocator;

/*
 * Sparse in-memory sketch: the nbuckets non-empty buckets, indexes[k]
 * strictly increasing, counts[k] >= 1.  Bucket i holds values in
 * (gamma^(i-1), gamma^i].  Invariant: nbuckets <= max_buckets; when a value
 * would make it max_buckets + 1, the lowest bucket folds into the next one
 * up, so the lowest bucket may also hold values of lower buckets (folded).
 * The kept buckets are the max_buckets highest non-empty buckets of all the
 * values ever added, whatever their order: merges stay order-independent.
 *
 * With an allocator the arrays grow on demand (up to max_buckets); without
 * one (sketch_init_fixed) they are the caller's, of max_buckets entries.
 */
typedef struct SketchState
{
	double		alpha;			/* relative accuracy, as given */
	double		gamma;			/* (1 + alpha) / (1 - alpha) */
	double		inv_log_gamma;	/* 1 / log(gamma), for the hot path */
	uint64_t	count;			/* values added, zeros included */
	uint64_t	zeros;			/* values exactly 0 */
	double		min;			/* exact smallest value; 0 when empty */
	double		max;			/* exact largest value; 0 when empty */
	SketchSum	sum;			/* exact sum in units of 2^-64 */
	int32_t		nbuckets;		/* non-empty buckets */
	int32_t		capacity;		/* length of indexes[] and counts[] */
	int32_t		max_buckets;	/* fold above this many */
	int32_t		hint;			/* position of the last bucket hit */
	int32_t    *indexes;		/* bucket indexes, ascending */
	uint64_t   *counts;			/* their counts */
	const SketchAllocator *allocator;	/* NULL: fixed caller storage */
} SketchState;

/*
 * Dense staging of bucket counts in front of a SketchState, for a hot add
 * path (sketch_agg's transition state): 32-bit counts over a window of at
 * most SKETCH_STAGE_MAX consecutive bucket indexes, where a value lands by
 * direct indexing.  The staged counts go into the state's sorted store
 * (sketch_stage_drain) when a value falls outside a window that may not grow
 * further, before a counter could overflow, and before anyone reads, merges
 * or encodes the state.  Folding depends only on the set of non-empty
 * buckets, so the drained state is exactly what sketch_add would have built.
 * Between drains the state's count, zeros, min, max and sum are current but
 * its buckets lack the staged values.  The state must have an allocator.
 */
#define SKETCH_STAGE_MAX		2048

typedef struct SketchStage
{
	int32_t		base;			/* bucket index held by counts[0] */
	int32_t		capacity;		/* length of counts[]; 0 before the first */
	int32_t		lo;				/* lowest staged index (lo > hi: none) */
	int32_t		hi;				/* highest staged index */
	uint32_t	staged;			/* values staged */
	uint32_t	misses;			/* values sent past the full window since */
	uint32_t   *counts;			/* zero outside lo..hi */
} SketchStage;

/* Static text describing the last error (for messages). */
extern const char *sketch_error_message(void);

extern SketchError sketch_init(SketchState *s, double alpha,
							   const SketchAllocator *allocator);
extern SketchError sketch_init_fixed(SketchState *s, double alpha,
									 int32_t max_buckets, int32_t *indexes,
									 uint64_t *counts);
extern void sketch_release(SketchState *s);
extern SketchError sketch_add(SketchState *s, double value);
extern SketchError sketch_add_indexed(SketchState *s, double value,
									  int32_t index);
extern void sketch_stage_init(SketchStage *st);
extern SketchError sketch_stage_add(SketchState *s, SketchStage *st,
									double value);
extern SketchError sketch_stage_drain(SketchState *s, SketchStage *st);
extern SketchError sketch_stage_encode(SketchState *s, SketchStage *st,
									   uint8_t *buf, size_t *len);
extern SketchError sketch_merge_into(SketchState *dst, const SketchState *src);
extern SketchError sketch_copy(SketchState *dst, const SketchState *src,
							   const SketchAllocator *allocator);
extern SketchError sketch_quantile_value(const SketchState *s, double q,
										 double *result);
extern SketchError sketch_percentile_cont_value(const SketchState *s, double q,
												double *result);
extern int32_t sketch_index_of(const SketchState *s, double value);
extern double sketch_bucket_value(const SketchState *s, int32_t index);
extern double sketch_sum_double(const SketchState *s);

/* Exact decimal text of a fixed-point sum, and its strict inverse. */
extern size_t sketch_sum_format(const SketchSum *sum, char *buf);
extern SketchError sketch_sum_parse(const char *text, size_t len,
									SketchSum *sum);
extern int	sketch_sum_equal(const SketchSum *a, const SketchSum *b);

/*
 * Building a sketch from decoded parts (text input and the binary decoder
 * share these, so every check lives in one place): begin with the header,
 * add buckets in strictly increasing index order, then finish, which
 * checks that all the parts agree.
 */
extern SketchError sketch_build_begin(SketchState *s, double alpha,
									  uint64_t count, uint64_t zeros,
									  double min, double max, const SketchSum *sum,
									  const SketchAllocator *allocator);
extern SketchError sketch_build_bucket(SketchState *s, int64_t index,
									   uint64_t count);
extern SketchError sketch_build_finish(SketchState *s);

/* Canonical encoding: returns bytes written into buf (>= SKETCH_MAX_ENCODED). */
extern size_t sketch_encode(const SketchState *s, uint8_t *buf);
/* Decode and validate every byte; the result is a valid state or an error. */
extern SketchError sketch_decode(const uint8_t *data, size_t len,
								 SketchState *s,
								 const SketchAllocator *allocator);

#endif							/* SKETCH_CORE_H */
