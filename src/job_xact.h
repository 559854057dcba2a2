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

/* Wait for the lock that keeps rollup and cleanup runs apart (transaction-level). */
extern void job_runner_lock(void);

#endif							/* METRICS_ROLLUP_JOB_XACT_H */
