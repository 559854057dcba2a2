/*-------------------------------------------------------------------------
 *
 * statsreset.c
 *	  stats_reset(): zero the counters of the stats view and job_stats(),
 *	  and remember when (stats.stats_reset).
 *
 * Owns: the shared piece "metrics_rollup stats reset": the time of the
 * last reset and the value of every ingest counter and of live_info()'s
 * evictions at that time.  The ingest counters are atomics bumped on the
 * hot path of record() (buffer.c); rather than writing them from here
 * (racing with those bumps, and pending = buffered - flushed could turn
 * negative), a reset keeps their current values as a base that readers
 * subtract, as pg_stat_statements keeps its dealloc count.  The job
 * counters belong to jobstate.c, which zeroes them under its own lock.
 *
 * Locking: mutex (a spinlock) guards every field; held for a copy only.
 *
 * Must never: write another file's counters, or take a lock while holding
 * the spinlock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "jobstate.h"
#include "statsreset.h"

typedef struct StatsResetShared
{
	slock_t		mutex;
	TimestampTz reset_at;		/* 0: never reset (counters since start) */
	BufferStats base;			/* ingest counters at reset_at */
	int64		live_evictions; /* live_info().evictions at reset_at */
} StatsResetShared;

static StatsResetShared *resetshared = NULL;

static Size statsreset_shmem_size(void);
static void statsreset_shmem_init(void *shmem, bool found);

const ShmemPiece statsreset_shmem_piece = {
	"metrics_rollup stats reset",
	statsreset_shmem_size,
	0,
	statsreset_shmem_init
};

PG_FUNCTION_INFO_V1(statsreset_reset);
PG_FUNCTION_INFO_V1(statsreset_info);

static Size
statsreset_shmem_size(void)
{
	return MAXALIGN(sizeof(StatsResetShared));
}

static void
statsreset_shmem_init(void *shmem, bool found)
{
	resetshared = (StatsResetShared *) shmem;
	if (found)
		return;
	memset(resetshared, 0, sizeof(StatsResetShared));
	SpinLockInit(&resetshared->mutex);
}

/* a - b, never below zero (a counter read before the base was taken) */
static uint64
statsreset_minus(uint64 a, uint64 b)
{
	return a > b ? a - b : 0;
}

void
statsreset_subtract(BufferStats *s)
{
	BufferStats base;

	SpinLockAcquire(&resetshared->mutex);
	base = resetshared->base;
	SpinLockRelease(&resetshared->mutex);

	s->events_buffered = statsreset_minus(s->events_buffered, base.events_buffered);
	s->events_flushed = statsreset_minus(s->events_flushed, base.events_flushed);
	s->events_direct = statsreset_minus(s->events_direct, base.events_direct);
	s->events_dropped = statsreset_minus(s->events_dropped, base.events_dropped);
	s->events_overflowed = statsreset_minus(s->events_overflowed, base.events_overflowed);
	s->events_rejected = statsreset_minus(s->events_rejected, base.events_rejected);
	s->flush_count = statsreset_minus(s->flush_count, base.flush_count);
	s->flush_failures = statsreset_minus(s->flush_failures, base.flush_failures);
}

/*
 * stats_reset_counters(live_evictions bigint) RETURNS void: the work of
 * stats_reset() (an SQL function that passes live_info().evictions).
 */
Datum
statsreset_reset(PG_FUNCTION_ARGS)
{
	BufferStats now_stats;
	TimestampTz now = GetCurrentTimestamp();

	mr_require_preload("stats_reset()");
	buffer_get_stats(&now_stats);
	jobstate_reset_counters();

	SpinLockAcquire(&resetshared->mutex);
	resetshared->base = now_stats;
	resetshared->live_evictions = PG_ARGISNULL(0) ? 0 : PG_GETARG_INT64(0);
	resetshared->reset_at = now;
	SpinLockRelease(&resetshared->mutex);

	PG_RETURN_VOID();
}

/*
 * stats_reset_info(OUT stats_reset timestamptz, OUT live_evictions_at_reset
 * bigint): when the counters were last reset (server start if never), and
 * the evictions count the stats view subtracts.
 */
Datum
statsreset_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {0};
	TimestampTz reset_at;
	int64		evictions;

	mr_require_preload("stats_reset_info()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	SpinLockAcquire(&resetshared->mutex);
	reset_at = resetshared->reset_at;
	evictions = resetshared->live_evictions;
	SpinLockRelease(&resetshared->mutex);

	values[0] = TimestampTzGetDatum(reset_at != 0 ? reset_at : PgStartTime);
	values[1] = Int64GetDatum(evictions);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
