/*-------------------------------------------------------------------------
 *
 * shmem.h
 *	  Registration of the extension's pieces of shared memory.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MR_SHMEM_H
#define MR_SHMEM_H

/*
 * A piece of shared state: how much memory it needs and how to set it up.
 * The file that owns the piece defines one; the entry point lists them all
 * and hands the list to shmem_install().
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

/* from _PG_init while preloading: request and set up every piece */
extern void shmem_install(const ShmemPiece *const *pieces);

/* ERROR with a HINT unless the library was preloaded */
extern void mr_require_preload(const char *what);

#endif							/* MR_SHMEM_H */
