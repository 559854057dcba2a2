/*-------------------------------------------------------------------------
 *
 * job_xact.c
 *	  The transaction/SPI sequence every worker job runs its units of work
 *	  in, and the lock that keeps rollup and cleanup runs apart.
 *
 * Owns: job_xact_begin/job_xact_commit (worker_spi's sequence, each step
 * commented), job_apply_lock_timeout, job_runner_lock (and its try
 * variant), and job_try_isolated (one unit in a subtransaction, so a data
 * error sets aside that unit only).
 *
 * Must never: hold job logic, or be called inside a transaction
 * (job_xact_begin) or outside one (the others).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "executor/spi.h"
#include "pgstat.h"
#include "utils/backend_status.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "guc.h"
#include "job_xact.h"

/*
 * Key of the runner lock, pg_advisory_xact_lock(bigint): the ASCII bytes of
 * "mrrollup", 7886770139196337520.  Rollup and cleanup both take it, so a
 * cleanup never deletes raw rows under a rollup that is reading them.
 */
#define JOB_RUNNER_LOCK_KEY INT64CONST(0x6D72726F6C6C7570)

void
job_xact_begin(const char *activity)
{
	Assert(!IsTransactionState());
	/* statement_timeout and now() count from here */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* SPI for the queries; it takes a new snapshot for each of them */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* an active snapshot for the catalog lookups outside SPI */
	PushActiveSnapshot(GetTransactionSnapshot());
	/* what pg_stat_activity shows for this worker meanwhile */
	pgstat_report_activity(STATE_RUNNING, activity);
}

void
job_xact_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	/* makes the unit durable and releases transaction-level locks */
	CommitTransactionCommand();
	/* table statistics of this unit, for autovacuum */
	pgstat_report_stat(false);
}

void
job_apply_lock_timeout(void)
{
	char		value[32];

	snprintf(value, sizeof(value), "%d", mr_lock_timeout_ms);
	/* PGC_S_OVERRIDE: no database or role setting may lift the bound */
	SetConfigOption("lock_timeout", value, PGC_SUSET, PGC_S_OVERRIDE);
}

bool
job_is_data_error(int sqlerrcode)
{
	int			category = ERRCODE_TO_CATEGORY(sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION ||
		sqlerrcode == ERRCODE_RAISE_EXCEPTION ||
		sqlerrcode == ERRCODE_DATA_CORRUPTED;
}

ErrorData *
job_try_isolated(JobTryFn fn, void *arg, bool (*is_data_error) (int sqlerrcode))
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	/* run in the caller's context (SPI's), not the subtransaction's */
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		/* leave the error context before copying the error out of it */
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		/* undoes the unit; the outer transaction stays usable */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_END_TRY();

	if (edata != NULL &&
		!(is_data_error ? is_data_error : job_is_data_error) (edata->sqlerrcode))
		ReThrowError(edata);
	return edata;
}

void
job_runner_lock(void)
{
	DirectFunctionCall1(pg_advisory_xact_lock_int8,
						Int64GetDatum(JOB_RUNNER_LOCK_KEY));
}

bool
job_runner_try_lock(void)
{
	return DatumGetBool(DirectFunctionCall1(pg_try_advisory_xact_lock_int8,
											Int64GetDatum(JOB_RUNNER_LOCK_KEY)));
}
