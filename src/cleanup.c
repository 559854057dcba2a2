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
 * Batches: one statement lists the expired (hour, kind, entity_id) groups
 * with their row counts, oldest hour first (the BRIN index on recorded_at
 * skips recent blocks), and whether each is rolled up and clean; then each
 * batch deletes whole groups of one hour, together at most
 * cleanup_batch_size rows (a group larger than that goes in slices).
 * Rolled-up, clean groups (the common case: delete_raw_after_rollup) go
 * through the fast archive of cleanup_archive.c, which sets archived from
 * the hourly row itself instead of aggregating the deleted rows again; the
 * others through the DELETE trigger.  Whole
 * groups matter: the DELETE trigger archives the deleted events into their
 * hourly row, so a batch that touched every group of an hour a little (as a
 * walk in heap order would: an hour's entities are interleaved on disk)
 * would rewrite every hourly row once per batch.  The worker commits after
 * each batch, so no lock or snapshot is held for long and a failure keeps
 * the batches before it.  DELETE takes ROW EXCLUSIVE: concurrent COPY from
 * the flush never waits for it.  hourly_metrics is indexed by hour:
 * batches of ctids found through that index.
 *
 * On Citus (raw_metrics distributed, no DELETE trigger there) the run goes
 * hour by hour through citus.c's statements instead (cleanup_run_citus),
 * each hour in batches of whole entities of about cleanup_batch_size raw
 * rows, one transaction each in the worker; the DELETE trigger on the
 * shards (citus_raw_changed()) archives the rows there.
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "citus.h"
#include "cleanup.h"
#include "cleanup_archive.h"
#include "guc.h"
#include "job_xact.h"

/* The hour-aligned cutoffs of one run: rows before them go. */
typedef struct CleanupCutoffs
{
	TimestampTz raw_retention;	/* any raw row */
	TimestampTz raw_rolled_up;	/* raw rows of rolled-up hours; -inf = off */
	TimestampTz hourly_retention;	/* hourly rows */
} CleanupCutoffs;

/* One (hour, kind, entity_id) whose expired raw rows go in this run. */
typedef struct RawGroup
{
	TimestampTz hour;
	Datum		kind;			/* text, in the plan's memory context */
	Datum		entity_id;		/* text */
	int64		rows;			/* rows counted when listed */
	bool		fast;			/* rolled up and clean when listed */
} RawGroup;

/* The groups of one listing pass, consumed batch by batch. */
typedef struct RawPlan
{
	RawGroup   *groups;
	int			ngroups;
	int			next;			/* first group of the next batch */
	bool		slicing;		/* the group at next is being deleted in slices */
} RawPlan;

PG_FUNCTION_INFO_V1(cleanup_run_sql);

/*
 * The groups with expired raw rows, oldest hour first: everything before
 * the retention cutoff ($1), and the groups without a dirty mark before the
 * rolled-up cutoff ($2).  The recorded_at bound lets the BRIN index skip
 * recent blocks.  The fifth column: the group is rolled up and clean (its
 * rows can go through the fast archive); within an hour those come last.
 */
static const char *const cleanup_raw_groups_sql =
"SELECT g.h, g.kind, g.entity_id, g.n,"
"       EXISTS (SELECT FROM metrics_rollup.hourly_metrics x"
"                WHERE x.kind = g.kind AND x.entity_id = g.entity_id AND x.hour_start = g.h)"
"       AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d"
"                        WHERE d.kind = g.kind AND d.entity_id = g.entity_id AND d.hour_start = g.h)"
"  FROM (SELECT t.h, r.kind, r.entity_id, pg_catalog.count(*) AS n"
"          FROM metrics_rollup.raw_metrics r,"
"               LATERAL (SELECT pg_catalog.date_trunc('hour', r.recorded_at, 'UTC') AS h) t"
"         WHERE r.recorded_at < GREATEST($1, $2)"
"           AND (r.recorded_at < $1"
"                OR NOT EXISTS (SELECT 1 FROM metrics_rollup.rollup_dirty d"
"                                WHERE d.kind = r.kind AND d.entity_id = r.entity_id"
"                                  AND d.hour_start = t.h))"
"         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 LIMIT $3) g"
" ORDER BY 1, 5, 2, 3";

/*
 * One batch: the rows of several groups of one hour ($1 .. $2), found
 * through the (kind, entity_id, recorded_at) index.  $5: the hour is before
 * the retention cutoff (dirty or not, its rows go).
 */
static const char *const cleanup_raw_batch_sql =
"DELETE FROM metrics_rollup.raw_metrics r"
" USING ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[])) AS g(kind, entity_id)"
" WHERE r.kind = g.kind AND r.entity_id = g.entity_id"
"   AND r.recorded_at >= $1 AND r.recorded_at < $2"
"   AND ($5 OR NOT EXISTS (SELECT 1 FROM metrics_rollup.rollup_dirty d"
"                           WHERE d.kind = r.kind AND d.entity_id = r.entity_id"
"                             AND d.hour_start = $1))";

/* One batch of a group larger than cleanup_batch_size: $6 of its rows. */
static const char *const cleanup_raw_slice_sql =
"DELETE FROM metrics_rollup.raw_metrics r"
" WHERE r.ctid = ANY (ARRAY("
"   SELECT x.ctid FROM metrics_rollup.raw_metrics x"
"    WHERE x.kind = $3 AND x.entity_id = $4"
"      AND x.recorded_at >= $1 AND x.recorded_at < $2"
"      AND ($5 OR NOT EXISTS (SELECT 1 FROM metrics_rollup.rollup_dirty d"
"                              WHERE d.kind = x.kind AND d.entity_id = x.entity_id"
"                                AND d.hour_start = $1))"
"    LIMIT $6))";

/* Groups listed per pass: bounds the plan's memory (~100 bytes a group). */
#define CLEANUP_GROUPS_PER_PASS 100000

/* work_mem of the listing: its sort holds ~30 bytes per expired row. */
#define CLEANUP_LISTING_WORK_MEM "128MB"

static const char *const cleanup_hourly_batch_sql =
"DELETE FROM metrics_rollup.hourly_metrics h"
" WHERE h.ctid = ANY (ARRAY(SELECT x.ctid FROM metrics_rollup.hourly_metrics x"
"                           WHERE x.hour_start < $1 LIMIT $2))";

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

/*
 * List up to CLEANUP_GROUPS_PER_PASS groups with expired raw rows into plan,
 * allocated in cxt (which outlives the transaction in the worker).
 */
static void
cleanup_raw_list(const CleanupCutoffs *c, RawPlan *plan, MemoryContext cxt)
{
	Oid			argtypes[3] = {TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID};
	Datum		args[3];
	MemoryContext old;
	int			nestlevel;
	int			rc;

	args[0] = TimestampTzGetDatum(c->raw_retention);
	args[1] = TimestampTzGetDatum(c->raw_rolled_up);
	args[2] = Int32GetDatum(CLEANUP_GROUPS_PER_PASS);

	/*
	 * The listing reads every expired row once: JIT compilation costs more
	 * than it saves on it (~0.5 s), and with the default work_mem its sort
	 * spills to disk.  Both only for this statement, as a function's SET
	 * clause would do.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("work_mem", CLEANUP_LISTING_WORK_MEM, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	rc = SPI_execute_with_args(cleanup_raw_groups_sql, 3, argtypes, args,
							   NULL, true, 0);
	AtEOXact_GUC(true, nestlevel);
	catalog_spi_check(rc, SPI_OK_SELECT, "listing expired raw rows");

	old = MemoryContextSwitchTo(cxt);
	plan->ngroups = (int) SPI_processed;
	plan->next = 0;
	plan->slicing = false;
	plan->groups = palloc0(sizeof(RawGroup) * Max(plan->ngroups, 1));
	for (int i = 0; i < plan->ngroups; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		RawGroup   *g = &plan->groups[i];
		bool		isnull;

		g->hour = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 1, &isnull));
		g->kind = PointerGetDatum(DatumGetTextPCopy(SPI_getbinval(tuple, desc, 2, &isnull)));
		g->entity_id = PointerGetDatum(DatumGetTextPCopy(SPI_getbinval(tuple, desc, 3, &isnull)));
		g->rows = DatumGetInt64(SPI_getbinval(tuple, desc, 4, &isnull));
		g->fast = DatumGetBool(SPI_getbinval(tuple, desc, 5, &isnull));
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
}

/* A group too large for one batch: delete up to cleanup_batch_size of its rows. */
static int64
cleanup_raw_slice(const RawGroup *g, bool all)
{
	Oid			argtypes[6] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID,
	BOOLOID, INT4OID};
	Datum		args[6];

	args[0] = TimestampTzGetDatum(g->hour);
	args[1] = TimestampTzGetDatum(g->hour + USECS_PER_HOUR);
	args[2] = g->kind;
	args[3] = g->entity_id;
	args[4] = BoolGetDatum(all);
	args[5] = Int32GetDatum(mr_cleanup_batch_size);
	catalog_spi_check(SPI_execute_with_args(cleanup_raw_slice_sql, 6, argtypes,
											args, NULL, false, 0),
					  SPI_OK_DELETE, "deleting expired raw rows");
	return (int64) SPI_processed;
}

/* The ordinary batch: the trigger archives what the DELETE removes. */
static int64
cleanup_raw_delete(TimestampTz hour, bool all, Datum *kinds, Datum *ids, int n)
{
	Oid			argtypes[5] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID,
	TEXTARRAYOID, BOOLOID};
	Datum		args[5];

	args[0] = TimestampTzGetDatum(hour);
	args[1] = TimestampTzGetDatum(hour + USECS_PER_HOUR);
	args[2] = PointerGetDatum(construct_array(kinds, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = BoolGetDatum(all);
	catalog_spi_check(SPI_execute_with_args(cleanup_raw_batch_sql, 5, argtypes,
											args, NULL, false, 0),
					  SPI_OK_DELETE, "deleting expired raw rows");
	return (int64) SPI_processed;
}

/* A group too large for one batch: its next slice, the ordinary way. */
static int64
cleanup_raw_next_slice(const CleanupCutoffs *c, RawPlan *plan)
{
	RawGroup   *g = &plan->groups[plan->next];
	int64		deleted;

	/*
	 * The first slice's DELETE marks the group dirty (the trigger archives
	 * what it deleted), which would stop the later slices.  The group was
	 * rolled up when listed and deleted events stay counted, so the rest of
	 * it goes too.
	 */
	deleted = cleanup_raw_slice(g, g->hour < c->raw_retention || plan->slicing);
	plan->slicing = true;
	if (deleted < mr_cleanup_batch_size)
	{
		plan->next++;
		plan->slicing = false;
	}
	return deleted;
}

/*
 * One batch of raw_metrics: the next groups of one hour, all fast or all
 * not, holding at most cleanup_batch_size rows together (or a slice of one
 * larger group).  Each group's rows go in one statement, so its hourly row
 * is written once per run instead of once per batch touching it.
 */
static int64
cleanup_raw_batch(const CleanupCutoffs *c, RawPlan *plan)
{
	RawGroup   *first = &plan->groups[plan->next];
	bool		all = first->hour < c->raw_retention;
	int64		rows = first->rows;
	int			end = plan->next + 1;
	Datum	   *kinds;
	Datum	   *ids;
	int64		deleted = -1;
	int			n;

	if (first->rows > mr_cleanup_batch_size)
		return cleanup_raw_next_slice(c, plan);
	while (end < plan->ngroups && plan->groups[end].hour == first->hour &&
		   plan->groups[end].fast == first->fast &&
		   rows + plan->groups[end].rows <= mr_cleanup_batch_size)
		rows += plan->groups[end++].rows;

	n = end - plan->next;
	kinds = palloc(sizeof(Datum) * n);
	ids = palloc(sizeof(Datum) * n);
	for (int i = 0; i < n; i++)
	{
		kinds[i] = plan->groups[plan->next + i].kind;
		ids[i] = plan->groups[plan->next + i].entity_id;
	}
	if (first->fast && cleanup_archive_available())
		deleted = cleanup_archive_batch(first->hour, kinds, ids, n);
	/* not rolled up, a 1.0 installation, or the fast archive backed out */
	if (deleted < 0)
		deleted = cleanup_raw_delete(first->hour, all, kinds, ids, n);
	/* past retention, groups that turned dirty since the listing go too */
	else if (all && deleted < rows)
		deleted += cleanup_raw_delete(first->hour, all, kinds, ids, n);
	plan->next = end;
	pfree(kinds);
	pfree(ids);
	return deleted;
}

/* One batch of hourly_metrics.  Returns rows deleted. */
static int64
cleanup_hourly_batch(const CleanupCutoffs *c)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, INT4OID};
	Datum		args[2];

	args[0] = TimestampTzGetDatum(c->hourly_retention);
	args[1] = Int32GetDatum(mr_cleanup_batch_size);
	catalog_spi_check(SPI_execute_with_args(cleanup_hourly_batch_sql, 2, argtypes,
											args, NULL, false, 0),
					  SPI_OK_DELETE, "deleting expired hourly rows");
	return (int64) SPI_processed;
}

