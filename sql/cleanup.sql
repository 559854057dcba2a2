-- Retention and raw-after-rollup cleanup, with the default settings:
-- retention_days 7, delete_raw_after_rollup on, delete_raw_after_rollup_hours 1,
-- late_data_hours 1, rollup_retention_days 365.
SET client_min_messages = warning;
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- the cutoffs are computed from the clock: stay clear of an hour boundary
SELECT pg_sleep(CASE WHEN date_trunc('hour', clock_timestamp()) + interval '1 hour' - clock_timestamp()
                          < interval '15 seconds' THEN 16 ELSE 0 END) AS waited_for_next_hour;
CREATE TEMP TABLE h AS SELECT date_trunc('hour', now(), 'UTC') AS h0;
-- every event ever sent, to check that cleanup never loses a count
CREATE TEMP TABLE sent (kind text, entity_id text, recorded_at timestamptz, response_time float8, success bool);
CREATE FUNCTION pg_temp.send(e text, at timestamptz, n int) RETURNS void LANGUAGE sql AS $$
  INSERT INTO sent SELECT 'tool', e, at, g / 10.0, g % 5 <> 0 FROM generate_series(1, n) g;
  INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
  SELECT 'tool', e, at, g / 10.0, g % 5 <> 0 FROM generate_series(1, n) g;
$$;
-- counts DELETE statements on raw_metrics (= cleanup batches)
CREATE TABLE cleanup_batches (n int);
INSERT INTO cleanup_batches VALUES (0);
CREATE FUNCTION count_batch() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN UPDATE cleanup_batches SET n = n + 1; RETURN NULL; END $$;
CREATE TRIGGER count_batch AFTER DELETE ON metrics_rollup.raw_metrics
  FOR EACH STATEMENT EXECUTE FUNCTION count_batch();

-- 1. Rolled-up hours: H-3h and H-2h go, H-1h (late window) and H stay.
SELECT pg_temp.send('rolled', h0 - interval '3 hours', 3),
       pg_temp.send('rolled', h0 - interval '2 hours', 3),
       pg_temp.send('rolled', h0 - interval '2 hours' + interval '59 minutes 59.999999 seconds', 1),
       pg_temp.send('rolled', h0 - interval '1 hour', 3),
       pg_temp.send('rolled', h0, 3)
  FROM h;
SELECT hours_processed FROM metrics_rollup.run_rollup();
-- 2. An hour not rolled up yet (inserted after the rollup): its rows stay.
SELECT pg_temp.send('late', h0 - interval '5 hours', 4) FROM h;
-- 3. Retention: just outside the 7-day cutoff goes (even though not rolled
--    up: the event moves into its hourly row), just inside stays.
SELECT pg_temp.send('old', h0 - interval '7 days' - interval '1 microsecond', 2),
       pg_temp.send('old', h0 - interval '7 days', 2)
  FROM h;

SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT entity_id, recorded_at - h0 AS age, count(*)
  FROM metrics_rollup.raw_metrics, h
 GROUP BY 1, 2 ORDER BY 1, 2;

-- nothing lost: every sent event is counted once, in raw_metrics or in its
-- hourly row (for hours whose raw rows are gone)
SELECT s.entity_id, s.hour - h0 AS age, s.n AS sent,
       coalesce(r.n, 0) AS raw, hm.total_count AS hourly
  FROM (SELECT entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour, count(*) AS n
          FROM sent GROUP BY 1, 2) s
  CROSS JOIN h
  LEFT JOIN (SELECT entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour, count(*) AS n
               FROM metrics_rollup.raw_metrics GROUP BY 1, 2) r USING (entity_id, hour)
  LEFT JOIN metrics_rollup.hourly_metrics hm
         ON hm.kind = 'tool' AND hm.entity_id = s.entity_id AND hm.hour_start = s.hour
 ORDER BY 1, 2;
-- after the next rollup every hour is in hourly_metrics, exactly
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT count(*) AS hours_differing
  FROM (SELECT entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start, count(*) AS n,
               sum(response_time) AS total, min(response_time) AS lo, max(response_time) AS hi,
               count(*) FILTER (WHERE success) AS ok
          FROM sent GROUP BY 1, 2) s
  FULL JOIN (SELECT * FROM metrics_rollup.hourly_metrics WHERE kind = 'tool') hm USING (entity_id, hour_start)
 WHERE hm.total_count IS DISTINCT FROM s.n
    OR hm.success_count IS DISTINCT FROM s.ok
    OR hm.min_response_time IS DISTINCT FROM s.lo
    OR hm.max_response_time IS DISTINCT FROM s.hi
    OR abs(hm.avg_response_time - s.total / s.n) > 1e-9;
-- the next cleanup deletes the hours rolled up since: 'late' (4 rows) and
-- 'old' just inside retention (2 rows, rolled up and past the late window)
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT count(*) AS raw_rows_left FROM metrics_rollup.raw_metrics WHERE entity_id IN ('late', 'old');

