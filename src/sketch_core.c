/*-------------------------------------------------------------------------
 *
 * sketch_core.c
 *	  DDSketch (Masson, Rim, Lee, VLDB 2019): dense state, add, merge,
 *	  collapse, quantile, canonical encoding and a validating decoder.
 *
 * Mapping: gamma = (1 + alpha) / (1 - alpha); value x > 0 goes to bucket
 * i = ceil(log(x) / log(gamma)), whose representative 2 gamma^i / (gamma + 1)
 * is within relative error alpha of every value in (gamma^(i-1), gamma^i].
 * Exactly 0 has its own counter.
 *
 * Collapse: when the buckets in use would span more than SKETCH_MAX_BUCKETS,
 * the lowest ones fold into bucket hi - SKETCH_MAX_BUCKETS + 1.  The final
 * state depends only on the multiset of values (the lowest kept bucket holds
 * every value at or below it), so merges stay order-independent.  Only
 * quantiles whose rank falls in that lowest bucket lose the alpha guarantee
 * (they are still clamped to the exact min).
 *
 * Encoding (all integers LEB128 varints, shortest form only; doubles 8 bytes
 * little-endian IEEE 754):
 *	 version(1) alpha count zeros min max sum(varint, 128 bit) nruns
 *	 then per run: start (first run: zigzag index; later runs: empty buckets
 *	 since the previous run minus 1), length, then length counts (each >= 1).
 * A state has exactly one encoding, so equal states give equal bytes.
 *
 * Must never: include PostgreSQL headers, abort, or read past a buffer.
 *
 *-------------------------------------------------------------------------
 */
#include "sketch_core.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SUM_LIMIT	((((sketch_u128) 1) << 127) - 1)
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

SketchError
sketch_init(SketchState *s, double alpha, const SketchAllocator *allocator)
{
	memset(s, 0, sizeof(*s));
	if (!(alpha >= SKETCH_MIN_ALPHA && alpha <= SKETCH_MAX_ALPHA))
		return fail(SKETCH_ERR_ALPHA, "relative accuracy must be between 0.0001 and 0.1");
	s->alpha = alpha;
	s->gamma = (1.0 + alpha) / (1.0 - alpha);
	s->inv_log_gamma = 1.0 / log(s->gamma);
	s->allocator = allocator;
	return SKETCH_OK;
}

