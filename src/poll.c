/*-------------------------------------------------------------------------
 *
 * poll.c
 *	  Poll scheduling by class: should_poll(), mark_polled(), poll_state()
 *	  and poll_info().
 *
 * Owns: the shared struct "metrics_rollup poll state": a fixed table of
 * metrics_rollup.max_poll_entities entities keyed by (kind, entity_id),
 * each with its class (hot, cold or unclassified, as of the last
 * classification pass of its kind) and the time of the last completed poll
 * of up to POLL_TYPES poll types; a chained hash index over it; and
 * POLL_KINDS kind slots that say when each kind was last classified and
 * which session classifies it now.
 *
 * Must never: raise an error from should_poll() (every failure answers
 * true: poll), call a function or raise an error while holding a spinlock,
 * write a log line under any lock, or run SQL other than through
 * classes_compute() (inside a subtransaction, with no lock held).
 *
 * The rule.  should_poll(kind, id, type) is true when the entity is not in
 * the table, is unclassified, has no completed poll of that type, its last
 * completed poll is more than POLL_FUTURE_USECS in the future (a clock
 * skewed elsewhere), or at least hot_poll_interval / cold_poll_interval
 * (by its class) has passed since that poll.  mark_polled() records a
 * completed poll (the latest time wins, except that it always replaces a
 * time more than 60 s in the future).
 *
 * Classes.  should_poll() reclassifies the kind it is asked about when
 * its last pass is older than class_refresh_interval: one session at a
 * time (the kind slot's busy_pid, taken by compare-and-swap; others use
 * the classes as they are; a claim older than 60 s may be taken over).
 * The pass calls classes_compute() (live use plus known_entities, read
 * with the caller's rights) in a subtransaction: a failure is a WARNING
 * and the answer true.  It then sets the class of every entity of the
 * kind's universe (inserting those not in the table while free entries
 * remain: no eviction for them) and marks the kind's other entities
 * unclassified.  A new entity inserted by mark_polled() is unclassified
 * and makes the next should_poll() of its kind reclassify.
 *
 * Bounds.  At most max_poll_entities entities (about 560 bytes each);
 * mark_polled() of a new entity into a full table evicts the least
 * recently used one (used = should_poll() or mark_polled(); entities the
 * pass inserted and nobody used go first).  An evicted entity is polled at
 * its next should_poll(): never polled.  A new poll
 * type beyond POLL_TYPES of one entity replaces its least recently completed one.
 *
 * Restart.  The state lives in shared memory only and is lost at a server
 * restart: every entity is then polled once (never polled), which is the
 * fail-open answer, and its first mark_polled() starts it again.
 *
 * Locking protocol.
 *	- lock (the one LWLock of tranche "metrics_rollup poll state") guards
 *	  the hash index, the free list, nused, entry keys, classes and the
 *	  kind slots' names.  Shared to look up and to record a poll; exclusive
 *	  to insert, evict, publish a pass and claim a kind slot.
 *	- entry->mutex (spinlock) guards the entry's types[]: a few loads and
 *	  stores (and a copy of at most 32 bytes) under it.
 *	- entry->last_used, the kind slots' classified_at, busy_pid and
 *	  busy_since, and the counters are atomics.
 *
 * XXX: eviction and the end of a pass scan the whole table (O(entities))
 * under the exclusive lock; both are rare (a new entity in a full table,
 * one pass per kind per class_refresh_interval).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "classes.h"
#include "guc.h"
#include "poll.h"

#define POLL_TRANCHE "metrics_rollup poll state"

#define POLL_KIND_MAX 63
#define POLL_ID_MAX 255
#define POLL_TYPE_MAX 31
#define POLL_TYPES 4			/* poll types kept per entity */
#define POLL_KINDS 64			/* kinds whose pass times are kept */
#define POLL_FUTURE_USECS (60 * USECS_PER_SEC)	/* beyond: never polled */
#define POLL_CLAIM_USECS (60 * USECS_PER_SEC)	/* a pass older is taken over */

typedef enum PollClass
{
	POLL_UNCLASSIFIED = 0,
	POLL_HOT,
	POLL_COLD
} PollClass;

