/*-------------------------------------------------------------------------
 *
 * sketch_core.c
 *	  DDSketch (Masson, Rim, Lee, VLDB 2019): sparse state, add, merge,
 *	  folding, quantiles (percentile_disc and percentile_cont rules), the
 *	  canonical encoding and a validating decoder.
 *
 * Mapping: gamma = (1 + alpha) / (1 - alpha); value x > 0 goes to bucket
 * i = ceil(log(x) / log(gamma)), whose representative 2 gamma^i / (gamma + 1)
 * is within relative error alpha of every value in (gamma^(i-1), gamma^i].
 * Exactly 0 has its own counter.
 *
 * Folding by filled buckets: a state keeps at most max_buckets non-empty
 * buckets (SKETCH_MAX_BUCKETS for stored sketches), in sorted arrays.  When
 * one more would fill, the lowest non-empty bucket folds into the next
 * non-empty one up.  The kept buckets are then always the max_buckets
 * highest non-empty buckets of every value ever added (the boundary only
 * rises), the lowest of them also holding everything below it: the state
 * depends only on the multiset of values, so merges stay order-independent.
 * Only ranks that fall in the lowest kept bucket of a sketch that has
 * folded lose the alpha guarantee (they are still clamped to the exact
 * min).  Format 1 folded by index span instead (2048 buckets from the
 * highest down); such a sketch decodes as it is and merges exactly.
 *
 * Encoding (all integers LEB128 varints, shortest form only; doubles 8 bytes
 * little-endian IEEE 754):
 *	 version(1) alpha count zeros min max sum nruns
 *	 then per run: start (first run: zigzag index; later runs: empty buckets
 *	 since the previous run minus 1), length, then length counts (each >= 1).
 * Version 2 (written) has a sum of up to 192 bits; version 1 (read only)
 * had 127.  A state has exactly one encoding, so equal states give equal
 * bytes.
 *
 * Must never: include PostgreSQL headers, abort, or read past a buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "sketch_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>


/* log of the smallest positive double (denormal 2^-1074), rounded down */
#define LOG_MIN_POSITIVE	(-745.2)

static const char *last_error = "no error";

static SketchError
fail(SketchError code, const char *message)
{
	last_error = message;
	return code;
}

const char *
sketch_error_message(void)
{
	return last_error;
}

/*
 * The value in units of 2^-64, rounded to nearest, ties away from zero
 * (0 <= value <= SKETCH_MAX_VALUE).  Same result as round(ldexp(value, 64)),
 * from the IEEE 754 bits: value = mantissa * 2^(exponent - 1075).
 */
static inline sketch_u128
to_fixed(double value)
{
	uint64_t	bits;
	uint64_t	mantissa;
	int			exponent;
	int			shift;

	memcpy(&bits, &value, sizeof(bits));
	exponent = (int) ((bits >> 52) & 0x7ff);
	mantissa = bits & ((UINT64_C(1) << 52) - 1);
	if (exponent == 0)
		exponent = 1;			/* subnormal: no implicit bit */
	else
		mantissa |= UINT64_C(1) << 52;
	/* units = mantissa * 2^(exponent - 1075 + 64) */
	shift = exponent - 1011;
	if (shift >= 0)
		return ((sketch_u128) mantissa) << shift;
	shift = -shift;
	if (shift > 54)
		return 0;				/* below half a unit */
	return (mantissa + (UINT64_C(1) << (shift - 1))) >> shift;
}

/* ---- the 192-bit fixed-point sum ---- */

/* a += b; returns 0, or 1 (a unchanged) when the result needs 193 bits */
static int
sum_add(SketchSum *a, const SketchSum *b)
{
	SketchSum	r;
	uint64_t	carry = 0;

	for (int i = 0; i < 3; i++)
	{
		uint64_t	x = a->w[i] + b->w[i];
		uint64_t	c1 = x < a->w[i];
		uint64_t	y = x + carry;

		carry = c1 | (y < x);
		r.w[i] = y;
	}
	if (carry)
		return 1;
	*a = r;
	return 0;
}

/* n * v, exact (n < 2^64 and v < 2^128 give less than 2^192) */
static SketchSum
sum_mul(uint64_t n, sketch_u128 v)
{
	sketch_u128 p0 = (sketch_u128) n * (uint64_t) v;
	sketch_u128 p1 = (sketch_u128) n * (uint64_t) (v >> 64);
	sketch_u128 mid = (p0 >> 64) + (uint64_t) p1;
	SketchSum	r;

	r.w[0] = (uint64_t) p0;
	r.w[1] = (uint64_t) mid;
	r.w[2] = (uint64_t) (p1 >> 64) + (uint64_t) (mid >> 64);
	return r;
}

static int
sum_cmp(const SketchSum *a, const SketchSum *b)
{
	for (int i = 2; i >= 0; i--)
		if (a->w[i] != b->w[i])
			return a->w[i] < b->w[i] ? -1 : 1;
	return 0;
}

static int
sum_is_zero(const SketchSum *a)
{
	return (a->w[0] | a->w[1] | a->w[2]) == 0;
}

int
sketch_sum_equal(const SketchSum *a, const SketchSum *b)
{
	return sum_cmp(a, b) == 0;
}

double
sketch_sum_double(const SketchState *s)
{
	const uint64_t *w = s->sum.w;

	if (w[2] == 0)
		return ldexp((double) ((((sketch_u128) w[1]) << 64) | w[0]), -64);
	return ldexp((double) w[2], 64) + (double) w[1] + ldexp((double) w[0], -64);
}

/* ---- state ---- */

static void
init_common(SketchState *s, double alpha)
{
	s->alpha = alpha;
	s->gamma = (1.0 + alpha) / (1.0 - alpha);
	s->inv_log_gamma = 1.0 / log(s->gamma);
	s->max_buckets = SKETCH_MAX_BUCKETS;
}

SketchError
sketch_init(SketchState *s, double alpha, const SketchAllocator *allocator)
{
	memset(s, 0, sizeof(*s));
	if (!(alpha >= SKETCH_MIN_ALPHA && alpha <= SKETCH_MAX_ALPHA))
		return fail(SKETCH_ERR_ALPHA, "relative accuracy must be between 0.0001 and 0.1");
	init_common(s, alpha);
	s->allocator = allocator;
	return SKETCH_OK;
}

/*
 * A sketch in the caller's storage (max_buckets entries each, e.g. in
 * shared memory): it never allocates and keeps at most max_buckets buckets.
 */
