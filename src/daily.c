/*-------------------------------------------------------------------------
 *
 * daily.c
 *	  The daily level: builds metrics_rollup.daily_metrics from
 *	  metrics_rollup.hourly_metrics, one whole (kind, UTC day) at a time.
 *
 * Owns: daily_build(), which empties daily_queue of the (kind, day)s that
 * are ready, replacing each one's daily rows by a GROUP BY over its hourly
 * rows and setting its daily_built marker.  The invalidation side (the
 * triggers on hourly_metrics that delete markers and queue days) and the
 * reading side (query_aggregate()) live in the extension script's "daily"
 * and "queries" sections, which also state the counting rule.
 *
 * Ready means: the day has ended (day_start + 24 hours <= now()), no
 * rollup_dirty mark of the kind lies inside it (every hourly row then
 * equals archived (+) raw of its hour) and no daily_holes row of the kind
 * does (an hour with raw rows but no hourly row: not buildable from hourly
 * rows).  Days that are not ready stay queued for a later run.
 *
 * Locking: the caller holds the runner lock (job_runner_lock(), which keeps
 * rollup and cleanup out).  Before reading hourly rows this takes SHARE on
 * hourly_metrics until the end of the transaction: writers of hourly rows
 * (the archive trigger of a user's DELETE on raw_metrics, a user's DML)
 * wait, so none can change a day between its read and its marker.  SHARE
 * does not block the flush (raw_metrics and rollup_dirty only).
 *
 * A failing day.  From 1.2 on each day is built in a subtransaction; a
 * data error (job_is_data_error) rolls back that day only, records it in
 * rollup_failures (level 'day', entity_id '') and leaves it queued: the
 * daily rows of the day stay absent, so queries read its hourly rows, and
 * every run tries it again after the days that did not fail.
 *
 * On Citus (raw_metrics distributed, src/citus.c): hourly_metrics,
 * daily_metrics and rollup_dirty are distributed, daily_queue, daily_built
 * and rollup_failures local to the coordinator.  The ready query gets the
 * marked (kind, day)s from a statement of its own (no join of a local and
 * a distributed table), daily_holes is not consulted (no trigger fills it
 * there), and a day's INSERT ... SELECT, grouped by entity_id, runs on the
 * shard groups.  Invalidation there is citus.c's (no triggers).
 *
 * Versions: a 1.0 installation running this library has no daily tables;
 * daily_build() then does nothing (catalog_schema_1_1(), checked at every call:
 * two catalog lookups).
 *
 * Must never: touch raw_metrics; write hourly_metrics; build SQL from
 * values (everything is passed as parameters).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "citus.h"
#include "daily.h"
#include "job_xact.h"

/* The ready (kind, day)s, oldest first; $1 how many at most (NULL: all). */
static const char *const daily_ready_sql =
"SELECT q.kind, q.day_start FROM metrics_rollup.daily_queue q"
" WHERE q.day_start + interval '24 hours' <= pg_catalog.now()"
"   AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d"
"                    WHERE d.hour_start >= q.day_start"
"                      AND d.hour_start < q.day_start + interval '24 hours'"
"                      AND d.kind = q.kind)"
"   AND NOT EXISTS (SELECT FROM metrics_rollup.daily_holes h"
"                    WHERE h.kind = q.kind AND h.hour_start >= q.day_start"
"                      AND h.hour_start < q.day_start + interval '24 hours')"
" ORDER BY q.day_start, q.kind LIMIT $1";

/* The same from 1.2 on: days that failed before come after the others. */
static const char *const daily_ready_1_2_sql =
"SELECT q.kind, q.day_start FROM metrics_rollup.daily_queue q"
" WHERE q.day_start + interval '24 hours' <= pg_catalog.now()"
"   AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d"
"                    WHERE d.hour_start >= q.day_start"
"                      AND d.hour_start < q.day_start + interval '24 hours'"
"                      AND d.kind = q.kind)"
"   AND NOT EXISTS (SELECT FROM metrics_rollup.daily_holes h"
"                    WHERE h.kind = q.kind AND h.hour_start >= q.day_start"
"                      AND h.hour_start < q.day_start + interval '24 hours')"
" ORDER BY EXISTS (SELECT FROM metrics_rollup.rollup_failures f"
"                   WHERE f.level = 'day' AND f.kind = q.kind AND f.entity_id = ''"
"                     AND f.period_start = q.day_start),"
"          q.day_start, q.kind LIMIT $1";