/*
 * A unit of work: in the worker its own transaction holding the runner lock
 * (committed by cleanup_unit_end); in run_cleanup() part of the caller's.
 */
static void
cleanup_unit_begin(bool in_worker, const char *activity)
{
	CHECK_FOR_INTERRUPTS();
	if (!in_worker)
		return;
	job_xact_begin(activity);
	job_runner_lock();
}

static void
cleanup_unit_end(bool in_worker)
{
	if (in_worker)
		job_xact_commit();
}

/*
 * Delete what expired from raw_metrics: list groups, delete them batch by
 * batch, list again until a pass finds nothing more.  raw->rows counts what
 * was deleted (committed, in the worker) even when a batch fails.
 */
static void
cleanup_raw(const CleanupCutoffs *c, bool in_worker, MemoryContext cxt,
			CleanupResult *raw)
{
	RawPlan		plan;
	int64		pass_rows;

	do
	{
		MemoryContextReset(cxt);
		cleanup_unit_begin(in_worker, "metrics_rollup: listing expired raw rows");
		cleanup_raw_list(c, &plan, cxt);
		cleanup_unit_end(in_worker);

		pass_rows = 0;
		while (plan.next < plan.ngroups)
		{
			int64		n;

			cleanup_unit_begin(in_worker, "metrics_rollup: deleting expired raw rows");
			n = cleanup_raw_batch(c, &plan);
			cleanup_unit_end(in_worker);
			raw->rows += n;
			pass_rows += n;
		}
	} while (plan.ngroups == CLEANUP_GROUPS_PER_PASS && pass_rows > 0);
}

