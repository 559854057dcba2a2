/*-------------------------------------------------------------------------
 *
 * query_marks.h
 *	  Folding the dirty marks of a group-hour into one (compact_marks()).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_QUERY_MARKS_H
#define METRICS_ROLLUP_QUERY_MARKS_H

/*
 * The maintenance worker's compaction, called every loop: when due (every
 * QUERY_MARKS_COMPACT_FLUSHES flush intervals) and the runner lock is free,
 * folds the marks in its own transaction.  Outside any transaction; never
 * throws (a failure is logged and tried again when next due).
 */
extern void query_marks_compact_maybe(void);

#endif							/* METRICS_ROLLUP_QUERY_MARKS_H */
