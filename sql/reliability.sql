-- Reliability: the objects of the job history and the dead-letter table,
-- the job columns of the stats view, and a poison event isolated by the
-- flush job (the worker serves this database).
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
SET search_path = metrics_rollup, public;

-- every object of the section is documented
SELECT c.relname, obj_description(c.oid, 'pg_class') IS NOT NULL AS commented
  FROM pg_class c
 WHERE c.relnamespace = 'metrics_rollup'::regnamespace
   AND c.relname IN ('job_runs', 'job_history', 'rejected_events', 'stats')
 ORDER BY 1;
SELECT count(*) AS undocumented_columns
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
 WHERE c.relnamespace = 'metrics_rollup'::regnamespace
   AND c.relname IN ('job_runs', 'job_history', 'rejected_events', 'stats')
   AND a.attnum > 0 AND NOT a.attisdropped
   AND col_description(c.oid, a.attnum) IS NULL;
SELECT obj_description('metrics_rollup.job_stats()'::regprocedure, 'pg_proc') IS NOT NULL
       AS job_stats_commented;

-- the stats view is one row; the worker runs (wait for it: it starts over
-- until pg_regress has created its database), rollup and cleanup are off here
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN (SELECT worker_pid IS NOT NULL FROM metrics_rollup.stats);
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT count(*) AS rows, bool_and(worker_pid IS NOT NULL) AS worker,
       bool_and(worker_starts >= 1) AS started,
       bool_and(circuit_state = 'closed') AS all_closed,
       bool_and(rollup_runs = 0 AND cleanup_runs = 0) AS scheduled_jobs_off
  FROM stats;

-- a status outside the state machine is refused
\set VERBOSITY terse
INSERT INTO job_runs (job, started_at, finished_at, status, attempt, rows)
VALUES ('flush', now(), now(), 'maybe', 1, 0);
\set VERBOSITY default

-- One event of eight is refused by a CHECK constraint a user added: the
-- seven others land, the poison one is dead-lettered with its SQLSTATE.
-- earlier tests may have left events buffered: flush them first
SELECT flush() >= 0 AS drained;
SELECT events_dead_lettered AS dead_before, events_flushed AS flushed_before FROM stats \gset
CREATE TEMP TABLE dead_before AS SELECT events_dead_lettered AS n FROM stats;
ALTER TABLE raw_metrics ADD CONSTRAINT no_poison CHECK (entity_id <> 'poison');
SELECT record_batch('reliability_test',
                    ARRAY['a', 'b', 'c', 'poison', 'd', 'e', 'f', 'g'],
                    ARRAY[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8],
                    ARRAY[true, true, false, true, true, true, true, true],
                    ARRAY[NULL, NULL, 'boom', NULL, NULL, NULL, NULL, NULL]);
SELECT flush() BETWEEN 0 AND 8 AS flushed;  -- the worker may have been faster
SELECT string_agg(entity_id, ',' ORDER BY entity_id) AS landed, sum(response_time) AS landed_sum
  FROM raw_metrics WHERE kind = 'reliability_test';
SELECT kind, entity_id, response_time, success, reject_sqlstate, reject_message
  FROM rejected_events WHERE kind = 'reliability_test';
-- the job bumps its dead-letter counter when it finishes, just after the
-- drained events wake flush(): wait for it (5 s at most)
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT events_dead_lettered FROM metrics_rollup.stats) > (SELECT n FROM dead_before);
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
SELECT events_dead_lettered - :dead_before AS dead_lettered,
       events_flushed - :flushed_before AS flushed
  FROM stats;

-- A trigger raising (P0001) for two events of five: the same.
ALTER TABLE raw_metrics DROP CONSTRAINT no_poison;
CREATE FUNCTION public.reliability_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.entity_id LIKE 'bad%' THEN
        RAISE EXCEPTION 'refused %', NEW.entity_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER refuse BEFORE INSERT ON raw_metrics
    FOR EACH ROW EXECUTE FUNCTION reliability_refuse();
SELECT record_batch('reliability_trg', ARRAY['ok1', 'bad1', 'ok2', 'bad2', 'ok3'],
                    ARRAY[1, 2, 3, 4, 5]::float8[], ARRAY[true, true, true, true, true]);
SELECT flush() BETWEEN 0 AND 8 AS flushed;  -- the worker may have been faster
SELECT string_agg(entity_id, ',' ORDER BY entity_id) AS landed
  FROM raw_metrics WHERE kind = 'reliability_trg';
SELECT entity_id, reject_sqlstate, reject_message
  FROM rejected_events WHERE kind = 'reliability_trg' ORDER BY entity_id;
DROP TRIGGER refuse ON raw_metrics;
DROP FUNCTION reliability_refuse();

-- the flush runs are in the history, newest first
SELECT job, status, error_sqlstate IS NULL AS no_error
  FROM job_history WHERE job = 'flush' AND rows > 0 LIMIT 1;

-- leave the shared database as we found it
TRUNCATE raw_metrics, hourly_metrics, rollup_dirty, rejected_events;
