/*-------------------------------------------------------------------------
 *
 * rollup.h
 *	  Hourly rollup: what rollup.c and rollup_agg.c offer the other files.
 *
 * Owns: the field order of metrics_rollup.rollup_stats (it must match the
 * type in the extension script) and the worker's entry point.
 * Must never: expose SQL text or anything that needs a transaction to call
 * rollup_worker_run() (it starts its own).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_ROLLUP_H
#define METRICS_ROLLUP_ROLLUP_H

#include "daily.h"

/* Fields of metrics_rollup.rollup_stats, in declaration order. */
typedef enum RollupStatsField
{
	ROLLUP_STATS_TOTAL,			/* bigint: events */
	ROLLUP_STATS_SUCCESS,		/* bigint: successful events */
	ROLLUP_STATS_MIN,			/* float8: smallest response time (s) */
	ROLLUP_STATS_MAX,			/* float8: largest response time (s) */
	ROLLUP_STATS_SUM,			/* numeric: exact sum (s, 1 ns resolution) */
	ROLLUP_STATS_P50,			/* float8: percentile_cont(0.5), or NULL */
	ROLLUP_STATS_P95,			/* float8: percentile_cont(0.95), or NULL */
	ROLLUP_STATS_P99,			/* float8: percentile_cont(0.99), or NULL */
	ROLLUP_STATS_NAME,			/* text: latest non-NULL entity_name */
	ROLLUP_STATS_NAME_AT,		/* timestamptz: when that name was seen */
	ROLLUP_STATS_LAST_AT,		/* timestamptz: latest recorded_at */
	ROLLUP_STATS_EXACT,			/* bool: p50/p95/p99 are exact (one set) */
	ROLLUP_STATS_SKETCH,		/* metrics_rollup.sketch of the values */
	ROLLUP_STATS_NATTS
} RollupStatsField;

/* What one run did (run_rollup()'s result row, and the worker's last run). */
typedef struct RollupTotals
{
	int32		hours;			/* hours that had dirty groups */
	int64		raw_rows;		/* raw rows read */
	int64		rows_written;	/* hourly rows inserted, updated or deleted */
	int32		groups_failed;	/* groups set aside in rollup_failures */
	int			failure_sqlstate;	/* the first one's error */
	char		failure_message[256];
	DailyTotals daily;			/* daily level built after the hours */
} RollupTotals;

/*
 * The background worker's rollup job.  Call OUTSIDE any transaction: it
 * starts and commits one transaction per dirty hour (oldest first), so a
 * failure keeps the hours already done.  Does nothing when
 * metrics_rollup.rollup_enabled is off, in recovery, or before CREATE
 * EXTENSION.  Errors propagate (the worker's PG_CATCH aborts the
 * transaction).  Scheduling is the caller's job.
 */
extern void rollup_worker_run(void);

/*
 * What the last rollup_worker_run() of this process did, including the
 * hours committed before an error (for the worker's stats and job history).
 */
extern RollupTotals rollup_worker_last_totals(void);

#endif							/* METRICS_ROLLUP_ROLLUP_H */
