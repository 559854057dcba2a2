-- Percentile sketch: accuracy against percentile_disc, exact count/min/max/sum,
-- order-independent byte-identical merges, parallel aggregation, text and
-- binary round trips, and rejection of bad values and malformed input.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
SET search_path = metrics_rollup, public;

-- the text form, on a tiny example
SELECT sketch_agg(v) FROM (VALUES (0.0), (1.0), (2.0), (10.0), (NULL)) t(v);

-- deterministic test distributions (setseed + random, Box-Muller for normals)
SELECT setseed(0.42);
CREATE TABLE sketch_dist (name text, v double precision);
INSERT INTO sketch_dist
SELECT 'uniform', random() * 10 FROM generate_series(1, 10000);
INSERT INTO sketch_dist
SELECT 'lognormal', exp(-3 + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
  FROM generate_series(1, 10000);
INSERT INTO sketch_dist
SELECT 'pareto', 0.01 * power(1 - random(), -1 / 1.2) FROM generate_series(1, 10000);
INSERT INTO sketch_dist
SELECT 'bimodal', CASE WHEN i % 2 = 0 THEN 0.005 ELSE 2.0 END * (1 + 0.2 * random())
  FROM generate_series(1, 10000) i;
INSERT INTO sketch_dist SELECT 'constant', 0.25 FROM generate_series(1, 1000);
INSERT INTO sketch_dist VALUES ('single', 3.7);
INSERT INTO sketch_dist SELECT 'zeros', 0 FROM generate_series(1, 100);
INSERT INTO sketch_dist
SELECT 'zeros_and_values', CASE WHEN i % 3 = 0 THEN 0 ELSE i / 7.0 END FROM generate_series(1, 3000) i;
INSERT INTO sketch_dist SELECT 'tiny', 1e-9 * (1 + random()) FROM generate_series(1, 5000);
INSERT INTO sketch_dist SELECT 'huge', 1e6 * (1 + 100 * random()) FROM generate_series(1, 5000);

-- Relative error of every quantile against percentile_disc at the same rank.
-- (1e-12 of slack covers rounding in log/pow at bucket edges.)  A sketch
-- keeps at most 2048 buckets: values at or below gamma^(top - 2048) share
-- the lowest kept bucket, and only ranks falling there ("collapsed") lose
-- the guarantee; at alpha = 1% that needs a range over 1e17, at 0.1% over 60x.
CREATE FUNCTION pg_temp.sketch_errors(alpha double precision)
RETURNS TABLE (name text, n bigint, within_alpha boolean, collapsed bigint,
               all_exact boolean, ends_exact boolean)
LANGUAGE sql AS $$
  WITH qs AS (
    SELECT unnest(ARRAY[0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1]::float8[]) AS q
  ), sk AS (
    SELECT d.name, metrics_rollup.sketch_agg(d.v, alpha) AS s,
           power((1 + alpha) / (1 - alpha),
                 ceil(ln(nullif(max(d.v), 0)) / ln((1 + alpha) / (1 - alpha))) - 2048) AS lim
      FROM sketch_dist d GROUP BY d.name
  ), exact AS (
    SELECT d.name, qs.q, percentile_disc(qs.q) WITHIN GROUP (ORDER BY d.v) AS e
      FROM sketch_dist d, qs GROUP BY d.name, qs.q
  ), cmp AS (
    SELECT exact.name, exact.q, exact.e, sk.lim, metrics_rollup.sketch_quantile(sk.s, exact.q) AS est
      FROM exact JOIN sk USING (name)
  )
  SELECT name, count(*),
         bool_and(CASE WHEN e = 0 THEN est = 0 ELSE abs(est - e) / e <= alpha + 1e-12 END)
           FILTER (WHERE e = 0 OR e > lim * (1 + 1e-9)),
         count(*) FILTER (WHERE e > 0 AND e <= lim * (1 + 1e-9)),
         bool_and(est = e),
         bool_and(est = e) FILTER (WHERE q IN (0, 1))
    FROM cmp GROUP BY name ORDER BY name
$$;
SELECT * FROM pg_temp.sketch_errors(0.01);
SELECT * FROM pg_temp.sketch_errors(0.001);
SELECT * FROM pg_temp.sketch_errors(0.05);

-- the 1-argument form takes alpha from the setting, read per group
SELECT sketch_relative_accuracy(sketch_agg(v)) FROM sketch_dist;
SET metrics_rollup.sketch_relative_accuracy = 0.05;
SELECT sketch_relative_accuracy(sketch_agg(v)) FROM sketch_dist;
SELECT sketch_agg(v)::text = sketch_agg(v, 0.05)::text AS same_as_two_arg FROM sketch_dist;
RESET metrics_rollup.sketch_relative_accuracy;

-- count, min, max exact; sum exact in fixed point (compared to numeric)
SELECT name,
       sketch_count(s) = n AS count_ok,
       sketch_min(s) = mn AS min_ok,
       sketch_max(s) = mx AS max_ok,
       abs(sketch_sum(s)::numeric - sm) <= 1e-12 * sm + 1e-18 AS sum_ok
  FROM (SELECT name, sketch_agg(v) s, count(*) n, min(v) mn, max(v) mx, sum(v::numeric) sm
          FROM sketch_dist GROUP BY name) t
 ORDER BY name;

-- NULLs are ignored; no non-NULL value gives NULL
SELECT sketch_agg(v) IS NULL AS all_null FROM (VALUES (NULL::float8), (NULL)) t(v);
SELECT sketch_agg(v) IS NULL AS no_rows FROM sketch_dist WHERE false;
SELECT sketch_count(sketch_agg(v)) FROM (VALUES (1.0), (NULL), (2.0)) t(v);
SELECT sketch_quantile(NULL, 0.5) IS NULL AS null_sketch;
SELECT sketch_combine(NULL, NULL) IS NULL AS null_combine;
SELECT sketch_combine(NULL, s)::text = s::text AS null_plus_s,
       sketch_combine(s, NULL)::text = s::text AS s_plus_null
  FROM (SELECT sketch_agg(v) s FROM sketch_dist WHERE name = 'pareto') t;
SELECT sketch_merge(s) IS NULL AS merge_of_nulls FROM (VALUES (NULL::sketch)) t(s);
SELECT sketch_quantiles(sketch_agg(v), ARRAY[0, 0.5, NULL, 1])
  FROM (VALUES (1.0), (2.0), (3.0)) t(v);

-- Merging: any partitioning, any order, gives the bytes of one pass.
SELECT setseed(0.7);
CREATE TABLE sketch_merge_data AS
SELECT i, exp(ln(0.001) + random() * ln(60000)) AS v FROM generate_series(1, 20000) i;
CREATE TEMP TABLE merge_results AS
SELECT 'one pass' AS how, sketch_agg(v) AS s FROM sketch_merge_data
UNION ALL
SELECT 'one pass, shuffled', sketch_agg(v ORDER BY random()) FROM sketch_merge_data
UNION ALL
SELECT '7 parts, ascending', sketch_merge(s ORDER BY g)
  FROM (SELECT i % 7 g, sketch_agg(v) s FROM sketch_merge_data GROUP BY 1) p
UNION ALL
SELECT '7 parts, descending', sketch_merge(s ORDER BY g DESC)
  FROM (SELECT i % 7 g, sketch_agg(v) s FROM sketch_merge_data GROUP BY 1) p
UNION ALL
SELECT '50 random parts, random order', sketch_merge(s ORDER BY random())
  FROM (SELECT g, sketch_agg(v ORDER BY random()) s
          FROM (SELECT (random() * 49)::int g, v FROM sketch_merge_data) r GROUP BY g) p
UNION ALL
SELECT 'merge of merges', sketch_merge(s ORDER BY random())
  FROM (SELECT sketch_merge(s) s
          FROM (SELECT i % 13 g, sketch_agg(v) s FROM sketch_merge_data GROUP BY 1) p
         GROUP BY g % 3) pp;
SELECT how, s::text = (SELECT s::text FROM merge_results WHERE how = 'one pass') AS same_text,
       sketch_send(s) = (SELECT sketch_send(s) FROM merge_results WHERE how = 'one pass') AS same_bytes,
       sketch_count(s)
  FROM merge_results ORDER BY how;
-- sketch_combine is commutative and associative, bytewise
SELECT sketch_combine(a, b)::text = sketch_combine(b, a)::text AS commutative,
       sketch_combine(sketch_combine(a, b), c)::text = sketch_combine(a, sketch_combine(b, c))::text AS associative
  FROM (SELECT sketch_agg(v) FILTER (WHERE i % 3 = 0) a, sketch_agg(v) FILTER (WHERE i % 3 = 1) b,
               sketch_agg(v) FILTER (WHERE i % 3 = 2) c FROM sketch_merge_data) t;

-- Bounded size: 1 ms .. 60 s at alpha = 1% stays under 2 kB
SELECT pg_column_size(s) <= 2048 AS small, length(s::text) > 0 AS has_text
  FROM merge_results WHERE how = 'one pass';

-- Collapse: values over 24 decades exceed 2048 buckets; the lowest ones fold,
-- merges stay byte-identical and upper quantiles keep their accuracy.
SELECT setseed(0.3);
CREATE TABLE sketch_wide AS
SELECT i, power(10, -12 + 24 * random()) AS v FROM generate_series(1, 20000) i;
SELECT (SELECT sketch_agg(v)::text FROM sketch_wide) =
       (SELECT sketch_merge(s ORDER BY g DESC)::text
          FROM (SELECT i % 5 g, sketch_agg(v) s FROM sketch_wide GROUP BY 1) p) AS wide_merge_identical;
SELECT bool_and(abs(sketch_quantile(s, q) - e) / e <= 0.01 + 1e-12) AS upper_quantiles_ok,
       bool_or(abs(sketch_quantile(s, 0.01) - e01) / e01 > 0.01) AS collapsed_rank_loses_guarantee
  FROM (SELECT sketch_agg(v) s,
               percentile_disc(0.01) WITHIN GROUP (ORDER BY v) e01 FROM sketch_wide) a,
       LATERAL (SELECT q, percentile_disc(q) WITHIN GROUP (ORDER BY v) e
                  FROM sketch_wide, unnest(ARRAY[0.5, 0.9, 0.99, 1]::float8[]) q GROUP BY q) b;

-- Parallel aggregation: partial states travel through serial/deserial.
CREATE TABLE sketch_par AS
SELECT i, exp(ln(0.001) + ((i * 7919) % 100003) / 100003.0 * ln(60000)) AS v
  FROM generate_series(1, 200000) i;
ANALYZE sketch_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE TABLE sketch_par_sk AS SELECT i % 2000 g, sketch_agg(v) s FROM sketch_par GROUP BY 1;
ANALYZE sketch_par_sk;
EXPLAIN (COSTS OFF) SELECT sketch_agg(v) FROM sketch_par;
EXPLAIN (COSTS OFF) SELECT sketch_merge(s) FROM sketch_par_sk;
SELECT sketch_agg(v)::text AS par_text, sketch_send(sketch_agg(v, 0.001)) AS par_bytes FROM sketch_par \gset
SELECT sketch_merge(s)::text AS par_merge FROM sketch_par_sk \gset
RESET max_parallel_workers_per_gather;
SET max_parallel_workers_per_gather = 0;
SELECT sketch_agg(v)::text = :'par_text' AS parallel_equals_serial,
       sketch_send(sketch_agg(v, 0.001)) = :'par_bytes'::bytea AS parallel_equals_serial_bytes,
       sketch_agg(v)::text = :'par_merge' AS parallel_merge_equals_one_pass
  FROM sketch_par;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- Round trips: text and binary are exact
SELECT name,
       s::text::sketch::text = s::text AS text_round_trip,
       sketch_send(s::text::sketch) = sketch_send(s) AS text_bytes_round_trip,
       sketch_from_bytea(sketch_send(s))::text = s::text AS binary_round_trip,
       sketch_to_bytea(s) = sketch_send(s) AS to_bytea_is_send
  FROM (SELECT name, sketch_agg(v) s FROM sketch_dist GROUP BY name) t ORDER BY name;
-- through COPY ... BINARY (sketch_send / sketch_recv)
\getenv abs_builddir PG_ABS_BUILDDIR
\set copy_file :abs_builddir '/results/sketch_copy.bin'
CREATE TABLE sketch_copy_src AS SELECT name, sketch_agg(v) s FROM sketch_dist GROUP BY name;
CREATE TABLE sketch_copy_dst (LIKE sketch_copy_src);
COPY sketch_copy_src TO :'copy_file' WITH (FORMAT binary);
COPY sketch_copy_dst FROM :'copy_file' WITH (FORMAT binary);
SELECT count(*) AS rows, bool_and(a.s::text = b.s::text) AS copy_binary_round_trip
  FROM sketch_copy_src a JOIN sketch_copy_dst b USING (name);

-- Bad values: 22003 with a hint
SELECT sketch_agg(v) FROM (VALUES (1.0::float8), ('NaN')) t(v);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_agg(v) FROM (VALUES ('Infinity'::float8)) t(v);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_agg(v) FROM (VALUES ('-Infinity'::float8)) t(v);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_agg(v) FROM (VALUES (-0.001::float8)) t(v);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_agg(v) FROM (VALUES (2e15::float8)) t(v);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_count(sketch_agg(v)) FROM (VALUES ('-0'::float8)) t(v);
SELECT sketch_agg(v) FROM (SELECT 1e15::float8 v FROM generate_series(1, 20000)) t;
\echo :LAST_ERROR_SQLSTATE
-- bad quantiles and accuracies
SELECT sketch_quantile(sketch_agg(v), 1.5) FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_quantile(sketch_agg(v), -0.1) FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_quantile(sketch_agg(v), 'NaN') FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_quantiles(sketch_agg(v), ARRAY[0.5, 2]) FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_agg(v, 0.5) FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_agg(v, NULL) FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
-- different accuracies do not merge, nor mix within one aggregate
SELECT sketch_agg(v, CASE WHEN v < 5 THEN 0.01 ELSE 0.02 END) FROM sketch_dist WHERE name = 'uniform';
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_combine(sketch_agg(v, 0.01), sketch_agg(v, 0.02)) FROM sketch_dist;
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_merge(s) FROM (SELECT sketch_agg(v, 0.01) s FROM sketch_dist
                             UNION ALL SELECT sketch_agg(v, 0.05) FROM sketch_dist) t;
\echo :LAST_ERROR_SQLSTATE

-- Malformed text: each is 22P02
SELECT 'garbage'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":2'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":2,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.5,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":99999999999999999999,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":5,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":2,"zeros":0,"min":1,"max":2,"sum":"3","bins":{"35":1,"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":2,"zeros":0,"min":1,"max":1,"sum":"2","bins":{"0":1,"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"99999999":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":2,"zeros":0,"min":1,"max":4e30,"sum":"1","bins":{"0":1,"2048":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":0}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":2,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":-1,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":NaN,"max":1,"sum":"1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1.50","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1.1","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"5","bins":{"0":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"7":1}}'::sketch;
\echo :LAST_ERROR_SQLSTATE
SELECT '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}} x'::sketch;
\echo :LAST_ERROR_SQLSTATE
-- a valid one for contrast, and its quantile
SELECT '{"v":1,"alpha":0.01,"count":3,"zeros":1,"min":0,"max":2,"sum":"3","bins":{"0":1,"35":1}}'::sketch;
SELECT sketch_quantile('{"v":1,"alpha":0.01,"count":3,"zeros":1,"min":0,"max":2,"sum":"3","bins":{"0":1,"35":1}}', 0.5);

