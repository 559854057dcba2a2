/*-------------------------------------------------------------------------
 *
 * dbcheck.h
 *	  Does metrics_rollup.database exist?  Asked before the worker
 *	  connects, so that a wrong name is a WARNING and a backoff, not a
 *	  FATAL every bgw_restart_time.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_DBCHECK_H
#define METRICS_ROLLUP_DBCHECK_H

#include "fmgr.h"

#include "shmem.h"

extern const ShmemPiece dbcheck_shmem_piece;

/*
 * Wait (with backoff) until metrics_rollup.database exists; false when a
 * shutdown was requested meanwhile.  Call before connecting.
 */
extern bool dbcheck_wait_for_database(void);

/* Flush workers: wait until the main worker's check let it connect. */
extern bool dbcheck_wait_for_main_worker(void);

/* the short-lived checking worker (worker.c): look, then report */
extern bool dbcheck_database_exists(const char *name);
extern void dbcheck_report(bool exists);

#endif							/* METRICS_ROLLUP_DBCHECK_H */
