-- Hourly rollup: exact values, half-open UTC hours, idempotence, an oracle
-- over random data, backfill, deleted raw rows and late data.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
SET search_path = metrics_rollup, public;
SET extra_float_digits = 0;

-- What the hourly rows must be: plain SQL over the same raw rows.
CREATE TEMP VIEW oracle AS
SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
       count(*) AS total_count,
       count(*) FILTER (WHERE success) AS success_count,
       count(*) FILTER (WHERE NOT success) AS failure_count,
       min(response_time) AS min_rt, max(response_time) AS max_rt,
       avg(response_time) AS avg_rt,
       sum(round(response_time::numeric, 9)) AS sum_rt,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p
  FROM raw_metrics
 GROUP BY 1, 2, 3;

-- Rows of one kind where hourly_metrics and the oracle disagree (or only one
-- side has the group).  Empty when every hour is right.
CREATE TEMP VIEW mismatch AS
SELECT coalesce(o.kind, h.kind) AS kind, coalesce(o.entity_id, h.entity_id) AS entity_id,
       coalesce(o.hour_start, h.hour_start) AS hour_start
  FROM oracle o
  FULL JOIN hourly_metrics h USING (kind, entity_id, hour_start)
 WHERE o.total_count IS NULL OR h.total_count IS NULL
    OR (o.total_count, o.success_count, o.failure_count, o.min_rt, o.max_rt, o.sum_rt)
       IS DISTINCT FROM
       (h.total_count, h.success_count, h.failure_count, h.min_response_time,
        h.max_response_time, h.sum_response_time)
    OR abs(o.avg_rt - h.avg_response_time) > 1e-9 * abs(o.avg_rt)
    OR abs(o.p[1] - h.p50_response_time) > 1e-9 * abs(o.p[1])
    OR abs(o.p[2] - h.p95_response_time) > 1e-9 * abs(o.p[2])
    OR abs(o.p[3] - h.p99_response_time) > 1e-9 * abs(o.p[3])
    OR NOT h.percentiles_exact;

-- Nothing dirty yet: a run does nothing.
SELECT hours_processed, raw_rows_read, rollup_rows_written FROM run_rollup();

-------------------------------------------------------------------------------
-- Exact values, percentile_cont semantics
-------------------------------------------------------------------------------
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'pct', e, '2026-01-01 10:00:00+00'::timestamptz + i * interval '1 second', v, true
  FROM (SELECT 'a_1_to_10' AS e, g::float8 AS v, g AS i FROM generate_series(1, 10) g
        UNION ALL SELECT 'b_1_2', v, i FROM unnest(ARRAY[1, 2]::float8[]) WITH ORDINALITY AS t(v, i)
        UNION ALL SELECT 'c_tenths', v, i FROM unnest(ARRAY[0.1, 0.2, 0.3]::float8[]) WITH ORDINALITY AS t(v, i)
        UNION ALL SELECT 'd_outlier', v, i FROM unnest(ARRAY[1, 2, 3, 4, 100]::float8[]) WITH ORDINALITY AS t(v, i)
        UNION ALL SELECT 'e_1_to_100', g, g FROM generate_series(1, 100) g
        UNION ALL SELECT 'f_single', 5.0, 1) s;
-- 7 successes and 3 failures; the failures are the slow ones
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'pct', 'g_mixed', '2026-01-01 10:30:00+00', g, g <= 7 FROM generate_series(1, 10) g;

SELECT hours_processed, raw_rows_read, rollup_rows_written FROM run_rollup();
SELECT entity_id, total_count, success_count, failure_count,
       min_response_time AS min, max_response_time AS max,
       round(avg_response_time::numeric, 10) AS avg,
       round(p50_response_time::numeric, 10) AS p50,
       round(p95_response_time::numeric, 10) AS p95,
       round(p99_response_time::numeric, 10) AS p99,
       sum_response_time, percentiles_exact, raw_complete
  FROM hourly_metrics WHERE kind = 'pct' ORDER BY entity_id;
