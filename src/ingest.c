/*-------------------------------------------------------------------------
 *
 * ingest.c
 *	  SQL functions record(), record_batch(), flush() and ingest_stats():
 *	  argument validation and the overflow policy.
 *
 * Owns: the validation rules of an event (the contract's "Events" table,
 * plus 1.2's door: response_time <= 1e15, recorded_at from 1970 to 9998
 * and not older than rollup_retention_days, the same rule raw_metrics'
 * CHECK constraints and insert trigger apply), what happens when the buffer
 * is full (metrics_rollup.overflow_policy), the direct INSERT used by the
 * wait and direct policies, backpressure before it is full, and flush()'s
 * refusal to wait for a drain that the caller's own transaction blocks.
 *
 * Backpressure (overflow_policy = wait only).  When the ring that took a
 * call's n events is fuller than backpressure_threshold percent after the
 * append, the call sleeps before returning, for
 * (1 ms + n * 200 us) * (fill - threshold) / (100 - threshold):
 * nothing at the threshold, up to 1.2 ms for one event and 201 ms for a
 * batch of 1000 when the ring is full, so a batch is slowed as much per
 * event as single calls are.  The steep slope keeps the ring close to the
 * threshold at equilibrium: a producer at a tenth of the way to full
 * appends at most 50,000 events/s.  The events are already stored (nothing is
 * lost or delayed), only the caller is: a producer faster than the drain
 * slows down as its ring fills, until it appends no faster than the ring's
 * flush worker drains, instead of running into a full buffer and waiting
 * up to overflow_wait there.  The sleep is a latch wait (interruptible).
 *
 * Must never: record anything before every argument (every element of a
 * batch) has been validated; lose an event silently (a dropped event is
 * counted, a refused one raises an ERROR); touch shared memory other than
 * through buffer.c (and live_count() of live.c for recorded events).
 *
 * Events go to shared memory and are not transactional: an event recorded
 * in a transaction that aborts is kept.  The exception is an event written
 * directly (overflow_policy = direct, or wait after overflow_wait ran
 * out): that INSERT runs in the caller's transaction and follows its fate.
 *
 * In record_batch(), NULL elements of entity_ids, response_times,
 * successes and recorded_ats are errors; a NULL element of error_messages
 * or entity_names means that event has none, as in record().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "buffer.h"
#include "catalog.h"
#include "guc.h"
#include "live.h"
#include "shmem.h"
#include "statsreset.h"

#define INGEST_MAX_KIND 63
#define INGEST_MAX_ID 255
#define INGEST_MAX_NAME 255
/* The largest response time a sketch holds (s); raw_metrics' CHECK too. */
#define INGEST_MAX_RESPONSE_TIME 1e15
/* recorded_at in [1970-01-01, 9999-01-01) UTC, raw_metrics' CHECK too. */
#define INGEST_MIN_YEAR 1970
#define INGEST_END_YEAR 9999
/* flush() tolerates this long without a worker (one may be starting). */
#define INGEST_WORKER_GRACE_MS 10000
/* How often flush() looks whether the worker waits for one of our locks. */
#define INGEST_FLUSH_CHECK_MS 250

/* Backpressure: the sleep of a call that filled its ring completely. */
#define INGEST_BACKPRESSURE_CALL_US 1000
#define INGEST_BACKPRESSURE_EVENT_US 200

PG_FUNCTION_INFO_V1(ingest_record);
PG_FUNCTION_INFO_V1(ingest_record_batch);
PG_FUNCTION_INFO_V1(ingest_flush);
PG_FUNCTION_INFO_V1(ingest_stats);

/* errdetail naming the batch element, or nothing for record() */
#define INGEST_ELEMENT(idx) \
	((idx) > 0 ? errdetail("The problem is in element %d of the arrays.", (idx)) : 0)

/* ----------------------------------------------------------------
 * Who may call
 * ----------------------------------------------------------------
 */

