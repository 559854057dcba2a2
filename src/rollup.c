/*-------------------------------------------------------------------------
 *
 * rollup.c
 *	  The hourly rollup: run_rollup() and the worker's rollup_worker_run().
 *
 * Owns: rolling up the groups (kind, entity_id, UTC hour) marked in
 * metrics_rollup.rollup_dirty into metrics_rollup.hourly_metrics.
 *
 * The rule (why every event is counted in its hour exactly once):
 *   - An event is always in exactly one place: its raw row in raw_metrics,
 *     or, once that row is deleted, the hourly row's "archived" summary (the
 *     DELETE trigger moves it there in the deleting transaction).
 *   - Any INSERT, UPDATE or DELETE of raw rows marks their groups dirty
 *     (statement triggers, see the rollup section of the extension script).
 *   - Rolling up a dirty group writes archived (+) all of the group's raw
 *     rows into its hourly row and removes the mark, in one transaction.
 *     When those events were summarised in one pass (all still raw, or all
 *     archived by one DELETE) percentiles are exact (percentile_cont); after
 *     a merge they come from the combined sketch (percentiles_exact = false).
 *     Raw rows are never deleted here, so nothing can be counted twice.
 *   - Every hourly row counts a subset of archived (+) raw, so when its count
 *     already equals theirs it is unchanged and is not rewritten (unless the
 *     mark says force: raw rows were updated, or run_rollup(since)).
 *
 * Races with writers: marks are append-only (1.2): every writing
 * statement appends its own marks, no key, no ON CONFLICT, no row lock.
 * The rollup deletes an hour's marks in one statement, which deletes
 * exactly the marks its snapshot sees, and reads raw rows in the next
 * statement WITH THE SAME SNAPSHOT (rollup_groups): a writer whose mark the
 * DELETE saw had committed its rows too, so they are read; a writer in
 * flight commits its rows and its mark together, later: neither is seen,
 * the mark survives and the next run rolls the group up again.  So an
 * hourly row counts exactly the rows of the marks that were taken, and the
 * marks left (with their partial summaries, 1.2) exactly the rows it did
 * not see: queries add the two (query_pieces()).  Nothing else deletes
 * marks except compact_marks(), under the same runner lock, so the DELETE
 * never waits for a row lock (which in READ COMMITTED would make it see
 * marks its snapshot does not).  Nobody waits, so writers never deadlock on
 * marks.  (1.0 and 1.1 schemas keep their primary key and ON CONFLICT
 * triggers, whose marks the DELETE may wait for: there each statement takes
 * a new snapshot, READ COMMITTED, and run_rollup(since) uses ON CONFLICT.)
 *
 * A failing group (1.2): each hour runs in a subtransaction; a data error
 * (job_is_data_error) makes it go group by group, and a group that still
 * fails is set aside in rollup_failures with its marks kept (queries read
 * its raw rows; it is tried again by every run), as the flush isolates a
 * poison event.
 *
 * One runner at a time: transaction-level advisory lock
 * job_runner_lock() (job_xact.c), shared with cleanup; a second runner waits.  The
 * SQL function holds it for the caller's whole transaction (atomic, cannot
 * commit); the worker path commits, and so releases it, after every hour.
 *
 * After the hours, both paths build the daily level (daily.c): the (kind,
 * UTC day)s the hourly changes queued, once they are ready.  run_rollup()
 * builds every ready day in the caller's transaction; the worker commits
 * after every DAILY_DAYS_PER_XACT days (each transaction holds SHARE on
 * hourly_metrics) and builds at most DAILY_DAYS_PER_RUN days per run, so a
 * year queued by ALTER EXTENSION UPDATE does not hold up the other jobs.
 *
 * On Citus (raw_metrics distributed, citus.c): each unit's marks are taken
 * and its groups recomputed by citus_rollup_groups (one INSERT ... SELECT
 * pushed down to the shard groups); every run first marks the late-data
 * window (applications' own rows carry no mark there); the daily level is
 * built as on one node (daily.c; citus.c invalidates its days); run_rollup()
 * refuses on a worker node.
 *
 * run_rollup_background() starts a dynamic background worker that runs
 * rollup_worker_run() once, as the metrics_rollup worker would.
 *
 * Must never: delete raw rows; read or write shared memory; build SQL from
 * values (everything is passed as parameters).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "citus.h"
#include "daily.h"
#include "guc.h"
#include "job_xact.h"
#include "rollup.h"
#include "security.h"

/* the worker path's running totals, kept across an error */
static RollupTotals rollup_worker_totals;

