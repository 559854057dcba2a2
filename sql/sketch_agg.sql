-- sketch_agg with the sketch type as its state (1.2): the catalog says so,
-- results are byte-identical to the 1.1 aggregate (internal state, kept in
-- the library and declared here as the oracle), exact count/min/max and
-- quantiles within alpha of percentile_disc, combine (sketch_merge of
-- per-group sketches, forced parallel aggregation), the state's text round
-- trip as Citus ships it, empty input, NULLs, the alpha variant, errors.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
SET search_path = metrics_rollup, public;

-- the aggregates' definitions: a real state type, a combine function, no
-- serial functions, parallel safe
SELECT a.aggfnoid::regprocedure AS aggregate, a.aggtranstype::regtype AS stype,
       a.aggtransfn::regprocedure AS sfunc, a.aggfinalfn::regprocedure AS finalfunc,
       a.aggcombinefn::regprocedure AS combinefunc, a.aggserialfn, a.aggdeserialfn,
       p.proparallel
  FROM pg_aggregate a JOIN pg_proc p ON p.oid = a.aggfnoid
 WHERE p.proname = 'sketch_agg' AND p.pronamespace = 'metrics_rollup'::regnamespace
 ORDER BY 1::text;

-- the oracle: 1.1's sketch_agg (internal state), from the same library
CREATE SCHEMA sketch_old;
CREATE FUNCTION sketch_old.trans(internal, double precision) RETURNS internal
    AS '$libdir/metrics_rollup', 'sketch_agg_trans' LANGUAGE C STABLE PARALLEL SAFE;
CREATE FUNCTION sketch_old.trans(internal, double precision, double precision) RETURNS internal
    AS '$libdir/metrics_rollup', 'sketch_agg_trans_alpha' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION sketch_old.final(internal) RETURNS metrics_rollup.sketch
    AS '$libdir/metrics_rollup', 'sketch_agg_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE sketch_old.sketch_agg(double precision) (
    SFUNC = sketch_old.trans, STYPE = internal, FINALFUNC = sketch_old.final);
CREATE AGGREGATE sketch_old.sketch_agg(double precision, double precision) (
    SFUNC = sketch_old.trans, STYPE = internal, FINALFUNC = sketch_old.final);

-- deterministic data: groups of different shapes, NULLs among the values
SELECT setseed(0.17);
CREATE TABLE sa (g int, v double precision);
INSERT INTO sa
SELECT i % 7,
       CASE i % 7
         WHEN 0 THEN exp(-3 + 1.5 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))
         WHEN 1 THEN random() * 10
         WHEN 2 THEN 0.01 * power(1 - random(), -1 / 1.2)
         WHEN 3 THEN CASE WHEN i % 3 = 0 THEN 0 ELSE i / 7.0 END
         WHEN 4 THEN 1e-9 * (1 + random())
         WHEN 5 THEN 1e6 * (1 + 100 * random())
         ELSE 0.25
       END
  FROM generate_series(1, 70000) i;
INSERT INTO sa SELECT i % 7, NULL FROM generate_series(1, 700) i;
-- a group that only ever sees NULLs
INSERT INTO sa SELECT 7, NULL FROM generate_series(1, 10);
ANALYZE sa;

-- byte-identical to 1.1's aggregate, per group, hashed and sorted, both forms
SET max_parallel_workers_per_gather = 0;
SET enable_sort = off;
SELECT count(*) AS groups,
       count(*) FILTER (WHERE sketch_to_bytea(n) IS NOT DISTINCT FROM sketch_to_bytea(o)) AS same_bytes,
       count(*) FILTER (WHERE sketch_to_bytea(na) IS NOT DISTINCT FROM sketch_to_bytea(oa)) AS same_bytes_alpha,
       count(*) FILTER (WHERE n IS NULL) AS null_groups
  FROM (SELECT g, metrics_rollup.sketch_agg(v) n, sketch_old.sketch_agg(v) o,
               metrics_rollup.sketch_agg(v, 0.001) na, sketch_old.sketch_agg(v, 0.001) oa
          FROM sa GROUP BY g) t;