-- bit for bit what percentile_cont gives
SELECT * FROM mismatch WHERE kind = 'pct';

-------------------------------------------------------------------------------
-- Half-open UTC hours, whatever the session time zone
-------------------------------------------------------------------------------
SET TimeZone = 'America/New_York';
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success) VALUES
  ('tz', 'ny', '2026-03-08 06:00:00+00', 1, true),         -- DST starts at 07:00 UTC that day
  ('tz', 'ny', '2026-03-08 06:59:59.999999+00', 2, true),
  ('tz', 'ny', '2026-03-08 07:00:00+00', 3, true);
SELECT hours_processed FROM run_rollup();
SET TimeZone = 'Asia/Kolkata';
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success) VALUES
  ('tz', 'in', '2026-03-08 06:00:00+00', 1, true),
  ('tz', 'in', '2026-03-08 06:59:59.999999+00', 2, true),
  ('tz', 'in', '2026-03-08 07:00:00+00', 3, true),
  ('tz', 'in', '2026-03-08 07:29:59+00', 4, true);        -- 12:59:59 local
SELECT hours_processed FROM run_rollup();
RESET TimeZone;
SELECT entity_id, to_char(hour_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS utc_hour,
       total_count, min_response_time, max_response_time
  FROM hourly_metrics WHERE kind = 'tz' ORDER BY entity_id, hour_start;
SELECT * FROM mismatch WHERE kind = 'tz';

-------------------------------------------------------------------------------
-- Oracle and backfill: random data over 40 entities and 30 hours
-------------------------------------------------------------------------------
SELECT setseed(0.42);
INSERT INTO raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'rnd', 'e' || (random() * 39)::int, 'name ' || (random() * 3)::int,
       '2026-02-01 00:00:00+00'::timestamptz + random() * interval '30 hours',
       round((random() ^ 3 * 5)::numeric, 6)::float8,
       random() < 0.9
  FROM generate_series(1, 20000);
-- the first run rolls up all 30 hours, reading every row once
SELECT hours_processed, raw_rows_read, rollup_rows_written = (SELECT count(*) FROM oracle WHERE kind = 'rnd') AS all_groups
  FROM run_rollup();
SELECT count(*) AS rnd_hours FROM (SELECT DISTINCT hour_start FROM hourly_metrics WHERE kind = 'rnd') h;
SELECT count(*) AS mismatches FROM mismatch;
-- the name is the latest non-NULL one of the hour
-- each hour's sketch holds exactly its events, with the exact min and max,
-- and its quantiles are within the relative accuracy (1%) of percentile_disc
SELECT count(*) AS bad_sketches
  FROM hourly_metrics h
  JOIN (SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
               percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS d
          FROM raw_metrics WHERE kind = 'rnd' GROUP BY 1, 2, 3) o USING (kind, entity_id, hour_start)
 WHERE sketch_count(h.sketch) <> h.total_count
    OR sketch_min(h.sketch) <> h.min_response_time OR sketch_max(h.sketch) <> h.max_response_time
    OR EXISTS (SELECT 1 FROM unnest(sketch_quantiles(h.sketch, ARRAY[0.5, 0.95, 0.99]), o.d) AS q(v, exact)
                WHERE abs(q.v - q.exact) > 0.01 * q.exact);
SELECT count(*) AS wrong_names
  FROM hourly_metrics h
 WHERE kind = 'rnd' AND entity_name IS DISTINCT FROM
       (SELECT r.entity_name FROM raw_metrics r
         WHERE r.kind = h.kind AND r.entity_id = h.entity_id
           AND r.recorded_at >= h.hour_start AND r.recorded_at < h.hour_start + interval '1 hour'
           AND r.entity_name IS NOT NULL
         ORDER BY r.recorded_at DESC LIMIT 1);

-------------------------------------------------------------------------------
-- Idempotence: a second run changes nothing, not even updated_at
-------------------------------------------------------------------------------
-- every column, in a comparable form (the sketch type has no equality)
CREATE TEMP VIEW hourly_cmp AS
SELECT kind, entity_id, entity_name, hour_start, total_count, success_count, failure_count,
       min_response_time, max_response_time, avg_response_time, p50_response_time,
       p95_response_time, p99_response_time, sketch_to_bytea(sketch) AS sketch, created_at,
       updated_at, sum_response_time, last_recorded_at, percentiles_exact, archived::text AS archived
  FROM hourly_metrics;
CREATE TEMP TABLE before AS SELECT * FROM hourly_cmp;
SELECT hours_processed, raw_rows_read, rollup_rows_written FROM run_rollup();
SELECT count(*) AS changed FROM
  ((SELECT * FROM hourly_cmp EXCEPT SELECT * FROM before)
   UNION ALL (SELECT * FROM before EXCEPT SELECT * FROM hourly_cmp)) d;
-- one more row dirties only its own group; the others stay untouched
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('rnd', 'e1', '2026-02-01 03:10:00+00', 0.5, false);
SELECT hours_processed, raw_rows_read > 0 AS read_some, rollup_rows_written FROM run_rollup();
SELECT count(*) AS changed FROM
  (SELECT * FROM hourly_cmp EXCEPT SELECT * FROM before) d;
SELECT count(*) AS mismatches FROM mismatch;

-------------------------------------------------------------------------------
-- since forces a rewrite; UPDATE of raw rows is rolled up too
-------------------------------------------------------------------------------
UPDATE hourly_metrics SET min_response_time = -1 WHERE kind = 'pct';
SELECT hours_processed FROM run_rollup();                -- nothing dirty: not seen
SELECT count(*) AS mismatches FROM mismatch WHERE kind = 'pct';
SELECT hours_processed, rollup_rows_written FROM run_rollup('2026-01-01 10:59:00+00');
SELECT count(*) AS mismatches FROM mismatch;
UPDATE raw_metrics SET response_time = response_time * 2 WHERE kind = 'pct' AND entity_id = 'b_1_2';
UPDATE raw_metrics SET recorded_at = recorded_at + interval '1 hour' WHERE kind = 'pct' AND entity_id = 'c_tenths';
SELECT hours_processed, rollup_rows_written FROM run_rollup();
SELECT count(*) AS mismatches FROM mismatch;

-------------------------------------------------------------------------------
-- Deleted raw rows and late data: merged, every event counted once
-------------------------------------------------------------------------------
CREATE TEMP TABLE shadow AS SELECT * FROM raw_metrics WHERE false;
CREATE TEMP VIEW shadow_hours AS
SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
       count(*) AS total_count, count(*) FILTER (WHERE success) AS success_count,
       min(response_time) AS min_rt, max(response_time) AS max_rt,
       sum(round(response_time::numeric, 9)) AS sum_rt,
       (array_agg(entity_name ORDER BY recorded_at DESC) FILTER (WHERE entity_name IS NOT NULL))[1] AS name
  FROM shadow GROUP BY 1, 2, 3;
CREATE TEMP VIEW late_pct AS
SELECT h.entity_id, h.percentiles_exact, sketch_count(h.sketch) = h.total_count AS sketch_counts_all,
       abs(h.p50_response_time - s.d[1]) <= 0.01 * s.d[1] AS p50_ok,
       abs(h.p95_response_time - s.d[2]) <= 0.01 * s.d[2] AS p95_ok,
       abs(h.p99_response_time - s.d[3]) <= 0.01 * s.d[3] AS p99_ok
  FROM hourly_metrics h
  JOIN (SELECT kind, entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
               percentile_disc(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS d
          FROM shadow GROUP BY 1, 2, 3) s USING (kind, entity_id, hour_start)
 WHERE h.kind = 'late' ORDER BY 1;
CREATE TEMP VIEW late_check AS
SELECT h.entity_id, h.entity_name, h.total_count, h.success_count, h.min_response_time,
       h.max_response_time, h.sum_response_time, h.percentiles_exact, h.raw_complete,
       (h.total_count, h.success_count, h.min_response_time, h.max_response_time,
        h.sum_response_time, h.entity_name)
       IS NOT DISTINCT FROM (s.total_count, s.success_count, s.min_rt, s.max_rt, s.sum_rt, s.name)
       AS matches_shadow
  FROM hourly_metrics h FULL JOIN shadow_hours s USING (kind, entity_id, hour_start)
 WHERE coalesce(h.kind, s.kind) = 'late' ORDER BY 1;

WITH ins AS (
  INSERT INTO raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
  SELECT 'late', 'x', 'old name', '2026-01-05 08:00:00+00'::timestamptz + g * interval '1 minute', g, g % 4 <> 0
    FROM generate_series(1, 10) g RETURNING *)
INSERT INTO shadow SELECT * FROM ins;
SELECT hours_processed FROM run_rollup();
-- cleanup deletes the hour's raw rows: the hourly row keeps every event
DELETE FROM raw_metrics WHERE kind = 'late';
SELECT * FROM late_check;
SELECT hours_processed, raw_rows_read, rollup_rows_written FROM run_rollup();
SELECT * FROM late_check;
-- late events arrive for that hour, and more (some before any rollup) in a new group
WITH ins AS (
  INSERT INTO raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success) VALUES
    ('late', 'x', 'new name', '2026-01-05 08:30:30+00', 0.25, false),
    ('late', 'x', NULL, '2026-01-05 08:59:00+00', 99, true),
    ('late', 'y', 'why', '2026-01-05 08:10:00+00', 7, true),
    ('late', 'y', 'why', '2026-01-05 08:20:00+00', 8, true)
  RETURNING *)
INSERT INTO shadow SELECT * FROM ins;
-- one of y's rows is deleted before it was ever rolled up: still counted
DELETE FROM raw_metrics WHERE kind = 'late' AND entity_id = 'y' AND response_time = 7;
SELECT hours_processed, raw_rows_read, rollup_rows_written FROM run_rollup();
SELECT * FROM late_check;
-- a second run, and the deletion of the late rows, change no count
SELECT hours_processed, rollup_rows_written FROM run_rollup();
DELETE FROM raw_metrics WHERE kind = 'late';
SELECT hours_processed FROM run_rollup();
SELECT * FROM late_check;
-- a group deleted in three statements before any rollup: counted once, and
-- its percentiles (from the merged sketch) are not claimed exact
WITH ins AS (
  INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
  SELECT 'late', 'z', '2026-01-05 09:00:00+00'::timestamptz + g * interval '1 minute', g * 0.5, true
    FROM generate_series(1, 9) g RETURNING *)
INSERT INTO shadow SELECT * FROM ins;
DELETE FROM raw_metrics WHERE kind = 'late' AND entity_id = 'z' AND response_time <= 1;
DELETE FROM raw_metrics WHERE kind = 'late' AND entity_id = 'z' AND response_time <= 3;
DELETE FROM raw_metrics WHERE kind = 'late' AND entity_id = 'z';
SELECT hours_processed FROM run_rollup();
SELECT * FROM late_check;
SELECT * FROM late_pct;
SELECT count(*) AS late_raw_rows_left FROM raw_metrics WHERE kind = 'late';

-------------------------------------------------------------------------------
-- Isolation level
-------------------------------------------------------------------------------
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT hours_processed FROM run_rollup();
ROLLBACK;
-- a manual run is atomic with its caller's transaction
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('atomic', 'z', '2026-01-06 00:00:00+00', 1, true);
BEGIN;
SELECT hours_processed FROM run_rollup();
ROLLBACK;
SELECT count(*) AS rows_after_rollback FROM hourly_metrics WHERE kind = 'atomic';
SELECT count(*) AS still_dirty FROM rollup_dirty WHERE kind = 'atomic';
SELECT hours_processed FROM run_rollup();
SELECT count(*) AS dirty_left FROM rollup_dirty;
