/* metrics_rollup--1.1--1.2.sql: ALTER EXTENSION metrics_rollup UPDATE TO '1.2'. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION metrics_rollup UPDATE TO '1.2'" to load this file. \quit

-- What 1.2 adds to 1.1.  A fresh install runs metrics_rollup--1.0.sql, then
-- metrics_rollup--1.0--1.1.sql, then this file (PostgreSQL chains update
-- scripts), so an updated installation and a fresh one run the same
-- statements; test/t/080_upgrade.pl checks that the data survives.
--
-- Sections, one per concern, in dependency order; a change adds its objects
-- to its own section.  Objects that readers may use are granted to
-- pg_read_all_stats in the privileges section, which comes last.

-------------------------------------------------------------------------------
-- Hardening: input rules, lock timeouts, dirty marks (src/rollup.c, src/flush.c)
-------------------------------------------------------------------------------

-- (hardening section)

-- Dirty marks are append-only.  Every INSERT/COPY into raw_metrics appends
-- one mark per distinct group of its rows, without ON CONFLICT: no row
-- locks, so writers never wait for each other (or for a rollup) and never
-- deadlock.  The rollup deletes exactly the marks its DELETE statement sees
-- (its snapshot); a writer still in flight commits its rows and its own mark
-- together, so its group is simply rolled up again by the next run.  The
-- rollup and the daily level ask "is there a mark" (EXISTS: duplicates do
-- not change that); queries sum the partial summaries that marks carry from
-- the scale-up section on, so a mark is one statement's rows, counted once
-- (loading the same marks twice, e.g. restoring a dump over itself, would
-- count their partials twice).
-- The restore merge trigger (1.0's dump section) is no longer needed: a
-- restored mark is one more row.
DROP TRIGGER dump_merge_mark ON metrics_rollup.rollup_dirty;
DROP FUNCTION metrics_rollup.dump_merge_mark();
ALTER TABLE metrics_rollup.rollup_dirty DROP CONSTRAINT rollup_dirty_pkey;
DROP INDEX metrics_rollup.rollup_dirty_hour_idx;
CREATE INDEX rollup_dirty_group_idx
    ON metrics_rollup.rollup_dirty (hour_start, kind, entity_id);
COMMENT ON INDEX metrics_rollup.rollup_dirty_group_idx IS
  'Serves the rollup''s scan of one hour''s marks and every "is this group (or a kind''s day) dirty" probe.';
COMMENT ON TABLE metrics_rollup.rollup_dirty IS
  'Groups (kind, entity_id, UTC hour) whose hourly row must be (re)computed; append-only, a group may have several marks. The rollup deletes exactly the marks it saw.';

-- The input rule of raw_metrics, the same as record()'s: a response time
-- finite, >= 0 and <= 1e15 s (what a sketch accepts; NaN compares above
-- every number, so it fails too), and a time whose hour and day arithmetic
-- never overflows.  NOT VALID first, so that an installation holding older
-- rows that break the rule still updates: VALIDATE then only warns.
ALTER TABLE metrics_rollup.raw_metrics
    ADD CONSTRAINT raw_metrics_response_time_check
        CHECK (response_time >= 0 AND response_time <= 1e15) NOT VALID,
    ADD CONSTRAINT raw_metrics_recorded_at_check
        CHECK (recorded_at >= '1970-01-01 00:00:00+00' AND recorded_at < '9999-01-01 00:00:00+00') NOT VALID;
COMMENT ON CONSTRAINT raw_metrics_response_time_check ON metrics_rollup.raw_metrics IS
  'response_time in seconds, finite, 0 to 1e15 (what a sketch can hold); record() applies the same rule.';
COMMENT ON CONSTRAINT raw_metrics_recorded_at_check ON metrics_rollup.raw_metrics IS
  'recorded_at from 1970 to 9998 (UTC): hour and day arithmetic of rollups never overflows; record() applies the same rule.';
DO $validate$
BEGIN
    ALTER TABLE metrics_rollup.raw_metrics VALIDATE CONSTRAINT raw_metrics_response_time_check;
    ALTER TABLE metrics_rollup.raw_metrics VALIDATE CONSTRAINT raw_metrics_recorded_at_check;
EXCEPTION WHEN check_violation THEN
    RAISE WARNING 'metrics_rollup.raw_metrics holds rows that break its new input rule'
        USING DETAIL = 'The constraints stay NOT VALID: new rows are checked, existing ones are not.',
              HINT = 'Delete or fix the rows with a response_time outside 0..1e15 or a recorded_at outside 1970..9998, then run ALTER TABLE metrics_rollup.raw_metrics VALIDATE CONSTRAINT for both constraints.';
END
$validate$;

-- rollup_failures: (kind, entity, hour) groups and (kind, day)s whose
-- rollup failed with a data error (src/rollup.c, src/daily.c).  The rollup
-- isolates them the way the flush isolates a poison event: the other groups
-- and days go on, the failing one keeps its dirty mark (or stays queued), so
-- queries keep reading its raw rows and no count is lost; every run tries it
-- again and a success removes its row here.
CREATE TABLE metrics_rollup.rollup_failures (
    level           text        NOT NULL CHECK (level IN ('hour', 'day')),
    kind            text        NOT NULL,
    entity_id       text        NOT NULL,
    period_start    timestamptz NOT NULL,
    failures        bigint      NOT NULL DEFAULT 1,
    first_failed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    last_failed_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    error_sqlstate  text        NOT NULL,
    error_message   text        NOT NULL,
    PRIMARY KEY (level, kind, entity_id, period_start)
);
COMMENT ON TABLE metrics_rollup.rollup_failures IS
  'Groups whose rollup failed with a data error and were set aside so the others could go on: an hour of one (kind, entity_id), or a day of a kind (daily level). The group stays dirty (queued), its raw rows keep being read by queries, and every rollup run tries it again; a success removes the row.';
COMMENT ON COLUMN metrics_rollup.rollup_failures.level IS 'hour (hourly_metrics of one entity) or day (daily_metrics of one kind).';
COMMENT ON COLUMN metrics_rollup.rollup_failures.kind IS 'What was called.';
COMMENT ON COLUMN metrics_rollup.rollup_failures.entity_id IS 'Which one was called; empty for a day (every entity of the kind).';
COMMENT ON COLUMN metrics_rollup.rollup_failures.period_start IS 'Start of the UTC hour or day.';
COMMENT ON COLUMN metrics_rollup.rollup_failures.failures IS 'Failed tries so far.';
COMMENT ON COLUMN metrics_rollup.rollup_failures.first_failed_at IS 'When the first try failed.';
COMMENT ON COLUMN metrics_rollup.rollup_failures.last_failed_at IS 'When the latest try failed.';
COMMENT ON COLUMN metrics_rollup.rollup_failures.error_sqlstate IS 'SQLSTATE of the latest failure (class 22, 23, P0001 or XX001).';
COMMENT ON COLUMN metrics_rollup.rollup_failures.error_message IS 'Error message of the latest failure.';
REVOKE ALL ON TABLE metrics_rollup.rollup_failures FROM PUBLIC;

-- The marking triggers, append-only, with the door's age rule: an event
-- older than rollup_retention_days would be archived and deleted by the next
-- cleanup, counted nowhere, so INSERT/COPY (and UPDATE) refuse it with
-- 22008, as record() does.  Marks are inserted in key order.
-- CREATE OR REPLACE resets SECURITY DEFINER and SET: set again below.
CREATE OR REPLACE FUNCTION metrics_rollup.rollup_mark_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    limit_days integer := COALESCE(NULLIF(pg_catalog.current_setting(
        'metrics_rollup.rollup_retention_days', true), ''), '365')::integer;
BEGIN
    SELECT pg_catalog.min(n.recorded_at) INTO oldest FROM new_rows n;
    IF oldest < pg_catalog.now() - pg_catalog.make_interval(days => limit_days) THEN
        RAISE EXCEPTION 'recorded_at % is older than metrics_rollup.rollup_retention_days (% days)',
            oldest, limit_days
            USING ERRCODE = 'datetime_field_overflow',
                  HINT = 'Rollups older than the retention are deleted, so such an event would be counted nowhere. Record it with a recent time, or raise metrics_rollup.rollup_retention_days.';
    END IF;
    INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
    SELECT DISTINCT n.kind, n.entity_id, pg_catalog.date_trunc('hour', n.recorded_at, 'UTC')
      FROM new_rows n
     ORDER BY 1, 2, 3;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_mark_inserted() IS
  'Statement trigger on raw_metrics: appends one dirty mark per (kind, entity_id, hour) of the inserted rows (no row locks); refuses rows older than rollup_retention_days (22008).';
ALTER FUNCTION metrics_rollup.rollup_mark_inserted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION metrics_rollup.rollup_mark_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    limit_days integer := COALESCE(NULLIF(pg_catalog.current_setting(
        'metrics_rollup.rollup_retention_days', true), ''), '365')::integer;
BEGIN
    SELECT pg_catalog.min(n.recorded_at) INTO oldest FROM new_rows n;
    IF oldest < pg_catalog.now() - pg_catalog.make_interval(days => limit_days) THEN
        RAISE EXCEPTION 'recorded_at % is older than metrics_rollup.rollup_retention_days (% days)',
            oldest, limit_days
            USING ERRCODE = 'datetime_field_overflow',
                  HINT = 'Rollups older than the retention are deleted, so such an event would be counted nowhere. Keep recorded_at recent, or raise metrics_rollup.rollup_retention_days.';
    END IF;
    INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start, force)
    SELECT kind, entity_id, pg_catalog.date_trunc('hour', recorded_at, 'UTC'), true FROM old_rows
    UNION
    SELECT kind, entity_id, pg_catalog.date_trunc('hour', recorded_at, 'UTC'), true FROM new_rows
    ORDER BY 1, 2, 3;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_mark_updated() IS
  'Statement trigger on raw_metrics: an UPDATE appends forced marks for the groups of the old and the new rows; refuses new rows older than rollup_retention_days (22008).';
ALTER FUNCTION metrics_rollup.rollup_mark_updated()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE OR REPLACE FUNCTION metrics_rollup.rollup_archive_deleted() RETURNS trigger
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
             GROUP BY 1, 2, 3
             ORDER BY 1, 2, 3) o
    ON CONFLICT (kind, entity_id, hour_start) DO UPDATE
       SET archived = metrics_rollup.rollup_stats_merge(h.archived, excluded.archived),
           updated_at = pg_catalog.now();

    INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
    SELECT DISTINCT o.kind, o.entity_id, pg_catalog.date_trunc('hour', o.recorded_at, 'UTC')
      FROM old_rows o
     ORDER BY 1, 2, 3;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_archive_deleted() IS
  'Statement trigger on raw_metrics: deleted events are added to their hourly row''s archived summary (created if missing) and a dirty mark is appended for the group; skipped only inside run_cleanup()''s fast archive, which has set archived itself.';
ALTER FUNCTION metrics_rollup.rollup_archive_deleted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-------------------------------------------------------------------------------
-- Percentiles: one rule (percentile_cont) everywhere (src/sketch.c)
-------------------------------------------------------------------------------

-- (percentiles section)

-- Every percentile the extension reports follows percentile_cont: linear
-- interpolation between the values at 0-based rows floor(q * (n - 1)) and
-- ceil(q * (n - 1)).  hourly_metrics computes it exactly from the raw rows
-- (src/rollup_agg.c); everything that merges sketches (aggregate(),
-- timeseries(), the daily level they read, merged hourly rows, live_stats)
-- computes it from the sketch, within its relative accuracy.  Queries read
-- the sketch even where raw rows exist, so an answer does not change when
-- cleanup deletes raw rows.  sketch_quantile(s) keep percentile_disc's rank.

CREATE FUNCTION metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch, q double precision)
RETURNS double precision
    AS 'MODULE_PATHNAME', 'sketch_percentile_cont' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch, double precision) IS
  'percentile_cont(q) of the sketched values: interpolates between the values at rows floor(q(n-1)) and ceil(q(n-1)), each within the relative accuracy (the first and last rows exact), so the result is within the relative accuracy of the exact percentile_cont; clamped to [min, max]. NULL for an empty sketch.';
CREATE FUNCTION metrics_rollup.sketch_percentiles_cont(metrics_rollup.sketch, q double precision[])
RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'sketch_percentiles_cont' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_percentiles_cont(metrics_rollup.sketch, double precision[]) IS
  'sketch_percentile_cont for each element of the array (NULL elements give NULL).';
-- like every sketch function: usable by everyone
GRANT EXECUTE ON FUNCTION
    metrics_rollup.sketch_percentile_cont(metrics_rollup.sketch, double precision),
    metrics_rollup.sketch_percentiles_cont(metrics_rollup.sketch, double precision[])
  TO PUBLIC;

-- aggregate() and timeseries(): their 1.2 definitions (percentiles by the
-- rule of percentile_cont, sketch_percentiles_cont, instead of
-- percentile_disc's rank) are in the citus section below, which adds the
-- path taken when raw_metrics is distributed.

COMMENT ON FUNCTION metrics_rollup.aggregate(text, text, timestamptz, timestamptz) IS
  'Summary per entity of the kind (or of the one entity_id) over [since, until) (NULL: unbounded), every event counted once whether its raw row or only its hourly rollup remains. Counts, min, max, avg exact; p50/p95/p99 by the rule of percentile_cont from the merged sketches (within sketch_relative_accuracy of the exact percentile_cont), also over raw rows. An hour cut by since/until counts its raw rows in range while they all exist, else whole when its hour_start is in range. entity_name: latest non-NULL name in range. One entity with no events: one row of zero counts; all entities: only those with events.';

-- live_stats: percentiles by percentile_cont's rule from a real sketch per
-- time slice (src/live.c), and two new columns.  The result type of
-- live_entities() grows, so the view and the function are recreated (the
-- new columns come last: the library also serves 1.1's 13 columns).
DROP VIEW metrics_rollup.live_stats;
DROP FUNCTION metrics_rollup.live_entities();
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
    OUT use_count bigint,
    OUT total_response_time double precision,
    OUT last_response_time double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'live_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.live_entities() IS
  'Every entity tracked in shared memory with its statistics over metrics_rollup.live_window; the live_stats view shows them.';
REVOKE ALL ON FUNCTION metrics_rollup.live_entities() FROM PUBLIC;

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
       l.use_count,
       l.total_response_time,
       l.last_response_time
  FROM metrics_rollup.live_entities() l;
REVOKE ALL ON metrics_rollup.live_stats FROM PUBLIC;

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
COMMENT ON COLUMN metrics_rollup.live_stats.p50_response_time IS 'Median (percentile_cont rule) within 1% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p95_response_time IS '95th percentile (percentile_cont rule) within 1% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.p99_response_time IS '99th percentile (percentile_cont rule) within 1% relative error, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.last_seen IS 'Clock time of the last record() or record_batch() call that counted an event of this entity.';
COMMENT ON COLUMN metrics_rollup.live_stats.use_count IS 'Events counted since the entity entered the live table (all time, not only the window).';
COMMENT ON COLUMN metrics_rollup.live_stats.total_response_time IS 'Sum of the response times of the events in the window, seconds.';
COMMENT ON COLUMN metrics_rollup.live_stats.last_response_time IS 'Response time of the entity''s latest recorded event (the one of last_seen), seconds; kept after it leaves the window.';

-------------------------------------------------------------------------------
-- Scale up: flush workers, queries independent of raw volume
-------------------------------------------------------------------------------

-- (scale-up section)

-- One row per flush worker (src/drain.c): the rings it owns, its backlog,
-- what it committed and how fast, its last flush and its flush circuit.
CREATE FUNCTION metrics_rollup.drain_stats(
    OUT flush_worker integer,
    OUT pid integer,
    OUT rings integer[],
    OUT capacity_bytes bigint,
    OUT backlog_bytes bigint,
    OUT backlog_events bigint,
    OUT events_flushed bigint,
    OUT events_per_second bigint,
    OUT flush_count bigint,
    OUT flush_failures bigint,
    OUT last_flush_at timestamptz,
    OUT last_flush_duration interval,
    OUT last_flush_error text,
    OUT circuit text,
    OUT consecutive_failures integer,
    OUT next_retry_at timestamptz,
    OUT starts bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'drain_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.drain_stats() IS
  'One row per flush worker (metrics_rollup.flush_workers) from shared memory: pid (NULL while not running), the buffer rings it owns, their capacity and backlog, events it committed and its rate over about the last second, flushes, failures, last flush, its flush circuit and retry, starts since server start. The flush_workers view shows it.';

CREATE VIEW metrics_rollup.flush_workers AS
SELECT d.flush_worker, d.pid, d.rings, d.capacity_bytes, d.backlog_bytes,
       d.backlog_events, d.events_flushed, d.events_per_second, d.flush_count,
       d.flush_failures, d.last_flush_at, d.last_flush_duration,
       d.last_flush_error, d.circuit, d.consecutive_failures, d.next_retry_at,
       d.starts
  FROM metrics_rollup.drain_stats() d;

COMMENT ON VIEW metrics_rollup.flush_workers IS
  'One row per flush worker: the background processes that drain the ingest buffer into raw_metrics, each owning a disjoint set of rings (counters since server start).';
COMMENT ON COLUMN metrics_rollup.flush_workers.flush_worker IS 'Number of the flush worker, 0 to flush_workers - 1.';
COMMENT ON COLUMN metrics_rollup.flush_workers.pid IS 'Process id; NULL while it is not running (it restarts 5 s after it stopped).';
COMMENT ON COLUMN metrics_rollup.flush_workers.rings IS 'Buffer rings it drains (ring i belongs to worker i % flush_workers).';
COMMENT ON COLUMN metrics_rollup.flush_workers.capacity_bytes IS 'Bytes of its rings.';
COMMENT ON COLUMN metrics_rollup.flush_workers.backlog_bytes IS 'Bytes buffered in its rings and not yet committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.backlog_events IS 'Events buffered in its rings and not yet committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.events_flushed IS 'Events it committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.flush_workers.events_per_second IS 'Events it committed per second, measured over about the last second.';
COMMENT ON COLUMN metrics_rollup.flush_workers.flush_count IS 'Flush transactions it committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.flush_failures IS 'Its failed flush tries (events stay buffered and are retried).';
COMMENT ON COLUMN metrics_rollup.flush_workers.last_flush_at IS 'When its last flush committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.last_flush_duration IS 'How long its last committed flush took.';
COMMENT ON COLUMN metrics_rollup.flush_workers.last_flush_error IS 'Error of its last flush try; NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.flush_workers.circuit IS 'Circuit of its flush job: closed, open or half_open.';
COMMENT ON COLUMN metrics_rollup.flush_workers.consecutive_failures IS 'Failed flush tries since its last success.';
COMMENT ON COLUMN metrics_rollup.flush_workers.next_retry_at IS 'When it retries a failed flush; NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.flush_workers.starts IS 'Times it started since server start (more than 1: it restarted).';

REVOKE ALL ON FUNCTION metrics_rollup.drain_stats() FROM PUBLIC;
REVOKE ALL ON TABLE metrics_rollup.flush_workers FROM PUBLIC;

-- Queries independent of raw volume (aggregate(), timeseries()).
--
-- Dirty marks carry a partial summary: raw_metrics' INSERT statement
-- trigger appends, per (kind, entity_id, hour) of the statement's rows, one
-- mark whose "partial" summarises those rows (rollup_agg).  Marks written
-- for a DELETE or UPDATE, by run_rollup(since), by a 1.0/1.1 trigger, or by
-- a restore (raw rows loaded with check_function_bodies off, as pg_dump's
-- output and pg_restore run: the restored hourly rows already count them)
-- have a NULL partial: "read the raw rows of this group-hour".  The rollup takes
-- (deletes) an hour's marks and reads its raw rows with ONE snapshot
-- (src/rollup.c), so an hourly row counts exactly the rows of the marks it
-- took, and the marks left count exactly the rows it did not see.  Hence,
-- per group-hour: hourly row (+) the partials of its marks = every event,
-- when every mark has a partial.  query_pieces() reads the raw rows of a
-- group-hour only when a mark has no partial, when it is a known hole
-- (daily_holes), or when since/until cut the hour and its events are not
-- all inside the range.  compact_marks() folds the marks of a group-hour
-- into one (src/query_marks.c); the maintenance worker runs it.
ALTER TABLE metrics_rollup.rollup_dirty ADD COLUMN partial metrics_rollup.rollup_stats;
COMMENT ON COLUMN metrics_rollup.rollup_dirty.partial IS
  'Summary of the raw rows the statement that wrote the mark inserted into this group-hour (counts, min, max, sum, name, last time, sketch); NULL when the mark cannot summarise (DELETE, UPDATE, run_rollup(since), 1.1 marks): queries then read the group-hour''s raw rows.';

COMMENT ON TABLE metrics_rollup.rollup_dirty IS
  'Groups (kind, entity_id, UTC hour) whose hourly row must be (re)computed; append-only, a group may have several marks, each with the summary of the rows its INSERT/COPY wrote (partial) or none. The rollup deletes exactly the marks it saw; compact_marks() folds a group''s marks into one.';

CREATE AGGREGATE metrics_rollup.rollup_stats_union(metrics_rollup.rollup_stats) (
    SFUNC = metrics_rollup.rollup_stats_merge,
    STYPE = metrics_rollup.rollup_stats,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.rollup_stats_union(metrics_rollup.rollup_stats) IS
  'rollup_stats_merge over a set of summaries of disjoint sets of events (NULL inputs are empty sets; no input gives NULL).';

CREATE OR REPLACE FUNCTION metrics_rollup.rollup_mark_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    oldest timestamptz;
    limit_days integer := COALESCE(NULLIF(pg_catalog.current_setting(
        'metrics_rollup.rollup_retention_days', true), ''), '365')::integer;
BEGIN
    SELECT pg_catalog.min(n.recorded_at) INTO oldest FROM new_rows n;
    IF oldest < pg_catalog.now() - pg_catalog.make_interval(days => limit_days) THEN
        RAISE EXCEPTION 'recorded_at % is older than metrics_rollup.rollup_retention_days (% days)',
            oldest, limit_days
            USING ERRCODE = 'datetime_field_overflow',
                  HINT = 'Rollups older than the retention are deleted, so such an event would be counted nowhere. Record it with a recent time, or raise metrics_rollup.rollup_retention_days.';
    END IF;
    -- a restore (pg_dump's scripts and pg_restore run with
    -- check_function_bodies off) loads raw rows that the restored hourly
    -- rows already count: its marks say "read the raw rows" only
    IF pg_catalog.current_setting('check_function_bodies') = 'off' THEN
        INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
        SELECT DISTINCT n.kind, n.entity_id, pg_catalog.date_trunc('hour', n.recorded_at, 'UTC')
          FROM new_rows n
         ORDER BY 1, 2, 3;
        RETURN NULL;
    END IF;
    INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start, partial)
    SELECT n.kind, n.entity_id, pg_catalog.date_trunc('hour', n.recorded_at, 'UTC'),
           metrics_rollup.rollup_agg(n.response_time, n.success, n.recorded_at, n.entity_name)
      FROM new_rows n
     GROUP BY 1, 2, 3
     ORDER BY 1, 2, 3;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.rollup_mark_inserted() IS
  'Statement trigger on raw_metrics: appends one dirty mark per (kind, entity_id, hour) of the inserted rows, carrying their summary (partial; none in a restore session, check_function_bodies off), without row locks; refuses rows older than rollup_retention_days (22008).';
-- work_mem: the planner takes a tenth of the rows for groups and rollup_agg's
-- internal state for kilobytes a group, so under 4MB it sorted a flush's rows
-- (200,000: external merge, ~1 us an event) instead of hashing them into their
-- few groups (measured: HashAggregate, 4.4 MB, and a sort of the groups only).
-- A bound, not an allocation.
ALTER FUNCTION metrics_rollup.rollup_mark_inserted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET work_mem = '256MB';

-- The pieces of an answer (1.0's rule, now without reading the raw rows of
-- hours whose summaries are known).  Per known group-hour G = (kind,
-- entity_id, UTC hour H) of [p_lo, p_hi) (an hourly row, a mark, or a
-- daily_holes row):
--   * G has an archived part (NOT raw_complete) and H < p_lo: nothing;
--   * G counts whole when H >= p_lo and (H + 1 h <= p_hi, or G has an
--     archived part, or every event of G is known to be before p_hi: the
--     latest recorded_at of its hourly row and partials);
--   * counted whole, G is "summed" when it is no hole and every mark of it
--     has a partial: its hourly row (if any) and its marks' partials;
--     otherwise its archived part (if any) and all its raw rows;
--   * not counted whole (cut by p_lo or p_hi, all raw rows there): its raw
--     rows in [p_lo, p_hi).
-- Raw rows of a group-hour that has no hourly row, no mark and no
-- daily_holes row (written with raw_metrics' triggers disabled) are not
-- found: run_rollup(since) marks them.
-- plpgsql, not SQL (Citus).  Two statements, for all entities of the kind
-- and for one, the same but for the entity conditions, so that each plan
-- keeps the entity in its index conditions (a generic plan would not fold
-- "all OR entity_id = $2"); each streams its rows (RETURN QUERY), whatever
-- the number of group-hours.
CREATE OR REPLACE FUNCTION metrics_rollup.query_pieces(
    p_kind text, p_entity_id text, p_all_entities boolean,
    p_lo timestamptz, p_hi timestamptz)
RETURNS TABLE(kind text, entity_id text, hour_start timestamptz,
              total_count bigint, success_count bigint,
              min_value double precision, max_value double precision,
              sum_value numeric, sketch metrics_rollup.sketch,
              entity_name text, name_at timestamptz, last_at timestamptz)
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    lo_hour timestamptz := date_trunc('hour', p_lo, 'UTC');
BEGIN
    IF p_lo >= p_hi THEN
        RETURN;
    END IF;
    IF p_all_entities THEN
        RETURN QUERY
        WITH c AS (
            SELECT coalesce(hm.kind, x.kind) AS kind, coalesce(hm.entity_id, x.entity_id) AS entity_id,
                   coalesce(hm.hour_start, x.hour_start) AS hour_start,
                   hm.hourly, hm.archived, hm.marks, hm.marks_last,
                   coalesce(hm.summed, false) AS summed, x.kind IS NOT NULL AS hole
              FROM (SELECT kind, entity_id, hour_start, h.hourly, h.archived, m.marks, m.marks_last,
                           m.summed IS NOT FALSE AS summed
                      FROM (SELECT h.kind, h.entity_id, h.hour_start,
                                   ROW(h.total_count, h.success_count, h.min_response_time,
                                       h.max_response_time, h.sum_response_time, NULL, NULL, NULL,
                                       h.entity_name, h.last_recorded_at, h.last_recorded_at,
                                       false, h.sketch)::metrics_rollup.rollup_stats AS hourly,
                                   h.archived
                              FROM metrics_rollup.hourly_metrics h
                             WHERE h.kind = p_kind
                               AND h.hour_start >= lo_hour AND h.hour_start < p_hi) h
                      FULL JOIN
                           (SELECT d.kind, d.entity_id, d.hour_start,
                                   bool_and((d.partial).total_count IS NOT NULL) AS summed,
                                   array_agg(d.partial) AS marks,
                                   max((d.partial).last_at) AS marks_last
                              FROM metrics_rollup.rollup_dirty d
                             WHERE d.kind = p_kind
                               AND d.hour_start >= lo_hour AND d.hour_start < p_hi
                             GROUP BY 1, 2, 3) m
                      USING (kind, entity_id, hour_start)) hm
              FULL JOIN
                   (SELECT x.kind, x.entity_id, x.hour_start
                      FROM metrics_rollup.daily_holes x
                     WHERE x.kind = p_kind
                       AND x.hour_start >= lo_hour AND x.hour_start < p_hi) x
                ON x.kind = hm.kind AND x.entity_id = hm.entity_id
                  AND x.hour_start = hm.hour_start),
        g AS (
            SELECT c.kind, c.entity_id, c.hour_start, c.hourly, c.archived, c.marks,
                   -- an archived part: the hour counts whole by hour_start
                   (c.archived).total_count IS NOT NULL AS archived_part,
                   c.summed AND NOT c.hole AS summed,
                   c.hour_start >= p_lo
                   AND (c.hour_start + interval '1 hour' <= p_hi
                        OR (c.archived).total_count IS NOT NULL
                        OR (c.summed AND NOT c.hole
                            AND coalesce((c.hourly).last_at, '-infinity') < p_hi
                            AND coalesce(c.marks_last, '-infinity') < p_hi)) AS whole
              FROM c
             -- an hour with an archived part that starts before p_lo does not count
             WHERE NOT ((c.archived).total_count IS NOT NULL AND c.hour_start < p_lo))
        -- hourly rows of summed group-hours
        SELECT g.kind, g.entity_id, g.hour_start, (g.hourly).total_count, (g.hourly).success_count,
               (g.hourly).min_value, (g.hourly).max_value, (g.hourly).sum_value, (g.hourly).sketch,
               (g.hourly).entity_name, (g.hourly).name_at, (g.hourly).last_at
          FROM g
         WHERE g.whole AND g.summed AND (g.hourly).total_count IS NOT NULL
        UNION ALL
        -- the partials of their marks, unmerged (the caller's
        -- query_sketch_merge decodes each sketch once)
        SELECT g.kind, g.entity_id, g.hour_start, p.total_count, p.success_count,
               p.min_value, p.max_value, p.sum_value, p.sketch,
               p.entity_name, p.name_at, p.last_at
          FROM g CROSS JOIN LATERAL unnest(g.marks) p
         WHERE g.whole AND g.summed AND g.marks IS NOT NULL
        UNION ALL
        -- archived part of the other group-hours counted whole (raw rows follow)
        SELECT g.kind, g.entity_id, g.hour_start,
               (g.archived).total_count, (g.archived).success_count,
               (g.archived).min_value, (g.archived).max_value, (g.archived).sum_value,
               (g.archived).sketch, (g.archived).entity_name, (g.archived).name_at,
               (g.archived).last_at
          FROM g
         WHERE g.whole AND NOT g.summed AND g.archived_part
        UNION ALL
        -- raw rows: the whole hour, or the part of it inside [p_lo, p_hi)
        SELECT g.kind, g.entity_id, g.hour_start, (r.s).total_count, (r.s).success_count,
               (r.s).min_value, (r.s).max_value, (r.s).sum_value, (r.s).sketch,
               (r.s).entity_name, (r.s).name_at, (r.s).last_at
          FROM g
         CROSS JOIN LATERAL
               (SELECT metrics_rollup.rollup_agg(x.response_time, x.success, x.recorded_at,
                                                 x.entity_name) AS s
                  FROM metrics_rollup.raw_metrics x
                 WHERE x.kind = g.kind AND x.entity_id = g.entity_id
                   AND x.recorded_at >= CASE WHEN g.whole THEN g.hour_start
                                             ELSE greatest(g.hour_start, p_lo) END
                   AND x.recorded_at < CASE WHEN g.whole THEN g.hour_start + interval '1 hour'
                                            ELSE least(g.hour_start + interval '1 hour', p_hi) END) r
         WHERE NOT (g.whole AND g.summed)
           AND (r.s).total_count IS NOT NULL;
    ELSE
        RETURN QUERY
        WITH c AS (
            SELECT p_kind AS kind, p_entity_id AS entity_id,
                   coalesce(hm.hour_start, x.hour_start) AS hour_start,
                   hm.hourly, hm.archived, hm.marks, hm.marks_last,
                   coalesce(hm.summed, false) AS summed, x.hour_start IS NOT NULL AS hole
              FROM (SELECT hour_start, h.hourly, h.archived, m.marks, m.marks_last,
                           m.summed IS NOT FALSE AS summed
                      FROM (SELECT h.hour_start,
                                   ROW(h.total_count, h.success_count, h.min_response_time,
                                       h.max_response_time, h.sum_response_time, NULL, NULL, NULL,
                                       h.entity_name, h.last_recorded_at, h.last_recorded_at,
                                       false, h.sketch)::metrics_rollup.rollup_stats AS hourly,
                                   h.archived
                              FROM metrics_rollup.hourly_metrics h
                             WHERE h.kind = p_kind AND h.entity_id = p_entity_id
                               AND h.hour_start >= lo_hour AND h.hour_start < p_hi) h
                      FULL JOIN
                           (SELECT d.hour_start,
                                   bool_and((d.partial).total_count IS NOT NULL) AS summed,
                                   array_agg(d.partial) AS marks,
                                   max((d.partial).last_at) AS marks_last
                              FROM metrics_rollup.rollup_dirty d
                             WHERE d.kind = p_kind AND d.entity_id = p_entity_id
                               AND d.hour_start >= lo_hour AND d.hour_start < p_hi
                             GROUP BY 1) m
                      USING (hour_start)) hm
              FULL JOIN
                   (SELECT x.hour_start
                      FROM metrics_rollup.daily_holes x
                     WHERE x.kind = p_kind AND x.entity_id = p_entity_id
                       AND x.hour_start >= lo_hour AND x.hour_start < p_hi) x
                ON x.hour_start = hm.hour_start),
        g AS (
            SELECT c.kind, c.entity_id, c.hour_start, c.hourly, c.archived, c.marks,
                   -- an archived part: the hour counts whole by hour_start
                   (c.archived).total_count IS NOT NULL AS archived_part,
                   c.summed AND NOT c.hole AS summed,
                   c.hour_start >= p_lo
                   AND (c.hour_start + interval '1 hour' <= p_hi
                        OR (c.archived).total_count IS NOT NULL
                        OR (c.summed AND NOT c.hole
                            AND coalesce((c.hourly).last_at, '-infinity') < p_hi
                            AND coalesce(c.marks_last, '-infinity') < p_hi)) AS whole
              FROM c
             -- an hour with an archived part that starts before p_lo does not count
             WHERE NOT ((c.archived).total_count IS NOT NULL AND c.hour_start < p_lo))
        -- hourly rows of summed group-hours
        SELECT g.kind, g.entity_id, g.hour_start, (g.hourly).total_count, (g.hourly).success_count,
               (g.hourly).min_value, (g.hourly).max_value, (g.hourly).sum_value, (g.hourly).sketch,
               (g.hourly).entity_name, (g.hourly).name_at, (g.hourly).last_at
          FROM g
         WHERE g.whole AND g.summed AND (g.hourly).total_count IS NOT NULL
        UNION ALL
        -- the partials of their marks, unmerged (the caller's
        -- query_sketch_merge decodes each sketch once)
        SELECT g.kind, g.entity_id, g.hour_start, p.total_count, p.success_count,
               p.min_value, p.max_value, p.sum_value, p.sketch,
               p.entity_name, p.name_at, p.last_at
          FROM g CROSS JOIN LATERAL unnest(g.marks) p
         WHERE g.whole AND g.summed AND g.marks IS NOT NULL
        UNION ALL
        -- archived part of the other group-hours counted whole (raw rows follow)
        SELECT g.kind, g.entity_id, g.hour_start,
               (g.archived).total_count, (g.archived).success_count,
               (g.archived).min_value, (g.archived).max_value, (g.archived).sum_value,
               (g.archived).sketch, (g.archived).entity_name, (g.archived).name_at,
               (g.archived).last_at
          FROM g
         WHERE g.whole AND NOT g.summed AND g.archived_part
        UNION ALL
        -- raw rows: the whole hour, or the part of it inside [p_lo, p_hi)
        SELECT g.kind, g.entity_id, g.hour_start, (r.s).total_count, (r.s).success_count,
               (r.s).min_value, (r.s).max_value, (r.s).sum_value, (r.s).sketch,
               (r.s).entity_name, (r.s).name_at, (r.s).last_at
          FROM g
         CROSS JOIN LATERAL
               (SELECT metrics_rollup.rollup_agg(x.response_time, x.success, x.recorded_at,
                                                 x.entity_name) AS s
                  FROM metrics_rollup.raw_metrics x
                 WHERE x.kind = g.kind AND x.entity_id = g.entity_id
                   AND x.recorded_at >= CASE WHEN g.whole THEN g.hour_start
                                             ELSE greatest(g.hour_start, p_lo) END
                   AND x.recorded_at < CASE WHEN g.whole THEN g.hour_start + interval '1 hour'
                                            ELSE least(g.hour_start + interval '1 hour', p_hi) END) r
         WHERE NOT (g.whole AND g.summed)
           AND (r.s).total_count IS NOT NULL;
    END IF;
END
$$;
COMMENT ON FUNCTION metrics_rollup.query_pieces(text, text, boolean, timestamptz, timestamptz) IS
  'Internal to aggregate() and timeseries(): the summaries that together count every event of [p_lo, p_hi) exactly once: per known group-hour, its hourly row and its marks'' partials, or (a mark without partial, a hole, an hour cut by the range) its archived part and raw rows.';

CREATE FUNCTION metrics_rollup.compact_marks() RETURNS bigint
    AS 'MODULE_PATHNAME', 'query_marks_compact_sql' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION metrics_rollup.compact_marks() IS
  'Folds the dirty marks of each group-hour that has several into one (partials merged; NULL if any is NULL), under the runner lock (waits for a rollup or cleanup in progress); returns the marks removed. The maintenance worker does it every 10 flush intervals for the group-hours with at least 8 marks.';

-------------------------------------------------------------------------------
-- Scale out: Citus, distribute() and undistribute()
-------------------------------------------------------------------------------

-- (citus section)

-- sketch_agg's state becomes the sketch type itself (src/sketch.c: an
-- expanded object updated in place, flattened by its final function), with
-- a COMBINEFUNC: Citus pushes such an aggregate down to the shards
-- (worker_partial_agg, the partial state as sketch_out's text, which
-- sketch_in reads back byte for byte; coord_combine_agg on the
-- coordinator).  PostgreSQL still aggregates it in parallel (partial
-- states are flat sketches; no serial functions, which a non-internal
-- state may not have).  Results are byte-identical to 1.1's.  A state type
-- cannot be altered: the aggregates are dropped and created again, with
-- the same comments and privileges (EXECUTE for PUBLIC, as the 1.0
-- script grants every sketch function).  Nothing else depends on them
-- (SQL bodies name them in strings only); a user's view or function that
-- does stops the update with the list of them, before anything changes.
DO $sketch_agg_dependents$
DECLARE
    dependents text;
BEGIN
    SELECT pg_catalog.string_agg(DISTINCT pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
      INTO dependents
      FROM pg_catalog.pg_depend d
     WHERE d.refclassid = 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refobjid IN ('metrics_rollup.sketch_agg(double precision)'::pg_catalog.regprocedure,
                          'metrics_rollup.sketch_agg(double precision, double precision)'::pg_catalog.regprocedure)
       AND d.deptype = 'n';
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'cannot update sketch_agg: other objects depend on it'
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'Depending on sketch_agg: ' || dependents || '.',
                  HINT = 'Drop these objects, run ALTER EXTENSION metrics_rollup UPDATE, then create them again (1.2 re-creates sketch_agg with a new state type).';
    END IF;
END
$sketch_agg_dependents$;
DROP AGGREGATE metrics_rollup.sketch_agg(double precision);
DROP AGGREGATE metrics_rollup.sketch_agg(double precision, double precision);
DROP FUNCTION metrics_rollup.sketch_agg_trans(internal, double precision);
DROP FUNCTION metrics_rollup.sketch_agg_trans(internal, double precision, double precision);
DROP FUNCTION metrics_rollup.sketch_agg_final(internal);
DROP FUNCTION metrics_rollup.sketch_agg_combine(internal, internal);
DROP FUNCTION metrics_rollup.sketch_agg_serial(internal);
DROP FUNCTION metrics_rollup.sketch_agg_deserial(bytea, internal);

CREATE FUNCTION metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision)
    RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_agg_state_trans' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision) IS
  'Transition function of sketch_agg(value): relative accuracy from metrics_rollup.sketch_relative_accuracy, read at the first row of a group; aggregate context only.';
CREATE FUNCTION metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision, double precision)
    RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_agg_state_trans_alpha' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision, double precision) IS
  'Transition function of sketch_agg(value, relative_accuracy); aggregate context only.';
CREATE FUNCTION metrics_rollup.sketch_agg_final(metrics_rollup.sketch) RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_agg_state_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_final(metrics_rollup.sketch) IS
  'Final function of sketch_agg: the canonical stored sketch, NULL when no value was seen.';
CREATE FUNCTION metrics_rollup.sketch_agg_combine(metrics_rollup.sketch, metrics_rollup.sketch)
    RETURNS metrics_rollup.sketch
    AS 'MODULE_PATHNAME', 'sketch_agg_state_combine' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.sketch_agg_combine(metrics_rollup.sketch, metrics_rollup.sketch) IS
  'Combine function of sketch_agg: merges partial states (of parallel workers or Citus shards); aggregate context only.';

CREATE AGGREGATE metrics_rollup.sketch_agg(double precision) (
    SFUNC = metrics_rollup.sketch_agg_trans,
    STYPE = metrics_rollup.sketch,
    SSPACE = 4096,
    FINALFUNC = metrics_rollup.sketch_agg_final,
    COMBINEFUNC = metrics_rollup.sketch_agg_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.sketch_agg(double precision) IS
  'Percentile sketch of the non-NULL values (finite, 0..1e15), relative accuracy from metrics_rollup.sketch_relative_accuracy; NULL over no values.';

CREATE AGGREGATE metrics_rollup.sketch_agg(double precision, relative_accuracy double precision) (
    SFUNC = metrics_rollup.sketch_agg_trans,
    STYPE = metrics_rollup.sketch,
    SSPACE = 4096,
    FINALFUNC = metrics_rollup.sketch_agg_final,
    COMBINEFUNC = metrics_rollup.sketch_agg_combine,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE metrics_rollup.sketch_agg(double precision, double precision) IS
  'Percentile sketch of the non-NULL values with the given relative accuracy (0.0001..0.1); NULL over no values.';

REVOKE ALL ON FUNCTION
    metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision),
    metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision, double precision),
    metrics_rollup.sketch_agg_final(metrics_rollup.sketch),
    metrics_rollup.sketch_agg_combine(metrics_rollup.sketch, metrics_rollup.sketch),
    metrics_rollup.sketch_agg(double precision),
    metrics_rollup.sketch_agg(double precision, double precision)
  FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision),
    metrics_rollup.sketch_agg_trans(metrics_rollup.sketch, double precision, double precision),
    metrics_rollup.sketch_agg_final(metrics_rollup.sketch),
    metrics_rollup.sketch_agg_combine(metrics_rollup.sketch, metrics_rollup.sketch),
    metrics_rollup.sketch_agg(double precision),
    metrics_rollup.sketch_agg(double precision, double precision)
  TO PUBLIC;

-- Scale-out on Citus (src/citus.c).  distribute() makes raw_metrics,
-- hourly_metrics, daily_metrics and rollup_dirty distributed tables by
-- entity_id, co-located; every other table stays local to each node.  The
-- statement triggers of raw_metrics and hourly_metrics cannot run on shards:
-- distribute() saves and drops them, and gives raw_metrics the shard
-- triggers (citus_raw_changed(), below) instead.  Only the
-- coordinator runs rollup and cleanup; every node flushes its own buffer
-- through statements Citus routes.  DROP EXTENSION on the coordinator drops
-- the distributed tables first (event trigger), so no shard is left.
CREATE FUNCTION metrics_rollup.distribute(shard_count integer DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'citus_distribute'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION metrics_rollup.distribute(integer) IS
  'On a Citus coordinator: distributes raw_metrics, hourly_metrics, daily_metrics and rollup_dirty by entity_id, co-located (shard_count NULL: citus.shard_count), drops the marking triggers that cannot run on shards, and arms DROP EXTENSION to undistribute first; idempotent. ERROR 0A000 without Citus, 55000 on a worker node.';

CREATE FUNCTION metrics_rollup.undistribute()
RETURNS void
AS 'MODULE_PATHNAME', 'citus_undistribute'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION metrics_rollup.undistribute() IS
  'On a Citus coordinator: the inverse of distribute(). Brings every row of the distributed tables back into the coordinator''s own tables (the same tables), removes their shards and Citus metadata, re-creates the triggers distribute() dropped and marks every hour with raw rows dirty for the next rollup; idempotent. ERROR 0A000 without Citus, 55000 on a worker node.';

-- The triggers distribute() dropped, as pg_get_triggerdef() wrote them,
-- for undistribute() to re-create (then emptied).
CREATE TABLE metrics_rollup.citus_saved_triggers (
    table_name   text NOT NULL,
    trigger_name text NOT NULL,
    definition   text NOT NULL,
    description  text,
    PRIMARY KEY (table_name, trigger_name)
);
COMMENT ON TABLE metrics_rollup.citus_saved_triggers IS
  'Triggers of raw_metrics and hourly_metrics that distribute() dropped (they cannot run on shards), saved for undistribute() to re-create; empty when the tables are not distributed.';
COMMENT ON COLUMN metrics_rollup.citus_saved_triggers.table_name IS 'The table, schema-qualified.';
COMMENT ON COLUMN metrics_rollup.citus_saved_triggers.trigger_name IS 'The trigger''s name.';
COMMENT ON COLUMN metrics_rollup.citus_saved_triggers.definition IS 'Its CREATE TRIGGER statement (pg_get_triggerdef, names schema-qualified).';
COMMENT ON COLUMN metrics_rollup.citus_saved_triggers.description IS 'Its comment.';

-- Dirty tracking on the shards.  On a distributed raw_metrics a statement
-- trigger fires on each shard, on the worker node that holds it, where the
-- distributed rollup_dirty and hourly_metrics cannot be written from a
-- transition table (Citus would plan a distributed statement that cannot
-- see it).  citus_raw_changed() writes instead into the shards of
-- rollup_dirty and hourly_metrics co-located with the shard it fires on
-- (same hash range, pg_dist_shard), on the same node, in the same
-- transaction: what rollup_mark_inserted(), rollup_mark_updated() and
-- rollup_archive_deleted() do on one node, for every writer (the flush,
-- applications' INSERT/COPY/UPDATE/DELETE, cleanup).  Its marks carry no
-- partial summary (the Citus queries read a marked hour's raw rows).
-- distribute() creates the triggers citus_raw_inserted/_updated/_deleted
-- (Citus copies them to every shard); undistribute() drops them.
CREATE FUNCTION metrics_rollup.citus_raw_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    shard_id   bigint := pg_catalog.substring(TG_TABLE_NAME, '_([0-9]+)$')::bigint;
    dirty      text;
    hourly     text;
    oldest     timestamptz;
    limit_days integer := COALESCE(NULLIF(pg_catalog.current_setting(
        'metrics_rollup.rollup_retention_days', true), ''), '365')::integer;
BEGIN
    SELECT pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, 'rollup_dirty_' || d.shardid),
           pg_catalog.format('%I.%I', TG_TABLE_SCHEMA, 'hourly_metrics_' || h.shardid)
      INTO dirty, hourly
      FROM pg_catalog.pg_dist_shard s
      JOIN pg_catalog.pg_dist_shard d
        ON d.logicalrelid = 'metrics_rollup.rollup_dirty'::pg_catalog.regclass
       AND d.shardminvalue = s.shardminvalue
      JOIN pg_catalog.pg_dist_shard h
        ON h.logicalrelid = 'metrics_rollup.hourly_metrics'::pg_catalog.regclass
       AND h.shardminvalue = s.shardminvalue
     WHERE s.shardid = shard_id
       AND s.logicalrelid = 'metrics_rollup.raw_metrics'::pg_catalog.regclass;
    IF dirty IS NULL THEN
        RAISE EXCEPTION 'relation % is not a shard of a distributed metrics_rollup.raw_metrics',
            TG_TABLE_NAME
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'citus_raw_changed() runs on the shards of raw_metrics only (metrics_rollup.distribute() creates its triggers).';
    END IF;
    IF TG_OP <> 'DELETE' THEN
        EXECUTE 'SELECT pg_catalog.min(n.recorded_at) FROM new_rows n' INTO oldest;
        IF oldest < pg_catalog.now() - pg_catalog.make_interval(days => limit_days) THEN
            RAISE EXCEPTION 'recorded_at % is older than metrics_rollup.rollup_retention_days (% days)',
                oldest, limit_days
                USING ERRCODE = 'datetime_field_overflow',
                      HINT = 'Rollups older than the retention are deleted, so such an event would be counted nowhere. Record it with a recent time, or raise metrics_rollup.rollup_retention_days.';
        END IF;
    END IF;
    IF TG_OP = 'INSERT' THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO %s (kind, entity_id, hour_start)
             SELECT DISTINCT n.kind, n.entity_id, pg_catalog.date_trunc(''hour'', n.recorded_at, ''UTC'')
               FROM new_rows n ORDER BY 1, 2, 3', dirty);
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO %s (kind, entity_id, hour_start, force)
             SELECT kind, entity_id, pg_catalog.date_trunc(''hour'', recorded_at, ''UTC''), true FROM old_rows
             UNION
             SELECT kind, entity_id, pg_catalog.date_trunc(''hour'', recorded_at, ''UTC''), true FROM new_rows
             ORDER BY 1, 2, 3', dirty);
    ELSE
        -- deleted events join their hourly row's archived summary
        EXECUTE pg_catalog.format(
            'INSERT INTO %s AS h
                    (kind, entity_id, entity_name, hour_start, total_count, success_count, failure_count,
                     min_response_time, max_response_time, avg_response_time,
                     p50_response_time, p95_response_time, p99_response_time,
                     sketch, sum_response_time, last_recorded_at, percentiles_exact, archived)
             SELECT o.kind, o.entity_id, (o.s).entity_name, o.hour_start, (o.s).total_count,
                    (o.s).success_count, (o.s).total_count - (o.s).success_count,
                    (o.s).min_value, (o.s).max_value,
                    ((o.s).sum_value / (o.s).total_count)::double precision,
                    (o.s).p50, (o.s).p95, (o.s).p99,
                    (o.s).sketch, (o.s).sum_value, (o.s).last_at, (o.s).percentiles_exact, o.s
               FROM (SELECT r.kind, r.entity_id,
                            pg_catalog.date_trunc(''hour'', r.recorded_at, ''UTC'') AS hour_start,
                            metrics_rollup.rollup_agg(r.response_time, r.success, r.recorded_at,
                                                      r.entity_name) AS s
                       FROM old_rows r GROUP BY 1, 2, 3 ORDER BY 1, 2, 3) o
             ON CONFLICT (kind, entity_id, hour_start) DO UPDATE
                SET archived = metrics_rollup.rollup_stats_merge(h.archived, excluded.archived),
                    updated_at = pg_catalog.now()', hourly);
        EXECUTE pg_catalog.format(
            'INSERT INTO %s (kind, entity_id, hour_start)
             SELECT DISTINCT o.kind, o.entity_id, pg_catalog.date_trunc(''hour'', o.recorded_at, ''UTC'')
               FROM old_rows o ORDER BY 1, 2, 3', dirty);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION metrics_rollup.citus_raw_changed() IS
  'Statement trigger on the shards of a distributed raw_metrics (Citus): writes dirty marks (INSERT, UPDATE: forced) and archives deleted events (DELETE) into the co-located shards of rollup_dirty and hourly_metrics, on the same node, as the single-node triggers do; refuses rows older than rollup_retention_days (22008).';
ALTER FUNCTION metrics_rollup.citus_raw_changed()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION metrics_rollup.citus_raw_changed() FROM PUBLIC;

CREATE FUNCTION metrics_rollup.citus_before_drop_extension()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'citus_before_drop_extension'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION metrics_rollup.citus_before_drop_extension() IS
  'Event trigger function (ddl_command_start, DROP EXTENSION; created by distribute()): a DROP EXTENSION metrics_rollup on the coordinator drops the distributed tables first, so that Citus removes every shard on the workers.';

REVOKE ALL ON FUNCTION metrics_rollup.distribute(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_rollup.undistribute() FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_rollup.citus_before_drop_extension() FROM PUBLIC;

-- aggregate() and timeseries() on Citus.  Citus cannot plan query_pieces()
-- (CTEs, FULL JOINs, LATERAL over distributed tables) nor the daily lookup
-- (the local daily_built joined with the distributed rollup_dirty).  When
-- raw_metrics is distributed, both functions first compute the covered days
-- (citus_covered_days(): built, wholly inside the range, no mark; their
-- longest run of consecutive days), then run
-- one statement (EXECUTE ... USING: planned with the
-- values, which Citus needs to prune shards) whose every join equates
-- entity_id, the distribution column, and whose aggregates group by it: the
-- whole answer per entity is computed on the shards, nothing is pulled up
-- (citus.coordinator_aggregation_strategy = 'disabled' passes).  Per
-- covered day: its daily rows.  Per group-hour (kind, entity_id, UTC hour
-- H) of the rest of the range, with query_pieces' cut rules (marks on Citus
-- carry no partial; daily_holes is empty there):
--   * a group-hour with an archived part and H < since: nothing;
--   * counted whole: H >= since and (H + 1 h <= until, or an archived
--     part, or no mark and its hourly row's last event before until);
--   * whole, with an hourly row and no mark: the hourly row;
--   * whole, with a mark or without an hourly row: its archived part (if
--     any) and all its raw rows;
--   * not whole: its raw rows in [since, until).
-- Every write into a distributed raw_metrics is marked on its shard
-- (citus_raw_changed()), as on one node, so raw rows are read only for the
-- marked group-hours (from the marks, through raw_metrics' index) and for
-- the range's first and last hour (those a bound may cut): a group-hour
-- without mark is read from its hourly row, and one with neither mark nor
-- hourly row (its hourly row deleted by hand: there is no daily_holes on
-- Citus) is counted once run_rollup(since) marks it.  The daily level on Citus is
-- invalidated by the rollup (src/citus.c: the days of the hourly rows it
-- changed) and by the hourly retention, not by triggers on hourly_metrics:
-- a direct write into the distributed hourly_metrics is not seen.
CREATE FUNCTION metrics_rollup.citus_is_distributed() RETURNS boolean
    AS 'MODULE_PATHNAME', 'citus_is_distributed_sql'
    LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.citus_is_distributed() IS
  'True when raw_metrics is a Citus distributed table (distribute() ran): aggregate() and timeseries() then take their Citus path. False without Citus.';

-- The pieces of [$3, $4) as one UNION ALL whose legs all start with
-- entity_id: columns entity_id, hour_start, total_count, success_count,
-- min_value, max_value, sum_value, sketch, entity_name, name_at, last_at.
-- Parameters: $1 kind, $2 entity_id (only when one_entity), $3 since,
-- $4 until, $5 since's UTC hour, $6 until rounded up to the hour, $7 the
-- bucket of timeseries() (aggregate(): NULL::interval, unused), [$8, $9)
-- the covered UTC days (citus_covered_days(); both 'infinity' for none):
-- read from daily_metrics (hour_start := day_start); the three other legs
-- skip every hour of those days by a condition on hour_start (recorded_at)
-- that their indexes serve (two ranges around the covered days).
CREATE FUNCTION metrics_rollup.citus_pieces_sql(one_entity boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT replace(replace(replace(replace($q$
SELECT dm.entity_id, dm.day_start AS hour_start, dm.total_count, dm.success_count,
       dm.min_response_time AS min_value, dm.max_response_time AS max_value,
       dm.sum_response_time AS sum_value, dm.sketch, dm.entity_name,
       dm.name_at, dm.last_recorded_at AS last_at
  FROM metrics_rollup.daily_metrics dm
 WHERE dm.kind = $1 /*m*/
   AND dm.day_start >= $8 AND dm.day_start < $9
