/*-------------------------------------------------------------------------
 *
 * buffer.c
 *	  The shared-memory ingest buffer: partitioned byte rings of
 *	  variable-size event records, plus the ingest counters.
 *
 * Owns: the shared struct "metrics_rollup ingest buffer" (sized by
 * metrics_rollup.buffer_size), the record layout inside the rings, which
 * flush worker drains which ring, the binary COPY stream a flush worker
 * feeds to CopyFrom, and the counters shown by the stats view and
 * drain_stats().
 *
 * Must never: run SQL, start transactions or decide an overflow policy
 * (ingest.c does); advance a tail before the drainer's transaction has
 * committed (the caller of buffer_drain_committed guarantees that); let
 * two drainers walk the same ring.
 *
 * Rings and drainers.  There are nrings = flush_workers * ceil(8 /
 * flush_workers) rings (the smallest multiple of flush_workers that is at
 * least 8, so every drainer owns as many rings as the others), fixed at
 * server start.  Ring i belongs to flush worker i % flush_workers: only
 * that process walks it and moves its tail, so drainers never contend
 * with each other and each ring keeps the single-consumer rule below.
 * A producer crossing flush_threshold (or backpressure_threshold, when
 * lower: producers are about to be slowed) in ring i wakes ring i's owner
 * only.
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
 *	  head.  The ring's drainer takes it shared to read head (which makes
 *	  the records below head visible to it), reads the records without the
 *	  lock (nobody writes in [tail, head)), and takes it exclusively to
 *	  move tail after its transaction committed.  Only the ring's drainer
 *	  moves tail.
 *	- Producers pick partition (process number) % nrings first and try the
 *	  others only when theirs is full, so producers on different
 *	  partitions never contend; a batch of BUFFER_SPREAD_BATCH events or
 *	  more starts one partition further than the producer's previous one,
 *	  so that one producer of large batches feeds every drainer.
 *	- mutex (spinlock) guards worker_pid, worker_latch and
 *	  last_flush_error; each drainer slot's own mutex guards its pid, latch
 *	  and last_error: a few instructions, no calls under them.
 *	- Counters are pg_atomic_uint64, updated without a lock; except the
 *	  count of buffered events, which is the sum of the rings' head_events
 *	  (kept under the ring lock already held), so that the hot path of
 *	  record() touches no cache line shared by all producers.  A drainer
 *	  slot's counters are written by that drainer only.
 *	- drained_cv is broadcast by a drainer whenever its tails moved;
 *	  flush() callers and producers waiting for room sleep on it.
 *
 * XXX: a batch is all-or-nothing in ONE ring, so a batch larger than the
 * free space of every ring overflows even when the rings together have
 * room, and one larger than a ring (buffer_size / nrings)
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

StaticAssertDecl(BUFFER_MAX_RINGS >= MR_MAX_FLUSH_WORKERS,
				 "every flush worker owns at least one ring");

#define BUFFER_TRANCHE "metrics_rollup ingest buffer"
#define BUFFER_WRAP ((uint32) 0xFFFFFFFF)

/* Batches at least this large rotate over the rings (buffer_append). */
#define BUFFER_SPREAD_BATCH 64

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

/* One flush worker's registration and counters (it alone writes them). */
typedef struct BufferDrainer
{
	slock_t		mutex;			/* guards pid, latch and last_error */
	int			pid;			/* 0: not running */
	Latch	   *latch;
	char		last_error[256];	/* "" after a successful flush */
	pg_atomic_uint64 starts;	/* attaches since server start */
	pg_atomic_uint64 events_flushed;
	pg_atomic_uint64 flush_count;
	pg_atomic_uint64 flush_failures;
	pg_atomic_uint64 last_flush_at; /* TimestampTz; 0: never */
	pg_atomic_uint64 last_flush_duration_us;
	pg_atomic_uint64 rate;		/* events/s committed, last sample */
} BufferDrainer;

