/*-------------------------------------------------------------------------
 *
 * live.c
 *	  Live per-entity statistics in shared memory (view live_stats),
 *	  hot/cold classification (classify()) and the slow-call log.
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
 * Percentiles.  Each slice holds a DDSketch-style histogram: a positive
 * value x goes to bucket i = ceil(ln x / ln g), g = (1 + a) / (1 - a) with
 * a = LIVE_ALPHA = 0.02, and bucket i reports 2 g^i / (g + 1), which is
 * within a of every x in it.  Zeros are counted apart.  A slice keeps
 * LIVE_BUCKETS consecutive buckets (a dense window that slides over the
 * index range); when the values of one slice span more than LIVE_BUCKETS
 * buckets (a ratio of g^64 = 12.9 between the largest and smallest value)
 * the lowest buckets are folded into the lowest kept one, so p95 and p99
 * stay within a and only low quantiles lose accuracy.  Percentiles use the
 * rank of percentile_disc (ceil(q * n)) and are clamped to the exact min
 * and max.
 *
 * Memory.  sizeof(LiveEntry) is about 2.5 kB (names 576 bytes, 6 slices of
 * 312 bytes); with an 8-byte last_seen and two 4-byte hash buckets per
 * entry, the default 10000 entities take about 25 MB of shared memory.
 * live_info() reports the exact figure.
 *
 * Locking protocol.
 *	- lock (the one LWLock of tranche "metrics_rollup live stats") guards the
 *	  hash index, the free list, in_use, the keys and entity names.  Held
 *	  shared to look entries up, update their counters and read them; held
 *	  exclusively to insert, evict and change an entity name.  So a name is
 *	  stable for anyone holding the lock in either mode.
 *	- entry->mutex (spinlock) guards the entry's slices, use_count and its
 *	  seen[] slot against other holders of the shared lock: plain
 *	  arithmetic only, and readers copy the slices out under it.
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

#define LIVE_TRANCHE "metrics_rollup live stats"

#define LIVE_SLICES 6			/* time slices per window */
#define LIVE_BUCKETS 64			/* histogram buckets kept per slice */
#define LIVE_ALPHA 0.02			/* relative accuracy of live percentiles */
#define LIVE_GAMMA ((1.0 + LIVE_ALPHA) / (1.0 - LIVE_ALPHA))
#define LIVE_KIND_MAX 63
#define LIVE_ID_MAX 255
#define LIVE_NAME_MAX 255
#define LIVE_SLOW_LINES_PER_SEC 10