UNION ALL
SELECT h.entity_id, h.hour_start, h.total_count, h.success_count,
       h.min_response_time AS min_value, h.max_response_time AS max_value,
       h.sum_response_time AS sum_value, h.sketch, h.entity_name,
       h.last_recorded_at AS name_at, h.last_recorded_at AS last_at
  FROM metrics_rollup.hourly_metrics h
 WHERE h.kind = $1 /*h*/
   AND h.hour_start >= $3 AND h.hour_start < $4
   AND (h.hour_start < $8 OR h.hour_start >= $9)
   AND (h.hour_start + interval '1 hour' <= $4
        OR (h.archived).total_count IS NOT NULL
        OR h.last_recorded_at < $4)
   AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                    WHERE d.entity_id = h.entity_id AND d.kind = h.kind
                      AND d.hour_start = h.hour_start)
UNION ALL
SELECT h.entity_id, h.hour_start, (h.archived).total_count, (h.archived).success_count,
       (h.archived).min_value, (h.archived).max_value, (h.archived).sum_value,
       (h.archived).sketch, (h.archived).entity_name, (h.archived).name_at,
       (h.archived).last_at
  FROM metrics_rollup.hourly_metrics h
 WHERE h.kind = $1 /*h*/
   AND h.hour_start >= $3 AND h.hour_start < $4
   AND (h.hour_start < $8 OR h.hour_start >= $9)
   AND (h.archived).total_count IS NOT NULL
   AND EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                WHERE d.entity_id = h.entity_id AND d.kind = h.kind
                  AND d.hour_start = h.hour_start)
