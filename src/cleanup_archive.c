/*-------------------------------------------------------------------------
 *
 * cleanup_archive.c
 *	  Cleanup's fast archive: deleting every remaining raw row of rolled-up,
 *	  clean (kind, entity_id, hour) groups without aggregating them again.
 *
 * Owns: the backend-local flag that makes the DELETE trigger
 * rollup_archive_deleted skip its aggregation (cleanup_archive_suppressed(),
 * the only thing the trigger asks), and the one statement that uses it.
 *
 * Why it is exact: an hourly row without a rollup_dirty mark equals its
 * archived summary (+) the raw rows of its hour.  Deleting ALL of those raw
 * rows therefore leaves archived = the hourly row's own summary: that is
 * what the statement writes, in the same snapshot as its DELETE (one
 * statement with data-modifying CTEs), touching only archived and
 * updated_at of the hourly row.  name_at, which the hourly row does not
 * keep, comes from the deleted rows (the latest recorded_at with a name).
 * Rows inserted concurrently are invisible to the statement: they stay raw
 * and their own dirty mark makes the next rollup add them.  A raw row
 * updated concurrently (EvalPlanQual would delete its new version, which the
 * hourly row does not describe) leaves a forced dirty mark: when one
 * appears, the batch's subtransaction is rolled back and the caller deletes
 * the groups the ordinary way.
 *
 * The flag: set only here, around that one SPI call, for the trigger depth
 * of that statement's own triggers (a DELETE nested in a user's trigger
 * still archives), cleared by PG_FINALLY and by transaction callbacks.  A
 * subtransaction that aborts inside the statement (a user's trigger with a
 * PL/pgSQL EXCEPTION block) must not clear it: the statement goes on, and
 * its archive trigger would then aggregate the deleted rows a second time.
 * So the flag remembers the subtransaction that set it, and only the abort
 * of that one (or of the whole transaction) clears it.  No
 * GUC or SQL function can set it: a user can never delete without archiving.
 *
 * A 1.0 installation (its trigger does not ask) never takes this path.
 *
 * Must never: update other columns of hourly_metrics than archived and
 * updated_at (the daily level's triggers watch the figures); leave the flag
 * set outside its statement.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "cleanup_archive.h"
#include "job_xact.h"

/*
 * pg_trigger_depth() of the triggers fired by the fast archive statement
 * while it runs; -1 at all other times.
 */
static int	cleanup_archive_depth = -1;
/* the subtransaction that set cleanup_archive_depth */
static SubTransactionId cleanup_archive_subid = InvalidSubTransactionId;
static bool cleanup_archive_callbacks = false;

PG_FUNCTION_INFO_V1(cleanup_archive_suppressed_sql);

/*
 * $1 hour, $2 hour + 1 h, $3/$4 kinds and entity ids.  g: the groups still
 * rolled up and clean in this snapshot; d: all their raw rows of the hour;
 * n: per group, rows deleted and the latest time a name was seen; u: the
 * hourly rows' archived := their own summary.  Returns rows deleted, groups
 * deleted from and hourly rows updated.
 */
static const char *const cleanup_archive_sql =
"WITH g AS MATERIALIZED ("
"  SELECT h.kind, h.entity_id"
"    FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[])) AS l(kind, entity_id)"
"    JOIN metrics_rollup.hourly_metrics h"
"      ON h.kind = l.kind AND h.entity_id = l.entity_id AND h.hour_start = $1"
"   WHERE NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d"
"                      WHERE d.kind = h.kind AND d.entity_id = h.entity_id AND d.hour_start = $1)),"
" d AS ("
"  DELETE FROM metrics_rollup.raw_metrics r USING g"
"   WHERE r.kind = g.kind AND r.entity_id = g.entity_id"
"     AND r.recorded_at >= $1 AND r.recorded_at < $2"
"  RETURNING r.kind, r.entity_id, r.recorded_at, r.entity_name),"
" n AS ("
"  SELECT d.kind, d.entity_id, pg_catalog.count(*) AS rows,"
"         pg_catalog.max(d.recorded_at) FILTER (WHERE d.entity_name IS NOT NULL) AS name_at"
"    FROM d GROUP BY 1, 2),"
" u AS ("
"  UPDATE metrics_rollup.hourly_metrics h"
"     SET archived = ROW(h.total_count, h.success_count, h.min_response_time, h.max_response_time,"
"                        h.sum_response_time, h.p50_response_time, h.p95_response_time,"
"                        h.p99_response_time, h.entity_name,"
"                        CASE WHEN h.entity_name IS NOT NULL"
"                             THEN GREATEST((h.archived).name_at, n.name_at) END,"
"                        h.last_recorded_at, h.percentiles_exact, h.sketch)::metrics_rollup.rollup_stats,"
"         updated_at = pg_catalog.now()"
"    FROM n"
"   WHERE h.kind = n.kind AND h.entity_id = n.entity_id AND h.hour_start = $1"
"  RETURNING 1)"
" SELECT (SELECT COALESCE(pg_catalog.sum(n.rows), 0)::bigint FROM n),"
"        (SELECT pg_catalog.count(*) FROM n), (SELECT pg_catalog.count(*) FROM u)";