typedef struct BufferShared
{
	slock_t		mutex;			/* guards the next three fields */
	int			worker_pid;		/* 0: no maintenance worker */
	Latch	   *worker_latch;
	char		last_flush_error[256];	/* "" after a successful flush */
	int			nrings;			/* rings in use, fixed at start */
	int			ndrainers;		/* flush_workers at start */

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
	BufferDrainer drainers[MR_MAX_FLUSH_WORKERS];
	BufferPartitionPadded parts[BUFFER_MAX_RINGS];
	/* then nrings rings of capacity bytes, at buffer_data() */
} BufferShared;

static BufferShared *shared = NULL;

/* In a flush worker: its number and the rings it owns; -1 elsewhere. */
static int	my_drainer = -1;
static int	my_rings[BUFFER_MAX_RINGS];
static int	my_nrings = 0;

static Size buffer_shmem_size(void);
static void buffer_shmem_init(void *shmem, bool found);

const ShmemPiece buffer_shmem_piece = {
	BUFFER_TRANCHE,
	buffer_shmem_size,
	BUFFER_MAX_RINGS,
	buffer_shmem_init
};

/* ----------------------------------------------------------------
 * Shared memory setup
 * ----------------------------------------------------------------
 */

/* The smallest multiple of flush_workers that is at least BUFFER_MIN_RINGS. */
static int
buffer_ring_count(void)
{
	int			nd = Max(1, Min(guc_flush_workers(), MR_MAX_FLUSH_WORKERS));

	return nd * ((BUFFER_MIN_RINGS + nd - 1) / nd);
}

static uint64
buffer_ring_capacity(void)
{
	uint64		total = (uint64) mr_buffer_size_kb * 1024;

	return TYPEALIGN_DOWN(8, total / buffer_ring_count());
}

static Size
buffer_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(BufferShared));

	size = add_size(size, mul_size(buffer_ring_capacity(), buffer_ring_count()));
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
	shared->nrings = buffer_ring_count();
	shared->ndrainers = Max(1, Min(guc_flush_workers(), MR_MAX_FLUSH_WORKERS));
	for (int k = 0; k < MR_MAX_FLUSH_WORKERS; k++)
	{
		BufferDrainer *d = &shared->drainers[k];

		SpinLockInit(&d->mutex);
		d->pid = 0;
		d->latch = NULL;
		d->last_error[0] = '\0';
		pg_atomic_init_u64(&d->starts, 0);
		pg_atomic_init_u64(&d->events_flushed, 0);
		pg_atomic_init_u64(&d->flush_count, 0);
		pg_atomic_init_u64(&d->flush_failures, 0);
		pg_atomic_init_u64(&d->last_flush_at, 0);
		pg_atomic_init_u64(&d->last_flush_duration_us, 0);
		pg_atomic_init_u64(&d->rate, 0);
	}

	locks = GetNamedLWLockTranche(BUFFER_TRANCHE);
	for (int i = 0; i < BUFFER_MAX_RINGS; i++)
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

/*
 * Append all n events to ring i, or nothing when they do not fit.  On
 * success *fill is the ring's use after the append, in percent.
 */
static bool
partition_append(int i, const BufferEvent *events, int n, int *fill)
{
	BufferPartition *part = &shared->parts[i].p;
	char	   *ring = buffer_data(i);
	uint64		cap = shared->capacity;
	uint64		threshold = cap / 100 * Min(mr_flush_threshold,
											mr_backpressure_threshold);
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

	*fill = (int) (used_after * 100 / cap);
	/* Crossing flush_threshold (or backpressure_threshold) wakes the drainer */
	if (used_before < threshold && used_after >= threshold)
		buffer_wake_drainer(i % shared->ndrainers);
	return true;
}

/*
 * Append n events (all of them, to one ring) or nothing.  Tries the
 * caller's own ring first, then the others.  On success *fill is the use
 * of the ring that took them, in percent (for backpressure).
 *
 * A batch of BUFFER_SPREAD_BATCH events or more starts one ring further
 * than the caller's previous batch: one producer of large batches then
 * feeds every flush worker, not only the owner of its own ring.  Single
 * events stay on the caller's ring (no contention with other producers).
 */
