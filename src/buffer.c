/*-------------------------------------------------------------------------
 *
 * buffer.c
 *	  The shared-memory ingest buffer: BUFFER_PARTITIONS byte rings of
 *	  variable-size event records, plus the ingest counters.
 *
 * Owns: the shared struct "metrics_rollup ingest buffer" (sized by
 * metrics_rollup.buffer_size), the record layout inside the rings, the
 * binary COPY stream the worker feeds to CopyFrom, and the counters shown
 * by the stats view.
 *
 * Must never: run SQL, start transactions or decide an overflow policy
 * (ingest.c does); advance a tail before the worker's transaction has
 * committed (the caller of buffer_drain_committed guarantees that).
 *
 * Layout.  Each partition is a ring of "capacity" bytes.  Positions are
 * monotonic uint64 byte counts; a byte's offset is pos % capacity.  Bytes
 * in [tail, head) hold records not yet committed to raw_metrics; a
 * producer only writes in [head, tail + capacity), so it never overwrites
 * an uncommitted record.  A record is a BufferRecord header followed by
 * kind, entity_id, entity_name and error bytes, padded to 8 bytes; it never
 * straddles the end of the ring: when it does not fit in the bytes left, a
 * wrap marker (total_len = BUFFER_WRAP) fills them and the record starts at
 * offset 0.
 *
 * Locking protocol.
 *	- partition->lock (one LWLock each, tranche "metrics_rollup ingest
 *	  buffer") guards head, tail, head_events and tail_events.  A producer
 *	  holds it exclusively only to reserve and copy its record(s) and move
 *	  head.  The worker takes it shared to read head (which makes the
 *	  records below head visible to it), reads the records without the lock
 *	  (nobody writes in [tail, head)), and takes it exclusively to move tail
 *	  after its transaction committed.  Only the worker moves tail.
 *	- Producers pick partition (process number) % BUFFER_PARTITIONS first and
 *	  try the others only when theirs is full, so producers on different
 *	  partitions never contend.
 *	- mutex (spinlock) guards worker_pid, worker_latch and
 *	  last_flush_error: a few instructions, no calls under it.
 *	- Counters are pg_atomic_uint64, updated without a lock; except the
 *	  count of buffered events, which is the sum of the rings' head_events
 *	  (kept under the ring lock already held), so that the hot path of
 *	  record() touches no cache line shared by all producers.
 *	- drained_cv is broadcast by the worker whenever tails moved; flush()
 *	  callers and producers waiting for room sleep on it.
 *
 * XXX: a batch is all-or-nothing in ONE ring, so a batch larger than the
 * free space of every ring overflows even when the rings together have
 * room, and one larger than a ring (buffer_size / BUFFER_PARTITIONS)
 * always overflows.  Splitting batches across rings would lift that at
 * the price of a multi-ring reservation.
 *
 * XXX: a producer copies its record while holding the partition lock.
 * Copy first, publish later (reserve by CAS, per-record ready flag) would
 * shorten the hold, but a record is a few hundred bytes and partitions
 * already spread the producers.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "port/pg_bswap.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "buffer.h"
#include "guc.h"
#include "pg_compat.h"

#define BUFFER_TRANCHE "metrics_rollup ingest buffer"
#define BUFFER_WRAP ((uint32) 0xFFFFFFFF)

/* Longest binary COPY tuple a record can become (see drain_encode). */
#define BUFFER_MAX_TUPLE (2 + 7 * 4 + 63 + 255 + 255 + 8 + 8 + 1 + 65535)

/* Record header in the ring; followed by the text bytes, 8-byte padded. */
typedef struct BufferRecord
{
	uint32		total_len;		/* header + text + padding, or BUFFER_WRAP */
	int32		error_len;		/* bytes; -1: NULL */
	int16		kind_len;		/* bytes, 1..63 */
	int16		entity_id_len;	/* bytes, 1..255 */
	int16		entity_name_len;	/* bytes, 0..255; -1: NULL */
	bool		success;
	TimestampTz recorded_at;
	double		response_time;	/* seconds */
} BufferRecord;