/* Delete expired hourly rows, batch by batch. */
static void
cleanup_hourly(const CleanupCutoffs *c, bool in_worker, CleanupResult *hourly)
{
	int64		n;

	do
	{
		cleanup_unit_begin(in_worker, "metrics_rollup: deleting expired hourly rows");
		n = cleanup_hourly_batch(c);
		cleanup_unit_end(in_worker);
		hourly->rows += n;
	} while (n >= mr_cleanup_batch_size);
}

/*
 * One hour on Citus: its entities listed, then batches of about
 * cleanup_batch_size raw rows, each deleted in its own unit (the shard
 * trigger archives them).  expired: the hour is past retention_days.
 */
static void
cleanup_citus_hour(TimestampTz hour, bool expired, bool in_worker,
				   MemoryContext cxt, CleanupResult *raw)
{
	Datum	   *batches;
	int			count;

	cleanup_unit_begin(in_worker, "metrics_rollup: listing an hour's groups");
	batches = citus_cleanup_batches(hour, mr_cleanup_batch_size, cxt, &count);
	cleanup_unit_end(in_worker);
	for (int i = 0; i < count; i++)
	{
		cleanup_unit_begin(in_worker, "metrics_rollup: deleting expired raw rows");
		raw->rows += citus_cleanup_hour(hour, batches[i], expired);
		cleanup_unit_end(in_worker);
		pfree(DatumGetPointer(batches[i]));
	}
	pfree(batches);
}

