/*-------------------------------------------------------------------------
 *
 * live.c
 *	  Live per-entity statistics in shared memory (view live_stats), the
 *	  entities' last use for classes.c's hot/cold classes, and the slow-call
 *	  log.
 *
 * Owns: the shared struct "metrics_rollup live stats": a fixed table of
 * metrics_rollup.max_live_entities entries keyed by (kind, entity_id), a
 * chained hash index over it, the eviction counter and the slow-call rate
 * limiter.  ingest.c calls live_count() for every event it recorded
 * (buffered or written directly; a dropped or refused event is not live).
 *
 * Must never: run SQL, touch the ingest buffer, call a function or raise
 * an error while holding a spinlock, or write a LOG line under any lock.
 *
 * Window.  Each entry keeps a ring of LIVE_SLICES time slices of
 * live_window / LIVE_SLICES each; an event goes to the slice of the clock
 * time it was recorded at (not its recorded_at).  Readers merge the slices
 * that started at most LIVE_SLICES - 1 slices before the current one, so an
 * event is shown for at least 5/6 of live_window and never longer than
 * live_window.  An entity with nothing left in its window stays in the
 * table (count 0, NULL statistics) until it is evicted: classify() still
 * needs its last_seen and use_count.
 *
 * Percentiles.  Each slice holds the sketch of sketch_core.c (the one
 * sketch implementation of the extension) at alpha = LIVE_ALPHA = 0.01, in
 * fixed storage inside the slice: at most LIVE_BUCKETS non-empty buckets,
 * whatever the spread of the values; when one more fills, the lowest folds
 * into the next one up (sketch_core.c's rule).  Readers merge the slices
 * of the window into one sketch and report percentile_cont's rule
 * (sketch_percentile_cont_value), within alpha of the exact percentile_cont
 * of the window's events as long as no slice has more than LIVE_BUCKETS
 * non-empty buckets; past that only ranks in a slice's lowest bucket lose
 * the guarantee.  min, max, count and the sum are exact.
 *
 * Memory.  A slice is about 0.85 kB (64 buckets of 12 bytes plus the
 * sketch header), sizeof(LiveEntry) about 5.7 kB (names 576 bytes, 6
 * slices); with an 8-byte last_seen and two 4-byte hash buckets per entry,
 * the default 10000 entities take about 57 MB of shared memory, fixed at
 * startup from max_live_entities.  live_info() reports the exact figure.
 *
 * Locking protocol.
 *	- lock (the one LWLock of tranche "metrics_rollup live stats") guards the
 *	  hash index, the free list, in_use, the keys and entity names.  Held
 *	  shared to look entries up, update their counters and read them; held
 *	  exclusively to insert, evict and change an entity name.  So a name is
 *	  stable for anyone holding the lock in either mode.
 *	- entry->mutex (spinlock) guards the entry's slices, use_count,
 *	  last_rt and its seen[] slot against other holders of the shared lock:
 *	  plain arithmetic only, and readers copy the slices out under it.
 *	  XXX: the one call made under it is sketch_add_indexed(), pure
 *	  arithmetic on the slice (a binary search and a move of at most
 *	  LIVE_BUCKETS entries; no allocation, no error raised, no log(): the
 *	  bucket index is computed before the lock is taken).
 *	- evictions, slow_logged and slow_suppressed_total are atomics.
 *	- slow_mutex (spinlock) guards the rate limiter's three fields.
 *
 * Slow-call log.  With a threshold > 0 for its kind (slow_thresholds, else
 * slow_threshold), each recorded event slower than it writes one LOG line, at most LIVE_SLOW_LINES_PER_SEC lines per wall
 * clock second across the whole server (a fixed one-second window in
 * shared memory).  Events over the limit are counted, and the next line
 * written says "(N more slow calls suppressed)".
 *
 * XXX: eviction scans seen[] (8 bytes per entry, about 80 kB at the
 * default size) under the exclusive lock; one scan finds the next
 * LIVE_VICTIMS victims, so a batch of many new entities pays one scan per
 * 64 of them rather than one each.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "guc.h"
#include "live.h"
#include "sketch_core.h"

#define LIVE_TRANCHE "metrics_rollup live stats"

#define LIVE_SLICES 6			/* time slices per window */
#define LIVE_BUCKETS 64			/* non-empty sketch buckets kept per slice */
#define LIVE_ALPHA 0.01			/* relative accuracy of live percentiles */
#define LIVE_KIND_MAX 63
#define LIVE_ID_MAX 255
#define LIVE_NAME_MAX 255
#define LIVE_SLOW_LINES_PER_SEC 10

