/*-------------------------------------------------------------------------
 *
 * rollup_agg.c
 *	  rollup_agg(): one pass over an hour's events of one entity, and
 *	  rollup_stats_merge(): the summary of two disjoint sets of events.
 *
 * Owns: the aggregate's transition state (every value of the group in one
 * growing float8 array, plus counters), the final function that sorts the
 * values once and derives count, successes, min, max, the exact sum and the
 * percentile_cont p50/p95/p99 from the sorted array, plus the sketch of the
 * values (sketch_core.h, relative accuracy metrics_rollup.sketch_relative_
 * accuracy), and the merge of two metrics_rollup.rollup_stats values, whose
 * percentiles come from the combined sketch with the same rule
 * (sketch_percentile_cont_value: percentile_cont within alpha).
 *
 * Exact sum: each value is rounded to whole nanoseconds and added as an
 * integer into a 128-bit accumulator, so the sum does not depend on the
 * order of the events.  XXX: values of 9e9 s (285 years) or more cannot be
 * held in nanoseconds in an int64; they are summed as float8 separately.
 * XXX: the sketch accepts values from 0 to 1e15 s; a raw row inserted
 * directly with a value outside (raw_metrics has no CHECK) enters it clamped
 * (the exact min/max/sum columns keep the true value).  Merging sketches
 * built under different relative accuracies (the setting changed between a
 * deletion and the next rollup) raises an ERROR.
 *
 * Must never: touch tables or shared memory; keep anything beyond the
 * aggregate's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "guc.h"
#include "rollup.h"
#include "sketch_core.h"

#ifndef HAVE_INT128
#error "rollup_agg.c needs a 128-bit integer type for the exact sum"
#endif

/* values at or above this many seconds are summed as float8 */
#define ROLLUP_MAX_NS_VALUE 9.0e9

/* Scratch space for one sketch encoding; the backend is single-threaded. */
static uint8_t rollup_encode_buffer[SKETCH_MAX_ENCODED];

/* Transition state of rollup_agg, in the aggregate's memory context. */
typedef struct RollupAggState
{
	int64		count;			/* events collected */
	int64		capacity;		/* slots allocated in values */
	float8	   *values;			/* response times (s), unsorted until final */
	int64		successes;		/* events with success = true */
	int128		sum_ns;			/* sum of values below 9e9 s, in ns */
	float8		sum_big;		/* sum of values of 9e9 s or more (s) */
	TimestampTz last_at;		/* latest recorded_at */
	text	   *name;			/* latest non-NULL entity_name, or NULL */
	TimestampTz name_at;		/* recorded_at of that name */
} RollupAggState;

PG_FUNCTION_INFO_V1(rollup_agg_trans);
PG_FUNCTION_INFO_V1(rollup_agg_final);
PG_FUNCTION_INFO_V1(rollup_stats_merge);

static RollupAggState *
rollup_agg_state_new(MemoryContext aggcontext)
{
	RollupAggState *state;

	state = MemoryContextAllocZero(aggcontext, sizeof(RollupAggState));
	state->capacity = 64;
	state->values = MemoryContextAlloc(aggcontext,
									   state->capacity * sizeof(float8));
	state->last_at = DT_NOBEGIN;
	state->name_at = DT_NOBEGIN;
	return state;
}

/* Keep the name if it is at least as recent as the one we hold. */
static void
rollup_agg_note_name(RollupAggState *state, MemoryContext aggcontext,
					 text *name, TimestampTz at)
{
	Size		len = VARSIZE_ANY(name);

	if (state->name != NULL && at < state->name_at)
		return;
	state->name_at = at;
	/* the same name again (the usual case) costs a compare, not a copy */
	if (state->name != NULL && VARSIZE_ANY(state->name) == len &&
		memcmp(state->name, name, len) == 0)
		return;
	if (state->name != NULL)
		pfree(state->name);
	state->name = MemoryContextAlloc(aggcontext, len);
	memcpy(state->name, name, len);
}

/*
 * rollup_agg_trans(state, response_time, success, recorded_at, entity_name)
 *
 * Rows with a NULL response_time (the outer side of a join that found no
 * raw row) are skipped.
 */