/*
 * On Citus (citus.c): hour by hour, as on one node: past retention_days
 * every raw row, past the rolled-up cutoff those of clean groups; the
 * shard trigger citus_raw_changed() archives what is deleted.
 */
static void
cleanup_run_citus(const CleanupCutoffs *c, bool in_worker, MemoryContext cxt,
				  CleanupResult *raw, CleanupResult *hourly)
{
	TimestampTz before = Max(c->raw_retention, c->raw_rolled_up);
	TimestampTz *hours;
	int			count;

	raw->start = GetCurrentTimestamp();
	cleanup_unit_begin(in_worker, "metrics_rollup: listing expired raw rows");
	hours = citus_cleanup_hours(before, cxt, &count);
	cleanup_unit_end(in_worker);
	for (int i = 0; i < count; i++)
		cleanup_citus_hour(hours[i], hours[i] < c->raw_retention, in_worker, cxt, raw);
	raw->end = hourly->start = GetCurrentTimestamp();
	cleanup_unit_begin(in_worker, "metrics_rollup: deleting expired hourly rows");
	hourly->rows += citus_cleanup_hourly(c->hourly_retention);
	cleanup_unit_end(in_worker);
	hourly->end = GetCurrentTimestamp();
}

/* Is raw_metrics a distributed table?  One short unit in the worker. */
static bool
cleanup_distributed(bool in_worker)
{
	bool		distributed;

	cleanup_unit_begin(in_worker, "metrics_rollup: cleanup starting");
	distributed = citus_raw_distributed();
	cleanup_unit_end(in_worker);
	return distributed;
}

