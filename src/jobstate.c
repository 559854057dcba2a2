/*-------------------------------------------------------------------------
 *
 * jobstate.c
 *	  The state machine of every worker job (flush, rollup, cleanup):
 *	  clock-aligned schedule, retry with exponential backoff and jitter,
 *	  circuit breaker; and the shared copy the stats view reads.
 *
 * Owns: the transitions of JobControl (all of them are in jobstate_step
 * and jobstate_finish, nowhere else), the shared piece "metrics_rollup job
 * state" and the SQL function job_stats().
 *
 * The state machine (pg_cron style, one place):
 *
 *	 CLOSED --failure, consecutive_failures >= threshold--> OPEN
 *	 OPEN   --open_until passed, a try is due-------------> HALF_OPEN
 *	 HALF_OPEN --success--> CLOSED      HALF_OPEN --failure--> OPEN
 *	 any    --success--> CLOSED (consecutive_failures = 0)
 *
 *	 A failed try of a run is retried after
 *	 retry_interval * 2^(tries - 1), capped at max_backoff, +-25% jitter.
 *	 After 1 + max_retries failed tries the run is given up (gave_up) and
 *	 the job waits for its next scheduled time.  The flush job never gives
 *	 up: buffered events must not be lost, so it keeps retrying at
 *	 max_backoff (events stay in the buffer; overflow_policy applies when
 *	 it is full).  A scheduled time that passes while the circuit is open
 *	 and no retry is pending is "skipped" (rollup and cleanup only).
 *
 * Schedules are aligned to the clock: the next run is the next multiple
 * of the interval since the Unix epoch, never "last run + interval", so
 * runs do not drift.  next_scheduled = 0 at worker start makes every job
 * run once at once (catch-up after downtime).
 *
 * Shared memory and locking: JobShared is written only by the worker and
 * read by job_stats().  lock (one LWLock, tranche "metrics_rollup job
 * state") guards jobs[], worker_starts, worker_running, last_exit and
 * worker_state: the worker takes it exclusively to publish (and
 * stats_reset() to zero the counters), readers shared.  The count of
 * dead-lettered events is an atomic.
 *
 * Must never: run SQL or start transactions (worker.c does), decide what
 * a job does.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/pg_prng.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "jobstate.h"

#define JOBSTATE_TRANCHE "metrics_rollup job state"
#define JOBSTATE_ERROR_LEN 256

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define JOBSTATE_UNIX_OFFSET_US \
	((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY)

/* One job as the stats view sees it. */
typedef struct JobShown
{
	CircuitState circuit;
	int			consecutive_failures;
	TimestampTz next_try;		/* retry or half-open try; 0: none */
	TimestampTz next_scheduled; /* 0: at once */
	TimestampTz last_start;		/* 0: never ran */
	int64		last_duration_us;
	int64		last_rows;
	JobOutcome	last_outcome;
	uint64		runs;			/* tries, ever */
	uint64		failures;		/* failed tries, ever */
	char		last_error[JOBSTATE_ERROR_LEN]; /* "" after a success */
} JobShown;

typedef struct JobShared
{
	LWLock	   *lock;
	JobShown	jobs[JOB_COUNT];
	uint64		worker_starts;	/* worker_main calls since server start */
	bool		worker_running; /* set at start, cleared at a clean exit */
	char		last_exit[128]; /* why the previous worker ended; "" none */
	char		worker_state[128];	/* what the worker does now; "" none */
	pg_atomic_uint64 events_dead_lettered;
} JobShared;

static JobShared *jobshared = NULL;

static Size jobstate_shmem_size(void);
static void jobstate_shmem_init(void *shmem, bool found);

const ShmemPiece jobstate_shmem_piece = {
	JOBSTATE_TRANCHE,
	jobstate_shmem_size,
	1,
	jobstate_shmem_init
};

PG_FUNCTION_INFO_V1(jobstate_stats);

static Size
jobstate_shmem_size(void)
{
	return MAXALIGN(sizeof(JobShared));
}

static void
jobstate_shmem_init(void *shmem, bool found)
{
	jobshared = (JobShared *) shmem;
	if (found)
		return;
	memset(jobshared, 0, sizeof(JobShared));
	jobshared->lock = &(GetNamedLWLockTranche(JOBSTATE_TRANCHE))->lock;
	pg_atomic_init_u64(&jobshared->events_dead_lettered, 0);
}

/* ----------------------------------------------------------------
 * The state machine
 * ----------------------------------------------------------------
 */

