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

-- SQL-callable functions that run SPI run under the same pinned search_path
-- (their SQL strings qualify functions, but operators are looked up on the
-- path).  Not for record()/record_batch(): hot paths that build no query.
DO $pin$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN
        SELECT p.oid::regprocedure
          FROM pg_catalog.pg_proc p
         WHERE p.pronamespace = 'metrics_rollup'::regnamespace
           AND p.proname IN ('run_rollup', 'run_rollup_background', 'run_cleanup')
    LOOP
        EXECUTE pg_catalog.format(
            'ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$pin$;