/* One time slice of one entity. */
typedef struct LiveSlice
{
	TimestampTz start;			/* slice start; 0: never used */
	uint32		count;			/* events */
	uint32		failures;		/* events with success = false */
	uint32		zeros;			/* events with response_time = 0 */
	int32		lo;				/* bucket index of counts[0] */
	int32		min_idx;		/* lowest non-empty bucket (>= lo) */
	int32		max_idx;		/* highest non-empty bucket */
	double		sum;			/* seconds */
	double		min;			/* seconds, exact */
	double		max;			/* seconds, exact */
	uint32		counts[LIVE_BUCKETS];	/* positive values per bucket */
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
PG_FUNCTION_INFO_V1(live_classify);
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

/* Histogram bucket of a positive value. */
static int32
live_bucket_of(double x)
{
	static double inv_log_gamma = 0;

	if (inv_log_gamma == 0)
		inv_log_gamma = 1.0 / log(LIVE_GAMMA);
	return (int32) ceil(log(x) * inv_log_gamma);
}

/* The value bucket i reports: within LIVE_ALPHA of all its values. */
static double
live_bucket_value(int32 i)
{
	return 2.0 * pow(LIVE_GAMMA, i) / (LIVE_GAMMA + 1.0);
}

/*
 * Slide the slice's bucket window to start at new_lo, folding buckets
 * below it into the lowest kept one.  Plain arithmetic: runs under the
 * entry's spinlock.
 */
static void
live_slice_rebase(LiveSlice *s, int32 new_lo)
{
	uint32		tmp[LIVE_BUCKETS] = {0};

	for (int j = 0; j < LIVE_BUCKETS; j++)
	{
		int32		p = s->lo + j - new_lo;

		if (s->counts[j] == 0)
			continue;
		p = Max(p, 0);
		p = Min(p, LIVE_BUCKETS - 1);
		tmp[p] += s->counts[j];
	}
	for (int j = 0; j < LIVE_BUCKETS; j++)
		s->counts[j] = tmp[j];
	s->lo = new_lo;
	s->min_idx = Max(s->min_idx, new_lo);
}

/* Count a positive value of bucket idx; under the entry's spinlock. */
static void
live_slice_add_bucket(LiveSlice *s, int32 idx, bool first)
{
	int32		new_min,
				new_max;

	if (first)
	{
		s->lo = idx - LIVE_BUCKETS / 2;
		s->min_idx = s->max_idx = idx;
		s->counts[idx - s->lo]++;
		return;
	}
	new_min = Min(s->min_idx, idx);
	new_max = Max(s->max_idx, idx);
	if (idx < s->lo || idx >= s->lo + LIVE_BUCKETS)
	{
		if (new_max - new_min < LIVE_BUCKETS && idx < s->lo)
			live_slice_rebase(s, new_min);
		else
			live_slice_rebase(s, new_max - LIVE_BUCKETS + 1);
	}
	s->counts[Max(idx - s->lo, 0)]++;
	s->min_idx = Max(new_min, s->lo);
	s->max_idx = new_max;
}

/* Count ev in entry i's slice (now's slice); lock held in either mode. */
static void
live_entry_add(int32 i, const BufferEvent *ev, TimestampTz now,
			   TimestampTz slice_start, int slot)
{
	static const LiveSlice empty_slice;
	LiveEntry  *e = &live_entries[i];
	double		rt = ev->response_time;
	int32		idx = rt > 0 ? live_bucket_of(rt) : 0;
	LiveSlice  *s;

	SpinLockAcquire(&e->mutex);
	s = &e->window.slices[slot];
	if (s->start != slice_start)
	{
		*s = empty_slice;
		s->start = slice_start;
	}
	if (s->count == 0 || rt < s->min)
		s->min = rt;
	if (s->count == 0 || rt > s->max)
		s->max = rt;
	if (rt > 0)
		live_slice_add_bucket(s, idx, s->count == s->zeros);
	else
		s->zeros++;
	s->count++;
	if (!ev->success)
		s->failures++;
	s->sum += rt;
	e->use_count++;
	if (now > live_seen[i])
		live_seen[i] = now;
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

	if (live == NULL || n <= 0)
		return;
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
			live_entry_add(i, ev, now, slice_start, slot);
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
			live_entry_add(i, ev, now, slice_start, slot);
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
	int64		count;
	int64		failures;
	int64		zeros;
	double		sum;
	double		min;
	double		max;
	int			npairs;
	struct
	{
		int32		idx;
		uint32		count;
	}			pairs[LIVE_SLICES * LIVE_BUCKETS];
} LiveMerged;

static int
live_pair_cmp(const void *a, const void *b)
{
	int32		x = *(const int32 *) a;
	int32		y = *(const int32 *) b;

	return (x > y) - (x < y);
}

/* Merge the slices of w that are inside the window ending in cur_start. */
static void
live_merge(const LiveWindow *w, TimestampTz cur_start, int64 slice_us,
		   LiveMerged *m)
{
	TimestampTz oldest = cur_start - (LIVE_SLICES - 1) * slice_us;

	memset(m, 0, offsetof(LiveMerged, pairs));
	for (int k = 0; k < LIVE_SLICES; k++)
	{
		const LiveSlice *s = &w->slices[k];

		if (s->start == 0 || s->start < oldest || s->count == 0)
			continue;
		if (m->count == 0 || s->min < m->min)
			m->min = s->min;
		if (m->count == 0 || s->max > m->max)
			m->max = s->max;
		m->count += s->count;
		m->failures += s->failures;
		m->zeros += s->zeros;
		m->sum += s->sum;
		for (int j = 0; j < LIVE_BUCKETS; j++)
		{
			if (s->counts[j] == 0)
				continue;
			m->pairs[m->npairs].idx = s->lo + j;
			m->pairs[m->npairs].count = s->counts[j];
			m->npairs++;
		}
	}
	qsort(m->pairs, m->npairs, sizeof(m->pairs[0]), live_pair_cmp);
}

/*
 * The value at rank ceil(q * count) (percentile_disc's rank) for each of
 * the nq ascending fractions qs, clamped to [min, max].
 */
static void
live_quantiles(const LiveMerged *m, const double *qs, int nq, double *out)
{
	int64		cum = m->zeros;
	int			p = 0;

	for (int k = 0; k < nq; k++)
	{
		int64		rank = (int64) ceil(qs[k] * m->count);
		double		v = 0;

		rank = Max(rank, 1);
		while (cum < rank && p < m->npairs)
			cum += m->pairs[p++].count;
		if (rank > m->zeros && p > 0)
			v = live_bucket_value(m->pairs[p - 1].idx);
		out[k] = Min(Max(v, m->min), m->max);
	}
}

/* One row of the live_stats view. */
static void
live_put_row(ReturnSetInfo *rsinfo, const LiveEntry *e, const LiveMerged *m,
			 TimestampTz seen, uint64 use_count)
{
	static const double qs[3] = {0.5, 0.95, 0.99};
	Datum		values[13];
	bool		nulls[13] = {0};
	double		pct[3];

	values[0] = PointerGetDatum(cstring_to_text_with_len(e->kind, e->kind_len));
	values[1] = PointerGetDatum(cstring_to_text_with_len(e->id, e->id_len));
	nulls[2] = e->name_len < 0;
	if (e->name_len >= 0)
		values[2] = PointerGetDatum(cstring_to_text_with_len(e->name, e->name_len));
	values[3] = Int64GetDatum(m->count);
	values[4] = Int64GetDatum(m->failures);
	if (m->count > 0)
	{
		live_quantiles(m, qs, 3, pct);
		values[5] = Float8GetDatum(m->min);
		values[6] = Float8GetDatum(m->max);
		values[7] = Float8GetDatum(m->sum / m->count);
		values[8] = Float8GetDatum(pct[0]);
		values[9] = Float8GetDatum(pct[1]);
		values[10] = Float8GetDatum(pct[2]);
	}
	else
		for (int k = 5; k <= 10; k++)
			nulls[k] = true;
	nulls[11] = seen == 0;
	values[11] = TimestampTzGetDatum(seen);
	values[12] = Int64GetDatum((int64) use_count);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* live_stats(): one row per tracked entity; the live_stats view. */
Datum
live_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	int64		slice_us = live_slice_usecs();
	LiveMerged *m;

	mr_require_preload("live_stats");
	InitMaterializedSRF(fcinfo, 0);
	m = palloc(sizeof(LiveMerged));

	LWLockAcquire(live->lock, LW_SHARED);
	for (int32 i = 0; i < live->max_entries; i++)
	{
		LiveEntry  *e = &live_entries[i];
		LiveWindow	w;
		TimestampTz seen;
		uint64		use_count;

		if (!e->in_use)
			continue;
		SpinLockAcquire(&e->mutex);
		w = e->window;
		seen = live_seen[i];
		use_count = e->use_count;
		SpinLockRelease(&e->mutex);

		live_merge(&w, now - now % slice_us, slice_us, m);
		live_put_row(rsinfo, e, m, seen, use_count);
	}
	LWLockRelease(live->lock);
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

/* last_seen desc, use_count desc, entity_id asc (bytes), kind asc. */
static int
live_rank_cmp(const void *a, const void *b)
{
	const LiveRank *x = (const LiveRank *) a;
	const LiveRank *y = (const LiveRank *) b;
	int			c;

	if (x->seen != y->seen)
		return x->seen > y->seen ? -1 : 1;
	if (x->use_count != y->use_count)
		return x->use_count > y->use_count ? -1 : 1;
	c = strcmp(x->id, y->id);
	if (c != 0)
		return c;
	return strcmp(x->kind, y->kind);
}

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

/* classify(kind, hot_fraction): hot/cold by recency, then use. */
Datum
live_classify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *kind = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	double		fraction = PG_ARGISNULL(1) ? mr_hot_fraction : PG_GETARG_FLOAT8(1);
	LiveRank   *items;
	int			n;
	int			hot;

	mr_require_preload("classify()");
	if (isnan(fraction) || fraction < 0 || fraction > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("hot_fraction must be between 0 and 1, not %g", fraction),
				 errhint("Pass a fraction from 0 to 1, or NULL to use metrics_rollup.hot_fraction.")));
	InitMaterializedSRF(fcinfo, 0);

	items = live_collect(kind, &n);
	qsort(items, n, sizeof(LiveRank), live_rank_cmp);
	/* the epsilon keeps e.g. 0.29 * 100 = 28.999999999999996 at 29 */
	hot = (int) floor(fraction * n + 1e-9);
	hot = Min(hot, n);

	for (int k = 0; k < n; k++)
	{
		Datum		values[6];
		bool		nulls[6] = {0};

		values[0] = CStringGetTextDatum(items[k].kind);
		values[1] = CStringGetTextDatum(items[k].id);
		values[2] = CStringGetTextDatum(k < hot ? "hot" : "cold");
		values[3] = Int32GetDatum(k + 1);
		nulls[4] = items[k].seen == 0;
		values[4] = TimestampTzGetDatum(items[k].seen);
		values[5] = Int64GetDatum((int64) items[k].use_count);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
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