/* The last completed poll of one type. */
typedef struct PollType
{
	int16		len;			/* bytes of name; 0: slot free */
	char		name[POLL_TYPE_MAX + 1];
	TimestampTz completed_at;	/* as given to mark_polled() */
} PollType;

typedef struct PollEntry
{
	slock_t		mutex;			/* guards types[] */
	bool		in_use;			/* lock exclusive to change */
	uint8		class;			/* PollClass; lock exclusive to change */
	int16		kind_len;
	int16		id_len;
	int32		next;			/* next entry in the hash chain; -1: end */
	uint32		hash;
	TimestampTz class_at;		/* start of the pass that set class */
	pg_atomic_uint64 last_used; /* clock of the last use; 0: none (LRU) */
	char		kind[POLL_KIND_MAX + 1];
	char		id[POLL_ID_MAX + 1];
	PollType	types[POLL_TYPES];
} PollEntry;

/* When a kind was last classified, and who classifies it now. */
typedef struct PollKind
{
	int16		len;			/* 0: slot free; lock exclusive to change */
	char		kind[POLL_KIND_MAX + 1];
	pg_atomic_uint64 classified_at; /* start of the last pass; 0: due */
	pg_atomic_uint32 busy_pid;	/* session running a pass; 0: none */
	pg_atomic_uint64 busy_since;	/* when it claimed the slot */
} PollKind;

typedef struct PollShared
{
	LWLock	   *lock;
	int			max_entries;
	int			nbuckets;		/* power of 2 */
	int			nused;
	int32		free_head;		/* free entries chained by next; -1: none */
	pg_atomic_uint64 evictions;
	pg_atomic_uint64 passes;
	pg_atomic_uint64 pass_failures;
	PollKind	kinds[POLL_KINDS];
	/* then int32 buckets[nbuckets], PollEntry entries[max_entries] */
} PollShared;

static PollShared *psh = NULL;		/* the shared struct */
static int32 *poll_buckets;
static PollEntry *poll_entries;

static Size poll_shmem_size(void);
static void poll_shmem_init(void *shmem, bool found);

const ShmemPiece poll_shmem_piece = {
	POLL_TRANCHE,
	poll_shmem_size,
	1,
	poll_shmem_init
};

PG_FUNCTION_INFO_V1(poll_should_poll);
PG_FUNCTION_INFO_V1(poll_mark_polled);
PG_FUNCTION_INFO_V1(poll_state);
PG_FUNCTION_INFO_V1(poll_info);

/* A (kind, entity_id) key as passed around. */
typedef struct PollKey
{
	const char *kind;
	int			kind_len;
	const char *id;
	int			id_len;
	uint32		hash;
} PollKey;

/* ----------------------------------------------------------------
 * Shared memory setup
 * ----------------------------------------------------------------
 */

static int
poll_nbuckets(void)
{
	int			n = 1;

	while (n < 2 * mr_max_poll_entities)
		n <<= 1;
	return n;
}

static Size
poll_shmem_size(void)
{
	Size		size = MAXALIGN(sizeof(PollShared));

	size = add_size(size, MAXALIGN(mul_size(poll_nbuckets(), sizeof(int32))));
	size = add_size(size, mul_size(mr_max_poll_entities, sizeof(PollEntry)));
	return size;
}

static void
poll_attach(void *shmem)
{
	char	   *p = (char *) shmem;

	psh = (PollShared *) p;
	p += MAXALIGN(sizeof(PollShared));
	poll_buckets = (int32 *) p;
	p += MAXALIGN(psh->nbuckets * sizeof(int32));
	poll_entries = (PollEntry *) p;
}

static void
poll_shmem_init(void *shmem, bool found)
{
	PollShared *sh = (PollShared *) shmem;

	if (found)
	{
		poll_attach(shmem);
		return;
	}
	sh->lock = &(GetNamedLWLockTranche(POLL_TRANCHE))[0].lock;
	sh->max_entries = mr_max_poll_entities;
	sh->nbuckets = poll_nbuckets();
	sh->nused = 0;
	pg_atomic_init_u64(&sh->evictions, 0);
	pg_atomic_init_u64(&sh->passes, 0);
	pg_atomic_init_u64(&sh->pass_failures, 0);
	for (int k = 0; k < POLL_KINDS; k++)
	{
		sh->kinds[k].len = 0;
		pg_atomic_init_u64(&sh->kinds[k].classified_at, 0);
		pg_atomic_init_u32(&sh->kinds[k].busy_pid, 0);
		pg_atomic_init_u64(&sh->kinds[k].busy_since, 0);
	}
	poll_attach(shmem);
	for (int i = 0; i < sh->nbuckets; i++)
		poll_buckets[i] = -1;
	for (int i = 0; i < sh->max_entries; i++)
	{
		PollEntry  *e = &poll_entries[i];

		SpinLockInit(&e->mutex);
		e->in_use = false;
		e->next = (i + 1 < sh->max_entries) ? i + 1 : -1;
		pg_atomic_init_u64(&e->last_used, 0);
	}
	sh->free_head = 0;
}

