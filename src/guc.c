/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Defines every metrics_rollup.* setting, in one place.
 *
 * Owns: the C variables behind the settings and their definitions (name,
 * default, range, context, unit, description).  Ranges and defaults are the
 * public contract (README.md, "Settings"): PostgreSQL itself rejects an
 * out-of-range value and names the range in its message.
 *
 * Must never: hold state other than setting values, or be called for
 * anything but guc_define() from _PG_init.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "miscadmin.h"
#include "utils/guc.h"

#include "guc.h"

bool		mr_enabled = true;
char	   *mr_database = NULL;
int			mr_buffer_size_kb = 65536;
int			mr_flush_interval_ms = 1000;
int			mr_flush_threshold = 50;
int			mr_overflow_policy = OVERFLOW_WAIT;
int			mr_overflow_wait_ms = 5000;
int			mr_max_error_length = 1024;
int			mr_flush_workers = 0;
int			mr_backpressure_threshold = 10;
bool		mr_rollup_enabled = true;
int			mr_rollup_interval_s = 3600;
int			mr_late_data_hours = 1;
int			mr_rollup_retention_days = 365;
int			mr_retention_days = 7;
bool		mr_cleanup_enabled = true;
int			mr_cleanup_interval_s = 3600;
int			mr_cleanup_batch_size = 10000;
bool		mr_delete_raw_after_rollup = true;
int			mr_delete_raw_after_rollup_hours = 1;
int			mr_max_retries = 30;
int			mr_retry_interval_ms = 2000;
int			mr_max_backoff_ms = 30000;
int			mr_circuit_failure_threshold = 5;
int			mr_circuit_reset_ms = 60000;
int			mr_live_window_s = 3600;
int			mr_max_live_entities = 10000;
double		mr_hot_fraction = 0.2;
int			mr_slow_threshold_ms = 0;
double		mr_sketch_relative_accuracy = 0.01;

static const struct config_enum_entry overflow_policy_options[] = {
	{"wait", OVERFLOW_WAIT, false},
	{"direct", OVERFLOW_DIRECT, false},
	{"drop", OVERFLOW_DROP, false},
	{"error", OVERFLOW_ERROR, false},
	{NULL, 0, false}
};

/*
 * The number of flush workers: flush_workers, or when it is 0 (auto, the
 * default) a quarter of the CPUs, at least 2, at most 8.  Each flush
 * worker takes about one core under full load while the producers (which
 * run record() at about the cost of SELECT 1) keep the others busy; one
 * drainer alone drains at ~0.8x one COPY stream, two at ~1.2x even on 2
 * cores (test/bench/sustained_bench.sh), and an idle one only sleeps.  On
 * the 16-core machine of the benchmarks auto gives 4.  At most
 * max_worker_processes - 1.
 */
int
guc_flush_workers(void)
{
	long		n = mr_flush_workers;

	if (n == 0)
		n = Max(2, Min(sysconf(_SC_NPROCESSORS_ONLN) / 4, 8));
	/*
	 * A flush worker that cannot start would leave its rings undrained:
	 * never more than max_worker_processes leaves beside the maintenance
	 * worker (worker_register warns).
	 */
	return (int) Max(1, Min(n, max_worker_processes - 1));
}

/*
 * Define all settings.  Called once per process from _PG_init, preloaded or
 * not; restart-only (PGC_POSTMASTER) settings keep their postgresql.conf
 * value either way (see restart_only below).
 */
