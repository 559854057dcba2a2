-- Security: default privileges after CREATE EXTENSION, what a role without
-- grants, a writer, a reader and an admin can and cannot do, SECURITY
-- DEFINER only where it must be, and corrupt sketches on every input path
-- (text, binary recv through COPY, bytea, stored values): each an ERROR.
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
SET search_path = public;

-- SECURITY DEFINER: the trigger functions, the reading functions that call
-- internals (aggregate, timeseries) and stats_reset(); each with a pinned
-- search_path.  run_rollup() and run_cleanup() run as the caller (users'
-- triggers on raw_metrics keep the caller's rights and path).
SELECT p.oid::regprocedure AS security_definer, p.prorettype::regtype, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'metrics_rollup'::regnamespace AND p.prosecdef
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT count(*) AS definer_unpinned
  FROM pg_proc p
 WHERE p.pronamespace = 'metrics_rollup'::regnamespace AND p.prosecdef
   AND NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig);

-- No other function carries settings (the workers pin search_path in C).
SELECT p.oid::regprocedure AS pinned_search_path, p.proconfig
  FROM pg_proc p
 WHERE p.pronamespace = 'metrics_rollup'::regnamespace AND NOT p.prosecdef
   AND p.proconfig IS NOT NULL
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- What pg_read_all_stats (so pg_monitor) is granted: reading only.
SELECT c.relname AS read_all_stats_may_select
  FROM pg_class c
 WHERE c.relnamespace = 'metrics_rollup'::regnamespace
   AND has_table_privilege('pg_read_all_stats', c.oid, 'SELECT')
 ORDER BY 1;
SELECT count(*) AS read_all_stats_may_write
  FROM pg_class c
 WHERE c.relnamespace = 'metrics_rollup'::regnamespace
   AND c.relkind IN ('r', 'v', 'S', 'p', 'm')
   AND (has_table_privilege('pg_read_all_stats', c.oid, 'INSERT')
        OR has_table_privilege('pg_read_all_stats', c.oid, 'UPDATE')
        OR has_table_privilege('pg_read_all_stats', c.oid, 'DELETE')
        OR has_table_privilege('pg_read_all_stats', c.oid, 'TRUNCATE'));
SELECT p.oid::regprocedure AS read_all_stats_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'metrics_rollup'::regnamespace
   AND has_function_privilege('pg_read_all_stats', p.oid, 'EXECUTE')
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";

-- What PUBLIC may execute: the sketch functions and aggregates only.
SELECT p.oid::regprocedure AS public_may_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'metrics_rollup'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT p.oid::regprocedure AS public_may_not_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'metrics_rollup'::regnamespace
   AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
-- No table, view or sequence is open to PUBLIC.
SELECT c.relname, c.relkind
  FROM pg_class c
 WHERE c.relnamespace = 'metrics_rollup'::regnamespace
   AND c.relkind IN ('r', 'v', 'S', 'p', 'm')
   AND (has_table_privilege('public', c.oid, 'SELECT')
        OR has_table_privilege('public', c.oid, 'INSERT')
        OR has_table_privilege('public', c.oid, 'UPDATE')
        OR has_table_privilege('public', c.oid, 'DELETE'))
 ORDER BY 1;

-- The roles of the README: each gets grants on public objects only.
CREATE ROLE regress_mr_nobody;
CREATE ROLE regress_mr_writer;
CREATE ROLE regress_mr_reader;
CREATE ROLE regress_mr_monitor;
CREATE ROLE regress_mr_grafana;
CREATE ROLE regress_mr_admin;
GRANT CREATE ON SCHEMA public TO regress_mr_writer;
-- writer
GRANT EXECUTE ON FUNCTION
    metrics_rollup.record(text, text, double precision, boolean, text, text, timestamptz),
    metrics_rollup.record_batch(text, text[], double precision[], boolean[], text[], text[], timestamptz[])
  TO regress_mr_writer;
GRANT INSERT ON metrics_rollup.raw_metrics TO regress_mr_writer;
-- reader: pg_read_all_stats and nothing else; monitor: pg_monitor
GRANT pg_read_all_stats TO regress_mr_reader;
GRANT pg_monitor TO regress_mr_monitor;
-- grafana: what test/grafana/README.md tells to grant
GRANT EXECUTE ON FUNCTION
    metrics_rollup.aggregate(text, text, timestamptz, timestamptz),
    metrics_rollup.timeseries(text, text, timestamptz, timestamptz, interval)
  TO regress_mr_grafana;
