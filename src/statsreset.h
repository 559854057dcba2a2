/*-------------------------------------------------------------------------
 *
 * statsreset.h
 *	  stats_reset(): the counters of the stats view start again from zero.
 *
 * statsreset.c owns the shared piece "metrics_rollup stats reset" (the
 * time of the last reset and the ingest counters at that time); ingest.c
 * reports its counters through statsreset_subtract().
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_STATSRESET_H
#define METRICS_ROLLUP_STATSRESET_H

#include "buffer.h"
#include "shmem.h"

extern const ShmemPiece statsreset_shmem_piece;

/* Counters of s minus their values at the last stats_reset(). */
extern void statsreset_subtract(BufferStats *s);

#endif							/* METRICS_ROLLUP_STATSRESET_H */
