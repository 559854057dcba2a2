/*-------------------------------------------------------------------------
 *
 * cleanup.c
 *	  Retention: run_cleanup() and the worker's cleanup_worker_run().
 *
 * Owns: deleting expired rows, in bounded batches.
 *   - raw_metrics: a row goes when it is older than the hour-aligned
 *     retention cutoff (retention_days), or, with delete_raw_after_rollup,
 *     when its hour is rolled up (no dirty mark), has ended at least
 *     delete_raw_after_rollup_hours ago and lies outside the late-data
 *     window (the current hour and the late_data_hours before it).
 *   - hourly_metrics: rows of hours older than rollup_retention_days go.
 *
 * History is never lost by deleting a raw row: the rollup's DELETE trigger
 * moves every deleted event into its hourly row's "archived" summary in the
 * same transaction (see rollup.c), so even a retention cutoff that passes an
 * hour not rolled up yet leaves the event counted in its hour.
 *
 * Batches: raw_metrics is walked once per run in ranges of heap blocks
 * (ctid >= '(b,0)' AND ctid < '(b+n,0)', a TID range scan), n chosen so a
 * range holds about cleanup_batch_size rows.  Every batch is one statement;
 * the worker commits after each, so no lock or snapshot is held for long, a
 * failure keeps the batches before it, and the walk costs one pass over the
 * table however many rows expire (a repeated "DELETE ... LIMIT" would rescan
 * the dead rows of earlier batches every time).  DELETE takes ROW EXCLUSIVE:
 * concurrent COPY from the flush never waits for it.  hourly_metrics is
 * small and indexed by hour: batches of ctids found through that index.
 *
 * One runner at a time, with rollup too: job_runner_lock() in every batch's
 * transaction.  run_cleanup() runs in the caller's transaction (a function
 * cannot commit): atomic, holding the lock throughout.
 *
 * Must never: delete a raw row of a dirty hour younger than the retention
 * cutoff; build SQL from values (everything is a parameter).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/itemptr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "cleanup.h"
#include "guc.h"
#include "job.h"

/* The hour-aligned cutoffs of one run: rows before them go. */
typedef struct CleanupCutoffs
{
	TimestampTz raw_retention;	/* any raw row */
	TimestampTz raw_rolled_up;	/* raw rows of rolled-up hours; -inf = off */
	TimestampTz hourly_retention;	/* hourly rows */
} CleanupCutoffs;

/* Where the walk over raw_metrics is. */
typedef struct RawWalk
{
	int64		next_block;		/* first block of the next batch */
	int64		end_block;		/* blocks at the start of the run */
	int64		blocks_per_batch;
} RawWalk;

PG_FUNCTION_INFO_V1(cleanup_run_sql);

static const char *const cleanup_raw_size_sql =
"SELECT pg_catalog.pg_relation_size(c.oid)"
"       / pg_catalog.current_setting('block_size')::bigint,"
"       CASE WHEN c.relpages > 0 AND c.reltuples > 0"
"            THEN c.reltuples / c.relpages END"
"  FROM pg_catalog.pg_class c"
" WHERE c.oid = 'metrics_rollup.raw_metrics'::pg_catalog.regclass";

static const char *const cleanup_raw_batch_sql =
"DELETE FROM metrics_rollup.raw_metrics r"
" WHERE r.ctid >= $1 AND r.ctid < $2"
"   AND (r.recorded_at < $3"
"        OR (r.recorded_at < $4"
"            AND NOT EXISTS (SELECT 1 FROM metrics_rollup.rollup_dirty d"
"                             WHERE d.kind = r.kind AND d.entity_id = r.entity_id"
"                               AND d.hour_start = pg_catalog.date_trunc('hour', r.recorded_at, 'UTC'))))";

static const char *const cleanup_hourly_batch_sql =
"DELETE FROM metrics_rollup.hourly_metrics h"
" WHERE h.ctid = ANY (ARRAY(SELECT x.ctid FROM metrics_rollup.hourly_metrics x"
"                           WHERE x.hour_start < $1 LIMIT $2))";

/* Rows a heap page of raw_metrics holds when statistics don't say yet. */
#define CLEANUP_DEFAULT_ROWS_PER_BLOCK 60

