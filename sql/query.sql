-- aggregate() and timeseries(): every event counted once whether its raw row,
-- its hourly rollup or both exist; checked against a shadow copy of every
-- event (exact counts, sums, min, max; percentiles within alpha = 0.01 of
-- percentile_cont) before and after rollup and cleanup.
SET client_min_messages = warning;
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET extra_float_digits = 0;
-- day 0 of the test data: old enough for raw retention (7 days) to delete
-- it, young enough for rollup retention (365 days) to keep it
SELECT date_trunc('day', now(), 'UTC') - interval '30 days' AS t0 \gset

-- every event sent, kept whatever happens to raw_metrics
CREATE TEMP TABLE shadow (entity_id text, entity_name text, recorded_at timestamptz,
                          response_time float8, success bool);
-- n events of entity e from "at", every "step", deterministic values
CREATE FUNCTION pg_temp.send(e text, name text, at timestamptz, step interval, n int, seed int)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO shadow
  SELECT e, name, at + (g - 1) * step, ((g * 7919 + seed) % 10007) / 1000.0, (g + seed) % 13 <> 0
    FROM generate_series(1, n) g;
  INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
  SELECT 'q', e, name, at + (g - 1) * step, ((g * 7919 + seed) % 10007) / 1000.0, (g + seed) % 13 <> 0
    FROM generate_series(1, n) g;
$$;

-- What aggregate() must say over [lo, hi), events attributed by recorded_at.
CREATE FUNCTION pg_temp.oracle(lo timestamptz, hi timestamptz)
RETURNS TABLE(entity_id text, n bigint, ok bigint, mn float8, mx float8, avg float8,
              p float8[], last_at timestamptz)
LANGUAGE sql AS $$
  SELECT entity_id, count(*), count(*) FILTER (WHERE success), min(response_time), max(response_time),
         (sum(round(response_time::numeric, 9)) / count(*))::float8,
         percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time),
         max(recorded_at)
    FROM shadow
   WHERE recorded_at >= coalesce(lo, '-infinity') AND recorded_at < coalesce(hi, 'infinity')
   GROUP BY entity_id
$$;

-- Entities where aggregate('q', NULL, lo, hi) disagrees with the oracle,
-- and how many rows were compared.
CREATE FUNCTION pg_temp.check(lo timestamptz, hi timestamptz, OUT compared bigint, OUT wrong bigint)
LANGUAGE sql AS $$
  SELECT count(*), count(*) FILTER (WHERE a.entity_id IS NULL OR o.entity_id IS NULL
      OR (a.total_count, a.success_count, a.failure_count, a.min_response_time, a.max_response_time,
          a.avg_response_time, a.last_recorded_at)
         IS DISTINCT FROM (o.n, o.ok, o.n - o.ok, o.mn, o.mx, o.avg, o.last_at)
      OR a.failure_rate IS DISTINCT FROM (o.n - o.ok)::float8 / o.n
      OR NOT (abs(a.p50_response_time - o.p[1]) <= 0.01 * o.p[1] * (1 + 1e-9)
          AND abs(a.p95_response_time - o.p[2]) <= 0.01 * o.p[2] * (1 + 1e-9)
          AND abs(a.p99_response_time - o.p[3]) <= 0.01 * o.p[3] * (1 + 1e-9)))
    FROM metrics_rollup.aggregate('q', NULL, lo, hi) a
    FULL JOIN pg_temp.oracle(lo, hi) o USING (entity_id)
$$;

-- The ranges checked at every stage: unbounded, whole hours, cut hours
-- (inside raw data only), across days.
CREATE TEMP TABLE ranges (lo timestamptz, hi timestamptz);
INSERT INTO ranges VALUES
  (NULL, NULL),
  ((:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '2 days 00:00')),
  ((:'t0'::timestamptz + interval '0 days 05:00'), (:'t0'::timestamptz + interval '1 days 07:00')),
  ((:'t0'::timestamptz + interval '1 days 10:00'), NULL),
  (NULL, (:'t0'::timestamptz + interval '0 days 13:00')),
  ((:'t0'::timestamptz + interval '1 days 13:00'), (:'t0'::timestamptz + interval '1 days 14:00'));
CREATE TEMP TABLE cut_ranges (lo timestamptz, hi timestamptz);
INSERT INTO cut_ranges VALUES
  ((:'t0'::timestamptz + interval '1 days 05:30'), (:'t0'::timestamptz + interval '1 days 17:15')),
  ((:'t0'::timestamptz + interval '1 days 13:20'), (:'t0'::timestamptz + interval '1 days 13:40'));
