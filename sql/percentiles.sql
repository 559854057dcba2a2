-- One percentile rule (percentile_cont) on every path, checked against
-- PostgreSQL's own percentile_cont over the same rows: sketch_percentile_cont
-- on seeded data sets (log-normal, Pareto, bimodal, ties, n <= 10), folding
-- by filled buckets (Pareto at alpha = 0.001), format 1 sketches, sums and
-- counts at the edges of the accepted range, then hourly_metrics (exact),
-- aggregate(), timeseries() by hour and by day (daily level) before and
-- after the raw rows are deleted, and live_stats (within alpha).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS metrics_rollup;
RESET client_min_messages;
SET search_path = metrics_rollup, public;
SET TimeZone = 'UTC';

-- est within alpha (relative) of the exact value; the slack covers the
-- rounding of log/pow at bucket edges
CREATE FUNCTION pg_temp.within(est float8, exact float8, alpha float8) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN exact = 0 THEN est = 0
              ELSE abs(est - exact) <= alpha * exact * (1 + 1e-9) END
$$;

SELECT setseed(0.15);
CREATE TABLE pct_data (name text, v float8);
INSERT INTO pct_data
SELECT 'lognormal', exp(-3 + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
  FROM generate_series(1, 5000);
INSERT INTO pct_data
SELECT 'pareto', 0.01 * power(1 - random(), -1 / 1.2) FROM generate_series(1, 5000);
INSERT INTO pct_data
SELECT 'bimodal', CASE WHEN i % 3 = 0 THEN 0.004 ELSE 1.5 END * (1 + 0.3 * random())
  FROM generate_series(1, 5000) i;
INSERT INTO pct_data
SELECT 'ties', (ARRAY[0, 0.1, 0.1, 0.1, 2.5, 2.5, 7])[1 + (i % 7)] FROM generate_series(1, 700) i;
INSERT INTO pct_data SELECT 'n' || n, round((random() * 10)::numeric, 3)::float8
  FROM generate_series(1, 10) n, generate_series(1, n);
INSERT INTO pct_data VALUES ('two', 0.132), ('two', 2.5), ('three', 0.132), ('three', 2.5), ('three', 150);
INSERT INTO pct_data SELECT 'one_to_ten', i FROM generate_series(1, 10) i;

-- sketch_percentile_cont against percentile_cont: every data set, many q,
-- at three accuracies; worst relative error and whether all are within alpha
CREATE FUNCTION pg_temp.cont_errors(alpha float8)
RETURNS TABLE (sets bigint, compared bigint, all_within boolean, ends_exact boolean)
LANGUAGE sql AS $$
  WITH qs AS (
    SELECT unnest(ARRAY[0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]::float8[]) AS q
  ), sk AS (
    SELECT name, metrics_rollup.sketch_agg(v, alpha) AS s FROM pct_data GROUP BY name
  ), exact AS (
    SELECT d.name, qs.q, percentile_cont(qs.q) WITHIN GROUP (ORDER BY d.v) AS e
      FROM pct_data d, qs GROUP BY d.name, qs.q
  ), cmp AS (
    SELECT exact.name, exact.q, exact.e, metrics_rollup.sketch_percentile_cont(sk.s, exact.q) AS est
      FROM exact JOIN sk USING (name)
  )
  SELECT count(DISTINCT name), count(*), bool_and(pg_temp.within(est, e, alpha)),
         bool_and(est = e) FILTER (WHERE q IN (0, 1))
    FROM cmp
$$;
SELECT * FROM pg_temp.cont_errors(0.01);
SELECT * FROM pg_temp.cont_errors(0.001);
SELECT * FROM pg_temp.cont_errors(0.05);

-- the array form gives the same as one call per q; NULL elements stay NULL
SELECT sketch_percentiles_cont(s, ARRAY[0.5, NULL, 0.95]) =
       ARRAY[sketch_percentile_cont(s, 0.5), NULL, sketch_percentile_cont(s, 0.95)] AS same
  FROM (SELECT sketch_agg(v) s FROM pct_data WHERE name = 'lognormal') t;
-- 1..10: percentile_cont says 5.5, 9.55, 9.91; the rank rule stays as it was
SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY v) AS exact,
       (SELECT bool_and(pg_temp.within(e, x, 0.01))
          FROM unnest(sketch_percentiles_cont(sketch_agg(v), ARRAY[0.5, 0.95, 0.99]),
                      percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY v)) u(e, x)) AS cont_within,
       sketch_quantiles(sketch_agg(v), ARRAY[0.95, 0.99]) AS disc_rule
  FROM pct_data WHERE name = 'one_to_ten';
