/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  The flush job: moves buffered events into raw_metrics through the
 *	  COPY machinery, and isolates poison events.
 *
 * Runs in each flush worker, over the rings that worker owns (buffer.c
 * keeps the drain state per process).  When raw_metrics is a Citus
 * distributed table (citus.c), COPY would write into the local shell
 * table: citus_flush_range inserts the range through Citus instead, with
 * its dirty marks.
 *
 * Owns: the flush transaction (one batch of at most FLUSH_BATCH_EVENTS),
 * the COPY into raw_metrics, the bisection of a batch that a data error
 * rejects, and the writes to metrics_rollup.rejected_events.
 *
 * Poison events.  Each COPY runs in a subtransaction.  When it fails with
 * a data error (SQLSTATE class 22 or 23, or P0001 from a trigger: an event
 * the table refuses, e.g. a CHECK constraint or trigger a user added) the
 * range is split in two halves, each copied in its own subtransaction,
 * recursively; a single event that still fails goes to rejected_events
 * with its SQLSTATE and message.  Everything happens in the batch's one
 * transaction, so the tails move past the whole batch (landed and
 * rejected events alike) only once it committed.  A batch with one poison
 * event costs about two COPYs of it.  Any other error (table locked, disk
 * full, deadlock, a failure of the dead-letter insert itself) aborts the
 * whole batch: its events stay buffered and the job retries it.
 *
 * XXX: a deferred constraint fails at commit, outside any subtransaction;
 * such a batch is retried as a whole and never dead-lettered.
 *
 * Must never: move a tail before the batch's transaction committed (the
 * buffer's rule), dead-letter on an error that is not about the data,
 * build SQL from values.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/copy.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "storage/lmgr.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "buffer.h"
#include "catalog.h"
#include "citus.h"
#include "flush.h"
#include "job_xact.h"
#include "jobstate.h"

/* Events per flush transaction: bounds a transaction's size and time. */
#define FLUSH_BATCH_EVENTS 100000
/* Flush transactions per run, so that signals and other jobs get a turn. */
#define FLUSH_BATCHES_PER_RUN 50

/* Events the current (or last) flush_run committed to raw_metrics. */
static int64 flush_rows = 0;

static const char *const flush_dead_letter_sql =
"INSERT INTO metrics_rollup.rejected_events"
" (" CATALOG_RAW_COLUMNS ", reject_sqlstate, reject_message)"
" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/*
 * An event the table refuses: a data error as the jobs classify them, but
 * not XX001 (data corrupted): a corrupt stored value is about the table, not
 * about the event, which must never be dead-lettered for it.
 */
bool
flush_is_data_error(int sqlerrcode)
{
	return sqlerrcode != ERRCODE_DATA_CORRUPTED && job_is_data_error(sqlerrcode);
}

/*
 * COPY the drain's current range into raw_metrics.  CopyFrom keeps full
 * table semantics: indexes, CHECK constraints, row and statement triggers
 * with transition tables, partition routing.
 */
static void
flush_copy_into(Oid relid)
{
	Relation	rel;
	ParseState *pstate;
	CopyFromState cstate;
	List	   *options;

	/* the batch's transaction already holds the lock (flush_batch) */
	rel = table_open(relid, RowExclusiveLock);

	/* CopyFrom finds its target as range table entry 1 */
	pstate = make_parsestate(NULL);
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										 NULL, false, false);
	options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, buffer_drain_read,
						   catalog_raw_column_names(), options);
	(void) CopyFrom(cstate);
	EndCopyFrom(cstate);

	/* keep the lock until commit */
	table_close(rel, NoLock);
	free_parsestate(pstate);
}

/* One range of the batch, for job_try_isolated. */
typedef struct FlushRange
{
	Oid			relid;
	uint64		first;
	uint64		count;
} FlushRange;

static void
flush_copy_range(void *arg)
{
	FlushRange *r = (FlushRange *) arg;

	buffer_drain_range(r->first, r->count);
	/* a distributed table's rows must go through a statement Citus routes */
	if (citus_raw_distributed())
		citus_flush_range(r->first, r->count);
	else
		flush_copy_into(r->relid);
}

/*
 * COPY events [first, first + count) in a subtransaction.  Returns NULL on
 * success, the error on a data error (flush_is_data_error: the
 * subtransaction rolled back); re-raises any other error.
 */
static ErrorData *
flush_try_range(Oid relid, uint64 first, uint64 count)
{
	FlushRange	r = {relid, first, count};

	return job_try_isolated(flush_copy_range, &r, flush_is_data_error);
}

