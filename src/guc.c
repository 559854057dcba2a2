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
 * Also owns guc_restart_only_names[] and the SQL function behind it
 * (config_restart_only(), read by the config view): which settings are
 * restart-only even when, loaded late, they had to be defined reloadable.
 *
 * Must never: hold state other than setting values (and the parsed form
 * of a setting, built by its check hook), or be called for anything but
 * guc_define() from _PG_init, the config view and the lookups declared in
 * guc.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "guc.h"
#include "pg_compat.h"

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
int			mr_lock_timeout_ms = 5000;
int			mr_live_window_s = 3600;
int			mr_max_live_entities = 10000;
double		mr_hot_fraction = 0.2;
int			mr_slow_threshold_ms = 0;
double		mr_sketch_relative_accuracy = 0.01;
char	   *mr_slow_thresholds = NULL;
int			mr_hot_poll_interval_ms = 60000;
int			mr_cold_poll_interval_ms = 600000;
int			mr_class_refresh_interval_ms = 10000;
int			mr_max_poll_entities = 10000;

/*
 * The parsed form of metrics_rollup.slow_thresholds: what the check hook
 * builds (with MR_GUC_EXTRA_ALLOC, as GUC "extra" data must be) and the
 * assign hook installs.  NULL or n = 0: no per-kind threshold.
 */
#define GUC_MAX_SLOW_KINDS 64
#define GUC_SLOW_KIND_MAX 63

typedef struct SlowThresholds
{
	int			n;
	struct
	{
		char		kind[GUC_SLOW_KIND_MAX + 1];
		int			kind_len;
		int			ms;			/* 0 = off for this kind */
	}			items[GUC_MAX_SLOW_KINDS];
} SlowThresholds;

static SlowThresholds *slow_thresholds = NULL;

static bool guc_slow_thresholds_check(char **newval, void **extra, GucSource source);
static void guc_slow_thresholds_assign(const char *newval, void *extra);

/*
 * Every setting defined with restart_only below (a new restart-only
 * setting is added here too): the config view says requires_restart for
 * them even when the library was not preloaded.
 */
static const char *const guc_restart_only_names[] = {
	"metrics_rollup.database",
	"metrics_rollup.buffer_size",
	"metrics_rollup.max_live_entities",
	"metrics_rollup.max_poll_entities",
	"metrics_rollup.flush_workers",
};

PG_FUNCTION_INFO_V1(guc_config_restart_only);

static const struct config_enum_entry overflow_policy_options[] = {
	{"wait", OVERFLOW_WAIT, false},
	{"direct", OVERFLOW_DIRECT, false},
	{"drop", OVERFLOW_DROP, false},
	{"error", OVERFLOW_ERROR, false},
	{NULL, 0, false}
};

/*
 * The number of flush workers: flush_workers, or when it is 0 (auto, the
 * default) half the CPUs, at least 2 and at most 16, leaving 4 slots of
 * max_worker_processes to the maintenance worker, parallel queries and the
 * logical replication launcher.  Each flush worker takes about one core
 * under full load while the producers (which run record() at about the cost
 * of SELECT 1) keep the others busy; an idle one only sleeps.  On 16 cores
 * (test/bench/manycore_scale.sh), 8 flush workers drained 560-670K events/s
 * against 255-290K for 4; with the default max_worker_processes of 8, auto
 * gives 4 there, and 8 once max_worker_processes is at least 12.  At most
 * max_worker_processes - 1 in any case.
 */
int
guc_flush_workers(void)
{
	long		n = mr_flush_workers;

	if (n == 0)
		n = Max(2, Min(Min(sysconf(_SC_NPROCESSORS_ONLN) / 2, 16),
					   max_worker_processes - 4));
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
							 gettext_noop("0 (the default) means half the CPUs, at least 2 and at most 16, leaving 4 slots of max_worker_processes to other processes. Each needs a slot of max_worker_processes."),
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

	DefineCustomIntVariable("metrics_rollup.lock_timeout",
							 gettext_noop("Longest wait of the worker's transactions for a lock held by another session (its lock_timeout); the job then fails and is retried."),
							 NULL,		/* long description */
							 &mr_lock_timeout_ms,
							 5000,		/* default */
							 100, 3600000,	/* range */
							 PGC_SIGHUP,
							 GUC_UNIT_MS,		/* flags */
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

	DefineCustomStringVariable("metrics_rollup.slow_thresholds",
							 gettext_noop("Per-kind slow-call thresholds, e.g. 'tool=500ms,prompt=1s'; other kinds use slow_threshold."),
							 NULL,		/* long description */
							 &mr_slow_thresholds,
							 "",		/* default */
							 PGC_SUSET,
							 0,		/* flags */
							 guc_slow_thresholds_check,
							 guc_slow_thresholds_assign,
							 NULL);		/* show hook */

	DefineCustomIntVariable("metrics_rollup.hot_poll_interval",
							 gettext_noop("should_poll() answers true for a hot entity once this long has passed since its last completed poll of that type."),
							 NULL,		/* long description */
							 &mr_hot_poll_interval_ms,
							 60000,		/* default */
							 0, 86400000,	/* range */
							 PGC_SUSET,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.cold_poll_interval",
							 gettext_noop("should_poll() answers true for a cold entity once this long has passed since its last completed poll of that type."),
							 NULL,		/* long description */
							 &mr_cold_poll_interval_ms,
							 600000,		/* default */
							 0, 86400000,	/* range */
							 PGC_SUSET,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.class_refresh_interval",
							 gettext_noop("Age after which should_poll() reclassifies a kind (one session at a time); 0 reclassifies on every call."),
							 NULL,		/* long description */
							 &mr_class_refresh_interval_ms,
							 10000,		/* default */
							 0, 3600000,	/* range */
							 PGC_SUSET,
							 GUC_UNIT_MS,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	DefineCustomIntVariable("metrics_rollup.max_poll_entities",
							 gettext_noop("Entities whose class and poll times should_poll() keeps in shared memory; the least recently used is evicted."),
							 NULL,		/* long description */
							 &mr_max_poll_entities,
							 10000,		/* default */
							 100, 1000000,	/* range */
							 restart_only,
							 0,		/* flags */
							 NULL, NULL, NULL);	/* check, assign, show hooks */

	MarkGUCPrefixReserved("metrics_rollup");
}

/* ----------------------------------------------------------------
 * metrics_rollup.slow_thresholds: "kind=duration, ..."
 * ----------------------------------------------------------------
 */

/* Is s[0..len) a kind (lower-case letter, then [a-z0-9_], 1..63)? */
static bool
guc_valid_kind(const char *s, int len)
{
	if (len < 1 || len > GUC_SLOW_KIND_MAX)
		return false;
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') ||
			  (i > 0 && ((c >= '0' && c <= '9') || c == '_'))))
			return false;
	}
	return true;
}

