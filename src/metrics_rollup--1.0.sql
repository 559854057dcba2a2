/* metrics_rollup--1.0.sql: objects of the extension, by concern. */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION metrics_rollup" to load this file. \quit

-- Every object lives in schema metrics_rollup (created by CREATE EXTENSION
-- from the control file).  Bodies schema-qualify what they use, so a
-- caller's search_path cannot redirect them.

-------------------------------------------------------------------------------
-- Settings
-------------------------------------------------------------------------------

CREATE VIEW metrics_rollup.config AS
SELECT s.name::text AS name,
       s.setting AS value,
       s.boot_val AS default_value,
       s.unit,
       s.min_val,
       s.max_val,
       CASE WHEN s.vartype = 'enum' THEN array_to_string(s.enumvals, ', ') END AS allowed_values,
       s.context = 'postmaster' AS requires_restart,
       s.short_desc AS description
  FROM pg_catalog.pg_settings s
 WHERE s.name LIKE 'metrics\_rollup.%'
 ORDER BY s.name;

COMMENT ON VIEW metrics_rollup.config IS
  'Every metrics_rollup.* setting: value, default, unit, range, whether it needs a restart, description.';

-------------------------------------------------------------------------------
-- Percentile sketch (src/sketch.c)
-------------------------------------------------------------------------------

-- (sketch section)

-------------------------------------------------------------------------------
-- Raw events and ingest: record(), record_batch(), flush(), stats (src/ingest.c)
-------------------------------------------------------------------------------

CREATE TABLE metrics_rollup.raw_metrics (
    kind          text             NOT NULL,
    entity_id     text             NOT NULL,
    entity_name   text,
    recorded_at   timestamptz      NOT NULL,
    response_time double precision NOT NULL,
    success       boolean          NOT NULL,
    error_message text
);
CREATE INDEX raw_metrics_entity_time_idx
    ON metrics_rollup.raw_metrics (kind, entity_id, recorded_at);

COMMENT ON TABLE metrics_rollup.raw_metrics IS
  'One row per metric event: written by the background worker from the ingest buffer, or directly by applications (INSERT/COPY).';
COMMENT ON COLUMN metrics_rollup.raw_metrics.kind IS 'What was called: tool, resource, prompt, server, a2a_agent, ...';
COMMENT ON COLUMN metrics_rollup.raw_metrics.entity_id IS 'Which one was called (1..255 bytes).';
COMMENT ON COLUMN metrics_rollup.raw_metrics.entity_name IS 'Optional display name at the time of the call.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.recorded_at IS 'When the call happened.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.response_time IS 'Response time in seconds.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.success IS 'Whether the call succeeded.';
COMMENT ON COLUMN metrics_rollup.raw_metrics.error_message IS 'Error text of a failed call, cut to metrics_rollup.max_error_length bytes.';

-- (ingest section)

