-- The daily level: run_rollup() builds daily_metrics for ended (kind, UTC
-- day)s, the triggers on hourly_metrics invalidate and queue them, and
-- aggregate() reads covered days from it.  The oracle is the pieces-only
-- answer (query_pieces() over the whole range, what aggregate() computed
-- before the daily level): the two must agree on every column, percentiles
-- included (merging sketches is exact and order-independent).
-- The session runs in PST8PDT (pg_regress) and the data spans the US DST
-- change of 2026-03-08: days are UTC days of 24 hours regardless.
SET client_min_messages = warning;
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
RESET client_min_messages;
SET extra_float_digits = 0;
SELECT '2026-03-06 00:00+00'::timestamptz AS t0 \gset

-- aggregate() without the daily level: query_pieces() over [lo, hi)
CREATE FUNCTION pg_temp.pieces(lo timestamptz, hi timestamptz)
RETURNS TABLE(entity_id text, entity_name text, n bigint, ok bigint, mn float8, mx float8,
              avg float8, p50 float8, p95 float8, p99 float8, last_at timestamptz)
LANGUAGE sql AS $$
  SELECT p.entity_id,
         (array_agg(p.entity_name ORDER BY p.name_at DESC) FILTER (WHERE p.entity_name IS NOT NULL))[1],
         sum(p.total_count), sum(p.success_count), min(p.min_value), max(p.max_value),
         (sum(p.sum_value) / sum(p.total_count))::float8,
         metrics_rollup.sketch_quantile(metrics_rollup.sketch_merge(p.sketch), 0.5),
         metrics_rollup.sketch_quantile(metrics_rollup.sketch_merge(p.sketch), 0.95),
         metrics_rollup.sketch_quantile(metrics_rollup.sketch_merge(p.sketch), 0.99),
         max(p.last_at)
    FROM metrics_rollup.query_pieces('d', NULL, true, coalesce(lo, '-infinity'), coalesce(hi, 'infinity')) p
   GROUP BY p.entity_id
$$;
-- rows where aggregate() (all entities, and each entity alone) differs
CREATE FUNCTION pg_temp.check(lo timestamptz, hi timestamptz, OUT compared bigint, OUT wrong bigint)
LANGUAGE sql AS $$
  SELECT count(*), count(*) FILTER (WHERE a IS NULL OR o IS NULL OR e IS NULL
      OR (a.entity_name, a.total_count, a.success_count, a.min_response_time, a.max_response_time,
          a.avg_response_time, a.p50_response_time, a.p95_response_time, a.p99_response_time,
          a.last_recorded_at)
         IS DISTINCT FROM (o.entity_name, o.n, o.ok, o.mn, o.mx, o.avg, o.p50, o.p95, o.p99, o.last_at)
      OR (e.entity_name, e.total_count, e.success_count, e.min_response_time, e.max_response_time,
          e.avg_response_time, e.p50_response_time, e.p95_response_time, e.p99_response_time,
          e.last_recorded_at)
         IS DISTINCT FROM (o.entity_name, o.n, o.ok, o.mn, o.mx, o.avg, o.p50, o.p95, o.p99, o.last_at))
    FROM metrics_rollup.aggregate('d', NULL, lo, hi) a
    FULL JOIN pg_temp.pieces(lo, hi) o USING (entity_id)
    LEFT JOIN LATERAL metrics_rollup.aggregate('d', coalesce(a.entity_id, o.entity_id), lo, hi) e ON true
$$;
-- ranges: unbounded, whole days, cut days and hours, across the DST change
CREATE TEMP TABLE ranges (lo timestamptz, hi timestamptz);
INSERT INTO ranges VALUES
  (NULL, NULL),
  (:'t0', :'t0'::timestamptz + interval '72 hours'),
  (:'t0'::timestamptz + interval '24 hours', :'t0'::timestamptz + interval '48 hours'),
  (:'t0'::timestamptz + interval '5 hours 30 minutes', :'t0'::timestamptz + interval '61 hours 15 minutes'),
  (:'t0'::timestamptz + interval '23 hours', NULL),
  (NULL, :'t0'::timestamptz + interval '49 hours'),
  (:'t0'::timestamptz + interval '30 hours', :'t0'::timestamptz + interval '31 hours');
CREATE FUNCTION pg_temp.check_all(OUT compared bigint, OUT wrong bigint) LANGUAGE sql AS $$
  SELECT sum(c.compared)::bigint, sum(c.wrong)::bigint FROM ranges r, pg_temp.check(r.lo, r.hi) c