/* One ring; padded to its own cache lines. */
typedef struct BufferPartition
{
	LWLock	   *lock;
	uint64		head;			/* next byte a producer writes */
	uint64		tail;			/* first byte not committed to raw_metrics */
	uint64		head_events;	/* events appended, ever */
	uint64		tail_events;	/* events committed, ever */
} BufferPartition;

typedef union BufferPartitionPadded
{
	BufferPartition p;
	char		pad[PG_CACHE_LINE_SIZE];
} BufferPartitionPadded;

typedef struct BufferShared
{
	slock_t		mutex;			/* guards the next three fields */
	int			worker_pid;		/* 0: no worker */
	Latch	   *worker_latch;
	char		last_flush_error[256];	/* "" after a successful flush */

	ConditionVariable drained_cv;	/* broadcast when tails moved */

	pg_atomic_uint64 events_flushed;
	pg_atomic_uint64 events_direct;
	pg_atomic_uint64 events_dropped;
	pg_atomic_uint64 events_overflowed;
	pg_atomic_uint64 events_rejected;
	pg_atomic_uint64 flush_count;
	pg_atomic_uint64 flush_failures;
	pg_atomic_uint64 last_flush_at; /* TimestampTz; 0: never */
	pg_atomic_uint64 last_flush_duration_us;

	uint64		capacity;		/* bytes per ring, multiple of 8 */
	BufferPartitionPadded parts[BUFFER_PARTITIONS];
	/* then BUFFER_PARTITIONS rings of capacity bytes, at buffer_data() */
} BufferShared;

static BufferShared *shared = NULL;

static Size buffer_shmem_size(void);
static void buffer_shmem_init(void *shmem, bool found);

const ShmemPiece buffer_shmem_piece = {
	BUFFER_TRANCHE,
	buffer_shmem_size,
	BUFFER_PARTITIONS,
	buffer_shmem_init
};

/* ----------------------------------------------------------------
 * Shared memory setup
 * ----------------------------------------------------------------
 */

static uint64
buffer_ring_capacity(void)
{
	uint64		total = (uint64) mr_buffer_size_kb * 1024;

	return TYPEALIGN_DOWN(8, total / BUFFER_PARTITIONS);
}

static Size
buffer_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(BufferShared));

	size = add_size(size, mul_size(buffer_ring_capacity(), BUFFER_PARTITIONS));
	return size;
}

static void
buffer_shmem_init(void *shmem, bool found)
{
	LWLockPadded *locks;

	shared = (BufferShared *) shmem;
	if (found)
		return;

	SpinLockInit(&shared->mutex);
	shared->worker_pid = 0;
	shared->worker_latch = NULL;
	shared->last_flush_error[0] = '\0';
	ConditionVariableInit(&shared->drained_cv);
	pg_atomic_init_u64(&shared->events_flushed, 0);
	pg_atomic_init_u64(&shared->events_direct, 0);
	pg_atomic_init_u64(&shared->events_dropped, 0);
	pg_atomic_init_u64(&shared->events_overflowed, 0);
	pg_atomic_init_u64(&shared->events_rejected, 0);
	pg_atomic_init_u64(&shared->flush_count, 0);
	pg_atomic_init_u64(&shared->flush_failures, 0);
	pg_atomic_init_u64(&shared->last_flush_at, 0);
	pg_atomic_init_u64(&shared->last_flush_duration_us, 0);
	shared->capacity = buffer_ring_capacity();

	locks = GetNamedLWLockTranche(BUFFER_TRANCHE);
	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		BufferPartition *part = &shared->parts[i].p;

		part->lock = &locks[i].lock;
		part->head = part->tail = 0;
		part->head_events = part->tail_events = 0;
	}
}

/* Start of ring i. */
static inline char *
buffer_data(int i)
{
	return (char *) shared + MAXALIGN(sizeof(BufferShared)) + i * shared->capacity;
}

/* ----------------------------------------------------------------
 * Producers
 * ----------------------------------------------------------------
 */

