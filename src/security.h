/*-------------------------------------------------------------------------
 *
 * security.h
 *	  Hardening helpers other files call (see security.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_SECURITY_H
#define METRICS_ROLLUP_SECURITY_H

/* The search_path every SQL string of ours runs under. */
#define SECURITY_SEARCH_PATH	"pg_catalog, pg_temp"

extern void security_pin_worker_search_path(void);

#endif							/* METRICS_ROLLUP_SECURITY_H */