UNION ALL
SELECT r.entity_id, r.hour_start, (r.s).total_count, (r.s).success_count,
       (r.s).min_value, (r.s).max_value, (r.s).sum_value, (r.s).sketch,
       (r.s).entity_name, (r.s).name_at, (r.s).last_at
  FROM (SELECT y.entity_id, y.hour_start,
               metrics_rollup.rollup_agg(y.response_time, y.success, y.recorded_at,
                                         y.entity_name) AS s
          FROM (SELECT x.entity_id, x.recorded_at, x.response_time, x.success, x.entity_name,
                       m.hour_start, (h.archived).total_count IS NOT NULL AS archived_part
                  FROM (SELECT d.entity_id, d.hour_start
                          FROM metrics_rollup.rollup_dirty d
                         WHERE d.kind = $1 /*d*/
                           AND d.hour_start >= $5 AND d.hour_start < $6
                           AND (d.hour_start < $8 OR d.hour_start >= $9)
                         GROUP BY d.entity_id, d.hour_start) m
                  JOIN metrics_rollup.raw_metrics x
                    ON x.entity_id = m.entity_id AND x.kind = $1 /*x*/
                   AND x.recorded_at >= m.hour_start
                   AND x.recorded_at < m.hour_start + interval '1 hour'
                  LEFT JOIN metrics_rollup.hourly_metrics h
                    ON h.entity_id = m.entity_id AND h.kind = $1 /*h*/
                   AND h.hour_start = m.hour_start) y
         WHERE NOT (y.archived_part AND y.hour_start < $3)
           AND CASE WHEN y.hour_start >= $3
                         AND (y.hour_start + interval '1 hour' <= $4 OR y.archived_part)
                    THEN true
                    ELSE y.recorded_at >= $3 AND y.recorded_at < $4 END
         GROUP BY y.entity_id, y.hour_start) r