void
sketch_release(SketchState *s)
{
	if (s->counts != NULL && s->allocator != NULL && s->allocator->free != NULL)
		s->allocator->free(s->allocator->ctx, s->counts);
	s->counts = NULL;
	s->capacity = 0;
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

double
sketch_sum_double(const SketchState *s)
{
	return ldexp((double) s->sum, -64);
}

static uint64_t
nonzero_count(const SketchState *s)
{
	return s->count - s->zeros;
}

/*
 * Make counts[] cover buckets lo..hi (hi - lo < SKETCH_MAX_BUCKETS).  With
 * keep, the buckets in use (lo_index..hi_index) move to the new array; new
 * room goes on both sides, so growth is amortised.
 */
static SketchError
ensure_window(SketchState *s, int32_t lo, int32_t hi, int keep)
{
	int32_t		span = hi - lo + 1;
	int32_t		capacity;
	int32_t		base;
	uint64_t   *counts;

	if (s->counts != NULL && lo >= s->base && hi < s->base + s->capacity)
		return SKETCH_OK;

	capacity = s->capacity * 2;
	if (capacity < span + span / 2)
		capacity = span + span / 2;
	if (capacity < 32)
		capacity = 32;
	if (capacity > SKETCH_MAX_BUCKETS)
		capacity = SKETCH_MAX_BUCKETS;
	base = lo - (capacity - span) / 2;

	counts = s->allocator->alloc(s->allocator->ctx, sizeof(uint64_t) * capacity);
	if (counts == NULL)
		return fail(SKETCH_ERR_NOMEM, "out of memory");
	memset(counts, 0, sizeof(uint64_t) * capacity);
	if (keep && s->counts != NULL)
		memcpy(counts + (s->lo_index - base), s->counts + (s->lo_index - s->base),
			   sizeof(uint64_t) * (s->hi_index - s->lo_index + 1));
	sketch_release(s);
	s->counts = counts;
	s->capacity = capacity;
	s->base = base;
	return SKETCH_OK;
}

/* Fold every bucket in use below new_lo into new_lo (the collapse rule). */
static uint64_t
fold_below(SketchState *s, int32_t new_lo)
{
	uint64_t	folded = 0;

	for (int32_t i = s->lo_index; i < new_lo && i <= s->hi_index; i++)
	{
		folded += s->counts[i - s->base];
		s->counts[i - s->base] = 0;
	}
	return folded;
}

/* Add n to bucket index: the slow path that moves the window or collapses. */
static SketchError
add_to_bucket_slow(SketchState *s, int32_t index, uint64_t n, int was_empty)
{
	SketchError err;
	int32_t		new_lo;
	uint64_t	folded;

	if (was_empty)
	{
		err = ensure_window(s, index, index, 0);
		if (err != SKETCH_OK)
			return err;
		memset(s->counts, 0, sizeof(uint64_t) * s->capacity);
		s->lo_index = s->hi_index = index;
		s->counts[index - s->base] = n;
		return SKETCH_OK;
	}
	if (index < s->lo_index)
	{
		/* below the range: lands in the lowest kept bucket at worst */
		if ((int64_t) s->hi_index - index >= SKETCH_MAX_BUCKETS)
			index = s->hi_index - SKETCH_MAX_BUCKETS + 1;
		err = ensure_window(s, index, s->hi_index, 1);
		if (err != SKETCH_OK)
			return err;
		s->lo_index = index;
		s->counts[index - s->base] += n;
		return SKETCH_OK;
	}

	/* above the range: a new maximum index, which may collapse the bottom */
	new_lo = s->lo_index;
	if ((int64_t) index - s->lo_index >= SKETCH_MAX_BUCKETS)
		new_lo = index - SKETCH_MAX_BUCKETS + 1;
	if (new_lo > s->hi_index)
	{
		/* every bucket in use folds into new_lo */
		folded = fold_below(s, new_lo);
		err = ensure_window(s, new_lo, index, 0);
		if (err != SKETCH_OK)
			return err;
		s->lo_index = new_lo;
		s->counts[new_lo - s->base] += folded;
	}
	else if (new_lo > s->lo_index)
	{
		folded = fold_below(s, new_lo);
		s->lo_index = new_lo;
		s->counts[new_lo - s->base] += folded;
	}
	err = ensure_window(s, s->lo_index, index, 1);
	if (err != SKETCH_OK)
		return err;
	s->hi_index = index;
	s->counts[index - s->base] += n;
	return SKETCH_OK;
}

/* Add n values of bucket index (count/zeros/min/max are the caller's job). */
static inline SketchError
add_to_bucket(SketchState *s, int32_t index, uint64_t n, int was_empty)
{
	if (!was_empty && index >= s->lo_index && index <= s->hi_index)
	{
		s->counts[index - s->base] += n;
		return SKETCH_OK;
	}
	return add_to_bucket_slow(s, index, n, was_empty);
}

SketchError
sketch_add(SketchState *s, double value)
{
	sketch_u128 units;
	int			was_empty;
	SketchError err;

	if (isnan(value) || isinf(value) || value < 0)
		return fail(SKETCH_ERR_VALUE, "value must be a finite number >= 0");
	if (value > SKETCH_MAX_VALUE)
		return fail(SKETCH_ERR_RANGE, "value is larger than 1e15");
	if (s->count == UINT64_MAX)
		return fail(SKETCH_ERR_RANGE, "sketch count would overflow");
	units = to_fixed(value);
	if (units > SUM_LIMIT - s->sum)
		return fail(SKETCH_ERR_RANGE, "sketch sum would exceed its fixed-point range");

	if (value == 0)
	{
		value = 0.0;			/* -0 is stored as +0 */
		s->zeros++;
	}
	else
	{
		was_empty = nonzero_count(s) == 0;
		err = add_to_bucket(s, sketch_index_of(s, value), 1, was_empty);
		if (err != SKETCH_OK)
			return err;
	}
	if (s->count == 0 || value < s->min)
		s->min = value;
	if (s->count == 0 || value > s->max)
		s->max = value;
	s->count++;
	s->sum += units;
	return SKETCH_OK;
}

SketchError
sketch_merge_into(SketchState *dst, const SketchState *src)
{
	SketchError err;

	if (dst->alpha != src->alpha)
		return fail(SKETCH_ERR_ALPHA_MISMATCH, "sketches have different relative accuracy");
	if (src->count == 0)
		return SKETCH_OK;
	if (src->count > UINT64_MAX - dst->count)
		return fail(SKETCH_ERR_RANGE, "sketch count would overflow");
	if (src->sum > SUM_LIMIT - dst->sum)
		return fail(SKETCH_ERR_RANGE, "sketch sum would exceed its fixed-point range");

	if (nonzero_count(src) > 0)
	{
		int			empty = nonzero_count(dst) == 0;

		/* highest first: at most one collapse, then mostly in-window adds */
		for (int32_t i = src->hi_index; i >= src->lo_index; i--)
		{
			uint64_t	n = src->counts[i - src->base];

			if (n == 0)
				continue;
			err = add_to_bucket(dst, i, n, empty);
			if (err != SKETCH_OK)
				return err;
			empty = 0;
		}
	}
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (dst->count == 0 || src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->zeros += src->zeros;
	dst->sum += src->sum;
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

/*
 * The value at rank k = ceil(q * count) (k = 1 when that is <= 0), the rule
 * of percentile_disc; q = 0 and q = 1 give the exact min and max.
 */
SketchError
sketch_quantile_value(const SketchState *s, double q, double *result)
{
	uint64_t	rank;
	uint64_t	seen;
	double		v = s->max;

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
	if (rank <= s->zeros)
		v = 0.0;
	else
	{
		seen = s->zeros;
		for (int32_t i = s->lo_index; i <= s->hi_index; i++)
		{
			seen += s->counts[i - s->base];
			if (seen >= rank)
			{
				v = sketch_bucket_value(s, i);
				break;
			}
		}
	}
	if (v < s->min)
		v = s->min;
	if (v > s->max)
		v = s->max;
	*result = v;
	return SKETCH_OK;
}

/* ---- exact decimal text of the fixed-point sum ---- */

size_t
sketch_sum_format(sketch_u128 sum, char *buf)
{
	uint64_t	whole = (uint64_t) (sum >> 64);
	uint64_t	frac = (uint64_t) sum;
	char		digits[24];
	size_t		n = 0;
	size_t		len = 0;

	do
	{
		digits[n++] = (char) ('0' + whole % 10);
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
sketch_sum_parse(const char *text, size_t len, sketch_u128 *sum)
{
	uint64_t	whole = 0;
	size_t		i = 0;
	size_t		dot;
	sketch_u128 v = 0;			/* fraction in units of 2^-124 */
	uint64_t	frac;
	char		check[SKETCH_SUM_TEXT_LEN];

	while (i < len && text[i] >= '0' && text[i] <= '9')
	{
		if (whole > (UINT64_MAX - 9) / 10)
			return fail(SKETCH_ERR_FORMAT, "sum is out of range");
		whole = whole * 10 + (uint64_t) (text[i] - '0');
		i++;
	}
	if (i == 0 || whole > (UINT64_MAX >> 1))
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
	*sum = (((sketch_u128) whole) << 64) | frac;
	if (sketch_sum_format(*sum, check) != len || memcmp(check, text, len) != 0)
		return fail(SKETCH_ERR_FORMAT, "sum is not an exact canonical multiple of 2^-64");
	return SKETCH_OK;
}

/* ---- building from decoded parts, with every consistency check ---- */

SketchError
sketch_build_begin(SketchState *s, double alpha, uint64_t count,
				   uint64_t zeros, double min, double max, sketch_u128 sum,
				   const SketchAllocator *allocator)
{
	SketchError err = sketch_init(s, alpha, allocator);

	if (err != SKETCH_OK)
		return err;
	if (zeros > count)
		return fail(SKETCH_ERR_FORMAT, "more zeros than values");
	if (!(isfinite(min) && isfinite(max)) || signbit(min) || signbit(max) ||
		min > max || max > SKETCH_MAX_VALUE)
		return fail(SKETCH_ERR_FORMAT, "min and max must be finite, >= 0, at most 1e15 and min <= max");
	if (sum > SUM_LIMIT)
		return fail(SKETCH_ERR_FORMAT, "sum is out of range");
	if (count == 0 && (min != 0 || max != 0 || sum != 0))
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
	s->sum = sum;
	/* reused below as the running total of bucket counts */
	s->lo_index = 1;
	s->hi_index = 0;
	return SKETCH_OK;
}

/*
 * While building, zeros also counts the values placed in buckets so far, so
 * count - zeros is what the remaining buckets may still hold;
 * sketch_build_finish takes them back out.
 */
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

SketchError
sketch_build_bucket(SketchState *s, int64_t index, uint64_t count)
{
	int64_t		lowest;
	int64_t		highest;
	int			first = s->lo_index > s->hi_index;
	SketchError err;

	build_bounds(s, &lowest, &highest);

	if (count == 0)
		return fail(SKETCH_ERR_FORMAT, "bucket count must be at least 1");
	if (index < lowest || index > highest)
		return fail(SKETCH_ERR_FORMAT, "bucket index is out of range");
	if (!first && index <= s->hi_index)
		return fail(SKETCH_ERR_FORMAT, "bucket indexes must be strictly increasing");
	if (!first && index - s->lo_index >= SKETCH_MAX_BUCKETS)
		return fail(SKETCH_ERR_FORMAT, "too many buckets");
	if (count > s->count - s->zeros)
		return fail(SKETCH_ERR_FORMAT, "bucket counts exceed the value count");
	err = add_to_bucket(s, (int32_t) index, count, first);
	if (err != SKETCH_OK)
		return err;
	s->zeros += count;
	return SKETCH_OK;
}

SketchError
sketch_build_finish(SketchState *s)
{
	uint64_t	in_buckets = 0;
	uint64_t	nonzero;
	sketch_u128 lo_units;
	sketch_u128 hi_units;

	if (s->lo_index <= s->hi_index)
	{
		for (int32_t i = s->lo_index; i <= s->hi_index; i++)
			in_buckets += s->counts[i - s->base];
	}
	else
	{
		/* no bucket was given */
		s->lo_index = s->hi_index = 0;
	}
	/* undo the accounting of sketch_build_bucket */
	s->zeros -= in_buckets;
	nonzero = s->count - s->zeros;
	if (in_buckets != nonzero)
		return fail(SKETCH_ERR_FORMAT, "bucket counts plus zeros do not add up to the count");
	if (nonzero > 0)
	{
		/* max is 0 here only in a malformed sketch: never take log(0) */
		if (s->max == 0 || sketch_index_of(s, s->max) != s->hi_index)
			return fail(SKETCH_ERR_FORMAT, "max does not fall in the highest bucket");
		/* min is 0 when zeros are counted: never take log(0) */
		if (s->zeros == 0 && sketch_index_of(s, s->min) > s->lo_index)
			return fail(SKETCH_ERR_FORMAT, "min is above the lowest bucket");
		/* each value rounds monotonically to units: bound the sum */
		hi_units = to_fixed(s->max);
		lo_units = s->zeros > 0 ? 0 : to_fixed(s->min);
		if (hi_units == 0 || nonzero <= SUM_LIMIT / hi_units)
		{
			if (s->sum > (sketch_u128) nonzero * hi_units)
				return fail(SKETCH_ERR_FORMAT, "sum is larger than count times max");
		}
		if (lo_units != 0 && nonzero > SUM_LIMIT / lo_units)
			return fail(SKETCH_ERR_FORMAT, "sum is smaller than count times min");
		if (s->sum < (sketch_u128) nonzero * lo_units)
			return fail(SKETCH_ERR_FORMAT, "sum is smaller than count times min");
	}
	else if (s->sum != 0)
		return fail(SKETCH_ERR_FORMAT, "sum must be 0 when every value is 0");
	return SKETCH_OK;
}

/* ---- binary encoding ---- */

static size_t
put_varint(uint8_t *buf, sketch_u128 v)
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
	int32_t		i;
	int32_t		prev_end = 0;

	buf[n++] = SKETCH_FORMAT_VERSION;
	n += put_double(buf + n, s->alpha);
	n += put_varint(buf + n, s->count);
	n += put_varint(buf + n, s->zeros);
	n += put_double(buf + n, s->min);
	n += put_double(buf + n, s->max);
	n += put_varint(buf + n, s->sum);

	/* runs are encoded after a 2-byte placeholder for nruns (<= 1024) */
	nruns_at = n;
	n += 2;
	i = s->lo_index;
	while (s->count > s->zeros && i <= s->hi_index)
	{
		int32_t		start = i;
		int32_t		end = i;

		while (end + 1 <= s->hi_index && s->counts[end + 1 - s->base] != 0)
			end++;
		if (nruns == 0)
			n += put_varint(buf + n, zigzag(start));
		else
			n += put_varint(buf + n, (uint64_t) (start - prev_end - 2));
		n += put_varint(buf + n, (uint64_t) (end - start + 1));
		for (int32_t j = start; j <= end; j++)
			n += put_varint(buf + n, s->counts[j - s->base]);
		nruns++;
		prev_end = end;
		/* skip empty buckets up to the next run */
		i = end + 1;
		while (i <= s->hi_index && s->counts[i - s->base] == 0)
			i++;
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

/* A shortest-form varint of at most max_bits bits. */
static SketchError
get_varint(Reader *r, int max_bits, sketch_u128 *out)
{
	sketch_u128 v = 0;
	int			shift = 0;

	for (;;)
	{
		uint8_t		b;

		if (r->p >= r->end)
			return fail(SKETCH_ERR_FORMAT, "truncated sketch");
		b = *r->p++;
		if (shift >= max_bits ||
			(shift + 7 > max_bits && ((b & 0x7f) >> (max_bits - shift)) != 0))
			return fail(SKETCH_ERR_FORMAT, "varint is out of range");
		v |= ((sketch_u128) (b & 0x7f)) << shift;
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
	sketch_u128 v = 0;
	SketchError err;

	/* most fields (bucket counts, run lengths) take one byte */
	if (r->p < r->end && *r->p < 0x80)
	{
		*out = *r->p++;
		return SKETCH_OK;
	}
	err = get_varint(r, 64, &v);

	if (err == SKETCH_OK && v > UINT64_MAX)
		err = fail(SKETCH_ERR_FORMAT, "varint is out of range");
	*out = (uint64_t) v;
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

SketchError
sketch_decode(const uint8_t *data, size_t len, SketchState *s,
			  const SketchAllocator *allocator)
{
	Reader		r = {data, data + len};
	double		alpha;
	double		min;
	double		max;
	uint64_t	count;
	uint64_t	zeros;
	sketch_u128 sum;
	SketchError err;

	memset(s, 0, sizeof(*s));
	if (len < 1)
		return fail(SKETCH_ERR_FORMAT, "empty sketch");
	if (len > SKETCH_MAX_ENCODED)
		return fail(SKETCH_ERR_FORMAT, "sketch is too long");
	if (*r.p++ != SKETCH_FORMAT_VERSION)
		return fail(SKETCH_ERR_FORMAT, "unsupported sketch format version");
	if ((err = get_double(&r, &alpha)) != SKETCH_OK ||
		(err = get_u64(&r, &count)) != SKETCH_OK ||
		(err = get_u64(&r, &zeros)) != SKETCH_OK ||
		(err = get_double(&r, &min)) != SKETCH_OK ||
		(err = get_double(&r, &max)) != SKETCH_OK ||
		(err = get_varint(&r, 127, &sum)) != SKETCH_OK)
		return err;
	if ((err = sketch_build_begin(s, alpha, count, zeros, min, max, sum,
								  allocator)) != SKETCH_OK)
	{
		if (err == SKETCH_ERR_ALPHA)
			err = fail(SKETCH_ERR_FORMAT, "relative accuracy is out of range");
		sketch_release(s);
		return err;
	}
	/*
	 * The buckets of a valid sketch lie between those of min and max: size
	 * the window once instead of growing it bucket by bucket (a capacity
	 * hint only; a malformed sketch fails the checks below as before).
	 */
	if (count > zeros && min > 0)
	{
		int32_t		lo = sketch_index_of(s, min);
		int32_t		hi = sketch_index_of(s, max);

		if (lo <= hi && hi - lo < SKETCH_MAX_BUCKETS &&
			(err = ensure_window(s, lo, hi, 0)) != SKETCH_OK)
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