bool
buffer_append(const BufferEvent *events, int n, int *fill)
{
	static uint32 batches = 0;
	int			nrings = shared->nrings;
	int			first = MR_MY_PROC_NUMBER;

	if (n >= BUFFER_SPREAD_BATCH)
		first += (int) (batches++ % (uint32) nrings);
	first %= nrings;
	if (first < 0)
		first = 0;
	for (int k = 0; k < nrings; k++)
	{
		if (partition_append((first + k) % nrings, events, n, fill))
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

	for (int i = 0; i < shared->nrings; i++)
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
	for (int i = 0; i < shared->nrings; i++)
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

/*
 * Flush worker k starts: publish its pid and latch, and learn its rings
 * (ring i belongs to drainer i % flush_workers).
 */
void
buffer_attach_drainer(int k, int pid, Latch *latch)
{
	BufferDrainer *d;

	Assert(k >= 0 && k < shared->ndrainers);
	d = &shared->drainers[k];
	my_drainer = k;
	my_nrings = 0;
	for (int i = k; i < shared->nrings; i += shared->ndrainers)
		my_rings[my_nrings++] = i;
	pg_atomic_fetch_add_u64(&d->starts, 1);
	SpinLockAcquire(&d->mutex);
	d->pid = pid;
	d->latch = latch;
	SpinLockRelease(&d->mutex);
}

void
buffer_detach_drainer(void)
{
	BufferDrainer *d;

	if (my_drainer < 0)
		return;
	d = &shared->drainers[my_drainer];
	SpinLockAcquire(&d->mutex);
	d->pid = 0;
	d->latch = NULL;
	SpinLockRelease(&d->mutex);
}

int
buffer_drainer_count(void)
{
	return shared->ndrainers;
}

/* How many flush workers are attached now. */
int
buffer_drainers_running(void)
{
	int			running = 0;

	for (int k = 0; k < shared->ndrainers; k++)
	{
		BufferDrainer *d = &shared->drainers[k];

		SpinLockAcquire(&d->mutex);
		running += d->pid != 0;
		SpinLockRelease(&d->mutex);
	}
	return running;
}

void
buffer_wake_drainer(int k)
{
	BufferDrainer *d = &shared->drainers[k];
	Latch	   *latch;

	SpinLockAcquire(&d->mutex);
	latch = d->latch;
	SpinLockRelease(&d->mutex);
	if (latch)
		SetLatch(latch);
}

/* Wake every flush worker (flush(), producers waiting for room). */
void
buffer_wake_drainers(void)
{
	for (int k = 0; k < shared->ndrainers; k++)
		buffer_wake_drainer(k);
}

/* ----------------------------------------------------------------
 * Draining: a binary COPY stream straight from the rings
 *
 * Drainer-local state, over the rings this flush worker owns (my_rings);
 * one drain at a time.  buffer_drain_begin takes a snapshot of the heads
 * and collects the records of the batch (at most max_events, oldest first
 * in each ring) as pointers into the rings, then sorts the pointers by
 * (kind, entity_id, recorded_at) bytes; buffer_drain_read (the COPY data
 * source callback, which has no argument) encodes them in that order, and
 * buffer_drain_committed moves the tails past everything collected.  A
 * failed transaction simply never calls buffer_drain_committed: the
 * records stay.
 *
 * Why sort: most of a flush's time is the btree insertions into
 * raw_metrics' (kind, entity_id, recorded_at) index (test/bench/
 * drain_profile.sh).  Rows of one entity arriving together go to the same
 * leaf page one after the other, which then stays in the CPU's caches,
 * instead of a random leaf per row; the heap gets one entity's rows
 * together too.  Sorting 100,000 pointers costs a few milliseconds.  A
 * batch is committed or not as a whole, so its order inside is free.
 *
 * Events of the batch are numbered 0.. in sorted order.
 * buffer_drain_range restarts the emission for a sub-range (the flush job
 * bisects a batch with a poison event that way) and buffer_drain_event
 * decodes one event (for the dead-letter table).  Events outside the
 * emitted ranges still belong to the batch: the tails move past them at
 * commit.
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
	/* indexed like my_rings[] */
	uint64		start[BUFFER_MAX_RINGS];	/* tail at begin */
	uint64		cur[BUFFER_MAX_RINGS];	/* end of what was collected */
	uint64		events[BUFFER_MAX_RINGS];	/* collected per ring */
	const BufferRecord **recs;	/* the batch, sorted */
	uint64		nrecs;			/* events in recs */
	uint64		recs_alloc;		/* allocated entries of recs */
	uint64		next;			/* next entry of recs to emit */
	uint64		stop;			/* emit up to this entry (excluded) */
	DrainPhase	phase;
	char	   *stage;			/* encoded bytes not yet handed to COPY */
	int			stage_len;
	int			stage_off;
} DrainState;

static DrainState drain;

/* Sort order of a batch: kind, entity_id (bytes), then recorded_at. */
static int
drain_record_cmp(const void *a, const void *b)
{
	const BufferRecord *ra = *(const BufferRecord *const *) a;
	const BufferRecord *rb = *(const BufferRecord *const *) b;
	const char *ta = (const char *) (ra + 1);
	const char *tb = (const char *) (rb + 1);
	int			c;

	c = memcmp(ta, tb, Min(ra->kind_len, rb->kind_len));
	if (c != 0 || ra->kind_len != rb->kind_len)
		return c != 0 ? c : (ra->kind_len < rb->kind_len ? -1 : 1);
	ta += ra->kind_len;
	tb += rb->kind_len;
	c = memcmp(ta, tb, Min(ra->entity_id_len, rb->entity_id_len));
	if (c != 0 || ra->entity_id_len != rb->entity_id_len)
		return c != 0 ? c : (ra->entity_id_len < rb->entity_id_len ? -1 : 1);
	if (ra->recorded_at != rb->recorded_at)
		return ra->recorded_at < rb->recorded_at ? -1 : 1;
	return 0;
}

/* Collect up to max_events records of ring index i, from its tail. */
static void
drain_collect_ring(int i, uint64 end, uint64 max_events)
{
	uint64		cap = shared->capacity;
	char	   *ring = buffer_data(my_rings[i]);

	while (drain.cur[i] < end && drain.nrecs < max_events)
	{
		const BufferRecord *rec = (const BufferRecord *) (ring + drain.cur[i] % cap);

		if (rec->total_len == BUFFER_WRAP)
		{
			drain.cur[i] += cap - drain.cur[i] % cap;
			continue;
		}
		drain.recs[drain.nrecs++] = rec;
		drain.cur[i] += rec->total_len;
		drain.events[i]++;
	}
}

/*
 * Snapshot every ring of ours and collect a batch of at most max_events,
 * sorted; returns how many events are pending (0: nothing to do).
 */
uint64
buffer_drain_begin(uint64 max_events)
{
	uint64		pending = 0;

	Assert(my_drainer >= 0);
	if (drain.stage == NULL)
		drain.stage = MemoryContextAlloc(TopMemoryContext, BUFFER_MAX_TUPLE);
	if (drain.recs_alloc < max_events)
	{
		if (drain.recs)
			pfree(drain.recs);
		drain.recs = MemoryContextAllocHuge(TopMemoryContext,
											max_events * sizeof(BufferRecord *));
		drain.recs_alloc = max_events;
	}
	drain.nrecs = 0;
	for (int i = 0; i < my_nrings; i++)
	{
		BufferPartition *part = &shared->parts[my_rings[i]].p;

		uint64		end;

		LWLockAcquire(part->lock, LW_SHARED);
		drain.start[i] = drain.cur[i] = part->tail;
		end = part->head;
		pending += part->head_events - part->tail_events;
		LWLockRelease(part->lock);
		drain.events[i] = 0;
		/* records below head are complete and nobody else reads them */
		drain_collect_ring(i, end, max_events);
	}
	qsort(drain.recs, drain.nrecs, sizeof(BufferRecord *), drain_record_cmp);
	buffer_drain_range(0, drain.nrecs);
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

/* Stage the next tuple, or the trailer when the range is exhausted. */
static void
drain_stage_next(void)
{
	drain.stage_off = 0;
	if (drain.next < drain.stop)
	{
		drain.stage_len = drain_encode(drain.recs[drain.next++], drain.stage);
		return;
	}
	/* trailer: a field count of -1 */
	put_int16(drain.stage, -1);
	drain.stage_len = 2;
	drain.phase = DRAIN_EOF;
}

/*
 * Restart the COPY stream of the batch collected by buffer_drain_begin so
 * that it holds events [first, first + count) only.
 */
void
buffer_drain_range(uint64 first, uint64 count)
{
	drain.next = Min(first, drain.nrecs);
	drain.stop = Min(first + count, drain.nrecs);
	drain.phase = DRAIN_HEADER;
	drain.stage_len = drain.stage_off = 0;
}

/*
 * Event number index of the batch, pointing into the ring (valid until
 * the tails move).  Returns false when the batch has fewer events.
 */
bool
buffer_drain_event(uint64 index, BufferEvent *ev)
{
	const BufferRecord *rec;
	const char *text;

	if (index >= drain.nrecs)
		return false;
	rec = drain.recs[index];
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
 * The drain's transaction committed: move the tails past what was collected,
 * count it (rejected of them went to the dead-letter table, not to
 * raw_metrics) and wake waiters.  Returns the events taken out.
 */
uint64
buffer_drain_committed(TimestampTz started, uint64 rejected)
{
	TimestampTz now = GetCurrentTimestamp();
	BufferDrainer *d = &shared->drainers[my_drainer];
	uint64		taken = drain.nrecs;

	for (int i = 0; i < my_nrings; i++)
	{
		BufferPartition *part = &shared->parts[my_rings[i]].p;

		if (drain.cur[i] == drain.start[i])
			continue;
		LWLockAcquire(part->lock, LW_EXCLUSIVE);
		Assert(part->tail == drain.start[i]);
		part->tail = drain.cur[i];
		part->tail_events += drain.events[i];
		LWLockRelease(part->lock);
	}

	if (drain.nrecs > 0)
	{
		Assert(rejected <= drain.nrecs);
		pg_atomic_fetch_add_u64(&shared->events_flushed, drain.nrecs - rejected);
		pg_atomic_fetch_add_u64(&shared->flush_count, 1);
		pg_atomic_write_u64(&shared->last_flush_at, (uint64) now);
		pg_atomic_write_u64(&shared->last_flush_duration_us,
							(uint64) (now - started));
		/* this drainer's own copy; only it writes its slot */
		pg_atomic_fetch_add_u64(&d->events_flushed, drain.nrecs - rejected);
		pg_atomic_fetch_add_u64(&d->flush_count, 1);
		pg_atomic_write_u64(&d->last_flush_at, (uint64) now);
		pg_atomic_write_u64(&d->last_flush_duration_us, (uint64) (now - started));
	}
	SpinLockAcquire(&shared->mutex);
	shared->last_flush_error[0] = '\0';
	SpinLockRelease(&shared->mutex);
	SpinLockAcquire(&d->mutex);
	d->last_error[0] = '\0';
	SpinLockRelease(&d->mutex);

	/* the pointers die with the tails' move */
	drain.nrecs = 0;
	buffer_drain_range(0, 0);
	ConditionVariableBroadcast(&shared->drained_cv);
	return taken;
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
	if (my_drainer >= 0)
	{
		BufferDrainer *d = &shared->drainers[my_drainer];

		StaticAssertStmt(sizeof(d->last_error) == sizeof(text), "same size");
		pg_atomic_fetch_add_u64(&d->flush_failures, 1);
		SpinLockAcquire(&d->mutex);
		memcpy(d->last_error, text, len + 1);
		SpinLockRelease(&d->mutex);
	}
}

/* Events appended to any ring but not committed. */
uint64
buffer_pending_events(void)
{
	uint64		heads[BUFFER_MAX_RINGS];

	return buffer_flush_targets(heads);
}

/* Events and bytes appended to drainer k's rings but not committed. */
static uint64
buffer_drainer_backlog(int k, uint64 *bytes)
{
	uint64		pending = 0;

	*bytes = 0;
	for (int i = k; i < shared->nrings; i += shared->ndrainers)
	{
		BufferPartition *part = &shared->parts[i].p;

		LWLockAcquire(part->lock, LW_SHARED);
		pending += part->head_events - part->tail_events;
		*bytes += part->head - part->tail;
		LWLockRelease(part->lock);
	}
	return pending;
}

/* In a flush worker: events pending in its own rings. */
uint64
buffer_own_pending_events(void)
{
	uint64		bytes;

	Assert(my_drainer >= 0);
	return buffer_drainer_backlog(my_drainer, &bytes);
}

/*
 * In a flush worker, at most once a second: publish the rate at which it
 * committed events since the previous sample.
 */
void
buffer_drainer_sample_rate(void)
{
	static TimestampTz sampled_at = 0;
	static uint64 sampled_events = 0;
	BufferDrainer *d;
	TimestampTz now = GetCurrentTimestamp();
	uint64		events;

	if (my_drainer < 0)
		return;
	d = &shared->drainers[my_drainer];
	events = pg_atomic_read_u64(&d->events_flushed);
	if (sampled_at != 0 && now - sampled_at < USECS_PER_SEC)
		return;
	if (sampled_at != 0)
		pg_atomic_write_u64(&d->rate,
							(events - sampled_events) * USECS_PER_SEC /
							(uint64) (now - sampled_at));
	sampled_at = now;
	sampled_events = events;
}

/* ----------------------------------------------------------------
 * Stats
 * ----------------------------------------------------------------
 */

void
buffer_get_stats(BufferStats *stats)
{
	memset(stats, 0, sizeof(*stats));
	stats->capacity_bytes = shared->capacity * shared->nrings;
	for (int i = 0; i < shared->nrings; i++)
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

/* Flush worker k as drain_stats() shows it; false when k is out of range. */
bool
buffer_get_drainer_stats(int k, BufferDrainerStats *stats)
{
	BufferDrainer *d;

	if (k < 0 || k >= shared->ndrainers)
		return false;
	d = &shared->drainers[k];
	memset(stats, 0, sizeof(*stats));
	stats->nrings = 0;
	for (int i = k; i < shared->nrings; i += shared->ndrainers)
		stats->rings[stats->nrings++] = i;
	stats->capacity_bytes = shared->capacity * stats->nrings;
	stats->events_pending = buffer_drainer_backlog(k, &stats->used_bytes);
	stats->starts = pg_atomic_read_u64(&d->starts);
	stats->events_flushed = pg_atomic_read_u64(&d->events_flushed);
	stats->flush_count = pg_atomic_read_u64(&d->flush_count);
	stats->flush_failures = pg_atomic_read_u64(&d->flush_failures);
	stats->last_flush_at = (TimestampTz) pg_atomic_read_u64(&d->last_flush_at);
	stats->last_flush_duration_us =
		(int64) pg_atomic_read_u64(&d->last_flush_duration_us);
	stats->rate = pg_atomic_read_u64(&d->rate);
	SpinLockAcquire(&d->mutex);
	stats->pid = d->pid;
	memcpy(stats->last_flush_error, d->last_error, sizeof(stats->last_flush_error));
	SpinLockRelease(&d->mutex);
	return true;
}
