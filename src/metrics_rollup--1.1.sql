/* metrics_rollup--1.1.sql: objects of the extension, by concern (fresh installs of 1.1). */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION metrics_rollup" to load this file. \quit

-- Versions: metrics_rollup--1.0.sql is frozen (what 1.0 shipped); a fresh
-- install of 1.1 runs this file, an installed 1.0 runs
-- metrics_rollup--1.0--1.1.sql.  Every change goes into both, and
-- test/t/080_upgrade.pl checks that the two give the same objects.
--
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
COMMENT ON COLUMN metrics_rollup.config.name IS 'Setting name, metrics_rollup.*.';
COMMENT ON COLUMN metrics_rollup.config.value IS 'Current value in this session, in the setting''s unit.';
COMMENT ON COLUMN metrics_rollup.config.default_value IS 'Built-in default, in the setting''s unit.';
COMMENT ON COLUMN metrics_rollup.config.unit IS 'Unit of value, default_value, min_val and max_val (kB, ms, s, min, h, ...); NULL when unitless.';
COMMENT ON COLUMN metrics_rollup.config.min_val IS 'Smallest accepted value (numeric settings).';
COMMENT ON COLUMN metrics_rollup.config.max_val IS 'Largest accepted value (numeric settings).';
COMMENT ON COLUMN metrics_rollup.config.allowed_values IS 'Accepted values of an enum setting, comma-separated.';
COMMENT ON COLUMN metrics_rollup.config.requires_restart IS 'True when a change takes effect only after a server restart.';
COMMENT ON COLUMN metrics_rollup.config.description IS 'What the setting does.';

-------------------------------------------------------------------------------
-- Percentile sketch (src/sketch.c)
-------------------------------------------------------------------------------

-- (sketch section)

CREATE TYPE metrics_rollup.sketch;

CREATE FUNCTION metrics_rollup.sketch_in(cstring) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_rollup.sketch_out(metrics_rollup.sketch) RETURNS cstring
    AS 'MODULE_PATHNAME', 'sketch_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_rollup.sketch_recv(internal) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION metrics_rollup.sketch_send(metrics_rollup.sketch) RETURNS bytea
    AS 'MODULE_PATHNAME', 'sketch_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE metrics_rollup.sketch (
    INPUT = metrics_rollup.sketch_in,
    OUTPUT = metrics_rollup.sketch_out,
    RECEIVE = metrics_rollup.sketch_recv,
    SEND = metrics_rollup.sketch_send,
    INTERNALLENGTH = VARIABLE,
    STORAGE = extended
);

COMMENT ON TYPE metrics_rollup.sketch IS
  'Mergeable percentile sketch (DDSketch): every quantile is within the relative accuracy of the true value; exact count, min, max and sum.';
COMMENT ON FUNCTION metrics_rollup.sketch_in(cstring) IS
  'Text input of a sketch: the JSON-like form sketch_out writes, fully validated.';
COMMENT ON FUNCTION metrics_rollup.sketch_out(metrics_rollup.sketch) IS
  'Text output of a sketch: readable JSON-like text that sketch_in reads back byte for byte.';
COMMENT ON FUNCTION metrics_rollup.sketch_recv(internal) IS
  'Binary input of a sketch (the stored encoding), fully validated.';
COMMENT ON FUNCTION metrics_rollup.sketch_send(metrics_rollup.sketch) IS
  'Binary output of a sketch: its stored encoding.';

CREATE FUNCTION metrics_rollup.sketch_to_bytea(metrics_rollup.sketch) RETURNS bytea
    AS 'MODULE_PATHNAME', 'sketch_to_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_to_bytea(metrics_rollup.sketch) IS
  'The binary encoding of a sketch (what sketch_send sends).';
CREATE FUNCTION metrics_rollup.sketch_from_bytea(bytea) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_from_bytea' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_from_bytea(bytea) IS
  'A sketch from its binary encoding, validated like sketch_recv.';