/* Bytes one event takes in a ring. */
static inline uint32
record_size(const BufferEvent *ev)
{
	Size		len = sizeof(BufferRecord) + ev->kind_len + ev->entity_id_len;

	if (ev->entity_name)
		len += ev->entity_name_len;
	if (ev->error_message)
		len += ev->error_len;
	return (uint32) TYPEALIGN(8, len);
}

/* Where writing n records from pos would end, counting wrap padding. */
static uint64
plan_end(uint64 pos, const BufferEvent *events, int n)
{
	uint64		cap = shared->capacity;

	for (int i = 0; i < n; i++)
	{
		uint32		size = record_size(&events[i]);
		uint64		left = cap - pos % cap;

		if (left < size)
			pos += left;
		pos += size;
	}
	return pos;
}

/* Copy one record at pos (where it fits contiguously); returns its end. */
static uint64
write_record(char *ring, uint64 pos, const BufferEvent *ev)
{
	uint64		cap = shared->capacity;
	uint32		size = record_size(ev);
	uint64		left = cap - pos % cap;
	BufferRecord *rec;
	char	   *p;

	if (left < size)
	{
		*(uint32 *) (ring + pos % cap) = BUFFER_WRAP;
		pos += left;
	}
	rec = (BufferRecord *) (ring + pos % cap);
	rec->total_len = size;
	rec->error_len = ev->error_message ? ev->error_len : -1;
	rec->kind_len = ev->kind_len;
	rec->entity_id_len = ev->entity_id_len;
	rec->entity_name_len = ev->entity_name ? ev->entity_name_len : -1;
	rec->success = ev->success;
	rec->recorded_at = ev->recorded_at;
	rec->response_time = ev->response_time;

	p = (char *) (rec + 1);
	memcpy(p, ev->kind, ev->kind_len);
	p += ev->kind_len;
	memcpy(p, ev->entity_id, ev->entity_id_len);
	p += ev->entity_id_len;
	if (ev->entity_name)
	{
		memcpy(p, ev->entity_name, ev->entity_name_len);
		p += ev->entity_name_len;
	}
	if (ev->error_message)
		memcpy(p, ev->error_message, ev->error_len);
	return pos + size;
}

/* Append all n events to ring i, or nothing when they do not fit. */
static bool
partition_append(int i, const BufferEvent *events, int n)
{
	BufferPartition *part = &shared->parts[i].p;
	char	   *ring = buffer_data(i);
	uint64		cap = shared->capacity;
	uint64		threshold = cap / 100 * mr_flush_threshold;
	uint64		pos,
				end,
				used_before,
				used_after;

	LWLockAcquire(part->lock, LW_EXCLUSIVE);
	end = plan_end(part->head, events, n);
	/*
	 * A backend being terminated (a fast shutdown signals every backend and
	 * the worker at once) appends nothing: its events could land after the
	 * worker's final flush and be lost.  record() then applies the overflow
	 * policy, whose INSERT or wait ends in the termination's FATAL.
	 */
	if (ProcDiePending || end - part->tail > cap)
	{
		LWLockRelease(part->lock);
		return false;
	}
	pos = part->head;
	for (int k = 0; k < n; k++)
		pos = write_record(ring, pos, &events[k]);
	Assert(pos == end);
	used_before = part->head - part->tail;
	used_after = end - part->tail;
	part->head = end;
	part->head_events += n;
	LWLockRelease(part->lock);

	/* Crossing flush_threshold wakes the worker early. */
	if (used_before < threshold && used_after >= threshold)
		buffer_wake_worker();
	return true;
}

/*
 * Append n events (all of them, to one ring) or nothing.  Tries the
 * caller's own ring first, then the others.
 */
bool
buffer_append(const BufferEvent *events, int n)
{
	int			first = MR_MY_PROC_NUMBER % BUFFER_PARTITIONS;

	if (first < 0)
		first = 0;
	for (int k = 0; k < BUFFER_PARTITIONS; k++)
	{
		if (partition_append((first + k) % BUFFER_PARTITIONS, events, n))
			return true;
	}
	return false;
}