/*
 * One time slice of one entity: the header of a sketch (SketchState's
 * scalar fields) and its bucket arrays; live_slice_view() makes a
 * SketchState of it.  No pointers are kept in shared memory.
 */
typedef struct LiveSlice
{
	TimestampTz start;			/* slice start; 0: never used */
	uint64		failures;		/* events with success = false */
	uint64		count;			/* events */
	uint64		zeros;			/* events with response_time = 0 */
	double		min;			/* seconds, exact */
	double		max;			/* seconds, exact */
	SketchSum	sum;			/* exact, in units of 2^-64 s */
	int32		nbuckets;		/* non-empty buckets */
	int32		hint;			/* the sketch's last bucket hit */
	int32		indexes[LIVE_BUCKETS];	/* bucket indexes, ascending */
	uint64		counts[LIVE_BUCKETS];	/* their counts */
} LiveSlice;

/* The ring of slices, a struct so that readers copy it by assignment. */
typedef struct LiveWindow
{
	LiveSlice	slices[LIVE_SLICES];
} LiveWindow;

typedef struct LiveEntry
{
	slock_t		mutex;			/* guards window, use_count, seen[self] */
	bool		in_use;			/* lock exclusive to change */
	int32		next;			/* next entry in the hash chain; -1: end */
	uint32		hash;
	int16		kind_len;
	int16		id_len;
	int16		name_len;		/* -1: no name seen yet */
	uint64		use_count;		/* events since the entry was created */
	double		last_rt;		/* response time of the latest event */
	char		kind[LIVE_KIND_MAX + 1];
	char		id[LIVE_ID_MAX + 1];
	char		name[LIVE_NAME_MAX + 1];	/* latest entity_name seen */
	LiveWindow	window;
} LiveEntry;

/* Eviction candidates kept per scan of seen[] (see live_evict). */
#define LIVE_VICTIMS 64

typedef struct LiveShared
{
	LWLock	   *lock;
	int			max_entries;
	int			nbuckets;		/* power of 2 */
	int			nused;			/* entries in use */
	int32		free_head;		/* free entries chained by next; -1: none */
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 slow_logged;
	pg_atomic_uint64 slow_suppressed_total;
	slock_t		slow_mutex;		/* guards the next three fields */
	int64		slow_second;	/* wall clock second of slow_lines */
	int			slow_lines;		/* lines written in slow_second */
	uint64		slow_suppressed;	/* not written since the last line */
	/* eviction candidates, oldest first (lock held exclusively) */
	int			nvictims;
	int			next_victim;	/* next candidate to try */
	int32		victims[LIVE_VICTIMS];
	TimestampTz victim_seen[LIVE_VICTIMS];	/* their seen[] when found */
	/* then int32 buckets[nbuckets], TimestampTz seen[max], LiveEntry[max] */
} LiveShared;

static LiveShared *live = NULL;
static int32 *live_buckets;		/* head entry of each hash chain; -1: none */
static TimestampTz *live_seen;	/* last_seen of each entry */
static LiveEntry *live_entries;

static Size live_shmem_size(void);
static void live_shmem_init(void *shmem, bool found);

const ShmemPiece live_shmem_piece = {
	LIVE_TRANCHE,
	live_shmem_size,
	1,
	live_shmem_init
};