/*
 * On Citus (raw_metrics distributed), where rollup_dirty is distributed and
 * daily_queue local: Citus joins no local table with a distributed one.
 * The (kind, UTC day)s that have marks are read first by a statement of
 * their own, then passed to the ready query as $2 kinds and $3 days;
 * daily_holes, which only hourly_metrics' triggers fill, is empty there.
 */
static const char *const daily_marked_days_citus_sql =
"SELECT DISTINCT kind, pg_catalog.date_trunc('day', hour_start, 'UTC')"
"  FROM metrics_rollup.rollup_dirty";

static const char *const daily_ready_citus_sql =
"SELECT q.kind, q.day_start FROM metrics_rollup.daily_queue q"
" WHERE q.day_start + interval '24 hours' <= pg_catalog.now()"
"   AND NOT EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]),"
"                                          pg_catalog.unnest($3::pg_catalog.timestamptz[]))"
"                               AS m(kind, day_start)"
"                    WHERE m.kind = q.kind AND m.day_start = q.day_start)"
" ORDER BY EXISTS (SELECT FROM metrics_rollup.rollup_failures f"
"                   WHERE f.level = 'day' AND f.kind = q.kind AND f.entity_id = ''"
"                     AND f.period_start = q.day_start),"
"          q.day_start, q.kind LIMIT $1";

/* $1 kind, $2 day_start, $3 SQLSTATE, $4 message */
static const char *const daily_failure_sql =
"INSERT INTO metrics_rollup.rollup_failures AS f"
"       (level, kind, entity_id, period_start, error_sqlstate, error_message)"
" VALUES ('day', $1, '', $2, $3, $4)"
" ON CONFLICT (level, kind, entity_id, period_start) DO UPDATE SET"
"       failures = f.failures + 1, last_failed_at = excluded.last_failed_at,"
"       error_sqlstate = excluded.error_sqlstate, error_message = excluded.error_message";

static const char *const daily_failure_clear_sql =
"DELETE FROM metrics_rollup.rollup_failures"
" WHERE level = 'day' AND kind = $1 AND entity_id = '' AND period_start = $2";

static const char *const daily_lock_sql =
"LOCK TABLE metrics_rollup.hourly_metrics IN SHARE MODE";

/* $1 kind, $2 day_start */
static const char *const daily_clear_sql =
"DELETE FROM metrics_rollup.daily_metrics WHERE kind = $1 AND day_start = $2";

/*
 * The merge of a (kind, day)'s hourly rows h per entity, $2 the day, into
 * daily_metrics; the name is that of the latest hour that has one, as
 * query_pieces() would pick it.  Each statement below adds its FROM.
 */
#define DAILY_INSERT_SELECT \
"INSERT INTO metrics_rollup.daily_metrics" \
"       (kind, entity_id, day_start, entity_name, name_at, total_count, success_count," \
"        min_response_time, max_response_time, sum_response_time, sketch," \
"        last_recorded_at, hours_merged)" \
" SELECT h.kind, h.entity_id, $2," \
"        (pg_catalog.array_agg(h.entity_name ORDER BY h.last_recorded_at DESC)" \
"             FILTER (WHERE h.entity_name IS NOT NULL))[1]," \
"        pg_catalog.max(h.last_recorded_at) FILTER (WHERE h.entity_name IS NOT NULL)," \
"        pg_catalog.sum(h.total_count), pg_catalog.sum(h.success_count)," \
"        pg_catalog.min(h.min_response_time), pg_catalog.max(h.max_response_time)," \
"        pg_catalog.sum(h.sum_response_time), metrics_rollup.query_sketch_merge(h.sketch)," \
"        pg_catalog.max(h.last_recorded_at), pg_catalog.count(*)"