/* ----------------------------------------------------------------
 * The table: lookup, insert, evict (caller holds psh->lock)
 * ----------------------------------------------------------------
 */

static void
poll_key_init(PollKey *key, const char *kind, int kind_len,
			  const char *id, int id_len)
{
	key->kind = kind;
	key->kind_len = kind_len;
	key->id = id;
	key->id_len = id_len;
	key->hash = hash_combine(hash_bytes((const unsigned char *) kind, kind_len),
							 hash_bytes((const unsigned char *) id, id_len));
}

/* The entry of key, or -1; lock held in either mode. */
static int32
poll_find(const PollKey *key)
{
	int32		i = poll_buckets[key->hash & (psh->nbuckets - 1)];

	while (i >= 0)
	{
		PollEntry  *e = &poll_entries[i];

		if (e->hash == key->hash && e->kind_len == key->kind_len &&
			e->id_len == key->id_len &&
			memcmp(e->kind, key->kind, key->kind_len) == 0 &&
			memcmp(e->id, key->id, key->id_len) == 0)
			return i;
		i = e->next;
	}
	return -1;
}

/* Evict the least recently used entry (lowest index among ties). */
static void
poll_evict(void)
{
	int32		victim = -1;
	uint64		oldest = 0;
	int32	   *link;
	PollEntry  *e;

	for (int32 i = 0; i < psh->max_entries; i++)
	{
		uint64		used;

		if (!poll_entries[i].in_use)
			continue;
		used = pg_atomic_read_u64(&poll_entries[i].last_used);
		if (victim < 0 || used < oldest)
		{
			victim = i;
			oldest = used;
		}
	}
	Assert(victim >= 0);
	e = &poll_entries[victim];
	link = &poll_buckets[e->hash & (psh->nbuckets - 1)];
	while (*link != victim)
		link = &poll_entries[*link].next;
	*link = e->next;
	e->in_use = false;
	e->next = psh->free_head;
	psh->free_head = victim;
	psh->nused--;
	pg_atomic_fetch_add_u64(&psh->evictions, 1);
}

/* A new unclassified entry for key, or -1 when full and !evict; exclusive. */
static int32
poll_insert(const PollKey *key, bool evict)
{
	int32		i;
	int32	   *head;
	PollEntry  *e;

	if (psh->free_head < 0)
	{
		if (!evict)
			return -1;
		poll_evict();
	}
	i = psh->free_head;
	e = &poll_entries[i];
	psh->free_head = e->next;

	e->hash = key->hash;
	e->kind_len = key->kind_len;
	memcpy(e->kind, key->kind, key->kind_len);
	e->kind[key->kind_len] = '\0';
	e->id_len = key->id_len;
	memcpy(e->id, key->id, key->id_len);
	e->id[key->id_len] = '\0';
	e->class = POLL_UNCLASSIFIED;
	e->class_at = 0;
	pg_atomic_write_u64(&e->last_used, 0);
	for (int j = 0; j < POLL_TYPES; j++)
		e->types[j].len = 0;

	head = &poll_buckets[key->hash & (psh->nbuckets - 1)];
	e->next = *head;
	*head = i;
	e->in_use = true;
	psh->nused++;
	return i;
}

/* ----------------------------------------------------------------
 * Kind slots and the classification pass
 * ----------------------------------------------------------------
 */

/* The slot of kind, or -1; lock held in either mode. */
static int
poll_kind_find(const char *kind, int len)
{
	for (int k = 0; k < POLL_KINDS; k++)
		if (psh->kinds[k].len == len &&
			memcmp(psh->kinds[k].kind, kind, len) == 0)
			return k;
	return -1;
}