$$;
-- (kind, day) states of the test's days, counted from t0 (the current day
-- is queued too, not shown)
CREATE FUNCTION pg_temp.days(OUT state text, OUT day int, OUT entities int, OUT hours int)
RETURNS SETOF record LANGUAGE sql AS $$
  SELECT 'built', (extract(epoch FROM b.day_start - '2026-03-06 00:00+00') / 86400)::int, b.entities, b.hours
    FROM metrics_rollup.daily_built b WHERE b.kind = 'd' AND b.day_start < '2026-04-01'
  UNION ALL
  SELECT 'queued', (extract(epoch FROM q.day_start - '2026-03-06 00:00+00') / 86400)::int, NULL, NULL
    FROM metrics_rollup.daily_queue q WHERE q.kind = 'd' AND q.day_start < '2026-04-01'
  ORDER BY 1, 2
$$;

BEGIN;
-- three days of events for four entities (names change on day 1), and an
-- hour of the current day (not ended: it stays queued)
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'd', 'e' || (g % 4), CASE WHEN g % 3 = 0 THEN NULL ELSE 'E' || (g % 4) || ' v' || (g / 1500) END,
       :'t0'::timestamptz + g * interval '49 seconds', ((g * 7919) % 10007) / 1000.0, g % 17 <> 0
  FROM generate_series(0, 5287) g;
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'd', 'e1', date_trunc('hour', now(), 'UTC'), 0.25, true;
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();

-- 1. The build: every ended day, from its hourly rows
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.days();
SELECT count(*) AS today_queued FROM metrics_rollup.daily_queue
 WHERE kind = 'd' AND day_start = date_trunc('day', now(), 'UTC');
-- daily rows are the merge of their hourly rows, sketches byte for byte
SELECT count(*) AS daily_rows,
       count(*) FILTER (WHERE (d.total_count, d.success_count, d.min_response_time, d.max_response_time,
                               d.sum_response_time, d.sketch::text, d.last_recorded_at, d.hours_merged)
                              IS DISTINCT FROM
                              (h.n, h.ok, h.mn, h.mx, h.sm, h.sk::text, h.last_at, h.hours::int)) AS differing
  FROM metrics_rollup.daily_metrics d
  FULL JOIN (SELECT entity_id, date_trunc('day', hour_start, 'UTC') AS day_start,
                    sum(total_count) AS n, sum(success_count) AS ok, min(min_response_time) AS mn,
                    max(max_response_time) AS mx, sum(sum_response_time) AS sm,
                    metrics_rollup.sketch_merge(sketch) AS sk, max(last_recorded_at) AS last_at,
                    count(*) AS hours
               FROM metrics_rollup.hourly_metrics
              WHERE kind = 'd' AND hour_start < date_trunc('day', now(), 'UTC')
              GROUP BY 1, 2) h USING (entity_id, day_start)
 WHERE d.kind = 'd' OR d.kind IS NULL;
-- the latest name of the day, as the hours give it
SELECT entity_id, (extract(epoch FROM day_start - :'t0') / 86400)::int AS day, entity_name
  FROM metrics_rollup.daily_metrics WHERE kind = 'd' ORDER BY 1, 2;
SELECT * FROM pg_temp.check_all();
-- a second run has nothing to build
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.days();

-- 2. Late raw rows in a built day: its hours are dirty, so the day counts
--    through query_pieces() until the rollup; the rollup's UPDATE of the
--    hourly rows invalidates the day, and the same run rebuilds it.
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, entity_name, recorded_at, response_time, success)
SELECT 'd', 'e2', 'late', :'t0'::timestamptz + interval '25 hours' + g * interval '1 minute', g * 0.5, true
  FROM generate_series(1, 10) g;
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();
SELECT total_count AS e2_day_1 FROM metrics_rollup.daily_metrics
 WHERE kind = 'd' AND entity_id = 'e2' AND day_start = :'t0'::timestamptz + interval '24 hours';
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.days();
SELECT total_count AS e2_day_1, entity_name FROM metrics_rollup.daily_metrics
 WHERE kind = 'd' AND entity_id = 'e2' AND day_start = :'t0'::timestamptz + interval '24 hours';
SELECT * FROM pg_temp.check_all();