UNION ALL
SELECT r.entity_id, r.hour_start, (r.s).total_count, (r.s).success_count,
       (r.s).min_value, (r.s).max_value, (r.s).sum_value, (r.s).sketch,
       (r.s).entity_name, (r.s).name_at, (r.s).last_at
  FROM (SELECT y.entity_id, y.hour_start,
               metrics_rollup.rollup_agg(y.response_time, y.success, y.recorded_at,
                                         y.entity_name) AS s
          FROM (SELECT x.entity_id, x.recorded_at, x.response_time, x.success, x.entity_name,
                       date_trunc('hour', x.recorded_at, 'UTC') AS hour_start,
                       (h.archived).total_count IS NOT NULL AS archived_part,
                       h.hour_start IS NULL AS dirty,
                       h.last_recorded_at AS hourly_last
                  FROM metrics_rollup.raw_metrics x
                  LEFT JOIN metrics_rollup.hourly_metrics h
                    ON h.entity_id = x.entity_id AND h.kind = x.kind
                   AND h.hour_start = date_trunc('hour', x.recorded_at, 'UTC')
                 WHERE x.kind = $1 /*x*/
                   AND ((x.recorded_at >= $5 AND x.recorded_at < $5 + interval '1 hour')
                        OR (x.recorded_at >= $6 - interval '1 hour' AND x.recorded_at < $6))
                   AND (x.recorded_at < $8 OR x.recorded_at >= $9)
                   AND NOT EXISTS (SELECT FROM metrics_rollup.rollup_dirty d
                                    WHERE d.entity_id = x.entity_id AND d.kind = x.kind
                                      AND d.hour_start = date_trunc('hour', x.recorded_at, 'UTC'))) y
         WHERE NOT (y.archived_part AND y.hour_start < $3)
           AND CASE WHEN y.hour_start >= $3
                         AND (y.hour_start + interval '1 hour' <= $4 OR y.archived_part
                              OR (NOT y.dirty AND y.hourly_last < $4))
                    THEN y.dirty
                    ELSE y.recorded_at >= $3 AND y.recorded_at < $4 END
         GROUP BY y.entity_id, y.hour_start) r