/*
 * The slot of kind, claimed when missing: a free one, else the least
 * recently classified one that no pass holds; -1 when none can be had.
 */
static int
poll_kind_slot(const char *kind, int len)
{
	int			slot;

	LWLockAcquire(psh->lock, LW_SHARED);
	slot = poll_kind_find(kind, len);
	LWLockRelease(psh->lock);
	if (slot >= 0)
		return slot;

	LWLockAcquire(psh->lock, LW_EXCLUSIVE);
	slot = poll_kind_find(kind, len);
	for (int k = 0; slot < 0 && k < POLL_KINDS; k++)
		if (psh->kinds[k].len == 0)
			slot = k;
	if (slot < 0)
	{
		uint64		oldest = PG_UINT64_MAX;

		for (int k = 0; k < POLL_KINDS; k++)
		{
			uint64		at = pg_atomic_read_u64(&psh->kinds[k].classified_at);

			if (pg_atomic_read_u32(&psh->kinds[k].busy_pid) == 0 && at < oldest)
			{
				slot = k;
				oldest = at;
			}
		}
	}
	if (slot >= 0 && (psh->kinds[slot].len != len ||
					  memcmp(psh->kinds[slot].kind, kind, len) != 0))
	{
		memcpy(psh->kinds[slot].kind, kind, len);
		psh->kinds[slot].kind[len] = '\0';
		psh->kinds[slot].len = len;
		pg_atomic_write_u64(&psh->kinds[slot].classified_at, 0);
	}
	LWLockRelease(psh->lock);
	return slot;
}

/* Take the slot's pass for this session; false when another holds it. */
static bool
poll_kind_claim(PollKind *k, TimestampTz now)
{
	uint32		expected = 0;

	if (!pg_atomic_compare_exchange_u32(&k->busy_pid, &expected, (uint32) MyProcPid))
	{
		/* a session that died in a pass: take its claim over after a while */
		if (now - (TimestampTz) pg_atomic_read_u64(&k->busy_since) < POLL_CLAIM_USECS ||
			!pg_atomic_compare_exchange_u32(&k->busy_pid, &expected, (uint32) MyProcPid))
			return false;
	}
	pg_atomic_write_u64(&k->busy_since, (uint64) now);
	return true;
}

/*
 * Set the classes of kind's entities from r, computed at pass_at; mark the
 * kind's entities outside r unclassified.
 */
static void
poll_publish(const char *kind, int kind_len, const ClassResult *r,
			 TimestampTz pass_at)
{
	int			slot;

	LWLockAcquire(psh->lock, LW_EXCLUSIVE);
	for (int k = 0; k < r->n; k++)
	{
		const ClassItem *it = &r->items[k];
		int			id_len = strlen(it->id);
		PollKey		key;
		int32		i;

		if (id_len < 1 || id_len > POLL_ID_MAX)
			continue;
		poll_key_init(&key, kind, kind_len, it->id, id_len);
		i = poll_find(&key);
		if (i < 0)
			i = poll_insert(&key, false);
		if (i < 0)
			continue;			/* full: it stays unclassified (polled) */
		poll_entries[i].class = it->hot ? POLL_HOT : POLL_COLD;
		poll_entries[i].class_at = pass_at;
	}
	for (int32 i = 0; i < psh->max_entries; i++)
	{
		PollEntry  *e = &poll_entries[i];

		if (e->in_use && e->class_at != pass_at && e->kind_len == kind_len &&
			memcmp(e->kind, kind, kind_len) == 0)
			e->class = POLL_UNCLASSIFIED;
	}
	slot = poll_kind_find(kind, kind_len);
	if (slot >= 0)
		pg_atomic_write_u64(&psh->kinds[slot].classified_at, (uint64) pass_at);
	LWLockRelease(psh->lock);
}

/*
 * One classification pass of kind, in a subtransaction so that any error
 * (no SELECT right on known_entities, ...) becomes a WARNING; false then.
 * A query cancel is not a failure to hide: it is raised again.  Either way
 * the kind slot k that this session claimed is released.
 */