SketchError
sketch_init_fixed(SketchState *s, double alpha, int32_t max_buckets,
				  int32_t *indexes, uint64_t *counts)
{
	SketchError err = sketch_init(s, alpha, NULL);

	if (err != SKETCH_OK)
		return err;
	if (max_buckets < 2 || max_buckets > SKETCH_MAX_BUCKETS)
		return fail(SKETCH_ERR_RANGE, "bucket limit must be between 2 and 2048");
	s->max_buckets = max_buckets;
	s->capacity = max_buckets;
	s->indexes = indexes;
	s->counts = counts;
	return SKETCH_OK;
}

void
sketch_release(SketchState *s)
{
	if (s->allocator == NULL)
		return;					/* the caller's storage */
	if (s->counts != NULL && s->allocator->free != NULL)
		s->allocator->free(s->allocator->ctx, s->counts);
	s->counts = NULL;
	s->indexes = NULL;
	s->capacity = 0;
	s->nbuckets = 0;
}

int32_t
sketch_index_of(const SketchState *s, double value)
{
	return (int32_t) ceil(log(value) * s->inv_log_gamma);
}

double
sketch_bucket_value(const SketchState *s, int32_t index)
{
	return 2.0 * pow(s->gamma, (double) index) / (s->gamma + 1.0);
}

/*
 * Room for need buckets (need <= max_buckets): one block, counts then
 * indexes, doubled at each growth.
 */
static SketchError
ensure_capacity(SketchState *s, int32_t need)
{
	int32_t		capacity;
	uint64_t   *counts;
	int32_t    *indexes;

	if (need <= s->capacity)
		return SKETCH_OK;
	if (s->allocator == NULL)
		return fail(SKETCH_ERR_NOMEM, "fixed sketch storage is full");
	capacity = s->capacity * 2;
	if (capacity < need)
		capacity = need;
	if (capacity < 16)
		capacity = 16;
	if (capacity > s->max_buckets && need <= s->max_buckets)
		capacity = s->max_buckets;
	counts = s->allocator->alloc(s->allocator->ctx,
								 (sizeof(uint64_t) + sizeof(int32_t)) * (size_t) capacity);
	if (counts == NULL)
		return fail(SKETCH_ERR_NOMEM, "out of memory");
	indexes = (int32_t *) (counts + capacity);
	if (s->nbuckets > 0)
	{
		memcpy(counts, s->counts, sizeof(uint64_t) * s->nbuckets);
		memcpy(indexes, s->indexes, sizeof(int32_t) * s->nbuckets);
	}
	if (s->counts != NULL && s->allocator->free != NULL)
		s->allocator->free(s->allocator->ctx, s->counts);
	s->counts = counts;
	s->indexes = indexes;
	s->capacity = capacity;
	return SKETCH_OK;
}

/*
 * First position whose index is >= index (nbuckets when none).  Branch-free
 * halving (compiled to conditional moves): the bucket of a random value is
 * unpredictable, and mispredicted branches were most of the cost of an add.
 */
static inline int32_t
find_position(const SketchState *s, int32_t index)
{
	const int32_t *base = s->indexes;
	int32_t		n = s->nbuckets;

	if (n == 0 || index > base[n - 1])
		return n;
	while (n > 1)
	{
		int32_t		half = n / 2;

		base = (base[half - 1] < index) ? base + half : base;
		n -= half;
	}
	return (int32_t) (base - s->indexes) + (*base < index);
}

/*
 * A new bucket index with n values at position pos (every bucket before pos
 * is lower).  When the state is full, the lowest bucket folds into the next
 * one up of the set with the new bucket, which keeps the max_buckets highest.
 */
static SketchError
insert_bucket(SketchState *s, int32_t pos, int32_t index, uint64_t n)
{
	SketchError err;

	if (s->nbuckets < s->max_buckets)
	{
		if ((err = ensure_capacity(s, s->nbuckets + 1)) != SKETCH_OK)
			return err;
		memmove(s->indexes + pos + 1, s->indexes + pos,
				sizeof(int32_t) * (s->nbuckets - pos));
		memmove(s->counts + pos + 1, s->counts + pos,
				sizeof(uint64_t) * (s->nbuckets - pos));
		s->indexes[pos] = index;
		s->counts[pos] = n;
		s->nbuckets++;
		s->hint = pos;
		return SKETCH_OK;
	}
	if (pos == 0)
	{
		/* below every kept bucket: folds into the lowest */
		s->counts[0] += n;
		s->hint = 0;
	}
	else if (pos == 1)
	{
		/* the lowest folds into the new bucket, which takes its place */
		s->indexes[0] = index;
		s->counts[0] += n;
		s->hint = 0;
	}
	else
	{
		/* the lowest folds into the second; the new one goes at pos - 1 */
		s->counts[1] += s->counts[0];
		memmove(s->indexes, s->indexes + 1, sizeof(int32_t) * (pos - 1));
		memmove(s->counts, s->counts + 1, sizeof(uint64_t) * (pos - 1));
		s->indexes[pos - 1] = index;
		s->counts[pos - 1] = n;
		s->hint = pos - 1;
	}
	return SKETCH_OK;
}

/* Add n values of bucket index (count/zeros/min/max are the caller's job). */
static inline SketchError
add_to_bucket(SketchState *s, int32_t index, uint64_t n)
{
	int32_t		pos = s->hint;

	if (pos < s->nbuckets && s->indexes[pos] == index)
	{
		s->counts[pos] += n;
		return SKETCH_OK;
	}
	pos = find_position(s, index);
	if (pos < s->nbuckets && s->indexes[pos] == index)
	{
		s->counts[pos] += n;
		s->hint = pos;
		return SKETCH_OK;
	}
	return insert_bucket(s, pos, index, n);
}

static SketchError stage_put_slow(SketchState *s, SketchStage *st,
								  int32_t index);

/* One value of bucket index into the stage: direct indexing, O(1). */
static inline SketchError
stage_put(SketchState *s, SketchStage *st, int32_t index)
{
	uint32_t	offset = (uint32_t) index - (uint32_t) st->base;

	if (offset >= (uint32_t) st->capacity || st->staged == UINT32_MAX)
		return stage_put_slow(s, st, index);
	st->counts[offset]++;
	st->staged++;
	st->lo = index < st->lo ? index : st->lo;
	st->hi = index > st->hi ? index : st->hi;
	return SKETCH_OK;
}