PG_FUNCTION_INFO_V1(live_stats);
PG_FUNCTION_INFO_V1(live_info);

/* ----------------------------------------------------------------
 * Shared memory setup
 * ----------------------------------------------------------------
 */

static int
live_nbuckets(void)
{
	int			n = 1;

	while (n < 2 * mr_max_live_entities)
		n <<= 1;
	return n;
}

static Size
live_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(LiveShared));

	size = add_size(size, MAXALIGN(mul_size(live_nbuckets(), sizeof(int32))));
	size = add_size(size, MAXALIGN(mul_size(mr_max_live_entities, sizeof(TimestampTz))));
	size = add_size(size, mul_size(mr_max_live_entities, sizeof(LiveEntry)));
	return size;
}

/* Point the backend-local pointers into the shared struct. */
static void
live_attach(void *shmem)
{
	char	   *p = (char *) shmem;

	live = (LiveShared *) p;
	p += MAXALIGN(sizeof(LiveShared));
	live_buckets = (int32 *) p;
	p += MAXALIGN(live->nbuckets * sizeof(int32));
	live_seen = (TimestampTz *) p;
	p += MAXALIGN(live->max_entries * sizeof(TimestampTz));
	live_entries = (LiveEntry *) p;
}

static void
live_shmem_init(void *shmem, bool found)
{
	LiveShared *sh = (LiveShared *) shmem;

	if (found)
	{
		live_attach(shmem);
		return;
	}

	sh->lock = &(GetNamedLWLockTranche(LIVE_TRANCHE))[0].lock;
	sh->max_entries = mr_max_live_entities;
	sh->nbuckets = live_nbuckets();
	sh->nused = 0;
	pg_atomic_init_u64(&sh->evictions, 0);
	sh->nvictims = sh->next_victim = 0;
	pg_atomic_init_u64(&sh->slow_logged, 0);
	pg_atomic_init_u64(&sh->slow_suppressed_total, 0);
	SpinLockInit(&sh->slow_mutex);
	sh->slow_second = 0;
	sh->slow_lines = 0;
	sh->slow_suppressed = 0;
	live_attach(shmem);

	for (int i = 0; i < sh->nbuckets; i++)
		live_buckets[i] = -1;
	for (int i = 0; i < sh->max_entries; i++)
	{
		LiveEntry  *e = &live_entries[i];

		SpinLockInit(&e->mutex);
		e->in_use = false;
		e->next = (i + 1 < sh->max_entries) ? i + 1 : -1;
		live_seen[i] = 0;
	}
	sh->free_head = 0;
}

/* ----------------------------------------------------------------
 * The table: lookup, insert, evict (caller holds live->lock)
 * ----------------------------------------------------------------
 */

static uint32
live_hash(const BufferEvent *ev)
{
	return hash_combine(hash_bytes((const unsigned char *) ev->kind, ev->kind_len),
						hash_bytes((const unsigned char *) ev->entity_id,
								   ev->entity_id_len));
}

/* The entry of ev's (kind, entity_id), or -1; lock held in either mode. */
static int32
live_find(uint32 hash, const BufferEvent *ev)
{
	int32		i = live_buckets[hash & (live->nbuckets - 1)];

	while (i >= 0)
	{
		LiveEntry  *e = &live_entries[i];

		if (e->hash == hash && e->kind_len == ev->kind_len &&
			e->id_len == ev->entity_id_len &&
			memcmp(e->kind, ev->kind, ev->kind_len) == 0 &&
			memcmp(e->id, ev->entity_id, ev->entity_id_len) == 0)
			return i;
		i = e->next;
	}
	return -1;
}

/* Take entry i out of its hash chain and put it on the free list. */
static void
live_unlink(int32 i)
{
	LiveEntry  *e = &live_entries[i];
	int32	   *link = &live_buckets[e->hash & (live->nbuckets - 1)];

	while (*link != i)
		link = &live_entries[*link].next;
	*link = e->next;
	e->in_use = false;
	e->next = live->free_head;
	live->free_head = i;
	live->nused--;
}