GRANT SELECT ON metrics_rollup.hourly_metrics, metrics_rollup.raw_metrics TO regress_mr_grafana;
-- admin: run_rollup() and run_cleanup() run as the caller (users' triggers
-- on raw_metrics keep the caller's rights and path), so running the jobs by
-- hand takes the privileges of everything they touch, as before 1.2
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA metrics_rollup TO regress_mr_admin;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA metrics_rollup TO regress_mr_admin;
-- operator: EXECUTE on stats_reset() alone resets the counters
CREATE ROLE regress_mr_operator;
GRANT EXECUTE ON FUNCTION metrics_rollup.stats_reset() TO regress_mr_operator;

-- A role without grants: sketches yes, metrics no.
SET ROLE regress_mr_nobody;
SELECT metrics_rollup.sketch_quantile(metrics_rollup.sketch_agg(v), 0.5) AS median,
       metrics_rollup.sketch_count(metrics_rollup.sketch_merge(s)) AS merged_count
  FROM (SELECT v, metrics_rollup.sketch_agg(v) OVER () AS s
          FROM generate_series(1, 9) v) t;
SELECT metrics_rollup.sketch_quantiles(
         '{"v":1,"alpha":0.01,"count":3,"zeros":1,"min":0,"max":2,"sum":"3","bins":{"0":1,"35":1}}'::metrics_rollup.sketch,
         ARRAY[0, 1]);
SELECT metrics_rollup.record('tool', 'sec-nobody', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('tool', ARRAY['sec-nobody'], ARRAY[0.1], ARRAY[true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.flush();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.raw_metrics;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO metrics_rollup.raw_metrics VALUES ('tool', 'sec-nobody', NULL, now(), 0.1, true, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.stats;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.ingest_stats();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.config;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.hourly_metrics;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.live_stats;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.classify();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_rollup.run_rollup();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_rollup.run_cleanup();
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.stats_reset();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.job_history;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.aggregate('tool');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- A writer: record(), record_batch() and INSERT, but not read nor flush.
SET ROLE regress_mr_writer;
SELECT metrics_rollup.record('tool', 'sec-writer', 0.1, true);
SELECT metrics_rollup.record_batch('tool', ARRAY['sec-writer', 'sec-writer'], ARRAY[0.2, 0.3], ARRAY[true, false]);
INSERT INTO metrics_rollup.raw_metrics VALUES ('tool', 'sec-writer', NULL, now(), 0.4, true, NULL);
SELECT metrics_rollup.flush();
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.raw_metrics;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.stats;
\echo :LAST_ERROR_SQLSTATE
DELETE FROM metrics_rollup.raw_metrics;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.hourly_metrics;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.rollup_dirty;
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_rollup.run_rollup();
\echo :LAST_ERROR_SQLSTATE
-- the SECURITY DEFINER trigger functions cannot be attached elsewhere
CREATE TABLE public.sec_writer_own (kind text, entity_id text, recorded_at timestamptz);
CREATE TRIGGER sec_steal AFTER INSERT ON public.sec_writer_own
  REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION metrics_rollup.rollup_mark_inserted();
\echo :LAST_ERROR_SQLSTATE
DROP TABLE public.sec_writer_own;
RESET ROLE;
-- the writer's direct INSERT marked its hour dirty (trigger as the owner);
-- its mark is the one whose partial is that row (the flush worker may have
-- flushed the recorded events meanwhile, with a mark of their own)
SELECT count(*) AS writer_marked_dirty FROM metrics_rollup.rollup_dirty
 WHERE entity_id = 'sec-writer' AND (partial).total_count = 1 AND (partial).min_value = 0.4;

-- An admin: flush(), run_rollup(), run_cleanup().
SET ROLE regress_mr_admin;
SELECT metrics_rollup.flush() >= 0 AS admin_flushed;
SELECT hours_processed >= 1 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT relation FROM metrics_rollup.run_cleanup() ORDER BY 1;
RESET ROLE;

-- A reader: sees what the writer recorded (3 buffered + 1 inserted) and the stats.
SET ROLE regress_mr_reader;
SELECT count(*) AS reader_sees, sum(response_time) AS sum_of_writes
  FROM metrics_rollup.raw_metrics WHERE entity_id = 'sec-writer';
SELECT total_count, sum_response_time FROM metrics_rollup.hourly_metrics
 WHERE entity_id = 'sec-writer';
SELECT events_buffered > 0 AS reader_sees_stats FROM metrics_rollup.stats;
SELECT count > 0 AS reader_sees_live FROM metrics_rollup.live_stats
 WHERE kind = 'tool' AND entity_id = 'sec-writer';
SELECT class FROM metrics_rollup.classify('tool', 1.0) WHERE entity_id = 'sec-writer';
SELECT entities > 0 AS reader_sees_live_info FROM metrics_rollup.live_info();
SELECT count(*) > 0 AS reader_sees_config FROM metrics_rollup.config;
SELECT total_count FROM metrics_rollup.aggregate('tool', 'sec-writer');
SELECT sum(total_count) AS reader_timeseries_total
  FROM metrics_rollup.timeseries('tool', 'sec-writer', now() - interval '2 days', now() + interval '1 hour');
SELECT count(*) > 0 AS reader_sees_job_history FROM metrics_rollup.job_history;
SELECT count(*) >= 0 AS reader_sees_daily FROM metrics_rollup.daily_metrics;
SELECT count(*) >= 0 AS reader_sees_rejected FROM metrics_rollup.rejected_events;
SELECT worker_starts >= 1 AS reader_sees_job_stats FROM metrics_rollup.job_stats();
SELECT stats_reset IS NOT NULL AS reader_sees_stats_reset FROM metrics_rollup.stats;
SELECT metrics_rollup.stats_reset();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM metrics_rollup.run_rollup();
\echo :LAST_ERROR_SQLSTATE
DELETE FROM metrics_rollup.raw_metrics;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO metrics_rollup.raw_metrics VALUES ('tool', 'sec-reader', NULL, now(), 0.1, true, NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('tool', 'sec-reader', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.flush();
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- pg_monitor reads as pg_read_all_stats does.
SET ROLE regress_mr_monitor;
SELECT total_count AS monitor_aggregate FROM metrics_rollup.aggregate('tool', 'sec-writer');
SELECT sum(total_count) AS monitor_timeseries_total
  FROM metrics_rollup.timeseries('tool', 'sec-writer', now() - interval '2 days', now() + interval '1 hour');
SELECT events_buffered > 0 AS monitor_sees_stats FROM metrics_rollup.stats;
SELECT count(*) > 0 AS monitor_sees_live FROM metrics_rollup.live_stats;
SELECT count(*) > 0 AS monitor_sees_config, bool_or(requires_restart) AS some_restart_only
  FROM metrics_rollup.config;
RESET ROLE;

-- The Grafana README's grants: every query of the dashboard's kind.
SET ROLE regress_mr_grafana;
SELECT total_count AS grafana_aggregate FROM metrics_rollup.aggregate('tool', 'sec-writer');
SELECT sum(total_count) AS grafana_timeseries_total
  FROM metrics_rollup.timeseries('tool', NULL, now() - interval '2 days', now() + interval '1 hour');
SELECT count(*) > 0 AS grafana_kinds FROM (
  SELECT kind FROM metrics_rollup.hourly_metrics
  UNION SELECT kind FROM metrics_rollup.raw_metrics) k;
SELECT count(*) FROM metrics_rollup.stats;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM metrics_rollup.rollup_dirty;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;

-- stats_reset() by the operator zeroes the counters, keeps the states.
SET ROLE regress_mr_operator;
SELECT metrics_rollup.stats_reset();
RESET ROLE;
SELECT events_buffered = 0 AS buffered_zeroed, flush_count <= 1 AS flushes_zeroed,
       rollup_runs = 0 AS rollup_runs_zeroed, events_dead_lettered = 0 AS dead_letters_zeroed,
       stats_reset > now() - interval '1 minute' AS reset_time_set,
       buffer_capacity_bytes > 0 AS capacity_kept
  FROM metrics_rollup.stats;
SELECT rollup_runs = 0 AND cleanup_failed_runs = 0 AS job_stats_zeroed FROM metrics_rollup.job_stats();

-- An admin may delete raw rows; the archive trigger keeps them counted.
SET ROLE regress_mr_admin;
DELETE FROM metrics_rollup.raw_metrics WHERE entity_id = 'sec-writer';
SELECT hours_processed >= 1 AS rolled_up_again FROM metrics_rollup.run_rollup();
RESET ROLE;
SELECT count(*) AS left_after_admin FROM metrics_rollup.raw_metrics WHERE entity_id = 'sec-writer';
SELECT total_count AS still_counted FROM metrics_rollup.hourly_metrics WHERE entity_id = 'sec-writer';

-- search_path hijack: objects named like pg_catalog's in a schema first on
-- the path change nothing inside the extension's functions.
CREATE SCHEMA regress_mr_evil;
CREATE FUNCTION regress_mr_evil.date_trunc(text, timestamptz, text) RETURNS timestamptz
  LANGUAGE sql AS $$ SELECT '2000-01-01'::timestamptz $$;
SET search_path = regress_mr_evil, pg_catalog, public;
SELECT metrics_rollup.sketch_count(metrics_rollup.sketch_agg(v)) FROM generate_series(1, 5) v;
RESET search_path;
DROP SCHEMA regress_mr_evil CASCADE;

REVOKE CREATE ON SCHEMA public FROM regress_mr_writer;
DROP OWNED BY regress_mr_nobody, regress_mr_writer, regress_mr_reader, regress_mr_monitor,
    regress_mr_grafana, regress_mr_admin, regress_mr_operator;
DROP ROLE regress_mr_nobody, regress_mr_writer, regress_mr_reader, regress_mr_monitor,
    regress_mr_grafana, regress_mr_admin, regress_mr_operator;

-------------------------------------------------------------------------------
-- Corrupt sketches.  sql/sketch.sql covers malformed text and byte-level
-- damage through sketch_from_bytea; here: hand-made encodings with absurd
-- counts and lengths, the real binary recv path (COPY FORMAT binary), and
-- corrupt stored values (XX001).
-------------------------------------------------------------------------------
SET search_path = metrics_rollup, public;
-- a valid hand-made encoding (one value 1.0), to show the others differ only
-- where they are corrupt
\set good_one '\\x017b14ae47e17a843f0100000000000000f03f000000000000f03f8080808080808080800201000101'
SELECT sketch_from_bytea(:'good_one'::bytea)::text AS good_one;
CREATE TABLE sec_bad (name text, b bytea);
INSERT INTO sec_bad VALUES
  ('absurd_count',      '\x017b14ae47e17a843fffffffffffffffffff0100000000000000f03f000000000000f03f80808080808080808002010001ffffffffffffffffff01'),
  ('huge_run_length',   '\x017b14ae47e17a843f0100000000000000f03f000000000000f03f808080808080808080020100808080801001'),
  ('huge_nruns',        '\x017b14ae47e17a843f0100000000000000f03f000000000000f03f80808080808080808002808080808020000101'),
  ('count_over_64_bits', '\x017b14ae47e17a843fffffffffffffffffffff7f'),
  ('gap_out_of_range',  '\x017b14ae47e17a843f0200000000000000f03f000000000000f03f8080808080808080800402000101ffffffff0f0101'),
  ('zero_bucket_count', '\x017b14ae47e17a843f0100000000000000f03f000000000000f03f8080808080808080800201000100'),
  ('non_shortest_varint', '\x017b14ae47e17a843f810000000000000000f03f000000000000f03f8080808080808080800201000101'),
  ('nan_alpha',         '\x01000000000000f87f0100000000000000f03f000000000000f03f8080808080808080800201000101'),
  ('max_zero_with_bucket', '\x017b14ae47e17a843f0201000000000000000000000000000000000001000101'),
  ('wrong_version',     '\x037b14ae47e17a843f0100000000000000f03f000000000000f03f8080808080808080800201000101'),
  ('truncated',         '\x017b14ae47e17a843f0100000000000000f03f000000000000f03f80808080808080808002010001'),
  ('too_long',          '\x01' || decode(repeat('00', 50000), 'hex'));

-- through the bytea function: 22P03 with the reason
CREATE FUNCTION pg_temp.sec_try(b bytea) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  PERFORM metrics_rollup.sketch_from_bytea(b);
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ' ' || detail;
END $$;
SELECT name, pg_temp.sec_try(b) AS from_bytea FROM sec_bad ORDER BY name;

-- through sketch_recv: COPY FORMAT binary writes a bytea column as the raw
-- bytes, which is what a client sending the sketch in binary does
\getenv abs_builddir PG_ABS_BUILDDIR
\set sec_copy_file :abs_builddir '/results/security_bad.bin'
CREATE TABLE sec_recv (s sketch);
COPY (SELECT b FROM sec_bad WHERE name = 'absurd_count') TO :'sec_copy_file' WITH (FORMAT binary);
COPY sec_recv FROM :'sec_copy_file' WITH (FORMAT binary);
\echo :LAST_ERROR_SQLSTATE
COPY (SELECT b FROM sec_bad WHERE name = 'huge_nruns') TO :'sec_copy_file' WITH (FORMAT binary);
COPY sec_recv FROM :'sec_copy_file' WITH (FORMAT binary);
\echo :LAST_ERROR_SQLSTATE
COPY (SELECT b FROM sec_bad WHERE name = 'truncated') TO :'sec_copy_file' WITH (FORMAT binary);
COPY sec_recv FROM :'sec_copy_file' WITH (FORMAT binary);
\echo :LAST_ERROR_SQLSTATE
COPY (SELECT :'good_one'::bytea) TO :'sec_copy_file' WITH (FORMAT binary);
COPY sec_recv FROM :'sec_copy_file' WITH (FORMAT binary);
SELECT count(*) AS received, sketch_count(s) FROM sec_recv GROUP BY 2;

-- corrupt stored values (as after disk damage): a binary-coercible cast
-- lets the test store raw bytes; every reader raises XX001, none crashes
CREATE CAST (bytea AS sketch) WITHOUT FUNCTION;
CREATE TABLE sec_stored AS SELECT name, b::sketch AS s FROM sec_bad;
CREATE FUNCTION pg_temp.sec_read(s sketch) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  res text := '';
BEGIN
  BEGIN PERFORM metrics_rollup.sketch_out(s); res := res || 'out:ok ';
  EXCEPTION WHEN OTHERS THEN res := res || 'out:' || SQLSTATE || ' '; END;
  BEGIN PERFORM metrics_rollup.sketch_quantile(s, 0.5); res := res || 'quantile:ok ';
  EXCEPTION WHEN OTHERS THEN res := res || 'quantile:' || SQLSTATE || ' '; END;
  BEGIN PERFORM metrics_rollup.sketch_combine(s, NULL); res := res || 'combine:ok ';
  EXCEPTION WHEN OTHERS THEN res := res || 'combine:' || SQLSTATE || ' '; END;
  BEGIN PERFORM metrics_rollup.sketch_to_bytea(s); res := res || 'to_bytea:ok';
  EXCEPTION WHEN OTHERS THEN res := res || 'to_bytea:' || SQLSTATE; END;
  RETURN res;
END $$;
SELECT name, pg_temp.sec_read(s) FROM sec_stored ORDER BY name;
SELECT sketch_merge(s) FROM sec_stored WHERE name = 'truncated';
\echo :LAST_ERROR_SQLSTATE
SELECT sketch_count(s) FROM sec_stored WHERE name = 'absurd_count';
\echo :LAST_ERROR_SQLSTATE
DROP CAST (bytea AS sketch);

-- malformed text not in sql/sketch.sql: huge numbers, too many buckets,
-- out-of-range index, negative zero, empty and oversized input; each 22P02
-- (the reason is the DETAIL; the message repeats the whole input)
CREATE FUNCTION pg_temp.sec_try_text(t text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  detail text;
BEGIN
  PERFORM t::metrics_rollup.sketch;
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ' ' || detail;
END $$;
SELECT name, pg_temp.sec_try_text(t) AS text_input FROM (VALUES
  ('huge_count', '{"v":1,"alpha":0.01,"count":' || repeat('9', 100000) || ',"zeros":0}'),
  ('too_many_buckets',
   (SELECT '{"v":1,"alpha":0.01,"count":3000,"zeros":0,"min":1e-9,"max":1e9,"sum":"3000","bins":{'
           || string_agg(format('"%s":1', i), ',' ORDER BY i) || '}}'
      FROM generate_series(-1500, 1499) i)),
  ('index_below_int32', '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"-2147483649":1}}'),
  ('negative_zero_min', '{"v":1,"alpha":0.01,"count":1,"zeros":1,"min":-0,"max":0,"sum":"0","bins":{}}'),
  ('empty', ''),
  ('huge_sum_fraction', '{"v":1,"alpha":0.01,"count":1,"zeros":0,"min":1,"max":1,"sum":"1.' || repeat('5', 200) || '","bins":{"0":1}}'),
  ('alpha_underflow', '{"v":1,"alpha":1e-400,"count":1,"zeros":0,"min":1,"max":1,"sum":"1","bins":{"0":1}}'),
  ('max_zero_with_bucket', '{"v":1,"alpha":0.01,"count":2,"zeros":1,"min":0,"max":0,"sum":"0","bins":{"0":1}}'),
  ('oversized', repeat('{', 1000000))) v(name, t)
 ORDER BY name;

SELECT 1 AS server_still_up;
DROP TABLE sec_bad, sec_recv, sec_stored;
RESET search_path;
-- leave the shared database empty for the tests after this one
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
