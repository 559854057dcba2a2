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
-- recomputes them as archived (+) remaining raw rows.
CREATE FUNCTION metrics_rollup.rollup_archive_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
           updated_at = now();

    INSERT INTO metrics_rollup.rollup_dirty AS d (kind, entity_id, hour_start)
    SELECT DISTINCT o.kind, o.entity_id, pg_catalog.date_trunc('hour', o.recorded_at, 'UTC')
      FROM old_rows o
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE SET force = d.force WHERE false;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_archive_deleted() IS
  'Statement trigger on raw_metrics: deleted events are added to their hourly row''s archived summary (created if missing) and the group is marked dirty.';

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
AS $$
#variable_conflict use_column
DECLARE
    p_entity ALIAS FOR p_entity_id;
    p_lo     timestamptz := coalesce(p_since, '-infinity');
    p_hi     timestamptz := coalesce(p_until, 'infinity');
BEGIN
    IF p_kind IS NULL THEN
        RAISE EXCEPTION 'kind must not be NULL'
              USING ERRCODE = 'null_value_not_allowed',
                    HINT = 'Pass the kind of entity to summarise, e.g. ''tool''.';
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
                  FROM metrics_rollup.query_pieces(p_kind, NULL, true, p_lo, p_hi) p
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
                  FROM metrics_rollup.query_pieces(p_kind, p_entity, false, p_lo, p_hi) p) a;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.query_aggregate(text, text, timestamptz, timestamptz) IS
  'Implementation of aggregate() (same arguments and result columns).';

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
AS $$
#variable_conflict use_column
DECLARE
    p_kind   ALIAS FOR $1;
    p_entity ALIAS FOR $2;
    p_lo     ALIAS FOR $3;
    p_hi     ALIAS FOR $4;
    p_bucket interval;
    seconds  numeric;
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
                       FROM metrics_rollup.query_pieces(p_kind, NULL, true, p_lo, p_hi) p
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
                       FROM metrics_rollup.query_pieces(p_kind, p_entity, false, p_lo, p_hi) p
                      GROUP BY 1) a ON a.b = b.b
         ORDER BY b.b;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval) IS
  'Per bucket of [since, until) (a positive whole number of hours, aligned to multiples of the bucket since the Unix epoch, UTC), every bucket listed, empty ones with zero counts: events, failures, avg exact, p50/p95/p99 from the merged sketches. Same counting rule as aggregate(), so the buckets sum to its totals. entity_id NULL: every entity of the kind together.';