/*
 * false when waiting for room is futile: the events cannot fit in an empty
 * ring.  A record never straddles the ring's end, so an empty ring whose
 * head sits anywhere may need a wrap marker of up to one record less 8
 * bytes: the batch fits for sure only when its bytes plus its largest
 * record (less 8) fit in a ring.  (Comparing the bytes alone, a batch
 * nearly a ring large waited overflow_wait in vain whenever the drained
 * ring's head was not near the ring's start.)
 */
bool
buffer_batch_can_ever_fit(const BufferEvent *events, int n)
{
	uint64		total = 0;
	uint32		largest = 0;

	for (int k = 0; k < n; k++)
	{
		uint32		size = record_size(&events[k]);

		total += size;
		largest = Max(largest, size);
	}
	return total + largest - Min(largest, 8) <= shared->capacity;
}

void
buffer_count(BufferCounter counter, uint64 n)
{
	switch (counter)
	{
		case BUFFER_COUNT_DIRECT:
			pg_atomic_fetch_add_u64(&shared->events_direct, n);
			break;
		case BUFFER_COUNT_DROPPED:
			pg_atomic_fetch_add_u64(&shared->events_dropped, n);
			break;
		case BUFFER_COUNT_OVERFLOWED:
			pg_atomic_fetch_add_u64(&shared->events_overflowed, n);
			break;
		case BUFFER_COUNT_REJECTED:
			pg_atomic_fetch_add_u64(&shared->events_rejected, n);
			break;
	}
}

/* ----------------------------------------------------------------
 * Waiting for the worker (flush() and producers waiting for room)
 * ----------------------------------------------------------------
 */

/*
 * Fill heads[] with every ring's head; returns how many events are
 * appended but not committed at this moment.
 */
uint64
buffer_flush_targets(uint64 *heads)
{
	uint64		pending = 0;

	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		BufferPartition *part = &shared->parts[i].p;

		LWLockAcquire(part->lock, LW_SHARED);
		heads[i] = part->head;
		pending += part->head_events - part->tail_events;
		LWLockRelease(part->lock);
	}
	return pending;
}

/* true once every ring's committed tail reached heads[]. */
bool
buffer_reached(const uint64 *heads)
{
	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		BufferPartition *part = &shared->parts[i].p;
		bool		reached;

		LWLockAcquire(part->lock, LW_SHARED);
		reached = part->tail >= heads[i];
		LWLockRelease(part->lock);
		if (!reached)
			return false;
	}
	return true;
}

void
buffer_prepare_wait(void)
{
	ConditionVariablePrepareToSleep(&shared->drained_cv);
}

/* Sleep until the worker moved tails or timeout_ms passed. */
void
buffer_wait(long timeout_ms)
{
	(void) ConditionVariableTimedSleep(&shared->drained_cv, timeout_ms,
									   PG_WAIT_EXTENSION);
}

void
buffer_cancel_wait(void)
{
	ConditionVariableCancelSleep();
}

/* ----------------------------------------------------------------
 * The worker's registration
 * ----------------------------------------------------------------
 */

void
buffer_attach_worker(int pid, Latch *latch)
{
	SpinLockAcquire(&shared->mutex);
	shared->worker_pid = pid;
	shared->worker_latch = latch;
	SpinLockRelease(&shared->mutex);
}

void
buffer_detach_worker(void)
{
	SpinLockAcquire(&shared->mutex);
	shared->worker_pid = 0;
	shared->worker_latch = NULL;
	SpinLockRelease(&shared->mutex);
}

int
buffer_worker_pid(void)
{
	int			pid;

	SpinLockAcquire(&shared->mutex);
	pid = shared->worker_pid;
	SpinLockRelease(&shared->mutex);
	return pid;
}

void
buffer_wake_worker(void)
{
	Latch	   *latch;

	SpinLockAcquire(&shared->mutex);
	latch = shared->worker_latch;
	SpinLockRelease(&shared->mutex);
	if (latch)
		SetLatch(latch);
}