/* The whole run, shared by run_cleanup() and the worker. */
static void
cleanup_run(bool in_worker, MemoryContext cxt, CleanupResult *raw, CleanupResult *hourly)
{
	CleanupCutoffs cutoffs;

	cleanup_cutoffs(GetCurrentTimestamp(), &cutoffs);
	if (cleanup_distributed(in_worker))
	{
		cleanup_run_citus(&cutoffs, in_worker, cxt, raw, hourly);
		return;
	}
	raw->start = GetCurrentTimestamp();
	cleanup_raw(&cutoffs, in_worker, cxt, raw);
	raw->end = hourly->start = GetCurrentTimestamp();
	cleanup_hourly(&cutoffs, in_worker, hourly);
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
	CleanupResult raw = {0};
	CleanupResult hourly = {0};
	MemoryContext cxt;

	InitMaterializedSRF(fcinfo, 0);
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("run_cleanup cannot run during recovery"),
				 errhint("Call it on the primary server.")));
	citus_forbid_worker_node("run_cleanup()");

	cxt = AllocSetContextCreate(CurrentMemoryContext, "metrics_rollup cleanup",
								ALLOCSET_DEFAULT_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	job_runner_lock();
	cleanup_run(false, cxt, &raw, &hourly);
	SPI_finish();
	MemoryContextDelete(cxt);

	cleanup_put_row(rsinfo, "metrics_rollup.raw_metrics", &raw);
	cleanup_put_row(rsinfo, "metrics_rollup.hourly_metrics", &hourly);
	return (Datum) 0;
}

/* Is the extension there yet?  One short transaction of the worker. */
static bool
cleanup_worker_ready(void)
{
	bool		ready;

	job_xact_begin("metrics_rollup: cleanup starting");
	ready = catalog_extension_ready();
	job_xact_commit();
	return ready;
}

void
cleanup_worker_run(CleanupResult *raw, CleanupResult *hourly)
{
	static MemoryContext cleanup_cxt = NULL;

	Assert(!IsTransactionState());
	memset(raw, 0, sizeof(*raw));
	memset(hourly, 0, sizeof(*hourly));
	if (!mr_cleanup_enabled || RecoveryInProgress() || !cleanup_worker_ready())
		return;

	/* the listed groups outlive the transactions; reset for every pass */
	if (cleanup_cxt == NULL)
		cleanup_cxt = AllocSetContextCreate(TopMemoryContext,
											"metrics_rollup cleanup",
											ALLOCSET_DEFAULT_SIZES);
	cleanup_run(true, cleanup_cxt, raw, hourly);
	MemoryContextReset(cleanup_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
}