$q$, '/*h*/', CASE WHEN one_entity THEN 'AND h.entity_id = $2' ELSE '' END),
     '/*d*/', CASE WHEN one_entity THEN 'AND d.entity_id = $2' ELSE '' END),
     '/*x*/', CASE WHEN one_entity THEN 'AND x.entity_id = $2' ELSE '' END),
     '/*m*/', CASE WHEN one_entity THEN 'AND dm.entity_id = $2' ELSE '' END)
$$;
COMMENT ON FUNCTION metrics_rollup.citus_pieces_sql(boolean) IS
  'Internal to aggregate() and timeseries() on Citus: the text of the query of the pieces of a range (daily rows of the covered days [$8, $9); then, outside them, hourly rows of unmarked whole hours, archived parts and raw rows of the marked ones, raw rows of the cut first and last hour), every join on entity_id so that Citus runs it on the shards.';

-- aggregate() on Citus: one statement, grouped by entity_id on the shards
CREATE FUNCTION metrics_rollup.citus_aggregate_sql(one_entity boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN one_entity THEN
$q$SELECT $1::text, $2::text, a.entity_name, a.n, a.ok, a.n - a.ok,
       CASE WHEN a.n > 0 THEN (a.n - a.ok)::float8 / a.n ELSE 0 END,
       a.mn, a.mx, (a.sm / nullif(a.n, 0))::float8, a.q[1], a.q[2], a.q[3], a.last_at
  FROM (SELECT (array_agg(p.entity_name ORDER BY p.name_at DESC)
                    FILTER (WHERE p.entity_name IS NOT NULL))[1] AS entity_name,
               coalesce(sum(p.total_count), 0)::bigint AS n,
               coalesce(sum(p.success_count), 0)::bigint AS ok,
               min(p.min_value) AS mn, max(p.max_value) AS mx, sum(p.sum_value) AS sm,
               metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
                                                      '{0.5,0.95,0.99}') AS q,
               max(p.last_at) AS last_at
          FROM ($q$ || metrics_rollup.citus_pieces_sql(true) || $q$) p) a$q$
