/*-------------------------------------------------------------------------
 *
 * cleanup.h
 *	  Retention cleanup: what cleanup.c offers the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_CLEANUP_H
#define METRICS_ROLLUP_CLEANUP_H

#include "datatype/timestamp.h"

/* What a run deleted from one relation. */
typedef struct CleanupResult
{
	int64		rows;			/* rows deleted (committed, for the worker) */
	TimestampTz start;
	TimestampTz end;
} CleanupResult;

/*
 * The background worker's cleanup job.  Call OUTSIDE any transaction: it
 * commits after every batch, so on an ERROR the batches before it stay done
 * and *raw / *hourly count them.  Does nothing when cleanup_enabled is off,
 * in recovery, or before CREATE EXTENSION.  Scheduling is the caller's job.
 */
extern void cleanup_worker_run(CleanupResult *raw, CleanupResult *hourly);

#endif							/* METRICS_ROLLUP_CLEANUP_H */
