/*-------------------------------------------------------------------------
 *
 * flush.h
 *	  The flush job: buffered events into raw_metrics, poison events into
 *	  rejected_events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_FLUSH_H
#define METRICS_ROLLUP_FLUSH_H

/*
 * One run of the flush job: drain the buffer a batch (one transaction) at
 * a time until it is empty or enough batches ran.  Call outside any
 * transaction; raises on a failure that is not about an event's data (the
 * failed batch's events stay buffered).
 */
extern void flush_run(void);

/* Events the last flush_run committed to raw_metrics (also after an error). */
extern int64 flush_last_rows(void);

/* A flush_run failed (error) or succeeded (NULL): the buffer's stats. */
extern void flush_report(const char *error);

/* Is this SQLSTATE about an event's data (dead-letter it) or not (retry)? */
extern bool flush_is_data_error(int sqlerrcode);

#endif							/* METRICS_ROLLUP_FLUSH_H */
