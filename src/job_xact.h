/*-------------------------------------------------------------------------
 *
 * job_xact.h
 *	  One unit of work of a background-worker job: a transaction with SPI.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_JOB_XACT_H
#define METRICS_ROLLUP_JOB_XACT_H

/*
 * Begin a unit of work outside any transaction: returns inside a new
 * transaction with SPI connected and a snapshot pushed, and shows activity
 * in pg_stat_activity.
 */
extern void job_xact_begin(const char *activity);

/* Commit the unit begun by job_xact_begin. */
extern void job_xact_commit(void);

/*
 * Bound every lock wait of this process (a background worker) by
 * metrics_rollup.lock_timeout: a job waiting on a lock a user holds fails
 * with 55P03 and goes through the job's retry and circuit logic.  Call
 * before each job run (the setting may have been reloaded).
 */
extern void job_apply_lock_timeout(void);

/*
 * Data errors (SQLSTATE class 22 or 23, P0001 from a trigger, XX001 for a
 * corrupt stored value): about one group's data, so the group is set aside
 * and the others go on.  Anything else (lock timeout, disk full, cancel)
 * fails the whole unit of work.
 */
extern bool job_is_data_error(int sqlerrcode);

typedef void (*JobTryFn) (void *arg);

/*
 * Run fn(arg) in a subtransaction of the current transaction.  Returns NULL
 * when it succeeded; the error (in the caller's memory context, the
 * subtransaction rolled back) when it failed with a data error as
 * is_data_error says (NULL: job_is_data_error); re-raises any other error.
 */
extern ErrorData *job_try_isolated(JobTryFn fn, void *arg,
								   bool (*is_data_error) (int sqlerrcode));

/* Wait for the lock that keeps rollup and cleanup runs apart (transaction-level). */
extern void job_runner_lock(void);

/* The same lock if it is free now (true), without waiting (false). */
extern bool job_runner_try_lock(void);

#endif							/* METRICS_ROLLUP_JOB_XACT_H */
