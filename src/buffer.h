/*-------------------------------------------------------------------------
 *
 * buffer.h
 *	  The shared-memory ingest buffer: partitioned byte rings of events.
 *
 * buffer.c owns the shared state; ingest.c appends, worker.c drains.
 *
 *-------------------------------------------------------------------------
 */
#ifndef METRICS_ROLLUP_BUFFER_H
#define METRICS_ROLLUP_BUFFER_H

#include "datatype/timestamp.h"
#include "storage/latch.h"

#include "shmem.h"

/* Number of independent rings; a backend uses MyBackendId % this first. */
#define BUFFER_PARTITIONS 8

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
extern bool buffer_append(const BufferEvent *events, int n);
extern bool buffer_batch_can_ever_fit(const BufferEvent *events, int n);
extern void buffer_count(BufferCounter counter, uint64 n);

/* flush() waiters and producers waiting for room (ingest.c) */
extern uint64 buffer_flush_targets(uint64 *heads);
extern bool buffer_reached(const uint64 *heads);
extern void buffer_prepare_wait(void);
extern void buffer_wait(long timeout_ms);
extern void buffer_cancel_wait(void);

/* the worker (worker.c) */
extern void buffer_attach_worker(int pid, Latch *latch);
extern void buffer_detach_worker(void);
extern int	buffer_worker_pid(void);
extern void buffer_wake_worker(void);
extern uint64 buffer_drain_begin(uint64 max_events);
extern int	buffer_drain_read(void *outbuf, int minread, int maxread);
extern void buffer_drain_range(uint64 first, uint64 count);
extern bool buffer_drain_event(uint64 index, BufferEvent *ev);
extern uint64 buffer_drain_committed(TimestampTz started, uint64 rejected);
extern void buffer_report_flush_error(const char *message);
extern uint64 buffer_pending_events(void);

/* the stats view (ingest.c) */
extern void buffer_get_stats(BufferStats *stats);

#endif							/* METRICS_ROLLUP_BUFFER_H */