static bool
poll_pass(PollKind *k, const char *kind, int kind_len, TimestampTz now)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	MemoryContext passcxt;
	volatile bool ok = true;
	char	   *kind_z;

	passcxt = AllocSetContextCreate(oldcxt, "metrics_rollup class pass",
									ALLOCSET_DEFAULT_SIZES);
	kind_z = MemoryContextStrdup(passcxt, kind);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(passcxt);
	PG_TRY();
	{
		ClassResult r;

		classes_compute(kind_z, mr_hot_fraction, NULL, 0, &r);
		poll_publish(kind_z, kind_len, &r, now);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(passcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		pg_atomic_write_u32(&k->busy_pid, 0);
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			ReThrowError(edata);
		ok = false;
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not classify kind \"%s\" for should_poll(): %s",
						kind_z, edata->message),
				 errhint("should_poll() answers true for this kind until a classification succeeds; the caller needs SELECT on metrics_rollup.known_entities.")));
	}
	PG_END_TRY();
	pg_atomic_write_u32(&k->busy_pid, 0);
	MemoryContextDelete(passcxt);
	pg_atomic_fetch_add_u64(ok ? &psh->passes : &psh->pass_failures, 1);
	return ok;
}

/*
 * Reclassify kind if its classes are older than class_refresh_interval and
 * no other session is at it.  false when this session's pass failed.
 */
static bool
poll_refresh(const char *kind, int kind_len, TimestampTz now)
{
	int			slot = poll_kind_slot(kind, kind_len);
	PollKind   *k;
	TimestampTz at;

	if (slot < 0)
		return true;			/* every slot busy: classes as they are */
	k = &psh->kinds[slot];
	at = (TimestampTz) pg_atomic_read_u64(&k->classified_at);
	if (at != 0 && now - at < (int64) mr_class_refresh_interval_ms * 1000)
		return true;
	if (!poll_kind_claim(k, now))
		return true;
	return poll_pass(k, kind, kind_len, now);
}

/* ----------------------------------------------------------------
 * should_poll(), mark_polled()
 * ----------------------------------------------------------------
 */

/* text argument argno within 1..max bytes, else NULL (no error) */
static const char *
poll_text_arg(FunctionCallInfo fcinfo, int argno, int max, int *len)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		return NULL;
	t = PG_GETARG_TEXT_PP(argno);
	*len = VARSIZE_ANY_EXHDR(t);
	if (*len < 1 || *len > max)
		return NULL;
	return VARDATA_ANY(t);
}

/* The time of the last completed poll of type; false if none. */
static bool
poll_type_time(PollEntry *e, const char *type, int type_len, TimestampTz *at)
{
	bool		found = false;

	SpinLockAcquire(&e->mutex);
	for (int j = 0; j < POLL_TYPES; j++)
	{
		if (e->types[j].len == type_len &&
			memcmp(e->types[j].name, type, type_len) == 0)
		{
			*at = e->types[j].completed_at;
			found = true;
			break;
		}
	}
	SpinLockRelease(&e->mutex);
	return found;
}

/*
 * should_poll(kind, entity_id, poll_type): has the interval of the
 * entity's class passed since its last completed poll of that type?
 * Fails open: anything it cannot answer is true.
 */
Datum
poll_should_poll(PG_FUNCTION_ARGS)
{
	const char *kind;
	const char *id;
	const char *type;
	int			kind_len = 0;
	int			id_len = 0;
	int			type_len = 0;
	TimestampTz now;
	TimestampTz last = 0;
	PollKey		key;
	int32		i;
	int			class = POLL_UNCLASSIFIED;
	bool		polled = false;
	int64		interval_us;

	kind = poll_text_arg(fcinfo, 0, POLL_KIND_MAX, &kind_len);
	id = poll_text_arg(fcinfo, 1, POLL_ID_MAX, &id_len);
	type = poll_text_arg(fcinfo, 2, POLL_TYPE_MAX, &type_len);
	if (!mr_shmem_ready || kind == NULL || id == NULL || type == NULL)
		PG_RETURN_BOOL(true);

	now = GetCurrentTimestamp();
	{
		char	   *kind_z = pnstrdup(kind, kind_len);

		if (!poll_refresh(kind_z, kind_len, now))
			PG_RETURN_BOOL(true);
		pfree(kind_z);
	}

	poll_key_init(&key, kind, kind_len, id, id_len);
	LWLockAcquire(psh->lock, LW_SHARED);
	i = poll_find(&key);
	if (i >= 0)
	{
		PollEntry  *e = &poll_entries[i];

		pg_atomic_write_u64(&e->last_used, (uint64) now);
		class = e->class;
		polled = poll_type_time(e, type, type_len, &last);
	}
	LWLockRelease(psh->lock);

	if (class == POLL_UNCLASSIFIED || !polled || last > now + POLL_FUTURE_USECS)
		PG_RETURN_BOOL(true);
	interval_us = (int64) (class == POLL_HOT ? mr_hot_poll_interval_ms :
						   mr_cold_poll_interval_ms) * 1000;
	PG_RETURN_BOOL(now - last >= interval_us);
}