ELSE
$q$SELECT $1::text, a.entity_id, a.entity_name, a.n, a.ok, a.n - a.ok,
       (a.n - a.ok)::float8 / a.n, a.mn, a.mx, (a.sm / a.n)::float8,
       a.q[1], a.q[2], a.q[3], a.last_at
  FROM (SELECT p.entity_id,
               (array_agg(p.entity_name ORDER BY p.name_at DESC)
                    FILTER (WHERE p.entity_name IS NOT NULL))[1] AS entity_name,
               sum(p.total_count)::bigint AS n, sum(p.success_count)::bigint AS ok,
               min(p.min_value) AS mn, max(p.max_value) AS mx, sum(p.sum_value) AS sm,
               metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
                                                      '{0.5,0.95,0.99}') AS q,
               max(p.last_at) AS last_at
          FROM ($q$ || metrics_rollup.citus_pieces_sql(false) || $q$) p
         GROUP BY p.entity_id) a
 ORDER BY a.entity_id$q$
END
$$;
COMMENT ON FUNCTION metrics_rollup.citus_aggregate_sql(boolean) IS
  'Internal to aggregate() on Citus: the text of its statement (parameters as citus_pieces_sql(): $7 unused, [$8, $9) the covered days), aggregated per entity_id on the shards.';

-- timeseries() on Citus: per entity and bucket on the shards (the sketches
-- merged there), then per bucket with sketch_merge, whose partial states
-- Citus combines (materialized: the buckets are then joined locally with
-- generate_series); $7 is the bucket
CREATE FUNCTION metrics_rollup.citus_timeseries_sql(one_entity boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT $q$WITH a AS MATERIALIZED (
    SELECT t.b, sum(t.n)::bigint AS n, sum(t.ok)::bigint AS ok, sum(t.sm) AS sm,
           metrics_rollup.sketch_merge(t.sketch) AS sketch
      FROM (SELECT p.entity_id, date_bin($7, p.hour_start, '1970-01-01 00:00:00+00') AS b,
                   sum(p.total_count) AS n, sum(p.success_count) AS ok, sum(p.sum_value) AS sm,
                   metrics_rollup.query_sketch_merge(p.sketch) AS sketch
              FROM ($q$ || metrics_rollup.citus_pieces_sql(one_entity) || $q$) p
             GROUP BY p.entity_id, 2) t
     GROUP BY t.b)
SELECT b.b, coalesce(a.n, 0), coalesce(a.n - a.ok, 0), (a.sm / a.n)::float8,
       a.q[1], a.q[2], a.q[3]
  FROM generate_series(date_bin($7, $3, '1970-01-01 00:00:00+00'),
                       $4 - interval '1 microsecond', $7) b(b)
  LEFT JOIN (SELECT a.b, a.n, a.ok, a.sm,
                    metrics_rollup.sketch_percentiles_cont(a.sketch, '{0.5,0.95,0.99}') AS q
               FROM a) a ON a.b = b.b
 ORDER BY b.b$q$
$$;
COMMENT ON FUNCTION metrics_rollup.citus_timeseries_sql(boolean) IS
  'Internal to timeseries() on Citus: the text of its statement (parameters as citus_pieces_sql(): $7 the bucket, [$8, $9) the covered days), aggregated per entity_id and bucket on the shards, then per bucket with sketch_merge.';

-- The covered days of aggregate() and timeseries() on Citus, as the single
-- node's branch computes them: days marked in daily_built (the local
-- table) wholly inside [since, until), less the days with a dirty mark of
-- the kind (of the entity, when one: Citus then asks one shard), read by a
-- statement of its own on the distributed rollup_dirty (Citus joins no
-- local table with a distributed one; EXECUTE plans it with the values, so
-- Citus prunes shards).  Of those, the longest run of consecutive days (the
-- earliest of equal ones): the statement then reads the rest of the range
-- as two index ranges around it; a covered day outside the run is read from
-- its hours, which gives the same answer.
CREATE FUNCTION metrics_rollup.citus_covered_days(
    p_kind text, p_entity text, p_since timestamptz, p_until timestamptz)
RETURNS tstzrange
LANGUAGE plpgsql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
-- FOR ... IN EXECUTE opens a cursor, planned by the plan cache: a generic
-- plan (the callers force them) leaves Citus parameters it cannot plan
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
    built   timestamptz[];
    marked  timestamptz[] := '{}';
    d       timestamptz;
    run_lo  timestamptz;
    run_hi  timestamptz;
    best    tstzrange := 'empty';
BEGIN
    SELECT array_agg(b.day_start ORDER BY b.day_start) INTO built
      FROM metrics_rollup.daily_built b
     WHERE b.kind = p_kind
       AND b.day_start >= p_since AND b.day_start <= p_until - interval '24 hours';
    IF built IS NULL THEN
        RETURN best;
    END IF;
    FOR d IN EXECUTE CASE WHEN p_entity IS NULL THEN
            $q$SELECT DISTINCT date_trunc('day', m.hour_start, 'UTC')
                 FROM metrics_rollup.rollup_dirty m
                WHERE m.kind = $1 AND m.hour_start >= $3 AND m.hour_start < $4$q$
        ELSE
            $q$SELECT DISTINCT date_trunc('day', m.hour_start, 'UTC')
                 FROM metrics_rollup.rollup_dirty m
                WHERE m.kind = $1 AND m.entity_id = $2
                  AND m.hour_start >= $3 AND m.hour_start < $4$q$
        END
        USING p_kind, p_entity, built[1], built[cardinality(built)] + interval '24 hours'
    LOOP
        marked := marked || d;
    END LOOP;
    -- days are 24 hours in UTC
    FOREACH d IN ARRAY built LOOP
        CONTINUE WHEN d = ANY (marked);
        IF run_hi IS DISTINCT FROM d THEN
            run_lo := d;
        END IF;
        run_hi := d + interval '24 hours';
        IF isempty(best) OR run_hi - run_lo > upper(best) - lower(best) THEN
            best := tstzrange(run_lo, run_hi);
        END IF;
    END LOOP;
    RETURN best;
END
$$;
COMMENT ON FUNCTION metrics_rollup.citus_covered_days(text, text, timestamptz, timestamptz) IS
  'Internal to aggregate() and timeseries() on Citus: of the built UTC days of the kind wholly inside [since, until) without a dirty mark of the kind (of the entity, when not NULL), the longest run of consecutive days, as [first day, end of the last); empty when none. Its daily rows are read instead of its hours.';

