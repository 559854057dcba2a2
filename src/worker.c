/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The background workers: the maintenance worker ("metrics_rollup
 *	  worker") runs the scheduled jobs rollup and cleanup; each of the
 *	  flush_workers flush workers ("metrics_rollup flush worker") runs the
 *	  flush job over its own rings of the buffer.
 *
 * Roles.  One bgw_function serves both: bgw_main_arg 0 is the maintenance
 * worker, k + 1 is flush worker k.  Every process keeps the whole job
 * table and enables only its role's jobs, so the loop, the try/catch of a
 * job, the schedule and the history are one code path.  A flush worker is
 * never behind maintenance: a rollup or cleanup of millions of rows runs
 * in another process while the flush workers keep committing every
 * flush_interval (or sooner when their rings cross flush_threshold).
 * Each flush worker has its own flush state machine (retry, backoff,
 * circuit: jobstate.c shows each in its own slot).
 *
 * Every background worker of the extension has its entry point here: also
 * the one-shot worker of run_rollup_background() (worker_rollup_main,
 * registered by rollup.c) and the checker of metrics_rollup.database
 * (worker_dbcheck_main, registered by dbcheck.c).
 *
 * Owns: the worker's registration, its main loop, the job table
 * worker_jobs[] and the one place where a job's try is run, its outcome
 * fed to the job's state machine (jobstate.c), shown (stats view) and
 * queued for the job history (history.c): worker_run_job.
 *
 * Must never: touch the rings directly (buffer.c does), decide retry,
 * backoff or circuit transitions (jobstate.c does), or die on a failed
 * job: a job's error is caught, recorded, and retried.
 *
 * Shape (worker_spi / autoprewarm): connect to metrics_rollup.database,
 * publish pid and latch in shared memory (buffer_attach_worker or
 * buffer_attach_drainer), wait without crash-looping until CREATE
 * EXTENSION metrics_rollup has run there, then loop: WaitLatch until the
 * earliest job is due or someone sets the latch (flush() or one of our
 * rings crossing flush_threshold), run the due jobs of our role in table
 * order (flush; rollup, cleanup: cleanup after rollup when both are due), each outside any transaction (it starts and commits
 * its own), then write the queued job history.  Nothing runs while
 * RecoveryInProgress(): on a hot standby the worker idles, polling at
 * least once a second, and starts working when the server is promoted.
 *
 * SIGTERM (SignalHandlerForShutdownRequest) ends the loop; a flush
 * worker's final flush then drains its rings for at most
 * WORKER_FINAL_FLUSH_MS, even when
 * metrics_rollup.enabled is off: events in shared memory would otherwise
 * be lost by the shutdown.  We exit with proc_exit(1): during a server
 * shutdown the postmaster restarts nothing anyway, and after a SIGTERM
 * from pg_terminate_backend() the worker comes back after
 * bgw_restart_time, because without it the buffer would fill up for good.
 *
 * Adding a job: a JobKind (jobstate.h) and one line in worker_jobs[] with
 * a run function that starts and commits its own transaction(s) and
 * ereports on failure, and a rows function saying what the last run did.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/backend_status.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "buffer.h"
#include "citus.h"
#include "catalog.h"
#include "cleanup.h"
#include "dbcheck.h"
#include "flush.h"
#include "guc.h"
#include "security.h"

#include "history.h"
#include "job_xact.h"
#include "jobstate.h"
#include "query_marks.h"
#include "rollup.h"
#include "worker.h"

/* How long the final flush at shutdown may take. */
#define WORKER_FINAL_FLUSH_MS 10000
/* How long the buffer must stay empty before the final flush ends. */
#define WORKER_FINAL_SETTLE_MS 100
/* How often we look for CREATE EXTENSION while it has not run. */
#define WORKER_EXTENSION_POLL_MS 1000
/* Longest sleep: how often recovery end and settings are looked at. */
#define WORKER_MAX_SLEEP_MS 1000

/*
 * A scheduled job.  run() is called outside any transaction, starts and
 * commits its own, and ereports on failure; rows() says what the last
 * run did (also after an error); report() is told the outcome (error is
 * NULL on success).
 */
typedef struct WorkerJob
{
	JobKind		kind;
	bool		(*enabled) (void);
	int			(*interval_ms) (void);
	void		(*run) (void);
	int64		(*rows) (void);
	void		(*report) (const char *error);	/* may be NULL */
	JobControl	control;		/* the job's state machine (jobstate.c) */
} WorkerJob;

static bool worker_flush_enabled(void);
static int	worker_flush_interval(void);
static bool worker_rollup_enabled(void);
static int	worker_rollup_interval(void);
static void worker_rollup_run(void);
static int64 worker_rollup_rows(void);
static const char *worker_rollup_note(int *sqlstate);
static bool worker_cleanup_enabled(void);
static int	worker_cleanup_interval(void);
static void worker_cleanup_run(void);
static int64 worker_cleanup_rows(void);

/* In run order when several are due: cleanup after rollup. */
static WorkerJob worker_jobs[] = {
	{JOB_FLUSH, worker_flush_enabled, worker_flush_interval,
	flush_run, flush_last_rows, flush_report},
	{JOB_ROLLUP, worker_rollup_enabled, worker_rollup_interval,
	worker_rollup_run, worker_rollup_rows, NULL},
	{JOB_CLEANUP, worker_cleanup_enabled, worker_cleanup_interval,
	worker_cleanup_run, worker_cleanup_rows, NULL},
};

#define WORKER_NJOBS ((int) lengthof(worker_jobs))
StaticAssertDecl(lengthof(worker_jobs) == JOB_COUNT, "one WorkerJob per JobKind");

/* -1 in the maintenance worker, k in flush worker k. */
static int	worker_flusher = -1;

/* Reset at every loop iteration; holds the copy of a job's error. */
static MemoryContext worker_cxt = NULL;

/* What the last cleanup run deleted (raw, hourly). */
static CleanupResult worker_cleanup_raw;
static CleanupResult worker_cleanup_hourly;

static void worker_on_exit(int code, Datum arg);
static void worker_reload_config(void);
static bool worker_extension_ready(void);
static bool worker_wait_for_extension(void);
static void worker_run_due_jobs(bool woken);
static bool worker_run_job(WorkerJob *job);
static long worker_next_timeout(void);
static void worker_final_flush(void);

/* Register the maintenance worker (role 0) or flush worker role - 1. */
static void
worker_register_one(int role)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* ConsistentState: it also runs on a hot standby, idle until promotion */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 5;
	worker.bgw_main_arg = Int32GetDatum(role);
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_rollup");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "worker_main");
	if (role == 0)
	{
		snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_rollup worker");
		snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_rollup worker");
	}
	else
	{
		snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_rollup flush worker %d",
				 role - 1);
		snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_rollup flush worker");
	}
	RegisterBackgroundWorker(&worker);
}

