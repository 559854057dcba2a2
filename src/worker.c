/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background worker ("metrics_rollup worker"): runs the scheduled
 *	  jobs, the first of which moves buffered events into raw_metrics.
 *
 * Owns: the worker's registration, its main loop, the job table and the
 * one place where a job's success or failure is reported
 * (worker_run_job), and the flush job (drain the ingest buffer through
 * the COPY machinery).
 *
 * Must never: touch the rings directly (buffer.c does), move a tail
 * before the transaction that wrote its events committed, or die on a
 * failed job: a job's error is caught, recorded, and retried later.
 *
 * Shape (worker_spi / autoprewarm): connect to metrics_rollup.database,
 * publish pid and latch in shared memory (buffer_attach_worker), wait
 * without crash-looping until CREATE EXTENSION metrics_rollup has run
 * there, then loop: WaitLatch until the earliest job is due or someone
 * sets the latch (flush() or a ring crossing flush_threshold), run the
 * due jobs, each outside any transaction (it starts and commits its own).
 * Nothing runs while RecoveryInProgress().
 *
 * SIGTERM (SignalHandlerForShutdownRequest) ends the loop; a final flush
 * then drains the buffer for at most WORKER_FINAL_FLUSH_MS, even when
 * metrics_rollup.enabled is off: events in shared memory would otherwise
 * be lost by the shutdown.  We exit with proc_exit(1): during a server
 * shutdown the postmaster restarts nothing anyway, and after a SIGTERM
 * from pg_terminate_backend() the worker comes back after
 * bgw_restart_time, because without it the buffer would fill up for good.
 *
 * Adding a job (rollup, cleanup): one line in worker_jobs[] with a run
 * function that starts and commits its own transaction(s) and ereports
 * on failure, and a report function that records the outcome.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "commands/copy.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/value.h"
#include "parser/parse_node.h"
#include "parser/parse_relation.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "buffer.h"
#include "guc.h"
#include "security.h"
#include "worker.h"

/* Events per flush transaction: bounds a transaction's size and time. */
#define WORKER_BATCH_EVENTS 100000
/* Flush transactions per run, so that signals and other jobs get a turn. */
#define WORKER_BATCHES_PER_RUN 50
/* How long the final flush at shutdown may take. */
#define WORKER_FINAL_FLUSH_MS 10000
/* How often we look for CREATE EXTENSION while it has not run. */
#define WORKER_EXTENSION_POLL_MS 1000

/*
 * A scheduled job.  run() is called outside any transaction, starts and
 * commits its own, and ereports on failure; report() records the outcome
 * (error is NULL on success).
 */
typedef struct WorkerJob
{
	const char *name;
	bool		(*enabled) (void);
	int			(*interval_ms) (void);
	bool		run_on_wake;	/* also run whenever the latch was set */
	void		(*run) (void);
	void		(*report) (const char *error);
	TimestampTz next_run;		/* 0: as soon as possible */
	bool		failed;			/* last run failed: wait for next_run */
} WorkerJob;

static bool worker_flush_enabled(void);
static int	worker_flush_interval(void);
static void worker_flush_run(void);
static void worker_flush_report(const char *error);

static WorkerJob worker_jobs[] = {
	{"flush", worker_flush_enabled, worker_flush_interval, true,
	worker_flush_run, worker_flush_report, 0, false},
};

#define WORKER_NJOBS ((int) lengthof(worker_jobs))

/* Reset at every loop iteration; holds the copy of a job's error. */
static MemoryContext worker_cxt = NULL;

static void worker_on_exit(int code, Datum arg);
static void worker_reload_config(void);
static bool worker_extension_ready(void);
static bool worker_wait_for_extension(void);
static bool worker_run_job(WorkerJob *job);
static long worker_next_timeout(void);
static void worker_final_flush(void);

void
worker_register(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* ConsistentState: it also runs on a hot standby, idle until promotion */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_rollup");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "worker_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_rollup worker");
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_rollup worker");
	RegisterBackgroundWorker(&worker);
}

