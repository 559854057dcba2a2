/*-------------------------------------------------------------------------
 *
 * dbcheck.c
 *	  Checks that metrics_rollup.database exists before the worker
 *	  connects to it.
 *
 * A background worker connects to one database once, and a database that
 * does not exist is a FATAL there (no catch): with a typo in the setting
 * the worker would die and be restarted every 5 s forever, the log
 * saying only 'database "x" does not exist'.  So the worker first asks a
 * short-lived dynamic worker, connected to no database (as the logical
 * replication launcher is), to look the name up in pg_database.  While
 * the database is missing the worker logs one WARNING naming the setting,
 * shows 'database "x" does not exist' in stats.worker_state, and asks
 * again after 5 s, 10 s, ... up to 5 min; when the database appears, it
 * connects.  If no worker slot is free for the check, it connects as
 * before (and may meet the FATAL).
 *
 * Owns: the shared piece "metrics_rollup database check" (the answer of
 * the last check, an atomic written by the checker and read by the worker
 * after the checker exited).
 *
 * Must never: be called by two processes at once (only the main worker
 * checks; flush workers wait for its answer, dbcheck_wait_for_main_worker),
 * or connect to any database itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "dbcheck.h"
#include "guc.h"
#include "jobstate.h"

/* First wait after a failed check; doubles up to the longest. */
#define DBCHECK_FIRST_WAIT_MS 5000
#define DBCHECK_MAX_WAIT_MS 300000

typedef enum DbCheckResult
{
	DBCHECK_UNKNOWN,			/* no answer (no worker slot, checker died) */
	DBCHECK_EXISTS,
	DBCHECK_MISSING
} DbCheckResult;

typedef struct DbCheckShared
{
	pg_atomic_uint32 result;	/* DbCheckResult of the last check */
	pg_atomic_uint32 confirmed; /* 1: the main worker may connect */
} DbCheckShared;

static DbCheckShared *dbshared = NULL;

static Size dbcheck_shmem_size(void);
static void dbcheck_shmem_init(void *shmem, bool found);

const ShmemPiece dbcheck_shmem_piece = {
	"metrics_rollup database check",
	dbcheck_shmem_size,
	0,
	dbcheck_shmem_init
};

static Size
dbcheck_shmem_size(void)
{
	return MAXALIGN(sizeof(DbCheckShared));
}

static void
dbcheck_shmem_init(void *shmem, bool found)
{
	dbshared = (DbCheckShared *) shmem;
	if (!found)
	{
		pg_atomic_init_u32(&dbshared->result, DBCHECK_UNKNOWN);
		pg_atomic_init_u32(&dbshared->confirmed, 0);
	}
}

/* Start the checking worker and wait for it to end; its answer. */
static DbCheckResult
dbcheck_run(void)
{
	BackgroundWorker worker = {0};
	BackgroundWorkerHandle *handle;

	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "metrics_rollup");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "worker_dbcheck_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "metrics_rollup database check");
	snprintf(worker.bgw_type, BGW_MAXLEN, "metrics_rollup database check");
	/* we are told when it ends: WaitForBackgroundWorkerShutdown needs it */
	worker.bgw_notify_pid = MyProcPid;

	pg_atomic_write_u32(&dbshared->result, DBCHECK_UNKNOWN);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
		return DBCHECK_UNKNOWN;
	if (WaitForBackgroundWorkerShutdown(handle) != BGWH_STOPPED)
		return DBCHECK_UNKNOWN;
	return (DbCheckResult) pg_atomic_read_u32(&dbshared->result);
}

bool
dbcheck_wait_for_database(void)
{
	long		wait_ms = DBCHECK_FIRST_WAIT_MS;
	bool		warned = false;

	while (!ShutdownRequestPending)
	{
		if (dbcheck_run() != DBCHECK_MISSING)
		{
			if (warned)
				ereport(LOG,
						(errmsg("metrics_rollup worker: database \"%s\" (metrics_rollup.database) exists now, connecting",
								mr_database)));
			jobstate_set_worker_state("");
			pg_atomic_write_u32(&dbshared->confirmed, 1);
			return true;
		}
		if (!warned)
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_DATABASE),
					 errmsg("metrics_rollup.database is \"%s\", which does not exist: the metrics_rollup worker waits",
							mr_database),
					 errhint("Create database \"%s\", or set metrics_rollup.database to an existing database and restart the server.  The worker checks again after 5 s, then backs off to every %d s.",
							 mr_database, DBCHECK_MAX_WAIT_MS / 1000)));
		warned = true;
		jobstate_set_worker_state(psprintf("database \"%s\" does not exist", mr_database));

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 wait_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		wait_ms = Min(wait_ms * 2, DBCHECK_MAX_WAIT_MS);
	}
	return false;
}

/*
 * For the flush workers: wait until the main worker's check let it connect
 * (only the main worker checks and warns); false when a shutdown was
 * requested meanwhile.  Call before connecting.
 */
bool
dbcheck_wait_for_main_worker(void)
{
	while (!ShutdownRequestPending)
	{
		if (pg_atomic_read_u32(&dbshared->confirmed) != 0)
			return true;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 1000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
	return false;
}

/*
 * Is there a row of that name in pg_database (a shared catalog)?  For the
 * checker (worker.c's worker_dbcheck_main), connected to no database.
 */
bool
dbcheck_database_exists(const char *name)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	/* as the autovacuum launcher lists databases: a plain catalog scan */
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!found && HeapTupleIsValid(tup = heap_getnext(scan, ForwardScanDirection)))
		found = strcmp(NameStr(((Form_pg_database) GETSTRUCT(tup))->datname), name) == 0;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return found;
}

/* The checker's answer, read by dbcheck_run() once the checker exited. */
void
dbcheck_report(bool exists)
{
	pg_atomic_write_u32(&dbshared->result,
						exists ? DBCHECK_EXISTS : DBCHECK_MISSING);
}