-- errors: q outside [0, 1]; an empty array
SELECT sketch_percentile_cont(sketch_agg(v), 1.5) FROM pct_data;
SELECT sketch_percentiles_cont(sketch_agg(v), '{}') FROM pct_data;

-- Folding by filled buckets: 100,000 Pareto(1.1) latencies from 1 ms,
-- capped at 1 h, at alpha = 0.001 fill more than 2048 bucket indexes; the
-- lowest fold, and p90..p99.9 stay within alpha.
CREATE TABLE pct_pareto AS
SELECT least(3600, 0.001 * power(1 - random(), -1 / 1.1)) AS v FROM generate_series(1, 100000);
SELECT count(DISTINCT ceil(ln(v) / ln((1 + 0.001) / (1 - 0.001)))) > 2048 AS folds,
       bool_and(pg_temp.within(e, x, 0.001)) AS p90_to_p999_within
  FROM pct_pareto,
       LATERAL (SELECT * FROM unnest(
         (SELECT sketch_percentiles_cont(sketch_agg(v, 0.001), ARRAY[0.9, 0.95, 0.99, 0.995, 0.999]) FROM pct_pareto),
         (SELECT percentile_cont(ARRAY[0.9, 0.95, 0.99, 0.995, 0.999]) WITHIN GROUP (ORDER BY v) FROM pct_pareto)) u(e, x)) c;
-- the same sketch merged from 7 parts in two orders: the same bytes
WITH parts AS (
  SELECT i % 7 AS p, sketch_agg(v, 0.001) AS s
    FROM (SELECT row_number() OVER () AS i, v FROM pct_pareto) t GROUP BY 1)
SELECT (SELECT sketch_to_bytea(sketch_merge(s ORDER BY p)) FROM parts) =
       (SELECT sketch_to_bytea(sketch_merge(s ORDER BY p DESC)) FROM parts) AS order_independent,
       (SELECT sketch_to_bytea(sketch_merge(s ORDER BY p)) FROM parts) =
       (SELECT sketch_to_bytea(sketch_agg(v, 0.001)) FROM pct_pareto) AS same_as_one_pass;

-- Format 1 (written by 1.1) still reads: {0.132, 2.5, 150} in binary and
-- as text, 1..10 in binary; they come out as format 2, and merge exactly
-- with new ones.
CREATE TABLE pct_v1 AS
SELECT sketch_from_bytea('\x017b14ae47e17a843f03004c37894160e5c03f0000000000c0624080b0ba93b190b0e5a1b10203c901010191010101cb010101') AS a,
       sketch_from_bytea('\x017b14ae47e17a843f0a00000000000000f03f00000000000024408080808080808080806e0a0001012101011201010d0101090101070101060101040101040101040101') AS b,
       '{"v":1,"alpha":0.01,"count":3,"zeros":0,"min":0.132,"max":150,"sum":"152.63200000000000000621724893790087662637233734130859375","bins":{"-101":1,"46":1,"251":1}}'::sketch AS c;
SELECT a, b, c FROM pct_v1;
SELECT a::text = (SELECT sketch_agg(v)::text FROM pct_data WHERE name = 'three') AS a_same_as_new,
       b::text = (SELECT sketch_agg(v)::text FROM pct_data WHERE name = 'one_to_ten') AS b_same_as_new,
       c::text = a::text AS text_same_as_binary,
       sketch_combine(a, b)::text = (SELECT sketch_agg(v)::text FROM pct_data
                                      WHERE name IN ('three', 'one_to_ten')) AS merge_exact,
       sketch_combine(a, b)::text = sketch_combine(b, a)::text AS merge_commutes,
       sketch_percentile_cont(a, 0.5) AS a_p50
  FROM pct_v1;