CREATE FUNCTION metrics_rollup.record(
    kind text,
    entity_id text,
    response_time double precision,
    success boolean,
    error_message text DEFAULT NULL,
    entity_name text DEFAULT NULL,
    recorded_at timestamptz DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'ingest_record'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.record(text, text, double precision, boolean, text, text, timestamptz) IS
  'Buffers one event in shared memory; the background worker writes it to raw_metrics. Not transactional: the event is kept even if the calling transaction aborts (unless the buffer overflowed and the event was written directly in the caller''s transaction). recorded_at defaults to clock_timestamp().';

CREATE FUNCTION metrics_rollup.record_batch(
    kind text,
    entity_ids text[],
    response_times double precision[],
    successes boolean[],
    error_messages text[] DEFAULT NULL,
    entity_names text[] DEFAULT NULL,
    recorded_ats timestamptz[] DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'ingest_record_batch'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.record_batch(text, text[], double precision[], boolean[], text[], text[], timestamptz[]) IS
  'Buffers many events of one kind (arrays of equal length, NULL optional arrays allowed), all or none; returns the number buffered.';

CREATE FUNCTION metrics_rollup.flush()
RETURNS bigint
AS 'MODULE_PATHNAME', 'ingest_flush'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.flush() IS
  'Waits until every event buffered before the call is committed to raw_metrics; returns how many events that covered.';

CREATE FUNCTION metrics_rollup.ingest_stats(
    OUT buffer_capacity_bytes bigint,
    OUT buffer_used_bytes bigint,
    OUT events_buffered bigint,
    OUT events_pending bigint,
    OUT events_flushed bigint,
    OUT events_direct bigint,
    OUT events_dropped bigint,
    OUT events_overflowed bigint,
    OUT events_rejected bigint,
    OUT flush_count bigint,
    OUT flush_failures bigint,
    OUT last_flush_at timestamptz,
    OUT last_flush_duration interval,
    OUT last_flush_error text,
    OUT worker_pid integer)
RETURNS record
AS 'MODULE_PATHNAME', 'ingest_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.ingest_stats() IS
  'Ingest buffer and flush counters from shared memory since server start; the stats view shows them.';

CREATE VIEW metrics_rollup.stats AS
SELECT i.buffer_capacity_bytes,
       i.buffer_used_bytes,
       i.events_buffered,
       i.events_pending,
       i.events_flushed,
       i.events_direct,
       i.events_dropped,
       i.events_overflowed,
       i.events_rejected,
       i.flush_count,
       i.flush_failures,
       i.last_flush_at,
       i.last_flush_duration,
       i.last_flush_error,
       i.worker_pid
  FROM metrics_rollup.ingest_stats() i;

COMMENT ON VIEW metrics_rollup.stats IS
  'One row: ingest buffer capacity and use, event counters, last flush and worker pid (counters since server start).';
COMMENT ON COLUMN metrics_rollup.stats.buffer_capacity_bytes IS 'Bytes of shared memory for buffered events (metrics_rollup.buffer_size).';
COMMENT ON COLUMN metrics_rollup.stats.buffer_used_bytes IS 'Bytes held by events not yet committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.stats.events_buffered IS 'Events put into the buffer by record() and record_batch().';
COMMENT ON COLUMN metrics_rollup.stats.events_pending IS 'Buffered events not yet committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.stats.events_flushed IS 'Buffered events the worker committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.stats.events_direct IS 'Events written directly into raw_metrics by the caller because the buffer was full.';
COMMENT ON COLUMN metrics_rollup.stats.events_dropped IS 'Events dropped because the buffer was full (overflow_policy = drop).';
COMMENT ON COLUMN metrics_rollup.stats.events_overflowed IS 'Events that found the buffer full and waited for room (overflow_policy = wait).';
COMMENT ON COLUMN metrics_rollup.stats.events_rejected IS 'Events refused with an ERROR because the buffer was full (overflow_policy = error).';
COMMENT ON COLUMN metrics_rollup.stats.flush_count IS 'Committed flush transactions.';
COMMENT ON COLUMN metrics_rollup.stats.flush_failures IS 'Failed flush transactions (their events stayed buffered and were retried).';
COMMENT ON COLUMN metrics_rollup.stats.last_flush_at IS 'When the last flush transaction committed.';
COMMENT ON COLUMN metrics_rollup.stats.last_flush_duration IS 'How long the last committed flush transaction took.';
COMMENT ON COLUMN metrics_rollup.stats.last_flush_error IS 'Error of the last flush when it failed; NULL after a successful flush.';
COMMENT ON COLUMN metrics_rollup.stats.worker_pid IS 'Process id of the background worker, NULL when none is running.';

-------------------------------------------------------------------------------
-- Hourly rollup: hourly_metrics, dirty tracking, run_rollup() (src/rollup.c)
-------------------------------------------------------------------------------

-- (rollup section)

-------------------------------------------------------------------------------
-- Live statistics: live_stats, classify(), live_info() (src/live.c)
-------------------------------------------------------------------------------

-- (live section)

CREATE FUNCTION metrics_rollup.live_entities(
    OUT kind text,
    OUT entity_id text,
    OUT entity_name text,
    OUT count bigint,
    OUT failures bigint,
    OUT min_response_time double precision,
    OUT max_response_time double precision,
    OUT avg_response_time double precision,
    OUT p50_response_time double precision,
    OUT p95_response_time double precision,
    OUT p99_response_time double precision,
    OUT last_seen timestamptz,
    OUT use_count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'live_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.live_entities() IS
  'Every entity tracked in shared memory with its statistics over metrics_rollup.live_window; the live_stats view shows them.';

CREATE VIEW metrics_rollup.live_stats AS
SELECT l.kind,
       l.entity_id,
       l.entity_name,
       l.count,
       l.failures,
       l.min_response_time,
       l.max_response_time,
       l.avg_response_time,
       l.p50_response_time,
       l.p95_response_time,
       l.p99_response_time,
       l.last_seen,
       l.use_count
  FROM metrics_rollup.live_entities() l;

COMMENT ON VIEW metrics_rollup.live_stats IS
  'Per (kind, entity_id), from shared memory: events recorded during the last metrics_rollup.live_window (kept at least 5/6 of the window, never longer). An entity with no event left in the window stays with count 0 and NULL statistics until it is evicted (at most metrics_rollup.max_live_entities entities; the least recently seen goes first).';
COMMENT ON COLUMN metrics_rollup.live_stats.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.live_stats.entity_id IS 'Which one was called.';
COMMENT ON COLUMN metrics_rollup.live_stats.entity_name IS 'Latest entity_name recorded for it (an event without a name keeps the previous one).';
COMMENT ON COLUMN metrics_rollup.live_stats.count IS 'Events recorded in the window (buffered or written directly; dropped events are not counted).';
COMMENT ON COLUMN metrics_rollup.live_stats.failures IS 'Events in the window with success = false.';
COMMENT ON COLUMN metrics_rollup.live_stats.min_response_time IS 'Exact minimum response time in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.max_response_time IS 'Exact maximum response time in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.avg_response_time IS 'Mean response time in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p50_response_time IS 'Median (percentile_disc rank) within 2% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p95_response_time IS '95th percentile (percentile_disc rank) within 2% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p99_response_time IS '99th percentile (percentile_disc rank) within 2% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.last_seen IS 'Clock time of the last record() or record_batch() call that counted an event of this entity.';
COMMENT ON COLUMN metrics_rollup.live_stats.use_count IS 'Events counted since the entity entered the live table (all time, not only the window).';

CREATE FUNCTION metrics_rollup.classify(
    kind text DEFAULT NULL,
    hot_fraction double precision DEFAULT NULL)
RETURNS TABLE(kind text, entity_id text, class text, rank integer, last_seen timestamptz, use_count bigint)
AS 'MODULE_PATHNAME', 'live_classify'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classify(text, double precision) IS
  'Hot/cold split of the entities in the live table: ranks them by last_seen desc, then use_count desc, then entity_id asc (byte order), then kind; the first floor(hot_fraction x N) are hot, the rest cold. kind NULL ranks all kinds together; hot_fraction NULL uses metrics_rollup.hot_fraction.';

CREATE FUNCTION metrics_rollup.live_info(
    OUT entities integer,
    OUT max_entities integer,
    OUT evictions bigint,
    OUT slow_calls_logged bigint,
    OUT slow_calls_suppressed bigint,
    OUT shared_memory_bytes bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'live_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.live_info() IS
  'The live table: entities tracked, capacity (max_live_entities), evictions and slow-call LOG lines written and suppressed since server start, and its shared memory size.';