-- sketch_agg: dense internal state, serialised only between parallel workers
CREATE FUNCTION metrics_rollup.sketch_agg_trans(internal, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'sketch_agg_trans' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_trans(internal, double precision) IS
  'Transition function of sketch_agg(value): relative accuracy from metrics_rollup.sketch_relative_accuracy, read at the first row of a group.';
CREATE FUNCTION metrics_rollup.sketch_agg_trans(internal, double precision, double precision) RETURNS internal
    AS 'MODULE_PATHNAME', 'sketch_agg_trans_alpha' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_trans(internal, double precision, double precision) IS
  'Transition function of sketch_agg(value, relative_accuracy).';
CREATE FUNCTION metrics_rollup.sketch_agg_final(internal) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_agg_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_final(internal) IS
  'Final function of sketch_agg: the canonical stored sketch, NULL when no value was seen.';
CREATE FUNCTION metrics_rollup.sketch_agg_combine(internal, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'sketch_agg_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_combine(internal, internal) IS
  'Combine function of sketch_agg: merges partial states of parallel workers.';
CREATE FUNCTION metrics_rollup.sketch_agg_serial(internal) RETURNS bytea
    AS 'MODULE_PATHNAME', 'sketch_agg_serial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_serial(internal) IS
  'Serial function of sketch_agg: a partial state as its stored encoding.';
CREATE FUNCTION metrics_rollup.sketch_agg_deserial(bytea, internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'sketch_agg_deserial' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_deserial(bytea, internal) IS
  'Deserial function of sketch_agg: a partial state from its stored encoding.';

CREATE AGGREGATE metrics_rollup.sketch_agg(double precision) (
    SFUNC = metrics_rollup.sketch_agg_trans,
    STYPE = internal,
    SSPACE = 4096,
    FINALFUNC = metrics_rollup.sketch_agg_final,
    COMBINEFUNC = metrics_rollup.sketch_agg_combine,
    SERIALFUNC = metrics_rollup.sketch_agg_serial,
    DESERIALFUNC = metrics_rollup.sketch_agg_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.sketch_agg(double precision) IS
  'Percentile sketch of the non-NULL values (finite, 0..1e15), relative accuracy from metrics_rollup.sketch_relative_accuracy; NULL over no values.';

CREATE AGGREGATE metrics_rollup.sketch_agg(double precision, relative_accuracy double precision) (
    SFUNC = metrics_rollup.sketch_agg_trans,
    STYPE = internal,
    SSPACE = 4096,
    FINALFUNC = metrics_rollup.sketch_agg_final,
    COMBINEFUNC = metrics_rollup.sketch_agg_combine,
    SERIALFUNC = metrics_rollup.sketch_agg_serial,
    DESERIALFUNC = metrics_rollup.sketch_agg_deserial,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.sketch_agg(double precision, double precision) IS
  'Percentile sketch of the non-NULL values with the given relative accuracy (0.0001..0.1); NULL over no values.';

CREATE FUNCTION metrics_rollup.sketch_combine(metrics_rollup.sketch, metrics_rollup.sketch) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_combine(metrics_rollup.sketch, metrics_rollup.sketch) IS
  'Merge of two sketches of the same relative accuracy (NULL + s = s); order-independent and byte-identical to one sketch over all values.';

CREATE AGGREGATE metrics_rollup.sketch_merge(metrics_rollup.sketch) (
    SFUNC = metrics_rollup.sketch_combine,
    STYPE = metrics_rollup.sketch,
    COMBINEFUNC = metrics_rollup.sketch_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.sketch_merge(metrics_rollup.sketch) IS
  'Merge of the non-NULL sketches (same relative accuracy): identical to sketch_agg over all their values.';

CREATE FUNCTION metrics_rollup.sketch_quantile(metrics_rollup.sketch, double precision) RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_quantile' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_quantile(metrics_rollup.sketch, double precision) IS
  'Value at quantile q in [0, 1] (rank rule of percentile_disc), within the relative accuracy; q = 0 and 1 give the exact min and max.';
CREATE FUNCTION metrics_rollup.sketch_quantiles(metrics_rollup.sketch, double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'sketch_quantiles' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_quantiles(metrics_rollup.sketch, double precision[]) IS
  'sketch_quantile for each element of the array (NULL elements give NULL).';
CREATE FUNCTION metrics_rollup.sketch_count(metrics_rollup.sketch) RETURNS bigint
    AS 'MODULE_PATHNAME', 'sketch_count' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_count(metrics_rollup.sketch) IS
  'Exact number of values in the sketch.';
CREATE FUNCTION metrics_rollup.sketch_sum(metrics_rollup.sketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_sum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_sum(metrics_rollup.sketch) IS
  'Sum of the values: exact in units of 2^-64 inside the sketch, rounded to double precision here.';
CREATE FUNCTION metrics_rollup.sketch_min(metrics_rollup.sketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_min' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_min(metrics_rollup.sketch) IS
  'Exact smallest value in the sketch.';
CREATE FUNCTION metrics_rollup.sketch_max(metrics_rollup.sketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_max' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_max(metrics_rollup.sketch) IS
  'Exact largest value in the sketch.';
CREATE FUNCTION metrics_rollup.sketch_relative_accuracy(metrics_rollup.sketch) RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_relative_accuracy' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_relative_accuracy(metrics_rollup.sketch) IS
  'Relative accuracy (alpha) the sketch was built with.';

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

-- How the rollup keeps "every event counted in its hour exactly once":
--   * every INSERT/COPY into raw_metrics marks the (kind, entity_id, hour) of
--     its rows dirty (rollup_mark_inserted), every UPDATE marks the old and new
--     groups (rollup_mark_updated);
--   * every DELETE from raw_metrics moves the deleted events into the hourly
--     row's "archived" summary in the same transaction (rollup_archive_deleted),
--     so an event is always in exactly one place: raw_metrics or "archived";
--   * rolling up a dirty group writes archived (+) all of its raw rows and
--     removes the dirty mark in the same transaction (src/rollup.c).

-- What rollup_agg() computes over a set of events (and what "archived" keeps).
CREATE TYPE metrics_rollup.rollup_stats AS (
    total_count   bigint,
    success_count bigint,
    min_value     double precision,
    max_value     double precision,
    sum_value     numeric,
    p50           double precision,
    p95           double precision,
    p99           double precision,
    entity_name   text,
    name_at       timestamptz,
    last_at       timestamptz,
    percentiles_exact boolean,
    sketch        metrics_rollup.sketch
);
COMMENT ON TYPE metrics_rollup.rollup_stats IS
  'Summary of a set of events: counts, min, max, exact sum (1 ns resolution), percentiles (exact percentile_cont for one set, from the sketch after a merge), latest non-NULL name and when it was seen, latest event time, whether the percentiles are exact, sketch (relative accuracy metrics_rollup.sketch_relative_accuracy).';
COMMENT ON COLUMN metrics_rollup.rollup_stats.total_count IS 'Events in the set.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.success_count IS 'Successful events in the set.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.min_value IS 'Smallest response time (s), exact.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.max_value IS 'Largest response time (s), exact.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.sum_value IS 'Exact sum of the response times (s), each rounded to 1 ns.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.p50 IS 'Median response time (s).';
COMMENT ON COLUMN metrics_rollup.rollup_stats.p95 IS '95th percentile response time (s).';
COMMENT ON COLUMN metrics_rollup.rollup_stats.p99 IS '99th percentile response time (s).';
COMMENT ON COLUMN metrics_rollup.rollup_stats.entity_name IS 'Latest non-NULL entity name in the set.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.name_at IS 'recorded_at of the event that carried entity_name.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.last_at IS 'recorded_at of the latest event in the set.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.percentiles_exact IS 'True when p50/p95/p99 are exact (percentile_cont over one set), false when they come from a merged sketch.';
COMMENT ON COLUMN metrics_rollup.rollup_stats.sketch IS 'Quantile sketch of the set''s response times.';

CREATE FUNCTION metrics_rollup.rollup_agg_trans(internal, double precision, boolean, timestamptz, text)
RETURNS internal AS 'MODULE_PATHNAME', 'rollup_agg_trans' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.rollup_agg_trans(internal, double precision, boolean, timestamptz, text) IS
  'Transition function of rollup_agg: collects one event.';

CREATE FUNCTION metrics_rollup.rollup_agg_final(internal, double precision, boolean, timestamptz, text)
RETURNS metrics_rollup.rollup_stats AS 'MODULE_PATHNAME', 'rollup_agg_final' LANGUAGE C PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.rollup_agg_final(internal, double precision, boolean, timestamptz, text) IS
  'Final function of rollup_agg: sorts the values once and summarises them.';

CREATE AGGREGATE metrics_rollup.rollup_agg(response_time double precision, success boolean,
                                           recorded_at timestamptz, entity_name text) (
    SFUNC = metrics_rollup.rollup_agg_trans,
    STYPE = internal,
    FINALFUNC = metrics_rollup.rollup_agg_final,
    FINALFUNC_EXTRA,
    FINALFUNC_MODIFY = READ_WRITE
);
COMMENT ON AGGREGATE metrics_rollup.rollup_agg(double precision, boolean, timestamptz, text) IS
  'One pass over a group of events: count, successes, min, max, exact sum, percentile_cont p50/p95/p99, latest name. Rows with a NULL response_time are skipped; no rows give NULL.';

CREATE FUNCTION metrics_rollup.rollup_stats_merge(a metrics_rollup.rollup_stats, b metrics_rollup.rollup_stats)
RETURNS metrics_rollup.rollup_stats AS 'MODULE_PATHNAME', 'rollup_stats_merge' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.rollup_stats_merge(metrics_rollup.rollup_stats, metrics_rollup.rollup_stats) IS
  'Summary of the union of two disjoint sets of events; percentiles come from the merged sketch. NULL is the empty set.';

CREATE TABLE metrics_rollup.hourly_metrics (
    kind              text             NOT NULL,
    entity_id         text             NOT NULL,
    entity_name       text,
    hour_start        timestamptz      NOT NULL,
    total_count       bigint           NOT NULL,
    success_count     bigint           NOT NULL,
    failure_count     bigint           NOT NULL,
    min_response_time double precision NOT NULL,
    max_response_time double precision NOT NULL,
    avg_response_time double precision NOT NULL,
    p50_response_time double precision,
    p95_response_time double precision,
    p99_response_time double precision,
    sketch            metrics_rollup.sketch,
    created_at        timestamptz      NOT NULL DEFAULT now(),
    updated_at        timestamptz      NOT NULL DEFAULT now(),
    sum_response_time numeric          NOT NULL,
    last_recorded_at  timestamptz      NOT NULL,
    percentiles_exact boolean          NOT NULL,
    archived          metrics_rollup.rollup_stats,
    raw_complete      boolean          GENERATED ALWAYS AS ((archived).total_count IS NULL) STORED,
    PRIMARY KEY (kind, entity_id, hour_start),
    CHECK (total_count = success_count + failure_count)
);
CREATE INDEX hourly_metrics_hour_idx ON metrics_rollup.hourly_metrics (hour_start);

COMMENT ON TABLE metrics_rollup.hourly_metrics IS
  'One row per (kind, entity_id, UTC hour): every event of the hour counted exactly once, whether its raw row still exists or not. Written by run_rollup() and by deletions from raw_metrics.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.entity_id IS 'Which one was called.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.entity_name IS 'Latest non-NULL name seen among the hour''s events (by recorded_at).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.hour_start IS 'Start of the half-open UTC hour: date_trunc(''hour'', recorded_at, ''UTC'').';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.total_count IS 'Events in the hour.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.success_count IS 'Successful events in the hour.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.failure_count IS 'Failed events in the hour.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.min_response_time IS 'Smallest response time (s), exact.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.max_response_time IS 'Largest response time (s), exact.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.avg_response_time IS 'sum_response_time / total_count (s).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.p50_response_time IS 'Median response time (s): exact (percentile_cont) when percentiles_exact, else from the sketch.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.p95_response_time IS '95th percentile (s): exact (percentile_cont) when percentiles_exact, else from the sketch.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.p99_response_time IS '99th percentile (s): exact (percentile_cont) when percentiles_exact, else from the sketch.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.sketch IS 'Mergeable quantile sketch of every event of the hour (sketch_merge over hours gives percentiles of longer spans).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.created_at IS 'When the row was first written.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.updated_at IS 'When the row last changed (unchanged hours are not rewritten).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.sum_response_time IS 'Exact sum of the response times, each rounded to 1 ns (values above 9e9 s are summed as double precision).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.last_recorded_at IS 'recorded_at of the hour''s latest event.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.percentiles_exact IS 'True when p50/p95/p99 were computed exactly from every event of the hour.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.archived IS 'Summary of the hour''s events whose raw rows were deleted (NULL: none). An event is in raw_metrics or here, never both.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.raw_complete IS 'True when no raw row of the hour was ever deleted (archived is NULL).';

-- The rollup reads whole hours of raw rows by time (src/rollup.c); a BRIN
-- index costs ingest almost nothing on time-ordered rows.
CREATE INDEX raw_metrics_recorded_at_brin ON metrics_rollup.raw_metrics USING brin (recorded_at);
COMMENT ON INDEX metrics_rollup.raw_metrics_recorded_at_brin IS
  'Lets run_rollup() read one UTC hour of raw rows without a full scan.';

CREATE TABLE metrics_rollup.rollup_dirty (
    kind       text        NOT NULL,
    entity_id  text        NOT NULL,
    hour_start timestamptz NOT NULL,
    force      boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (kind, entity_id, hour_start)
);
CREATE INDEX rollup_dirty_hour_idx ON metrics_rollup.rollup_dirty (hour_start);
COMMENT ON TABLE metrics_rollup.rollup_dirty IS
  'Groups (kind, entity_id, UTC hour) whose hourly row must be (re)computed. Removed only by the transaction that rolls the group up.';
COMMENT ON COLUMN metrics_rollup.rollup_dirty.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.rollup_dirty.entity_id IS 'Which one was called.';
COMMENT ON COLUMN metrics_rollup.rollup_dirty.hour_start IS 'The UTC hour to roll up.';
COMMENT ON COLUMN metrics_rollup.rollup_dirty.force IS 'Rewrite the hourly row even when its event count did not change (raw rows updated, or run_rollup(since)).';

-- Marks the groups of inserted rows.  DO UPDATE ... WHERE false locks an
-- existing mark without writing it: a rollup deleting that mark then waits for
-- this transaction, so it cannot miss these rows (see src/rollup.c).
CREATE FUNCTION metrics_rollup.rollup_mark_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metrics_rollup.rollup_dirty AS d (kind, entity_id, hour_start)
    SELECT DISTINCT n.kind, n.entity_id, pg_catalog.date_trunc('hour', n.recorded_at, 'UTC')
      FROM new_rows n
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET force = d.force WHERE false;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_mark_inserted() IS
  'Statement trigger on raw_metrics: marks the (kind, entity_id, hour) of the inserted rows dirty.';

CREATE TRIGGER rollup_mark_inserted
    AFTER INSERT ON metrics_rollup.raw_metrics
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.rollup_mark_inserted();

CREATE FUNCTION metrics_rollup.rollup_mark_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO metrics_rollup.rollup_dirty AS d (kind, entity_id, hour_start, force)
    SELECT kind, entity_id, pg_catalog.date_trunc('hour', recorded_at, 'UTC'), true FROM old_rows
    UNION
    SELECT kind, entity_id, pg_catalog.date_trunc('hour', recorded_at, 'UTC'), true FROM new_rows
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET force = true;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_mark_updated() IS
  'Statement trigger on raw_metrics: an UPDATE marks the groups of the old and the new rows for a forced rewrite.';

CREATE TRIGGER rollup_mark_updated
    AFTER UPDATE ON metrics_rollup.raw_metrics
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.rollup_mark_updated();

-- Deleted events move into hourly_metrics.archived in the deleting
-- transaction.  A group with no hourly row yet gets one counting exactly the
-- deleted events; an existing row keeps its figures until the next rollup
-- recomputes them as archived (+) remaining raw rows.  The one exception is
-- cleanup's own fast archive (src/cleanup_archive.c): its statement has
-- already set archived of every group it emptied, and only its own triggers
-- see cleanup_archive_suppressed() true.
CREATE FUNCTION metrics_rollup.rollup_archive_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF metrics_rollup.cleanup_archive_suppressed() THEN
        RETURN NULL;
    END IF;
    INSERT INTO metrics_rollup.hourly_metrics AS h
           (kind, entity_id, entity_name, hour_start, total_count, success_count, failure_count,
            min_response_time, max_response_time, avg_response_time,
            p50_response_time, p95_response_time, p99_response_time,
            sketch, sum_response_time, last_recorded_at, percentiles_exact, archived)
    SELECT o.kind, o.entity_id, (o.s).entity_name, o.hour_start, (o.s).total_count, (o.s).success_count,
           (o.s).total_count - (o.s).success_count, (o.s).min_value, (o.s).max_value,
           ((o.s).sum_value / (o.s).total_count)::double precision,
           (o.s).p50, (o.s).p95, (o.s).p99,
           (o.s).sketch, (o.s).sum_value, (o.s).last_at, (o.s).percentiles_exact, o.s
      FROM (SELECT r.kind, r.entity_id, pg_catalog.date_trunc('hour', r.recorded_at, 'UTC') AS hour_start,
                   metrics_rollup.rollup_agg(r.response_time, r.success, r.recorded_at, r.entity_name) AS s
              FROM old_rows r
             GROUP BY 1, 2, 3) o
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE
       SET archived = metrics_rollup.rollup_stats_merge(h.archived, excluded.archived),
           updated_at = pg_catalog.now();

    INSERT INTO metrics_rollup.rollup_dirty AS d (kind, entity_id, hour_start)
    SELECT DISTINCT o.kind, o.entity_id, pg_catalog.date_trunc('hour', o.recorded_at, 'UTC')
      FROM old_rows o
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET force = d.force WHERE false;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_archive_deleted() IS
  'Statement trigger on raw_metrics: deleted events are added to their hourly row''s archived summary (created if missing) and the group is marked dirty; skipped only inside run_cleanup()''s fast archive, which has set archived itself.';

CREATE TRIGGER rollup_archive_deleted
    AFTER DELETE ON metrics_rollup.raw_metrics
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.rollup_archive_deleted();

CREATE FUNCTION metrics_rollup.run_rollup(since timestamptz DEFAULT NULL)
RETURNS TABLE(hours_processed integer, raw_rows_read bigint, rollup_rows_written bigint, duration interval)
AS 'MODULE_PATHNAME', 'rollup_run_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.run_rollup(timestamptz) IS
  'Rolls up every dirty (kind, entity_id, hour), oldest hour first, in the caller''s transaction (atomic); since forces a rewrite of every group from that UTC hour on. One runner at a time: a second caller waits. Requires READ COMMITTED.';

CREATE FUNCTION metrics_rollup.run_rollup_background() RETURNS integer
AS 'MODULE_PATHNAME', 'rollup_run_background' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.run_rollup_background() IS
  'Starts a background worker that rolls up every dirty hour as the metrics_rollup worker does (one transaction per hour, so a failure keeps the hours before it); returns its pid. Needs the library in shared_preload_libraries and a free max_worker_processes slot.';

-------------------------------------------------------------------------------
-- Cleanup and retention: run_cleanup() (src/cleanup.c)
-------------------------------------------------------------------------------

CREATE FUNCTION metrics_rollup.run_cleanup()
RETURNS TABLE(relation text, rows_deleted bigint, duration interval)
AS 'MODULE_PATHNAME', 'cleanup_run_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.run_cleanup() IS
  'Deletes expired rows: raw rows older than retention_days, raw rows of rolled-up hours past delete_raw_after_rollup_hours and the late-data window, hourly rows older than rollup_retention_days. Batches of cleanup_batch_size rows; in the caller''s transaction (the worker commits per batch). Deleted raw events stay counted in their hourly row.';

CREATE FUNCTION metrics_rollup.cleanup_archive_suppressed() RETURNS boolean
AS 'MODULE_PATHNAME', 'cleanup_archive_suppressed_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.cleanup_archive_suppressed() IS
  'True only inside the triggers of run_cleanup()''s fast archive statement (a backend-local flag that only the C code of cleanup sets): rollup_archive_deleted then skips its aggregation, the statement having set archived itself. No setting or function can turn it on.';

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

-- Reliability: job history, dead letters, job state in stats
-- (src/jobstate.c, src/history.c, src/flush.c)
-------------------------------------------------------------------------------

-- (reliability section)

CREATE TABLE metrics_rollup.job_runs (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job            text        NOT NULL CHECK (job IN ('flush', 'rollup', 'cleanup')),
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz NOT NULL,
    status         text        NOT NULL CHECK (status IN ('ok', 'failed', 'gave_up', 'skipped')),
    attempt        integer     NOT NULL,
    rows           bigint      NOT NULL,
    error_sqlstate text,
    error_message  text
);
CREATE INDEX job_runs_job_id_idx ON metrics_rollup.job_runs (job, id);
COMMENT ON TABLE metrics_rollup.job_runs IS
  'One row per try of a worker job (idle flushes are not recorded), written by the worker in its own transaction; the newest 1000 rows of each job are kept. Read it through the job_history view.';
COMMENT ON COLUMN metrics_rollup.job_runs.id IS 'Order of writing.';
COMMENT ON COLUMN metrics_rollup.job_runs.job IS 'flush, rollup or cleanup.';
COMMENT ON COLUMN metrics_rollup.job_runs.started_at IS 'When the try started.';
COMMENT ON COLUMN metrics_rollup.job_runs.finished_at IS 'When the try ended.';
COMMENT ON COLUMN metrics_rollup.job_runs.status IS 'ok; failed (retried after a backoff); gave_up (failed and max_retries exhausted: the run waits for the next scheduled time); skipped (the circuit was open at the scheduled time).';
COMMENT ON COLUMN metrics_rollup.job_runs.attempt IS 'Try number within the run: 1 is the scheduled try, 2 the first retry, ...';
COMMENT ON COLUMN metrics_rollup.job_runs.rows IS 'Events flushed, hourly rows written, or rows deleted by the try (committed work only).';
COMMENT ON COLUMN metrics_rollup.job_runs.error_sqlstate IS 'SQLSTATE of the failure; NULL on success.';
COMMENT ON COLUMN metrics_rollup.job_runs.error_message IS 'Error message of the failure; NULL on success.';

CREATE VIEW metrics_rollup.job_history AS
SELECT r.job, r.started_at, r.finished_at, r.finished_at - r.started_at AS duration,
       r.status, r.attempt, r.rows, r.error_sqlstate, r.error_message
  FROM metrics_rollup.job_runs r
 ORDER BY r.id DESC;
COMMENT ON VIEW metrics_rollup.job_history IS
  'The last runs of the flush, rollup and cleanup jobs, newest first (bounded: 1000 per job), with status and error.';
COMMENT ON COLUMN metrics_rollup.job_history.job IS 'flush, rollup or cleanup.';
COMMENT ON COLUMN metrics_rollup.job_history.started_at IS 'When the try started.';
COMMENT ON COLUMN metrics_rollup.job_history.finished_at IS 'When the try ended.';
COMMENT ON COLUMN metrics_rollup.job_history.duration IS 'finished_at - started_at.';
COMMENT ON COLUMN metrics_rollup.job_history.status IS 'ok, failed, gave_up or skipped (see job_runs.status).';
COMMENT ON COLUMN metrics_rollup.job_history.attempt IS 'Try number within the run: 1 is the scheduled try, 2 the first retry, ...';
COMMENT ON COLUMN metrics_rollup.job_history.rows IS 'Events flushed, hourly rows written, or rows deleted.';
COMMENT ON COLUMN metrics_rollup.job_history.error_sqlstate IS 'SQLSTATE of the failure; NULL on success.';
COMMENT ON COLUMN metrics_rollup.job_history.error_message IS 'Error message of the failure; NULL on success.';

-- No constraints: a dead letter must never be refused.
CREATE TABLE metrics_rollup.rejected_events (
    kind            text,
    entity_id       text,
    entity_name     text,
    recorded_at     timestamptz,
    response_time   double precision,
    success         boolean,
    error_message   text,
    reject_sqlstate text,
    reject_message  text,
    rejected_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE metrics_rollup.rejected_events IS
  'Dead letters: buffered events that raw_metrics refused with a data error (a CHECK constraint or trigger added by a user), isolated by the flush job so the other events of their batch landed. Re-insert them into raw_metrics once fixed.';
COMMENT ON COLUMN metrics_rollup.rejected_events.kind IS 'The event''s kind.';
COMMENT ON COLUMN metrics_rollup.rejected_events.entity_id IS 'The event''s entity_id.';
COMMENT ON COLUMN metrics_rollup.rejected_events.entity_name IS 'The event''s entity_name.';
COMMENT ON COLUMN metrics_rollup.rejected_events.recorded_at IS 'The event''s recorded_at.';
COMMENT ON COLUMN metrics_rollup.rejected_events.response_time IS 'The event''s response_time (s).';
COMMENT ON COLUMN metrics_rollup.rejected_events.success IS 'The event''s success.';
COMMENT ON COLUMN metrics_rollup.rejected_events.error_message IS 'The event''s own error_message (of the measured call).';
COMMENT ON COLUMN metrics_rollup.rejected_events.reject_sqlstate IS 'SQLSTATE with which raw_metrics refused the event (class 22, 23 or P0001).';
COMMENT ON COLUMN metrics_rollup.rejected_events.reject_message IS 'Error message with which raw_metrics refused the event.';
COMMENT ON COLUMN metrics_rollup.rejected_events.rejected_at IS 'When the flush dead-lettered the event (its transaction start).';

CREATE FUNCTION metrics_rollup.job_stats(
    OUT flush_circuit text,
    OUT flush_consecutive_failures integer,
    OUT flush_next_try_at timestamptz,
    OUT flush_next_run_at timestamptz,
    OUT flush_last_start timestamptz,
    OUT flush_last_duration interval,
    OUT flush_last_rows bigint,
    OUT flush_last_status text,
    OUT flush_last_error text,
    OUT flush_runs bigint,
    OUT flush_failures bigint,
    OUT rollup_circuit text,
    OUT rollup_consecutive_failures integer,
    OUT rollup_next_try_at timestamptz,
    OUT rollup_next_run_at timestamptz,
    OUT rollup_last_start timestamptz,
    OUT rollup_last_duration interval,
    OUT rollup_last_rows bigint,
    OUT rollup_last_status text,
    OUT rollup_last_error text,
    OUT rollup_runs bigint,
    OUT rollup_failures bigint,
    OUT cleanup_circuit text,
    OUT cleanup_consecutive_failures integer,
    OUT cleanup_next_try_at timestamptz,
    OUT cleanup_next_run_at timestamptz,
    OUT cleanup_last_start timestamptz,
    OUT cleanup_last_duration interval,
    OUT cleanup_last_rows bigint,
    OUT cleanup_last_status text,
    OUT cleanup_last_error text,
    OUT cleanup_runs bigint,
    OUT cleanup_failures bigint,
    OUT events_dead_lettered bigint,
    OUT worker_starts bigint,
    OUT worker_last_exit text)
RETURNS record
AS 'MODULE_PATHNAME', 'jobstate_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.job_stats() IS
  'State of the worker jobs from shared memory: per job circuit, consecutive failures, next try and run, last try (start, duration, rows, status, error), tries and failures; dead-lettered events; worker starts and last exit. The stats view shows them.';

-- The stats view of the ingest section, with the job columns appended.
CREATE OR REPLACE VIEW metrics_rollup.stats AS
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
       i.worker_pid,
       CASE WHEN 'open' IN (j.flush_circuit, j.rollup_circuit, j.cleanup_circuit) THEN 'open'
            WHEN 'half_open' IN (j.flush_circuit, j.rollup_circuit, j.cleanup_circuit) THEN 'half_open'
            ELSE 'closed' END AS circuit_state,
       greatest(j.flush_consecutive_failures, j.rollup_consecutive_failures, j.cleanup_consecutive_failures) AS consecutive_failures,
       least(j.flush_next_try_at, j.rollup_next_try_at, j.cleanup_next_try_at) AS next_retry_at,
       j.flush_circuit,
       j.flush_consecutive_failures,
       j.flush_next_try_at AS flush_next_retry_at,
       j.flush_last_status,
       j.flush_runs,
       j.flush_failures AS flush_failed_runs,
       j.rollup_circuit,
       j.rollup_consecutive_failures,
       j.rollup_next_try_at AS rollup_next_retry_at,
       j.rollup_next_run_at,
       j.rollup_last_start,
       j.rollup_last_duration,
       j.rollup_last_rows,
       j.rollup_last_status,
       j.rollup_last_error,
       j.rollup_runs,
       j.rollup_failures AS rollup_failed_runs,
       j.cleanup_circuit,
       j.cleanup_consecutive_failures,
       j.cleanup_next_try_at AS cleanup_next_retry_at,
       j.cleanup_next_run_at,
       j.cleanup_last_start,
       j.cleanup_last_duration,
       j.cleanup_last_rows,
       j.cleanup_last_status,
       j.cleanup_last_error,
       j.cleanup_runs,
       j.cleanup_failures AS cleanup_failed_runs,
       j.events_dead_lettered,
       (SELECT count(DISTINCT d.hour_start) FROM metrics_rollup.rollup_dirty d) AS backfill_hours_pending,
       j.worker_starts,
       j.worker_last_exit,
       l.entities AS live_entities,
       l.evictions AS live_evictions
  FROM metrics_rollup.ingest_stats() i,
       metrics_rollup.job_stats() j,
       metrics_rollup.live_info() l;

COMMENT ON VIEW metrics_rollup.stats IS
  'One row: ingest buffer capacity and use, event counters, last flush, circuit, retry and last-run state of the flush, rollup and cleanup jobs, dead letters, backfill pending, worker pid, starts and last exit (counters since server start).';
COMMENT ON COLUMN metrics_rollup.stats.circuit_state IS 'Worst circuit of the three jobs: open if any is open, else half_open if any is trying, else closed.';
COMMENT ON COLUMN metrics_rollup.stats.consecutive_failures IS 'Largest number of consecutive failed tries among the jobs (0 when every job last succeeded).';
COMMENT ON COLUMN metrics_rollup.stats.next_retry_at IS 'Earliest time a failed or circuit-broken job is tried again; NULL when no job waits for a retry.';
COMMENT ON COLUMN metrics_rollup.stats.flush_circuit IS 'Circuit breaker of the flush job: closed, open (no try until flush_next_retry_at) or half_open (one try running).';
COMMENT ON COLUMN metrics_rollup.stats.flush_consecutive_failures IS 'Failed flush tries since the last successful one.';
COMMENT ON COLUMN metrics_rollup.stats.flush_next_retry_at IS 'When the failed flush is tried again (backoff or circuit reset); NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.stats.flush_last_status IS 'Outcome of the last flush try: ok or failed (the flush job never gives up).';
COMMENT ON COLUMN metrics_rollup.stats.flush_runs IS 'Flush tries since server start (idle ones included).';
COMMENT ON COLUMN metrics_rollup.stats.flush_failed_runs IS 'Failed flush tries since server start.';
COMMENT ON COLUMN metrics_rollup.stats.events_dead_lettered IS 'Buffered events raw_metrics refused with a data error, moved to rejected_events instead (since server start).';
COMMENT ON COLUMN metrics_rollup.stats.backfill_hours_pending IS 'Distinct UTC hours with groups waiting to be rolled up (rollup_dirty).';
COMMENT ON COLUMN metrics_rollup.stats.worker_starts IS 'Times the background worker started since server start; more than 1 means it restarted.';
COMMENT ON COLUMN metrics_rollup.stats.worker_last_exit IS 'Why the previous worker process ended (exit code, shutdown, or died without cleanup); NULL if none ended yet.';
COMMENT ON COLUMN metrics_rollup.stats.live_entities IS 'Entities tracked by live_stats in shared memory.';
COMMENT ON COLUMN metrics_rollup.stats.live_evictions IS 'Entities evicted from live_stats (least recently seen) because max_live_entities were tracked.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_circuit IS 'Circuit breaker of the rollup job: closed, open or half_open.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_consecutive_failures IS 'Failed rollup tries since the last successful one.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_next_retry_at IS 'When the failed rollup run is tried again (backoff or circuit reset); NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_next_run_at IS 'Next scheduled rollup run (a multiple of metrics_rollup.rollup_interval since the Unix epoch).';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_start IS 'When the last rollup try started.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_duration IS 'How long the last rollup try took.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_rows IS 'Hourly rows the last rollup try wrote.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_status IS 'Outcome of the last rollup try: ok, failed, gave_up or skipped.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_error IS 'Error of the last rollup try; NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_runs IS 'Rollup tries since server start.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_failed_runs IS 'Failed rollup tries since server start.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_circuit IS 'Circuit breaker of the cleanup job: closed, open or half_open.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_consecutive_failures IS 'Failed cleanup tries since the last successful one.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_next_retry_at IS 'When the failed cleanup run is tried again (backoff or circuit reset); NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_next_run_at IS 'Next scheduled cleanup run (a multiple of metrics_rollup.cleanup_interval since the Unix epoch).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_start IS 'When the last cleanup try started.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_duration IS 'How long the last cleanup try took.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_rows IS 'Rows the last cleanup try deleted (raw and hourly).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_status IS 'Outcome of the last cleanup try: ok, failed, gave_up or skipped.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_error IS 'Error of the last cleanup try; NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_runs IS 'Cleanup tries since server start.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_failed_runs IS 'Failed cleanup tries since server start.';

-------------------------------------------------------------------------------
-- Daily level: daily_metrics and its bookkeeping (src/daily.c)
-------------------------------------------------------------------------------

-- (daily section)

-- A year of one entity is 8760 hourly rows but 365 daily ones: aggregate()
-- reads whole UTC days of a range from daily_metrics when the day is
-- "covered", and everything else (range edges, days not built, days with
-- dirty hours) through query_pieces() as before.  The rule that keeps it
-- exact:
--   * daily_metrics holds, per (kind, entity_id, UTC day), the merge of the
--     day's hourly rows' own figures, written by the builder (src/daily.c)
--     for a whole (kind, day) at a time, and only for a day with no
--     rollup_dirty mark of the kind inside it and no hourly "hole" (below):
--     then every hourly row equals archived (+) raw of its hour, so the
--     daily row equals what query_pieces() counts for the day;
--   * daily_built says that (kind, day) is built: every entity with an event
--     that day has its daily row (an all-entities query needs that);
--   * any change of an hourly row's figures (INSERT, DELETE, TRUNCATE,
--     UPDATE of what the daily row is made of) deletes the day's marker and
--     queues the (kind, day) in daily_queue, in the same transaction, by the
--     triggers below.  The archive trigger of a DELETE on raw_metrics updates
--     only archived/updated_at: it neither changes a daily figure nor fires
--     them (its dirty mark makes the day uncovered until the next rollup,
--     which finds the counts unchanged and rewrites nothing);
--   * at query time a built day counts for an entity (all entities) only if
--     no rollup_dirty mark of the entity (kind) lies inside it: a mark means
--     its hourly row may be behind its raw rows;
--   * the builder holds SHARE on hourly_metrics from its read to its commit,
--     so no writer of hourly rows slips in between.
-- Daily rows of a (kind, day) without a marker are never read; the next
-- build replaces them.

CREATE TABLE metrics_rollup.daily_metrics (
    kind              text             NOT NULL,
    entity_id         text             NOT NULL,
    day_start         timestamptz      NOT NULL,
    entity_name       text,
    name_at           timestamptz,
    total_count       bigint           NOT NULL,
    success_count     bigint           NOT NULL,
    min_response_time double precision NOT NULL,
    max_response_time double precision NOT NULL,
    sum_response_time numeric          NOT NULL,
    sketch            metrics_rollup.sketch,
    last_recorded_at  timestamptz      NOT NULL,
    hours_merged      integer          NOT NULL,
    PRIMARY KEY (kind, entity_id, day_start)
);
CREATE INDEX daily_metrics_kind_day_idx ON metrics_rollup.daily_metrics (kind, day_start);
COMMENT ON INDEX metrics_rollup.daily_metrics_kind_day_idx IS
  'Serves aggregate() over every entity of a kind: the daily rows of the covered days.';
COMMENT ON TABLE metrics_rollup.daily_metrics IS
  'One row per (kind, entity_id, UTC day): the merge of that day''s hourly rows, written by the rollup (src/daily.c); read by aggregate() only for days marked in daily_built.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.entity_id IS 'Which one was called.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.day_start IS 'Start of the UTC day (00:00 UTC); the day is [day_start, day_start + 24 hours).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.entity_name IS 'entity_name of the latest hour of the day that has one.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.name_at IS 'last_recorded_at of that hour (how aggregate() picks the latest name).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.total_count IS 'Events of the day (sum of the hourly total_count).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.success_count IS 'Successful events of the day.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.min_response_time IS 'Smallest response time of the day (s), exact.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.max_response_time IS 'Largest response time of the day (s), exact.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.sum_response_time IS 'Exact sum of the day''s response times (sum of the hourly sum_response_time).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.sketch IS 'Merge of the hourly sketches of the day (byte-identical to merging them at query time).';
COMMENT ON COLUMN metrics_rollup.daily_metrics.last_recorded_at IS 'recorded_at of the day''s latest event.';
COMMENT ON COLUMN metrics_rollup.daily_metrics.hours_merged IS 'Hourly rows merged into this row.';

CREATE TABLE metrics_rollup.daily_built (
    kind           text        NOT NULL,
    day_start      timestamptz NOT NULL,
    entities       integer     NOT NULL,
    hours          integer     NOT NULL,
    built_at       timestamptz NOT NULL DEFAULT now(),
    build_duration interval    NOT NULL,
    PRIMARY KEY (kind, day_start)
);
COMMENT ON TABLE metrics_rollup.daily_built IS
  'One row per (kind, UTC day) whose daily_metrics rows are complete and equal to its hourly rows; deleted by any change of those hourly rows. aggregate() reads only these days from daily_metrics.';
COMMENT ON COLUMN metrics_rollup.daily_built.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_built.day_start IS 'Start of the UTC day.';
COMMENT ON COLUMN metrics_rollup.daily_built.entities IS 'Daily rows the build wrote (entities with events that day).';
COMMENT ON COLUMN metrics_rollup.daily_built.hours IS 'Hourly rows the build merged.';
COMMENT ON COLUMN metrics_rollup.daily_built.built_at IS 'Start of the transaction that built the day.';
COMMENT ON COLUMN metrics_rollup.daily_built.build_duration IS 'How long building the day took.';

CREATE TABLE metrics_rollup.daily_queue (
    kind      text        NOT NULL,
    day_start timestamptz NOT NULL,
    queued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, day_start)
);
COMMENT ON TABLE metrics_rollup.daily_queue IS
  '(kind, UTC day)s whose daily rows must be (re)built: filled by the triggers on hourly_metrics, emptied by the rollup once the day has ended and has no dirty hour and no hole.';
COMMENT ON COLUMN metrics_rollup.daily_queue.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_queue.day_start IS 'Start of the UTC day.';
COMMENT ON COLUMN metrics_rollup.daily_queue.queued_at IS 'When the day was first queued (since its last build).';

-- A "hole": an hour whose hourly row was deleted (rollup retention, a user's
-- DELETE or TRUNCATE) while raw rows of that group and hour remain and no
-- dirty mark says so.  query_pieces() counts such raw rows; daily rows,
-- made of hourly rows only, would not: a day with a hole is not built.  The
-- hole goes when the hour gets an hourly row again (a rollup, or the archive
-- trigger when those raw rows are deleted).
CREATE TABLE metrics_rollup.daily_holes (
    kind       text        NOT NULL,
    hour_start timestamptz NOT NULL,
    entity_id  text        NOT NULL,
    PRIMARY KEY (kind, hour_start, entity_id)
);
COMMENT ON TABLE metrics_rollup.daily_holes IS
  'Hours (kind, UTC hour, entity_id) with raw rows but no hourly row and no dirty mark (their hourly row was deleted): their day is not built from hourly rows while the hole exists.';
COMMENT ON COLUMN metrics_rollup.daily_holes.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.daily_holes.hour_start IS 'The UTC hour.';
COMMENT ON COLUMN metrics_rollup.daily_holes.entity_id IS 'Which one was called.';

-- Inserted hourly rows: their days are out of date; a hole of theirs is filled.
CREATE FUNCTION metrics_rollup.daily_hourly_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built b
     USING (SELECT DISTINCT n.kind, pg_catalog.date_trunc('day', n.hour_start, 'UTC') AS day_start
              FROM new_rows n) c
     WHERE b.kind = c.kind AND b.day_start = c.day_start;
    INSERT INTO metrics_rollup.daily_queue (kind, day_start)
    SELECT DISTINCT n.kind, pg_catalog.date_trunc('day', n.hour_start, 'UTC')
      FROM new_rows n
    ON CONFLICT (kind, day_start) DO NOTHING;
    IF EXISTS (SELECT FROM metrics_rollup.daily_holes) THEN
        DELETE FROM metrics_rollup.daily_holes h
         USING new_rows n
         WHERE h.kind = n.kind AND h.hour_start = n.hour_start AND h.entity_id = n.entity_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_inserted() IS
  'Statement trigger on hourly_metrics: the days of the inserted rows lose their daily_built marker and are queued; holes of those hours are filled.';

CREATE TRIGGER daily_hourly_inserted
    AFTER INSERT ON metrics_rollup.hourly_metrics
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.daily_hourly_inserted();
COMMENT ON TRIGGER daily_hourly_inserted ON metrics_rollup.hourly_metrics IS
  'Invalidates and queues the daily rows of the inserted hours.';

-- Deleted hourly rows: their days are out of date; an hour that keeps raw
-- rows and has no dirty mark becomes a hole.
CREATE FUNCTION metrics_rollup.daily_hourly_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built b
     USING (SELECT DISTINCT o.kind, pg_catalog.date_trunc('day', o.hour_start, 'UTC') AS day_start
              FROM old_rows o) c
     WHERE b.kind = c.kind AND b.day_start = c.day_start;
    INSERT INTO metrics_rollup.daily_queue (kind, day_start)
    SELECT DISTINCT o.kind, pg_catalog.date_trunc('day', o.hour_start, 'UTC')
      FROM old_rows o
    ON CONFLICT (kind, day_start) DO NOTHING;
    INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
    SELECT o.kind, o.hour_start, o.entity_id
      FROM old_rows o
     WHERE EXISTS (SELECT FROM metrics_rollup.raw_metrics r
                    WHERE r.kind = o.kind AND r.entity_id = o.entity_id
                      AND r.recorded_at >= o.hour_start
                      AND r.recorded_at < o.hour_start + interval '1 hour')
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_deleted() IS
  'Statement trigger on hourly_metrics: the days of the deleted rows lose their daily_built marker and are queued; a deleted hour that still has raw rows becomes a hole.';

CREATE TRIGGER daily_hourly_deleted
    AFTER DELETE ON metrics_rollup.hourly_metrics
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.daily_hourly_deleted();
COMMENT ON TRIGGER daily_hourly_deleted ON metrics_rollup.hourly_metrics IS
  'Invalidates and queues the daily rows of the deleted hours; records holes.';

-- XXX: a row trigger, not a statement trigger with transition tables:
-- PostgreSQL refuses transition tables on a trigger with a column list, and
-- the column list is what keeps the archive trigger's UPDATE (archived,
-- updated_at only) from firing it at all.  The WHEN clause skips rewrites
-- that change nothing the daily row is made of (run_rollup(since)).
CREATE FUNCTION metrics_rollup.daily_hourly_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built b
     WHERE (b.kind = OLD.kind AND b.day_start = pg_catalog.date_trunc('day', OLD.hour_start, 'UTC'))
        OR (b.kind = NEW.kind AND b.day_start = pg_catalog.date_trunc('day', NEW.hour_start, 'UTC'));
    INSERT INTO metrics_rollup.daily_queue (kind, day_start)
    VALUES (OLD.kind, pg_catalog.date_trunc('day', OLD.hour_start, 'UTC')),
           (NEW.kind, pg_catalog.date_trunc('day', NEW.hour_start, 'UTC'))
    ON CONFLICT (kind, day_start) DO NOTHING;
    IF (OLD.kind, OLD.entity_id, OLD.hour_start) IS DISTINCT FROM (NEW.kind, NEW.entity_id, NEW.hour_start) THEN
        -- the row moved: its old hour may be left with raw rows only
        INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
        SELECT OLD.kind, OLD.hour_start, OLD.entity_id
         WHERE EXISTS (SELECT FROM metrics_rollup.raw_metrics r
                        WHERE r.kind = OLD.kind AND r.entity_id = OLD.entity_id
                          AND r.recorded_at >= OLD.hour_start
                          AND r.recorded_at < OLD.hour_start + interval '1 hour')
        ON CONFLICT DO NOTHING;
        DELETE FROM metrics_rollup.daily_holes h
         WHERE h.kind = NEW.kind AND h.hour_start = NEW.hour_start AND h.entity_id = NEW.entity_id;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_updated() IS
  'Row trigger on hourly_metrics: an UPDATE of a figure a daily row is made of invalidates and queues the old and new row''s days.';

CREATE TRIGGER daily_hourly_updated
    AFTER UPDATE OF kind, entity_id, hour_start, entity_name, total_count, success_count,
                    min_response_time, max_response_time, sum_response_time, sketch, last_recorded_at
    ON metrics_rollup.hourly_metrics
    FOR EACH ROW
    WHEN ((OLD.kind, OLD.entity_id, OLD.hour_start, OLD.entity_name, OLD.total_count, OLD.success_count,
           OLD.min_response_time, OLD.max_response_time, OLD.sum_response_time, OLD.last_recorded_at,
           metrics_rollup.sketch_to_bytea(OLD.sketch))
          IS DISTINCT FROM
          (NEW.kind, NEW.entity_id, NEW.hour_start, NEW.entity_name, NEW.total_count, NEW.success_count,
           NEW.min_response_time, NEW.max_response_time, NEW.sum_response_time, NEW.last_recorded_at,
           metrics_rollup.sketch_to_bytea(NEW.sketch)))
    EXECUTE FUNCTION metrics_rollup.daily_hourly_updated();
COMMENT ON TRIGGER daily_hourly_updated ON metrics_rollup.hourly_metrics IS
  'Invalidates and queues the days of an hourly row whose daily figures changed (not archived or updated_at).';

-- TRUNCATE: nothing built is left; hours whose raw rows remain are holes.
CREATE FUNCTION metrics_rollup.daily_hourly_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM metrics_rollup.daily_built;
    DELETE FROM metrics_rollup.daily_metrics;
    DELETE FROM metrics_rollup.daily_queue;
    INSERT INTO metrics_rollup.daily_holes (kind, hour_start, entity_id)
    SELECT DISTINCT r.kind, pg_catalog.date_trunc('hour', r.recorded_at, 'UTC'), r.entity_id
      FROM metrics_rollup.raw_metrics r
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_hourly_truncated() IS
  'Statement trigger on hourly_metrics: TRUNCATE empties the daily level; every hour with raw rows becomes a hole.';

CREATE TRIGGER daily_hourly_truncated
    AFTER TRUNCATE ON metrics_rollup.hourly_metrics
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.daily_hourly_truncated();
COMMENT ON TRIGGER daily_hourly_truncated ON metrics_rollup.hourly_metrics IS
  'Empties the daily level when hourly_metrics is truncated.';

-- A restore may load daily_queue after hourly_metrics, whose insert trigger
-- has queued the same days: an existing entry absorbs the restored one.
CREATE FUNCTION metrics_rollup.daily_queue_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM metrics_rollup.daily_queue q
                WHERE q.kind = NEW.kind AND q.day_start = NEW.day_start) THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION metrics_rollup.daily_queue_merge() IS
  'Row trigger on daily_queue for top-level inserts (COPY of a restore): a day already queued absorbs the new entry instead of failing on the primary key.';

CREATE TRIGGER daily_queue_merge
    BEFORE INSERT ON metrics_rollup.daily_queue
    FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() = 0)
    EXECUTE FUNCTION metrics_rollup.daily_queue_merge();
COMMENT ON TRIGGER daily_queue_merge ON metrics_rollup.daily_queue IS
  'Lets a restore load daily_queue after hourly_metrics: queued days absorb restored ones.';


-------------------------------------------------------------------------------
-- Queries over raw rows and hourly rollups: aggregate(), timeseries()
-------------------------------------------------------------------------------

-- (queries section)

-- The coverage rule (each event counted exactly once; see src/rollup.c):
-- an event is either a raw row or in its hourly row's "archived" summary,
-- and an hourly row without a dirty mark equals archived (+) raw rows of its
-- hour.  So, per (kind, entity_id, UTC hour H):
--   * H has an hourly row and no dirty mark: the hourly row;
--   * otherwise: its archived summary (if any) (+) its raw rows, i.e. what
--     run_rollup() would write now.
-- Range edges [lo, hi) that cut through an hour:
--   * an hour whose raw rows are all there (no hourly row, or raw_complete):
--     only its raw rows with lo <= recorded_at < hi count;
--   * an hour with an archived part (some raw rows deleted): the hour counts
--     whole when lo <= H < hi, not at all otherwise (attributed by
--     hour_start, as hourly data must be).
-- Percentiles always come from the merged sketch (rank rule of
-- percentile_disc, within sketch_relative_accuracy), even over raw rows:
-- the answer does not change when cleanup deletes raw rows.

-- Merge of many stored sketches with one dense state (src/query.c):
-- sketch_merge re-encodes its state at every row.
CREATE FUNCTION metrics_rollup.query_sketch_merge_trans(internal, metrics_rollup.sketch) RETURNS internal
    AS 'MODULE_PATHNAME', 'query_sketch_merge_trans' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.query_sketch_merge_trans(internal, metrics_rollup.sketch) IS
  'Transition function of query_sketch_merge: merges one stored sketch into the dense state.';
CREATE FUNCTION metrics_rollup.query_sketch_merge_final(internal) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'query_sketch_merge_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.query_sketch_merge_final(internal) IS
  'Final function of query_sketch_merge: the merged sketch, NULL when no value was seen.';
CREATE AGGREGATE metrics_rollup.query_sketch_merge(metrics_rollup.sketch) (
    SFUNC = metrics_rollup.query_sketch_merge_trans,
    STYPE = internal,
    FINALFUNC = metrics_rollup.query_sketch_merge_final,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.query_sketch_merge(metrics_rollup.sketch) IS
  'Same result as sketch_merge (the non-NULL sketches merged), decoding each input once: for queries over many hourly rows. Not distributable by Citus (internal state).';

-- Pieces of the answer, one per (kind, entity_id, hour, source).  Inlined
-- into its callers: all_entities must be a literal, so that the entity test
-- folds away and the (kind, entity_id, ...) indexes serve one entity.
CREATE FUNCTION metrics_rollup.query_pieces(
    p_kind text, p_entity_id text, p_all_entities boolean,
    p_lo timestamptz, p_hi timestamptz)
RETURNS TABLE(kind text, entity_id text, hour_start timestamptz,
              total_count bigint, success_count bigint,
              min_value double precision, max_value double precision,
              sum_value numeric, sketch metrics_rollup.sketch,
              entity_name text, name_at timestamptz, last_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
-- up-to-date hourly rows of hours that count whole
SELECT h.kind, h.entity_id, h.hour_start, h.total_count, h.success_count,
       h.min_response_time, h.max_response_time, h.sum_response_time, h.sketch,
       h.entity_name, h.last_recorded_at, h.last_recorded_at
  FROM metrics_rollup.hourly_metrics h
 WHERE h.kind = p_kind
   AND (p_all_entities OR h.entity_id = p_entity_id)
   AND h.hour_start >= p_lo AND h.hour_start < p_hi
   AND (h.hour_start + interval '1 hour' <= p_hi
        OR NOT h.raw_complete)
   AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                    WHERE d.kind = h.kind
                      AND d.entity_id = h.entity_id
                      AND d.hour_start = h.hour_start)
UNION ALL
-- archived part of dirty hours that count whole (their raw rows follow)
SELECT h.kind, h.entity_id, h.hour_start, (h.archived).total_count, (h.archived).success_count,
       (h.archived).min_value, (h.archived).max_value, (h.archived).sum_value, (h.archived).sketch,
       (h.archived).entity_name, (h.archived).name_at, (h.archived).last_at
  FROM metrics_rollup.hourly_metrics h
 WHERE h.kind = p_kind
   AND (p_all_entities OR h.entity_id = p_entity_id)
   AND h.hour_start >= p_lo AND h.hour_start < p_hi
   AND NOT h.raw_complete
   AND EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                WHERE d.kind = h.kind
                  AND d.entity_id = h.entity_id
                  AND d.hour_start = h.hour_start)
UNION ALL
-- raw rows of the other hours, summarised per hour (and per side of p_hi)
SELECT r.kind, r.entity_id, r.hour_start, (r.s).total_count, (r.s).success_count,
       (r.s).min_value, (r.s).max_value, (r.s).sum_value, (r.s).sketch,
       (r.s).entity_name, (r.s).name_at, (r.s).last_at
  FROM (SELECT x.kind, x.entity_id,
               pg_catalog.date_trunc('hour', x.recorded_at, 'UTC') AS hour_start,
               x.recorded_at < p_hi AS in_range,
               metrics_rollup.rollup_agg(x.response_time, x.success, x.recorded_at, x.entity_name) AS s
          FROM metrics_rollup.raw_metrics x
         WHERE x.kind = p_kind
           AND (p_all_entities OR x.entity_id = p_entity_id)
           AND x.recorded_at >= p_lo
           -- the hour of p_hi whole: it counts whole if it has an archived part
           AND x.recorded_at <
               CASE WHEN pg_catalog.date_trunc('hour', p_hi, 'UTC') = p_hi THEN p_hi
                    ELSE pg_catalog.date_trunc('hour', p_hi, 'UTC') + interval '1 hour' END
         GROUP BY 1, 2, 3, 4) r
  LEFT JOIN metrics_rollup.hourly_metrics h
         ON h.kind = r.kind
        AND h.entity_id = r.entity_id
        AND h.hour_start = r.hour_start
 WHERE (r.in_range OR h.raw_complete IS FALSE)
   -- an hour with an archived part that starts before p_lo does not count
   AND NOT (h.raw_complete IS FALSE AND r.hour_start < p_lo)
   -- an up-to-date hourly row that counts whole stands for these rows
   AND (h.hour_start IS NULL
        OR r.hour_start < p_lo
        OR (h.raw_complete AND r.hour_start + interval '1 hour' > p_hi)
        OR EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                    WHERE d.kind = h.kind
                      AND d.entity_id = h.entity_id
                      AND d.hour_start = h.hour_start));
END;
COMMENT ON FUNCTION metrics_rollup.query_pieces(text, text, boolean, timestamptz, timestamptz) IS
  'Internal to aggregate() and timeseries(): the summaries that together count every event of [p_lo, p_hi) exactly once (up-to-date hourly rows, archived parts of dirty hours, raw rows of the other hours per hour). p_all_entities must be a literal.';

-- plpgsql cannot have an argument and a result column of the same name
-- (kind, entity_id): aggregate() is a thin SQL wrapper of this one.
-- The whole UTC days of the range that are covered (built in daily_built,
-- and no rollup_dirty mark of the entity, or of the kind for all entities,
-- inside them) come from daily_metrics, one row per entity and day; the
-- rest of [since, until) (a multirange: the edges and the other days) comes
-- from query_pieces(), one call per range.  Every cut is at a whole hour,
-- where query_pieces() is additive: each hour falls in exactly one part.
CREATE FUNCTION metrics_rollup.query_aggregate(
    p_kind text, p_entity_id text, p_since timestamptz, p_until timestamptz)
RETURNS TABLE(r_kind text, r_entity_id text, entity_name text,
              total_count bigint, success_count bigint, failure_count bigint,
              failure_rate double precision,
              min_response_time double precision, max_response_time double precision,
              avg_response_time double precision,
              p50_response_time double precision, p95_response_time double precision,
              p99_response_time double precision,
              last_recorded_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- the plans take the bounds as parameters: planned once per session
SET plan_cache_mode = force_generic_plan
-- the generic plan's cost (query_pieces() over an unknown number of ranges)
-- crosses jit_above_cost: compiling it took ~1 s, running it a few ms
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    p_entity ALIAS FOR p_entity_id;
    p_lo     timestamptz := coalesce(p_since, '-infinity');
    p_hi     timestamptz := coalesce(p_until, 'infinity');
    covered  timestamptz[];     -- days read from daily_metrics, in order
    first_day timestamptz;      -- covered[1]
    last_day timestamptz;       -- the last of covered
    skipped  timestamptz[];     -- days between those two that are not covered
    rest     tstzmultirange;    -- the rest of [p_lo, p_hi), read by query_pieces()
BEGIN
    IF p_kind IS NULL THEN
        RAISE EXCEPTION 'kind must not be NULL'
              USING ERRCODE = 'null_value_not_allowed',
                    HINT = 'Pass the kind of entity to summarise, e.g. ''tool''.';
    END IF;
    -- days are 24 hours in UTC whatever the session's time zone
    IF p_entity IS NULL THEN
        SELECT array_agg(b.day_start ORDER BY b.day_start), min(b.day_start), max(b.day_start)
          INTO covered, first_day, last_day
          FROM metrics_rollup.daily_built b
         WHERE b.kind = p_kind
           AND b.day_start >= p_lo AND b.day_start <= p_hi - interval '24 hours'
           AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                            WHERE d.hour_start >= b.day_start
                              AND d.hour_start < b.day_start + interval '24 hours'
                              AND d.kind = p_kind);
    ELSE
        SELECT array_agg(b.day_start ORDER BY b.day_start), min(b.day_start), max(b.day_start)
          INTO covered, first_day, last_day
          FROM metrics_rollup.daily_built b
         WHERE b.kind = p_kind
           AND b.day_start >= p_lo AND b.day_start <= p_hi - interval '24 hours'
           AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                            WHERE d.kind = p_kind AND d.entity_id = p_entity
                              AND d.hour_start >= b.day_start
                              AND d.hour_start < b.day_start + interval '24 hours');
    END IF;
    -- daily rows are read by one range scan from first_day to last_day,
    -- less the few days in between that are not covered
    IF first_day + (cardinality(covered) - 1) * interval '24 hours' < last_day THEN
        SELECT array_agg(g) INTO skipped
          FROM generate_series(first_day, last_day, interval '24 hours') g
         WHERE g <> ALL (covered);
    ELSE
        skipped := '{}';
    END IF;
    IF p_lo < p_hi THEN
        SELECT tstzmultirange(tstzrange(p_lo, p_hi))
               - coalesce(range_agg(tstzrange(c, c + interval '24 hours')), '{}')
          INTO rest
          FROM unnest(covered) c;
    ELSE
        rest := '{}';
    END IF;
    IF p_entity IS NULL THEN
        RETURN QUERY
        SELECT a.kind, a.entity_id, a.entity_name, a.n, a.ok, a.n - a.ok,
               (a.n - a.ok)::float8 / a.n, a.mn, a.mx, (a.sm / a.n)::float8,
               a.q[1], a.q[2], a.q[3], a.last_at
          FROM (SELECT p.kind, p.entity_id,
                       (array_agg(p.entity_name ORDER BY p.name_at DESC)
                            FILTER (WHERE p.entity_name IS NOT NULL))[1] AS entity_name,
                       sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
                       min(p.min_value) AS mn, max(p.max_value) AS mx, sum(p.sum_value) AS sm,
                       metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
                                                       '{0.5,0.95,0.99}') AS q,
                       max(p.last_at) AS last_at
                  FROM (SELECT dm.kind, dm.entity_id, dm.total_count, dm.success_count,
                               dm.min_response_time AS min_value, dm.max_response_time AS max_value,
                               dm.sum_response_time AS sum_value, dm.sketch, dm.entity_name,
                               dm.name_at, dm.last_recorded_at AS last_at
                          FROM metrics_rollup.daily_metrics dm
                         WHERE dm.kind = p_kind
                           AND dm.day_start >= first_day AND dm.day_start <= last_day
                           AND dm.day_start <> ALL (skipped)
                        UNION ALL
                        SELECT q.kind, q.entity_id, q.total_count, q.success_count, q.min_value,
                               q.max_value, q.sum_value, q.sketch, q.entity_name, q.name_at, q.last_at
                          FROM unnest(rest) r(r),
                               LATERAL metrics_rollup.query_pieces(p_kind, NULL, true,
                                                                   lower(r.r), upper(r.r)) q) p
                 GROUP BY p.kind, p.entity_id) a
         ORDER BY a.entity_id;
    ELSE
        RETURN QUERY
        SELECT p_kind, p_entity, a.entity_name, a.n, a.ok, a.n - a.ok,
               CASE WHEN a.n > 0 THEN (a.n - a.ok)::float8 / a.n ELSE 0 END,
               a.mn, a.mx, (a.sm / nullif(a.n, 0))::float8,
               a.q[1], a.q[2], a.q[3], a.last_at
          FROM (SELECT (array_agg(p.entity_name ORDER BY p.name_at DESC)
                            FILTER (WHERE p.entity_name IS NOT NULL))[1] AS entity_name,
                       coalesce(sum(p.total_count), 0)::bigint AS n,
                       coalesce(sum(p.success_count), 0)::bigint AS ok,
                       min(p.min_value) AS mn, max(p.max_value) AS mx, sum(p.sum_value) AS sm,
                       metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
                                                       '{0.5,0.95,0.99}') AS q,
                       max(p.last_at) AS last_at
                  FROM (SELECT dm.total_count, dm.success_count,
                               dm.min_response_time AS min_value, dm.max_response_time AS max_value,
                               dm.sum_response_time AS sum_value, dm.sketch, dm.entity_name,
                               dm.name_at, dm.last_recorded_at AS last_at
                          FROM metrics_rollup.daily_metrics dm
                         WHERE dm.kind = p_kind AND dm.entity_id = p_entity
                           AND dm.day_start >= first_day AND dm.day_start <= last_day
                           AND dm.day_start <> ALL (skipped)
                        UNION ALL
                        SELECT q.total_count, q.success_count, q.min_value, q.max_value,
                               q.sum_value, q.sketch, q.entity_name, q.name_at, q.last_at
                          FROM unnest(rest) r(r),
                               LATERAL metrics_rollup.query_pieces(p_kind, p_entity, false,
                                                                   lower(r.r), upper(r.r)) q) p) a;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.query_aggregate(text, text, timestamptz, timestamptz) IS
  'Implementation of aggregate() (same arguments and result columns): covered whole UTC days from daily_metrics, the rest through query_pieces().';

CREATE FUNCTION metrics_rollup.aggregate(
    kind text,
    entity_id text DEFAULT NULL,
    since timestamptz DEFAULT NULL,
    until timestamptz DEFAULT NULL)
RETURNS TABLE(kind text, entity_id text, entity_name text,
              total_count bigint, success_count bigint, failure_count bigint,
              failure_rate double precision,
              min_response_time double precision, max_response_time double precision,
              avg_response_time double precision,
              p50_response_time double precision, p95_response_time double precision,
              p99_response_time double precision,
              last_recorded_at timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE
BEGIN ATOMIC
    SELECT * FROM metrics_rollup.query_aggregate(kind, entity_id, since, until);
END;
COMMENT ON FUNCTION metrics_rollup.aggregate(text, text, timestamptz, timestamptz) IS
  'Summary per entity of the kind (or of the one entity_id) over [since, until) (NULL: unbounded), every event counted once whether its raw row or only its hourly rollup remains. Counts, min, max, avg exact; p50/p95/p99 from the merged sketches (rank rule of percentile_disc, within sketch_relative_accuracy), also over raw rows. An hour cut by since/until counts its raw rows in range while they all exist, else whole when its hour_start is in range. entity_name: latest non-NULL name in range. One entity with no events: one row of zero counts; all entities: only those with events.';


-- Buckets of whole days start at UTC midnight (multiples of 24 hours since
-- the epoch): their covered days come from daily_metrics, as in aggregate();
-- everything else through query_pieces(), one call per range.
CREATE FUNCTION metrics_rollup.timeseries(
    kind text,
    entity_id text,
    since timestamptz,
    until timestamptz,
    bucket interval DEFAULT '1 hour')
RETURNS TABLE(bucket_start timestamptz, total_count bigint, failure_count bigint,
              avg_response_time double precision,
              p50_response_time double precision, p95_response_time double precision,
              p99_response_time double precision)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
-- as in aggregate(): the generic plan's cost would trigger JIT compilation
SET jit = off
AS $$
#variable_conflict use_column
DECLARE
    p_kind   ALIAS FOR $1;
    p_entity ALIAS FOR $2;
    p_lo     ALIAS FOR $3;
    p_hi     ALIAS FOR $4;
    p_bucket interval;
    seconds  numeric;
    covered  timestamptz[];     -- days read from daily_metrics, in order
    first_day timestamptz;
    last_day timestamptz;
    skipped  timestamptz[] := '{}';
    rest     tstzmultirange := '{}';
BEGIN
    IF p_kind IS NULL OR p_lo IS NULL OR p_hi IS NULL OR $5 IS NULL THEN
        RAISE EXCEPTION 'kind, since, until and bucket must not be NULL'
              USING ERRCODE = 'null_value_not_allowed',
                    HINT = 'Pass a kind and finite since and until; entity_id NULL means every entity of the kind.';
    END IF;
    IF NOT isfinite(p_lo) OR NOT isfinite(p_hi) THEN
        RAISE EXCEPTION 'since and until must be finite'
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Give the time range of the chart.';
    END IF;
    seconds := extract(epoch FROM $5);
    IF extract(month FROM $5) <> 0 OR extract(year FROM $5) <> 0
       OR seconds <= 0 OR seconds % 3600 <> 0 THEN
        RAISE EXCEPTION 'bucket must be a positive whole number of hours: %', $5
              USING ERRCODE = 'invalid_parameter_value',
                    HINT = 'Use e.g. ''1 hour'', ''6 hours'' or ''1 day'' (24 hours); months are not fixed lengths.';
    END IF;
    -- in seconds: a day is 24 hours, whatever the session's time zone
    p_bucket := make_interval(secs => seconds);
    IF seconds % 86400 = 0 THEN
        SELECT array_agg(b.day_start ORDER BY b.day_start), min(b.day_start), max(b.day_start)
          INTO covered, first_day, last_day
          FROM metrics_rollup.daily_built b
         WHERE b.kind = p_kind
           AND b.day_start >= p_lo AND b.day_start <= p_hi - interval '24 hours'
           AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                            WHERE d.kind = p_kind
                              AND (p_entity IS NULL OR d.entity_id = p_entity)
                              AND d.hour_start >= b.day_start
                              AND d.hour_start < b.day_start + interval '24 hours');
        IF first_day + (cardinality(covered) - 1) * interval '24 hours' < last_day THEN
            SELECT array_agg(g) INTO skipped
              FROM generate_series(first_day, last_day, interval '24 hours') g
             WHERE g <> ALL (covered);
        END IF;
    END IF;
    IF p_lo < p_hi THEN
        SELECT tstzmultirange(tstzrange(p_lo, p_hi))
               - coalesce(range_agg(tstzrange(c, c + interval '24 hours')), '{}')
          INTO rest
          FROM unnest(covered) c;
    END IF;
    IF p_entity IS NULL THEN
        RETURN QUERY
        SELECT b.b, coalesce(a.n, 0), coalesce(a.n - a.ok, 0), (a.sm / a.n)::float8,
               a.q[1], a.q[2], a.q[3]
          FROM generate_series(date_bin(p_bucket, p_lo, '1970-01-01 00:00:00+00'),
                               p_hi - interval '1 microsecond', p_bucket) b(b)
          LEFT JOIN (SELECT date_bin(p_bucket, p.hour_start, '1970-01-01 00:00:00+00') AS b,
                            sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
                            sum(p.sum_value) AS sm,
                            metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
                                                            '{0.5,0.95,0.99}') AS q
                       FROM (SELECT dm.day_start AS hour_start, dm.total_count, dm.success_count,
                                    dm.sum_response_time AS sum_value, dm.sketch
                               FROM metrics_rollup.daily_metrics dm
                              WHERE dm.kind = p_kind
                                AND dm.day_start >= first_day AND dm.day_start <= last_day
                                AND dm.day_start <> ALL (skipped)
                             UNION ALL
                             SELECT q.hour_start, q.total_count, q.success_count, q.sum_value, q.sketch
                               FROM unnest(rest) r(r),
                                    LATERAL metrics_rollup.query_pieces(p_kind, NULL, true,
                                                                        lower(r.r), upper(r.r)) q) p
                      GROUP BY 1) a ON a.b = b.b
         ORDER BY b.b;
    ELSE
        RETURN QUERY
        SELECT b.b, coalesce(a.n, 0), coalesce(a.n - a.ok, 0), (a.sm / a.n)::float8,
               a.q[1], a.q[2], a.q[3]
          FROM generate_series(date_bin(p_bucket, p_lo, '1970-01-01 00:00:00+00'),
                               p_hi - interval '1 microsecond', p_bucket) b(b)
          LEFT JOIN (SELECT date_bin(p_bucket, p.hour_start, '1970-01-01 00:00:00+00') AS b,
                            sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
                            sum(p.sum_value) AS sm,
                            metrics_rollup.sketch_quantiles(metrics_rollup.query_sketch_merge(p.sketch),
                                                            '{0.5,0.95,0.99}') AS q
                       FROM (SELECT dm.day_start AS hour_start, dm.total_count, dm.success_count,
                                    dm.sum_response_time AS sum_value, dm.sketch
                               FROM metrics_rollup.daily_metrics dm
                              WHERE dm.kind = p_kind AND dm.entity_id = p_entity
                                AND dm.day_start >= first_day AND dm.day_start <= last_day
                                AND dm.day_start <> ALL (skipped)
                             UNION ALL
                             SELECT q.hour_start, q.total_count, q.success_count, q.sum_value, q.sketch
                               FROM unnest(rest) r(r),
                                    LATERAL metrics_rollup.query_pieces(p_kind, p_entity, false,
                                                                        lower(r.r), upper(r.r)) q) p
                      GROUP BY 1) a ON a.b = b.b
         ORDER BY b.b;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval) IS
  'Per bucket of [since, until) (a positive whole number of hours, aligned to multiples of the bucket since the Unix epoch, UTC), every bucket listed, empty ones with zero counts: events, failures, avg exact, p50/p95/p99 from the merged sketches. Same counting rule as aggregate() (buckets of whole days read the daily level), so the buckets sum to its totals. entity_id NULL: every entity of the kind together.';