-- a format 1 sketch that folded by index span (values over 1000x at
-- alpha = 0.001) reads and merges in any order
CREATE TABLE pct_v1_wide AS
SELECT sketch_from_bytea(decode(
  '01fca9f1d24d62503f0a00fca9f1d24d62503f0000000000408f40f084b7d7daf38ff59af51304fe150107fe030101fe050101fd050101', 'hex')) AS s;
SELECT sketch_count(s), sketch_min(s), sketch_max(s), sketch_percentile_cont(s, 1) AS p100,
       sketch_combine(s, n)::text = sketch_combine(n, s)::text AS merge_commutes,
       sketch_count(sketch_combine(s, n)) AS merged_count
  FROM pct_v1_wide, (SELECT sketch_agg(v, 0.001) AS n FROM pct_data WHERE name = 'lognormal') t;

-- Sums and counts: every accepted value can be summed, merged and round-trip.
-- 20,000 values of 1e15 (the largest accepted) used to overflow the sum.
CREATE TABLE pct_big AS SELECT sketch_agg(1e15::float8) AS s FROM generate_series(1, 20000);
SELECT sketch_count(s), sketch_sum(s), sketch_percentile_cont(s, 0.5),
       s::text::sketch::text = s::text AS text_round_trip,
       sketch_from_bytea(sketch_to_bytea(s))::text = s::text AS binary_round_trip
  FROM pct_big;
-- doubled 48 times: 5.6e18 events, still a bigint; sums near 2^177 units
WITH RECURSIVE d(i, s) AS (
  SELECT 0, s FROM pct_big
  UNION ALL
  SELECT i + 1, sketch_combine(s, s) FROM d WHERE i < 48)
SELECT sketch_count(s), sketch_sum(s), sketch_max(s),
       s::text::sketch::text = s::text AS text_round_trip,
       sketch_from_bytea(sketch_to_bytea(s))::text = s::text AS binary_round_trip
  FROM d WHERE i = 48;
-- once more: past 2^63 - 1 events is an error, never a bad sketch
WITH RECURSIVE d(i, s) AS (
  SELECT 0, s FROM pct_big
  UNION ALL
  SELECT i + 1, sketch_combine(s, s) FROM d WHERE i < 49)
SELECT sketch_count(s) FROM d WHERE i = 49;
-- nor does such a count load from text
SELECT '{"v":2,"alpha":0.01,"count":9223372036854775808,"zeros":9223372036854775808,"min":0,"max":0,"sum":"0","bins":{}}'::sketch;

-- ---------------------------------------------------------------------------
-- Every path of the extension, against percentile_cont over the same events.
-- Hours 3 days back (ended days: the daily level is built for them).
SELECT date_trunc('day', now(), 'UTC') - interval '3 days' AS t0 \gset
CREATE TABLE pct_t0 AS SELECT :'t0'::timestamptz AS t0;
CREATE TABLE pct_shadow (entity_id text, recorded_at timestamptz, response_time float8);
INSERT INTO pct_shadow
SELECT 'ten', :'t0'::timestamptz + interval '5 hours' + i * interval '1 minute', i
  FROM generate_series(1, 10) i;