RESET enable_sort;
SET enable_hashagg = off;
SELECT count(*) AS groups,
       count(*) FILTER (WHERE sketch_to_bytea(n) IS NOT DISTINCT FROM sketch_to_bytea(o)) AS same_bytes,
       count(*) FILTER (WHERE sketch_to_bytea(na) IS NOT DISTINCT FROM sketch_to_bytea(oa)) AS same_bytes_alpha
  FROM (SELECT g, metrics_rollup.sketch_agg(v) n, sketch_old.sketch_agg(v) o,
               metrics_rollup.sketch_agg(v, 0.05) na, sketch_old.sketch_agg(v, 0.05) oa
          FROM sa GROUP BY g) t;
RESET enable_hashagg;
-- one group over everything, and in a window
SELECT sketch_to_bytea(metrics_rollup.sketch_agg(v)) = sketch_to_bytea(sketch_old.sketch_agg(v)) AS all_rows_same
  FROM sa;
SELECT bool_and(sketch_to_bytea(n) = sketch_to_bytea(o)) AS running_window_same, count(*)
  FROM (SELECT metrics_rollup.sketch_agg(v) OVER w n, sketch_old.sketch_agg(v) OVER w o
          FROM (SELECT * FROM sa WHERE g = 1 ORDER BY v LIMIT 300) s
        WINDOW w AS (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)) t;
-- a moving frame restarts the aggregate at every row (no inverse function)
SELECT bool_and(sketch_to_bytea(n) = sketch_to_bytea(o)) AS moving_window_same, count(*)
  FROM (SELECT metrics_rollup.sketch_agg(v) OVER w n, sketch_old.sketch_agg(v) OVER w o
          FROM (SELECT * FROM sa WHERE g = 0 ORDER BY v LIMIT 300) s
        WINDOW w AS (ORDER BY v ROWS BETWEEN 5 PRECEDING AND CURRENT ROW)) t;
-- many small groups, hashed, with DISTINCT and FILTER, and grouping sets
SELECT count(*) AS groups,
       count(*) FILTER (WHERE sketch_to_bytea(n) IS NOT DISTINCT FROM sketch_to_bytea(o)) AS same_bytes,
       count(*) FILTER (WHERE sketch_to_bytea(nd) IS NOT DISTINCT FROM sketch_to_bytea(od)) AS same_bytes_distinct,
       count(*) FILTER (WHERE sketch_to_bytea(nf) IS NOT DISTINCT FROM sketch_to_bytea(of)) AS same_bytes_filter
  FROM (SELECT metrics_rollup.sketch_agg(v) n, sketch_old.sketch_agg(v) o,
               metrics_rollup.sketch_agg(DISTINCT v) nd, sketch_old.sketch_agg(DISTINCT v) od,
               metrics_rollup.sketch_agg(v) FILTER (WHERE v > 0.5) nf,
               sketch_old.sketch_agg(v) FILTER (WHERE v > 0.5) of
          FROM (SELECT row_number() OVER () % 5000 AS k, v FROM sa) s GROUP BY k) t;
-- hashed with a tiny work_mem: the hash table spills and is rebuilt per batch
SET work_mem = '64kB';
SET enable_sort = off;
SELECT count(*) AS groups,
       count(*) FILTER (WHERE sketch_to_bytea(n) IS NOT DISTINCT FROM sketch_to_bytea(o)) AS same_bytes
  FROM (SELECT metrics_rollup.sketch_agg(v) n, sketch_old.sketch_agg(v) o
          FROM (SELECT (v * 1e6)::bigint % 20000 AS k, v FROM sa) s GROUP BY k) t;
RESET enable_sort;
RESET work_mem;
SELECT count(*) AS grouping_set_rows,
       count(*) FILTER (WHERE sketch_to_bytea(n) IS NOT DISTINCT FROM sketch_to_bytea(o)) AS same_bytes
  FROM (SELECT metrics_rollup.sketch_agg(v) n, sketch_old.sketch_agg(v) o
          FROM sa GROUP BY GROUPING SETS ((g), (g, v > 1), ())) t;

