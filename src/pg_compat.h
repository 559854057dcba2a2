/*-------------------------------------------------------------------------
 *
 * pg_compat.h
 *	  The server API differences between the PostgreSQL major versions
 *	  metrics_rollup builds for: 15 and 17 (16 sits between them).
 *
 * Owns: every PG_VERSION_NUM test of the C sources.  A file that needs an
 * API whose name or header moved between versions includes this header
 * (after postgres.h) and uses the name defined here; no other file tests
 * PG_VERSION_NUM.
 *
 * Must never: define anything that exists on every supported version,
 * redefine a server symbol under its own name, or hold code; only names
 * and includes.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_PG_COMPAT_H
#define METRICS_ROLLUP_PG_COMPAT_H

/*
 * The varlena macros (VARDATA, VARSIZE_ANY_EXHDR, SET_VARSIZE, ...) left
 * postgres.h for varatt.h in PostgreSQL 16.
 */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

/*
 * This backend's slot among the server's processes, a small integer
 * stable for the life of the process.  PostgreSQL 17 replaced BackendId
 * (storage/backendid.h, from 1) by ProcNumber (storage/procnumber.h, from
 * 0); callers only use it to spread load, so the base does not matter.
 */
#if PG_VERSION_NUM >= 170000
#include "storage/procnumber.h"
#define MR_MY_PROC_NUMBER	((int) MyProcNumber)
#else
#include "storage/backendid.h"
#define MR_MY_PROC_NUMBER	((int) MyBackendId)
#endif

/*
 * GUC "extra" data (what a check hook returns in *extra): the server frees
 * it with free() up to 15 and with guc_free() (its own memory context) from
 * 16 on, so it must come from the matching allocator.  Both return NULL
 * when out of memory (16's after a LOG).
 */
#if PG_VERSION_NUM >= 160000
#include "utils/guc.h"
#define MR_GUC_EXTRA_ALLOC(size)	guc_malloc(LOG, (size))
#define MR_GUC_EXTRA_FREE(ptr)		guc_free(ptr)
#else
#define MR_GUC_EXTRA_ALLOC(size)	malloc(size)
#define MR_GUC_EXTRA_FREE(ptr)		free(ptr)
#endif

#endif							/* METRICS_ROLLUP_PG_COMPAT_H */