/* Write event number index of the batch to rejected_events. */
static void
flush_dead_letter(uint64 index, const ErrorData *edata)
{
	Oid			types[CATALOG_RAW_NCOLUMNS + 2];
	Datum		values[CATALOG_RAW_NCOLUMNS + 2];
	char		nulls[10] = "         ";
	BufferEvent ev;
	int			rc;

	if (!buffer_drain_event(index, &ev))
		elog(ERROR, "poison event %llu is not in the flush batch",
			 (unsigned long long) index);
	memcpy(types, catalog_raw_types, sizeof(catalog_raw_types));
	types[CATALOG_RAW_NCOLUMNS] = TEXTOID;
	types[CATALOG_RAW_NCOLUMNS + 1] = TEXTOID;
	catalog_raw_datums(&ev, values, nulls);
	values[CATALOG_RAW_NCOLUMNS] = CStringGetTextDatum(unpack_sql_state(edata->sqlerrcode));
	values[CATALOG_RAW_NCOLUMNS + 1] = CStringGetTextDatum(edata->message ? edata->message : "");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(flush_dead_letter_sql, CATALOG_RAW_NCOLUMNS + 2,
							   types, values, nulls, false, 0);
	catalog_spi_check(rc, SPI_OK_INSERT, "writing rejected_events");
	SPI_finish();
}

/*
 * Copy events [first, first + count), isolating the ones a data error
 * rejects (halving the range); returns how many were dead-lettered.
 */
static uint64
flush_copy_isolating(Oid relid, uint64 first, uint64 count)
{
	ErrorData  *edata;
	uint64		half;
	uint64		rejected;

	CHECK_FOR_INTERRUPTS();
	edata = flush_try_range(relid, first, count);
	if (edata == NULL)
		return 0;
	if (count == 1)
	{
		flush_dead_letter(first, edata);
		FreeErrorData(edata);
		return 1;
	}
	FreeErrorData(edata);
	half = count / 2;
	rejected = flush_copy_isolating(relid, first, half);
	rejected += flush_copy_isolating(relid, first + half, count - half);
	return rejected;
}

/*
 * Lock raw_metrics without queueing behind a long lock (e.g. LOCK TABLE):
 * fail this batch so that the job's retry and circuit logic sees it.
 */
static void
flush_lock_raw(Oid relid)
{
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock metrics_rollup.raw_metrics"),
				 errdetail("Another transaction holds a conflicting lock."),
				 errhint("Buffered events stay in shared memory; the flush is retried.")));
}

/* One flush transaction; returns the events it took out of the buffer. */
static uint64
flush_batch(void)
{
	TimestampTz started = GetCurrentTimestamp();
	uint64		pending;
	uint64		count = 0;
	uint64		rejected = 0;
	Oid			relid;
	char		activity[64];

	/* statement_timestamp() and pg_stat_activity show this batch */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* catalog lookups, index checks and triggers need a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());

	relid = catalog_relid(CATALOG_RAW_METRICS);
	pending = OidIsValid(relid) ? buffer_drain_begin(FLUSH_BATCH_EVENTS) : 0;
	if (pending > 0)
	{
		count = Min(pending, (uint64) FLUSH_BATCH_EVENTS);
		snprintf(activity, sizeof(activity), "flushing " UINT64_FORMAT " events", count);
		pgstat_report_activity(STATE_RUNNING, activity);
		flush_lock_raw(relid);
		rejected = flush_copy_isolating(relid, 0, count);
		/* the tails move past the whole batch, whatever was copied last */
		if (rejected > 0)
			buffer_drain_range(count, 0);
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	/* only now, committed, may the tails move */
	if (pending > 0)
	{
		count = buffer_drain_committed(started, rejected);
		flush_rows += count - rejected;
	}
	if (rejected > 0)
	{
		jobstate_count_dead_lettered(rejected);
		ereport(LOG,
				(errmsg("metrics_rollup moved " UINT64_FORMAT " rejected events to metrics_rollup.rejected_events",
						rejected),
				 errdetail("raw_metrics refused them with a data error; the other " UINT64_FORMAT " events of the batch were written.",
						   count - rejected)));
	}
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return count;
}

void
flush_run(void)
{
	flush_rows = 0;
	for (int i = 0; i < FLUSH_BATCHES_PER_RUN; i++)
	{
		if (buffer_own_pending_events() == 0)
			break;
		if (flush_batch() == 0)
			break;
	}
}

int64
flush_last_rows(void)
{
	return flush_rows;
}

void
flush_report(const char *error)
{
	if (error)
		buffer_report_flush_error(error);
}