REVOKE ALL ON FUNCTION metrics_rollup.citus_covered_days(text, text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_rollup.citus_is_distributed() FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_rollup.citus_pieces_sql(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_rollup.citus_aggregate_sql(boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION metrics_rollup.citus_timeseries_sql(boolean) FROM PUBLIC;

-- query_aggregate() and timeseries(): their 1.1 definitions with
-- percentiles by the rule of percentile_cont (sketch_percentiles_cont)
-- instead of percentile_disc's rank (sketch_quantiles), and, first, the
-- Citus path.

CREATE OR REPLACE FUNCTION metrics_rollup.query_aggregate(
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
    IF metrics_rollup.citus_is_distributed() THEN
        -- the covered days read from daily_metrics: first_day to last_day
        SELECT lower(c), upper(c) - interval '24 hours' INTO first_day, last_day
          FROM metrics_rollup.citus_covered_days(p_kind, p_entity, p_lo, p_hi) c;
        RETURN QUERY EXECUTE metrics_rollup.citus_aggregate_sql(p_entity IS NOT NULL)
              USING p_kind, p_entity, p_lo, p_hi, date_trunc('hour', p_lo, 'UTC'),
                    metrics_rollup.citus_hour_ceil(p_hi), NULL::interval,
                    coalesce(first_day, 'infinity'),
                    coalesce(last_day + interval '24 hours', 'infinity');
        RETURN;
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
                       metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
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
                       metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
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
  'Implementation of aggregate() (same arguments and result columns): covered whole UTC days from daily_metrics, the rest through query_pieces(); on Citus (raw_metrics distributed) one statement run on the shards (citus_aggregate_sql()).';

CREATE OR REPLACE FUNCTION metrics_rollup.timeseries(
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
    IF metrics_rollup.citus_is_distributed() THEN
        -- the covered days read from daily_metrics, first_day to last_day:
        -- only for buckets of whole days, as below
        IF seconds % 86400 = 0 THEN
            SELECT lower(c), upper(c) - interval '24 hours' INTO first_day, last_day
              FROM metrics_rollup.citus_covered_days(p_kind, p_entity, p_lo, p_hi) c;
        END IF;
        RETURN QUERY EXECUTE metrics_rollup.citus_timeseries_sql(p_entity IS NOT NULL)
              USING p_kind, p_entity, p_lo, p_hi, date_trunc('hour', p_lo, 'UTC'),
                    metrics_rollup.citus_hour_ceil(p_hi), p_bucket,
                    coalesce(first_day, 'infinity'),
                    coalesce(last_day + interval '24 hours', 'infinity');
        RETURN;
    END IF;
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
                            metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
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
                            metrics_rollup.sketch_percentiles_cont(metrics_rollup.query_sketch_merge(p.sketch),
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
  'Per bucket of [since, until) (a positive whole number of hours, aligned to multiples of the bucket since the Unix epoch, UTC), every bucket listed, empty ones with zero counts: events, failures, avg exact, p50/p95/p99 by the rule of percentile_cont from the merged sketches (within sketch_relative_accuracy of the exact percentile_cont). Same counting rule as aggregate() (buckets of whole days read the daily level), so the buckets sum to its totals. entity_id NULL: every entity of the kind together.';

-- until rounded up to the next UTC hour (the end of the hours it cuts)
CREATE FUNCTION metrics_rollup.citus_hour_ceil(t timestamptz) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT CASE WHEN date_trunc('hour', t, 'UTC') = t THEN t
            ELSE date_trunc('hour', t, 'UTC') + interval '1 hour' END
$$;
COMMENT ON FUNCTION metrics_rollup.citus_hour_ceil(timestamptz) IS
  'Internal to aggregate() and timeseries() on Citus: the timestamp rounded up to a whole UTC hour (itself when whole; infinities unchanged).';
REVOKE ALL ON FUNCTION metrics_rollup.citus_hour_ceil(timestamptz) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Poll scheduling by class: should_poll(), mark_polled(), classification_info()
-------------------------------------------------------------------------------

-- (polling section)

-- Known entities: the set of entities of a kind that exist, used or not
-- (src/classes.c).  The application fills it; classify() and
-- classification_info() count every row in N, and never-used ones are cold.
CREATE TABLE metrics_rollup.known_entities (
    kind text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_]{0,62}$'),
    entity_id text NOT NULL CHECK (octet_length(entity_id) BETWEEN 1 AND 255),
    entity_name text CHECK (octet_length(entity_name) <= 255),
    registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (kind, entity_id)
);
SELECT pg_catalog.pg_extension_config_dump('metrics_rollup.known_entities', '');

COMMENT ON TABLE metrics_rollup.known_entities IS
  'Entities that exist, whether or not they sent events (e.g. every registered server): classify() and classification_info() count them in N and class them cold until used. Filled by the application; kinds without rows here are classified from live memory alone.';
COMMENT ON COLUMN metrics_rollup.known_entities.kind IS 'What kind of entity (the kind rule of record()).';
COMMENT ON COLUMN metrics_rollup.known_entities.entity_id IS 'Its identifier, as record() receives it (1 to 255 bytes).';
COMMENT ON COLUMN metrics_rollup.known_entities.entity_name IS 'Optional display name (not used by the classification).';
COMMENT ON COLUMN metrics_rollup.known_entities.registered_at IS 'When the row was added.';

-- classify() now counts known entities too: same signature, same result
-- for kinds without known entities.
CREATE OR REPLACE FUNCTION metrics_rollup.classify(
    kind text DEFAULT NULL,
    hot_fraction double precision DEFAULT NULL)
RETURNS TABLE(kind text, entity_id text, class text, rank integer, last_seen timestamptz, use_count bigint)
AS 'MODULE_PATHNAME', 'classes_classify'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classify(text, double precision) IS
  'Hot/cold split of the entities of the live table plus the known_entities of the kind (N counts both): ranks them by last_seen desc, then use_count desc, then entity_id asc (byte order), then kind; hot = the first min(floor(hot_fraction x N), entities used at least once), everyone else cold, never-used known entities included. kind NULL ranks all kinds together; hot_fraction NULL uses metrics_rollup.hot_fraction. Reads known_entities with the caller''s rights.';

CREATE FUNCTION metrics_rollup.classify(
    kind text,
    hot_fraction double precision,
    entity_ids text[])
RETURNS TABLE(kind text, entity_id text, class text, rank integer, last_seen timestamptz, use_count bigint)
AS 'MODULE_PATHNAME', 'classes_classify_ids'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classify(text, double precision, text[]) IS
  'classify() of one kind with the set of existing entities given by the caller instead of known_entities: N counts entity_ids plus the kind''s entities of the live table; never-used ones are cold. kind must not be NULL; hot_fraction NULL uses metrics_rollup.hot_fraction.';

CREATE FUNCTION metrics_rollup.classification_info(
    kind text,
    OUT entities integer,
    OUT declared integer,
    OUT eligible integer,
    OUT hot_fraction double precision,
    OUT hot_cap integer,
    OUT hot integer,
    OUT cold integer,
    OUT reason text)
RETURNS record
AS 'MODULE_PATHNAME', 'classes_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.classification_info(text) IS
  'The figures of classify(kind): entities (N, live plus known_entities), declared (of which in known_entities), eligible (used at least once), hot_fraction (metrics_rollup.hot_fraction), hot_cap = floor(hot_fraction x N), hot = min(hot_cap, eligible), cold, and reason: why fewer than hot_cap are hot (e.g. "only 3 entities were used, below hot_cap = 4"), NULL when hot = hot_cap. kind NULL: all kinds together.';

-- Poll scheduling (src/poll.c): state in shared memory, lost at restart.
CREATE FUNCTION metrics_rollup.should_poll(kind text, entity_id text, poll_type text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'poll_should_poll'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.should_poll(text, text, text) IS
  'True when the entity is due for a poll of poll_type: metrics_rollup.hot_poll_interval or cold_poll_interval (by its class, see classify()) has passed since its last poll of that type recorded by mark_polled(). Also true (fail open) when it was never polled or never classified, when its last poll lies more than 60 s in the future, when an argument is NULL or too long, and when the classification fails (a WARNING). Reclassifies the kind when its classes are older than metrics_rollup.class_refresh_interval (one session at a time). Server-wide state in shared memory, lost at restart.';

CREATE FUNCTION metrics_rollup.mark_polled(kind text, entity_id text, poll_type text)
RETURNS void
AS 'MODULE_PATHNAME', 'poll_mark_polled'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.mark_polled(text, text, text) IS
  'Records that a poll of poll_type of the entity completed now; call it only after the poll succeeded. The latest completion is kept (one more than 60 s in the future is always replaced). Not transactional. Bad arguments are an ERROR (22004, 22023).';

CREATE FUNCTION metrics_rollup.mark_polled(kind text, entity_id text, poll_type text, completed_at timestamptz)
RETURNS void
AS 'MODULE_PATHNAME', 'poll_mark_polled'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.mark_polled(text, text, text, timestamptz) IS
  'mark_polled() of a poll that completed at completed_at (NULL: now), e.g. as timed by the poller.';

CREATE FUNCTION metrics_rollup.poll_state()
RETURNS TABLE(kind text, entity_id text, class text, classified_at timestamptz,
              poll_type text, last_polled_at timestamptz, last_used timestamptz)
AS 'MODULE_PATHNAME', 'poll_state'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION metrics_rollup.poll_state() IS
  'The poll table in shared memory: per entity its class (NULL: unclassified) as of classified_at, and per poll type the last completed poll; an entity without a recorded poll has one row with poll_type NULL. last_used: its last should_poll() or mark_polled() (eviction order).';

CREATE FUNCTION metrics_rollup.poll_info(
    OUT entities integer,
    OUT max_entities integer,
    OUT evictions bigint,
    OUT kinds integer,
    OUT classify_passes bigint,
    OUT classify_failures bigint,
    OUT shared_memory_bytes bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'poll_info'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.poll_info() IS
  'The poll table: entities kept, capacity (metrics_rollup.max_poll_entities), evictions, kinds classified, classification passes run and failed since server start, shared memory size.';

-- Privileges as the 1.0 privileges section gives them: nothing for PUBLIC.
REVOKE ALL ON TABLE metrics_rollup.known_entities FROM PUBLIC;
REVOKE ALL ON FUNCTION
    metrics_rollup.classify(text, double precision, text[]),
    metrics_rollup.classification_info(text),
    metrics_rollup.should_poll(text, text, text),
    metrics_rollup.mark_polled(text, text, text),
    metrics_rollup.mark_polled(text, text, text, timestamptz),
    metrics_rollup.poll_state(),
    metrics_rollup.poll_info()
  FROM PUBLIC;

-------------------------------------------------------------------------------
-- Observability: stats_reset(), config, consistent names
-------------------------------------------------------------------------------

-- (observability section)

-- One naming scheme for the job columns of stats and job_stats():
-- <job>_<field> with job flush, rollup or cleanup, and <job>_last_<x> the x
-- of the job's last try as job_history shows it (started_at, duration,
-- rows, status; last_error is its error_message).  Retries are
-- "next_retry_at", failed tries "failed_runs" everywhere; stats'
-- flush_count and flush_failures count flush transactions (committed,
-- failed), a figure of the ingest buffer, not of the job's tries.
-- job_stats() changes its result columns: it is dropped and created again,
-- with the stats view that reads it.  The stats view is defined here and
-- only here: a change that adds columns to it adds them to this definition.
DROP VIEW metrics_rollup.stats;
DROP FUNCTION metrics_rollup.job_stats();

CREATE FUNCTION metrics_rollup.job_stats(
    OUT flush_circuit text,
    OUT flush_consecutive_failures integer,
    OUT flush_next_retry_at timestamptz,
    OUT flush_next_run_at timestamptz,
    OUT flush_last_started_at timestamptz,
    OUT flush_last_duration interval,
    OUT flush_last_rows bigint,
    OUT flush_last_status text,
    OUT flush_last_error text,
    OUT flush_runs bigint,
    OUT flush_failed_runs bigint,
    OUT rollup_circuit text,
    OUT rollup_consecutive_failures integer,
    OUT rollup_next_retry_at timestamptz,
    OUT rollup_next_run_at timestamptz,
    OUT rollup_last_started_at timestamptz,
    OUT rollup_last_duration interval,
    OUT rollup_last_rows bigint,
    OUT rollup_last_status text,
    OUT rollup_last_error text,
    OUT rollup_runs bigint,
    OUT rollup_failed_runs bigint,
    OUT cleanup_circuit text,
    OUT cleanup_consecutive_failures integer,
    OUT cleanup_next_retry_at timestamptz,
    OUT cleanup_next_run_at timestamptz,
    OUT cleanup_last_started_at timestamptz,
    OUT cleanup_last_duration interval,
    OUT cleanup_last_rows bigint,
    OUT cleanup_last_status text,
    OUT cleanup_last_error text,
    OUT cleanup_runs bigint,
    OUT cleanup_failed_runs bigint,
    OUT events_dead_lettered bigint,
    OUT worker_starts bigint,
    OUT worker_last_exit text,
    OUT worker_state text)
RETURNS record
AS 'MODULE_PATHNAME', 'jobstate_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.job_stats() IS
  'State of the worker jobs from shared memory: per job circuit, consecutive failures, next retry and run, last try (started_at, duration, rows, status, error), tries and failed tries since stats_reset; dead-lettered events, worker starts, last exit and what the worker does now (worker_state). The stats view shows them.';

CREATE FUNCTION metrics_rollup.stats_reset_counters(live_evictions bigint) RETURNS void
AS 'MODULE_PATHNAME', 'statsreset_reset'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION metrics_rollup.stats_reset_counters(bigint) IS
  'Internal to stats_reset(): zeroes the counters and records the time and the current live evictions count.';

CREATE FUNCTION metrics_rollup.stats_reset_info(
    OUT stats_reset timestamptz,
    OUT live_evictions_at_reset bigint)
RETURNS record
AS 'MODULE_PATHNAME', 'statsreset_info'
LANGUAGE C VOLATILE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.stats_reset_info() IS
  'Internal to the stats view: when the counters were last reset (server start if never) and the live evictions count at that time.';

CREATE FUNCTION metrics_rollup.stats_reset() RETURNS void
LANGUAGE sql VOLATILE PARALLEL UNSAFE
BEGIN ATOMIC
    SELECT metrics_rollup.stats_reset_counters(l.evictions) FROM metrics_rollup.live_info() l;
END;
COMMENT ON FUNCTION metrics_rollup.stats_reset() IS
  'Zeroes the counters of the stats view and of job_stats() (events, flushes, tries, failed tries, dead letters, live evictions) and sets stats.stats_reset to now; states (buffer use, circuits, consecutive failures, last runs) and worker_starts (since server start) stay.';

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
       i.worker_pid,
       CASE WHEN 'open' IN (j.flush_circuit, j.rollup_circuit, j.cleanup_circuit) THEN 'open'
            WHEN 'half_open' IN (j.flush_circuit, j.rollup_circuit, j.cleanup_circuit) THEN 'half_open'
            ELSE 'closed' END AS circuit_state,
       greatest(j.flush_consecutive_failures, j.rollup_consecutive_failures,
                j.cleanup_consecutive_failures) AS consecutive_failures,
       least(j.flush_next_retry_at, j.rollup_next_retry_at, j.cleanup_next_retry_at) AS next_retry_at,
       j.flush_circuit,
       j.flush_consecutive_failures,
       j.flush_next_retry_at,
       j.flush_next_run_at,
       j.flush_last_started_at,
       j.flush_last_duration,
       j.flush_last_rows,
       j.flush_last_status,
       j.flush_last_error,
       j.flush_runs,
       j.flush_failed_runs,
       j.rollup_circuit,
       j.rollup_consecutive_failures,
       j.rollup_next_retry_at,
       j.rollup_next_run_at,
       j.rollup_last_started_at,
       j.rollup_last_duration,
       j.rollup_last_rows,
       j.rollup_last_status,
       j.rollup_last_error,
       j.rollup_runs,
       j.rollup_failed_runs,
       j.cleanup_circuit,
       j.cleanup_consecutive_failures,
       j.cleanup_next_retry_at,
       j.cleanup_next_run_at,
       j.cleanup_last_started_at,
       j.cleanup_last_duration,
       j.cleanup_last_rows,
       j.cleanup_last_status,
       j.cleanup_last_error,
       j.cleanup_runs,
       j.cleanup_failed_runs,
       j.events_dead_lettered,
       (SELECT count(DISTINCT d.hour_start) FROM metrics_rollup.rollup_dirty d) AS backfill_hours_pending,
       j.worker_starts,
       j.worker_last_exit,
       coalesce(j.worker_state,
                CASE WHEN i.worker_pid IS NOT NULL THEN 'running' END) AS worker_state,
       l.entities AS live_entities,
       greatest(l.evictions - r.live_evictions_at_reset, 0) AS live_evictions,
       r.stats_reset
  FROM metrics_rollup.ingest_stats() i,
       metrics_rollup.job_stats() j,
       metrics_rollup.live_info() l,
       metrics_rollup.stats_reset_info() r;

COMMENT ON VIEW metrics_rollup.stats IS
  'One row: ingest buffer capacity and use, event counters, last flush, circuit, retry and last-try state of the flush, rollup and cleanup jobs, dead letters, backfill pending, worker pid, state, starts and last exit. Counters since stats_reset (stats_reset() zeroes them).';
COMMENT ON COLUMN metrics_rollup.stats.buffer_capacity_bytes IS 'Bytes of shared memory for buffered events (metrics_rollup.buffer_size).';
COMMENT ON COLUMN metrics_rollup.stats.buffer_used_bytes IS 'Bytes held by events not yet committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.stats.events_buffered IS 'Events put into the buffer by record() and record_batch().';
COMMENT ON COLUMN metrics_rollup.stats.events_pending IS 'Buffered events not yet committed to raw_metrics (a state: not reset).';
COMMENT ON COLUMN metrics_rollup.stats.events_flushed IS 'Buffered events the worker committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.stats.events_direct IS 'Events written directly into raw_metrics by the caller because the buffer was full.';
COMMENT ON COLUMN metrics_rollup.stats.events_dropped IS 'Events dropped because the buffer was full (overflow_policy = drop).';
COMMENT ON COLUMN metrics_rollup.stats.events_overflowed IS 'Events that found the buffer full and waited for room (overflow_policy = wait).';
COMMENT ON COLUMN metrics_rollup.stats.events_rejected IS 'Events refused with an ERROR because the buffer was full (overflow_policy = error).';
COMMENT ON COLUMN metrics_rollup.stats.flush_count IS 'Committed flush transactions.';
COMMENT ON COLUMN metrics_rollup.stats.flush_failures IS 'Failed flush transactions (their events stayed buffered and were retried).';
COMMENT ON COLUMN metrics_rollup.stats.last_flush_at IS 'When the last flush transaction committed.';
COMMENT ON COLUMN metrics_rollup.stats.last_flush_duration IS 'How long the last committed flush transaction took.';
COMMENT ON COLUMN metrics_rollup.stats.last_flush_error IS 'Error of the last flush transaction when it failed; NULL after a successful flush.';
COMMENT ON COLUMN metrics_rollup.stats.worker_pid IS 'Process id of the background worker, NULL when none is attached.';
COMMENT ON COLUMN metrics_rollup.stats.circuit_state IS 'Worst circuit of the three jobs: open if any is open, else half_open if any is trying, else closed.';
COMMENT ON COLUMN metrics_rollup.stats.consecutive_failures IS 'Largest number of consecutive failed tries among the jobs (0 when every job last succeeded).';
COMMENT ON COLUMN metrics_rollup.stats.next_retry_at IS 'Earliest time a failed or circuit-broken job is tried again; NULL when no job waits for a retry.';
COMMENT ON COLUMN metrics_rollup.stats.flush_circuit IS 'Circuit breaker of the flush job: closed, open (no try until flush_next_retry_at) or half_open (one try running).';
COMMENT ON COLUMN metrics_rollup.stats.flush_consecutive_failures IS 'Failed flush tries since the last successful one.';
COMMENT ON COLUMN metrics_rollup.stats.flush_next_retry_at IS 'When the failed flush try is tried again (backoff or circuit reset); NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.stats.flush_next_run_at IS 'Next scheduled flush run (a multiple of its interval since the Unix epoch).';
COMMENT ON COLUMN metrics_rollup.stats.flush_last_started_at IS 'When the last flush try started (job_history.started_at of that try).';
COMMENT ON COLUMN metrics_rollup.stats.flush_last_duration IS 'How long the last flush try took (job_history.duration).';
COMMENT ON COLUMN metrics_rollup.stats.flush_last_rows IS 'What the last flush try did (job_history.rows): events flushed, hourly rows written or rows deleted.';
COMMENT ON COLUMN metrics_rollup.stats.flush_last_status IS 'Outcome of the last flush try (job_history.status): ok, failed, gave_up or skipped.';
COMMENT ON COLUMN metrics_rollup.stats.flush_last_error IS 'Error of the last flush try (job_history.error_message); NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.stats.flush_runs IS 'Flush tries since stats_reset (idle flushes included).';
COMMENT ON COLUMN metrics_rollup.stats.flush_failed_runs IS 'Failed flush tries since stats_reset.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_circuit IS 'Circuit breaker of the rollup job: closed, open (no try until rollup_next_retry_at) or half_open (one try running).';
COMMENT ON COLUMN metrics_rollup.stats.rollup_consecutive_failures IS 'Failed rollup tries since the last successful one.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_next_retry_at IS 'When the failed rollup try is tried again (backoff or circuit reset); NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_next_run_at IS 'Next scheduled rollup run (a multiple of its interval since the Unix epoch).';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_started_at IS 'When the last rollup try started (job_history.started_at of that try).';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_duration IS 'How long the last rollup try took (job_history.duration).';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_rows IS 'What the last rollup try did (job_history.rows): events flushed, hourly rows written or rows deleted.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_status IS 'Outcome of the last rollup try (job_history.status): ok, failed, gave_up or skipped.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_last_error IS 'Error of the last rollup try (job_history.error_message); NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.stats.rollup_runs IS 'Rollup tries since stats_reset (idle flushes included).';
COMMENT ON COLUMN metrics_rollup.stats.rollup_failed_runs IS 'Failed rollup tries since stats_reset.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_circuit IS 'Circuit breaker of the cleanup job: closed, open (no try until cleanup_next_retry_at) or half_open (one try running).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_consecutive_failures IS 'Failed cleanup tries since the last successful one.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_next_retry_at IS 'When the failed cleanup try is tried again (backoff or circuit reset); NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_next_run_at IS 'Next scheduled cleanup run (a multiple of its interval since the Unix epoch).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_started_at IS 'When the last cleanup try started (job_history.started_at of that try).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_duration IS 'How long the last cleanup try took (job_history.duration).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_rows IS 'What the last cleanup try did (job_history.rows): events flushed, hourly rows written or rows deleted.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_status IS 'Outcome of the last cleanup try (job_history.status): ok, failed, gave_up or skipped.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_last_error IS 'Error of the last cleanup try (job_history.error_message); NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_runs IS 'Cleanup tries since stats_reset (idle flushes included).';
COMMENT ON COLUMN metrics_rollup.stats.cleanup_failed_runs IS 'Failed cleanup tries since stats_reset.';
COMMENT ON COLUMN metrics_rollup.stats.events_dead_lettered IS 'Buffered events raw_metrics refused with a data error, moved to rejected_events instead.';
COMMENT ON COLUMN metrics_rollup.stats.backfill_hours_pending IS 'Distinct UTC hours with groups waiting to be rolled up (rollup_dirty).';
COMMENT ON COLUMN metrics_rollup.stats.worker_starts IS 'Times the background worker started since server start (not reset by stats_reset()); more than 1 means it restarted.';
COMMENT ON COLUMN metrics_rollup.stats.worker_last_exit IS 'Why the previous worker process ended (exit code, shutdown, or died without cleanup); NULL if none ended yet.';
COMMENT ON COLUMN metrics_rollup.stats.worker_state IS 'What the worker does: running, or why it waits (e.g. database "x" does not exist: a wrong metrics_rollup.database); NULL when no worker runs.';
COMMENT ON COLUMN metrics_rollup.stats.live_entities IS 'Entities tracked by live_stats in shared memory.';
COMMENT ON COLUMN metrics_rollup.stats.live_evictions IS 'Entities evicted from live_stats (least recently seen) because max_live_entities were tracked.';
COMMENT ON COLUMN metrics_rollup.stats.stats_reset IS 'When stats_reset() last zeroed the counters; server start if never.';

-- config: restart-only settings say so even when the library was loaded
-- late (they are then defined reloadable, see src/guc.c); pending_restart
-- and source as in pg_settings; display_value as SHOW prints it.
CREATE FUNCTION metrics_rollup.config_restart_only() RETURNS text[]
AS 'MODULE_PATHNAME', 'guc_config_restart_only'
LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION metrics_rollup.config_restart_only() IS
  'Internal to the config view: names of the settings that take effect only at server start.';

CREATE OR REPLACE VIEW metrics_rollup.config AS
SELECT s.name::text AS name,
       s.setting AS value,
       s.boot_val AS default_value,
       s.unit,
       s.min_val,
       s.max_val,
       CASE WHEN s.vartype = 'enum' THEN array_to_string(s.enumvals, ', ') END AS allowed_values,
       s.context = 'postmaster' OR s.name = ANY (metrics_rollup.config_restart_only()) AS requires_restart,
       s.short_desc AS description,
       s.pending_restart,
       s.source,
       pg_catalog.current_setting(s.name) AS display_value
  FROM pg_catalog.pg_settings s
 WHERE s.name LIKE 'metrics\_rollup.%'
 ORDER BY s.name;
COMMENT ON VIEW metrics_rollup.config IS
  'Every metrics_rollup.* setting: value (in the unit of pg_settings), default, unit, range, whether it needs a restart and one is pending, where the value comes from, description.';
COMMENT ON COLUMN metrics_rollup.config.requires_restart IS 'True when a change takes effect only after a server restart (also when the library is not preloaded).';
COMMENT ON COLUMN metrics_rollup.config.pending_restart IS 'True when postgresql.conf was changed and reloaded but the change waits for a restart (pg_settings.pending_restart).';
COMMENT ON COLUMN metrics_rollup.config.source IS 'Where the current value comes from: default, configuration file, session, ... (pg_settings.source).';
COMMENT ON COLUMN metrics_rollup.config.display_value IS 'The current value as SHOW prints it, with its unit (e.g. 64MB, 1s).';

-------------------------------------------------------------------------------
-- Privileges: pg_read_all_stats reads, grants cover public objects only
-------------------------------------------------------------------------------

-- (privileges section)
--
-- Who may do what, from 1.2 on (the 1.0 script's privileges section
-- describes PUBLIC's share: the sketch type and functions, nothing else):
--
-- * Reading: members of pg_read_all_stats (so of pg_monitor) read every
--   view, table of metrics and reading function with no other grant, as
--   pg_stat_statements does.  Any other role gets the same by a GRANT on
--   the public object it reads (SELECT on a view or table, EXECUTE on
--   aggregate() or timeseries()); the views also call the C functions
--   that read shared memory (ingest_stats(), job_stats(), live_info(),
--   live_entities(), stats_reset_info(), config_restart_only()), which
--   such a role needs EXECUTE on too (PostgreSQL checks a view's function
--   calls as the caller).
-- * aggregate() and timeseries() are SECURITY DEFINER with search_path
--   pinned to pg_catalog, pg_temp (their bodies schema-qualify our objects
--   and take arguments only as values): they read internals (query_*,
--   rollup_agg, rollup_dirty, daily_built, ...) that nobody has to grant.
--   Chosen over granting internals to pg_read_all_stats because then a
--   role granted only EXECUTE on aggregate() (a Grafana data source) works
--   as well, and internals stay free to change between versions.
-- * Writing: EXECUTE on record(), record_batch(), flush(), INSERT on
--   raw_metrics (its triggers already run as the owner, 1.0 script).
-- * Administration: stats_reset() is SECURITY DEFINER with the same
--   pinned path: EXECUTE on it is enough.  run_rollup(), run_cleanup() and
--   run_rollup_background() stay SECURITY INVOKER on purpose (1.0 script):
--   users' triggers on raw_metrics fire inside them with the caller's
--   rights and search_path (a pinned path breaks such triggers, and owner
--   rights would run them as superuser).  They are meant for the extension
--   owner (the worker runs the same jobs on schedule); another role needs
--   the table privileges of the jobs (README, "Privileges").
-- Functions created in 1.2 are EXECUTE for PUBLIC by default: every new
-- one that is not a sketch function is revoked here, by name.

REVOKE ALL ON FUNCTION
    metrics_rollup.job_stats(),
    metrics_rollup.stats_reset(),
    metrics_rollup.stats_reset_counters(bigint),
    metrics_rollup.stats_reset_info(),
    metrics_rollup.config_restart_only(),
    metrics_rollup.rollup_stats_union(metrics_rollup.rollup_stats),
    metrics_rollup.compact_marks()
  FROM PUBLIC;
REVOKE ALL ON TABLE metrics_rollup.stats FROM PUBLIC;

ALTER FUNCTION metrics_rollup.aggregate(text, text, timestamptz, timestamptz)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.stats_reset()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
-- classify() and classification_info() read known_entities (table added in
-- 1.2): as definer, a reader granted EXECUTE on classify() before 1.2 keeps
-- working without a new grant on that table.
ALTER FUNCTION metrics_rollup.classify(text, double precision)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.classify(text, double precision, text[])
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION metrics_rollup.classification_info(text)
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

GRANT SELECT ON
    metrics_rollup.stats,
    metrics_rollup.job_history,
    metrics_rollup.config,
    metrics_rollup.live_stats,
    metrics_rollup.raw_metrics,
    metrics_rollup.hourly_metrics,
    metrics_rollup.daily_metrics,
    metrics_rollup.rejected_events,
    metrics_rollup.rollup_failures,
    metrics_rollup.known_entities,
    metrics_rollup.flush_workers
  TO pg_read_all_stats;
GRANT EXECUTE ON FUNCTION
    metrics_rollup.aggregate(text, text, timestamptz, timestamptz),
    metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval),
    metrics_rollup.classify(text, double precision),
    metrics_rollup.classify(text, double precision, text[]),
    metrics_rollup.classification_info(text),
    metrics_rollup.poll_state(),
    metrics_rollup.poll_info(),
    metrics_rollup.drain_stats(),
    metrics_rollup.job_stats(),
    metrics_rollup.ingest_stats(),
    metrics_rollup.live_info(),
    metrics_rollup.live_entities(),
    metrics_rollup.stats_reset_info(),
    metrics_rollup.config_restart_only()
  TO pg_read_all_stats;