/* A raw row of the batch's groups was updated meanwhile ($2 unused). */
static const char *const cleanup_archive_forced_sql =
"SELECT EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($3::pg_catalog.text[]), pg_catalog.unnest($4::pg_catalog.text[])) AS l(kind, entity_id)"
"                 JOIN metrics_rollup.rollup_dirty d"
"                   ON d.kind = l.kind AND d.entity_id = l.entity_id AND d.hour_start = $1"
"                WHERE d.force)";

/* Clear the flag at the end of every (sub)transaction, whatever happened. */
static void
cleanup_archive_xact_callback(XactEvent event, void *arg)
{
	cleanup_archive_depth = -1;
}

static void
cleanup_archive_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								 SubTransactionId parentSubid, void *arg)
{
	/* a nested subtransaction's abort leaves the statement running */
	if (event == SUBXACT_EVENT_ABORT_SUB && mySubid == cleanup_archive_subid)
		cleanup_archive_depth = -1;
}

static int
cleanup_archive_trigger_depth(void)
{
	return DatumGetInt32(OidFunctionCall0(F_PG_TRIGGER_DEPTH));
}

/*
 * cleanup_archive_suppressed() RETURNS boolean: true only inside the
 * triggers of cleanup's own fast archive statement.
 */
Datum
cleanup_archive_suppressed_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(cleanup_archive_depth >= 0 &&
				   cleanup_archive_trigger_depth() == cleanup_archive_depth);
}

/* A 1.0 installation's trigger does not ask for the flag: no fast path there. */
bool
cleanup_archive_available(void)
{
	return catalog_schema_1_1();
}

/* Run the fast statement with the trigger's aggregation suppressed. */
static void
cleanup_archive_execute(Oid *argtypes, Datum *args)
{
	volatile int rc = 0;

	if (!cleanup_archive_callbacks)
	{
		RegisterXactCallback(cleanup_archive_xact_callback, NULL);
		RegisterSubXactCallback(cleanup_archive_subxact_callback, NULL);
		cleanup_archive_callbacks = true;
	}
	/* the statement's own triggers run one level deeper than we are */
	cleanup_archive_depth = cleanup_archive_trigger_depth() + 1;
	cleanup_archive_subid = GetCurrentSubTransactionId();
	PG_TRY();
	{
		rc = SPI_execute_with_args(cleanup_archive_sql, 4, argtypes, args,
								   NULL, false, 0);
	}
	PG_FINALLY();
	{
		cleanup_archive_depth = -1;
	}
	PG_END_TRY();
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI failed while archiving rolled-up raw rows: %s",
			 SPI_result_code_string(rc));
}

/* Did the statement do what it must: every group it deleted from, archived? */
static bool
cleanup_archive_check(Oid *argtypes, Datum *args, int64 *rows)
{
	HeapTuple	tuple = SPI_tuptable->vals[0];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	int64		groups;
	int64		updated;

	*rows = DatumGetInt64(SPI_getbinval(tuple, desc, 1, &isnull));
	groups = DatumGetInt64(SPI_getbinval(tuple, desc, 2, &isnull));
	updated = DatumGetInt64(SPI_getbinval(tuple, desc, 3, &isnull));
	if (groups != updated)
		return false;
	/* read_only = false: a new snapshot, which sees the updater's commit */
	if (SPI_execute_with_args(cleanup_archive_forced_sql, 4, argtypes, args,
							  NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI failed while checking archived groups");
	return SPI_processed == 1 &&
		!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									SPI_tuptable->tupdesc, 1, &isnull));
}

int64
cleanup_archive_batch(TimestampTz hour, Datum *kinds, Datum *ids, int n)
{
	Oid			argtypes[4] = {TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID,
	TEXTARRAYOID};
	Datum		args[4];
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile int64 rows = 0;
	volatile bool ok = false;

	args[0] = TimestampTzGetDatum(hour);
	args[1] = TimestampTzGetDatum(hour + USECS_PER_HOUR);
	args[2] = PointerGetDatum(construct_array(kinds, n, TEXTOID, -1, false, TYPALIGN_INT));
	args[3] = PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT));

	/* a subtransaction, so that a batch that raced an UPDATE leaves no trace */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int64		got = 0;

		cleanup_archive_execute(argtypes, args);
		ok = cleanup_archive_check(argtypes, args, &got);
		rows = got;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* an internal subtransaction must not outlive its error */
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (ok)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok ? rows : -1;
}