/*
 * Shared by sketch_add, sketch_add_indexed and sketch_stage_add (st not
 * NULL: the bucket is staged); index unused for 0.
 */
static inline SketchError
add_value(SketchState *s, SketchStage *st, double value, int32_t index)
{
	sketch_u128 low = (((sketch_u128) s->sum.w[1]) << 64) | s->sum.w[0];
	sketch_u128 units;
	uint64_t	carry;
	SketchError err;

	if (isnan(value) || isinf(value) || value < 0)
		return fail(SKETCH_ERR_VALUE, "value must be a finite number >= 0");
	if (value > SKETCH_MAX_VALUE)
		return fail(SKETCH_ERR_RANGE, "value is larger than 1e15");
	if (s->count >= (uint64_t) SKETCH_MAX_COUNT)
		return fail(SKETCH_ERR_COUNT, "sketch count would exceed 9223372036854775807");
	/* units < 2^114: add to the low 128 bits, carry into the top word */
	units = to_fixed(value);
	low += units;
	carry = low < units;
	if (carry && s->sum.w[2] == UINT64_MAX)
		return fail(SKETCH_ERR_RANGE, "sketch sum would exceed its fixed-point range");

	if (value == 0)
	{
		value = 0.0;			/* -0 is stored as +0 */
		s->zeros++;
	}
	else if ((err = (st != NULL ? stage_put(s, st, index) :
					 add_to_bucket(s, index, 1))) != SKETCH_OK)
		return err;
	if (s->count == 0 || value < s->min)
		s->min = value;
	if (s->count == 0 || value > s->max)
		s->max = value;
	s->count++;
	s->sum.w[0] = (uint64_t) low;
	s->sum.w[1] = (uint64_t) (low >> 64);
	s->sum.w[2] += carry;
	return SKETCH_OK;
}

SketchError
sketch_add(SketchState *s, double value)
{
	int32_t		index = 0;

	if (value > 0 && value <= SKETCH_MAX_VALUE)
		index = sketch_index_of(s, value);
	return add_value(s, NULL, value, index);
}

/*
 * sketch_add with the bucket index computed beforehand by sketch_index_of
 * (any value for 0): no log() here, for callers that hold a spinlock.
 */
SketchError
sketch_add_indexed(SketchState *s, double value, int32_t index)
{
	return add_value(s, NULL, value, index);
}

/* Fold the lowest buckets until at most max_buckets are left. */
static void
fold_to_limit(SketchState *s)
{
	int32_t		extra = s->nbuckets - s->max_buckets;

	if (extra <= 0)
		return;
	for (int32_t k = 0; k < extra; k++)
		s->counts[extra] += s->counts[k];
	memmove(s->indexes, s->indexes + extra, sizeof(int32_t) * s->max_buckets);
	memmove(s->counts, s->counts + extra, sizeof(uint64_t) * s->max_buckets);
	s->nbuckets = s->max_buckets;
}

/* Union of the buckets of dst and src into a new block, then fold. */
static SketchError
merge_buckets(SketchState *dst, const SketchState *src, int32_t missing)
{
	int32_t		total = dst->nbuckets + missing;
	SketchState old = *dst;
	int32_t		i = 0;
	int32_t		j = 0;
	int32_t		k = 0;
	uint64_t   *counts;
	int32_t    *indexes;

	counts = dst->allocator->alloc(dst->allocator->ctx,
								   (sizeof(uint64_t) + sizeof(int32_t)) * (size_t) total);
	if (counts == NULL)
		return fail(SKETCH_ERR_NOMEM, "out of memory");
	indexes = (int32_t *) (counts + total);
	while (i < old.nbuckets || j < src->nbuckets)
	{
		if (j >= src->nbuckets ||
			(i < old.nbuckets && old.indexes[i] < src->indexes[j]))
		{
			indexes[k] = old.indexes[i];
			counts[k++] = old.counts[i++];
		}
		else if (i >= old.nbuckets || src->indexes[j] < old.indexes[i])
		{
			indexes[k] = src->indexes[j];
			counts[k++] = src->counts[j++];
		}
		else
		{
			indexes[k] = old.indexes[i];
			counts[k++] = old.counts[i++] + src->counts[j++];
		}
	}
	if (old.counts != NULL && dst->allocator->free != NULL)
		dst->allocator->free(dst->allocator->ctx, old.counts);
	dst->counts = counts;
	dst->indexes = indexes;
	dst->capacity = total;
	dst->nbuckets = total;
	dst->hint = 0;
	fold_to_limit(dst);
	return SKETCH_OK;
}

/*
 * Add src's buckets to dst's: in place when dst has all of them (the common
 * case of merging hours of one entity), else as a union; with fixed storage
 * one bucket at a time (the same result: folding is associative).
 */
static SketchError
merge_bucket_counts(SketchState *dst, const SketchState *src)
{
	int32_t		missing = 0;
	int32_t		i = 0;
	SketchError err;

	for (int32_t j = 0; j < src->nbuckets; j++)
	{
		while (i < dst->nbuckets && dst->indexes[i] < src->indexes[j])
			i++;
		if (i >= dst->nbuckets || dst->indexes[i] != src->indexes[j])
			missing++;
	}
	if (missing == 0)
	{
		i = 0;
		for (int32_t j = 0; j < src->nbuckets; j++)
		{
			while (dst->indexes[i] < src->indexes[j])
				i++;
			dst->counts[i] += src->counts[j];
		}
		return SKETCH_OK;
	}
	if (dst->allocator != NULL)
		return merge_buckets(dst, src, missing);
	for (int32_t j = src->nbuckets - 1; j >= 0; j--)
		if ((err = add_to_bucket(dst, src->indexes[j], src->counts[j])) != SKETCH_OK)
			return err;
	return SKETCH_OK;
}

SketchError
sketch_merge_into(SketchState *dst, const SketchState *src)
{
	SketchSum	sum = dst->sum;
	SketchError err;

	if (dst->alpha != src->alpha)
		return fail(SKETCH_ERR_ALPHA_MISMATCH, "sketches have different relative accuracy");
	if (src->count == 0)
		return SKETCH_OK;
	if (src->count > (uint64_t) SKETCH_MAX_COUNT - dst->count)
		return fail(SKETCH_ERR_COUNT, "merged sketch count would exceed 9223372036854775807");
	if (sum_add(&sum, &src->sum))
		return fail(SKETCH_ERR_RANGE, "sketch sum would exceed its fixed-point range");
	if (src->nbuckets > 0 &&
		(err = merge_bucket_counts(dst, src)) != SKETCH_OK)
		return err;
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->zeros += src->zeros;
	dst->sum = sum;
	return SKETCH_OK;
}