static TimestampTz
cleanup_hour_floor(TimestampTz t)
{
	return t - ((t % USECS_PER_HOUR) + USECS_PER_HOUR) % USECS_PER_HOUR;
}

/*
 * The cutoffs for a run starting at now.  An hour H may lose its rolled-up
 * raw rows when it ended delete_raw_after_rollup_hours ago
 * (H + 1h <= now - N h, i.e. H < floor(now - N h)) and lies before the
 * late-data window (H < floor(now) - late_data_hours).  With the defaults
 * (1, 1) that is every hour up to two hours before the current one.
 */
static void
cleanup_cutoffs(TimestampTz now, CleanupCutoffs *c)
{
	TimestampTz hour = cleanup_hour_floor(now);
	TimestampTz by_age;
	TimestampTz by_late;

	c->raw_retention = hour - (int64) mr_retention_days * USECS_PER_DAY;
	c->hourly_retention = hour - (int64) mr_rollup_retention_days * USECS_PER_DAY;

	by_age = cleanup_hour_floor(now - (int64) mr_delete_raw_after_rollup_hours * USECS_PER_HOUR);
	by_late = hour - (int64) mr_late_data_hours * USECS_PER_HOUR;
	if (mr_delete_raw_after_rollup)
		c->raw_rolled_up = Min(by_age, by_late);
	else
		TIMESTAMP_NOBEGIN(c->raw_rolled_up);
}

static void
cleanup_spi_check(int rc, int expected, const char *what)
{
	if (rc != expected)
		elog(ERROR, "SPI failed while %s: %s", what, SPI_result_code_string(rc));
}

/* Size the walk over raw_metrics: its blocks now, and blocks per batch. */
static void
cleanup_raw_walk_start(RawWalk *walk)
{
	bool		isnull;
	double		rows_per_block = CLEANUP_DEFAULT_ROWS_PER_BLOCK;
	Datum		d;

	cleanup_spi_check(SPI_execute(cleanup_raw_size_sql, true, 1),
					  SPI_OK_SELECT, "sizing raw_metrics");
	walk->next_block = 0;
	walk->end_block = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (!isnull && DatumGetFloat8(d) >= 1.0)
		rows_per_block = DatumGetFloat8(d);
	walk->blocks_per_batch = Max(1, (int64) (mr_cleanup_batch_size / rows_per_block));
	SPI_freetuptable(SPI_tuptable);
}

/* One batch of raw_metrics: the next range of blocks.  Returns rows deleted. */
static int64
cleanup_raw_batch(const CleanupCutoffs *c, RawWalk *walk)
{
	Oid			argtypes[4] = {TIDOID, TIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	ItemPointerData from;
	ItemPointerData to;
	Datum		args[4];
	int64		end = Min(walk->next_block + walk->blocks_per_batch, walk->end_block);

	ItemPointerSet(&from, (BlockNumber) walk->next_block, 0);
	ItemPointerSet(&to, (BlockNumber) end, 0);
	args[0] = PointerGetDatum(&from);
	args[1] = PointerGetDatum(&to);
	args[2] = TimestampTzGetDatum(c->raw_retention);
	args[3] = TimestampTzGetDatum(c->raw_rolled_up);
	cleanup_spi_check(SPI_execute_with_args(cleanup_raw_batch_sql, 4, argtypes,
											args, NULL, false, 0),
					  SPI_OK_DELETE, "deleting expired raw rows");
	walk->next_block = end;
	return (int64) SPI_processed;
}

/* One batch of hourly_metrics.  Returns rows deleted. */
static int64
cleanup_hourly_batch(const CleanupCutoffs *c)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		args[2];

	args[0] = TimestampTzGetDatum(c->hourly_retention);
	args[1] = Int32GetDatum(mr_cleanup_batch_size);
	cleanup_spi_check(SPI_execute_with_args(cleanup_hourly_batch_sql, 2, argtypes,
											args, NULL, false, 0),
					  SPI_OK_DELETE, "deleting expired hourly rows");
	return (int64) SPI_processed;
}

/*
 * Delete what expired, in the caller's transaction (SPI connected, runner
 * lock held): the body of run_cleanup().
 */