-- exact oracles: count, min, max equal; quantiles within alpha of
-- percentile_disc (group 4's values span less than the 2048 buckets)
SELECT g, sketch_count(s) = n AS count_ok, sketch_min(s) = mn AS min_ok, sketch_max(s) = mx AS max_ok,
       (SELECT bool_and(abs(est - e) <= 0.01 * e + 1e-12)
          FROM unnest(sketch_quantiles(s, qs), exact) u(est, e)) AS quantiles_within_alpha
  FROM (SELECT g, metrics_rollup.sketch_agg(v) s, count(v) n, min(v) mn, max(v) mx,
               ARRAY[0, 0.25, 0.5, 0.9, 0.99, 1]::float8[] qs,
               percentile_disc(ARRAY[0, 0.25, 0.5, 0.9, 0.99, 1]::float8[]) WITHIN GROUP (ORDER BY v) exact
          FROM sa WHERE v IS NOT NULL GROUP BY g) t
 ORDER BY g;

-- combine: merging per-group sketches gives the sketch of all the values
SELECT sketch_to_bytea(m) = sketch_to_bytea(a) AS merge_of_groups_equals_one_pass
  FROM (SELECT sketch_merge(s) m FROM (SELECT metrics_rollup.sketch_agg(v) s FROM sa GROUP BY g) t) x,
       (SELECT metrics_rollup.sketch_agg(v) a FROM sa) y;

-- the state as Citus ships it: the partial state (the transition function's
-- value, no final function) as text, read back by sketch_in, combined on
-- the "coordinator" by the combine function, then finalized
CREATE AGGREGATE pg_temp.partial_agg(double precision) (
    SFUNC = metrics_rollup.sketch_agg_trans, STYPE = metrics_rollup.sketch);
CREATE AGGREGATE pg_temp.combine_agg(metrics_rollup.sketch) (
    SFUNC = metrics_rollup.sketch_agg_combine, STYPE = metrics_rollup.sketch,
    FINALFUNC = metrics_rollup.sketch_agg_final);
CREATE TEMP TABLE shard_states AS
SELECT g % 3 AS shard, pg_temp.partial_agg(v)::text AS state FROM sa GROUP BY g % 3;
SELECT count(*) AS states,
       bool_and(state::metrics_rollup.sketch::text = state) AS text_round_trip_exact,
       bool_and(sketch_to_bytea(state::metrics_rollup.sketch) = sketch_to_bytea(f)) AS state_equals_final
  FROM shard_states
  JOIN (SELECT g % 3 AS shard, metrics_rollup.sketch_agg(v) f FROM sa GROUP BY g % 3) t USING (shard);
SELECT sketch_to_bytea(pg_temp.combine_agg(state::metrics_rollup.sketch)) =
       sketch_to_bytea((SELECT metrics_rollup.sketch_agg(v) FROM sa)) AS combined_equals_one_pass
  FROM shard_states;
SELECT pg_temp.combine_agg(s) IS NULL AS combine_of_nulls_is_null
  FROM (VALUES (NULL::metrics_rollup.sketch), (NULL)) t(s);

-- forced parallel aggregation: Partial Aggregate in the plan, same bytes
SELECT sketch_to_bytea(metrics_rollup.sketch_agg(v)) AS serial_all,
       sketch_to_bytea(metrics_rollup.sketch_agg(v, 0.002)) AS serial_all_alpha
  FROM sa \gset
CREATE TEMP TABLE serial_groups AS
SELECT g, sketch_to_bytea(metrics_rollup.sketch_agg(v)) b FROM sa GROUP BY g;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT metrics_rollup.sketch_agg(v) FROM sa;
EXPLAIN (COSTS OFF) SELECT g, metrics_rollup.sketch_agg(v) FROM sa GROUP BY g;
-- the workers did run (their partial states crossed the tuple queue flat)
CREATE FUNCTION pg_temp.workers_launched(query text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (ANALYZE, FORMAT JSON) ' || query INTO plan;
    RETURN (plan -> 0 -> 'Plan' -> 'Plans' -> 0 ->> 'Workers Launched')::int;
END
$$;
SELECT pg_temp.workers_launched('SELECT metrics_rollup.sketch_agg(v) FROM sa') > 0 AS workers_ran;
SELECT sketch_to_bytea(metrics_rollup.sketch_agg(v)) = :'serial_all' AS parallel_equals_serial,
       sketch_to_bytea(metrics_rollup.sketch_agg(v, 0.002)) = :'serial_all_alpha' AS parallel_equals_serial_alpha
  FROM sa;
SELECT count(*) AS groups,
       count(*) FILTER (WHERE p.b IS NOT DISTINCT FROM s.b) AS parallel_groups_equal_serial
  FROM (SELECT g, sketch_to_bytea(metrics_rollup.sketch_agg(v)) b FROM sa GROUP BY g) p
  JOIN serial_groups s USING (g);
SELECT metrics_rollup.sketch_agg(v) IS NULL AS parallel_empty_is_null FROM sa WHERE g = 7;
SET parallel_leader_participation = off;
SELECT sketch_to_bytea(metrics_rollup.sketch_agg(v)) = :'serial_all' AS workers_only_equals_serial FROM sa;
RESET parallel_leader_participation;
RESET max_parallel_workers_per_gather;
RESET min_parallel_table_scan_size;
RESET parallel_tuple_cost;
RESET parallel_setup_cost;

-- empty input and NULLs: NULL sketch; NULLs ignored
SELECT metrics_rollup.sketch_agg(v) IS NULL AS empty_is_null,
       metrics_rollup.sketch_agg(v, 0.01) IS NULL AS empty_alpha_is_null
  FROM sa WHERE false;
SELECT metrics_rollup.sketch_agg(v) IS NULL AS all_nulls_is_null FROM sa WHERE g = 7;
SELECT metrics_rollup.sketch_agg(v) FROM (VALUES (NULL::float8), (2.0), (NULL), (0.0)) t(v);
SELECT sketch_to_bytea(metrics_rollup.sketch_agg(v)) =
       sketch_to_bytea((SELECT metrics_rollup.sketch_agg(v) FROM sa WHERE g = 2 AND v IS NOT NULL))
         AS nulls_ignored
  FROM sa WHERE g = 2;

-- the 1-argument form reads the setting at a group's first row
SET metrics_rollup.sketch_relative_accuracy = 0.05;
SELECT sketch_relative_accuracy(metrics_rollup.sketch_agg(v)) AS alpha_from_setting,
       sketch_to_bytea(metrics_rollup.sketch_agg(v)) = sketch_to_bytea(metrics_rollup.sketch_agg(v, 0.05))
         AS same_as_alpha_form
  FROM sa;
RESET metrics_rollup.sketch_relative_accuracy;

-- errors
\set VERBOSITY terse
SELECT metrics_rollup.sketch_agg(v, 0.5) FROM sa;
SELECT metrics_rollup.sketch_agg(v, NULL) FROM sa;
SELECT metrics_rollup.sketch_agg(v, CASE WHEN v > 1 THEN 0.01 ELSE 0.02 END) FROM sa WHERE g = 1;
SELECT metrics_rollup.sketch_agg(v) FROM (VALUES (1.0), (-1.0)) t(v);
SELECT metrics_rollup.sketch_agg(v) FROM (VALUES (1.0), ('NaN')) t(v);
SELECT sketch_merge(s) FROM (SELECT metrics_rollup.sketch_agg(1.0, 0.01) UNION ALL SELECT metrics_rollup.sketch_agg(1.0, 0.02)) t(s);
SELECT pg_temp.combine_agg(s) FROM (VALUES ('{"v":2,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}'::metrics_rollup.sketch),
                                           ('{"v":2,"alpha":0.02,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}')) t(s);
-- the support functions need an aggregate around them
SELECT metrics_rollup.sketch_agg_trans(NULL, 1.0);
SELECT metrics_rollup.sketch_agg_trans(metrics_rollup.sketch_agg(1.0), 1.0);
SELECT metrics_rollup.sketch_agg_combine(NULL, metrics_rollup.sketch_agg(1.0));
SELECT metrics_rollup.sketch_agg_final(metrics_rollup.sketch_agg(1.0))::text = metrics_rollup.sketch_agg(1.0)::text AS final_of_flat;
\set VERBOSITY default

DROP TABLE sa;
SET client_min_messages = warning;
DROP SCHEMA sketch_old CASCADE;
RESET client_min_messages;
