/*-------------------------------------------------------------------------
 *
 * jobstate.h
 *	  The state of each worker job: clock-aligned schedule, retry with
 *	  backoff, circuit breaker, and the copy of it the stats view reads.
 *
 * jobstate.c owns the state machine (worker-local JobControl), the shared
 * piece "metrics_rollup job state" and job_stats(); worker.c drives the
 * machine and publishes through it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_JOBSTATE_H
#define METRICS_ROLLUP_JOBSTATE_H

#include "datatype/timestamp.h"

#include "shmem.h"

/* The worker's jobs, in the order they run when due together. */
typedef enum JobKind
{
	JOB_FLUSH,
	JOB_ROLLUP,
	JOB_CLEANUP,
	JOB_COUNT
} JobKind;

/* The circuit breaker of one job. */
typedef enum CircuitState
{
	CIRCUIT_CLOSED,				/* runs on schedule; failures are retried */
	CIRCUIT_OPEN,				/* too many failures: no run until open_until */
	CIRCUIT_HALF_OPEN			/* the one try after open_until is running */
} CircuitState;

/* What to do with a job now (jobstate_step). */
typedef enum JobStep
{
	JOB_STEP_WAIT,				/* not due */
	JOB_STEP_RUN,				/* run it now */
	JOB_STEP_SKIP				/* a scheduled run falls in an open circuit */
} JobStep;

/* How a run ended (jobstate_finish); the job_history status. */
typedef enum JobOutcome
{
	JOB_OUTCOME_OK,
	JOB_OUTCOME_FAILED,			/* retried after a backoff */
	JOB_OUTCOME_GAVE_UP,		/* max_retries exhausted: wait for the schedule */
	JOB_OUTCOME_SKIPPED			/* not run: circuit open at its scheduled time */
} JobOutcome;

/*
 * One job's state machine; lives in the worker only.  Times are 0 when
 * unset.
 */
typedef struct JobControl
{
	JobKind		kind;
	bool		can_give_up;	/* false for flush: events must not be lost */
	bool		run_on_wake;	/* a set latch makes a first try due */
	CircuitState circuit;
	int			consecutive_failures;	/* failed tries since the last success */
	int			attempt;		/* tries of the current run, 1 = first */
	TimestampTz next_scheduled; /* next clock-aligned run; 0: at once */
	TimestampTz retry_at;		/* next try of a failed run; 0: none pending */
	TimestampTz open_until;		/* OPEN: no try before this */
} JobControl;

/* What the stats view shows of one job's last run. */
typedef struct JobRunInfo
{
	TimestampTz started;
	int64		duration_us;
	int64		rows;
	JobOutcome	outcome;
	const char *error;			/* NULL on success */
} JobRunInfo;

extern const ShmemPiece jobstate_shmem_piece;

/* the state machine (worker.c) */
extern void jobstate_init(JobControl *jc, JobKind kind, bool can_give_up,
						  bool run_on_wake);
extern JobStep jobstate_step(JobControl *jc, TimestampTz now, bool woken,
							 int interval_ms);
extern JobOutcome jobstate_finish(JobControl *jc, TimestampTz now, bool ok);
extern TimestampTz jobstate_next_wakeup(const JobControl *jc);
extern TimestampTz jobstate_align(TimestampTz now, int64 interval_ms);
extern int64 jobstate_backoff_ms(int failed_tries, bool capped_forever);
extern const char *jobstate_job_name(JobKind kind);
extern const char *jobstate_outcome_name(JobOutcome outcome);
extern const char *jobstate_circuit_name(CircuitState circuit);

/* publishing for the stats view (worker.c) */
extern void jobstate_publish(const JobControl *jc, const JobRunInfo *run);
extern void jobstate_publish_schedule(const JobControl *jc);
extern void jobstate_worker_started(void);
extern void jobstate_worker_exiting(const char *reason);
extern void jobstate_count_dead_lettered(uint64 n);
extern void jobstate_set_worker_state(const char *state);

/* stats_reset() (statsreset.c) */
extern void jobstate_reset_counters(void);

#endif							/* METRICS_ROLLUP_JOBSTATE_H */