/*
 * Victims found per eviction scan.  One scan of seen[] yields the
 * LIVE_VICTIMS least recently seen entries, oldest first; the next
 * evictions take them in that order while each is unchanged (same last
 * seen: entries only ever get younger, and a new entry is younger than
 * all), so a batch of many new entities pays one scan per LIVE_VICTIMS of
 * them instead of one each, and evicts exactly what one-by-one scans would.
 */

/* Is entry a less recently seen than entry b (ties: lower index)? */
static inline bool
live_older(int32 a, int32 b)
{
	TimestampTz seen_a = live_seen[a];
	TimestampTz seen_b = live_seen[b];

	if (seen_a != seen_b)
		return seen_a < seen_b;
	return a < b;
}

/* Sift the heap (youngest of the kept victims on top) down from i. */
static void
live_victims_sift(int32 *heap, int n, int i)
{
	for (;;)
	{
		int			top = i;
		int			l = 2 * i + 1;
		int			r = l + 1;
		int32		tmp;

		if (l < n && live_older(heap[top], heap[l]))
			top = l;
		if (r < n && live_older(heap[top], heap[r]))
			top = r;
		if (top == i)
			return;
		tmp = heap[i];
		heap[i] = heap[top];
		heap[top] = tmp;
		i = top;
	}
}

/* One scan: the LIVE_VICTIMS oldest entries into live->victims, oldest first. */
static void
live_find_victims(void)
{
	int32	   *heap = live->victims;
	int			n = 0;

	for (int32 i = 0; i < live->max_entries; i++)
	{
		if (!live_entries[i].in_use)
			continue;
		if (n < LIVE_VICTIMS)
		{
			heap[n++] = i;
			if (n == LIVE_VICTIMS)
				for (int k = n / 2 - 1; k >= 0; k--)
					live_victims_sift(heap, n, k);
		}
		else if (live_older(i, heap[0]))
		{
			heap[0] = i;
			live_victims_sift(heap, n, 0);
		}
	}
	if (n < LIVE_VICTIMS)
		for (int k = n / 2 - 1; k >= 0; k--)
			live_victims_sift(heap, n, k);
	/* heap sort: the youngest goes last, so the array ends oldest first */
	for (int m = n - 1; m > 0; m--)
	{
		int32		tmp = heap[0];

		heap[0] = heap[m];
		heap[m] = tmp;
		live_victims_sift(heap, m, 0);
	}
	for (int k = 0; k < n; k++)
		live->victim_seen[k] = live_seen[heap[k]];
	live->nvictims = n;
	live->next_victim = 0;
}

/* Evict the least recently seen entry (lowest index among ties). */
static void
live_evict(void)
{
	for (int pass = 0; pass < 2; pass++)
	{
		while (live->next_victim < live->nvictims)
		{
			int			k = live->next_victim++;
			int32		i = live->victims[k];

			if (live_entries[i].in_use && live_seen[i] == live->victim_seen[k])
			{
				live_unlink(i);
				pg_atomic_fetch_add_u64(&live->evictions, 1);
				return;
			}
		}
		live_find_victims();
	}
	elog(ERROR, "metrics_rollup live table is full but has no entry to evict");
}

/* A new entry for ev's (kind, entity_id); lock held exclusively. */
static int32
live_insert(uint32 hash, const BufferEvent *ev)
{
	static const LiveWindow empty_window;
	int32		i;
	int32	   *head;
	LiveEntry  *e;

	if (live->free_head < 0)
		live_evict();
	i = live->free_head;
	e = &live_entries[i];
	live->free_head = e->next;

	e->hash = hash;
	e->kind_len = ev->kind_len;
	memcpy(e->kind, ev->kind, ev->kind_len);
	e->kind[ev->kind_len] = '\0';
	e->id_len = ev->entity_id_len;
	memcpy(e->id, ev->entity_id, ev->entity_id_len);
	e->id[ev->entity_id_len] = '\0';
	e->name_len = -1;
	e->use_count = 0;
	e->last_rt = 0;
	e->window = empty_window;
	live_seen[i] = 0;

	head = &live_buckets[hash & (live->nbuckets - 1)];
	e->next = *head;
	*head = i;
	e->in_use = true;
	live->nused++;
	return i;
}

