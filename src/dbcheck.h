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

/* entry point of the short-lived checking worker */
extern PGDLLEXPORT void dbcheck_main(Datum main_arg);

#endif							/* METRICS_ROLLUP_DBCHECK_H */