void
worker_main(Datum main_arg)
{
	bool		woken = false;

	/* SIGTERM only sets a flag: we still want the final flush */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(mr_database, NULL, 0);
	/* superuser: no database/role search_path may redirect our SQL */
	security_pin_worker_search_path();
	pgstat_report_appname("metrics_rollup worker");

	/* flush() and producers find us through shared memory */
	buffer_attach_worker(MyProcPid, MyLatch);
	before_shmem_exit(worker_on_exit, (Datum) 0);

	worker_cxt = AllocSetContextCreate(TopMemoryContext,
									   "metrics_rollup worker",
									   ALLOCSET_DEFAULT_SIZES);

	if (worker_wait_for_extension())
	{
		while (!ShutdownRequestPending)
		{
			int			rc;

			MemoryContextReset(worker_cxt);
			worker_reload_config();

			if (!RecoveryInProgress())
			{
				TimestampTz now = GetCurrentTimestamp();

				for (int i = 0; i < WORKER_NJOBS; i++)
				{
					WorkerJob  *job = &worker_jobs[i];

					if (!job->enabled() || ShutdownRequestPending)
						continue;
					if (now >= job->next_run ||
						(woken && job->run_on_wake && !job->failed))
						(void) worker_run_job(job);
				}
			}

			rc = WaitLatch(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   worker_next_timeout(), PG_WAIT_EXTENSION);
			woken = (rc & WL_LATCH_SET) != 0;
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		worker_final_flush();
	}

	proc_exit(1);
}

/* Whatever the exit path: nobody must wait for us any more. */
static void
worker_on_exit(int code, Datum arg)
{
	buffer_detach_worker();
}

static void
worker_reload_config(void)
{
	if (ConfigReloadPending)
	{
		ConfigReloadPending = false;
		ProcessConfigFile(PGC_SIGHUP);
	}
}

/* Has CREATE EXTENSION metrics_rollup run in our database? */
static bool
worker_extension_ready(void)
{
	bool		ready;

	/* catalog lookups need a transaction and a snapshot */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	ready = OidIsValid(get_extension_oid("metrics_rollup", true));
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	return ready;
}

/*
 * Poll until the extension exists (true) or we are asked to shut down
 * (false).  No crash loop: a missing extension is a normal state.
 */
static bool
worker_wait_for_extension(void)
{
	while (!ShutdownRequestPending)
	{
		worker_reload_config();
		if (worker_extension_ready())
			return true;
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WORKER_EXTENSION_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/*
 * Run one job and report its outcome: the one place where success and
 * failure of a job are seen.  A failure aborts the job's transaction,
 * keeps the worker alive and schedules the next try one interval later.
 * Returns true on success.
 */
static bool
worker_run_job(WorkerJob *job)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		job->run();
		job->report(NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		/* leave the error context before copying the error out of it */
		MemoryContextSwitchTo(worker_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* releases locks, buffers and SPI of the failed transaction */
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);

		ereport(LOG,
				(errmsg("metrics_rollup %s job failed: %s", job->name, edata->message),
				 errhint("It is retried after its interval.")));
		job->report(edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();

	MemoryContextSwitchTo(oldcxt);
	job->failed = !ok;
	job->next_run = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												job->interval_ms());
	return ok;
}

/* Milliseconds until the earliest enabled job is due (at most 1 s). */
static long
worker_next_timeout(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		timeout = 1000;

	for (int i = 0; i < WORKER_NJOBS; i++)
	{
		WorkerJob  *job = &worker_jobs[i];
		long		ms;

		if (!job->enabled())
			continue;
		ms = TimestampDifferenceMilliseconds(now, job->next_run);
		timeout = Min(timeout, ms);
	}
	return Max(timeout, 0);
}

/*
 * On SIGTERM: drain what is buffered, retrying failed flushes, for at
 * most WORKER_FINAL_FLUSH_MS.
 */
static void
worker_final_flush(void)
{
	TimestampTz deadline;
	WorkerJob  *flush = &worker_jobs[0];

	if (RecoveryInProgress())
		return;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   WORKER_FINAL_FLUSH_MS);
	while (buffer_pending_events() > 0 && GetCurrentTimestamp() < deadline)
	{
		MemoryContextReset(worker_cxt);
		if (!worker_run_job(flush))
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
	}
	if (buffer_pending_events() > 0)
		ereport(LOG,
				(errmsg("metrics_rollup worker exits with " UINT64_FORMAT " events not flushed",
						buffer_pending_events())));
}

/* ----------------------------------------------------------------
 * The flush job
 * ----------------------------------------------------------------
 */

static bool
worker_flush_enabled(void)
{
	return mr_enabled;
}

static int
worker_flush_interval(void)
{
	return mr_flush_interval_ms;
}

/* raw_metrics' OID, or InvalidOid when the extension was dropped. */
static Oid
worker_raw_table(void)
{
	Oid			nsp = get_namespace_oid("metrics_rollup", true);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid("raw_metrics", nsp);
}

/* The columns we send, by name: added columns take their defaults. */
static List *
worker_raw_columns(void)
{
	static const char *const names[] = {"kind", "entity_id", "entity_name",
		"recorded_at", "response_time", "success", "error_message"};
	List	   *cols = NIL;

	for (int i = 0; i < (int) lengthof(names); i++)
		cols = lappend(cols, makeString(pstrdup(names[i])));
	return cols;
}

/*
 * COPY the drained records into raw_metrics.  CopyFrom keeps full table
 * semantics: indexes, CHECK constraints, row and statement triggers with
 * transition tables, partition routing.
 */
static void
worker_copy_into(Oid relid)
{
	Relation	rel;
	ParseState *pstate;
	CopyFromState cstate;
	List	   *options;

	/*
	 * Don't queue behind a long lock (e.g. LOCK TABLE): fail this batch, so
	 * that last_flush_error tells, and retry after flush_interval.
	 */
	if (!ConditionalLockRelationOid(relid, RowExclusiveLock))
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("could not lock metrics_rollup.raw_metrics"),
				 errdetail("Another transaction holds a conflicting lock."),
				 errhint("Buffered events stay in shared memory; the flush is retried.")));
	rel = table_open(relid, NoLock);

	/* CopyFrom finds its target as range table entry 1 */
	pstate = make_parsestate(NULL);
	(void) addRangeTableEntryForRelation(pstate, rel, RowExclusiveLock,
										 NULL, false, false);
	options = list_make1(makeDefElem("format", (Node *) makeString("binary"), -1));
	cstate = BeginCopyFrom(pstate, rel, NULL, NULL, false, buffer_drain_read,
						   worker_raw_columns(), options);
	(void) CopyFrom(cstate);
	EndCopyFrom(cstate);

	/* keep the lock until commit */
	table_close(rel, NoLock);
	free_parsestate(pstate);
}