/* Preloaded, in the served database, and (for writes) not a standby. */
static void
ingest_check_caller(const char *what)
{
	static Oid	served_db = InvalidOid;

	mr_require_preload(what);

	if (!OidIsValid(served_db))
		served_db = get_database_oid(mr_database, true);
	if (MyDatabaseId != served_db)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s works only in database \"%s\"", what, mr_database),
				 errhint("Connect to database \"%s\", or set metrics_rollup.database and restart the server.",
						 mr_database)));

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("%s cannot run during recovery", what),
				 errhint("Record events on the primary server.")));
}

/* ----------------------------------------------------------------
 * Validation: one helper per field; idx > 0 names a batch element
 * ----------------------------------------------------------------
 */

static void
ingest_set_kind(BufferEvent *ev, text *kind)
{
	const char *s;
	int			len;

	if (kind == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("kind must not be null"),
				 errhint("Pass what was called, for example 'tool' or 'resource'.")));
	s = VARDATA_ANY(kind);
	len = VARSIZE_ANY_EXHDR(kind);
	for (int i = 0; i < len; i++)
	{
		char		c = s[i];
		bool		ok = (c >= 'a' && c <= 'z') ||
			(i > 0 && ((c >= '0' && c <= '9') || c == '_'));

		if (!ok)
		{
			len = -1;
			break;
		}
	}
	if (len < 1 || len > INGEST_MAX_KIND)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid kind \"%s\"", text_to_cstring(kind)),
				 errhint("A kind is 1 to 63 characters: a lower-case letter, then lower-case letters, digits or underscores.")));
	ev->kind = s;
	ev->kind_len = len;
}

static void
ingest_set_entity_id(BufferEvent *ev, Datum value, bool isnull, int idx)
{
	int			len;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entity_id must not be null"),
				 INGEST_ELEMENT(idx),
				 errhint("Pass the identifier of what was called.")));
	len = VARSIZE_ANY_EXHDR(DatumGetPointer(value));
	if (len < 1 || len > INGEST_MAX_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity_id must be 1 to %d bytes long, not %d", INGEST_MAX_ID, len),
				 INGEST_ELEMENT(idx),
				 errhint("Use a shorter identifier, and keep a long display name in entity_name.")));
	ev->entity_id = VARDATA_ANY(DatumGetPointer(value));
	ev->entity_id_len = len;
}

static void
ingest_set_entity_name(BufferEvent *ev, Datum value, bool isnull, int idx)
{
	int			len;

	ev->entity_name = NULL;
	ev->entity_name_len = 0;
	if (isnull)
		return;
	len = VARSIZE_ANY_EXHDR(DatumGetPointer(value));
	if (len > INGEST_MAX_NAME)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity_name must be at most %d bytes long, not %d", INGEST_MAX_NAME, len),
				 INGEST_ELEMENT(idx),
				 errhint("Use a shorter display name.")));
	ev->entity_name = VARDATA_ANY(DatumGetPointer(value));
	ev->entity_name_len = len;
}

static void
ingest_set_response_time(BufferEvent *ev, Datum value, bool isnull, int idx)
{
	double		rt;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("response_time must not be null"),
				 INGEST_ELEMENT(idx),
				 errhint("Pass the response time in seconds.")));
	rt = DatumGetFloat8(value);
	if (isnan(rt) || isinf(rt) || rt < 0)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("response_time must be finite and not negative, not %g", rt),
				 INGEST_ELEMENT(idx),
				 errhint("Pass the response time in seconds, 0 or more.")));
	if (rt > INGEST_MAX_RESPONSE_TIME)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("response_time must be at most 1e15 seconds, not %g", rt),
				 INGEST_ELEMENT(idx),
				 errhint("Pass the response time in seconds; sketches and rollups hold values up to 1e15.")));
	ev->response_time = rt;
}

static void
ingest_set_success(BufferEvent *ev, Datum value, bool isnull, int idx)
{
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("success must not be null"),
				 INGEST_ELEMENT(idx),
				 errhint("Pass true when the call succeeded, false when it failed.")));
	ev->success = DatumGetBool(value);
}