/* ----------------------------------------------------------------
 * Draining: a binary COPY stream straight from the rings
 *
 * Worker-local state; one drain at a time.  buffer_drain_begin takes a
 * snapshot of the heads, buffer_drain_read (the COPY data source callback,
 * which has no argument) walks the records, and buffer_drain_committed
 * moves the tails to where the walk stopped.  A failed transaction simply
 * never calls buffer_drain_committed: the records stay.
 *
 * Events of the snapshot are numbered 0.. in walk order (ring 0 first).
 * buffer_drain_range restarts the walk to emit only a sub-range (the
 * flush job bisects a batch with a poison event that way) and
 * buffer_drain_event decodes one event (for the dead-letter table).
 * Skipped events count as walked: the tails move past them at commit.
 * ----------------------------------------------------------------
 */

typedef enum DrainPhase
{
	DRAIN_HEADER,
	DRAIN_TUPLES,
	DRAIN_EOF
} DrainPhase;

typedef struct DrainState
{
	uint64		start[BUFFER_PARTITIONS];	/* tail at begin */
	uint64		cur[BUFFER_PARTITIONS];	/* next record to emit */
	uint64		end[BUFFER_PARTITIONS];	/* head at begin */
	uint64		events[BUFFER_PARTITIONS];	/* emitted per ring */
	int			part;			/* ring being walked */
	uint64		walked;			/* events before cur, all rings */
	uint64		max_events;		/* events the current range emits */
	uint64		emitted;		/* events emitted in the current range */
	DrainPhase	phase;
	char	   *stage;			/* encoded bytes not yet handed to COPY */
	int			stage_len;
	int			stage_off;
} DrainState;

static DrainState drain;

/*
 * Snapshot every ring for a drain of at most max_events; returns how many
 * events are pending (0: nothing to do).
 */
uint64
buffer_drain_begin(uint64 max_events)
{
	uint64		pending = 0;

	if (drain.stage == NULL)
		drain.stage = MemoryContextAlloc(TopMemoryContext, BUFFER_MAX_TUPLE);
	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		BufferPartition *part = &shared->parts[i].p;

		LWLockAcquire(part->lock, LW_SHARED);
		drain.start[i] = drain.cur[i] = part->tail;
		drain.end[i] = part->head;
		pending += part->head_events - part->tail_events;
		LWLockRelease(part->lock);
		drain.events[i] = 0;
	}
	drain.part = 0;
	drain.walked = 0;
	drain.max_events = max_events;
	drain.emitted = 0;
	drain.phase = DRAIN_HEADER;
	drain.stage_len = drain.stage_off = 0;
	return pending;
}

static inline char *
put_int16(char *p, int16 v)
{
	uint16		n = pg_hton16((uint16) v);

	memcpy(p, &n, 2);
	return p + 2;
}

static inline char *
put_int32(char *p, int32 v)
{
	uint32		n = pg_hton32((uint32) v);

	memcpy(p, &n, 4);
	return p + 4;
}

static inline char *
put_int64(char *p, int64 v)
{
	uint64		n = pg_hton64((uint64) v);

	memcpy(p, &n, 8);
	return p + 8;
}

/* A field: int32 length (-1 for NULL) then the bytes. */
static inline char *
put_field(char *p, const char *bytes, int len)
{
	p = put_int32(p, len);
	if (len > 0)
	{
		memcpy(p, bytes, len);
		p += len;
	}
	return p;
}

/* Encode one record as a binary COPY tuple of CATALOG_RAW_COLUMNS (catalog.h). */
static int
drain_encode(const BufferRecord *rec, char *out)
{
	const char *text = (const char *) (rec + 1);
	const char *kind = text;
	const char *entity_id = kind + rec->kind_len;
	const char *entity_name = entity_id + rec->entity_id_len;
	const char *error = entity_name + Max(rec->entity_name_len, 0);
	char	   *p = out;
	int64		rt_bits;

	memcpy(&rt_bits, &rec->response_time, 8);
	p = put_int16(p, 7);
	p = put_field(p, kind, rec->kind_len);
	p = put_field(p, entity_id, rec->entity_id_len);
	p = put_field(p, entity_name, rec->entity_name_len);
	p = put_int32(p, 8);
	p = put_int64(p, rec->recorded_at);
	p = put_int32(p, 8);
	p = put_int64(p, rt_bits);
	p = put_int32(p, 1);
	*p++ = rec->success ? 1 : 0;
	p = put_field(p, error, rec->error_len);
	return (int) (p - out);
}