-- Malformed binary (the sketch_recv path): each is 22P03
SELECT sketch_send('{"v":1,"alpha":0.01,"count":3,"zeros":1,"min":0,"max":2,"sum":"3","bins":{"0":1,"35":1}}') AS good \gset
SELECT sketch_from_bytea(:'good'::bytea)::text;
SELECT sketch_from_bytea(''::bytea);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_from_bytea(substr(:'good'::bytea, 1, 20));
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_from_bytea(:'good'::bytea || '\x00'::bytea);
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_from_bytea(set_byte(:'good'::bytea, 0, 2));
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_from_bytea(overlay(:'good'::bytea placing '\xffffffffffffffffffff7f'::bytea from 10 for 1));
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_from_bytea('\x01ffffffffffffffff'::bytea);
\echo :LAST_ERROR_SQLSTATE
-- every truncation and every single-bit flip is either rejected or decodes
-- to a valid sketch whose canonical encoding is those very bytes
CREATE FUNCTION pg_temp.try_recv(b bytea) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  IF metrics_rollup.sketch_send(metrics_rollup.sketch_from_bytea(b)) = b THEN
    RETURN 'accepted, canonical';
  END IF;
  RETURN 'accepted, NOT canonical';
EXCEPTION WHEN invalid_binary_representation THEN
  RETURN 'rejected';
END $$;
SELECT pg_temp.try_recv(substr(:'good'::bytea, 1, n)) AS truncated, count(*)
  FROM generate_series(0, length(:'good'::bytea) - 1) n GROUP BY 1;
SELECT r AS bit_flipped, count(*)
  FROM (SELECT pg_temp.try_recv(set_bit(:'good'::bytea, bit, 1 - get_bit(:'good'::bytea, bit))) r
          FROM generate_series(0, 8 * length(:'good'::bytea) - 1) bit) t
 GROUP BY 1 ORDER BY 1;
SELECT 1 AS still_up;

DROP TABLE sketch_dist, sketch_merge_data, sketch_wide, sketch_par, sketch_par_sk, sketch_copy_src, sketch_copy_dst;