static void
cleanup_run_in_xact(const CleanupCutoffs *c, CleanupResult *raw, CleanupResult *hourly)
{
	RawWalk		walk;
	int64		n;

	raw->start = GetCurrentTimestamp();
	cleanup_raw_walk_start(&walk);
	while (walk.next_block < walk.end_block)
	{
		CHECK_FOR_INTERRUPTS();
		raw->rows += cleanup_raw_batch(c, &walk);
	}
	raw->end = hourly->start = GetCurrentTimestamp();
	do
	{
		CHECK_FOR_INTERRUPTS();
		n = cleanup_hourly_batch(c);
		hourly->rows += n;
	} while (n >= mr_cleanup_batch_size);
	hourly->end = GetCurrentTimestamp();
}

static void
cleanup_put_row(ReturnSetInfo *rsinfo, const char *relation, const CleanupResult *r)
{
	Datum		values[3];
	bool		nulls[3] = {0};
	Interval   *duration = palloc0(sizeof(Interval));

	duration->time = r->end - r->start;
	values[0] = CStringGetTextDatum(relation);
	values[1] = Int64GetDatum(r->rows);
	values[2] = IntervalPGetDatum(duration);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * run_cleanup() RETURNS TABLE(relation text, rows_deleted bigint,
 * duration interval): one row per relation, in the caller's transaction.
 */
Datum
cleanup_run_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CleanupCutoffs cutoffs;
	CleanupResult raw = {0};
	CleanupResult hourly = {0};

	InitMaterializedSRF(fcinfo, 0);
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("run_cleanup cannot run during recovery"),
				 errhint("Call it on the primary server.")));

	cleanup_cutoffs(GetCurrentTimestamp(), &cutoffs);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	job_runner_lock();
	cleanup_run_in_xact(&cutoffs, &raw, &hourly);
	SPI_finish();

	cleanup_put_row(rsinfo, "metrics_rollup.raw_metrics", &raw);
	cleanup_put_row(rsinfo, "metrics_rollup.hourly_metrics", &hourly);
	return (Datum) 0;
}

/* One batch of the worker: its own transaction, holding the runner lock. */
static void
cleanup_worker_raw_batch(const CleanupCutoffs *c, RawWalk *walk, CleanupResult *raw)
{
	char		activity[128];

	snprintf(activity, sizeof(activity),
			 "metrics_rollup: cleaning raw_metrics blocks " INT64_FORMAT " of " INT64_FORMAT,
			 walk->next_block, walk->end_block);
	job_xact_begin(activity);
	job_runner_lock();
	raw->rows += cleanup_raw_batch(c, walk);
	job_xact_commit();
}

/* The worker's first unit: is there anything to clean, and how big is it? */
static bool
cleanup_worker_start(RawWalk *walk)
{
	bool		ready;

	job_xact_begin("metrics_rollup: sizing raw_metrics for cleanup");
	ready = job_extension_ready();
	if (ready)
		cleanup_raw_walk_start(walk);
	job_xact_commit();
	return ready;
}

void
cleanup_worker_run(CleanupResult *raw, CleanupResult *hourly)
{
	CleanupCutoffs cutoffs;
	RawWalk		walk;
	int64		n;

	Assert(!IsTransactionState());
	memset(raw, 0, sizeof(*raw));
	memset(hourly, 0, sizeof(*hourly));
	if (!mr_cleanup_enabled || RecoveryInProgress())
		return;

	cleanup_cutoffs(GetCurrentTimestamp(), &cutoffs);
	raw->start = GetCurrentTimestamp();
	if (!cleanup_worker_start(&walk))
		return;
	while (walk.next_block < walk.end_block)
	{
		CHECK_FOR_INTERRUPTS();
		cleanup_worker_raw_batch(&cutoffs, &walk, raw);
	}
	raw->end = hourly->start = GetCurrentTimestamp();

	do
	{
		CHECK_FOR_INTERRUPTS();
		job_xact_begin("metrics_rollup: cleaning hourly_metrics");
		job_runner_lock();
		n = cleanup_hourly_batch(&cutoffs);
		hourly->rows += n;
		job_xact_commit();
	} while (n >= mr_cleanup_batch_size);
	hourly->end = GetCurrentTimestamp();
	pgstat_report_activity(STATE_IDLE, NULL);
}
