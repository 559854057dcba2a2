/*-------------------------------------------------------------------------
 *
 * live.h
 *	  Live per-entity statistics in shared memory, hot/cold classification
 *	  and the slow-call log.
 *
 * live.c owns the shared state; ingest.c calls live_count() for every
 * event it recorded (buffered or written directly, never dropped ones);
 * classes.c reads the entities' last use through live_uses().
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_LIVE_H
#define METRICS_ROLLUP_LIVE_H

#include "datatype/timestamp.h"

#include "buffer.h"
#include "shmem.h"

extern const ShmemPiece live_shmem_piece;

/* Count n recorded events in the live table; may write slow-call LOG lines. */
extern void live_count(const BufferEvent *events, int n);

/* One tracked entity as classes.c sees it (palloc'd copies). */
typedef struct LiveUse
{
	char	   *kind;
	char	   *id;
	TimestampTz last_seen;		/* last record() that counted it; 0: never */
	uint64		use_count;		/* events since it entered the live table */
} LiveUse;

/* Every tracked entity of kind (all when NULL), unsorted; NULL, 0 if not preloaded. */
extern LiveUse *live_uses(const char *kind, int *n);

#endif							/* METRICS_ROLLUP_LIVE_H */