SketchError
sketch_copy(SketchState *dst, const SketchState *src,
			const SketchAllocator *allocator)
{
	SketchError err = sketch_init(dst, src->alpha, allocator);

	if (err != SKETCH_OK)
		return err;
	return sketch_merge_into(dst, src);
}

/* ---- dense staging (see SketchStage in sketch_core.h) ---- */

void
sketch_stage_init(SketchStage *st)
{
	memset(st, 0, sizeof(*st));
	st->lo = INT32_MAX;
	st->hi = INT32_MIN;
}

SketchError
sketch_stage_add(SketchState *s, SketchStage *st, double value)
{
	int32_t		index = 0;

	if (value > 0 && value <= SKETCH_MAX_VALUE)
		index = sketch_index_of(s, value);
	return add_value(s, st, value, index);
}

/* At most this many staged buckets go in one by one, more by one merge. */
#define STAGE_DRAIN_ONE_BY_ONE	16
/* Misses beyond the values staged that move a full-size window. */
#define STAGE_MISS_SLACK		1024

/*
 * The staged buckets into an empty sorted store, in one branch-free pass
 * that also zeroes the stage (its span is at most SKETCH_STAGE_MAX, no more
 * than max_buckets: nothing folds).
 */
static SketchError
stage_drain_fresh(SketchState *s, SketchStage *st)
{
	uint32_t   *counts = st->counts + (st->lo - st->base);
	int32_t		span = st->hi - st->lo + 1;
	int32_t		n = 0;
	SketchError err;

	if ((err = ensure_capacity(s, span)) != SKETCH_OK)
		return err;
	for (int32_t k = 0; k < span; k++)
	{
		uint32_t	c = counts[k];

		s->indexes[n] = st->lo + k;
		s->counts[n] = c;
		n += c != 0;
		counts[k] = 0;
	}
	s->nbuckets = n;
	s->hint = 0;
	return SKETCH_OK;
}

/* The staged buckets as a sorted run of their own, merged in linear time. */
static SketchError
stage_drain_merge(SketchState *s, const SketchStage *st, int32_t nonzero)
{
	SketchState run;
	SketchError err;

	memset(&run, 0, sizeof(run));
	run.counts = s->allocator->alloc(s->allocator->ctx,
									 (sizeof(uint64_t) + sizeof(int32_t)) * (size_t) nonzero);
	if (run.counts == NULL)
		return fail(SKETCH_ERR_NOMEM, "out of memory");
	run.indexes = (int32_t *) (run.counts + nonzero);
	for (int32_t i = st->lo; i <= st->hi; i++)
		if (st->counts[i - st->base] != 0)
		{
			run.indexes[run.nbuckets] = i;
			run.counts[run.nbuckets++] = st->counts[i - st->base];
		}
	err = merge_bucket_counts(s, &run);
	if (s->allocator->free != NULL)
		s->allocator->free(s->allocator->ctx, run.counts);
	return err;
}

/* The staged buckets into a non-empty store: a few one by one, or merged. */
static SketchError
stage_drain_into(SketchState *s, const SketchStage *st)
{
	int32_t		nonzero = 0;
	SketchError err = SKETCH_OK;

	for (int32_t i = st->lo; i <= st->hi; i++)
		nonzero += st->counts[i - st->base] != 0;
	if (nonzero > STAGE_DRAIN_ONE_BY_ONE)
		return stage_drain_merge(s, st, nonzero);
	for (int32_t i = st->lo; i <= st->hi && err == SKETCH_OK; i++)
		if (st->counts[i - st->base] != 0)
			err = add_to_bucket(s, i, st->counts[i - st->base]);
	return err;
}

/*
 * Move the staged counts into the sorted store and empty the stage (its
 * window stays where it is).  Each way of moving them gives the state that
 * adding the values one by one would: folding depends only on the set of
 * non-empty buckets.
 */
SketchError
sketch_stage_drain(SketchState *s, SketchStage *st)
{
	SketchError err;

	if (st->lo > st->hi)
		return SKETCH_OK;
	if (s->nbuckets == 0 && st->hi - st->lo < s->max_buckets)
		err = stage_drain_fresh(s, st);
	else if ((err = stage_drain_into(s, st)) == SKETCH_OK)
		memset(st->counts + (st->lo - st->base), 0,
			   sizeof(uint32_t) * (size_t) (st->hi - st->lo + 1));
	if (err != SKETCH_OK)
		return err;
	st->staged = 0;
	st->misses = 0;
	st->lo = INT32_MAX;
	st->hi = INT32_MIN;
	return SKETCH_OK;
}

/*
 * The encoding of a staged state (sketch_encode's, into buf).  In the usual
 * case of sketch_agg, every bucket staged and the sorted store empty, the
 * stage is read through a sorted view in static scratch (the backend and
 * the fuzzer are single-threaded), leaving the state as it is and
 * allocating nothing; otherwise the stage is drained first.
 */
SketchError
sketch_stage_encode(SketchState *s, SketchStage *st, uint8_t *buf,
					size_t *len)
{
	static int32_t scratch_indexes[SKETCH_STAGE_MAX];
	static uint64_t scratch_counts[SKETCH_STAGE_MAX];
	SketchState view;
	SketchError err;

	if (st->lo <= st->hi && s->nbuckets == 0 && st->hi - st->lo < s->max_buckets)
	{
		const uint32_t *counts = st->counts + (st->lo - st->base);
		int32_t		span = st->hi - st->lo + 1;
		int32_t		n = 0;

		view = *s;
		for (int32_t k = 0; k < span; k++)
		{
			scratch_indexes[n] = st->lo + k;
			scratch_counts[n] = counts[k];
			n += counts[k] != 0;
		}
		view.indexes = scratch_indexes;
		view.counts = scratch_counts;
		view.nbuckets = n;
		*len = sketch_encode(&view, buf);
		return SKETCH_OK;
	}
	if ((err = sketch_stage_drain(s, st)) != SKETCH_OK)
		return err;
	*len = sketch_encode(s, buf);
	return SKETCH_OK;
}

/*
 * Make the window cover lo..hi (hi - lo < SKETCH_STAGE_MAX) with the staged
 * counts where they were: moved in place when the array is long enough,
 * else into one half as long again (at least), with room on both sides.
 */
