/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The background worker: registration and entry point.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_WORKER_H
#define METRICS_ROLLUP_WORKER_H

#include "fmgr.h"

/* Called from _PG_init while shared_preload_libraries is processed. */
extern void worker_register(void);

/* bgw_function_name of the worker. */
extern PGDLLEXPORT void worker_main(Datum main_arg);

#endif							/* METRICS_ROLLUP_WORKER_H */
