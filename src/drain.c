/*-------------------------------------------------------------------------
 *
 * drain.c
 *	  SQL function drain_stats(): one row per flush worker.
 *
 * Owns: the columns of drain_stats() (and so of the flush_workers view):
 * each flush worker's pid, rings, backlog, counters, rate, last flush and
 * its flush job's circuit.
 *
 * Must never: write shared memory (buffer.c and jobstate.c own it; this
 * file only reads their snapshots).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "buffer.h"
#include "jobstate.h"
#include "shmem.h"

#define DRAIN_STATS_COLS 17

PG_FUNCTION_INFO_V1(drain_stats);

/* The rings of one worker as an int[]. */
static Datum
drain_rings_array(const BufferDrainerStats *s)
{
	Datum		elems[BUFFER_MAX_RINGS];

	for (int i = 0; i < s->nrings; i++)
		elems[i] = Int32GetDatum(s->rings[i]);
	return PointerGetDatum(construct_array(elems, s->nrings, INT4OID,
										   sizeof(int32), true, TYPALIGN_INT));
}

/* One row: see the column list in the extension script. */
static void
drain_stats_row(int k, Datum *values, bool *nulls)
{
	BufferDrainerStats s;
	CircuitState circuit;
	int			failures;
	TimestampTz next_try;
	Interval   *duration = palloc0(sizeof(Interval));
	int			i = 0;

	(void) buffer_get_drainer_stats(k, &s);
	jobstate_flush_worker_state(k, &circuit, &failures, &next_try);

	values[i++] = Int32GetDatum(k);
	nulls[i] = s.pid == 0;
	values[i++] = Int32GetDatum(s.pid);
	values[i++] = drain_rings_array(&s);
	values[i++] = Int64GetDatum((int64) s.capacity_bytes);
	values[i++] = Int64GetDatum((int64) s.used_bytes);
	values[i++] = Int64GetDatum((int64) s.events_pending);
	values[i++] = Int64GetDatum((int64) s.events_flushed);
	values[i++] = Int64GetDatum((int64) s.rate);
	values[i++] = Int64GetDatum((int64) s.flush_count);
	values[i++] = Int64GetDatum((int64) s.flush_failures);
	nulls[i] = s.last_flush_at == 0;
	values[i++] = TimestampTzGetDatum(s.last_flush_at);
	duration->time = s.last_flush_duration_us;
	nulls[i] = s.last_flush_at == 0;
	values[i++] = IntervalPGetDatum(duration);
	nulls[i] = s.last_flush_error[0] == '\0';
	values[i++] = CStringGetTextDatum(s.last_flush_error);
	values[i++] = CStringGetTextDatum(jobstate_circuit_name(circuit));
	values[i++] = Int32GetDatum(failures);
	nulls[i] = next_try == 0;
	values[i++] = TimestampTzGetDatum(next_try);
	values[i++] = Int64GetDatum((int64) s.starts);
	Assert(i == DRAIN_STATS_COLS);
}

/*
 * drain_stats(): one row per flush worker (metrics_rollup.flush_workers
 * at server start), running or not.
 */
Datum
drain_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	mr_require_preload("drain_stats()");
	InitMaterializedSRF(fcinfo, 0);
	for (int k = 0; k < buffer_drainer_count(); k++)
	{
		Datum		values[DRAIN_STATS_COLS];
		bool		nulls[DRAIN_STATS_COLS] = {0};

		drain_stats_row(k, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
