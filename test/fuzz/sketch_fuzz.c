/*-------------------------------------------------------------------------
 *
 * sketch_fuzz.c
 *	  libFuzzer target for the sketch decoders of src/sketch_core.c.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined against
 * sketch_core.c alone (no PostgreSQL).  The first input byte picks a path:
 *
 *	 0: sketch_decode on the rest (the binary recv / stored-value path);
 *	 1: the builder that text input uses (sketch_build_begin, _bucket,
 *		_finish) fed from a fixed-width record, see build_from_record();
 *	 2: sketch_sum_parse on the rest (the "sum" of the text form);
 *	 3: two length-prefixed encodings, decoded and merged both ways;
 *	 4: values (3-byte records, see fuzz_stage) added by sketch_add to one
 *		sketch and through a SketchStage, drained where the input says, to
 *		another: both must encode to the same bytes.
 *
 * Whatever a path accepts must be a valid sketch: its encoding decodes to
 * the same state and the same bytes (and, for path 0, is the input itself,
 * since the encoding is canonical, unless the input is of format 1); quantiles are monotone in q and lie in
 * [min, max]; merges are order-independent.  A violated property aborts,
 * which libFuzzer reports as a crash.
 *
 * Must never: include PostgreSQL headers, or keep memory across inputs
 * (LeakSanitizer checks every run).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sketch_core.h"

#define FUZZ_MODES 5
/* record layout of path 1: alpha count zeros min max sumlen sum buckets */
#define RECORD_HEADER (8 * 5 + 1)
#define RECORD_BUCKET (4 + 8)

static void *
fuzz_alloc(void *ctx, size_t size)
{
	return malloc(size);
}

static void
fuzz_free(void *ctx, void *ptr)
{
	free(ptr);
}

static const SketchAllocator allocator = {fuzz_alloc, fuzz_free, NULL};

/* Abort with a message: a property of a valid sketch does not hold. */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "sketch_fuzz: property violated: %s\n", what);
	abort();
}

static uint64_t
read_u64(const uint8_t *p)
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v |= ((uint64_t) p[i]) << (8 * i);
	return v;
}