void
worker_register(void)
{
	if (mr_flush_workers + 1 > max_worker_processes)
		ereport(WARNING,
				(errmsg("metrics_rollup.flush_workers = %d does not fit in max_worker_processes = %d: %d flush workers start",
						mr_flush_workers, max_worker_processes, guc_flush_workers()),
				 errhint("Raise max_worker_processes to at least metrics_rollup.flush_workers + 1 plus what parallel query and other extensions use.")));
	worker_register_one(0);
	for (int k = 0; k < guc_flush_workers(); k++)
		worker_register_one(k + 1);
}

/* Publish pid and latch for our role; set up its job state. */
static void
worker_attach(void)
{
	if (worker_flusher < 0)
	{
		/* counts this start; a previous worker that died uncleanly shows */
		jobstate_worker_started();
		/* the stats view shows our pid */
		buffer_attach_worker(MyProcPid, MyLatch);
	}
	else
		/* flush() and producers of our rings wake us through shared memory */
		buffer_attach_drainer(worker_flusher, MyProcPid, MyLatch);

	/* every job's first run is due at once: catch up after downtime */
	for (int i = 0; i < WORKER_NJOBS; i++)
		jobstate_init(&worker_jobs[i].control, worker_jobs[i].kind,
					  worker_jobs[i].kind != JOB_FLUSH,
					  worker_jobs[i].kind == JOB_FLUSH);
	if (worker_flusher >= 0)
		jobstate_set_flush_worker(&worker_jobs[JOB_FLUSH].control, worker_flusher);
}

