/*-------------------------------------------------------------------------
 *
 * metrics_rollup.h
 *	  What the entry point offers the other files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_H
#define METRICS_ROLLUP_H

/*
 * A piece of shared state: how much memory it needs and how to set it up.
 * The entry point requests and initialises every piece listed in
 * metrics_rollup.c, in order.
 */
typedef struct ShmemPiece
{
	const char *name;			/* for messages */
	Size		(*size) (void); /* bytes of shared memory */
	int			lwlocks;		/* LWLocks in the piece's named tranche */
	void		(*init) (void *shmem, bool found);	/* under AddinShmemInitLock */
} ShmemPiece;

/* true once shared memory is set up (we were preloaded) */
extern bool mr_shmem_ready;

/* ERROR with a HINT unless the library was preloaded */
extern void mr_require_preload(const char *what);

#endif							/* METRICS_ROLLUP_H */
