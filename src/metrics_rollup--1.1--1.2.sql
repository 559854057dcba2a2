/* metrics_rollup--1.1--1.2.sql: ALTER EXTENSION metrics_rollup UPDATE TO '1.2'. */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION metrics_rollup UPDATE TO '1.2'" to load this file. \quit

-- What 1.2 adds to 1.1.  A fresh install runs metrics_rollup--1.0.sql, then
-- metrics_rollup--1.0--1.1.sql, then this file (PostgreSQL chains update
-- scripts), so an updated installation and a fresh one run the same
-- statements; test/t/080_upgrade.pl checks that the data survives.
--
-- Sections, one per concern, in dependency order; a change adds its objects
-- to its own section.  Objects that readers may use are granted to
-- pg_read_all_stats in the privileges section, which comes last.

-------------------------------------------------------------------------------
-- Hardening: input rules, lock timeouts, dirty marks (src/rollup.c, src/flush.c)
-------------------------------------------------------------------------------

-- (hardening section)

-------------------------------------------------------------------------------
-- Percentiles: one rule (percentile_cont) everywhere (src/sketch.c)
-------------------------------------------------------------------------------

-- (percentiles section)

-------------------------------------------------------------------------------
-- Scale up: flush workers, queries independent of raw volume
-------------------------------------------------------------------------------

-- (scale-up section)

-- One row per flush worker (src/drain.c): the rings it owns, its backlog,
-- what it committed and how fast, its last flush and its flush circuit.
CREATE FUNCTION metrics_rollup.drain_stats(
    OUT flush_worker integer,
    OUT pid integer,
    OUT rings integer[],
    OUT capacity_bytes bigint,
    OUT backlog_bytes bigint,
    OUT backlog_events bigint,
    OUT events_flushed bigint,
    OUT events_per_second bigint,
    OUT flush_count bigint,
    OUT flush_failures bigint,
    OUT last_flush_at timestamptz,
    OUT last_flush_duration interval,
    OUT last_flush_error text,
    OUT circuit text,
    OUT consecutive_failures integer,
    OUT next_retry_at timestamptz,
    OUT starts bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'drain_stats'
LANGUAGE C VOLATILE PARALLEL SAFE;

COMMENT ON FUNCTION metrics_rollup.drain_stats() IS
  'One row per flush worker (metrics_rollup.flush_workers) from shared memory: pid (NULL while not running), the buffer rings it owns, their capacity and backlog, events it committed and its rate over about the last second, flushes, failures, last flush, its flush circuit and retry, starts since server start. The flush_workers view shows it.';

CREATE VIEW metrics_rollup.flush_workers AS
SELECT d.flush_worker, d.pid, d.rings, d.capacity_bytes, d.backlog_bytes,
       d.backlog_events, d.events_flushed, d.events_per_second, d.flush_count,
       d.flush_failures, d.last_flush_at, d.last_flush_duration,
       d.last_flush_error, d.circuit, d.consecutive_failures, d.next_retry_at,
       d.starts
  FROM metrics_rollup.drain_stats() d;

COMMENT ON VIEW metrics_rollup.flush_workers IS
  'One row per flush worker: the background processes that drain the ingest buffer into raw_metrics, each owning a disjoint set of rings (counters since server start).';
COMMENT ON COLUMN metrics_rollup.flush_workers.flush_worker IS 'Number of the flush worker, 0 to flush_workers - 1.';
COMMENT ON COLUMN metrics_rollup.flush_workers.pid IS 'Process id; NULL while it is not running (it restarts 5 s after it stopped).';
COMMENT ON COLUMN metrics_rollup.flush_workers.rings IS 'Buffer rings it drains (ring i belongs to worker i % flush_workers).';
COMMENT ON COLUMN metrics_rollup.flush_workers.capacity_bytes IS 'Bytes of its rings.';
COMMENT ON COLUMN metrics_rollup.flush_workers.backlog_bytes IS 'Bytes buffered in its rings and not yet committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.backlog_events IS 'Events buffered in its rings and not yet committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.events_flushed IS 'Events it committed to raw_metrics.';
COMMENT ON COLUMN metrics_rollup.flush_workers.events_per_second IS 'Events it committed per second, measured over about the last second.';
COMMENT ON COLUMN metrics_rollup.flush_workers.flush_count IS 'Flush transactions it committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.flush_failures IS 'Its failed flush tries (events stay buffered and are retried).';
COMMENT ON COLUMN metrics_rollup.flush_workers.last_flush_at IS 'When its last flush committed.';
COMMENT ON COLUMN metrics_rollup.flush_workers.last_flush_duration IS 'How long its last committed flush took.';
COMMENT ON COLUMN metrics_rollup.flush_workers.last_flush_error IS 'Error of its last flush try; NULL when it succeeded.';
COMMENT ON COLUMN metrics_rollup.flush_workers.circuit IS 'Circuit of its flush job: closed, open or half_open.';
COMMENT ON COLUMN metrics_rollup.flush_workers.consecutive_failures IS 'Failed flush tries since its last success.';
COMMENT ON COLUMN metrics_rollup.flush_workers.next_retry_at IS 'When it retries a failed flush; NULL when none is pending.';
COMMENT ON COLUMN metrics_rollup.flush_workers.starts IS 'Times it started since server start (more than 1: it restarted).';

REVOKE ALL ON FUNCTION metrics_rollup.drain_stats() FROM PUBLIC;
REVOKE ALL ON TABLE metrics_rollup.flush_workers FROM PUBLIC;

-------------------------------------------------------------------------------
-- Scale out: Citus, distribute() and undistribute()
-------------------------------------------------------------------------------

-- (citus section)

-------------------------------------------------------------------------------
-- Poll scheduling by class: should_poll(), mark_polled(), classification_info()
-------------------------------------------------------------------------------

-- (polling section)

-------------------------------------------------------------------------------
-- Observability: stats_reset(), config, consistent names
-------------------------------------------------------------------------------

-- (observability section)

-------------------------------------------------------------------------------
-- Privileges: pg_read_all_stats reads, grants cover public objects only
-------------------------------------------------------------------------------

-- (privileges section)