PG_FUNCTION_INFO_V1(rollup_run_sql);
PG_FUNCTION_INFO_V1(rollup_run_background);

/* entry point of the worker run_rollup_background() starts */

/*
 * Take out this hour's marks; the groups come back as three arrays, with
 * their number and the number of hourly rows the hour already has.
 */
static const char *const rollup_take_marks_sql =
"WITH x AS (DELETE FROM metrics_rollup.rollup_dirty WHERE hour_start = $1"
"           RETURNING kind, entity_id, force),"
"     g AS (SELECT kind, entity_id, pg_catalog.bool_or(force) AS force"
"             FROM x GROUP BY kind, entity_id ORDER BY kind, entity_id)"
" SELECT pg_catalog.array_agg(kind), pg_catalog.array_agg(entity_id),"
"        pg_catalog.array_agg(force), pg_catalog.count(*),"
"        (SELECT pg_catalog.count(*) FROM metrics_rollup.hourly_metrics WHERE hour_start = $1)"
"   FROM g";

/* The same for one group of the hour: $2 kind, $3 entity_id. */
static const char *const rollup_take_group_marks_sql =
"WITH x AS (DELETE FROM metrics_rollup.rollup_dirty"
"            WHERE hour_start = $1 AND kind = $2 AND entity_id = $3"
"           RETURNING kind, entity_id, force),"
"     g AS (SELECT kind, entity_id, pg_catalog.bool_or(force) AS force"
"             FROM x GROUP BY kind, entity_id)"
" SELECT pg_catalog.array_agg(kind), pg_catalog.array_agg(entity_id),"
"        pg_catalog.array_agg(force), pg_catalog.count(*), 0::bigint"
"   FROM g";

/* The groups an hour has marks for, for the one-by-one retry. */
static const char *const rollup_hour_groups_sql =
"SELECT DISTINCT kind, entity_id FROM metrics_rollup.rollup_dirty"
" WHERE hour_start = $1 ORDER BY 1, 2";

/*
 * Recompute the taken groups as archived (+) their raw rows.  $1 hour,
 * $2 kinds, $3 entity ids, $4 force flags.  Returns rows written and raw
 * rows read.  A group left with neither raw rows nor archived events (its raw
 * rows were UPDATEd into another group) loses its hourly row.
 *
 * CTE "a" aggregates the raw rows of the taken groups, in one of two ways
 * (both fix the plan; a planner-chosen join sorted the hour's rows on disk):
 *   - ROLLUP_GROUPS_BY_RANGE: one scan of the hour (BRIN index on
 *     recorded_at) aggregated by hash, for hours where most groups are dirty
 *     (e.g. the hour just ended): every heap page is read once;
 *   - ROLLUP_GROUPS_BY_INDEX: one range scan of raw_metrics_entity_time_idx
 *     per group (LATERAL), for a few late groups in a big hour.
 */
#define ROLLUP_GROUPS_BY_RANGE \
" a AS MATERIALIZED (" \
"    SELECT d.kind, d.entity_id, d.force, x.s" \
"      FROM d LEFT JOIN (" \
"           SELECT r.kind, r.entity_id," \
"                  metrics_rollup.rollup_agg(r.response_time, r.success, r.recorded_at, r.entity_name) AS s" \
"             FROM metrics_rollup.raw_metrics r" \
"            WHERE r.recorded_at >= $1 AND r.recorded_at < $1 + interval '1 hour'" \
"            GROUP BY r.kind, r.entity_id) x USING (kind, entity_id)),"

#define ROLLUP_GROUPS_BY_INDEX \
" a AS MATERIALIZED (" \
"    SELECT d.kind, d.entity_id, d.force, x.s" \
"      FROM d CROSS JOIN LATERAL (" \
"           SELECT metrics_rollup.rollup_agg(r.response_time, r.success, r.recorded_at, r.entity_name) AS s" \
"             FROM metrics_rollup.raw_metrics r" \
"            WHERE r.kind = d.kind AND r.entity_id = d.entity_id" \
"              AND r.recorded_at >= $1 AND r.recorded_at < $1 + interval '1 hour') x),"

