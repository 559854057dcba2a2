/*-------------------------------------------------------------------------
 *
 * history.c
 *	  The job history: the worker's queue of finished job tries and its
 *	  writes to metrics_rollup.job_runs (read through view job_history).
 *
 * Owns: the worker-local queue (HISTORY_QUEUE entries, oldest dropped
 * when full) and the one transaction that writes it, which also deletes
 * all but the newest HISTORY_KEEP_PER_JOB rows of each job written, so
 * the table stays bounded.
 *
 * A history write is separate from the job it records: a flush that
 * failed because raw_metrics is locked is still recorded.  When the write
 * itself fails (job_runs locked, disk full) the entries stay queued and
 * the next call tries again: one try per call, never a loop here.  We do
 * not queue behind a lock on job_runs: ConditionalLockRelationOid.
 *
 * Must never: raise out of history_write, write in recovery, touch shared
 * memory (the queue is the worker's own).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog.h"
#include "history.h"
#include "job_xact.h"

/* Entries the worker keeps while job_runs cannot be written. */
#define HISTORY_QUEUE 256
#define HISTORY_MESSAGE_LEN 512

typedef struct HistoryEntry
{
	JobKind		job;
	TimestampTz started;
	TimestampTz finished;
	JobOutcome	outcome;
	int			attempt;		/* 1 = first try of the run */
	int64		rows;
	int			sqlerrcode;		/* 0: none */
	char		message[HISTORY_MESSAGE_LEN];	/* "" none */
} HistoryEntry;

/* A ring: entries [first, first + count) modulo HISTORY_QUEUE. */
static HistoryEntry history_queue[HISTORY_QUEUE];
static int	history_first = 0;
static int	history_count = 0;
static uint64 history_dropped = 0;	/* since the last successful write */
static bool history_failing = false;	/* the last write failed (logged once) */

static const char *const history_insert_sql =
"INSERT INTO metrics_rollup.job_runs"
" (job, started_at, finished_at, status, attempt, rows, error_sqlstate, error_message)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/* Everything but the newest $2 rows of job $1. */
static const char *const history_trim_sql =
"DELETE FROM metrics_rollup.job_runs WHERE job = $1 AND id <="
" (SELECT id FROM metrics_rollup.job_runs WHERE job = $1"
"   ORDER BY id DESC OFFSET $2 LIMIT 1)";

void
history_add(JobKind job, TimestampTz started, TimestampTz finished,
			JobOutcome outcome, int attempt, int64 rows,
			int sqlerrcode, const char *message)
{
	HistoryEntry *e;

	if (history_count == HISTORY_QUEUE)
	{
		history_first = (history_first + 1) % HISTORY_QUEUE;
		history_count--;
		history_dropped++;
	}
	e = &history_queue[(history_first + history_count) % HISTORY_QUEUE];
	history_count++;

	e->job = job;
	e->started = started;
	e->finished = finished;
	e->outcome = outcome;
	e->attempt = attempt;
	e->rows = rows;
	e->sqlerrcode = sqlerrcode;
	e->message[0] = '\0';
	if (message)
		strlcpy(e->message, message, sizeof(e->message));
}

int
history_queued(void)
{
	return history_count;
}

static void
history_insert(const HistoryEntry *e)
{
	Oid			types[8] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID,
	INT4OID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[8];
	char		nulls[9] = "        ";
	int			rc;

	values[0] = CStringGetTextDatum(jobstate_job_name(e->job));
	values[1] = TimestampTzGetDatum(e->started);
	values[2] = TimestampTzGetDatum(e->finished);
	values[3] = CStringGetTextDatum(jobstate_outcome_name(e->outcome));
	values[4] = Int32GetDatum(e->attempt);
	values[5] = Int64GetDatum(e->rows);
	if (e->sqlerrcode != 0)
		values[6] = CStringGetTextDatum(unpack_sql_state(e->sqlerrcode));
	else
		nulls[6] = 'n';
	if (e->message[0] != '\0')
		values[7] = CStringGetTextDatum(e->message);
	else
		nulls[7] = 'n';
	rc = SPI_execute_with_args(history_insert_sql, 8, types, values, nulls,
							   false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI failed while writing job history: %s",
			 SPI_result_code_string(rc));
}

static void
history_trim(JobKind job)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2];
	int			rc;

	values[0] = CStringGetTextDatum(jobstate_job_name(job));
	values[1] = Int64GetDatum(HISTORY_KEEP_PER_JOB);
	rc = SPI_execute_with_args(history_trim_sql, 2, types, values, NULL,
							   false, 0);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "SPI failed while trimming job history: %s",
			 SPI_result_code_string(rc));
}

/* The transaction of history_write; raises on failure. */
static void
history_write_xact(void)
{
	bool		written[JOB_COUNT] = {0};
	Oid			relid;

	job_xact_begin("metrics_rollup: writing job history");
	relid = catalog_relid(CATALOG_JOB_RUNS);
	if (OidIsValid(relid))
	{
		/* don't queue behind LOCK TABLE: fail and try at the next call */
		if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not lock metrics_rollup.job_runs"),
					 errhint("The job history is kept in memory and written later.")));
		for (int i = 0; i < history_count; i++)
		{
			const HistoryEntry *e = &history_queue[(history_first + i) % HISTORY_QUEUE];

			history_insert(e);
			written[e->job] = true;
		}
		for (int k = 0; k < JOB_COUNT; k++)
			if (written[k])
				history_trim((JobKind) k);
	}
	job_xact_commit();
	pgstat_report_activity(STATE_IDLE, NULL);
}

void
history_write(void)
{
	MemoryContext oldcxt = CurrentMemoryContext;

	if (history_count == 0 || RecoveryInProgress())
		return;

	PG_TRY();
	{
		history_write_xact();
		if (history_dropped > 0)
			ereport(LOG,
					(errmsg("metrics_rollup dropped " UINT64_FORMAT " job history entries",
							history_dropped),
					 errdetail("The job history could not be written for a while and its queue was full.")));
		history_first = history_count = 0;
		history_dropped = 0;
		history_failing = false;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* leave the error context before copying the error out of it */
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
		if (!history_failing)
			ereport(LOG,
					(errmsg("metrics_rollup could not write the job history: %s",
							edata->message),
					 errhint("The entries are kept in memory and written at the next try.")));
		history_failing = true;
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
}
