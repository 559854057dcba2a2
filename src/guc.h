/*-------------------------------------------------------------------------
 *
 * guc.h
 *	  Every metrics_rollup.* setting, as C variables.
 *
 * guc.c owns the definitions; other files only read these variables.
 * Units are those of the C variable (noted per line), not of the GUC text.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_GUC_H
#define METRICS_ROLLUP_GUC_H

/* What record() does when the ingest buffer is full. */
typedef enum OverflowPolicy
{
	OVERFLOW_WAIT,				/* wait up to overflow_wait, then write directly */
	OVERFLOW_DIRECT,			/* write the event into raw_metrics at once */
	OVERFLOW_DROP,				/* drop it and count the drop */
	OVERFLOW_ERROR				/* raise an ERROR */
} OverflowPolicy;

/* ingest */
extern bool mr_enabled;
extern char *mr_database;
extern int	mr_buffer_size_kb;	/* kB of shared memory for the buffer */
extern int	mr_flush_interval_ms;
extern int	mr_flush_threshold;	/* percent full that wakes the worker */
extern int	mr_overflow_policy; /* OverflowPolicy */
extern int	mr_overflow_wait_ms;
extern int	mr_max_error_length;	/* bytes */

/* rollup */
extern bool mr_rollup_enabled;
extern int	mr_rollup_interval_s;
extern int	mr_late_data_hours;
extern int	mr_rollup_retention_days;

/* cleanup */
extern int	mr_retention_days;
extern bool mr_cleanup_enabled;
extern int	mr_cleanup_interval_s;
extern int	mr_cleanup_batch_size;	/* rows */
extern bool mr_delete_raw_after_rollup;
extern int	mr_delete_raw_after_rollup_hours;

/* reliability */
extern int	mr_max_retries;
extern int	mr_retry_interval_ms;
extern int	mr_max_backoff_ms;
extern int	mr_circuit_failure_threshold;
extern int	mr_circuit_reset_ms;
extern int	mr_lock_timeout_ms; /* lock_timeout of the worker's transactions */

/* live stats */
extern int	mr_live_window_s;
extern int	mr_max_live_entities;
extern double mr_hot_fraction;
extern int	mr_slow_threshold_ms;	/* 0 = off */
extern char *mr_slow_thresholds;	/* "kind=duration, ..." */

/* poll scheduling (poll.c) */
extern int	mr_hot_poll_interval_ms;
extern int	mr_cold_poll_interval_ms;
extern int	mr_class_refresh_interval_ms;	/* 0 = every call */
extern int	mr_max_poll_entities;

/* sketch */
extern double mr_sketch_relative_accuracy;

extern void guc_define(void);

/* slow-call log: any threshold set; a kind's threshold (ms, 0 = off) */
extern bool guc_slow_log_enabled(void);
extern int	guc_slow_threshold_ms(const char *kind, int kind_len);

#endif							/* METRICS_ROLLUP_GUC_H */