void
guc_define(void)
{
	/*
	 * PostgreSQL refuses (FATAL) PGC_POSTMASTER settings from a library
	 * loaded after startup, as happens when CREATE EXTENSION or a sketch
	 * function loads us without shared_preload_libraries.  Nothing then uses
	 * these settings (no shared memory, no worker), so they are defined as
	 * reloadable instead, keeping their postgresql.conf value visible.
	 */
	GucContext	restart_only = process_shared_preload_libraries_in_progress ?
		PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomBoolVariable("metrics_rollup.enabled",
							 gettext_noop("Master switch for the background worker: flushing, rollup and cleanup."),
							 NULL,		/* long description */
							 &mr_enabled,
							 true,		/* default */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomStringVariable("metrics_rollup.database",
							 gettext_noop("Database the background worker connects to and serves."),
							 NULL,		/* long description */
							 &mr_database,
							 "postgres",		/* default */
							 restart_only,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.buffer_size",
							 gettext_noop("Shared memory reserved for the ingest buffer."),
							 NULL,		/* long description */
							 &mr_buffer_size_kb,
							 65536,		/* default */
							 1024, 8388608,	/* range */
							 restart_only,
							 GUC_UNIT_KB,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.flush_interval",
							 gettext_noop("Time between two flushes of the ingest buffer into raw_metrics."),
							 NULL,		/* long description */
							 &mr_flush_interval_ms,
							 1000,		/* default */
							 10, 3600000,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.flush_threshold",
							 gettext_noop("Percent of the ingest buffer in use that wakes the worker before flush_interval."),
							 NULL,		/* long description */
							 &mr_flush_threshold,
							 50,		/* default */
							 1, 100,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomEnumVariable("metrics_rollup.overflow_policy",
							 gettext_noop("What record() does when the ingest buffer is full: wait, direct, drop or error."),
							 NULL,		/* long description */
							 &mr_overflow_policy,
							 OVERFLOW_WAIT,		/* default */
							 overflow_policy_options,
							 PGC_SUSET,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.overflow_wait",
							 gettext_noop("How long record() waits for room under overflow_policy = wait before writing directly."),
							 NULL,		/* long description */
							 &mr_overflow_wait_ms,
							 5000,		/* default */
							 0, 3600000,	/* range */
							 PGC_SUSET,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.flush_workers",
							 gettext_noop("Background processes that drain the ingest buffer into raw_metrics, each owning a disjoint set of its rings."),
							 gettext_noop("0 (the default) means a quarter of the CPUs, at least 2 and at most 8. Each needs a slot of max_worker_processes."),
							 &mr_flush_workers,
							 0,		/* default: auto */
							 0, MR_MAX_FLUSH_WORKERS,	/* range */
							 restart_only,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.backpressure_threshold",
							 gettext_noop("Percent of a ring in use above which record() under overflow_policy = wait slows down, the more the fuller the ring; 100 turns it off."),
							 NULL,		/* long description */
							 &mr_backpressure_threshold,
							 10,		/* default */
							 1, 100,	/* range */
							 PGC_SUSET,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.max_error_length",
							 gettext_noop("Bytes of error_message kept; longer text is cut at a character boundary."),
							 NULL,		/* long description */
							 &mr_max_error_length,
							 1024,		/* default */
							 0, 65535,	/* range */
							 PGC_SUSET,
							 GUC_UNIT_BYTE,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomBoolVariable("metrics_rollup.rollup_enabled",
							 gettext_noop("Whether the worker rolls raw events up into hourly_metrics."),
							 NULL,		/* long description */
							 &mr_rollup_enabled,
							 true,		/* default */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.rollup_interval",
							 gettext_noop("Time between two scheduled rollup runs (aligned to the clock)."),
							 NULL,		/* long description */
							 &mr_rollup_interval_s,
							 3600,		/* default */
							 60, 86400,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_S,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.late_data_hours",
							 gettext_noop("Recent hours re-processed by every rollup run, and kept raw."),
							 NULL,		/* long description */
							 &mr_late_data_hours,
							 1,		/* default */
							 1, 48,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.rollup_retention_days",
							 gettext_noop("Days hourly_metrics rows are kept."),
							 NULL,		/* long description */
							 &mr_rollup_retention_days,
							 365,		/* default */
							 30, 3650,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.retention_days",
							 gettext_noop("Days raw_metrics rows are kept at most."),
							 NULL,		/* long description */
							 &mr_retention_days,
							 7,		/* default */
							 1, 365,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomBoolVariable("metrics_rollup.cleanup_enabled",
							 gettext_noop("Whether the worker runs retention cleanup."),
							 NULL,		/* long description */
							 &mr_cleanup_enabled,
							 true,		/* default */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.cleanup_interval",
							 gettext_noop("Time between two scheduled cleanup runs."),
							 NULL,		/* long description */
							 &mr_cleanup_interval_s,
							 3600,		/* default */
							 3600, 604800,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_S,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.cleanup_batch_size",
							 gettext_noop("Rows deleted per cleanup transaction."),
							 NULL,		/* long description */
							 &mr_cleanup_batch_size,
							 10000,		/* default */
							 100, 100000,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomBoolVariable("metrics_rollup.delete_raw_after_rollup",
							 gettext_noop("Delete raw rows once their hour is rolled up and older than delete_raw_after_rollup_hours."),
							 NULL,		/* long description */
							 &mr_delete_raw_after_rollup,
							 true,		/* default */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.delete_raw_after_rollup_hours",
							 gettext_noop("Hours after its end before a rolled-up hour's raw rows may be deleted."),
							 NULL,		/* long description */
							 &mr_delete_raw_after_rollup_hours,
							 1,		/* default */
							 1, 8760,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.max_retries",
							 gettext_noop("Retries of a failed worker job before that run is given up."),
							 NULL,		/* long description */
							 &mr_max_retries,
							 30,		/* default */
							 0, 1000,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.retry_interval",
							 gettext_noop("First backoff step after a failed job; doubles per failure, with +-25% jitter."),
							 NULL,		/* long description */
							 &mr_retry_interval_ms,
							 2000,		/* default */
							 10, 3600000,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.max_backoff",
							 gettext_noop("Longest backoff between two retries."),
							 NULL,		/* long description */
							 &mr_max_backoff_ms,
							 30000,		/* default */
							 1000, 3600000,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.circuit_failure_threshold",
							 gettext_noop("Consecutive failures of a job that open its circuit."),
							 NULL,		/* long description */
							 &mr_circuit_failure_threshold,
							 5,		/* default */
							 1, 1000,	/* range */
							 PGC_SIGHUP,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.circuit_reset",
							 gettext_noop("How long an open circuit waits before one half-open try."),
							 NULL,		/* long description */
							 &mr_circuit_reset_ms,
							 60000,		/* default */
							 1000, 3600000,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.live_window",
							 gettext_noop("Sliding window of the live per-entity statistics."),
							 NULL,		/* long description */
							 &mr_live_window_s,
							 3600,		/* default */
							 60, 86400,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_S,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.max_live_entities",
							 gettext_noop("Entities tracked in shared memory by live_stats; the least recently seen is evicted."),
							 NULL,		/* long description */
							 &mr_max_live_entities,
							 10000,		/* default */
							 100, 1000000,	/* range */
							 restart_only,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomRealVariable("metrics_rollup.hot_fraction",
							 gettext_noop("Fraction of entities classify() calls hot."),
							 NULL,		/* long description */
							 &mr_hot_fraction,
							 0.2,		/* default */
							 0.0, 1.0,	/* range */
							 PGC_USERSET,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.slow_threshold",
							 gettext_noop("record() of an event slower than this writes a LOG line (rate-limited); 0 turns it off."),
							 NULL,		/* long description */
							 &mr_slow_threshold_ms,
							 0,		/* default */
							 0, 3600000,	/* range */
							 PGC_SUSET,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomRealVariable("metrics_rollup.sketch_relative_accuracy",
							 gettext_noop("Relative accuracy of quantiles returned by sketch_agg(value) sketches."),
							 NULL,		/* long description */
							 &mr_sketch_relative_accuracy,
							 0.01,		/* default */
							 0.0001, 0.1,	/* range */
							 PGC_USERSET,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	MarkGUCPrefixReserved("metrics_rollup");
}