/* The error text, cut to max_error_length bytes at a character boundary. */
static void
ingest_set_error(BufferEvent *ev, Datum value, bool isnull)
{
	const char *s;
	int			len;

	ev->error_message = NULL;
	ev->error_len = 0;
	if (isnull)
		return;
	s = VARDATA_ANY(DatumGetPointer(value));
	len = VARSIZE_ANY_EXHDR(DatumGetPointer(value));
	if (len > mr_max_error_length)
		len = pg_mbcliplen(s, len, mr_max_error_length);
	ev->error_message = s;
	ev->error_len = len;
}

/*
 * The range of recorded_at: hour and day arithmetic of rollups never
 * overflows (years 1970..9998, raw_metrics' CHECK constraint), and no
 * event older than rollup_retention_days: cleanup would delete its rollup
 * at once, and it would be counted nowhere (raw_metrics' insert trigger
 * refuses it too).  now is the current time.
 */
static void
ingest_check_recorded_at(TimestampTz ts, TimestampTz now, int idx)
{
	TimestampTz lowest = (date2j(INGEST_MIN_YEAR, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	TimestampTz end = (date2j(INGEST_END_YEAR, 1, 1) - POSTGRES_EPOCH_JDATE) * USECS_PER_DAY;
	TimestampTz oldest = now - (TimestampTz) mr_rollup_retention_days * USECS_PER_DAY;

	if (ts < lowest || ts >= end)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("recorded_at %s is out of range", timestamptz_to_str(ts)),
				 INGEST_ELEMENT(idx),
				 errhint("Pass a time from 1970 to 9998 (UTC), or NULL for the current time.")));
	if (ts < oldest)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_FIELD_OVERFLOW),
				 errmsg("recorded_at %s is older than metrics_rollup.rollup_retention_days (%d days)",
						timestamptz_to_str(ts), mr_rollup_retention_days),
				 INGEST_ELEMENT(idx),
				 errhint("Rollups older than the retention are deleted, so such an event would be counted nowhere. Record it with a recent time, or raise metrics_rollup.rollup_retention_days.")));
}

/* recorded_at, or now when NULL and nulls are allowed. */
static void
ingest_set_recorded_at(BufferEvent *ev, Datum value, bool isnull,
					   TimestampTz now, int idx)
{
	TimestampTz ts;

	if (isnull && idx == 0)
	{
		ev->recorded_at = now;
		return;
	}
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("recorded_at must not be null in a batch"),
				 INGEST_ELEMENT(idx),
				 errhint("Pass NULL for the whole recorded_ats array to use the current time.")));
	ts = DatumGetTimestampTz(value);
	if (TIMESTAMP_NOT_FINITE(ts))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("recorded_at must be finite"),
				 INGEST_ELEMENT(idx),
				 errhint("Pass the time of the call, or NULL for the current time.")));
	ingest_check_recorded_at(ts, now, idx);
	ev->recorded_at = ts;
}

/* ----------------------------------------------------------------
 * Storing events: the buffer, or the overflow policy
 * ----------------------------------------------------------------
 */

/* INSERT the events into raw_metrics in the caller's transaction. */
static void
ingest_write_direct(const BufferEvent *events, int n)
{
	static SPIPlanPtr plan = NULL;

	SPI_connect();
	if (plan == NULL)
	{
		SPIPlanPtr	p;

		p = SPI_prepare("INSERT INTO metrics_rollup.raw_metrics"
						" (" CATALOG_RAW_COLUMNS ")"
						" VALUES ($1, $2, $3, $4, $5, $6, $7)",
						CATALOG_RAW_NCOLUMNS, (Oid *) catalog_raw_types);
		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		plan = p;
	}
	for (int i = 0; i < n; i++)
	{
		const BufferEvent *ev = &events[i];
		Datum		values[CATALOG_RAW_NCOLUMNS];
		char		nulls[CATALOG_RAW_NCOLUMNS];

		catalog_raw_datums(ev, values, nulls);
		catalog_spi_check(SPI_execute_plan(plan, values, nulls, false, 0),
						  SPI_OK_INSERT, "writing events directly into raw_metrics");
	}
	SPI_finish();
}