/* Does the entry already carry ev's name (or ev has none)? */
static bool
live_name_current(const LiveEntry *e, const BufferEvent *ev)
{
	return ev->entity_name == NULL ||
		(e->name_len == ev->entity_name_len &&
		 memcmp(e->name, ev->entity_name, ev->entity_name_len) == 0);
}

/* Keep ev's name as the latest; lock held exclusively. */
static void
live_set_name(LiveEntry *e, const BufferEvent *ev)
{
	if (ev->entity_name == NULL)
		return;
	memcpy(e->name, ev->entity_name, ev->entity_name_len);
	e->name[ev->entity_name_len] = '\0';
	e->name_len = ev->entity_name_len;
}

/* ----------------------------------------------------------------
 * Slices and histograms
 * ----------------------------------------------------------------
 */

/*
 * An empty sketch of the live accuracy, made once per backend: copying it
 * under a spinlock needs no call (sketch_init computes a log()).
 */
static const SketchState *
live_sketch_template(void)
{
	static SketchState template;
	static bool done = false;

	if (!done)
	{
		if (sketch_init_fixed(&template, LIVE_ALPHA, LIVE_BUCKETS, NULL, NULL) != SKETCH_OK)
			elog(ERROR, "cannot set up the live sketch: %s", sketch_error_message());
		done = true;
	}
	return &template;
}

/* A SketchState over slice s's storage (plain assignments only). */
static inline void
live_slice_view(LiveSlice *s, const SketchState *template, SketchState *st)
{
	*st = *template;
	st->count = s->count;
	st->zeros = s->zeros;
	st->min = s->min;
	st->max = s->max;
	st->sum = s->sum;
	st->nbuckets = s->nbuckets;
	st->hint = s->hint;
	st->indexes = s->indexes;
	st->counts = s->counts;
}

/* Write a view's header back into its slice. */
static inline void
live_slice_store(LiveSlice *s, const SketchState *st)
{
	s->count = st->count;
	s->zeros = st->zeros;
	s->min = st->min;
	s->max = st->max;
	s->sum = st->sum;
	s->nbuckets = st->nbuckets;
	s->hint = st->hint;
}

/* Count ev in entry i's slice (now's slice); lock held in either mode. */
static void
live_entry_add(int32 i, const BufferEvent *ev, TimestampTz now,
			   TimestampTz slice_start, int slot,
			   const SketchState *template)
{
	static const LiveSlice empty_slice;
	LiveEntry  *e = &live_entries[i];
	double		rt = ev->response_time;
	int32		idx;
	SketchState st;
	LiveSlice  *s;

	/* what record() refuses never gets here; stay inside the sketch's range */
	if (!(rt >= 0))
		rt = 0;
	if (rt > SKETCH_MAX_VALUE)
		rt = SKETCH_MAX_VALUE;
	idx = rt > 0 ? sketch_index_of(template, rt) : 0;

	SpinLockAcquire(&e->mutex);
	s = &e->window.slices[slot];
	if (s->start != slice_start)
	{
		*s = empty_slice;
		s->start = slice_start;
	}
	live_slice_view(s, template, &st);
	/* cannot fail: rt is in range and a slice never nears 2^63 events */
	(void) sketch_add_indexed(&st, rt, idx);
	live_slice_store(s, &st);
	if (!ev->success)
		s->failures++;
	e->use_count++;
	if (now >= live_seen[i])
	{
		live_seen[i] = now;
		e->last_rt = ev->response_time;
	}
	SpinLockRelease(&e->mutex);
}

