/*-------------------------------------------------------------------------
 *
 * live.h
 *	  Live per-entity statistics in shared memory, hot/cold classification
 *	  and the slow-call log.
 *
 * live.c owns the shared state; ingest.c calls live_count() for every
 * event it recorded (buffered or written directly, never dropped ones).
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_LIVE_H
#define METRICS_ROLLUP_LIVE_H

#include "buffer.h"
#include "shmem.h"

extern const ShmemPiece live_shmem_piece;

/* Count n recorded events in the live table; may write slow-call LOG lines. */
extern void live_count(const BufferEvent *events, int n);

#endif							/* METRICS_ROLLUP_LIVE_H */