static SketchError
stage_cover(SketchState *s, SketchStage *st, int32_t lo, int32_t hi)
{
	int32_t		span = hi - lo + 1;
	int32_t		capacity = st->capacity;
	int32_t		base;
	uint32_t   *counts;

	if (span > capacity)
	{
		capacity = capacity * 2 > span + span / 2 ? capacity * 2 : span + span / 2;
		if (capacity < 32)
			capacity = 32;
		if (capacity > SKETCH_STAGE_MAX)
			capacity = SKETCH_STAGE_MAX;
	}
	base = lo - (capacity - span) / 2;
	if (capacity == st->capacity)
	{
		if (st->lo <= st->hi)
		{
			int32_t		from = st->lo - st->base;
			int32_t		to = st->lo - base;
			int32_t		used = st->hi - st->lo + 1;

			memmove(st->counts + to, st->counts + from, sizeof(uint32_t) * (size_t) used);
			/* zero what the move left behind */
			if (to > from)
				memset(st->counts + from, 0,
					   sizeof(uint32_t) * (size_t) (to - from < used ? to - from : used));
			else if (to < from)
			{
				int32_t		gap = from - to < used ? from - to : used;

				memset(st->counts + from + used - gap, 0, sizeof(uint32_t) * (size_t) gap);
			}
		}
		st->base = base;
		return SKETCH_OK;
	}
	counts = s->allocator->alloc(s->allocator->ctx,
								 sizeof(uint32_t) * (size_t) capacity);
	if (counts == NULL)
		return fail(SKETCH_ERR_NOMEM, "out of memory");
	memset(counts, 0, sizeof(uint32_t) * (size_t) capacity);
	if (st->lo <= st->hi)
		memcpy(counts + (st->lo - base), st->counts + (st->lo - st->base),
			   sizeof(uint32_t) * (size_t) (st->hi - st->lo + 1));
	if (st->counts != NULL && s->allocator->free != NULL)
		s->allocator->free(s->allocator->ctx, st->counts);
	st->counts = counts;
	st->capacity = capacity;
	st->base = base;
	return SKETCH_OK;
}

/*
 * A value outside the window (or a full counter total).  While the window
 * may grow it grows to take the value.  At its full size a value outside
 * it goes straight into the sorted store (a miss); when misses outnumber
 * the values staged since the last drain, the data has moved on: drain and
 * centre the window on the value.  Wide data then costs about what
 * sketch_add costs, never a drain per value.
 */
static SketchError
stage_put_slow(SketchState *s, SketchStage *st, int32_t index)
{
	int32_t		lo = index < st->lo ? index : st->lo;
	int32_t		hi = index > st->hi ? index : st->hi;
	int			inside = index >= st->base && index - st->base < st->capacity;
	SketchError err;

	if (st->staged == UINT32_MAX)
	{
		if ((err = sketch_stage_drain(s, st)) != SKETCH_OK)
			return err;
		lo = hi = index;
	}
	else if (!inside && st->lo <= st->hi &&
			 (st->capacity == SKETCH_STAGE_MAX ||
			  (int64_t) hi - (int64_t) lo >= SKETCH_STAGE_MAX))
	{
		if ((uint64_t) ++st->misses <= (uint64_t) st->staged + STAGE_MISS_SLACK)
			return add_to_bucket(s, index, 1);
		if ((err = sketch_stage_drain(s, st)) != SKETCH_OK)
			return err;
		lo = hi = index;
	}
	if (index < st->base || index - st->base >= st->capacity)
	{
		if ((err = stage_cover(s, st, lo, hi)) != SKETCH_OK)
			return err;
	}
	st->counts[index - st->base]++;
	st->staged++;
	st->lo = lo;
	st->hi = hi;
	return SKETCH_OK;
}

/* Representative of the bucket holding rank (zeros < rank <= count). */
static double
bucket_at_rank(const SketchState *s, uint64_t rank)
{
	uint64_t	seen = s->zeros;

	for (int32_t k = 0; k < s->nbuckets; k++)
	{
		seen += s->counts[k];
		if (seen >= rank)
			return sketch_bucket_value(s, s->indexes[k]);
	}
	return s->max;
}

static double
clamp(const SketchState *s, double v)
{
	if (v < s->min)
		v = s->min;
	if (v > s->max)
		v = s->max;
	return v;
}

/*
 * The value at rank k = ceil(q * count) (k = 1 when that is <= 0), the rule
 * of percentile_disc; q = 0 and q = 1 give the exact min and max.
 */
SketchError
sketch_quantile_value(const SketchState *s, double q, double *result)
{
	uint64_t	rank;

	if (!(q >= 0.0 && q <= 1.0))
		return fail(SKETCH_ERR_QUANTILE, "quantile must be between 0 and 1");
	if (s->count == 0)
		return fail(SKETCH_ERR_QUANTILE, "sketch is empty");
	if (q == 0.0)
	{
		*result = s->min;
		return SKETCH_OK;
	}
	if (q == 1.0)
	{
		*result = s->max;
		return SKETCH_OK;
	}
	rank = (uint64_t) ceil(q * (double) s->count);
	if (rank < 1)
		rank = 1;
	if (rank > s->count)
		rank = s->count;
	*result = rank <= s->zeros ? 0.0 : clamp(s, bucket_at_rank(s, rank));
	return SKETCH_OK;
}

/* The value of rank (1-based) as percentile_cont sees it: ends exact. */
static double
value_at_rank(const SketchState *s, uint64_t rank)
{
	if (rank <= 1)
		return s->min;
	if (rank >= s->count)
		return s->max;
	if (rank <= s->zeros)
		return 0.0;
	return clamp(s, bucket_at_rank(s, rank));
}

/*
 * percentile_cont's rule: linear interpolation between the values at
 * 0-based rows floor(q * (n - 1)) and ceil(q * (n - 1)), with the same
 * arithmetic as PostgreSQL (orderedsetaggs.c).  Each of the two is within
 * alpha of the exact value of its row (or exact: min, max, 0), so their
 * convex combination is within alpha of the exact interpolation.
 */