#define ROLLUP_WRITE_SQL(groups) \
"WITH d AS MATERIALIZED (" \
"    SELECT * FROM ROWS FROM (pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::text[])," \
"                             pg_catalog.unnest($4::boolean[])) AS d(kind, entity_id, force)),"	\
groups \
" m AS (" \
"    SELECT a.kind, a.entity_id," \
"           metrics_rollup.rollup_stats_merge(h.archived, a.s) AS s" \
"      FROM a LEFT JOIN metrics_rollup.hourly_metrics h" \
"        ON h.kind = a.kind AND h.entity_id = a.entity_id AND h.hour_start = $1" \
"     WHERE a.force OR h.total_count IS DISTINCT FROM" \
"           coalesce((a.s).total_count, 0) + coalesce((h.archived).total_count, 0))," \
" w AS (" \
"    INSERT INTO metrics_rollup.hourly_metrics AS h" \
"           (kind, entity_id, entity_name, hour_start, total_count, success_count, failure_count," \
"            min_response_time, max_response_time, avg_response_time," \
"            p50_response_time, p95_response_time, p99_response_time," \
"            sketch, sum_response_time, last_recorded_at, percentiles_exact)" \
"    SELECT m.kind, m.entity_id, (m.s).entity_name, $1, (m.s).total_count, (m.s).success_count," \
"           (m.s).total_count - (m.s).success_count, (m.s).min_value, (m.s).max_value," \
"           ((m.s).sum_value / (m.s).total_count)::double precision," \
"           (m.s).p50, (m.s).p95, (m.s).p99," \
"           (m.s).sketch, (m.s).sum_value, (m.s).last_at, (m.s).percentiles_exact" \
"      FROM m WHERE (m.s).total_count IS NOT NULL" \
"    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET" \
"           entity_name = coalesce(excluded.entity_name, h.entity_name)," \
"           total_count = excluded.total_count, success_count = excluded.success_count," \
"           failure_count = excluded.failure_count," \
"           min_response_time = excluded.min_response_time," \
"           max_response_time = excluded.max_response_time," \
"           avg_response_time = excluded.avg_response_time," \
"           p50_response_time = excluded.p50_response_time," \
"           p95_response_time = excluded.p95_response_time," \
"           p99_response_time = excluded.p99_response_time," \
"           sketch = excluded.sketch," \
"           sum_response_time = excluded.sum_response_time," \
"           last_recorded_at = excluded.last_recorded_at," \
"           percentiles_exact = excluded.percentiles_exact," \
"           updated_at = pg_catalog.now()" \
"    RETURNING 1)," \
" gone AS (" \
"    DELETE FROM metrics_rollup.hourly_metrics h USING m" \
"     WHERE (m.s).total_count IS NULL" \
"       AND h.kind = m.kind AND h.entity_id = m.entity_id AND h.hour_start = $1" \
"    RETURNING 1)" \
" SELECT (SELECT pg_catalog.count(*) FROM w) + (SELECT pg_catalog.count(*) FROM gone)," \
"        (SELECT coalesce(pg_catalog.sum((s).total_count), 0) FROM a)::bigint"

static const char *const rollup_write_by_range_sql =
ROLLUP_WRITE_SQL(ROLLUP_GROUPS_BY_RANGE);
static const char *const rollup_write_by_index_sql =
ROLLUP_WRITE_SQL(ROLLUP_GROUPS_BY_INDEX);

/*
 * The range scan pays when at least this fraction of the hour's groups is
 * dirty (measured: 5M rows, 1000 groups an hour, all dirty: range 0.33 x the
 * user's SQL, index 0.50 x).
 */
#define ROLLUP_RANGE_MIN_SHARE 0.25

/*
 * The worker's daily builds: days per transaction (a (kind, day) of 1000
 * entities merges 24,000 hourly rows, ~0.1 s) and per run.
 */
#define DAILY_DAYS_PER_XACT 8
#define DAILY_DAYS_PER_RUN 256


/*
 * run_rollup(since): mark every group from since's UTC hour on, forced.
 * Marks are append-only from version 1.2 on; a 1.0/1.1 installation still
 * has the primary key on rollup_dirty (and its ON CONFLICT protocol).
 */