/* One flush transaction; returns the events it committed. */
static uint64
worker_flush_batch(void)
{
	TimestampTz started = GetCurrentTimestamp();
	uint64		pending;
	Oid			relid;
	char		activity[64];

	/* statement_timestamp() and pg_stat_activity show this batch */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* catalog lookups, index checks and triggers need a snapshot */
	PushActiveSnapshot(GetTransactionSnapshot());

	relid = worker_raw_table();
	pending = OidIsValid(relid) ? buffer_drain_begin(WORKER_BATCH_EVENTS) : 0;
	if (pending > 0)
	{
		snprintf(activity, sizeof(activity), "flushing " UINT64_FORMAT " events",
				 Min(pending, (uint64) WORKER_BATCH_EVENTS));
		pgstat_report_activity(STATE_RUNNING, activity);
		worker_copy_into(relid);
	}

	PopActiveSnapshot();
	CommitTransactionCommand();
	/* only now, committed, may the tails move */
	if (pending > 0)
		pending = buffer_drain_committed(started);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return pending;
}

/* Drain until the buffer is empty, a batch at a time. */
static void
worker_flush_run(void)
{
	for (int i = 0; i < WORKER_BATCHES_PER_RUN; i++)
	{
		if (buffer_pending_events() == 0)
			break;
		if (worker_flush_batch() == 0)
			break;
	}
}

static void
worker_flush_report(const char *error)
{
	if (error)
		buffer_report_flush_error(error);
}