/* Length of a slice in microseconds, from the current live_window. */
static int64
live_slice_usecs(void)
{
	return (int64) mr_live_window_s * USECS_PER_SEC / LIVE_SLICES;
}

/* ----------------------------------------------------------------
 * Producers (ingest.c)
 * ----------------------------------------------------------------
 */

/* One LOG line for a slow event, unless over the rate limit. */
static void
live_slow_log(const BufferEvent *ev)
{
	int64		second = GetCurrentTimestamp() / USECS_PER_SEC;
	bool		emit = false;
	uint64		suppressed = 0;
	char	   *kind;
	char	   *id;

	SpinLockAcquire(&live->slow_mutex);
	if (live->slow_second != second)
	{
		live->slow_second = second;
		live->slow_lines = 0;
	}
	if (live->slow_lines < LIVE_SLOW_LINES_PER_SEC)
	{
		live->slow_lines++;
		emit = true;
		suppressed = live->slow_suppressed;
		live->slow_suppressed = 0;
	}
	else
		live->slow_suppressed++;
	SpinLockRelease(&live->slow_mutex);

	if (!emit)
	{
		pg_atomic_fetch_add_u64(&live->slow_suppressed_total, 1);
		return;
	}
	pg_atomic_fetch_add_u64(&live->slow_logged, 1);
	kind = pnstrdup(ev->kind, ev->kind_len);
	id = pnstrdup(ev->entity_id, ev->entity_id_len);
	if (suppressed > 0)
		ereport(LOG,
				(errmsg("slow call: %s \"%s\" took %.3f s (" UINT64_FORMAT " more slow calls suppressed)",
						kind, id, ev->response_time, suppressed)));
	else
		ereport(LOG,
				(errmsg("slow call: %s \"%s\" took %.3f s",
						kind, id, ev->response_time)));
	pfree(kind);
	pfree(id);
}

/*
 * Count n recorded events.  Known entities whose name did not change are
 * counted under the shared lock; the others (new entity, new name) in a
 * second pass under the exclusive lock.
 */
void
live_count(const BufferEvent *events, int n)
{
	TimestampTz now;
	int64		slice_us;
	TimestampTz slice_start;
	int			slot;
	bool	   *pending = NULL;
	const SketchState *template;

	if (live == NULL || n <= 0)
		return;
	template = live_sketch_template();
	now = GetCurrentTimestamp();
	slice_us = live_slice_usecs();
	slice_start = now - now % slice_us;
	slot = (int) ((now / slice_us) % LIVE_SLICES);

	LWLockAcquire(live->lock, LW_SHARED);
	for (int k = 0; k < n; k++)
	{
		const BufferEvent *ev = &events[k];
		int32		i = live_find(live_hash(ev), ev);

		if (i >= 0 && live_name_current(&live_entries[i], ev))
			live_entry_add(i, ev, now, slice_start, slot, template);
		else
		{
			if (pending == NULL)
				pending = palloc0(sizeof(bool) * n);
			pending[k] = true;
		}
	}
	LWLockRelease(live->lock);

	if (pending != NULL)
	{
		LWLockAcquire(live->lock, LW_EXCLUSIVE);
		for (int k = 0; k < n; k++)
		{
			const BufferEvent *ev = &events[k];
			uint32		hash;
			int32		i;

			if (!pending[k])
				continue;
			hash = live_hash(ev);
			i = live_find(hash, ev);
			if (i < 0)
				i = live_insert(hash, ev);
			live_set_name(&live_entries[i], ev);
			live_entry_add(i, ev, now, slice_start, slot, template);
		}
		LWLockRelease(live->lock);
		pfree(pending);
	}

	if (guc_slow_log_enabled())
	{
		for (int k = 0; k < n; k++)
		{
			int			ms = guc_slow_threshold_ms(events[k].kind,
												   events[k].kind_len);

			if (ms > 0 && events[k].response_time * 1000.0 > ms)
				live_slow_log(&events[k]);
		}
	}
}