#define ROLLUP_MARK_SINCE_SELECT \
"INSERT INTO metrics_rollup.rollup_dirty AS d (kind, entity_id, hour_start, force)" \
" SELECT kind, entity_id, pg_catalog.date_trunc('hour', recorded_at, 'UTC'), true" \
"   FROM metrics_rollup.raw_metrics" \
"  WHERE recorded_at >= pg_catalog.date_trunc('hour', $1, 'UTC')" \
" UNION" \
" SELECT kind, entity_id, hour_start, true" \
"   FROM metrics_rollup.hourly_metrics" \
"  WHERE hour_start >= pg_catalog.date_trunc('hour', $1, 'UTC')"

static const char *const rollup_mark_since_sql =
ROLLUP_MARK_SINCE_SELECT " ORDER BY 1, 2, 3";
static const char *const rollup_mark_since_1_1_sql =
ROLLUP_MARK_SINCE_SELECT
" ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET force = true";

/* A group set aside: $1 hour, $2 kind, $3 entity_id, $4 SQLSTATE, $5 message. */
static const char *const rollup_failure_sql =
"INSERT INTO metrics_rollup.rollup_failures AS f"
"       (level, kind, entity_id, period_start, error_sqlstate, error_message)"
" VALUES ('hour', $2, $3, $1, $4, $5)"
" ON CONFLICT (level, kind, entity_id, period_start) DO UPDATE SET"
"       failures = f.failures + 1, last_failed_at = excluded.last_failed_at,"
"       error_sqlstate = excluded.error_sqlstate, error_message = excluded.error_message";

/* Every group of the hour went through: none of them is failing any more. */
static const char *const rollup_failures_clear_sql =
"DELETE FROM metrics_rollup.rollup_failures"
" WHERE level = 'hour' AND period_start = $1"
"   AND ($2::text IS NULL OR (kind = $2 AND entity_id = $3))";

static const char *const rollup_dirty_hours_sql =
"SELECT DISTINCT hour_start FROM metrics_rollup.rollup_dirty ORDER BY 1";

/*
 * The mark protocol needs a new snapshot per statement (see the file
 * header), which only READ COMMITTED gives.
 */
static void
rollup_require_read_committed(void)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("run_rollup must run at isolation level READ COMMITTED"),
				 errdetail("The rollup reads rows committed while it waits for concurrent writers, which needs a new snapshot for each statement."),
				 errhint("Call run_rollup() outside an explicit REPEATABLE READ or SERIALIZABLE transaction.")));
}

/* run_rollup(since): force every group from since's hour on. */
static void
rollup_mark_since(TimestampTz since)
{
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(since)};
	const char *sql = catalog_schema_1_2() ? rollup_mark_since_sql : rollup_mark_since_1_1_sql;

	catalog_spi_check(SPI_execute_with_args(sql, 1, argtypes,
										   args, NULL, false, 0),
					 SPI_OK_INSERT, "marking hours since the given time");
}

/*
 * On Citus no trigger marks what applications INSERT or COPY into the
 * distributed raw_metrics themselves: every run re-processes the late-data
 * window (the current hour and the late_data_hours before it), as
 * run_rollup(since) would.
 */
static void
rollup_mark_late_window(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (!citus_raw_distributed())
		return;
	rollup_mark_since(now - now % USECS_PER_HOUR -
					  (int64) mr_late_data_hours * USECS_PER_HOUR);
}

/*
 * The hours that have dirty groups now, oldest first, palloc'd in the
 * caller's memory context.  Later marks wait for the next run: a run under
 * a steady stream of inserts still ends.
 */
static TimestampTz *
rollup_dirty_hours(int *count)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz *hours;
	bool		isnull;

	catalog_spi_check(SPI_execute(rollup_dirty_hours_sql, false, 0),
					 SPI_OK_SELECT, "listing dirty hours");
	*count = (int) SPI_processed;
	hours = MemoryContextAlloc(caller, sizeof(TimestampTz) * Max(*count, 1));
	for (int i = 0; i < *count; i++)
		hours[i] = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i],
													 SPI_tuptable->tupdesc,
													 1, &isnull));
	SPI_freetuptable(SPI_tuptable);
	return hours;
}

/* What rollup_groups() works on: one hour, all its groups or one of them. */
typedef struct RollupUnit
{
	TimestampTz hour;
	Datum		kind;			/* (Datum) 0: every marked group of the hour */
	Datum		entity_id;
	RollupTotals *totals;
} RollupUnit;

/*
 * Run one statement of rollup_groups: with the unit's snapshot when it has
 * one (1.2 schema), else with a new snapshot (READ COMMITTED).
 */
