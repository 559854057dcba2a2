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

/* At most this many buckets; lower ones collapse into the lowest kept. */
#define SKETCH_MAX_BUCKETS		2048
/* First byte of every encoded sketch. */
#define SKETCH_FORMAT_VERSION	1
/* Allowed relative accuracy (alpha). */
#define SKETCH_MIN_ALPHA		0.0001
#define SKETCH_MAX_ALPHA		0.1
/* Largest value accepted: keeps value * 2^64 far inside 128 bits. */
#define SKETCH_MAX_VALUE		1e15
/* Upper bound of the encoded size of any valid sketch, in bytes. */
#define SKETCH_MAX_ENCODED		(96 + SKETCH_MAX_BUCKETS * 20)
/* Room for sketch_sum_format's output, with its terminating NUL. */
#define SKETCH_SUM_TEXT_LEN		96

/*
 * The exact sum is a fixed-point number in units of 2^-64 (seconds, for
 * response times): each value is rounded to the nearest unit (ties away
 * from zero) before it is added.  Integer addition is associative, so the
 * sum does not depend on the order of values or merges.  It stays below
 * 2^127 (it must fit a signed int128); a larger sum is an error.
 */
__extension__ typedef unsigned __int128 sketch_u128;

/*
 * The same, as a struct member: only 8-byte aligned, because allocators such
 * as palloc guarantee no more (16-byte SSE stores would fault).
 */
__extension__ typedef unsigned __int128 sketch_u128_member __attribute__((aligned(8)));

typedef enum SketchError
{
	SKETCH_OK = 0,
	SKETCH_ERR_VALUE,			/* negative, NaN or infinite value */
	SKETCH_ERR_RANGE,			/* value or sum too large, count overflow */
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
 * Dense in-memory sketch.  Buckets lo_index..hi_index (inclusive) are in
 * use when nonzero_count > 0 (count - zeros); counts[i - base] holds bucket
 * i for base <= i < base + capacity.  Bucket i holds values in
 * (gamma^(i-1), gamma^i].  Invariant: hi_index - lo_index < SKETCH_MAX_BUCKETS,
 * and the lowest bucket also holds every value whose own bucket was lower
 * than hi_index - SKETCH_MAX_BUCKETS + 1 (collapsed).
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
	sketch_u128_member sum;		/* exact sum in units of 2^-64 */
	int32_t		lo_index;		/* lowest bucket in use */
	int32_t		hi_index;		/* highest bucket in use */
	int32_t		base;			/* bucket index held by counts[0] */
	int32_t		capacity;		/* length of counts[] */
	uint64_t   *counts;			/* bucket counts, may be NULL when empty */
	const SketchAllocator *allocator;
} SketchState;

/* Static text describing the last error (for messages). */
extern const char *sketch_error_message(void);

extern SketchError sketch_init(SketchState *s, double alpha,
							   const SketchAllocator *allocator);
extern void sketch_release(SketchState *s);
extern SketchError sketch_add(SketchState *s, double value);
extern SketchError sketch_merge_into(SketchState *dst, const SketchState *src);
extern SketchError sketch_copy(SketchState *dst, const SketchState *src,
							   const SketchAllocator *allocator);
extern SketchError sketch_quantile_value(const SketchState *s, double q,
										 double *result);
extern int32_t sketch_index_of(const SketchState *s, double value);
extern double sketch_bucket_value(const SketchState *s, int32_t index);
extern double sketch_sum_double(const SketchState *s);

/* Exact decimal text of a fixed-point sum, and its strict inverse. */
extern size_t sketch_sum_format(sketch_u128 sum, char *buf);
extern SketchError sketch_sum_parse(const char *text, size_t len,
									sketch_u128 *sum);

/*
 * Building a sketch from decoded parts (text input and the binary decoder
 * share these, so every check lives in one place): begin with the header,
 * add buckets in strictly increasing index order, then finish, which
 * checks that all the parts agree.
 */
extern SketchError sketch_build_begin(SketchState *s, double alpha,
									  uint64_t count, uint64_t zeros,
									  double min, double max, sketch_u128 sum,
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