/* ----------------------------------------------------------------
 * Readers: live_stats view, classify(), live_info()
 * ----------------------------------------------------------------
 */

/* Statistics of one entity over the window, merged from its slices. */
typedef struct LiveMerged
{
	int64		failures;
	SketchState sketch;			/* the window's events */
} LiveMerged;

/*
 * Merge the slices of w that are inside the window ending in cur_start
 * into m->sketch (reset first; its memory is the caller's context).
 */
static void
live_merge(LiveWindow *w, TimestampTz cur_start, int64 slice_us,
		   const SketchAllocator *allocator, LiveMerged *m)
{
	TimestampTz oldest = cur_start - (LIVE_SLICES - 1) * slice_us;
	const SketchState *template = live_sketch_template();

	sketch_release(&m->sketch);
	if (sketch_init(&m->sketch, LIVE_ALPHA, allocator) != SKETCH_OK)
		elog(ERROR, "cannot set up the live sketch: %s", sketch_error_message());
	m->failures = 0;
	for (int k = 0; k < LIVE_SLICES; k++)
	{
		LiveSlice  *s = &w->slices[k];
		SketchState view;
		SketchError err;

		if (s->start == 0 || s->start < oldest || s->count == 0)
			continue;
		live_slice_view(s, template, &view);
		if ((err = sketch_merge_into(&m->sketch, &view)) != SKETCH_OK)
			ereport(ERROR,
					(errcode(err == SKETCH_ERR_NOMEM ? ERRCODE_OUT_OF_MEMORY
							 : ERRCODE_INTERNAL_ERROR),
					 errmsg("cannot merge live statistics: %s", sketch_error_message())));
		m->failures += (int64) s->failures;
	}
}

/* One row of the live_stats view. */
static void
live_put_row(ReturnSetInfo *rsinfo, const LiveEntry *e, const LiveMerged *m,
			 TimestampTz seen, uint64 use_count, double last_rt)
{
	static const double qs[3] = {0.5, 0.95, 0.99};
	Datum		values[15];
	bool		nulls[15] = {0};
	const SketchState *sk = &m->sketch;

	values[0] = PointerGetDatum(cstring_to_text_with_len(e->kind, e->kind_len));
	values[1] = PointerGetDatum(cstring_to_text_with_len(e->id, e->id_len));
	nulls[2] = e->name_len < 0;
	if (e->name_len >= 0)
		values[2] = PointerGetDatum(cstring_to_text_with_len(e->name, e->name_len));
	values[3] = Int64GetDatum((int64) sk->count);
	values[4] = Int64GetDatum(m->failures);
	if (sk->count > 0)
	{
		values[5] = Float8GetDatum(sk->min);
		values[6] = Float8GetDatum(sk->max);
		values[7] = Float8GetDatum(sketch_sum_double(sk) / (double) sk->count);
		for (int k = 0; k < 3; k++)
		{
			double		v = 0;

			(void) sketch_percentile_cont_value(sk, qs[k], &v);
			values[8 + k] = Float8GetDatum(v);
		}
		values[13] = Float8GetDatum(sketch_sum_double(sk));
	}
	else
	{
		for (int k = 5; k <= 10; k++)
			nulls[k] = true;
		nulls[13] = true;
	}
	nulls[11] = seen == 0;
	values[11] = TimestampTzGetDatum(seen);
	values[12] = Int64GetDatum((int64) use_count);
	/* the 1.1 view has 13 columns: the tuple descriptor reads what it has */
	nulls[14] = seen == 0;
	values[14] = Float8GetDatum(last_rt);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

static void *
live_sketch_alloc(void *ctx, size_t size)
{
	return MemoryContextAlloc((MemoryContext) ctx, size);
}

static void
live_sketch_free(void *ctx, void *ptr)
{
	pfree(ptr);
}

/* live_stats(): one row per tracked entity; the live_stats view. */
Datum
live_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	int64		slice_us = live_slice_usecs();
	SketchAllocator *allocator;
	LiveMerged *m;
	LiveWindow *w;

	mr_require_preload("live_stats");
	InitMaterializedSRF(fcinfo, 0);
	m = palloc0(sizeof(LiveMerged));
	w = palloc(sizeof(LiveWindow));
	allocator = palloc(sizeof(SketchAllocator));
	allocator->alloc = live_sketch_alloc;
	allocator->free = live_sketch_free;
	allocator->ctx = CurrentMemoryContext;
	m->sketch.allocator = allocator;

	LWLockAcquire(live->lock, LW_SHARED);
	for (int32 i = 0; i < live->max_entries; i++)
	{
		LiveEntry  *e = &live_entries[i];
		TimestampTz seen;
		uint64		use_count;
		double		last_rt;

		if (!e->in_use)
			continue;
		SpinLockAcquire(&e->mutex);
		*w = e->window;
		seen = live_seen[i];
		use_count = e->use_count;
		last_rt = e->last_rt;
		SpinLockRelease(&e->mutex);

		live_merge(w, now - now % slice_us, slice_us, allocator, m);
		live_put_row(rsinfo, e, m, seen, use_count, last_rt);
	}
	LWLockRelease(live->lock);
	sketch_release(&m->sketch);
	pfree(w);
	pfree(m);
	return (Datum) 0;
}