/*
 * overflow_policy = wait: wake the worker and wait for room, at most
 * overflow_wait.  Returns true once the events are in the buffer.
 */
static bool
ingest_wait_for_room(const BufferEvent *events, int n)
{
	TimestampTz deadline;
	bool		stored = false;
	int			fill;

	buffer_count(BUFFER_COUNT_OVERFLOWED, n);
	if (!buffer_batch_can_ever_fit(events, n))
		return false;

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), mr_overflow_wait_ms);
	buffer_prepare_wait();
	for (;;)
	{
		long		left;

		buffer_wake_drainers();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left <= 0)
			break;
		buffer_wait(Min(left, 100));
		if (buffer_append(events, n, &fill))
		{
			stored = true;
			break;
		}
	}
	buffer_cancel_wait();
	return stored;
}

/*
 * The events are stored in a ring now fill percent full: under
 * overflow_policy = wait, slow the caller down above the threshold (see
 * the file header).
 */
static void
ingest_backpressure(int n, int fill)
{
	int			threshold = mr_backpressure_threshold;
	int64		delay_us;

	if (fill <= threshold || threshold >= 100 ||
		mr_overflow_policy != OVERFLOW_WAIT)
		return;
	delay_us = (INGEST_BACKPRESSURE_CALL_US + (int64) n * INGEST_BACKPRESSURE_EVENT_US) *
		(Min(fill, 100) - threshold) / (100 - threshold);
	if (delay_us < 1000)
	{
		/* below a millisecond: a latch wait would round it up */
		pg_usleep((long) delay_us);
		return;
	}

	/*
	 * A cancel sets the latch and ends the sleep, but is not served here:
	 * the events are stored, and record() must not raise an ERROR for
	 * events it kept (see ingest_store).
	 */
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 (long) (delay_us / 1000), PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

/* Buffer the events, or apply the overflow policy to all of them. */
static void
ingest_store(const BufferEvent *events, int n)
{
	int			fill;

	if (n == 0)
		return;

	/*
	 * A cancel or termination already pending is served now, before the
	 * events are stored: the caller then knows that nothing was recorded.
	 * Once stored, no interrupt is served inside this call (live_count's
	 * slow-call LOG line would serve one in errfinish): record() must not
	 * raise an ERROR for events it kept, or a client retry would count them
	 * twice.  (A cancel arriving after record() returned can still fail the
	 * caller's statement; like a lost reply after a commit, no server can
	 * rule that out for a non-transactional write.)
	 */
	CHECK_FOR_INTERRUPTS();
	if (buffer_append(events, n, &fill))
	{
		HOLD_INTERRUPTS();
		live_count(events, n);
		RESUME_INTERRUPTS();
		ingest_backpressure(n, fill);
		return;
	}

	switch ((OverflowPolicy) mr_overflow_policy)
	{
		case OVERFLOW_WAIT:
			if (ingest_wait_for_room(events, n))
			{
				HOLD_INTERRUPTS();
				live_count(events, n);
				RESUME_INTERRUPTS();
				return;
			}
			/* overflow_wait ran out: write directly, lose nothing */
			/* FALLTHROUGH */
		case OVERFLOW_DIRECT:
			ingest_write_direct(events, n);
			buffer_count(BUFFER_COUNT_DIRECT, n);
			live_count(events, n);
			return;
		case OVERFLOW_DROP:
			buffer_count(BUFFER_COUNT_DROPPED, n);
			return;
		case OVERFLOW_ERROR:
			buffer_count(BUFFER_COUNT_REJECTED, n);
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("metrics_rollup ingest buffer is full"),
					 errdetail("%d event(s) were not recorded.", n),
					 errhint("Retry later, raise metrics_rollup.buffer_size, or set metrics_rollup.overflow_policy to wait or direct.")));
	}
}

