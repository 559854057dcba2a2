/*-------------------------------------------------------------------------
 *
 * query_marks.c
 *	  Compaction of dirty marks: compact_marks() and the maintenance
 *	  worker's periodic call of it.
 *
 * Owns: folding the marks of each (kind, entity_id, UTC hour) that has
 * several (the worker: QUERY_MARKS_WORKER_MIN_MARKS) into one mark, whose
 * partial summary is the union of theirs (NULL when any of them is NULL:
 * the group-hour's raw rows are read then anyway) and whose force flag is
 * the OR of theirs.
 *
 * Why: every flush statement appends one mark per group-hour it wrote
 * (with its partial summary, src/metrics_rollup--1.1--1.2.sql), so with a
 * flush every second a busy group-hour gathers thousands of marks before
 * the hourly rollup takes them; aggregate() and timeseries() merge the
 * partials of the marks they read, so their number must stay small.
 *
 * Why it is exact: one statement deletes the marks its snapshot sees and
 * inserts their fold, in one transaction: a reader sees either the marks
 * or the fold, which count the same events.  A writer's mark committed
 * later is not seen and stays as it is.  The fold runs under the runner
 * lock (job_runner_lock), so it never interleaves with a rollup, which
 * deletes exactly "the marks it saw" and reads the raw rows of the same
 * snapshot (src/rollup.c): a fold between those two would replace marks
 * the rollup counted with a mark it did not delete.  The worker only tries
 * the lock (a rollup or cleanup in progress: the fold waits for the next
 * turn); compact_marks() waits for it.
 *
 * Must never: delete a mark it does not replace by its fold in the same
 * statement; run without the runner lock; touch raw or hourly rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "guc.h"
#include "job_xact.h"
#include "query_marks.h"

PG_FUNCTION_INFO_V1(query_marks_compact_sql);

/* The worker folds marks every this many flush intervals (10 s by default). */
#define QUERY_MARKS_COMPACT_FLUSHES 10

/*
 * The worker folds only group-hours with at least this many marks: a busy
 * one gets a mark per flush, a quiet one keeps its few marks (readers merge
 * them as cheaply as a fold would).
 */
#define QUERY_MARKS_WORKER_MIN_MARKS 8

/*
 * The fold, one statement (one snapshot), of the group-hours with at least
 * $1 marks: returns the number of marks it removed (deleted less inserted).
 */
static const char *const query_marks_fold_sql =
"WITH many AS ("
"    SELECT hour_start, kind, entity_id FROM metrics_rollup.rollup_dirty"
"     GROUP BY 1, 2, 3 HAVING pg_catalog.count(*) >= $1),"
" x AS ("
"    DELETE FROM metrics_rollup.rollup_dirty d USING many m"
"     WHERE d.hour_start = m.hour_start AND d.kind = m.kind AND d.entity_id = m.entity_id"
"    RETURNING d.kind, d.entity_id, d.hour_start, d.force, d.partial),"
" f AS ("
"    INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start, force, partial)"
"    SELECT x.kind, x.entity_id, x.hour_start, pg_catalog.bool_or(x.force),"
"           CASE WHEN pg_catalog.bool_and((x.partial).total_count IS NOT NULL)"
"                THEN metrics_rollup.rollup_stats_union(x.partial) END"
"      FROM x GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
"    RETURNING 1)"
" SELECT (SELECT pg_catalog.count(*) FROM x) - (SELECT pg_catalog.count(*) FROM f)";

/* When the worker folds next. */
static TimestampTz query_marks_next = 0;

/* The fold, in the current transaction, SPI connected, runner lock held. */
static int64
query_marks_fold(int64 min_marks)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum(min_marks)};
	bool		isnull;
	int64		removed;

	catalog_spi_check(SPI_execute_with_args(query_marks_fold_sql, 1, types, args,
											NULL, false, 0),
					  SPI_OK_SELECT, "folding dirty marks");
	removed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return removed;
}

/*
 * compact_marks() RETURNS bigint: fold every group-hour with several marks
 * now, waiting for the runner lock (held until the caller's transaction
 * ends).
 */
Datum
query_marks_compact_sql(PG_FUNCTION_ARGS)
{
	int64		removed;

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("compact_marks cannot run during recovery"),
				 errhint("Call it on the primary server.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	job_runner_lock();
	removed = query_marks_fold(2);
	SPI_finish();
	PG_RETURN_INT64(removed);
}

/* One try of the worker, in its own transaction; nothing when the lock is busy. */
static void
query_marks_worker_fold(void)
{
	job_xact_begin("metrics_rollup: folding dirty marks");
	if (catalog_schema_1_2() && job_runner_try_lock())
		(void) query_marks_fold(QUERY_MARKS_WORKER_MIN_MARKS);
	job_xact_commit();
}

void
query_marks_compact_maybe(void)
{
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext oldcxt = CurrentMemoryContext;

	if (!mr_enabled || now < query_marks_next)
		return;
	query_marks_next = TimestampTzPlusMilliseconds(now,
												   (int64) QUERY_MARKS_COMPACT_FLUSHES *
												   Max(mr_flush_interval_ms, 100));
	job_apply_lock_timeout();
	PG_TRY();
	{
		query_marks_worker_fold();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* leave the error context before copying the error out of it */
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* releases locks, buffers and SPI of the failed transaction */
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		ereport(LOG,
				(errmsg("metrics_rollup could not fold dirty marks: %s",
						edata->message),
				 errhint("It is tried again in %d ms; queries stay exact meanwhile.",
						 QUERY_MARKS_COMPACT_FLUSHES * Max(mr_flush_interval_ms, 100))));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}
