-- Hardening (issue 14): append-only dirty marks, flush() in a blocking
-- transaction, one input rule, old events, failing groups set aside,
-- cleanup's fast archive under nested subtransactions, record() and a
-- pending cancel.  Each part fails on the code before 1.2.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS metrics_rollup;
RESET client_min_messages;
SET TimeZone = 'UTC';
-- stay clear of an hour boundary (cutoffs come from the clock)
SELECT pg_sleep(CASE WHEN date_trunc('hour', clock_timestamp()) + interval '1 hour' - clock_timestamp()
                          < interval '15 seconds' THEN 16 ELSE 0 END) AS waited_for_next_hour;
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
CREATE TEMP TABLE h AS SELECT date_trunc('hour', now(), 'UTC') AS h0;
-- a test that would hang on the old code fails instead
SET statement_timeout = '20s';

-- 1. Dirty marks are append-only: two statements, two marks, no key.
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'hm', 'a', h0, 1, true FROM h;
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'hm', 'a', h0 + interval '1 minute', 2, true FROM h;
SELECT count(*) AS marks FROM metrics_rollup.rollup_dirty WHERE kind = 'hm';
SELECT count(*) AS unique_indexes FROM pg_index
 WHERE indrelid = 'metrics_rollup.rollup_dirty'::regclass AND indisunique;
SELECT hours_processed, raw_rows_read, rollup_rows_written FROM metrics_rollup.run_rollup();
SELECT count(*) AS marks_left FROM metrics_rollup.rollup_dirty;
SELECT total_count FROM metrics_rollup.hourly_metrics WHERE kind = 'hm';
-- run_rollup(since) appends forced marks too, and they roll up once
SELECT hours_processed, rollup_rows_written FROM metrics_rollup.run_rollup(now() - interval '1 hour');
SELECT count(*) AS marks_left FROM metrics_rollup.rollup_dirty;