static void
rollup_execute(const char *sql, int nargs, Oid *types, Datum *args,
			   Snapshot snapshot, const char *what)
{
	SPIPlanPtr	plan;

	if (snapshot == InvalidSnapshot)
	{
		catalog_spi_check(SPI_execute_with_args(sql, nargs, types, args, NULL,
												false, 0),
						  SPI_OK_SELECT, what);
		return;
	}
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for %s: %s", what,
			 SPI_result_code_string(SPI_result));
	/* not read-only: the command counter moves, our own writes are seen */
	catalog_spi_check(SPI_execute_snapshot(plan, args, NULL, snapshot,
										   InvalidSnapshot, false, true, 0),
					  SPI_OK_SELECT, what);
	SPI_freeplan(plan);
}

/*
 * Roll up the marked groups of one unit, in the current transaction (the
 * runner lock must be held): take (delete) exactly the marks this
 * statement sees, then recompute those groups from the raw rows of the
 * same snapshot (1.2; a new one for a 1.0/1.1 schema: see the file header).
 */
static void
rollup_groups(void *arg)
{
	RollupUnit *unit = (RollupUnit *) arg;
	Oid			take_types[3] = {TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Oid			write_types[4] = {TIMESTAMPTZOID, TEXTARRAYOID, TEXTARRAYOID,
	BOOLARRAYOID};
	Datum		args[4];
	bool		isnull;
	SPITupleTable *marks;
	int64		dirty_groups;
	int64		known_groups;
	const char *write_sql;
	Snapshot	snapshot = InvalidSnapshot;

	/* on Citus: one statement pushed down to the shard groups (citus.c) */
	if (citus_raw_distributed())
	{
		citus_rollup_groups(unit->hour, unit->kind, unit->entity_id, unit->totals);
		return;
	}
	args[0] = TimestampTzGetDatum(unit->hour);
	args[1] = unit->kind;
	args[2] = unit->entity_id;
	/* one snapshot for both statements; registered, so it outlives them */
	if (catalog_schema_1_2())
		snapshot = RegisterSnapshot(GetLatestSnapshot());
	if (unit->kind == (Datum) 0)
		rollup_execute(rollup_take_marks_sql, 1, take_types, args, snapshot,
					   "taking dirty marks");
	else
		rollup_execute(rollup_take_group_marks_sql, 3, take_types, args,
					   snapshot, "taking a group's dirty marks");
	marks = SPI_tuptable;
	args[1] = SPI_getbinval(marks->vals[0], marks->tupdesc, 1, &isnull);
	if (isnull)
	{
		/* another runner took them before we got the lock */
		SPI_freetuptable(marks);
		if (snapshot != InvalidSnapshot)
			UnregisterSnapshot(snapshot);
		return;
	}
	if (unit->kind == (Datum) 0)
		unit->totals->hours++;
	args[2] = SPI_getbinval(marks->vals[0], marks->tupdesc, 2, &isnull);
	args[3] = SPI_getbinval(marks->vals[0], marks->tupdesc, 3, &isnull);
	dirty_groups = DatumGetInt64(SPI_getbinval(marks->vals[0], marks->tupdesc,
											   4, &isnull));
	known_groups = DatumGetInt64(SPI_getbinval(marks->vals[0], marks->tupdesc,
											   5, &isnull));
	/* one group alone (unit->kind set) always goes through the index */
	write_sql = unit->kind == (Datum) 0 &&
		dirty_groups >= ROLLUP_RANGE_MIN_SHARE * Max(known_groups, dirty_groups) ?
		rollup_write_by_range_sql : rollup_write_by_index_sql;

	/* the raw rows of the marks' snapshot: see the file header */
	rollup_execute(write_sql, 4, write_types, args, snapshot,
				   "writing hourly rows");
	if (snapshot != InvalidSnapshot)
		UnregisterSnapshot(snapshot);
	unit->totals->rows_written += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc,
															  1, &isnull));
	unit->totals->raw_rows += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc,
														  2, &isnull));
	SPI_freetuptable(SPI_tuptable);
	SPI_freetuptable(marks);
}