INSERT INTO pct_shadow
SELECT 'ln', :'t0'::timestamptz + (i % 48) * interval '1 hour' + (i % 53) * interval '1 minute',
       exp(-3 + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
  FROM generate_series(1, 4000) i;
INSERT INTO pct_shadow
SELECT 'bi', :'t0'::timestamptz + (i % 30) * interval '1 hour',
       CASE WHEN i % 4 = 0 THEN 0.01 ELSE 3 END * (1 + 0.1 * random())
  FROM generate_series(1, 2000) i;
INSERT INTO pct_shadow
SELECT 'ties', :'t0'::timestamptz + (i % 5) * interval '1 hour', (ARRAY[0, 0.5, 0.5, 2])[1 + i % 4]
  FROM generate_series(1, 400) i;
INSERT INTO pct_shadow
SELECT 'small', :'t0'::timestamptz + n * interval '1 hour', round((random() * 5)::numeric, 4)::float8
  FROM generate_series(1, 10) n, generate_series(1, n);
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'pct', entity_id, recorded_at, response_time, true FROM pct_shadow;
SELECT hours_processed > 0 AS rolled_up FROM run_rollup(:'t0'::timestamptz);

-- hourly_metrics: exact percentile_cont, every (entity, hour)
SELECT count(*) AS hours,
       bool_and((h.p50_response_time, h.p95_response_time, h.p99_response_time) =
                (o.p[1], o.p[2], o.p[3])) AS hourly_exact
  FROM hourly_metrics h
  JOIN (SELECT entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p
          FROM pct_shadow GROUP BY 1, 2) o USING (entity_id, hour_start)
 WHERE h.kind = 'pct';

-- aggregate() over ranges, timeseries() by hour and by day, against the
-- shadow rows; "wrong" counts the percentiles outside alpha
CREATE FUNCTION pg_temp.check_paths(OUT path text, OUT compared bigint, OUT wrong bigint)
RETURNS SETOF record LANGUAGE sql AS $$
  WITH ranges(lo, hi) AS (
    SELECT NULL::timestamptz, NULL::timestamptz
    UNION ALL SELECT t0 + interval '5 hours', t0 + interval '6 hours' FROM pct_t0
    UNION ALL SELECT t0, t0 + interval '24 hours' FROM pct_t0
    UNION ALL SELECT t0 + interval '7 hours', t0 + interval '40 hours' FROM pct_t0),
  agg AS (
    SELECT 'aggregate' AS path, a.p50_response_time AS e50, a.p95_response_time AS e95,
           a.p99_response_time AS e99, o.p
      FROM ranges r,
           LATERAL aggregate('pct', NULL, r.lo, r.hi) a,
           LATERAL (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.response_time) AS p
                      FROM pct_shadow s
                     WHERE s.entity_id = a.entity_id
                       AND s.recorded_at >= coalesce(r.lo, '-infinity')
                       AND s.recorded_at < coalesce(r.hi, 'infinity')) o),
  ts AS (
    SELECT 'timeseries ' || b.b AS path, t.p50_response_time, t.p95_response_time,
           t.p99_response_time, o.p
      FROM (VALUES ('1 hour'::interval), ('6 hours'), ('1 day')) b(b),
           (SELECT DISTINCT entity_id FROM pct_shadow) e, pct_t0,
           LATERAL timeseries('pct', e.entity_id, pct_t0.t0,
                              pct_t0.t0 + interval '72 hours', b.b) t,
           LATERAL (SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY s.response_time) AS p
                      FROM pct_shadow s
                     WHERE s.entity_id = e.entity_id
                       AND s.recorded_at >= t.bucket_start AND s.recorded_at < t.bucket_start + b.b) o
     WHERE t.total_count > 0)
  SELECT path, count(*),
         count(*) FILTER (WHERE NOT (pg_temp.within(e50, p[1], 0.01) AND pg_temp.within(e95, p[2], 0.01)
                                     AND pg_temp.within(e99, p[3], 0.01)))
    FROM (SELECT * FROM agg UNION ALL SELECT * FROM ts) x
   GROUP BY path ORDER BY path
$$;
SELECT * FROM pg_temp.check_paths();
-- the days of the test were built: timeseries by day read daily_metrics
SELECT count(*) >= 2 AS days_built FROM daily_built WHERE kind = 'pct';
-- 1..10 in one hour with all raw rows: p95 9.55 within 1%
SELECT pg_temp.within(p95_response_time, 9.55, 0.01) AS p95_955
  FROM aggregate('pct', 'ten', :'t0'::timestamptz + interval '5 hours', :'t0'::timestamptz + interval '6 hours');

