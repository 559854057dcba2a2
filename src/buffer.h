/*-------------------------------------------------------------------------
 *
 * buffer.h
 *	  The shared-memory ingest buffer: partitioned byte rings of events.
 *
 * buffer.c owns the shared state; ingest.c appends, the flush workers
 * (worker.c, flush.c) drain, each its own rings.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_BUFFER_H
#define METRICS_ROLLUP_BUFFER_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

#include "shmem.h"

/*
 * Rings: at least BUFFER_MIN_RINGS, a multiple of flush_workers (see
 * buffer.c); a backend uses MyBackendId % rings first.
 */
#define BUFFER_MIN_RINGS 8
#define BUFFER_MAX_RINGS 32

/*
 * One validated event, pointing into the caller's memory.  A NULL text
 * field has a NULL pointer; lengths are bytes without a terminator.
 */
typedef struct BufferEvent
{
	const char *kind;
	int			kind_len;
	const char *entity_id;
	int			entity_id_len;
	const char *entity_name;	/* NULL: none */
	int			entity_name_len;
	const char *error_message;	/* NULL: none; already cut */
	int			error_len;
	TimestampTz recorded_at;
	double		response_time;	/* seconds, finite, >= 0 */
	bool		success;
} BufferEvent;

/* A snapshot of the counters, for the stats view. */
typedef struct BufferStats
{
	uint64		capacity_bytes;
	uint64		used_bytes;
	uint64		events_buffered;	/* appended to the rings, ever */
	uint64		events_pending;		/* appended, not yet committed */
	uint64		events_flushed;		/* committed to raw_metrics by the worker */
	uint64		events_direct;		/* written by the caller (overflow) */
	uint64		events_dropped;		/* dropped (overflow_policy = drop) */
	uint64		events_overflowed;	/* had to wait for room */
	uint64		events_rejected;	/* refused with an ERROR (policy = error) */
	uint64		flush_count;		/* committed flush transactions */
	uint64		flush_failures;		/* failed flush transactions */
	TimestampTz last_flush_at;		/* 0: never */
	int64		last_flush_duration_us;
	char		last_flush_error[256];	/* "" when the last flush succeeded */
	int			worker_pid;			/* 0: no worker attached */
} BufferStats;

/* One flush worker, for drain_stats(). */
typedef struct BufferDrainerStats
{
	int			pid;			/* 0: not running */
	int			rings[BUFFER_MAX_RINGS];	/* the rings it owns */
	int			nrings;
	uint64		capacity_bytes; /* of its rings */
	uint64		used_bytes;		/* backlog in its rings */
	uint64		events_pending; /* backlog in its rings */
	uint64		starts;			/* since server start */
	uint64		events_flushed;
	uint64		flush_count;
	uint64		flush_failures;
	uint64		rate;			/* events/s, last sample (about 1 s) */
	TimestampTz last_flush_at;	/* 0: never */
	int64		last_flush_duration_us;
	char		last_flush_error[256];	/* "" after a success */
} BufferDrainerStats;

/* Counters ingest.c bumps; see BufferStats. */
typedef enum BufferCounter
{
	BUFFER_COUNT_DIRECT,
	BUFFER_COUNT_DROPPED,
	BUFFER_COUNT_OVERFLOWED,
	BUFFER_COUNT_REJECTED
} BufferCounter;

extern const ShmemPiece buffer_shmem_piece;

/* producers (ingest.c) */
extern bool buffer_append(const BufferEvent *events, int n, int *fill);
extern bool buffer_batch_can_ever_fit(const BufferEvent *events, int n);
extern void buffer_count(BufferCounter counter, uint64 n);

/* flush() waiters and producers waiting for room (ingest.c) */
extern uint64 buffer_flush_targets(uint64 *heads);
extern bool buffer_reached(const uint64 *heads);
extern void buffer_prepare_wait(void);
extern void buffer_wait(long timeout_ms);
extern void buffer_cancel_wait(void);

/* the maintenance worker (worker.c), shown as stats.worker_pid */
extern void buffer_attach_worker(int pid, Latch *latch);
extern void buffer_detach_worker(void);

/* the flush workers (worker.c, flush.c) and who wakes them */
extern void buffer_attach_drainer(int k, int pid, Latch *latch);
extern void buffer_detach_drainer(void);
extern int	buffer_drainer_count(void);
extern int	buffer_drainers_running(void);
extern void buffer_wake_drainer(int k);
extern void buffer_wake_drainers(void);
extern uint64 buffer_own_pending_events(void);
extern void buffer_drainer_sample_rate(void);
extern uint64 buffer_drain_begin(uint64 max_events);
extern int	buffer_drain_read(void *outbuf, int minread, int maxread);
extern void buffer_drain_range(uint64 first, uint64 count);
extern bool buffer_drain_event(uint64 index, BufferEvent *ev);
extern uint64 buffer_drain_committed(TimestampTz started, uint64 rejected);
extern void buffer_report_flush_error(const char *message);
extern uint64 buffer_pending_events(void);

/* the stats view (ingest.c) and drain_stats() (drain.c) */
extern void buffer_get_stats(BufferStats *stats);
extern bool buffer_get_drainer_stats(int k, BufferDrainerStats *stats);

#endif							/* METRICS_ROLLUP_BUFFER_H */