void
worker_main(Datum main_arg)
{
	bool		woken = false;
	int			role = DatumGetInt32(main_arg);
	char		appname[NAMEDATALEN];

	/* SIGTERM only sets a flag: we still want the final flush */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/*
	 * A wrong metrics_rollup.database: one WARNING (the main worker's) and a
	 * backoff, no FATAL; flush workers wait for the main worker's answer.
	 */
	if (role == 0 ? !dbcheck_wait_for_database() : !dbcheck_wait_for_main_worker())
		proc_exit(1);
	BackgroundWorkerInitializeConnection(mr_database, NULL, 0);
	/* superuser: no database/role search_path may redirect our SQL */
	security_pin_worker_search_path();
	worker_flusher = role - 1;
	if (worker_flusher < 0)
		strlcpy(appname, "metrics_rollup worker", sizeof(appname));
	else
		snprintf(appname, sizeof(appname), "metrics_rollup flush worker %d",
				 worker_flusher);
	pgstat_report_appname(appname);

	worker_attach();
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
			MemoryContextSwitchTo(worker_cxt);
			worker_reload_config();

			/* a standby writes nothing; promotion ends this by itself */
			if (!RecoveryInProgress())
			{
				worker_run_due_jobs(woken);
				/* the maintenance worker also folds dirty marks */
				if (worker_flusher < 0)
					query_marks_compact_maybe();
				history_write();
			}
			/* idle: pg_stat_activity must not show the last job's text */
			pgstat_report_activity(STATE_IDLE, "");
			buffer_drainer_sample_rate();

			rc = WaitLatch(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						   worker_next_timeout(), PG_WAIT_EXTENSION);
			woken = (rc & WL_LATCH_SET) != 0;
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (worker_flusher >= 0)
			worker_final_flush();
	}

	proc_exit(1);
}

/* Whatever the exit path: nobody must wait for us any more. */
static void
worker_on_exit(int code, Datum arg)
{
	char		reason[64];

	if (worker_flusher >= 0)
	{
		buffer_detach_drainer();
		return;
	}
	buffer_detach_worker();
	if (ShutdownRequestPending)
		snprintf(reason, sizeof(reason), "shutdown requested (exit code %d)", code);
	else
		snprintf(reason, sizeof(reason), "exit code %d", code);
	jobstate_worker_exiting(reason);
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
	ready = catalog_extension_ready();
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
		{
			jobstate_set_worker_state("");
			return true;
		}
		jobstate_set_worker_state("waiting for CREATE EXTENSION metrics_rollup");
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 WORKER_EXTENSION_POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	return false;
}

/* A scheduled run not made: the job's circuit is open, or see reason. */
static void
worker_skip_job(WorkerJob *job, TimestampTz now, const char *reason)
{
	JobRunInfo	run = {now, 0, 0, JOB_OUTCOME_SKIPPED, reason};

	jobstate_publish(&job->control, &run);
	history_add(job->kind, now, now, JOB_OUTCOME_SKIPPED, 0, 0, 0,
				reason ? reason : "circuit open at the scheduled time");
}

/*
 * Rollup and cleanup run on the Citus coordinator only: on a worker node
 * a due run is skipped, visibly, and the circuit stays as it is.
 */
#define WORKER_NOT_COORDINATOR \
	"skipped: not the Citus coordinator (rollup and cleanup run there)"

static bool
worker_job_elsewhere(const WorkerJob *job)
{
	return job->kind != JOB_FLUSH && citus_on_worker_node();
}

/* Run every job that is due, in table order. */
static void
worker_run_due_jobs(bool woken)
{
	for (int i = 0; i < WORKER_NJOBS; i++)
	{
		WorkerJob  *job = &worker_jobs[i];
		TimestampTz now = GetCurrentTimestamp();

		if (!job->enabled() || ShutdownRequestPending)
			continue;
		switch (jobstate_step(&job->control, now, woken, job->interval_ms()))
		{
			case JOB_STEP_RUN:
				if (worker_job_elsewhere(job))
				{
					(void) jobstate_finish(&job->control, now, true);
					worker_skip_job(job, now, WORKER_NOT_COORDINATOR);
				}
				else
					(void) worker_run_job(job);
				break;
			case JOB_STEP_SKIP:
				worker_skip_job(job, now, NULL);
				break;
			case JOB_STEP_WAIT:
				break;
		}
	}
}