-- raw rows deleted (archived into hourly rows, merged sketches): the same
-- answers within alpha; merged hourly rows follow percentile_cont's rule
-- then late rows in those hours: their hourly rows become archived part (+)
-- raw rows, merged through the sketch
DELETE FROM raw_metrics WHERE kind = 'pct' AND entity_id IN ('ln', 'bi');
CREATE TABLE pct_late AS
SELECT entity_id, recorded_at + interval '1 second' AS recorded_at, response_time * 1.001 AS response_time
  FROM pct_shadow WHERE entity_id IN ('ln', 'bi') AND extract(minute FROM recorded_at) = 7;
INSERT INTO pct_shadow SELECT * FROM pct_late;
INSERT INTO raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'pct', entity_id, recorded_at, response_time, true FROM pct_late;
SELECT hours_processed > 0 AS rolled_up FROM run_rollup();
SELECT * FROM pg_temp.check_paths();
SELECT count(*) AS merged_hours,
       count(*) FILTER (WHERE NOT (pg_temp.within(h.p50_response_time, o.p[1], 0.01)
                                   AND pg_temp.within(h.p95_response_time, o.p[2], 0.01)
                                   AND pg_temp.within(h.p99_response_time, o.p[3], 0.01))) AS wrong
  FROM hourly_metrics h
  JOIN (SELECT entity_id, date_trunc('hour', recorded_at, 'UTC') AS hour_start,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p
          FROM pct_shadow GROUP BY 1, 2) o USING (entity_id, hour_start)
 WHERE h.kind = 'pct' AND NOT h.percentiles_exact;

-- live_stats: the events recorded now, against the raw rows they became.
-- A slice keeps 64 filled buckets (src/live.c): log-normal with a narrow
-- spread, bimodal with modes 375x apart, and {0.132, 2.5, 150} (the 64-bucket
-- histogram of 1.1 said 12.18 for the median of these three)
SELECT record_batch('pctlive', array_agg('e' || (i % 3)), array_agg(
         CASE i % 3 WHEN 0 THEN exp(-3 + 0.15 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
                    WHEN 1 THEN CASE WHEN i % 4 = 1 THEN 0.004 ELSE 1.5 END * (1 + 0.05 * random())
                    ELSE (ARRAY[0.132, 2.5, 150])[1 + (i / 3) % 3] END ORDER BY i),
         array_agg(i % 11 <> 0 ORDER BY i), NULL, NULL,
         -- distinct times, so that "last" is one event (a flush sorts a batch)
         array_agg(now() - interval '1 minute' + i * interval '1 ms' ORDER BY i))
  FROM generate_series(1, 3000) i;
SELECT flush() >= 0 AS flushed;
SELECT l.entity_id, l.count = r.n AS count_ok, l.failures = r.f AS failures_ok,
       (l.min_response_time, l.max_response_time) = (r.mn, r.mx) AS min_max_exact,
       pg_temp.within(l.total_response_time, r.total, 1e-12) AS total_ok,
       pg_temp.within(l.avg_response_time, r.total / r.n, 1e-12) AS avg_ok,
       pg_temp.within(l.p50_response_time, r.p[1], 0.01)
         AND pg_temp.within(l.p95_response_time, r.p[2], 0.01)
         AND pg_temp.within(l.p99_response_time, r.p[3], 0.01) AS percentiles_within,
       l.last_response_time = r.last_rt AS last_ok
  FROM live_stats l
  JOIN (SELECT entity_id, count(*) AS n, count(*) FILTER (WHERE NOT success) AS f,
               min(response_time) AS mn, max(response_time) AS mx, sum(response_time) AS total,
               percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY response_time) AS p,
               (array_agg(response_time ORDER BY recorded_at DESC))[1] AS last_rt
          FROM raw_metrics WHERE kind = 'pctlive' GROUP BY entity_id) r USING (entity_id)
 WHERE l.kind = 'pctlive'
 ORDER BY l.entity_id;