-- 4. Batching: 5000 expired rows with cleanup_batch_size = 100 take many
--    DELETE statements, and all of them go.
ALTER SYSTEM SET metrics_rollup.cleanup_batch_size = 100;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SHOW metrics_rollup.cleanup_batch_size;
SELECT pg_temp.send('bulk', h0 - interval '10 days' + (g % 48) * interval '1 hour', 100)
  FROM h, generate_series(1, 50) g;
UPDATE cleanup_batches SET n = 0;
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT n > 10 AS several_batches FROM cleanup_batches;
SELECT count(*) AS bulk_rows_left FROM metrics_rollup.raw_metrics WHERE entity_id = 'bulk';
-- the deleted events wait in their hours' archived summaries: the next
-- rollup counts every one of them, once
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT sum(total_count) AS bulk_events_counted, count(*) AS bulk_hours
  FROM metrics_rollup.hourly_metrics WHERE entity_id = 'bulk';
-- a rolled-up group larger than a batch goes in slices, all of it, although
-- its first slice marks it dirty
SELECT pg_temp.send('sliced', h0 - interval '3 hours', 250) FROM h;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT count(*) AS sliced_rows_left FROM metrics_rollup.raw_metrics WHERE entity_id = 'sliced';
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT total_count AS sliced_events_counted FROM metrics_rollup.hourly_metrics WHERE entity_id = 'sliced';
ALTER SYSTEM RESET metrics_rollup.cleanup_batch_size;
SELECT pg_reload_conf();

-- 5. Rollup retention: hourly rows older than 365 days go, younger stay.
--    (Writers may not add events older than the retention: the rows are
--    written while it is 3650 days, as if it had been lowered since.)
ALTER SYSTEM SET metrics_rollup.rollup_retention_days = 3650;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SELECT pg_temp.send('ancient', h0 - interval '365 days' - interval '1 hour', 2),
       pg_temp.send('ancient', h0 - interval '365 days', 2)
  FROM h;
ALTER SYSTEM RESET metrics_rollup.rollup_retention_days;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT hour_start - h0 AS age, total_count
  FROM metrics_rollup.hourly_metrics, h WHERE entity_id = 'ancient' ORDER BY 1;

-- 6. Off switch: delete_raw_after_rollup = off keeps rolled-up rows.
ALTER SYSTEM SET metrics_rollup.delete_raw_after_rollup = off;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
SELECT pg_temp.send('kept', h0 - interval '6 hours', 2) FROM h;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT count(*) AS kept_rows FROM metrics_rollup.raw_metrics WHERE entity_id = 'kept';
ALTER SYSTEM RESET metrics_rollup.delete_raw_after_rollup;
SELECT pg_reload_conf();

-- 7. Fast archive: the raw rows of rolled-up, clean hours go without being
--    aggregated again.  The hourly row keeps every figure byte for byte,
--    archived becomes exactly what the DELETE trigger would have computed,
--    no hour turns dirty and aggregate() answers the same.
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'tool', 'fast' || (g % 3), CASE WHEN g % 4 = 0 THEN 'name ' || (g % 7) END,
       h0 - interval '5 hours' + (g / 3 % 3) * interval '1 hour' + (g * 7 % 3600) * interval '1 second',
       (g * 37 % 1000) / 100.0, g % 6 <> 0
  FROM h, generate_series(1, 900) g;
-- fast2's middle hour lost raw rows before its rollup: it has an archived part
DELETE FROM metrics_rollup.raw_metrics USING h
 WHERE entity_id = 'fast2' AND recorded_at >= h0 - interval '4 hours'
   AND recorded_at < h0 - interval '4 hours' + interval '20 minutes';
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT count(*) AS hours_with_archived_part FROM metrics_rollup.hourly_metrics WHERE NOT raw_complete;
CREATE TEMP TABLE fast_before AS
SELECT h.kind, h.entity_id, h.hour_start, h.updated_at,
       ROW(h.kind, h.entity_id, h.entity_name, h.hour_start, h.total_count, h.success_count,
           h.failure_count, h.min_response_time, h.max_response_time, h.avg_response_time,
           h.p50_response_time, h.p95_response_time, h.p99_response_time,
           metrics_rollup.sketch_to_bytea(h.sketch), h.created_at, h.sum_response_time,
           h.last_recorded_at, h.percentiles_exact)::text AS figures,
       metrics_rollup.rollup_stats_merge(h.archived,
         (SELECT metrics_rollup.rollup_agg(r.response_time, r.success, r.recorded_at, r.entity_name)
            FROM metrics_rollup.raw_metrics r
           WHERE r.kind = h.kind AND r.entity_id = h.entity_id
             AND r.recorded_at >= h.hour_start AND r.recorded_at < h.hour_start + interval '1 hour'))::text
         AS expected_archived
  FROM metrics_rollup.hourly_metrics h;