void
jobstate_init(JobControl *jc, JobKind kind, bool can_give_up, bool run_on_wake)
{
	memset(jc, 0, sizeof(*jc));
	jc->kind = kind;
	jc->can_give_up = can_give_up;
	jc->run_on_wake = run_on_wake;
	jc->circuit = CIRCUIT_CLOSED;
	/* next_scheduled = 0: one catch-up run at worker start */
}

/* The first multiple of interval_ms since the Unix epoch after now. */
TimestampTz
jobstate_align(TimestampTz now, int64 interval_ms)
{
	int64		step = Max(interval_ms, 1) * 1000;
	int64		unix_us = now + JOBSTATE_UNIX_OFFSET_US;

	return (unix_us / step + 1) * step - JOBSTATE_UNIX_OFFSET_US;
}

/*
 * Milliseconds to wait after failed_tries failed tries of a run:
 * retry_interval * 2^(failed_tries - 1), capped at max_backoff, then
 * +-25% jitter so that retries of several servers do not synchronise.
 * capped_forever: past max_retries (flush only) always max_backoff.
 */
int64
jobstate_backoff_ms(int failed_tries, bool capped_forever)
{
	double		ms = mr_max_backoff_ms;
	double		jitter;

	if (!capped_forever)
	{
		ms = mr_retry_interval_ms;
		/* 2^(n - 1), stopping once past the cap (no overflow) */
		for (int i = 1; i < failed_tries && ms < mr_max_backoff_ms; i++)
			ms *= 2;
		ms = Min(ms, (double) mr_max_backoff_ms);
	}
	jitter = 0.75 + 0.5 * pg_prng_double(&pg_global_prng_state);
	return (int64) (ms * jitter);
}

/* A first try of a new run: count it and move the schedule on. */
static JobStep
jobstate_start_run(JobControl *jc, TimestampTz now, int interval_ms)
{
	jc->attempt = 1;
	jc->next_scheduled = jobstate_align(now, interval_ms);
	return JOB_STEP_RUN;
}

/*
 * Is the job due now?  Makes the transitions that starting a try implies
 * (OPEN -> HALF_OPEN, attempt counting, schedule advance).  woken: the
 * latch was set (flush() or a ring crossing flush_threshold).
 */
JobStep
jobstate_step(JobControl *jc, TimestampTz now, bool woken, int interval_ms)
{
	bool		scheduled = now >= jc->next_scheduled;
	bool		retry_pending = jc->retry_at != 0;

	switch (jc->circuit)
	{
		case CIRCUIT_CLOSED:
			if (retry_pending)
			{
				if (now < jc->retry_at)
					return JOB_STEP_WAIT;
				jc->attempt++;
				return JOB_STEP_RUN;
			}
			if (scheduled || (woken && jc->run_on_wake))
				return jobstate_start_run(jc, now, interval_ms);
			return JOB_STEP_WAIT;

		case CIRCUIT_OPEN:
			if (retry_pending)
			{
				if (now < jc->open_until || now < jc->retry_at)
					return JOB_STEP_WAIT;
				jc->circuit = CIRCUIT_HALF_OPEN;
				jc->attempt++;
				return JOB_STEP_RUN;
			}
			/* the last run was given up: wait for the schedule */
			if (!scheduled)
				return JOB_STEP_WAIT;
			if (now < jc->open_until)
			{
				jc->next_scheduled = jobstate_align(now, interval_ms);
				return JOB_STEP_SKIP;
			}
			jc->circuit = CIRCUIT_HALF_OPEN;
			return jobstate_start_run(jc, now, interval_ms);

		case CIRCUIT_HALF_OPEN:
			/*
			 * Only while a try runs: jobstate_finish always leaves it.  Were
			 * it ever seen here, that try did not finish: make it again.
			 */
			jc->attempt++;
			return JOB_STEP_RUN;
	}
	return JOB_STEP_WAIT;
}

/* The try begun by jobstate_step ended; returns how (for job_history). */
JobOutcome
jobstate_finish(JobControl *jc, TimestampTz now, bool ok)
{
	bool		exhausted;

	if (ok)
	{
		jc->circuit = CIRCUIT_CLOSED;
		jc->consecutive_failures = 0;
		jc->attempt = 0;
		jc->retry_at = 0;
		jc->open_until = 0;
		return JOB_OUTCOME_OK;
	}

	jc->consecutive_failures++;
	if (jc->circuit == CIRCUIT_HALF_OPEN ||
		jc->consecutive_failures >= mr_circuit_failure_threshold)
	{
		jc->circuit = CIRCUIT_OPEN;
		jc->open_until = TimestampTzPlusMilliseconds(now, mr_circuit_reset_ms);
	}

	exhausted = jc->attempt > mr_max_retries;
	if (exhausted && jc->can_give_up)
	{
		jc->attempt = 0;
		jc->retry_at = 0;
		return JOB_OUTCOME_GAVE_UP;
	}
	jc->retry_at = TimestampTzPlusMilliseconds(now,
											   jobstate_backoff_ms(jc->attempt, exhausted));
	return JOB_OUTCOME_FAILED;
}