/* The next record of the walk (advancing past it), or NULL at its end. */
static const BufferRecord *
drain_next_record(void)
{
	uint64		cap = shared->capacity;

	while (drain.part < BUFFER_PARTITIONS)
	{
		int			i = drain.part;
		const BufferRecord *rec;

		if (drain.cur[i] >= drain.end[i])
		{
			drain.part++;
			continue;
		}
		rec = (const BufferRecord *) (buffer_data(i) + drain.cur[i] % cap);
		if (rec->total_len == BUFFER_WRAP)
		{
			drain.cur[i] += cap - drain.cur[i] % cap;
			continue;
		}
		drain.cur[i] += rec->total_len;
		drain.events[i]++;
		drain.walked++;
		return rec;
	}
	return NULL;
}

/* Stage the next tuple, or the trailer when the range is exhausted. */
static void
drain_stage_next(void)
{
	const BufferRecord *rec = NULL;

	drain.stage_off = 0;
	if (drain.emitted < drain.max_events)
		rec = drain_next_record();
	if (rec != NULL)
	{
		drain.stage_len = drain_encode(rec, drain.stage);
		drain.emitted++;
		return;
	}
	/* trailer: a field count of -1 */
	put_int16(drain.stage, -1);
	drain.stage_len = 2;
	drain.phase = DRAIN_EOF;
}

/*
 * Restart the walk of the snapshot taken by buffer_drain_begin so that
 * the COPY stream holds events [first, first + count) only.
 */
void
buffer_drain_range(uint64 first, uint64 count)
{
	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		drain.cur[i] = drain.start[i];
		drain.events[i] = 0;
	}
	drain.part = 0;
	drain.walked = 0;
	while (drain.walked < first && drain_next_record() != NULL)
		;
	drain.max_events = count;
	drain.emitted = 0;
	drain.phase = DRAIN_HEADER;
	drain.stage_len = drain.stage_off = 0;
}

/*
 * Event number index of the snapshot, pointing into the ring (valid until
 * the tails move).  Moves the walk: call buffer_drain_range afterwards.
 * Returns false when the snapshot has fewer events.
 */
bool
buffer_drain_event(uint64 index, BufferEvent *ev)
{
	const BufferRecord *rec;
	const char *text;

	buffer_drain_range(index, 0);
	rec = drain_next_record();
	if (rec == NULL)
		return false;
	text = (const char *) (rec + 1);
	ev->kind = text;
	ev->kind_len = rec->kind_len;
	ev->entity_id = ev->kind + rec->kind_len;
	ev->entity_id_len = rec->entity_id_len;
	ev->entity_name = rec->entity_name_len >= 0 ? ev->entity_id + rec->entity_id_len : NULL;
	ev->entity_name_len = Max(rec->entity_name_len, 0);
	ev->error_message = rec->error_len >= 0 ?
		ev->entity_id + rec->entity_id_len + ev->entity_name_len : NULL;
	ev->error_len = Max(rec->error_len, 0);
	ev->recorded_at = rec->recorded_at;
	ev->response_time = rec->response_time;
	ev->success = rec->success;
	return true;
}

/*
 * copy_data_source_cb for BeginCopyFrom: fills outbuf with up to maxread
 * bytes of the binary COPY stream; returns 0 at the end.
 */
int
buffer_drain_read(void *outbuf, int minread, int maxread)
{
	static const char header[] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
	char	   *out = (char *) outbuf;
	int			copied = 0;

	while (copied < maxread)
	{
		int			n;

		if (drain.stage_off >= drain.stage_len)
		{
			if (drain.phase == DRAIN_EOF)
				break;
			if (drain.phase == DRAIN_HEADER)
			{
				/* signature (11 bytes), flags, header extension length */
				memcpy(drain.stage, header, 19);
				drain.stage_len = 19;
				drain.stage_off = 0;
				drain.phase = DRAIN_TUPLES;
			}
			else
				drain_stage_next();
		}
		n = Min(maxread - copied, drain.stage_len - drain.stage_off);
		memcpy(out + copied, drain.stage + drain.stage_off, n);
		drain.stage_off += n;
		copied += n;
	}
	return copied;
}