/* Log what a failed try means for the job. */
static void
worker_log_failure(const WorkerJob *job, JobOutcome outcome,
				   CircuitState before, const char *message)
{
	const JobControl *jc = &job->control;
	const char *name = jobstate_job_name(job->kind);

	if (outcome == JOB_OUTCOME_GAVE_UP)
		ereport(LOG,
				(errmsg("metrics_rollup %s job gave up after %d failed tries: %s",
						name, mr_max_retries + 1, message),
				 errhint("It runs again at its next scheduled time.")));
	else
		ereport(LOG,
				(errmsg("metrics_rollup %s job failed (try %d): %s",
						name, jc->attempt, message),
				 errhint("It is retried in %ld ms.",
						 (long) TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																jobstate_next_wakeup(jc)))));
	if (jc->circuit == CIRCUIT_OPEN && before != CIRCUIT_OPEN)
		ereport(LOG,
				(errmsg("metrics_rollup %s job circuit opened after %d consecutive failures",
						name, jc->consecutive_failures),
				 errhint("One try is made after metrics_rollup.circuit_reset (%d ms).",
						 mr_circuit_reset_ms)));
}

/*
 * Run one try of a job: the one place where its success or failure is
 * seen.  A failure aborts the job's transaction and keeps the worker
 * alive; the state machine decides when the next try comes.  Returns true
 * on success.
 */
static bool
worker_run_job(WorkerJob *job)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	CircuitState before = job->control.circuit;
	JobRunInfo	run = {0};
	ErrorData  *volatile edata = NULL;
	int			attempt = job->control.attempt;

	run.started = GetCurrentTimestamp();
	/* no job waits without bound on a lock a user holds */
	job_apply_lock_timeout();
	PG_TRY();
	{
		job->run();
	}
	PG_CATCH();
	{
		/* leave the error context before copying the error out of it */
		MemoryContextSwitchTo(worker_cxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* releases locks, buffers and SPI of the failed transaction */
		AbortCurrentTransaction();
		pgstat_report_activity(STATE_IDLE, NULL);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);

	run.duration_us = GetCurrentTimestamp() - run.started;
	run.rows = job->rows();
	run.error = edata ? edata->message : NULL;
	run.outcome = jobstate_finish(&job->control, GetCurrentTimestamp(), edata == NULL);
	jobstate_publish(&job->control, &run);
	if (job->report)
		job->report(run.error);

	if (edata)
		worker_log_failure(job, run.outcome, before, edata->message);
	else if (before != CIRCUIT_CLOSED)
		ereport(LOG,
				(errmsg("metrics_rollup %s job succeeded again, circuit closed",
						jobstate_job_name(job->kind))));

	/* an idle flush is not worth a history row */
	if (edata || job->kind != JOB_FLUSH || run.rows > 0)
	{
		int			code = edata ? edata->sqlerrcode : 0;
		const char *message = run.error;

		/* a rollup that set groups aside succeeded, and says so */
		if (!edata && job->kind == JOB_ROLLUP)
			message = worker_rollup_note(&code);
		history_add(job->kind, run.started, run.started + run.duration_us,
					run.outcome, attempt, run.rows, code, message);
	}
	return edata == NULL;
}

/* Milliseconds until the earliest enabled job is due (at most 1 s). */
static long
worker_next_timeout(void)
{
	TimestampTz now = GetCurrentTimestamp();
	long		timeout = WORKER_MAX_SLEEP_MS;

	for (int i = 0; i < WORKER_NJOBS; i++)
	{
		WorkerJob  *job = &worker_jobs[i];

		if (!job->enabled())
			continue;
		jobstate_publish_schedule(&job->control);
		timeout = Min(timeout,
					  TimestampDifferenceMilliseconds(now,
													  jobstate_next_wakeup(&job->control)));
	}
	return Max(timeout, 0);
}

/*
 * On SIGTERM: drain what is buffered, retrying failed flushes every
 * 100 ms whatever the backoff, for at most WORKER_FINAL_FLUSH_MS.
 *
 * Our rings must stay empty for WORKER_FINAL_SETTLE_MS before we leave: a
 * fast shutdown signals the backends and us in one loop of the postmaster,
 * and a terminated backend appends nothing (buffer.c), so a backend whose
 * append raced our last check has appended well within that time, and
 * what it appended is flushed.
 */