CREATE TEMP TABLE agg_before AS SELECT * FROM metrics_rollup.aggregate('tool');
UPDATE cleanup_batches SET n = 0;
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
SELECT n AS delete_statements FROM cleanup_batches;
SELECT count(*) AS raw_rows_left FROM metrics_rollup.raw_metrics;
SELECT count(*) AS hours,
       count(*) FILTER (WHERE a.figures = b.figures) AS figures_unchanged,
       count(*) FILTER (WHERE (h.archived)::text = b.expected_archived) AS archived_as_trigger_would,
       count(*) FILTER (WHERE h.updated_at > b.updated_at) AS updated_at_moved
  FROM fast_before b
  JOIN metrics_rollup.hourly_metrics h USING (kind, entity_id, hour_start)
  CROSS JOIN LATERAL (
       SELECT ROW(h.kind, h.entity_id, h.entity_name, h.hour_start, h.total_count, h.success_count,
                  h.failure_count, h.min_response_time, h.max_response_time, h.avg_response_time,
                  h.p50_response_time, h.p95_response_time, h.p99_response_time,
                  metrics_rollup.sketch_to_bytea(h.sketch), h.created_at, h.sum_response_time,
                  h.last_recorded_at, h.percentiles_exact)::text AS figures) a;
-- the names survive with the time they were seen
SELECT entity_id, hour_start - h0 AS age, (archived).entity_name, (archived).name_at - h0 AS name_age
  FROM metrics_rollup.hourly_metrics, h ORDER BY 1, 2;
SELECT count(*) AS dirty_marks FROM metrics_rollup.rollup_dirty;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT count(*) AS answers_differing
  FROM ((TABLE agg_before EXCEPT ALL SELECT * FROM metrics_rollup.aggregate('tool'))
        UNION ALL
        (SELECT * FROM metrics_rollup.aggregate('tool') EXCEPT ALL TABLE agg_before)) d;
SELECT metrics_rollup.cleanup_archive_suppressed() AS suppressed_outside_cleanup;

-- 8. A failing batch never leaves the trigger's aggregation switched off: an
--    ERROR inside the fast archive statement, then a user's DELETE in the
--    same session still archives and marks its hour.
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
SELECT pg_temp.send('poison', h0 - interval '3 hours', 5),
       pg_temp.send('victim', h0 - interval '3 hours', 5),
       pg_temp.send('mine', h0, 4)
  FROM h;
SELECT hours_processed FROM metrics_rollup.run_rollup();
CREATE FUNCTION poison_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN IF OLD.entity_id = 'poison' THEN RAISE EXCEPTION 'poisoned batch'; END IF; RETURN OLD; END $$;
CREATE TRIGGER poison_row BEFORE DELETE ON metrics_rollup.raw_metrics
  FOR EACH ROW EXECUTE FUNCTION poison_row();
\set VERBOSITY terse
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
\set VERBOSITY default
DROP TRIGGER poison_row ON metrics_rollup.raw_metrics;
DROP FUNCTION poison_row();
SELECT metrics_rollup.cleanup_archive_suppressed() AS suppressed_after_error;
DELETE FROM metrics_rollup.raw_metrics WHERE entity_id = 'mine';
SELECT entity_id, total_count, (archived).total_count AS archived_count
  FROM metrics_rollup.hourly_metrics ORDER BY 1;
SELECT entity_id, hour_start - h0 AS age FROM metrics_rollup.rollup_dirty, h ORDER BY 1;

-- 9. A DELETE nested in a user's trigger during the fast archive is not
--    cleanup's own statement: it archives as usual.
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
SELECT pg_temp.send('cascade', h0 - interval '3 hours', 3),
       pg_temp.send('nested', h0, 6)
  FROM h;
SELECT hours_processed FROM metrics_rollup.run_rollup();
CREATE FUNCTION cascade_row() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN DELETE FROM metrics_rollup.raw_metrics WHERE entity_id = 'nested'; RETURN NULL; END $$;
CREATE TRIGGER cascade_row AFTER DELETE ON metrics_rollup.raw_metrics
  FOR EACH ROW WHEN (OLD.entity_id = 'cascade') EXECUTE FUNCTION cascade_row();
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup();
DROP TRIGGER cascade_row ON metrics_rollup.raw_metrics;
DROP FUNCTION cascade_row();
SELECT entity_id, total_count, (archived).total_count AS archived_count, raw_complete
  FROM metrics_rollup.hourly_metrics ORDER BY 1;
SELECT entity_id, hour_start - h0 AS age FROM metrics_rollup.rollup_dirty, h ORDER BY 1;

-- leave the shared database as we found it
DROP TRIGGER count_batch ON metrics_rollup.raw_metrics;
DROP FUNCTION count_batch();
DROP TABLE cleanup_batches;
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