/* Record a completed poll of type at `at' in entry e; lock held (shared). */
static void
poll_type_set(PollEntry *e, const char *type, int type_len, TimestampTz at,
			  TimestampTz now)
{
	int			slot = -1;
	int			free_slot = -1;
	int			oldest = 0;
	PollType   *t;

	SpinLockAcquire(&e->mutex);
	for (int j = 0; j < POLL_TYPES && slot < 0; j++)
	{
		if (e->types[j].len == type_len &&
			memcmp(e->types[j].name, type, type_len) == 0)
			slot = j;
		else if (e->types[j].len == 0 && free_slot < 0)
			free_slot = j;
		else if (e->types[j].completed_at < e->types[oldest].completed_at)
			oldest = j;
	}
	if (slot < 0)
	{
		slot = free_slot >= 0 ? free_slot : oldest;
		t = &e->types[slot];
		memcpy(t->name, type, type_len);
		t->name[type_len] = '\0';
		t->len = type_len;
		t->completed_at = at;
	}
	else
	{
		t = &e->types[slot];
		if (at > t->completed_at || t->completed_at > now + POLL_FUTURE_USECS)
			t->completed_at = at;
	}
	SpinLockRelease(&e->mutex);
}

/* ERROR unless kind follows the kind rule (the one of record()). */
static void
poll_check_kind(const char *kind, int len)
{
	bool		ok = len >= 1 && len <= POLL_KIND_MAX;

	for (int i = 0; ok && i < len; i++)
	{
		char		c = kind[i];

		ok = (c >= 'a' && c <= 'z') ||
			(i > 0 && ((c >= '0' && c <= '9') || c == '_'));
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid kind \"%s\"", pnstrdup(kind, len)),
				 errhint("A kind is 1 to 63 characters: a lower-case letter, then lower-case letters, digits or underscores.")));
}

/* The text argument argno, not NULL, 1..max bytes; ERROR otherwise. */
static const char *
poll_required_arg(FunctionCallInfo fcinfo, int argno, const char *name,
				  int max, int *len)
{
	text	   *t;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("Pass the kind, entity_id and poll_type that should_poll() was asked about.")));
	t = PG_GETARG_TEXT_PP(argno);
	*len = VARSIZE_ANY_EXHDR(t);
	if (*len < 1 || *len > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be 1 to %d bytes long, not %d", name, max, *len),
				 errhint("Use a shorter %s.", name)));
	return VARDATA_ANY(t);
}

/*
 * mark_polled(kind, entity_id, poll_type [, completed_at]): a poll of that
 * type completed (now, or at completed_at).  Call it only after the poll
 * succeeded.
 */