/* ----------------------------------------------------------------
 * SQL functions
 * ----------------------------------------------------------------
 */

/* record(kind, entity_id, response_time, success, error_message, entity_name, recorded_at) */
Datum
ingest_record(PG_FUNCTION_ARGS)
{
	BufferEvent ev;

	ingest_check_caller("record()");
	ingest_set_kind(&ev, PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	ingest_set_entity_id(&ev, PG_ARGISNULL(1) ? 0 : PointerGetDatum(PG_GETARG_TEXT_PP(1)),
						 PG_ARGISNULL(1), 0);
	ingest_set_response_time(&ev, PG_GETARG_DATUM(2), PG_ARGISNULL(2), 0);
	ingest_set_success(&ev, PG_GETARG_DATUM(3), PG_ARGISNULL(3), 0);
	ingest_set_error(&ev, PG_ARGISNULL(4) ? 0 : PointerGetDatum(PG_GETARG_TEXT_PP(4)),
					 PG_ARGISNULL(4));
	ingest_set_entity_name(&ev, PG_ARGISNULL(5) ? 0 : PointerGetDatum(PG_GETARG_TEXT_PP(5)),
						   PG_ARGISNULL(5), 0);
	ingest_set_recorded_at(&ev, PG_GETARG_DATUM(6), PG_ARGISNULL(6),
						   GetCurrentTimestamp(), 0);

	ingest_store(&ev, 1);
	PG_RETURN_VOID();
}

/* One array argument of record_batch(), deconstructed. */
typedef struct IngestArray
{
	Datum	   *values;
	bool	   *nulls;
	int			n;				/* -1: the argument was NULL */
} IngestArray;

static IngestArray
ingest_get_array(FunctionCallInfo fcinfo, int argno, Oid elemtype,
				 const char *name, bool required)
{
	IngestArray a = {NULL, NULL, -1};
	ArrayType  *arr;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(argno))
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", name),
					 errhint("Pass an array with one element per event.")));
		return a;
	}
	arr = PG_GETARG_ARRAYTYPE_P(argno);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a one-dimensional array", name),
				 errhint("Pass one element per event.")));
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign,
					  &a.values, &a.nulls, &a.n);
	return a;
}

/* Every array given has n elements. */
static void
ingest_check_length(const IngestArray *a, const char *name, int n)
{
	if (a->n >= 0 && a->n != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s has %d elements, entity_ids has %d", name, a->n, n),
				 errhint("Pass arrays of equal length, one element per event.")));
}

/* record_batch(kind, entity_ids, response_times, successes, error_messages, entity_names, recorded_ats) */
Datum
ingest_record_batch(PG_FUNCTION_ARGS)
{
	BufferEvent proto;
	BufferEvent *events;
	IngestArray ids,
				rts,
				oks,
				errs,
				names,
				ats;
	TimestampTz now = GetCurrentTimestamp();
	int			n;

	ingest_check_caller("record_batch()");
	ingest_set_kind(&proto, PG_ARGISNULL(0) ? NULL : PG_GETARG_TEXT_PP(0));
	ids = ingest_get_array(fcinfo, 1, TEXTOID, "entity_ids", true);
	rts = ingest_get_array(fcinfo, 2, FLOAT8OID, "response_times", true);
	oks = ingest_get_array(fcinfo, 3, BOOLOID, "successes", true);
	errs = ingest_get_array(fcinfo, 4, TEXTOID, "error_messages", false);
	names = ingest_get_array(fcinfo, 5, TEXTOID, "entity_names", false);
	ats = ingest_get_array(fcinfo, 6, TIMESTAMPTZOID, "recorded_ats", false);

	n = ids.n;
	ingest_check_length(&rts, "response_times", n);
	ingest_check_length(&oks, "successes", n);
	ingest_check_length(&errs, "error_messages", n);
	ingest_check_length(&names, "entity_names", n);
	ingest_check_length(&ats, "recorded_ats", n);

	/* validate every element before anything is stored */
	events = palloc(sizeof(BufferEvent) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		BufferEvent *ev = &events[i];

		*ev = proto;
		ingest_set_entity_id(ev, ids.values[i], ids.nulls[i], i + 1);
		ingest_set_response_time(ev, rts.values[i], rts.nulls[i], i + 1);
		ingest_set_success(ev, oks.values[i], oks.nulls[i], i + 1);
		ingest_set_error(ev, errs.n < 0 ? 0 : errs.values[i],
						 errs.n < 0 || errs.nulls[i]);
		ingest_set_entity_name(ev, names.n < 0 ? 0 : names.values[i],
							   names.n < 0 || names.nulls[i], i + 1);
		if (ats.n < 0)
			ev->recorded_at = now;
		else
			ingest_set_recorded_at(ev, ats.values[i], ats.nulls[i], now, i + 1);
	}

	ingest_store(events, n);
	pfree(events);
	PG_RETURN_INT64(n);
}