Datum
rollup_agg_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	RollupAggState *state;
	float8		value;
	TimestampTz at;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "rollup_agg_trans called in non-aggregate context");

	state = PG_ARGISNULL(0) ? NULL : (RollupAggState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
	{
		if (state == NULL)
			PG_RETURN_NULL();
		PG_RETURN_POINTER(state);
	}
	if (state == NULL)
		state = rollup_agg_state_new(aggcontext);

	value = PG_GETARG_FLOAT8(1);
	at = PG_GETARG_TIMESTAMPTZ(3);

	if (state->count == state->capacity)
	{
		state->capacity *= 2;
		state->values = repalloc_huge(state->values,
									  state->capacity * sizeof(float8));
	}
	state->values[state->count++] = value;
	if (PG_GETARG_BOOL(2))
		state->successes++;
	if (value < ROLLUP_MAX_NS_VALUE)
		state->sum_ns += (int64) rint(value * 1e9);
	else
		state->sum_big += value;
	if (at > state->last_at)
		state->last_at = at;
	if (!PG_ARGISNULL(4))
		rollup_agg_note_name(state, aggcontext,
							 (text *) PG_GETARG_POINTER(4), at);

	PG_RETURN_POINTER(state);
}

static int
rollup_float8_cmp(const void *a, const void *b)
{
	float8		x = *(const float8 *) a;
	float8		y = *(const float8 *) b;

	return (x > y) - (x < y);
}

/*
 * percentile_cont over sorted values, with the same arithmetic as
 * PostgreSQL's percentile_cont (orderedsetaggs.c), so results match it
 * bit for bit.
 */
static float8
rollup_percentile_cont(const float8 *sorted, int64 n, float8 q)
{
	float8		pos = q * (n - 1);
	int64		first = (int64) floor(pos);
	int64		second = (int64) ceil(pos);
	float8		lo = sorted[first];
	float8		hi = sorted[second];

	if (first == second)
		return lo;
	return lo + ((pos - first) * (hi - lo));
}

/* The exact sum as numeric: sum_ns / 1e9 (+ sum_big). */
static Datum
rollup_sum_numeric(int128 sum_ns, float8 sum_big)
{
	char		digits[64];
	char		text_value[80];
	int			len = 0;
	uint128		magnitude = (uint128) sum_ns;	/* sums of values >= 0 */
	Datum		result;

	do
	{
		digits[len++] = '0' + (int) (magnitude % 10);
		magnitude /= 10;
	} while (magnitude > 0);
	while (len < 10)
		digits[len++] = '0';

	/* digits are least significant first: integer part, '.', 9 decimals */
	{
		int			pos = 0;

		for (int i = len - 1; i >= 9; i--)
			text_value[pos++] = digits[i];
		text_value[pos++] = '.';
		for (int i = 8; i >= 0; i--)
			text_value[pos++] = digits[i];
		text_value[pos] = '\0';
	}

	result = DirectFunctionCall3(numeric_in, CStringGetDatum(text_value),
								 ObjectIdGetDatum(InvalidOid),
								 Int32GetDatum(-1));
	if (sum_big != 0)
		result = DirectFunctionCall2(numeric_add, result,
									 DirectFunctionCall1(float8_numeric,
														 Float8GetDatum(sum_big)));
	return result;
}

/* sketch_core's memory: palloc in the context given as ctx */
static void *
rollup_sketch_alloc(void *ctx, size_t size)
{
	return MemoryContextAlloc((MemoryContext) ctx, size);
}

static void
rollup_sketch_check(SketchError err)
{
	if (err != SKETCH_OK)
		ereport(ERROR,
				(errcode(err == SKETCH_ERR_NOMEM ? ERRCODE_OUT_OF_MEMORY :
						 err == SKETCH_ERR_FORMAT ? ERRCODE_DATA_CORRUPTED :
						 ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot build the rollup sketch: %s", sketch_error_message()),
				 errhint("Check that metrics_rollup.sketch_relative_accuracy did not change since the hour was first rolled up.")));
}

/* The stored varlena of a sketch (what the sketch type holds). */
static Datum
rollup_sketch_datum(const SketchState *s)
{
	size_t		len = sketch_encode(s, rollup_encode_buffer);
	bytea	   *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), rollup_encode_buffer, len);
	return PointerGetDatum(result);
}

/* The sketch of sorted values. */
static Datum
rollup_sketch_from_sorted(const float8 *v, int64 n)
{
	SketchAllocator alloc = {rollup_sketch_alloc, NULL, CurrentMemoryContext};
	SketchState s;

	rollup_sketch_check(sketch_init(&s, mr_sketch_relative_accuracy, &alloc));
	for (int64 i = 0; i < n; i++)
	{
		/* out-of-contract raw values must not stop the rollup forever */
		float8		x = Min(v[i], SKETCH_MAX_VALUE);	/* NaN too */

		rollup_sketch_check(sketch_add(&s, Max(x, 0.0)));
	}
	return rollup_sketch_datum(&s);
}

/* Decode a stored sketch into s, allocating with alloc. */
static void
rollup_sketch_load(Datum datum, SketchState *s, const SketchAllocator *alloc)
{
	bytea	   *v = DatumGetByteaPP(datum);

	rollup_sketch_check(sketch_decode((const uint8_t *) VARDATA_ANY(v),
									  VARSIZE_ANY_EXHDR(v), s, alloc));
}

