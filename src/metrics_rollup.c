/*-------------------------------------------------------------------------
 *
 * metrics_rollup.c
 *	  Entry point: _PG_init and the shared-memory hooks.
 *
 * Owns: PG_MODULE_MAGIC, the chain of shmem_request/shmem_startup hooks,
 * and the list of pieces of shared state (one per file that owns one).
 * Settings are defined whether or not the library is preloaded, so the
 * sketch type works in any database; shared memory and the background
 * worker exist only when it is in shared_preload_libraries.
 *
 * Must never: hold feature logic.  Each piece of shared memory is sized,
 * named and initialised by the file that owns it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "buffer.h"
#include "dbcheck.h"
#include "guc.h"
#include "live.h"
#include "jobstate.h"
#include "metrics_rollup.h"
#include "statsreset.h"
#include "worker.h"

PG_MODULE_MAGIC;

bool		mr_shmem_ready = false;

/*
 * Every piece of shared state, in initialisation order.  A file that owns
 * shared memory adds one line here.
 */
static const ShmemPiece *const shmem_pieces[] = {
	&buffer_shmem_piece,
	&live_shmem_piece,
	&jobstate_shmem_piece,
	&statsreset_shmem_piece,
	&dbcheck_shmem_piece,
	NULL
};

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void mr_shmem_request(void);
static void mr_shmem_startup(void);

void		_PG_init(void);

void
_PG_init(void)
{
	guc_define();

	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = mr_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = mr_shmem_startup;

	worker_register();
}

/* Ask for each piece's memory and locks; only allowed from this hook. */
static void
mr_shmem_request(void)
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
mr_shmem_startup(void)
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
