/*-------------------------------------------------------------------------
 *
 * sketch_micro.c
 *	  Pure-C micro-benchmark of the sketch add path (no PostgreSQL).
 *
 * Built by test/bench/sketch_micro.sh against one src/sketch_core.c:
 * without STAGED every value goes through sketch_add (the sorted store, or
 * the dense store of a 1.1 core); with -DSTAGED through sketch_stage_add
 * and sketch_stage_encode per group, as sketch_agg does.  Each data set
 * is built group by group (init, adds, encode, release), RUNS times; it
 * prints the median milliseconds and an FNV-1a hash of every encoding, so
 * that the script can check that both add paths give the same bytes.
 *
 * Must never: be a pass/fail test of speed (the script compares hashes).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sketch_core.h"

static void *
micro_alloc(void *ctx, size_t size)
{
	return malloc(size);
}

static void
micro_free(void *ctx, void *ptr)
{
	free(ptr);
}

static const SketchAllocator allocator = {micro_alloc, micro_free, NULL};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: a uniform double in (0, 1) */
static double
uniform(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return ((double) ((rng_state * 0x2545F4914F6CDD1DULL) >> 11) + 0.5) / 9007199254740992.0;
}

/* median 50 ms, log-sd 1, clipped to 1 ms..60 s (sketch_bench.sh's data) */
static double
lognormal(void)
{
	double		v = exp(log(0.05) + sqrt(-2 * log(uniform())) * cos(2 * M_PI * uniform()));

	return v < 0.001 ? 0.001 : (v > 60 ? 60 : v);
}

/* log-uniform over 1e-9..1e9: wide enough to fold at alpha 0.0001 */
static double
wide(void)
{
	return exp(log(1e-9) + uniform() * log(1e18));
}

typedef struct DataSet
{
	const char *name;
	double		alpha;
	int			groups;
	int			per_group;
	double		(*gen) (void);
} DataSet;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double		x = *(const double *) a;
	double		y = *(const double *) b;

	return (x > y) - (x < y);
}

/* One pass over the data set; returns the hash of every encoding. */
static uint64_t
run_once(const DataSet *d, const double *values, uint8_t *buf)
{
	uint64_t	hash = 0xcbf29ce484222325ULL;

	for (int g = 0; g < d->groups; g++)
	{
		const double *v = values + (size_t) g * d->per_group;
		SketchState s;
		size_t		len;
#ifdef STAGED
		SketchStage st;
#endif

		if (sketch_init(&s, d->alpha, &allocator) != SKETCH_OK)
			exit(2);
#ifdef STAGED
		sketch_stage_init(&st);
		for (int i = 0; i < d->per_group; i++)
			if (sketch_stage_add(&s, &st, v[i]) != SKETCH_OK)
				exit(2);
		if (sketch_stage_encode(&s, &st, buf, &len) != SKETCH_OK)
			exit(2);
		free(st.counts);
#else
		for (int i = 0; i < d->per_group; i++)
			if (sketch_add(&s, v[i]) != SKETCH_OK)
				exit(2);
		len = sketch_encode(&s, buf);
#endif
		for (size_t k = 0; k < len; k++)
			hash = (hash ^ buf[k]) * 0x100000001b3ULL;
		sketch_release(&s);
	}
	return hash;
}

int
main(int argc, char **argv)
{
	static const DataSet sets[] = {
		{"lognormal 24000 groups x 208, alpha 0.01", 0.01, 24000, 208, lognormal},
		{"lognormal 1 group x 5000000, alpha 0.01", 0.01, 1, 5000000, lognormal},
		{"log-uniform 1e-9..1e9 20 groups x 50000, alpha 0.0001", 0.0001, 20, 50000, wide},
	};
	int			runs = argc > 1 ? atoi(argv[1]) : 5;
	uint8_t    *buf = malloc(SKETCH_MAX_ENCODED);

	if (runs < 1 || runs > 99)
		runs = 5;
	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++)
	{
		const DataSet *d = &sets[k];
		size_t		n = (size_t) d->groups * d->per_group;
		double	   *values = malloc(sizeof(double) * n);
		double		times[99];
		uint64_t	hash = 0;

		rng_state = 0x9e3779b97f4a7c15ULL + k;
		for (size_t i = 0; i < n; i++)
			values[i] = d->gen();
		for (int r = 0; r < runs; r++)
		{
			double		t0 = now_ms();

			hash = run_once(d, values, buf);
			times[r] = now_ms() - t0;
		}
		qsort(times, runs, sizeof(double), cmp_double);
		printf("%s\t%.1f\t%016llx\n", d->name, times[runs / 2],
			   (unsigned long long) hash);
		free(values);
	}
	free(buf);
	return 0;
}