/* Parse one "kind=duration" item into t; false with GUC_check_err* set. */
static bool
guc_slow_item(char *item, SlowThresholds *t)
{
	char	   *eq = strchr(item, '=');
	char	   *kind = item;
	char	   *value;
	const char *hint = NULL;
	int			ms;
	int			len;

	if (eq == NULL)
	{
		GUC_check_errdetail("Item \"%s\" is not of the form kind=duration.", item);
		return false;
	}
	*eq = '\0';
	value = eq + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(kind);
	while (len > 0 && (kind[len - 1] == ' ' || kind[len - 1] == '\t'))
		kind[--len] = '\0';
	if (!guc_valid_kind(kind, len))
	{
		GUC_check_errdetail("\"%s\" is not a valid kind.", kind);
		GUC_check_errhint("A kind is 1 to 63 characters: a lower-case letter, then lower-case letters, digits or underscores.");
		return false;
	}
	if (!parse_int(value, &ms, GUC_UNIT_MS, &hint) || ms < 0 || ms > 3600000)
	{
		GUC_check_errdetail("The threshold of kind \"%s\" must be a duration from 0 to 1h, not \"%s\".",
							kind, value);
		if (hint)
			GUC_check_errhint("%s", hint);
		return false;
	}
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->items[i].kind, kind) == 0)
		{
			GUC_check_errdetail("Kind \"%s\" appears twice.", kind);
			return false;
		}
	if (t->n >= GUC_MAX_SLOW_KINDS)
	{
		GUC_check_errdetail("At most %d kinds may have their own threshold.", GUC_MAX_SLOW_KINDS);
		return false;
	}
	memcpy(t->items[t->n].kind, kind, len + 1);
	t->items[t->n].kind_len = len;
	t->items[t->n].ms = ms;
	t->n++;
	return true;
}

static bool
guc_slow_thresholds_check(char **newval, void **extra, GucSource source)
{
	SlowThresholds *t;
	char	   *copy;
	char	   *item;
	char	   *save = NULL;
	bool		ok = true;

	t = (SlowThresholds *) MR_GUC_EXTRA_ALLOC(sizeof(SlowThresholds));
	if (t == NULL)
		return false;
	t->n = 0;
	copy = pstrdup(*newval ? *newval : "");
	for (item = strtok_r(copy, ",", &save); ok && item != NULL;
		 item = strtok_r(NULL, ",", &save))
	{
		while (*item == ' ' || *item == '\t')
			item++;
		if (*item == '\0')
			continue;
		ok = guc_slow_item(item, t);
	}
	pfree(copy);
	if (!ok)
	{
		MR_GUC_EXTRA_FREE(t);
		return false;
	}
	*extra = t;
	return true;
}

static void
guc_slow_thresholds_assign(const char *newval, void *extra)
{
	slow_thresholds = (SlowThresholds *) extra;
}

/* Are per-kind thresholds set (so slow calls may be logged)? */
bool
guc_slow_log_enabled(void)
{
	return mr_slow_threshold_ms > 0 ||
		(slow_thresholds != NULL && slow_thresholds->n > 0);
}

/* The slow-call threshold of a kind in ms: its own, else slow_threshold. */
int
guc_slow_threshold_ms(const char *kind, int kind_len)
{
	if (slow_thresholds != NULL)
	{
		for (int i = 0; i < slow_thresholds->n; i++)
			if (slow_thresholds->items[i].kind_len == kind_len &&
				memcmp(slow_thresholds->items[i].kind, kind, kind_len) == 0)
				return slow_thresholds->items[i].ms;
	}
	return mr_slow_threshold_ms;
}

/*
 * config_restart_only() RETURNS text[]: the names of the restart-only
 * settings (guc_restart_only_names).
 */
Datum
guc_config_restart_only(PG_FUNCTION_ARGS)
{
	Datum		names[lengthof(guc_restart_only_names)];

	for (int i = 0; i < (int) lengthof(guc_restart_only_names); i++)
		names[i] = CStringGetTextDatum(guc_restart_only_names[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(names, lengthof(names), TEXTOID,
										  -1, false, TYPALIGN_INT));
}
