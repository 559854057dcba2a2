/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background workers: registration and every entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_WORKER_H
#define METRICS_ROLLUP_WORKER_H

#include "fmgr.h"

/* Called from _PG_init while shared_preload_libraries is processed. */
extern void worker_register(void);

/* bgw_function_name of the maintenance and flush workers. */
extern PGDLLEXPORT void worker_main(Datum main_arg);

/* run_rollup_background()'s worker (registered by rollup.c). */
extern PGDLLEXPORT void worker_rollup_main(Datum main_arg);

/* metrics_rollup.database's checker (registered by dbcheck.c). */
extern PGDLLEXPORT void worker_dbcheck_main(Datum main_arg);

#endif							/* METRICS_ROLLUP_WORKER_H */