-------------------------------------------------------------------------------
-- pg_dump / pg_restore: which tables carry data, and a restore-safe dirty list
-------------------------------------------------------------------------------

-- (dump section)

-- pg_dump skips the contents of an extension's tables unless they are marked
-- as configuration tables.  Every table whose rows are user data is listed
-- here, and only here; a branch that adds such a table adds it to this list.
--   raw_metrics     the events not yet deleted by cleanup
--   hourly_metrics  the rollups, sketches and archived summaries included
--   rollup_dirty    the groups still to roll up (force flags included)
--   rejected_events the dead letters: events the raw table refused
--   daily_metrics, daily_built, daily_queue, daily_holes  the daily level:
--                   a plain restore loads them before hourly_metrics, whose
--                   insert trigger then invalidates and queues every restored
--                   day (the next rollups rebuild them); a data-only restore
--                   with --disable-triggers gives an exact, usable copy
-- (One call per statement: each call rewrites the pg_extension row.)
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.raw_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.hourly_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.rollup_dirty', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.rejected_events', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_built', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_queue', '');
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.daily_holes', '');

-- A restore loads raw_metrics with COPY, which fires rollup_mark_inserted:
-- every restored group gets a (force = false) mark, whatever order the tables
-- come in.  pg_dump writes table data by name, so rollup_dirty comes after
-- raw_metrics, and its COPY would then fail on the primary key ("duplicate
-- key"), losing every dumped mark and its force flag.  This trigger merges a
-- top-level row into an existing mark (force = old OR new) instead.  Marks
-- written from inside a trigger (pg_trigger_depth() > 0: the insert and
-- delete triggers of raw_metrics, the hot path) never reach it, so their ON
-- CONFLICT locking protocol (see the rollup section) is untouched.  Extra
-- force = false marks only make the next rollup re-read groups whose counts
-- already match; it rewrites none of them.
CREATE FUNCTION metrics_rollup.dump_merge_mark() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE metrics_rollup.rollup_dirty d
       SET force = d.force OR NEW.force
     WHERE d.kind = NEW.kind AND d.entity_id = NEW.entity_id AND d.hour_start = NEW.hour_start;
    IF FOUND THEN
        RETURN NULL;    -- merged into the existing mark
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION metrics_rollup.dump_merge_mark() IS
  'Row trigger on rollup_dirty for top-level inserts (COPY of a restore): a mark that already exists absorbs the new one (force = old OR new) instead of failing on the primary key.';

CREATE TRIGGER dump_merge_mark
    BEFORE INSERT ON metrics_rollup.rollup_dirty
    FOR EACH ROW WHEN (pg_catalog.pg_trigger_depth() = 0)
    EXECUTE FUNCTION metrics_rollup.dump_merge_mark();
COMMENT ON TRIGGER dump_merge_mark ON metrics_rollup.rollup_dirty IS
  'Lets a restore load rollup_dirty after raw_metrics: existing marks absorb restored ones.';

-------------------------------------------------------------------------------
-- Privileges (who may do what)
-------------------------------------------------------------------------------

-- (privileges section)
--
-- KEEP THIS SECTION LAST.  "ALL FUNCTIONS / TABLES / SEQUENCES IN SCHEMA"
-- covers only the objects that exist when it runs: anything created below
-- it would keep PostgreSQL's default (EXECUTE for PUBLIC on functions).
--
-- After CREATE EXTENSION, PUBLIC may use the schema, the sketch type and the
-- sketch functions and aggregates, nothing else.  Recording (record,
-- record_batch, INSERT/COPY into raw_metrics), querying (raw_metrics,
-- hourly_metrics, the views and the functions they call) and administration
-- (flush, run_rollup, run_cleanup) each need an explicit GRANT (see README).
--
-- No function is SECURITY DEFINER except the trigger functions on
-- raw_metrics: they run with the privileges of whoever does the DML, and a
-- writer that may only INSERT into raw_metrics must still mark the rollup
-- state (rollup_dirty, hourly_metrics) that it may not touch itself.  They
-- run as the extension owner with search_path pinned to pg_catalog, pg_temp
-- (their bodies schema-qualify our objects), and PUBLIC cannot EXECUTE them,
-- so nobody can attach them to another table (CREATE TRIGGER needs EXECUTE).
--
-- search_path: bodies and C SQL strings schema-qualify our objects and
-- pg_catalog's functions.  The background workers (superuser) pin
-- search_path to pg_catalog, pg_temp (src/security.c), as PostgreSQL's own
-- logical replication workers do.  run_rollup()/run_cleanup() run with the
-- caller's rights and path, so users' triggers on raw_metrics keep working.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA metrics_rollup FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA metrics_rollup FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA metrics_rollup FROM PUBLIC;
GRANT USAGE ON SCHEMA metrics_rollup TO PUBLIC;
GRANT USAGE ON TYPE metrics_rollup.sketch TO PUBLIC;

GRANT EXECUTE ON FUNCTION
    metrics_rollup.sketch_in(cstring),
    metrics_rollup.sketch_out(metrics_rollup.sketch),
    metrics_rollup.sketch_recv(internal),
    metrics_rollup.sketch_send(metrics_rollup.sketch),
    metrics_rollup.sketch_to_bytea(metrics_rollup.sketch),
    metrics_rollup.sketch_from_bytea(bytea),
    metrics_rollup.sketch_agg_trans(internal, double precision),
    metrics_rollup.sketch_agg_trans(internal, double precision, double precision),
    metrics_rollup.sketch_agg_final(internal),
    metrics_rollup.sketch_agg_combine(internal, internal),
    metrics_rollup.sketch_agg_serial(internal),
    metrics_rollup.sketch_agg_deserial(bytea, internal),
    metrics_rollup.sketch_combine(metrics_rollup.sketch, metrics_rollup.sketch),
    metrics_rollup.sketch_quantile(metrics_rollup.sketch, double precision),
    metrics_rollup.sketch_quantiles(metrics_rollup.sketch, double precision[]),
    metrics_rollup.sketch_count(metrics_rollup.sketch),
    metrics_rollup.sketch_sum(metrics_rollup.sketch),
    metrics_rollup.sketch_min(metrics_rollup.sketch),
    metrics_rollup.sketch_max(metrics_rollup.sketch),
    metrics_rollup.sketch_relative_accuracy(metrics_rollup.sketch)
  TO PUBLIC;
GRANT EXECUTE ON FUNCTION
    metrics_rollup.sketch_agg(double precision),
    metrics_rollup.sketch_agg(double precision, double precision),
    metrics_rollup.sketch_merge(metrics_rollup.sketch)
  TO PUBLIC;

-- Every trigger function of the schema: owner's rights, pinned search_path.
DO $privileges$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'metrics_rollup'::regnamespace
           AND p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype
    LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %s SECURITY DEFINER SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$privileges$;