/* The set-aside group's row in rollup_failures (rollup_groups rolled back). */
static void
rollup_set_aside(const RollupUnit *unit, const ErrorData *edata)
{
	Oid			types[5] = {TIMESTAMPTZOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[5];

	args[0] = TimestampTzGetDatum(unit->hour);
	args[1] = unit->kind;
	args[2] = unit->entity_id;
	args[3] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	args[4] = CStringGetTextDatum(edata->message ? edata->message : "");
	catalog_spi_check(SPI_execute_with_args(rollup_failure_sql, 5, types, args,
										   NULL, false, 0),
					 SPI_OK_INSERT, "recording a failed group");
	if (unit->totals->groups_failed++ == 0)
	{
		unit->totals->failure_sqlstate = edata->sqlerrcode;
		strlcpy(unit->totals->failure_message,
				edata->message ? edata->message : "",
				sizeof(unit->totals->failure_message));
	}
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("metrics_rollup could not roll up kind \"%s\", entity \"%s\", hour %s: %s",
					TextDatumGetCString(unit->kind), TextDatumGetCString(unit->entity_id),
					timestamptz_to_str(unit->hour), edata->message ? edata->message : ""),
			 errdetail("The group stays dirty and is tried again by every rollup; the other groups went on."),
			 errhint("See metrics_rollup.rollup_failures.")));
}