/*
 * Would the drain wait for a lock this transaction holds?  The flush writes
 * raw_metrics, rollup_dirty (the insert trigger) and rejected_events with
 * RowExclusiveLock; SHARE and stronger modes conflict with it.  Waiting
 * for the drain then is a deadlock the deadlock detector cannot see (the
 * wait is on a condition variable): refuse at once.
 */
static void
ingest_check_holds_drain_lock(void)
{
	static const char *const relnames[] = {"raw_metrics", "rollup_dirty",
	"rejected_events"};
	static const LOCKMODE modes[] = {ShareLock, ShareRowExclusiveLock,
	ExclusiveLock, AccessExclusiveLock};
	Oid			nsp = get_namespace_oid("metrics_rollup", true);

	if (!OidIsValid(nsp))
		return;
	for (int r = 0; r < (int) lengthof(relnames); r++)
	{
		Oid			relid = get_relname_relid(relnames[r], nsp);
		LOCKTAG		tag;

		if (!OidIsValid(relid))
			continue;
		SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
		for (int m = 0; m < (int) lengthof(modes); m++)
		{
#if PG_VERSION_NUM >= 170000
			bool		held = LockHeldByMe(&tag, modes[m], false);
#else
			bool		held = LockHeldByMe(&tag, modes[m]);
#endif

			if (held)
				ereport(ERROR,
						(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
						 errmsg("flush() would wait for a lock this transaction holds on metrics_rollup.%s",
								relnames[r]),
						 errdetail("The worker writes the buffered events into metrics_rollup.%s, which the %s lock of this transaction blocks until it ends.",
								   relnames[r], GetLockmodeName(DEFAULT_LOCKMETHOD, modes[m])),
						 errhint("Call flush() after this transaction commits or rolls back, or outside it.")));
		}
	}
}

/* ERROR if process pid waits for a lock that this backend holds. */
static void
ingest_check_blocks_pid(int pid)
{
	ArrayType  *blockers;
	Datum	   *pids;
	bool	   *nulls;
	int			n;

	blockers = DatumGetArrayTypeP(DirectFunctionCall1(pg_blocking_pids,
													  Int32GetDatum(pid)));
	deconstruct_array(blockers, INT4OID, sizeof(int32), true, TYPALIGN_INT,
					  &pids, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (!nulls[i] && DatumGetInt32(pids[i]) == MyProcPid)
		{
			buffer_cancel_wait();
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("flush() would wait for a metrics_rollup flush worker, which waits for a lock this transaction holds"),
					 errdetail("The flush worker (pid %d) is blocked by this session.", pid),
					 errhint("Call flush() after this transaction commits or rolls back, or outside it.")));
		}
	}
}