/*
 * Combine the sketches of a and b into r[ROLLUP_STATS_SKETCH] and take the
 * percentiles from the result, by percentile_cont's rule (as the exact ones).
 */
static void
rollup_sketch_merge(Datum a, Datum b, Datum *r)
{
	SketchAllocator alloc = {rollup_sketch_alloc, NULL, CurrentMemoryContext};
	SketchState sa;
	SketchState sb;
	static const float8 qs[3] = {0.5, 0.95, 0.99};
	static const int fields[3] = {ROLLUP_STATS_P50, ROLLUP_STATS_P95,
	ROLLUP_STATS_P99};

	rollup_sketch_load(a, &sa, &alloc);
	rollup_sketch_load(b, &sb, &alloc);
	rollup_sketch_check(sketch_merge_into(&sa, &sb));
	for (int i = 0; i < 3; i++)
	{
		double		q;

		rollup_sketch_check(sketch_percentile_cont_value(&sa, qs[i], &q));
		r[fields[i]] = Float8GetDatum(q);
	}
	r[ROLLUP_STATS_SKETCH] = rollup_sketch_datum(&sa);
}

/*
 * The result row type of the function being called, looked up once per
 * query and kept in fn_extra (the final function runs once per group).
 */
static TupleDesc
rollup_result_desc(FunctionCallInfo fcinfo)
{
	TupleDesc	desc = (TupleDesc) fcinfo->flinfo->fn_extra;
	MemoryContext old;

	if (desc != NULL)
		return desc;
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (desc->natts != ROLLUP_STATS_NATTS)
		elog(ERROR, "metrics_rollup.rollup_stats has %d attributes, expected %d",
			 desc->natts, ROLLUP_STATS_NATTS);
	old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
	desc = BlessTupleDesc(CreateTupleDescCopy(desc));
	MemoryContextSwitchTo(old);
	fcinfo->flinfo->fn_extra = desc;
	return desc;
}

/*
 * rollup_agg_final(state, ...): sorts the values in place (the state is
 * READ_WRITE: nothing reads it afterwards) and returns rollup_stats.
 */
Datum
rollup_agg_final(PG_FUNCTION_ARGS)
{
	RollupAggState *state;
	TupleDesc	desc;
	Datum		values[ROLLUP_STATS_NATTS];
	bool		nulls[ROLLUP_STATS_NATTS] = {0};
	float8	   *v;
	int64		n;

	if (!AggCheckCallContext(fcinfo, NULL))
		elog(ERROR, "rollup_agg_final called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NULL : (RollupAggState *) PG_GETARG_POINTER(0);
	if (state == NULL || state->count == 0)
		PG_RETURN_NULL();
	v = state->values;
	n = state->count;

	qsort(v, n, sizeof(float8), rollup_float8_cmp);

	desc = rollup_result_desc(fcinfo);
	values[ROLLUP_STATS_TOTAL] = Int64GetDatum(n);
	values[ROLLUP_STATS_SUCCESS] = Int64GetDatum(state->successes);
	values[ROLLUP_STATS_MIN] = Float8GetDatum(v[0]);
	values[ROLLUP_STATS_MAX] = Float8GetDatum(v[n - 1]);
	values[ROLLUP_STATS_SUM] = rollup_sum_numeric(state->sum_ns, state->sum_big);
	values[ROLLUP_STATS_P50] = Float8GetDatum(rollup_percentile_cont(v, n, 0.5));
	values[ROLLUP_STATS_P95] = Float8GetDatum(rollup_percentile_cont(v, n, 0.95));
	values[ROLLUP_STATS_P99] = Float8GetDatum(rollup_percentile_cont(v, n, 0.99));
	if (state->name != NULL)
	{
		values[ROLLUP_STATS_NAME] = PointerGetDatum(state->name);
		values[ROLLUP_STATS_NAME_AT] = TimestampTzGetDatum(state->name_at);
	}
	else
	{
		nulls[ROLLUP_STATS_NAME] = true;
		nulls[ROLLUP_STATS_NAME_AT] = true;
	}
	values[ROLLUP_STATS_LAST_AT] = TimestampTzGetDatum(state->last_at);
	values[ROLLUP_STATS_EXACT] = BoolGetDatum(true);
	values[ROLLUP_STATS_SKETCH] = rollup_sketch_from_sorted(v, n);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}

/* Split a rollup_stats datum into its fields. */
static void
rollup_stats_deform(HeapTupleHeader header, Datum *values, bool *nulls)
{
	TupleDesc	desc;
	HeapTupleData tuple;

	desc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(header),
								  HeapTupleHeaderGetTypMod(header));
	if (desc->natts != ROLLUP_STATS_NATTS)
		elog(ERROR, "metrics_rollup.rollup_stats has %d attributes, expected %d",
			 desc->natts, ROLLUP_STATS_NATTS);
	tuple.t_len = HeapTupleHeaderGetDatumLength(header);
	ItemPointerSetInvalid(&tuple.t_self);
	tuple.t_tableOid = InvalidOid;
	tuple.t_data = header;
	heap_deform_tuple(&tuple, desc, values, nulls);
	ReleaseTupleDesc(desc);
}