-- 2. flush() in a transaction that wrote raw_metrics returns (it waited
--    for ever on the drain's ON CONFLICT before); in a transaction that
--    locks out the drain it fails at once with a HINT.
BEGIN;
INSERT INTO metrics_rollup.raw_metrics VALUES ('hm', 'dl2', NULL, now(), 1, true, NULL);
SELECT metrics_rollup.record('hm', 'dl2', 1, true);
SELECT metrics_rollup.flush() AS flushed;
COMMIT;
SELECT count(*) AS dl2_rows FROM metrics_rollup.raw_metrics WHERE entity_id = 'dl2';
BEGIN;
LOCK TABLE metrics_rollup.raw_metrics IN SHARE MODE;
SELECT metrics_rollup.record('hm', 'dl3', 1, true);
\set VERBOSITY default
SELECT metrics_rollup.flush();
\set VERBOSITY terse
ROLLBACK;
SELECT metrics_rollup.flush() AS flushed_after;

-- 3. One input rule: record(), record_batch() and INSERT refuse what
--    cannot be rolled up, with their SQLSTATEs.
\set VERBOSITY sqlstate
SELECT metrics_rollup.record('hm', 'big', 1e16, true);
SELECT metrics_rollup.record('hm', 'big', 1e308, true);
SELECT metrics_rollup.record('hm', 'far', 1, true, NULL, NULL, '294276-12-31 23:59:59+00');
SELECT metrics_rollup.record('hm', 'far', 1, true, NULL, NULL, '1969-12-31 23:59:59+00');
SELECT metrics_rollup.record_batch('hm', ARRAY['ok', 'big'], ARRAY[1, 1e16], ARRAY[true, true]);
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('hm', 'big', now(), 1e16, true);
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('hm', 'big', now(), 'NaN', true);
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('hm', 'far', '294276-12-31 23:59:59+00', 1, true);
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('hm', 'far', 'infinity', 1, true);
-- the largest accepted value rolls up, merges and round-trips
SELECT metrics_rollup.record('hm', 'max', 1e15, true);
\set VERBOSITY terse

-- 4. Events older than rollup_retention_days (365) are refused, 22008 and a HINT.
\set VERBOSITY sqlstate
SELECT metrics_rollup.record('hm', 'old', 1, true, NULL, NULL, now() - interval '366 days');
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('hm', 'old', now() - interval '366 days', 1, true);
\set VERBOSITY default
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
VALUES ('hm', 'old', '1970-01-01 00:00:00+00', 1, true);
\set VERBOSITY terse
-- just inside is accepted
SELECT metrics_rollup.record('hm', 'old', 1, true, NULL, NULL, now() - interval '364 days');
SELECT metrics_rollup.flush() > 0 AS flushed;
SELECT entity_id, count(*) FROM metrics_rollup.raw_metrics
 WHERE entity_id IN ('ok', 'big', 'far', 'old', 'max') GROUP BY 1 ORDER BY 1;
SELECT hours_processed > 0 AS rolled_up FROM metrics_rollup.run_rollup();
SELECT max_response_time, p99_response_time,
       sketch::text::metrics_rollup.sketch::text = sketch::text AS sketch_round_trip,
       metrics_rollup.sketch_quantile(metrics_rollup.sketch_combine(sketch, sketch), 0.5) AS merged_p50
  FROM metrics_rollup.hourly_metrics WHERE entity_id = 'max';

-- 5. A failing (kind, entity, hour) is set aside; the other groups and
--    hours go on, the failure is in rollup_failures and queries stay exact.
--    (Each set-aside group also raises a WARNING naming it, not shown here:
--    it carries the hour.)
SET client_min_messages = error;
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
CREATE FUNCTION poison_hour() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.entity_id = 'poison' THEN
        RAISE EXCEPTION 'poisoned group' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison_hour BEFORE INSERT OR UPDATE ON metrics_rollup.hourly_metrics
    FOR EACH ROW EXECUTE FUNCTION poison_hour();
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'hp', e, h0 - interval '3 hours' + o * interval '1 hour' + g * interval '1 second', g, g % 3 <> 0
  FROM h, unnest(ARRAY['good', 'poison']) e, generate_series(0, 2) o, generate_series(1, 10) g;
SELECT hours_processed, raw_rows_read, rollup_rows_written FROM metrics_rollup.run_rollup();
SELECT entity_id, count(*) AS hourly_rows, sum(total_count) FROM metrics_rollup.hourly_metrics
 WHERE kind = 'hp' GROUP BY 1 ORDER BY 1;
SELECT level, kind, entity_id, period_start - h0 AS age, failures, error_sqlstate, error_message
  FROM metrics_rollup.rollup_failures, h ORDER BY period_start;
SELECT count(DISTINCT hour_start) AS poison_hours_still_dirty FROM metrics_rollup.rollup_dirty
 WHERE entity_id = 'poison';
SELECT entity_id, total_count, failure_count FROM metrics_rollup.aggregate('hp') ORDER BY 1;
-- tried again by the next run, which counts it again
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT DISTINCT failures FROM metrics_rollup.rollup_failures;
DROP TRIGGER poison_hour ON metrics_rollup.hourly_metrics;
SELECT hours_processed, rollup_rows_written FROM metrics_rollup.run_rollup();
SELECT count(*) AS failures_left FROM metrics_rollup.rollup_failures;
SELECT entity_id, count(*) AS hourly_rows, sum(total_count) FROM metrics_rollup.hourly_metrics
 WHERE kind = 'hp' GROUP BY 1 ORDER BY 1;

-- 5b. The same for a day of the daily level: the failing kind's day stays
--     queued, the other kind's day is built.
CREATE FUNCTION poison_day() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.kind = 'dp' THEN
        RAISE EXCEPTION 'poisoned day' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison_day BEFORE INSERT ON metrics_rollup.daily_metrics
    FOR EACH ROW EXECUTE FUNCTION poison_day();
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT k, 'e', date_trunc('day', now(), 'UTC') - interval '2 days' + g * interval '1 hour', 1, true
  FROM unnest(ARRAY['dp', 'dq']) k, generate_series(0, 23) g;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT kind, count(*) AS built_days FROM metrics_rollup.daily_built WHERE kind IN ('dp', 'dq') GROUP BY 1 ORDER BY 1;
SELECT level, kind, entity_id, error_message FROM metrics_rollup.rollup_failures ORDER BY 1, 2;
SELECT kind, count(*) AS queued FROM metrics_rollup.daily_queue WHERE kind IN ('dp', 'dq') GROUP BY 1 ORDER BY 1;
SELECT kind, total_count FROM metrics_rollup.aggregate('dp') UNION ALL
SELECT kind, total_count FROM metrics_rollup.aggregate('dq') ORDER BY 1;
DROP TRIGGER poison_day ON metrics_rollup.daily_metrics;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT kind, count(*) AS built_days FROM metrics_rollup.daily_built WHERE kind IN ('dp', 'dq') GROUP BY 1 ORDER BY 1;
SELECT count(*) AS failures_left FROM metrics_rollup.rollup_failures;

RESET client_min_messages;

-- 6. Cleanup's fast archive under a user's BEFORE DELETE trigger whose
--    EXCEPTION block aborts a subtransaction: every event counted once.
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
CREATE FUNCTION nested_abort() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    BEGIN
        PERFORM 1 / 0;
    EXCEPTION WHEN division_by_zero THEN
        NULL;
    END;
    RETURN OLD;
END $$;
CREATE TRIGGER nested_abort BEFORE DELETE ON metrics_rollup.raw_metrics
    FOR EACH ROW EXECUTE FUNCTION nested_abort();
INSERT INTO metrics_rollup.raw_metrics (kind, entity_id, recorded_at, response_time, success)
SELECT 'hc', 'e', h0 - interval '5 hours' + g * interval '1 second', 1, true
  FROM h, generate_series(1, 100) g;
SELECT hours_processed FROM metrics_rollup.run_rollup();
SELECT relation, rows_deleted FROM metrics_rollup.run_cleanup() WHERE relation LIKE '%raw%';
SELECT total_count, (archived).total_count AS archived FROM metrics_rollup.hourly_metrics WHERE kind = 'hc';
SELECT total_count FROM metrics_rollup.aggregate('hc');
DROP TRIGGER nested_abort ON metrics_rollup.raw_metrics;

-- 7. A cancel pending when record() is called is served before the event
--    is stored: the caller's ERROR means nothing was recorded (before, the
--    event was kept and the statement failed: a retry counted it twice).
SET metrics_rollup.slow_threshold = '1ms';
SELECT pg_cancel_backend(pg_backend_pid()), metrics_rollup.record('hk', 'c', 10, true);
RESET metrics_rollup.slow_threshold;
SELECT metrics_rollup.flush() >= 0 AS flushed;
SELECT count(*) AS cancelled_events_kept FROM metrics_rollup.raw_metrics WHERE kind = 'hk';

RESET statement_timeout;
DROP FUNCTION poison_hour(), poison_day(), nested_abort();
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty,
    metrics_rollup.daily_metrics, metrics_rollup.daily_built, metrics_rollup.daily_queue;