/*
 * One node: the day's hourly rows are read through
 * hourly_metrics_hour_idx: OFFSET 0 keeps the kind
 * test out of the scan, because the planner (without statistics, e.g. just
 * after a bulk load) otherwise walks the primary key from the kind on,
 * skipping entity_id: every hourly row of the kind, for each day.
 */
static const char *const daily_insert_sql =
DAILY_INSERT_SELECT
"   FROM (SELECT * FROM metrics_rollup.hourly_metrics"
"          WHERE hour_start >= $2 AND hour_start < $2 + interval '24 hours'"
"         OFFSET 0) h"
"  WHERE h.kind = $1"
"  GROUP BY h.kind, h.entity_id"
" RETURNING hours_merged";

/*
 * The same on Citus, without OFFSET 0 (which would make Citus pull the
 * hourly rows to the coordinator): grouped by entity_id, the distribution
 * column, the INSERT ... SELECT runs on each shard group (hourly_metrics
 * and daily_metrics are co-located).  $3 is the day's end (no timestamptz
 * arithmetic for the shards to evaluate).
 */
static const char *const daily_insert_citus_sql =
DAILY_INSERT_SELECT
"   FROM metrics_rollup.hourly_metrics h"
"  WHERE h.kind = $1 AND h.hour_start >= $2 AND h.hour_start < $3"
"  GROUP BY h.kind, h.entity_id"
" RETURNING hours_merged";

/* $1 kind, $2 day_start, $3 entities, $4 hours, $5 duration */
static const char *const daily_mark_sql =
"INSERT INTO metrics_rollup.daily_built AS b"
"       (kind, day_start, entities, hours, build_duration)"
" VALUES ($1, $2, $3, $4, $5)"
" ON CONFLICT (kind, day_start) DO UPDATE SET"
"       entities = excluded.entities, hours = excluded.hours,"
"       built_at = excluded.built_at, build_duration = excluded.build_duration";

/* a day without hourly rows: nothing to read, no marker */
static const char *const daily_unmark_sql =
"DELETE FROM metrics_rollup.daily_built WHERE kind = $1 AND day_start = $2";

static const char *const daily_dequeue_sql =
"DELETE FROM metrics_rollup.daily_queue WHERE kind = $1 AND day_start = $2";

/* Run one of the (kind, day) statements; returns SPI_processed. */
static uint64
daily_exec(const char *sql, Datum kind, Datum day, int expected, const char *what)
{
	Oid			types[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		args[2] = {kind, day};

	catalog_spi_check(SPI_execute_with_args(sql, 2, types, args, NULL, false, 0),
					expected, what);
	return SPI_processed;
}

/* The day's daily rows on Citus (daily_insert_citus_sql); returns SPI_processed. */
static uint64
daily_insert_citus(Datum kind, Datum day)
{
	Oid			types[3] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[3];

	args[0] = kind;
	args[1] = day;
	args[2] = TimestampTzGetDatum(DatumGetTimestampTz(day) + USECS_PER_DAY);
	catalog_spi_check(SPI_execute_with_args(daily_insert_citus_sql, 3, types, args,
										  NULL, false, 0),
					SPI_OK_INSERT_RETURNING, "writing a day's daily rows");
	return SPI_processed;
}

/* Build one (kind, day); adds to *totals. */
static void
daily_build_day(Datum kind, Datum day, DailyTotals *totals, bool citus)
{
	TimestampTz start = GetCurrentTimestamp();
	int64		entities;
	int64		hours = 0;
	bool		isnull;

	daily_exec(daily_clear_sql, kind, day, SPI_OK_DELETE, "clearing a day's daily rows");
	if (citus)
		entities = (int64) daily_insert_citus(kind, day);
	else
		entities = (int64) daily_exec(daily_insert_sql, kind, day, SPI_OK_INSERT_RETURNING,
									  "writing a day's daily rows");
	for (uint64 i = 0; i < SPI_processed; i++)
		hours += DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
											 SPI_tuptable->tupdesc, 1, &isnull));
	SPI_freetuptable(SPI_tuptable);

	if (entities > 0)
	{
		Oid			types[5] = {TEXTOID, TIMESTAMPTZOID, INT4OID, INT4OID, INTERVALOID};
		Datum		args[5];
		Interval   *duration = palloc0(sizeof(Interval));

		duration->time = GetCurrentTimestamp() - start;
		args[0] = kind;
		args[1] = day;
		args[2] = Int32GetDatum((int32) entities);
		args[3] = Int32GetDatum((int32) Min(hours, PG_INT32_MAX));
		args[4] = IntervalPGetDatum(duration);
		catalog_spi_check(SPI_execute_with_args(daily_mark_sql, 5, types, args,
											  NULL, false, 0),
						SPI_OK_INSERT, "marking a day built");
		pfree(duration);
	}
	else
		daily_exec(daily_unmark_sql, kind, day, SPI_OK_DELETE, "unmarking an empty day");
	daily_exec(daily_dequeue_sql, kind, day, SPI_OK_DELETE, "dequeuing a built day");
	totals->days++;
	totals->rows += entities;
}