static void
worker_final_flush(void)
{
	TimestampTz deadline;
	TimestampTz quiet_since = GetCurrentTimestamp();
	WorkerJob  *flush = &worker_jobs[JOB_FLUSH];

	if (RecoveryInProgress())
		return;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   WORKER_FINAL_FLUSH_MS);
	while (GetCurrentTimestamp() < deadline)
	{
		if (buffer_own_pending_events() == 0)
		{
			if (TimestampDifferenceExceeds(quiet_since, GetCurrentTimestamp(),
										   WORKER_FINAL_SETTLE_MS))
				break;
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			continue;
		}
		MemoryContextReset(worker_cxt);
		MemoryContextSwitchTo(worker_cxt);
		if (flush->control.attempt == 0)
			flush->control.attempt = 1;
		if (!worker_run_job(flush))
		{
			(void) WaitLatch(MyLatch,
							 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
		}
		quiet_since = GetCurrentTimestamp();
	}
	history_write();
	if (buffer_own_pending_events() > 0)
		ereport(LOG,
				(errmsg("metrics_rollup flush worker %d exits with " UINT64_FORMAT " events not flushed",
						worker_flusher, buffer_own_pending_events())));
}

/* ----------------------------------------------------------------
 * The jobs' entries (the work itself is in flush.c, rollup.c, cleanup.c)
 * ----------------------------------------------------------------
 */

/* Flush workers flush; the maintenance worker does not. */
static bool
worker_flush_enabled(void)
{
	return mr_enabled && worker_flusher >= 0;
}

static int
worker_flush_interval(void)
{
	return mr_flush_interval_ms;
}

static bool
worker_rollup_enabled(void)
{
	return mr_enabled && mr_rollup_enabled && worker_flusher < 0;
}

static int
worker_rollup_interval(void)
{
	return mr_rollup_interval_s * 1000;
}

static void
worker_rollup_run(void)
{
	rollup_worker_run();
}

/* Hourly rows the last rollup run wrote (committed hours only). */
static int64
worker_rollup_rows(void)
{
	return rollup_worker_last_totals().rows_written;
}

/*
 * NULL, or what the last (successful) rollup run set aside in
 * rollup_failures: job_history shows it with status ok.
 */
static const char *
worker_rollup_note(int *sqlstate)
{
	RollupTotals t = rollup_worker_last_totals();

	if (t.groups_failed == 0 && t.daily.days_failed == 0)
		return NULL;
	*sqlstate = t.groups_failed > 0 ? t.failure_sqlstate : t.daily.failure_sqlstate;
	return psprintf("%d hour group(s) and %d day(s) set aside in metrics_rollup.rollup_failures; first: %s",
					t.groups_failed, t.daily.days_failed,
					t.groups_failed > 0 ? t.failure_message : t.daily.failure_message);
}

static bool
worker_cleanup_enabled(void)
{
	return mr_enabled && mr_cleanup_enabled && worker_flusher < 0;
}

static int
worker_cleanup_interval(void)
{
	return mr_cleanup_interval_s * 1000;
}

static void
worker_cleanup_run(void)
{
	cleanup_worker_run(&worker_cleanup_raw, &worker_cleanup_hourly);
}

/* Rows the last cleanup run deleted (committed batches only). */
static int64
worker_cleanup_rows(void)
{
	return worker_cleanup_raw.rows + worker_cleanup_hourly.rows;
}

/* ----------------------------------------------------------------
 * Short-lived workers that other files start
 * ----------------------------------------------------------------
 */

/*
 * run_rollup_background()'s worker (rollup.c registers it): connect to the
 * caller's database as the caller, run the worker's rollup job once, exit.
 */
void
worker_rollup_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	Oid			useroid;
	RollupTotals totals;

	memcpy(&useroid, MyBgworkerEntry->bgw_extra, sizeof(Oid));
	/* SIGTERM ends the worker at the next CHECK_FOR_INTERRUPTS */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, useroid, 0);
	/* no database/role search_path may redirect our SQL */
	security_pin_worker_search_path();
	/* the scheduled rollup's bound on lock waits */
	job_apply_lock_timeout();
	rollup_worker_run();
	totals = rollup_worker_last_totals();
	ereport(LOG,
			(errmsg("metrics_rollup: rolled up %d hours: %lld raw rows read, %lld hourly rows written, %d days built (%lld daily rows)",
					totals.hours, (long long) totals.raw_rows,
					(long long) totals.rows_written, totals.daily.days,
					(long long) totals.daily.rows)));
	proc_exit(0);
}

/*
 * dbcheck.c's checker: connected to no database (only shared catalogs are
 * readable), is metrics_rollup.database in pg_database?  Report and exit.
 */
void
worker_dbcheck_main(Datum main_arg)
{
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	dbcheck_report(dbcheck_database_exists(mr_database));
	proc_exit(0);
}