CREATE FUNCTION pg_temp.check_all(with_cut bool)
RETURNS TABLE(compared bigint, wrong bigint) LANGUAGE sql AS $$
  SELECT sum(c.compared)::bigint, sum(c.wrong)::bigint
    FROM (SELECT * FROM ranges UNION ALL SELECT * FROM cut_ranges WHERE with_cut) r,
         pg_temp.check(r.lo, r.hi) c
$$;

-- Everything below runs in one transaction, rolled back at the end
-- (run_rollup and run_cleanup run in the caller's transaction).
BEGIN;

-- Two days of events: a renamed mid-way, b with names then NULL names,
-- c without names.
SELECT pg_temp.send('a', 'A v1', (:'t0'::timestamptz + interval '0 days 00:00'), '97 seconds', 900, 1),
       pg_temp.send('a', 'A v2', (:'t0'::timestamptz + interval '1 days 00:15'), '89 seconds', 900, 2),
       pg_temp.send('b', 'B', (:'t0'::timestamptz + interval '0 days 00:00:30'), '3 minutes', 500, 3),
       pg_temp.send('b', NULL, (:'t0'::timestamptz + interval '1 days 01:00'), '7 minutes', 150, 4),
       pg_temp.send('c', NULL, (:'t0'::timestamptz + interval '0 days 06:00'), '151 seconds', 700, 5);

-- 1. Raw rows only (nothing rolled up): exact, cut hours included.
SELECT * FROM pg_temp.check_all(true);
SELECT entity_id, entity_name, total_count FROM metrics_rollup.aggregate('q') ORDER BY 1;
-- percentiles of every range, kept to show they survive rollup and cleanup
CREATE TEMP TABLE before AS
SELECT r.lo, r.hi, a.* FROM ranges r, metrics_rollup.aggregate('q', NULL, r.lo, r.hi) a;

-- 2. Everything rolled up, raw rows still there: no double counting.
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.check_all(true);

-- 3. A dirty hour: rows inserted after its rollup count once.
SELECT pg_temp.send('a', 'A v2', (:'t0'::timestamptz + interval '1 days 13:05'), '1 minute', 7, 6);
SELECT count(*) AS dirty_marks FROM metrics_rollup.rollup_dirty WHERE kind = 'q';
SELECT * FROM pg_temp.check_all(true);

-- 4. A gap hour: raw rows, far older than the late-data window, with no
--    hourly row and no dirty mark: rolled up, then its hourly row deleted
--    (as rollup retention does when raw rows are kept longer).  Its day
--    (built before) is invalidated and not rebuilt while the hole exists.
SELECT pg_temp.send('c', NULL, (:'t0'::timestamptz + interval '0 days 02:10'), '1 minute', 5, 7);
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
DELETE FROM metrics_rollup.hourly_metrics WHERE kind = 'q' AND entity_id = 'c' AND hour_start = (:'t0'::timestamptz + interval '0 days 02:00');
SELECT kind, hour_start - :'t0'::timestamptz AS hole, entity_id FROM metrics_rollup.daily_holes;
SELECT count(*) AS day_0_built FROM metrics_rollup.daily_built WHERE kind = 'q' AND day_start = :'t0'::timestamptz;
SELECT count(*) AS day_0_built_after_rollup FROM metrics_rollup.run_rollup(), metrics_rollup.daily_built
 WHERE kind = 'q' AND day_start = :'t0'::timestamptz;
SELECT count(*) AS hourly_rows FROM metrics_rollup.hourly_metrics
 WHERE kind = 'q' AND entity_id = 'c' AND hour_start = (:'t0'::timestamptz + interval '0 days 02:00');
SELECT * FROM pg_temp.check_all(true);
SELECT total_count FROM metrics_rollup.aggregate('q', 'c', (:'t0'::timestamptz + interval '0 days 02:00'), (:'t0'::timestamptz + interval '0 days 03:00'));
INSERT INTO metrics_rollup.rollup_dirty (kind, entity_id, hour_start)
VALUES ('q', 'c', (:'t0'::timestamptz + interval '0 days 02:00'));
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();

-- 5. Cleanup deletes the raw rows (all of it is past raw retention): every
--    event now lives in an hourly row's archived summary only.
SELECT relation, rows_deleted >= 3162 AS all_raw_rows_of_q FROM metrics_rollup.run_cleanup();
SELECT count(*) AS raw_left FROM metrics_rollup.raw_metrics WHERE kind = 'q';
-- (its fast archive leaves rolled-up hours clean: the rollup has nothing of
-- q to redo; the worker may meanwhile have flushed other tests' events into
-- the late-data window, so only q's rows are looked at)
SELECT count(*) AS dirty_marks_of_q FROM metrics_rollup.rollup_dirty WHERE kind = 'q';
CREATE TEMP TABLE q_hourly AS SELECT ctid AS row_at FROM metrics_rollup.hourly_metrics WHERE kind = 'q';
SELECT count(*) AS rollups FROM metrics_rollup.run_rollup();
SELECT count(*) AS q_hourly_rows_rewritten FROM metrics_rollup.hourly_metrics
 WHERE kind = 'q' AND ctid NOT IN (SELECT row_at FROM q_hourly);
SELECT * FROM pg_temp.check_all(false);
-- the sketch of raw rows and the merged hourly sketches are the same
-- sketch: percentiles identical before and after cleanup
SELECT count(*) AS compared,
       count(*) FILTER (WHERE (b.p50_response_time, b.p95_response_time, b.p99_response_time)
                              IS DISTINCT FROM (a.p50_response_time, a.p95_response_time, a.p99_response_time))
         AS changed
  FROM before b, metrics_rollup.aggregate('q', b.entity_id, b.lo, b.hi) a
 WHERE a.total_count = b.total_count;

-- 6. Late data after cleanup: hours with an archived part and raw rows
--    (dirty), and new hours with raw rows only.
SELECT pg_temp.send('b', 'B late', (:'t0'::timestamptz + interval '1 days 12:00'), '2 minutes', 20, 8),
       pg_temp.send('c', NULL, (:'t0'::timestamptz + interval '2 days 00:00'), '1 minute', 30, 9);
SELECT * FROM pg_temp.check_all(false);
SELECT entity_id, entity_name, total_count FROM metrics_rollup.aggregate('q') ORDER BY 1;
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.check_all(false);

-- 7. Cut hours.  Hour day 2 00:00 of c still has all its raw rows:
--    minutes count exactly.  Hour day 1 12:00 of b has an archived
--    part: it counts whole when its hour_start is in range, else not at all.
SELECT total_count FROM metrics_rollup.aggregate('q', 'c', (:'t0'::timestamptz + interval '2 days 00:10'), (:'t0'::timestamptz + interval '2 days 00:20'));
SELECT total_count,
       (SELECT count(*) FROM shadow WHERE entity_id = 'b' AND recorded_at >= (:'t0'::timestamptz + interval '1 days 12:00')
           AND recorded_at < (:'t0'::timestamptz + interval '1 days 13:00')) AS whole_hour
  FROM metrics_rollup.aggregate('q', 'b', (:'t0'::timestamptz + interval '1 days 12:00'), (:'t0'::timestamptz + interval '1 days 12:10'));
SELECT total_count FROM metrics_rollup.aggregate('q', 'b', (:'t0'::timestamptz + interval '1 days 12:10'), (:'t0'::timestamptz + interval '1 days 12:50'));
-- the same with the hour dirty (archived part + raw rows): still whole
SELECT pg_temp.send('b', NULL, (:'t0'::timestamptz + interval '1 days 12:59'), '1 second', 2, 10);
SELECT total_count FROM metrics_rollup.aggregate('q', 'b', (:'t0'::timestamptz + interval '1 days 12:00'), (:'t0'::timestamptz + interval '1 days 12:10'));
SELECT total_count FROM metrics_rollup.aggregate('q', 'b', (:'t0'::timestamptz + interval '1 days 12:10'), (:'t0'::timestamptz + interval '1 days 13:00'));

-- 8. timeseries(): buckets of 1 hour, 6 hours and 1 day add up to aggregate().
SELECT b.bucket, count(*) AS buckets, sum(t.total_count) AS total, sum(t.failure_count) AS failures,
       (SELECT sum(total_count) FROM metrics_rollup.aggregate('q', NULL, (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '3 days 00:00'))) AS agg_total,
       (SELECT sum(failure_count) FROM metrics_rollup.aggregate('q', NULL, (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '3 days 00:00'))) AS agg_failures
  FROM (VALUES (interval '1 hour'), (interval '6 hours'), (interval '1 day')) b(bucket),
       metrics_rollup.timeseries('q', NULL, (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '3 days 00:00'), b.bucket) t
 GROUP BY b.bucket ORDER BY b.bucket;
-- one entity, daily: against aggregate() over each day
SELECT t.bucket_start - :'t0'::timestamptz AS day, t.total_count, t.failure_count, t.avg_response_time = a.avg_response_time AS same_avg,
       t.p99_response_time = a.p99_response_time AS same_p99
  FROM metrics_rollup.timeseries('q', 'a', (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '3 days 00:00'), '1 day') t
  LEFT JOIN LATERAL metrics_rollup.aggregate('q', 'a', t.bucket_start, t.bucket_start + interval '1 day') a ON true
 ORDER BY 1;
-- buckets align to multiples of the bucket since the epoch (UTC), whatever
-- the session time zone; empty buckets have zero counts
SET TimeZone = 'America/New_York';
SELECT bucket_start - :'t0'::timestamptz AS bucket, total_count, avg_response_time IS NULL AS empty
  FROM metrics_rollup.timeseries('q', 'c', (:'t0'::timestamptz + interval '1 days 22:30'), (:'t0'::timestamptz + interval '2 days 07:00'), '3 hours');
SET TimeZone = 'UTC';

-- 9. Empty results and renamed / deleted entities.
SELECT * FROM metrics_rollup.aggregate('q', 'nobody');
SELECT count(*) AS rows FROM metrics_rollup.aggregate('no_such_kind');
SELECT count(*) AS rows FROM metrics_rollup.aggregate('q', NULL, (:'t0'::timestamptz + interval '400 days'), NULL);
-- a: renamed between hours, one row under the latest name, earlier name
-- for an earlier range
SELECT entity_name FROM metrics_rollup.aggregate('q', 'a');
SELECT entity_name FROM metrics_rollup.aggregate('q', 'a', NULL, (:'t0'::timestamptz + interval '1 days 00:00'));
-- an entity whose raw rows are all deleted keeps its history and name
SELECT pg_temp.send('d', 'Deleted one', (:'t0'::timestamptz + interval '2 days 02:00'), '1 minute', 4, 11);
DELETE FROM metrics_rollup.raw_metrics WHERE kind = 'q' AND entity_id = 'd';
SELECT entity_id, entity_name, total_count FROM metrics_rollup.aggregate('q', 'd');
SELECT * FROM pg_temp.check_all(false);

-- 10. Marks carry the summary of the statement that wrote them (partial):
--     a group-hour whose marks all have one is read from its hourly row
--     (if any) and those partials, never from its raw rows.  e: a new hour
--     written by two statements; a: an hour with an hourly row (and an
--     archived part).
SELECT pg_temp.send('e', 'E', (:'t0'::timestamptz + interval '2 days 05:00'), '10 seconds', 40, 12),
       pg_temp.send('e', 'E2', (:'t0'::timestamptz + interval '2 days 05:07'), '10 seconds', 40, 13),
       pg_temp.send('a', NULL, (:'t0'::timestamptz + interval '1 days 14:20'), '5 seconds', 30, 14);
CREATE FUNCTION pg_temp.marks()
RETURNS TABLE(entity_id text, hour interval, marks bigint, with_partial bigint, events numeric)
LANGUAGE sql AS $$
  SELECT d.entity_id, d.hour_start - (SELECT min(recorded_at) FROM shadow), count(*), count(d.partial),
         sum((d.partial).total_count)
    FROM metrics_rollup.rollup_dirty d WHERE d.kind = 'q' GROUP BY 1, 2 ORDER BY 1, 2
$$;
SELECT * FROM pg_temp.marks();
-- ranges that cut e's hour: before its last event (its raw rows are read),
-- after it (hourly row and partials suffice), and by since
CREATE TEMP TABLE mark_ranges (lo timestamptz, hi timestamptz);
INSERT INTO mark_ranges VALUES
  ((:'t0'::timestamptz + interval '2 days 05:00'), (:'t0'::timestamptz + interval '2 days 05:10')),
  ((:'t0'::timestamptz + interval '2 days 05:00'), (:'t0'::timestamptz + interval '2 days 05:30')),
  ((:'t0'::timestamptz + interval '2 days 05:03'), (:'t0'::timestamptz + interval '2 days 06:00'));
CREATE FUNCTION pg_temp.check_marks(OUT compared bigint, OUT wrong bigint)
LANGUAGE sql AS $$
  SELECT sum(c.compared)::bigint, sum(c.wrong)::bigint
    FROM (SELECT * FROM ranges UNION ALL SELECT * FROM mark_ranges) r, pg_temp.check(r.lo, r.hi) c
$$;
SELECT * FROM pg_temp.check_marks();
-- the proof that raw rows are not read: deleted behind the triggers' back
-- (replica role: no archive, no mark), every answer stays the same, except
-- where since or until cuts e's hour before one of its events (raw rows
-- read: those answers are wrong here)
SAVEPOINT behind_the_back;
SET LOCAL session_replication_role = replica;
DELETE FROM metrics_rollup.raw_metrics
 WHERE kind = 'q' AND ((entity_id = 'e' AND recorded_at >= (:'t0'::timestamptz + interval '2 days 05:00'))
                       OR (entity_id = 'a' AND recorded_at >= (:'t0'::timestamptz + interval '1 days 14:00')
                           AND recorded_at < (:'t0'::timestamptz + interval '1 days 15:00')));
SELECT * FROM pg_temp.check_all(false);
SELECT r.hi - r.lo AS range, c.wrong FROM mark_ranges r, pg_temp.check(r.lo, r.hi) c ORDER BY r.lo, r.hi;
ROLLBACK TO SAVEPOINT behind_the_back;
-- compact_marks() folds a group-hour's marks into one: same answers
SELECT metrics_rollup.compact_marks() AS marks_removed;
SELECT * FROM pg_temp.marks();
SELECT * FROM pg_temp.check_marks();
-- a DELETE (its rows go to the archived part, still counted) appends a
-- mark without partial: that group-hour's archived part and raw rows are
-- read again; a fold keeps it without partial
DELETE FROM metrics_rollup.raw_metrics
 WHERE kind = 'q' AND entity_id = 'e' AND recorded_at < (:'t0'::timestamptz + interval '2 days 05:02');
SELECT * FROM pg_temp.marks();
SELECT * FROM pg_temp.check_all(false);
SELECT metrics_rollup.compact_marks() AS marks_removed;
SELECT * FROM pg_temp.marks();
SELECT * FROM pg_temp.check_all(false);
-- the rollup takes the marks (hourly rows alone again)
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.marks();
SELECT * FROM pg_temp.check_all(false);
-- a hole (hourly row deleted, raw rows left, no mark) that then gets a
-- mark with partial: its raw rows are read, the hole's and the new ones
DELETE FROM metrics_rollup.hourly_metrics
 WHERE kind = 'q' AND entity_id = 'c' AND hour_start = (:'t0'::timestamptz + interval '2 days 00:00');
SELECT entity_id, hour_start - :'t0'::timestamptz AS hole FROM metrics_rollup.daily_holes WHERE kind = 'q';
SELECT pg_temp.send('c', NULL, (:'t0'::timestamptz + interval '2 days 00:40'), '1 minute', 3, 15);
SELECT * FROM pg_temp.marks();
SELECT * FROM pg_temp.check_all(false);
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.check_all(false);
-- an UPDATE: a forced mark without partial
UPDATE metrics_rollup.raw_metrics SET success = NOT success
 WHERE kind = 'q' AND entity_id = 'e' AND recorded_at < (:'t0'::timestamptz + interval '2 days 05:05');
UPDATE shadow SET success = NOT success
 WHERE entity_id = 'e' AND recorded_at >= (:'t0'::timestamptz + interval '2 days 05:02')
   AND recorded_at < (:'t0'::timestamptz + interval '2 days 05:05');
SELECT * FROM pg_temp.marks();
SELECT * FROM pg_temp.check_all(false);

ROLLBACK;
SELECT count(*) AS rows_of_q FROM metrics_rollup.hourly_metrics WHERE kind = 'q';
-- leave the shared database empty for the tests after this one (events
-- that earlier tests buffered are committed by the worker meanwhile)
SELECT metrics_rollup.flush() >= 0 AS flushed;
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;

-- 11. Bad arguments.
SELECT * FROM metrics_rollup.aggregate(NULL);
SELECT * FROM metrics_rollup.timeseries('q', 'a', NULL, (:'t0'::timestamptz + interval '1 days 00:00'));
SELECT * FROM metrics_rollup.timeseries('q', 'a', (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '1 days 00:00'), '90 minutes');
SELECT * FROM metrics_rollup.timeseries('q', 'a', (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '1 days 00:00'), '1 month');
SELECT * FROM metrics_rollup.timeseries('q', 'a', (:'t0'::timestamptz + interval '0 days 00:00'), (:'t0'::timestamptz + interval '1 days 00:00'), '-1 hour');
SELECT * FROM metrics_rollup.timeseries('q', 'a', (:'t0'::timestamptz + interval '0 days 00:00'), 'infinity');
SELECT count(*) AS rows FROM metrics_rollup.timeseries('q', 'a', (:'t0'::timestamptz + interval '1 days 00:00'), (:'t0'::timestamptz + interval '0 days 00:00'));