/* One (kind, day) for job_try_isolated. */
typedef struct DailyUnit
{
	Datum		kind;
	Datum		day;
	DailyTotals *totals;
	bool		citus;			/* raw_metrics is distributed */
} DailyUnit;

static void
daily_build_unit(void *arg)
{
	DailyUnit  *unit = (DailyUnit *) arg;

	daily_build_day(unit->kind, unit->day, unit->totals, unit->citus);
}

/* A day failed with a data error: its row in rollup_failures, a WARNING. */
static void
daily_set_aside(const DailyUnit *unit, const ErrorData *edata)
{
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TEXTOID, TEXTOID};
	Datum		args[4];

	args[0] = unit->kind;
	args[1] = unit->day;
	args[2] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	args[3] = CStringGetTextDatum(edata->message ? edata->message : "");
	catalog_spi_check(SPI_execute_with_args(daily_failure_sql, 4, types, args,
										  NULL, false, 0),
					SPI_OK_INSERT, "recording a failed day");
	if (unit->totals->days_failed++ == 0)
	{
		unit->totals->failure_sqlstate = edata->sqlerrcode;
		strlcpy(unit->totals->failure_message,
				edata->message ? edata->message : "",
				sizeof(unit->totals->failure_message));
	}
	ereport(WARNING,
			(errcode(edata->sqlerrcode),
			 errmsg("metrics_rollup could not build the daily rows of kind \"%s\", day %s: %s",
					TextDatumGetCString(unit->kind),
					timestamptz_to_str(DatumGetTimestampTz(unit->day)),
					edata->message ? edata->message : ""),
			 errdetail("The day stays queued and is tried again by every rollup; the other days went on."),
			 errhint("See metrics_rollup.rollup_failures.")));
}

/* Build one day, in a subtransaction from 1.2 on (see the file header). */
static void
daily_build_isolated(Datum kind, Datum day, DailyTotals *totals, bool isolate,
					 bool citus)
{
	DailyUnit	unit = {kind, day, totals, citus};
	DailyTotals before = *totals;
	ErrorData  *edata;

	if (!isolate)
	{
		daily_build_day(kind, day, totals, citus);
		return;
	}
	edata = job_try_isolated(daily_build_unit, &unit, NULL);
	if (edata == NULL)
	{
		daily_exec(daily_failure_clear_sql, kind, day, SPI_OK_DELETE,
				   "clearing a failed day");
		return;
	}
	totals->days = before.days;
	totals->rows = before.rows;
	daily_set_aside(&unit, edata);
	FreeErrorData(edata);
}

/*
 * The ready (kind, day)s, at most max_days (all when <= 0); leaves them in
 * SPI_tuptable.
 */
