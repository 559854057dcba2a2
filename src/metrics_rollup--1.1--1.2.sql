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
-- together, so its group is simply rolled up again by the next run.  Every
-- reader asks "is there a mark" with EXISTS, which duplicates do not change.
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

-------------------------------------------------------------------------------
-- Scale up: flush workers, queries independent of raw volume
-------------------------------------------------------------------------------

-- (scale-up section)

-------------------------------------------------------------------------------
-- Scale out: Citus, distribute() and undistribute()
-------------------------------------------------------------------------------

-- (citus section)

-------------------------------------------------------------------------------
-- Poll scheduling by class: should_poll(), mark_polled(), classification_info()
-------------------------------------------------------------------------------

-- (polling section)

-------------------------------------------------------------------------------
-- Observability: stats_reset(), config, consistent names
-------------------------------------------------------------------------------

-- (observability section)

-------------------------------------------------------------------------------
-- Privileges: pg_read_all_stats reads, grants cover public objects only
-------------------------------------------------------------------------------

-- (privileges section)