-- 3. A user's UPDATE of an hourly row's figures invalidates its day; an
--    UPDATE of archived or updated_at does not (the archive trigger's).
SAVEPOINT s;
UPDATE metrics_rollup.hourly_metrics SET updated_at = now() - interval '1 day', archived = NULL
 WHERE kind = 'd' AND hour_start = :'t0'::timestamptz + interval '50 hours';
SELECT * FROM pg_temp.days();
UPDATE metrics_rollup.hourly_metrics SET max_response_time = max_response_time + 1
 WHERE kind = 'd' AND entity_id = 'e3' AND hour_start = :'t0'::timestamptz + interval '50 hours';
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();
-- rewriting the same values (run_rollup(since)) changes nothing
ROLLBACK TO s;
SELECT hours_processed > 0 AS rewrote FROM metrics_rollup.run_rollup(:'t0'::timestamptz + interval '48 hours');
SELECT * FROM pg_temp.days();

-- 4. Deleting raw rows of a built day (what cleanup does) archives them:
--    the day stays built; its dirty marks make it count through
--    query_pieces() until the rollup, which rewrites nothing.
DELETE FROM metrics_rollup.raw_metrics
 WHERE kind = 'd' AND recorded_at < :'t0'::timestamptz + interval '12 hours';
SELECT count(DISTINCT hour_start) AS dirty_hours FROM metrics_rollup.rollup_dirty WHERE kind = 'd';
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();
SELECT rollup_rows_written FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();

-- 5. An all-entities query over covered and uncovered days: day 1 dirty for
--    e0 only (uncovered for all entities, covered for e1), edges cut hours.
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('d', 'e0', :'t0'::timestamptz + interval '40 hours 10 minutes', 3.5, false);
SELECT * FROM pg_temp.check(:'t0'::timestamptz + interval '11 hours 20 minutes', :'t0'::timestamptz + interval '70 hours 45 minutes');
SELECT * FROM pg_temp.check_all();
-- timeseries() by day reads the covered days too: per day as the pieces
SELECT e.e AS entity, count(*) AS days,
       count(*) FILTER (WHERE (t.total_count, t.failure_count, t.avg_response_time, t.p99_response_time)
                              IS DISTINCT FROM (o.n, o.n - o.ok, o.avg, o.p99)) AS wrong
  FROM (VALUES ('e0'), ('e1')) e(e)
 CROSS JOIN LATERAL metrics_rollup.timeseries('d', e.e, :'t0', :'t0'::timestamptz + interval '72 hours', '1 day') t
  LEFT JOIN LATERAL pg_temp.pieces(t.bucket_start, t.bucket_start + interval '24 hours') o ON o.entity_id = e.e
 GROUP BY 1 ORDER BY 1;

-- 6. Deleting hourly rows (rollup retention) invalidates their days; an
--    hour left with raw rows and no hourly row is a hole: its day is not
--    built until the hour has an hourly row again.
SELECT hours_processed FROM metrics_rollup.run_rollup();
DELETE FROM metrics_rollup.hourly_metrics
 WHERE kind = 'd' AND hour_start < :'t0'::timestamptz + interval '30 hours';
SELECT kind, count(*) AS holes, min(hour_start) - :'t0'::timestamptz AS first_hole,
       max(hour_start) - :'t0'::timestamptz AS last_hole
  FROM metrics_rollup.daily_holes GROUP BY kind;
SELECT * FROM pg_temp.days();
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();
-- the hole's raw rows deleted: the archive trigger gives the hour an hourly
-- row again, the hole goes, the day is rebuilt
DELETE FROM metrics_rollup.raw_metrics
 WHERE kind = 'd' AND recorded_at < :'t0'::timestamptz + interval '30 hours';
SELECT count(*) AS holes FROM metrics_rollup.daily_holes;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT * FROM pg_temp.days();
SELECT * FROM pg_temp.check_all();

-- 7. TRUNCATE empties the daily level; hours with raw rows become holes.
SAVEPOINT s;
TRUNCATE metrics_rollup.hourly_metrics;
SELECT (SELECT count(*) FROM metrics_rollup.daily_metrics) AS daily_rows,
       (SELECT count(*) FROM metrics_rollup.daily_built) AS built,
       (SELECT count(*) FROM metrics_rollup.daily_queue) AS queued,
       (SELECT count(*) FROM metrics_rollup.daily_holes) =
       (SELECT count(DISTINCT (kind, entity_id, date_trunc('hour', recorded_at, 'UTC')))
          FROM metrics_rollup.raw_metrics) AS every_raw_hour_a_hole;
ROLLBACK TO s;

-- 8. A restore may load daily_queue after hourly_metrics: a day loaded
--    twice merges into the queued one.
INSERT INTO metrics_rollup.daily_queue (kind, day_start) VALUES ('d', '2026-01-01 00:00+00');
INSERT INTO metrics_rollup.daily_queue (kind, day_start) VALUES ('d', '2026-01-01 00:00+00');
SELECT count(*) AS queued FROM metrics_rollup.daily_queue WHERE day_start = '2026-01-01 00:00+00';

-- ERRORs are unchanged
SELECT * FROM metrics_rollup.aggregate(NULL);
ROLLBACK;