Datum
poll_mark_polled(PG_FUNCTION_ARGS)
{
	const char *kind;
	const char *id;
	const char *type;
	int			kind_len;
	int			id_len;
	int			type_len;
	TimestampTz now;
	TimestampTz at;
	PollKey		key;
	int32		i;
	bool		inserted = false;

	mr_require_preload("mark_polled()");
	kind = poll_required_arg(fcinfo, 0, "kind", POLL_KIND_MAX, &kind_len);
	poll_check_kind(kind, kind_len);
	id = poll_required_arg(fcinfo, 1, "entity_id", POLL_ID_MAX, &id_len);
	type = poll_required_arg(fcinfo, 2, "poll_type", POLL_TYPE_MAX, &type_len);
	now = GetCurrentTimestamp();
	at = now;
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
	{
		at = PG_GETARG_TIMESTAMPTZ(3);
		if (TIMESTAMP_NOT_FINITE(at))
			ereport(ERROR,
					(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
					 errmsg("completed_at must be finite"),
					 errhint("Pass the time the poll completed, or NULL for now.")));
	}

	poll_key_init(&key, kind, kind_len, id, id_len);
	LWLockAcquire(psh->lock, LW_SHARED);
	i = poll_find(&key);
	if (i >= 0)
	{
		pg_atomic_write_u64(&poll_entries[i].last_used, (uint64) now);
		poll_type_set(&poll_entries[i], type, type_len, at, now);
	}
	LWLockRelease(psh->lock);
	if (i >= 0)
		PG_RETURN_VOID();

	LWLockAcquire(psh->lock, LW_EXCLUSIVE);
	i = poll_find(&key);
	if (i < 0)
	{
		i = poll_insert(&key, true);
		inserted = true;
	}
	pg_atomic_write_u64(&poll_entries[i].last_used, (uint64) now);
	poll_type_set(&poll_entries[i], type, type_len, at, now);
	if (inserted)
	{
		/* unclassified: the kind's next should_poll() reclassifies */
		int			slot = poll_kind_find(kind, kind_len);

		if (slot >= 0)
			pg_atomic_write_u64(&psh->kinds[slot].classified_at, 0);
	}
	LWLockRelease(psh->lock);
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * Readers: poll_state(), poll_info()
 * ----------------------------------------------------------------
 */

static const char *
poll_class_name(int class)
{
	return class == POLL_HOT ? "hot" : class == POLL_COLD ? "cold" : NULL;
}

/* One row of poll_state(); type NULL: an entity without a recorded poll. */
static void
poll_put_row(ReturnSetInfo *rsinfo, const PollEntry *e, const PollType *type,
			 TimestampTz last_used)
{
	Datum		values[7];
	bool		nulls[7] = {0};
	const char *class = poll_class_name(e->class);

	values[0] = CStringGetTextDatum(e->kind);
	values[1] = CStringGetTextDatum(e->id);
	nulls[2] = class == NULL;
	if (class != NULL)
		values[2] = CStringGetTextDatum(class);
	nulls[3] = e->class_at == 0;
	values[3] = TimestampTzGetDatum(e->class_at);
	nulls[4] = type == NULL;
	nulls[5] = type == NULL;
	if (type != NULL)
	{
		values[4] = CStringGetTextDatum(type->name);
		values[5] = TimestampTzGetDatum(type->completed_at);
	}
	nulls[6] = last_used == 0;
	values[6] = TimestampTzGetDatum(last_used);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* poll_state(): every entity of the poll table, one row per poll type. */
Datum
poll_state(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	mr_require_preload("poll_state()");
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(psh->lock, LW_SHARED);
	for (int32 i = 0; i < psh->max_entries; i++)
	{
		PollEntry  *e = &poll_entries[i];
		PollType	types[POLL_TYPES];
		TimestampTz used;
		int			rows = 0;

		if (!e->in_use)
			continue;
		SpinLockAcquire(&e->mutex);
		memcpy(types, e->types, sizeof(types));
		SpinLockRelease(&e->mutex);
		used = (TimestampTz) pg_atomic_read_u64(&e->last_used);
		for (int j = 0; j < POLL_TYPES; j++)
			if (types[j].len > 0)
			{
				poll_put_row(rsinfo, e, &types[j], used);
				rows++;
			}
		if (rows == 0)
			poll_put_row(rsinfo, e, NULL, used);
	}
	LWLockRelease(psh->lock);
	return (Datum) 0;
}

/* poll_info(): size and counters of the poll table. */
Datum
poll_info(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	int			nused;
	int			kinds = 0;

	mr_require_preload("poll_info()");
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(psh->lock, LW_SHARED);
	nused = psh->nused;
	for (int k = 0; k < POLL_KINDS; k++)
		if (psh->kinds[k].len > 0)
			kinds++;
	LWLockRelease(psh->lock);

	values[0] = Int32GetDatum(nused);
	values[1] = Int32GetDatum(psh->max_entries);
	values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&psh->evictions));
	values[3] = Int32GetDatum(kinds);
	values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&psh->passes));
	values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&psh->pass_failures));
	values[6] = Int64GetDatum((int64) poll_shmem_size());
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
