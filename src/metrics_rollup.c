/*-------------------------------------------------------------------------
 *
 * metrics_rollup.c
 *	  Entry point: _PG_init and the shared-memory hooks.
 *
 * Owns: PG_MODULE_MAGIC and the list of pieces of shared state (one per
 * file that owns one), handed to shmem.c's hooks.  Nothing includes this
 * file's header: it sits at the top of the dependency graph.
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

#include "buffer.h"
#include "dbcheck.h"
#include "guc.h"
#include "jobstate.h"
#include "live.h"
#include "poll.h"
#include "shmem.h"
#include "statsreset.h"
#include "worker.h"

PG_MODULE_MAGIC;

/*
 * Every piece of shared state, in initialisation order.  A file that owns
 * shared memory adds one line here.
 */
static const ShmemPiece *const shmem_pieces[] = {
	&buffer_shmem_piece,
	&live_shmem_piece,
	&jobstate_shmem_piece,
	&poll_shmem_piece,
	&statsreset_shmem_piece,
	&dbcheck_shmem_piece,
	NULL
};

void		_PG_init(void);

void
_PG_init(void)
{
	guc_define();

	if (!process_shared_preload_libraries_in_progress)
		return;

	shmem_install(shmem_pieces);
	worker_register();
}