SketchError
sketch_percentile_cont_value(const SketchState *s, double q, double *result)
{
	double		pos;
	double		first_row;
	double		second_row;
	double		first;
	double		second;

	if (!(q >= 0.0 && q <= 1.0))
		return fail(SKETCH_ERR_QUANTILE, "quantile must be between 0 and 1");
	if (s->count == 0)
		return fail(SKETCH_ERR_QUANTILE, "sketch is empty");
	pos = q * (double) (s->count - 1);
	first_row = floor(pos);
	second_row = ceil(pos);
	first = value_at_rank(s, (uint64_t) first_row + 1);
	if (first_row == second_row)
	{
		*result = first;
		return SKETCH_OK;
	}
	second = value_at_rank(s, (uint64_t) second_row + 1);
	*result = clamp(s, first + (pos - first_row) * (second - first));
	return SKETCH_OK;
}

/* ---- exact decimal text of the fixed-point sum ---- */

size_t
sketch_sum_format(const SketchSum *sum, char *buf)
{
	sketch_u128 whole = (((sketch_u128) sum->w[2]) << 64) | sum->w[1];
	uint64_t	frac = sum->w[0];
	char		digits[48];
	size_t		n = 0;
	size_t		len = 0;

	do
	{
		digits[n++] = (char) ('0' + (int) (whole % 10));
		whole /= 10;
	} while (whole > 0);
	while (n > 0)
		buf[len++] = digits[--n];
	if (frac != 0)
	{
		buf[len++] = '.';
		/* frac / 2^64 has at most 64 decimal digits: this terminates */
		while (frac != 0)
		{
			sketch_u128 t = (sketch_u128) frac * 10;

			buf[len++] = (char) ('0' + (int) (t >> 64));
			frac = (uint64_t) t;
		}
	}
	buf[len] = '\0';
	return len;
}

/*
 * Inverse of sketch_sum_format: only its exact output is accepted (no sign,
 * no leading zeros, no trailing fraction zeros, an exact multiple of 2^-64).
 */
SketchError
sketch_sum_parse(const char *text, size_t len, SketchSum *sum)
{
	const sketch_u128 whole_max = ~(sketch_u128) 0;
	sketch_u128 whole = 0;
	size_t		i = 0;
	size_t		dot;
	sketch_u128 v = 0;			/* fraction in units of 2^-124 */
	uint64_t	frac;
	char		check[SKETCH_SUM_TEXT_LEN];

	while (i < len && text[i] >= '0' && text[i] <= '9')
	{
		if (whole > (whole_max - 9) / 10)
			return fail(SKETCH_ERR_FORMAT, "sum is out of range");
		whole = whole * 10 + (uint64_t) (text[i] - '0');
		i++;
	}
	if (i == 0)
		return fail(SKETCH_ERR_FORMAT, "sum is not a valid number");
	dot = i;
	if (i < len)
	{
		if (text[i] != '.' || len - i - 1 < 1 || len - i - 1 > 64)
			return fail(SKETCH_ERR_FORMAT, "sum is not a valid number");
		for (size_t j = len; j > dot + 1; j--)
		{
			char		c = text[j - 1];

			if (c < '0' || c > '9')
				return fail(SKETCH_ERR_FORMAT, "sum is not a valid number");
			v = (((sketch_u128) (c - '0')) << 124) + v;
			v /= 10;
		}
	}
	/* error of v is below 2 units of 2^-124: rounding to 2^-64 is exact */
	frac = (uint64_t) ((v + (((sketch_u128) 1) << 59)) >> 60);
	if ((v + (((sketch_u128) 1) << 59)) >> 124)
		return fail(SKETCH_ERR_FORMAT, "sum is not a multiple of 2^-64");
	sum->w[0] = frac;
	sum->w[1] = (uint64_t) whole;
	sum->w[2] = (uint64_t) (whole >> 64);
	if (sketch_sum_format(sum, check) != len || memcmp(check, text, len) != 0)
		return fail(SKETCH_ERR_FORMAT, "sum is not an exact canonical multiple of 2^-64");
	return SKETCH_OK;
}

/* ---- building from decoded parts, with every consistency check ---- */

SketchError
sketch_build_begin(SketchState *s, double alpha, uint64_t count,
				   uint64_t zeros, double min, double max, const SketchSum *sum,
				   const SketchAllocator *allocator)
{
	SketchError err = sketch_init(s, alpha, allocator);

	if (err != SKETCH_OK)
		return err;
	if (count > (uint64_t) SKETCH_MAX_COUNT)
		return fail(SKETCH_ERR_FORMAT, "count is larger than 9223372036854775807");
	if (zeros > count)
		return fail(SKETCH_ERR_FORMAT, "more zeros than values");
	if (!(isfinite(min) && isfinite(max)) || signbit(min) || signbit(max) ||
		min > max || max > SKETCH_MAX_VALUE)
		return fail(SKETCH_ERR_FORMAT, "min and max must be finite, >= 0, at most 1e15 and min <= max");
	if (count == 0 && (min != 0 || max != 0 || !sum_is_zero(sum)))
		return fail(SKETCH_ERR_FORMAT, "an empty sketch must have min, max and sum 0");
	if (zeros > 0 && min != 0)
		return fail(SKETCH_ERR_FORMAT, "min must be 0 when zeros are counted");
	if (count > 0 && zeros == 0 && min == 0)
		return fail(SKETCH_ERR_FORMAT, "min is 0 but no zeros are counted");
	if (count > 0 && zeros == count && max != 0)
		return fail(SKETCH_ERR_FORMAT, "max must be 0 when every value is 0");
	s->count = count;
	s->zeros = zeros;
	s->min = min;
	s->max = max;
	s->sum = *sum;
	return SKETCH_OK;
}

/*
 * The range of valid bucket indexes for an accuracy.  XXX: cached for the
 * last accuracy seen (in practice the only one): two log() calls per bucket
 * were most of the cost of decoding a stored sketch, which aggregate()
 * does for every daily and hourly row it reads.  The backend (and the
 * fuzzer) is single-threaded.
 */
static void
build_bounds(const SketchState *s, int64_t *lowest, int64_t *highest)
{
	static double cached_inv_log_gamma = 0;
	static int64_t cached_lowest;
	static int64_t cached_highest;

	if (s->inv_log_gamma != cached_inv_log_gamma)
	{
		cached_lowest = (int64_t) floor(LOG_MIN_POSITIVE * s->inv_log_gamma) - 1;
		cached_highest = (int64_t) sketch_index_of(s, SKETCH_MAX_VALUE) + 1;
		cached_inv_log_gamma = s->inv_log_gamma;
	}
	*lowest = cached_lowest;
	*highest = cached_highest;
}

