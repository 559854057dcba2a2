/*-------------------------------------------------------------------------
 *
 * sketch_seed.c
 *	  Writes the seed corpus of sketch_fuzz: valid inputs for each of its
 *	  paths, made by the encoder of src/sketch_core.c.
 *
 * Usage: sketch_seed DIR.  Deterministic (a fixed linear congruential
 * generator), so the corpus is the same on every run.  Each file starts
 * with the path byte sketch_fuzz.c expects (0 decode, 1 builder record,
 * 2 sum text, 3 merge pair).  Format 2 from the encoder, plus two format 1
 * encodings written by version 1.1 (still decoded).
 *
 * Must never: write outside DIR.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sketch_core.h"

static uint64_t rng = 42;

static double
seed_random(void)
{
	rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double) (rng >> 11) / 9007199254740992.0;
}

static void *
seed_alloc(void *ctx, size_t size)
{
	return malloc(size);
}

static void
seed_free(void *ctx, void *ptr)
{
	free(ptr);
}

static const SketchAllocator allocator = {seed_alloc, seed_free, NULL};

static void
seed_write(const char *dir, const char *name, int n, uint8_t mode,
		   const uint8_t *data, size_t len)
{
	char		path[4096];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s-%03d", dir, name, n);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(&mode, 1, 1, f) != 1 ||
		fwrite(data, 1, len, f) != len || fclose(f) != 0)
	{
		perror(path);
		exit(1);
	}
}

static size_t
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
	return 8;
}

static size_t
put_double(uint8_t *p, double d)
{
	uint64_t	bits;

	memcpy(&bits, &d, sizeof(bits));
	return put_u64(p, bits);
}

/* The fixed-width record of sketch_fuzz's builder path. */
static size_t
seed_record(const SketchState *s, uint8_t *out)
{
	char		sum[SKETCH_SUM_TEXT_LEN];
	size_t		sumlen = sketch_sum_format(&s->sum, sum);
	size_t		n = 0;

	n += put_double(out + n, s->alpha);
	n += put_u64(out + n, s->count);
	n += put_u64(out + n, s->zeros);
	n += put_double(out + n, s->min);
	n += put_double(out + n, s->max);
	out[n++] = (uint8_t) sumlen;
	memcpy(out + n, sum, sumlen);
	n += sumlen;
	for (int32_t j = 0; j < s->nbuckets; j++)
	{
		for (int k = 0; k < 4; k++)
			out[n++] = (uint8_t) ((uint32_t) s->indexes[j] >> (8 * k));
		n += put_u64(out + n, s->counts[j]);
	}
	return n;
}

/* A sketch of n values of one shape, at accuracy alpha. */
static void
seed_sketch(SketchState *s, double alpha, int shape, int n)
{
	if (sketch_init(s, alpha, &allocator) != SKETCH_OK)
		exit(1);
	for (int i = 0; i < n; i++)
	{
		double		u = seed_random();
		double		v;

		switch (shape)
		{
			case 0:
				v = u * 10;		/* uniform */
				break;
			case 1:
				v = exp(-3 + 6 * u);	/* log-uniform, a few decades */
				break;
			case 2:
				v = (i % 3 == 0) ? 0 : u;	/* with zeros */
				break;
			case 3:
				v = pow(10, -12 + 24 * u);	/* wide: folds */
				break;
			case 5:
				v = fmin(3600, 0.001 * pow(1 - u, -1 / 1.1));	/* Pareto 1.1 */
				break;
			case 6:
				v = 1e15;		/* the largest accepted value: wide sums */
				break;
			default:
				v = 0.25;		/* constant */
				break;
		}
		if (sketch_add(s, v) != SKETCH_OK)
			exit(1);
	}
}

int
main(int argc, char **argv)
{
	static const double alphas[] = {0.01, 0.001, 0.05, 0.0001, 0.1};
	static const int sizes[] = {0, 1, 3, 50, 2000};
	/* format 1 encodings written by 1.1: {0.132, 2.5, 150} and 1..10 */
	static const char *const v1_hex[] = {
		"017b14ae47e17a843f03004c37894160e5c03f0000000000c0624080b0ba93b190b0e5a1b10203c901010191010101cb010101",
		"017b14ae47e17a843f0a00000000000000f03f00000000000024408080808080808080806e0a0001012101011201010d0101090101070101060101040101040101040101",
	};
	uint8_t    *buf = malloc(SKETCH_MAX_ENCODED * 2 + 2);
	uint8_t    *rec = malloc(SKETCH_MAX_ENCODED * 2);
	int			n = 0;

	if (argc != 2)
	{
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	for (int a = 0; a < 5; a++)
		for (int shape = 0; shape < 5; shape++)
			for (int z = 0; z < 5; z++, n++)
			{
				SketchState s;
				SketchState t;
				char		sum[SKETCH_SUM_TEXT_LEN];
				size_t		len;
				size_t		len2;

				seed_sketch(&s, alphas[a], shape, sizes[z]);
				len = sketch_encode(&s, buf);
				seed_write(argv[1], "decode", n, 0, buf, len);
				seed_write(argv[1], "build", n, 1, rec, seed_record(&s, rec));
				len2 = sketch_sum_format(&s.sum, sum);
				seed_write(argv[1], "sum", n, 2, (const uint8_t *) sum, len2);

				/* a pair of the same accuracy, length-prefixed */
				seed_sketch(&t, alphas[a], (shape + 1) % 5, sizes[(z + 2) % 5]);
				memmove(buf + 2, buf, len);
				buf[0] = (uint8_t) (len >> 8);
				buf[1] = (uint8_t) len;
				len2 = sketch_encode(&t, buf + 2 + len);
				if (len <= 0xffff)
					seed_write(argv[1], "merge", n, 3, buf, 2 + len + len2);
				sketch_release(&s);
				sketch_release(&t);
			}
	/* the new shapes (Pareto, 1e15), format 2, and the format 1 inputs */
	for (int shape = 5; shape <= 6; shape++)
		for (int a = 0; a < 5; a++, n++)
		{
			SketchState s;

			seed_sketch(&s, alphas[a], shape, shape == 5 ? 3000 : 5000);
			seed_write(argv[1], "decode", n, 0, buf, sketch_encode(&s, buf));
			seed_write(argv[1], "build", n, 1, rec, seed_record(&s, rec));
			sketch_release(&s);
		}
	for (int k = 0; k < 2; k++, n++)
	{
		size_t		len = strlen(v1_hex[k]) / 2;

		for (size_t i = 0; i < len; i++)
			sscanf(v1_hex[k] + 2 * i, "%2hhx", &buf[i]);
		seed_write(argv[1], "decode", n, 0, buf, len);
	}
	/* path 4: records of sketch_fuzz's fuzz_stage, from an LCG */
	for (int k = 0; k < 16; k++)
	{
		uint32_t	x = 12345u + (uint32_t) k;
		size_t		len = 1;

		buf[0] = (uint8_t) k;
		for (int r = 0; r < 200; r++, len += 3)
		{
			x = x * 1103515245u + 12345u;
			buf[len] = (uint8_t) (r % 41 == 40 ? 0xff : (x >> 24) & (k % 2 ? 0xfe : 0xe7));
			buf[len + 1] = (uint8_t) (x >> 16);
			buf[len + 2] = (uint8_t) (x >> 8);
		}
		seed_write(argv[1], "stage", k, 4, buf, len);
	}
	free(buf);
	free(rec);
	printf("%d seeds per path written to %s\n", n, argv[1]);
	return 0;
}