/* When the job may next need the worker (for WaitLatch's timeout). */
TimestampTz
jobstate_next_wakeup(const JobControl *jc)
{
	TimestampTz at = jc->retry_at != 0 ? jc->retry_at : jc->next_scheduled;

	if (jc->circuit == CIRCUIT_OPEN && jc->retry_at != 0)
		at = Max(at, jc->open_until);
	return at;
}

const char *
jobstate_job_name(JobKind kind)
{
	switch (kind)
	{
		case JOB_FLUSH:
			return "flush";
		case JOB_ROLLUP:
			return "rollup";
		case JOB_CLEANUP:
			return "cleanup";
		case JOB_COUNT:
			break;
	}
	return "?";
}

const char *
jobstate_outcome_name(JobOutcome outcome)
{
	switch (outcome)
	{
		case JOB_OUTCOME_OK:
			return "ok";
		case JOB_OUTCOME_FAILED:
			return "failed";
		case JOB_OUTCOME_GAVE_UP:
			return "gave_up";
		case JOB_OUTCOME_SKIPPED:
			return "skipped";
	}
	return "?";
}

const char *
jobstate_circuit_name(CircuitState circuit)
{
	switch (circuit)
	{
		case CIRCUIT_CLOSED:
			return "closed";
		case CIRCUIT_OPEN:
			return "open";
		case CIRCUIT_HALF_OPEN:
			return "half_open";
	}
	return "?";
}

/* ----------------------------------------------------------------
 * Publishing (the worker) and reading (job_stats)
 * ----------------------------------------------------------------
 */

/* Copy the schedule part of jc; caller holds the lock exclusively. */
static void
jobstate_copy_schedule(JobShown *shown, const JobControl *jc)
{
	shown->circuit = jc->circuit;
	shown->consecutive_failures = jc->consecutive_failures;
	shown->next_try = jc->retry_at != 0 ? jobstate_next_wakeup(jc) : 0;
	if (jc->circuit == CIRCUIT_OPEN && jc->retry_at == 0)
		shown->next_try = Max(jc->open_until, jc->next_scheduled);
	shown->next_scheduled = jc->next_scheduled;
}

void
jobstate_publish_schedule(const JobControl *jc)
{
	LWLockAcquire(jobshared->lock, LW_EXCLUSIVE);
	jobstate_copy_schedule(&jobshared->jobs[jc->kind], jc);
	LWLockRelease(jobshared->lock);
}

/* A try ended (or was skipped): show it and the state after it. */
void
jobstate_publish(const JobControl *jc, const JobRunInfo *run)
{
	JobShown   *shown = &jobshared->jobs[jc->kind];
	char		error[JOBSTATE_ERROR_LEN] = "";

	/* cut at a character boundary before taking the lock */
	if (run->error)
	{
		int			len = pg_mbcliplen(run->error, strlen(run->error),
									   sizeof(error) - 1);

		memcpy(error, run->error, len);
		error[len] = '\0';
	}

	LWLockAcquire(jobshared->lock, LW_EXCLUSIVE);
	jobstate_copy_schedule(shown, jc);
	if (run->outcome != JOB_OUTCOME_SKIPPED)
	{
		shown->last_start = run->started;
		shown->last_duration_us = run->duration_us;
		shown->last_rows = run->rows;
		shown->runs++;
		if (run->outcome != JOB_OUTCOME_OK)
			shown->failures++;
		strlcpy(shown->last_error, error, sizeof(shown->last_error));
	}
	shown->last_outcome = run->outcome;
	LWLockRelease(jobshared->lock);
}

/* Called once at worker start: counts starts, notices a crash. */
void
jobstate_worker_started(void)
{
	LWLockAcquire(jobshared->lock, LW_EXCLUSIVE);
	if (jobshared->worker_running)
		strlcpy(jobshared->last_exit, "died without cleanup (killed or crashed)",
				sizeof(jobshared->last_exit));
	jobshared->worker_running = true;
	jobshared->worker_starts++;
	LWLockRelease(jobshared->lock);
}

void
jobstate_worker_exiting(const char *reason)
{
	LWLockAcquire(jobshared->lock, LW_EXCLUSIVE);
	jobshared->worker_running = false;
	strlcpy(jobshared->last_exit, reason, sizeof(jobshared->last_exit));
	LWLockRelease(jobshared->lock);
}