/*
 * The drain's transaction committed: move the tails past what was walked,
 * count it (rejected of them went to the dead-letter table, not to
 * raw_metrics) and wake waiters.  Returns the events taken out.
 */
uint64
buffer_drain_committed(TimestampTz started, uint64 rejected)
{
	TimestampTz now = GetCurrentTimestamp();

	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		BufferPartition *part = &shared->parts[i].p;

		if (drain.cur[i] == drain.start[i])
			continue;
		LWLockAcquire(part->lock, LW_EXCLUSIVE);
		Assert(part->tail == drain.start[i]);
		part->tail = drain.cur[i];
		part->tail_events += drain.events[i];
		LWLockRelease(part->lock);
	}

	if (drain.walked > 0)
	{
		Assert(rejected <= drain.walked);
		pg_atomic_fetch_add_u64(&shared->events_flushed, drain.walked - rejected);
		pg_atomic_fetch_add_u64(&shared->flush_count, 1);
		pg_atomic_write_u64(&shared->last_flush_at, (uint64) now);
		pg_atomic_write_u64(&shared->last_flush_duration_us,
							(uint64) (now - started));
	}
	SpinLockAcquire(&shared->mutex);
	shared->last_flush_error[0] = '\0';
	SpinLockRelease(&shared->mutex);

	ConditionVariableBroadcast(&shared->drained_cv);
	return drain.walked;
}

/* A flush failed: keep the events, count and show the error. */
void
buffer_report_flush_error(const char *message)
{
	char		text[sizeof(shared->last_flush_error)];
	int			len;

	if (message == NULL)
		message = "unknown error";
	/* cut at a character boundary, before taking the spinlock */
	len = pg_mbcliplen(message, strlen(message), sizeof(text) - 1);
	memcpy(text, message, len);
	text[len] = '\0';

	pg_atomic_fetch_add_u64(&shared->flush_failures, 1);
	SpinLockAcquire(&shared->mutex);
	memcpy(shared->last_flush_error, text, len + 1);
	SpinLockRelease(&shared->mutex);
}

/* Events appended but not committed. */
uint64
buffer_pending_events(void)
{
	uint64		heads[BUFFER_PARTITIONS];

	return buffer_flush_targets(heads);
}

/* ----------------------------------------------------------------
 * Stats
 * ----------------------------------------------------------------
 */

void
buffer_get_stats(BufferStats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->capacity_bytes = shared->capacity * BUFFER_PARTITIONS;
	for (int i = 0; i < BUFFER_PARTITIONS; i++)
	{
		BufferPartition *part = &shared->parts[i].p;

		LWLockAcquire(part->lock, LW_SHARED);
		stats->used_bytes += part->head - part->tail;
		stats->events_buffered += part->head_events;
		stats->events_pending += part->head_events - part->tail_events;
		LWLockRelease(part->lock);
	}
	stats->events_flushed = pg_atomic_read_u64(&shared->events_flushed);
	stats->events_direct = pg_atomic_read_u64(&shared->events_direct);
	stats->events_dropped = pg_atomic_read_u64(&shared->events_dropped);
	stats->events_overflowed = pg_atomic_read_u64(&shared->events_overflowed);
	stats->events_rejected = pg_atomic_read_u64(&shared->events_rejected);
	stats->flush_count = pg_atomic_read_u64(&shared->flush_count);
	stats->flush_failures = pg_atomic_read_u64(&shared->flush_failures);
	stats->last_flush_at = (TimestampTz) pg_atomic_read_u64(&shared->last_flush_at);
	stats->last_flush_duration_us =
		(int64) pg_atomic_read_u64(&shared->last_flush_duration_us);

	SpinLockAcquire(&shared->mutex);
	memcpy(stats->last_flush_error, shared->last_flush_error,
		   sizeof(stats->last_flush_error));
	stats->worker_pid = shared->worker_pid;
	SpinLockRelease(&shared->mutex);
}
