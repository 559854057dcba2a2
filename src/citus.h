/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  metrics_rollup on a Citus cluster: the node's role and whether
 *	  raw_metrics is distributed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MR_CITUS_H
#define MR_CITUS_H

#include "utils/timestamp.h"

#include "rollup.h"

/* Where this server stands in a Citus cluster. */
typedef enum CitusRole
{
	CITUS_ROLE_NONE,			/* no Citus metadata: a standalone server */
	CITUS_ROLE_COORDINATOR,		/* pg_dist_local_group.groupid = 0 */
	CITUS_ROLE_WORKER			/* any other group */
} CitusRole;

/* The node's role; inside a transaction. */
extern CitusRole citus_role(void);

/*
 * Is this a Citus worker node (rollup and cleanup run on the coordinator
 * only)?  Outside or inside a transaction; false when the extension is not
 * installed.
 */
extern bool citus_on_worker_node(void);

/* ERROR 55000 on a Citus worker node (what: the function's name). */
extern void citus_forbid_worker_node(const char *what);

/* Is metrics_rollup.raw_metrics a Citus distributed table?  Inside a transaction. */
extern bool citus_raw_distributed(void);

/*
 * Insert batch events [first, first + count) (buffer_drain_event) into the
 * distributed raw_metrics with one statement Citus routes, in the current
 * transaction (the shard triggers write their dirty marks).
 */
extern void citus_flush_range(uint64 first, uint64 count);

/*
 * Roll up the marked groups of one hour (kind (Datum) 0: all of them) on
 * distributed tables, in the current transaction with SPI connected: take
 * the marks, then one INSERT ... SELECT pushed down to the shard groups;
 * the (kind, UTC day)s of the hourly rows changed are unmarked in
 * daily_built and queued in daily_queue.
 */
extern void citus_rollup_groups(TimestampTz hour, Datum kind, Datum entity_id,
								RollupTotals *totals);

/*
 * Cleanup on distributed tables (cleanup.c calls these with SPI connected
 * and the runner lock held): the hours with raw rows before a time; an
 * hour's entities cut into batches of about batch_rows raw rows; one
 * batch's delete (every row when expired, else the rolled-up, clean
 * groups'; the shard trigger archives them; returns raw rows deleted);
 * hourly rows before a time (returns rows deleted; their days are unmarked
 * and queued first).
 */
extern TimestampTz *citus_cleanup_hours(TimestampTz before, MemoryContext cxt,
										 int *count);
extern Datum *citus_cleanup_batches(TimestampTz hour, int batch_rows,
									 MemoryContext cxt, int *count);
extern int64 citus_cleanup_hour(TimestampTz hour, Datum entity_ids, bool expired);
extern int64 citus_cleanup_hourly(TimestampTz before);

#endif							/* MR_CITUS_H */
