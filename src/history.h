/*-------------------------------------------------------------------------
 *
 * history.h
 *	  The job history (metrics_rollup.job_runs, view job_history): the
 *	  worker queues one entry per job try and writes the queue in its own
 *	  small transaction.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_HISTORY_H
#define METRICS_ROLLUP_HISTORY_H

#include "datatype/timestamp.h"

#include "jobstate.h"

/* Rows kept per job in job_runs; older ones go when a newer one is written. */
#define HISTORY_KEEP_PER_JOB 1000

/*
 * Queue one run for job_runs.  sqlerrcode 0 and message NULL on success.
 * Never fails; when the queue is full the oldest entry is dropped (and
 * counted in the server log at the next write).
 */
extern void history_add(JobKind job, TimestampTz started, TimestampTz finished,
						JobOutcome outcome, int attempt, int64 rows,
						int sqlerrcode, const char *message);

/*
 * Write the queued entries in one transaction; call outside any
 * transaction.  One try: on failure the entries stay queued for the next
 * call, the error goes to the log, and nothing is raised.
 */
extern void history_write(void);

/* Entries waiting to be written. */
extern int	history_queued(void);

#endif							/* METRICS_ROLLUP_HISTORY_H */