/* The values counted in buckets so far (between begin and finish). */
static uint64_t
bucketed_so_far(const SketchState *s)
{
	uint64_t	n = 0;

	for (int32_t k = 0; k < s->nbuckets; k++)
		n += s->counts[k];
	return n;
}

/*
 * Buckets come in strictly increasing index order.  While building, hint
 * holds nothing useful and the running total is kept in the caller's
 * check of bucket counts (see sketch_build_finish).
 */
SketchError
sketch_build_bucket(SketchState *s, int64_t index, uint64_t count)
{
	int64_t		lowest;
	int64_t		highest;
	SketchError err;

	build_bounds(s, &lowest, &highest);

	if (count == 0)
		return fail(SKETCH_ERR_FORMAT, "bucket count must be at least 1");
	if (index < lowest || index > highest)
		return fail(SKETCH_ERR_FORMAT, "bucket index is out of range");
	if (s->nbuckets > 0 && index <= s->indexes[s->nbuckets - 1])
		return fail(SKETCH_ERR_FORMAT, "bucket indexes must be strictly increasing");
	if (s->nbuckets >= s->max_buckets)
		return fail(SKETCH_ERR_FORMAT, "too many buckets");
	/* zeros counts the values bucketed so far, see sketch_build_finish */
	if (count > s->count - s->zeros)
		return fail(SKETCH_ERR_FORMAT, "bucket counts exceed the value count");
	if ((err = ensure_capacity(s, s->nbuckets + 1)) != SKETCH_OK)
		return err;
	s->indexes[s->nbuckets] = (int32_t) index;
	s->counts[s->nbuckets] = count;
	s->nbuckets++;
	s->zeros += count;
	return SKETCH_OK;
}

SketchError
sketch_build_finish(SketchState *s)
{
	uint64_t	in_buckets = bucketed_so_far(s);
	uint64_t	nonzero;
	SketchSum	bound;

	/* undo the accounting of sketch_build_bucket */
	s->zeros -= in_buckets;
	nonzero = s->count - s->zeros;
	s->hint = 0;
	if (in_buckets != nonzero)
		return fail(SKETCH_ERR_FORMAT, "bucket counts plus zeros do not add up to the count");
	if (nonzero > 0)
	{
		/* max is 0 here only in a malformed sketch: never take log(0) */
		if (s->max == 0 || sketch_index_of(s, s->max) != s->indexes[s->nbuckets - 1])
			return fail(SKETCH_ERR_FORMAT, "max does not fall in the highest bucket");
		/* min is 0 when zeros are counted: never take log(0) */
		if (s->zeros == 0 && sketch_index_of(s, s->min) > s->indexes[0])
			return fail(SKETCH_ERR_FORMAT, "min is above the lowest bucket");
		/* each value rounds monotonically to units: bound the sum */
		bound = sum_mul(nonzero, to_fixed(s->max));
		if (sum_cmp(&s->sum, &bound) > 0)
			return fail(SKETCH_ERR_FORMAT, "sum is larger than count times max");
		bound = sum_mul(nonzero, s->zeros > 0 ? 0 : to_fixed(s->min));
		if (sum_cmp(&s->sum, &bound) < 0)
			return fail(SKETCH_ERR_FORMAT, "sum is smaller than count times min");
	}
	else if (!sum_is_zero(&s->sum))
		return fail(SKETCH_ERR_FORMAT, "sum must be 0 when every value is 0");
	return SKETCH_OK;
}

/* ---- binary encoding ---- */

static size_t
put_varint(uint8_t *buf, uint64_t v)
{
	size_t		n = 0;

	while (v >= 0x80)
	{
		buf[n++] = (uint8_t) (v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t) v;
	return n;
}

/* The 192-bit sum as one varint. */
static size_t
put_varint_sum(uint8_t *buf, const SketchSum *sum)
{
	uint64_t	w0 = sum->w[0];
	uint64_t	w1 = sum->w[1];
	uint64_t	w2 = sum->w[2];
	size_t		n = 0;

	while (w2 != 0 || w1 != 0 || w0 >= 0x80)
	{
		buf[n++] = (uint8_t) (w0 | 0x80);
		w0 = (w0 >> 7) | (w1 << 57);
		w1 = (w1 >> 7) | (w2 << 57);
		w2 >>= 7;
	}
	buf[n++] = (uint8_t) w0;
	return n;
}

static size_t
put_double(uint8_t *buf, double d)
{
	uint64_t	bits;

	memcpy(&bits, &d, sizeof(bits));
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t) (bits >> (8 * i));
	return 8;
}

/* (v << 1) ^ (v >> 31), without right-shifting a negative signed value */
static uint64_t
zigzag(int32_t v)
{
	uint32_t	doubled = (uint32_t) v << 1;

	return (uint64_t) (v < 0 ? ~doubled : doubled);
}

size_t
sketch_encode(const SketchState *s, uint8_t *buf)
{
	size_t		n = 0;
	size_t		nruns_at;
	uint64_t	nruns = 0;
	int32_t		k = 0;
	int32_t		prev_end = 0;

	buf[n++] = SKETCH_FORMAT_VERSION;
	n += put_double(buf + n, s->alpha);
	n += put_varint(buf + n, s->count);
	n += put_varint(buf + n, s->zeros);
	n += put_double(buf + n, s->min);
	n += put_double(buf + n, s->max);
	n += put_varint_sum(buf + n, &s->sum);

	/* runs are encoded after a 2-byte placeholder for nruns (<= 2048) */
	nruns_at = n;
	n += 2;
	while (s->count > s->zeros && k < s->nbuckets)
	{
		int32_t		start = s->indexes[k];
		int32_t		end = k;

		while (end + 1 < s->nbuckets &&
			   s->indexes[end + 1] == s->indexes[end] + 1)
			end++;
		if (nruns == 0)
			n += put_varint(buf + n, zigzag(start));
		else
			n += put_varint(buf + n, (uint64_t) ((int64_t) start - prev_end - 2));
		n += put_varint(buf + n, (uint64_t) end - (uint64_t) k + 1);
		for (int32_t j = k; j <= end; j++)
			n += put_varint(buf + n, s->counts[j]);
		nruns++;
		prev_end = s->indexes[end];
		k = end + 1;
	}
	/* shortest varint of nruns: shift the runs down when it takes 1 byte */
	if (nruns < 0x80)
	{
		buf[nruns_at] = (uint8_t) nruns;
		memmove(buf + nruns_at + 1, buf + nruns_at + 2, n - nruns_at - 2);
		n--;
	}
	else
		put_varint(buf + nruns_at, nruns);
	return n;
}