/* One entity as classify() sorts it. */
typedef struct LiveRank
{
	char	   *kind;
	char	   *id;
	TimestampTz seen;
	uint64		use_count;
} LiveRank;

/* The tracked entities of kind (all when NULL), unsorted. */
static LiveRank *
live_collect(const char *kind, int *n)
{
	LiveRank   *items;
	int			count = 0;

	LWLockAcquire(live->lock, LW_SHARED);
	items = palloc(sizeof(LiveRank) * Max(live->nused, 1));
	for (int32 i = 0; i < live->max_entries; i++)
	{
		LiveEntry  *e = &live_entries[i];
		LiveRank   *r;

		if (!e->in_use || (kind != NULL && strcmp(e->kind, kind) != 0))
			continue;
		r = &items[count++];
		r->kind = pstrdup(e->kind);
		r->id = pstrdup(e->id);
		SpinLockAcquire(&e->mutex);
		r->seen = live_seen[i];
		r->use_count = e->use_count;
		SpinLockRelease(&e->mutex);
	}
	LWLockRelease(live->lock);
	*n = count;
	return items;
}

/* live_info(): size and counters of the live table. */
Datum
live_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[6];
	bool		nulls[6] = {0};
	int			nused;

	mr_require_preload("live_info()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");

	LWLockAcquire(live->lock, LW_SHARED);
	nused = live->nused;
	LWLockRelease(live->lock);

	values[0] = Int32GetDatum(nused);
	values[1] = Int32GetDatum(live->max_entries);
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&live->evictions));
	values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&live->slow_logged));
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&live->slow_suppressed_total));
	values[5] = Int64GetDatum((int64) live_shmem_size());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/*
 * The tracked entities of kind (all when NULL) with their last use and use
 * count, unsorted, palloc'd: what classes.c ranks.
 */
LiveUse *
live_uses(const char *kind, int *n)
{
	LiveRank   *items;
	LiveUse    *uses;

	*n = 0;
	if (live == NULL)
		return NULL;
	items = live_collect(kind, n);
	uses = palloc(sizeof(LiveUse) * Max(*n, 1));
	for (int k = 0; k < *n; k++)
	{
		uses[k].kind = items[k].kind;
		uses[k].id = items[k].id;
		uses[k].last_seen = items[k].seen;
		uses[k].use_count = items[k].use_count;
	}
	pfree(items);
	return uses;
}