/* What the worker is doing, for stats.worker_state ("" clears it). */
void
jobstate_set_worker_state(const char *state)
{
	LWLockAcquire(jobshared->lock, LW_EXCLUSIVE);
	strlcpy(jobshared->worker_state, state, sizeof(jobshared->worker_state));
	LWLockRelease(jobshared->lock);
}

/*
 * stats_reset(): the counters (tries and failed tries per job, dead
 * letters) start again from zero; states (circuits, consecutive failures,
 * schedules, last runs) stay, and so does worker_starts: "more than one
 * start means the worker restarted" must hold whenever stats are reset.
 */
void
jobstate_reset_counters(void)
{
	LWLockAcquire(jobshared->lock, LW_EXCLUSIVE);
	for (int k = 0; k < JOB_COUNT; k++)
	{
		jobshared->jobs[k].runs = 0;
		jobshared->jobs[k].failures = 0;
	}
	LWLockRelease(jobshared->lock);
	pg_atomic_write_u64(&jobshared->events_dead_lettered, 0);
}

void
jobstate_count_dead_lettered(uint64 n)
{
	pg_atomic_fetch_add_u64(&jobshared->events_dead_lettered, n);
}

/* A timestamptz Datum, NULL when 0. */
static void
jobstate_put_time(Datum *values, bool *nulls, int *i, TimestampTz t)
{
	nulls[*i] = t == 0;
	values[(*i)++] = TimestampTzGetDatum(t);
}

/* The columns of one job, in job_stats()'s order. */
static void
jobstate_put_job(const JobShown *s, Datum *values, bool *nulls, int *i)
{
	Interval   *duration = palloc0(sizeof(Interval));

	values[(*i)++] = CStringGetTextDatum(jobstate_circuit_name(s->circuit));
	values[(*i)++] = Int32GetDatum(s->consecutive_failures);
	jobstate_put_time(values, nulls, i, s->next_try);
	jobstate_put_time(values, nulls, i, s->next_scheduled);
	jobstate_put_time(values, nulls, i, s->last_start);
	duration->time = s->last_duration_us;
	nulls[*i] = s->last_start == 0;
	values[(*i)++] = IntervalPGetDatum(duration);
	nulls[*i] = s->last_start == 0;
	values[(*i)++] = Int64GetDatum(s->last_rows);
	nulls[*i] = s->last_start == 0 && s->last_outcome != JOB_OUTCOME_SKIPPED;
	values[(*i)++] = CStringGetTextDatum(jobstate_outcome_name(s->last_outcome));
	nulls[*i] = s->last_error[0] == '\0';
	values[(*i)++] = CStringGetTextDatum(s->last_error);
	values[(*i)++] = Int64GetDatum((int64) s->runs);
	values[(*i)++] = Int64GetDatum((int64) s->failures);
}

#define JOBSTATE_JOB_COLS 11
#define JOBSTATE_COLS (JOB_COUNT * JOBSTATE_JOB_COLS + 4)

/*
 * job_stats(): one row; per job (flush, rollup, cleanup) circuit,
 * consecutive_failures, next_retry_at, next_run_at, last_started_at,
 * last_duration, last_rows, last_status, last_error, runs, failed_runs;
 * then events_dead_lettered, worker_starts, worker_last_exit,
 * worker_state.
 */
Datum
jobstate_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	JobShown	jobs[JOB_COUNT];
	uint64		starts;
	char		last_exit[sizeof(jobshared->last_exit)];
	char		state[sizeof(jobshared->worker_state)];
	Datum		values[JOBSTATE_COLS];
	bool		nulls[JOBSTATE_COLS] = {0};
	int			i = 0;

	mr_require_preload("job_stats()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(jobshared->lock, LW_SHARED);
	memcpy(jobs, jobshared->jobs, sizeof(jobs));
	starts = jobshared->worker_starts;
	memcpy(last_exit, jobshared->last_exit, sizeof(last_exit));
	memcpy(state, jobshared->worker_state, sizeof(state));
	LWLockRelease(jobshared->lock);

	for (int k = 0; k < JOB_COUNT; k++)
		jobstate_put_job(&jobs[k], values, nulls, &i);
	values[i++] = Int64GetDatum((int64) pg_atomic_read_u64(&jobshared->events_dead_lettered));
	values[i++] = Int64GetDatum((int64) starts);
	nulls[i] = last_exit[0] == '\0';
	values[i++] = CStringGetTextDatum(last_exit);
	nulls[i] = state[0] == '\0';
	values[i++] = CStringGetTextDatum(state);
	Assert(i == JOBSTATE_COLS);

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