typedef struct Reader
{
	const uint8_t *p;
	const uint8_t *end;
} Reader;

/* A shortest-form varint of at most max_bits (<= 192) bits. */
static SketchError
get_varint(Reader *r, int max_bits, SketchSum *out)
{
	SketchSum	v = {{0, 0, 0}};
	int			shift = 0;

	for (;;)
	{
		uint8_t		b;
		uint64_t	bits;
		int			word;
		int			off;

		if (r->p >= r->end)
			return fail(SKETCH_ERR_FORMAT, "truncated sketch");
		b = *r->p++;
		if (shift >= max_bits ||
			(shift + 7 > max_bits && ((b & 0x7f) >> (max_bits - shift)) != 0))
			return fail(SKETCH_ERR_FORMAT, "varint is out of range");
		bits = b & 0x7f;
		word = shift / 64;
		off = shift % 64;
		v.w[word] |= bits << off;
		if (off > 57 && word < 2)
			v.w[word + 1] |= bits >> (64 - off);
		shift += 7;
		if ((b & 0x80) == 0)
		{
			if (b == 0 && shift > 7)
				return fail(SKETCH_ERR_FORMAT, "varint is not in shortest form");
			break;
		}
	}
	*out = v;
	return SKETCH_OK;
}

static SketchError
get_u64(Reader *r, uint64_t *out)
{
	SketchSum	v = {{0, 0, 0}};
	SketchError err;

	/* most fields (bucket counts, run lengths) take one byte */
	if (r->p < r->end && *r->p < 0x80)
	{
		*out = *r->p++;
		return SKETCH_OK;
	}
	err = get_varint(r, 64, &v);
	*out = v.w[0];
	return err;
}

static SketchError
get_double(Reader *r, double *out)
{
	uint64_t	bits = 0;

	if (r->end - r->p < 8)
		return fail(SKETCH_ERR_FORMAT, "truncated sketch");
	for (int i = 0; i < 8; i++)
		bits |= ((uint64_t) r->p[i]) << (8 * i);
	r->p += 8;
	memcpy(out, &bits, sizeof(bits));
	return SKETCH_OK;
}

static SketchError
decode_runs(Reader *r, SketchState *s)
{
	uint64_t	nruns;
	int64_t		next = 0;
	SketchError err;

	if ((err = get_u64(r, &nruns)) != SKETCH_OK)
		return err;
	if (nruns > SKETCH_MAX_BUCKETS)
		return fail(SKETCH_ERR_FORMAT, "too many buckets");
	for (uint64_t run = 0; run < nruns; run++)
	{
		uint64_t	start_field;
		uint64_t	length;

		if ((err = get_u64(r, &start_field)) != SKETCH_OK ||
			(err = get_u64(r, &length)) != SKETCH_OK)
			return err;
		if (start_field > UINT32_MAX || length == 0 || length > SKETCH_MAX_BUCKETS)
			return fail(SKETCH_ERR_FORMAT, "bucket run is out of range");
		if (run == 0)
			next = (int64_t) (start_field >> 1) ^ -(int64_t) (start_field & 1);
		else
			next += (int64_t) start_field + 1;
		for (uint64_t k = 0; k < length; k++)
		{
			uint64_t	count;

			if ((err = get_u64(r, &count)) != SKETCH_OK ||
				(err = sketch_build_bucket(s, next, count)) != SKETCH_OK)
				return err;
			next++;
		}
	}
	return SKETCH_OK;
}

/*
 * Both formats: version 1 (sum of at most 127 bits, folded by index span
 * when it was written) and version 2.  The state is the same kind either
 * way; it is always re-encoded as version 2.
 */
SketchError
sketch_decode(const uint8_t *data, size_t len, SketchState *s,
			  const SketchAllocator *allocator)
{
	Reader		r = {data, data + len};
	int			version;
	double		alpha;
	double		min;
	double		max;
	uint64_t	count;
	uint64_t	zeros;
	SketchSum	sum;
	SketchError err;

	memset(s, 0, sizeof(*s));
	if (len < 1)
		return fail(SKETCH_ERR_FORMAT, "empty sketch");
	if (len > SKETCH_MAX_ENCODED)
		return fail(SKETCH_ERR_FORMAT, "sketch is too long");
	version = *r.p++;
	if (version != SKETCH_FORMAT_VERSION && version != SKETCH_FORMAT_V1)
		return fail(SKETCH_ERR_FORMAT, "unsupported sketch format version");
	if ((err = get_double(&r, &alpha)) != SKETCH_OK ||
		(err = get_u64(&r, &count)) != SKETCH_OK ||
		(err = get_u64(&r, &zeros)) != SKETCH_OK ||
		(err = get_double(&r, &min)) != SKETCH_OK ||
		(err = get_double(&r, &max)) != SKETCH_OK ||
		(err = get_varint(&r, version == SKETCH_FORMAT_V1 ? 127 : 192, &sum)) != SKETCH_OK)
		return err;
	if ((err = sketch_build_begin(s, alpha, count, zeros, min, max, &sum,
								  allocator)) != SKETCH_OK)
	{
		if (err == SKETCH_ERR_ALPHA)
			err = fail(SKETCH_ERR_FORMAT, "relative accuracy is out of range");
		sketch_release(s);
		return err;
	}

	/*
	 * The buckets of a valid sketch lie between those of min and max: size
	 * the arrays once instead of growing them (a capacity hint only; a
	 * malformed sketch fails the checks below as before).
	 */
	if (count > zeros && min > 0)
	{
		int64_t		span = (int64_t) sketch_index_of(s, max) - sketch_index_of(s, min) + 1;

		if (span > (int64_t) (count - zeros))
			span = (int64_t) (count - zeros);
		if (span > 0 && span <= SKETCH_MAX_BUCKETS &&
			(err = ensure_capacity(s, (int32_t) span)) != SKETCH_OK)
		{
			sketch_release(s);
			return err;
		}
	}
	if ((err = decode_runs(&r, s)) != SKETCH_OK ||
		(err = sketch_build_finish(s)) != SKETCH_OK)
	{
		sketch_release(s);
		return err;
	}
	if (r.p != r.end)
	{
		sketch_release(s);
		return fail(SKETCH_ERR_FORMAT, "trailing bytes after sketch");
	}
	return SKETCH_OK;
}