/* An empty set is a NULL value or a row without a count. */
static bool
rollup_stats_is_empty(FunctionCallInfo fcinfo, int argno, Datum *values,
					  bool *nulls)
{
	if (PG_ARGISNULL(argno))
		return true;
	rollup_stats_deform(PG_GETARG_HEAPTUPLEHEADER(argno), values, nulls);
	return nulls[ROLLUP_STATS_TOTAL];
}

/*
 * rollup_stats_merge(a, b): the union of two disjoint sets.  Counts and sums
 * add, min/max combine, the newer name wins (b on a tie); exact percentiles
 * cannot be merged, so they come from the combined sketch.
 */
Datum
rollup_stats_merge(PG_FUNCTION_ARGS)
{
	Datum		a[ROLLUP_STATS_NATTS];
	Datum		b[ROLLUP_STATS_NATTS];
	bool		an[ROLLUP_STATS_NATTS];
	bool		bn[ROLLUP_STATS_NATTS];
	Datum		r[ROLLUP_STATS_NATTS];
	bool		rn[ROLLUP_STATS_NATTS] = {0};
	bool		a_empty = rollup_stats_is_empty(fcinfo, 0, a, an);
	bool		b_empty = rollup_stats_is_empty(fcinfo, 1, b, bn);
	bool		name_from_b;

	if (a_empty && b_empty)
		PG_RETURN_NULL();
	if (a_empty)
		PG_RETURN_DATUM(PG_GETARG_DATUM(1));
	if (b_empty)
		PG_RETURN_DATUM(PG_GETARG_DATUM(0));

	r[ROLLUP_STATS_TOTAL] = Int64GetDatum(DatumGetInt64(a[ROLLUP_STATS_TOTAL]) +
										  DatumGetInt64(b[ROLLUP_STATS_TOTAL]));
	r[ROLLUP_STATS_SUCCESS] = Int64GetDatum(DatumGetInt64(a[ROLLUP_STATS_SUCCESS]) +
											DatumGetInt64(b[ROLLUP_STATS_SUCCESS]));
	r[ROLLUP_STATS_MIN] = Float8GetDatum(Min(DatumGetFloat8(a[ROLLUP_STATS_MIN]),
											 DatumGetFloat8(b[ROLLUP_STATS_MIN])));
	r[ROLLUP_STATS_MAX] = Float8GetDatum(Max(DatumGetFloat8(a[ROLLUP_STATS_MAX]),
											 DatumGetFloat8(b[ROLLUP_STATS_MAX])));
	r[ROLLUP_STATS_SUM] = DirectFunctionCall2(numeric_add, a[ROLLUP_STATS_SUM],
											  b[ROLLUP_STATS_SUM]);
	if (an[ROLLUP_STATS_SKETCH] || bn[ROLLUP_STATS_SKETCH])
		elog(ERROR, "metrics_rollup.rollup_stats without a sketch cannot be merged");
	rollup_sketch_merge(a[ROLLUP_STATS_SKETCH], b[ROLLUP_STATS_SKETCH], r);

	name_from_b = !bn[ROLLUP_STATS_NAME] &&
		(an[ROLLUP_STATS_NAME] ||
		 DatumGetTimestampTz(b[ROLLUP_STATS_NAME_AT]) >=
		 DatumGetTimestampTz(a[ROLLUP_STATS_NAME_AT]));
	r[ROLLUP_STATS_NAME] = name_from_b ? b[ROLLUP_STATS_NAME] : a[ROLLUP_STATS_NAME];
	r[ROLLUP_STATS_NAME_AT] = name_from_b ? b[ROLLUP_STATS_NAME_AT] : a[ROLLUP_STATS_NAME_AT];
	rn[ROLLUP_STATS_NAME] = name_from_b ? false : an[ROLLUP_STATS_NAME];
	rn[ROLLUP_STATS_NAME_AT] = rn[ROLLUP_STATS_NAME];
	r[ROLLUP_STATS_EXACT] = BoolGetDatum(false);
	r[ROLLUP_STATS_LAST_AT] = TimestampTzGetDatum(Max(DatumGetTimestampTz(a[ROLLUP_STATS_LAST_AT]),
													  DatumGetTimestampTz(b[ROLLUP_STATS_LAST_AT])));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(rollup_result_desc(fcinfo),
													  r, rn)));
}
