/*-------------------------------------------------------------------------
 *
 * query_sketch_merge.c
 *	  C support of the queries aggregate() and timeseries(): a fast merge
 *	  of many stored sketches.
 *
 * Owns: the aggregate query_sketch_merge(sketch), which merges stored
 * sketches into one dense in-memory sketch (sketch_core.h) and encodes it
 * once at the end.  sketch_merge(sketch), whose state is a real type for
 * Citus, decodes and re-encodes its state at every row; over a year of
 * hourly rows (8760 sketches) that dominates the query, so aggregate() and
 * timeseries() use this one.  The result is byte-identical: merging is
 * exact and order-independent.
 *
 * Memory: the state lives in the aggregate's context; each input sketch is
 * decoded in the per-row context the executor resets between rows.
 *
 * Must never: touch tables or shared memory; keep anything beyond the
 * aggregate's memory context.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/memutils.h"

#include "pg_compat.h"
#include "sketch_core.h"

/* Transition state of query_sketch_merge. */
typedef struct QueryMergeState
{
	SketchState sketch;			/* union of the sketches seen so far */
	SketchAllocator allocator;	/* allocates in the aggregate's context */
} QueryMergeState;

/* Scratch space for the one final encoding; the backend is single-threaded. */
static uint8_t query_encode_buffer[SKETCH_MAX_ENCODED];

PG_FUNCTION_INFO_V1(query_sketch_merge_trans);
PG_FUNCTION_INFO_V1(query_sketch_merge_final);

static void *
query_alloc(void *ctx, size_t size)
{
	return MemoryContextAlloc((MemoryContext) ctx, size);
}

static void
query_free(void *ctx, void *ptr)
{
	pfree(ptr);
}

/* Raise the ERROR for a failed sketch operation on stored sketches. */
static void
query_check(SketchError err)
{
	if (err == SKETCH_OK)
		return;
	if (err == SKETCH_ERR_ALPHA_MISMATCH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot merge sketches of different relative accuracy: %s",
						sketch_error_message()),
				 errdetail("Hourly rows were rolled up under different values of metrics_rollup.sketch_relative_accuracy."),
				 errhint("Query a time range rolled up under one setting, or re-run run_rollup(since) to rebuild the sketches.")));
	ereport(ERROR,
			(errcode(err == SKETCH_ERR_RANGE ? ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE
					 : ERRCODE_DATA_CORRUPTED),
			 errmsg("cannot merge stored sketch: %s", sketch_error_message())));
}

/* The state at its first sketch, in the aggregate's context. */
static QueryMergeState *
query_merge_state_new(MemoryContext aggcontext, double alpha)
{
	QueryMergeState *state;

	state = MemoryContextAllocZero(aggcontext, sizeof(QueryMergeState));
	state->allocator.alloc = query_alloc;
	state->allocator.free = query_free;
	state->allocator.ctx = aggcontext;
	query_check(sketch_init(&state->sketch, alpha, &state->allocator));
	return state;
}

/* query_sketch_merge_trans(state internal, value sketch) */
Datum
query_sketch_merge_trans(PG_FUNCTION_ARGS)
{
	MemoryContext aggcontext;
	QueryMergeState *state;
	SketchAllocator row_allocator = {query_alloc, query_free, NULL};
	SketchState row;
	bytea	   *stored;

	if (!AggCheckCallContext(fcinfo, &aggcontext))
		elog(ERROR, "query_sketch_merge_trans called in non-aggregate context");
	state = PG_ARGISNULL(0) ? NULL : (QueryMergeState *) PG_GETARG_POINTER(0);
	if (PG_ARGISNULL(1))
		PG_RETURN_POINTER(state);

	/* decoded in the per-row context, which the executor resets */
	stored = PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(1));
	row_allocator.ctx = CurrentMemoryContext;
	query_check(sketch_decode((const uint8_t *) VARDATA_ANY(stored),
							  VARSIZE_ANY_EXHDR(stored), &row, &row_allocator));
	if (state == NULL)
		state = query_merge_state_new(aggcontext, row.alpha);
	query_check(sketch_merge_into(&state->sketch, &row));
	PG_RETURN_POINTER(state);
}

/* query_sketch_merge_final(state internal): the stored sketch, NULL when empty */
Datum
query_sketch_merge_final(PG_FUNCTION_ARGS)
{
	QueryMergeState *state;
	size_t		len;
	bytea	   *result;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	state = (QueryMergeState *) PG_GETARG_POINTER(0);
	if (state->sketch.count == 0)
		PG_RETURN_NULL();
	len = sketch_encode(&state->sketch, query_encode_buffer);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), query_encode_buffer, len);
	PG_RETURN_BYTEA_P(result);
}
