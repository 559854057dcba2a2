/* metrics_rollup--1.0--1.1.sql: ALTER EXTENSION metrics_rollup UPDATE TO '1.1'. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION metrics_rollup UPDATE TO '1.1'" to load this file. \quit

-- Each change of metrics_rollup--1.1.sql, applied to a 1.0 installation with
-- its data in place.  test/t/080_upgrade.pl compares the result with a fresh
-- 1.1 install, object by object (definitions, comments, privileges, columns
-- in order), so a change made in one file and not the other fails the tests.

-- Cleanup: fast archive of rolled-up, clean groups (src/cleanup_archive.c).
CREATE FUNCTION metrics_rollup.cleanup_archive_suppressed() RETURNS boolean
AS 'MODULE_PATHNAME', 'cleanup_archive_suppressed_sql' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION metrics_rollup.cleanup_archive_suppressed() IS
  'True only inside the triggers of run_cleanup()''s fast archive statement (a backend-local flag that only the C code of cleanup sets): rollup_archive_deleted then skips its aggregation, the statement having set archived itself. No setting or function can turn it on.';
REVOKE ALL ON FUNCTION metrics_rollup.cleanup_archive_suppressed() FROM PUBLIC;

-- CREATE OR REPLACE resets SECURITY DEFINER and SET: restore them as the
-- privileges section of the full script sets them.
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
ALTER FUNCTION metrics_rollup.rollup_archive_deleted()
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
