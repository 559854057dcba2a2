/*-------------------------------------------------------------------------
 *
 * shmem.c
 *	  The shmem_request/shmem_startup hooks that set up every piece of
 *	  shared state, and the "were we preloaded" test.
 *
 * Owns: the hook chain, mr_shmem_ready, mr_require_preload().  Which pieces
 * exist is the entry point's list (metrics_rollup.c); each piece is sized,
 * named and initialised by the file that owns it.  Lower files include
 * shmem.h for the ShmemPiece type, never the entry point's header.
 *
 * Must never: know a piece's contents, or request memory outside
 * shmem_request_hook (FATAL since PostgreSQL 15).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shmem.h"

bool		mr_shmem_ready = false;

static const ShmemPiece *const *shmem_pieces = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void shmem_request(void);
static void shmem_startup(void);

void
shmem_install(const ShmemPiece *const *pieces)
{
	shmem_pieces = pieces;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = shmem_startup;
}

/* Ask for each piece's memory and locks; only allowed from this hook. */
static void
shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	for (int i = 0; shmem_pieces[i] != NULL; i++)
	{
		const ShmemPiece *piece = shmem_pieces[i];

		RequestAddinShmemSpace(piece->size());
		if (piece->lwlocks > 0)
			RequestNamedLWLockTranche(piece->name, piece->lwlocks);
	}
}

/* Create or attach to each piece, under AddinShmemInitLock. */
static void
shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	for (int i = 0; shmem_pieces[i] != NULL; i++)
	{
		const ShmemPiece *piece = shmem_pieces[i];
		bool		found;
		void	   *shmem;

		shmem = ShmemInitStruct(piece->name, piece->size(), &found);
		piece->init(shmem, found);
	}
	LWLockRelease(AddinShmemInitLock);

	mr_shmem_ready = true;
}

void
mr_require_preload(const char *what)
{
	if (!mr_shmem_ready)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s requires metrics_rollup to be loaded via shared_preload_libraries",
						what),
				 errhint("Add metrics_rollup to shared_preload_libraries in postgresql.conf and restart the server.")));
}
