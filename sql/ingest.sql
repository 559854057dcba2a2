-- Ingest: record(), record_batch(), flush() and the stats view, served by
-- the background worker of this database (test/regress.conf).
SET client_min_messages = warning; CREATE EXTENSION IF NOT EXISTS metrics_rollup; RESET client_min_messages;
\set VERBOSITY default
SELECT events_buffered AS buffered_at_start FROM metrics_rollup.stats \gset

-- ---------------------------------------------------------------- validation
-- kind: NULL is 22004, a bad pattern 22023
SELECT metrics_rollup.record(NULL, 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('Tool', 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('', 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('1tool', 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('_tool', 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('to-ol', 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('a' || repeat('b', 63), 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
-- entity_id: NULL 22004, empty or longer than 255 bytes 22023
SELECT metrics_rollup.record('ingest_test', NULL, 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', '', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', repeat('x', 256), 0.1, true);
\echo :LAST_ERROR_SQLSTATE
-- 128 two-byte characters = 256 bytes
SELECT metrics_rollup.record('ingest_test', repeat('é', 128), 0.1, true);
\echo :LAST_ERROR_SQLSTATE
-- entity_name longer than 255 bytes: 22023
SELECT metrics_rollup.record('ingest_test', 'e1', 0.1, true, NULL, repeat('n', 256));
\echo :LAST_ERROR_SQLSTATE
-- recorded_at must be finite: 22008
SELECT metrics_rollup.record('ingest_test', 'e1', 0.1, true, NULL, NULL, 'infinity');
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', 'e1', 0.1, true, NULL, NULL, '-infinity');
\echo :LAST_ERROR_SQLSTATE
-- response_time: NULL 22004; NaN, infinite, negative 22003
SELECT metrics_rollup.record('ingest_test', 'e1', NULL, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', 'e1', 'NaN', true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', 'e1', 'Infinity', true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', 'e1', '-Infinity', true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record('ingest_test', 'e1', -0.001, true);
\echo :LAST_ERROR_SQLSTATE
-- success: NULL 22004
SELECT metrics_rollup.record('ingest_test', 'e1', 0.1, NULL);
\echo :LAST_ERROR_SQLSTATE

-- batches: unequal lengths 22023, NULL elements 22004, 2-D arrays 22023
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1], ARRAY[true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, 0.2], ARRAY[true, true],
                                   ARRAY['x']);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, 0.2], ARRAY[true, true],
                                   NULL, NULL, ARRAY[now()]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', NULL], ARRAY[0.1, 0.2], ARRAY[true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, NULL], ARRAY[true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, 0.2], ARRAY[true, NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, 0.2], ARRAY[true, true],
                                   NULL, NULL, ARRAY[now(), NULL]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', NULL, ARRAY[0.1], ARRAY[true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY[['a'], ['b']], ARRAY[0.1, 0.2], ARRAY[true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch(NULL, ARRAY['a'], ARRAY[0.1], ARRAY[true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('Bad', ARRAY['a'], ARRAY[0.1], ARRAY[true]);
\echo :LAST_ERROR_SQLSTATE
-- one bad element (the third) spoils the whole batch
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b', 'c', 'd'], ARRAY[0.1, 0.2, -1, 0.4],
                                   ARRAY[true, true, true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b', 'c'], ARRAY[0.1, 0.2, 0.3],
                                   ARRAY[true, true, true], NULL, ARRAY['ok', 'ok', repeat('n', 256)]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', ''], ARRAY[0.1, 0.2], ARRAY[true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, 'NaN'], ARRAY[true, true]);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['a', 'b'], ARRAY[0.1, 0.2], ARRAY[true, true],
                                   NULL, NULL, ARRAY[now(), 'infinity']);
\echo :LAST_ERROR_SQLSTATE

-- nothing of the above was recorded
SELECT metrics_rollup.flush() >= 0 AS flushed;
SELECT count(*) AS rows_after_errors FROM metrics_rollup.raw_metrics WHERE kind = 'ingest_test';
SELECT events_buffered - :buffered_at_start AS buffered_after_errors FROM metrics_rollup.stats;

-- ---------------------------------------------------------------- success
-- (events of 2024 are older than the default rollup_retention_days, which
-- writers may not add: the retention is 3650 days while they are recorded)
ALTER SYSTEM SET metrics_rollup.rollup_retention_days = 3650;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
-- the longest kind, the longest id and name are fine
SELECT metrics_rollup.record('ingest_test', 'e1', 0.25, true);
SELECT metrics_rollup.record('ingest_test', 'e2', 1.5, false, 'boom', 'Entity Two',
                             '2024-05-01 10:00:00+00');
SELECT metrics_rollup.record(kind => 'ingest_test', entity_id => repeat('i', 255), response_time => 0,
                             success => true, entity_name => repeat('é', 127));
SELECT metrics_rollup.record('a' || repeat('z', 62), 'e1', 0, true);
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['b1', 'b2', 'b3'], ARRAY[0.1, 0.2, 0.3],
                                   ARRAY[true, false, true], ARRAY[NULL, 'err two', NULL],
                                   ARRAY['B one', NULL, 'B three'],
                                   ARRAY['2024-05-01 11:00:00+00', '2024-05-01 11:30:00+00',
                                         '2024-05-01 12:00:00+00']::timestamptz[]);
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['c1', 'c2'], ARRAY[2, 3], ARRAY[false, false]);
SELECT metrics_rollup.record_batch('ingest_test', '{}', '{}', '{}');
SELECT metrics_rollup.flush() BETWEEN 0 AND 8 AS flushed;
ALTER SYSTEM RESET metrics_rollup.rollup_retention_days;
SELECT pg_reload_conf();
SELECT pg_sleep(0.2);
-- every event committed, exactly
SELECT count(*) FROM metrics_rollup.raw_metrics WHERE kind = 'a' || repeat('z', 62);
SELECT entity_id, entity_name, response_time, success, error_message,
       CASE WHEN recorded_at < '2025-01-01' THEN (recorded_at AT TIME ZONE 'UTC')::text ELSE 'now' END AS recorded_at_utc
  FROM metrics_rollup.raw_metrics
 WHERE kind = 'ingest_test' AND length(entity_id) < 10
 ORDER BY entity_id;
SELECT octet_length(entity_id) AS id_bytes, octet_length(entity_name) AS name_bytes
  FROM metrics_rollup.raw_metrics WHERE kind = 'ingest_test' AND length(entity_id) = 255;
SELECT events_buffered - :buffered_at_start AS buffered, events_pending,
       events_flushed >= 8 AS flushed, worker_pid IS NOT NULL AS worker_running,
       buffer_capacity_bytes = 64 * 1024 * 1024 AS capacity_64mb,
       last_flush_at IS NOT NULL AS has_flushed, last_flush_error
  FROM metrics_rollup.stats;
-- nothing pending: flush() returns at once
SELECT metrics_rollup.flush();

-- recorded_at defaults to the wall clock, not the transaction start
BEGIN;
SELECT now() AS xact_start \gset
SELECT pg_sleep(0.2);
SELECT metrics_rollup.record('ingest_test', 'clock', 0.1, true);
COMMIT;
SELECT metrics_rollup.flush() <= 5 AS flushed;
SELECT recorded_at >= :'xact_start'::timestamptz + interval '0.2 s' AS wall_clock,
       recorded_at <= clock_timestamp() AS not_future
  FROM metrics_rollup.raw_metrics WHERE kind = 'ingest_test' AND entity_id = 'clock';

-- not transactional: an event of an aborted transaction is kept
BEGIN;
SELECT metrics_rollup.record('ingest_test', 'aborted', 0.1, false, 'the call failed');
ROLLBACK;
SELECT metrics_rollup.flush() <= 5 AS flushed;
SELECT entity_id, error_message FROM metrics_rollup.raw_metrics
 WHERE kind = 'ingest_test' AND entity_id = 'aborted';

-- error_message is cut to max_error_length bytes at a character boundary
SET metrics_rollup.max_error_length = 10;
SELECT metrics_rollup.record('ingest_test', 'cut1', 0.1, false, 'ééééééé');
SELECT metrics_rollup.record('ingest_test', 'cut2', 0.1, false, 'abcdefghiéé');
SELECT metrics_rollup.record('ingest_test', 'cut3', 0.1, false, '0123456789abc');
SELECT metrics_rollup.record_batch('ingest_test', ARRAY['cut4'], ARRAY[0.1], ARRAY[false],
                                   ARRAY['€€€€€']);
SET metrics_rollup.max_error_length = 0;
SELECT metrics_rollup.record('ingest_test', 'cut5', 0.1, false, 'gone');
RESET metrics_rollup.max_error_length;
SELECT metrics_rollup.flush() <= 5 AS flushed;
SELECT entity_id, error_message, octet_length(error_message) AS bytes
  FROM metrics_rollup.raw_metrics WHERE kind = 'ingest_test' AND entity_id LIKE 'cut%'
 ORDER BY entity_id;

-- overflow policies are session settings for superusers
SET metrics_rollup.overflow_policy = 'direct';
SHOW metrics_rollup.overflow_policy;
RESET metrics_rollup.overflow_policy;

-- another database than metrics_rollup.database: 55000
CREATE DATABASE ingest_other;
\c ingest_other
CREATE EXTENSION metrics_rollup;
SELECT metrics_rollup.record('ingest_test', 'e1', 0.1, true);
\echo :LAST_ERROR_SQLSTATE
SELECT metrics_rollup.flush();
\echo :LAST_ERROR_SQLSTATE
\c contrib_regression
DROP DATABASE ingest_other;
-- leave the shared database empty for the tests after this one
TRUNCATE metrics_rollup.raw_metrics, metrics_rollup.hourly_metrics, metrics_rollup.rollup_dirty;