static double
read_double(const uint8_t *p)
{
	uint64_t	bits = read_u64(p);
	double		d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

/* Two states hold the same sketch: same header and same buckets. */
static void
check_same_state(const SketchState *a, const SketchState *b)
{
	if (a->alpha != b->alpha || a->count != b->count || a->zeros != b->zeros ||
		a->min != b->min || a->max != b->max || !sketch_sum_equal(&a->sum, &b->sum))
		fuzz_fail("decode(encode(x)) header differs from x");
	if (a->count == a->zeros)
		return;
	if (a->nbuckets != b->nbuckets)
		fuzz_fail("decode(encode(x)) bucket count differs from x");
	for (int32_t k = 0; k < a->nbuckets; k++)
		if (a->indexes[k] != b->indexes[k] || a->counts[k] != b->counts[k])
			fuzz_fail("decode(encode(x)) buckets differ from x");
}

/* Quantiles are monotone in q and clamped to [min, max]. */
static void
check_quantiles(const SketchState *s)
{
	double		prev = 0;

	if (s->count == 0)
		return;
	for (int k = 0; k <= 64; k++)
	{
		double		q = k / 64.0;
		double		v;

		if (sketch_quantile_value(s, q, &v) != SKETCH_OK)
			fuzz_fail("quantile of a non-empty sketch failed");
		if (v < s->min || v > s->max)
			fuzz_fail("quantile outside [min, max]");
		if (k > 0 && v < prev)
			fuzz_fail("quantiles not monotone in q");
		if ((k == 0 && v != s->min) || (k == 64 && v != s->max))
			fuzz_fail("quantile 0 or 1 is not the exact min or max");
		prev = v;
	}
}

/*
 * Everything a valid state must satisfy.  Returns the encoded length and
 * leaves the encoding in buf (SKETCH_MAX_ENCODED bytes).
 */
static size_t
check_valid(const SketchState *s, uint8_t *buf)
{
	SketchState again;
	uint8_t    *buf2 = malloc(SKETCH_MAX_ENCODED);
	size_t		len = sketch_encode(s, buf);
	size_t		len2;

	if (len > SKETCH_MAX_ENCODED)
		fuzz_fail("encoding longer than SKETCH_MAX_ENCODED");
	if (sketch_decode(buf, len, &again, &allocator) != SKETCH_OK)
		fuzz_fail(sketch_error_message());
	check_same_state(s, &again);
	len2 = sketch_encode(&again, buf2);
	if (len2 != len || memcmp(buf, buf2, len) != 0)
		fuzz_fail("encode(decode(encode(x))) differs from encode(x)");
	check_quantiles(s);
	sketch_release(&again);
	free(buf2);
	return len;
}

/*
 * Path 0: the binary decoder; the encoding (version 2) is canonical.  A
 * version 1 input is re-encoded as version 2: only its state must survive.
 */
static void
fuzz_decode(const uint8_t *data, size_t size)
{
	SketchState s;
	uint8_t    *buf;

	if (sketch_decode(data, size, &s, &allocator) != SKETCH_OK)
		return;
	buf = malloc(SKETCH_MAX_ENCODED);
	if ((check_valid(&s, buf) != size || memcmp(buf, data, size) != 0) &&
		data[0] == SKETCH_FORMAT_VERSION)
		fuzz_fail("an accepted encoding is not canonical");
	sketch_release(&s);
	free(buf);
}

/* Feed a fixed-width record to the builder functions, as sketch_in does. */
static SketchError
build_from_record(const uint8_t *data, size_t size, SketchState *s)
{
	SketchSum	sum;
	size_t		sumlen;
	SketchError err;

	memset(s, 0, sizeof(*s));
	if (size < RECORD_HEADER)
		return SKETCH_ERR_FORMAT;
	sumlen = data[40];
	if (size < RECORD_HEADER + sumlen)
		return SKETCH_ERR_FORMAT;
	err = sketch_sum_parse((const char *) data + RECORD_HEADER, sumlen, &sum);
	if (err != SKETCH_OK)
		return err;
	err = sketch_build_begin(s, read_double(data), read_u64(data + 8),
							 read_u64(data + 16), read_double(data + 24),
							 read_double(data + 32), &sum, &allocator);
	if (err != SKETCH_OK)
		return err;
	for (size_t off = RECORD_HEADER + sumlen; off + RECORD_BUCKET <= size;
		 off += RECORD_BUCKET)
	{
		int32_t		index = (int32_t) (uint32_t) read_u64(data + off);

		err = sketch_build_bucket(s, index, read_u64(data + off + 4));
		if (err != SKETCH_OK)
			return err;
	}
	return sketch_build_finish(s);
}

/* Path 1: the builder. */
static void
fuzz_build(const uint8_t *data, size_t size)
{
	SketchState s;
	uint8_t    *buf;

	if (build_from_record(data, size, &s) == SKETCH_OK)
	{
		buf = malloc(SKETCH_MAX_ENCODED);
		check_valid(&s, buf);
		free(buf);
	}
	sketch_release(&s);
}

/* Path 2: the exact decimal sum; accepted text is the canonical form. */
static void
fuzz_sum(const uint8_t *data, size_t size)
{
	SketchSum	sum;
	char		text[SKETCH_SUM_TEXT_LEN];
	size_t		len;

	if (sketch_sum_parse((const char *) data, size, &sum) != SKETCH_OK)
		return;
	len = sketch_sum_format(&sum, text);
	if (len >= SKETCH_SUM_TEXT_LEN || len != size || memcmp(text, data, size) != 0)
		fuzz_fail("an accepted sum is not its own canonical text");
}

/* Path 3: merging two decoded sketches is order-independent. */
static void
fuzz_merge(const uint8_t *data, size_t size)
{
	SketchState a;
	SketchState b;
	SketchState ab;
	SketchState ba;
	SketchError e1;
	SketchError e2;
	size_t		alen;
	uint8_t    *buf1;
	uint8_t    *buf2;
	size_t		len1;

	if (size < 2)
		return;
	alen = ((size_t) data[0] << 8 | data[1]);
	data += 2;
	size -= 2;
	if (alen > size)
		return;
	if (sketch_decode(data, alen, &a, &allocator) != SKETCH_OK)
		return;
	if (sketch_decode(data + alen, size - alen, &b, &allocator) != SKETCH_OK)
	{
		sketch_release(&a);
		return;
	}
	e1 = sketch_copy(&ab, &a, &allocator);
	if (e1 == SKETCH_OK)
		e1 = sketch_merge_into(&ab, &b);
	e2 = sketch_copy(&ba, &b, &allocator);
	if (e2 == SKETCH_OK)
		e2 = sketch_merge_into(&ba, &a);
	if (e1 != e2)
		fuzz_fail("merge succeeds in one order only");
	if (e1 == SKETCH_OK)
	{
		if (ab.count != a.count + b.count)
			fuzz_fail("merged count is not the sum of counts");
		buf1 = malloc(SKETCH_MAX_ENCODED);
		buf2 = malloc(SKETCH_MAX_ENCODED);
		len1 = check_valid(&ab, buf1);
		if (check_valid(&ba, buf2) != len1 || memcmp(buf1, buf2, len1) != 0)
			fuzz_fail("merge(a, b) differs from merge(b, a)");
		free(buf1);
		free(buf2);
	}
	sketch_release(&ab);
	sketch_release(&ba);
	sketch_release(&a);
	sketch_release(&b);
}

/*
 * Path 4: sketch_agg's staged add path gives sketch_add's bytes.  The first
 * byte picks alpha (bits 0-1) and the bucket limit (bits 2-3: 2048, 256, 16
 * or 2); then records of 3 bytes b0 b1 b2.  b0 = 0xff drains the
 * stage; else v = (int16) (b1 b2) and c = (b0 >> 1) & 7: the record adds
 * 1 + (b0 >> 5) values exp(c * 4 - 14 + (v + j) * 0.0003) (j = 0, 1, ...),
 * or zeros when b0 & 1: far clusters (window moves, misses), dense runs
 * (more than 2048 buckets: folding) and ties.  Records past the 200th are
 * ignored.
 */
static void
fuzz_stage(const uint8_t *data, size_t size)
{
	static const double alphas[] = {0.01, 0.001, 0.0001, 0.1};
	static const int32_t limits[] = {SKETCH_MAX_BUCKETS, 256, 16, 2};
	SketchState plain;
	SketchState staged;
	SketchStage st;
	uint8_t    *buf1;
	uint8_t    *buf2;
	size_t		len1;
	size_t		len2;

	if (size < 1)
		return;
	if (sketch_init(&plain, alphas[data[0] % 4], &allocator) != SKETCH_OK ||
		sketch_init(&staged, alphas[data[0] % 4], &allocator) != SKETCH_OK)
		fuzz_fail("sketch_init failed");
	/* a lower bucket limit (as live.c's states have) folds after few values */
	plain.max_buckets = staged.max_buckets = limits[(data[0] >> 2) % 4];
	sketch_stage_init(&st);
	/* at most 200 records (1600 values): cheap enough to run often */
	for (size_t off = 1; off + 3 <= size && off < 1 + 3 * 200; off += 3)
	{
		uint8_t		b0 = data[off];
		int16_t		v = (int16_t) (uint16_t) (data[off + 1] << 8 | data[off + 2]);

		if (b0 == 0xff)
		{
			if (sketch_stage_drain(&staged, &st) != SKETCH_OK)
				fuzz_fail("sketch_stage_drain failed");
			continue;
		}
		for (int j = 0; j <= b0 >> 5; j++)
		{
			double		x = (b0 & 1) ? 0.0 :
				exp(((b0 >> 1) & 7) * 4.0 - 14.0 + (v + j) * 0.0003);

			if (sketch_add(&plain, x) != sketch_stage_add(&staged, &st, x))
				fuzz_fail("sketch_add and sketch_stage_add disagree on a value");
		}
	}
	buf1 = malloc(SKETCH_MAX_ENCODED);
	buf2 = malloc(SKETCH_MAX_ENCODED);
	len1 = check_valid(&plain, buf1);
	/* the encoding of the staged state as it is (sketch_agg's final) */
	if (sketch_stage_encode(&staged, &st, buf2, &len2) != SKETCH_OK)
		fuzz_fail("sketch_stage_encode failed");
	if (len2 != len1 || memcmp(buf1, buf2, len1) != 0)
		fuzz_fail("sketch_stage_encode differs from sketch_add's encoding");
	if (sketch_stage_drain(&staged, &st) != SKETCH_OK)
		fuzz_fail("sketch_stage_drain failed");
	if (check_valid(&staged, buf2) != len1 || memcmp(buf1, buf2, len1) != 0)
		fuzz_fail("staged adds encode differently from sketch_add");
	free(buf1);
	free(buf2);
	free(st.counts);
	sketch_release(&plain);
	sketch_release(&staged);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % FUZZ_MODES)
	{
		case 0:
			fuzz_decode(data + 1, size - 1);
			break;
		case 1:
			fuzz_build(data + 1, size - 1);
			break;
		case 2:
			fuzz_sum(data + 1, size - 1);
			break;
		case 3:
			fuzz_merge(data + 1, size - 1);
			break;
		case 4:
			fuzz_stage(data + 1, size - 1);
			break;
	}
	return 0;
}