static uint64
daily_ready(int max_days, bool v1_2)
{
	Oid			types[1] = {INT8OID};
	Datum		args[1] = {Int64GetDatum((int64) max_days)};
	char		nulls[1] = {max_days > 0 ? ' ' : 'n'};

	catalog_spi_check(SPI_execute_with_args(v1_2 ? daily_ready_1_2_sql : daily_ready_sql,
										  1, types, args, nulls,
										  false, 0),
					SPI_OK_SELECT, "listing ready days");
	return SPI_processed;
}

/* A one-dimensional array of n Datums of type (by reference: text, timestamptz). */
static Datum
daily_array(Datum *values, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_array(values, n, type, typlen, typbyval, typalign));
}

/*
 * The (kind text, day) rows SPI_tuptable holds (columns 1 and 2), copied
 * into *kinds and *days (palloc'd in the current context); frees the
 * tuptable.  Returns how many.
 */
int
daily_read_kind_days(Datum **kinds, Datum **days)
{
	int			n = (int) SPI_processed;

	*kinds = palloc(sizeof(Datum) * Max(n, 1));
	*days = palloc(sizeof(Datum) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		bool		isnull;

		(*kinds)[i] = PointerGetDatum(PG_DETOAST_DATUM_COPY(SPI_getbinval(SPI_tuptable->vals[i],
																		   SPI_tuptable->tupdesc,
																		   1, &isnull)));
		(*days)[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
	}
	SPI_freetuptable(SPI_tuptable);
	return n;
}

/*
 * daily_ready() on Citus: with_marks, the (kind, day)s that have marks are
 * read first (a statement on the distributed rollup_dirty) and are not
 * ready; without, every ended queued day is (an upper bound, which takes no
 * distributed statement: the common case, nothing queued, stays local).
 */
static uint64
daily_ready_citus(int max_days, bool with_marks)
{
	Oid			types[3] = {INT8OID, TEXTARRAYOID, TIMESTAMPTZARRAYOID};
	Datum		args[3];
	char		nulls[3] = {max_days > 0 ? ' ' : 'n', ' ', ' '};
	Datum	   *kinds;
	Datum	   *days;
	int			n;

	if (with_marks)
	{
		catalog_spi_check(SPI_execute(daily_marked_days_citus_sql, false, 0),
						SPI_OK_SELECT, "listing marked days");
		n = daily_read_kind_days(&kinds, &days);
	}
	else
	{
		kinds = days = palloc(sizeof(Datum));
		n = 0;
	}
	args[0] = Int64GetDatum((int64) max_days);
	args[1] = daily_array(kinds, n, TEXTOID);
	args[2] = daily_array(days, n, TIMESTAMPTZOID);
	catalog_spi_check(SPI_execute_with_args(daily_ready_citus_sql, 3, types, args, nulls,
										  false, 0),
					SPI_OK_SELECT, "listing ready days");
	return SPI_processed;
}

int
daily_build(int max_days, DailyTotals *totals)
{
	SPITupleTable *ready;
	uint64		count;
	bool		v1_2;
	bool		citus;

	if (!catalog_schema_1_1())
		return 0;
	v1_2 = catalog_schema_1_2();
	/* distribute() comes with 1.2 */
	citus = v1_2 && citus_raw_distributed();
	/* the common case, nothing ready, takes no lock */
	if ((citus ? daily_ready_citus(1, false) : daily_ready(1, v1_2)) == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return 0;
	}
	SPI_freetuptable(SPI_tuptable);

	catalog_spi_check(SPI_execute(daily_lock_sql, false, 0), SPI_OK_UTILITY,
					"locking hourly_metrics");
	/* a new snapshot, taken after every writer of hourly rows committed */
	count = citus ? daily_ready_citus(max_days, true) : daily_ready(max_days, v1_2);
	ready = SPI_tuptable;
	for (uint64 i = 0; i < count; i++)
	{
		bool		isnull;
		Datum		kind = SPI_getbinval(ready->vals[i], ready->tupdesc, 1, &isnull);
		Datum		day = SPI_getbinval(ready->vals[i], ready->tupdesc, 2, &isnull);

		CHECK_FOR_INTERRUPTS();
		daily_build_isolated(kind, day, totals, v1_2, citus);
	}
	SPI_freetuptable(ready);
	return (int) count;
}