/* $1 hour, $2/$3 one group, or every group of the hour when $2 is NULL. */
static void
rollup_failures_clear(TimestampTz hour, Datum kind, Datum entity_id)
{
	Oid			types[3] = {TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		args[3] = {TimestampTzGetDatum(hour), kind, entity_id};
	char		nulls[3] = {' ', kind ? ' ' : 'n', kind ? ' ' : 'n'};

	catalog_spi_check(SPI_execute_with_args(rollup_failures_clear_sql, 3, types,
										   args, nulls, false, 0),
					 SPI_OK_DELETE, "clearing failed groups");
}

/*
 * The hour failed with a data error: roll its groups up one by one, each in
 * its own subtransaction, setting aside those that fail (they keep their
 * marks).
 */
static void
rollup_hour_by_group(TimestampTz hour, RollupTotals *totals)
{
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		args[1] = {TimestampTzGetDatum(hour)};
	SPITupleTable *groups;

	catalog_spi_check(SPI_execute_with_args(rollup_hour_groups_sql, 1, types, args,
										   NULL, false, 0),
					 SPI_OK_SELECT, "listing an hour's groups");
	groups = SPI_tuptable;
	for (uint64 i = 0; i < groups->numvals; i++)
	{
		RollupUnit	unit = {hour, 0, 0, totals};
		bool		isnull;
		ErrorData  *edata;

		CHECK_FOR_INTERRUPTS();
		unit.kind = SPI_getbinval(groups->vals[i], groups->tupdesc, 1, &isnull);
		unit.entity_id = SPI_getbinval(groups->vals[i], groups->tupdesc, 2, &isnull);
		edata = job_try_isolated(rollup_groups, &unit, NULL);
		if (edata == NULL)
			rollup_failures_clear(hour, unit.kind, unit.entity_id);
		else
		{
			rollup_set_aside(&unit, edata);
			FreeErrorData(edata);
		}
	}
	SPI_freetuptable(groups);
}

/*
 * Roll up the dirty groups of one hour, in the current transaction (the
 * runner lock must be held).  From 1.2 on the hour runs in a
 * subtransaction; a data error (one group's poison: a user's constraint or
 * trigger on hourly_metrics, a value written before the input rule) makes
 * the hour go group by group, as the flush isolates a poison event.
 */
static void
rollup_hour(TimestampTz hour, RollupTotals *totals)
{
	RollupUnit	unit = {hour, 0, 0, totals};
	ErrorData  *edata;
	RollupTotals before = *totals;

	if (!catalog_schema_1_2())
	{
		rollup_groups(&unit);
		return;
	}
	edata = job_try_isolated(rollup_groups, &unit, NULL);
	if (edata == NULL)
	{
		rollup_failures_clear(hour, (Datum) 0, (Datum) 0);
		return;
	}
	FreeErrorData(edata);
	/* the failed try's figures were rolled back with it */
	totals->hours = before.hours + 1;
	totals->rows_written = before.rows_written;
	totals->raw_rows = before.raw_rows;
	rollup_hour_by_group(hour, totals);
}

/*
 * run_rollup(since timestamptz DEFAULT NULL): every dirty hour, in the
 * caller's transaction.
 */
Datum
rollup_run_sql(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz start = GetCurrentTimestamp();
	RollupTotals totals = {0};
	TimestampTz *hours;
	int			count;
	Datum		values[4];
	bool		nulls[4] = {0};
	Interval   *duration;

	InitMaterializedSRF(fcinfo, 0);
	rollup_require_read_committed();
	citus_forbid_worker_node("run_rollup()");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	job_runner_lock();
	if (!PG_ARGISNULL(0))
		rollup_mark_since(PG_GETARG_TIMESTAMPTZ(0));
	else
		rollup_mark_late_window();
	hours = rollup_dirty_hours(&count);
	for (int i = 0; i < count; i++)
	{
		CHECK_FOR_INTERRUPTS();
		rollup_hour(hours[i], &totals);
	}
	/* every ready day, in this transaction too */
	daily_build(0, &totals.daily);
	SPI_finish();

	duration = palloc0(sizeof(Interval));
	duration->time = GetCurrentTimestamp() - start;
	values[0] = Int32GetDatum(totals.hours);
	values[1] = Int64GetDatum(totals.raw_rows);
	values[2] = Int64GetDatum(totals.rows_written);
	values[3] = IntervalPGetDatum(duration);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * The worker's daily builds after its hours: DAILY_DAYS_PER_XACT days per
 * transaction, until none is ready or DAILY_DAYS_PER_RUN are done.
 */
static void
rollup_worker_build_days(RollupTotals *totals)
{
	int			built = 0;

	while (built < DAILY_DAYS_PER_RUN)
	{
		int			n;

		CHECK_FOR_INTERRUPTS();
		job_xact_begin("metrics_rollup: building daily rows");
		if (!catalog_extension_ready())
		{
			job_xact_commit();
			break;
		}
		job_runner_lock();
		n = daily_build(DAILY_DAYS_PER_XACT, &totals->daily);
		job_xact_commit();
		built += n;
		if (n < DAILY_DAYS_PER_XACT)
			break;
	}
	if (built > 0)
		elog(DEBUG1, "metrics_rollup: built %d days of daily rows (%lld rows)",
			 built, (long long) totals->daily.rows);
}

void
rollup_worker_run(void)
{
	static MemoryContext rollup_worker_cxt = NULL;
	RollupTotals *totals = &rollup_worker_totals;
	TimestampTz *hours = NULL;
	int			count = 0;
	MemoryContext old;

	Assert(!IsTransactionState());
	memset(totals, 0, sizeof(RollupTotals));
	if (!mr_rollup_enabled || RecoveryInProgress())
		return;

	/* the list of hours outlives the transactions; reset on every call */
	if (rollup_worker_cxt == NULL)
		rollup_worker_cxt = AllocSetContextCreate(TopMemoryContext,
												  "metrics_rollup rollup",
												  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(rollup_worker_cxt);

	job_xact_begin("metrics_rollup: listing dirty hours");
	if (catalog_extension_ready())
	{
		rollup_mark_late_window();
		old = MemoryContextSwitchTo(rollup_worker_cxt);
		hours = rollup_dirty_hours(&count);
		MemoryContextSwitchTo(old);
	}
	job_xact_commit();

	for (int i = 0; i < count; i++)
	{
		char		activity[128];

		CHECK_FOR_INTERRUPTS();
		snprintf(activity, sizeof(activity),
				 "metrics_rollup: rolling up hour %s (%d of %d)",
				 timestamptz_to_str(hours[i]), i + 1, count);
		job_xact_begin(activity);
		job_runner_lock();
		rollup_hour(hours[i], totals);
		job_xact_commit();
	}
	rollup_worker_build_days(totals);
	pgstat_report_activity(STATE_IDLE, NULL);
}

RollupTotals
rollup_worker_last_totals(void)
{
	return rollup_worker_totals;
}

/*
 * run_rollup_background() RETURNS integer: start rollup_worker_run() in a
 * new background worker (one transaction per hour; worker.c's
 * worker_rollup_main); returns its pid.
 */
Datum
rollup_run_background(PG_FUNCTION_ARGS)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;
	pid_t		pid;
	Oid			useroid = GetUserId();

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_rollup");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "worker_rollup_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_rollup rollup (manual)");
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_rollup rollup");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, &useroid, sizeof(Oid));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("could not start a background worker for the rollup"),
				 errhint("Raise max_worker_processes, or call run_rollup() instead.")));
	if (WaitForBackgroundWorkerStartup(handle, &pid) != BGWH_STARTED)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("the rollup background worker did not start"),
				 errhint("Check the server log.")));
	PG_RETURN_INT32(pid);
}