/*
 * Is a flush worker waiting for a lock that this backend holds?  Then
 * flush() would wait for ever (see above): the same refusal, found while
 * waiting, for locks of any object (a user's trigger on raw_metrics, a row
 * lock).
 */
static void
ingest_check_blocks_worker(void)
{
	for (int k = 0; k < buffer_drainer_count(); k++)
	{
		BufferDrainerStats st;

		if (buffer_get_drainer_stats(k, &st) && st.pid != 0)
			ingest_check_blocks_pid(st.pid);
	}
}

/*
 * flush(): wait until every event buffered before the call is committed;
 * returns how many events were pending then.
 */
Datum
ingest_flush(PG_FUNCTION_ARGS)
{
	uint64		heads[BUFFER_MAX_RINGS];
	uint64		pending;
	TimestampTz started = GetCurrentTimestamp();

	ingest_check_caller("flush()");
	if (!mr_enabled)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("flush() cannot wait while metrics_rollup.enabled is off"),
				 errhint("Set metrics_rollup.enabled = on and reload the configuration.")));

	pending = buffer_flush_targets(heads);
	if (pending == 0)
		PG_RETURN_INT64(0);
	ingest_check_holds_drain_lock();

	buffer_prepare_wait();
	while (!buffer_reached(heads))
	{
		if (buffer_drainers_running() < buffer_drainer_count() &&
			TimestampDifferenceExceeds(started, GetCurrentTimestamp(),
									   INGEST_WORKER_GRACE_MS))
		{
			buffer_cancel_wait();
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%d of %d metrics_rollup flush workers are not running",
							buffer_drainer_count() - buffer_drainers_running(),
							buffer_drainer_count()),
					 errhint("Check the server log: the flush workers serve database \"%s\", restart 5 seconds after they stopped, and each needs a slot of max_worker_processes.",
							 mr_database)));
		}
		buffer_wake_drainers();
		/* sleeping on the condition variable checks for interrupts */
		buffer_wait(INGEST_FLUSH_CHECK_MS);
		/* never wait for a worker that waits for us */
		if (!buffer_reached(heads))
			ingest_check_blocks_worker();
	}
	buffer_cancel_wait();
	PG_RETURN_INT64((int64) pending);
}

/* One row of counters for the stats view. */
Datum
ingest_stats(PG_FUNCTION_ARGS)
{
	BufferStats s;
	TupleDesc	tupdesc;
	Datum		values[15];
	bool		nulls[15] = {0};
	Interval   *duration;
	int			i = 0;

	mr_require_preload("ingest_stats()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	buffer_get_stats(&s);
	/* counters since the last stats_reset() */
	statsreset_subtract(&s);

	values[i++] = Int64GetDatum((int64) s.capacity_bytes);
	values[i++] = Int64GetDatum((int64) s.used_bytes);
	values[i++] = Int64GetDatum((int64) s.events_buffered);
	values[i++] = Int64GetDatum((int64) s.events_pending);
	values[i++] = Int64GetDatum((int64) s.events_flushed);
	values[i++] = Int64GetDatum((int64) s.events_direct);
	values[i++] = Int64GetDatum((int64) s.events_dropped);
	values[i++] = Int64GetDatum((int64) s.events_overflowed);
	values[i++] = Int64GetDatum((int64) s.events_rejected);
	values[i++] = Int64GetDatum((int64) s.flush_count);
	values[i++] = Int64GetDatum((int64) s.flush_failures);
	nulls[i] = s.last_flush_at == 0;
	values[i++] = TimestampTzGetDatum(s.last_flush_at);
	duration = palloc0(sizeof(Interval));
	duration->time = s.last_flush_duration_us;
	nulls[i] = s.last_flush_at == 0;
	values[i++] = IntervalPGetDatum(duration);
	nulls[i] = s.last_flush_error[0] == '\0';
	values[i++] = CStringGetTextDatum(s.last_flush_error);
	nulls[i] = s.worker_pid == 0;
	values[i++] = Int32GetDatum(s.worker_pid);
	Assert(i == lengthof(values));

	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
