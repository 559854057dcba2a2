/*-------------------------------------------------------------------------
 *
 * poll.h
 *	  Poll scheduling by class: should_poll(), mark_polled().
 *
 * poll.c owns the shared poll state; the entry point sets it up through
 * poll_shmem_piece.  Nothing else calls into it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_POLL_H
#define METRICS_ROLLUP_POLL_H

#include "shmem.h"

extern const ShmemPiece poll_shmem_piece;

#endif							/* METRICS_ROLLUP_POLL_H */
