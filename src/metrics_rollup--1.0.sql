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
    last_at       timestamptz
    -- (rollup sketch spot: the events' sketch, see rollup_agg.c)
);
COMMENT ON TYPE metrics_rollup.rollup_stats IS
  'Summary of a set of events: counts, min, max, exact sum (1 ns resolution), exact percentiles (percentile_cont), latest non-NULL name and when it was seen, latest event time.';

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
  'Summary of the union of two disjoint sets of events; percentiles come from the merged sketch (NULL without one). NULL is the empty set.';

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
    -- (rollup sketch spot: sketch column)
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
COMMENT ON COLUMN metrics_rollup.hourly_metrics.created_at IS 'When the row was first written.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.updated_at IS 'When the row last changed (unchanged hours are not rewritten).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.sum_response_time IS 'Exact sum of the response times, each rounded to 1 ns (values above 9e9 s are summed as double precision).';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.last_recorded_at IS 'recorded_at of the hour''s latest event.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.percentiles_exact IS 'True when p50/p95/p99 were computed exactly from every event of the hour.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.archived IS 'Summary of the hour''s events whose raw rows were deleted (NULL: none). An event is in raw_metrics or here, never both.';
COMMENT ON COLUMN metrics_rollup.hourly_metrics.raw_complete IS 'True when no raw row of the hour was ever deleted (archived is NULL).';

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
            sum_response_time, last_recorded_at, percentiles_exact, archived)
    SELECT o.kind, o.entity_id, (o.s).entity_name, o.hour_start, (o.s).total_count, (o.s).success_count,
           (o.s).total_count - (o.s).success_count, (o.s).min_value, (o.s).max_value,
           ((o.s).sum_value / (o.s).total_count)::double precision,
           (o.s).p50, (o.s).p95, (o.s).p99,
           (o.s).sum_value, (o.s).last_at, true, o.s
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

-------------------------------------------------------------------------------
-- Cleanup and retention: run_cleanup() (src/cleanup.c)
-------------------------------------------------------------------------------

CREATE FUNCTION metrics_rollup.run_cleanup()
RETURNS TABLE(relation text, rows_deleted bigint, duration interval)
AS 'MODULE_PATHNAME', 'cleanup_run_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.run_cleanup() IS
  'Deletes expired rows: raw rows older than retention_days, raw rows of rolled-up hours past delete_raw_after_rollup_hours and the late-data window, hourly rows older than rollup_retention_days. Batches of cleanup_batch_size rows; in the caller''s transaction (the worker commits per batch). Deleted raw events stay counted in their hourly row.';

